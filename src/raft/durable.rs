//! The durable encoding (`crate::durable`) of openraft's records as raftzk stores them: log
//! entries (in the RocksDB log) and snapshot metadata (in snapshot files).
//!
//! A stored entry is one format byte, then the entry:
//! - format 2 (written): `long term` · `long leader node` · `long index` · `int` payload tag
//!   (1 blank, 2 normal: a [`LogEntry`], 3 membership) · the payload.
//! - format 1 (read only): the postcard encoding of `openraft::Entry`, whose client writes are
//!   jute-codec's `Request` enum by declaration order (what format 2 replaced).
//!
//! A membership is `int` config count · per config a `vector<long>` of voter ids · `int` node
//! count · per node `long id` · `ustring peer_addr` · `int election_port` · `ustring
//! client_addr` · `boolean observer`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::BytesMut;
use openraft::{CommittedLeaderId, EntryPayload, Membership};

use super::types::{LogId, NodeId, PeerNode, SnapshotMeta, StoredMembership, TypeConfig};
use crate::durable::{put, put_count, put_u64, take_u64, FormatError, Reader};
use crate::txn::LogEntry;

type Entry = openraft::Entry<TypeConfig>;

/// The entry format written.
pub const ENTRY_FORMAT: u8 = 2;
/// The entry format of releases before format 2, still read.
const ENTRY_FORMAT_POSTCARD: u8 = 1;

/// The payload tags. Fixed forever: a new payload kind takes a new number.
mod tag {
    pub const BLANK: i32 = 1;
    pub const NORMAL: i32 = 2;
    pub const MEMBERSHIP: i32 = 3;
}

/// Why a stored entry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EntryFormatError {
    /// An empty value.
    #[error("empty entry")]
    Empty,
    /// A format this build does not know: written by a newer raftzk.
    #[error("entry format {0} is newer than this build reads (formats 1 and 2)")]
    UnknownFormat(u8),
    /// Format 2 bytes that do not decode.
    #[error("format 2: {0}")]
    Format(#[from] FormatError),
    /// Format 1 bytes that do not decode.
    #[error("format 1: {0}")]
    Postcard(#[from] postcard::Error),
}

/// The stored bytes of an entry: the format byte, then the entry.
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[ENTRY_FORMAT]);
    put_log_id(&mut buf, &entry.log_id);
    match &entry.payload {
        EntryPayload::Blank => put(&mut buf, &tag::BLANK),
        EntryPayload::Normal(log_entry) => {
            put(&mut buf, &tag::NORMAL);
            log_entry.encode_durable(&mut buf);
        }
        EntryPayload::Membership(membership) => {
            put(&mut buf, &tag::MEMBERSHIP);
            put_membership(&mut buf, membership);
        }
    }
    buf.to_vec()
}

/// Reads an entry stored by this or an earlier release.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, EntryFormatError> {
    match bytes.split_first() {
        None => Err(EntryFormatError::Empty),
        Some((&ENTRY_FORMAT, body)) => {
            let mut reader = Reader::new(body);
            let log_id = take_log_id(&mut reader)?;
            let payload = match reader.take::<i32>("payload tag")? {
                tag::BLANK => EntryPayload::Blank,
                tag::NORMAL => EntryPayload::Normal(LogEntry::decode_durable(&mut reader)?),
                tag::MEMBERSHIP => EntryPayload::Membership(take_membership(&mut reader)?),
                other => {
                    return Err(FormatError::UnknownTag {
                        what: "entry payload",
                        tag: other,
                    }
                    .into())
                }
            };
            reader.finish()?;
            Ok(Entry { log_id, payload })
        }
        Some((&ENTRY_FORMAT_POSTCARD, body)) => {
            Ok(postcard::from_bytes::<format1::Entry>(body)?.into())
        }
        Some((&other, _)) => Err(EntryFormatError::UnknownFormat(other)),
    }
}

/// Format 1's layout, frozen: the postcard encoding of openraft 0.9's `Entry` (fields
/// `log_id`, `payload`; payload variants Blank, Normal, Membership) over the `LogEntry` of
/// that release (`time_ms`, `txns`; no digest).
mod format1 {
    use serde::{Deserialize, Serialize};

    use super::super::types::{LogId, NodeId, PeerNode};
    use crate::txn::{Origin, TxnOp};

    #[derive(Serialize, Deserialize)]
    pub struct Entry {
        pub log_id: LogId,
        pub payload: Payload,
    }

    #[derive(Serialize, Deserialize)]
    pub enum Payload {
        Blank,
        Normal(LogEntry),
        Membership(openraft::Membership<NodeId, PeerNode>),
    }

    #[derive(Serialize, Deserialize)]
    pub struct LogEntry {
        pub time_ms: i64,
        pub txns: Vec<Txn>,
    }

    /// The Txn of that release: no auth providers (ACLs of x509 or sasl were refused then).
    #[derive(Serialize, Deserialize)]
    pub struct Txn {
        pub session_id: i64,
        pub origin: Option<Origin>,
        pub auth: Vec<jute_codec::Id>,
        pub op: TxnOp,
    }

    impl From<Txn> for crate::txn::Txn {
        fn from(txn: Txn) -> crate::txn::Txn {
            crate::txn::Txn {
                session_id: txn.session_id,
                origin: txn.origin,
                auth: txn.auth,
                rules: Default::default(),
                op: txn.op,
            }
        }
    }

    impl From<Entry> for super::Entry {
        fn from(entry: Entry) -> super::Entry {
            let payload = match entry.payload {
                Payload::Blank => super::EntryPayload::Blank,
                Payload::Normal(e) => super::EntryPayload::Normal(super::LogEntry {
                    time_ms: e.time_ms,
                    txns: e.txns.into_iter().map(Into::into).collect(),
                    digest: None,
                }),
                Payload::Membership(m) => super::EntryPayload::Membership(m),
            };
            super::Entry {
                log_id: entry.log_id,
                payload,
            }
        }
    }
}

/// Appends snapshot metadata: `boolean` has last log id · log id · membership's `boolean` has
/// log id · log id · membership · `ustring snapshot_id`.
pub fn put_snapshot_meta(buf: &mut BytesMut, meta: &SnapshotMeta) {
    put_optional_log_id(buf, meta.last_log_id.as_ref());
    put_optional_log_id(buf, meta.last_membership.log_id().as_ref());
    put_membership(buf, meta.last_membership.membership());
    put(buf, &meta.snapshot_id);
}

/// Reads metadata written by [`put_snapshot_meta`].
pub fn take_snapshot_meta(reader: &mut Reader<'_>) -> Result<SnapshotMeta, FormatError> {
    let last_log_id = take_optional_log_id(reader)?;
    let membership_log_id = take_optional_log_id(reader)?;
    let membership = take_membership(reader)?;
    Ok(SnapshotMeta {
        last_log_id,
        last_membership: StoredMembership::new(membership_log_id, membership),
        snapshot_id: reader.take("snapshot id")?,
    })
}

fn put_log_id(buf: &mut BytesMut, log_id: &LogId) {
    put_u64(buf, log_id.leader_id.term);
    put_u64(buf, log_id.leader_id.node_id);
    put_u64(buf, log_id.index);
}

fn take_log_id(reader: &mut Reader<'_>) -> Result<LogId, FormatError> {
    let term = take_u64(reader, "log id term")?;
    let node_id = take_u64(reader, "log id node")?;
    let index = take_u64(reader, "log id index")?;
    Ok(LogId::new(CommittedLeaderId::new(term, node_id), index))
}

fn put_optional_log_id(buf: &mut BytesMut, log_id: Option<&LogId>) {
    put(buf, &log_id.is_some());
    if let Some(log_id) = log_id {
        put_log_id(buf, log_id);
    }
}

fn take_optional_log_id(reader: &mut Reader<'_>) -> Result<Option<LogId>, FormatError> {
    match reader.take::<bool>("log id flag")? {
        true => take_log_id(reader).map(Some),
        false => Ok(None),
    }
}

fn put_membership(buf: &mut BytesMut, membership: &Membership<NodeId, PeerNode>) {
    let configs = membership.get_joint_config();
    put_count(buf, configs.len());
    for config in configs {
        let ids: Vec<i64> = config.iter().map(|id| *id as i64).collect();
        put(buf, &ids);
    }
    let nodes: Vec<_> = membership.nodes().collect();
    put_count(buf, nodes.len());
    for (id, node) in nodes {
        put_u64(buf, *id);
        put(buf, &node.peer_addr);
        put(buf, &i32::from(node.election_port));
        put(buf, &node.client_addr);
        put(buf, &node.observer);
    }
}

fn take_membership(reader: &mut Reader<'_>) -> Result<Membership<NodeId, PeerNode>, FormatError> {
    let config_count = reader.count("membership configs", 4)?;
    let mut configs = Vec::with_capacity(config_count);
    for _ in 0..config_count {
        let ids: Vec<i64> = reader.take("membership voters")?;
        configs.push(ids.into_iter().map(|id| id as u64).collect::<BTreeSet<_>>());
    }
    let node_count = reader.count("membership nodes", 8 + 4 + 4 + 4 + 1)?;
    let mut nodes = BTreeMap::new();
    for _ in 0..node_count {
        let id = take_u64(reader, "member id")?;
        let peer_addr = reader.take("member peer address")?;
        let election_port = reader.take::<i32>("member election port")?;
        let node = PeerNode {
            peer_addr,
            election_port: u16::try_from(election_port).unwrap_or(0),
            client_addr: reader.take("member client address")?,
            observer: reader.take("member observer flag")?,
        };
        nodes.insert(id, node);
    }
    Ok(Membership::new(configs, nodes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnOp};

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 2), index)
    }

    fn membership() -> Membership<NodeId, PeerNode> {
        let node = |port: u16, observer| PeerNode {
            peer_addr: format!("127.0.0.1:{port}"),
            election_port: port + 1,
            client_addr: format!("127.0.0.1:{}", port + 2),
            observer,
        };
        let nodes = BTreeMap::from([
            (1, node(100, false)),
            (2, node(200, false)),
            (3, node(300, true)),
        ]);
        Membership::new(vec![BTreeSet::from([1, 2])], nodes)
    }

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                log_id: log_id(1, 1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(1, 2),
                payload: EntryPayload::Membership(membership()),
            },
            Entry {
                log_id: log_id(u64::MAX, u64::MAX),
                payload: EntryPayload::Normal(LogEntry {
                    time_ms: 5,
                    txns: vec![Txn {
                        session_id: 9,
                        origin: None,
                        auth: Vec::new(),
                        rules: Default::default(),
                        op: TxnOp::CloseSession,
                    }],
                    digest: None,
                }),
            },
        ]
    }

    #[test]
    fn entries_round_trip_in_format_2() {
        for entry in entries() {
            let bytes = encode_entry(&entry);
            assert_eq!(bytes[0], ENTRY_FORMAT);
            assert_eq!(decode_entry(&bytes).unwrap(), entry);
        }
    }

    #[test]
    fn format_1_entries_still_read() {
        for entry in entries() {
            let payload = match entry.payload.clone() {
                EntryPayload::Blank => format1::Payload::Blank,
                EntryPayload::Normal(e) => format1::Payload::Normal(format1::LogEntry {
                    time_ms: e.time_ms,
                    txns: e
                        .txns
                        .into_iter()
                        .map(|t| format1::Txn {
                            session_id: t.session_id,
                            origin: t.origin,
                            auth: t.auth,
                            op: t.op,
                        })
                        .collect(),
                }),
                EntryPayload::Membership(m) => format1::Payload::Membership(m),
            };
            let old = format1::Entry {
                log_id: entry.log_id,
                payload,
            };
            let mut bytes = vec![ENTRY_FORMAT_POSTCARD];
            bytes.extend(postcard::to_stdvec(&old).unwrap());
            assert_eq!(decode_entry(&bytes).unwrap(), entry);
        }
        // A format-1 entry as the release before format 2 wrote it: a blank at index 3, term 1.
        let written = [1, 1, 1, 3, 0];
        let entry = decode_entry(&written).unwrap();
        assert_eq!(entry.log_id, log_id_of(1, 1, 3));
        assert!(matches!(entry.payload, EntryPayload::Blank));
    }

    fn log_id_of(term: u64, node: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    #[test]
    fn an_unknown_format_or_payload_is_refused_by_name() {
        let err = decode_entry(&[3, 0, 0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entry format 3 is newer than this build reads (formats 1 and 2)"
        );
        let mut bytes = encode_entry(&entries()[0]);
        let at = bytes.len() - 4;
        bytes[at..].copy_from_slice(&7i32.to_be_bytes());
        assert_eq!(
            decode_entry(&bytes).unwrap_err().to_string(),
            "format 2: unknown entry payload tag 7"
        );
        let mut bytes = encode_entry(&entries()[0]);
        bytes.push(0);
        assert!(decode_entry(&bytes).is_err(), "a trailing byte is refused");
    }

    #[test]
    fn snapshot_meta_round_trips() {
        let meta = SnapshotMeta {
            last_log_id: Some(log_id(3, 40)),
            last_membership: StoredMembership::new(Some(log_id(1, 2)), membership()),
            snapshot_id: "3-40-1700000000000".into(),
        };
        let mut buf = BytesMut::new();
        put_snapshot_meta(&mut buf, &meta);
        let mut reader = Reader::new(&buf);
        assert_eq!(take_snapshot_meta(&mut reader).unwrap(), meta);
        reader.finish().unwrap();
        let empty = SnapshotMeta::default();
        let mut buf = BytesMut::new();
        put_snapshot_meta(&mut buf, &empty);
        assert_eq!(take_snapshot_meta(&mut Reader::new(&buf)).unwrap(), empty);
    }
}
