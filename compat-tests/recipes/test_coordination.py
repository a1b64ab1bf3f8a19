"""kazoo Semaphore, Barrier, DoubleBarrier, Counter, Queue, LockingQueue, Party and
ShallowParty, each contender on its own session."""

import collections
import random
import threading
import time

from conftest import EXPIRY_BOUND, SESSION_TIMEOUT
from recipetools import Inside, run_threads, wait_for


# ------------------------------------------------------------------ Semaphore

def test_semaphore_never_more_than_max_leases(make_client, zk, base):
    sp = base + "/sem"
    max_leases, n_clients, rounds = 3, 9, 3
    clients = [make_client() for _ in range(n_clients)]
    inside = Inside()
    rng = random.Random(7)
    holds = [[rng.uniform(0.02, 0.12) for _ in range(rounds)] for _ in range(n_clients)]

    def worker(i):
        sem = clients[i].Semaphore(sp, "s%d" % i, max_leases=max_leases)
        for r in range(rounds):
            assert sem.acquire(timeout=60)
            inside.enter(i, limit=max_leases)
            assert len(sem.lease_holders()) <= max_leases
            time.sleep(holds[i][r])
            inside.leave()
            sem.release()

    errors = run_threads([lambda i=i: worker(i) for i in range(n_clients)], timeout=180)
    assert errors == []
    assert inside.violations == []
    assert 1 <= inside.max <= max_leases
    assert zk.get_children(sp) == []
    assert zk.get(sp)[0] == b"3"


def test_semaphore_full_then_freed(make_client, zk, base):
    sp = base + "/sem"
    sems = [make_client().Semaphore(sp, "s%d" % i, max_leases=2) for i in range(3)]
    assert sems[0].acquire(timeout=30)
    assert sems[1].acquire(timeout=30)
    assert sorted(sems[2].lease_holders()) == ["s0", "s1"]
    assert sems[2].acquire(blocking=False) is False
    got = threading.Event()
    t = threading.Thread(target=lambda: sems[2].acquire(timeout=60) and got.set(), daemon=True)
    t.start()
    assert not got.wait(0.5)
    sems[0].release()
    assert got.wait(30)
    t.join(30)
    assert sorted(sems[2].lease_holders()) == ["s1", "s2"]
    sems[1].release()
    sems[2].release()
    assert zk.get_children(sp) == []


# ------------------------------------------------------------------ Barrier

def test_barrier_blocks_until_removed(make_client, zk, base):
    bp = base + "/barrier"
    zk.Barrier(bp).create()
    n = 5
    clients = [make_client() for _ in range(n)]
    passed = []
    g = threading.Lock()

    def waiter(i):
        ok = clients[i].Barrier(bp).wait(timeout=60)
        with g:
            passed.append((i, ok, time.monotonic()))

    threads = [threading.Thread(target=waiter, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    assert clients[0].Barrier(bp).wait(timeout=0.5) is False
    time.sleep(0.3)
    assert passed == []
    t_remove = time.monotonic()
    assert zk.Barrier(bp).remove() is True
    for t in threads:
        t.join(30)
    assert sorted(i for i, ok, _ in passed) == list(range(n))
    assert all(ok for _, ok, _ in passed)
    assert all(t >= t_remove for _, _, t in passed)
    assert zk.Barrier(bp).wait(timeout=1) is True  # no barrier: passes at once
    assert zk.Barrier(bp).remove() is False


def test_double_barrier(make_client, zk, base):
    bp = base + "/dbarrier"
    n = 5
    clients = [make_client() for _ in range(n)]
    arrived, entered, leaving, left = [], [], [], []
    bad = []
    g = threading.Lock()

    def member(i):
        db = clients[i].DoubleBarrier(bp, n, identifier="m%d" % i)
        time.sleep(0.15 * i)  # staggered arrivals
        with g:
            arrived.append(i)
        db.enter()
        assert db.participating, "member %d failed to enter" % i
        with g:
            if len(arrived) != n:
                bad.append("member %d entered with only %d arrived" % (i, len(arrived)))
            entered.append(i)
        time.sleep(0.1 * (n - i))  # staggered work
        with g:
            leaving.append(i)
        db.leave()
        with g:
            if len(leaving) != n:
                bad.append("member %d left with only %d leaving" % (i, len(leaving)))
            left.append(i)

    errors = run_threads([lambda i=i: member(i) for i in range(n)], timeout=120)
    assert errors == []
    assert bad == []
    assert sorted(entered) == sorted(left) == list(range(n))
    assert zk.get_children(bp) == []


# ------------------------------------------------------------------ Counter

def test_counter_concurrent_increments_sum_exactly(make_client, zk, base):
    cp = base + "/counter"
    n_clients, rounds = 8, 25
    clients = [make_client() for _ in range(n_clients)]

    def bump(i):
        counter = clients[i].Counter(cp)
        for r in range(rounds):
            if i % 4 == 3 and r % 5 == 0:
                counter -= 1
                counter += 2
            else:
                counter += 1

    errors = run_threads([lambda i=i: bump(i) for i in range(n_clients)], timeout=180)
    assert errors == []
    assert zk.Counter(cp).value == n_clients * rounds
    assert zk.get(cp)[0] == str(n_clients * rounds).encode()


def test_counter_float_and_pre_post_values(make_client, base):
    a, b = make_client(), make_client()
    ca = a.Counter(base + "/f", default=0.0)
    ca += 2.5
    assert (ca.pre_value, ca.post_value) == (0.0, 2.5)
    cb = b.Counter(base + "/f", default=0.0)
    cb -= 1.0
    assert (cb.pre_value, cb.post_value) == (2.5, 1.5)
    assert ca.value == 1.5


# ------------------------------------------------------------------ Queue

def test_queue_every_item_exactly_once(make_client, zk, base):
    qp = base + "/queue"
    n_prod, per_prod, n_cons = 3, 30, 4
    producers = [make_client() for _ in range(n_prod)]
    consumers = [make_client() for _ in range(n_cons)]
    got = collections.Counter()
    done_producing = threading.Event()
    produced = []
    g = threading.Lock()

    def produce(i):
        q = producers[i].Queue(qp)
        for k in range(per_prod):
            q.put(("p%d-%d" % (i, k)).encode())
            with g:
                produced.append(1)
        with g:
            if len(produced) == n_prod * per_prod:
                done_producing.set()

    def consume(i):
        q = consumers[i].Queue(qp)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            item = q.get()
            if item is None:
                if done_producing.is_set() and len(q) == 0:
                    return
                time.sleep(0.01)
                continue
            with g:
                got[item.decode()] += 1

    targets = [lambda i=i: produce(i) for i in range(n_prod)]
    targets += [lambda i=i: consume(i) for i in range(n_cons)]
    errors = run_threads(targets, timeout=180)
    assert errors == []
    expected = {"p%d-%d" % (i, k) for i in range(n_prod) for k in range(per_prod)}
    assert set(got) == expected
    dups = {k: v for k, v in got.items() if v != 1}
    assert dups == {}
    assert zk.get_children(qp) == []


def test_queue_priority_then_fifo(make_client, base):
    a, b = make_client(), make_client()
    q = a.Queue(base + "/q")
    q.put(b"low-1", priority=200)
    q.put(b"high-1", priority=10)
    q.put(b"low-2", priority=200)
    q.put(b"high-2", priority=10)
    q.put(b"mid", priority=100)
    assert len(q) == 5
    qb = b.Queue(base + "/q")
    assert [qb.get() for _ in range(5)] == [b"high-1", b"high-2", b"mid", b"low-1", b"low-2"]
    assert qb.get() is None


# ------------------------------------------------------------------ LockingQueue

def test_locking_queue_every_item_exactly_once(make_client, zk, base):
    qp = base + "/lq"
    n_items, n_cons = 40, 4
    prod = make_client()
    pq = prod.LockingQueue(qp)
    items = [("item-%02d" % k).encode() for k in range(n_items)]
    pq.put_all(items[:20])
    for it in items[20:]:
        pq.put(it)
    assert len(pq) == n_items
    consumers = [make_client() for _ in range(n_cons)]
    got = collections.Counter()
    g = threading.Lock()

    def consume(i):
        q = consumers[i].LockingQueue(qp)
        while True:
            item = q.get(timeout=2.0)
            if item is None:
                return
            assert q.holds_lock()
            with g:
                got[item] += 1
            assert q.consume()

    errors = run_threads([lambda i=i: consume(i) for i in range(n_cons)], timeout=180)
    assert errors == []
    assert set(got) == set(items)
    assert {k: v for k, v in got.items() if v != 1} == {}
    assert len(pq) == 0
    assert zk.get_children(qp + "/taken") == []


def test_locking_queue_item_redelivered_when_consumer_dies(make_client, zk, base):
    qp = base + "/lq"
    a, b = make_client(), make_client()
    a.LockingQueue(qp).put_all([b"x", b"y"])
    qa = a.LockingQueue(qp)
    assert qa.get(timeout=10) == b"x"  # a locks x ...
    qb = b.LockingQueue(qp)
    assert qb.get(timeout=10) == b"y"  # ... so b gets y
    assert qb.consume()
    qb2 = b.LockingQueue(qp)
    assert qb2.get(timeout=0.5) is None  # x is locked by a
    a.stop()  # a dies before consuming x: its lock (ephemeral) goes
    assert qb2.get(timeout=10) == b"x"
    assert qb2.consume()
    assert len(qb2) == 0


def test_locking_queue_release_puts_item_back(make_client, base):
    qp = base + "/lq"
    a, b = make_client(), make_client()
    qa = a.LockingQueue(qp)
    qa.put(b"only")
    assert qa.get(timeout=10) == b"only"
    qb = b.LockingQueue(qp)
    assert qb.get(timeout=0.5) is None
    assert qa.release()
    assert qb.get(timeout=10) == b"only"
    assert qb.consume()
    assert len(qb) == 0


# ------------------------------------------------------------------ Party / ShallowParty

def _party_case(kind, make_client, actors, zk, base):
    pp = base + "/party"
    clients = [make_client() for _ in range(4)]
    make = {"party": lambda c, ident: c.Party(pp, ident),
            "shallow": lambda c, ident: c.ShallowParty(pp, ident)}[kind]
    parties = [make(c, "m%d" % i) for i, c in enumerate(clients)]
    for p in parties:
        p.join()
    dead = actors(name="member")
    dead.call("party %s %s dead" % (kind, pp), "JOINED")
    view = make(zk, "observer")
    expect = {"m0", "m1", "m2", "m3", "dead"}
    assert set(view) == expect and len(view) == 5

    parties[0].leave()  # leaves explicitly
    expect.discard("m0")
    assert set(view) == expect and len(view) == 4
    clients[1].stop()  # closes its session
    expect.discard("m1")
    assert set(view) == expect and len(view) == 4 - 1

    dead.call("ping", "PONG")
    t_kill = time.monotonic()
    dead.kill()  # its session expires
    time.sleep(0.5 * SESSION_TIMEOUT)
    assert "dead" in set(view)
    expect.discard("dead")
    wait_for(lambda: set(view) == expect, timeout=40, what="the dead member to vanish")
    assert 0.95 * SESSION_TIMEOUT <= time.monotonic() - t_kill <= EXPIRY_BOUND
    assert len(view) == 2
    for p in parties[2:]:
        p.leave()
    assert len(view) == 0
    assert zk.get_children(pp) == []


def test_party_members_vanish_with_their_session(make_client, actors, zk, base):
    _party_case("party", make_client, actors, zk, base)


def test_shallow_party_members_vanish_with_their_session(make_client, actors, zk, base):
    _party_case("shallow", make_client, actors, zk, base)
