"""Fixtures for the security suite: the same zoo.cfg (TLS keys, certificates made at test
time by gen.sh) started on the real ZooKeeper 3.8.0 (`--server zk`) or raftzk."""

import os
import ssl
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # compat-tests/ for servers.py
sys.path.insert(0, HERE)

import servers  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--server", action="store", default="zk", choices=("zk", "raftzk"),
                     help="server under test: the real ZooKeeper 3.8.0 (zk) or raftzk")


def pytest_report_header(config):
    kind = config.getoption("--server")
    extra = " (%s)" % servers.raftzk_binary() if kind == "raftzk" else ""
    return "compat server: %s%s" % (kind, extra)


@pytest.fixture(scope="session")
def server_kind(request):
    return request.config.getoption("--server")


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A directory of fresh test certificates (gen.sh): never checked in."""
    d = tmp_path_factory.mktemp("certs")
    subprocess.run([os.path.join(HERE, "gen.sh"), str(d)], check=True, capture_output=True)
    return str(d)


def client_context(certs, cert=True, rogue=False, minimum=None, maximum=None, ciphers=None):
    """A client-side ssl.SSLContext trusting the test CA, with alice's certificate (or
    mallory's from the rogue CA, or none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(certs, "ca.pem"))
    if cert:
        name = "rogue-client" if rogue else "client"
        ctx.load_cert_chain(os.path.join(certs, name + ".crt"), os.path.join(certs, name + ".key"))
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_cfg(certs, **extra):
    """The zoo.cfg lines of a TLS client port with PEM stores (ZooKeeper's names)."""
    cfg = {
        "ssl.keyStore.location": os.path.join(certs, "server.pem"),
        "ssl.trustStore.location": os.path.join(certs, "ca.pem"),
    }
    cfg.update(extra)
    return cfg


def start(kind, tmp, certs, plain_port=True, secure_port=True, **extra):
    opts = dict(extra_cfg=tls_cfg(certs, **extra), secure_port=secure_port, plain_port=plain_port)
    if not plain_port:
        opts["ready_tls"] = client_context(certs)
    return servers.start_server(kind, tmp, **opts)
