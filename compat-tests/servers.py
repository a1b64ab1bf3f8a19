"""Start and stop a ZooKeeper-protocol server for the compat suites.

Two servers speak the same wire protocol and read the same zoo.cfg:

* ``start_zookeeper(tmpdir, **opts)``: the real Apache ZooKeeper 3.8.0 (Debian's
  ``zookeeper`` package), standalone, as ``java ... ZooKeeperServerMain zoo.cfg``;
* ``start_raftzk(tmpdir, **opts)``: ``$RAFTZK_BIN`` (default
  ``$CARGO_TARGET_DIR/release/raftzk``, else ``<repo>/target/release/raftzk``)
  run as ``raftzk --config zoo.cfg``.

Each listens on a free 127.0.0.1 port with its own data directory under
``tmpdir``; the call returns once the port answers ``ruok`` with ``imok`` and
``srvr`` no longer says "not currently serving" (at most ``start_timeout``
seconds, default 30) and gives back a ``Server`` with
``host``, ``port``, ``hostport``, ``pid``, ``log_path`` and ``stop()``.
``stop()`` signals only that PID (SIGTERM, then SIGKILL after a grace period);
``restart()`` stops it and starts the same command on the same zoo.cfg and data.

Options (keyword arguments of both start functions):
  tick_time=2000, min_session_timeout=None, max_session_timeout=None,
  container_check_interval_ms=1000, extended_types=True,
  extra_cfg={key: value} (more zoo.cfg lines), start_timeout=30,
  secure_port=False (True: a secureClientPort too, on a free port, with the Netty factory
  ZooKeeper needs for TLS; the server's .secure_port), plain_port=True (False: no clientPort,
  a TLS-only server, whose readiness is asked over TLS with ready_tls, an ssl.SSLContext),
  jvm_flags=[...] (-D flags: ZooKeeper's java command line; raftzk's SERVER_JVMFLAGS);
  start_zookeeper also takes heap="512m" (the JVM's -Xmx).

Usable as a library or from the command line for manual runs:
  python3 servers.py zk|raftzk [tmpdir]   (prints host:port, Ctrl-C stops)
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

ZK_CLASSPATH = ":".join(
    [
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/zookeeper-jute.jar",
        "/usr/share/java/slf4j-api.jar",
        "/usr/share/java/slf4j-simple.jar",
        # Debian's zookeeper.jar manifest lacks these: without them every TLS connection to
        # the Netty factory dies (ClassNotFoundException: ByteToMessageDecoder).
        "/usr/share/java/netty-codec.jar",
        "/usr/share/java/netty-resolver.jar",
        "/usr/share/java/netty-transport-native-unix-common.jar",
    ]
)


class ServerStartError(RuntimeError):
    pass


_next_port = [None]


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago, below Linux's ephemeral range
    (32768+): a port from bind(0) can be taken by an outgoing connection (a member dialing its
    peers) before the server meant to listen on it binds it. Picks go round 20000..31999 from
    a per-process start, so one process never hands out the same port twice in a row."""
    low, span = 20000, 12000
    if _next_port[0] is None:
        _next_port[0] = (os.getpid() * 97 + int(time.time() * 1000)) % span
    for _ in range(span):
        port = low + _next_port[0] % span
        _next_port[0] += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in %d..%d" % (low, low + span))


def four_letter_word(host, port, cmd, timeout=5.0):
    """Send a 4lw command (e.g. b'ruok') on a fresh connection and return the
    whole text reply (the server closes after it)."""
    if isinstance(cmd, str):
        cmd = cmd.encode()
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(cmd)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            out += d
    return out.decode("utf-8", "replace")


class Server:
    argv = None  # the command that started it (set by _start), for restart()
    env = None
    secure_port = None  # secureClientPort, when started with secure_port=True
    ready_tls = None  # the ssl.SSLContext readiness is checked with on a TLS-only server

    def __init__(self, kind, host, port, proc, data_dir, cfg_path, log_path):
        self.kind = kind
        self.host = host
        self.port = port
        self.proc = proc
        self.pid = proc.pid
        self.data_dir = data_dir
        self.cfg_path = cfg_path
        self.log_path = log_path

    @property
    def hostport(self):
        return "%s:%d" % (self.host, self.port)

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def stop(self, grace=10.0):
        """Stop this server: SIGTERM to its own PID, SIGKILL after `grace` s."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            os.kill(self.pid, signal.SIGTERM)
            os.kill(self.pid, signal.SIGCONT)  # a frozen (SIGSTOPped) server must see it
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return self.proc.wait(timeout=grace)

    def restart(self, timeout=120.0, extra_cfg=None):
        """Stop this server and start it again on the same zoo.cfg (plus `extra_cfg` lines)
        and data; returns the seconds from the new process's start to serving."""
        self.stop()
        if extra_cfg:
            with open(self.cfg_path, "a") as f:
                for k, v in extra_cfg.items():
                    f.write("%s=%s\n" % (k, v))
        log = open(self.log_path, "ab")
        try:
            started = time.monotonic()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=os.path.dirname(self.cfg_path),
                env=self.env,
                start_new_session=True,
            )
        finally:
            log.close()
        self.pid = self.proc.pid
        _wait_ready(self, timeout, poll=0.05)
        return time.monotonic() - started

    def __repr__(self):
        return "<%s %s pid=%d>" % (self.kind, self.hostport, self.pid)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _zoo_cfg(data_dir, port, tick_time=2000, min_session_timeout=None,
             max_session_timeout=None, container_check_interval_ms=1000,
             extended_types=True, extra_cfg=None, metrics_port=None,
             secure_port=None, plain_port=True, ready_tls=None, jvm_flags=None):
    # raftzk serves /metrics by default on 7000: every server gets a free port of its own
    # (ZooKeeper reads the key only with the Prometheus provider, which Debian's lacks).
    lines = ["tickTime=%d" % tick_time, "dataDir=%s" % data_dir]
    if plain_port:
        lines += ["clientPort=%d" % port, "clientPortAddress=127.0.0.1"]
    if secure_port:
        # ZooKeeper serves TLS only with the Netty connection factory.
        lines += [
            "secureClientPort=%d" % secure_port,
            "secureClientPortAddress=127.0.0.1",
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
        ]
    lines += [
        "admin.enableServer=false",
        "metricsProvider.httpPort=%d" % (metrics_port or free_port()),
        "4lw.commands.whitelist=*",
        "extendedTypesEnabled=%s" % ("true" if extended_types else "false"),
    ]
    if container_check_interval_ms is not None:
        # raftzk reads it as a zoo.cfg key; ZooKeeper only reads the plain
        # system property (passed with -D below) and ignores this line.
        lines.append("znode.container.checkIntervalMs=%d" % container_check_interval_ms)
    if min_session_timeout is not None:
        lines.append("minSessionTimeout=%d" % min_session_timeout)
    if max_session_timeout is not None:
        lines.append("maxSessionTimeout=%d" % max_session_timeout)
    for k, v in (extra_cfg or {}).items():
        lines.append("%s=%s" % (k, v))
    return "\n".join(lines) + "\n"


def mntr_value(server, key):
    """One key of the server's mntr (e.g. "zk_connection_rejected"), or None."""
    for line in four_letter_word(server.host, server.port, b"mntr").splitlines():
        name, _, value = line.partition("\t")
        if name == key:
            return value
    return None


def four_letter_word_tls(host, port, cmd, context, timeout=5.0):
    """A 4lw over TLS (`context`: an ssl.SSLContext, with a client certificate where the
    server needs one): ZooKeeper answers 4lw inside TLS as on a plain port."""
    if isinstance(cmd, str):
        cmd = cmd.encode()
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw) as s:
            s.sendall(cmd)
            out = b""
            while True:
                try:
                    d = s.recv(65536)
                except (ConnectionResetError, socket.timeout, OSError):
                    break
                if not d:
                    break
                out += d
    return out.decode("utf-8", "replace")


def _wait_ready(server, timeout, poll=0.2):
    deadline = time.monotonic() + timeout
    last = None
    ask = lambda word: four_letter_word(server.host, server.port, word, timeout=2.0)  # noqa: E731
    if server.ready_tls is not None:
        # A TLS-only server: ask on the secure port.
        ask = lambda word: four_letter_word_tls(  # noqa: E731
            server.host, server.secure_port, word, server.ready_tls, timeout=2.0)
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerStartError(
                "%s exited with status %s before answering ruok; log %s:\n%s"
                % (server.kind, server.proc.returncode, server.log_path, server.log_tail())
            )
        try:
            if ask(b"ruok") == "imok":
                # ZooKeeper answers imok as soon as it listens, before its
                # database is loaded; until then srvr says so.
                srvr = ask(b"srvr")
                if "not currently serving" not in srvr:
                    return
        except OSError as e:
            last = e
        time.sleep(poll)
    server.stop()
    raise ServerStartError(
        "%s did not answer ruok with imok on %s within %.0f s (last error: %r); log %s:\n%s"
        % (server.kind, server.hostport, timeout, last, server.log_path, server.log_tail())
    )


def _start(kind, tmpdir, argv_for, env=None, start_timeout=30, attempts=3, **opts):
    tmpdir = os.path.abspath(str(tmpdir))
    os.makedirs(tmpdir, exist_ok=True)
    last_err = None
    wants_secure = opts.pop("secure_port", False)
    for attempt in range(attempts):
        port = free_port()
        secure_port = free_port() if wants_secure else None
        base = tempfile.mkdtemp(prefix="%s-%d-" % (kind, port), dir=tmpdir)
        data_dir = os.path.join(base, "data")
        os.makedirs(data_dir)
        cfg_path = os.path.join(base, "zoo.cfg")
        with open(cfg_path, "w") as f:
            f.write(_zoo_cfg(data_dir, port, secure_port=secure_port, **opts))
        log_path = os.path.join(base, "server.log")
        log = open(log_path, "wb")
        try:
            proc = subprocess.Popen(
                argv_for(cfg_path, opts),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=base,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
        server = Server(kind, "127.0.0.1", port, proc, data_dir, cfg_path, log_path)
        server.argv, server.env = argv_for(cfg_path, opts), env
        server.secure_port = secure_port
        server.ready_tls = None if opts.get("plain_port", True) else opts.get("ready_tls")
        try:
            _wait_ready(server, start_timeout)
            return server
        except ServerStartError as e:
            server.stop()
            last_err = e
            # a lost race for the port: try another one
            if "Address already in use" in server.log_tail(200) and attempt + 1 < attempts:
                continue
            raise
    raise last_err


def start_zookeeper(tmpdir, **opts):
    """Start the real ZooKeeper 3.8.0 standalone; see the module doc for opts."""
    if not os.path.exists("/usr/share/java/zookeeper.jar"):
        raise ServerStartError(
            "ZooKeeper is not installed: apt-get install -y zookeeper zookeeper-bin"
        )

    heap = opts.pop("heap", "512m")

    def argv(cfg_path, o):
        interval = o.get("container_check_interval_ms", 1000)
        av = [
            "java",
            "-Xmx%s" % heap,
            "-Dzookeeper.admin.enableServer=false",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        ]
        if o.get("extended_types", True):
            av.append("-Dzookeeper.extendedTypesEnabled=true")
        if interval is not None:
            av.append("-Dznode.container.checkIntervalMs=%d" % interval)
        av += list(o.get("jvm_flags") or [])
        av += ["-cp", ZK_CLASSPATH, "org.apache.zookeeper.server.ZooKeeperServerMain", cfg_path]
        return av

    return _start("zookeeper", tmpdir, argv, **opts)


def raftzk_binary():
    if os.environ.get("RAFTZK_BIN"):
        return os.environ["RAFTZK_BIN"]
    if os.environ.get("CARGO_TARGET_DIR"):
        return os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "raftzk")
    return os.path.join(REPO, "target", "release", "raftzk")


def start_raftzk(tmpdir, **opts):
    """Start raftzk (`raftzk --config zoo.cfg`); see the module doc for opts."""
    binary = raftzk_binary()
    if not os.access(binary, os.X_OK):
        raise ServerStartError(
            "raftzk binary not found or not executable at %s "
            "(build it with cargo build --release, or set RAFTZK_BIN)" % binary
        )

    def argv(cfg_path, o):
        return [binary, "--config", cfg_path]

    env = None
    if opts.get("jvm_flags"):
        # What zkServer.sh passes to Java; raftzk reads its -D properties the same way.
        env = dict(os.environ, SERVER_JVMFLAGS=" ".join(opts["jvm_flags"]))
    return _start("raftzk", tmpdir, argv, env=env, **opts)


def start_server(kind, tmpdir, **opts):
    if kind in ("zk", "zookeeper"):
        return start_zookeeper(tmpdir, **opts)
    if kind == "raftzk":
        return start_raftzk(tmpdir, **opts)
    raise ValueError("unknown server kind %r (zk or raftzk)" % kind)


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "zk"
    tmp = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="compat-")
    srv = start_server(kind, tmp)
    print(srv.hostport, "pid", srv.pid, "log", srv.log_path, flush=True)
    try:
        while srv.alive():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
