#!/usr/bin/env python3
"""The side-by-side load matrix: the real ZooKeeper 3.8.0 and raftzk under the same load.

For each topology (1 member, 3 members) both servers are started with the same zoo.cfg
(ZooKeeper's defaults: forceSync=yes, an fdatasync per log group commit; raftzk fsyncs
every Raft log append; maxClientCnxns=0 on both) and kept running side by side. Every
point of the matrix is then run by the Rust load generator (raftzk-bench) against one
server, then the other, alternating which goes first, `--rounds` times; the tables give
medians. Sessions are spread over every member of the topology.

Points (the defaults; each list is an option):
  get, exists, set, mixed 90/10, mixed 70/30, create   x connections 1/16/64 x window 1/32
  lock (Curator's InterProcessMutex cycle, 1/16/64 clients on one lock)
  watch (one writer, --watchers sessions watching: notification latency)
  connect (a storm of --sessions handshakes, 64 at once)
Creates run last in a topology, so the znodes they leave grow no other point's tree; a
create run stops after --create-max-ops.

Every run records the load generator's CPU (its rusage), each server's CPU (/proc), the
servers' RSS after the run, and the CPU that *other* processes used meanwhile (busy time
in /proc/stat minus the client's and every server's, steal included): a run where that
exceeds --disturbed cores is marked disturbed and the tables flag the point with `*`.
Before each topology the script waits (up to --wait-quiet s) for an idle machine, then
warms each server with --server-warmup seconds of unrecorded mixed load.

Output: <out>/runs.json (every run), <out>/matrix.md (the tables, machine facts, command
line) and the tables on stdout. Exit status: 0 ok, 1 some run failed (errors or a lock
violation; it is still in the tables, marked `!`), 2 setup problem.
"""

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "compat-tests"))
sys.path.insert(0, HERE)

import ensemble  # noqa: E402
import procstat  # noqa: E402
import servers  # noqa: E402
from procstat import machine_busy_s, process_cpu_s, rss_mib  # noqa: E402
KEY_WORKLOADS = {
    "get": ["--workload", "get"],
    "exists": ["--workload", "exists"],
    "set": ["--workload", "set"],
    "mixed90": ["--workload", "mixed", "--read-percent", "90"],
    "mixed70": ["--workload", "mixed", "--read-percent", "70"],
    "create": ["--workload", "create"],
}
SERVER_NAMES = {"zk": "ZooKeeper 3.8.0", "raftzk": "raftzk"}


def bench_binary():
    if os.environ.get("RAFTZK_BENCH_BIN"):
        return os.environ["RAFTZK_BENCH_BIN"]
    return os.path.join(os.path.dirname(servers.raftzk_binary()), "raftzk-bench")


def csv_ints(text):
    return [int(x) for x in text.split(",") if x]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--topologies", type=csv_ints, default=[1, 3], help="members, e.g. 1,3")
    p.add_argument("--servers", default="zk,raftzk", help="zk,raftzk (or one of them)")
    p.add_argument("--workloads", default="get,exists,set,mixed90,mixed70,lock,watch,connect,create")
    p.add_argument("--connections", type=csv_ints, default=[1, 16, 64])
    p.add_argument("--windows", type=csv_ints, default=[1, 32])
    p.add_argument("--lock-clients", type=csv_ints, default=[1, 16, 64])
    p.add_argument("--watchers", type=int, default=10000)
    p.add_argument("--sessions", type=int, default=10000)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--duration", type=float, default=1.5, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds per run")
    p.add_argument("--create-max-ops", type=int, default=100000)
    p.add_argument("--server-warmup", type=float, default=5.0,
                   help="seconds of unrecorded mixed load per server before a topology's "
                        "points (the JVM's JIT and both servers' caches warm up)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--wait-quiet", type=float, default=120.0)
    p.add_argument("--disturbed", type=float, default=0.25,
                   help="other processes' cores above which a run counts as disturbed")
    p.add_argument("--heap", default="2g", help="ZooKeeper's -Xmx")
    p.add_argument("--time-limit", type=float, default=1800.0,
                   help="seconds for the whole matrix; points past it are skipped")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    args.servers = [s for s in args.servers.split(",") if s]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for s in args.servers:
        if s not in SERVER_NAMES:
            p.error("unknown server %r" % s)
    for w in args.workloads:
        if w not in KEY_WORKLOADS and w not in ("lock", "watch", "connect"):
            p.error("unknown workload %r" % w)
    return args


def points(args):
    """The matrix's points in run order: (name, load generator arguments)."""
    out = []
    for w in args.workloads:
        if w in KEY_WORKLOADS and w != "create":
            out += key_points(args, w)
    for w in args.workloads:
        if w == "lock":
            out += [("lock c=%d" % c, ["--workload", "lock", "--connections", str(c)])
                    for c in args.lock_clients]
        elif w == "watch":
            out.append(("watch %d" % args.watchers,
                        ["--workload", "watch", "--watchers", str(args.watchers), "--rounds", "20"]))
        elif w == "connect":
            out.append(("connect %d" % args.sessions,
                        ["--workload", "connect", "--sessions", str(args.sessions),
                         "--connections", "64"]))
    if "create" in args.workloads:
        out += [(name, argv + ["--max-ops", str(args.create_max_ops)])
                for name, argv in key_points(args, "create")]
    return out


def key_points(args, w):
    return [("%s c=%d w=%d" % (w, c, win),
             KEY_WORKLOADS[w] + ["--connections", str(c), "--window", str(win),
                                 "--keys", str(args.keys), "--value-size", str(args.value_size)])
            for c in args.connections for win in args.windows]


# --- what the machine and the processes did -------------------------------------------

def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_quiet(limit_s, threshold):
    """Wait until one second passes with the machine under `threshold` busy cores."""
    deadline = time.monotonic() + limit_s
    while True:
        b0, t0 = machine_busy_s(), time.monotonic()
        time.sleep(1.0)
        cores = (machine_busy_s() - b0) / (time.monotonic() - t0)
        if cores < threshold or time.monotonic() >= deadline:
            return cores


def fsync_probe(directory, n=200):
    """Median seconds of a 100-byte append + fdatasync on `directory`'s filesystem."""
    return statistics.median(procstat.fdatasync_times(directory, n))


# --- the servers -----------------------------------------------------------------------

class Deployment:
    """One server kind in one topology: its members' pids and client addresses."""

    def __init__(self, kind, handle, members):
        self.kind = kind
        self.handle = handle
        self.members = members  # [(host:port, pid)]

    @property
    def hostports(self):
        return ",".join(hp for hp, _ in self.members)

    @property
    def pids(self):
        return [pid for _, pid in self.members]

    def stop(self):
        self.handle.stop()


def deploy(kind, n, tmpdir, heap):
    opts = {"extra_cfg": {"maxClientCnxns": 0}, "container_check_interval_ms": 60000}
    if n == 1:
        if kind == "zk":
            s = servers.start_zookeeper(tmpdir, heap=heap, **opts)
        else:
            s = servers.start_raftzk(tmpdir, **opts)
        return Deployment(kind, s, [(s.hostport, s.proc.pid)])
    if kind == "zk":
        e = ensemble.start_zookeeper_ensemble(tmpdir, n=n, heap=heap, **opts)
    else:
        e = ensemble.start_raftzk_cluster(tmpdir, n=n, **opts)
    return Deployment(kind, e, [(m.hostport, m.proc.pid) for m in e.members])


# --- one run ---------------------------------------------------------------------------

def run_once(args, bench, target, everyone, point_argv, json_path, label, duration=None):
    """Runs the load generator once against `target`; returns its result with context."""
    duration = args.duration if duration is None else duration
    pids = [pid for d in everyone for pid in d.pids]
    cpu0 = {pid: process_cpu_s(pid) for pid in pids}
    busy0, client0, t0 = machine_busy_s(), children_cpu_s(), time.monotonic()
    argv = [bench, "--servers", target.hostports,
            "--server-pid", ",".join(str(p) for p in target.pids),
            "--duration", str(duration), "--warmup", str(args.warmup),
            "--label", label, "--json", json_path] + point_argv
    limit = duration + args.warmup + 120
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=limit, text=True)
        rc, output = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as e:
        rc, output = -1, "timed out after %.0f s: %s" % (limit, e.output or "")
    wall = time.monotonic() - t0
    client = children_cpu_s() - client0
    servers_cpu = sum(process_cpu_s(pid) - cpu0[pid] for pid in pids)
    others = max(0.0, (machine_busy_s() - busy0) - client - servers_cpu) / wall
    result = {}
    if rc in (0, 1) and os.path.exists(json_path):
        with open(json_path) as f:
            result = json.load(f)
    result.update({
        "rc": rc,
        "output_tail": output[-2000:],
        "others_cores": others,
        "disturbed": others > args.disturbed,
        "rss_mib": [rss_mib(pid) for pid in target.pids],
        "wall_s": wall,
    })
    return result


# --- tables ----------------------------------------------------------------------------

def median_of(runs, f):
    vs = [f(r) for r in runs if r.get("ops_per_s") is not None]
    vs = [v for v in vs if v is not None]
    return statistics.median(vs) if vs else None


def summarize(runs, topology, point, server):
    mine = [r for r in runs if r["topology"] == topology and r["point"] == point
            and r["server"] == server]
    return {
        "ops": median_of(mine, lambda r: r.get("ops_per_s")),
        "p50": median_of(mine, lambda r: r.get("latency_us", {}).get("p50")),
        "p99": median_of(mine, lambda r: r.get("latency_us", {}).get("p99")),
        "cpu": median_of(mine, lambda r: r.get("server_cpu_us_per_op")),
        "client_cpu": median_of(mine, lambda r: r.get("client_cpu_us_per_op")),
        "rss": median_of(mine, lambda r: sum(r.get("rss_mib") or [0])),
        "disturbed": any(r.get("disturbed") for r in mine),
        "failed": any(r.get("rc") != 0 for r in mine),
        "n": len(mine),
    }


def fmt(v, unit=""):
    if v is None:
        return "-"
    if unit == "ms":
        v = v / 1000.0
        return "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "%.0f" % v
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(a, b):
    return a / b if a is not None and b else None


def tables(args, runs, point_names):
    lines = []
    both = "zk" in args.servers and "raftzk" in args.servers
    for n in args.topologies:
        lines.append("")
        lines.append("### %s" % ("standalone (1 member)" if n == 1 else "%d members" % n))
        lines.append("")
        lines.append("| point | ZK ops/s | raftzk ops/s | ratio | ZK p99 ms | raftzk p99 ms "
                     "| p99 ratio | ZK p50 ms | raftzk p50 ms | ZK cpu µs/op | raftzk cpu µs/op "
                     "| client cpu µs/op | flags |")
        lines.append("|" + "---|" * 13)
        for point in point_names:
            zk = summarize(runs, n, point, "zk")
            rz = summarize(runs, n, point, "raftzk")
            if not zk["n"] and not rz["n"]:
                continue
            r_ops = ratio(rz["ops"], zk["ops"]) if both else None
            r_p99 = ratio(rz["p99"], zk["p99"]) if both else None
            flags = ""
            if zk["disturbed"] or rz["disturbed"]:
                flags += "*"
            if zk["failed"] or rz["failed"]:
                flags += "!"
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                point, fmt(zk["ops"]), fmt(rz["ops"]),
                ("%.2f×" % r_ops) if r_ops else "-",
                fmt(zk["p99"], "ms"), fmt(rz["p99"], "ms"),
                ("%.2f" % r_p99) if r_p99 else "-",
                fmt(zk["p50"], "ms"), fmt(rz["p50"], "ms"),
                fmt(zk["cpu"]), fmt(rz["cpu"]), fmt(rz["client_cpu"] or zk["client_cpu"]), flags))
        rss = []
        for s in args.servers:
            vs = [sum(r.get("rss_mib") or [0]) for r in runs
                  if r["topology"] == n and r["server"] == s]
            if vs:
                rss.append("%s %.0f MiB" % (SERVER_NAMES[s], max(vs)))
        if rss:
            lines.append("")
            lines.append("Largest RSS after a run (sum over members): " + ", ".join(rss) + ".")
    return "\n".join(lines) + "\n"


def facts(args, fsync_s, started, elapsed):
    def first(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return "\n".join([
        "- date: %s UTC, %.0f s" % (time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)), elapsed),
        "- machine: %d CPUs (%s), %d MiB RAM, Linux %s" % (os.cpu_count(), model, mem,
                                                          platform.release()),
        "- disk: 100-byte append + fdatasync p50 %.3f ms (data directories' filesystem)"
        % (fsync_s * 1000),
        "- raftzk: `%s`" % first([servers.raftzk_binary(), "--version"]),
        "- ZooKeeper: 3.8.0 (Debian), `%s`, -Xmx%s" % (first(["java", "-version"]), args.heap),
        "- load generator: raftzk-bench, %.1f s measured + %.1f s warm-up per run, %d rounds "
        "alternating which server goes first; cells are medians" % (
            args.duration, args.warmup, args.rounds),
        "- command: `scripts/bench.sh %s`" % " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "- ratio = raftzk ÷ ZooKeeper ops/s (target ≥ 2); p99 ratio = raftzk ÷ ZooKeeper "
        "(target ≤ 0.5); `*` another process used > %.2f cores in a run, `!` a run failed"
        % args.disturbed,
    ])


# --- the matrix ------------------------------------------------------------------------

def main(argv):
    args = parse_args(argv)
    bench = bench_binary()
    for binary in (bench, servers.raftzk_binary()):
        if "raftzk" in args.servers or binary == bench:
            if not os.access(binary, os.X_OK):
                print("matrix: %s is missing (cargo build --release -p raftzk -p raftzk-bench "
                      "--bins)" % binary, file=sys.stderr)
                return 2
    out = args.out or os.path.join(REPO, "bench", "results",
                                   time.strftime("matrix-%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="raftzk-matrix-")
    started, t0 = time.time(), time.monotonic()
    fsync_s = fsync_probe(tmp)
    plan = points(args)
    print("matrix: %d points x %d servers x %d rounds x %d topologies; results in %s"
          % (len(plan), len(args.servers), args.rounds, len(args.topologies), out), flush=True)
    runs, failed = [], False
    for n in args.topologies:
        cores = wait_quiet(args.wait_quiet, 0.15)
        print("== %d member(s); machine busy %.2f cores before start" % (n, cores), flush=True)
        deployed = []
        try:
            for kind in args.servers:
                deployed.append(deploy(kind, n, os.path.join(tmp, "%s-%d" % (kind, n)), args.heap))
            for target in deployed:
                if args.server_warmup > 0:
                    run_once(args, bench, target, deployed,
                             KEY_WORKLOADS["mixed70"] + ["--connections", "16", "--window", "32"],
                             os.path.join(tmp, "warmup.json"), "warmup", args.server_warmup)
            for name, point_argv in plan:
                if time.monotonic() - t0 > args.time_limit:
                    print("matrix: time limit reached; %s and later skipped" % name, flush=True)
                    break
                for rnd in range(args.rounds):
                    order = deployed if rnd % 2 == 0 else list(reversed(deployed))
                    for target in order:
                        path = os.path.join(out, "run-%d-%s-%d-%s.json" % (
                            n, name.replace(" ", "_").replace("=", ""), rnd, target.kind))
                        r = run_once(args, bench, target, deployed, point_argv, path, target.kind)
                        r.update({"topology": n, "point": name, "server": target.kind,
                                  "round": rnd})
                        runs.append(r)
                        failed |= r["rc"] != 0
                        print("  %-22s %-6s r%d %10.0f ops/s  p99 %8.2f ms  srv %6.1f us/op%s%s"
                              % (name, target.kind, rnd, r.get("ops_per_s") or 0,
                                 (r.get("latency_us") or {}).get("p99", 0) / 1000.0,
                                 r.get("server_cpu_us_per_op") or 0,
                                 "  DISTURBED %.2f cores" % r["others_cores"]
                                 if r["disturbed"] else "",
                                 "  FAILED rc=%s: %s" % (r["rc"], r["output_tail"][-300:])
                                 if r["rc"] != 0 else ""), flush=True)
        except (servers.ServerStartError, ensemble.ClusterPending, OSError) as e:
            print("matrix: %d member(s): %s" % (n, e), file=sys.stderr)
            failed = True
        finally:
            for d in deployed:
                d.stop()
    elapsed = time.monotonic() - t0
    with open(os.path.join(out, "runs.json"), "w") as f:
        json.dump(runs, f, indent=1)
    text = "## Load matrix\n\n" + facts(args, fsync_s, started, elapsed) + "\n" + tables(
        args, runs, [name for name, _ in plan])
    with open(os.path.join(out, "matrix.md"), "w") as f:
        f.write(text)
    print()
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
