#!/usr/bin/env python3
"""Single-client latency/throughput benchmark, run the same way against the real
ZooKeeper 3.8.0 and raftzk.

One server is started through compat-tests/servers.py (same zoo.cfg for both;
ZooKeeper keeps its default forceSync=yes, i.e. an fdatasync per log group
commit; raftzk fsyncs every Raft log append). Then ONE raw-socket client (a
minimal ZooKeeper frame client written here: handshake, create, getData,
setData, closeSession; requests are pre-encoded before each timed phase so the
client's per-op cost is a sendall plus a recv and identical for both servers):

  warm-up      W sequential create/getData/setData, W pipelined create/getData
  seq create   N sequential create (PERSISTENT, 100-byte data, open ACL, opcode 1)
  seq get      N sequential getData of those nodes (watch=false)
  seq set      N sequential setData of those nodes (100 bytes, version -1)
  pipe create  P creates, one connection, a sliding window of up to 64 in flight
  pipe get     P getData of those nodes, same window

Sequential phases report ops/s and the p50/p99/p99.9/max latency (nearest-rank,
microseconds, send-to-reply measured with perf_counter_ns); pipelined phases
report ops/s. For context, every phase also records the server's CPU time per op
(/proc/PID/stat), the bytes it caused to be written to disk (/proc/PID/io), its
fsync/fdatasync/sync_file_range calls (perf tracepoints on its PID, when perf
works), and how much CPU *other* processes used meanwhile (from /proc/stat), so
a disturbed run can be recognised. Before the server starts, a disk probe
times 100-byte append+fdatasync on the same filesystem as the data dir, and the
same client times round trips against a trivial Python echo server (a reference
for client + loopback cost on this machine; not a lower bound, since the echo
server is itself Python). Sequential phases also record how many ops took over
1 ms / 5 ms and where in the phase the 8 slowest fell.

Usage:
  single_client.py --server zk|raftzk [--n 5000] [--pipeline-n 20000]
                   [--window 64] [--warmup 5000] [--time-limit 600]
                   [--cfg key=value ...] [--pin none|same|split] [--wait-quiet S]
                   [--json-out FILE] [--no-perf] [--keep]

The result is printed as text and, with --json-out, written as JSON (read by
bench/table.py). Exit status: 0 ok, 1 a phase failed, 2 setup problem.
"""

import argparse
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "compat-tests"))

import procstat  # noqa: E402
import servers  # noqa: E402
from procstat import machine_busy_s, process_cpu_s  # noqa: E402

CREATE, GET_DATA, SET_DATA, CLOSE_SESSION = 1, 4, 5, -11
OPEN_ACL = struct.pack(">ii", 1, 31) + struct.pack(">i", 5) + b"world" + struct.pack(">i", 6) + b"anyone"
PAYLOAD = bytes((i * 7 + 13) % 251 for i in range(100))  # 100 bytes, not all zero
GET_REPLY_LEN = 16 + 4 + len(PAYLOAD) + 68  # header, data, Stat
SYNC_EVENTS = ("fsync", "fdatasync", "sync_file_range")
TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- wire


def _ustr(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _frame(body):
    return struct.pack(">i", len(body)) + body


def req_create(xid, path, data):
    return _frame(struct.pack(">ii", xid, CREATE) + _ustr(path)
                  + struct.pack(">i", len(data)) + data + OPEN_ACL + struct.pack(">i", 0))


def req_get(xid, path):
    return _frame(struct.pack(">ii", xid, GET_DATA) + _ustr(path) + b"\x00")


def req_set(xid, path, data):
    return _frame(struct.pack(">ii", xid, SET_DATA) + _ustr(path)
                  + struct.pack(">i", len(data)) + data + struct.pack(">i", -1))


class BenchError(RuntimeError):
    pass


class Client:
    """One synchronous TCP connection with a byte buffer for replies."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.xid = 0

    def _fill(self):
        d = self.sock.recv(262144)
        if not d:
            raise BenchError("server closed the connection")
        self.buf += d

    def read_frame(self):
        buf = self.buf
        while len(buf) < 4:
            self._fill()
        (n,) = struct.unpack_from(">i", buf, 0)
        while len(buf) < 4 + n:
            self._fill()
        out = bytes(buf[4:4 + n])
        del buf[:4 + n]
        return out

    def handshake(self, timeout_ms=30000):
        body = struct.pack(">iqiqi", 0, 0, timeout_ms, 0, 16) + b"\0" * 16 + b"\0"
        self.sock.sendall(_frame(body))
        r = self.read_frame()
        _proto, timeout, session = struct.unpack_from(">iiq", r, 0)
        if session == 0:
            raise BenchError("handshake refused (session id 0)")
        return session, timeout

    def next_xid(self):
        self.xid += 1
        return self.xid

    def call(self, frame_bytes, xid):
        self.sock.sendall(frame_bytes)
        r = self.read_frame()
        rxid, _zxid, err = struct.unpack_from(">iqi", r, 0)
        if rxid != xid:
            raise BenchError("reply xid %d, expected %d" % (rxid, xid))
        if err != 0:
            raise BenchError("xid %d failed with error %d" % (xid, err))
        return r

    def close(self):
        try:
            xid = self.next_xid()
            self.sock.sendall(_frame(struct.pack(">ii", xid, CLOSE_SESSION)))
            self.read_frame()
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- observation


def read_proc_io(pid):
    out = {}
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, v = line.split(":")
                out[k.strip()] = int(v)
    except OSError:
        pass
    return out


def proc_snapshot():
    """{pid: (comm, cpu seconds, is_kernel_thread)} for every process now."""
    snap = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        fields = s[s.rindex(")") + 2:].split()
        ppid = int(fields[1])
        kthread = int(d) == 2 or ppid == 2
        snap[int(d)] = (comm, (int(fields[11]) + int(fields[12])) / TICKS, kthread)
    return snap


def others_delta(snap0, snap1, exclude, wall):
    """CPU used by other user processes and by kernel threads between two
    snapshots (processes that lived only in between are not seen), in cores."""
    users, kthreads, kt_top = {}, 0.0, {}
    for pid, (comm, cpu, kt) in snap1.items():
        if pid in exclude:
            continue
        before = snap0.get(pid)
        if kt:
            # a kworker's comm carries its current workqueue ("kworker/0:1-events")
            comm = comm.split("-")[0]
            same = before is not None and before[0].split("-")[0] == comm
        else:
            same = before is not None and before[0] == comm  # not a reused pid
        d = cpu - (before[1] if same else 0.0)
        if d <= 0:
            continue
        if kt:
            kthreads += d
            kt_top[comm] = kt_top.get(comm, 0.0) + d
        else:
            users[comm] = users.get(comm, 0.0) + d
    top = sorted(users.items(), key=lambda kv: -kv[1])[:3]
    return {
        "other_procs_cores": round(sum(users.values()) / wall, 2) if wall > 0 else None,
        "kthreads_cores": round(kthreads / wall, 2) if wall > 0 else None,
        "top_others": [[c, round(v / wall, 2)] for c, v in top if v / wall >= 0.02] if wall > 0 else [],
        "top_kthreads": [[c, round(v / wall, 2)] for c, v in sorted(kt_top.items(), key=lambda kv: -kv[1])[:3]]
        if wall > 0 else [],
    }


class DiskStats:
    """/sys/dev/block/M:m/stat of the device holding `directory` (None if not found)."""

    def __init__(self, directory):
        st = os.stat(directory)
        self.path = "/sys/dev/block/%d:%d/stat" % (os.major(st.st_dev), os.minor(st.st_dev))
        if not os.path.exists(self.path):
            self.path = None

    def read(self):
        if self.path is None:
            return None
        try:
            with open(self.path) as f:
                v = [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            return None
        return {
            "writes": v[4], "write_sectors": v[6], "io_ticks_ms": v[9],
            "flushes": v[15] if len(v) > 15 else None,
        }


def read_steal():
    """Steal time of all CPUs (time the hypervisor ran someone else), seconds."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    return int(parts[7]) / TICKS if len(parts) > 7 else 0.0


def self_cpu():
    t = os.times()
    return t.user + t.system


class SyncCounter:
    """perf stat counting fsync-family syscall entries of one PID (all threads)."""

    def __init__(self, pid, enabled):
        self.pid = pid
        self.enabled = enabled and shutil.which("perf") is not None
        self.proc = None
        self.out = None

    def start(self):
        if not self.enabled:
            return
        fd, self.out = tempfile.mkstemp(prefix="perf-", suffix=".csv")
        os.close(fd)
        ev = ",".join("syscalls:sys_enter_%s" % e for e in SYNC_EVENTS)
        self.proc = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-e", ev, "-p", str(self.pid), "-o", self.out],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.4)  # let it attach to every thread before the phase starts
        if self.proc.poll() is not None:
            self.enabled = False

    def stop(self):
        if not self.enabled or self.proc is None:
            return None
        time.sleep(0.05)
        try:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            self.proc.kill()
            self.proc.wait()
            return None
        counts = {}
        try:
            with open(self.out) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) >= 3 and parts[2].startswith("syscalls:sys_enter_"):
                        name = parts[2][len("syscalls:sys_enter_"):]
                        try:
                            counts[name] = int(parts[0])
                        except ValueError:
                            counts[name] = None
        finally:
            os.unlink(self.out)
        if not counts or any(v is None for v in counts.values()):
            return None
        return counts


class Probe:
    """Context for one phase: elapsed, server CPU, disk writes, syncs, others' CPU."""

    def __init__(self, server_pid, perf, disk):
        self.pid = server_pid
        self.disk = disk
        self.sync = SyncCounter(server_pid, perf)

    def __enter__(self):
        self.sync.start()
        self.cpu0 = process_cpu_s(self.pid)
        self.io0 = read_proc_io(self.pid)
        self.sys0 = machine_busy_s()
        self.me0 = self_cpu()
        self.snap0 = proc_snapshot()
        self.dev0 = self.disk.read()
        self.steal0 = read_steal()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.t1 = time.monotonic()
        self.cpu1 = process_cpu_s(self.pid)
        self.io1 = read_proc_io(self.pid)
        self.sys1 = machine_busy_s()
        self.me1 = self_cpu()
        self.dev1 = self.disk.read()
        self.steal1 = read_steal()
        self.snap1 = proc_snapshot()
        self.syncs = self.sync.stop()
        return False

    def summary(self, ops):
        wall = self.t1 - self.t0
        server_cpu = self.cpu1 - self.cpu0
        client_cpu = self.me1 - self.me0
        other = max(0.0, (self.sys1 - self.sys0) - server_cpu - client_cpu)
        out = {
            "server_cpu_us_per_op": round(server_cpu / ops * 1e6, 1) if ops else None,
            "server_cpu_cores": round(server_cpu / wall, 2) if wall > 0 else None,
            "client_cpu_cores": round(client_cpu / wall, 2) if wall > 0 else None,
            # every non-idle CPU second not used by the server or this client:
            # other processes, kernel threads (e.g. jbd2 for fsync), softirq
            "other_cpu_cores": round(other / wall, 2) if wall > 0 else None,
            "steal_cores": round((self.steal1 - self.steal0) / wall, 2) if wall > 0 else None,
        }
        if self.dev0 and self.dev1 and wall > 0 and ops:
            # the whole block device: the server's writes, the journal, and anyone else's
            d = {k: (self.dev1[k] - self.dev0[k]) if self.dev0[k] is not None else None
                 for k in self.dev0}
            out["dev_write_MBps"] = round(d["write_sectors"] * 512 / wall / 1e6, 2)
            out["dev_writes_per_op"] = round(d["writes"] / ops, 3)
            if d["flushes"] is not None:
                out["dev_flushes_per_op"] = round(d["flushes"] / ops, 3)
            out["dev_busy_pct"] = round(100.0 * d["io_ticks_ms"] / 1000 / wall, 1)
        exclude = {self.pid, os.getpid()}
        if self.sync.proc is not None:
            exclude.add(self.sync.proc.pid)
        out.update(others_delta(self.snap0, self.snap1, exclude, wall))
        if "write_bytes" in self.io0 and "write_bytes" in self.io1 and ops:
            out["disk_write_bytes_per_op"] = round(
                (self.io1["write_bytes"] - self.io0["write_bytes"]) / ops, 1)
        if self.syncs is not None and ops:
            total = sum(self.syncs.values())
            out["syncs"] = self.syncs
            out["syncs_per_op"] = round(total / ops, 3)
        return out


# --------------------------------------------------------------------------- phases


def pct(sorted_vals, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(1, math.ceil(q * len(sorted_vals)))
    return sorted_vals[min(k, len(sorted_vals)) - 1]


def run_sequential(client, reqs, deadline, reply_len=None):
    """reqs: list of (xid, frame). Returns (latencies_ns, elapsed_s, completed)."""
    lat = []
    sock = client.sock
    read_frame = client.read_frame
    unpack = struct.unpack_from
    clock = time.perf_counter_ns
    start = clock()
    for i, (xid, fr) in enumerate(reqs):
        if (i & 255) == 0 and time.monotonic() > deadline:
            break
        t0 = clock()
        sock.sendall(fr)
        r = read_frame()
        t1 = clock()
        rxid, _zxid, err = unpack(">iqi", r, 0)
        if rxid != xid or err != 0 or (reply_len is not None and len(r) != reply_len):
            raise BenchError("op %d: reply xid %d err %d len %d (expected xid %d, err 0)"
                             % (i, rxid, err, len(r), xid))
        lat.append(t1 - t0)
    elapsed = (clock() - start) / 1e9
    return lat, elapsed, len(lat)


def run_pipelined(client, reqs, window, deadline, reply_len=None):
    """Sliding window: keep up to `window` requests in flight, read replies in
    order, refill with as many new requests as replies were read (one sendall).
    Returns (elapsed_s, completed)."""
    sock = client.sock
    buf = client.buf
    unpack = struct.unpack_from
    total = len(reqs)
    frames = [fr for _x, fr in reqs]
    xids = [x for x, _f in reqs]
    sent = recvd = 0
    clock = time.perf_counter_ns
    start = clock()
    first = min(window, total)
    sock.sendall(b"".join(frames[:first]))
    sent = first
    stop_sending = False
    while recvd < sent:
        d = sock.recv(262144)
        if not d:
            raise BenchError("server closed the connection")
        buf += d
        off = 0
        blen = len(buf)
        while blen - off >= 4:
            (n,) = unpack(">i", buf, off)
            if blen - off < 4 + n:
                break
            rxid, _zxid, err = unpack(">iqi", buf, off + 4)
            if rxid != xids[recvd] or err != 0 or (reply_len is not None and n != reply_len):
                raise BenchError("pipelined op %d: reply xid %d err %d len %d (expected xid %d)"
                                 % (recvd, rxid, err, n, xids[recvd]))
            recvd += 1
            off += 4 + n
        if off:
            del buf[:off]
        if not stop_sending and time.monotonic() > deadline:
            stop_sending = True
        if not stop_sending:
            m = min(total - sent, window - (sent - recvd))
            if m > 0:
                sock.sendall(b"".join(frames[sent:sent + m]))
                sent += m
    elapsed = (clock() - start) / 1e9
    return elapsed, recvd


def disk_probe(directory, n=500):
    """Latency of a 100-byte append + fdatasync on `directory`'s filesystem."""
    lat = [int(t * 1e9) for t in procstat.fdatasync_times(directory, n, PAYLOAD)]
    lat.sort()
    return {
        "n": n,
        "p50_us": round(pct(lat, 0.5) / 1000, 1),
        "p99_us": round(pct(lat, 0.99) / 1000, 1),
        "max_us": round(lat[-1] / 1000, 1),
    }


ECHO_SERVER = r"""
import socket, struct, sys
reply = struct.pack(">i", %d) + bytes(%d)
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = bytearray()
while True:
    d = c.recv(262144)
    if not d:
        break
    buf += d
    k = 0
    while len(buf) >= 4:
        (n,) = struct.unpack_from(">i", buf, 0)
        if len(buf) < 4 + n:
            break
        del buf[:4 + n]
        k += 1
    if k:
        c.sendall(reply * k)
""" % (GET_REPLY_LEN, GET_REPLY_LEN)


def loopback_floor(n):
    """Round trips of this client against a trivial Python echo server that answers
    every frame with a getData-sized frame: what client + loopback cost without
    any ZooKeeper server."""
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline())
        c = Client("127.0.0.1", port)
        fr = req_get(1, "/seq-00000000/n000000")
        lat = []
        for _ in range(min(n, 2000)):  # warm-up
            c.sock.sendall(fr)
            c.read_frame()
        for _ in range(n):
            t0 = time.perf_counter_ns()
            c.sock.sendall(fr)
            c.read_frame()
            lat.append(time.perf_counter_ns() - t0)
        c.sock.close()
    finally:
        proc.kill()
        proc.wait()
    lat.sort()
    return {"n": n, "p50_us": round(pct(lat, 0.5) / 1000, 1), "p99_us": round(pct(lat, 0.99) / 1000, 1),
            "ops_s": round(n / (sum(lat) / 1e9), 1)}


def seq_result(name, lat, elapsed, done, planned, probe):
    # where the slowest samples fell (index within the phase): clustered or periodic
    # outliers point at the server (GC, compaction), scattered ones at the machine
    slowest = sorted(range(len(lat)), key=lambda i: -lat[i])[:8]
    slowest = [[i, round(lat[i] / 1000, 1)] for i in sorted(slowest)]
    over_1ms = sum(1 for v in lat if v > 1_000_000)
    over_5ms = sum(1 for v in lat if v > 5_000_000)
    lat.sort()
    res = {
        "mode": "sequential",
        "n": done,
        "planned": planned,
        "truncated": done < planned,
        "elapsed_s": round(elapsed, 3),
        "ops_s": round(done / elapsed, 1) if elapsed > 0 else None,
        "p50_us": round(pct(lat, 0.50) / 1000, 1) if lat else None,
        "p99_us": round(pct(lat, 0.99) / 1000, 1) if lat else None,
        "p999_us": round(pct(lat, 0.999) / 1000, 1) if lat else None,
        "max_us": round(lat[-1] / 1000, 1) if lat else None,
        "mean_us": round(sum(lat) / len(lat) / 1000, 1) if lat else None,
        # how many of the slowest samples p99.9 rests on
        "p999_rank_from_top": (len(lat) - max(1, math.ceil(0.999 * len(lat))) + 1) if lat else None,
        "over_1ms": over_1ms,
        "over_5ms": over_5ms,
        "slowest": slowest,
    }
    res.update(probe.summary(done))
    return res


def pipe_result(elapsed, done, planned, window, probe):
    res = {
        "mode": "pipelined",
        "window": window,
        "n": done,
        "planned": planned,
        "truncated": done < planned,
        "elapsed_s": round(elapsed, 3),
        "ops_s": round(done / elapsed, 1) if elapsed > 0 else None,
    }
    res.update(probe.summary(done))
    return res


def server_version(srv):
    try:
        txt = servers.four_letter_word(srv.host, srv.port, b"srvr", timeout=3)
        for line in txt.splitlines():
            if line.lower().startswith("zookeeper version") or "version" in line.lower():
                return line.strip()
        return txt.splitlines()[0] if txt else None
    except OSError:
        return None


def wait_quiet(max_wait, threshold=0.3, needed=3):
    """Wait (at most max_wait s) until the machine's busy CPU stays below
    `threshold` cores for `needed` consecutive 1 s samples. Returns a record."""
    t0 = time.monotonic()
    calm = 0
    samples = []
    while True:
        b0, w0 = machine_busy_s(), time.monotonic()
        time.sleep(1.0)
        busy = (machine_busy_s() - b0) / (time.monotonic() - w0)
        samples.append(round(busy, 2))
        calm = calm + 1 if busy < threshold else 0
        waited = time.monotonic() - t0
        if calm >= needed:
            return {"quiet": True, "waited_s": round(waited, 1), "last_busy_cores": samples[-needed:]}
        if waited >= max_wait:
            snap0 = proc_snapshot()
            time.sleep(1.0)
            busiest = others_delta(snap0, proc_snapshot(), {os.getpid()}, 1.0)["top_others"]
            return {"quiet": False, "waited_s": round(waited, 1), "last_busy_cores": samples[-needed:],
                    "busiest": busiest}


def pin(server_pid, how):
    """Pin this client and every server thread: 'same' puts both on the first CPU,
    'split' the client on the first CPU and the server on all the others. On a
    VM, a request that wakes a thread on another (idle) vCPU costs tens of us."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 and how == "split":
        raise BenchError("--pin split needs at least 2 CPUs")
    client = {cpus[0]}
    server = {cpus[0]} if how == "same" else set(cpus[1:])
    os.sched_setaffinity(0, client)
    subprocess.run(["taskset", "-a", "-p", "-c", ",".join(map(str, sorted(server))), str(server_pid)],
                   stdout=subprocess.DEVNULL, check=True)
    return {"client_cpus": sorted(client), "server_cpus": sorted(server)}


def bench(args):
    deadline_all = time.monotonic() + args.time_limit
    tmp = tempfile.mkdtemp(prefix="bench-%s-" % args.server)
    extra = {}
    for kv in args.cfg:
        k, _, v = kv.partition("=")
        extra[k.strip()] = v.strip()
    result = {
        "server": args.server,
        "params": {"n": args.n, "pipeline_n": args.pipeline_n, "window": args.window,
                   "warmup": args.warmup, "data_bytes": len(PAYLOAD), "extra_cfg": extra},
        "host": {"nproc": os.cpu_count(), "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
        "phases": {},
    }
    if args.wait_quiet > 0:
        q = wait_quiet(args.wait_quiet)
        result["quiet_wait"] = q
        if not q["quiet"]:
            print("  machine still busy after %.0f s (busy cores %s, busiest %s); running anyway"
                  % (q["waited_s"], q["last_busy_cores"], q.get("busiest")), file=sys.stderr, flush=True)
        elif q["waited_s"] > 3.5:
            print("  waited %.0f s for a quiet machine" % q["waited_s"], file=sys.stderr, flush=True)
        result["host"]["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    result["disk_probe"] = disk_probe(tmp)
    result["loopback_floor"] = loopback_floor(args.n)
    if args.server == "raftzk":
        import hashlib
        binary = servers.raftzk_binary()
        h = hashlib.sha256()
        with open(binary, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        st = os.stat(binary)
        result["raftzk_binary"] = {
            "path": binary, "sha256_12": h.hexdigest()[:12], "size": st.st_size,
            "mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime)),
        }
    srv = servers.start_server(args.server, tmp, extra_cfg=extra)
    client = None
    try:
        result["server_pid"] = srv.pid
        if args.pin != "none":
            result["pin"] = pin(srv.pid, args.pin)
        result["server_version"] = server_version(srv)
        disk = DiskStats(srv.data_dir)
        client = Client(srv.host, srv.port)
        session, timeout = client.handshake()
        result["session_timeout_ms"] = timeout
        run_id = "%x" % (int(time.time() * 1000) & 0xFFFFFFFF)

        def x():
            return client.next_xid()

        # parents
        for p in ("/warm-" + run_id, "/seq-" + run_id, "/pipe-" + run_id):
            xid = x()
            client.call(req_create(xid, p, b""), xid)

        def left(share=1.0):
            return time.monotonic() + max(0.0, (deadline_all - time.monotonic()) * share)

        # warm-up (not reported beyond its duration): every kind of request, both
        # ways, so the JVM has compiled the paths measured below
        t0 = time.monotonic()
        w = args.warmup
        wpaths = ["/warm-%s/w%06d" % (run_id, i) for i in range(w)]
        wpipe = ["/warm-%s/p%06d" % (run_id, i) for i in range(w)]
        run_sequential(client, [(xid, req_create(xid, p, PAYLOAD)) for p in wpaths for xid in [x()]], left(0.2))
        run_sequential(client, [(xid, req_get(xid, p)) for p in wpaths for xid in [x()]], left(0.2))
        run_sequential(client, [(xid, req_set(xid, p, PAYLOAD)) for p in wpaths for xid in [x()]], left(0.2))
        run_pipelined(client, [(xid, req_create(xid, p, PAYLOAD)) for p in wpipe for xid in [x()]], args.window, left(0.2))
        run_pipelined(client, [(xid, req_get(xid, p)) for p in wpipe for xid in [x()]], args.window, left(0.2))
        result["warmup_s"] = round(time.monotonic() - t0, 2)

        seq_paths = ["/seq-%s/n%06d" % (run_id, i) for i in range(args.n)]
        phases = [
            ("seq_create", lambda: [(xid, req_create(xid, p, PAYLOAD)) for p in seq_paths for xid in [x()]]),
            ("seq_get", lambda: [(xid, req_get(xid, p)) for p in seq_paths for xid in [x()]]),
            ("seq_set", lambda: [(xid, req_set(xid, p, PAYLOAD)) for p in seq_paths for xid in [x()]]),
        ]
        created = args.n
        for i, (name, build) in enumerate(phases):
            reqs = build()
            if name != "seq_create":
                reqs = reqs[:created]
            with Probe(srv.pid, not args.no_perf, disk) as probe:
                lat, el, done = run_sequential(client, reqs, left(1.0 / (5 - i)),
                                               GET_REPLY_LEN if name == "seq_get" else None)
            if name == "seq_create":
                created = done
            result["phases"][name] = seq_result(name, lat, el, done, len(reqs), probe)
            log_phase(name, result["phases"][name])

        pipe_paths = ["/pipe-%s/n%06d" % (run_id, i) for i in range(args.pipeline_n)]
        reqs = [(xid, req_create(xid, p, PAYLOAD)) for p in pipe_paths for xid in [x()]]
        with Probe(srv.pid, not args.no_perf, disk) as probe:
            el, done = run_pipelined(client, reqs, args.window, left(0.5))
        result["phases"]["pipe_create"] = pipe_result(el, done, len(reqs), args.window, probe)
        log_phase("pipe_create", result["phases"]["pipe_create"])

        reqs = [(xid, req_get(xid, p)) for p in pipe_paths[:done] for xid in [x()]]
        with Probe(srv.pid, not args.no_perf, disk) as probe:
            el, done = run_pipelined(client, reqs, args.window, left(1.0), GET_REPLY_LEN)
        result["phases"]["pipe_get"] = pipe_result(el, done, len(reqs), args.window, probe)
        log_phase("pipe_get", result["phases"]["pipe_get"])

        client.close()
        client = None
        result["ok"] = True
    except (BenchError, OSError, socket.timeout) as e:
        result["ok"] = False
        result["error"] = "%s: %s" % (type(e).__name__, e)
        print("ERROR: %s" % result["error"], file=sys.stderr)
        if not srv.alive():
            print("server died; log tail:\n%s" % srv.log_tail(), file=sys.stderr)
    finally:
        if client is not None:
            client.close()
        srv.stop()
        result["host"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            result["tmpdir"] = tmp
    return result


def log_phase(name, r):
    bits = ["%-11s n=%-6d %9.1f ops/s" % (name, r["n"], r["ops_s"] or 0)]
    if r["mode"] == "sequential":
        bits.append("p50 %.1f p99 %.1f p99.9 %.1f max %.1f us" % (r["p50_us"], r["p99_us"], r["p999_us"], r["max_us"]))
    if "syncs_per_op" in r:
        bits.append("syncs/op %.3f" % r["syncs_per_op"])
    bits.append("srv cpu %.1f us/op, others %.2f cores" % (r["server_cpu_us_per_op"] or 0, r["other_cpu_cores"] or 0))
    if r.get("top_others"):
        bits.append("busy: " + ", ".join("%s %.2f" % (c, v) for c, v in r["top_others"]))
    if r.get("truncated"):
        bits.append("TRUNCATED (time limit)")
    print("  " + "; ".join(bits), file=sys.stderr, flush=True)


def _terminate(signum, _frame):
    # `timeout` or Ctrl-C: unwind so that bench()'s finally stops the server
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, _terminate)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=("zk", "raftzk"), required=True)
    ap.add_argument("--n", type=int, default=5000, help="ops per sequential phase (default 5000)")
    ap.add_argument("--pipeline-n", type=int, default=20000, help="ops per pipelined phase (default 20000)")
    ap.add_argument("--window", type=int, default=64, help="requests in flight when pipelined (default 64)")
    ap.add_argument("--warmup", type=int, default=5000, help="warm-up ops per kind (default 5000)")
    ap.add_argument("--time-limit", type=float, default=600, help="seconds for the whole run (default 600)")
    ap.add_argument("--cfg", action="append", default=[], metavar="KEY=VALUE", help="extra zoo.cfg line")
    ap.add_argument("--json-out", help="write the result as JSON here")
    ap.add_argument("--no-perf", action="store_true", help="do not count fsyncs with perf")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="first wait up to this long for the machine to be idle (busy < 0.3 cores for 3 s)")
    ap.add_argument("--pin", choices=("none", "same", "split"), default="none",
                    help="CPU pinning: none (default), same (client and server on one CPU), "
                         "split (client on the first CPU, server on the rest)")
    ap.add_argument("--keep", action="store_true", help="keep the temp data dir")
    args = ap.parse_args()
    if args.n < 1 or args.pipeline_n < 1 or args.window < 1 or args.warmup < 0:
        ap.error("counts must be positive")
    print("== %s: n=%d pipeline_n=%d window=%d warmup=%d cfg=%s" % (
        args.server, args.n, args.pipeline_n, args.window, args.warmup, args.cfg or "-"),
        file=sys.stderr, flush=True)
    try:
        result = bench(args)
    except servers.ServerStartError as e:
        print("cannot start %s: %s" % (args.server, e), file=sys.stderr)
        return 2
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=1)
    else:
        json.dump(result, sys.stdout, indent=1)
        print()
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
