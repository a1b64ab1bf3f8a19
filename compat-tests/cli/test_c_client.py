"""ZooKeeper's C client (libzookeeper-mt 3.8.0) through its shells `cli_mt` and `load_gen`.

`climt` is a `cli_mt -h host:port` session driven line by line (see clitools.CliMt); every
method returns once cli_mt printed the command's completion. cli_mt creates every node with
the data "new" and the open ACL; `get`, `ls` and `exists` leave a watch. Return codes are the
C client's: 0 ZOK, -101 ZNONODE, -102 ZNOAUTH, -108 ZNOCHILDRENFOREPHEMERALS, -110
ZNODEEXISTS, -111 ZNOTEMPTY.
"""

import re
import selectors
import signal
import subprocess
import time

import clitools
from clitools import cli_mt_batch, parse_stat, wait_for, zkcli

ZOK = 0
ZNONODE = -101
ZNOAUTH = -102
ZNOCHILDRENFOREPHEMERALS = -108
ZNODEEXISTS = -110
ZNOTEMPTY = -111


def test_create_and_get(climt, base):
    assert climt.create(base) == (ZOK, base)
    rc, value, stat = climt.get(base)
    assert (rc, value) == (ZOK, "new")
    assert (stat["version"], stat["aversion"], stat["ephemeralOwner"]) == (0, 0, 0), stat
    assert stat["czxid"] == stat["mzxid"] > 0, stat
    rc, name, stat = climt.create(base + "/two", two=True)
    assert (rc, name) == (ZOK, base + "/two")
    assert (stat["version"], stat["aversion"], stat["ephemeralOwner"]) == (0, 0, 0), stat
    assert stat["czxid"] == stat["mzxid"] > 0, stat


def test_create_errors(climt, base):
    assert climt.create(base) == (ZOK, base)
    assert climt.create(base) == (ZNODEEXISTS, None)
    assert climt.create(base + "/missing/child") == (ZNONODE, None)
    assert climt.create(base, two=True) == (ZNODEEXISTS, None, None)
    assert climt.create(base + "/missing/child", two=True) == (ZNONODE, None, None)


def test_set_and_get(climt, base):
    assert climt.create(base)[0] == ZOK
    rc, stat = climt.set(base, "hello")
    assert rc == ZOK and stat["version"] == 1, stat
    assert stat["mzxid"] > stat["czxid"], stat
    rc, value, stat2 = climt.get(base)
    assert (rc, value, stat2) == (ZOK, "hello", stat)
    rc, stat = climt.set(base, "hello world")
    assert rc == ZOK and stat["version"] == 2, stat
    assert climt.get(base)[:2] == (ZOK, "hello world")


def test_missing_node_reads_and_writes(climt, base):
    assert climt.get(base) == (ZNONODE, None, None)
    assert climt.set(base, "x") == (ZNONODE, None)
    assert climt.ls(base) == (ZNONODE, [])
    assert climt.ls2(base) == (ZNONODE, [], None)
    assert climt.delete(base) == ZNONODE


def test_ls_and_ls2(climt, base):
    assert climt.create(base)[0] == ZOK
    assert climt.ls(base) == (ZOK, [])
    for kid in ("a", "b", "c"):
        assert climt.create("%s/%s" % (base, kid))[0] == ZOK
    rc, kids = climt.ls(base)
    assert rc == ZOK and sorted(kids) == ["a", "b", "c"], kids
    rc, kids, stat = climt.ls2(base)
    assert rc == ZOK and sorted(kids) == ["a", "b", "c"], kids
    assert stat["version"] == 0 and stat["ephemeralOwner"] == 0, stat
    rc, kids = climt.ls("/")
    assert rc == ZOK and base[1:] in kids and "zookeeper" in kids, kids
    rc, kids = climt.ls("/zookeeper")
    assert rc == ZOK and sorted(kids) == ["config", "quota"], kids


def test_exists(climt, base):
    assert climt.exists(base) == "Error %d for %s" % (ZNONODE, base)
    assert climt.create(base)[0] == ZOK
    assert climt.exists(base) == ""
    assert climt.exists("/") == ""


def test_delete(climt, base):
    assert climt.create(base)[0] == ZOK
    assert climt.create(base + "/kid")[0] == ZOK
    assert climt.delete(base) == ZNOTEMPTY
    assert climt.delete(base + "/kid") == ZOK
    assert climt.delete(base + "/kid") == ZNONODE
    assert climt.delete(base) == ZOK
    assert climt.get(base)[0] == ZNONODE


def test_sync(climt, base):
    assert climt.create(base)[0] == ZOK
    assert climt.sync(base) == (ZOK, base)
    assert climt.sync("/") == (ZOK, "/")
    # sync does not look the path up
    assert climt.sync(base + "/missing") == (ZOK, base + "/missing")


def test_ephemeral(climt, server, base):
    assert climt.create(base)[0] == ZOK
    rc, name, stat = climt.create(base + "/e", "e", two=True)
    assert (rc, name) == (ZOK, base + "/e")
    assert stat["ephemeralOwner"] == climt.session_id, (stat, hex(climt.session_id))
    assert climt.create(base + "/e/kid") == (ZNOCHILDRENFOREPHEMERALS, None)
    # another client sees the owner
    r = zkcli(server, "stat %s/e" % base)
    stat, _ = parse_stat(r.out)
    assert int(stat["ephemeralOwner"], 16) == climt.session_id, r
    assert climt.close() == 0
    r = zkcli(server, "ls %s" % base)
    assert (r.rc, r.out) == (0, ["[]"]), r


def test_sequential(climt, base):
    assert climt.create(base)[0] == ZOK
    assert climt.create(base + "/s-", "s") == (ZOK, base + "/s-0000000000")
    assert climt.create(base + "/s-", "s") == (ZOK, base + "/s-0000000001")
    assert climt.create(base + "/plain") == (ZOK, base + "/plain")
    rc, name, stat = climt.create(base + "/es-", "es", two=True)
    assert (rc, name) == (ZOK, base + "/es-0000000003")
    assert stat["ephemeralOwner"] == climt.session_id, stat
    rc, kids = climt.ls(base)
    assert sorted(kids) == ["es-0000000003", "plain", "s-0000000000", "s-0000000001"], kids


def test_container(climt, base):
    assert climt.create(base)[0] == ZOK
    rc, name, stat = climt.create(base + "/c", "c", two=True)
    assert (rc, name) == (ZOK, base + "/c")
    assert stat["ephemeralOwner"] == 0, stat
    assert climt.create(base + "/c/kid")[0] == ZOK
    assert climt.delete(base + "/c/kid") == ZOK
    wait_for(lambda: climt.get(base + "/c")[0] == ZNONODE, timeout=60, what="container reaped")


def test_ttl(climt, base):
    assert climt.create(base)[0] == ZOK
    rc, name, stat = climt.create(base + "/long", "t=600000", two=True)
    assert (rc, name) == (ZOK, base + "/long")
    assert stat["ephemeralOwner"] == 0, stat
    assert climt.create(base + "/ts-", "t=600000s") == (ZOK, base + "/ts-0000000001")
    assert climt.create(base + "/short", "t=1000") == (ZOK, base + "/short")
    wait_for(lambda: climt.get(base + "/short")[0] == ZNONODE, timeout=60, what="TTL expiry")
    rc, kids = climt.ls(base)
    assert sorted(kids) == ["long", "ts-0000000001"], kids


def test_data_watch(climt, base):
    assert climt.create(base)[0] == ZOK
    assert climt.get(base)[0] == ZOK  # leaves a data watch
    assert climt.set(base, "v1")[0] == ZOK
    climt.wait_event("CHANGED_EVENT", base)
    assert climt.set(base, "v2")[0] == ZOK
    assert climt.sync(base)[0] == ZOK
    assert climt.get(base)[:2] == (ZOK, "v2")  # re-arms it
    assert climt.delete(base) == ZOK
    climt.wait_event("DELETED_EVENT", base)
    assert climt.sync("/")[0] == ZOK
    climt.barrier()
    # one event per arming
    assert climt.events() == [("CHANGED_EVENT", base), ("DELETED_EVENT", base)], climt.output()


def test_child_and_exists_watches(climt, base):
    assert climt.create(base)[0] == ZOK
    assert climt.ls(base) == (ZOK, [])  # child watch
    assert climt.exists(base + "/later") == "Error %d for %s/later" % (ZNONODE, base)
    assert climt.create(base + "/later") == (ZOK, base + "/later")
    climt.wait_event("CHILD_EVENT", base)
    climt.wait_event("CREATED_EVENT", base + "/later")
    assert climt.create(base + "/more")[0] == ZOK
    assert climt.sync(base)[0] == ZOK
    climt.barrier()
    assert sorted(climt.events()) == [
        ("CHILD_EVENT", base), ("CREATED_EVENT", base + "/later")], climt.output()


def test_watch_from_another_client(climt, server, base):
    assert climt.create(base)[0] == ZOK
    assert climt.get(base)[0] == ZOK
    r = zkcli(server, "set %s changed-by-java" % base)
    assert r.rc == 0, r
    climt.wait_event("CHANGED_EVENT", base)
    assert climt.get(base)[:2] == (ZOK, "changed-by-java")


def test_addauth_digest(climt, server, base):
    r = zkcli(server, "create %s secret digest:alice:V55/p2T0OpjQ+low3NVAH4aLvm0=:cdrwa" % base)
    assert r.rc == 0, r
    assert climt.get(base)[0] == ZNOAUTH
    assert climt.set(base, "x")[0] == ZNOAUTH
    assert climt.create(base + "/kid")[0] == ZNOAUTH
    climt.addauth("digest", "alice:wrong")
    assert climt.get(base)[0] == ZNOAUTH
    climt.addauth("digest", "alice:pw")
    assert climt.get(base)[:2] == (ZOK, "secret")
    assert climt.set(base, "x")[0] == ZOK
    assert climt.create(base + "/kid") == (ZOK, base + "/kid")
    # a second session without the credential
    other = climt.new()
    assert other.get(base)[0] == ZNOAUTH
    assert other.get(base + "/kid")[:2] == (ZOK, "new")


def test_config(climt):
    rc, value, stat = climt.config()
    assert (rc, value) == (ZOK, ""), (rc, value)
    assert stat == {"czxid": 0, "mzxid": 0, "version": 0, "aversion": 0xFFFFFFFF,
                    "ephemeralOwner": 0}, stat


def test_cross_client_data(climt, server, base):
    r = zkcli(server, "create %s from-java" % base)
    assert r.rc == 0, r
    assert climt.get(base)[:2] == (ZOK, "from-java")
    assert climt.create(base + "/c")[0] == ZOK
    assert climt.set(base + "/c", "from-c")[0] == ZOK
    r = zkcli(server, "get -s %s/c" % base)
    stat, rest = parse_stat(r.out)
    assert rest == ["from-c"] and stat["dataVersion"] == "1", r


def test_batch_mode(server, base):
    rc, out = cli_mt_batch(server, "create %s" % base)[:2]
    assert rc == 0 and re.search(r"^\[%s\]: rc = 0\n\tname = %s\n" % (base, base), out, re.M), out
    rc, out = cli_mt_batch(server, "create %s" % base)[:2]
    assert rc == 0 and re.search(r"^\[%s\]: rc = -110\n" % base, out, re.M), out
    rc, out = cli_mt_batch(server, "get %s" % base)[:2]
    assert rc == 0 and re.search(r"^%s: rc = 0\n value_len = 3\nnew\nStat:\n" % base, out, re.M), out
    rc, out = cli_mt_batch(server, "ls2 %s" % base)[:2]
    assert rc == 0 and re.search(r"^%s: rc = 0\ntime = \d+ msec\n\tctime = " % base, out, re.M), out
    rc, out = cli_mt_batch(server, "delete %s" % base)[:2]
    assert rc == 0 and re.search(r"^%s: rc = 0\n" % base, out, re.M), out
    rc, out = cli_mt_batch(server, "get %s" % base)[:2]
    assert rc == 0 and re.search(r"^%s: rc = -101\n\nStat:\nnull\n" % base, out, re.M), out


def test_load_gen(server, base):
    """load_gen creates N children, sets, reads back ("second") and deletes them, in a loop
    until killed; it exits 1 on a wrong read and logs every failed create/set/get."""
    clitools.require(clitools.LOAD_GEN)
    n = 100
    proc = subprocess.Popen(
        [clitools.LOAD_GEN, server.hostport, base, str(n)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out = b""
    cycles = 0
    deadline = time.monotonic() + 60
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while cycles < 3 and time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=0.5):
                d = proc.stdout.read1(65536)
                if not d:
                    break
                out += d
                cycles = out.count(b"Starting the delete cycle for path %s\n" % base.encode())
        exited = proc.poll()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            clitools.kill_own_group(proc)
            proc.wait(timeout=10)
        out += proc.stdout.read()
    text = out.decode("utf-8", "replace")
    assert exited is None, "load_gen exited by itself (%s):\n%s" % (exited, text[-3000:])
    assert cycles >= 3, "only %d full cycles in 60 s:\n%s" % (cycles, text[-3000:])
    bad = [l for l in text.splitlines() if "ZOO_ERROR" in l or "Failed to" in l or "Invalid read" in l]
    assert bad == [], "\n".join(bad[:20])
    # the root it created holds "root"
    r = zkcli(server, "get %s" % base)
    assert (r.rc, r.out) == (0, ["root"]), r
    # `load_gen host path clean` deletes the subtree, depth first, and says how many nodes
    rc, out, _ = clitools._run([clitools.LOAD_GEN, server.hostport, base, "clean"], merge=True)
    m = re.search(r"Successfully deleted a subtree starting at %s \((\d+) nodes\)" % base, out)
    assert rc == 0 and m, out[-3000:]
    assert 1 <= int(m.group(1)) <= n + 1, out[-3000:]
    r = zkcli(server, "stat %s" % base)
    assert r.rc == 1, r
