#!/usr/bin/env python3
"""How many of ZooKeeper 3.8's mntr keys raftzk prints, per role (docs/metrics.md, "Coverage").

  scripts/metrics_coverage.py [--save DIR] [--doc PATH] [--no-run]

1. Checks that every base key of docs/reference/zk-metrics-catalog.tsv (and of
   zk-metrics-catalog-extra.tsv) has a row in docs/metrics.md (a table row whose first cell is
   the key in backticks). A missing row makes the exit status 1.
2. Starts raftzk standalone and as a 3-member cluster (compat-tests/servers.py and
   ensemble.py: free 127.0.0.1 ports, its own temp dirs, $RAFTZK_BIN or the usual places),
   puts the same kind of load on them as docs/reference/capture/capture.py put on ZooKeeper
   (creates under /load-sa, /load-fol through a follower, /load-lead through the leader,
   reads, exists, watches that fire, a multi, a sync, a live and a closed ephemeral, a session
   dropped without closeSession that expires), reads `mntr` from the standalone server, that
   follower and the leader, and stops only the processes it started.
3. Compares with docs/reference/zk-3.8.0-mntr-{standalone,follower,leader}.txt: a ZooKeeper key
   is covered when raftzk's mntr on the same role prints the same key. Summary-set members keyed
   by a server id (learner_handler_*, ack_latency) are compared by the id's rank among that
   capture's ids, because the ids differ between runs; namespace keys are compared as they are
   (the load uses the same top-level paths).

Prints a table of expanded keys and of base metrics per role; exit 0 (1 if the doc lacks rows,
2 if raftzk could not be started). --save DIR writes the raw raftzk captures there. --no-run
only checks the doc. Bounded: the whole run takes well under 2 minutes.
"""

import argparse
import os
import re
import socket
import struct
import sys
import tempfile
import threading
import time
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REF = os.path.join(ROOT, "docs", "reference")
sys.path.insert(0, os.path.join(ROOT, "compat-tests"))

if not os.environ.get("RAFTZK_BIN") and not os.environ.get("CARGO_TARGET_DIR"):
    default = os.path.expanduser("~/.cache/raftzk-target/release/raftzk")
    if not os.path.exists(os.path.join(ROOT, "target", "release", "raftzk")) and os.path.exists(default):
        os.environ["RAFTZK_BIN"] = default

ROLES = ("standalone", "follower", "leader")
BASIC = ("avg", "min", "max", "cnt", "sum")
PCT = ("p50", "p95", "p99", "p999")
ADVANCED_SETS = {"learner_handler_qp_time_ms", "ack_latency"}
SID_SETS = {"learner_handler_qp_size", "learner_handler_qp_time_ms", "ack_latency"}
# Everything (start, load, capture) must be over within this many seconds of the start.
BUDGET_S = 100


# ------------------------------------------------------------------ catalog and parsing
def read_catalog():
    rows = []
    for name in ("zk-metrics-catalog.tsv", "zk-metrics-catalog-extra.tsv"):
        path = os.path.join(REF, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            next(f)
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 2 and parts[0]:
                    rows.append((parts[0], parts[1], name))
    return rows


class Classifier:
    """Maps an expanded mntr key (without zk_) to (base key, normalised key)."""

    def __init__(self, catalog):
        self.exact = {}
        self.sets = []
        for key, kind, _ in catalog:
            if kind in ("info", "gauge", "counter"):
                self.exact[key] = key
            elif kind == "summary":
                for s in BASIC:
                    self.exact["%s_%s" % (s, key)] = key
            elif kind == "summary_pct":
                for s in BASIC + PCT:
                    self.exact["%s_%s" % (s, key)] = key
            elif kind == "summaryset":
                stats = BASIC + PCT if key in ADVANCED_SETS else BASIC
                self.sets.append((re.compile(r"^(%s)_(.+)_%s$" % ("|".join(stats), re.escape(key))), key))
            elif kind in ("gaugeset", "counterset"):
                self.sets.append((re.compile(r"^()(.+)_%s$" % re.escape(key)), key))

    def base(self, key):
        if key in self.exact:
            return self.exact[key], None
        for rx, base in self.sets:
            m = rx.match(key)
            if m:
                return base, (m.group(1), m.group(2))
        return None, None


def parse_mntr(text):
    keys = {}
    for line in text.splitlines():
        if "\t" not in line:
            continue
        k, v = line.split("\t", 1)
        keys[k] = v
    return keys


def normalise(keys, cls):
    """{normalised zk key (no zk_): (base, original key)}; set members keyed by a server id
    get the id's rank (#1, #2, ...) among the ids of that set in this capture."""
    out = {}
    ids = {}
    parsed = []
    for k in keys:
        if not k.startswith("zk_"):
            continue
        key = k[3:]
        base, member = cls.base(key)
        parsed.append((key, base, member))
        if member and base in SID_SETS and member[1].isdigit():
            ids.setdefault(base, set()).add(int(member[1]))
    for key, base, member in parsed:
        norm = key
        if member and base in SID_SETS and member[1].isdigit():
            rank = sorted(ids[base]).index(int(member[1])) + 1
            norm = "%s_#%d_%s" % (member[0], rank, base) if member[0] else "#%d_%s" % (rank, base)
        out[norm] = (base, key)
    return out


# ------------------------------------------------------------------ the doc check
def doc_rows(doc_path):
    rows = set()
    if not os.path.exists(doc_path):
        return None
    with open(doc_path) as f:
        for line in f:
            m = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
            if m:
                rows.add(m.group(1))
    return rows


# ------------------------------------------------------------------ load (as capture.py)
def _s(b):
    return struct.pack(">i", len(b)) + b


def _recv_frame(sock):
    def exactly(n):
        buf = b""
        while len(buf) < n:
            d = sock.recv(n - len(buf))
            if not d:
                raise EOFError
            buf += d
        return buf

    (n,) = struct.unpack(">i", exactly(4))
    return exactly(n)


def abandoned_session(port, path, timeout_ms=4000):
    """A raw session that creates an ephemeral and goes away without closeSession."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(_s(struct.pack(">iqiq", 0, 0, timeout_ms, 0) + _s(b"\0" * 16) + b"\0"))
        _recv_frame(s)
        create = (struct.pack(">ii", 1, 1) + _s(path.encode()) + _s(b"eph")
                  + struct.pack(">i", 1) + struct.pack(">i", 31) + _s(b"world") + _s(b"anyone")
                  + struct.pack(">i", 1))
        s.sendall(_s(create))
        _recv_frame(s)
    finally:
        s.close()


def load(hosts, tag, nodes, result):
    from kazoo.client import KazooClient
    from kazoo.exceptions import NoNodeError

    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=15)
    result["client"] = zk
    root = "/load-%s" % tag
    zk.ensure_path(root)
    port = int(hosts.split(",")[0].split(":")[1])
    # the expiring session first, so that its timeout runs while the rest of the load does
    abandoned_session(port, "%s/eph-expiring" % root)
    for i in range(nodes):
        zk.create("%s/n%04d" % (root, i), b"x" * (i % 50 + 1))
    for i in range(0, nodes, 2):
        zk.get("%s/n%04d" % (root, i))
    zk.get_children(root)
    for i in range(20):
        zk.exists("%s/n%04d" % (root, i))
        zk.exists("%s/missing%d" % (root, i))
    try:
        zk.get("%s/nope" % root)
    except NoNodeError:
        pass
    fired = []
    done = threading.Event()

    def watcher(event):
        fired.append(event)
        if len(fired) >= 6:
            done.set()

    for i in range(3):
        zk.get("%s/n%04d" % (root, i), watch=watcher)
    zk.get_children(root, watch=watcher)
    zk.exists("%s/later" % root, watch=watcher)
    zk.get("%s/n%04d" % (root, 10), watch=watcher)
    w2 = KazooClient(hosts=hosts, timeout=10)
    w2.start(timeout=15)
    for i in range(3):
        w2.set("%s/n%04d" % (root, i), b"changed")
    w2.create("%s/later" % root, b"now")
    w2.delete("%s/n%04d" % (root, 10))
    t = w2.transaction()
    t.create("%s/txn-a" % root, b"a")
    t.create("%s/txn-b" % root, b"b")
    t.commit()
    w2.sync(root)
    w2.stop()
    w2.close()
    done.wait(15)
    result["fired"] = len(fired)
    zk.create("%s/eph-live" % root, b"e", ephemeral=True)
    zk.get("%s/n%04d" % (root, 20), watch=lambda e: None)
    zk.get_children(root, watch=lambda e: None)
    zk.exists("%s/never" % root, watch=lambda e: None)
    z3 = KazooClient(hosts=hosts, timeout=10)
    z3.start(timeout=15)
    z3.create("%s/eph-closed" % root, b"c", ephemeral=True)
    z3.stop()
    z3.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and zk.exists("%s/eph-expiring" % root):
        time.sleep(0.25)
    result["expired"] = zk.exists("%s/eph-expiring" % root) is None


def run_load(jobs, until):
    threads = []
    for hosts, tag, nodes, result in jobs:
        def body(h=hosts, t=tag, n=nodes, r=result):
            try:
                load(h, t, n, r)
            except Exception as e:  # noqa: BLE001 - reported below
                r["error"] = repr(e)
        th = threading.Thread(target=body, daemon=True)
        th.start()
        threads.append(th)
    for th in threads:
        th.join(max(1.0, until - time.monotonic()))
    for (_, tag, _, r), th in zip(jobs, threads):
        if th.is_alive():
            r["error"] = "still running at the time limit"


# ------------------------------------------------------------------ capture raftzk
def capture(save_dir, t0):
    import ensemble
    import servers

    # The binary may be replaced by a rebuild for a moment: wait for it (bounded).
    deadline = time.monotonic() + 15
    while not os.access(servers.raftzk_binary(), os.X_OK) and time.monotonic() < deadline:
        time.sleep(1)
    tmp = tempfile.mkdtemp(prefix="metrics-coverage-")
    started = []
    out = {}
    notes = []
    try:
        box = {}

        def start_cluster():
            try:
                box["cluster"] = ensemble.start_raftzk_cluster(
                    os.path.join(tmp, "cluster"), start_timeout=40)
            except Exception as e:  # noqa: BLE001
                box["cluster_error"] = e

        th = threading.Thread(target=start_cluster, daemon=True)
        th.start()
        standalone = servers.start_raftzk(os.path.join(tmp, "standalone"), start_timeout=30)
        started.append(standalone)
        th.join(max(1.0, t0 + 50 - time.monotonic()))
        if "cluster" not in box:
            raise servers.ServerStartError("cluster: %r" % box.get("cluster_error", "start timed out"))
        cluster = box["cluster"]
        started.extend(cluster.members)
        li = cluster.leader_index(timeout=10)
        fi = [i for i in range(len(cluster.members)) if i != li and cluster.mode(i) == "follower"][0]
        leader, follower = cluster.members[li], cluster.members[fi]
        jobs = [
            (standalone.hostport, "sa", 200, {}),
            (follower.hostport, "fol", 200, {}),
            (leader.hostport, "lead", 50, {}),
        ]
        run_load(jobs, t0 + BUDGET_S - 20)
        for hosts, tag, _, r in jobs:
            if "error" in r:
                notes.append("load %s: %s" % (tag, r["error"]))
            else:
                notes.append("load %s: %d watch events, expired session gone: %s"
                             % (tag, r.get("fired", 0), r.get("expired")))
        time.sleep(2)
        for role, srv in (("standalone", standalone), ("follower", follower), ("leader", leader)):
            out[role] = servers.four_letter_word(srv.host, srv.port, b"mntr", timeout=10)
            if save_dir:
                os.makedirs(save_dir, exist_ok=True)
                with open(os.path.join(save_dir, "raftzk-mntr-%s.txt" % role), "w") as f:
                    f.write(out[role])
        for _, _, _, r in jobs:
            zk = r.get("client")
            if zk is not None:
                try:
                    zk.stop()
                    zk.close()
                except Exception:  # noqa: BLE001
                    pass
    finally:
        for srv in started:
            try:
                srv.stop(grace=3)
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    return out, notes


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "metrics.md"))
    ap.add_argument("--save", help="write raftzk's mntr captures to this directory")
    ap.add_argument("--no-run", action="store_true", help="only check the doc's rows")
    args = ap.parse_args()

    t0 = time.monotonic()
    catalog = read_catalog()
    cls = Classifier(catalog)
    rows = doc_rows(args.doc)
    missing = [k for k, _, _ in catalog if rows is None or k not in rows]
    if rows is None:
        print("doc check: %s does not exist" % args.doc)
    elif missing:
        print("doc check: %d catalog keys without a row in %s: %s"
              % (len(missing), os.path.relpath(args.doc, ROOT), " ".join(missing)))
    else:
        print("doc check: all %d catalog base keys have a row in %s"
              % (len(catalog), os.path.relpath(args.doc, ROOT)))
    status = 1 if missing else 0
    if args.no_run:
        return status

    try:
        raftzk, notes = capture(args.save, t0)
    except Exception as e:  # noqa: BLE001
        print("could not capture raftzk's mntr: %s" % e)
        return 2
    for n in notes:
        print(n)

    sets = {k for k, kind, _ in catalog if kind in ("summaryset", "gaugeset", "counterset")}
    print()
    print("%-11s %16s %16s %16s %16s" % (
        "role", "mntr keys", "of which in sets", "base (all keys)", "base (any key)"))
    detail = {}
    printed = set()
    for role in ROLES:
        with open(os.path.join(REF, "zk-3.8.0-mntr-%s.txt" % role)) as f:
            zk = normalise(parse_mntr(f.read()), cls)
        rz = normalise(parse_mntr(raftzk[role]), cls)
        printed.update(b for b, _ in rz.values() if b)
        covered = [k for k in zk if k in rz]
        in_sets = [k for k, (b, _) in zk.items() if b in sets]
        per_base = {}
        for k, (base, _) in zk.items():
            tot, cov = per_base.get(base, (0, 0))
            per_base[base] = (tot + 1, cov + (k in rz))
        full = sum(1 for t, c in per_base.values() if c == t)
        anyk = sum(1 for t, c in per_base.values() if c > 0)
        print("%-11s %16s %16s %16s %16s" % (
            role,
            "%d / %d" % (len(covered), len(zk)),
            "%d / %d" % (sum(1 for k in in_sets if k in rz), len(in_sets)),
            "%d / %d" % (full, len(per_base)),
            "%d / %d" % (anyk, len(per_base))))
        unknown = sorted(orig for _, (b, orig) in zk.items() if b is None)
        extra = sorted(v[1] for k, v in rz.items() if k not in zk)
        partial = sorted(b for b, (t, c) in per_base.items() if 0 < c < t)
        detail[role] = (unknown, extra, partial)
    for name in ("zk-metrics-catalog.tsv", "zk-metrics-catalog-extra.tsv"):
        keys = [k for k, _, f in catalog if f == name]
        if keys:
            print("%s: %d / %d base keys printed by raftzk in at least one role"
                  % (name, sum(1 for k in keys if k in printed), len(keys)))
    for role in ROLES:
        unknown, extra, partial = detail[role]
        if unknown:
            print("%s: ZooKeeper keys not in the catalog: %s" % (role, " ".join(unknown)))
        if partial:
            print("%s: base metrics partly covered: %s" % (role, " ".join(partial)))
        if extra:
            print("%s: zk_ keys raftzk prints that ZooKeeper's capture lacks: %s"
                  % (role, " ".join(extra)))
    print("(%.0f s)" % (time.monotonic() - t0))
    return status


if __name__ == "__main__":
    sys.exit(main())
