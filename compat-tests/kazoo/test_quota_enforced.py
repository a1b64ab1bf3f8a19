"""enforceQuota=true: creates and setData past a quota's hard limit get QuotaExceeded (-125,
kazoo's QuotaExceededError); soft limits are never refused. The quota nodes are written as
zkCli's setquota writes them (a zookeeper_limits node, then a zookeeper_stats node that the
server fills in). The same calls against ZooKeeper 3.8.0 and raftzk give the same answers,
except where raftzk's limit is exact (a multi whose creates pass the limit together:
ZooKeeper checks each against the tree before the multi and lets them through)."""

import pytest
from kazoo.exceptions import QuotaExceededError

import servers

SERVER_OPTS = {"extra_cfg": {"enforceQuota": "true"}}


def set_quota(zk, path, count=-1, count_hard=-1, byte_hard=-1):
    limits = "count=%d,bytes=-1,countHardLimit=%d,byteHardLimit=%d" % (count, count_hard, byte_hard)
    zk.create("/zookeeper/quota%s/zookeeper_limits" % path, limits.encode(), makepath=True)
    zk.create("/zookeeper/quota%s/zookeeper_stats" % path, b"count=0,bytes=0")


def stats(zk, path):
    data = zk.get("/zookeeper/quota%s/zookeeper_stats" % path)[0].decode()
    return dict(kv.split("=") for kv in data.split(","))


def test_count_hard_limit_refuses_the_node_past_it(server, zk, base):
    set_quota(zk, base, count_hard=3)
    zk.create(base + "/a")
    zk.create(base + "/b")
    with pytest.raises(QuotaExceededError):
        zk.create(base + "/c")
    assert zk.exists(base + "/c") is None
    assert stats(zk, base)["count"] == "3"
    # Reads, setData and deletes go on; a delete makes room.
    zk.set(base + "/a", b"x")
    zk.delete(base + "/b")
    zk.create(base + "/c")
    with pytest.raises(QuotaExceededError):
        zk.create(base + "/c/deeper")
    # Each refusal is counted for the top-level znode of its path.
    key = "zk_%s_quota_exceeded_error_per_namespace" % base[1:]
    assert servers.mntr_value(server, key) == "2"


def test_byte_hard_limit_refuses_data_growth_past_it(zk, base):
    set_quota(zk, base, byte_hard=10)
    zk.create(base + "/a", b"12345")
    zk.set(base + "/a", b"1234567890")
    with pytest.raises(QuotaExceededError):
        zk.set(base + "/a", b"12345678901")
    with pytest.raises(QuotaExceededError):
        zk.create(base + "/b", b"1")
    assert zk.get(base + "/a")[0] == b"1234567890"
    zk.set(base + "/a", b"0987654321")  # same size: no check
    zk.set(base + "/a", b"1")
    zk.create(base + "/b", b"123")


def test_the_quota_is_checked_before_the_version(zk, base):
    set_quota(zk, base, byte_hard=4)
    zk.create(base + "/a", b"1")
    with pytest.raises(QuotaExceededError):
        zk.set(base + "/a", b"12345", version=99)


def test_soft_limits_are_never_refused(zk, base):
    set_quota(zk, base, count=1)
    for i in range(5):
        zk.create("%s/n%d" % (base, i))
    assert stats(zk, base)["count"] == "6"


def test_the_longest_quota_path_above_decides(zk, base):
    zk.create(base + "/inner")
    set_quota(zk, base, count_hard=100)
    set_quota(zk, base + "/inner", count_hard=2)
    zk.create(base + "/inner/a")
    with pytest.raises(QuotaExceededError):
        zk.create(base + "/inner/b")
    zk.create(base + "/beside")


def test_a_multi_past_the_limit_fails_whole(zk, base):
    set_quota(zk, base, count_hard=2)
    zk.create(base + "/a")
    t = zk.transaction()
    t.create(base + "/b")
    t.set_data(base + "/a", b"changed")
    results = t.commit()
    assert isinstance(results[0], QuotaExceededError), results
    assert zk.exists(base + "/b") is None
    assert zk.get(base + "/a")[0] == b""


def test_creates_of_one_multi_count_together_on_raftzk(zk, base, server_kind):
    """Room for one node, a multi of two creates: ZooKeeper checks each against the tree
    before the multi and creates both (the limit is passed); raftzk checks each after the
    ones before it and refuses the second, so the multi fails whole."""
    set_quota(zk, base, count_hard=2)
    t = zk.transaction()
    t.create(base + "/m1")
    t.create(base + "/m2")
    results = t.commit()
    if server_kind == "zk":
        assert results == [base + "/m1", base + "/m2"], results
        assert stats(zk, base)["count"] == "3"
    else:
        assert isinstance(results[1], QuotaExceededError), results
        assert zk.exists(base + "/m1") is None
        assert stats(zk, base)["count"] == "1"
