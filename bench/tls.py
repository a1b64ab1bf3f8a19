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

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import ROOT, bench_binary, log_run, median, out_dir, parser, run_bench, save, servers  # noqa: E402


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
    ap = parser(__doc__)
    ap.add_argument("--sessions", type=int, default=2000)
    args = ap.parse_args()
    out = out_dir(args, "tls-bench-")
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
                        log_run(r, kind, name, tls, rnd)
            finally:
                srv.stop()

    def cell(kind, name, tls, key):
        return median(runs, key, server=kind, point=name, tls=tls)

    lines = ["| point | server | plaintext ops/s | TLS ops/s | TLS ÷ plaintext | plaintext p99 ms | TLS p99 ms |",
             "|---|---|---|---|---|---|---|"]
    for name, _ in points(args):
        for kind in kinds:
            p, t = cell(kind, name, False, "ops"), cell(kind, name, True, "ops")
            lines.append("| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f |" % (
                name, kind, p, t, t / p if p else float("nan"),
                cell(kind, name, False, "p99"), cell(kind, name, True, "p99")))
    if len(kinds) == 2:
        lines += ["", "| point | raftzk ÷ ZooKeeper over TLS | over plaintext |", "|---|---|---|"]
        for name, _ in points(args):
            zt, rt = cell(kinds[0], name, True, "ops"), cell(kinds[1], name, True, "ops")
            zp, rp = cell(kinds[0], name, False, "ops"), cell(kinds[1], name, False, "ops")
            lines.append("| %s | %.2f× | %.2f× |" % (name, rt / zt if zt else float("nan"),
                                                     rp / zp if zp else float("nan")))
    table = "\n".join(lines)
    head = ("TLS on the client port: %s, %d rounds, %.1f s per load point, %d sessions per "
            "handshake point; %s\n\n" % (args.servers, args.rounds, args.duration, args.sessions,
                                         time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    save(out, "tls", runs, head + table)

if __name__ == "__main__":
    main()
