"""create / get / set / delete and their errors, through kazoo."""

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)


def test_create_get_set_delete(zk, base):
    p = base + "/n"
    assert zk.create(p, b"hello") == p
    data, st = zk.get(p)
    assert data == b"hello"
    assert st.version == 0
    assert st.dataLength == 5
    st2 = zk.set(p, b"world!")
    assert st2.version == 1
    assert st2.dataLength == 6
    data, st3 = zk.get(p)
    assert data == b"world!"
    assert st3 == st2
    zk.delete(p)
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.get(p)


def test_null_data_vs_empty_data(zk, base):
    zk.create(base + "/null", None)
    zk.create(base + "/empty", b"")
    data, st = zk.get(base + "/null")
    assert data is None
    assert st.dataLength == 0
    data, st = zk.get(base + "/empty")
    assert data == b""
    assert st.dataLength == 0
    # setData with null data, then with empty data
    zk.set(base + "/empty", None)
    assert zk.get(base + "/empty")[0] is None
    zk.set(base + "/null", b"")
    assert zk.get(base + "/null")[0] == b""


def test_default_kazoo_value_is_empty_bytes(zk, base):
    zk.create(base + "/d")
    data, st = zk.get(base + "/d")
    assert data == b""
    assert st.dataLength == 0


def test_binary_data_roundtrip(zk, base):
    blob = bytes(range(256)) * 40  # 10 KiB, every byte value
    zk.create(base + "/bin", blob)
    assert zk.get(base + "/bin")[0] == blob


def test_set_with_version(zk, base):
    p = base + "/v"
    zk.create(p, b"0")
    st = zk.set(p, b"1", version=0)
    assert st.version == 1
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=0)
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=5)
    assert zk.get(p)[0] == b"1"
    st = zk.set(p, b"2", version=-1)
    assert st.version == 2
    st = zk.set(p, b"3", version=2)
    assert st.version == 3


def test_delete_with_version(zk, base):
    p = base + "/dv"
    zk.create(p, b"0")
    zk.set(p, b"1")
    with pytest.raises(BadVersionError):
        zk.delete(p, version=0)
    assert zk.exists(p) is not None
    zk.delete(p, version=1)
    assert zk.exists(p) is None


def test_set_and_delete_missing_node(zk, base):
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"x")
    with pytest.raises(NoNodeError):
        zk.delete(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.delete(base + "/missing", version=3)


def test_create_missing_parent(zk, base):
    with pytest.raises(NoNodeError):
        zk.create(base + "/no/such/parent", b"x")
    assert zk.exists(base + "/no") is None


def test_create_existing(zk, base):
    zk.create(base + "/e", b"first")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/e", b"second")
    assert zk.get(base + "/e")[0] == b"first"


def test_delete_not_empty(zk, base):
    zk.create(base + "/p")
    zk.create(base + "/p/c")
    with pytest.raises(NotEmptyError):
        zk.delete(base + "/p")
    zk.delete(base + "/p/c")
    zk.delete(base + "/p")
    assert zk.exists(base + "/p") is None


def test_recursive_delete(zk, base):
    zk.create(base + "/r/a/b/c", makepath=True)
    zk.create(base + "/r/x", makepath=True)
    zk.delete(base + "/r", recursive=True)
    assert zk.exists(base + "/r") is None
    assert zk.get_children(base) == []


def test_no_children_for_ephemerals(zk, base):
    zk.create(base + "/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(base + "/eph/seq-", sequence=True)
    assert zk.get_children(base + "/eph") == []


def test_create_makepath(zk, base):
    p = base + "/a/b/c/d"
    assert zk.create(p, b"leaf", makepath=True) == p
    assert zk.get(p)[0] == b"leaf"
    for q in (base + "/a", base + "/a/b", base + "/a/b/c"):
        data, st = zk.get(q)
        assert data == b""
        assert st.numChildren == 1
    # makepath on an existing parent chain still creates the leaf only
    zk.create(base + "/a/b/other", makepath=True)
    assert set(zk.get_children(base + "/a/b")) == {"c", "other"}
    with pytest.raises(NodeExistsError):
        zk.create(p, makepath=True)


def test_ensure_path(zk, base):
    zk.ensure_path(base + "/x/y/z")
    assert zk.exists(base + "/x/y/z") is not None
    zk.ensure_path(base + "/x/y/z")  # idempotent
    assert zk.get_children(base + "/x/y") == ["z"]


@pytest.mark.parametrize("bad", ["/ctl\x01char", "/del\x7f", "/c1\x9f", "/priv\ue000"])
def test_invalid_characters(zk, base, bad):
    # kazoo normalises '//', '.', '..' and trailing '/' itself (see
    # test_raw_protocol.py for those); control and private-use characters
    # reach the server unchanged.
    p = base + bad
    with pytest.raises(BadArgumentsError):
        zk.create(p)
    with pytest.raises(BadArgumentsError):
        zk.set(p, b"x")
    # reads and delete do not validate: the node is simply not there
    with pytest.raises(NoNodeError):
        zk.get(p)
    with pytest.raises(NoNodeError):
        zk.delete(p)
    assert zk.exists(p) is None
    assert zk.get_children(base) == []


def test_delete_special_paths_bad_arguments(zk):
    for p in ("/zookeeper", "/zookeeper/config", "/zookeeper/quota"):
        with pytest.raises(BadArgumentsError):
            zk.delete(p)
    assert zk.exists("/zookeeper/config") is not None


def test_unicode_path_and_data(zk, base):
    p = base + "/ünïcødé-節点"
    zk.create(p, "données".encode("utf-8"))
    assert zk.get(p)[0].decode("utf-8") == "données"
    assert "ünïcødé-節点" in zk.get_children(base)
