"""Fixtures for the kazoo compat suite.

`--server zk|raftzk` (default zk) picks the server under test. Each test module
gets its own freshly started server (`server` fixture); each test gets its own
unique path prefix (`base`, already created) and a connected KazooClient (`zk`).
"""

import os
import re
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # compat-tests/ for servers.py
sys.path.insert(0, HERE)

import servers  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from helpers import WatchRecorder, drain_watches  # noqa: E402


def pytest_addoption(parser):
    parser.addoption(
        "--server",
        action="store",
        default="zk",
        choices=("zk", "raftzk"),
        help="server under test: the real ZooKeeper 3.8.0 (zk) or raftzk",
    )


def pytest_report_header(config):
    kind = config.getoption("--server")
    extra = " (%s)" % servers.raftzk_binary() if kind == "raftzk" else ""
    return "compat server: %s%s" % (kind, extra)


@pytest.fixture(scope="session")
def server_kind(request):
    return request.config.getoption("--server")


@pytest.fixture(scope="module")
def server(request, server_kind, tmp_path_factory):
    """One server per test module; a module may set SERVER_OPTS (a dict of
    servers.start_* keyword arguments, e.g. extra zoo.cfg keys)."""
    tmp = tmp_path_factory.mktemp("server")
    opts = getattr(request.module, "SERVER_OPTS", {})
    srv = servers.start_server(server_kind, tmp, **opts)
    try:
        yield srv
    finally:
        srv.stop()


class ClientFactory:
    def __init__(self, server):
        self.server = server
        self.clients = []

    def __call__(self, connect=True, **kw):
        kw.setdefault("timeout", 10.0)
        c = KazooClient(hosts=self.server.hostport, **kw)
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
def make_client(server):
    f = ClientFactory(server)
    yield f
    f.close_all()


@pytest.fixture
def zk(make_client):
    return make_client()


@pytest.fixture
def base(request, zk):
    """A unique, already-created path prefix for this test."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:60]
    path = "/t-%s-%s" % (name, uuid.uuid4().hex[:8])
    zk.create(path)
    return path


@pytest.fixture
def recorder():
    return WatchRecorder


@pytest.fixture
def drain():
    return drain_watches
