"""TLS between members (sslQuorum=true, ssl.quorum.*): the same zoo.cfg of a 3-member
ensemble on the real ZooKeeper 3.8.0 and on raftzk. A TLS quorum serves and replicates; a
member whose certificate another CA signed, and one that speaks plaintext, never join while
the other two serve."""

import os
import time

import pytest
from kazoo.client import KazooClient

import ensemble

# Long enough for a member that could join to have joined (both servers join within 2 s).
SETTLE = 6.0


def quorum_cfg(certs, key_store="server.pem"):
    return {
        "sslQuorum": "true",
        "ssl.quorum.keyStore.location": os.path.join(certs, key_store),
        "ssl.quorum.trustStore.location": os.path.join(certs, "ca.pem"),
    }


@pytest.fixture
def start_ensemble(server_kind, tmp_path):
    started = []

    def start(**opts):
        ens = ensemble.start_ensemble(server_kind, str(tmp_path), n=3, **opts)
        started.append(ens)
        return ens

    yield start
    for ens in started:
        ens.stop()


def kazoo(member):
    c = KazooClient(hosts=member.hostport, timeout=10)
    c.start(timeout=15)
    return c


def test_q1_a_tls_quorum_replicates(start_ensemble, certs):
    ens = start_ensemble(extra_cfg=quorum_cfg(certs))
    writer, reader = kazoo(ens.members[0]), kazoo(ens.members[2])
    try:
        writer.create("/q1", b"over-tls")
        for i in range(10):
            writer.create("/q1/n", b"", sequence=True)
        reader.sync("/q1")
        assert reader.get("/q1")[0] == b"over-tls"
        assert len(reader.get_children("/q1")) == 10
        assert ens.leader_index() in (0, 1, 2)
    finally:
        writer.stop()
        reader.stop()


@pytest.mark.parametrize("outsider", ["rogue-ca", "plaintext"])
def test_q2_a_member_the_quorum_cannot_verify_never_joins(start_ensemble, certs, outsider):
    good = quorum_cfg(certs)
    bad = quorum_cfg(certs, "rogue-member.pem") if outsider == "rogue-ca" else {}
    ens = start_ensemble(
        extra_cfg={},
        member_cfg=lambda i: bad if i == 2 else good,
        serving=[0, 1],
    )
    leader = ens.leader_index()
    assert leader in (0, 1)
    writer = kazoo(ens.members[leader])
    try:
        writer.create("/q2", b"quorum-only")
    finally:
        writer.stop()
    time.sleep(SETTLE)
    assert ens.mode(2) not in ("leader", "follower", "observer"), ens.mode(2)
    assert all(ens.mode(i) in ("leader", "follower") for i in (0, 1))
