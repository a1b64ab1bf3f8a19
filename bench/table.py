#!/usr/bin/env python3
"""Print bench/single_client.py results side by side.

  table.py [--zk FILE ...] [--raftzk FILE ...]

Columns: op, metric, zk, raftzk, ratio raftzk/zk. With several files per server
(rounds), every cell is the median over the rounds and two more columns give
each server's min..max. For ops/s a ratio above 1 means raftzk is faster; for
latencies, CPU and syncs a ratio below 1 means raftzk is lower. The context rows
at the end show how disturbed the runs were.
"""

import argparse
import json
import statistics
import sys

SEQ_WRITE = [("ops/s", "ops_s"), ("p50 us", "p50_us"), ("p99 us", "p99_us"),
             ("p99.9 us", "p999_us"), ("max us", "max_us"), ("ops > 1 ms", "over_1ms"),
             ("syncs/op", "syncs_per_op"), ("dev flushes/op", "dev_flushes_per_op"), ("srv cpu us/op", "server_cpu_us_per_op"),
             ("srv disk B/op", "disk_write_bytes_per_op")]
ROWS = [
    ("seq_create", SEQ_WRITE),
    ("seq_get", [("ops/s", "ops_s"), ("p50 us", "p50_us"), ("p99 us", "p99_us"),
                 ("p99.9 us", "p999_us"), ("max us", "max_us"), ("ops > 1 ms", "over_1ms"),
                 ("srv cpu us/op", "server_cpu_us_per_op")]),
    ("seq_set", SEQ_WRITE),
    ("pipe_create", [("ops/s", "ops_s"), ("syncs/op", "syncs_per_op"),
                     ("dev flushes/op", "dev_flushes_per_op"),
                     ("srv cpu us/op", "server_cpu_us_per_op"),
                     ("srv disk B/op", "disk_write_bytes_per_op")]),
    ("pipe_get", [("ops/s", "ops_s"), ("srv cpu us/op", "server_cpu_us_per_op")]),
]


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.3g" % v


def load(paths):
    out = []
    for path in paths or []:
        try:
            with open(path) as f:
                out.append(json.load(f))
        except (OSError, ValueError) as e:
            print("cannot read %s: %s" % (path, e), file=sys.stderr)
    return out


def values(runs, f):
    vs = []
    for r in runs:
        try:
            v = f(r)
        except (KeyError, TypeError, IndexError):
            v = None
        if isinstance(v, (int, float)):
            vs.append(v)
    return vs


def median(vs):
    return statistics.median(vs) if vs else None


def spread(vs):
    if len(vs) < 2:
        return "-"
    return "%s..%s" % (fmt(min(vs)), fmt(max(vs)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zk", action="append", default=[])
    ap.add_argument("--raftzk", action="append", default=[])
    args = ap.parse_args()
    zk, rz = load(args.zk), load(args.raftzk)
    if not zk and not rz:
        print("no results", file=sys.stderr)
        return 1
    multi = len(zk) > 1 or len(rz) > 1
    lines = []

    def row(op, metric, f, ratio_ok=True):
        a, b = values(zk, f), values(rz, f)
        if not a and not b:
            return
        ma, mb = median(a), median(b)
        ratio = "%.2f" % (mb / ma) if ratio_ok and ma and mb is not None else "-"
        cells = [op, metric, fmt(ma), fmt(mb), ratio]
        if multi:
            cells += [spread(a), spread(b)]
        lines.append(cells)

    for op, metrics in ROWS:
        label = op
        w = next((r["phases"][op].get("window") for r in zk + rz if op in r.get("phases", {})), None)
        if w:
            label = "%s(w=%d)" % (op, w)
        if any(r.get("phases", {}).get(op, {}).get("truncated") for r in zk + rz):
            label += "*"
        for name, key in metrics:
            row(label, name, lambda r, op=op, key=key: r["phases"][op][key])

    def phase_max(r, key, pred=lambda k: True):
        return max([p.get(key) or 0 for k, p in r.get("phases", {}).items() if pred(k)] or [0])

    row("context", "runs", lambda r: 1.0 * len(zk if r["server"] == "zk" else rz), False)
    row("context", "py echo rtt p50 us", lambda r: r["loopback_floor"]["p50_us"], False)
    row("context", "py echo rtt ops/s", lambda r: r["loopback_floor"]["ops_s"], False)
    row("context", "fdatasync probe p50 us", lambda r: r["disk_probe"]["p50_us"])
    row("context", "fdatasync probe p99 us", lambda r: r["disk_probe"]["p99_us"])
    row("context", "max other cpu (cores)", lambda r: phase_max(r, "other_cpu_cores"), False)
    row("context", "max kthreads (cores)", lambda r: phase_max(r, "kthreads_cores"), False)
    row("context", "max steal (cores)", lambda r: phase_max(r, "steal_cores"), False)
    row("context", "max other procs (cores)", lambda r: phase_max(r, "other_procs_cores"), False)
    row("context", "max dev MB/s during gets", lambda r: phase_max(
        r, "dev_write_MBps", lambda k: k.endswith("get")), False)
    row("context", "loadavg 1m at start", lambda r: (
        r["host"].get("loadavg_start") or r["host"]["loadavg_before"])[0], False)

    head = ["op", "metric", "zk", "raftzk", "raftzk/zk"]
    if multi:
        head[2:4] = ["zk (median)", "raftzk (median)"]
        head += ["zk min..max", "raftzk min..max"]
    ncol = len(head)
    widths = [max(len(str(x[i])) for x in lines + [head]) for i in range(ncol)]

    def out(t):
        print("  ".join(str(t[i]).ljust(widths[i]) if i < 2 else str(t[i]).rjust(widths[i])
                        for i in range(ncol)))

    for r in zk + rz:
        bits = []
        if r.get("params", {}).get("extra_cfg"):
            bits.append("zoo.cfg extra %s" % r["params"]["extra_cfg"])
        if r.get("pin"):
            bits.append("pinned %s" % r["pin"])
        if r.get("raftzk_binary"):
            bits.append("binary sha256 %s" % r["raftzk_binary"]["sha256_12"])
        if bits:
            line = "%s: %s" % (r["server"], "; ".join(bits))
            if line != getattr(main, "_last", None):
                print(line)
            main._last = line
    out(head)
    print("  ".join("-" * w for w in widths))
    prev = None
    for t in lines:
        if prev is not None and t[0] != prev:
            print()
        out(t if t[0] != prev else [""] + t[1:])
        prev = t[0]
    print()
    for r in zk + rz:
        tag = "%s %s" % (r["server"], r.get("params", {}).get("extra_cfg") or "")
        if not r.get("ok"):
            print("%s run FAILED: %s" % (tag, r.get("error")))
        q = r.get("quiet_wait")
        if q and not q.get("quiet"):
            print("%s run started on a busy machine (busy cores %s; busiest %s)"
                  % (tag, q.get("last_busy_cores"), q.get("busiest")))
        for op, p in r.get("phases", {}).items():
            if p.get("top_others"):
                print("%s %s: other processes busy: %s" % (
                    tag, op, ", ".join("%s %.2f cores" % (c, v) for c, v in p["top_others"])))
    if any(p.get("truncated") for r in zk + rz for p in r.get("phases", {}).values()):
        print("* a phase was cut short by the time limit")
    print("ops/s ratio > 1: raftzk faster; latency/cpu/syncs ratio < 1: raftzk lower.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        sys.exit(0)
