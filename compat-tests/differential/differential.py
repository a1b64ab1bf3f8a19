#!/usr/bin/env python3
"""Differential conformance: the same seeded request streams, as raw bytes, against the real
ZooKeeper 3.8.0 and raftzk; every reply and watch event must match once what legitimately
differs is normalised.

A stream is a list of requests over one to three sessions, under a root node of its own:
valid requests on a small tree, edge cases (null and empty strings, negative lengths, odd
flags and versions, every opcode and unknown ones, multi and multiRead mixes, watches that
fire on another session, ACLs and digest auth) and malformed bodies. Each server gets a fresh
data directory and runs every stream in turn; the transcript of a session is, per request,
the watch events read before its reply, then the reply (xid, error code, body), or "closed"
if the server closed the connection.

Normalised (they differ by design): zxids in reply headers and Stats, ctime/mtime, session
ids and passwords (ephemeralOwner, the handshake), and the order of a getChildren list
(ZooKeeper's comes from a hash set). Everything else must be byte-equal.

    differential.py [--seed N] [--streams N] [--requests N]   (defaults: 7, 40, 40; the
                                                              short run of scripts/test.sh)
    differential.py --long [--seed N]                         (400 streams of 60 requests)

KNOWN DEVIATIONS (documented; the generator or the comparison allows for them):
- a top-level check (13) that passes its checks: ZooKeeper 3.8.0 never answers it; raftzk
  answers BadArguments. A stream is compared up to a request ZooKeeper left unanswered.
- create (1) and create2 (15) with container flags (4): ZooKeeper stores a plain node while
  its prep stage thought it a container (protocol.md 9.1); raftzk answers BadArguments.
  Not generated.
- createTTL (21) with a non-TTL mode and a negative ttl: ZooKeeper 3.8.0 passes its checks,
  then its sync thread fails on the txn and the server exits (seen live); raftzk answers
  BadArguments. Not generated.
- setData with null data, and now and then a read: ZooKeeper leaves them unanswered (seen in
  long runs); raftzk answers. Compared up to there, as a top-level check.
- a watch set on a null path (addWatch, setWatches) and one on the empty path are two in
  ZooKeeper and one in raftzk: a later removeWatches on either may differ (seen once in
  --long runs).

Exit status 0 when every stream matched; otherwise the first differences, each with the
seed, stream, session and step to replay it, and exit status 1. The last line is
"differential: N passed, M failed" (streams).
"""

import argparse
import os
import random
import socket
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kazoo"))
import rawzk  # noqa: E402
import servers  # noqa: E402

# ---------------------------------------------------------------------------------------
# Jute encoding


i32, i64 = rawzk.i32, rawzk.i64


def boolean(v):
    return b"\1" if v else b"\0"


def ustr(v):
    """A ustring (str) or buffer (bytes); None is null (length -1)."""
    return rawzk.buf(v) if isinstance(v, bytes) else rawzk.ustr(v)


def vec(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


WORLD = [(31, "world", "anyone")]


def acl_list(entries):
    return i32(-1) if entries is None else rawzk.acl_vector(entries)


# ---------------------------------------------------------------------------------------
# Stream generation


class Gen:
    """Draws requests for one stream from a seeded Random."""

    def __init__(self, rng, root):
        self.rng = rng
        self.root = root
        self.paths = [root, root + "/a", root + "/b", root + "/a/x", root + "/c", root + "/a/y"]

    def path(self):
        r = self.rng.random()
        if r < 0.85:
            return self.rng.choice(self.paths)
        return self.rng.choice(
            [None, "", "/", "relative", self.root + "/", self.root + "//a", "/zookeeper",
             "/zookeeper/quota", "/zookeeper/config", self.root + "/a/./x", self.root + "/\u00e9",
             self.root + "/a\x00b"]
        )

    def data(self):
        return self.rng.choice([None, b"", b"x", b"data", bytes(range(7)), b"z" * 300])

    def acl(self):
        return self.rng.choices(
            [WORLD, None, [], [(31, "world", "someone")], [(1, "world", "anyone")],
             [(31, "digest", "user:hash")], [(31, "digest", "nocolon")],
             [(31, "ip", "127.0.0.1")], [(31, "ip", "10.0.0.0/33")],
             [(31, "auth", None)], [(31, "auth", "")], [(31, "world", None)],
             [(31, "digest", None)], [(31, "foo", "bar")], [(31, None, "anyone")],
             WORLD + [(31, "world", None)], WORLD + WORLD, [(0, "world", "anyone")]],
            weights=[30] + [1] * 17,
        )[0]

    def version(self):
        return self.rng.choice([-1, -1, -1, 0, 1, 2, 5, -2])

    def create_mode(self, container=True):
        """Flags for a create; container flags (4) only where raftzk follows ZooKeeper."""
        modes, weights = [0, 1, 2, 3, 5, 6, 7, -1, 42], [30, 6, 8, 4, 2, 2, 1, 1, 1]
        if container:
            modes, weights = modes + [4], weights + [3]
        return self.rng.choices(modes, weights=weights)[0]

    def create_body(self, op):
        if op != 21:
            mode = self.create_mode(container=(op == 19))
            return ustr(self.path()) + ustr(self.data()) + acl_list(self.acl()) + i32(mode)
        # createTTL with a non-TTL mode and a negative ttl passes ZooKeeper 3.8.0's checks and
        # then kills it (its sync thread fails on the txn, and the server exits: seen live),
        # so a non-TTL mode only comes with a ttl >= 0 (BadArguments there and here).
        mode = self.rng.choice([5, 6, 5, 6, 0, 1, 2, 4])
        if mode in (5, 6):
            ttl = self.rng.choice([600000, 600000, 0, -1, 1, 1 << 41])
        else:
            ttl = self.rng.choice([0, 1, 600000])
        return ustr(self.path()) + ustr(self.data()) + acl_list(self.acl()) + i32(mode) + i64(ttl)

    def watch(self):
        return boolean(self.rng.random() < 0.5)

    def sub_op(self, reads):
        """One multi/multiRead sub-op: (type, record)."""
        if reads:
            t = self.rng.choice([4, 8])
            return t, ustr(self.path()) + self.watch()
        t = self.rng.choice([1, 1, 15, 19, 2, 5, 13])
        if t in (1, 15, 19):
            return t, ustr(self.path()) + ustr(self.data()) + acl_list(self.acl()) + i32(self.create_mode() if t != 19 else 4)
        if t == 2:
            return t, ustr(self.path()) + i32(self.version())
        if t == 5:
            return t, ustr(self.path()) + ustr(self.data()) + i32(self.version())
        return t, ustr(self.path()) + i32(self.version())

    def multi_body(self, reads):
        body = b""
        for _ in range(self.rng.randint(0, 4)):
            t, rec = self.sub_op(reads)
            body += i32(t) + boolean(False) + i32(-1) + rec
        return body + i32(-1) + boolean(True) + i32(-1)

    def request(self):
        """(op, body) of one request; bodies may be malformed on purpose."""
        rng = self.rng
        op = rng.choices(
            [1, 15, 19, 21, 2, 3, 4, 5, 6, 7, 8, 12, 9, 14, 22, 17, 18, 103, 104, 106, 101, 105,
             100, 107, 11, 13, 16, 20, 102, 42, 0],
            weights=[10, 4, 1, 1, 6, 8, 8, 6, 2, 2, 6, 3, 2, 4, 2, 1, 1, 1, 1, 2, 1, 1,
                     2, 1, 1, 1, 1, 1, 1, 1, 1],
        )[0]
        if op in (1, 15, 19, 21):
            body = self.create_body(op)
        elif op == 2:
            body = ustr(self.path()) + i32(self.version())
        elif op in (3, 4, 8, 12):
            body = ustr(self.path()) + self.watch()
        elif op == 5:
            body = ustr(self.path()) + ustr(self.data()) + i32(self.version())
        elif op == 6:
            body = ustr(self.path())
        elif op == 7:
            body = ustr(self.path()) + acl_list(self.acl()) + i32(self.version())
        elif op == 9:
            body = ustr(self.path())
        elif op in (14, 22):
            body = self.multi_body(reads=(op == 22) != (rng.random() < 0.1))
        elif op in (17, 18):
            body = ustr(self.path()) + i32(rng.choice([1, 2, 3, 4, 5, 0, 9]))
        elif op == 103:
            body = ustr(rng.choice([None, "", "/", self.root, self.root + "/a", "x"]))
        elif op == 104:
            body = ustr(self.path())
        elif op == 106:
            body = ustr(self.path()) + i32(rng.choice([0, 1, 2, -1]))
        elif op in (101, 105):
            lists = 3 if op == 101 else 5
            body = i64(0) + b"".join(
                vec(rng.choice([[], [self.root + "/a"], [self.root, self.root + "/b"], None, [None]]), ustr)
                for _ in range(lists)
            )
        elif op == 100:
            body = i32(0) + ustr(rng.choice(["digest", "digest", "ip", "foo", "", None])) + ustr(
                rng.choice([b"user:pw", b"other:pw", b"", None, b"super:x"]))
        elif op == 13:
            # A version no node reaches: a check that passes would go unanswered by ZooKeeper
            # and leave the two trees apart for the streams after it.
            body = ustr(self.path()) + i32(rng.choice([1000, 999]))
        elif op == 16:
            body = ustr(rng.choice([None, "", "server.9=127.0.0.1:1:2;3"])) + ustr(None) + ustr(None) + i64(-1)
        elif op == 20:
            body = ustr(self.path())
        elif op == 102:
            body = ustr(rng.choice([None, b"", b"token"]))
        else:  # 107, 11, unknown
            body = b""
        # Malformed on purpose, now and then: cut short, or a length below -1.
        r = rng.random()
        if r < 0.04 and len(body) > 1:
            body = body[: rng.randint(0, len(body) - 1)]
        elif r < 0.06 and len(body) >= 4:
            body = i32(-2) + body[4:]
        return op, body


def make_stream(seed, index, requests):
    """[(session, op, body)], the first step creating the stream's root."""
    rng = random.Random(seed * 1_000_003 + index)
    root = "/t%d" % index
    gen = Gen(rng, root)
    sessions = rng.randint(1, 3)
    steps = [(0, 1, ustr(root) + ustr(b"") + acl_list(WORLD) + i32(0))]
    for _ in range(requests):
        steps.append((rng.randrange(sessions), *gen.request()))
    return sessions, steps


# ---------------------------------------------------------------------------------------
# Running a stream


TIMEOUT = 3
KNOWN_OPS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 100,
             101, 102, 103, 104, 105, 106, 107, -11}


class Session:
    """One session's connection, over compat-tests/kazoo/rawzk.py's RawClient; a read that
    times out or finds the connection closed is a word ("timeout", None) rather than an
    exception, since both are outcomes to compare."""

    def __init__(self, port, resume=None):
        self.port = port
        self.closed = False
        self.xid = 0
        sid, passwd = resume or (0, b"\0" * 16)
        try:
            self.client = rawzk.RawClient("127.0.0.1", port, timeout=TIMEOUT)
            r = self.client.connect(timeout_ms=10000, session_id=sid, passwd=passwd)
        except (rawzk.ConnectionClosed, OSError, struct.error) as e:
            raise RuntimeError("no handshake reply") from e
        self.sid, self.passwd = r.session_id, r.passwd
        self.handshake = (r.protocol_version, r.timeout, len(r.passwd), r.read_only)

    def end(self):
        """closeSession, on a resumed connection if the server closed this one, so that the
        session's ephemerals go now rather than at an expiry whose time differs per server."""
        conn = self
        if self.closed:
            try:
                conn = Session(self.port, (self.sid, self.passwd))
            except RuntimeError:
                return
            if conn.handshake[1] <= 0:
                conn.close()
                return
        conn.call(-11, b"")
        conn.close()

    def send(self, body):
        try:
            self.client.send_frame(body)
        except OSError:
            self.closed = True

    def frame(self):
        try:
            return self.client.recv_frame()
        except socket.timeout:
            return "timeout"
        except (rawzk.ConnectionClosed, OSError):
            return None

    def call(self, op, body):
        """Events read before the reply, then the reply: (xid, err, body) or a word."""
        if self.closed:
            return [], "closed"
        if op == 11:
            xid = -2
        elif op == 100:
            xid = -4
        else:
            self.xid += 1
            xid = self.xid
        self.send(i32(xid) + i32(op) + body)
        events = []
        while True:
            f = self.frame()
            if not isinstance(f, bytes):
                if f is None:
                    self.closed = True
                    return events, "closed"
                # No answer: ZooKeeper leaves some requests unanswered (a top-level check
                # that passes); the session is of no further use.
                self.closed = True
                return events, f
            rx, _zxid, err = struct.unpack(">iqi", f[:16])
            if rx == -1:
                events.append(f[16:])
                continue
            if err == -6 and op not in KNOWN_OPS:
                # Unimplemented, then the server closes: wait for it, so that the next
                # request does not race the close.
                self.client.sock.settimeout(2)
                if self.frame() is None:
                    self.closed = True
                self.client.sock.settimeout(TIMEOUT)
            return events, (rx, err, f[16:])

    def close(self):
        try:
            self.client.sock.close()
        except OSError:
            pass


STAT_LEN = 68


def norm_stat(b):
    """A Stat with zxids, times and the ephemeral owner's session id masked."""
    if len(b) != STAT_LEN:
        return b
    (_cz, _mz, _ct, _mt, ver, cver, aver, owner, dlen, nch, _pz) = struct.unpack(">qqqqiiiqiiq", b)
    return struct.pack(">iiiiii", ver, cver, aver, int(owner != 0), dlen, nch)


def norm_strings(b, sort):
    """A vector<ustring> followed by anything: the list (sorted if asked) and the rest."""
    (n,) = struct.unpack(">i", b[:4])
    at, items = 4, []
    for _ in range(max(n, 0)):
        (ln,) = struct.unpack(">i", b[at:at + 4])
        at += 4
        items.append(b[at:at + max(ln, 0)] if ln >= 0 else None)
        at += max(ln, 0)
    if sort:
        items.sort(key=lambda x: (x is None, x or b""))
    return repr(items).encode(), b[at:]


def norm_multi(b):
    out, at = [], 0
    while at + 9 <= len(b):
        t, done, err = struct.unpack(">i?i", b[at:at + 9])
        at += 9
        if done:
            out.append(("done", err))
            break
        if t == -1:
            (e,) = struct.unpack(">i", b[at:at + 4])
            at += 4
            out.append(("error", e))
        elif t in (1, 15):
            (ln,) = struct.unpack(">i", b[at:at + 4])
            path = b[at + 4:at + 4 + max(ln, 0)]
            at += 4 + max(ln, 0)
            stat = b""
            if t == 15:
                stat = norm_stat(b[at:at + STAT_LEN])
                at += STAT_LEN
            out.append((t, path, stat))
        elif t == 5:
            out.append((t, norm_stat(b[at:at + STAT_LEN])))
            at += STAT_LEN
        elif t == 4:
            (ln,) = struct.unpack(">i", b[at:at + 4])
            data = b[at + 4:at + 4 + max(ln, 0)] if ln >= 0 else None
            at += 4 + max(ln, 0)
            out.append((t, data, norm_stat(b[at:at + STAT_LEN])))
            at += STAT_LEN
        elif t == 8:
            items, rest = norm_strings(b[at:], sort=True)
            at = len(b) - len(rest)
            out.append((t, items))
        else:
            out.append((t,))
    return repr(out).encode() + b[at:]


def normalise(op, reply):
    if not isinstance(reply, tuple):
        return reply
    xid, err, body = reply
    try:
        if err == 0 and op in (3, 5, 7) and len(body) == STAT_LEN:
            body = norm_stat(body)
        elif err == 0 and op in (4, 6, 15, 19, 21) and len(body) >= STAT_LEN:
            body = body[:-STAT_LEN] + norm_stat(body[-STAT_LEN:])
        elif err == 0 and op in (8, 12):
            items, rest = norm_strings(body, sort=True)
            body = items + (norm_stat(rest) if op == 12 else rest)
        elif op in (14, 22):
            body = norm_multi(body)
    except struct.error:
        pass
    return (xid, err, body)


def run_stream(port, sessions, steps, unanswered=()):
    """The transcript: per step (session, events, normalised reply). `unanswered` holds the
    steps ZooKeeper left unanswered: their session sends nothing more after them here either,
    so that both trees stay alike for the streams that follow."""
    conns = [Session(port) for _ in range(sessions)]
    transcript = [("handshake", [c.handshake for c in conns])]
    try:
        for step, (who, op, body) in enumerate(steps, start=1):
            events, reply = conns[who].call(op, body)
            if step in unanswered:
                conns[who].closed = True
            transcript.append((who, op, events, normalise(op, reply)))
        # Every session's trailing events, read before a final exists("/"); then every
        # session is closed.
        for who, c in enumerate(conns):
            events, reply = c.call(3, ustr("/") + boolean(False))
            transcript.append((who, "end", events, normalise(3, reply)))
        for c in conns:
            c.end()
    finally:
        for c in conns:
            c.close()
    return transcript


def describe(step):
    if not isinstance(step, tuple) or len(step) != 4:
        return repr(step)
    who, op, events, reply = step
    return "session %s op %s events %r reply %r" % (who, op, events, reply)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--streams", type=int, default=40)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--show", type=int, default=5, help="differences to print")
    ap.add_argument("--long", action="store_true", help="400 streams of 60 requests")
    args = ap.parse_args()
    if args.long:
        args.streams, args.requests = 400, 60

    streams = [make_stream(args.seed, i, args.requests) for i in range(args.streams)]
    transcripts = {}
    hangs = []
    with tempfile.TemporaryDirectory(prefix="differential-") as tmp:
        for kind, start in (("zookeeper", servers.start_zookeeper), ("raftzk", servers.start_raftzk)):
            server = start(os.path.join(tmp, kind), container_check_interval_ms=3_600_000)
            try:
                runs = []
                for i, (s, steps) in enumerate(streams):
                    if kind == "zookeeper":
                        runs.append(run_stream(server.port, s, steps))
                        hangs.append({k for k, step in enumerate(runs[-1])
                                      if len(step) == 4 and step[3] == "timeout"})
                    else:
                        runs.append(run_stream(server.port, s, steps, hangs[i]))
                transcripts[kind] = runs
            finally:
                server.stop()
    for i, stream_hangs in enumerate(hangs):
        for k in sorted(stream_hangs):
            print("stream %d step %d: ZooKeeper left %r unanswered" % (i, k, streams[i][1][k - 1][1:]))

    passed, failed, shown, unanswered = 0, 0, 0, 0
    requests = sum(len(steps) for _, steps in streams)
    for i, (zk, rz) in enumerate(zip(transcripts["zookeeper"], transcripts["raftzk"])):
        # Where ZooKeeper never answers, raftzk answers (see KNOWN DEVIATIONS): the stream is
        # compared up to that step.
        hang = next((k for k, step in enumerate(zk) if len(step) == 4 and step[3] == "timeout"), None)
        if hang is not None:
            unanswered += 1
            zk, rz = zk[:hang], rz[:hang]
        if zk == rz:
            passed += 1
            continue
        failed += 1
        for step, (a, b) in enumerate(zip(zk, rz)):
            if a != b:
                if shown < args.show:
                    shown += 1
                    print("stream %d (seed %d) step %d differs:" % (i, args.seed, step))
                    steps = streams[i][1]
                    what = steps[step - 1][1:] if 0 < step <= len(steps) else "handshake or end"
                    print("  request   %r" % (what,))
                    print("  zookeeper %s" % describe(a))
                    print("  raftzk    %s" % describe(b))
                break
    print("differential: %d streams, %d requests, seed %d; %d compared up to a request "
          "ZooKeeper left unanswered" % (len(streams), requests, args.seed, unanswered))
    print("differential: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
