#!/usr/bin/env python3
"""Scale points: what a million znodes, ten thousand sessions and a hundred thousand watches
cost the real ZooKeeper 3.8.0 and raftzk, one standalone server at a time, same zoo.cfg.

For each server, in this order (each phase starts from where the one before left the server):
  1. start it empty (maxClientCnxns=0, ZooKeeper's default snapCount), warm it with a few
     seconds of reads, and read its RSS (again for a second fresh server before step 3);
  2. hold: --sessions sessions opened and held, each setting --watches-per-session data
     watches on --watch-keys keys (raftzk-bench --workload hold); the RSS (and, for the JVM,
     the live heap after a full GC) is read before the sessions, with them open, and with
     every watch set, so each difference is the cost of the sessions or of the watches alone;
  3. populate: --znodes persistent creates of --value-size bytes (16 sessions x 32 in flight,
     all under one parent, as the matrix's create point makes them), then the RSS again;
  4. restart on the same data with snapCount=--snap-count appended to its zoo.cfg: the time
     from the new process to serving the whole tree, and its RSS then (the tree without the
     garbage of loading it);
  5. writes through snapshots: --snapshot-writes setData at 4 sessions x 1 in flight against
     the million-znode tree, with the snapshots that snapCount makes both servers take meanwhile
     (mntr's snapshottime, which both servers report, before and after): write p50/p99/max.

RSS is what the kernel charges the process (/proc/PID/status VmRSS). For ZooKeeper it is also
the JVM's heap high-water mark (-Xmx --heap; the JVM rarely returns heap to the kernel), so the
tables add its RSS right after a full GC (jcmd GC.run: G1 then gives back what it need not
keep) and the JVM's live heap then (GC.heap_info): the memory ZooKeeper's data really needs,
which is as favourable to ZooKeeper as it gets. Every sample of ZooKeeper runs that full GC,
so its plain RSS growth in a phase is counted from the state after the previous sample's GC.

Output: <out>/scale.json and <out>/scale.md (tables, machine facts, command line), and the
tables on stdout. Exit status: 0 ok, 1 a phase failed (it is still reported), 2 setup problem.
"""

import argparse
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "compat-tests"))
sys.path.insert(0, HERE)

import procstat  # noqa: E402
import servers  # noqa: E402

SERVER_NAMES = {"zk": "ZooKeeper 3.8.0", "raftzk": "raftzk"}
# per-unit figures: plain RSS, RSS after a full GC (the JVM; raftzk's plain RSS), live heap
KEYS = ("rss_mib", "gc_rss_mib", "live_heap_mib")
MIB = 1024.0 * 1024.0


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--servers", default="zk,raftzk", help="zk,raftzk (or one of them)")
    p.add_argument("--znodes", type=int, default=1_000_000)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--sessions", type=int, default=10_000)
    p.add_argument("--watches-per-session", type=int, default=10)
    p.add_argument("--watch-keys", type=int, default=10_000)
    p.add_argument("--snap-count", type=int, default=10_000,
                   help="snapCount for the restart and the writes through snapshots")
    p.add_argument("--snapshot-writes", type=int, default=40_000)
    p.add_argument("--heap", default="8g", help="ZooKeeper's -Xmx (room for a million znodes)")
    p.add_argument("--out", default=None)
    return p.parse_args(argv)


def bench_binary():
    if os.environ.get("RAFTZK_BENCH_BIN"):
        return os.environ["RAFTZK_BENCH_BIN"]
    return os.path.join(os.path.dirname(servers.raftzk_binary()), "raftzk-bench")


# --- what a server holds ---------------------------------------------------------------

def jvm_live_heap_mib(pid):
    """The JVM's heap in use after a full GC (jcmd), MiB; None where jcmd cannot tell."""
    try:
        subprocess.run(["jcmd", str(pid), "GC.run"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120, check=True)
        info = subprocess.run(["jcmd", str(pid), "GC.heap_info"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=60, text=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"heap\s+total\s+\d+K,\s+used\s+(\d+)K", info)
    return int(m.group(1)) / 1024.0 if m else None


def memory(server):
    """{rss_mib, live_heap_mib (JVM only)} of a server now, after a second of quiet."""
    time.sleep(1.0)
    sample = {"rss_mib": procstat.rss_mib(server.pid)}
    if server.kind == "zookeeper":
        sample["live_heap_mib"] = jvm_live_heap_mib(server.pid)
        sample["rss_after_gc_mib"] = procstat.rss_mib(server.pid)
    return sample


def mntr(server):
    """mntr as {key: number} (keys without the zk_ prefix)."""
    out = {}
    try:
        text = servers.four_letter_word(server.host, server.port, b"mntr", timeout=10.0)
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            try:
                out[parts[0][3:] if parts[0].startswith("zk_") else parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def dir_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


# --- the phases --------------------------------------------------------------------------

def bench_run(bench, server, argv, json_path, timeout):
    """Runs raftzk-bench to completion; its JSON result (or an error record)."""
    full = [bench, "--servers", server.hostport, "--server-pid", str(server.pid),
            "--label", server.kind, "--json", json_path] + argv
    try:
        proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, text=True)
        rc, output = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as e:
        rc, output = -1, "timed out after %d s: %s" % (timeout, e.output or "")
    result = {}
    if rc in (0, 1) and os.path.exists(json_path):
        with open(json_path) as f:
            result = json.load(f)
    result.update({"rc": rc, "output_tail": output[-1500:]})
    return result


def hold(args, bench, server, json_path):
    """Sessions, then watches, held: memory before, with the sessions, with the watches."""
    argv = [bench, "--servers", server.hostport, "--label", server.kind, "--json", json_path,
            "--workload", "hold", "--sessions", str(args.sessions), "--connections", "64",
            "--watches-per-session", str(args.watches_per_session),
            "--keys", str(args.watch_keys), "--duration", "1", "--phase-pause", "6"]
    samples, counts = {}, {}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 600
    output = []
    try:
        for line in proc.stdout:
            output.append(line)
            parts = line.split()
            if len(parts) == 3 and parts[0] == "phase" and parts[1] != "closing":
                counts[parts[1]] = int(parts[2])
                samples[parts[1]] = memory(server)
            if time.monotonic() > deadline:
                proc.kill()
                break
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = -1
    result = {}
    if os.path.exists(json_path):
        with open(json_path) as f:
            result = json.load(f)
    result.update({"rc": rc, "samples": samples, "counts": counts,
                   "output_tail": "".join(output)[-1500:]})
    return result


def per_unit(before, after, key, units):
    """Bytes per unit between two samples of `key` (None where either is missing). The key
    `gc_rss_mib` is the JVM's RSS after a full GC and raftzk's plain RSS (it has no GC)."""
    if key == "gc_rss_mib":
        before = dict(before, gc_rss_mib=before.get("rss_after_gc_mib", before.get("rss_mib")))
        after = dict(after, gc_rss_mib=after.get("rss_after_gc_mib", after.get("rss_mib")))
    if not units or before.get(key) is None or after.get(key) is None:
        return None
    return (after[key] - before[key]) * MIB / units


def start_warm(args, bench, kind, tmp, record):
    """A fresh server, its RSS empty, then warmed with a few seconds of reads."""
    opts = {"extra_cfg": {"maxClientCnxns": 0}, "container_check_interval_ms": 60000}
    if kind == "zk":
        server = servers.start_zookeeper(tmp, heap=args.heap, **opts)
    else:
        server = servers.start_raftzk(tmp, **opts)
    record["empty"] = memory(server)
    warm = bench_run(bench, server, ["--workload", "get", "--keys", "100", "--connections",
                                     "4", "--window", "8", "--duration", "3", "--warmup", "1"],
                     os.path.join(tmp, "warm.json"), 120)
    record["warm"] = memory(server)
    return server, warm["rc"] != 0


def measure(args, bench, kind, tmp):
    """Every phase against one server; a record of what each measured. Sessions and watches
    are held on a server of their own, so that neither phase reuses memory the other freed
    (a malloc keeps freed memory for the next allocations, and RSS does not show it)."""
    record = {"server": kind, "phases": {}}
    failed, server = False, None
    try:
        server, failed = start_warm(args, bench, kind, os.path.join(tmp, "hold"),
                                    record.setdefault("hold_server", {}))
        print("  %s: hold %d sessions x %d watches" % (kind, args.sessions,
                                                      args.watches_per_session), flush=True)
        h = hold(args, bench, server, os.path.join(tmp, "hold.json"))
        failed |= h["rc"] != 0 or h.get("errors", 0) != 0
        record["phases"]["hold"] = h
        s = h["samples"]
        sessions = h["counts"].get("sessions-open", 0)
        watches = h["counts"].get("watches-set", 0)
        record["per_session"] = {
            k: per_unit(s.get("ready", {}), s.get("sessions-open", {}), k, sessions)
            for k in KEYS}
        record["per_watch"] = {
            k: per_unit(s.get("sessions-open", {}), s.get("watches-set", {}), k, watches)
            for k in KEYS}
        record["sessions"], record["watches"] = sessions, watches
        server.stop(grace=60)

        server, cold = start_warm(args, bench, kind, os.path.join(tmp, "tree"), record)
        failed |= cold
        print("  %s: populate %d znodes of %d B" % (kind, args.znodes, args.value_size),
              flush=True)
        before = memory(server)
        t0 = time.monotonic()
        pop = bench_run(bench, server,
                        ["--workload", "create", "--connections", "16", "--window", "32",
                         "--value-size", str(args.value_size), "--max-ops", str(args.znodes),
                         "--duration", "3600", "--warmup", "0"],
                        os.path.join(tmp, "populate.json"), 3600)
        pop["wall_s"] = time.monotonic() - t0
        failed |= pop["rc"] != 0
        record["phases"]["populate"] = pop
        full = memory(server)
        record["populated"] = full
        record["znodes"] = pop.get("ops", 0)
        record["per_znode"] = {k: per_unit(before, full, k, record["znodes"])
                               for k in KEYS}
        record["data_dir_bytes"] = dir_bytes(server.data_dir)

        print("  %s: restart with snapCount=%d" % (kind, args.snap_count), flush=True)
        record["restart_s"] = server.restart(timeout=900, extra_cfg={"snapCount": args.snap_count})
        record["restart_mntr"] = {k: v for k, v in mntr(server).items() if "startup" in k}
        restarted = memory(server)
        record["restarted"] = restarted
        total_nodes = mntr(server).get("znode_count")
        record["znode_count"] = total_nodes
        record["per_znode_restarted"] = {
            k: per_unit(record["empty"], restarted, k, total_nodes)
            for k in KEYS}

        print("  %s: %d writes through snapshots" % (kind, args.snapshot_writes), flush=True)
        m0 = mntr(server)
        writes = bench_run(bench, server,
                           ["--workload", "set", "--keys", "1000", "--connections", "4",
                            "--window", "1", "--max-ops", str(args.snapshot_writes),
                            "--duration", "600", "--warmup", "0"],
                           os.path.join(tmp, "writes.json"), 900)
        m1 = mntr(server)
        failed |= writes["rc"] != 0
        snaps = m1.get("cnt_snapshottime", 0) - m0.get("cnt_snapshottime", 0)
        writes["snapshots"] = snaps
        writes["snapshot_ms_avg"] = ((m1.get("sum_snapshottime", 0) -
                                      m0.get("sum_snapshottime", 0)) / snaps) if snaps else None
        writes["snapshot_ms_max"] = m1.get("max_snapshottime")
        writes["rss_mib_after"] = procstat.rss_mib(server.pid)
        record["phases"]["writes"] = writes
    except (servers.ServerStartError, OSError) as e:
        record["error"] = str(e)
        failed = True
    finally:
        if server is not None:
            server.stop(grace=60)
    record["failed"] = failed
    return record


# --- tables ------------------------------------------------------------------------------

def fmt(v, unit="", digits=0):
    if v is None:
        return "-"
    return ("{:,.%df}" % digits).format(v) + unit


def ratio(a, b):
    return "%.2f×" % (a / b) if a and b else "-"


def tables(records):
    by = {r["server"]: r for r in records}
    zk, rz = by.get("zk", {}), by.get("raftzk", {})

    def row(name, f, unit="", digits=0):
        a, b = f(rz), f(zk)
        return "| %s | %s | %s | %s |" % (name, fmt(b, unit, digits), fmt(a, unit, digits),
                                           ratio(a, b))

    def get(*path):
        def f(r):
            for p in path:
                if not isinstance(r, dict) or r.get(p) is None:
                    return None
                r = r[p]
            return r
        return f

    lines = ["| point | ZooKeeper 3.8.0 | raftzk | raftzk ÷ ZooKeeper |", "|---|---|---|---|"]
    lines += [
        row("RSS, empty server (MiB)", get("empty", "rss_mib")),
        row("RSS, %s znodes (MiB)" % fmt(rz.get("znodes") or zk.get("znodes")),
            get("populated", "rss_mib")),
        row("RSS growth per znode (B)", get("per_znode", "rss_mib")),
        row("  the same, ZooKeeper after a full GC (B)", get("per_znode", "gc_rss_mib")),
        row("  ZooKeeper's live heap per znode (B)", get("per_znode", "live_heap_mib")),
        row("RSS after a restart on that tree (MiB)", get("restarted", "rss_mib")),
        row("  per znode over the empty server (B)", get("per_znode_restarted", "rss_mib")),
        row("  the same, ZooKeeper after a full GC (B)", get("per_znode_restarted", "gc_rss_mib")),
        row("  ZooKeeper's live heap per znode after the restart (B)",
            get("per_znode_restarted", "live_heap_mib")),
        row("data directory after populating (MiB)",
            lambda r: (r.get("data_dir_bytes") or 0) / MIB or None),
        row("populate rate (creates/s)", get("phases", "populate", "ops_per_s")),
        row("RSS growth per session, ZooKeeper after a full GC (B)",
            get("per_session", "gc_rss_mib")),
        row("  ZooKeeper's live heap per session (B)", get("per_session", "live_heap_mib")),
        row("RSS growth per watch, ZooKeeper after a full GC (B)",
            get("per_watch", "gc_rss_mib")),
        row("  ZooKeeper's live heap per watch (B)", get("per_watch", "live_heap_mib")),
        row("time to open the sessions (ms)", get("phases", "hold", "extra", "open_ms")),
        row("time to set the watches (ms)", get("phases", "hold", "extra", "watch_ms")),
        row("restart to serving the whole tree (s)", get("restart_s"), "", 2),
        row("writes through snapshots (sets/s)", get("phases", "writes", "ops_per_s")),
        row("  write p50 (ms)", lambda r: (get("phases", "writes", "latency_us", "p50")(r) or 0)
            / 1000 or None, "", 2),
        row("  write p99 (ms)", lambda r: (get("phases", "writes", "latency_us", "p99")(r) or 0)
            / 1000 or None, "", 2),
        row("  write max (ms)", lambda r: (get("phases", "writes", "latency_us", "max")(r) or 0)
            / 1000 or None, "", 1),
        row("  snapshots taken meanwhile", get("phases", "writes", "snapshots")),
        row("  snapshot time, mean (ms)", get("phases", "writes", "snapshot_ms_avg")),
    ]
    return "\n".join(lines) + "\n"


def facts(args, started, elapsed):
    def first(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=20).stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return "\n".join([
        "- date: %s UTC, %.0f s" % (time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)), elapsed),
        "- machine: %s, %d cores, kernel %s" % (cpu, os.cpu_count() or 0, platform.release()),
        "- java: %s; ZooKeeper -Xmx%s" % (first(["java", "-version"]), args.heap),
        "- raftzk: %s" % first([servers.raftzk_binary(), "--version"]),
        "- command: bench/scale.py %s" % " ".join(shlex.quote(a) for a in sys.argv[1:]),
    ]) + "\n"


def main(argv):
    args = parse_args(argv)
    bench = bench_binary()
    kinds = [k for k in args.servers.split(",") if k]
    for binary in [bench] + ([servers.raftzk_binary()] if "raftzk" in kinds else []):
        if not os.access(binary, os.X_OK):
            print("scale: %s is missing (cargo build --release -p raftzk -p raftzk-bench --bins)"
                  % binary, file=sys.stderr)
            return 2
    # 10 k sessions need 10 k descriptors in the client and in each server (inherited)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.sessions + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    out = args.out or os.path.join(REPO, "bench", "results",
                                   time.strftime("scale-%Y%m%dT%H%M%SZ", time.gmtime()))
    os.makedirs(out, exist_ok=True)
    started, t0 = time.time(), time.monotonic()
    records = []
    for kind in kinds:
        tmp = tempfile.mkdtemp(prefix="raftzk-scale-%s-" % kind)
        print("== %s" % SERVER_NAMES.get(kind, kind), flush=True)
        try:
            records.append(measure(args, bench, kind, tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        with open(os.path.join(out, "scale.json"), "w") as f:
            json.dump(records, f, indent=1)
    text = "## Scale points\n\n" + facts(args, started, time.monotonic() - t0) + "\n" + \
        tables(records)
    with open(os.path.join(out, "scale.md"), "w") as f:
        f.write(text)
    print()
    print(text)
    for r in records:
        if r["failed"]:
            print("scale: %s failed: %s" % (r["server"], r.get("error") or "see scale.json"),
                  file=sys.stderr)
    return 1 if any(r["failed"] for r in records) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
