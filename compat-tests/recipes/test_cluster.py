"""Cluster cases (run with --cluster): a 3-member ensemble (ensemble.py), clients spread
over every member, the leader member SIGKILLed mid-run. Against raftzk these report
PENDING until its cluster exists (issue 6)."""

import threading
import time

import pytest
from kazoo.protocol.states import KazooState

from recipetools import FAST_RECONNECT, Inside, retry_call, run_threads, tagged_increment, wait_for

pytestmark = pytest.mark.cluster


def _hosts_from(ens, i):
    """Connect string that starts at member i (then the others, in order)."""
    n = len(ens.members)
    return ",".join(ens.members[(i + k) % n].hostport for k in range(n))


def test_cluster_lock_leader_killed(ensemble, make_client):
    """12 clients over 3 members increment a counter under a Lock; the ensemble leader is
    killed once a third of the increments are done: never two holders, the counter exact."""
    ens = ensemble
    total, n_clients = 150, 12
    admin = make_client(hosts=ens.connect_string, timeout=15.0, connection_retry=FAST_RECONNECT)
    base = "/r-cluster-lock-%d" % int(time.time() * 1000)
    lp, cp = base + "/lock", base + "/counter"
    admin.create(cp, b"0:init", makepath=True)
    clients = [make_client(hosts=_hosts_from(ens, i % 3), randomize_hosts=False, timeout=15.0,
                           connection_retry=FAST_RECONNECT) for i in range(n_clients)]
    ports = {m.port: k for k, m in enumerate(ens.members)}
    on_member = [ports[c._connection._socket.getpeername()[1]] for c in clients]
    assert sorted(set(on_member)) == [0, 1, 2], on_member  # every member serves some
    lost, suspended = [], set()

    def listener(state, i):
        if state == KazooState.LOST:
            lost.append(i)
        elif state == KazooState.SUSPENDED:
            suspended.add(i)

    for i, c in enumerate(clients):
        c.add_listener(lambda s, i=i: listener(s, i))
    inside = Inside()
    done_values = []
    g = threading.Lock()
    leader = ens.leader_index()
    killed = threading.Event()

    def worker(i):
        c = clients[i]
        lock = c.Lock(lp, "c%d" % i)
        k = 0
        while True:
            assert lock.acquire(timeout=120)
            try:
                inside.enter(i)
                try:
                    v = tagged_increment(c, cp, b"c%d-%d" % (i, k), limit=total)
                    k += 1
                finally:
                    inside.leave()
            finally:
                retry_call(lock.release)
            if v is None:
                return
            with g:
                done_values.append(v)
                if len(done_values) == total // 3 and not killed.is_set():
                    killed.set()
                    ens.kill(leader)

    try:
        errors = run_threads([lambda i=i: worker(i) for i in range(n_clients)], timeout=200)
        assert killed.is_set()
        assert errors == [], errors
        assert inside.violations == []
        assert lost == [], "sessions lost during the failover: %r" % lost
        on_leader = {i for i, m in enumerate(on_member) if m == leader}
        assert on_leader <= suspended, (on_leader, suspended)  # they did lose their member
        assert sorted(done_values) == list(range(1, total + 1))
        assert int(retry_call(admin.get, cp)[0].split(b":")[0]) == total
        assert retry_call(admin.get_children, lp) == []
        new_leader = ens.leader_index(timeout=60)
        assert new_leader != leader
    finally:
        if killed.is_set():
            ens.restart(leader)
        try:
            admin.delete(base, recursive=True)
        except Exception:
            pass


def test_cluster_election_leader_member_killed(ensemble, make_client, metrics):
    """The elected leader's client knows only the ensemble's leader member; that member is
    SIGKILLed: the ensemble elects a new leader member, the old application leader's
    session expires there, and the next contender (on a surviving member) is elected."""
    ens = ensemble
    timeout = 6.0
    L = ens.leader_index()
    others = [i for i in range(len(ens.members)) if i != L]
    admin = make_client(hosts=ens.connect_string, timeout=15.0, connection_retry=FAST_RECONNECT)
    ep = "/r-cluster-election-%d" % int(time.time() * 1000)
    admin.ensure_path(ep)
    a = make_client(hosts=ens.members[L].hostport, timeout=timeout, connection_retry=FAST_RECONNECT)
    b = make_client(hosts=_hosts_from(ens, others[0]), randomize_hosts=False, timeout=timeout,
                    connection_retry=FAST_RECONNECT)
    c = make_client(hosts=_hosts_from(ens, others[1]), randomize_hosts=False, timeout=timeout,
                    connection_retry=FAST_RECONNECT)
    leaders = []
    cond = threading.Condition()
    forever = threading.Event()
    elections = {}

    def contend(name, client):
        e = client.Election(ep, name)
        elections[name] = e

        def lead():
            with cond:
                leaders.append((name, time.monotonic()))
                cond.notify_all()
            forever.wait()

        def run():
            try:
                e.run(lead)
            except Exception:
                pass  # after the test, when clients close

        threading.Thread(target=run, daemon=True).start()

    killed = False
    try:
        contend("a", a)
        with cond:
            assert cond.wait_for(lambda: [n for n, _ in leaders] == ["a"], 30)
        contend("b", b)
        wait_for(lambda: len(retry_call(admin.get_children, ep)) == 2, timeout=30, what="b queued")
        contend("c", c)
        wait_for(lambda: len(retry_call(admin.get_children, ep)) == 3, timeout=30, what="c queued")
        assert elections["b"].contenders() == ["a", "b", "c"]

        t_kill = time.monotonic()
        ens.kill(L)
        killed = True
        with cond:
            assert cond.wait_for(lambda: len(leaders) >= 2, 90), leaders
        name, t_new = leaders[1]
        assert name == "b"
        metrics.add("cluster_election_after_leader_member_killed", t_new - t_kill)
        new_member_leader = ens.leader_index(timeout=60)
        assert new_member_leader != L
        time.sleep(1.0)
        assert [n for n, _ in leaders] == ["a", "b"]
        assert retry_call(elections["c"].contenders) == ["b", "c"]
    finally:
        forever.set()
        if killed:
            ens.restart(L)
        try:
            admin.delete(ep, recursive=True)
        except Exception:
            pass


def test_cluster_read_only_member(server_kind, tmp_path_factory, make_client):
    """readonlymode.enabled: with two of three members killed, the survivor serves a kazoo
    client that allows read-only (read_only=True, a new session): reads see the data, writes
    fail with NotReadOnly; once the quorum is back the client is read-write again.
    ZooKeeper 3.8 needs localSessionsEnabled for this (without it, measured: a new session
    gets a NotReadOnly reply header instead of a ConnectResponse, and a resumed global session
    is disconnected); raftzk reads and ignores that key and always grants member-local
    read-only sessions."""
    from kazoo.exceptions import NotReadOnlyCallError
    from kazoo.protocol.states import KeeperState

    import ensemble as ensemble_mod

    ens = ensemble_mod.start_ensemble(server_kind, tmp_path_factory.mktemp("ro-ensemble"),
                                      n=3, read_only=True,
                                      extra_cfg={"localSessionsEnabled": "true"})
    try:
        admin = make_client(hosts=ens.connect_string, timeout=10.0)
        admin.create("/ro-data", b"before")
        admin.stop()
        leader = ens.leader_index()
        keep = (leader + 1) % 3
        for i in range(3):
            if i != keep:
                ens.kill(i)
        wait_for(lambda: ens.mode(keep) == "read-only", timeout=60, what="read-only mode")
        ro = make_client(hosts=ens.members[keep].hostport, timeout=10.0, read_only=True,
                         connection_retry=FAST_RECONNECT)
        assert ro.client_state == KeeperState.CONNECTED_RO
        assert ro.get("/ro-data")[0] == b"before"
        with pytest.raises(NotReadOnlyCallError):
            ro.create("/ro-data/x", b"")
        for i in range(3):
            if i != keep:
                ens.members[i].respawn()
        wait_for(lambda: ro.client_state == KeeperState.CONNECTED, timeout=90,
                 what="kazoo read-write again")
        retry_call(ro.create, "/ro-data/after", b"")
        assert ro.exists("/ro-data/after")
    finally:
        ens.stop()


def _config(client):
    """/zookeeper/config as {id: line} and its version (hex)."""
    data, stat = client.get("/zookeeper/config")
    return _parse_config(data), stat


def _parse_config(data):
    servers_, version = {}, None
    for line in data.decode().splitlines():
        key, _, value = line.partition("=")
        if key.startswith("server."):
            servers_[int(key[len("server."):])] = line
        elif key == "version":
            version = int(value, 16)
    return servers_, version


def test_cluster_reconfig_removes_and_adds_back_a_member(server_kind, tmp_path_factory,
                                                          make_client):
    """reconfigEnabled: the super user removes a follower (reconfig leaving), writes go on,
    then adds it back (reconfig joining with its old server line); /zookeeper/config follows
    each change and its version is the config id; a stale curConfigId is BadVersion, a
    plain client is NoAuth; the member added back catches up with what it missed."""
    import base64
    import hashlib

    from kazoo.exceptions import BadVersionError, NoAuthError

    import ensemble as ensemble_mod

    digest = base64.b64encode(hashlib.sha1(b"super:reconfig-test").digest()).decode()
    ens = ensemble_mod.start_ensemble(
        server_kind, tmp_path_factory.mktemp("reconfig-ensemble"), n=3,
        extra_cfg={"reconfigEnabled": "true",
                   "DigestAuthenticationProvider.superDigest": "super:" + digest})
    try:
        leader = ens.leader_index()
        victim = (leader + 1) % 3
        victim_id = victim + 1
        admin = make_client(hosts=ens.members[leader].hostport, timeout=10.0,
                            auth_data=[("digest", "super:reconfig-test")])
        (before, version), _ = _config(admin)
        assert sorted(before) == [1, 2, 3]
        assert all(line.split(";")[0].endswith(":participant") for line in before.values())

        plain = make_client(hosts=ens.members[leader].hostport, timeout=10.0)
        with pytest.raises(NoAuthError):
            plain.reconfig(joining=None, leaving=str(victim_id), new_members=None)
        with pytest.raises(BadVersionError):
            admin.reconfig(joining=None, leaving=str(victim_id), new_members=None,
                           from_config=version + 12345)

        data, stat = admin.reconfig(joining=None, leaving=str(victim_id), new_members=None,
                                    from_config=version)
        removed, removed_version = _parse_config(data)
        assert sorted(removed) == sorted(set(before) - {victim_id})
        assert removed_version != version
        assert _config(admin)[0] == (removed, removed_version)
        admin.create("/reconfig-while-removed", b"x")

        # ZooKeeper lists a member without its client address when zoo.cfg gave only
        # clientPort, but a joining server needs one.
        joining = before[victim_id]
        if ";" not in joining:
            joining += ";" + ens.members[victim].hostport
        data, _ = admin.reconfig(joining=joining, leaving=None, new_members=None)
        added, added_version = _parse_config(data)
        quorum_part = lambda lines: {i: l.split(";")[0] for i, l in lines.items()}
        assert quorum_part(added) == quorum_part(before), data
        assert added_version not in (version, removed_version)

        # The member added back serves what was written while it was out.
        back = make_client(hosts=ens.members[victim].hostport, timeout=10.0,
                           connection_retry=FAST_RECONNECT)
        def caught_up():
            back.sync("/")
            return back.exists("/reconfig-while-removed") is not None
        wait_for(caught_up, timeout=60, what="the re-added member catches up")
        retry_call(admin.create, "/reconfig-after", b"y")
        assert back.sync("/") and back.exists("/reconfig-after")
    finally:
        ens.stop()
