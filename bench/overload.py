#!/usr/bin/env python3
"""Overload, ZooKeeper 3.8.0 beside raftzk (issue 18): what a member's memory, a well-behaved
bystander session and the clients' acknowledged writes see while other clients overload it.

  python3 bench/overload.py [--servers zk,raftzk] [--scenarios noread,writes,storm,multi]
                            [--clients N] [--duration 20] [--data-bytes 1024] [--out DIR]

Scenarios (each on a fresh standalone server, the same zoo.cfg, fsync on, ZooKeeper with a
2 GB heap):
- `noread`: CLIENTS (48) sessions pipeline getData of one znode (DATA_BYTES of data) as fast
  as their sockets take them and never read a reply.
- `writes`: CLIENTS (64) sessions each send windows of 256 pipelined setData of a znode of
  their own (DATA_BYTES), read the 256 replies, and go again.
- `storm`: 10,000 session handshakes from CLIENTS (64) threads as fast as they go; every
  other session is closed with closeSession, the rest just drop their socket (they expire).
- `multi`: CLIENTS (16) sessions each send windows of 4 pipelined multi requests of 900
  setData of 1000 bytes of a znode of their own (~0.9 MiB each, under jute.maxbuffer).
Meanwhile a bystander session pings every 50 ms and reads a znode every 200 ms. Sampled every
0.25 s: the server's RSS. Reported per server: RSS before, at its peak and its growth; the
bystander's latency (p50, p99, max) and errors; errors and closed sessions among the loading
clients; for `writes` and `multi`, acknowledged writes and how many of them are missing
afterwards (a znode's version below the writes acknowledged on it: 0 is the only right
answer); for `storm`, handshakes done and their p99. Every process started here is stopped
here, by PID; every loop ends by DURATION (the storm also by its count).
"""

import argparse
import json
import os
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import ROOT, out_dir, save, servers  # noqa: E402
from procstat import rss_mib  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "compat-tests", "kazoo"))
import rawzk  # noqa: E402

PATH = "/overload"


def get_data_frames(count, first_xid):
    """`count` getData requests for PATH, framed, as one buffer."""
    body = rawzk.ustr(PATH) + b"\0"
    return b"".join(rawzk.frame(rawzk.i32(first_xid + i) + rawzk.i32(rawzk.GET_DATA) + body)
                    for i in range(count))


def session(port, socket_timeout, result):
    """A loading client's session (30 s timeout), or None with the failure in `result`."""
    try:
        c = rawzk.RawClient("127.0.0.1", port, timeout=socket_timeout)
        c.connect(timeout_ms=30000)
        return c
    except (OSError, rawzk.ConnectionClosed) as e:
        result["connect_errors"] = result.get("connect_errors", 0) + 1
        result["last_error"] = repr(e)
        return None


def non_reader(port, stop_at, result):
    """Pipelines getData without ever reading a reply, until stop_at or the server closes."""
    c = session(port, 10, result)
    if c is None:
        return
    c.sock.settimeout(0.2)
    batch = memoryview(get_data_frames(256, 1))
    sent = 0
    try:
        while time.monotonic() < stop_at:
            off = 0
            while off < len(batch) and time.monotonic() < stop_at:
                try:
                    off += c.sock.send(batch[off:])
                except socket.timeout:
                    continue
            sent += 256
    except OSError:
        result["closed_by_server"] = result.get("closed_by_server", 0) + 1
    finally:
        result["requests_sent"] = result.get("requests_sent", 0) + sent
        try:
            c.sock.close()
        except OSError:
            pass


def set_data_frames(path, data, count, first_xid):
    """`count` setData requests of `path` (version -1), framed, as one buffer."""
    body = rawzk.ustr(path) + rawzk.buf(data) + rawzk.i32(-1)
    return b"".join(rawzk.frame(rawzk.i32(first_xid + i) + rawzk.i32(rawzk.SET_DATA) + body)
                    for i in range(count))


def multi_frame(path, ops, data, xid):
    """One multi of `ops` setData of `path`, framed."""
    op = (rawzk.i32(rawzk.SET_DATA) + b"\x00" + rawzk.i32(-1)
          + rawzk.ustr(path) + rawzk.buf(data) + rawzk.i32(-1))
    body = op * ops + rawzk.i32(-1) + b"\x01" + rawzk.i32(-1)
    return rawzk.frame(rawzk.i32(xid) + rawzk.i32(rawzk.MULTI) + body)


def read_reply_headers(c, count):
    """Reads `count` replies (notifications skipped); their error codes."""
    errs = []
    while len(errs) < count:
        xid, _zxid, err = struct.unpack(">iqi", c.recv_frame()[:16])
        if xid == rawzk.WATCH_XID:
            continue
        errs.append(err)
    return errs


def window_writer(port, path, frames, per_frame, window, stop_at, result):
    """Sends `window` framed writes (`frames`, each worth `per_frame` version bumps of `path`)
    at once, reads every reply, and goes again until stop_at. Counts what was acknowledged;
    a closed connection or SessionExpired counts as a lost session."""
    c = session(port, 60, result)
    if c is None:
        return
    acked = errors = 0
    try:
        while time.monotonic() < stop_at:
            c.sock.sendall(frames)
            for err in read_reply_headers(c, window):
                if err == 0:
                    acked += per_frame
                else:
                    errors += 1
                    if err == -112:
                        result["sessions_lost"] = 1
    except (OSError, rawzk.ConnectionClosed) as e:
        result["sessions_lost"] = 1
        result["last_error"] = repr(e)
    result.update(path=path, acked=acked, errors=errors)
    try:
        c.close_session()
    except (OSError, rawzk.ConnectionClosed):
        pass


def handshaker(port, count, stop_at, result):
    """`count` handshakes in a row (or until stop_at): every other one ends with closeSession,
    the rest drop their socket. Latencies in ms; refusals and errors counted."""
    lat = []
    errors = 0
    for n in range(count):
        if time.monotonic() >= stop_at:
            break
        t0 = time.monotonic()
        try:
            c = rawzk.RawClient("127.0.0.1", port, timeout=10)
            s = c.connect(timeout_ms=4000)
            if s.session_id == 0:
                errors += 1
                c.drop()
                continue
            lat.append((time.monotonic() - t0) * 1000.0)
            if n % 2 == 0:
                c.close_session()
            else:
                c.drop()
        except (OSError, rawzk.ConnectionClosed):
            errors += 1
    result.update(latencies=lat, errors=errors)


def bystander(port, stop_at, result):
    """Pings every 50 ms and reads every 200 ms; latencies in ms, errors counted."""
    lat = []
    errors = 0
    c = rawzk.RawClient("127.0.0.1", port, timeout=10)
    c.connect(timeout_ms=10000)
    n = 0
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        try:
            if n % 4 == 0:
                r = c.get_data(PATH)[0]
            else:
                r = c.ping()
            lat.append((time.monotonic() - t0) * 1000.0)
            if getattr(r, "err", 0) not in (0, None):
                errors += 1
        except (OSError, rawzk.ConnectionClosed):
            errors += 1
            try:
                c = rawzk.RawClient("127.0.0.1", port, timeout=10)
                c.connect(timeout_ms=10000)
            except (OSError, rawzk.ConnectionClosed):
                time.sleep(0.1)
        n += 1
        time.sleep(max(0.0, 0.05 - (time.monotonic() - t0)))
    result.update(latencies=lat, errors=errors, reconnects=result.get("reconnects", 0))


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


DEFAULT_CLIENTS = {"noread": 48, "writes": 64, "storm": 64, "multi": 16}
STORM_HANDSHAKES = 10_000
WINDOW = 256
MULTI_WINDOW, MULTI_OPS, MULTI_DATA = 4, 900, 1000


def start_load(scenario, port, setup, clients, args, stop_at):
    """The scenario's threads and their result dicts (its znodes made through `setup`)."""
    results = [dict() for _ in range(clients)]
    if scenario == "noread":
        targets = [(non_reader, (port, stop_at, r)) for r in results]
    elif scenario in ("writes", "multi"):
        parent = "/overload-" + scenario
        setup.create(parent)
        targets = []
        for i, r in enumerate(results):
            path = "%s/s%d" % (parent, i)
            setup.create(path)
            if scenario == "writes":
                window, per_frame = WINDOW, 1
                frames = set_data_frames(path, b"w" * args.data_bytes, WINDOW, 1)
            else:
                window, per_frame = MULTI_WINDOW, MULTI_OPS
                frames = b"".join(multi_frame(path, MULTI_OPS, b"m" * MULTI_DATA, x + 1)
                                  for x in range(MULTI_WINDOW))
            targets.append((window_writer,
                            (port, path, frames, per_frame, window, stop_at, r)))
    elif scenario == "storm":
        per = -(-STORM_HANDSHAKES // clients)
        targets = [(handshaker, (port, per, stop_at, r)) for r in results]
    else:
        raise SystemExit("unknown scenario %r" % scenario)
    return [threading.Thread(target=f, args=a, daemon=True) for f, a in targets], results


def losses(port, results):
    """Acknowledged writes missing afterwards: per znode, acknowledged minus its version."""
    c = rawzk.RawClient("127.0.0.1", port, timeout=30)
    c.connect()
    acked = missing = 0
    for r in results:
        if "path" not in r:
            continue
        acked += r["acked"]
        rep, _, stat = c.get_data(r["path"])
        version = stat.version if stat is not None else 0
        missing += max(0, r["acked"] - version)
    c.close_session()
    return acked, missing


def run_one(kind, scenario, tmp, args):
    opts = {"heap": "2g"} if kind == "zk" else {}
    clients = args.clients or DEFAULT_CLIENTS[scenario]
    srv = servers.start_server(kind, os.path.join(tmp, "%s-%s" % (kind, scenario)),
                               extra_cfg={"maxClientCnxns": "0"}, **opts)
    try:
        setup = rawzk.RawClient("127.0.0.1", srv.port, timeout=30)
        setup.connect()
        setup.create(PATH, b"x" * args.data_bytes)
        stop_at = time.monotonic() + args.duration
        threads, results = start_load(scenario, srv.port, setup, clients, args, stop_at)
        setup.close_session()
        time.sleep(1.0)
        rss_before = rss_mib(srv.proc.pid)
        by = {}
        threads.append(threading.Thread(target=bystander, args=(srv.port, stop_at, by),
                                        daemon=True))
        started = time.monotonic()
        for t in threads:
            t.start()
        samples = []
        while any(t.is_alive() for t in threads[:-1]) and time.monotonic() < stop_at + 30:
            samples.append(rss_mib(srv.proc.pid))
            time.sleep(0.25)
        # The load's own time (a storm may end before DURATION; the bystander runs on).
        elapsed = time.monotonic() - started
        for t in threads:
            t.join(timeout=30)
        alive = srv.alive()
        lat = by.get("latencies", [])
        out = {
            "server": kind,
            "scenario": scenario,
            "clients": clients,
            "duration_s": args.duration,
            "rss_before_mib": round(rss_before, 1),
            "rss_peak_mib": round(max(samples or [0]), 1),
            "rss_growth_mib": round(max(samples or [0]) - rss_before, 1),
            "bystander_requests": len(lat),
            "bystander_p50_ms": round(pct(lat, 0.5), 2),
            "bystander_p99_ms": round(pct(lat, 0.99), 2),
            "bystander_max_ms": round(max(lat) if lat else float("nan"), 2),
            "bystander_errors": by.get("errors", -1),
            "load_errors": sum(r.get("errors", 0) + r.get("connect_errors", 0)
                               for r in results),
            "load_sessions_closed_by_server": sum(r.get("closed_by_server", 0)
                                                  + r.get("sessions_lost", 0)
                                                  for r in results),
            "server_alive_after": alive,
        }
        if scenario == "noread":
            out["requests_sent"] = sum(r.get("requests_sent", 0) for r in results)
        if scenario in ("writes", "multi") and alive:
            acked, missing = losses(srv.port, results)
            out.update(writes_acked=acked, writes_per_s=round(acked / elapsed),
                       acked_writes_missing=missing)
        if scenario == "storm":
            hs = [x for r in results for x in r.get("latencies", [])]
            out.update(handshakes=len(hs), handshakes_per_s=round(len(hs) / elapsed),
                       handshake_p99_ms=round(pct(hs, 0.99), 2))
        return out
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default="zk,raftzk")
    ap.add_argument("--scenarios", default="noread,writes,storm,multi")
    ap.add_argument("--clients", type=int, default=0,
                    help="loading clients (default per scenario: %s)" % DEFAULT_CLIENTS)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--data-bytes", type=int, default=1024)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = out_dir(args, "overload-bench-")
    tmp = tempfile.mkdtemp(prefix="overload-run-")
    rows = []
    for scenario in args.scenarios.split(","):
        for kind in args.servers.split(","):
            r = run_one(kind, scenario, tmp, args)
            rows.append(r)
            print(json.dumps(r), flush=True)
    keys = ["clients", "rss_before_mib", "rss_peak_mib", "rss_growth_mib", "bystander_p50_ms",
            "bystander_p99_ms", "bystander_max_ms", "bystander_errors", "load_errors",
            "load_sessions_closed_by_server", "requests_sent", "writes_acked", "writes_per_s",
            "acked_writes_missing", "handshakes", "handshakes_per_s", "handshake_p99_ms",
            "server_alive_after"]
    lines = ["| scenario / server | %s |" % " | ".join(
        "%s %s" % (r["scenario"], r["server"]) for r in rows),
        "|---|" + "---|" * len(rows)]
    for k in keys:
        if any(k in r for r in rows):
            lines.append("| %s | %s |" % (k, " | ".join(str(r.get(k, "")) for r in rows)))
    save(out, "overload", rows, "\n".join(lines))


if __name__ == "__main__":
    main()
