"""kazoo's recipes, which combine sequential ephemerals, watches and versioned
writes the way applications do."""

import threading

from helpers import wait_for


def test_lock_mutual_exclusion(make_client, base):
    a, b = make_client(), make_client()
    la = a.Lock(base + "/lock", "a")
    lb = b.Lock(base + "/lock", "b")
    assert la.acquire(timeout=30)
    assert lb.acquire(blocking=False) is False
    assert set(la.contenders()) == {"a"}
    got = threading.Event()

    def waiter():
        if lb.acquire(timeout=60):
            got.set()

    t = threading.Thread(target=waiter)
    t.start()
    wait_for(lambda: set(la.contenders()) == {"a", "b"}, timeout=30, what="b contending")
    assert not got.is_set()
    la.release()
    assert got.wait(30)
    t.join(30)
    assert lb.contenders() == ["b"]
    lb.release()
    assert a.get_children(base + "/lock") == []


def test_lock_released_when_holder_session_closes(make_client, base):
    a, b = make_client(), make_client()
    la = a.Lock(base + "/lock")
    assert la.acquire(timeout=30)
    lb = b.Lock(base + "/lock")
    assert lb.acquire(blocking=False) is False
    a.stop()  # the holder's ephemeral lock node goes with its session
    assert lb.acquire(timeout=30)
    lb.release()


def test_counter_concurrent_increments(make_client, base):
    clients = [make_client() for _ in range(3)]
    errors = []

    def bump(c):
        try:
            counter = c.Counter(base + "/counter")
            for _ in range(20):
                counter += 1
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=bump, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert clients[0].Counter(base + "/counter").value == 60


def test_election(make_client, base):
    a, b = make_client(), make_client()
    leader = []
    release_a = threading.Event()

    def lead_a():
        leader.append("a")
        release_a.wait(60)

    def lead_b():
        leader.append("b")

    ea = a.Election(base + "/election", "a")
    eb = b.Election(base + "/election", "b")
    ta = threading.Thread(target=ea.run, args=(lead_a,))
    ta.start()
    wait_for(lambda: leader == ["a"], timeout=30, what="a leads")
    tb = threading.Thread(target=eb.run, args=(lead_b,))
    tb.start()
    wait_for(lambda: set(ea.contenders()) == {"a", "b"}, timeout=30, what="b contending")
    assert leader == ["a"]
    release_a.set()
    ta.join(30)
    tb.join(30)
    assert leader == ["a", "b"]


def test_queue_fifo(make_client, base):
    a, b = make_client(), make_client()
    q = a.Queue(base + "/queue")
    for i in range(5):
        q.put(("item-%d" % i).encode())
    assert len(q) == 5
    qb = b.Queue(base + "/queue")
    assert [qb.get() for _ in range(5)] == [("item-%d" % i).encode() for i in range(5)]
    assert qb.get() is None


def test_children_watch_recipe(make_client, zk, base):
    seen = []
    cond = threading.Condition()

    def on_children(children):
        with cond:
            seen.append(sorted(children))
            cond.notify_all()

    zk.ChildrenWatch(base, on_children)
    other = make_client()
    other.create(base + "/a")
    other.create(base + "/b")
    other.delete(base + "/a")
    with cond:
        assert cond.wait_for(lambda: seen and seen[-1] == ["b"], 30), seen
    assert seen[0] == []


def test_data_watch_recipe(make_client, zk, base):
    p = base + "/dw"
    seen = []
    cond = threading.Condition()

    def on_data(data, stat):
        with cond:
            seen.append((data, stat.version if stat else None))
            cond.notify_all()

    zk.DataWatch(p, on_data)
    other = make_client()
    other.create(p, b"v0")
    other.set(p, b"v1")
    with cond:
        assert cond.wait_for(lambda: seen and seen[-1] == (b"v1", 1), 30), seen
    other.delete(p)
    with cond:
        assert cond.wait_for(lambda: seen[-1] == (None, None), 30), seen
    assert seen[0] == (None, None)
