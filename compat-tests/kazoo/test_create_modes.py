"""Create modes: persistent, ephemeral, sequential, ephemeral-sequential through
kazoo; containers (opcode 19) and TTL nodes (opcode 21) through raw frames,
since kazoo 2.11 cannot create them."""

import pytest
from kazoo.exceptions import NodeExistsError

import rawzk
from helpers import wait_for
from rawzk import (
    BAD_ARGUMENTS,
    CONTAINER,
    CREATE,
    CREATE2,
    CREATE_CONTAINER,
    CREATE_TTL,
    PERSISTENT,
    PERSISTENT_SEQUENTIAL_WITH_TTL,
    PERSISTENT_WITH_TTL,
    RawClient,
)


@pytest.fixture
def raw(server):
    c = RawClient(server.host, server.port)
    c.connect()
    yield c
    try:
        c.close_session()
    except Exception:
        c.drop()


def test_persistent(zk, base):
    p = zk.create(base + "/p", b"d")
    assert p == base + "/p"
    assert zk.exists(p).ephemeralOwner == 0


def test_ephemeral(zk, base):
    p = zk.create(base + "/e", b"d", ephemeral=True)
    assert p == base + "/e"
    st = zk.exists(p)
    assert st.ephemeralOwner == zk.client_id[0]
    assert st.ephemeralOwner != 0


def test_sequential_suffix_values(zk, base):
    zk.create(base + "/other")
    # first sequential child after one other child gets 0000000001
    p1 = zk.create(base + "/seq-", sequence=True)
    assert p1 == base + "/seq-0000000001"
    p2 = zk.create(base + "/seq-", sequence=True)
    assert p2 == base + "/seq-0000000002"
    # deletes don't advance (or rewind) the counter
    zk.delete(p2)
    zk.delete(p1)
    p3 = zk.create(base + "/seq-", sequence=True)
    assert p3 == base + "/seq-0000000003"
    # a different prefix shares the parent's counter
    p4 = zk.create(base + "/other-", sequence=True)
    assert p4 == base + "/other-0000000004"
    assert set(zk.get_children(base)) == {"other", "seq-0000000003", "other-0000000004"}


def test_sequential_failed_create_does_not_advance(zk, base):
    zk.create(base + "/a")
    with pytest.raises(NodeExistsError):
        zk.create(base + "/a")
    assert zk.create(base + "/s", sequence=True) == base + "/s0000000001"


def test_sequential_counter_counts_creates_not_cversion(zk, base):
    # 3 creates + 1 delete: visible cversion is 4, the next suffix is 3
    zk.create(base + "/x")
    zk.create(base + "/y")
    zk.create(base + "/z")
    zk.delete(base + "/y")
    assert zk.exists(base).cversion == 4
    assert zk.create(base + "/n-", sequence=True) == base + "/n-0000000003"
    assert zk.exists(base).cversion == 5


def test_sequential_trailing_slash(zk, base):
    # a sequential create of "<parent>/" names the child by the counter alone
    zk.create(base + "/p")
    zk.create(base + "/p/a")
    assert zk.create(base + "/p/", sequence=True) == base + "/p/0000000001"


def test_sequential_first_child(zk, base):
    assert zk.create(base + "/q/item-", sequence=True, makepath=True) == base + "/q/item-0000000000"


def test_ephemeral_sequential(zk, base):
    p0 = zk.create(base + "/lock-", b"", ephemeral=True, sequence=True)
    p1 = zk.create(base + "/lock-", b"", ephemeral=True, sequence=True)
    assert p0 == base + "/lock-0000000000"
    assert p1 == base + "/lock-0000000001"
    for p in (p0, p1):
        assert zk.exists(p).ephemeralOwner == zk.client_id[0]


def test_create_include_data_returns_stat(zk, base):
    p, st = zk.create(base + "/c2", b"abc", include_data=True)
    assert p == base + "/c2"
    assert st.dataLength == 3
    assert st.version == 0
    assert st == zk.exists(p)
    p, st = zk.create(base + "/c2s-", b"", sequence=True, ephemeral=True, include_data=True)
    assert p == base + "/c2s-0000000001"
    assert st.ephemeralOwner == zk.client_id[0]


# ---------------------------------------------------------------- containers


def test_container_create_reply_and_stat(raw, zk, base):
    rep, path, st = raw.create(base + "/ctr", b"cd", flags=CONTAINER, opcode=CREATE_CONTAINER)
    assert rep.err == 0
    assert path == base + "/ctr"
    # createContainer replies with a Create2Response (path + Stat)
    assert st is not None
    assert st.ephemeralOwner == 0  # containers show owner 0 on the wire
    assert st.dataLength == 2
    assert st.czxid == rep.zxid
    assert st == zk.exists(base + "/ctr")
    # children are allowed under a container
    assert zk.create(base + "/ctr/child") == base + "/ctr/child"


def test_container_reaped_after_last_child_deleted(raw, zk, base):
    used = base + "/used"
    never_used = base + "/never-used"
    assert raw.create(used, flags=CONTAINER, opcode=CREATE_CONTAINER)[0].err == 0
    assert raw.create(never_used, flags=CONTAINER, opcode=CREATE_CONTAINER)[0].err == 0
    zk.create(used + "/a")
    zk.create(used + "/b")
    zk.delete(used + "/a")
    zk.delete(used + "/b")
    wait_for(lambda: zk.exists(used) is None, timeout=30, what="container reaped")
    # a container that never had a child is never reaped
    # (znode.container.maxNeverUsedIntervalMs defaults to 0 = never)
    assert zk.exists(never_used) is not None


def test_container_with_child_not_reaped(raw, zk, base):
    keep = base + "/keep"
    gone = base + "/gone"
    assert raw.create(keep, flags=CONTAINER, opcode=CREATE_CONTAINER)[0].err == 0
    assert raw.create(gone, flags=CONTAINER, opcode=CREATE_CONTAINER)[0].err == 0
    zk.create(keep + "/child")
    zk.create(gone + "/child")
    zk.delete(gone + "/child")
    wait_for(lambda: zk.exists(gone) is None, timeout=30, what="empty container reaped")
    # the reaper has run since; the container with a child is still there
    assert zk.exists(keep + "/child") is not None
    # once its last child goes, it is reaped too
    zk.delete(keep + "/child")
    wait_for(lambda: zk.exists(keep) is None, timeout=30, what="container reaped")


def test_container_reaping_fires_watches(raw, zk, base, recorder):
    ctr = base + "/wctr"
    assert raw.create(ctr, flags=CONTAINER, opcode=CREATE_CONTAINER)[0].err == 0
    zk.create(ctr + "/c")
    data_w = recorder()
    child_w = recorder()
    zk.get(ctr, watch=data_w)
    zk.get_children(base, watch=child_w)
    zk.delete(ctr + "/c")
    ev = data_w.wait(1, timeout=30)
    assert ev.type == "DELETED"
    assert ev.path == ctr
    ev = child_w.wait(1, timeout=30)
    assert ev.type == "CHILD"
    assert ev.path == base


def test_container_opcode_with_flags_zero_is_container(raw, zk, base):
    # ZooKeeper stores a container for opcode 19 whatever the flags say
    c = base + "/c0"
    rep, path, st = raw.create(c, flags=PERSISTENT, opcode=CREATE_CONTAINER)
    assert rep.err == 0
    assert path == c
    zk.create(c + "/x")
    zk.delete(c + "/x")
    wait_for(lambda: zk.exists(c) is None, timeout=30, what="container reaped")


# ---------------------------------------------------------------- TTL nodes


def test_ttl_create_reply_and_stat(raw, zk, base):
    rep, path, st = raw.create(base + "/ttl", b"t", flags=PERSISTENT_WITH_TTL, ttl=3600 * 1000)
    assert rep.err == 0
    assert path == base + "/ttl"
    assert st is not None
    assert st.ephemeralOwner == 0  # TTL nodes show owner 0 on the wire
    assert st.czxid == rep.zxid
    assert st == zk.exists(base + "/ttl")


def test_ttl_node_reaped(raw, zk, base):
    p = base + "/short"
    rep, path, _ = raw.create(p, flags=PERSISTENT_WITH_TTL, ttl=500)
    assert rep.err == 0
    wait_for(lambda: zk.exists(p) is None, timeout=30, what="TTL node reaped")


def test_ttl_node_with_child_not_reaped(raw, zk, base):
    parent = base + "/ttlp"
    marker = base + "/ttlm"
    assert raw.create(parent, flags=PERSISTENT_WITH_TTL, ttl=500)[0].err == 0
    zk.create(parent + "/child")
    assert raw.create(marker, flags=PERSISTENT_WITH_TTL, ttl=500)[0].err == 0
    # the marker (created later, same ttl) is reaped; the parent has a child and stays
    wait_for(lambda: zk.exists(marker) is None, timeout=30, what="TTL marker reaped")
    assert zk.exists(parent) is not None
    zk.delete(parent + "/child")
    wait_for(lambda: zk.exists(parent) is None, timeout=30, what="TTL parent reaped")


def test_ttl_long_not_reaped(raw, zk, base):
    long_ttl = base + "/long"
    short = base + "/short"
    assert raw.create(long_ttl, flags=PERSISTENT_WITH_TTL, ttl=3600 * 1000)[0].err == 0
    assert raw.create(short, flags=PERSISTENT_WITH_TTL, ttl=200)[0].err == 0
    wait_for(lambda: zk.exists(short) is None, timeout=30, what="short TTL reaped")
    assert zk.exists(long_ttl) is not None


def test_ttl_sequential(raw, zk, base):
    zk.create(base + "/x")
    rep, path, st = raw.create(base + "/tseq-", flags=PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=3600 * 1000)
    assert rep.err == 0
    assert path == base + "/tseq-0000000001"
    assert st.ephemeralOwner == 0


def test_ttl_setdata_refreshes_mtime(raw, zk, base):
    # TTL counts from mtime: a node kept fresh by setData outlives a sibling
    # with the same ttl that is left alone
    kept = base + "/kept"
    left = base + "/left"
    assert raw.create(kept, flags=PERSISTENT_WITH_TTL, ttl=3000)[0].err == 0
    assert raw.create(left, flags=PERSISTENT_WITH_TTL, ttl=3000)[0].err == 0

    def left_gone():
        zk.set(kept, b"touch")
        return zk.exists(left) is None

    wait_for(left_gone, timeout=60, interval=0.2, what="untouched TTL node reaped")
    assert zk.exists(kept) is not None


@pytest.mark.parametrize(
    "opcode,flags,ttl",
    [
        (CREATE_TTL, PERSISTENT_WITH_TTL, 0),  # ttl 0
        (CREATE_TTL, PERSISTENT, 1000),  # non-TTL flags on opcode 21
        (CREATE_TTL, PERSISTENT_WITH_TTL, 1 << 40),  # ttl over 2^40-1
        (CREATE, PERSISTENT_WITH_TTL, None),  # TTL flags on plain create
        (CREATE2, PERSISTENT_SEQUENTIAL_WITH_TTL, None),  # TTL flags on create2
        (CREATE_CONTAINER, PERSISTENT_WITH_TTL, None),  # TTL flags on createContainer
        (CREATE, 99, None),  # unknown flags
    ],
)
def test_bad_create_modes(raw, zk, base, opcode, flags, ttl):
    p = base + "/bad"
    rep, path, st = raw.create(p, flags=flags, opcode=opcode, ttl=ttl)
    assert rep.err == BAD_ARGUMENTS
    assert path is None
    assert zk.exists(p) is None


def test_multi_container_and_ttl_results(raw, zk, base):
    rep, results = raw.multi(
        [
            (CREATE, rawzk.create_record(base + "/m-plain")),
            (CREATE_CONTAINER, rawzk.create_record(base + "/m-ctr", flags=CONTAINER)),
            (CREATE_TTL, rawzk.create_record(base + "/m-ttl", flags=PERSISTENT_WITH_TTL, ttl=3600 * 1000)),
        ]
    )
    assert rep.err == 0
    assert [r[0] for r in results] == [CREATE, CREATE2, CREATE2]
    assert all(r[1] == 0 for r in results)
    assert results[0][2] == (base + "/m-plain",)
    assert results[1][2][0] == base + "/m-ctr"
    assert results[2][2][0] == base + "/m-ttl"
    # all ops of a multi share one zxid, the reply header's
    assert results[1][2][1].czxid == rep.zxid
    assert results[2][2][1].czxid == rep.zxid
    assert zk.exists(base + "/m-plain").czxid == rep.zxid
    assert results[1][2][1].ephemeralOwner == 0
