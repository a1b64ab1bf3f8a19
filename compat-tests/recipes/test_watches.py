"""Watch-based recipes: configuration management with DataWatch, a service registry with
ChildrenWatch over ephemeral nodes, and what kazoo users rely on across a reconnect.

kazoo 2.11 never sends setWatches: the server-side watches of a connection die with it.
DataWatch and ChildrenWatch re-arm by reading again when the client is CONNECTED again;
a bare one-shot watch set with get(..., watch=f) is simply gone (ZooKeeper removes a
connection's watches when the connection closes)."""

import threading
import time

from kazoo.protocol.states import KazooState
from kazoo.recipe.cache import TreeCache

from conftest import EXPIRY_BOUND, SESSION_TIMEOUT
from recipetools import FAST_RECONNECT, run_threads, wait_for


class Seen:
    """Records DataWatch callbacks: (data, version or None, time)."""

    def __init__(self):
        self.items = []
        self.stats = []
        self.cond = threading.Condition()

    def __call__(self, data, stat):
        with self.cond:
            self.items.append((data, stat.version if stat else None, time.monotonic()))
            self.stats.append(stat)
            self.cond.notify_all()

    def wait_last(self, data, timeout=30.0):
        with self.cond:
            ok = self.cond.wait_for(lambda: self.items and self.items[-1][0] == data, timeout)
        assert ok, "expected last data %r, saw %r" % (data, [(d, v) for d, v, _ in self.items])
        return self.items[-1]

    def pairs(self):
        with self.cond:
            return [(d, v) for d, v, _ in self.items]


def test_config_every_change_seen_in_order(make_client, zk, base, metrics):
    """Each configuration change (the writer waits until it is seen, as config changes are
    rare) reaches every watcher, in order, none twice; latency from the setData reply to
    the DataWatch callback is reported."""
    cfg = base + "/config"
    zk.create(cfg, b"v0")
    seen = [Seen() for _ in range(3)]
    for s in seen:
        make_client().DataWatch(cfg, s)
    for s in seen:
        s.wait_last(b"v0")
    writer = make_client()
    n = 40
    lat, lat_call, early = [], [], 0
    for v in range(1, n + 1):
        t_call = time.monotonic()
        wst = writer.set(cfg, b"v%d" % v)
        t_done = time.monotonic()
        for s in seen:
            _, ver, t_cb = s.wait_last(b"v%d" % v)
            assert ver == v
            assert s.stats[-1] == wst  # what the watcher read is what the writer's reply said
            if t_cb < t_done:
                early += 1  # the watcher's callback ran before the writer got its reply
            lat.append(max(0.0, t_cb - t_done))
            lat_call.append(t_cb - t_call)
    metrics.extend("notification_latency", lat)
    metrics.extend("notification_latency_from_call", lat_call)
    metrics.note("notification_callbacks_before_reply", early)
    for s in seen:
        assert s.pairs() == [(b"v%d" % v, v) for v in range(n + 1)]


def test_config_burst_never_goes_backwards(make_client, zk, base):
    """Changes written back to back: a DataWatch may skip intermediate versions, but what it
    sees only moves forward and ends at the last version, with the data of that version."""
    cfg = base + "/config"
    zk.create(cfg, b"b0")
    seen = [Seen() for _ in range(3)]
    for s in seen:
        make_client().DataWatch(cfg, s)
    for s in seen:
        s.wait_last(b"b0")
    writer = make_client()
    n = 60
    for v in range(1, n + 1):
        writer.set(cfg, b"b%d" % v)
    for s in seen:
        s.wait_last(b"b%d" % n)
        pairs = s.pairs()
        versions = [ver for _, ver in pairs]
        assert all(a < b for a, b in zip(versions, versions[1:])), versions
        assert all(d == b"b%d" % ver for d, ver in pairs), pairs


def test_service_registry_instances_vanish_with_their_session(make_client, actors, zk, base):
    sp = base + "/services/web"
    zk.ensure_path(sp)
    views = []
    cond = threading.Condition()

    def on_children(children):
        with cond:
            views.append(set(children))
            cond.notify_all()

    make_client().ChildrenWatch(sp, on_children)

    def wait_view(expect, timeout=30.0):
        with cond:
            ok = cond.wait_for(lambda: views and views[-1] == expect, timeout)
        assert ok, "registry view %r, expected %r" % (views[-1:], expect)

    wait_view(set())
    insts = [make_client() for _ in range(3)]
    for i, c in enumerate(insts):
        c.create(sp + "/inst-%d" % i, b"127.0.0.1:%d" % (8000 + i), ephemeral=True)
    dead = actors(name="instance")
    dead.call("register %s/inst-dead 127.0.0.1:8999" % sp, "REGISTERED")
    everyone = {"inst-0", "inst-1", "inst-2", "inst-dead"}
    wait_view(everyone)
    assert zk.get(sp + "/inst-2")[0] == b"127.0.0.1:8002"
    assert zk.exists(sp + "/inst-1").ephemeralOwner == insts[1].client_id[0]

    insts[0].delete(sp + "/inst-0")  # deregisters
    wait_view(everyone - {"inst-0"})
    insts[1].stop()  # closes its session
    wait_view(everyone - {"inst-0", "inst-1"})

    dead.call("ping", "PONG")
    t_kill = time.monotonic()
    dead.kill()  # crashes: gone once its session expires, not before
    time.sleep(0.5 * SESSION_TIMEOUT)
    with cond:
        assert "inst-dead" in views[-1]
    wait_view({"inst-2"}, timeout=40)
    assert 0.95 * SESSION_TIMEOUT <= time.monotonic() - t_kill <= EXPIRY_BOUND

    insts[1].start(timeout=30)  # comes back on a new session
    insts[1].create(sp + "/inst-1", b"127.0.0.1:8001", ephemeral=True)
    wait_view({"inst-1", "inst-2"})
    insts[1].stop()
    insts[2].stop()
    wait_view(set())


def _states(client):
    states = []
    cond = threading.Condition()

    def listener(state):
        with cond:
            states.append(state)
            cond.notify_all()

    client.add_listener(listener)

    def wait(state, timeout=15.0):
        with cond:
            ok = cond.wait_for(lambda: states and states[-1] == state, timeout)
        assert ok, "client states %r, expected %s" % (states, state)

    return states, wait


def _force_reconnect(p, wait_state, down=0.25 * SESSION_TIMEOUT, while_down=None):
    p.block()
    assert p.cut() >= 1
    wait_state(KazooState.SUSPENDED)
    if while_down:
        while_down()
    time.sleep(down)
    p.unblock()
    wait_state(KazooState.CONNECTED)


def test_data_and_children_watch_after_forced_reconnect(proxy, make_client, zk, base):
    path = base + "/cfg"
    p = proxy()
    w = make_client(hosts=p.hostport, connection_retry=FAST_RECONNECT)
    states, wait_state = _states(w)
    sid = w.client_id[0]
    seen = Seen()
    w.DataWatch(path, seen)
    kids = []
    kcond = threading.Condition()

    def on_children(children):
        with kcond:
            kids.append(sorted(children))
            kcond.notify_all()

    w.ChildrenWatch(base, on_children)
    seen.wait_last(None)
    zk.create(path, b"a")
    seen.wait_last(b"a")

    _force_reconnect(p, wait_state, while_down=lambda: (zk.set(path, b"b-while-down"),
                                                        zk.create(base + "/k1")))
    assert w.client_id[0] == sid  # the same session, resumed
    assert KazooState.LOST not in states
    seen.wait_last(b"b-while-down")  # caught up by re-reading
    with kcond:
        assert kcond.wait_for(lambda: kids and kids[-1] == ["cfg", "k1"], 30), kids

    # the watches are armed again on the new connection
    zk.set(path, b"c")
    seen.wait_last(b"c")
    zk.create(base + "/k2")
    with kcond:
        assert kcond.wait_for(lambda: kids and kids[-1] == ["cfg", "k1", "k2"], 30), kids

    # a second reconnect with nothing changed while down, then a change
    _force_reconnect(p, wait_state)
    zk.set(path, b"d")
    seen.wait_last(b"d")
    zk.delete(path)
    seen.wait_last(None)
    datas = [d for d, _ in seen.pairs()]
    assert datas == [None, b"a", b"b-while-down", b"c", b"d", None], datas


def test_plain_watch_not_carried_over_a_reconnect(proxy, make_client, zk, base):
    """kazoo does not send setWatches, and ZooKeeper drops a connection's watches when the
    connection closes: a one-shot watch set before the reconnect never sees the later
    change. (kazoo itself hands it one NONE/CONNECTING session event when the connection
    drops and forgets it; a watch set after the reconnect fires.)"""
    path = base + "/n"
    zk.create(path, b"0")
    p = proxy()
    w = make_client(hosts=p.hostport, connection_retry=FAST_RECONNECT)
    _, wait_state = _states(w)
    before = []
    w.get(path, watch=before.append)
    _force_reconnect(p, wait_state)
    after = threading.Event()
    w.exists(base + "/marker", watch=lambda e: after.set())
    zk.set(path, b"1")
    zk.create(base + "/marker")  # its event comes after any event for path on this connection
    assert after.wait(30)
    time.sleep(0.2)
    assert [(e.type, e.state) for e in before] == [("NONE", "CONNECTING")], before
    again = threading.Event()
    w.get(path, watch=lambda e: again.set())
    zk.set(path, b"2")
    assert again.wait(30)


def _server_tree(client, root):
    out = {}

    def walk(p):
        data, _ = client.get(p)
        out[p] = data
        for child in client.get_children(p):
            walk(p + "/" + child)

    walk(root)
    return out


def _cache_tree(cache, root):
    out = {}

    def walk(p):
        nd = cache.get_data(p)
        if nd is None:
            return
        out[p] = nd.data
        for child in cache.get_children(p) or ():
            walk(p + "/" + child)

    walk(root)
    return out


def test_tree_cache_converges_across_concurrent_writes_and_reconnect(proxy, make_client, zk, base):
    """kazoo TreeCache (data and child watches on a whole subtree) mirrors the server's
    tree while other sessions write concurrently, including across a forced reconnect."""
    root = base + "/tree"
    zk.create(root, b"root")
    for i in range(3):
        zk.create("%s/n%d" % (root, i), b"d%d" % i)
    p = proxy()
    w = make_client(hosts=p.hostport, connection_retry=FAST_RECONNECT)
    _, wait_state = _states(w)
    cache = TreeCache(w, root)
    events = []
    initialized = threading.Event()

    def listener(event):
        events.append(event.event_type)
        if event.event_type == event.INITIALIZED:
            initialized.set()

    cache.listen(listener)
    cache.start()
    assert initialized.wait(30)
    assert _cache_tree(cache, root) == _server_tree(zk, root)

    writers = [make_client() for _ in range(3)]

    def write(i):
        c = writers[i]
        for k in range(15):
            path = "%s/n%d/w%d-%d" % (root, i, i, k)
            c.create(path, b"x")
            c.set("%s/n%d" % (root, i), b"d%d-%d" % (i, k))
            if k % 3 == 2:
                c.delete(path)

    t = threading.Thread(target=lambda: run_threads([lambda i=i: write(i) for i in range(3)], timeout=120),
                         daemon=True)
    t.start()
    time.sleep(0.05)
    _force_reconnect(p, wait_state, down=0.5)
    t.join(130)
    zk.set(root, b"root-final")
    wait_for(lambda: _cache_tree(cache, root) == _server_tree(zk, root), timeout=30,
             what="TreeCache to match the server's tree")
    assert _cache_tree(cache, root)[root] == b"root-final"
    assert sum(len(zk.get_children("%s/n%d" % (root, i))) for i in range(3)) == 3 * 10
    cache.close()
