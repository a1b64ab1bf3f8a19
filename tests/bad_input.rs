//! Bad input: each case gets ZooKeeper's answer or a closed connection, and afterwards the
//! server, its tree and every other session carry on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use common::{four_letter_word, wait_until, Client, Server};
use jute_codec::*;

/// A session that must survive everything the test does to other connections.
struct Witness {
    client: Client,
    round: u32,
}

impl Witness {
    fn new(server: &Server) -> Witness {
        let mut client = Client::connect(server.addr());
        client.create("/witness", b"", CreateMode::Persistent);
        Witness { client, round: 0 }
    }

    /// The witness's session still works: a create and a read.
    fn check(&mut self) {
        self.round += 1;
        let path = format!("/witness/{}", self.round);
        assert_eq!(
            self.client.create(&path, b"ok", CreateMode::Persistent).0,
            ErrorCode::Ok
        );
        assert_eq!(
            self.client.get_data(&path).1.unwrap().0.as_deref(),
            Some(&b"ok"[..])
        );
    }
}

fn raw(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s
}

/// True if the server closes `s` without sending anything more.
fn closed_silently(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Sends an auth packet with `xid` and returns its reply header's (xid, zxid, err).
fn auth_reply(
    c: &mut Client,
    xid: i32,
    scheme: &str,
    auth: Option<&[u8]>,
) -> (i32, i64, ErrorCode) {
    c.send(&ClientRequest {
        header: RequestHeader {
            xid,
            op: OpCode::Auth,
        },
        request: Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: scheme.into(),
            auth: auth.map(<[u8]>::to_vec),
        }),
    });
    let f = c.read_frame().expect("an auth reply");
    let (_, header) = ReplyHeader::decode(&f).expect("a reply header");
    (header.xid, header.zxid, header.err)
}

#[test]
fn garbage_and_bad_frames_close_only_their_connection() {
    let server = Server::start();
    let mut witness = Witness::new(&server);

    // Garbage where a ConnectRequest should be.
    let mut s = raw(&server);
    s.write_all(&frame(b"hello")).unwrap();
    assert!(closed_silently(&mut s));
    witness.check();

    // A length prefix over jute.maxbuffer, before the handshake.
    let mut s = raw(&server);
    s.write_all(&0x7fff_ffffi32.to_be_bytes()).unwrap();
    assert!(closed_silently(&mut s));
    // A negative length.
    let mut s = raw(&server);
    s.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(closed_silently(&mut s));
    witness.check();

    // A request frame before the handshake (too short to be a ConnectRequest).
    let mut s = raw(&server);
    s.write_all(&frame(&[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]))
        .unwrap();
    assert!(closed_silently(&mut s));

    // A truncated frame, then the client goes away.
    let mut s = raw(&server);
    s.write_all(&100i32.to_be_bytes()).unwrap();
    s.write_all(&[1, 2, 3]).unwrap();
    drop(s);
    witness.check();
    assert_eq!(four_letter_word(server.addr(), b"ruok").unwrap(), b"imok");
}

#[test]
fn protocol_errors_get_zookeepers_answers() {
    let server = Server::start();
    let mut witness = Witness::new(&server);

    // Unknown opcode: Unimplemented with zxid -1, then a close.
    let mut c = Client::connect(server.addr());
    c.send_raw(&frame(&[0, 0, 0, 1, 0, 0, 3, 0xe7])).unwrap();
    let f = c.read_frame().unwrap();
    let (_, header) = ReplyHeader::decode(&f).unwrap();
    assert_eq!(
        (header.xid, header.zxid, header.err),
        (1, -1, ErrorCode::Unimplemented)
    );
    assert!(c.closed_by_server());
    witness.check();

    // A second ConnectRequest on an established connection is read as a request whose
    // opcode (0) has no request form: Unimplemented, then a close.
    let mut c = Client::connect(server.addr());
    c.send(&ConnectRequest {
        time_out: 10_000,
        passwd: vec![0; 16],
        read_only: Some(false),
        ..ConnectRequest::default()
    });
    let f = c.read_frame().unwrap();
    let (_, header) = ReplyHeader::decode(&f).unwrap();
    assert_eq!(header.err, ErrorCode::Unimplemented);
    assert!(c.closed_by_server());

    // A negative string length in a getData body: MarshallingError, connection stays.
    let mut c = Client::connect(server.addr());
    let mut body = vec![0, 0, 0, 5, 0, 0, 0, 4];
    body.extend_from_slice(&(-5i32).to_be_bytes());
    body.push(0);
    c.send_raw(&frame(&body)).unwrap();
    let f = c.read_frame().unwrap();
    let (_, header) = ReplyHeader::decode(&f).unwrap();
    assert_eq!((header.xid, header.err), (5, ErrorCode::MarshallingError));
    assert!(
        c.exists("/witness"),
        "the connection stays open after a bad body"
    );

    // An oversize frame after the handshake: closed, but the session lives and resumes.
    let (sid, pw) = (c.session_id, c.passwd.clone());
    c.send_raw(&(2_097_180i32).to_be_bytes()).unwrap();
    assert!(c.closed_by_server());
    let mut again = Client::connect_with(server.addr(), 10_000, sid, pw, 0).expect("resume");
    assert!(again.exists("/witness"));

    // Auth with an unknown scheme: AuthFailed (zxid 0), then a close.
    let mut c = Client::connect(server.addr());
    assert_eq!(
        auth_reply(&mut c, xid::AUTH, "nosuch", Some(b"x")),
        (xid::AUTH, 0, ErrorCode::AuthFailed)
    );
    assert!(c.closed_by_server());

    // Auth's reply echoes the request's xid, whatever it is (ZooKeeper 3.8.0 copies it); an
    // ip auth with null credentials succeeds and the connection stays open.
    let mut c = Client::connect(server.addr());
    assert_eq!(auth_reply(&mut c, 7, "ip", None), (7, 0, ErrorCode::Ok));
    assert!(c.exists("/witness"));

    // Digest with null credentials (length −1) fails as ZooKeeper's provider does: AuthFailed
    // with the request's xid, then a close. Empty credentials are a valid (if odd) identity.
    let mut c = Client::connect(server.addr());
    assert_eq!(
        auth_reply(&mut c, xid::AUTH, "digest", Some(b"")),
        (xid::AUTH, 0, ErrorCode::Ok)
    );
    assert_eq!(
        auth_reply(&mut c, xid::AUTH, "digest", None),
        (xid::AUTH, 0, ErrorCode::AuthFailed)
    );
    assert!(c.closed_by_server());
    witness.check();
}

#[test]
fn a_hundred_thousand_deep_path_is_just_missing() {
    let server = Server::start();
    let mut witness = Witness::new(&server);
    let mut c = Client::connect(server.addr());
    let deep: String = "/a".repeat(100_000);
    assert_eq!(
        c.create(&deep, b"", CreateMode::Persistent).0,
        ErrorCode::NoNode
    );
    assert_eq!(c.get_data(&deep).0, ErrorCode::NoNode);
    assert!(!c.exists(&deep));
    let (h, _) = c.call(Request::Delete(DeleteRequest {
        path: deep.clone(),
        version: -1,
    }));
    assert_eq!(h.err, ErrorCode::NoNode);
    let (h, _) = c.call(Request::SetData(SetDataRequest {
        path: deep,
        data: None,
        version: -1,
    }));
    assert_eq!(h.err, ErrorCode::NoNode);
    witness.check();
}

/// `n` create sub-ops for `/m/0` … `/m/<n-1>`.
fn creates_under_m(n: usize) -> Vec<MultiOp> {
    (0..n)
        .map(|i| {
            MultiOp::Create(CreateRequest {
                path: format!("/m/{i}"),
                data: None,
                acl: vec![Acl::world(Perms::ALL)],
                flags: CreateMode::Persistent,
            })
        })
        .collect()
}

#[test]
fn a_hundred_thousand_op_multi_is_all_or_nothing() {
    // 100k creates do not fit ZooKeeper's 1 MiB frame; raise jute.maxbuffer as an operator would.
    let server = Server::start_with("jute.maxbuffer=8388608");
    let mut witness = Witness::new(&server);
    let mut c = Client::connect(server.addr());
    c.create("/m", b"", CreateMode::Persistent);
    let mut ops = creates_under_m(100_000);
    ops.push(MultiOp::Check(CheckVersionRequest {
        path: "/m".into(),
        version: 42,
    }));
    let (h, r) = c.call(Request::Multi(MultiRequest { ops }));
    assert_eq!(h.err, ErrorCode::Ok);
    let Response::Multi(m) = r else {
        panic!("{r:?}")
    };
    assert_eq!(m.results.len(), 100_001);
    assert_eq!(m.results[0], MultiResult::Error(ErrorCode::Ok));
    assert_eq!(
        m.results[100_000],
        MultiResult::Error(ErrorCode::BadVersion)
    );
    assert!(
        c.children("/m").is_empty(),
        "a failed multi left nodes behind"
    );

    // Without the failing check, all 100k are created in one transaction.
    let ops = creates_under_m(100_000);
    let (h, _) = c.call(Request::Multi(MultiRequest { ops }));
    assert_eq!(h.err, ErrorCode::Ok);
    let (h, r) = c.call(Request::GetAllChildrenNumber(GetAllChildrenNumberRequest {
        path: "/m".into(),
    }));
    assert_eq!(h.err, ErrorCode::Ok);
    assert_eq!(
        r,
        Response::GetAllChildrenNumber(GetAllChildrenNumberResponse {
            total_number: 100_000
        })
    );
    witness.check();
}

#[test]
fn thousands_of_connections_open_and_drop() {
    let server = Server::start_with("maxClientCnxns=0");
    let mut witness = Witness::new(&server);
    for round in 0..10 {
        let mut held = Vec::new();
        for i in 0..200 {
            let mut s = raw(&server);
            match i % 4 {
                // half a handshake
                0 => s.write_all(&45i32.to_be_bytes()).unwrap(),
                // a full handshake
                1 => {
                    let mut out = BytesMut::new();
                    encode_frame(
                        &ConnectRequest {
                            time_out: 4000,
                            passwd: vec![0; 16],
                            read_only: Some(false),
                            ..ConnectRequest::default()
                        },
                        &mut out,
                        usize::MAX,
                    )
                    .unwrap();
                    s.write_all(&out).unwrap();
                }
                // garbage
                2 => s.write_all(b"\xff\xfe\x00garbage").unwrap(),
                // nothing at all
                _ => {}
            }
            held.push(s);
        }
        drop(held);
        if round % 3 == 0 {
            witness.check();
        }
    }
    witness.check();
    // Every dropped connection is eventually forgotten.
    let alive = || {
        let mntr = String::from_utf8(four_letter_word(server.addr(), b"mntr").unwrap()).unwrap();
        mntr.lines()
            .find_map(|l| l.strip_prefix("zk_num_alive_connections\t"))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(u32::MAX)
    };
    assert!(
        wait_until(Duration::from_secs(30), || alive() <= 2),
        "connections leaked: {}",
        alive()
    );
}

#[test]
fn max_client_cnxns_limits_connections_per_address() {
    let server = Server::start_with("maxClientCnxns=5");
    let clients: Vec<Client> = (0..5).map(|_| Client::connect(server.addr())).collect();
    let mut sixth = raw(&server);
    assert!(
        closed_silently(&mut sixth),
        "the sixth connection from one address is refused"
    );
    drop(clients);
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(server.addr())
            .map(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                s.write_all(b"ruok").unwrap();
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out);
                out == b"imok"
            })
            .unwrap_or(false)
    }));
}

/// Null strings and lists (length −1) where requests carry paths, ACL ids and credentials:
/// each gets the answer ZooKeeper 3.8.0 gave to the same bytes (captured live; the
/// differential test in compat-tests/differential keeps checking them side by side).
#[test]
fn null_strings_get_zookeepers_answers() {
    fn s(v: Option<&str>) -> Vec<u8> {
        match v {
            None => (-1i32).to_be_bytes().to_vec(),
            Some(t) => [
                (t.len() as i32).to_be_bytes().to_vec(),
                t.as_bytes().to_vec(),
            ]
            .concat(),
        }
    }
    fn i(v: i32) -> Vec<u8> {
        v.to_be_bytes().to_vec()
    }
    let world = [i(1), i(31), s(Some("world")), s(Some("anyone"))].concat();
    let null = s(None);
    let mh = |t: i32| [i(t), vec![0], i(-1)].concat();
    let end = [i(-1), vec![1], i(-1)].concat();
    // (name, opcode, body, error code, reply body, connection stays open)
    type Case<'a> = (&'a str, i32, Vec<u8>, i32, Vec<u8>, bool);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("create", 1, [null.clone(), s(Some("x")), world.clone(), i(0)].concat(), -5, vec![], true),
        ("create2", 15, [null.clone(), s(Some("x")), world.clone(), i(0)].concat(), -5, vec![], true),
        ("delete", 2, [null.clone(), i(-1)].concat(), -5, vec![], true),
        ("exists", 3, [null.clone(), vec![0]].concat(), -5, vec![], true),
        ("getData", 4, [null.clone(), vec![0]].concat(), -5, vec![], true),
        ("setData", 5, [null.clone(), s(Some("x")), i(-1)].concat(), -8, vec![], true),
        ("getACL", 6, null.clone(), -5, vec![], true),
        ("setACL", 7, [null.clone(), world.clone(), i(-1)].concat(), -8, vec![], true),
        ("getChildren", 8, [null.clone(), vec![0]].concat(), -5, vec![], true),
        ("sync echoes null", 9, null.clone(), 0, null.clone(), true),
        ("getChildren2", 12, [null.clone(), vec![0]].concat(), -5, vec![], true),
        ("checkWatches", 17, [null.clone(), i(1)].concat(), -5, vec![], true),
        ("removeWatches", 18, [null.clone(), i(1)].concat(), -121, vec![], true),
        ("getEphemerals: all", 103, null.clone(), 0, i(0), true),
        ("getAllChildrenNumber", 104, null.clone(), -5, vec![], true),
        ("addWatch", 106, [null.clone(), i(0)].concat(), 0, i(0), true),
        ("null ACL list", 1, [s(Some("/n1")), s(Some("x")), null.clone(), i(0)].concat(), -114, vec![], true),
        ("ACL null scheme", 1, [s(Some("/n2")), s(Some("x")), i(1), i(31), null.clone(), s(Some("anyone")), i(0)].concat(), -114, vec![], true),
        ("ACL world null id", 1, [s(Some("/n3")), s(Some("x")), i(1), i(31), s(Some("world")), null.clone(), i(0)].concat(), -5, vec![], true),
        ("ACL digest null id", 1, [s(Some("/n4")), s(Some("x")), i(1), i(31), s(Some("digest")), null.clone(), i(0)].concat(), -5, vec![], true),
        ("ACL unknown scheme null id", 1, [s(Some("/n5")), s(Some("x")), i(1), i(31), s(Some("foo")), null.clone(), i(0)].concat(), -114, vec![], true),
        ("null data is fine", 1, [s(Some("/n6")), null.clone(), world.clone(), i(0)].concat(), 0, s(Some("/n6")), true),
        ("setWatches null list", 101, [vec![0; 8], null.clone(), i(0), i(0)].concat(), -5, vec![], true),
        ("setWatches null path", 101, [vec![0; 8], i(1), null.clone(), i(0), i(0)].concat(), -5, vec![], true),
        ("multi: null path", 14, [mh(1), null.clone(), s(Some("x")), world.clone(), i(0), end.clone()].concat(), -5, end.clone(), true),
        ("multiRead: null path", 22, [mh(4), null.clone(), vec![0], end.clone()].concat(), -5, end.clone(), true),
        ("sasl null token: closed", 102, null.clone(), 0, vec![], false),
        ("auth cut short: closed", 100, [i(0), s(Some("digest"))].concat(), 0, vec![], false),
    ];
    let server = Server::start();
    let mut witness = Witness::new(&server);
    for (name, op, body, err, reply, open) in cases {
        let mut c = Client::connect(server.addr());
        let xid = if op == 100 { xid::AUTH } else { 1 };
        c.send_raw(&frame(&[i(xid), i(op), body].concat())).unwrap();
        if !open {
            assert!(
                c.closed_by_server(),
                "{name}: the connection should close unanswered"
            );
            continue;
        }
        let f = c.read_frame().unwrap_or_else(|| panic!("{name}: closed"));
        let (rest, header) = ReplyHeader::decode(&f).unwrap();
        assert_eq!((header.xid, header.err.as_i32()), (1, err), "{name}");
        assert_eq!(rest, &reply[..], "{name}: reply body");
        assert!(c.exists("/"), "{name}: the connection stays open");
    }
    witness.check();
}
