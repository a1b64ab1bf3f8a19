"""A tiny raw-socket ZooKeeper client for what kazoo cannot send or observe:
createContainer (19), createTTL (21), multi results of those, the exact order of
notifications and replies on one connection, session handshakes with a chosen
timeout / session id / password, and dropping TCP without closeSession.

Frames follow shared/protocol.md (ZooKeeper 3.8); all integers big-endian.
"""

import socket
import struct
import time
from collections import namedtuple

# opcodes
CREATE, DELETE, EXISTS, GET_DATA, SET_DATA, GET_ACL, SET_ACL, GET_CHILDREN = 1, 2, 3, 4, 5, 6, 7, 8
SYNC, PING, GET_CHILDREN2, CHECK, MULTI, CREATE2 = 9, 11, 12, 13, 14, 15
CREATE_CONTAINER, DELETE_CONTAINER, CREATE_TTL = 19, 20, 21
AUTH, CLOSE_SESSION = 100, -11

# flags (CreateMode)
PERSISTENT, EPHEMERAL, PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6

# event types
NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED, NODE_CHILDREN_CHANGED = 1, 2, 3, 4

# error codes
OK, RUNTIME_INCONSISTENCY, MARSHALLING_ERROR, UNIMPLEMENTED, BAD_ARGUMENTS = 0, -2, -5, -6, -8
NO_NODE, NO_AUTH, BAD_VERSION, NO_CHILDREN_FOR_EPHEMERALS = -101, -102, -103, -108
NODE_EXISTS, NOT_EMPTY, INVALID_ACL = -110, -111, -114

WATCH_XID, PING_XID, AUTH_XID = -1, -2, -4

Stat = namedtuple(
    "Stat",
    "czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid",
)
STAT_FMT = ">qqqqiiiqiiq"
STAT_SIZE = struct.calcsize(STAT_FMT)  # 68

Reply = namedtuple("Reply", "xid zxid err body")
Event = namedtuple("Event", "type state path")
ConnectResponse = namedtuple("ConnectResponse", "protocol_version timeout session_id passwd read_only")


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def ustr(s):
    if s is None:
        return i32(-1)
    b = s.encode("utf-8")
    return i32(len(b)) + b


def buf(b):
    return i32(-1) if b is None else i32(len(b)) + b


def frame(body):
    return i32(len(body)) + body


def acl_vector(acls):
    """acls: list of (perms, scheme, id)."""
    out = i32(len(acls))
    for perms, scheme, ident in acls:
        out += i32(perms) + ustr(scheme) + ustr(ident)
    return out


OPEN_ACL = [(31, "world", "anyone")]


class Reader:
    def __init__(self, data, offset=0):
        self.data = data
        self.off = offset

    def int(self):
        (v,) = struct.unpack_from(">i", self.data, self.off)
        self.off += 4
        return v

    def long(self):
        (v,) = struct.unpack_from(">q", self.data, self.off)
        self.off += 8
        return v

    def bool(self):
        v = self.data[self.off] != 0
        self.off += 1
        return v

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        v = self.data[self.off:self.off + n]
        self.off += n
        return v

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def stat(self):
        v = Stat._make(struct.unpack_from(STAT_FMT, self.data, self.off))
        self.off += STAT_SIZE
        return v

    def remaining(self):
        return len(self.data) - self.off


class ConnectionClosed(Exception):
    pass


class RawClient:
    """One TCP connection. `log` records, in arrival order, every frame read:
    ('event', Event) for notifications and ('reply', xid, err) for replies."""

    def __init__(self, host, port, timeout=10.0):
        self.addr = (host, port)
        self.sock = socket.create_connection(self.addr, timeout=timeout)
        self.sock.settimeout(timeout)
        self.xid = 0
        self.log = []
        self.events = []
        self.session = None
        self.last_send = None
        self.last_frame_len = None

    # ---- low level ----
    def _recvn(self, n):
        out = b""
        while len(out) < n:
            try:
                d = self.sock.recv(n - len(out))
            except ConnectionResetError:
                d = b""
            if not d:
                raise ConnectionClosed("server closed the connection")
            out += d
        return out

    def recv_frame(self):
        (n,) = struct.unpack(">i", self._recvn(4))
        return self._recvn(n)

    def send_frame(self, body):
        # last_send: monotonic time just before the last frame went out; the
        # server cannot have seen that request earlier
        self.last_send = time.monotonic()
        self.last_frame_len = len(body)
        self.sock.sendall(frame(body))

    def connect(self, timeout_ms=10000, session_id=0, passwd=b"\0" * 16, last_zxid=0, read_only=False):
        body = i32(0) + i64(last_zxid) + i32(timeout_ms) + i64(session_id) + buf(passwd)
        if read_only is not None:
            body += bytes([1 if read_only else 0])
        self.send_frame(body)
        r = Reader(self.recv_frame())
        resp = ConnectResponse(
            r.int(), r.int(), r.long(), r.buffer(), r.bool() if r.remaining() > 0 else None
        )
        self.session = resp
        return resp

    def _read_until(self, xid):
        while True:
            data = self.recv_frame()
            r = Reader(data)
            rxid, zxid, err = r.int(), r.long(), r.int()
            if rxid == WATCH_XID:
                ev = Event(r.int(), r.int(), r.ustring())
                self.events.append(ev)
                self.log.append(("event", ev))
                continue
            self.log.append(("reply", rxid, err))
            if rxid == xid:
                return Reply(rxid, zxid, err, data[16:])

    def request(self, opcode, body=b"", xid=None):
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.send_frame(i32(xid) + i32(opcode) + body)
        return self._read_until(xid)

    def wait_event(self, timeout=30.0):
        """Read frames until a notification arrives; return it."""
        deadline = time.monotonic() + timeout
        n = len(self.events)
        old = self.sock.gettimeout()
        try:
            while len(self.events) == n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no watch event within %.0f s" % timeout)
                self.sock.settimeout(left)
                data = self.recv_frame()
                r = Reader(data)
                rxid, _zxid, err = r.int(), r.long(), r.int()
                if rxid == WATCH_XID:
                    ev = Event(r.int(), r.int(), r.ustring())
                    self.events.append(ev)
                    self.log.append(("event", ev))
                else:
                    self.log.append(("reply", rxid, err))
        finally:
            self.sock.settimeout(old)
        return self.events[-1]

    # ---- requests ----
    def create(self, path, data=b"", flags=0, acl=None, opcode=None, ttl=None):
        """Returns (Reply, path or None, Stat or None)."""
        if opcode is None:
            opcode = CREATE_TTL if ttl is not None else CREATE2
        body = ustr(path) + buf(data) + acl_vector(OPEN_ACL if acl is None else acl) + i32(flags)
        if opcode == CREATE_TTL:
            body += i64(ttl if ttl is not None else 0)
        rep = self.request(opcode, body)
        if rep.err != 0:
            return rep, None, None
        r = Reader(rep.body)
        p = r.ustring()
        st = r.stat() if opcode != CREATE else None
        return rep, p, st

    def exists(self, path, watch=False):
        rep = self.request(EXISTS, ustr(path) + bytes([1 if watch else 0]))
        return rep, (Reader(rep.body).stat() if rep.err == 0 else None)

    def get_data(self, path, watch=False):
        rep = self.request(GET_DATA, ustr(path) + bytes([1 if watch else 0]))
        if rep.err != 0:
            return rep, None, None
        r = Reader(rep.body)
        return rep, r.buffer(), r.stat()

    def get_children(self, path, watch=False):
        rep = self.request(GET_CHILDREN, ustr(path) + bytes([1 if watch else 0]))
        if rep.err != 0:
            return rep, None
        r = Reader(rep.body)
        n = r.int()
        return rep, [r.ustring() for _ in range(max(n, 0))]

    def set_data(self, path, data, version=-1):
        rep = self.request(SET_DATA, ustr(path) + buf(data) + i32(version))
        return rep, (Reader(rep.body).stat() if rep.err == 0 else None)

    def delete(self, path, version=-1):
        return self.request(DELETE, ustr(path) + i32(version))

    def ping(self):
        return self.request(PING, b"", xid=PING_XID)

    def multi(self, ops):
        """ops: list of (optype, record bytes). Returns (Reply, [(type, err, payload Reader)])."""
        body = b""
        for optype, rec in ops:
            body += i32(optype) + b"\x00" + i32(-1) + rec
        body += i32(-1) + b"\x01" + i32(-1)
        rep = self.request(MULTI, body)
        results = []
        if rep.err != 0:
            return rep, results
        r = Reader(rep.body)
        while True:
            t, done, err = r.int(), r.bool(), r.int()
            if done:
                break
            if t == -1:
                results.append((t, r.int(), None))
            elif t == CREATE:
                results.append((t, err, (r.ustring(),)))
            elif t in (CREATE2, CREATE_CONTAINER, CREATE_TTL):
                results.append((t, err, (r.ustring(), r.stat())))
            elif t == SET_DATA:
                results.append((t, err, (r.stat(),)))
            else:
                results.append((t, err, ()))
        return rep, results

    def closed_by_server(self, timeout=10.0):
        """True if the server closes this connection (EOF or reset) within
        `timeout` seconds without sending another frame; False otherwise."""
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(1)
        except ConnectionResetError:
            return True
        except (socket.timeout, TimeoutError):
            return False
        return d == b""

    def close_session(self):
        rep = self.request(CLOSE_SESSION)
        self.drop()
        return rep

    def drop(self):
        """Close TCP without closeSession (the session lives on until it expires)."""
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.drop()


def create_record(path, data=b"", flags=0, acl=None, ttl=None):
    rec = ustr(path) + buf(data) + acl_vector(OPEN_ACL if acl is None else acl) + i32(flags)
    if ttl is not None:
        rec += i64(ttl)
    return rec
