#!/usr/bin/env python3
"""Catch-up of a member back from a long outage, on a tree of N znodes: the real ZooKeeper
3.8.0 ensemble and a raftzk cluster, run the same way (3 members, compat-tests/ensemble.py).

One run: start a fresh ensemble, SIGKILL one follower, create ``--znodes`` znodes (64 bytes
each, pipelined, bench/zkload.py) through the two survivors, wait until they agree on the
znode count, then restart the follower at T0 and poll its ``mntr`` every 50 ms. Reported:

* serving_s     T0 → the member answers ``srvr`` as follower (it has joined the group);
* caught_up_s   T0 → its ``zk_znode_count`` equals the survivors' (it holds the whole tree).

For raftzk, ``snapCount`` is ``--snap-count`` (default 1000 entries), so while the member is
down the leader snapshots and purges its log: the member can only catch up from a streamed
snapshot (the log line "snapshot installed" in its log says so, with size and time). ZooKeeper
keeps its defaults (it sends a SNAP when the follower is too far behind its committed log).

With ``--wiped`` the member comes back with an empty data directory (only ``myid`` kept). On
raftzk, which refuses to let a member forget its Raft vote inside the group, that is the
documented procedure: a reconfig removes the member before it is wiped (``leaving``) and adds
it back at T0 (``joining``, right after its restart); it then joins as a learner, gets the
snapshot and becomes a voter. ZooKeeper lets a wiped follower simply restart (it gets a SNAP),
so there it is only wiped.

Usage: catchup.py --server zk|raftzk [--znodes 1000000] [--runs 1] [--snap-count 1000]
                  [--wiped] [--zk-heap 3g] [--json-out FILE] [--keep]
Exit status: 0 ok, 1 a run failed, 2 setup problem.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "compat-tests"))
sys.path.insert(0, os.path.join(REPO, "compat-tests", "kazoo"))

import ensemble  # noqa: E402
import servers  # noqa: E402
import zkload  # noqa: E402


def mntr(ens, i):
    return zkload.mntr(ens.members[i])


def znodes(ens, i):
    return zkload.znode_count(ens.members[i])


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024.0)
    except OSError:
        return None
    return None


SUPER_PASSWORD = "catchup"


def super_digest():
    import base64
    import hashlib
    raw = ("super:" + SUPER_PASSWORD).encode()
    return "super:" + base64.b64encode(hashlib.sha1(raw).digest()).decode()


def reconfig(ens, i, **kw):
    """A reconfig as the super user through member i; returns /zookeeper/config's text."""
    from kazoo.client import KazooClient
    client = KazooClient(hosts=ens.members[i].hostport, timeout=10.0,
                         auth_data=[("digest", "super:" + SUPER_PASSWORD)])
    client.start(timeout=15)
    try:
        data, _ = client.reconfig(**kw)
        return data.decode()
    finally:
        client.stop()
        client.close()


def wipe(data_dir):
    """Empties a member's data directory, keeping only its myid."""
    for name in os.listdir(data_dir):
        if name == "myid":
            continue
        path = os.path.join(data_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def one_run(kind, args, base_tmp, index):
    tmp = tempfile.mkdtemp(prefix="catchup-%s-%02d-" % (kind, index), dir=base_tmp)
    rec = {"server": kind, "run": index, "znodes_target": args.znodes}
    ens = None
    keep = args.keep
    try:
        if kind == "raftzk":
            opts = {"extra_cfg": {"snapCount": args.snap_count}}
            if args.wiped:
                opts["extra_cfg"].update({"reconfigEnabled": "true",
                                          "DigestAuthenticationProvider.superDigest": super_digest()})
        else:
            # 1M znodes do not fit in the compat suites' 256 MB heap
            opts = {"heap": args.zk_heap}
        ens = ensemble.start_ensemble(kind, tmp, start_timeout=90, **opts)
        leader = ens.leader_index(timeout=30)
        lagger = next(i for i in range(3) if i != leader)
        survivors = [i for i in range(3) if i != lagger]
        rec["leader"], rec["lagger"] = leader, lagger
        lagger_line = None
        if args.wiped and kind == "raftzk":
            config = reconfig(ens, leader, joining=None, leaving=str(lagger + 1), new_members=None)
            before = [l for l in config.splitlines() if l.startswith("server.")]
            if len(before) != 2:
                raise RuntimeError("removing member %d left %s" % (lagger + 1, config))
        if kind == "raftzk" and args.wiped:
            with open(ens.members[lagger].cfg_path) as f:
                lagger_line = next(l.strip() for l in f if l.startswith("server.%d=" % (lagger + 1)))
        ens.kill(lagger)
        if args.wiped:
            wipe(ens.members[lagger].data_dir)
        took, created, errors, problems = zkload.fill(
            [(ens.members[i].host, ens.members[i].port) for i in survivors], args.znodes)
        rec["fill"] = {"s": round(took, 1), "created": created, "errors": errors}
        if problems or created < args.znodes:
            raise RuntimeError("fill: %d of %d, %s" % (created, args.znodes, problems))
        deadline = time.monotonic() + 300
        while True:
            counts = [znodes(ens, i) for i in survivors]
            if counts[0] is not None and len(set(counts)) == 1:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("survivors disagree: %s" % counts)
            time.sleep(0.5)
        want = counts[0]
        rec["znodes"] = want
        rec["leader_rss_mb"] = rss_mb(ens.members[leader].pid)
        if kind == "raftzk":
            view = mntr(ens, leader)
            rec["leader_raft"] = {k: v for k, v in view.items() if k.startswith("raft_")}
        t0 = time.monotonic()
        ens.members[lagger].respawn()
        if lagger_line is not None:
            # The reconfig returns once the member is a learner and a quorum of the new voter
            # set is up to date (the two survivors), before the snapshot has arrived.
            config = reconfig(ens, leader, joining=lagger_line, leaving=None, new_members=None)
            rec["added_back_s"] = round(time.monotonic() - t0, 2)
            if ("server.%d=" % (lagger + 1)) not in config:
                raise RuntimeError("adding member %d back: %s" % (lagger + 1, config))
        serving = caught_up = None
        bound = t0 + args.bound
        leader_peak = rec["leader_rss_mb"] or 0
        trace = []  # (s since the restart, leader RSS MB) at each change of 10 MB or more
        while time.monotonic() < bound:
            now = time.monotonic()
            rss = rss_mb(ens.members[leader].pid) or 0
            leader_peak = max(leader_peak, rss)
            if not trace or abs(rss - trace[-1][1]) >= 10:
                trace.append((round(now - t0, 2), rss))
            if serving is None and ens.mode(lagger) in ("follower", "leader"):
                serving = now
            if znodes(ens, lagger) == want:
                caught_up = now
                if serving is None:
                    serving = now
                break
            time.sleep(0.05)
        rec["serving_s"] = round(serving - t0, 2) if serving else None
        rec["caught_up_s"] = round(caught_up - t0, 2) if caught_up else None
        rec["lagger_rss_mb"] = rss_mb(ens.members[lagger].pid)
        # the leader's resident memory while it sent the member what it lacked (sampled
        # every 50 ms), and once the member had it
        rec["leader_rss_peak_mb"] = leader_peak
        rec["leader_rss_after_mb"] = rss_mb(ens.members[leader].pid)
        rec["leader_rss_trace"] = trace
        if kind == "raftzk" and caught_up is not None:
            # The run ends by comparing every member's tree digest at the same zxid.
            deadline = time.monotonic() + 30
            while True:
                views = [mntr(ens, i) for i in range(len(ens.members))]
                pairs = [(v.get("raft_tree_digest_zxid"), v.get("raft_tree_digest"))
                         for v in views]
                if pairs[0][0] is not None and len(set(pairs)) == 1:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("members' tree digests differ: %s" % pairs)
                time.sleep(0.2)
            rec["digest"] = {"zxid": pairs[0][0], "digest": pairs[0][1],
                             "mismatches": [v.get("zk_digest_mismatches_count") for v in views]}
            if any(m not in (None, "0") for m in rec["digest"]["mismatches"]):
                raise RuntimeError("digest mismatches counted: %s" % rec["digest"])
        try:
            with open(ens.members[lagger].log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            rec["install_lines"] = [
                line[:220] for line in text.splitlines()
                if "snapshot installed" in line or "Getting a snapshot from leader" in line
                or "Getting a diff from the leader" in line
            ][-3:]
        except OSError:
            pass
        rec["ok"] = caught_up is not None
        if not rec["ok"]:
            keep = True
    except Exception as e:
        rec["ok"] = False
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        keep = True
    finally:
        if ens is not None:
            ens.stop()
    if keep:
        rec["kept_dir"] = tmp
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, choices=["zk", "raftzk"])
    ap.add_argument("--znodes", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--snap-count", type=int, default=1000)
    ap.add_argument("--wiped", action="store_true",
                    help="the member comes back with an empty data dir (raftzk: reconfig out and in)")
    ap.add_argument("--bound", type=float, default=600.0, help="max wait for the catch-up, s")
    ap.add_argument("--zk-heap", default="3g", help="ZooKeeper's -Xmx")
    ap.add_argument("--json-out")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.server == "zk" and not os.path.exists("/usr/share/java/zookeeper.jar"):
        print("catchup.py: ZooKeeper is not installed", file=sys.stderr)
        return 2
    if args.server == "raftzk" and not os.access(servers.raftzk_binary(), os.X_OK):
        print("catchup.py: no raftzk binary at %s" % servers.raftzk_binary(), file=sys.stderr)
        return 2
    base_tmp = tempfile.mkdtemp(prefix="catchup-%s-" % args.server)
    runs = []
    for i in range(1, args.runs + 1):
        rec = one_run(args.server, args, base_tmp, i)
        runs.append(rec)
        if rec["ok"]:
            print("%-6s run %d%s: %d znodes (filled in %.0f s); restarted member serving after %.2f s,"
                  " caught up after %.2f s; RSS leader %s MB (peak %s, after %s), restarted %s MB; %s"
                  % (args.server, i, " (wiped)" if args.wiped else "", rec["znodes"], rec["fill"]["s"], rec["serving_s"] or -1,
                     rec["caught_up_s"], rec.get("leader_rss_mb"), rec.get("leader_rss_peak_mb"),
                     rec.get("leader_rss_after_mb"), rec.get("lagger_rss_mb"),
                     "; ".join(rec.get("install_lines", [])) or "-"), flush=True)
        else:
            print("%-6s run %d: FAILED %s (dir %s)" % (args.server, i, rec.get("error", "no catch-up"),
                                                       rec.get("kept_dir")), flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)
    if not any(r.get("kept_dir") for r in runs):
        shutil.rmtree(base_tmp, ignore_errors=True)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
