"""Fixtures and reporting for the kazoo recipe suite.

Options:
  --server zk|raftzk   the server under test (default zk): the real ZooKeeper 3.8.0 or raftzk
  --cluster            also run the cluster cases (tests marked ``cluster``) against a
                       3-member ensemble (ensemble.py); for raftzk they are reported as
                       PENDING until raftzk's cluster exists (issue 6)

Outcomes: a case skipped with a reason starting "PENDING" is reported in its own category,
``pending`` (letter P), never as a plain skip; the final line reads e.g.
``40 passed, 2 pending``. At the end of the session the latency report is printed and,
with the counts, written to ``compat-tests/results/recipes-<server>.json``.
"""

import json
import os
import re
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
sys.path.insert(0, COMPAT)  # servers.py, ensemble.py
sys.path.insert(0, HERE)

import ensemble as ensemble_mod  # noqa: E402
import servers  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NoNodeError, NotEmptyError  # noqa: E402

import recipetools  # noqa: E402
from recipetools import METRICS, Actor, TcpProxy  # noqa: E402

RESULTS = os.path.join(COMPAT, "results")
SESSION_TIMEOUT = 4.0  # seconds: the minimum (2 x tickTime) with tickTime 2000
# A dead client's session must be gone by then (seconds after its last request): ZooKeeper
# expires sessions in tickTime buckets, so within timeout + tickTime; the rest is slack for
# a loaded machine. Only checked where a case waits for an expiry anyway.
EXPIRY_BOUND = SESSION_TIMEOUT + 2 * 2.0 + 7.0

_started = {}


def pytest_addoption(parser):
    parser.addoption("--server", action="store", default="zk", choices=("zk", "raftzk"),
                     help="server under test: the real ZooKeeper 3.8.0 (zk) or raftzk")
    parser.addoption("--cluster", action="store_true", default=False,
                     help="also run the cluster cases (3-member ensemble)")


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster: needs a 3-member ensemble (--cluster)")
    _started["t"] = time.monotonic()


def pytest_report_header(config):
    kind = config.getoption("--server")
    extra = " (%s)" % servers.raftzk_binary() if kind == "raftzk" else ""
    return "recipes server: %s%s%s" % (kind, extra, ", with cluster cases" if config.getoption("--cluster") else "")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--cluster"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("cluster") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _is_pending(report):
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return False
    return "PENDING" in str(report.longrepr[2])


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report, config):
    if _is_pending(report):
        return "pending", "P", "PENDING"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if srv is not None:
            rep.sections.append(("server log (%s) tail" % srv.log_path, srv.log_tail(40)))
        ens = item.funcargs.get("ensemble") if hasattr(item, "funcargs") else None
        if ens is not None:
            for m in ens.members:
                rep.sections.append(("member %d log (%s) tail" % (m.index + 1, m.log_path), m.log_tail(15)))


# ---------------------------------------------------------------- servers and clients

@pytest.fixture(scope="session")
def server_kind(request):
    return request.config.getoption("--server")


@pytest.fixture(scope="module")
def server(server_kind, tmp_path_factory):
    """One standalone server per test module."""
    srv = servers.start_server(server_kind, tmp_path_factory.mktemp("server"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def ensemble(server_kind, tmp_path_factory):
    """A 3-member ensemble (ZooKeeper), or PENDING for raftzk until issue 6."""
    try:
        ens = ensemble_mod.start_ensemble(server_kind, tmp_path_factory.mktemp("ensemble"), n=3)
    except ensemble_mod.ClusterPending as e:
        pytest.skip("PENDING: raftzk cluster (issue 6): %s" % e)
    try:
        yield ens
    finally:
        ens.stop()


class ClientFactory:
    """make_client(hosts=None, timeout=10.0, connect=True, **kazoo kwargs): a KazooClient on
    its own session; closed at the end of the test."""

    def __init__(self, default_hosts):
        self.default_hosts = default_hosts
        self.clients = []

    def __call__(self, hosts=None, connect=True, timeout=10.0, **kw):
        c = KazooClient(hosts=hosts or self.default_hosts(), timeout=timeout, **kw)
        self.clients.append(c)
        if connect:
            c.start(timeout=30)
        return c

    def close_all(self):
        for c in self.clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass


@pytest.fixture
def make_client(request):
    def hosts():
        if "ensemble" in request.fixturenames:
            return request.getfixturevalue("ensemble").connect_string
        return request.getfixturevalue("server").hostport

    f = ClientFactory(hosts)
    yield f
    f.close_all()


@pytest.fixture
def zk(make_client):
    return make_client()


@pytest.fixture
def base(request, zk):
    """A unique, already created path prefix for this test, deleted afterwards."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:50]
    path = "/r-%s-%s" % (name, uuid.uuid4().hex[:8])
    zk.create(path)
    yield path
    for _ in range(20):
        try:
            zk.delete(path, recursive=True)
            break
        except NoNodeError:
            break
        except NotEmptyError:  # an ephemeral created concurrently; try again
            time.sleep(0.25)
        except Exception:
            break


@pytest.fixture
def actors(request):
    """actors(hosts=None, timeout=4.0, name=..., fast_reconnect=False) -> Actor (a kazoo
    client in a subprocess, READY); all are SIGKILLed (by PID) at the end of the test."""
    made = []

    def make(hosts=None, timeout=SESSION_TIMEOUT, name="actor", fast_reconnect=False):
        if hosts is None:
            hosts = request.getfixturevalue("server").hostport
        a = Actor(hosts, timeout=timeout, name=name, fast_reconnect=fast_reconnect)
        made.append(a)
        a.session = int(a.expect("READY", timeout=60).split()[1], 16)
        return a

    yield make
    for a in made:
        a.close()


@pytest.fixture
def proxy(server):
    """proxy() -> a TcpProxy in front of the standalone server; closed after the test."""
    made = []

    def make():
        p = TcpProxy(server.host, server.port)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture(scope="session")
def metrics():
    return METRICS


# ---------------------------------------------------------------- the report

LATENCY_ROWS = [
    ("lock_acquire_release_1_client", "lock acquire+release, 1 client"),
    ("lock_acquire_release_16_clients", "lock acquire+release, 16 clients (contended)"),
    ("election_after_session_death", "election: leader's session dies -> new leader"),
    ("notification_latency", "DataWatch: setData reply -> callback"),
    ("notification_latency_from_call", "DataWatch: setData call -> callback"),
    ("cluster_election_after_leader_member_killed", "cluster: leader member killed -> new leader"),
]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.option.collectonly:
        return
    tr = terminalreporter
    kind = config.getoption("--server")
    cluster = config.getoption("--cluster")
    stats = tr.stats
    counts = {k: len([r for r in stats.get(k, []) if getattr(r, "when", "call") in ("call", "setup", "teardown")])
              for k in ("passed", "failed", "error", "pending", "skipped", "xfailed", "xpassed")}
    counts["deselected"] = len(stats.get("deselected", []))
    pending = [(r.nodeid, str(r.longrepr[2])) for r in stats.get("pending", [])]
    failed = [r.nodeid for r in stats.get("failed", [])] + [r.nodeid for r in stats.get("error", [])]
    summary = METRICS.summary()
    elapsed = time.monotonic() - _started.get("t", time.monotonic())

    if pending:
        tr.write_sep("=", "pending (counted apart from passed/failed/skipped)")
        for nodeid, reason in pending:
            tr.write_line("PENDING %s - %s" % (nodeid, reason))

    tr.write_sep("=", "recipe latency report (%s%s)" % (kind, ", cluster" if cluster else ""))
    tr.write_line("%-48s %6s %10s %10s %10s" % ("measure", "n", "p50 ms", "p99 ms", "max ms"))
    names = [n for n, _ in LATENCY_ROWS] + sorted(set(summary) - {n for n, _ in LATENCY_ROWS})
    labels = dict(LATENCY_ROWS)
    for name in names:
        s = summary.get(name)
        if s is None:
            continue
        tr.write_line("%-48s %6d %10.2f %10.2f %10.2f" % (labels.get(name, name)[:48], s["n"], s["p50_ms"], s["p99_ms"], s["max_ms"]))
    for name, value in sorted(METRICS.notes.items()):
        tr.write_line("%-48s %s" % (name, value))

    report = {
        "suite": "recipes",
        "server": kind,
        "binary": servers.raftzk_binary() if kind == "raftzk" else "zookeeper-3.8.0",
        "cluster": cluster,
        "exitstatus": int(exitstatus),
        "duration_s": round(elapsed, 1),
        "counts": counts,
        "pending": [{"test": n, "reason": r} for n, r in pending],
        "failed": failed,
        "latency": summary,
        "notes": dict(METRICS.notes),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "recipes-%s.json" % kind)
    with open(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    tr.write_line("report written to %s" % path)
