"""Pipelined raw-socket load for the cluster benchmarks (bench/election_load.py,
bench/failover.py --prefill, bench/catchup.py): each worker is a process with its own
connection and session, keeping a window of requests in flight.

Kinds:
* ``write``  create then setData of the same node under its own prefix, for ``seconds``;
* ``read``   getData of one node, for ``seconds``;
* ``fill``   ``count`` creates under its own prefix (as fast as the server allows).

A worker puts ``(kind, ok, errors, note)`` on its queue; ``note`` is "" unless it failed.
"""

import multiprocessing as mp
import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "compat-tests"))
sys.path.insert(0, os.path.join(REPO, "compat-tests", "kazoo"))

import rawzk  # noqa: E402
import servers  # noqa: E402

CREATE, GET_DATA, SET_DATA = 1, 4, 5


def mntr(member, timeout=5.0):
    """A member's mntr as a dict ({} when it does not answer)."""
    try:
        out = servers.four_letter_word(member.host, member.port, b"mntr", timeout=timeout)
    except OSError:
        return {}
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def znode_count(member):
    """mntr's zk_znode_count, or None."""
    v = mntr(member).get("zk_znode_count")
    return int(v) if v is not None else None


def worker(kind, host, port, prefix, data_len, window, seconds, count, out_q):
    ok = errors = 0
    note = ""
    try:
        cli = rawzk.RawClient(host, port, timeout=30.0)
        cli.connect(timeout_ms=30000)
        cli.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = os.urandom(data_len)
        rep, _p, _s = cli.create(prefix, data if kind == "read" else b"")
        if rep.err not in (0, rawzk.NODE_EXISTS):
            raise RuntimeError("create %s: %d" % (prefix, rep.err))
        seq = 0
        xid = 100
        sent = 0
        inflight = 0
        end = time.monotonic() + (seconds if seconds is not None else 3600.0)

        def next_request():
            nonlocal seq, xid
            xid += 1
            if kind == "read":
                return rawzk.i32(xid) + rawzk.i32(GET_DATA) + rawzk.ustr(prefix) + b"\0"
            seq += 1
            if kind == "fill":
                path = "%s/n%08d" % (prefix, seq)
                return rawzk.i32(xid) + rawzk.i32(CREATE) + rawzk.create_record(path, data)
            n = (seq + 1) // 2
            path = "%s/n%08d" % (prefix, n)
            if seq % 2:
                return rawzk.i32(xid) + rawzk.i32(CREATE) + rawzk.create_record(path, data)
            return (rawzk.i32(xid) + rawzk.i32(SET_DATA) + rawzk.ustr(path)
                    + rawzk.buf(data) + rawzk.i32(-1))

        def more():
            if count is not None:
                return sent < count and time.monotonic() < end
            return time.monotonic() < end

        buf = bytearray()
        while True:
            if more():
                batch = []
                while inflight < window and more():
                    batch.append(rawzk.frame(next_request()))
                    inflight += 1
                    sent += 1
                if batch:
                    cli.sock.sendall(b"".join(batch))
            elif inflight == 0:
                break
            chunk = cli.sock.recv(1 << 20)
            if not chunk:
                raise rawzk.ConnectionClosed("closed by the server")
            buf += chunk
            while len(buf) >= 4:
                (n,) = struct.unpack_from(">i", buf, 0)
                if len(buf) < 4 + n:
                    break
                err = struct.unpack_from(">i", buf, 4 + 12)[0]
                del buf[: 4 + n]
                inflight -= 1
                if err == 0:
                    ok += 1
                else:
                    errors += 1
        cli.close_session()
        cli.drop()
    except Exception as e:  # reported to the caller
        note = "%s: %s" % (type(e).__name__, e)
    out_q.put((kind, ok, errors, note))


def collect(procs, q, bound_s):
    """Waits (bounded) for the processes; returns their results."""
    deadline = time.monotonic() + bound_s
    results = []
    while len(results) < len(procs) and time.monotonic() < deadline:
        try:
            results.append(q.get(timeout=0.5))
        except Exception:
            if not any(p.is_alive() for p in procs) and q.empty():
                break
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.terminate()
    return results


def fill(hostports, total, data_len=64, per_member=2, window=128, bound_s=1800, root="/p"):
    """Creates `total` znodes (under root/<worker>/) through every member, `per_member`
    workers each. Returns (seconds, created, errors, problems)."""
    host0, port0 = hostports[0]
    with rawzk.RawClient(host0, port0, timeout=30.0) as c:
        c.connect(timeout_ms=30000)
        rep, _p, _s = c.create(root, b"")
        if rep.err not in (0, rawzk.NODE_EXISTS):
            return 0.0, 0, 0, ["create %s: %d" % (root, rep.err)]
        c.close_session()
    workers = [(h, p, "%s/w%d-%d" % (root, i, k))
               for i, (h, p) in enumerate(hostports) for k in range(per_member)]
    each = -(-total // len(workers))
    q = mp.Queue()
    procs = [mp.Process(target=worker, args=("fill", h, p, prefix, data_len, window, None,
                                               min(each, max(0, total - j * each)), q))
             for j, (h, p, prefix) in enumerate(workers)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = collect(procs, q, bound_s)
    took = time.monotonic() - t0
    created = sum(r[1] for r in results)
    errors = sum(r[2] for r in results)
    problems = [r[3] for r in results if r[3]]
    if len(results) < len(procs):
        problems.append("%d fill workers did not report" % (len(procs) - len(results)))
    return took, created, errors, problems
