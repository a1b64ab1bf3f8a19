"""ZooKeeper's request throttler (zookeeper.request_throttle_max_requests, zoo.cfg keys
here): with at most one request in process, three sessions pipelining writes wait their turn
(mntr's request_throttle_wait_count), and every write is answered, in order, and applied."""

import servers

SERVER_OPTS = {
    "extra_cfg": {
        "request_throttle_max_requests": "1",
        "request_throttle_stall_time": "50",
    }
}


def test_pipelined_writes_wait_their_turn_and_are_all_answered(server, make_client, base):
    clients = [make_client() for _ in range(3)]
    paths = []
    for i, c in enumerate(clients):
        path = "%s/n%d" % (base, i)
        c.create(path, b"0")
        paths.append(path)
    pending = []
    for n in range(1, 101):
        for c, path in zip(clients, paths):
            pending.append((c.set_async(path, str(n).encode()), n))
    versions = {}
    for result, n in pending:
        stat = result.get(timeout=60)
        assert stat.version == n, (stat.version, n)
    for c, path in zip(clients, paths):
        assert c.get(path)[0] == b"100"
        versions[path] = c.get(path)[1].version
    assert set(versions.values()) == {100}
    waits = int(servers.mntr_value(server, "zk_request_throttle_wait_count"))
    assert waits > 0, "no request waited at the throttle"
