#!/usr/bin/env python3
"""Does a raftzk cluster hold its leader under full load? Counts elections during a bounded
write+read load on a 3-member cluster (compat-tests/ensemble.py) on this machine.

Every member's Raft term (mntr's ``raft_term``) and leader (``raft_leader_id``) are read
before and after the load, and polled every 50 ms during it: any term change is an election
(a candidate raises the term even when it loses), so "elections" here counts attempts, not
only leader changes. The load saturates the machine on purpose: ``--procs`` client processes
(default 2 per member), each with its own connection to one member, each keeping ``--window``
requests in flight (default 64) for ``--seconds`` (default 30):

* writers: create (``--data`` bytes, default 1024) then setData of the same node, on
  their own subtree, so the leader's log, fsync and apply are busy and followers forward;
* one reader per member doing pipelined getData (local reads compete for the CPU).

``snapCount`` is kept low (``--snap-count``, default 5000) so snapshots are built, and logs
purged, during the load: a snapshot that stalls Raft would show here. Extra zoo.cfg lines
go through ``--cfg KEY=VALUE`` (e.g. ``raft.electionTimeoutMaxMs=300``).

Prints ops/s, the terms, and the number of elections; exit 0 when there were none, 1 when
there were, 2 on a setup problem.
"""

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import shutil
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "compat-tests"))
sys.path.insert(0, os.path.join(REPO, "compat-tests", "kazoo"))

import ensemble  # noqa: E402
import rawzk  # noqa: E402
import servers  # noqa: E402
import zkload  # noqa: E402

def raft_view(ens, i):
    """(term, leader id) from member i's mntr, or None when it does not answer."""
    vals = zkload.mntr(ens.members[i], timeout=2.0)
    if "raft_term" not in vals:
        return None
    return int(vals["raft_term"]), int(vals.get("raft_leader_id", "0"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--procs", type=int, default=2, help="writer processes per member")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--data", type=int, default=1024)
    ap.add_argument("--snap-count", type=int, default=5000)
    ap.add_argument("--cfg", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    extra = {"snapCount": args.snap_count}
    for kv in args.cfg:
        k, _, v = kv.partition("=")
        extra[k.strip()] = v.strip()
    tmp = tempfile.mkdtemp(prefix="election-load-")
    ens = None
    rc = 0
    try:
        ens = ensemble.start_ensemble("raftzk", tmp, extra_cfg=extra, start_timeout=90)
        leader = ens.leader_index(timeout=30)
        with rawzk.RawClient("127.0.0.1", ens.members[leader].port, timeout=10) as c:
            c.connect()
            c.create("/load", b"")
        time.sleep(1.0)
        before = [raft_view(ens, i) for i in range(3)]
        print("before: leader m%d, (term, leader id) per member %s" % (leader, before), flush=True)
        q = mp.Queue()
        procs = []
        for i, m in enumerate(ens.members):
            for p in range(args.procs):
                procs.append(mp.Process(target=zkload.worker, args=(
                    "write", m.host, m.port, "/load/w%d-%d" % (i, p), args.data, args.window,
                    args.seconds, None, q)))
            procs.append(mp.Process(target=zkload.worker, args=(
                "read", m.host, m.port, "/load/r%d" % i, args.data, args.window,
                args.seconds, None, q)))
        t0 = time.monotonic()
        for p in procs:
            p.start()
        terms_seen = [set() for _ in range(3)]
        load_samples = []
        while any(p.is_alive() for p in procs):
            for i in range(3):
                v = raft_view(ens, i)
                if v is not None:
                    terms_seen[i].add(v[0])
            load_samples.append(os.getloadavg()[0])
            time.sleep(0.05)
            if time.monotonic() - t0 > args.seconds + 60:
                for p in procs:
                    p.terminate()
                print("load processes did not finish in time", flush=True)
                rc = 2
                break
        elapsed = time.monotonic() - t0
        results = zkload.collect(procs, q, 30)
        if len(results) < len(procs):
            results.append(("?", 0, 0, "%d workers did not report" % (len(procs) - len(results))))
        after = [raft_view(ens, i) for i in range(3)]
        writes = sum(r[1] for r in results if r[0] == "write")
        reads = sum(r[1] for r in results if r[0] == "read")
        errors = sum(r[2] for r in results)
        notes = [r[3] for r in results if r[3]]
        terms = sorted(set().union(*terms_seen))
        elections = (max(t for t, _ in after if t) - max(t for t, _ in before)
                     if all(after) and all(before) else None)
        mntr = servers.four_letter_word(ens.members[leader].host, ens.members[leader].port,
                                        b"mntr", timeout=2.0)
        snap = [line for line in mntr.splitlines() if line.startswith("raft_")]
        print("load: %.1f s, %d writers + %d readers, window %d, %d-byte data"
              % (elapsed, 3 * args.procs, 3, args.window, args.data))
        print("writes %d (%.0f/s), reads %d (%.0f/s), errors %d, load average max %.1f"
              % (writes, writes / elapsed, reads, reads / elapsed, errors,
                 max(load_samples) if load_samples else 0))
        print("leader's raft view after: %s" % ", ".join(s.replace("\t", "=") for s in snap))
        print("after: (term, leader id) per member %s; terms seen during the load %s"
              % (after, terms))
        if notes:
            print("worker problems: %s" % notes)
            rc = rc or 2
        print("elections during the load: %s" % elections)
        if elections is None:
            rc = rc or 2
        elif elections > 0 or len(terms) > 1:
            rc = 1
    except servers.ServerStartError as e:
        print("setup problem: %s" % e)
        rc = 2
    finally:
        if ens is not None:
            ens.stop()
        if args.keep or rc:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
