"""Wire-level facts kazoo hides: path validation per op (kazoo normalises paths
before sending), reply zxids, header-only error replies, special xids, unknown
opcodes, oversize frames, pipelining."""

import re
import struct

import pytest

import rawzk
from rawzk import (
    BAD_ARGUMENTS,
    CREATE,
    EXISTS,
    GET_CHILDREN2,
    NO_NODE,
    NODE_EXISTS,
    OK,
    PERSISTENT_SEQUENTIAL,
    SYNC,
    RawClient,
    buf,
    frame,
    i32,
    ustr,
)


@pytest.fixture
def raw(server):
    c = RawClient(server.host, server.port)
    c.connect()
    yield c
    try:
        c.close_session()
    except Exception:
        c.drop()


# path suffix (appended to the test's base) -> expected err per op:
# create, setData, delete, exists, getData, sync
PATH_CASES = [
    ("/", BAD_ARGUMENTS, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),  # trailing slash
    ("//x", NO_NODE, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),  # parent "<base>/" missing
    ("/./x", NO_NODE, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),  # parent "<base>/." missing
    ("/x/", NO_NODE, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),  # parent "<base>/x" missing
    ("/.", BAD_ARGUMENTS, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),
    ("/..", BAD_ARGUMENTS, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),
    ("/\x00x", BAD_ARGUMENTS, BAD_ARGUMENTS, BAD_ARGUMENTS, BAD_ARGUMENTS, NO_NODE, OK),
    ("/\x7f", BAD_ARGUMENTS, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),
    ("/x\ue000", BAD_ARGUMENTS, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),
    ("/x\ufff0", BAD_ARGUMENTS, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),
    ("/emoji\U0001F600", BAD_ARGUMENTS, BAD_ARGUMENTS, NO_NODE, NO_NODE, NO_NODE, OK),
]


@pytest.mark.parametrize("suffix,create,set_,delete,exists,get,sync", PATH_CASES)
def test_path_validation(raw, zk, base, suffix, create, set_, delete, exists, get, sync):
    p = base + suffix
    assert raw.create(p)[0].err == create
    assert raw.set_data(p, b"x")[0].err == set_
    assert raw.delete(p).err == delete
    assert raw.exists(p)[0].err == exists
    assert raw.get_data(p)[0].err == get
    assert raw.request(SYNC, ustr(p)).err == sync
    assert zk.get_children(base) == []


def test_relative_path(raw):
    assert raw.create("rel")[0].err == BAD_ARGUMENTS
    assert raw.set_data("rel", b"")[0].err == BAD_ARGUMENTS
    assert raw.delete("rel").err == BAD_ARGUMENTS
    assert raw.exists("rel")[0].err == NO_NODE
    assert raw.get_data("rel")[0].err == NO_NODE
    assert raw.request(SYNC, ustr("rel")).err == OK


def test_sequential_names_from_odd_prefixes(raw, zk, base):
    # the suffix is appended before full validation: "<p>/", "<p>/." and "<p>/.."
    # become valid names
    rep, path, _ = raw.create(base + "/", flags=PERSISTENT_SEQUENTIAL)
    assert rep.err == 0 and path == base + "/0000000000"
    rep, path, _ = raw.create(base + "/.", flags=PERSISTENT_SEQUENTIAL)
    assert rep.err == 0 and path == base + "/.0000000001"
    rep, path, _ = raw.create(base + "/..", flags=PERSISTENT_SEQUENTIAL)
    assert rep.err == 0 and path == base + "/..0000000002"
    assert set(zk.get_children(base)) == {"0000000000", ".0000000001", "..0000000002"}


def test_root_node_ops(raw, zk):
    assert raw.create("/")[0].err == NODE_EXISTS
    assert raw.delete("/").err == BAD_ARGUMENTS
    rep, st = raw.exists("/")
    assert rep.err == 0 and st.numChildren >= 1
    # a sequential create on "/" makes a root child named by the counter alone
    rep, path, _ = raw.create("/", flags=PERSISTENT_SEQUENTIAL)
    assert rep.err == 0
    assert re.fullmatch(r"/\d{10}", path), path
    assert raw.delete(path).err == 0


def test_error_reply_is_header_only(raw, base):
    rep, _, _ = raw.create(base)
    assert rep.err == NODE_EXISTS
    assert rep.body == b""
    rep = raw.delete(base + "/missing")
    assert rep.err == NO_NODE and rep.body == b""


def test_reply_zxids(raw, base):
    rep1, _, st = raw.create(base + "/a")
    assert rep1.err == 0 and st.czxid == rep1.zxid
    # reads, sync and ping reply with the last processed zxid
    assert raw.exists(base + "/a")[0].zxid == rep1.zxid
    assert raw.get_data(base + "/missing")[0].zxid == rep1.zxid
    assert raw.request(SYNC, ustr(base)).zxid == rep1.zxid
    ping = raw.ping()
    assert ping.xid == rawzk.PING_XID and ping.err == 0 and ping.zxid == rep1.zxid
    # A failed write consumes a zxid and carries it: later reads report it as the last zxid.
    # zxids strictly increase; they are not consecutive on raftzk, whose zxid is
    # (log index << 16) | position in the entry (design.md), so only the order is checked.
    rep2, _, _ = raw.create(base + "/a")
    assert rep2.err == NODE_EXISTS and rep2.zxid > rep1.zxid
    assert raw.exists(base + "/a")[0].zxid == rep2.zxid
    rep3, st3 = raw.set_data(base + "/a", b"x", version=9)
    assert rep3.err == rawzk.BAD_VERSION and rep3.zxid > rep2.zxid
    assert raw.ping().zxid == rep3.zxid
    # and so does an empty multi
    rep4, results = raw.multi([])
    assert rep4.err == 0 and results == [] and rep4.zxid > rep3.zxid
    assert raw.get_data(base + "/missing")[0].zxid == rep4.zxid
    rep5, _, st5 = raw.create(base + "/b")
    assert rep5.zxid > rep4.zxid and st5.czxid == rep5.zxid


def test_multi_failure_frame(raw, base):
    rep, results = raw.multi(
        [
            (CREATE, rawzk.create_record(base + "/m1")),
            (rawzk.CHECK, ustr(base) + i32(42)),
            (CREATE, rawzk.create_record(base + "/m2")),
        ]
    )
    assert rep.err == 0  # the header says OK although the multi failed
    assert results == [(-1, 0, None), (-1, rawzk.BAD_VERSION, None), (-1, rawzk.RUNTIME_INCONSISTENCY, None)]
    assert rep.body == (
        i32(-1) + b"\x00" + i32(0) + i32(0)
        + i32(-1) + b"\x00" + i32(-103) + i32(-103)
        + i32(-1) + b"\x00" + i32(-2) + i32(-2)
        + i32(-1) + b"\x01" + i32(-1)
    )
    assert raw.exists(base + "/m1")[0].err == NO_NODE


def test_multi_success_result_types(raw, base):
    rep, results = raw.multi(
        [
            (CREATE, rawzk.create_record(base + "/c")),
            (rawzk.SET_DATA, ustr(base + "/c") + buf(b"d") + i32(0)),
            (rawzk.CHECK, ustr(base + "/c") + i32(1)),
            (rawzk.DELETE, ustr(base + "/c") + i32(1)),
        ]
    )
    assert rep.err == 0
    assert [(t, e) for t, e, _ in results] == [(CREATE, 0), (rawzk.SET_DATA, 0), (rawzk.CHECK, 0), (rawzk.DELETE, 0)]
    assert results[0][2] == (base + "/c",)
    assert results[1][2][0].version == 1 and results[1][2][0].mzxid == rep.zxid


def test_create2_via_multi_behaves_like_create(raw, base):
    # inside a multi the result type comes from the flags: create2 sub-op -> type 1
    rep, results = raw.multi([(rawzk.CREATE2, rawzk.create_record(base + "/c2"))])
    assert rep.err == 0
    assert results == [(CREATE, 0, (base + "/c2",))]


def test_special_xids(raw, base):
    auth = raw.request(rawzk.AUTH, i32(0) + ustr("digest") + buf(b"u:p"), xid=rawzk.AUTH_XID)
    assert (auth.xid, auth.zxid, auth.err, auth.body) == (rawzk.AUTH_XID, 0, 0, b"")
    last = raw.ping().zxid
    # any xid is echoed, also negative and repeated ones
    for xid in (-8, 12345, 12345, 2**31 - 1):
        rep = raw.request(EXISTS, ustr(base) + b"\x00", xid=xid)
        assert rep.xid == xid and rep.err == 0 and rep.zxid == last


def test_sasl_without_sasl_configured(raw):
    rep = raw.request(102, buf(b""))
    assert rep.err == 0 and rep.zxid == 0
    assert rep.body == i32(-1)  # SetSASLResponse with a null token
    assert raw.ping().err == 0  # connection still usable


def test_delete_container_from_client_rejected(raw, zk, base):
    zk.create(base + "/c")
    rep = raw.request(rawzk.DELETE_CONTAINER, (base + "/c").encode())
    assert rep.err == BAD_ARGUMENTS
    assert zk.exists(base + "/c") is not None


def test_unknown_opcode(raw):
    rep = raw.request(999)
    assert rep.err == rawzk.UNIMPLEMENTED and rep.zxid == -1
    assert raw.closed_by_server()


def test_pipelined_requests_answered_in_order(raw, base):
    frames = b""
    for i in range(1, 51):
        body = rawzk.create_record("%s/p%02d" % (base, i))
        frames += frame(i32(1000 + i) + i32(CREATE) + body)
    frames += frame(i32(2000) + i32(GET_CHILDREN2) + ustr(base) + b"\x00")
    raw.sock.sendall(frames)
    xids = []
    for _ in range(51):
        data = raw.recv_frame()
        xid, zxid, err = struct.unpack_from(">iqi", data)
        assert err == 0
        xids.append(xid)
    assert xids == [1000 + i for i in range(1, 51)] + [2000]
    assert len(raw.get_children(base)[1]) == 50


def test_oversize_frame_closes_connection_not_session(server, zk, base):
    r = RawClient(server.host, server.port)
    resp = r.connect()
    assert r.create(base + "/e", flags=rawzk.EPHEMERAL)[0].err == 0
    big = b"x" * (2 * 1024 * 1024)
    try:
        r.send_frame(i32(1000) + i32(rawzk.SET_DATA) + ustr(base + "/e") + buf(big) + i32(-1))
    except OSError:
        pass  # the server may close while we are still sending
    assert r.closed_by_server()
    r.drop()
    assert zk.exists(base + "/e") is not None
    with RawClient(server.host, server.port) as r2:
        again = r2.connect(session_id=resp.session_id, passwd=resp.passwd)
        assert again.session_id == resp.session_id
        assert r2.close_session().err == 0
    assert zk.exists(base + "/e") is None


def test_max_frame_size(server, zk, base):
    # a frame of exactly jute.maxbuffer (1048575) bytes is accepted, one more is not
    fixed = 8 + (4 + len(base.encode())) + 4 + 4  # header, path, data length, version
    with RawClient(server.host, server.port) as r:
        r.connect()
        data = b"y" * (1048575 - fixed)
        rep, st = r.set_data(base, data)
        assert r.last_frame_len == 1048575
        assert rep.err == 0 and st.dataLength == len(data)
        try:
            r.send_frame(i32(77) + i32(rawzk.SET_DATA) + ustr(base) + buf(data + b"z") + i32(-1))
        except OSError:
            pass
        assert r.last_frame_len == 1048576
        assert r.closed_by_server()
    assert zk.exists(base).dataLength == 1048575 - fixed


def test_negative_length_closes(server):
    with RawClient(server.host, server.port) as r:
        r.connect()
        r.sock.sendall(i32(-5) + b"\x00" * 8)
        assert r.closed_by_server()
