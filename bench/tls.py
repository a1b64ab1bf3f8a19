#!/usr/bin/env python3
"""What TLS costs on the client port, ZooKeeper 3.8.0 beside raftzk: the same zoo.cfg
(clientPort and secureClientPort, PEM stores from compat-tests/security/gen.sh, client
certificates required, ZooKeeper on its Netty factory as TLS needs), the same raftzk-bench
load over plaintext and over TLS.

  python3 bench/tls.py [--servers zk,raftzk] [--rounds 3] [--duration 3] [--out DIR]

Points: getData and create at 16 sessions x 32 in flight, plaintext and TLS (ops/s, p99);
handshakes: --sessions sessions opened 64 at a time (raftzk-bench's connect workload), over
plaintext and over TLS (session handshakes per second). Rounds alternate which server goes
first; cells are medians. Output: DIR/tls.json, DIR/tls.md and the table on stdout.
Every process started here is stopped here, by PID.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "compat-tests"))
import servers  # noqa: E402


def bench_binary():
    if os.environ.get("RAFTZK_BENCH_BIN"):
        return os.environ["RAFTZK_BENCH_BIN"]
    return os.path.join(os.path.dirname(servers.raftzk_binary()), "raftzk-bench")


def run_bench(bench, port, argv, certs, tls, timeout=300):
    """One raftzk-bench run; its JSON result (rc and output tail added)."""
    out = tempfile.mktemp(suffix=".json")
    full = [bench, "--servers", "127.0.0.1:%d" % port, "--json", out] + argv
    if tls:
        full += ["--tls-ca", os.path.join(certs, "ca.pem"),
                 "--tls-cert", os.path.join(certs, "client.crt"),
                 "--tls-key", os.path.join(certs, "client.key")]
    proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    result = {}
    if os.path.exists(out):
        with open(out) as f:
            result = json.load(f)
        os.unlink(out)
    result.update(rc=proc.returncode, output_tail=proc.stdout[-800:])
    return result


def points(args):
    load = ["--connections", "16", "--window", "32", "--duration", str(args.duration),
            "--warmup", "0.5"]
    return [
        ("get", load + ["--workload", "get"]),
        ("create", load + ["--workload", "create"]),
        ("connect", ["--workload", "connect", "--sessions", str(args.sessions),
                     "--connections", "64"]),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default="zk,raftzk")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out_dir = args.out or tempfile.mkdtemp(prefix="tls-bench-")
    os.makedirs(out_dir, exist_ok=True)
    bench = bench_binary()
    tmp = tempfile.mkdtemp(prefix="tls-bench-run-")
    certs = os.path.join(tmp, "certs")
    subprocess.run([os.path.join(ROOT, "compat-tests", "security", "gen.sh"), certs],
                   check=True, capture_output=True)
    cfg = {"ssl.keyStore.location": os.path.join(certs, "server.pem"),
           "ssl.trustStore.location": os.path.join(certs, "ca.pem"),
           "maxClientCnxns": "0"}
    kinds = args.servers.split(",")
    runs = []
    for rnd in range(args.rounds):
        order = kinds if rnd % 2 == 0 else list(reversed(kinds))
        for kind in order:
            srv = servers.start_server(kind, os.path.join(tmp, "%s-%d" % (kind, rnd)),
                                       extra_cfg=cfg, secure_port=True, heap="2g"
                                       ) if kind in ("zk", "zookeeper") else servers.start_server(
                kind, os.path.join(tmp, "%s-%d" % (kind, rnd)), extra_cfg=cfg, secure_port=True)
            try:
                for name, argv in points(args):
                    for tls in (False, True):
                        port = srv.secure_port if tls else srv.port
                        r = run_bench(bench, port, argv + ["--label", kind], certs, tls)
                        r.update(server=kind, point=name, tls=tls, round=rnd)
                        runs.append(r)
                        print("%-7s %-8s %-5s r%d %10.0f ops/s p99 %8.2f ms rc %s" % (
                            kind, name, "tls" if tls else "plain", rnd, r.get("ops_per_s", 0),
                            r.get("latency_us", {}).get("p99", 0) / 1000.0, r["rc"]),
                            flush=True)
            finally:
                srv.stop()

    def median(kind, name, tls, key):
        vals = [r.get("ops_per_s", 0) if key == "ops" else r.get("latency_us", {}).get("p99", 0) / 1000.0
                for r in runs if r["server"] == kind and r["point"] == name and r["tls"] == tls
                and r["rc"] in (0, 1)]
        return statistics.median(vals) if vals else float("nan")

    lines = ["| point | server | plaintext ops/s | TLS ops/s | TLS ÷ plaintext | plaintext p99 ms | TLS p99 ms |",
             "|---|---|---|---|---|---|---|"]
    for name, _ in points(args):
        for kind in kinds:
            p, t = median(kind, name, False, "ops"), median(kind, name, True, "ops")
            lines.append("| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f |" % (
                name, kind, p, t, t / p if p else float("nan"),
                median(kind, name, False, "p99"), median(kind, name, True, "p99")))
    if len(kinds) == 2:
        lines += ["", "| point | raftzk ÷ ZooKeeper over TLS | over plaintext |", "|---|---|---|"]
        for name, _ in points(args):
            zt, rt = median(kinds[0], name, True, "ops"), median(kinds[1], name, True, "ops")
            zp, rp = median(kinds[0], name, False, "ops"), median(kinds[1], name, False, "ops")
            lines.append("| %s | %.2f× | %.2f× |" % (name, rt / zt if zt else float("nan"),
                                                     rp / zp if zp else float("nan")))
    table = "\n".join(lines)
    head = ("TLS on the client port: %s, %d rounds, %.1f s per load point, %d sessions per "
            "handshake point; %s\n\n" % (args.servers, args.rounds, args.duration, args.sessions,
                                         time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    with open(os.path.join(out_dir, "tls.md"), "w") as f:
        f.write(head + table + "\n")
    with open(os.path.join(out_dir, "tls.json"), "w") as f:
        json.dump(runs, f, indent=1)
    print()
    print(head + table)
    print("\nresults in", out_dir)


if __name__ == "__main__":
    main()
