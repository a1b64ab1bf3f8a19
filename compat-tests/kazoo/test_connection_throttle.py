"""ZooKeeper's connection throttle (zookeeper.connection_throttle_*, zoo.cfg keys here): a
bucket of 4 tokens refilled once every 10 minutes lets four handshakes through and closes the
next unanswered (mntr's connection_rejected); sessions already made are served. Raw
handshakes only: this module's server must see no other connection."""

import pytest

import rawzk
import servers

SERVER_OPTS = {
    "extra_cfg": {
        "connection_throttle_tokens": "4",
        "connection_throttle_fill_time": "600000",
    }
}


def test_handshakes_past_the_bucket_are_closed_unanswered(server):
    host, port = server.host, server.port
    clients = []
    for _ in range(4):
        c = rawzk.RawClient(host, port)
        assert c.connect().session_id != 0
        clients.append(c)
    refused = rawzk.RawClient(host, port)
    with pytest.raises(rawzk.ConnectionClosed):
        refused.connect()
    assert servers.mntr_value(server, "zk_connection_rejected") == "1"
    # The sessions made before are served.
    reply = clients[0].request(11, xid=-2)  # ping
    assert reply.err == 0
    # A reconnect to an existing session draws from the same empty bucket.
    again = rawzk.RawClient(host, port)
    s = clients[1].session
    with pytest.raises(rawzk.ConnectionClosed):
        again.connect(session_id=s.session_id, passwd=s.passwd)
    assert servers.mntr_value(server, "zk_connection_rejected") == "2"
