#!/usr/bin/env python3
"""Overload, ZooKeeper 3.8.0 beside raftzk (issue 18): what a member's memory and a
well-behaved bystander session see while other clients misbehave.

  python3 bench/overload.py [--servers zk,raftzk] [--clients 48] [--duration 20]
                            [--data-bytes 1024] [--out DIR]

Scenario `noread`: CLIENTS sessions pipeline getData of one znode (DATA_BYTES of data) as
fast as their sockets take them and never read a reply. Meanwhile a bystander session
pings every 50 ms and reads a znode every 200 ms. Sampled every 0.25 s: the server's RSS.
Reported per server: RSS before, at its peak and its growth; the bystander's ping latency
(p50, p99, max) and its errors; how many misbehaving sessions the server closed. Each
server runs standalone with the same zoo.cfg (fsync on), ZooKeeper with a 2 GB heap.
Every process started here is stopped here, by PID; every loop ends by DURATION.
"""

import argparse
import json
import os
import socket
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


def non_reader(port, stop_at, result):
    """Pipelines getData without ever reading a reply, until stop_at or the server closes."""
    try:
        c = rawzk.RawClient("127.0.0.1", port, timeout=10)
        c.connect(timeout_ms=30000)
    except (OSError, rawzk.ConnectionClosed) as e:
        result["connect_errors"] = result.get("connect_errors", 0) + 1
        result["last_error"] = repr(e)
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
    result.update(latencies=lat, errors=errors)


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def run_one(kind, tmp, args):
    opts = {"heap": "2g"} if kind == "zk" else {}
    srv = servers.start_server(kind, os.path.join(tmp, kind),
                               extra_cfg={"maxClientCnxns": "0"}, **opts)
    try:
        setup = rawzk.RawClient("127.0.0.1", srv.port)
        setup.connect()
        setup.create(PATH, b"x" * args.data_bytes)
        setup.close_session()
        time.sleep(1.0)
        rss_before = rss_mib(srv.proc.pid)
        stop_at = time.monotonic() + args.duration
        results = [dict() for _ in range(args.clients)]
        by = {}
        threads = [threading.Thread(target=non_reader, args=(srv.port, stop_at, r), daemon=True)
                   for r in results]
        threads.append(threading.Thread(target=bystander, args=(srv.port, stop_at, by),
                                        daemon=True))
        for t in threads:
            t.start()
        samples = []
        while time.monotonic() < stop_at:
            samples.append(rss_mib(srv.proc.pid))
            time.sleep(0.25)
        for t in threads:
            t.join(timeout=30)
        alive = srv.alive()
        lat = by.get("latencies", [])
        out = {
            "server": kind,
            "clients": args.clients,
            "duration_s": args.duration,
            "rss_before_mib": round(rss_before, 1),
            "rss_peak_mib": round(max(samples or [0]), 1),
            "rss_growth_mib": round(max(samples or [0]) - rss_before, 1),
            "bystander_requests": len(lat),
            "bystander_p50_ms": round(pct(lat, 0.5), 2),
            "bystander_p99_ms": round(pct(lat, 0.99), 2),
            "bystander_max_ms": round(max(lat) if lat else float("nan"), 2),
            "bystander_errors": by.get("errors", -1),
            "non_readers_closed_by_server": sum(r.get("closed_by_server", 0) for r in results),
            "non_readers_connect_errors": sum(r.get("connect_errors", 0) for r in results),
            "requests_sent": sum(r.get("requests_sent", 0) for r in results),
            "server_alive_after": alive,
        }
        return out
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default="zk,raftzk")
    ap.add_argument("--clients", type=int, default=48)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--data-bytes", type=int, default=1024)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = out_dir(args, "overload-bench-")
    tmp = tempfile.mkdtemp(prefix="overload-run-")
    rows = []
    for kind in args.servers.split(","):
        r = run_one(kind, tmp, args)
        rows.append(r)
        print(json.dumps(r), flush=True)
    keys = ["rss_before_mib", "rss_peak_mib", "rss_growth_mib", "bystander_p50_ms",
            "bystander_p99_ms", "bystander_max_ms", "bystander_errors",
            "non_readers_closed_by_server", "requests_sent", "server_alive_after"]
    lines = ["| %d clients that never read, %.0f s | %s |" % (
        args.clients, args.duration, " | ".join(r["server"] for r in rows)),
        "|---|" + "---|" * len(rows)]
    for k in keys:
        lines.append("| %s | %s |" % (k, " | ".join(str(r[k]) for r in rows)))
    save(out, "overload", rows, "\n".join(lines))

if __name__ == "__main__":
    main()
