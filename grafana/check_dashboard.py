#!/usr/bin/env python3
"""Proof that every panel of grafana/raftzk-dashboard.json shows real data in a real Prometheus.

  python3 grafana/check_dashboard.py [--keep] [--wait SECONDS] [--dashboard PATH]

1. Lints the dashboard: the DS_PROMETHEUS import input, the datasource / job / instance
   variables, every panel's datasource and unit, and every target's selectors (each carries
   job=~"$job" and instance=~"$instance") and ranges ($__rate_interval, $__range or a fixed
   duration).
2. Starts a 3-member raftzk cluster (compat-tests/ensemble.py; snapCount=200 so snapshots
   happen; each member's /metrics port is the metricsProvider.httpPort of its zoo.cfg). The
   binary is $RAFTZK_BIN, else $CARGO_TARGET_DIR/release/raftzk, else target/release/raftzk,
   else $HOME/.cache/raftzk-target/release/raftzk (as scripts/compat.sh).
3. Writes a Prometheus config derived from grafana/prometheus.yml (the targets replaced by the
   members' metrics ports, every scrape_interval 1s), starts `prometheus` (Debian's 2.42) on a
   free loopback port and waits until it is ready and every member's target is up.
4. Stops a follower, creates znodes one at a time through the others until the leader has
   purged its log past the follower's last entry (about 1300) and restarts it, so the leader
   sends it a whole snapshot. Then runs a bounded load with kazoo, one client per member:
   creates, getData, exists, setData, getChildren, deletes, data and child watches that
   fire, an ephemeral, a multi, a sync, plus raw sockets that the server closes for cause (garbage, a bad session, an oversized
   length). The clients stay connected (sessions, watches, an ephemeral) and keep up a light
   trickle of requests while Prometheus gathers samples for --wait seconds (default 15) past
   the end of the load.
5. Resolves the template variables the way Grafana does (label_values queries; a multi-value
   "All" becomes a regex alternation of the escaped values; $__rate_interval=15s,
   $__interval=5s, $__range=the time since the cluster started), sends every panel target's
   expr (collapsed rows included) to Prometheus' /api/v1/query, and requires at least one
   sample with a finite value per target.

Prints `panels with data: N/M` and each failing panel's title and expr; exits 0 only if the
lint is clean and every panel has data (1 otherwise, 2 if prometheus or the binary is missing).
Everything it starts (the members, prometheus) is stopped by PID in a finally block. No timing
is asserted: every wait has a generous deadline.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in compat-tests/ from this script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "compat-tests"))

import ensemble  # noqa: E402
import servers  # noqa: E402

DASHBOARD = os.path.join(HERE, "raftzk-dashboard.json")
PROM_TEMPLATE = os.path.join(HERE, "prometheus.yml")

RATE_INTERVAL = "15s"
INTERVAL = "5s"
N_MEMBERS = 3
NODES_PER_CLIENT = 250  # each client: ~250 creates, gets and exists, ~125 sets and deletes
MAX_CATCH_UP_WRITES = 5000  # ~1300 suffice: snapCount (200) + 1000 entries kept behind a snapshot


def log(msg):
    print("[check_dashboard %5.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


T0 = time.monotonic()


# --- the dashboard: targets and lint --------------------------------------------------------


def panels_of(dash):
    """Every non-row panel, with those inside collapsed rows."""
    out = []
    for p in dash.get("panels", []):
        if p.get("type") == "row":
            out.extend(p.get("panels") or [])
        else:
            out.append(p)
    return out


TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\[[^\]]*\]|\{[^}]*\}|'
    r"[A-Za-z_:][A-Za-z0-9_:]*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\s+|.",
    re.S,
)
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
OPERATORS = {"and", "or", "unless", "bool", "offset"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile"}
RANGE_OK = re.compile(r"^(\$__rate_interval|\$__range|\$__interval|\d+(ms|s|m|h|d|w|y))$")
NEED = ('job=~"$job"', 'instance=~"$instance"')


def lint_expr(expr):
    """Problems with one target expr: every vector selector must filter on $job and
    $instance; every range must be $__rate_interval, $__range, $__interval or fixed."""
    problems = []
    toks = [t for t in TOKEN.findall(expr) if not t.isspace()]
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if t.startswith("["):
            if not RANGE_OK.match(t[1:-1].strip()):
                problems.append("range %s is not $__rate_interval, $__range or fixed" % t)
        elif t.startswith("{"):
            # a selector without a metric name
            for m in NEED:
                if m not in t:
                    problems.append("selector %s lacks %s" % (t, m))
        elif re.match(r"[A-Za-z_:]", t):
            if t in GROUPING and nxt == "(":
                # skip the label list
                while i < len(toks) and toks[i] != ")":
                    i += 1
            elif t in OPERATORS:
                if t == "offset":
                    i += 1
            elif nxt == "(" or (t in AGGREGATIONS and nxt in GROUPING):
                pass  # a function, or an aggregation followed by its grouping
            else:
                if not nxt.startswith("{"):
                    problems.append("metric %s has no selector braces" % t)
                else:
                    for m in NEED:
                        if m not in nxt:
                            problems.append("selector %s%s lacks %s" % (t, nxt, m))
                    i += 1
        i += 1
    return problems


def lint(dash):
    problems = []
    inputs = dash.get("__inputs") or []
    if not any(x.get("name") == "DS_PROMETHEUS" and x.get("type") == "datasource"
               and x.get("pluginId") == "prometheus" for x in inputs):
        problems.append("__inputs has no DS_PROMETHEUS prometheus datasource input")
    tvars = {v.get("name"): v for v in (dash.get("templating") or {}).get("list", [])}
    ds = tvars.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no `datasource` template variable of type datasource (prometheus)")
    inst = tvars.get("instance")
    if not inst or not inst.get("multi") or not inst.get("includeAll") or \
            "label_values(raft_term" not in var_query(inst) or "instance)" not in var_query(inst):
        problems.append("no multi, include-all `instance` variable "
                        "label_values(raft_term..., instance)")
    ids = set()
    for p in dash.get("panels", []) + [q for r in dash.get("panels", []) for q in r.get("panels") or []]:
        if p.get("id") in ids:
            problems.append("panel id %s used twice" % p.get("id"))
        ids.add(p.get("id"))
    for p in panels_of(dash):
        title = p.get("title", "?")
        if p.get("type") not in ("stat", "timeseries"):
            problems.append("%s: panel type %s" % (title, p.get("type")))
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            problems.append("%s: panel datasource is not ${datasource}" % title)
        if not ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit"):
            problems.append("%s: no unit" % title)
        targets = p.get("targets") or []
        if not targets:
            problems.append("%s: no targets" % title)
        refs = set()
        for t in targets:
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                problems.append("%s: target %s datasource is not ${datasource}" % (title, t.get("refId")))
            if t.get("refId") in refs:
                problems.append("%s: refId %s twice" % (title, t.get("refId")))
            refs.add(t.get("refId"))
            if not (t.get("expr") or "").strip():
                problems.append("%s: target %s has no expr" % (title, t.get("refId")))
                continue
            for pr in lint_expr(t["expr"]):
                problems.append("%s: %s" % (title, pr))
    return problems


def var_query(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query", "")
    return q or v.get("definition") or ""


# --- Prometheus ------------------------------------------------------------------------------


class Prometheus:
    def __init__(self, port, proc, log_path):
        self.port = port
        self.proc = proc
        self.log_path = log_path
        self.base = "http://127.0.0.1:%d" % port

    def get(self, path, params=None, timeout=30):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = "%.3f" % at
        try:
            body = self.get("/api/v1/query", params)
        except urllib.error.HTTPError as e:
            try:
                body = json.loads(e.read().decode())
            except ValueError:
                body = {"status": "error", "error": str(e)}
        return body

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.terminate()  # SIGTERM to this PID only
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def derive_prometheus_config(template, targets):
    """grafana/prometheus.yml with its targets replaced by `targets` and every scrape and
    evaluation interval set to 1s."""
    text = open(template).read()
    text, n_iv = re.subn(r"(?m)^(\s*(?:scrape|evaluation)_interval:\s*)\S+", r"\g<1>1s", text)
    lines = text.splitlines()
    target_re = re.compile(r"""^(\s*)-\s*["']?(?:127\.0\.0\.1|localhost|[\w.-]+):\d+["']?\s*(#.*)?$""")
    out, replaced = [], False
    in_targets = False
    for line in lines:
        if re.match(r"^\s*-?\s*targets:\s*$", line):
            in_targets = True
            out.append(line)
            continue
        m = target_re.match(line) if in_targets else None
        if m:
            if not replaced:
                out.extend("%s- %s" % (m.group(1), t) for t in targets)
                replaced = True
            continue
        if in_targets and line.strip() and not line.strip().startswith("#"):
            in_targets = False
        out.append(line)
    text = "\n".join(out) + "\n"
    if not replaced:
        text, n = re.subn(r"targets:\s*\[[^\]]*\]",
                          "targets: [%s]" % ", ".join("'%s'" % t for t in targets), text, count=1)
        replaced = n == 1
    if not replaced:
        raise RuntimeError("%s: found no `targets:` list to replace" % template)
    if n_iv == 0:
        text = text.replace("scrape_configs:", "global:\n  scrape_interval: 1s\n\nscrape_configs:", 1)
    return text


def start_prometheus(tmp, cfg_text, attempts=3, timeout=90):
    binary = shutil.which("prometheus")
    cfg_path = os.path.join(tmp, "prometheus.yml")
    with open(cfg_path, "w") as f:
        f.write(cfg_text)
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "config", cfg_path], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("promtool rejects the derived config:\n%s%s\n%s"
                               % (r.stdout, r.stderr, cfg_text))
    last = None
    for attempt in range(attempts):
        port = servers.free_port()
        data = tempfile.mkdtemp(prefix="prom-data-", dir=tmp)
        log_path = os.path.join(tmp, "prometheus-%d.log" % attempt)
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen(
                [binary, "--config.file=" + cfg_path, "--storage.tsdb.path=" + data,
                 "--web.listen-address=127.0.0.1:%d" % port, "--storage.tsdb.retention.time=1h",
                 "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                cwd=tmp, start_new_session=True)
        prom = Prometheus(port, proc, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(prom.base + "/-/ready", timeout=5) as r:
                    if r.status == 200:
                        return prom
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        tail = prom.log_tail()
        prom.stop()
        last = "prometheus (pid %d) not ready on port %d (exit %s):\n%s" % (
            proc.pid, port, proc.returncode, tail)
        if "address already in use" not in tail:
            break
    raise RuntimeError(last)


def wait_targets_up(prom, want, timeout=90):
    deadline = time.monotonic() + timeout
    health = {}
    while time.monotonic() < deadline:
        try:
            body = prom.get("/api/v1/targets", {"state": "active"})
            health = {t["labels"].get("instance"): t.get("health")
                      for t in body["data"]["activeTargets"]}
            if all(health.get(w) == "up" for w in want):
                return health
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise RuntimeError("Prometheus targets not all up within %ds: %s" % (timeout, health))


def last_scrape_min(prom, instances):
    """The oldest of each member's latest scrape time (Unix seconds), or None. This
    Prometheus scrapes nothing but the members."""
    body = prom.query("timestamp(up)")
    try:
        res = body["data"]["result"]
        seen = {r["metric"].get("instance"): float(r["value"][1]) for r in res}
        if any(i not in seen for i in instances):
            return None
        return min(seen[i] for i in instances)
    except (KeyError, ValueError, TypeError):
        return None


# --- the cluster and the load ---------------------------------------------------------------


def resolve_binary(wait=60):
    """servers.raftzk_binary() ($RAFTZK_BIN, else $CARGO_TARGET_DIR/release/raftzk, else
    target/release/raftzk), else, as scripts/compat.sh does, the CI cache
    $HOME/.cache/raftzk-target/release/raftzk. Waits a little for one to appear: the binary
    may be replaced by a build right now."""
    first = servers.raftzk_binary()
    candidates = [first]
    if not os.environ.get("RAFTZK_BIN") and not os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(os.path.expanduser("~/.cache/raftzk-target/release/raftzk"))
    deadline = time.monotonic() + wait
    while True:
        for c in candidates:
            if os.access(c, os.X_OK):
                os.environ.setdefault("RAFTZK_BIN", c)  # for compat-tests/servers.py
                return c
        if time.monotonic() > deadline:
            return first
        time.sleep(1)


def metrics_port(member):
    for line in open(member.cfg_path):
        k, _, v = line.strip().partition("=")
        if k == "metricsProvider.httpPort":
            return int(v)
    raise RuntimeError("%s has no metricsProvider.httpPort" % member.cfg_path)


def start_cluster(tmp, attempts=3):
    last = None
    for attempt in range(attempts):
        try:
            return ensemble.start_raftzk_cluster(
                os.path.join(tmp, "cluster-%d" % attempt), n=N_MEMBERS, start_timeout=90,
                extra_cfg={"snapCount": 200})
        except servers.ServerStartError as e:
            last = e
            log("cluster start attempt %d failed: %s" % (attempt + 1, str(e)[:300]))
    raise last


def raw_close_for_cause(hostport):
    """Connections the server closes for cause: a short garbage frame, a connect request for a
    session that does not exist, a frame length beyond jute.maxbuffer."""
    host, port = hostport.split(":")
    frames = [
        struct.pack(">i", 12) + b"\x01" * 12,                # garbage
        struct.pack(">i", 60) + b"\xff" * 60,                # a bad session id
        b"GET /metrics HTTP/1.0\r\n\r\n",                     # length 0x47455420: oversize
    ]
    for frame in frames:
        try:
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(frame)
                s.settimeout(10)
                while s.recv(4096):
                    pass
        except OSError:
            pass


def scrape(port):
    """One member's /metrics as {series: value} (series = name plus its labels, as printed)."""
    out = {}
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for line in r.read().decode("utf-8", "replace").splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
    return out


def catch_up_by_snapshot(ens, timeout=120):
    """Stops a follower and writes (one at a time, so each write is one Raft entry) until the
    leader has purged its log past the follower's last entry, then restarts the follower: the
    leader must send it a whole snapshot (snap_count, raft_snapshot_install_time). With
    snapCount=200 the leader keeps 1000 entries behind its newest snapshot, so this takes about
    1300 writes. Returns a short description; never fails (the panel checks decide)."""
    from kazoo.client import KazooClient

    leader = ens.leader_index()
    follower = (leader + 1) % len(ens.members)
    lport, fport = metrics_port(ens.members[leader]), metrics_port(ens.members[follower])
    behind = scrape(fport).get("raft_last_log_index", 0)
    ens.members[follower].stop()
    others = ",".join(m.hostport for i, m in enumerate(ens.members) if i != follower)
    zk = KazooClient(hosts=others, timeout=30, connection_retry={"max_tries": 20})
    zk.start(timeout=60)
    done, purged = 0, 0.0
    try:
        zk.ensure_path("/grafana-check/fill")
        deadline = time.monotonic() + timeout
        while done < MAX_CATCH_UP_WRITES and time.monotonic() < deadline:
            for _ in range(100):
                zk.create("/grafana-check/fill/f", b"f" * 32, sequence=True)
                done += 1
            purged = scrape(lport).get("raft_log_purged_entries", 0)
            if purged > behind + 50:
                break
    finally:
        zk.stop()
        zk.close()
    ens.restart(follower, timeout=timeout)
    return ("member %d (last log index %d) stopped while %d znodes were created (leader purged "
            "%d log entries), restarted" % (follower + 1, behind, done, purged))


class Load:
    """One kazoo client per member; `run()` is the bounded load, `trickle()` a light steady
    traffic until `stop` is set. The clients stay connected until close()."""

    def __init__(self, members, deadline_s=120):
        from kazoo.client import KazooClient

        self.members = members
        self.deadline = time.monotonic() + deadline_s
        self.clients = []
        for m in members:
            c = KazooClient(hosts=m.hostport, timeout=30, connection_retry={"max_tries": 20})
            c.start(timeout=60)
            self.clients.append(c)
        self.stop = threading.Event()
        self.events = []
        self.ops = 0
        self.errors = []
        self.lock = threading.Lock()

    def _count(self, n=1):
        with self.lock:
            self.ops += n

    def _fired(self, ev):
        with self.lock:
            self.events.append(ev)

    def _parallel(self, fn):
        threads = [threading.Thread(target=fn, args=(i,), daemon=True)
                   for i in range(len(self.clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, self.deadline - time.monotonic() + 30))

    def _guard(self, what, fn, *a):
        try:
            fn(*a)
        except Exception as e:  # noqa: BLE001 - reported; the panel checks decide
            self.errors.append("%s: %r" % (what, e))

    def _writes_and_reads(self, i):
        zk, base = self.clients[i], "/grafana-check/c%d" % i
        zk.ensure_path(base)
        zk.create(base + "/session", b"ephemeral", ephemeral=True)
        zk.exists(base + "/never", watch=lambda ev: None)  # keeps watch_count above zero
        self._count(3)
        for k in range(NODES_PER_CLIENT):
            if time.monotonic() > self.deadline:
                return
            zk.create("%s/n%04d" % (base, k), b"v" * 64)
            self._count()
        for k in range(NODES_PER_CLIENT):
            if time.monotonic() > self.deadline:
                return
            p = "%s/n%04d" % (base, k)
            zk.get(p)
            zk.exists(p)
            self._count(2)
            if k % 2 == 0:
                zk.set(p, b"w" * 128)
                self._count()
        zk.get_children(base)
        self._count()

    def _watch_next(self, i):
        """Data and child watches on the next member's client's nodes."""
        zk = self.clients[i]
        nxt = "/grafana-check/c%d" % ((i + 1) % len(self.clients))
        for k in range(1, 10, 2):
            zk.get("%s/n%04d" % (nxt, k), watch=self._fired)
        zk.get_children(nxt, watch=self._fired)
        self._count(6)

    def _changes_and_deletes(self, i):
        zk, base = self.clients[i], "/grafana-check/c%d" % i
        for k in range(1, 10, 2):
            zk.set("%s/n%04d" % (base, k), b"fired")  # fires the other client's data watches
        t = zk.transaction()
        t.create(base + "/multi-a", b"a")
        t.create(base + "/multi-b", b"b")
        t.delete(base + "/multi-a")
        t.commit()
        zk.sync(base)
        self._count(7)
        for k in range(0, NODES_PER_CLIENT, 2):  # the first fires the child watch
            if time.monotonic() > self.deadline:
                return
            zk.delete("%s/n%04d" % (base, k))
            self._count()

    def run(self):
        self._parallel(lambda i: self._guard("client %d" % i, self._writes_and_reads, i))
        for i in range(len(self.clients)):
            self._guard("client %d watches" % i, self._watch_next, i)
        self._parallel(lambda i: self._guard("client %d" % i, self._changes_and_deletes, i))
        for m in self.members:
            raw_close_for_cause(m.hostport)
        end = time.monotonic() + 20
        while len(self.events) < 6 * len(self.clients) and time.monotonic() < end:
            time.sleep(0.1)

    def trickle(self):
        """A few requests per second per member, with a watch that fires each round."""
        k = 0
        while not self.stop.is_set():
            for i, zk in enumerate(self.clients):
                p = "/grafana-check/c%d/n%04d" % (i, 1)
                try:
                    zk.get(p, watch=self._fired)
                    zk.exists(p)
                    zk.set(p, b"t%d" % k)
                    zk.get_children("/grafana-check/c%d" % i)
                    if k % 5 == 0:
                        zk.sync(p)
                    self._count(5)
                except Exception as e:  # noqa: BLE001
                    if len(self.errors) < 20:
                        self.errors.append("trickle %d: %r" % (i, e))
            k += 1
            self.stop.wait(0.2)

    def close(self):
        self.stop.set()
        for c in self.clients:
            try:
                c.stop()
                c.close()
            except Exception:  # noqa: BLE001
                pass


# --- template variables and the panel queries -----------------------------------------------


def grafana_regex_escape(value):
    """Grafana's Prometheus datasource escaping of a multi-value variable's values."""
    return re.sub(r"([$^*{}\[\]'+?.()|\\])", r"\\\\\1", value)


def interpolate(expr, values, builtins):
    for name in sorted(builtins, key=len, reverse=True):
        expr = expr.replace("${%s}" % name, builtins[name]).replace("$" + name, builtins[name])
    for name in sorted(values, key=len, reverse=True):
        v = values[name]
        expr = expr.replace("${%s}" % name, v).replace("[[%s]]" % name, v)
        expr = re.sub(r"\$%s\b" % re.escape(name), lambda _m: v, expr)
    return expr


def resolve_variables(prom, dash, builtins):
    """Each query variable's options (label_values) with every value selected, formatted as
    Grafana formats a multi-value "All" for Prometheus: (v1|v2|...) with regex escaping."""
    values, options = {}, {}
    for v in (dash.get("templating") or {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = interpolate(var_query(v), values, builtins)
        m = re.match(r"^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_]\w*)\s*\)\s*$", q, re.S)
        if m:
            params = {"match[]": m.group(1)} if m.group(1) else {}
            body = prom.get("/api/v1/label/%s/values" % m.group(2), params)
        else:
            m = re.match(r"^\s*label_values\(\s*([A-Za-z_]\w*)\s*\)\s*$", q)
            if not m:
                raise RuntimeError("variable %s: unsupported query %r" % (v.get("name"), q))
            body = prom.get("/api/v1/label/%s/values" % m.group(1))
        opts = sorted(body.get("data") or [])
        options[v["name"]] = opts
        if v.get("multi") or v.get("includeAll"):
            if v.get("allValue"):
                values[v["name"]] = v["allValue"]
            elif len(opts) == 1:
                values[v["name"]] = grafana_regex_escape(opts[0])
            else:
                values[v["name"]] = "(" + "|".join(grafana_regex_escape(o) for o in opts) + ")"
        else:
            values[v["name"]] = opts[0] if opts else ""
    return values, options


def sample_values(body):
    data = body.get("data") or {}
    rt, res = data.get("resultType"), data.get("result")
    if rt == "scalar":
        return [res[1]]
    if rt == "vector":
        return [r["value"][1] for r in res]
    if rt == "matrix":
        return [v[1] for r in res for v in r["values"]]
    return []


def finite(x):
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def check_panels(prom, dash, values, builtins):
    results = []  # (title, ok, [(expr, status, detail)], all_zero)
    now = time.time()
    for p in panels_of(dash):
        rows, ok, nonzero = [], True, False
        for t in p.get("targets") or []:
            if t.get("hide"):
                continue
            expr = interpolate(t.get("expr", ""), values, builtins)
            if "$" in expr:
                rows.append((expr, False, "unresolved variable"))
                ok = False
                continue
            body = prom.query(expr, at=now)
            if body.get("status") != "success":
                rows.append((expr, False, "error: %s" % body.get("error")))
                ok = False
                continue
            vals = sample_values(body)
            fin = [v for v in vals if finite(v)]
            if not fin:
                rows.append((expr, False, "no samples" if not vals else "only NaN/Inf samples"))
                ok = False
            else:
                n = len((body.get("data") or {}).get("result") or [])
                rows.append((expr, True, "%d series" % n))
                nonzero |= any(float(v) != 0 for v in fin)
        if not rows:
            rows.append(("", False, "no visible target"))
            ok = False
        results.append((p.get("title", "?"), ok, rows, not nonzero))
    return results


def consistency_notes(prom):
    """Cross-checks of values that the presence check cannot see (reported, not failed)."""
    notes = []

    def total(expr):
        vals = [float(v) for v in sample_values(prom.query(expr)) if finite(v)]
        return sum(vals) if vals else None

    sent = total("sum(snap_count)")
    installed = total("sum(raft_snapshot_install_time_count)")
    if sent is not None and installed is not None and sent != installed:
        notes.append("the leader's snap_count is %d but the members installed %d snapshot(s) "
                     "(raft_snapshot_install_time_count)" % (sent, installed))
    return notes


# --- main -----------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dashboard", default=DASHBOARD)
    ap.add_argument("--wait", type=float, default=15.0,
                    help="seconds of samples to gather after the load (default 15)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    with open(args.dashboard) as f:
        dash = json.load(f)
    lint_problems = lint(dash)
    panels = panels_of(dash)
    log("dashboard %s: %d panels, %d targets" % (
        os.path.relpath(args.dashboard), len(panels), sum(len(p.get("targets") or []) for p in panels)))
    for pr in lint_problems:
        log("LINT: " + pr)

    if not shutil.which("prometheus"):
        print("FAIL: prometheus is not installed (scripts/setup.sh --test installs it; "
              "or apt-get install -y prometheus, and never start its service)", flush=True)
        return 2
    binary = resolve_binary()
    if not os.access(binary, os.X_OK):
        print("FAIL: raftzk binary not found at %s (set RAFTZK_BIN or CARGO_TARGET_DIR)" % binary,
              flush=True)
        return 2
    try:
        import kazoo  # noqa: F401
    except ImportError:
        print("FAIL: kazoo is not installed (scripts/setup.sh --test)", flush=True)
        return 2

    tmp = tempfile.mkdtemp(prefix="raftzk-grafana-check-")
    ens = prom = load = trickle = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally block
    try:
        # a private copy: a rebuild of the binary during the run cannot touch the restart
        private = os.path.join(tmp, "raftzk")
        shutil.copy2(binary, private)
        os.environ["RAFTZK_BIN"] = private
        log("raftzk binary %s (run from a copy)" % binary)
        cluster_started = time.time()
        ens = start_cluster(tmp)
        targets = ["127.0.0.1:%d" % metrics_port(m) for m in ens.members]
        log("cluster up: clients %s, metrics %s, leader member %d" % (
            ens.connect_string, ",".join(targets), ens.leader_index() + 1))

        prom = start_prometheus(tmp, derive_prometheus_config(PROM_TEMPLATE, targets))
        log("prometheus pid %d on 127.0.0.1:%d" % (prom.proc.pid, prom.port))
        wait_targets_up(prom, targets)
        log("every member's target is up")

        try:
            log(catch_up_by_snapshot(ens))
        except Exception as e:  # noqa: BLE001 - the snapshot panels will say what is missing
            log("catch-up by snapshot failed: %r" % e)
            for i in range(len(ens.members)):
                if not ens.members[i].alive():
                    ens.restart(i)
        wait_targets_up(prom, targets)

        load = Load(ens.members)
        load.run()
        load_end = time.time()
        log("load done: %d ops, %d watch events, errors: %s" % (
            load.ops, len(load.events), load.errors or "none"))
        trickle = threading.Thread(target=load.trickle, daemon=True)
        trickle.start()

        # Samples for --wait seconds past the load: every member scraped since then.
        want = load_end + args.wait
        deadline = time.monotonic() + args.wait + 60
        while time.monotonic() < deadline:
            last = last_scrape_min(prom, targets)
            if last is not None and last >= want:
                break
            time.sleep(1)
        else:
            log("warning: Prometheus has not scraped every member %.0fs past the load" % args.wait)
        log("samples gathered (%d ops in all so far)" % load.ops)

        builtins = {
            "__rate_interval": RATE_INTERVAL,
            "__interval_ms": "5000",
            "__interval": INTERVAL,
            "__range_s": "%d" % (time.time() - cluster_started + 1),
            "__range_ms": "%d" % ((time.time() - cluster_started + 1) * 1000),
            "__range": "%ds" % (time.time() - cluster_started + 1),
        }
        values, options = resolve_variables(prom, dash, builtins)
        for name, opts in options.items():
            log("variable $%s: %s -> %s" % (name, opts, values[name]))
        if sorted(options.get("instance", [])) != sorted(targets):
            lint_problems.append("variable instance lists %s, not the members %s" % (
                options.get("instance"), targets))

        results = check_panels(prom, dash, values, builtins)
        notes = consistency_notes(prom)
        load.stop.set()
        trickle.join(10)

        good = [r for r in results if r[1]]
        print()
        for title, ok, rows, zero in results:
            if ok:
                print("ok       %-45s %s%s" % (title, ", ".join(d for _, _, d in rows),
                                              "  (all values 0 now)" if zero else ""))
        for title, ok, rows, _ in results:
            if not ok:
                print("NO DATA  %s" % title)
                for expr, tok, detail in rows:
                    print("         %s %s: %s" % ("ok " if tok else "BAD", detail, expr))
        for pr in lint_problems:
            print("LINT     %s" % pr)
        for note in notes:
            print("NOTE     %s" % note)
        print("panels with data: %d/%d" % (len(good), len(results)))
        print("run time: %.0f s" % (time.monotonic() - T0))
        return 0 if len(good) == len(results) and not lint_problems else 1
    except Exception:
        import traceback

        traceback.print_exc()
        for m in (ens.members if ens else []):
            print("--- member %d (%s) log tail:\n%s" % (m.index + 1, m.hostport, m.log_tail(20)))
        if prom is not None:
            print("--- prometheus log tail:\n%s" % prom.log_tail(20))
        print("FAIL: the check did not complete")
        return 1
    finally:
        if load is not None:
            load.close()
        if prom is not None:
            prom.stop()
        if ens is not None:
            ens.stop()
        if args.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
