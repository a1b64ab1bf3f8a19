#!/usr/bin/env bash
# A local raftzk cluster on loopback, for trying things and for fault drills.
#
#   scripts/cluster.sh start [N]      start N members (default 3, up to 7); prints the connect string
#   scripts/cluster.sh stop           stop every member (SIGTERM, by PID)
#   scripts/cluster.sh kill I         SIGKILL member I
#   scripts/cluster.sh restart I      restart member I (after a kill or not)
#   scripts/cluster.sh partition I    cut member I off from the others (peer traffic only)
#   scripts/cluster.sh heal           undo every partition
#   scripts/cluster.sh status         each member's PID and Mode (leader/follower/...)
#
# State lives in $RAFTZK_CLUSTER_DIR (default ./cluster): member I has cluster/mI/{zoo.cfg,
# data/myid, raftzk.log, pid, faults}. Ports: client $BASE+I, peer $BASE+100+I, election
# $BASE+200+I, /metrics $BASE+300+I, AdminServer $BASE+400+I with
# BASE=${RAFTZK_CLUSTER_BASE:-21800} (grafana/prometheus.yml scrapes 22101-22103). The binary is $RAFTZK_BIN, else
# $CARGO_TARGET_DIR/release/raftzk, else target/release/raftzk (built if missing).
# Partitions use raftzk's test-only peer.faultFile switch: a partitioned member keeps its
# client port but neither sends to nor accepts traffic from its peers.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${RAFTZK_CLUSTER_DIR:-$PWD/cluster}"
BASE="${RAFTZK_CLUSTER_BASE:-21800}"

binary() {
  if [[ -n "${RAFTZK_BIN:-}" ]]; then echo "$RAFTZK_BIN"; return; fi
  local bin="${CARGO_TARGET_DIR:-$PWD/target}/release/raftzk"
  if [[ ! -x "$bin" ]]; then
    scripts/setup.sh >&2
    cargo build --release --locked --bin raftzk >&2
  fi
  echo "$bin"
}

members() { ls -d "$DIR"/m* 2>/dev/null | sed 's/.*\/m//' | sort -n; }
pid_of() { cat "$DIR/m$1/pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; }

fourlw() { # fourlw PORT WORD
  python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(sys.argv[2].encode()); out = b""
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
    print(out.decode(errors="replace"), end="")
except OSError:
    pass
PY
}

launch() { # launch I
  local i=$1 bin
  bin=$(binary)
  nohup "$bin" --config "$DIR/m$i/zoo.cfg" >>"$DIR/m$i/raftzk.log" 2>&1 &
  echo $! >"$DIR/m$i/pid"
}

connect_string() {
  local out=() i
  for i in $(members); do out+=("127.0.0.1:$((BASE + i))"); done
  (IFS=,; echo "${out[*]}")
}

cmd="${1:-}"
case "$cmd" in
  start)
    n="${2:-3}"
    if (( n < 1 || n > 7 )); then echo "N must be 1..7" >&2; exit 2; fi
    if [[ -d "$DIR" ]] && ls "$DIR"/m*/pid >/dev/null 2>&1; then
      for i in $(members); do if alive "$i"; then echo "member $i is running; stop first" >&2; exit 1; fi; done
    fi
    rm -rf "$DIR"
    servers=""
    for i in $(seq 1 "$n"); do
      servers+="server.$i=127.0.0.1:$((BASE + 100 + i)):$((BASE + 200 + i));127.0.0.1:$((BASE + i))"$'\n'
    done
    for i in $(seq 1 "$n"); do
      mkdir -p "$DIR/m$i/data"
      echo "$i" >"$DIR/m$i/data/myid"
      : >"$DIR/m$i/faults"
      cat >"$DIR/m$i/zoo.cfg" <<EOF
tickTime=2000
dataDir=$DIR/m$i/data
clientPort=$((BASE + i))
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
znode.container.checkIntervalMs=1000
peer.faultFile=$DIR/m$i/faults
metricsProvider.httpPort=$((BASE + 300 + i))
admin.serverPort=$((BASE + 400 + i))
$servers
EOF
    done
    binary >/dev/null
    for i in $(seq 1 "$n"); do launch "$i"; done
    for _ in $(seq 1 100); do
      modes=""
      for i in $(seq 1 "$n"); do modes+=$(fourlw $((BASE + i)) srvr | sed -n 's/^Mode: //p')" "; done
      if [[ "$modes" == *leader* ]]; then break; fi
      sleep 0.1
    done
    echo "$(connect_string)"
    ;;
  stop)
    for i in $(members); do
      if alive "$i"; then kill "$(pid_of "$i")"; fi
    done
    for i in $(members); do
      for _ in $(seq 1 50); do alive "$i" || break; sleep 0.1; done
      if alive "$i"; then kill -9 "$(pid_of "$i")"; fi
    done
    ;;
  kill)
    i="${2:?member}"
    if alive "$i"; then kill -9 "$(pid_of "$i")"; fi
    ;;
  restart)
    i="${2:?member}"
    if alive "$i"; then kill -9 "$(pid_of "$i")"; sleep 0.2; fi
    launch "$i"
    ;;
  partition)
    i="${2:?member}"
    others=$(members | grep -vx "$i" | tr '\n' ' ')
    echo "$others" >"$DIR/m$i/faults"
    for j in $others; do echo "$i" >>"$DIR/m$j/faults"; done
    ;;
  heal)
    for i in $(members); do : >"$DIR/m$i/faults"; done
    ;;
  status)
    for i in $(members); do
      mode=$(fourlw $((BASE + i)) srvr | sed -n 's/^Mode: //p')
      if alive "$i"; then state="pid $(pid_of "$i")"; else state="down"; fi
      echo "member $i: $state, client 127.0.0.1:$((BASE + i)), mode ${mode:-?}"
    done
    echo "connect: $(connect_string)"
    ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
