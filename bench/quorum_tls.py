#!/usr/bin/env python3
"""What TLS between members costs, ZooKeeper 3.8.0 beside raftzk: 3-member ensembles on
one host with the same zoo.cfg, the peer link plaintext or over mutual TLS (sslQuorum=true,
ssl.quorum.* PEM stores from compat-tests/security/gen.sh); the clients stay plaintext.

  python3 bench/quorum_tls.py [--servers zk,raftzk] [--rounds 3] [--duration 3] [--out DIR]

Points: setData and create at 16 sessions x 32 in flight, every session on a follower (its
writes cross the peer link twice: forwarded to the leader, then replicated), and at window 1
(latency). Rounds alternate which server goes first; cells are medians. Output:
DIR/quorum_tls.json, DIR/quorum_tls.md and the table on stdout. Every process started here
is stopped here, by PID.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "compat-tests"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import ensemble  # noqa: E402
from tls import bench_binary, run_bench  # noqa: E402


def points(duration):
    load = ["--duration", str(duration), "--warmup", "0.5"]
    return [
        ("set c16 w32", load + ["--workload", "set", "--connections", "16", "--window", "32"]),
        ("create c16 w32", load + ["--workload", "create", "--connections", "16", "--window", "32"]),
        ("set c1 w1", load + ["--workload", "set", "--connections", "1", "--window", "1"]),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default="zk,raftzk")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out_dir = args.out or tempfile.mkdtemp(prefix="quorum-tls-bench-")
    os.makedirs(out_dir, exist_ok=True)
    bench = bench_binary()
    tmp = tempfile.mkdtemp(prefix="quorum-tls-run-")
    certs = os.path.join(tmp, "certs")
    subprocess.run([os.path.join(ROOT, "compat-tests", "security", "gen.sh"), certs],
                   check=True, capture_output=True)
    quorum = {"sslQuorum": "true",
              "ssl.quorum.keyStore.location": os.path.join(certs, "server.pem"),
              "ssl.quorum.trustStore.location": os.path.join(certs, "ca.pem")}
    kinds = args.servers.split(",")
    runs = []
    for rnd in range(args.rounds):
        order = kinds if rnd % 2 == 0 else list(reversed(kinds))
        for kind in order:
            for tls in (False, True):
                cfg = dict(quorum) if tls else {}
                cfg["maxClientCnxns"] = "0"
                opts = {"heap": "2g"} if kind in ("zk", "zookeeper") else {}
                ens = ensemble.start_ensemble(
                    kind, os.path.join(tmp, "%s-%d-%s" % (kind, rnd, tls)), n=3,
                    extra_cfg=cfg, **opts)
                try:
                    leader = ens.leader_index()
                    follower = ens.members[(leader + 1) % 3]
                    for name, argv in points(args.duration):
                        r = run_bench(bench, follower.port, argv + ["--label", kind], certs, False)
                        r.update(server=kind, point=name, tls=tls, round=rnd)
                        runs.append(r)
                        print("%-7s %-15s %-5s r%d %10.0f ops/s p99 %8.2f ms rc %s" % (
                            kind, name, "tls" if tls else "plain", rnd, r.get("ops_per_s", 0),
                            r.get("latency_us", {}).get("p99", 0) / 1000.0, r["rc"]), flush=True)
                finally:
                    ens.stop()

    def median(kind, name, tls, key):
        vals = [r.get("ops_per_s", 0) if key == "ops" else r.get("latency_us", {}).get("p99", 0) / 1000.0
                for r in runs if r["server"] == kind and r["point"] == name and r["tls"] == tls
                and r["rc"] in (0, 1)]
        return statistics.median(vals) if vals else float("nan")

    lines = ["| point (on a follower) | server | plaintext link ops/s | TLS link ops/s | TLS ÷ plaintext | plaintext p99 ms | TLS p99 ms |",
             "|---|---|---|---|---|---|---|"]
    for name, _ in points(args.duration):
        for kind in kinds:
            p, t = median(kind, name, False, "ops"), median(kind, name, True, "ops")
            lines.append("| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f |" % (
                name, kind, p, t, t / p if p else float("nan"),
                median(kind, name, False, "p99"), median(kind, name, True, "p99")))
    if "zk" in kinds and "raftzk" in kinds:
        lines.append("")
        lines.append("| point | raftzk ÷ ZooKeeper, plaintext link | raftzk ÷ ZooKeeper, TLS link |")
        lines.append("|---|---|---|")
        for name, _ in points(args.duration):
            cells = []
            for tls in (False, True):
                z, r = median("zk", name, tls, "ops"), median("raftzk", name, tls, "ops")
                cells.append("%.2f×" % (r / z) if z else "n/a")
            lines.append("| %s | %s | %s |" % (name, cells[0], cells[1]))
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out_dir, "quorum_tls.json"), "w") as f:
        json.dump(runs, f, indent=1)
    with open(os.path.join(out_dir, "quorum_tls.md"), "w") as f:
        f.write(table + "\n")
    print("results in", out_dir)


if __name__ == "__main__":
    main()
