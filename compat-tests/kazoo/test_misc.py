"""sync, reads of missing nodes, the built-in /zookeeper nodes, four-letter words."""

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.security import ACL, Id, Permissions

import servers


def test_sync(zk, base):
    assert zk.sync(base) == base
    # sync needs no existing node
    assert zk.sync(base + "/does-not-exist") == base + "/does-not-exist"


def test_sync_then_read_sees_other_clients_write(make_client, zk, base):
    other = make_client()
    other.create(base + "/w", b"fresh")
    zk.sync(base + "/w")
    assert zk.get(base + "/w")[0] == b"fresh"


def test_exists_missing(zk, base):
    assert zk.exists(base + "/missing") is None
    assert zk.exists(base + "/missing/deeper") is None


def test_get_missing(zk, base):
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_acls(base + "/missing")


def test_root(zk, base):
    data, st = zk.get("/")
    assert st.numChildren >= 2  # zookeeper and this test's base
    children = zk.get_children("/")
    assert "zookeeper" in children
    assert base.lstrip("/") in children
    assert zk.exists("/") is not None


def test_builtin_zookeeper_nodes(zk):
    assert zk.exists("/zookeeper") is not None
    assert {"config", "quota"} <= set(zk.get_children("/zookeeper"))
    data, st = zk.get("/zookeeper/config")
    # standalone: the dynamic config is empty
    assert data in (b"", None)
    assert st.dataLength == 0
    assert st.ephemeralOwner == 0
    acls, _ = zk.get_acls("/zookeeper/config")
    assert acls == [ACL(Permissions.READ, Id("world", "anyone"))]
    assert zk.exists("/zookeeper/quota") is not None


def test_zookeeper_config_is_read_only(zk):
    from kazoo.exceptions import NoAuthError

    with pytest.raises(NoAuthError):
        zk.set("/zookeeper/config", b"server.1=x")


def test_children_may_be_created_under_zookeeper(zk, base):
    name = "/zookeeper/compat" + base.replace("/", "-")
    zk.create(name, b"x")
    assert zk.get(name)[0] == b"x"
    zk.delete(name)
    assert zk.exists(name) is None


# ------------------------------------------------------------ four-letter words


def test_4lw_ruok(server):
    assert servers.four_letter_word(server.host, server.port, "ruok") == "imok"


def test_4lw_srvr(server):
    out = servers.four_letter_word(server.host, server.port, "srvr")
    assert "Mode: standalone" in out.splitlines()
    assert any(line.startswith("Zxid: 0x") for line in out.splitlines())
    assert any(line.startswith("Node count: ") for line in out.splitlines())


def test_4lw_isro(server):
    assert servers.four_letter_word(server.host, server.port, "isro") == "rw"


def _mntr(server):
    out = servers.four_letter_word(server.host, server.port, "mntr")
    vals = {}
    for line in out.splitlines():
        if "\t" in line:
            k, v = line.split("\t", 1)
            vals[k] = v
    return vals


def test_4lw_mntr(server, zk, base):
    vals = _mntr(server)
    assert vals["zk_server_state"] == "standalone"
    assert int(vals["zk_znode_count"]) >= 5
    assert "zk_version" in vals
    assert "zk_ephemerals_count" in vals
    assert int(vals["zk_num_alive_connections"]) >= 1


def test_4lw_mntr_znode_count_follows_creates(server, zk, base):
    before = int(_mntr(server)["zk_znode_count"])
    for i in range(5):
        zk.create("%s/n%d" % (base, i))
    after = int(_mntr(server)["zk_znode_count"])
    # only this module's tests write, and they run one at a time
    assert after - before == 5
    eph_before = int(_mntr(server)["zk_ephemerals_count"])
    zk.create(base + "/e", ephemeral=True)
    assert int(_mntr(server)["zk_ephemerals_count"]) == eph_before + 1


def test_4lw_connection_closed_after_reply(server):
    import socket

    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(b"ruok")
        got = b""
        while True:
            d = s.recv(100)
            if not d:
                break
            got += d
    assert got == b"imok"  # no length prefix, no newline, then EOF


def test_kazoo_command(zk):
    assert zk.command(b"ruok") == "imok"
    assert "Mode: standalone" in zk.command(b"srvr")
