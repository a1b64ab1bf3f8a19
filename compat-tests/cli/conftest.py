"""Fixtures for the zkCli / C-client compat suite.

`--server zk|raftzk` (default zk) picks the server under test. Each test module gets its own
freshly started server (`server`); each test gets a unique, not yet created path (`base`),
`cli` (one zkCli.sh run: `cli("get /x")`), `script` (one zkCli.sh session fed a list of
commands) and `climt` (a started `cli_mt` session, quit at the end of the test).
"""

import functools
import os
import re
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # compat-tests/ for servers.py
sys.path.insert(0, HERE)

import servers  # noqa: E402
import clitools  # noqa: E402


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
    return "compat server: %s%s; zkCli %s; cli_mt %s" % (
        kind, extra, clitools.ZKCLI, clitools.CLI_MT)


@pytest.fixture(scope="session")
def server_kind(request):
    return request.config.getoption("--server")


@pytest.fixture(scope="module")
def server(request, server_kind, tmp_path_factory):
    """One server per test module; a module may set SERVER_OPTS."""
    tmp = tmp_path_factory.mktemp("server")
    opts = getattr(request.module, "SERVER_OPTS", {})
    srv = servers.start_server(server_kind, tmp, **opts)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def base(request):
    """A unique path for this test, not created yet."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)[:50]
    return "/t-%s-%s" % (name, uuid.uuid4().hex[:8])


@pytest.fixture
def cli(server):
    return functools.partial(clitools.zkcli, server)


@pytest.fixture
def script(server):
    return functools.partial(clitools.zkcli_script, server)


@pytest.fixture
def climt(server):
    sessions = []

    def start():
        c = clitools.CliMt(server)
        sessions.append(c)
        return c

    first = start()
    first.new = start  # a second session when a test needs one
    yield first
    for c in sessions:
        c.close()
