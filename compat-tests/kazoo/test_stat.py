"""Stat rules: zxids, versions, counts, ephemeralOwner, times; getChildren2."""

import time

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.security import OPEN_ACL_UNSAFE, make_acl


def _wait_past(ms_epoch, margin_ms=20):
    """Wait until this host's wall clock is past ms_epoch + margin (the server
    runs on the same host), so a later write gets a larger mtime."""
    while time.time() * 1000 <= ms_epoch + margin_ms:
        time.sleep(0.005)


def test_stat_at_create(zk, base):
    p, st = zk.create(base + "/n", b"abc", include_data=True)
    assert st.czxid > 0
    assert st.mzxid == st.czxid
    assert st.pzxid == st.czxid
    assert st.ctime == st.mtime
    assert st.ctime > 0
    assert abs(st.ctime - time.time() * 1000) < 10 * 60 * 1000  # epoch milliseconds
    assert st.version == 0
    assert st.cversion == 0
    assert st.aversion == 0
    assert st.ephemeralOwner == 0
    assert st.dataLength == 3
    assert st.numChildren == 0
    assert zk.exists(p) == st
    assert zk.get(p)[1] == st


def test_zxids_increase_with_each_write(zk, base):
    _, s1 = zk.create(base + "/a", include_data=True)
    _, s2 = zk.create(base + "/b", include_data=True)
    s3 = zk.set(base + "/a", b"x")
    assert s1.czxid < s2.czxid < s3.mzxid
    # the parent's pzxid is the zxid of the last child create/delete
    assert zk.exists(base).pzxid == s2.czxid


def test_set_data_stat(zk, base):
    p = base + "/s"
    _, st0 = zk.create(p, b"a", include_data=True)
    _wait_past(st0.ctime)
    st1 = zk.set(p, b"bbbb")
    assert st1.czxid == st0.czxid
    assert st1.mzxid > st0.mzxid
    assert st1.pzxid == st0.pzxid  # children untouched
    assert st1.ctime == st0.ctime
    assert st1.mtime > st0.mtime
    assert st1.version == 1
    assert st1.dataLength == 4
    assert st1.cversion == 0 and st1.aversion == 0
    st2 = zk.set(p, b"")
    assert st2.version == 2
    assert st2.dataLength == 0
    assert st2.mzxid > st1.mzxid
    # setting identical data is still a new version
    st3 = zk.set(p, b"")
    assert st3.version == 3
    assert st3.mzxid > st2.mzxid


def test_child_changes_update_parent(zk, base):
    p = base + "/parent"
    _, st0 = zk.create(p, b"pdata", include_data=True)
    _wait_past(st0.ctime)
    _, c1 = zk.create(p + "/c1", include_data=True)
    st1 = zk.exists(p)
    assert st1.cversion == 1
    assert st1.numChildren == 1
    assert st1.pzxid == c1.czxid
    # child create never changes the parent's data version, mzxid or mtime
    assert st1.version == 0
    assert st1.mzxid == st0.mzxid
    assert st1.mtime == st0.mtime
    zk.create(p + "/c2")
    zk.create(p + "/c3")
    assert zk.exists(p).cversion == 3
    # setData on a child does not touch the parent
    zk.set(p + "/c1", b"x")
    st = zk.exists(p)
    assert st.cversion == 3
    assert st.pzxid == zk.exists(p + "/c3").czxid
    # a delete counts in cversion (creates + deletes) and moves pzxid
    zk.delete(p + "/c2")
    st = zk.exists(p)
    assert st.cversion == 4
    assert st.numChildren == 2
    assert st.pzxid > zk.exists(p + "/c3").czxid
    assert st.mzxid == st0.mzxid
    zk.delete(p + "/c1")
    zk.delete(p + "/c3")
    st = zk.exists(p)
    assert st.cversion == 6
    assert st.numChildren == 0


def test_grandchild_does_not_touch_grandparent(zk, base):
    zk.create(base + "/a/b", makepath=True)
    before = zk.exists(base + "/a")
    zk.create(base + "/a/b/c")
    after = zk.exists(base + "/a")
    assert after == before


def test_failed_write_changes_nothing(zk, base):
    p = base + "/f"
    zk.create(p + "/c", makepath=True)
    before = zk.exists(p)
    with pytest.raises(Exception):
        zk.create(p + "/c")
    with pytest.raises(Exception):
        zk.set(p, b"x", version=7)
    with pytest.raises(Exception):
        zk.delete(p)
    assert zk.exists(p) == before


def test_set_acl_only_bumps_aversion(zk, base):
    p = base + "/acl"
    _, st0 = zk.create(p, b"d", include_data=True)
    st1 = zk.set_acls(p, [make_acl("world", "anyone", all=True)])
    assert st1.aversion == 1
    assert st1.version == st0.version
    assert st1.cversion == st0.cversion
    assert st1.mzxid == st0.mzxid
    assert st1.mtime == st0.mtime
    assert st1.pzxid == st0.pzxid
    st2 = zk.set_acls(p, OPEN_ACL_UNSAFE, version=1)
    assert st2.aversion == 2
    assert zk.get_acls(p)[1] == st2


def test_ephemeral_owner(make_client, zk, base):
    other = make_client()
    _, e = zk.create(base + "/e", ephemeral=True, include_data=True)
    _, e2 = other.create(base + "/e2", ephemeral=True, include_data=True)
    _, n = zk.create(base + "/n", include_data=True)
    assert e.ephemeralOwner == zk.client_id[0]
    assert e2.ephemeralOwner == other.client_id[0]
    assert zk.client_id[0] != other.client_id[0]
    assert n.ephemeralOwner == 0
    # the owner is visible to every client
    assert other.exists(base + "/e").ephemeralOwner == zk.client_id[0]


def test_data_length(zk, base):
    for name, data, n in [("none", None, 0), ("empty", b"", 0), ("one", b"x", 1), ("k", b"k" * 1000, 1000)]:
        _, st = zk.create(base + "/" + name, data, include_data=True)
        assert st.dataLength == n
        assert zk.exists(base + "/" + name).dataLength == n


def test_get_children_include_data(zk, base):
    p = base + "/gc"
    zk.create(p, b"xyz")
    for n in ("a", "b", "c"):
        zk.create(p + "/" + n)
    children, st = zk.get_children(p, include_data=True)
    assert set(children) == {"a", "b", "c"}
    assert len(children) == 3
    assert st == zk.exists(p)
    assert st.numChildren == 3
    assert st.cversion == 3
    assert st.dataLength == 3
    assert set(zk.get_children(p)) == {"a", "b", "c"}


def test_get_children_empty_and_missing(zk, base):
    assert zk.get_children(base) == []
    children, st = zk.get_children(base, include_data=True)
    assert children == []
    assert st.numChildren == 0
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing", include_data=True)


def test_many_children(zk, base):
    names = {"child-%04d" % i for i in range(300)}
    t = zk.transaction()
    for n in sorted(names):
        t.create(base + "/" + n)
    assert len(t.commit()) == 300
    assert set(zk.get_children(base)) == names
    assert zk.exists(base).numChildren == 300
    assert zk.exists(base).cversion == 300
