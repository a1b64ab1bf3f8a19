"""Supplementary capture: keys that only appear under specific conditions (quota, >=1000 txns).

Usage: ZKREF_OUT=OUTDIR python3 extra.py x [ensemble]   (a second argument also runs the 1200-txn ensemble)
"""
import os, sys, time, subprocess
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capture as C
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

OUT = os.environ.get("ZKREF_OUT", "/tmp/zkref/out")
os.makedirs(OUT, exist_ok=True)

def standalone_quota():
    base = os.path.join(C.BASE, "sa-quota"); data = os.path.join(base, "data"); os.makedirs(data)
    client, admin = C.servers.free_port(), C.servers.free_port()
    cfg = os.path.join(base, "zoo.cfg")
    with open(cfg, "w") as f:
        f.write(C.cfg_text(data, client, admin, [("enforceQuota", "true")]))
    C.spawn("org.apache.zookeeper.server.ZooKeeperServerMain", cfg, base)
    C.wait_mode([client])
    zk = KazooClient(hosts="127.0.0.1:%d" % client); zk.start(30)
    zk.create("/quota-ns", b"")
    r = subprocess.run(["/usr/share/zookeeper/bin/zkCli.sh", "-server", "127.0.0.1:%d" % client,
                        "setquota", "-N", "5", "/quota-ns"], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, ZOO_LOG_DIR="/tmp/zkref", ZOO_LOG4J_PROP="WARN,CONSOLE"))
    C.log("setquota rc", r.returncode, r.stdout[-300:], r.stderr[-300:])
    errs = 0
    for i in range(10):
        try:
            zk.create("/quota-ns/c%d" % i, b"x")
        except KazooException as e:
            errs += 1
    C.log("quota create errors", errs)
    time.sleep(1)
    raw = C.flw_raw(client, "mntr")
    with open(os.path.join(OUT, "extra-mntr-standalone-quota.txt"), "wb") as f:
        f.write(raw)
    zk.stop(); zk.close()

def ensemble_ack():
    import capture
    n = 3
    ports = [(C.servers.free_port(), C.servers.free_port(), C.servers.free_port(), C.servers.free_port()) for _ in range(n)]
    quorum = [("server.%d" % (i + 1), "127.0.0.1:%d:%d" % (p[1], p[2])) for i, p in enumerate(ports)]
    for i, (client, peer, elec, admin) in enumerate(ports):
        base = os.path.join(C.BASE, "ens-ack-%d" % (i + 1)); data = os.path.join(base, "data"); os.makedirs(data)
        with open(os.path.join(data, "myid"), "w") as f:
            f.write("%d\n" % (i + 1))
        cfg = os.path.join(base, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(C.cfg_text(data, client, admin, [("initLimit", 10), ("syncLimit", 5)] + quorum))
        C.spawn("org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg, base)
    ms = C.wait_mode([p[0] for p in ports])
    li = ms.index("leader")
    zk = KazooClient(hosts="127.0.0.1:%d" % ports[li][0]); zk.start(30)
    zk.create("/bulk", b"")
    for j in range(0, 1200, 100):
        rs = [zk.create_async("/bulk/n%05d" % k, b"v") for k in range(j, j + 100)]
        for r in rs:
            r.get(30)
    time.sleep(2)
    with open(os.path.join(OUT, "extra-mntr-leader-1200txn.txt"), "wb") as f:
        f.write(C.flw_raw(ports[li][0], "mntr"))
    zk.stop(); zk.close()

try:
    os.environ["JAVA_TOOL_OPTIONS"] = "-Dzookeeper.enforceQuota=true"
    standalone_quota()
    del os.environ["JAVA_TOOL_OPTIONS"]
    C.stop_all()
    if len(sys.argv) > 2:
        ensemble_ack()
finally:
    C.stop_all()
