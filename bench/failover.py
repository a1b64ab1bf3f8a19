#!/usr/bin/env python3
"""Leader-failover benchmark, run the same way against a real ZooKeeper 3.8.0 ensemble and
a raftzk cluster (3 members each, compat-tests/ensemble.py).

Every run starts a fresh 3-member ensemble in a temporary directory (stopped and removed at
the end; kept when the run was unusual), waits until it serves, creates /f, connects one
client, does a few warm-up creates, and then kills the leader with SIGKILL
(``ensemble.kill(leader)``) at T0. Straight after the kill the client keeps issuing creates
(a new path each attempt, 8 bytes of data) until one is acknowledged; failover time = that
acknowledgement minus T0. Each run is bounded (``--run-timeout``, default 30 s).

Two clients, each in its own runs (alternating raw, kazoo, raw, ... so both see the same
machine conditions):

* raw    a raw-socket client (compat-tests/kazoo/rawzk.py) connected to a follower that
         survives the kill (never the leader), 10 s session. After T0 it loops tightly: a
         create; on a closed/reset/refused/timed-out connection or a failed handshake it
         reconnects to the SAME follower, resuming the old session (id + password) first and
         falling back to a new session only if the server refuses the resume (session
         expired); at most 5 ms sleep between attempts. Socket timeouts: 2 s to connect and
         handshake, 2/3 of the session timeout for a reply (the read timeout real clients use).
* kazoo  kazoo 2.11, ``KazooClient(hosts=<all three members>, timeout=10)`` with kazoo's
         default connection retry (0.1 s delay, backoff 2, jitter); it may be connected to the
         leader or a follower when the leader dies (recorded). After T0: ``create`` in a loop,
         catching ConnectionLoss/SessionExpired/ConnectionClosed, 5 ms between attempts.

After the first acknowledged create the run waits for a leader among the survivors (its index
is recorded, 0-based as in ensemble.py; member id = index + 1), lets the cluster settle
(``--settle``, default 3 s, so a spurious re-election shows up), checks the leader did not
change, and counts leaderships in the members' logs:

* raftzk: lines containing "leading: session expiry starts with fresh timeouts" (logged by a
  member's expiry task, which checks leadership every tickTime/2 = 1 s, so a leadership shorter
  than that can be missed);
* ZooKeeper: the QuorumPeer's "LEADING" state-transition lines.

Exactly 2 per run are expected (the initial election and the one after the kill); any more
are reported as spurious.

Usage:
  failover.py --server zk|raftzk [--runs 10] [--client raw|kazoo|both] [--run-timeout 30]
              [--settle 3] [--warmup 20] [--prefill N] [--json-out FILE] [--keep]
              [--no-table]
  --prefill N fills the tree with N znodes (bench/zkload.py, through every member) before
  the kill: failover must not grow with the data.
  failover.py --table A.json [B.json ...]      (print the summary table of result files)

raftzk runs use a private copy of the binary (``$RAFTZK_BIN``, else
``$CARGO_TARGET_DIR/release/raftzk``, else target/release/raftzk), made once at start.
Exit status: 0 ok, 1 some run failed (no acknowledged create in time, or a setup error
mid-way), 2 setup problem.
"""

import argparse
import calendar
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "compat-tests"))
sys.path.insert(0, os.path.join(REPO, "compat-tests", "kazoo"))

import ensemble  # noqa: E402
import rawzk  # noqa: E402
import servers  # noqa: E402
import zkload  # noqa: E402

SESSION_MS = 10000
DATA = b"failover"
MAX_EVENTS = 60  # events kept per run (first ones); counts are always complete
RAFTZK_LEADING = "leading: session expiry starts with fresh timeouts"
ZK_LEADING = re.compile(r"QuorumPeer - LEADING\s*$")
# raftzk log lines worth showing from the survivors after the kill (not openraft's chatter)
RAFTZK_NOTABLE = re.compile(r"^\S+\s+[A-Z]+\s+raftzk::\S+: ")
ZK_ELECTION_TOOK = re.compile(r"(LEADING|FOLLOWING) - LEADER ELECTION TOOK - (\d+) MS")
POLL_S = 0.05
TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def now():
    return time.monotonic()


def ms(t, t0):
    return round((t - t0) * 1000.0, 2)


class Events:
    """Timestamped client-side events of one run, relative to T0 (ms)."""

    def __init__(self):
        self.t0 = None
        self.wall0 = None
        self.items = []
        self.counts = {}

    def add(self, kind, detail=None):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.items) < MAX_EVENTS:
            t = ms(now(), self.t0) if self.t0 is not None else None
            self.items.append([t, kind] + ([detail] if detail is not None else []))


# --------------------------------------------------------------------------- raw client


class RawSession:
    """A raw client bound to one member, able to resume its session after a lost connection."""

    def __init__(self, host, port, events):
        self.host, self.port = host, port
        self.events = events
        self.cli = None
        self.session_id = 0
        self.passwd = b"\0" * 16
        self.original_session = None
        self.last_zxid = 0
        self.connects = 0  # handshakes that succeeded
        self.resumed = 0  # of those, resumes of an existing session
        self.new_sessions = 0  # of those after the first, new sessions (resume refused)
        self.resume_refused = 0
        self.seq = 0

    def connect(self):
        """One connection + handshake attempt. Returns True when connected."""
        try:
            cli = rawzk.RawClient(self.host, self.port, timeout=2.0)
        except ConnectionRefusedError:
            self.events.add("connect_refused")
            return False
        except (socket.timeout, TimeoutError):
            self.events.add("connect_timeout")
            return False
        except OSError as e:
            self.events.add("connect_error", repr(e))
            return False
        cli.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        resuming = self.session_id != 0
        try:
            resp = cli.connect(
                timeout_ms=SESSION_MS,
                session_id=self.session_id,
                passwd=self.passwd,
                last_zxid=self.last_zxid,
            )
        except rawzk.ConnectionClosed:
            cli.drop()
            self.events.add("handshake_closed")
            return False
        except (socket.timeout, TimeoutError):
            cli.drop()
            self.events.add("handshake_timeout")
            return False
        except OSError as e:
            cli.drop()
            self.events.add("handshake_error", repr(e))
            return False
        if resp.session_id == 0 or resp.timeout <= 0:
            cli.drop()
            if resuming:
                # the server refused the resume: the session is gone; start a new one
                self.resume_refused += 1
                self.events.add("resume_refused", "0x%x" % self.session_id)
                self.session_id, self.passwd = 0, b"\0" * 16
            else:
                self.events.add("new_session_refused")
            return False
        if resuming:
            self.resumed += 1
            self.events.add("resumed", "0x%x" % resp.session_id)
        else:
            if self.original_session is not None:
                self.new_sessions += 1
                self.events.add("new_session", "0x%x" % resp.session_id)
            else:
                self.original_session = resp.session_id
        self.session_id, self.passwd = resp.session_id, resp.passwd
        self.connects += 1
        cli.sock.settimeout(SESSION_MS * 2 / 3 / 1000.0)
        self.cli = cli
        return True

    def drop(self):
        if self.cli is not None:
            self.cli.drop()
            self.cli = None

    def create(self, prefix):
        """One create on the current connection. Returns the reply's zxid on success, None
        on a connection-level failure (the connection is dropped) or a non-OK reply."""
        self.seq += 1
        path = "/f/%s-%06d" % (prefix, self.seq)
        try:
            rep, _p, _st = self.cli.create(path, DATA, flags=rawzk.PERSISTENT)
        except rawzk.ConnectionClosed:
            self.events.add("closed_by_server")
            self.drop()
            return None
        except (socket.timeout, TimeoutError):
            self.events.add("reply_timeout")
            self.drop()
            return None
        except OSError as e:  # reset, broken pipe
            self.events.add("conn_error", type(e).__name__)
            self.drop()
            return None
        if rep.zxid > 0:
            self.last_zxid = max(self.last_zxid, rep.zxid)
        if rep.err != 0:
            self.events.add("reply_err", rep.err)
            return None
        return rep.zxid


class IdleWatcher:
    """An idle session on one member that sends nothing after its handshake; records when
    (if at all) the server closes it: does a follower drop its clients when the leader dies?"""

    def __init__(self, host, port):
        self.cli = rawzk.RawClient(host, port, timeout=10.0)
        self.cli.connect(timeout_ms=SESSION_MS)
        self.closed_at = None
        self.t0 = None
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.stopping = False

    def start(self):
        self.cli.sock.settimeout(None)
        self.thread.start()

    def _watch(self):
        try:
            d = self.cli.sock.recv(1)
        except OSError:
            d = b""
        if not self.stopping and not d:
            self.closed_at = now()

    def stop(self):
        self.stopping = True
        try:
            self.cli.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(timeout=5)
        self.cli.drop()


def run_raw(ens, leader, args, ev):
    survivors = [i for i in range(len(ens.members)) if i != leader]
    target = survivors[0]
    member = ens.members[target]
    idle = {}
    for i in survivors:
        idle[i] = IdleWatcher(ens.members[i].host, ens.members[i].port)
        idle[i].start()
    rs = RawSession(member.host, member.port, ev)
    deadline = now() + 15
    while not rs.connect():
        if now() > deadline:
            raise RuntimeError("raw client could not connect to member %d" % target)
        time.sleep(0.05)
    for _ in range(args.warmup):
        if rs.create("w") is None:
            raise RuntimeError("warm-up create failed: %s" % ev.counts)
    ev.counts.clear()
    ev.items.clear()
    ev.wall0 = time.time()
    ev.t0 = t0 = now()
    kill_leader(ens, leader, args)
    t_killed = now()
    end = t0 + args.run_timeout
    first_ok = None
    attempts = 0
    original_conn_lost_at = None
    on_original_conn = True
    while now() < end:
        if rs.cli is None:
            on_original_conn = False
            if not rs.connect():
                time.sleep(0.005)
                continue
        attempts += 1
        zxid = rs.create("k")
        if zxid is not None:
            first_ok = now()
            break
        if rs.cli is None and original_conn_lost_at is None and on_original_conn:
            original_conn_lost_at = now()
        time.sleep(0.005)
    rs.drop()
    # idle sessions closed by their (surviving) member within the failover or 1 s after it
    time.sleep(1.0)
    for w in idle.values():
        w.stop()
    result = {
        "client_member": target,
        "kill_ms": ms(t_killed, t0),
        "failover_ms": ms(first_ok, t0) if first_ok else None,
        "create_attempts": attempts,
        "reconnects": rs.connects - 1,
        "connect_attempts_failed": sum(
            v for k, v in ev.counts.items() if k.startswith(("connect_", "handshake_"))
        ),
        "errors": sum(
            v for k, v in ev.counts.items() if k not in ("resumed", "new_session")
        ),
        "resumes": rs.resumed,
        "resume_refused": rs.resume_refused,
        "new_sessions": rs.new_sessions,
        # the acknowledged create ran in the session opened before the kill
        "session_resumed": bool(first_ok) and rs.session_id == rs.original_session,
        "original_conn_closed_by_server_ms": (
            ms(original_conn_lost_at, t0) if original_conn_lost_at else None
        ),
        "idle_conn_closed_ms": {
            str(i): (ms(w.closed_at, t0) if w.closed_at else None) for i, w in idle.items()
        },
        "event_counts": dict(ev.counts),
        "events": ev.items,
    }
    return result


# --------------------------------------------------------------------------- kazoo client


class _LogCapture(logging.Handler):
    def __init__(self, ev):
        super().__init__(logging.INFO)
        self.ev = ev

    def emit(self, record):
        if self.ev.t0 is None:
            return
        msg = record.getMessage()
        if msg.startswith("Connecting to"):
            self.ev.add("kazoo_connecting", msg.split()[2])
        elif msg.startswith(("Connection dropped", "Connection time-out", "Session has expired")):
            self.ev.add("kazoo_" + msg.split(":")[0].lower().replace(" ", "_"), msg[:120])
        elif msg.startswith("Transition to"):
            pass
        else:
            self.ev.add("kazoo_log", msg[:120])


def run_kazoo(ens, leader, args, ev):
    from kazoo.client import KazooClient
    from kazoo.exceptions import ConnectionClosedError, ConnectionLoss, SessionExpiredError

    log = logging.getLogger("kazoo")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = _LogCapture(ev)
    log.addHandler(handler)
    zk = KazooClient(hosts=ens.connect_string, timeout=10.0)
    states = []
    zk.add_listener(lambda s: states.append((now(), str(s))))
    try:
        zk.start(timeout=15)
        zk.ensure_path("/f")
        for i in range(args.warmup):
            zk.create("/f/w-%06d" % i, DATA)
        port = zk._connection._socket.getpeername()[1]
        ports = [m.port for m in ens.members]
        connected_to = ports.index(port) if port in ports else None
        session_before = zk.client_id[0]
        states.clear()
        ev.wall0 = time.time()
        ev.t0 = t0 = now()
        kill_leader(ens, leader, args)
        t_killed = now()
        end = t0 + args.run_timeout
        first_ok = None
        attempts = 0
        seq = 0
        while now() < end:
            seq += 1
            attempts += 1
            try:
                zk.create_async("/f/k-%06d" % seq, DATA).get(timeout=max(0.01, end - now()))
                first_ok = now()
                break
            except ConnectionLoss:
                ev.add("ConnectionLoss")
            except SessionExpiredError:
                ev.add("SessionExpired")
            except ConnectionClosedError:
                ev.add("ConnectionClosed")
            except zk.handler.timeout_exception:
                ev.add("bound_reached")
                break
            except Exception as e:  # a server error code: record and retry
                ev.add("error", type(e).__name__)
            time.sleep(0.005)
        session_after = zk.client_id[0] if zk.client_id else None
        sock = zk._connection._socket
        try:
            port = sock.getpeername()[1] if sock is not None else None
        except OSError:
            port = None
        reconnected_to = ports.index(port) if port in ports else None
    finally:
        log.removeHandler(handler)
        try:
            zk.stop()
            zk.close()
        except Exception:
            pass
    err_kinds = ("ConnectionLoss", "SessionExpired", "ConnectionClosed", "error")
    return {
        "client_member": connected_to,
        "client_was_on_leader": connected_to == leader,
        "reconnected_to": reconnected_to,
        "kill_ms": ms(t_killed, t0),
        "failover_ms": ms(first_ok, t0) if first_ok else None,
        "create_attempts": attempts,
        "errors": sum(ev.counts.get(k, 0) for k in err_kinds),
        "reconnects": sum(1 for _t, s in states if s == "CONNECTED"),
        "connect_attempts": ev.counts.get("kazoo_connecting", 0),
        "session_resumed": bool(first_ok) and session_after == session_before,
        "states": [[ms(t, t0), s] for t, s in states],
        "event_counts": dict(ev.counts),
        "events": ev.items,
    }


# --------------------------------------------------------------------------- one run


def count_leaderships(kind, ens):
    per = []
    for m in ens.members:
        try:
            with open(m.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            per.append(None)
            continue
        if kind == "raftzk":
            per.append(text.count(RAFTZK_LEADING))
        else:
            per.append(sum(1 for line in text.splitlines() if ZK_LEADING.search(line)))
    return per


def kill_leader(ens, leader, args):
    """SIGKILL (the measurement), or with --freeze SIGSTOP: the leader goes silent at once
    but the kernel does not tear its memory down (with 1 M znodes, gigabytes freed on the same
    2 cores while the survivors elect), which tells the data-size cost of the teardown from
    that of raftzk itself. A frozen leader is killed when the ensemble stops."""
    if getattr(args, "freeze", False):
        os.kill(ens.members[leader].pid, signal.SIGSTOP)
    else:
        ens.kill(leader)


def raftzk_notable(ens, killed, since_wall):
    """raftzk's own (non-openraft) log lines of the survivors from the kill on."""
    out = []
    for i, m in enumerate(ens.members):
        if i == killed:
            continue
        try:
            with open(m.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        groups = {}
        for line in lines:
            mt = TS.match(line)
            if not mt or not RAFTZK_NOTABLE.search(line):
                continue
            t = calendar.timegm(time.strptime(mt.group(1)[:19], "%Y-%m-%dT%H:%M:%S"))
            t += float("0." + mt.group(1)[20:])
            if t + 0.001 < since_wall or "shutting down" in line:
                continue
            msg = re.sub(r"conn=\d+", "conn=N", line[mt.end():].strip())
            g = groups.setdefault(msg, [t, t, 0])
            g[1] = t
            g[2] += 1
        for msg, (first, last, n) in sorted(groups.items(), key=lambda kv: kv[1][0]):
            out.append("m%d +%.0f..%.0f ms x%d: %s" % (
                i, (first - since_wall) * 1000, (last - since_wall) * 1000, n, msg[:260]))
    return out[:40]


def zk_election_took(ens, killed):
    """The survivors' last 'LEADER ELECTION TOOK' lines (the election after the kill)."""
    out = {}
    for i, m in enumerate(ens.members):
        if i == killed:
            continue
        try:
            with open(m.log_path, "rb") as f:
                found = ZK_ELECTION_TOOK.findall(f.read().decode("utf-8", "replace"))
        except OSError:
            continue
        if found:
            out[str(i)] = [found[-1][0], int(found[-1][1])]
    return out


class ModePoller:
    """Polls the survivors' `srvr` Mode every POLL_S s from just before the kill; records
    every change, so the time the new leader appeared and any later leader change show."""

    def __init__(self, ens, indexes):
        self.ens = ens
        self.indexes = indexes
        self.changes = []  # (monotonic, index, mode)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def _run(self):
        last = {}
        while not self.stopping.is_set():
            for i in self.indexes:
                mode = self.ens.mode(i)
                if last.get(i, "?") != mode:
                    last[i] = mode
                    self.changes.append((now(), i, mode))
            self.stopping.wait(POLL_S)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)

    def summary(self, t0):
        first_leader = None
        leaders = []
        for t, i, mode in self.changes:
            if mode == "leader" and t >= t0:
                if first_leader is None:
                    first_leader = (ms(t, t0), i)
                if not leaders or leaders[-1] != i:
                    leaders.append(i)
        return {
            "leader_seen_ms": first_leader[0] if first_leader else None,
            "leaders_seen": leaders,
            "mode_changes": [[ms(t, t0), i, m] for t, i, m in self.changes],
        }


def znode_count(ens, i):
    return zkload.znode_count(ens.members[i])


def one_run(kind, client, args, base_tmp, index):
    tmp = tempfile.mkdtemp(prefix="fo-%s-%s-%02d-" % (kind, client, index), dir=base_tmp)
    rec = {
        "server": kind,
        "client": client,
        "run": index,
        "loadavg_before": list(os.getloadavg()),
        "prefill_znodes": args.prefill,
    }
    ens = None
    keep = args.keep
    try:
        t = now()
        ens = ensemble.start_ensemble(kind, tmp, start_timeout=90)
        leader = ens.leader_index(timeout=30)
        rec["start_s"] = round(now() - t, 2)
        rec["old_leader"] = leader
        # create /f through any member (raw, on the leader's neighbour)
        with rawzk.RawClient("127.0.0.1", ens.members[leader].port, timeout=10) as c:
            c.connect(timeout_ms=SESSION_MS)
            rep, _p, _s = c.create("/f")
            if rep.err not in (0, rawzk.NODE_EXISTS):
                raise RuntimeError("create /f failed: %d" % rep.err)
            c.close_session()
        if args.prefill:
            took, created, errors, problems = zkload.fill(
                [(m.host, m.port) for m in ens.members], args.prefill)
            rec["prefill"] = {"znodes": created, "errors": errors, "s": round(took, 1)}
            if problems or created < args.prefill:
                raise RuntimeError("prefill: %d of %d created, %s" % (created, args.prefill, problems))
            deadline = now() + 120
            while True:
                counts = [znode_count(ens, i) for i in range(len(ens.members))]
                if len(set(counts)) == 1 and counts[0] is not None:
                    break
                if now() > deadline:
                    raise RuntimeError("members disagree after the prefill: %s" % counts)
                time.sleep(0.5)
            rec["znodes_before_kill"] = counts[0]
            # let the fill's after-effects (log compaction, snapshots) finish: this measures
            # failover with a large tree, not failover under a burst of background work
            time.sleep(args.quiet_after_fill)
            leader = ens.leader_index(timeout=30)
            rec["old_leader"] = leader
        # the leadership marker must be in the leader's log before the kill (raftzk logs it
        # up to tickTime/2 after the election), or the count would miss it
        deadline = now() + 10
        while count_leaderships(kind, ens)[leader] < 1:
            if now() > deadline:
                raise RuntimeError("no leadership line in member %d's log" % leader)
            time.sleep(0.05)
        if count_leaderships(kind, ens) != [1 if i == leader else 0 for i in range(len(ens.members))]:
            rec["note"] = "more than one leadership before the kill: %s" % count_leaderships(kind, ens)
        survivors = [i for i in range(len(ens.members)) if i != leader]
        poller = ModePoller(ens, survivors)
        poller.start()
        ev = Events()
        try:
            if client == "raw":
                rec.update(run_raw(ens, leader, args, ev))
            else:
                rec.update(run_kazoo(ens, leader, args, ev))
            try:
                rec["new_leader"] = ens.leader_index(timeout=20)
            except servers.ServerStartError:
                rec["new_leader"] = None
            time.sleep(args.settle)
        finally:
            poller.stop()
        rec.update(poller.summary(ev.t0))
        try:
            rec["leader_after_settle"] = ens.leader_index(timeout=10)
        except servers.ServerStartError:
            rec["leader_after_settle"] = None
        rec["modes_after"] = [ens.mode(i) for i in range(len(ens.members))]
        if kind == "zk":
            rec["zk_election_took_ms"] = zk_election_took(ens, leader)
        per = count_leaderships(kind, ens)
        rec["leaderships_per_member"] = per
        rec["leaderships"] = sum(p or 0 for p in per)
        rec["spurious_elections"] = max(0, rec["leaderships"] - 2)
        if kind == "raftzk":
            rec["survivor_log"] = raftzk_notable(ens, leader, ev.wall0)
        rec["ok"] = rec.get("failover_ms") is not None
        if (not rec["ok"] or rec["spurious_elections"] or rec["leaderships"] < 2
                or rec["new_leader"] != rec["leader_after_settle"]
                or len(rec["leaders_seen"]) != 1):
            keep = True
    except Exception as e:
        rec["ok"] = False
        rec["error"] = "%s: %s" % (type(e).__name__, e)
        keep = True
    finally:
        if ens is not None:
            ens.stop()
    rec["loadavg_after"] = list(os.getloadavg())
    if keep:
        rec["kept_dir"] = tmp
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return rec


def describe(rec):
    if not rec.get("ok"):
        return "FAILED %s (dir %s)" % (rec.get("error", "no acknowledged create"), rec.get("kept_dir"))
    s = "failover %8.1f ms  (leader seen %s ms)  leader %s->%s  client on m%s  errors %3d  reconnects %2d  resumed %s  leaderships %s" % (
        rec["failover_ms"], rec.get("leader_seen_ms"), rec["old_leader"], rec["new_leader"],
        rec.get("client_member"),
        rec["errors"], rec["reconnects"], "yes" if rec["session_resumed"] else "no",
        rec["leaderships_per_member"],
    )
    if rec.get("prefill"):
        s += "  prefill %(znodes)d znodes in %(s).0f s" % rec["prefill"]
    if rec["spurious_elections"]:
        s += "  SPURIOUS %d" % rec["spurious_elections"]
    if rec.get("kept_dir"):
        s += "  (kept %s)" % rec["kept_dir"]
    return s


# --------------------------------------------------------------------------- summary


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    if not v:
        return None
    k = max(1, math.ceil(p / 100.0 * len(v)))
    return v[k - 1]


def summarise(runs):
    groups = {}
    for r in runs:
        server = r["server"]
        if r.get("prefill_znodes"):
            server += " (%d znodes)" % r["prefill_znodes"]
        groups.setdefault((server, r["client"]), []).append(r)
    rows = []
    for (server, client), rs in groups.items():
        ok = [r for r in rs if r.get("ok")]
        f = [r["failover_ms"] for r in ok]
        rows.append({
            "server": server,
            "client": client,
            "runs": len(rs),
            "ok": len(ok),
            "min": min(f) if f else None,
            "median": statistics.median(f) if f else None,
            "p90": pct(f, 90),
            "max": max(f) if f else None,
            "spurious": sum(r.get("spurious_elections", 0) for r in rs),
            "resumed": sum(1 for r in ok if r.get("session_resumed")),
            "errors_med": statistics.median([r["errors"] for r in ok]) if ok else None,
            "reconnects_med": statistics.median([r["reconnects"] for r in ok]) if ok else None,
            "idle_closed": sum(
                1 for r in ok
                if r.get("idle_conn_closed_ms")
                and all(v is not None for v in r["idle_conn_closed_ms"].values())
            ) if client == "raw" else None,
            "leader_seen_med": (
                statistics.median(seen) if (seen := [
                    r["leader_seen_ms"] for r in ok if r.get("leader_seen_ms") is not None
                ]) else None
            ),
        })
    return rows


def print_table(rows, out=sys.stdout):
    def f(v):
        return "-" if v is None else ("%.0f" % v if isinstance(v, float) else str(v))

    hdr = ["server", "client", "runs", "median ms", "p90 ms", "max ms", "min ms",
           "spurious elections", "sessions resumed", "errors (med)", "reconnects (med)",
           "new leader in srvr (med ms)", "survivors closed idle clients"]
    body = []
    for r in rows:
        body.append([
            r["server"], r["client"],
            "%d" % r["runs"] if r["ok"] == r["runs"] else "%d (%d ok)" % (r["runs"], r["ok"]),
            f(r["median"]), f(r["p90"]), f(r["max"]), f(r["min"]),
            str(r["spurious"]), "%d/%d" % (r["resumed"], r["ok"]),
            f(r["errors_med"]), f(r["reconnects_med"]), f(r["leader_seen_med"]),
            "-" if r["idle_closed"] is None else "%d/%d" % (r["idle_closed"], r["ok"]),
        ])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(hdr)]
    line = " | ".join(h.ljust(w) for h, w in zip(hdr, widths))
    print(line, file=out)
    print("-|-".join("-" * w for w in widths), file=out)
    for b in body:
        print(" | ".join(c.ljust(w) for c, w in zip(b, widths)), file=out)


def table_main(paths):
    runs = []
    for p in paths:
        with open(p) as fh:
            runs.extend(json.load(fh)["runs"])
    print_table(summarise(runs))
    return 0


# --------------------------------------------------------------------------- main


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--table":
        return table_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, choices=["zk", "raftzk"])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--client", default="both", choices=["raw", "kazoo", "both"])
    ap.add_argument("--run-timeout", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--prefill", type=int, default=0,
                    help="znodes created (64 bytes each, pipelined) before the kill")
    ap.add_argument("--quiet-after-fill", type=float, default=20.0,
                    help="seconds of idle between the prefill and the kill")
    ap.add_argument("--freeze", action="store_true",
                    help="SIGSTOP the leader instead of SIGKILL (no memory teardown)")
    ap.add_argument("--json-out")
    ap.add_argument("--keep", action="store_true", help="keep every run's directory")
    ap.add_argument("--no-table", action="store_true", help="no summary table at the end")
    args = ap.parse_args()
    # a TERM (scripts/failover.sh's hard bound) unwinds normally, so ensembles are stopped
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(143))

    base_tmp = tempfile.mkdtemp(prefix="failover-%s-" % args.server)
    meta = {
        "server": args.server,
        "args": vars(args),
        "nproc": os.cpu_count(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_start": list(os.getloadavg()),
    }
    if args.server == "raftzk":
        src = servers.raftzk_binary()
        if not os.access(src, os.X_OK):
            print("failover.py: raftzk binary not found at %s" % src, file=sys.stderr)
            return 2
        copy = os.path.join(base_tmp, "raftzk")
        shutil.copy2(src, copy)
        os.environ["RAFTZK_BIN"] = copy
        with open(copy, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        meta["binary"] = {
            "source": src,
            "mtime_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(src))),
            "sha256": digest,
        }
        print("raftzk binary: %s (built %s, sha256 %s); running a copy"
              % (src, meta["binary"]["mtime_utc"], digest[:12]), flush=True)
    elif not os.path.exists("/usr/share/java/zookeeper.jar"):
        print("failover.py: ZooKeeper is not installed (apt-get install zookeeper)", file=sys.stderr)
        return 2

    clients = ["raw", "kazoo"] if args.client == "both" else [args.client]
    runs = []
    for i in range(1, args.runs + 1):
        for client in clients:
            rec = one_run(args.server, client, args, base_tmp, i)
            runs.append(rec)
            print("%-6s %-5s run %2d: %s" % (args.server, client, i, describe(rec)), flush=True)
    meta["loadavg_end"] = list(os.getloadavg())
    meta["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"meta": meta, "runs": runs}, fh, indent=1)
    if not args.no_table:
        print()
        print_table(summarise(runs))
    kept = any(r.get("kept_dir") for r in runs)
    if not kept:
        shutil.rmtree(base_tmp, ignore_errors=True)
    else:
        print("\nkept run directories under %s" % base_tmp)
    return 0 if all(r.get("ok") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
