//! Decode and encode cost of the frames a server handles most: getData, setData and create
//! requests and their replies, and a 100-op multi. Throughput is in frame bytes.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use jute_codec::*;
use std::hint::black_box;

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0001,
        mzxid: 0x1_0000_0002,
        ctime: 1_795_373_730_555,
        mtime: 1_795_373_730_613,
        version: 1,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 128,
        num_children: 0,
        pzxid: 0x1_0000_0001,
    }
}

fn open_acl() -> Vec<Acl> {
    vec![Acl::world(Perms::ALL)]
}

fn requests() -> Vec<(&'static str, ClientRequest)> {
    let create = CreateRequest {
        path: "/app/locks/lock-".into(),
        data: Some(vec![7; 128]),
        acl: open_acl(),
        flags: CreateMode::EphemeralSequential,
    };
    let multi = MultiRequest {
        ops: (0..100)
            .map(|i| match i % 3 {
                0 => MultiOp::Create(CreateRequest {
                    path: format!("/app/tx/node-{i}"),
                    data: Some(vec![1; 32]),
                    acl: open_acl(),
                    flags: CreateMode::Persistent,
                }),
                1 => MultiOp::SetData(SetDataRequest {
                    path: format!("/app/tx/node-{}", i - 1),
                    data: Some(vec![2; 32]),
                    version: -1,
                }),
                _ => MultiOp::Check(CheckVersionRequest {
                    path: "/app/tx".into(),
                    version: 3,
                }),
            })
            .collect(),
    };
    vec![
        (
            "getData",
            ClientRequest {
                header: RequestHeader {
                    xid: 7,
                    op: OpCode::GetData,
                },
                request: Request::GetData(GetDataRequest {
                    path: "/app/config/service".into(),
                    watch: true,
                }),
            },
        ),
        (
            "setData",
            ClientRequest {
                header: RequestHeader {
                    xid: 8,
                    op: OpCode::SetData,
                },
                request: Request::SetData(SetDataRequest {
                    path: "/app/config/service".into(),
                    data: Some(vec![9; 128]),
                    version: -1,
                }),
            },
        ),
        (
            "create",
            ClientRequest {
                header: RequestHeader {
                    xid: 9,
                    op: OpCode::Create,
                },
                request: Request::Create(create),
            },
        ),
        (
            "multi100",
            ClientRequest {
                header: RequestHeader {
                    xid: 10,
                    op: OpCode::Multi,
                },
                request: Request::Multi(multi),
            },
        ),
    ]
}

fn replies() -> Vec<(&'static str, OpCode, Reply)> {
    let header = |xid| ReplyHeader {
        xid,
        zxid: 0x1_0000_0002,
        err: ErrorCode::Ok,
    };
    let results = (0..100)
        .map(|i| match i % 3 {
            0 => MultiResult::Create(CreateResponse {
                path: format!("/app/tx/node-{i}"),
            }),
            1 => MultiResult::SetData(stat()),
            _ => MultiResult::Check,
        })
        .collect();
    vec![
        (
            "getData",
            OpCode::GetData,
            Reply {
                header: header(7),
                response: Response::GetData(GetDataResponse {
                    data: Some(vec![9; 128]),
                    stat: stat(),
                }),
            },
        ),
        (
            "setData",
            OpCode::SetData,
            Reply {
                header: header(8),
                response: Response::SetData(StatResponse { stat: stat() }),
            },
        ),
        (
            "create",
            OpCode::Create,
            Reply {
                header: header(9),
                response: Response::Create(CreateResponse {
                    path: "/app/locks/lock-0000000042".into(),
                }),
            },
        ),
        (
            "multi100",
            OpCode::Multi,
            Reply {
                header: header(10),
                response: Response::Multi(MultiResponse { results }),
            },
        ),
    ]
}

fn frame_of(item: &impl EncodeFrame) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(item, &mut buf, usize::MAX).unwrap();
    buf
}

fn bench_requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    for (name, request) in requests() {
        let frame = frame_of(&request);
        let body = frame[4..].to_vec();
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_with_input(BenchmarkId::new("decode", name), &body, |b, body| {
            b.iter(|| decode_request(black_box(body)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("encode", name), &request, |b, request| {
            let mut buf = BytesMut::with_capacity(frame.len());
            b.iter(|| {
                buf.clear();
                encode_frame(black_box(request), &mut buf, usize::MAX).unwrap();
            })
        });
    }
    group.finish();
}

fn bench_replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply");
    for (name, op, reply) in replies() {
        let frame = frame_of(&reply);
        let body = frame[4..].to_vec();
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_with_input(BenchmarkId::new("decode", name), &body, |b, body| {
            b.iter(|| decode_reply(black_box(body), |_| op).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("encode", name), &reply, |b, reply| {
            let mut buf = BytesMut::with_capacity(frame.len());
            b.iter(|| {
                buf.clear();
                encode_frame(black_box(reply), &mut buf, usize::MAX).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_requests, bench_replies);
criterion_main!(benches);
