"""kazoo transaction(): all or nothing, including under concurrent compare-and-set."""

import threading

from kazoo.exceptions import (
    BadVersionError,
    NoNodeError,
    NodeExistsError,
    RolledBackError,
    RuntimeInconsistency,
)

from recipetools import run_threads


def test_failing_check_applies_nothing(zk, base):
    a, b = base + "/a", base + "/b"
    zk.create(a, b"a0")
    zk.create(b, b"b0")
    zk.set(b, b"b1")  # version 1
    before_a = zk.get(a)

    t = zk.transaction()
    t.create(base + "/c", b"c")
    t.set_data(a, b"a1")
    t.check(b, 0)  # wrong: b is at version 1
    t.delete(b)
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, RolledBackError, BadVersionError, RuntimeInconsistency]
    assert zk.exists(base + "/c") is None
    assert zk.get(a) == before_a
    assert zk.get(b)[0] == b"b1" and zk.get(b)[1].version == 1

    t = zk.transaction()
    t.check(b, 1)
    t.create(base + "/c", b"c")
    t.set_data(a, b"a1", version=0)
    t.delete(b, version=1)
    results = t.commit()
    assert results[0] is True
    assert results[1] == base + "/c"
    assert results[2].version == 1
    assert results[3] is True
    assert zk.get(a)[0] == b"a1"
    assert zk.exists(b) is None


def test_failure_in_the_middle(zk, base):
    zk.create(base + "/x", b"x")
    t = zk.transaction()
    t.create(base + "/y", b"y")
    t.create(base + "/x", b"dup")  # NodeExists
    t.delete(base + "/missing")
    t.set_data(base + "/x", b"never")
    results = t.commit()
    assert type(results[0]) is RolledBackError
    assert type(results[1]) is NodeExistsError
    assert all(type(r) is RuntimeInconsistency for r in results[2:]), results
    assert zk.exists(base + "/y") is None
    assert zk.get(base + "/x")[0] == b"x"

    t = zk.transaction()
    t.delete(base + "/missing")
    t.create(base + "/y")
    results = t.commit()
    assert type(results[0]) is NoNodeError
    assert type(results[1]) is RuntimeInconsistency
    assert zk.exists(base + "/y") is None


def test_concurrent_compare_and_set_transactions(make_client, zk, base):
    """Clients race to append an entry and bump a version-checked counter in one
    transaction: each success has exactly its entry, each failure left nothing."""
    cp, lp = base + "/counter", base + "/log"
    zk.create(cp, b"0")
    zk.create(lp)
    n_clients, attempts = 6, 12
    clients = [make_client() for _ in range(n_clients)]
    wins, losses = [], []
    g = threading.Lock()

    def race(i):
        c = clients[i]
        for k in range(attempts):
            data, st = c.get(cp)
            t = c.transaction()
            t.check(cp, st.version)
            t.create(lp + "/e-", b"%d-%d" % (i, k), sequence=True)
            t.set_data(cp, str(int(data) + 1).encode(), version=st.version)
            res = t.commit()
            with g:
                if isinstance(res[0], BadVersionError):
                    assert all(isinstance(r, RuntimeInconsistency) for r in res[1:]), res
                    losses.append((i, k))
                else:
                    assert res[0] is True and res[1].startswith(lp + "/e-"), res
                    wins.append(("%d-%d" % (i, k)).encode())

    errors = run_threads([lambda i=i: race(i) for i in range(n_clients)], timeout=180)
    assert errors == []
    assert len(wins) + len(losses) == n_clients * attempts
    assert int(zk.get(cp)[0]) == len(wins) == zk.get(cp)[1].version
    entries = sorted(zk.get_children(lp))
    assert len(entries) == len(wins)
    assert sorted(zk.get(lp + "/" + e)[0] for e in entries) == sorted(wins)
    assert len(wins) >= attempts  # someone always wins a round


def test_ephemeral_created_in_transaction_goes_with_session(make_client, zk, base):
    c = make_client()
    t = c.transaction()
    t.create(base + "/eph", b"e", ephemeral=True)
    t.create(base + "/per", b"p")
    assert t.commit() == [base + "/eph", base + "/per"]
    assert zk.exists(base + "/eph").ephemeralOwner == c.client_id[0]
    c.stop()
    assert zk.exists(base + "/eph") is None
    assert zk.exists(base + "/per") is not None
