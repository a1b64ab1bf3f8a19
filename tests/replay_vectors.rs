//! Replays the whole capture of a real ZooKeeper 3.8.0 session (`raw-capture.jsonl`: every
//! frame kazoo, the Java client and raw sockets sent, with connection opens, closes and
//! proxy drops) against a fresh raftzk, and checks that every reply raftzk sends is the one
//! ZooKeeper sent, field by field.
//!
//! What may differ, as the vectors README says: session ids and passwords (raftzk's own are
//! substituted into later requests), times, and zxid *values* (raftzk numbers them
//! `(log index << 16) | position`). zxids are compared through a map from ZooKeeper's value
//! to raftzk's, built as they are first seen, so every later mention of the same zxid (Stat
//! fields, read replies, setWatches) must match. Child lists are compared as sets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use common::{vectors_file, Server};
use jute_codec::*;
use serde_json::Value;
use tokio_util::codec::Decoder;

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    /// Opcodes of requests in flight, by xid (xids may repeat: oldest first).
    ops: Vec<(i32, OpCode)>,
    handshaken: bool,
    fourlw: bool,
}

#[derive(Default)]
struct Maps {
    /// ZooKeeper zxid → raftzk zxid.
    zxid: HashMap<i64, i64>,
    /// ZooKeeper session id → raftzk session id and password.
    session: HashMap<i64, (i64, Vec<u8>)>,
    checked: usize,
}

impl Maps {
    /// Checks a zxid against the map, adding it when new.
    fn zxid(&mut self, what: &str, theirs: i64, ours: i64) {
        if theirs <= 0 {
            assert_eq!(theirs, ours, "{what}: special zxid");
            return;
        }
        match self.zxid.get(&theirs) {
            Some(expected) => assert_eq!(*expected, ours, "{what}: zxid 0x{theirs:x}"),
            None => {
                self.zxid.insert(theirs, ours);
            }
        }
        self.checked += 1;
    }

    /// Translates a zxid ZooKeeper's client sent (lastZxidSeen, relativeZxid).
    fn translate_zxid(&self, theirs: i64) -> i64 {
        self.zxid
            .iter()
            .filter(|(t, _)| **t <= theirs)
            .max_by_key(|(t, _)| **t)
            .map_or(theirs.min(0), |(_, o)| *o)
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn read_frame(conn: &mut Conn, codec: &mut FrameCodec) -> Option<BytesMut> {
    loop {
        if let Some(frame) = codec.decode(&mut conn.buf).expect("frame") {
            return Some(frame);
        }
        let mut chunk = [0u8; 65536];
        match conn.stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => conn.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Compares two Stats: zxids through the map, times not at all, owners through the session
/// map.
fn compare_stat(maps: &mut Maps, what: &str, theirs: &Stat, ours: &Stat) {
    maps.zxid(&format!("{what} czxid"), theirs.czxid, ours.czxid);
    maps.zxid(&format!("{what} mzxid"), theirs.mzxid, ours.mzxid);
    maps.zxid(&format!("{what} pzxid"), theirs.pzxid, ours.pzxid);
    let owner = maps
        .session
        .get(&theirs.ephemeral_owner)
        .map_or(theirs.ephemeral_owner, |(id, _)| *id);
    assert_eq!(owner, ours.ephemeral_owner, "{what}: ephemeralOwner");
    let strip = |s: &Stat| Stat {
        czxid: 0,
        mzxid: 0,
        pzxid: 0,
        ctime: 0,
        mtime: 0,
        ephemeral_owner: 0,
        ..*s
    };
    assert_eq!(strip(theirs), strip(ours), "{what}: stat");
}

/// Replaces every Stat by a default after comparing it, and sorts child lists.
fn normalize(maps: &mut Maps, what: &str, theirs: &mut Response, ours: &mut Response) {
    fn stats(r: &mut Response) -> Vec<&mut Stat> {
        match r {
            Response::Create2(x) => vec![&mut x.stat],
            Response::Exists(x) | Response::SetData(x) | Response::SetAcl(x) => vec![&mut x.stat],
            Response::GetData(x) | Response::Reconfig(x) => vec![&mut x.stat],
            Response::GetAcl(x) => vec![&mut x.stat],
            Response::GetChildren2(x) => {
                x.children.sort();
                vec![&mut x.stat]
            }
            Response::GetChildren(x) => {
                x.children.sort();
                vec![]
            }
            Response::Multi(m) => m
                .results
                .iter_mut()
                .flat_map(|res| match res {
                    MultiResult::Create2(c) => vec![&mut c.stat],
                    MultiResult::SetData(s) => vec![s],
                    MultiResult::GetData(d) => vec![&mut d.stat],
                    MultiResult::GetChildren(c) => {
                        c.children.sort();
                        vec![]
                    }
                    _ => vec![],
                })
                .collect(),
            _ => vec![],
        }
    }
    let mut a = stats(theirs);
    let mut b = stats(ours);
    assert_eq!(a.len(), b.len(), "{what}: reply shape");
    for (t, o) in a.iter_mut().zip(b.iter_mut()) {
        compare_stat(maps, what, t, o);
        **t = Stat::default();
        **o = Stat::default();
    }
}

/// The capture's lines, except that a client frame the proxy logged after the server's close of
/// the same connection (the 2 MiB frame, finished reading after the close) goes before it.
fn in_causal_order(text: &str) -> Vec<Value> {
    let mut entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut i = 0;
    while i + 1 < entries.len() {
        let closes = entries[i]["event"] == "close" && entries[i]["by"] == "server";
        let late = entries[i + 1]["dir"] == "c2s" && entries[i + 1]["conn"] == entries[i]["conn"];
        if closes && late {
            entries.swap(i, i + 1);
        }
        i += 1;
    }
    entries
}

#[test]
fn replay_the_zookeeper_capture() {
    let server = Server::start();
    let text = std::fs::read_to_string(vectors_file("raw-capture.jsonl")).expect("capture");
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut maps = Maps::default();
    let mut codec = FrameCodec::new(64 << 20);
    let mut frames = 0;
    for entry in in_causal_order(&text) {
        let seq = entry["seq"].as_u64().unwrap();
        let what = format!("seq {seq}");
        if let Some(event) = entry["event"].as_str() {
            match event {
                "open" => {
                    let id = entry["conn"].as_u64().unwrap();
                    let stream = TcpStream::connect(server.addr()).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(20)))
                        .unwrap();
                    conns.insert(
                        id,
                        Conn {
                            stream,
                            buf: BytesMut::new(),
                            ops: Vec::new(),
                            handshaken: false,
                            fourlw: false,
                        },
                    );
                }
                "close" => {
                    let id = entry["conn"].as_u64().unwrap();
                    match entry["by"].as_str() {
                        Some("server") => {
                            // raftzk must close too, with nothing more to say.
                            if let Some(mut conn) = conns.remove(&id) {
                                if !conn.fourlw {
                                    assert!(
                                        read_frame(&mut conn, &mut codec).is_none(),
                                        "{what}: conn {id} not closed by raftzk"
                                    );
                                }
                            }
                        }
                        _ => {
                            conns.remove(&id);
                        }
                    }
                }
                "drop" => {
                    for id in entry["conns"].as_array().unwrap() {
                        conns.remove(&id.as_u64().unwrap());
                    }
                }
                other => panic!("{what}: unknown event {other}"),
            }
            continue;
        }
        let Some(dir) = entry["dir"].as_str() else {
            continue; // a mark
        };
        frames += 1;
        let id = entry["conn"].as_u64().unwrap();
        let conn = conns
            .get_mut(&id)
            .unwrap_or_else(|| panic!("{what}: frame on closed conn {id}"));
        let bytes = hex(entry["hex"].as_str().unwrap());
        match (dir, entry["kind"].as_str(), entry["fourlw"].as_bool()) {
            ("c2s", _, Some(true)) => {
                conn.fourlw = true;
                conn.stream.write_all(&bytes).unwrap();
            }
            ("s2c", _, Some(true)) => {
                let mut out = Vec::new();
                conn.stream.read_to_end(&mut out).unwrap();
                assert_eq!(out, bytes, "{what}: four-letter word reply");
            }
            ("c2s", Some("connect_request"), _) => {
                let mut req = ConnectRequest::from_bytes(&bytes[4..]).unwrap();
                // A resumed session gets raftzk's id and password; an unknown one stays unknown.
                if let Some((ours, passwd)) = maps.session.get(&req.session_id).cloned() {
                    req.session_id = ours;
                    req.passwd = passwd;
                }
                req.last_zxid_seen = if req.last_zxid_seen >= 0x7fff_0000_0000_0000 {
                    req.last_zxid_seen
                } else {
                    maps.translate_zxid(req.last_zxid_seen)
                };
                let mut out = BytesMut::new();
                encode_frame(&req, &mut out, usize::MAX).unwrap();
                conn.stream.write_all(&out).unwrap();
            }
            ("s2c", Some("connect_response"), _) => {
                let theirs = ConnectResponse::from_bytes(&bytes[4..]).unwrap();
                let frame = read_frame(conn, &mut codec)
                    .unwrap_or_else(|| panic!("{what}: no ConnectResponse"));
                let ours = ConnectResponse::from_bytes(&frame).unwrap();
                assert_eq!(theirs.time_out, ours.time_out, "{what}: negotiated timeout");
                assert_eq!(theirs.read_only, ours.read_only, "{what}: readOnly byte");
                assert_eq!(
                    theirs.passwd.len(),
                    ours.passwd.len(),
                    "{what}: passwd length"
                );
                assert_eq!(
                    theirs.session_id == 0,
                    ours.session_id == 0,
                    "{what}: session validity"
                );
                if theirs.session_id != 0 {
                    maps.session
                        .insert(theirs.session_id, (ours.session_id, ours.passwd.clone()));
                }
                conn.handshaken = true;
            }
            ("c2s", _, _) => {
                if entry["truncated"].as_bool() == Some(true) {
                    // The 2 MiB frame: its length prefix alone makes both servers close.
                    let _ = conn.stream.write_all(&bytes);
                    continue;
                }
                let body = &bytes[4..];
                let out = match decode_request(body) {
                    Ok((header, mut request)) => {
                        conn.ops.push((header.xid, header.op));
                        match &mut request {
                            Request::SetWatches(w) => {
                                w.relative_zxid = maps.translate_zxid(w.relative_zxid)
                            }
                            Request::SetWatches2(w) => {
                                w.relative_zxid = maps.translate_zxid(w.relative_zxid)
                            }
                            _ => {}
                        }
                        let mut out = BytesMut::new();
                        encode_frame(&ClientRequest { header, request }, &mut out, usize::MAX)
                            .unwrap();
                        out.to_vec()
                    }
                    // Frames raftzk cannot decode either (bad bodies) go as they are.
                    Err(RequestError::Body { header, .. }) => {
                        conn.ops.push((header.xid, header.op));
                        bytes.clone()
                    }
                    Err(RequestError::Header(_)) => bytes.clone(),
                };
                conn.stream.write_all(&out).unwrap();
            }
            ("s2c", _, _) => {
                let frame = read_frame(conn, &mut codec).unwrap_or_else(|| {
                    panic!(
                        "{what}: raftzk closed instead of replying\n{}",
                        server.log()
                    )
                });
                let (_, their_header) = ReplyHeader::decode(&bytes[4..]).unwrap();
                let op = if their_header.xid == xid::NOTIFICATION {
                    OpCode::Notification
                } else {
                    let pos = conn
                        .ops
                        .iter()
                        .position(|(x, _)| *x == their_header.xid)
                        .unwrap_or_else(|| {
                            panic!("{what}: reply to unknown xid {}", their_header.xid)
                        });
                    conn.ops.remove(pos).1
                };
                let (th, mut tr) = decode_reply(&bytes[4..], |_| op).unwrap();
                let (oh, mut or) = decode_reply(&frame, |_| op).unwrap();
                assert_eq!(
                    (th.xid, th.err),
                    (oh.xid, oh.err),
                    "{what}: reply header ({op})\n theirs {tr:?}\n ours   {or:?}"
                );
                maps.zxid(&format!("{what} reply zxid"), th.zxid, oh.zxid);
                normalize(&mut maps, &what, &mut tr, &mut or);
                assert_eq!(tr, or, "{what}: reply body ({op})");
            }
            other => panic!("{what}: unexpected frame {other:?}"),
        }
    }
    println!(
        "replayed {frames} captured frames against raftzk; {} zxid references matched",
        maps.checked
    );
    assert!(frames >= 290, "the capture has 291 frames");
}
