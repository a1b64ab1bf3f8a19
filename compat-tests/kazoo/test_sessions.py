"""Sessions: ephemerals and close, expiry after a TCP drop, reconnecting to the
same session, timeout negotiation, invalid sessions."""

import socket
import time

import pytest
from kazoo.protocol.states import EventType, KazooState
from kazoo.security import make_digest_acl

import rawzk
import servers
from helpers import wait_for
from rawzk import ConnectionClosed, RawClient

SESSION_TIMEOUT_MS = 4000  # the minimum with tickTime 2000


def test_ephemeral_gone_after_stop(make_client, zk, base):
    owner = make_client()
    owner.create(base + "/e1", b"x", ephemeral=True)
    owner.create(base + "/e2-", ephemeral=True, sequence=True)
    owner.create(base + "/persistent")
    assert len(zk.get_children(base)) == 3
    owner.stop()
    owner.close()
    # closeSession is synchronous: the ephemerals are already gone
    assert set(zk.get_children(base)) == {"persistent"}
    assert zk.exists(base + "/e1") is None


def test_ephemeral_gone_seen_by_watch(make_client, zk, base, recorder):
    owner = make_client()
    owner.create(base + "/e", ephemeral=True)
    w = recorder()
    assert zk.exists(base + "/e", watch=w) is not None
    owner.stop()
    ev = w.wait(1)
    assert ev.type == EventType.DELETED
    assert ev.path == base + "/e"


def test_new_session_after_restart_has_new_id(make_client, base):
    c = make_client()
    sid1 = c.client_id[0]
    c.create(base + "/e", ephemeral=True)
    c.stop()
    c.start(timeout=30)
    sid2 = c.client_id[0]
    assert sid2 != sid1
    assert c.exists(base + "/e") is None


def test_session_ids_distinct_and_passwords(server):
    ids = set()
    for _ in range(3):
        with RawClient(server.host, server.port) as r:
            resp = r.connect()
            assert resp.protocol_version == 0
            assert resp.timeout == 10000
            assert resp.session_id != 0
            assert (resp.session_id >> 56) & 0xFF != 0xFF  # never the TTL marker byte
            assert len(resp.passwd) == 16
            assert resp.read_only is False
            ids.add(resp.session_id)
            r.close_session()
    assert len(ids) == 3


@pytest.mark.parametrize("asked,negotiated", [(1000, 4000), (4000, 4000), (10000, 10000), (100000, 40000)])
def test_timeout_negotiation_defaults(server, asked, negotiated):
    with RawClient(server.host, server.port) as r:
        assert r.connect(timeout_ms=asked).timeout == negotiated
        r.close_session()


def test_timeout_negotiation_configured(server_kind, tmp_path):
    srv = servers.start_server(server_kind, tmp_path, min_session_timeout=6000, max_session_timeout=9000)
    try:
        for asked, negotiated in [(1000, 6000), (7000, 7000), (60000, 9000)]:
            with RawClient(srv.host, srv.port) as r:
                assert r.connect(timeout_ms=asked).timeout == negotiated
                r.close_session()
    finally:
        srv.stop()


def test_legacy_connect_without_readonly_byte(server):
    with RawClient(server.host, server.port) as r:
        resp = r.connect(read_only=None)
        assert resp.session_id != 0
        assert resp.read_only is None  # 36-byte reply, no readOnly byte
        rep, _, _ = r.create("/legacy-%d" % resp.session_id, flags=rawzk.EPHEMERAL)
        assert rep.err == 0
        r.close_session()


def test_close_session_reply_then_close(server, zk, base):
    r = RawClient(server.host, server.port)
    resp = r.connect()
    rep, _, st = r.create(base + "/e", flags=rawzk.EPHEMERAL)
    assert rep.err == 0 and st.ephemeralOwner == resp.session_id
    rep = r.request(rawzk.CLOSE_SESSION)
    assert rep.err == 0 and rep.body == b""
    assert r.closed_by_server()
    r.drop()
    assert zk.exists(base + "/e") is None


def _expiry_test(server, zk, base, recorder):
    """Create an ephemeral on a raw session, drop TCP, and watch it expire."""
    p = base + "/eph"
    r = RawClient(server.host, server.port)
    resp = r.connect(timeout_ms=SESSION_TIMEOUT_MS)
    assert resp.timeout == SESSION_TIMEOUT_MS
    rep, path, st = r.create(p, b"e", flags=rawzk.EPHEMERAL)
    assert rep.err == 0 and st.ephemeralOwner == resp.session_id
    t_last = r.last_send  # the session's last activity is no earlier than this
    r.drop()  # no closeSession

    w = recorder()
    timeout_s = resp.timeout / 1000.0
    # "not before": while well inside the timeout, the ephemeral must still exist
    observed_alive = 0
    while time.monotonic() - t_last < timeout_s * 0.5:
        st = zk.exists(p, watch=w if observed_alive == 0 else None)
        t_reply = time.monotonic()
        if t_reply - t_last < timeout_s - 0.5:
            assert st is not None, "ephemeral vanished %.2f s after the last request" % (t_reply - t_last)
            assert st.ephemeralOwner == resp.session_id
            observed_alive += 1
        time.sleep(0.2)
    assert observed_alive >= 1, "machine too slow to observe the ephemeral before the timeout"

    # then gone within timeout + tick + a generous margin
    def gone():
        return zk.exists(p) is None and time.monotonic()

    t_gone = wait_for(gone, timeout=timeout_s + 2.0 + 30.0, interval=0.1, what="session expiry")
    assert t_gone - t_last >= timeout_s - 0.05, "expired after %.2f s, before the %.1f s timeout" % (
        t_gone - t_last,
        timeout_s,
    )
    print("ephemeral of the dropped session gone %.2f s after its last request" % (t_gone - t_last))
    ev = w.wait(1)
    assert ev.type == EventType.DELETED and ev.path == p
    return resp


def test_session_expiry_after_tcp_drop(server, zk, base, recorder):
    resp = _expiry_test(server, zk, base, recorder)
    # the expired session can no longer be resumed
    with RawClient(server.host, server.port) as r2:
        again = r2.connect(timeout_ms=SESSION_TIMEOUT_MS, session_id=resp.session_id, passwd=resp.passwd)
        assert again.timeout == 0
        assert again.session_id == 0
        assert again.passwd == b"\0" * 16
        assert r2.closed_by_server()


def test_reconnect_same_session_keeps_ephemeral(server, zk, base):
    p = base + "/kept"
    r1 = RawClient(server.host, server.port)
    resp = r1.connect(timeout_ms=SESSION_TIMEOUT_MS)
    assert resp.timeout == SESSION_TIMEOUT_MS
    rep, _, st = r1.create(p, flags=rawzk.EPHEMERAL)
    assert rep.err == 0
    last_zxid = rep.zxid
    r1.drop()

    r2 = RawClient(server.host, server.port)
    try:
        resp2 = r2.connect(
            timeout_ms=SESSION_TIMEOUT_MS, session_id=resp.session_id, passwd=resp.passwd, last_zxid=last_zxid
        )
        assert resp2.session_id == resp.session_id
        assert resp2.passwd == resp.passwd
        assert resp2.timeout == SESSION_TIMEOUT_MS
        # keep the session alive with pings for 2.5 timeouts: the ephemeral stays
        t_end = time.monotonic() + 2.5 * SESSION_TIMEOUT_MS / 1000.0
        while time.monotonic() < t_end:
            rep = r2.ping()
            assert rep.err == 0 and rep.xid == rawzk.PING_XID
            time.sleep(0.5)
        st = zk.exists(p)
        assert st is not None
        assert st.ephemeralOwner == resp.session_id
        # the resumed session still owns it and may use it
        rep, _, st2 = r2.create(base + "/kept2", flags=rawzk.EPHEMERAL)
        assert rep.err == 0 and st2.ephemeralOwner == resp.session_id
        assert r2.close_session().err == 0
    finally:
        r2.drop()
    assert zk.exists(p) is None
    assert zk.exists(base + "/kept2") is None


def test_reconnect_wrong_password(server, zk, base):
    p = base + "/e"
    r1 = RawClient(server.host, server.port)
    resp = r1.connect()
    assert r1.create(p, flags=rawzk.EPHEMERAL)[0].err == 0
    bad = bytes(b ^ 0xFF for b in resp.passwd)
    with RawClient(server.host, server.port) as r2:
        again = r2.connect(session_id=resp.session_id, passwd=bad)
        assert again.timeout == 0
        assert again.session_id == 0
        assert again.passwd == b"\0" * 16
        assert again.read_only is False
        assert r2.closed_by_server()
    # the server closed the session's other connection too, before checking the password
    assert r1.closed_by_server()
    # the session itself is not closed by a failed resume
    assert zk.exists(p) is not None
    with RawClient(server.host, server.port) as r3:
        ok = r3.connect(session_id=resp.session_id, passwd=resp.passwd)
        assert ok.session_id == resp.session_id
        assert r3.close_session().err == 0
    r1.drop()
    assert zk.exists(p) is None


def test_unknown_session_id(server):
    with RawClient(server.host, server.port) as r:
        resp = r.connect(session_id=0x0123456789ABCDEF, passwd=b"\x11" * 16)
        assert resp.timeout == 0
        assert resp.session_id == 0
        assert r.closed_by_server()


def test_zxid_ahead_refused(server):
    with RawClient(server.host, server.port) as r:
        # no ConnectResponse at all: the server just closes
        with pytest.raises(ConnectionClosed):
            r.connect(last_zxid=0x7FFFFFFF00000000)


def test_kazoo_reconnect_keeps_session(make_client, base, recorder):
    c = make_client(auth_data=[("digest", "u:p")])
    sid, pw = c.client_id
    p = base + "/eph"
    c.create(p, b"mine", ephemeral=True, acl=[make_digest_acl("u", "p", all=True)])
    states = []
    c.add_listener(states.append)
    # cut the TCP connection under kazoo; it reconnects with the same session
    c._connection._socket.shutdown(socket.SHUT_RDWR)
    wait_for(lambda: KazooState.SUSPENDED in states, timeout=30, what="SUSPENDED")
    wait_for(lambda: c.connected and states[-1] == KazooState.CONNECTED, timeout=30, what="reconnected")
    assert c.client_id == (sid, pw)
    assert KazooState.LOST not in states
    # auth was re-sent on the new connection, and the ephemeral survived
    data, st = c.get(p)
    assert data == b"mine"
    assert st.ephemeralOwner == sid


def test_session_closed_elsewhere_kazoo_lost(server, make_client, zk, base):
    """Another connection resumes a kazoo client's session (the server closes
    kazoo's connection) and closes it; kazoo's reconnect then gets timeOut 0,
    it reports LOST and starts a new session; the ephemeral is gone."""
    c = make_client()
    sid, pw = c.client_id
    p = base + "/eph"
    c.create(p, ephemeral=True)
    states = []
    c.add_listener(states.append)
    r = RawClient(server.host, server.port)
    resp = r.connect(session_id=sid, passwd=pw)
    assert resp.session_id == sid
    assert zk.exists(p) is not None
    assert r.close_session().err == 0
    assert zk.exists(p) is None
    wait_for(lambda: KazooState.LOST in states, timeout=60, what="LOST")
    wait_for(lambda: c.connected, timeout=60, what="new session")
    assert c.client_id[0] != sid
    assert c.exists(p) is None
