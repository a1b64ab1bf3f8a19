//! The durable encoding (format 2, `crate::durable`) of a [`LogEntry`]: what the Raft log
//! stores for every normal entry.
//!
//! `LogEntry` = `long time_ms` · `int count` · Txns · the leader's digest (`boolean` present,
//! then `long zxid` · `int version` · `long digest`). `Txn` = `long session_id` · origin
//! (`boolean` present, then `long member` · `long connection` · `int xid`) · `vector<Id>` auth ·
//! `int` op tag · the op's fields. A client write is its ZooKeeper opcode and request body in
//! Jute, exactly as a client sent it, so what it means is ZooKeeper's protocol, not a Rust enum.
//! A client write from a member with the x509 or sasl auth provider, or with `enforceQuota`,
//! is tagged `CLIENT_WITH_PROVIDERS` and carries `int` rule bits (`ApplyRules::bits`) before
//! those fields: whether an ACL of those schemes is valid, and whether a quota's hard limit
//! refuses the write, is decided from the entry, alike on every member.

use bytes::BytesMut;
use jute_codec::{ErrorCode, Id, OpCode, Request};

use super::{ApplyRules, LogEntry, Origin, Txn, TxnOp, ZxidDigest};
use crate::durable::{put, put_count, put_u64, take_u64, FormatError, Reader};

/// The op tags. Fixed forever: a new kind of op takes a new number.
mod tag {
    pub const CREATE_SESSION: i32 = 1;
    pub const CLOSE_SESSION: i32 = 2;
    pub const CLIENT: i32 = 3;
    pub const FAIL: i32 = 4;
    pub const REAP: i32 = 5;
    /// A client write from a member with more auth providers than digest and ip, or with
    /// enforced quotas: `ApplyRules::bits`, then the same fields as CLIENT.
    pub const CLIENT_WITH_PROVIDERS: i32 = 6;
}

/// The fewest bytes a Txn takes (session, origin flag, empty auth, tag).
const MIN_TXN_LEN: usize = 8 + 1 + 4 + 4;

impl LogEntry {
    /// Appends the entry's durable encoding.
    pub fn encode_durable(&self, buf: &mut BytesMut) {
        put(buf, &self.time_ms);
        put_count(buf, self.txns.len());
        for txn in &self.txns {
            txn.encode_durable(buf);
        }
        put(buf, &self.digest.is_some());
        if let Some(digest) = &self.digest {
            put(buf, &digest.zxid);
            put(buf, &digest.version);
            put_u64(buf, digest.digest);
        }
    }

    /// Reads an entry written by [`LogEntry::encode_durable`].
    pub fn decode_durable(reader: &mut Reader<'_>) -> Result<LogEntry, FormatError> {
        let time_ms = reader.take("entry time")?;
        let count = reader.count("txn count", MIN_TXN_LEN)?;
        let txns = (0..count)
            .map(|_| Txn::decode_durable(reader))
            .collect::<Result<_, _>>()?;
        let digest = if reader.take::<bool>("digest flag")? {
            Some(ZxidDigest {
                zxid: reader.take("digest zxid")?,
                version: reader.take("digest version")?,
                digest: take_u64(reader, "digest")?,
            })
        } else {
            None
        };
        Ok(LogEntry {
            time_ms,
            txns,
            digest,
        })
    }
}

impl Txn {
    fn encode_durable(&self, buf: &mut BytesMut) {
        put(buf, &self.session_id);
        put(buf, &self.origin.is_some());
        if let Some(origin) = &self.origin {
            put_u64(buf, origin.member);
            put_u64(buf, origin.connection);
            put(buf, &origin.xid);
        }
        put(buf, &self.auth);
        match &self.op {
            TxnOp::CreateSession {
                timeout_ms,
                password,
            } => {
                put(buf, &tag::CREATE_SESSION);
                put(buf, timeout_ms);
                put(buf, password);
            }
            TxnOp::CloseSession => put(buf, &tag::CLOSE_SESSION),
            TxnOp::Client(request) => {
                if self.rules == ApplyRules::default() {
                    put(buf, &tag::CLIENT);
                } else {
                    put(buf, &tag::CLIENT_WITH_PROVIDERS);
                    put(buf, &self.rules.bits());
                }
                put(buf, &request.op_code().as_i32());
                let mut body = BytesMut::new();
                request.encode(&mut body);
                put(buf, &body.to_vec());
            }
            TxnOp::Fail(code) => {
                put(buf, &tag::FAIL);
                put(buf, &code.as_i32());
            }
            TxnOp::Reap { path } => {
                put(buf, &tag::REAP);
                put(buf, path);
            }
        }
    }

    fn decode_durable(reader: &mut Reader<'_>) -> Result<Txn, FormatError> {
        let session_id = reader.take("txn session")?;
        let origin = if reader.take::<bool>("txn origin flag")? {
            Some(Origin {
                member: take_u64(reader, "origin member")?,
                connection: take_u64(reader, "origin connection")?,
                xid: reader.take("origin xid")?,
            })
        } else {
            None
        };
        let auth: Vec<Id> = reader.take("txn auth")?;
        let mut rules = ApplyRules::default();
        let mut tag = reader.take::<i32>("txn op tag")?;
        if tag == tag::CLIENT_WITH_PROVIDERS {
            rules = ApplyRules::from_bits(reader.take("txn rules")?);
            tag = tag::CLIENT;
        }
        let op = match tag {
            tag::CREATE_SESSION => TxnOp::CreateSession {
                timeout_ms: reader.take("session timeout")?,
                password: reader.take("session password")?,
            },
            tag::CLOSE_SESSION => TxnOp::CloseSession,
            tag::CLIENT => {
                let op = OpCode::from_i32(reader.take("client opcode")?);
                let body: Vec<u8> = reader.take("client request body")?;
                TxnOp::Client(Request::decode_body(op, &body).map_err(|source| {
                    FormatError::Field {
                        what: "client request",
                        source,
                    }
                })?)
            }
            tag::FAIL => TxnOp::Fail(ErrorCode::from_i32(reader.take("fail code")?)),
            tag::REAP => TxnOp::Reap {
                path: reader.take("reap path")?,
            },
            other => {
                return Err(FormatError::UnknownTag {
                    what: "txn op",
                    tag: other,
                })
            }
        };
        Ok(Txn {
            session_id,
            origin,
            auth,
            rules,
            op,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::acl::Providers;
    use jute_codec::{
        Acl, CreateMode, CreateRequest, CreateTtlRequest, DeleteRequest, MultiOp, MultiRequest,
        Perms, ReconfigRequest, SetAclRequest, SetDataRequest,
    };

    fn entry_of(ops: Vec<TxnOp>) -> LogEntry {
        LogEntry {
            time_ms: 1_700_000_000_123,
            txns: ops
                .into_iter()
                .enumerate()
                .map(|(i, op)| Txn {
                    session_id: 0x100 + i as i64,
                    origin: (i % 2 == 0).then_some(Origin {
                        member: 3,
                        connection: u64::MAX - i as u64,
                        xid: i as i32,
                    }),
                    auth: vec![Id {
                        scheme: "digest".into(),
                        id: Some("u:h".into()),
                    }],
                    // Only client writes carry the rules.
                    rules: ApplyRules {
                        providers: Providers {
                            x509: i % 3 == 1 && matches!(op, TxnOp::Client(_)),
                            sasl: false,
                        },
                        enforce_quota: i % 4 == 1 && matches!(op, TxnOp::Client(_)),
                    },
                    op,
                })
                .collect(),
            digest: Some(ZxidDigest {
                zxid: 0x5_0002,
                version: 1,
                digest: u64::MAX - 3,
            }),
        }
    }

    fn every_kind_of_op() -> Vec<TxnOp> {
        let acl = vec![Acl::world(Perms::ALL)];
        let create = CreateRequest {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: acl.clone(),
            flags: CreateMode::PersistentSequential,
        };
        vec![
            TxnOp::CreateSession {
                timeout_ms: 30_000,
                password: vec![7; 16],
            },
            TxnOp::CloseSession,
            TxnOp::Client(Request::Create(create.clone())),
            TxnOp::Client(Request::Create2(CreateRequest {
                data: None,
                ..create.clone()
            })),
            TxnOp::Client(Request::CreateContainer(create.clone())),
            TxnOp::Client(Request::CreateTtl(CreateTtlRequest {
                path: "/t".into(),
                data: Some(Vec::new()),
                acl: acl.clone(),
                flags: CreateMode::PersistentWithTtl,
                ttl: 5000,
            })),
            TxnOp::Client(Request::Delete(DeleteRequest {
                path: "/a".into(),
                version: -1,
            })),
            TxnOp::Client(Request::SetData(SetDataRequest {
                path: "/a".into(),
                data: Some(vec![0; 300]),
                version: 4,
            })),
            TxnOp::Client(Request::SetAcl(SetAclRequest {
                path: "/a".into(),
                acl,
                version: 1,
            })),
            TxnOp::Client(Request::Multi(MultiRequest {
                ops: vec![
                    MultiOp::Create(create),
                    MultiOp::Delete(DeleteRequest {
                        path: "/b".into(),
                        version: 2,
                    }),
                ],
            })),
            TxnOp::Client(Request::Reconfig(ReconfigRequest {
                joining_servers: Some("server.4=h:1:2;h:3".into()),
                leaving_servers: None,
                new_members: None,
                cur_config_id: -1,
            })),
            TxnOp::Fail(ErrorCode::Unimplemented),
            TxnOp::Reap { path: "/c".into() },
        ]
    }

    #[test]
    fn every_kind_of_txn_round_trips() {
        let entry = entry_of(every_kind_of_op());
        let mut buf = BytesMut::new();
        entry.encode_durable(&mut buf);
        let mut reader = Reader::new(&buf);
        assert_eq!(LogEntry::decode_durable(&mut reader).unwrap(), entry);
        reader.finish().unwrap();
    }

    /// The bytes of a small entry, pinned: a change here means stored logs change meaning.
    #[test]
    fn the_encoding_is_pinned() {
        let entry = LogEntry {
            time_ms: 1,
            txns: vec![Txn {
                session_id: 2,
                origin: None,
                auth: Vec::new(),
                rules: Default::default(),
                op: TxnOp::Client(Request::Delete(DeleteRequest {
                    path: "/a".into(),
                    version: -1,
                })),
            }],
            digest: None,
        };
        let mut buf = BytesMut::new();
        entry.encode_durable(&mut buf);
        let expected: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0, 1, // time_ms
            0, 0, 0, 1, // one txn
            0, 0, 0, 0, 0, 0, 0, 2, // session
            0, // no origin
            0, 0, 0, 0, // no auth ids
            0, 0, 0, 3, // tag: client
            0, 0, 0, 2, // opcode 2: delete
            0, 0, 0, 10, // body length
            0, 0, 0, 2, b'/', b'a', 0xff, 0xff, 0xff, 0xff, // path, version -1
            0,    // no digest
        ];
        assert_eq!(&buf[..], expected);
    }

    #[test]
    fn an_unknown_op_tag_is_named() {
        let mut buf = BytesMut::new();
        let mut entry = entry_of(vec![TxnOp::CloseSession]);
        entry.digest = None;
        entry.encode_durable(&mut buf);
        // The tag is the last int of the only txn, before the digest flag.
        let at = buf.len() - 5;
        buf[at..at + 4].copy_from_slice(&99i32.to_be_bytes());
        let err = LogEntry::decode_durable(&mut Reader::new(&buf)).unwrap_err();
        assert_eq!(err.to_string(), "unknown txn op tag 99");
    }
}
