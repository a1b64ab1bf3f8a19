"""Multi (opcode 14) through kazoo's client.transaction()."""

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat


def test_successful_transaction_results(zk, base):
    zk.create(base + "/old", b"o")
    zk.create(base + "/set", b"s")
    t = zk.transaction()
    t.create(base + "/new", b"n")
    t.create(base + "/seq-", b"", sequence=True)
    t.check(base + "/set", 0)
    t.set_data(base + "/set", b"s2", version=0)
    t.delete(base + "/old", version=0)
    results = t.commit()
    assert len(results) == 5
    assert results[0] == base + "/new"
    # /old and /set existed: the sequential counter of base stands at 2
    assert results[1] == base + "/seq-0000000003"
    assert results[2] is True
    assert isinstance(results[3], ZnodeStat)
    assert results[3].version == 1
    assert results[4] is True
    assert zk.get(base + "/set")[0] == b"s2"
    assert zk.exists(base + "/old") is None
    # every op of a multi carries the same zxid
    zxid = zk.exists(base + "/new").czxid
    assert results[3].mzxid == zxid
    assert zk.exists(base + "/seq-0000000003").czxid == zxid
    assert zk.exists(base).pzxid == zxid


def test_failing_check_rolls_back_everything(zk, base):
    zk.create(base + "/a", b"a")
    before = zk.exists(base)
    t = zk.transaction()
    t.create(base + "/b", b"b")
    t.check(base + "/a", 5)  # wrong version
    t.set_data(base + "/a", b"changed")
    results = t.commit()
    assert len(results) == 3
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], BadVersionError)
    assert isinstance(results[2], RuntimeInconsistency)
    assert zk.exists(base + "/b") is None
    assert zk.get(base + "/a")[0] == b"a"
    after = zk.exists(base)
    assert after.cversion == before.cversion
    assert after.pzxid == before.pzxid
    assert after.numChildren == before.numChildren


def test_first_op_fails(zk, base):
    t = zk.transaction()
    t.delete(base + "/missing")
    t.create(base + "/x")
    t.create(base + "/y")
    results = t.commit()
    assert [type(r) for r in results] == [NoNodeError, RuntimeInconsistency, RuntimeInconsistency]
    assert zk.get_children(base) == []


def test_last_op_fails(zk, base):
    zk.create(base + "/dup")
    t = zk.transaction()
    t.create(base + "/x")
    t.set_data(base + "/dup", b"d")
    t.create(base + "/dup")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, RolledBackError, NodeExistsError]
    assert zk.exists(base + "/x") is None
    assert zk.get(base + "/dup")[0] == b""
    assert zk.exists(base + "/dup").version == 0


def test_ops_see_earlier_ops_of_same_transaction(zk, base):
    t = zk.transaction()
    t.create(base + "/p", b"1")
    t.create(base + "/p/c", b"2")
    t.set_data(base + "/p", b"3", version=0)
    t.check(base + "/p", 1)
    t.delete(base + "/p/c")
    results = t.commit()
    assert results[0] == base + "/p"
    assert results[1] == base + "/p/c"
    assert results[3] is True and results[4] is True
    data, st = zk.get(base + "/p")
    assert data == b"3" and st.version == 1
    assert st.cversion == 2 and st.numChildren == 0


def test_delete_not_empty_in_transaction(zk, base):
    zk.create(base + "/p/c", makepath=True)
    t = zk.transaction()
    t.set_data(base + "/p/c", b"x")
    t.delete(base + "/p")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, NotEmptyError]
    assert zk.get(base + "/p/c")[0] == b""


def test_sequential_in_failed_transaction_does_not_advance(zk, base):
    t = zk.transaction()
    t.create(base + "/s-", sequence=True)
    t.check(base + "/missing", 0)
    results = t.commit()
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], NoNodeError)
    assert zk.create(base + "/s-", sequence=True) == base + "/s-0000000000"


def test_ephemeral_in_transaction(zk, base):
    t = zk.transaction()
    t.create(base + "/e", ephemeral=True)
    t.create(base + "/es-", ephemeral=True, sequence=True)
    results = t.commit()
    assert results == [base + "/e", base + "/es-0000000001"]
    assert zk.exists(base + "/e").ephemeralOwner == zk.client_id[0]
    assert zk.exists(base + "/es-0000000001").ephemeralOwner == zk.client_id[0]


def test_check_on_missing_node(zk, base):
    t = zk.transaction()
    t.check(base + "/nope", -1)
    results = t.commit()
    assert len(results) == 1 and isinstance(results[0], NoNodeError)


def test_context_manager_transaction(zk, base):
    with zk.transaction() as t:
        t.create(base + "/cm1")
        t.create(base + "/cm2")
    assert t.committed
    assert set(zk.get_children(base)) == {"cm1", "cm2"}


def test_failed_transaction_consumes_a_zxid(zk, base):
    _, st1 = zk.create(base + "/z1", include_data=True)
    t = zk.transaction()
    t.check(base + "/z1", 9)
    assert isinstance(t.commit()[0], BadVersionError)
    failed_multi_zxid = zk.last_zxid
    _, st2 = zk.create(base + "/z2", include_data=True)
    # z1 create, the failed multi, z2 create: three txns, each with its own zxid (strictly
    # increasing; consecutive on ZooKeeper, spaced by log index on raftzk, design.md)
    assert st1.czxid < failed_multi_zxid < st2.czxid
