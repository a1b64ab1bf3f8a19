#!/usr/bin/env bash
# Run every compat suite in compat-tests/ against the real ZooKeeper 3.8.0, raftzk, or both,
# one server at a time, then print one table (suite x server: passed / failed / pending) and
# the latency reports side by side.
#
#   scripts/compat.sh [--server zk|raftzk|both] [--cluster]
#
# Suites, in this order for each server:
#   kazoo    compat-tests/run-kazoo.sh <server>
#   cli      compat-tests/run-cli.sh <server>                (zkCli.sh, cli_mt, load_gen)
#   curator  compat-tests/run-curator.sh <server> [--cluster] (a FAIL if the script is missing)
#   recipes  pytest compat-tests/recipes --server <server> [--cluster]
#   security pytest compat-tests/security --server <server> (TLS: certificates made by gen.sh)
# --cluster adds the cluster cases (3-member ensembles) to the curator and recipes suites; for
# raftzk they run against a 3-member raftzk cluster (compat-tests/ensemble.py).
#
# A suite that fails (or crashes) does not stop the others; the table is always printed.
# Exit status: 0 if every suite passed on every server, 1 otherwise, 2 on bad usage.
# Logs: compat-tests/results/compat-<suite>-<server>.log; latency: results/recipes-<server>.json.
# raftzk: $RAFTZK_BIN, else $CARGO_TARGET_DIR/release/raftzk, else target/release/raftzk, else
# $HOME/.cache/raftzk-target/release/raftzk (this script never builds it).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
COMPAT="$ROOT/compat-tests"
RESULTS="$COMPAT/results"
PY="${PYTHON:-python3}"

target=both
cluster=0
while [ $# -gt 0 ]; do
  case "$1" in
    --server) target="${2:-}"; shift 2 || { echo "--server needs a value" >&2; exit 2; } ;;
    --server=*) target="${1#--server=}"; shift ;;
    --cluster) cluster=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--server zk|raftzk|both] [--cluster]" >&2; exit 2 ;;
  esac
done
case "$target" in
  zk) servers=(zk) ;;
  raftzk) servers=(raftzk) ;;
  both) servers=(zk raftzk) ;;
  *) echo "usage: $0 [--server zk|raftzk|both] [--cluster]" >&2; exit 2 ;;
esac

if [ -z "${RAFTZK_BIN:-}" ] && [ -z "${CARGO_TARGET_DIR:-}" ] && [ ! -x "$ROOT/target/release/raftzk" ] \
   && [ -x "$HOME/.cache/raftzk-target/release/raftzk" ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/raftzk-target"
fi
export PYTHONDONTWRITEBYTECODE=1
mkdir -p "$RESULTS"

cluster_flag=()
[ "$cluster" = 1 ] && cluster_flag=(--cluster)

table="$(mktemp)"
trap 'rm -f "$table"' EXIT
overall=0
all_start=$(date +%s)

# run_suite NAME SERVER CMD...: runs CMD (output to the terminal and to the suite's log),
# then appends "name<TAB>server<TAB>rc<TAB>seconds<TAB>log" to the table.
run_suite() {
  local name="$1" server="$2"; shift 2
  local log="$RESULTS/compat-$name-$server.log"
  echo
  echo "################ $name suite against $server: $*"
  local start rc
  start=$(date +%s)
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$server" "$rc" "$(( $(date +%s) - start ))" "$log" >> "$table"
  [ "$rc" -eq 0 ] || overall=1
}

missing_suite() {
  local name="$1" server="$2" why="$3"
  local log="$RESULTS/compat-$name-$server.log"
  echo
  echo "################ $name suite against $server: MISSING ($why)"
  echo "MISSING: $why" > "$log"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$server" "missing" 0 "$log" >> "$table"
  overall=1
}

run_recipes() {
  (cd "$COMPAT/recipes" && "$PY" -m pytest --server "$1" -q "${cluster_flag[@]}")
}

run_security() {
  (cd "$COMPAT/security" && "$PY" -m pytest --server "$1" -q)
}

for s in "${servers[@]}"; do
  if [ "$s" = raftzk ]; then
    echo "raftzk binary: $(cd "$COMPAT" && "$PY" -c 'import servers; print(servers.raftzk_binary())')"
  fi
  # a fresh latency report per run: a stale one must not be shown as this run's
  rm -f "$RESULTS/recipes-$s.json"
  run_suite kazoo "$s" "$COMPAT/run-kazoo.sh" "$s"
  run_suite cli "$s" "$COMPAT/run-cli.sh" "$s"
  if [ -x "$COMPAT/run-curator.sh" ]; then
    run_suite curator "$s" "$COMPAT/run-curator.sh" "$s" "${cluster_flag[@]}"
  elif [ -e "$COMPAT/run-curator.sh" ]; then
    run_suite curator "$s" bash "$COMPAT/run-curator.sh" "$s" "${cluster_flag[@]}"
  else
    missing_suite curator "$s" "compat-tests/run-curator.sh does not exist"
  fi
  run_suite recipes "$s" run_recipes "$s"
  run_suite security "$s" run_security "$s"
done

echo
"$PY" - "$table" "$RESULTS" "$cluster" "$(( $(date +%s) - all_start ))" "${servers[@]}" <<'PYEOF'
import json
import os
import re
import sys

table_path, results, cluster, total_secs = sys.argv[1:5]
servers = sys.argv[5:]
rows = []
with open(table_path) as f:
    for line in f:
        name, server, rc, secs, log = line.rstrip("\n").split("\t")
        rows.append((name, server, rc, int(secs), log))

COUNT_RE = re.compile(r"(\d+) (passed|failed|errors?|skipped|pending|xfailed|xpassed|deselected)\b")
# pytest's final line: "== 3 passed, 1 failed, 2 pending in 12.3s ==" (also "in 1:02:03")
PYTEST_FINAL = re.compile(r"^=*\s*(\d+ \w+(, \d+ \w+)*) in [\d.]+s")
CURATOR_FINAL = re.compile(r"^SUMMARY \S+ (\d+) passed, (\d+) failed, (\d+) pending")
JUNIT_FINAL = re.compile(r"Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)")


def counts_from_log(log):
    c = {}
    try:
        text = open(log, errors="replace").read().splitlines()
    except OSError:
        return None
    for line in reversed(text):
        m = CURATOR_FINAL.match(line.strip())
        if m:
            return {"passed": int(m.group(1)), "failed": int(m.group(2)), "pending": int(m.group(3))}
        m = PYTEST_FINAL.match(line.strip())
        if m:
            for n, what in COUNT_RE.findall(m.group(1)):
                what = "error" if what.startswith("error") else what
                c[what] = c.get(what, 0) + int(n)
            return c
        m = JUNIT_FINAL.search(line)
        if m:
            run, fail, err, skip = map(int, m.groups())
            return {"passed": run - fail - err - skip, "failed": fail, "error": err, "skipped": skip}
    return None


out = []
failed_any = False
out.append("=" * 86)
out.append("compat summary%s (%s s)" % (" with cluster cases" if cluster == "1" else "", total_secs))
out.append("=" * 86)
hdr = "%-9s %-7s %-6s %7s %7s %8s %8s %7s  %s" % ("suite", "server", "status", "passed", "failed", "pending", "skipped", "time", "note")
out.append(hdr)
out.append("-" * 86)
for name, server, rc, secs, log in rows:
    note = ""
    if rc == "missing":
        status, c = "FAIL", {}
        note = "run-%s.sh missing" % name
    else:
        c = counts_from_log(log)
        if c is None:
            c = {}
            note = "no summary line in log"
        bad = c.get("failed", 0) + c.get("error", 0)
        if rc != "0":
            status = "FAIL"
            if bad == 0:
                note = (note + "; " if note else "") + "exit %s" % rc
        else:
            status = "PASS"
        if c.get("error"):
            note = (note + "; " if note else "") + "%d errors" % c["error"]
    failed_any |= status == "FAIL"
    f = c.get("failed", 0) + c.get("error", 0)
    out.append("%-9s %-7s %-6s %7s %7s %8s %8s %6ss  %s" % (
        name, server, status, c.get("passed", "-"), f if c else "-", c.get("pending", 0) if c else "-",
        c.get("skipped", 0) if c else "-", secs, note))
out.append("-" * 86)

# latency: every results/<suite>-<server>.json with a "latency" map {measure: {p50_ms, p99_ms, n}}
# (the recipes suite), else "latency <measure> n=N p50=X p99=Y" lines in the suite's log (Curator)
LAT_LINE = re.compile(r"^latency (.+?)\s+n=(\d+)\s+p50=\s*([-\d.]+)\s+p99=\s*([-\d.]+)")
reports = {}  # suite -> server -> {"latency": {measure: {...}}, "notes": {...}}
for fn in sorted(os.listdir(results)):
    m = re.match(r"^(\w+)-(zk|raftzk)\.json$", fn)
    if not m or m.group(2) not in servers:
        continue
    try:
        data = json.load(open(os.path.join(results, fn)))
    except (OSError, ValueError):
        continue
    if isinstance(data.get("latency"), dict):
        reports.setdefault(m.group(1), {})[m.group(2)] = data
for name, server, rc, secs, log in rows:
    if name in reports and server in reports[name]:
        continue
    lat = {}
    try:
        for line in open(log, errors="replace"):
            m = LAT_LINE.match(line.strip())
            if m:
                lat[m.group(1).strip()] = {"n": int(m.group(2)), "p50_ms": float(m.group(3)),
                                           "p99_ms": float(m.group(4))}
    except OSError:
        pass
    if lat:
        reports.setdefault(name, {})[server] = {"latency": lat}


def cell(v):
    try:
        return "%.2f / %.2f (n=%s)" % (float(v["p50_ms"]), float(v["p99_ms"]), v.get("n", "?"))
    except (TypeError, KeyError, ValueError):
        return str(v)


labels = ["%s: %s" % (suite, k) for suite, bs in reports.items() for v in bs.values()
          for k in list((v.get("latency") or {})) + list((v.get("notes") or {}))]
W = min(96, max([len(x) for x in labels] + [20]))
if reports:
    out.append("")
    out.append("latency, ms: p50 / p99 (n samples)")
    cols = servers
    out.append("%-*s" % (W, "measure") + "".join(" | %-26s" % s for s in cols))
    out.append("-" * (W + 29 * len(cols)))
    for suite, by_server in sorted(reports.items()):
        measures = []
        for s in cols:
            for k in by_server.get(s, {}).get("latency", {}):
                if k not in measures:
                    measures.append(k)
        for k in measures:
            cells = []
            for s in cols:
                v = by_server.get(s, {}).get("latency", {}).get(k)
                cells.append(cell(v) if v else "-")
            out.append("%-*s" % (W, ("%s: %s" % (suite, k))[:W]) + "".join(" | %-26s" % x for x in cells))
        notes = []
        for s in cols:
            for k in by_server.get(s, {}).get("notes", {}) or {}:
                if k not in notes:
                    notes.append(k)
        for k in notes:
            cells = [str((by_server.get(s, {}).get("notes", {}) or {}).get(k, "-")) for s in cols]
            out.append("%-*s" % (W, ("%s: %s" % (suite, k))[:W]) + "".join(" | %-26s" % x for x in cells))
print("\n".join(out))
print("\nlogs: %s/compat-<suite>-<server>.log" % results)
print("RESULT: %s" % ("FAIL" if failed_any else "PASS"))
PYEOF
[ "$?" -eq 0 ] || overall=1
exit $overall
