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

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import ROOT, bench_binary, log_run, median, out_dir, parser, run_bench, save  # noqa: E402

import ensemble  # noqa: E402  (compat-tests, on the path through benchkit)


def points(duration):
    load = ["--duration", str(duration), "--warmup", "0.5"]
    return [
        ("set c16 w32", load + ["--workload", "set", "--connections", "16", "--window", "32"]),
        ("create c16 w32", load + ["--workload", "create", "--connections", "16", "--window", "32"]),
        ("set c1 w1", load + ["--workload", "set", "--connections", "1", "--window", "1"]),
    ]


def main():
    args = parser(__doc__).parse_args()
    out = out_dir(args, "quorum-tls-bench-")
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
                        log_run(r, kind, name, tls, rnd)
                finally:
                    ens.stop()

    def cell(kind, name, tls, key):
        return median(runs, key, server=kind, point=name, tls=tls)

    lines = ["| point (on a follower) | server | plaintext link ops/s | TLS link ops/s | TLS ÷ plaintext | plaintext p99 ms | TLS p99 ms |",
             "|---|---|---|---|---|---|---|"]
    for name, _ in points(args.duration):
        for kind in kinds:
            p, t = cell(kind, name, False, "ops"), cell(kind, name, True, "ops")
            lines.append("| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f |" % (
                name, kind, p, t, t / p if p else float("nan"),
                cell(kind, name, False, "p99"), cell(kind, name, True, "p99")))
    if "zk" in kinds and "raftzk" in kinds:
        lines.append("")
        lines.append("| point | raftzk ÷ ZooKeeper, plaintext link | raftzk ÷ ZooKeeper, TLS link |")
        lines.append("|---|---|---|")
        for name, _ in points(args.duration):
            cells = []
            for tls in (False, True):
                z, r = cell("zk", name, tls, "ops"), cell("raftzk", name, tls, "ops")
                cells.append("%.2f×" % (r / z) if z else "n/a")
            lines.append("| %s | %s | %s |" % (name, cells[0], cells[1]))
    save(out, "quorum_tls", runs, "\n".join(lines))

if __name__ == "__main__":
    main()
