"""Fencing tokens: a lock holder stamps every write to a protected resource with the czxid
of its lock node; the resource (FencedRegister, in the test) accepts a write only with a
token greater than the last one it accepted. That is safe only if successive holders'
lock nodes have strictly increasing czxids, which is what these cases check."""

import threading
import time

from kazoo.exceptions import NoNodeError, RuntimeInconsistency

from conftest import EXPIRY_BOUND, SESSION_TIMEOUT
from recipetools import FencedRegister, Inside, run_threads, wait_for


def _token(client, lock):
    return client.exists(lock.path + "/" + lock.node).czxid


def _queued_contender(make_client, zk, lp, name):
    """A new client's lock on `lp`, acquiring in a thread, returned once its node is queued
    behind the holder's: (client, lock, event set when it holds the lock)."""
    client = make_client()
    lock = client.Lock(lp, name)
    got = threading.Event()
    threading.Thread(target=lambda: lock.acquire(timeout=60) and got.set(), daemon=True).start()
    wait_for(lambda: len(zk.get_children(lp)) == 2, timeout=30, what="%s queued" % name)
    return client, lock, got


def test_tokens_strictly_increase_across_holders(make_client, zk, base):
    lp = base + "/lock"
    reg = FencedRegister()
    inside = Inside()
    n_clients, rounds = 8, 5
    clients = [make_client() for _ in range(n_clients)]
    order = []

    def worker(i):
        c = clients[i]
        lock = c.Lock(lp, "h%d" % i)
        for r in range(rounds):
            assert lock.acquire(timeout=60)
            try:
                inside.enter(i)
                tok = _token(c, lock)
                order.append((tok, i, r))
                assert reg.write(tok, "h%d-%d" % (i, r)), "token %d rejected (last %r)" % (tok, reg.last_token)
                inside.leave()
            finally:
                lock.release()

    errors = run_threads([lambda i=i: worker(i) for i in range(n_clients)], timeout=180)
    assert errors == []
    assert inside.violations == []
    assert reg.rejected == []
    assert len(reg.accepted) == n_clients * rounds
    toks = [t for t, _ in reg.accepted]
    assert all(a < b for a, b in zip(toks, toks[1:])), toks
    assert zk.get_children(lp) == []


def test_paused_old_holder_is_fenced_off(actors, make_client, zk, base):
    """Holder A is frozen (SIGSTOP) past its session timeout; B takes the lock with a
    greater token and writes; A resumes, still believing it holds the lock, and writes with
    its old token: the register rejects it. A's kazoo learns that its session is gone."""
    lp = base + "/lock"
    reg = FencedRegister()
    a = actors(name="old-holder")
    line = a.call("lock %s A" % lp, "ACQUIRED").split()
    node_a, tok_a = line[1], int(line[2])
    assert tok_a == zk.exists(lp + "/" + node_a).czxid
    w = a.call("write a1", "WRITE").split()
    assert reg.write(int(w[1]), w[2])

    b, lb, got = _queued_contender(make_client, zk, lp, "B")

    a.call("ping", "PONG")
    t_stop = time.monotonic()
    a.stop()
    try:
        assert not got.wait(0.5 * SESSION_TIMEOUT), "B got the lock while A's session was alive"
        assert got.wait(40), "B never got the lock after A's session should have expired"
        assert 0.95 * SESSION_TIMEOUT <= time.monotonic() - t_stop <= EXPIRY_BOUND
        assert zk.exists(lp + "/" + node_a) is None
        tok_b = _token(b, lb)
        assert tok_b > tok_a
        assert reg.write(tok_b, "b1")
    finally:
        a.cont()
    # A wakes up and writes with the token it was given
    w = a.call("write a2-stale", "WRITE").split()
    assert int(w[1]) == tok_a
    assert reg.write(int(w[1]), w[2]) is False
    assert reg.value == "b1"
    assert reg.rejected == [(tok_a, "a2-stale", tok_b)]
    # and its client finds out that the session (so the lock) is gone
    a.expect("STATE LOST", timeout=30)
    lb.release()
    # a third holder gets a greater token still
    lc = make_client().Lock(lp, "C")
    assert lc.acquire(timeout=30)
    tok_c = lc.client.exists(lp + "/" + lc.node).czxid
    assert tok_c > tok_b
    assert reg.write(tok_c, "c1")
    lc.release()


def _fenced_write(client, lock_node, version, path, value):
    """The fenced write of README "Locks and fencing": check the lock node, then write."""
    t = client.transaction()
    t.check(lock_node, version)
    t.set_data(path, value)
    return t.commit()


def test_paused_holder_fenced_write_is_refused_by_the_server(actors, make_client, zk, base):
    """The same pause, with the protected state inside ZooKeeper: every holder writes it
    through one transaction that first checks its own lock node. A writes; it is frozen
    past its session timeout; B takes the lock and writes the same way; A resumes and
    sends its fenced write: the server refuses it and B's value stays. A fenced write from
    any session that names A's old lock node is refused (the node is gone), and B's lock
    node's czxid is above A's."""
    lp = base + "/lock"
    resource = base + "/resource"
    zk.create(resource, b"init", makepath=True)
    a = actors(name="old-holder")
    node_a, tok_a = a.call("lock %s A" % lp, "ACQUIRED").split()[1:3]
    tok_a = int(tok_a)
    assert a.call("fenced %s a1" % resource, "FENCED").split()[1] == "ok"
    assert zk.get(resource)[0] == b"a1"

    b, lb, got = _queued_contender(make_client, zk, lp, "B")

    a.call("ping", "PONG")
    a.stop()
    try:
        assert got.wait(40), "B never got the lock after A's session should have expired"
        st_b = b.exists(lp + "/" + lb.node)
        assert st_b.czxid > tok_a
        results = _fenced_write(b, lp + "/" + lb.node, st_b.version, resource, b"b1")
        assert not any(isinstance(r, Exception) for r in results), results
    finally:
        a.cont()
    # A wakes up believing it holds the lock: its fenced write is refused by the server
    refused = a.call("fenced %s a2-stale" % resource, "FENCED").split()
    assert refused[1] == "refused", refused
    assert zk.get(resource)[0] == b"b1"
    # a fenced write naming A's old lock node is refused from any session: the node is gone
    results = _fenced_write(zk, lp + "/" + node_a, 0, resource, b"a3-stale")
    assert isinstance(results[0], NoNodeError), results
    # the write after the failed check is not applied (ZooKeeper's code for it: -2)
    assert isinstance(results[1], RuntimeInconsistency), results
    assert zk.get(resource)[0] == b"b1"
    lb.release()
