"""Tools shared by the kazoo recipe cases (no fixtures here; see conftest.py).

* ``wait_for``: poll a condition with a deadline.
* ``Metrics`` / ``METRICS``: latency samples collected by the cases, reported at the end
  of the session (conftest.py writes ``results/recipes-<server>.json``).
* ``TcpProxy``: a loopback TCP proxy in front of the server, to break a client's
  connection (``cut()``) and keep it broken for a while (``block()`` / ``unblock()``)
  without touching the client's session.
* ``Actor``: a kazoo client in a subprocess (``actor.py``), driven line by line over
  stdin/stdout, that the test can SIGKILL, SIGSTOP and SIGCONT by its PID.
* ``FencedRegister``: an in-test resource that accepts a write only with a fencing token
  greater than the last token it accepted.
* ``Inside``: counts who is inside a critical section and remembers the maximum.
"""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ACTOR = os.path.join(HERE, "actor.py")

# kazoo reconnect policy for clients that go through a TcpProxy: retry every ~0.1-0.3 s
# forever, so that a client whose connection was cut is back as soon as the proxy lets it
# (kazoo's default backoff would grow to seconds and could outlast a 4 s session).
FAST_RECONNECT = {"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 0.3, "max_jitter": 0.1}


def wait_for(cond, timeout=30.0, interval=0.02, what="condition"):
    """Poll cond() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def percentile(samples, p):
    """Nearest-rank percentile (p in 0..100) of a list of numbers, None if empty."""
    if not samples:
        return None
    s = sorted(samples)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Metrics:
    """Named lists of samples (seconds). Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.samples = {}
        self.notes = {}

    def note(self, name, value):
        """A plain number for the report (not a latency)."""
        with self._lock:
            self.notes[name] = value

    def add(self, name, seconds):
        with self._lock:
            self.samples.setdefault(name, []).append(float(seconds))

    def extend(self, name, values):
        with self._lock:
            self.samples.setdefault(name, []).extend(float(v) for v in values)

    def summary(self):
        """{name: {n, p50_ms, p99_ms, max_ms}}"""
        out = {}
        with self._lock:
            for name, vals in sorted(self.samples.items()):
                out[name] = {
                    "n": len(vals),
                    "p50_ms": round(percentile(vals, 50) * 1000.0, 3),
                    "p99_ms": round(percentile(vals, 99) * 1000.0, 3),
                    "max_ms": round(max(vals) * 1000.0, 3),
                }
        return out


METRICS = Metrics()


class Inside:
    """Who is inside a critical section right now; remembers violations."""

    def __init__(self):
        self._lock = threading.Lock()
        self.now = 0
        self.max = 0
        self.violations = []

    def enter(self, who, limit=1):
        with self._lock:
            self.now += 1
            self.max = max(self.max, self.now)
            if self.now > limit:
                self.violations.append((who, self.now, time.monotonic()))

    def leave(self):
        with self._lock:
            self.now -= 1


class FencedRegister:
    """A protected resource: accepts a write only if its token is greater than the
    greatest token it has accepted so far (the fencing rule)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.last_token = None
        self.value = None
        self.accepted = []  # (token, value)
        self.rejected = []  # (token, value, last_token)

    def write(self, token, value):
        with self._lock:
            if self.last_token is not None and token <= self.last_token:
                self.rejected.append((token, value, self.last_token))
                return False
            self.last_token = token
            self.value = value
            self.accepted.append((token, value))
            return True


class TcpProxy:
    """Forwards every connection made to 127.0.0.1:<port> to (host, target_port).

    cut()     resets every open connection (both sides, RST), as a network failure would;
    block()   makes new connections fail (accepted and reset at once) until unblock().
    """

    def __init__(self, host, target_port):
        self.target = (host, target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs = []
        self._blocked = False
        self._closed = False
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="proxy-accept")
        self._thread.start()

    @property
    def hostport(self):
        return "127.0.0.1:%d" % self.port

    @staticmethod
    def _reset(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def _accept_loop(self):
        while not self._closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self._lock:
                blocked = self._blocked or self._closed
            if blocked:
                self._reset(c)
                continue
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                self._reset(c)
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (c, u)
            with self._lock:
                self._pairs.append(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(c, u, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, pair), daemon=True).start()

    def _pump(self, src, dst, pair):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        self._drop(pair)

    def _drop(self, pair):
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        for s in pair:
            self._reset(s)

    def connections(self):
        with self._lock:
            return len(self._pairs)

    def cut(self):
        with self._lock:
            pairs = list(self._pairs)
            self._pairs = []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._reset(s)
        return len(pairs)

    def block(self):
        with self._lock:
            self._blocked = True

    def unblock(self):
        with self._lock:
            self._blocked = False

    def close(self):
        self._closed = True
        self.block()
        try:
            self.lsock.close()
        except OSError:
            pass
        self.cut()


class ActorError(AssertionError):
    pass


class Actor:
    """A kazoo client in its own process (actor.py), commanded line by line.

    The process runs in its own session (start_new_session) so that signals to it touch
    nothing else; kill()/stop()/cont() signal its PID only."""

    def __init__(self, hosts, timeout=4.0, name="actor", fast_reconnect=False):
        argv = [sys.executable, "-u", ACTOR, "--hosts", hosts, "--timeout", str(timeout)]
        if fast_reconnect:
            argv.append("--fast-reconnect")
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid
        self.lines = queue.Queue()
        self.log = []
        self._reader = threading.Thread(target=self._read, daemon=True, name="actor-" + name)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.log.append((time.monotonic(), line))
            self.lines.put(line)
        self.lines.put(None)

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix, timeout=30.0):
        """The next output line starting with prefix (other lines are skipped but kept
        in self.log); raises ActorError on timeout or exit."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ActorError("%s: no %r line within %.1f s; output so far: %r"
                                 % (self.name, prefix, timeout, self.tail()))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise ActorError("%s exited (rc=%s) before printing %r; output: %r"
                                 % (self.name, self.proc.poll(), prefix, self.tail()))
            if line.startswith("ERROR"):
                raise ActorError("%s: %s" % (self.name, line))
            if line.startswith(prefix):
                return line

    def call(self, cmd, reply, timeout=30.0):
        self.send(cmd)
        return self.expect(reply, timeout)

    def saw(self, prefix):
        return any(line.startswith(prefix) for _, line in self.log)

    def tail(self, n=20):
        return [line for _, line in self.log[-n:]]

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def stop(self):
        os.kill(self.pid, signal.SIGSTOP)

    def cont(self):
        os.kill(self.pid, signal.SIGCONT)

    def close(self):
        """Cleanup: SIGCONT (in case it is stopped) then SIGKILL, by PID."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.kill()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:
                pass


def run_threads(targets, timeout=120.0):
    """Start one thread per callable, join them all within `timeout` s in total; return
    the exceptions they raised (a thread still running at the deadline counts as one)."""
    errors = []
    lock = threading.Lock()

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # reported to the test
                with lock:
                    errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(1 for t in threads if t.is_alive())
    if stuck:
        errors.append(AssertionError("%d thread(s) still running after %.0f s" % (stuck, timeout)))
    return errors


def retry_call(fn, *args, deadline=60.0, **kw):
    """fn(*args, **kw), retried on ConnectionLoss / OperationTimeout until `deadline` s."""
    from kazoo.exceptions import ConnectionLoss, OperationTimeoutError

    end = time.monotonic() + deadline
    while True:
        try:
            return fn(*args, **kw)
        except (ConnectionLoss, OperationTimeoutError):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def tagged_increment(client, path, tag, limit=None):
    """counter += 1 for a lock holder, safe against lost replies: read "<n>:<tag>", write
    "<n+1>:<tag>" with the read version. If the reply is lost (ConnectionLoss), re-read
    to learn whether the write applied. A version that moved under us means another
    holder wrote: AssertionError. Returns the new value (None if `limit` was reached)."""
    from kazoo.exceptions import BadVersionError, ConnectionLoss, OperationTimeoutError

    while True:
        data, st = retry_call(client.get, path)
        n = int(data.split(b":")[0])
        if limit is not None and n >= limit:
            return None
        new = b"%d:%s" % (n + 1, tag)
        try:
            client.set(path, new, version=st.version)
            return n + 1
        except (ConnectionLoss, OperationTimeoutError):
            d2, st2 = retry_call(client.get, path)
            if d2 == new:
                return n + 1
            if st2.version == st.version:
                continue  # not applied
            raise AssertionError("counter changed under the lock holder: %r -> %r" % (data, d2))
        except BadVersionError:
            raise AssertionError("BadVersion inside the lock: another holder wrote %r"
                                 % (retry_call(client.get, path)[0],))


def restart_server(srv, ready_timeout=60.0):
    """SIGKILL a servers.Server (its PID only) and start it again with the same command
    line (read from /proc before the kill), the same zoo.cfg, data directory and port;
    returns once it answers ruok/srvr again. The log is appended to."""
    import servers

    with open("/proc/%d/cmdline" % srv.pid, "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    cwd = os.path.dirname(srv.cfg_path)
    try:
        os.kill(srv.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    srv.proc.wait(timeout=10)
    with open(srv.log_path, "ab") as log:
        log.write(b"\n=== restarted by the test (after SIGKILL) ===\n")
        log.flush()
        srv.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=cwd, start_new_session=True)
    srv.pid = srv.proc.pid
    servers._wait_ready(srv, ready_timeout)
