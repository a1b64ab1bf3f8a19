"""A standalone server SIGKILLed and restarted (same data, same port) while clients hold
recipes: sessions are durable and get a fresh timeout, so the lock, its queue and the
ephemerals all survive, and zxids (fencing tokens) keep increasing."""

import threading
import time

from kazoo.protocol.states import KazooState

from recipetools import FAST_RECONNECT, restart_server, retry_call, wait_for


def test_lock_survives_server_restart(server, make_client, base):
    lp, cp = base + "/lock", base + "/counter"
    kw = dict(timeout=10.0, connection_retry=FAST_RECONNECT)
    a, b, obs = make_client(**kw), make_client(**kw), make_client(**kw)
    states = {"a": [], "b": []}
    a.add_listener(lambda s: states["a"].append(s))
    b.add_listener(lambda s: states["b"].append(s))
    obs.create(cp, b"41")
    la, lb = a.Lock(lp, "a"), b.Lock(lp, "b")
    assert la.acquire(timeout=30)
    tok_a = a.exists(lp + "/" + la.node).czxid
    got_b = threading.Event()
    threading.Thread(target=lambda: lb.acquire(timeout=120) and got_b.set(), daemon=True).start()
    wait_for(lambda: len(obs.get_children(lp)) == 2, timeout=30, what="b queued")
    a.create(base + "/eph-a", b"a", ephemeral=True)
    sid_a, sid_b = a.client_id[0], b.client_id[0]
    last_zxid = obs.exists(base + "/eph-a").czxid

    restart_server(server)

    wait_for(lambda: a.connected and b.connected and obs.connected, timeout=30, what="clients back")
    assert KazooState.LOST not in states["a"] + states["b"], states
    assert (a.client_id[0], b.client_id[0]) == (sid_a, sid_b)
    assert retry_call(obs.get, cp)[0] == b"41"
    st = retry_call(obs.exists, base + "/eph-a")
    assert st is not None and st.ephemeralOwner == sid_a
    assert retry_call(la.contenders) == ["a", "b"]
    time.sleep(0.5)
    assert not got_b.is_set(), "b got the lock that a still holds after the restart"
    retry_call(a.set, cp, b"42")
    assert retry_call(obs.exists, cp).mzxid > last_zxid
    retry_call(la.release)
    assert got_b.wait(30)
    tok_b = b.exists(lp + "/" + lb.node).czxid
    assert tok_a < tok_b
    # a lock node created after the restart gets a zxid above everything before it
    lb.release()
    lc = obs.Lock(lp, "c")
    assert lc.acquire(timeout=30)
    tok_c = obs.exists(lp + "/" + lc.node).czxid
    assert tok_c > retry_call(obs.exists, cp).mzxid > tok_b
    lc.release()
    a.stop()
    assert obs.exists(base + "/eph-a") is None
