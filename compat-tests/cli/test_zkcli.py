"""ZooKeeper's Java CLI (zkCli.sh 3.8.0) against the server under test.

`cli("cmd args")` is one `zkCli.sh -server host:port cmd args` run (its own session);
`script([...])` is one session fed the commands on stdin, `r[i]` being command i's output.
Outputs are compared on what the server decides (data, names, counts, versions, ACLs, error
names, events), never on zxids, times or session ids.
"""

import base64
import hashlib

from clitools import CTIME_RE, STAT_KEYS, parse_acl, parse_list, parse_stat, wait_for

NO_NODE = "Node does not exist: %s"
NODE_EXISTS = "Node already exists: %s"
BAD_VERSION = "version No is not valid : %s"
NOT_EMPTY = "Node not empty: %s"
NO_AUTH = "Insufficient permission : %s"
INVALID_ACL = "Acl is not valid : %s"


def digest(user, password):
    h = hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()
    return "%s:%s" % (user, base64.b64encode(h).decode())


ALICE = digest("alice", "pw")  # alice:V55/p2T0OpjQ+low3NVAH4aLvm0=


# ---- create -------------------------------------------------------------------------------

def test_create_and_get(cli, base):
    r = cli("create %s hello" % base)
    assert r.rc == 0, r
    assert r.lines == ["Created %s" % base], r
    r = cli("get %s" % base)
    assert (r.rc, r.out) == (0, ["hello"]), r
    # no data: the node's data is null, which zkCli prints as "null"
    r = cli("create %s/nodata" % base)
    assert (r.rc, r.lines) == (0, ["Created %s/nodata" % base]), r
    r = cli("get %s/nodata" % base)
    assert (r.rc, r.out) == (0, ["null"]), r


def test_create_existing_is_node_exists(cli, base):
    assert cli("create %s one" % base).rc == 0
    r = cli("create %s two" % base)
    assert r.rc == 1, r
    assert r.err == [NODE_EXISTS % base], r
    assert cli("get %s" % base).out == ["one"]


def test_create_under_missing_parent(cli, base):
    r = cli("create %s/missing/child x" % base)
    assert r.rc == 1, r
    assert r.err == [NO_NODE % ("%s/missing/child" % base)], r
    r = cli("stat %s" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % base]), r


def test_create_ephemeral(script, cli, base):
    r = script([
        "create %s" % base,
        "create -e %s/eph e" % base,
        "stat %s/eph" % base,
        "create %s/eph/kid x" % base,
        "getEphemerals %s" % base,
    ])
    assert r[1] == ["Created %s/eph" % base], r
    stat, rest = parse_stat(r[2])
    assert rest == [], r
    assert stat["ephemeralOwner"] != "0x0", r
    assert (stat["dataLength"], stat["numChildren"]) == ("1", "0"), r
    assert r[3] == ["Ephemerals cannot have children: %s/eph/kid" % base], r
    assert r[4] == ["[%s/eph]" % base], r
    # the session is gone, and its ephemeral with it
    r = cli("stat %s/eph" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % ("%s/eph" % base)]), r
    r = cli("ls %s" % base)
    assert (r.rc, r.out) == (0, ["[]"]), r


def test_create_sequential(script, cli, base):
    r = script([
        "create %s" % base,
        "create -s %s/s- a" % base,
        "create -s %s/s- b" % base,
        "create %s/plain" % base,
        "create -s -e %s/es- c" % base,
        "create -s %s/ d" % base,
        "get %s/s-0000000001" % base,
        "stat %s/es-0000000003" % base,
        "get %s/0000000004" % base,
    ])
    assert r[1] == ["Created %s/s-0000000000" % base], r
    assert r[2] == ["Created %s/s-0000000001" % base], r
    assert r[3] == ["Created %s/plain" % base], r
    # the suffix is the parent's child-create counter, whatever the child's mode
    assert r[4] == ["Created %s/es-0000000003" % base], r
    assert r[5] == ["Created %s/0000000004" % base], r
    assert r[6] == ["b"], r
    stat, _ = parse_stat(r[7])
    assert stat["ephemeralOwner"] != "0x0", r
    assert r[8] == ["d"], r
    r = cli("ls %s" % base)
    assert set(parse_list(r.out[0])) == {
        "s-0000000000", "s-0000000001", "plain", "0000000004"}, r


def test_create_container_and_reaping(script, cli, base):
    r = script([
        "create %s" % base,
        "create -c %s/c cdata" % base,
        "get -s %s/c" % base,
        "create %s/c/kid x" % base,
        "delete %s/c/kid" % base,
    ])
    assert r[1] == ["Created %s/c" % base], r
    stat, rest = parse_stat(r[2])
    assert rest == ["cdata"], r
    # containers and TTL nodes show ephemeralOwner 0 to clients
    assert stat["ephemeralOwner"] == "0x0", r
    assert r[3] == ["Created %s/c/kid" % base], r
    assert r[4] == [], r
    # an emptied container is reaped (znode.container.checkIntervalMs=1000)
    wait_for(lambda: cli("stat %s/c" % base).rc == 1, timeout=60, what="container reaped")
    assert cli("stat %s/c" % base).err == [NO_NODE % ("%s/c" % base)]
    # a container that never had a child is kept
    assert cli("create -c %s/c2" % base).rc == 0
    r = cli("create %s/marker x" % base)
    assert r.rc == 0
    r = cli("stat %s/c2" % base)
    assert r.rc == 0, r


def test_create_ttl_and_expiry(script, cli, base):
    r = script([
        "create %s" % base,
        "create -t 600000 %s/long ldata" % base,
        "get -s %s/long" % base,
        "create -t 600000 -s %s/ts- x" % base,
        "create -t 1000 %s/short sdata" % base,
    ])
    assert r[1] == ["Created %s/long" % base], r
    stat, rest = parse_stat(r[2])
    assert rest == ["ldata"], r
    assert stat["ephemeralOwner"] == "0x0", r
    assert r[3] == ["Created %s/ts-0000000001" % base], r
    assert r[4] == ["Created %s/short" % base], r
    # a TTL node without children goes once its TTL has passed since its last change
    wait_for(lambda: cli("stat %s/short" % base).rc == 1, timeout=60, what="TTL node expired")
    r = cli("ls %s" % base)
    assert set(parse_list(r.out[0])) == {"long", "ts-0000000001"}, r


# ---- get / set / stat ---------------------------------------------------------------------

def test_get_with_stat(cli, base):
    assert cli("create %s hello" % base).rc == 0
    r = cli("get -s %s" % base)
    assert r.rc == 0, r
    stat, rest = parse_stat(r.out)
    assert rest == ["hello"], r
    assert set(stat) == set(STAT_KEYS), r
    assert stat["cZxid"] == stat["mZxid"] == stat["pZxid"], r
    assert stat["cZxid"].startswith("0x") and int(stat["cZxid"], 16) > 0, r
    assert CTIME_RE.match(stat["ctime"]) and stat["ctime"] == stat["mtime"], r
    assert (stat["cversion"], stat["dataVersion"], stat["aclVersion"]) == ("0", "0", "0"), r
    assert (stat["ephemeralOwner"], stat["dataLength"], stat["numChildren"]) == ("0x0", "5", "0"), r
    r = cli("get -s %s/missing" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % ("%s/missing" % base)]), r


def test_set_and_versions(script, cli, base):
    r = script([
        "create %s v0" % base,
        "set %s v1" % base,
        "set -s %s v22" % base,
        "set -v 2 %s v333" % base,
        "get -s %s" % base,
    ])
    assert r[1] == [], r
    stat, rest = parse_stat(r[2])
    assert rest == [], r
    assert (stat["dataVersion"], stat["dataLength"]) == ("2", "3"), r
    assert r[3] == [], r
    stat, rest = parse_stat(r[4])
    assert rest == ["v333"], r
    assert (stat["dataVersion"], stat["dataLength"], stat["cversion"]) == ("3", "4", "0"), r
    assert int(stat["mZxid"], 16) > int(stat["cZxid"], 16), r
    r = cli("set %s/missing x" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % ("%s/missing" % base)]), r


def test_set_with_wrong_version_is_bad_version(cli, base):
    assert cli("create %s v0" % base).rc == 0
    assert cli("set %s v1" % base).rc == 0
    r = cli("set -v 7 %s nope" % base)
    assert r.rc == 1, r
    assert r.err == [BAD_VERSION % base], r
    r = cli("set -v 0 %s nope" % base)
    assert (r.rc, r.err) == (1, [BAD_VERSION % base]), r
    r = cli("get -s %s" % base)
    stat, rest = parse_stat(r.out)
    assert rest == ["v1"] and stat["dataVersion"] == "1", r
    r = cli("set -v 1 %s v2" % base)
    assert (r.rc, r.lines) == (0, []), r


def test_stat(script, cli, base):
    r = script([
        "create %s abc" % base,
        "create %s/a" % base,
        "create %s/b" % base,
        "delete %s/b" % base,
        "stat %s" % base,
    ])
    stat, rest = parse_stat(r[4])
    assert rest == [], r
    # cversion counts child creations and deletions
    assert (stat["numChildren"], stat["cversion"], stat["dataLength"]) == ("1", "3", "3"), r
    assert (stat["dataVersion"], stat["aclVersion"], stat["ephemeralOwner"]) == ("0", "0", "0x0"), r
    # pZxid is the zxid of the last child change (the delete), after the creation
    assert int(stat["pZxid"], 16) > int(stat["cZxid"], 16) == int(stat["mZxid"], 16), r
    r = cli("stat %s/b" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % ("%s/b" % base)]), r


# ---- ls -----------------------------------------------------------------------------------

def test_ls_variants(script, base):
    r = script([
        "create %s" % base,
        "create %s/a 1" % base,
        "create %s/b 22" % base,
        "create %s/a/x" % base,
        "create %s/a/x/deep" % base,
        "ls %s" % base,
        "ls -s %s" % base,
        "ls -R %s" % base,
        "ls %s/b" % base,
        "ls /zookeeper",
    ])
    assert len(r[5]) == 1 and set(parse_list(r[5][0])) == {"a", "b"}, r
    stat, rest = parse_stat(r[6])
    assert len(rest) == 1 and set(parse_list(rest[0])) == {"a", "b"}, r
    assert (stat["numChildren"], stat["cversion"]) == ("2", "2"), r
    assert r[7][0] == base, r
    assert set(r[7]) == {base, base + "/a", base + "/b", base + "/a/x", base + "/a/x/deep"}, r
    assert len(r[7]) == 5, r
    assert r[8] == ["[]"], r
    assert set(parse_list(r[9][0])) == {"config", "quota"}, r


def test_ls_missing_node(cli, base):
    for cmd in ("ls", "ls -s", "ls -R"):
        r = cli("%s %s" % (cmd, base))
        assert r.rc == 1, r
        assert r.err == [NO_NODE % base], r


# ---- delete / deleteall -------------------------------------------------------------------

def test_delete(script, cli, base):
    r = script([
        "create %s" % base,
        "create %s/kid x" % base,
        "delete %s" % base,
        "delete -v 3 %s/kid" % base,
        "delete -v 0 %s/kid" % base,
        "delete %s/kid" % base,
        "delete %s" % base,
    ])
    assert r[2] == [NOT_EMPTY % base], r
    assert r[3] == [BAD_VERSION % ("%s/kid" % base)], r
    assert r[4] == [], r
    assert r[5] == [NO_NODE % ("%s/kid" % base)], r
    assert r[6] == [], r
    r = cli("get %s" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % base]), r


def test_deleteall(script, cli, base):
    r = script([
        "create %s" % base,
        "create %s/a" % base,
        "create %s/a/b" % base,
        "create %s/a/b/c" % base,
        "create %s/d" % base,
        "deleteall %s/a" % base,
        "ls %s" % base,
        "deleteall %s" % base,
    ])
    assert r[5] == [], r
    assert r[6] == ["[d]"], r
    assert r[7] == [], r
    r = cli("stat %s" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % base]), r
    r = cli("deleteall %s" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % base]), r


# ---- ACLs ---------------------------------------------------------------------------------

def test_getacl_default_and_builtin(script, cli, base):
    r = script([
        "create %s" % base,
        "getAcl %s" % base,
        "getAcl -s %s" % base,
        "getAcl /",
        "getAcl /zookeeper/config",
    ])
    assert r[1] == ["'world,'anyone", ": cdrwa"], r
    stat, rest = parse_stat(r[2])
    assert rest == ["'world,'anyone", ": cdrwa"] and stat["aclVersion"] == "0", r
    assert r[3] == ["'world,'anyone", ": cdrwa"], r
    assert r[4] == ["'world,'anyone", ": r"], r
    r = cli("getAcl %s/missing" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % ("%s/missing" % base)]), r


def test_setacl_digest_and_addauth(script, cli, base):
    # without the credential: every operation on the node is NoAuth, getAcl included
    r = script([
        "create %s secret" % base,
        "setAcl %s digest:%s:cdrwa" % (base, ALICE),
        "get %s" % base,
        "getAcl %s" % base,
        "set %s x" % base,
        "create %s/kid" % base,
    ])
    assert r[1] == [], r
    for i in (2, 3, 4):
        assert r[i] == [NO_AUTH % base], (i, r)
    assert r[5] == [NO_AUTH % ("%s/kid" % base)], r
    # a wrong password does not help; the right one does
    r = script([
        "addauth digest alice:wrong",
        "get %s" % base,
        "addauth digest alice:pw",
        "get %s" % base,
        "getAcl -s %s" % base,
        "set %s s2" % base,
        "create %s/kid k" % base,
        "getAcl %s/kid" % base,
    ])
    assert r[0] == [], r
    assert r[1] == [NO_AUTH % base], r
    assert r[2] == [], r
    assert r[3] == ["secret"], r
    stat, rest = parse_stat(r[4])
    assert parse_acl(rest) == [("digest", ALICE, "cdrwa")], r
    assert stat["aclVersion"] == "1", r
    assert r[5] == [], r
    assert r[6] == ["Created %s/kid" % base], r
    assert parse_acl(r[7]) == [("world", "anyone", "cdrwa")], r
    # a new session without the credential still cannot read it
    r = cli("get %s" % base)
    assert (r.rc, r.err) == (1, [NO_AUTH % base]), r
    # create with an ACL argument; auth:: adds the session's own identities
    r = script([
        "addauth digest alice:pw",
        "create %s/mine m auth::rw" % base,
        "getAcl %s/mine" % base,
        "create %s/ro r world:anyone:r" % base,
        "set %s/ro x" % base,
        "getAcl %s/ro" % base,
    ])
    assert r[1] == ["Created %s/mine" % base], r
    # without ADMIN on the node, getAcl masks digest ids to "user:x"
    assert parse_acl(r[2]) == [("digest", "alice:x", "rw")], r
    assert r[3] == ["Created %s/ro" % base], r
    assert r[4] == [NO_AUTH % ("%s/ro" % base)], r
    assert parse_acl(r[5]) == [("world", "anyone", "r")], r


def test_setacl_versions_and_lists(script, base):
    r = script([
        "create %s" % base,
        "setAcl -v 3 %s world:anyone:cdrw" % base,
        "setAcl -v 0 %s world:anyone:cdrwa,ip:127.0.0.1:r" % base,
        "getAcl -s %s" % base,
        "setAcl -v 0 %s world:anyone:r" % base,
        "setAcl -s %s world:anyone:cdra" % base,
        "getAcl %s" % base,
    ])
    assert r[1] == [BAD_VERSION % base], r
    assert r[2] == [], r
    stat, rest = parse_stat(r[3])
    assert parse_acl(rest) == [("world", "anyone", "cdrwa"), ("ip", "127.0.0.1", "r")], r
    assert stat["aclVersion"] == "1", r
    assert r[4] == [BAD_VERSION % base], r
    stat, rest = parse_stat(r[5])
    assert rest == [] and stat["aclVersion"] == "2", r
    assert parse_acl(r[6]) == [("world", "anyone", "cdra")], r


def test_setacl_invalid_acl(script, base):
    r = script([
        "create %s" % base,
        "setAcl %s digest:nocolon:cdrwa" % base,
        "setAcl %s ip:1.2.3:r" % base,
        "setAcl %s auth::cdrwa" % base,
        "create %s/k x auth::cdrwa" % base,
        "getAcl -s %s" % base,
    ])
    assert r[1] == [INVALID_ACL % base], r
    assert r[2] == [INVALID_ACL % base], r
    # auth:: with no authenticated identity (ip does not count) is invalid
    assert r[3] == [INVALID_ACL % base], r
    assert r[4] == ["KeeperErrorCode = InvalidACL for %s/k" % base,
                    INVALID_ACL % ("%s/k" % base)], r
    stat, rest = parse_stat(r[5])
    assert parse_acl(rest) == [("world", "anyone", "cdrwa")] and stat["aclVersion"] == "0", r


def test_whoami(script):
    r = script([
        "whoami",
        "addauth digest alice:pw",
        "addauth digest bob:x",
        "whoami",
    ])
    assert r[0] == ["Auth scheme: User", "ip: 127.0.0.1"], r
    assert r[3][0] == "Auth scheme: User", r
    # the identities are listed by user name, in no particular order
    assert sorted(r[3][1:]) == ["digest: alice", "digest: bob", "ip: 127.0.0.1"], r


# ---- sync, getEphemerals, getAllChildrenNumber --------------------------------------------

def test_sync(cli, base):
    assert cli("create %s" % base).rc == 0
    r = cli("sync %s" % base)
    assert (r.rc, r.lines) == (0, ["Sync is OK"]), r
    r = cli("sync /")
    assert (r.rc, r.lines) == (0, ["Sync is OK"]), r
    # sync does not look the path up
    r = cli("sync %s/missing" % base)
    assert (r.rc, r.lines) == (0, ["Sync is OK"]), r


def test_get_ephemerals(script, cli, base):
    r = script([
        "create %s" % base,
        "create -e %s/e1" % base,
        "create -e %s/e2" % base,
        "create %s/p" % base,
        "create -e %s/p/e3" % base,
        "create -e -s %s/es-" % base,
        "getEphemerals %s" % base,
        "getEphemerals %s/e" % base,
        "getEphemerals %s/p" % base,
        "getEphemerals %s/none" % base,
        "getEphemerals",
    ])
    mine = {base + "/e1", base + "/e2", base + "/p/e3", base + "/es-0000000003"}
    assert set(parse_list(r[6][0])) == mine and len(r[6]) == 1, r
    # a prefix of the path, not a subtree
    assert set(parse_list(r[7][0])) == {base + "/e1", base + "/e2", base + "/es-0000000003"}, r
    assert set(parse_list(r[8][0])) == {base + "/p/e3"}, r
    assert r[9] == ["[]"], r
    assert mine <= set(parse_list(r[10][0])), r
    # another session has none
    r = cli("getEphemerals")
    assert (r.rc, r.out) == (0, ["[]"]), r


def test_get_all_children_number(script, cli, base):
    r = script([
        "create %s" % base,
        "create %s/a" % base,
        "create %s/a/b" % base,
        "create %s/a/b/c" % base,
        "create %s/d" % base,
        "create -e %s/d/e" % base,
        "getAllChildrenNumber %s" % base,
        "getAllChildrenNumber %s/a" % base,
        "getAllChildrenNumber %s/a/b/c" % base,
    ])
    assert r[6] == ["5"], r
    assert r[7] == ["2"], r
    assert r[8] == ["0"], r
    r = cli("getAllChildrenNumber %s" % base)
    assert (r.rc, r.out) == (0, ["4"]), r
    r = cli("getAllChildrenNumber %s/missing" % base)
    assert (r.rc, r.err) == (1, [NO_NODE % ("%s/missing" % base)]), r


# ---- watches ------------------------------------------------------------------------------

def test_get_watch_fires_once(script, base):
    r = script([
        "create %s v0" % base,
        "get -w %s" % base,
        "set %s v1" % base,
        "set %s v2" % base,
        "sync %s" % base,
        "get %s" % base,
    ])
    assert r[1] == ["v0"], r
    assert r[5] == ["v2"], r
    assert r.events == [("NodeDataChanged", base)], r


def test_ls_and_stat_watches(script, base):
    r = script([
        "create %s" % base,
        "ls -w %s" % base,
        "create %s/a" % base,
        "create %s/b" % base,
        "stat -w %s/later" % base,
        "create %s/later x" % base,
        "stat -w %s/a" % base,
        "delete %s/a" % base,
        "sync %s" % base,
    ])
    assert r[1] == ["[]"], r
    assert r[4] == [NO_NODE % ("%s/later" % base)], r
    assert r.events == [
        ("NodeChildrenChanged", base),
        ("NodeCreated", base + "/later"),
        ("NodeDeleted", base + "/a"),
    ], r


def test_addwatch_persistent_recursive(script, base):
    r = script([
        "create %s" % base,
        "addWatch %s" % base,
        "create %s/a 1" % base,
        "create %s/a/b 2" % base,
        "set %s/a/b 3" % base,
        "set %s 4" % base,
        "delete %s/a/b" % base,
        "sync %s" % base,
    ])
    assert r[1] == [], r
    assert r.events == [
        ("NodeCreated", base + "/a"),
        ("NodeCreated", base + "/a/b"),
        ("NodeDataChanged", base + "/a/b"),
        ("NodeDataChanged", base),
        ("NodeDeleted", base + "/a/b"),
    ], r


def test_addwatch_persistent(script, base):
    r = script([
        "create %s" % base,
        "addWatch -m PERSISTENT %s" % base,
        "create %s/a 1" % base,
        "create %s/a/b 2" % base,
        "set %s x" % base,
        "set %s y" % base,
        "delete %s/a/b" % base,
        "delete %s/a" % base,
        "delete %s" % base,
        "sync /",
    ])
    assert r[1] == [], r
    assert r.events == [
        ("NodeChildrenChanged", base),
        ("NodeDataChanged", base),
        ("NodeDataChanged", base),
        ("NodeChildrenChanged", base),
        ("NodeDeleted", base),
    ], r


# ---- config, version, quotas --------------------------------------------------------------

def test_config(script):
    r = script([
        "config",
        "config -s",
        "get /zookeeper/config",
        "ls /zookeeper/config",
    ])
    # standalone: /zookeeper/config holds empty data (zkCli prints it as an empty line, a
    # null would print "null")
    assert r[0] == [], r
    stat, rest = parse_stat(r[1])
    assert rest == [], r
    assert (stat["cZxid"], stat["mZxid"], stat["dataVersion"], stat["aclVersion"]) == (
        "0x0", "0x0", "0", "-1"), r
    assert (stat["dataLength"], stat["numChildren"], stat["ephemeralOwner"]) == ("0", "0", "0x0"), r
    assert r[2] == [], r
    assert r[3] == ["[]"], r
    assert "null" not in r.raw.splitlines(), r


def test_version_in_a_session(script):
    """`version` is answered by zkCli itself (it is the separator after every scripted
    command); here it runs inside a session the server accepted."""
    r = script(["sync /", "whoami"])
    assert r[0] == ["Sync is OK"], r
    assert r[1] == ["Auth scheme: User", "ip: 127.0.0.1"], r
    raw = r.raw.splitlines()
    versions = [l for l in raw if l.startswith("ZooKeeper CLI version: ")]
    assert len(versions) == 2, r
    assert all(v.startswith("ZooKeeper CLI version: 3.8.0") for v in versions), versions
    assert "WatchedEvent state:SyncConnected type:None path:null" in raw, r


def test_quota(script, cli, base):
    """setquota / listquota / delquota: zkCli writes zookeeper_limits and zookeeper_stats
    under /zookeeper/quota; the server keeps zookeeper_stats up to date (the node count and
    data bytes of the subtree)."""
    limits = "/zookeeper/quota%s/zookeeper_limits" % base
    stats = "/zookeeper/quota%s/zookeeper_stats" % base
    quota_line = "Output quota for %s count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1" % base
    r = script([
        "create %s ab" % base,
        "create %s/a xyz" % base,
        "setquota -n 5 %s" % base,
        "listquota %s" % base,
        "get %s" % limits,
        "get %s" % stats,
        "create %s/b 1234" % base,
        "listquota %s" % base,
        "get %s" % stats,
        "setquota -b 100 %s/a" % base,
        "delquota %s" % base,
        "listquota %s" % base,
    ])
    assert r[2] == [], r
    assert r[4] == ["count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"], r
    assert r[9] == ["%s/a has a parent %s which has a quota" % (base, base)], r
    assert r[10] == [], r
    assert r[11] == ["absolute path is %s" % limits, "quota for %s does not exist." % base], r
    # the server-maintained usage: 2 nodes ("ab", "xyz"), then 3 ("1234" added)
    assert r[5] == ["count=2,bytes=5"], r
    assert r[3] == ["absolute path is %s" % limits, quota_line,
                    "Output stat for %s count=2,bytes=5" % base], r
    assert r[8] == ["count=3,bytes=9"], r
    assert r[7] == ["absolute path is %s" % limits, quota_line,
                    "Output stat for %s count=3,bytes=9" % base], r
    r = cli("listquota %s/missing" % base)
    assert "quota for %s/missing does not exist." % base in r.lines, r
