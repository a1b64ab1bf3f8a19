"""Start a 3-member (or n-member) ensemble for the cluster cases of the compat suites.

* ``start_zookeeper_ensemble(tmpdir, n=3, **opts)``: the real ZooKeeper 3.8.0, each member
  ``java ... QuorumPeerMain zoo.cfg`` with ``myid`` in its dataDir, every port a free loopback
  port (client, quorum, election).
* ``start_raftzk_cluster(tmpdir, n=3, **opts)``: raftzk members (``raftzk --config zoo.cfg``)
  with the same zoo.cfg layout: ``server.N=127.0.0.1:peer:election;127.0.0.1:client`` lines and
  ``myid`` in each dataDir.

``Ensemble`` has ``members`` (``servers.Server`` objects), ``connect_string``
(``host:port,host:port,...``), ``mode(i)`` (``leader``/``follower`` from ``srvr``),
``leader_index()``, ``kill(i)`` (SIGKILL, that member only), ``restart(i)`` and ``stop()``.
Options are those of ``servers.start_zookeeper`` (tick_time, min/max_session_timeout,
container_check_interval_ms, extended_types, extra_cfg, start_timeout), plus ``read_only``:
read-only mode on every member (ZooKeeper: the ``readonlymode.enabled`` system property;
raftzk: the zoo.cfg key of that name), ``heap`` (ZooKeeper's -Xmx, default 256m),
``member_cfg`` (a function of the member's index giving zoo.cfg lines for that member only)
and ``serving`` (the indexes to wait for at start, default all: a member meant never to join
is left out).
"""

import os
import signal
import subprocess
import tempfile
import time

import servers


class ClusterPending(RuntimeError):
    """A server kind without a cluster: its cluster cases are reported pending."""


class Member(servers.Server):
    def __init__(self, index, argv, base, port, data_dir, cfg_path, log_path):
        self.index = index
        self.argv = argv
        self.base = base
        proc = self._spawn(argv, base, log_path)
        super().__init__("zookeeper", "127.0.0.1", port, proc, data_dir, cfg_path, log_path)

    @staticmethod
    def _spawn(argv, base, log_path):
        log = open(log_path, "ab")
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=base,
                start_new_session=True,
            )
        finally:
            log.close()

    def kill9(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def respawn(self):
        self.kill9()
        self.proc = self._spawn(self.argv, self.base, self.log_path)
        self.pid = self.proc.pid


class Ensemble:
    def __init__(self, members):
        self.members = members

    @property
    def connect_string(self):
        return ",".join(m.hostport for m in self.members)

    def mode(self, i):
        m = self.members[i]
        if not m.alive():
            return None
        try:
            srvr = servers.four_letter_word(m.host, m.port, b"srvr", timeout=2.0)
        except OSError:
            return None
        for line in srvr.splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: "):].strip()
        return None

    def leader_index(self, timeout=30.0):
        """The index of the current leader, waiting (bounded) for one to exist."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in range(len(self.members)):
                if self.mode(i) == "leader":
                    return i
            time.sleep(0.1)
        raise servers.ServerStartError("no leader within %.0f s" % timeout)

    def wait_serving(self, timeout=60.0, indexes=None):
        """Waits until the given members (default all alive) are leader or follower."""
        deadline = time.monotonic() + timeout
        want = indexes if indexes is not None else [
            i for i, m in enumerate(self.members) if m.alive()
        ]
        while time.monotonic() < deadline:
            if all(self.mode(i) in ("leader", "follower", "observer") for i in want):
                return
            time.sleep(0.2)
        raise servers.ServerStartError(
            "ensemble not serving within %.0f s: %s"
            % (timeout, {i: self.mode(i) for i in want})
        )

    def kill(self, i):
        self.members[i].kill9()

    def restart(self, i, timeout=60.0):
        self.members[i].respawn()
        self.wait_serving(timeout, indexes=[i])

    def stop(self):
        for m in self.members:
            m.stop()


def start_zookeeper_ensemble(tmpdir, n=3, start_timeout=90, **opts):
    if not os.path.exists("/usr/share/java/zookeeper.jar"):
        raise servers.ServerStartError(
            "ZooKeeper is not installed: apt-get install -y zookeeper zookeeper-bin"
        )
    tmpdir = os.path.abspath(str(tmpdir))
    os.makedirs(tmpdir, exist_ok=True)
    ports = [(servers.free_port(), servers.free_port(), servers.free_port()) for _ in range(n)]
    quorum = {
        "server.%d" % (i + 1): "127.0.0.1:%d:%d" % (peer, election)
        for i, (_, peer, election) in enumerate(ports)
    }
    extra = dict(opts.pop("extra_cfg", None) or {})
    read_only = opts.pop("read_only", False)
    heap = opts.pop("heap", "256m")
    member_cfg = opts.pop("member_cfg", None) or (lambda i: {})
    serving = opts.pop("serving", None)
    extra.update({"initLimit": 10, "syncLimit": 5})
    extra.update(quorum)
    members = []
    for i, (client, _, _) in enumerate(ports):
        base = tempfile.mkdtemp(prefix="zk-ens-%d-" % (i + 1), dir=tmpdir)
        data_dir = os.path.join(base, "data")
        os.makedirs(data_dir)
        with open(os.path.join(data_dir, "myid"), "w") as f:
            f.write("%d\n" % (i + 1))
        cfg = servers._zoo_cfg(data_dir, client, extra_cfg={**extra, **member_cfg(i)}, **opts)
        cfg_path = os.path.join(base, "zoo.cfg")
        with open(cfg_path, "w") as f:
            f.write(cfg)
        interval = opts.get("container_check_interval_ms", 1000)
        argv = [
            "java",
            "-Xmx%s" % heap,
            "-Dzookeeper.admin.enableServer=false",
            "-Dzookeeper.extendedTypesEnabled=true",
            "-Dznode.container.checkIntervalMs=%d" % (interval or 60000),
            "-Dreadonlymode.enabled=%s" % ("true" if read_only else "false"),
            "-cp",
            servers.ZK_CLASSPATH,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            cfg_path,
        ]
        members.append(
            Member(i, argv, base, client, data_dir, cfg_path, os.path.join(base, "server.log"))
        )
    ensemble = Ensemble(members)
    try:
        ensemble.wait_serving(start_timeout, indexes=serving)
    except Exception:
        ensemble.stop()
        raise
    return ensemble


def start_raftzk_cluster(tmpdir, n=3, start_timeout=90, **opts):
    binary = servers.raftzk_binary()
    if not os.access(binary, os.X_OK):
        raise servers.ServerStartError("raftzk binary not found at %s" % binary)
    tmpdir = os.path.abspath(str(tmpdir))
    os.makedirs(tmpdir, exist_ok=True)
    ports = [(servers.free_port(), servers.free_port(), servers.free_port()) for _ in range(n)]
    extra = dict(opts.pop("extra_cfg", None) or {})
    member_cfg = opts.pop("member_cfg", None) or (lambda i: {})
    serving = opts.pop("serving", None)
    if opts.pop("read_only", False):
        extra["readonlymode.enabled"] = "true"
    for i, (client, peer, election) in enumerate(ports):
        extra["server.%d" % (i + 1)] = "127.0.0.1:%d:%d;127.0.0.1:%d" % (peer, election, client)
    members = []
    for i, (client, _, _) in enumerate(ports):
        base = tempfile.mkdtemp(prefix="raftzk-ens-%d-" % (i + 1), dir=tmpdir)
        data_dir = os.path.join(base, "data")
        os.makedirs(data_dir)
        with open(os.path.join(data_dir, "myid"), "w") as f:
            f.write("%d\n" % (i + 1))
        cfg_path = os.path.join(base, "zoo.cfg")
        with open(cfg_path, "w") as f:
            f.write(servers._zoo_cfg(data_dir, client, extra_cfg={**extra, **member_cfg(i)}, **opts))
        argv = [binary, "--config", cfg_path]
        member = Member(i, argv, base, client, data_dir, cfg_path, os.path.join(base, "server.log"))
        member.kind = "raftzk"
        members.append(member)
    ensemble = Ensemble(members)
    try:
        ensemble.wait_serving(start_timeout, indexes=serving)
    except Exception:
        ensemble.stop()
        raise
    return ensemble


def start_ensemble(kind, tmpdir, n=3, **opts):
    if kind in ("zk", "zookeeper"):
        return start_zookeeper_ensemble(tmpdir, n=n, **opts)
    if kind == "raftzk":
        return start_raftzk_cluster(tmpdir, n=n, **opts)
    raise ValueError("unknown server kind %r" % kind)


if __name__ == "__main__":
    import sys

    tmp = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="ensemble-")
    ens = start_zookeeper_ensemble(tmp)
    print(ens.connect_string, "leader", ens.leader_index(), flush=True)
    ens.stop()
