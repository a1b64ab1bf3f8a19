#!/usr/bin/env python3
"""What linearizable reads cost (issue 18): a 3-member raftzk cluster with
raftzk.linearizableReads off and on, getData on the leader and on a follower, beside the
same load on a ZooKeeper 3.8.0 ensemble (whose reads are never linearizable without sync).

  python3 bench/linearizable.py [--servers zk,raftzk] [--rounds 3] [--duration 3] [--out DIR]

Points: getData at 16 sessions x 32 in flight (throughput) and at 1 session x 1 (latency),
each on the leader and on a follower. Rounds alternate the order of the configurations;
cells are medians. Output: DIR/linearizable.json, DIR/linearizable.md and the table on
stdout. Every process started here is stopped here, by PID.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import bench_binary, median, out_dir, parser, run_bench, save  # noqa: E402

import ensemble  # noqa: E402  (compat-tests, on the path through benchkit)


def points(duration):
    load = ["--workload", "get", "--duration", str(duration), "--warmup", "0.5"]
    return [
        ("get c16 w32", load + ["--connections", "16", "--window", "32"]),
        ("get c1 w1", load + ["--connections", "1", "--window", "1"]),
    ]


# (label, server kind, extra zoo.cfg)
CONFIGS = [
    ("zk", "zk", {}),
    ("raftzk off", "raftzk", {}),
    ("raftzk on", "raftzk", {"raftzk.linearizableReads": "true"}),
]


def main():
    args = parser(__doc__).parse_args()
    out = out_dir(args, "linearizable-bench-")
    bench = bench_binary()
    tmp = tempfile.mkdtemp(prefix="linearizable-run-")
    kinds = args.servers.split(",")
    configs = [c for c in CONFIGS if c[1] in kinds]
    runs = []
    for rnd in range(args.rounds):
        order = configs if rnd % 2 == 0 else list(reversed(configs))
        for label, kind, cfg in order:
            cfg = dict(cfg, maxClientCnxns="0")
            opts = {"heap": "2g"} if kind == "zk" else {}
            ens = ensemble.start_ensemble(
                kind, os.path.join(tmp, "%s-%d" % (label.replace(" ", "-"), rnd)), n=3,
                extra_cfg=cfg, **opts)
            try:
                leader = ens.leader_index()
                targets = [("leader", ens.members[leader]),
                           ("follower", ens.members[(leader + 1) % 3])]
                for where, member in targets:
                    for name, argv in points(args.duration):
                        r = run_bench(bench, member.port, argv + ["--label", label])
                        r.update(config=label, point=name, where=where, round=rnd)
                        runs.append(r)
                        print("%-11s %-12s %-8s r%d %10.0f ops/s p99 %8.3f ms rc %s" % (
                            label, name, where, rnd, r.get("ops_per_s", 0),
                            r.get("latency_us", {}).get("p99", 0) / 1000.0, r["rc"]), flush=True)
            finally:
                ens.stop()

    def cell(label, name, where, key):
        return median(runs, key, config=label, point=name, where=where)

    labels = [c[0] for c in configs]
    head = "| point | on | " + " | ".join("%s ops/s" % l for l in labels) + " | " + \
        " | ".join("%s p99 ms" % l for l in labels)
    lines = [head + (" | on ÷ off |" if "raftzk on" in labels and "raftzk off" in labels else " |"),
             "|" + "---|" * (2 + 2 * len(labels) + (1 if "raftzk on" in labels else 0))]
    for name, _ in points(args.duration):
        for where in ("leader", "follower"):
            ops = [cell(l, name, where, "ops") for l in labels]
            p99 = [cell(l, name, where, "p99") for l in labels]
            row = "| %s | %s | %s | %s |" % (name, where, " | ".join("%.0f" % v for v in ops),
                                              " | ".join("%.3f" % v for v in p99))
            if "raftzk on" in labels and "raftzk off" in labels:
                on, off = ops[labels.index("raftzk on")], ops[labels.index("raftzk off")]
                row += " %.2f |" % (on / off if off else float("nan"))
            lines.append(row)
    save(out, "linearizable", runs, "\n".join(lines))

if __name__ == "__main__":
    main()
