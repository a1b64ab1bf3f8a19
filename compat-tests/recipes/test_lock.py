"""kazoo Lock, ReadLock and WriteLock under real concurrency: every contender is a separate
KazooClient (a separate session); holders that must die or freeze run in a subprocess."""

import collections
import random
import threading
import time

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.protocol.states import KazooState

from conftest import EXPIRY_BOUND, SESSION_TIMEOUT
from recipetools import FAST_RECONNECT, Inside, retry_call, run_threads, tagged_increment, wait_for


def _bump(client, path):
    """counter += 1 with a versioned setData: a BadVersionError means someone else wrote
    between our read and our write, i.e. two holders at once."""
    data, st = client.get(path)
    time.sleep(0.002)
    client.set(path, str(int(data) + 1).encode(), version=st.version)


def test_lock_mutual_exclusion_counter(make_client, zk, base):
    n_clients, rounds = 12, 8
    lp, cp = base + "/lock", base + "/counter"
    zk.create(cp, b"0")
    clients = [make_client() for _ in range(n_clients)]
    inside = Inside()

    def worker(i):
        c = clients[i]
        lock = c.Lock(lp, "w%d" % i)
        for _ in range(rounds):
            assert lock.acquire(timeout=60)
            try:
                inside.enter(i)
                try:
                    _bump(c, cp)
                finally:
                    inside.leave()
            finally:
                lock.release()

    errors = run_threads([lambda i=i: worker(i) for i in range(n_clients)], timeout=180)
    assert errors == []
    assert inside.violations == [] and inside.max == 1
    assert int(zk.get(cp)[0]) == n_clients * rounds
    assert zk.get_children(lp) == []


def test_lock_latency_one_client(make_client, base, metrics):
    c = make_client()
    lock = c.Lock(base + "/lock", "solo")
    samples = []
    for _ in range(60):
        t0 = time.monotonic()
        assert lock.acquire(timeout=30)
        lock.release()
        samples.append(time.monotonic() - t0)
    metrics.extend("lock_acquire_release_1_client", samples)
    assert c.get_children(base + "/lock") == []


def test_lock_latency_16_clients(make_client, zk, base, metrics):
    n_clients, rounds = 16, 8
    lp = base + "/lock"
    clients = [make_client() for _ in range(n_clients)]
    inside = Inside()
    samples = []
    slock = threading.Lock()
    start = threading.Barrier(n_clients)

    def worker(i):
        lock = clients[i].Lock(lp, "c%d" % i)
        start.wait(30)
        for _ in range(rounds):
            t0 = time.monotonic()
            assert lock.acquire(timeout=60)
            inside.enter(i)
            inside.leave()
            lock.release()
            with slock:
                samples.append(time.monotonic() - t0)

    errors = run_threads([lambda i=i: worker(i) for i in range(n_clients)], timeout=180)
    assert errors == []
    assert inside.violations == []
    assert len(samples) == n_clients * rounds
    metrics.extend("lock_acquire_release_16_clients", samples)
    assert zk.get_children(lp) == []


def test_lock_nonblocking_and_timeout_while_held(make_client, zk, base):
    lp = base + "/lock"
    a, b = make_client(), make_client()
    la, lb = a.Lock(lp, "a"), b.Lock(lp, "b")
    assert la.acquire(timeout=30)

    assert lb.acquire(blocking=False) is False
    # a failed non-blocking attempt leaves no contender node behind
    assert la.contenders() == ["a"]
    assert len(zk.get_children(lp)) == 1

    t0 = time.monotonic()
    with pytest.raises(LockTimeout):
        lb.acquire(timeout=1.0)
    waited = time.monotonic() - t0
    assert 0.9 <= waited < 15, waited
    assert la.contenders() == ["a"]
    assert len(zk.get_children(lp)) == 1
    assert la.is_acquired and not lb.is_acquired

    la.release()
    assert lb.acquire(timeout=30)
    assert la.acquire(blocking=False) is False
    lb.release()
    assert zk.get_children(lp) == []


def test_lock_fifo_fairness(make_client, zk, base):
    """Waiters get the lock in the order they queued (sequence order)."""
    lp = base + "/lock"
    holder = make_client()
    hl = holder.Lock(lp, "holder")
    assert hl.acquire(timeout=30)
    n = 6
    clients = [make_client() for _ in range(n)]
    order = []
    threads = []
    for i in range(n):
        lock = clients[i].Lock(lp, "w%d" % i)

        def wait_turn(lock=lock, i=i):
            assert lock.acquire(timeout=90)
            order.append(i)
            lock.release()

        t = threading.Thread(target=wait_turn, daemon=True)
        t.start()
        threads.append(t)
        # queue the next waiter only once this one's node is in place
        wait_for(lambda i=i: len(zk.get_children(lp)) == i + 2, timeout=30, what="waiter %d queued" % i)
    assert hl.contenders() == ["holder"] + ["w%d" % i for i in range(n)]
    time.sleep(0.3)
    assert order == []
    hl.release()
    for t in threads:
        t.join(60)
    assert order == list(range(n))
    assert zk.get_children(lp) == []


def test_read_write_lock(make_client, zk, base):
    lp = base + "/rw"
    readers = [make_client() for _ in range(4)]
    rlocks = [c.ReadLock(lp, "r%d" % i) for i, c in enumerate(readers)]
    # readers hold together
    all_in = threading.Barrier(len(rlocks))
    release_readers = threading.Event()

    def read(rl):
        assert rl.acquire(timeout=30)
        all_in.wait(30)  # breaks (BrokenBarrierError) unless all readers hold at once
        release_readers.wait(60)
        rl.release()

    rthreads = [threading.Thread(target=read, args=(rl,), daemon=True) for rl in rlocks]
    for t in rthreads:
        t.start()
    wait_for(lambda: all(rl.is_acquired for rl in rlocks), timeout=30, what="4 readers holding")

    wc = make_client()
    wl = wc.WriteLock(lp, "writer")
    assert wl.acquire(blocking=False) is False
    got_w = threading.Event()

    def write():
        assert wl.acquire(timeout=60)
        got_w.set()

    wt = threading.Thread(target=write, daemon=True)
    wt.start()
    wait_for(lambda: len(zk.get_children(lp)) == 5, timeout=30, what="writer queued")
    time.sleep(0.5)
    assert not got_w.is_set(), "writer got the lock while 4 readers held it"
    release_readers.set()
    for t in rthreads:
        t.join(30)
    assert got_w.wait(30)
    wt.join(30)

    # the writer excludes readers and other writers
    late_reader = make_client().ReadLock(lp, "late")
    other_writer = make_client().WriteLock(lp, "w2")
    assert late_reader.acquire(blocking=False) is False
    assert other_writer.acquire(blocking=False) is False
    wl.release()
    assert late_reader.acquire(timeout=30)
    assert other_writer.acquire(blocking=False) is False
    late_reader.release()
    assert zk.get_children(lp) == []


def test_read_write_lock_stress(make_client, zk, base):
    lp = base + "/rw"
    state = {"readers": 0, "writers": 0, "max_readers": 0}
    bad = []
    g = threading.Lock()

    def reader(c, i):
        rl = c.ReadLock(lp, "r%d" % i)
        for _ in range(6):
            assert rl.acquire(timeout=60)
            with g:
                if state["writers"]:
                    bad.append("reader %d inside with a writer" % i)
                state["readers"] += 1
                state["max_readers"] = max(state["max_readers"], state["readers"])
            time.sleep(0.02)
            with g:
                state["readers"] -= 1
            rl.release()

    def writer(c, i):
        wl = c.WriteLock(lp, "w%d" % i)
        for _ in range(4):
            assert wl.acquire(timeout=60)
            with g:
                if state["writers"] or state["readers"]:
                    bad.append("writer %d inside with %r" % (i, dict(state)))
                state["writers"] += 1
            time.sleep(0.01)
            with g:
                state["writers"] -= 1
            wl.release()

    targets = [lambda c=make_client(), i=i: reader(c, i) for i in range(5)]
    targets += [lambda c=make_client(), i=i: writer(c, i) for i in range(3)]
    errors = run_threads(targets, timeout=180)
    assert errors == []
    assert bad == []
    assert zk.get_children(lp) == []


def test_lock_released_when_holder_session_expires(actors, make_client, zk, base):
    """Holder SIGKILLed without closing: its lock stays held until its session expires
    (timeout 4000 ms), then the waiter gets it."""
    lp = base + "/lock"
    holder = actors(name="holder")
    node = holder.call("lock %s holder" % lp, "ACQUIRED").split()[1]
    w = make_client()
    wl = w.Lock(lp, "waiter")
    assert wl.acquire(blocking=False) is False

    holder.call("ping", "PONG")  # the session's last request: now
    t_kill = time.monotonic()
    holder.kill()
    got = {}

    def wait_lock():
        if wl.acquire(timeout=40):
            got["t"] = time.monotonic()

    t = threading.Thread(target=wait_lock, daemon=True)
    t.start()
    time.sleep(max(0.0, t_kill + 0.75 * SESSION_TIMEOUT - time.monotonic()))
    assert "t" not in got, "lock acquired %.2f s after the holder died (session timeout %.1f s)" % (
        got["t"] - t_kill, SESSION_TIMEOUT)
    assert zk.exists(lp + "/" + node) is not None
    t.join(45)
    assert "t" in got, "lock never acquired after the holder's session should have expired"
    elapsed = got["t"] - t_kill
    assert 0.95 * SESSION_TIMEOUT <= elapsed <= EXPIRY_BOUND, "lock acquired %.2f s after the holder died" % elapsed
    assert zk.exists(lp + "/" + node) is None
    assert wl.contenders() == ["waiter"]
    wl.release()


def test_lock_kept_while_holder_frozen_less_than_timeout(actors, make_client, zk, base):
    """SIGSTOP the holder for half its session timeout: when it resumes it still holds."""
    lp = base + "/lock"
    holder = actors(name="holder")
    node = holder.call("lock %s holder" % lp, "ACQUIRED").split()[1]
    wl = make_client().Lock(lp, "waiter")
    holder.call("ping", "PONG")
    holder.stop()
    try:
        time.sleep(0.5 * SESSION_TIMEOUT)
        assert zk.exists(lp + "/" + node) is not None
        assert wl.acquire(blocking=False) is False
    finally:
        holder.cont()
    # well past the original deadline: the resumed client kept its session alive
    time.sleep(0.75 * SESSION_TIMEOUT)
    assert holder.call("held", "HELD").split()[1] == "yes"
    assert not holder.saw("STATE LOST")
    assert wl.acquire(blocking=False) is False
    assert holder.call("session", "SESSION").split()[1] == "%x" % holder.session
    holder.call("release", "RELEASED")
    assert wl.acquire(timeout=30)
    wl.release()


def test_lock_kept_when_holder_connection_breaks(actors, proxy, make_client, zk, base):
    """Cut the holder's TCP connection (through a proxy) and keep it down for half the
    session timeout: the session, hence the lock, survives; the holder reconnects and
    still holds it."""
    lp = base + "/lock"
    p = proxy()
    holder = actors(hosts=p.hostport, name="holder", fast_reconnect=True)
    node = holder.call("lock %s holder" % lp, "ACQUIRED").split()[1]
    wl = make_client().Lock(lp, "waiter")
    assert wl.acquire(blocking=False) is False

    holder.call("ping", "PONG")
    p.block()
    assert p.cut() >= 1
    try:
        holder.expect("STATE SUSPENDED", timeout=10)
        time.sleep(0.5 * SESSION_TIMEOUT)
        assert zk.exists(lp + "/" + node) is not None
        assert wl.acquire(blocking=False) is False
    finally:
        p.unblock()
    state = holder.expect("STATE", timeout=10)
    assert state == "STATE CONNECTED", "holder went %s after a %.1f s disconnection" % (state, 0.5 * SESSION_TIMEOUT)
    assert holder.call("held", "HELD").split()[1] == "yes"
    assert holder.call("session", "SESSION").split()[1] == "%x" % holder.session
    assert wl.acquire(blocking=False) is False
    holder.call("release", "RELEASED")
    assert wl.acquire(timeout=30)
    wl.release()
    assert zk.get_children(lp) == []



def test_lock_under_repeated_connection_cuts(proxy, make_client, zk, base):
    """Half the contenders go through a proxy that resets their connections every few
    hundred ms (requests in flight included); their sessions survive, so kazoo resumes
    them and finds its own lock node again. Never two holders, the counter exact, no
    lock node left behind."""
    lp, cp = base + "/lock", base + "/counter"
    zk.create(cp, b"0:init")
    p = proxy()
    n_direct, n_cut, rounds, min_cuts = 4, 4, 5, 20
    clients = [make_client() for _ in range(n_direct)]
    clients += [make_client(hosts=p.hostport, connection_retry=FAST_RECONNECT) for _ in range(n_cut)]
    suspended, lost = collections.Counter(), []

    def listener(state, i):
        if state == KazooState.SUSPENDED:
            suspended.update([i])
        elif state == KazooState.LOST:
            lost.append(i)

    for i, c in enumerate(clients):
        c.add_listener(lambda s, i=i: listener(s, i))
    inside = Inside()
    values = []
    g = threading.Lock()
    stop_chaos = threading.Event()
    cuts = []

    def chaos():
        rng = random.Random(11)
        while not stop_chaos.wait(rng.uniform(0.1, 0.3)):
            cuts.append(p.cut())

    def worker(i):
        c = clients[i]
        lock = c.Lock(lp, "w%d" % i)
        r = 0
        while r < rounds or len(cuts) < min_cuts:  # at least `rounds`, and until enough cuts
            r += 1
            assert lock.acquire(timeout=90)
            try:
                inside.enter(i)
                try:
                    v = tagged_increment(c, cp, b"w%d-%d" % (i, r))
                finally:
                    inside.leave()
            finally:
                retry_call(lock.release)
            with g:
                values.append(v)

    ct = threading.Thread(target=chaos, daemon=True)
    ct.start()
    try:
        errors = run_threads([lambda i=i: worker(i) for i in range(len(clients))], timeout=200)
    finally:
        stop_chaos.set()
        ct.join(10)
    assert errors == []
    assert inside.violations == []
    # connections were really cut, in flight too: every proxied client lost its connection
    assert all(suspended[i] >= 1 for i in range(n_direct, len(clients))), (suspended, cuts)
    print("connection cuts: %d rounds, %d connections reset, %d increments; suspensions per client %r"
          % (len(cuts), sum(cuts), len(values), dict(suspended)))
    total = len(values)
    assert total >= len(clients) * rounds
    assert sorted(values) == list(range(1, total + 1))
    assert int(zk.get(cp)[0].split(b":")[0]) == total
    assert zk.get_children(lp) == []
    wait_for(lambda: all(c.connected for c in clients), timeout=15, what="every client connected")
    assert lost == [], "sessions lost: %r" % lost


def test_lock_queue_with_many_dead_contenders(actors, make_client, zk, base):
    """Queue: A0 (holder), A1, M, A2, A3, L where the A's are subprocesses SIGKILLed at
    once: their sessions expire together; the live waiters get the lock in queue order
    (M, then L), one at a time, and the lock directory ends empty."""
    lp = base + "/lock"
    acts = [actors(name="a%d" % i) for i in range(4)]
    acts[0].call("lock %s a0" % lp, "ACQUIRED")
    order, inside = [], Inside()
    threads = []

    def queue_live(name):
        lock = make_client().Lock(lp, name)

        def run():
            assert lock.acquire(timeout=60)
            inside.enter(name)
            order.append(name)
            time.sleep(0.2)
            inside.leave()
            lock.release()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        threads.append(t)

    def queue_actor(i):
        acts[i].send("lock %s a%d" % (lp, i))  # blocks inside the actor until killed

    for step, what in enumerate([lambda: queue_actor(1), lambda: queue_live("M"),
                                 lambda: queue_actor(2), lambda: queue_actor(3),
                                 lambda: queue_live("L")]):
        what()
        wait_for(lambda step=step: len(zk.get_children(lp)) == step + 2, timeout=30, what="contender queued")
    assert acts[0].call("held", "HELD").split()[1] == "yes"
    acts[0].call("ping", "PONG")  # the others are blocked in acquire()
    t_kill = time.monotonic()
    for a in acts:
        a.kill()
    time.sleep(0.75 * SESSION_TIMEOUT)
    assert order == []
    for t in threads:
        t.join(45)
    assert order == ["M", "L"]
    assert inside.violations == []
    assert time.monotonic() - t_kill >= 0.95 * SESSION_TIMEOUT
    assert zk.get_children(lp) == []
