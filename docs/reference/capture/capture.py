"""Capture mntr / 4lw / AdminServer output from real ZooKeeper 3.8.0 (standalone + 3-member ensemble).

Usage: python3 capture.py OUTDIR [both|standalone|ensemble]
Needs Debian's zookeeper package; adds /usr/share/java/servlet-api.jar to the classpath so the
AdminServer (Jetty) can start. Temp data goes under /tmp/zkref; only the JVMs it started are stopped.
"""
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, "/work/main/compat-tests")
import servers  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NoNodeError  # noqa: E402

OUT = os.environ.get("ZKREF_OUT", "/tmp/zkref/out")
os.makedirs("/tmp/zkref", exist_ok=True)
BASE = tempfile.mkdtemp(prefix="zkref-", dir="/tmp/zkref")
CP = "/usr/share/java/zookeeper.jar:/usr/share/java/servlet-api.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar"
PROCS = []
FOURLW = ["ruok", "srvr", "stat", "cons", "wchs", "wchc", "wchp", "dump", "conf", "envi", "isro",
          "dirs", "gtmk", "hash", "mntr"]
RESET_4LW = ["crst", "srst"]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def spawn(main_class, cfg_path, base):
    logf = open(os.path.join(base, "server.log"), "ab")
    p = subprocess.Popen(
        ["java", "-Xmx256m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
         "-cp", CP, main_class, cfg_path],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, cwd=base,
        start_new_session=True)
    logf.close()
    PROCS.append(p)
    log("started", main_class.rsplit(".", 1)[1], "pid", p.pid, cfg_path)
    return p


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
    for p in PROCS:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def flw(port, cmd):
    return servers.four_letter_word("127.0.0.1", port, cmd.encode(), timeout=10.0)


def flw_raw(port, cmd):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(cmd.encode())
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            out += d
    return out


def mode(port):
    try:
        for line in flw(port, "srvr").splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
    except OSError:
        return None
    return None


def wait_mode(ports, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        ms = [mode(p) for p in ports]
        if all(m in ("leader", "follower", "standalone") for m in ms):
            return ms
        time.sleep(0.3)
    raise RuntimeError("not serving: %r" % ms)


def cfg_text(data_dir, client, admin, extra):
    lines = [
        "tickTime=2000",
        "dataDir=%s" % data_dir,
        "clientPort=%d" % client,
        "clientPortAddress=127.0.0.1",
        "4lw.commands.whitelist=*",
        "admin.enableServer=true",
        "admin.serverAddress=127.0.0.1",
        "admin.serverPort=%d" % admin,
        "snapCount=100",
    ] + ["%s=%s" % kv for kv in extra]
    return "\n".join(lines) + "\n"


# ---------- raw jute session that creates an ephemeral and is then abandoned -----------
def _s(b):
    return struct.pack(">i", len(b)) + b


def _recv_frame(sock):
    hdr = b""
    while len(hdr) < 4:
        d = sock.recv(4 - len(hdr))
        if not d:
            raise EOFError
        hdr += d
    (n,) = struct.unpack(">i", hdr)
    body = b""
    while len(body) < n:
        d = sock.recv(n - len(body))
        if not d:
            raise EOFError
        body += d
    return body


def abandoned_session(port, path, timeout_ms=4000):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = struct.pack(">iqiq", 0, 0, timeout_ms, 0) + _s(b"\0" * 16) + b"\0"
    s.sendall(_s(req))
    resp = _recv_frame(s)
    proto, to, sid = struct.unpack(">iiq", resp[:16])
    create = (struct.pack(">ii", 1, 1) + _s(path.encode()) + _s(b"eph")
              + struct.pack(">i", 1) + struct.pack(">i", 31) + _s(b"world") + _s(b"anyone")
              + struct.pack(">i", 1))
    s.sendall(_s(create))
    r = _recv_frame(s)
    xid, zxid, err = struct.unpack(">iqi", r[:16])
    log("abandoned session 0x%x timeout %d create %s err %d" % (sid, to, path, err))
    s.close()  # no closeSession: the server must expire it
    return sid


# ---------- load -----------
def load(hosts, tag, nodes=200):
    fired = []
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=30)
    root = "/load-%s" % tag
    zk.ensure_path(root)
    for i in range(nodes):
        zk.create("%s/n%04d" % (root, i), b"x" * (i % 50 + 1))
    for i in range(0, nodes, 2):
        zk.get("%s/n%04d" % (root, i))
    zk.get_children(root)
    for i in range(20):
        zk.exists("%s/n%04d" % (root, i))
        zk.exists("%s/missing%d" % (root, i))
    try:
        zk.get("%s/nope" % root)
    except NoNodeError:
        pass
    # watches that fire
    ev = threading.Event()

    def w(event):
        fired.append(event)
        if len(fired) >= 6:
            ev.set()

    for i in range(3):
        zk.get("%s/n%04d" % (root, i), watch=w)
    zk.get_children(root, watch=w)
    zk.exists("%s/later" % root, watch=w)
    zk.get("%s/n%04d" % (root, 10), watch=w)
    w2 = KazooClient(hosts=hosts, timeout=10)
    w2.start(timeout=30)
    for i in range(3):
        w2.set("%s/n%04d" % (root, i), b"changed")
    w2.create("%s/later" % root, b"now")
    w2.delete("%s/n%04d" % (root, 10))
    t = w2.transaction()
    t.create("%s/txn-a" % root, b"a")
    t.create("%s/txn-b" % root, b"b")
    t.commit()
    w2.sync(root)
    w2.stop()
    w2.close()
    ev.wait(15)
    log(tag, "watch events fired:", len(fired))
    # ephemeral on a session that stays open, plus watches left registered
    zk.create("%s/eph-live" % root, b"e", ephemeral=True)
    zk.get("%s/n%04d" % (root, 20), watch=lambda e: None)
    zk.get_children(root, watch=lambda e: None)
    zk.exists("%s/never" % root, watch=lambda e: None)
    # a session that expires (abandoned without closeSession), with its ephemeral
    host, port = hosts.split(",")[0].split(":")
    abandoned_session(int(port), "%s/eph-expiring" % root)
    # a closed session with an ephemeral
    z3 = KazooClient(hosts=hosts, timeout=10)
    z3.start(timeout=30)
    z3.create("%s/eph-closed" % root, b"c", ephemeral=True)
    z3.stop()
    z3.close()
    # wait for the abandoned one to expire
    deadline = time.time() + 30
    while time.time() < deadline and zk.exists("%s/eph-expiring" % root):
        time.sleep(0.5)
    log(tag, "expiring ephemeral gone:", zk.exists("%s/eph-expiring" % root) is None)
    return zk  # keep open (live ephemeral + watches) during capture


# ---------- admin -----------
def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    hdrs = r.getheaders()
    c.close()
    return r.status, hdrs, body


def admin_capture(port, outdir, suffix, names=None, headers_log=None):
    os.makedirs(outdir, exist_ok=True)
    st, hd, body = http_get(port, "/commands")
    with open(os.path.join(outdir, "commands%s.html" % suffix), "wb") as f:
        f.write(body)
    headers_log.append(("/commands", st, hd))
    import re
    listed = re.findall(r'href="/commands/([^"]+)"', body.decode())
    # side-effecting commands last
    order = [n for n in listed if n not in ("connection_stat_reset", "stat_reset",
                                            "observer_connection_stat_reset", "set_trace_mask")]
    order += [n for n in listed if n not in order]
    results = {}
    for n in order:
        if names is not None and n not in names:
            continue
        st, hd, body = http_get(port, "/commands/" + n)
        with open(os.path.join(outdir, "%s%s.json" % (n, suffix)), "wb") as f:
            f.write(body)
        headers_log.append(("/commands/" + n, st, hd))
        results[n] = body
    return listed, results


def admin_extras(port, outdir, suffix, headers_log):
    os.makedirs(outdir, exist_ok=True)
    for path, fname in [("/commands/no_such_command", "unknown_command"),
                        ("/commands/mntr", "alias_mntr"),
                        ("/commands/set_trace_mask?traceMask=0", "set_trace_mask_param0"),
                        ("/commands/", "commands_slash"),
                        ("/", "root"),
                        ("/commands/monitor/extra", "monitor_extra_path")]:
        st, hd, body = http_get(port, path)
        with open(os.path.join(outdir, "%s%s.raw" % (fname, suffix)), "wb") as f:
            f.write(body)
        headers_log.append((path, st, hd))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("POST", "/commands/ruok", body=b"{}", headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    with open(os.path.join(outdir, "post_ruok%s.raw" % suffix), "wb") as f:
        f.write(body)
    headers_log.append(("POST /commands/ruok", r.status, r.getheaders()))
    c.close()
    # restore a sane trace mask
    http_get(port, "/commands/set_trace_mask?traceMask=1330")


def write_headers(outdir, name, hl):
    with open(os.path.join(outdir, name), "w") as f:
        for path, st, hd in hl:
            f.write("%s\t%d\t%s\n" % (path, st, json.dumps(hd)))


def capture_4lw(port, outdir, label, phase):
    d = os.path.join(outdir, "4lw-" + label)
    os.makedirs(d, exist_ok=True)
    cmds = FOURLW + ["stmk", "xxxx"] if phase == 1 else RESET_4LW + ["srvr"]
    for c in cmds:
        raw = flw_raw(port, c)
        fn = c if phase == 1 or c != "srvr" else "srvr-after-reset"
        with open(os.path.join(d, fn + ".txt"), "wb") as f:
            f.write(raw)


def standalone():
    base = os.path.join(BASE, "standalone")
    data = os.path.join(base, "data")
    os.makedirs(data)
    client, admin = servers.free_port(), servers.free_port()
    cfg = os.path.join(base, "zoo.cfg")
    with open(cfg, "w") as f:
        f.write(cfg_text(data, client, admin, []))
    spawn("org.apache.zookeeper.server.ZooKeeperServerMain", cfg, base)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if flw(client, "ruok") == "imok" and "not currently serving" not in flw(client, "srvr"):
                break
        except OSError:
            pass
        time.sleep(0.3)
    zk = load("127.0.0.1:%d" % client, "sa")
    time.sleep(1)
    with open(os.path.join(OUT, "zk-3.8.0-mntr-standalone.txt"), "wb") as f:
        f.write(flw_raw(client, "mntr"))
    capture_4lw(client, OUT, "standalone", 1)
    hl = []
    adir = os.path.join(OUT, "zk-3.8.0-admin")
    listed, _ = admin_capture(admin, adir, "", headers_log=hl)
    admin_extras(admin, os.path.join(adir, "extras"), "-standalone", hl)
    write_headers(os.path.join(adir, "extras"), "headers-standalone.tsv", hl)
    capture_4lw(client, OUT, "standalone", 2)
    zk.stop()
    zk.close()
    log("standalone admin listed", listed)
    return listed


def ensemble():
    n = 3
    ports = [(servers.free_port(), servers.free_port(), servers.free_port(), servers.free_port())
             for _ in range(n)]
    quorum = [("server.%d" % (i + 1), "127.0.0.1:%d:%d" % (p[1], p[2])) for i, p in enumerate(ports)]
    for i, (client, peer, elec, admin) in enumerate(ports):
        base = os.path.join(BASE, "ens-%d" % (i + 1))
        data = os.path.join(base, "data")
        os.makedirs(data)
        with open(os.path.join(data, "myid"), "w") as f:
            f.write("%d\n" % (i + 1))
        cfg = os.path.join(base, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(cfg_text(data, client, admin, [("initLimit", 10), ("syncLimit", 5)] + quorum))
        spawn("org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg, base)
    ms = wait_mode([p[0] for p in ports])
    log("modes", ms)
    li = ms.index("leader")
    fi = [i for i, m in enumerate(ms) if m == "follower"][0]
    lport, fport = ports[li][0], ports[fi][0]
    zf = load("127.0.0.1:%d" % fport, "fol")
    zl = load("127.0.0.1:%d" % lport, "lead", nodes=50)
    time.sleep(2)
    with open(os.path.join(OUT, "zk-3.8.0-mntr-follower.txt"), "wb") as f:
        f.write(flw_raw(fport, "mntr"))
    with open(os.path.join(OUT, "zk-3.8.0-mntr-leader.txt"), "wb") as f:
        f.write(flw_raw(lport, "mntr"))
    capture_4lw(fport, OUT, "follower", 1)
    capture_4lw(lport, OUT, "leader", 1)
    adir = os.path.join(OUT, "zk-3.8.0-admin")
    for label, idx in (("leader", li), ("follower", fi)):
        hl = []
        admin_capture(ports[idx][3], os.path.join(adir, label), "", headers_log=hl)
        admin_extras(ports[idx][3], os.path.join(adir, "extras"), "-" + label, hl)
        write_headers(os.path.join(adir, "extras"), "headers-%s.tsv" % label, hl)
    capture_4lw(fport, OUT, "follower", 2)
    capture_4lw(lport, OUT, "leader", 2)
    with open(os.path.join(OUT, "ensemble-info.txt"), "w") as f:
        f.write("modes=%r leader=server.%d follower=server.%d ports(client,peer,elec,admin)=%r\n"
                % (ms, li + 1, fi + 1, ports))
    zf.stop(); zf.close(); zl.stop(); zl.close()


if __name__ == "__main__":
    OUT = sys.argv[1] if len(sys.argv) > 1 else OUT
    os.makedirs(OUT, exist_ok=True)
    try:
        which = sys.argv[2] if len(sys.argv) > 2 else "both"
        if which in ("both", "standalone"):
            standalone()
            stop_all()
        if which in ("both", "ensemble"):
            ensemble()
    finally:
        stop_all()
        log("stopped; base", BASE)
