"""What the side-by-side benchmark scripts share (bench/tls.py, quorum_tls.py, linearizable.py,
overload.py): the raftzk-bench binary and one run of it, their common options, medians of
repeated runs, and where results go."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "compat-tests"))
import servers  # noqa: E402


def bench_binary():
    """$RAFTZK_BENCH_BIN, else raftzk-bench beside the raftzk binary the suites use."""
    if os.environ.get("RAFTZK_BENCH_BIN"):
        return os.environ["RAFTZK_BENCH_BIN"]
    return os.path.join(os.path.dirname(servers.raftzk_binary()), "raftzk-bench")


def run_bench(bench, port, argv, certs=None, tls=False, timeout=300):
    """One raftzk-bench run against 127.0.0.1:port; its JSON result (rc and output tail
    added). With `tls`, the client certificate from `certs` (compat-tests/security/gen.sh)."""
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


def log_run(r, kind, name, tls, rnd):
    """One progress line for a finished run (bench/tls.py, quorum_tls.py)."""
    print("%-7s %-15s %-5s r%d %10.0f ops/s p99 %8.2f ms rc %s" % (
        kind, name, "tls" if tls else "plain", rnd, r.get("ops_per_s", 0),
        r.get("latency_us", {}).get("p99", 0) / 1000.0, r["rc"]), flush=True)


def parser(doc, rounds=3, duration=3.0):
    """The options every script takes: --servers, --rounds, --duration, --out."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--servers", default="zk,raftzk")
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--duration", type=float, default=duration)
    ap.add_argument("--out", default=None)
    return ap


def out_dir(args, prefix):
    """--out, or a new temporary folder."""
    path = args.out or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(path, exist_ok=True)
    return path


def median(runs, key, **match):
    """The median ops/s (`key` "ops") or p99 in ms (`key` "p99") of the finished runs whose
    fields equal `match`; NaN when there are none."""
    vals = [r.get("ops_per_s", 0) if key == "ops"
            else r.get("latency_us", {}).get("p99", 0) / 1000.0
            for r in runs if all(r.get(k) == v for k, v in match.items())
            and r.get("rc") in (0, 1)]
    return statistics.median(vals) if vals else float("nan")


def save(path, name, runs, text):
    """Prints `text` and keeps it as name.md beside the runs as name.json."""
    print()
    print(text)
    with open(os.path.join(path, name + ".json"), "w") as f:
        json.dump(runs, f, indent=1)
    with open(os.path.join(path, name + ".md"), "w") as f:
        f.write(text + "\n")
    print("\nresults in", path)
