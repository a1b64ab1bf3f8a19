"""One-time watches: which change fires which event, once, and in which order
relative to replies."""

import threading

import pytest
from kazoo.exceptions import BadVersionError, NoNodeError
from kazoo.protocol.states import EventType
from kazoo.security import OPEN_ACL_UNSAFE

import rawzk
from rawzk import NODE_CHILDREN_CHANGED, NODE_CREATED, NODE_DATA_CHANGED, NODE_DELETED, RawClient


@pytest.fixture
def raw(server):
    c = RawClient(server.host, server.port)
    c.connect()
    yield c
    try:
        c.close_session()
    except Exception:
        c.drop()


def test_data_watch_fires_once(zk, base, recorder, drain):
    p = base + "/d"
    zk.create(p, b"0")
    w = recorder()
    data, _ = zk.get(p, watch=w)
    assert data == b"0"
    zk.set(p, b"1")
    ev = w.wait(1)
    assert ev.type == EventType.CHANGED
    assert ev.path == p
    assert ev.state == "CONNECTED"
    zk.set(p, b"2")  # the watch was one-time
    zk.delete(p)
    drain(zk, base)
    assert len(w.events) == 1


def test_exists_watch_on_missing_node_fires_created(zk, base, recorder):
    p = base + "/later"
    w = recorder()
    assert zk.exists(p, watch=w) is None
    zk.create(p)
    ev = w.wait(1)
    assert ev.type == EventType.CREATED
    assert ev.path == p


def test_exists_watch_on_existing_node(zk, base, recorder, drain):
    p = base + "/x"
    zk.create(p)
    w = recorder()
    assert zk.exists(p, watch=w) is not None
    zk.set(p, b"v")
    assert w.wait(1).type == EventType.CHANGED
    w2 = recorder()
    zk.exists(p, watch=w2)
    zk.delete(p)
    assert w2.wait(1).type == EventType.DELETED
    drain(zk, base)
    assert len(w.events) == 1 and len(w2.events) == 1


def test_child_watch_on_create_and_delete(zk, base, recorder, drain):
    p = base + "/parent"
    zk.create(p)
    w = recorder()
    assert zk.get_children(p, watch=w) == []
    zk.create(p + "/a")
    ev = w.wait(1)
    assert ev.type == EventType.CHILD
    assert ev.path == p
    zk.create(p + "/b")  # one-time: no second event
    drain(zk, base)
    assert len(w.events) == 1

    w2 = recorder()
    assert set(zk.get_children(p, watch=w2)) == {"a", "b"}
    zk.delete(p + "/a")
    ev = w2.wait(1)
    assert ev.type == EventType.CHILD
    assert ev.path == p


def test_child_watch_with_include_data(zk, base, recorder):
    p = base + "/p2"
    zk.create(p)
    w = recorder()
    children, st = zk.get_children(p, watch=w, include_data=True)
    assert children == [] and st.numChildren == 0
    zk.create(p + "/s-", sequence=True)
    ev = w.wait(1)
    assert ev.type == EventType.CHILD
    assert ev.path == p


def test_child_watch_ignores_data_changes(zk, base, recorder, drain):
    p = base + "/p"
    zk.create(p + "/c", makepath=True)
    w = recorder()
    zk.get_children(p, watch=w)
    zk.set(p, b"parent data")
    zk.set(p + "/c", b"child data")
    zk.create(p + "/c/grandchild")
    drain(zk, base)
    assert w.events == []
    zk.create(p + "/d")
    assert w.wait(1).type == EventType.CHILD


def test_data_watch_ignores_child_changes(zk, base, recorder, drain):
    p = base + "/p"
    zk.create(p)
    w = recorder()
    zk.get(p, watch=w)
    zk.create(p + "/c")
    zk.delete(p + "/c")
    drain(zk, base)
    assert w.events == []


def test_delete_fires_node_deleted_on_data_and_child_watches(zk, base, recorder, drain):
    p = base + "/gone"
    zk.create(p)
    dw = recorder()
    cw = recorder()
    pw = recorder()
    zk.get(p, watch=dw)
    zk.get_children(p, watch=cw)
    zk.get_children(base, watch=pw)
    zk.delete(p)
    assert dw.wait(1).type == EventType.DELETED
    assert cw.wait(1).type == EventType.DELETED
    ev = pw.wait(1)
    assert ev.type == EventType.CHILD
    assert ev.path == base
    drain(zk, base)
    assert len(dw.events) == 1 and len(cw.events) == 1 and len(pw.events) == 1


def test_watch_fires_for_other_clients_write(make_client, zk, base, recorder):
    other = make_client()
    p = base + "/shared"
    zk.create(p, b"a")
    w = recorder()
    other.get(p, watch=w)
    zk.set(p, b"b")
    ev = w.wait(1)
    assert ev.type == EventType.CHANGED
    assert ev.path == p
    assert other.get(p)[0] == b"b"


def test_failed_writes_and_set_acl_fire_nothing(zk, base, recorder, drain):
    p = base + "/quiet"
    zk.create(p + "/c", makepath=True)
    dw = recorder()
    cw = recorder()
    zk.get(p, watch=dw)
    zk.get_children(p, watch=cw)
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=42)
    with pytest.raises(Exception):
        zk.create(p + "/c")
    with pytest.raises(Exception):
        zk.delete(p)
    zk.set_acls(p, OPEN_ACL_UNSAFE)
    zk.exists(p)
    zk.sync(p)
    drain(zk, base)
    assert dw.events == [] and cw.events == []


def test_ephemeral_cleanup_fires_watches(make_client, zk, base, recorder):
    owner = make_client()
    p = base + "/eph"
    owner.create(p, ephemeral=True)
    dw = recorder()
    cw = recorder()
    zk.get(p, watch=dw)
    zk.get_children(base, watch=cw)
    owner.stop()
    ev = dw.wait(1)
    assert ev.type == EventType.DELETED
    assert ev.path == p
    assert cw.wait(1).type == EventType.CHILD


def test_two_watch_functions_same_path(zk, base, recorder, drain):
    p = base + "/two"
    zk.create(p)
    w1, w2 = recorder(), recorder()
    zk.get(p, watch=w1)
    zk.exists(p, watch=w2)
    zk.set(p, b"x")
    assert w1.wait(1).type == EventType.CHANGED
    assert w2.wait(1).type == EventType.CHANGED
    drain(zk, base)
    assert len(w1.events) == 1 and len(w2.events) == 1


def test_event_before_reply_kazoo(zk, base):
    """The watch event reaches the writing client before the write's reply.

    Records, in the connection thread, the order in which kazoo reads the
    notification and the reply frames."""
    p = base + "/order"
    zk.create(p, b"0")
    conn = zk._connection
    order = []
    lock = threading.Lock()
    orig_event, orig_reply = conn._read_watch_event, conn._read_response

    def on_event(buffer, offset):
        with lock:
            order.append("event")
        return orig_event(buffer, offset)

    def on_reply(header, buffer, offset):
        with lock:
            order.append(("reply", header.xid))
        return orig_reply(header, buffer, offset)

    got = []
    conn._read_watch_event = on_event
    conn._read_response = on_reply
    try:
        zk.get(p, watch=lambda ev: got.append(ev))
        with lock:
            order.clear()
        result = zk.set_async(p, b"1")
        stat = result.get(timeout=30)
        with lock:
            seen = list(order)
    finally:
        conn._read_watch_event = orig_event
        conn._read_response = orig_reply
    assert stat.version == 1
    assert seen[0] == "event", seen
    assert len(seen) == 2 and seen[1][0] == "reply", seen


def test_event_before_reply_raw(raw, base, zk):
    p = base + "/raw-order"
    zk.create(p, b"0")
    rep, data, st = raw.get_data(p, watch=True)
    assert rep.err == 0 and data == b"0"
    rep, cs = raw.get_children(base, watch=True)
    assert rep.err == 0
    raw.log.clear()
    rep, st = raw.set_data(p, b"1")
    assert rep.err == 0
    assert raw.log == [("event", rawzk.Event(NODE_DATA_CHANGED, 3, p)), ("reply", rep.xid, 0)]
    # a create fires the parent's child watch, again before the reply
    raw.log.clear()
    rep, path, _ = raw.create(base + "/new")
    assert rep.err == 0
    assert raw.log == [("event", rawzk.Event(NODE_CHILDREN_CHANGED, 3, base)), ("reply", rep.xid, 0)]


def test_raw_notification_frame_fields(raw, base, zk):
    p = base + "/nf"
    rep, st = raw.exists(p, watch=True)
    assert rep.err == rawzk.NO_NODE  # exists on a missing node: NoNode, watch still set
    zk.create(p)
    ev = raw.wait_event()
    assert ev == rawzk.Event(NODE_CREATED, 3, p)  # state 3 = SyncConnected


def test_getdata_on_missing_node_sets_no_watch(raw, base, zk, drain):
    p = base + "/never"
    rep, _, _ = raw.get_data(p, watch=True)
    assert rep.err == rawzk.NO_NODE
    rep, _ = raw.get_children(p, watch=True)
    assert rep.err == rawzk.NO_NODE
    zk.create(p)
    zk.create(p + "/c")
    # a sentinel watch that does exist, to know when the server is done
    rep, _ = raw.exists(base + "/sentinel", watch=True)
    zk.create(base + "/sentinel")
    ev = raw.wait_event()
    assert ev == rawzk.Event(NODE_CREATED, 3, base + "/sentinel")
    assert raw.events == [ev]


def test_one_event_per_connection_on_delete(raw, base, zk):
    p = base + "/both"
    zk.create(p)
    assert raw.get_data(p, watch=True)[0].err == 0
    assert raw.exists(p, watch=True)[0].err == 0
    assert raw.get_children(p, watch=True)[0].err == 0
    raw.log.clear()
    rep = raw.delete(p)
    assert rep.err == 0
    # data, exists and child watch on P: a single NodeDeleted on this connection
    assert raw.log == [("event", rawzk.Event(NODE_DELETED, 3, p)), ("reply", rep.xid, 0)]


def test_multi_fires_all_events_before_reply(raw, base, zk):
    a, b = base + "/ma", base + "/mb"
    zk.create(a)
    assert raw.exists(a, watch=True)[0].err == 0
    assert raw.exists(b, watch=True)[0].err == rawzk.NO_NODE  # watch set anyway
    raw.log.clear()
    rep, results = raw.multi(
        [(rawzk.SET_DATA, rawzk.ustr(a) + rawzk.buf(b"x") + rawzk.i32(-1)), (rawzk.CREATE, rawzk.create_record(b))]
    )
    assert rep.err == 0
    assert [r[1] for r in results] == [0, 0]
    events = [e for e in raw.log if e[0] == "event"]
    assert {e[1] for e in events} == {rawzk.Event(NODE_DATA_CHANGED, 3, a), rawzk.Event(NODE_CREATED, 3, b)}
    assert raw.log[-1] == ("reply", rep.xid, 0)
    assert len(raw.log) == 3


def test_watch_not_set_on_nonode_get_kazoo(zk, base, recorder, drain):
    w = recorder()
    with pytest.raises(NoNodeError):
        zk.get(base + "/absent", watch=w)
    zk.create(base + "/absent")
    drain(zk, base)
    assert w.events == []
