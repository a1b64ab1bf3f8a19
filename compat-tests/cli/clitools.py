"""Drive ZooKeeper's own command-line clients against a server, non-interactively.

* ``zkcli(server, *argv)``: one ``zkCli.sh -server HOST:PORT cmd args`` run (the Java CLI
  runs the command, prints, closes its session and exits with 0, or 1 on a KeeperException,
  127 for an unknown command).
* ``zkcli_script(server, lines)``: one zkCli.sh session fed a script on stdin; the output is
  cut per command (a ``version`` line, which zkCli answers locally, follows every command),
  and the watch events it printed are collected.
* ``CliMt``: the C client shell ``cli_mt``, driven line by line over a pipe: every command is
  sent only after the previous one completed (``cli_mt`` runs most commands asynchronously
  and quits on ``quit`` without waiting for answers).

Every subprocess is bounded by a timeout and, if it overstays it, killed by its own PID.
"""

import os
import re
import signal
import subprocess
import threading
import time

ZKCLI = os.environ.get("ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
CLI_MT = os.environ.get("CLI_MT", "/usr/lib/zookeeper/bin/cli_mt")
LOAD_GEN = os.environ.get("LOAD_GEN", "/usr/lib/zookeeper/bin/load_gen")

# a smaller, faster-starting JVM for the one-shot CLI runs
ZKCLI_ENV = dict(
    os.environ,
    CLIENT_JVMFLAGS=os.environ.get(
        "CLIENT_JVMFLAGS", "-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
    ),
)

CMD_TIMEOUT = 60.0

# zkCli prints these whatever the server does
_NOISE = (
    re.compile(r"^SLF4J: "),
    re.compile(r"^Connecting to "),
    re.compile(r"^Welcome to ZooKeeper!$"),
    re.compile(r"^JLine support is (disabled|enabled)$"),
    re.compile(r"^WATCHER::$"),
    re.compile(r"^\s*$"),
)
_EVENT = re.compile(r"^WatchedEvent state:(\w+) type:(\w+) path:(.*)$")
_VERSION = re.compile(r"^ZooKeeper CLI version: ")


class ToolMissing(RuntimeError):
    pass


def require(path):
    if not os.access(path, os.X_OK):
        raise ToolMissing(
            "%s not found; apt-get install -y zookeeper zookeeper-bin libzookeeper-mt-dev "
            "(or run compat-tests/run-cli.sh)" % path
        )


def kill_own_group(proc):
    """SIGKILL the process group this module created for `proc` (start_new_session=True, so
    its id is proc.pid): zkCli.sh runs java as a child of its shell."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


def _run(argv, stdin_text=None, timeout=CMD_TIMEOUT, merge=False, env=None):
    """Run argv in its own session; on timeout kill that session's process group only."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(
            input=stdin_text.encode() if stdin_text is not None else None, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        kill_own_group(proc)
        out, err = proc.communicate(timeout=10)
        raise AssertionError(
            "%r did not finish within %.0f s; output so far:\n%s%s"
            % (argv, timeout, out.decode("utf-8", "replace"),
               (err or b"").decode("utf-8", "replace"))
        )
    return proc.returncode, out.decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")


def _clean(text):
    """(lines without zkCli's noise and without watch events, [(type, path)] events)."""
    lines, events = [], []
    for line in text.splitlines():
        m = _EVENT.match(line)
        if m:
            if m.group(2) != "None":
                events.append((m.group(2), m.group(3)))
            continue
        if any(p.match(line) for p in _NOISE):
            continue
        lines.append(line)
    return lines, events


class CliResult:
    def __init__(self, argv, rc, out, err):
        self.argv = argv
        self.rc = rc
        self.raw_out = out
        self.raw_err = err
        self.out, ev1 = _clean(out)
        self.err, ev2 = _clean(err)
        self.events = ev1 + ev2
        self.lines = self.out + self.err

    def __repr__(self):
        return "<zkCli %s rc=%s out=%r err=%r events=%r>" % (
            " ".join(self.argv[3:]), self.rc, self.out, self.err, self.events)


def zkcli(server, *args, timeout=CMD_TIMEOUT):
    """One `zkCli.sh -server host:port args...` run. args may be one string (split on spaces)
    or several strings."""
    require(ZKCLI)
    if len(args) == 1:
        args = tuple(args[0].split())
    argv = [ZKCLI, "-server", server.hostport] + list(args)
    rc, out, err = _run(argv, timeout=timeout, env=ZKCLI_ENV)
    return CliResult(argv, rc, out, err)


class ScriptResult:
    def __init__(self, commands, rc, text):
        self.commands = commands
        self.rc = rc
        self.raw = text
        lines, self.events = _clean(text)
        segs, cur = [], []
        for line in lines:
            if _VERSION.match(line):
                segs.append(cur)
                cur = []
            else:
                cur.append(line)
        self.trailer = cur
        if len(segs) != len(commands):
            raise AssertionError(
                "zkCli ran %d of %d commands (rc %s); output:\n%s"
                % (len(segs), len(commands), rc, text)
            )
        self.segments = segs

    def __getitem__(self, i):
        """The output lines of the i-th command (stdout and stderr, in order)."""
        return self.segments[i]

    def by_command(self):
        return list(zip(self.commands, self.segments))

    def __repr__(self):
        return "<zkCli script rc=%s %r events=%r>" % (self.rc, self.by_command(), self.events)


def zkcli_script(server, commands, timeout=CMD_TIMEOUT):
    """Feed `commands` to one zkCli.sh session on stdin; result[i] is command i's output."""
    require(ZKCLI)
    script = "".join("%s\nversion\n" % c for c in commands) + "quit\n"
    argv = [ZKCLI, "-server", server.hostport]
    rc, out, _ = _run(argv, stdin_text=script, timeout=timeout, merge=True, env=ZKCLI_ENV)
    return ScriptResult(list(commands), rc, out)


# ---- zkCli output parsers ---------------------------------------------------------------

STAT_KEYS = ("cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion",
             "aclVersion", "ephemeralOwner", "dataLength", "numChildren")
_STAT_LINE = re.compile(r"^(%s) = (.*)$" % "|".join(STAT_KEYS))
CTIME_RE = re.compile(r"^\w{3} \w{3} \d\d \d\d:\d\d:\d\d \w+ \d{4}$")


def parse_stat(lines):
    """(stat dict, other lines) from zkCli's `key = value` stat print."""
    stat, rest = {}, []
    for line in lines:
        m = _STAT_LINE.match(line)
        if m:
            stat[m.group(1)] = m.group(2)
        else:
            rest.append(line)
    return stat, rest


def parse_list(line):
    """'[a, b, c]' -> ['a', 'b', 'c'] (zkCli's ls and getEphemerals print)."""
    assert line.startswith("[") and line.endswith("]"), "not a list: %r" % line
    inner = line[1:-1].strip()
    return [x for x in inner.split(", ")] if inner else []


def parse_acl(lines):
    """zkCli getAcl print ("'scheme,'id" then ": perms") -> [(scheme, id, perms)]."""
    acl = []
    i = 0
    while i + 1 < len(lines):
        m = re.match(r"^'([^,]*),'(.*)$", lines[i])
        p = re.match(r"^: (\w*)$", lines[i + 1])
        if m and p:
            acl.append((m.group(1), m.group(2), p.group(1)))
            i += 2
        else:
            i += 1
    return acl


# ---- the C client shell -----------------------------------------------------------------

_C_STAT = (r"(null\n|\tctime = [^\n]*\n\tczxid=([0-9a-f]+)\n\tmtime=[^\n]*\n\tmzxid=([0-9a-f]+)\n"
           r"\tversion=([0-9a-f]+)\taversion=([0-9a-f]+)\n\tephemeralOwner = ([0-9a-f]+)\n)")
_HELP_FIRST = "    create [+[e|s|c|t=ttl]] <path>\n"
_HELP_LAST = "    i.e. 'aget /foo' to get /foo asynchronously\n"


def _c_stat(m, first):
    """Stat dict from the groups of _C_STAT starting at group `first` (None for 'null')."""
    if m.group(first) == "null\n":
        return None
    czxid, mzxid, version, aversion, owner = (m.group(first + i) for i in range(1, 6))
    return {
        "czxid": int(czxid, 16),
        "mzxid": int(mzxid, 16),
        "version": int(version, 16),
        "aversion": int(aversion, 16),  # printed as unsigned: -1 is ffffffff
        "ephemeralOwner": int(owner, 16),
    }


class CliMt:
    """One `cli_mt -h host:port` process; its (stderr+stdout) output is read by a thread."""

    def __init__(self, server, timeout=30.0):
        require(CLI_MT)
        self.server = server
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [CLI_MT, "-h", server.hostport],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.buf = ""
        self.pos = 0
        self.cond = threading.Condition()
        self.eof = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            m = self.expect(r"Got a new session id: 0x([0-9a-f]+)\n")
        except BaseException:
            self.close()
            raise
        self.session_id = int(m.group(1), 16)

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                d = os.read(fd, 65536)
            except OSError:
                d = b""
            with self.cond:
                if not d:
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.buf += d.decode("utf-8", "replace")
                self.cond.notify_all()

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def expect(self, pattern, timeout=None, flags=re.M, anchored=False):
        """Wait for `pattern` in the output after the last match (right at it if
        `anchored`); move past it."""
        rx = re.compile(pattern, flags)
        deadline = time.monotonic() + (timeout or self.timeout)
        with self.cond:
            while True:
                m = (rx.match if anchored else rx.search)(self.buf, self.pos)
                if m:
                    self.pos = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(
                        "cli_mt: no %r within %.0f s%s; output since the last match:\n%s"
                        % (pattern, timeout or self.timeout, " (process exited)" if self.eof else "",
                           self.buf[self.pos:])
                    )
                self.cond.wait(min(left, 0.5))

    def output(self):
        with self.cond:
            return self.buf

    # -- commands; each returns once cli_mt printed its completion --

    def create(self, path, flags="", two=False):
        """`create [+flags] path` (data is always "new"): (rc, name or None[, stat])."""
        cmd = "create2" if two else "create"
        self.send("%s %s%s" % (cmd, "+%s " % flags if flags else "", path))
        p = re.escape(path)
        if two:
            m = self.expect(r"^\[%s\]: rc = (-?\d+)\n(?:\tname = ([^\n]*)\n)?%s" % (p, _C_STAT))
            return int(m.group(1)), m.group(2), _c_stat(m, 3)
        m = self.expect(r"^\[%s\]: rc = (-?\d+)\n" % p)
        rc = int(m.group(1))
        name = self.expect(r"\tname = ([^\n]*)\n", anchored=True).group(1) if rc == 0 else None
        return rc, name

    def get(self, path):
        """`get path` (sets a data watch): (rc, value or None, stat or None)."""
        self.send("get %s" % path)
        m = self.expect(
            r"^%s: rc = (-?\d+)\n(?: value_len = (-?\d+)\n)?(.*?)\nStat:\n%s"
            % (re.escape(path), _C_STAT), flags=re.M | re.S)
        rc = int(m.group(1))
        value = None
        if m.group(2) is not None:
            value = m.group(3)
            assert len(value.encode()) == int(m.group(2)), m.group(0)
        return rc, value, _c_stat(m, 4)

    def config(self):
        """`config` (getConfig of /zookeeper/config): (rc, value, stat)."""
        self.send("config")
        m = self.expect(
            r"^/zookeeper/config: rc = (-?\d+)\n(?: value_len = (-?\d+)\n)?(.*?)\nStat:\n%s"
            % _C_STAT, flags=re.M | re.S)
        value = m.group(3) if m.group(2) is not None else None
        return int(m.group(1)), value, _c_stat(m, 4)

    def set(self, path, data):
        """`set path data` (any version): (rc, stat or None)."""
        self.send("set %s %s" % (path, data))
        m = self.expect(r"^%s: rc = (-?\d+) Stat:\n%s" % (re.escape(path), _C_STAT))
        return int(m.group(1)), _c_stat(m, 2)

    def ls(self, path):
        """`ls path` (sets a child watch): (rc, [children])."""
        self.send("ls %s" % path)
        m = self.expect(r"^%s: rc = (-?\d+)\n((?:\t[^\n]*\n)*)time = -?\d+ msec\n" % re.escape(path))
        kids = [k[1:] for k in m.group(2).splitlines()]
        return int(m.group(1)), kids

    def ls2(self, path):
        """`ls2 path`: (rc, [children], stat or None)."""
        self.send("ls2 %s" % path)
        m = self.expect(r"^%s: rc = (-?\d+)\n((?:\t[^\n]*\n)*)time = -?\d+ msec\n%s"
                        % (re.escape(path), _C_STAT))
        kids = [k[1:] for k in m.group(2).splitlines()]
        return int(m.group(1)), kids, _c_stat(m, 3)

    def delete(self, path):
        self.send("delete %s" % path)
        return int(self.expect(r"^%s: rc = (-?\d+)\n" % re.escape(path)).group(1))

    def sync(self, path):
        """`sync path`: (rc, name)."""
        self.send("sync %s" % path)
        m = self.expect(r"^\[%s\]: rc = (-?\d+)\n" % re.escape(path))
        rc = int(m.group(1))
        name = self.expect(r"\tname = ([^\n]*)\n", anchored=True).group(1) if rc == 0 else None
        return rc, name

    def barrier(self):
        """Send `help` (answered locally, after every earlier line was processed) and return
        what was printed before its text."""
        start = self.pos
        self.send("help")
        m = self.expect(re.escape(_HELP_FIRST))
        before = self.buf[start:m.start()]
        self.expect(re.escape(_HELP_LAST))
        return before

    def exists(self, path):
        """`exists path` (synchronous in cli_mt, sets a watch): what it printed ('' when the
        node exists, 'Error -101 for <path>' when it does not)."""
        self.send("exists %s" % path)
        return self.barrier().strip()

    def addauth(self, scheme, cred):
        """`addauth scheme cred` (no completion is printed; later requests follow it)."""
        self.send("addauth %s %s" % (scheme, cred))
        self.barrier()

    def events(self, kind=None):
        """Watch events printed so far: [(type, path)], SESSION_EVENTs left out."""
        out = []
        for m in re.finditer(r"^Watcher (\w+) state = (\w+)(?: for path ([^\n]*))?\n",
                             self.output(), re.M):
            if m.group(1) == "SESSION_EVENT":
                continue
            if kind is None or m.group(1) == kind:
                out.append((m.group(1), m.group(3)))
        return out

    def wait_event(self, kind, path, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if (kind, path) in self.events():
                return
            time.sleep(0.05)
        raise AssertionError("cli_mt: no %s for %s; output:\n%s" % (kind, path, self.output()))

    def close(self):
        """`quit`, then wait for the process (killed by its PID if it does not exit)."""
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_own_group(self.proc)
                self.proc.wait(timeout=10)
        self.reader.join(timeout=5)
        return self.proc.returncode


def cli_mt_batch(server, command, timeout=CMD_TIMEOUT):
    """`cli_mt -h host:port -c command`: one command, exits after its completion."""
    require(CLI_MT)
    argv = [CLI_MT, "-h", server.hostport, "-c", command]
    return _run(argv, timeout=timeout, merge=True)


def wait_for(cond, timeout=30.0, interval=0.3, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))
