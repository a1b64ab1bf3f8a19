#!/usr/bin/env bash
# Run the Apache Curator 5.4 recipe suite (compat-tests/curator/) against the real ZooKeeper
# 3.8.0, raftzk, or both.
#   compat-tests/run-curator.sh [zk|raftzk|both] [--cluster] [-- CuratorCompat args, e.g. --cases lock]
# --cluster also runs the 3-member cases (a ZooKeeper ensemble or a raftzk cluster). Exits
# non-zero on any FAIL or unfinished run; PENDING (a server without a cluster) is reported.
# raftzk: $RAFTZK_BIN, else $CARGO_TARGET_DIR/release/raftzk, else target/release/raftzk
# (this script never builds it). Logs: compat-tests/results/curator-*.log.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
target=zk
cluster=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    zk|raftzk|both) target="$1" ;;
    --cluster) cluster=(--cluster) ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [zk|raftzk|both] [--cluster] [-- CuratorCompat args]" >&2; exit 2 ;;
  esac
  shift
done
case "$target" in
  zk) servers=(zk) ;;
  raftzk) servers=(raftzk) ;;
  both) servers=(zk raftzk) ;;
esac

# Java libraries from Debian (no Maven Central): Curator 5.4.0, ZooKeeper 3.8.0 client and server
# classes (libzookeeper-java; Debian's ZooKeeper server runs from the same zookeeper.jar), slf4j.
jars=(curator-framework curator-recipes curator-client curator-x-discovery zookeeper slf4j-api slf4j-simple)
missing=0
for j in "${jars[@]}"; do [ -e "/usr/share/java/$j.jar" ] || missing=1; done
command -v javac >/dev/null || { echo "javac not found (OpenJDK 17 expected)" >&2; exit 1; }
if [ "$missing" = 1 ]; then
  echo "installing Curator / ZooKeeper / slf4j jars (apt) ..."
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(libcurator-framework-java libcurator-recipes-java libcurator-client-java
        libcurator-discovery-java libzookeeper-java libslf4j-java)
  apt_install() { apt-get install -y -q -o DPkg::Lock::Timeout=600 "${pkgs[@]}" >/dev/null; }
  apt_install || { apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null && apt_install; } \
    || { echo "apt-get install ${pkgs[*]} failed" >&2; exit 1; }
fi

# compile once (again only when a source is newer than the last build)
src="$HERE/curator"
build="$src/build"
stamp="$build/.stamp"
if [ ! -e "$stamp" ] || [ -n "$(find "$src" -maxdepth 1 -name '*.java' -newer "$stamp" -print -quit)" ]; then
  echo "compiling compat-tests/curator ..."
  rm -rf "$build" && mkdir -p "$build"
  cp="/usr/share/java/curator-recipes.jar:/usr/share/java/curator-x-discovery.jar:/usr/share/java/slf4j-simple.jar"
  javac -nowarn -Xlint:none -encoding UTF-8 -d "$build" -cp "$cp" "$src"/*.java 2>&1 | grep -v '^Note: ' \
    ; [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "javac failed" >&2; exit 1; }
  touch "$stamp"
fi

mkdir -p "$HERE/results"
export PYTHONDONTWRITEBYTECODE=1
declare -A summary
failed=0
start_all=$(date +%s)
for s in "${servers[@]}"; do
  "$PY" "$src/launch.py" "$s" "${cluster[@]}" --results "$HERE/results" -- "${extra[@]}"
  rc=$?
  line=$(grep -E '^SUMMARY ' "$HERE/results/curator-$s.log" 2>/dev/null | tail -1 | sed -E "s/^SUMMARY $s //")
  if [ "$rc" -eq 0 ]; then
    summary[$s]="PASS  ${line:-?}"
  else
    failed=1
    summary[$s]="FAIL  ${line:-launcher exit $rc}"
  fi
done

echo
echo "=== curator compat summary ($(( $(date +%s) - start_all )) s) ==="
for s in "${servers[@]}"; do
  printf '%-7s %s\n' "$s" "${summary[$s]}"
  grep -E '^(FAIL|PENDING) ' "$HERE/results/curator-$s.log" 2>/dev/null | sed 's/^/        /'
done
echo "logs: $HERE/results/curator-*.log"
exit $failed
