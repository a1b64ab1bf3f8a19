//! What goes into the Raft log and how it changes the replicated state.
//!
//! A [`LogEntry`] is one Raft entry: the leader's clock reading and a batch of [`Txn`]s packed
//! by the Proposer (`design.md`, Batching above Raft). [`apply_entry`] applies it to the
//! [`ReplicatedState`] (tree + session table) and returns one [`TxnOutcome`] per Txn: the
//! zxid, the ZooKeeper result code, the reply body and the watch triggers. Apply reads nothing
//! but its arguments, so every member computes the same outcomes.
//!
//! zxid = (entry index << 16) | position of the Txn in the entry (`design.md`).

mod apply;
mod digest_log;
mod durable;
mod multi;
mod ops;
mod prepare;
mod state;

pub use apply::{apply_entry, apply_entry_each, create_refusal};
pub use digest_log::{DigestCheck, DigestLog};
pub use prepare::{is_logged_write, prepare_write, WriteRules};
pub use state::{ReplicatedState, SnapshotError, SnapshotStreamError};

use jute_codec::{ErrorCode, EventType, Id, Request, Response};
use serde::{Deserialize, Serialize};

/// Most Txns one entry may carry: the position must fit in the zxid's low 16 bits.
pub const MAX_TXNS_PER_ENTRY: usize = 1 << 16;

/// The zxid of the Txn at `position` in the entry at log `index`.
pub fn zxid_of(index: u64, position: usize) -> i64 {
    let index = i64::try_from(index).unwrap_or(i64::MAX >> 16);
    (index << 16) | (position as i64 & 0xFFFF)
}

/// The log index a zxid belongs to.
pub fn index_of(zxid: i64) -> u64 {
    u64::try_from(zxid >> 16).unwrap_or(0)
}

/// One Raft log entry's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The proposing leader's wall clock, ms since the epoch: every ctime/mtime of the entry.
    pub time_ms: i64,
    /// The batch, in proposal order.
    pub txns: Vec<Txn>,
    /// The proposing leader's tree digest at a zxid it had applied when it built the entry;
    /// every member compares its own digest at that zxid (`digest_mismatches_count`).
    pub digest: Option<ZxidDigest>,
}

/// A tree digest as of a zxid: what the digest log keeps and entries carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZxidDigest {
    /// The state's last zxid when the digest was taken (after a whole entry).
    pub zxid: i64,
    /// The digest's definition (`tree::digest::DIGEST_VERSION`).
    pub version: i32,
    /// The tree's digest.
    pub digest: u64,
}

/// One change, with everything apply needs to decide it the same way on every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// The session the change is made for (0 for the server's own changes).
    pub session_id: i64,
    /// Where the reply goes; apply never reads it.
    pub origin: Option<Origin>,
    /// The identities of the requesting connection (ip, digest, super), for ACL checks.
    pub auth: Vec<Id>,
    /// The proposing member's configuration that apply depends on (its auth providers,
    /// `enforceQuota`), so every member decides alike.
    pub rules: ApplyRules,
    /// The change.
    pub op: TxnOp,
}

impl Txn {
    /// Roughly how many bytes the Txn adds to an entry; the Proposer caps entries by it.
    pub fn approx_size(&self) -> usize {
        let auth: usize = self.auth.iter().map(|id| 16 + id.scheme.len()).sum();
        64 + auth
            + match &self.op {
                TxnOp::Client(request) => request_size(request),
                TxnOp::Reap { path } => path.len(),
                TxnOp::CreateSession { password, .. } => password.len(),
                TxnOp::CloseSession | TxnOp::Fail(_) => 0,
            }
    }
}

fn request_size(request: &Request) -> usize {
    use jute_codec::MultiOp;
    let data = |d: &Option<Vec<u8>>| d.as_ref().map_or(0, Vec::len);
    match request {
        Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => {
            r.path.len() + data(&r.data) + 32 * r.acl.len()
        }
        Request::CreateTtl(r) => r.path.len() + data(&r.data) + 32 * r.acl.len(),
        Request::SetData(r) => r.path.len() + data(&r.data),
        Request::SetAcl(r) => r.path.len() + 32 * r.acl.len(),
        Request::Multi(m) => m
            .ops
            .iter()
            .map(|op| match op {
                MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
                    16 + r.path.len() + data(&r.data) + 32 * r.acl.len()
                }
                MultiOp::CreateTtl(r) => 16 + r.path.len() + data(&r.data) + 32 * r.acl.len(),
                MultiOp::SetData(r) => 16 + r.path.len() + data(&r.data),
                other => 16 + other.path().len(),
            })
            .sum(),
        other => {
            16 + match other {
                Request::Delete(r) => r.path.len(),
                _ => 0,
            }
        }
    }
}

/// What apply decides from the proposing member's configuration, decided before logging and
/// carried in each client write (`design.md`: apply never reads config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRules {
    /// The auth providers beyond digest and ip the member has: ACLs of their schemes are
    /// valid only then.
    pub providers: crate::tree::acl::Providers,
    /// `enforceQuota`: a create or setData past a quota's hard limit is QuotaExceeded.
    pub enforce_quota: bool,
}

impl ApplyRules {
    /// The rules as bits for the durable encoding: the providers' (x509 = 1, sasl = 2), then
    /// enforced quotas = 4.
    pub fn bits(self) -> i32 {
        self.providers.bits() | (i32::from(self.enforce_quota) << 2)
    }

    /// The rules from [`ApplyRules::bits`]; unknown bits are ignored.
    pub fn from_bits(bits: i32) -> ApplyRules {
        ApplyRules {
            providers: crate::tree::acl::Providers::from_bits(bits & 3),
            enforce_quota: bits & 4 != 0,
        }
    }
}

/// The connection waiting for a Txn's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The member the client is connected to.
    pub member: u64,
    /// That member's connection id.
    pub connection: u64,
    /// The request's xid, echoed in the reply.
    pub xid: i32,
}

/// The kinds of change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    /// A new session, with the id (in `Txn::session_id`), timeout and password chosen before
    /// logging.
    CreateSession {
        /// Negotiated timeout in ms.
        timeout_ms: i32,
        /// The password, 16 bytes.
        password: Vec<u8>,
    },
    /// The client's closeSession, or the leader's expiry of the session.
    CloseSession,
    /// A client write: create, create2, createContainer, createTTL, delete, setData, setACL
    /// or multi.
    Client(Request),
    /// A write refused before logging for a reason that depends on the member's config
    /// (TTL while extended types are off, reconfig disabled) or on undecodable bytes; like
    /// ZooKeeper's error txns it still takes a zxid.
    Fail(ErrorCode),
    /// The leader's container/TTL reaper deleting a node (ZooKeeper's deleteContainer).
    Reap {
        /// The node.
        path: String,
    },
}

/// A change that watches react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTrigger {
    /// The node.
    pub path: String,
    /// NodeCreated, NodeDeleted, NodeDataChanged or NodeChildrenChanged.
    pub event: EventType,
}

/// What applying one Txn did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOutcome {
    /// The Txn's zxid, which its reply carries.
    pub zxid: i64,
    /// The result code for the reply header.
    pub err: ErrorCode,
    /// The reply body ([`Response::Empty`] for errors, except multi).
    pub response: Response,
    /// Watch triggers, in order; to be delivered before the reply.
    pub triggers: Vec<WatchTrigger>,
    /// A session this Txn ended (closeSession or expiry): its connection must close.
    pub closed_session: Option<i64>,
}

impl TxnOutcome {
    fn error(zxid: i64, err: ErrorCode) -> TxnOutcome {
        TxnOutcome {
            zxid,
            err,
            response: Response::Empty,
            triggers: Vec::new(),
            closed_session: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxids_encode_index_and_position() {
        assert_eq!(zxid_of(1, 0), 0x1_0000);
        assert_eq!(zxid_of(5, 3), 0x5_0003);
        assert_eq!(index_of(zxid_of(123_456, 65_535)), 123_456);
        assert!(zxid_of(2, 0) > zxid_of(1, 65_535));
    }
}

#[cfg(test)]
mod tests_apply;
