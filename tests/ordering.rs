//! A session's pipelined requests (ZooKeeper's order guarantees, `protocol.md` §4.2): replies
//! come in request order, a read sees the session's writes sent before it and none sent
//! after it, a watch event comes before the reply of the write that fired it, and a read
//! waiting for the write before it does not hold up the writes behind it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;

use bytes::BytesMut;
use common::{Client, Server};
use jute_codec::*;

const ROUNDS: i32 = 300;

#[test]
fn pipelined_reads_see_exactly_the_writes_sent_before_them() {
    let server = Server::start();
    let mut client = Client::connect(server.addr());
    assert_eq!(
        client.create("/p", b"0", CreateMode::Persistent).0,
        ErrorCode::Ok
    );

    // Every request in one buffer, sent before any reply is read: setData(i), then getData
    // (with a watch every tenth round, which the next setData fires), then exists.
    let mut ops = HashMap::new();
    let mut out = BytesMut::new();
    let mut xid = 100;
    let mut push = |request: Request, out: &mut BytesMut| {
        xid += 1;
        ops.insert(xid, request.op_code());
        let frame = ClientRequest {
            header: RequestHeader {
                xid,
                op: request.op_code(),
            },
            request,
        };
        encode_frame(&frame, out, usize::MAX).unwrap();
    };
    for i in 1..=ROUNDS {
        push(
            Request::SetData(SetDataRequest {
                path: "/p".into(),
                data: Some(i.to_string().into_bytes()),
                version: -1,
            }),
            &mut out,
        );
        push(
            Request::GetData(GetDataRequest {
                path: "/p".into(),
                watch: i % 10 == 0,
            }),
            &mut out,
        );
        push(
            Request::Exists(ExistsRequest {
                path: "/p".into(),
                watch: false,
            }),
            &mut out,
        );
    }
    client.send_raw(&out).unwrap();

    let mut expected_xid = 100;
    let mut last_write_zxid = 0;
    let mut watch_pending = false;
    let mut joined = 0; // writes that shared an entry with the write before them
    let mut replies = 0;
    while replies < 3 * ROUNDS {
        let frame = client
            .read_frame()
            .expect("the server closed the connection");
        let (header, response) = decode_reply(&frame, |x| ops[&x]).unwrap();
        if let Response::Notification(event) = response {
            assert!(watch_pending, "an event nobody asked for: {event:?}");
            assert_eq!(event.event_type, EventType::NodeDataChanged);
            watch_pending = false;
            continue;
        }
        expected_xid += 1;
        replies += 1;
        assert_eq!(header.xid, expected_xid, "reply out of order");
        assert_eq!(header.err, ErrorCode::Ok, "xid {}", header.xid);
        let round = (expected_xid - 101) / 3 + 1;
        match response {
            Response::SetData(r) => {
                assert!(
                    !watch_pending,
                    "setData {round} answered before the event it fired"
                );
                assert_eq!(r.stat.version, round);
                assert!(header.zxid > last_write_zxid, "zxids increase");
                if header.zxid >> 16 == last_write_zxid >> 16 {
                    joined += 1;
                }
                last_write_zxid = header.zxid;
            }
            Response::GetData(r) => {
                // The write before it, not the one after it (often in the same entry).
                assert_eq!(r.data, Some(round.to_string().into_bytes()));
                assert_eq!(r.stat.version, round);
                assert_eq!(header.zxid, last_write_zxid, "read at its write's zxid");
                watch_pending = round % 10 == 0 && round < ROUNDS;
            }
            Response::Exists(r) => assert_eq!(r.stat.version, round),
            other => panic!("unexpected reply {other:?}"),
        }
    }
    // With a read between every two writes, writes still joined the entries of the ones
    // before them: the pipeline kept reading while reads waited.
    assert!(
        joined > 0,
        "every write had an entry of its own: reads held up the writes behind them"
    );
    println!("{joined} of {ROUNDS} writes joined the entry of the write before them");

    // Nothing queued is left behind: a plain call still works.
    let (_, node) = client.get_data("/p");
    assert_eq!(node.unwrap().0, Some(ROUNDS.to_string().into_bytes()));
}
