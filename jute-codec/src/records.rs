//! The records every exchange uses: headers, the handshake, data records (Id, ACL, Stat,
//! ClientInfo), the watch event and the error result (`protocol.md` §3, §4, §6.1).
//!
//! Field names follow `zookeeper.jute` in snake case.

use bytes::BytesMut;

use crate::codes::{ErrorCode, EventType, KeeperState, OpCode, Perms};
use crate::jute::{record, JResult, Jute};

record! {
    /// The 8-byte header of every client frame after the handshake.
    pub struct RequestHeader {
        /// Client-chosen request id, echoed in the reply; −2 ping, −4 auth.
        pub xid: i32,
        /// The opcode.
        pub op: OpCode,
    }
}

record! {
    /// The 16-byte header of every server frame after the handshake.
    pub struct ReplyHeader {
        /// The request's xid; −1 for a notification.
        pub xid: i32,
        /// The zxid of the write, or the server's last zxid for reads (`protocol.md` §4.3).
        pub zxid: i64,
        /// The result; a reply with `err != Ok` has no body, except multi and sasl.
        pub err: ErrorCode,
    }
}

/// The first client frame: it has no RequestHeader (`protocol.md` §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnectRequest {
    /// Clients send 0; ignored.
    pub protocol_version: i32,
    /// The highest zxid the client has seen; 0 for a new session.
    pub last_zxid_seen: i64,
    /// The requested session timeout in ms.
    pub time_out: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// The session password (16 bytes) on a resume; ignored for a new session.
    pub passwd: Vec<u8>,
    /// The readOnly byte: `None` for a legacy 44-byte request without it, which must be
    /// answered by a 36-byte ConnectResponse without it too.
    pub read_only: Option<bool>,
}

impl Jute for ConnectRequest {
    const MIN_LEN: usize = 4 + 8 + 4 + 8 + 4;

    fn encode(&self, buf: &mut BytesMut) {
        self.protocol_version.encode(buf);
        self.last_zxid_seen.encode(buf);
        self.time_out.encode(buf);
        self.session_id.encode(buf);
        self.passwd.encode(buf);
        if let Some(read_only) = self.read_only {
            read_only.encode(buf);
        }
    }

    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (input, protocol_version) = i32::decode(input)?;
        let (input, last_zxid_seen) = i64::decode(input)?;
        let (input, time_out) = i32::decode(input)?;
        let (input, session_id) = i64::decode(input)?;
        let (input, passwd) = <Vec<u8>>::decode(input)?;
        let (input, read_only) = optional_bool(input)?;
        Ok((
            input,
            ConnectRequest {
                protocol_version,
                last_zxid_seen,
                time_out,
                session_id,
                passwd,
                read_only,
            },
        ))
    }
}

/// The first server frame: it has no ReplyHeader (`protocol.md` §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// The negotiated timeout; 0 (with session id 0) means the session is invalid.
    pub time_out: i32,
    /// The session id.
    pub session_id: i64,
    /// The session password, 16 bytes.
    pub passwd: Vec<u8>,
    /// Present only when the request had it; true only from a read-only server.
    pub read_only: Option<bool>,
}

impl Jute for ConnectResponse {
    const MIN_LEN: usize = 4 + 4 + 8 + 4;

    fn encode(&self, buf: &mut BytesMut) {
        self.protocol_version.encode(buf);
        self.time_out.encode(buf);
        self.session_id.encode(buf);
        self.passwd.encode(buf);
        if let Some(read_only) = self.read_only {
            read_only.encode(buf);
        }
    }

    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (input, protocol_version) = i32::decode(input)?;
        let (input, time_out) = i32::decode(input)?;
        let (input, session_id) = i64::decode(input)?;
        let (input, passwd) = <Vec<u8>>::decode(input)?;
        let (input, read_only) = optional_bool(input)?;
        Ok((
            input,
            ConnectResponse {
                protocol_version,
                time_out,
                session_id,
                passwd,
                read_only,
            },
        ))
    }
}

/// A trailing boolean that older peers leave out.
fn optional_bool(input: &[u8]) -> JResult<'_, Option<bool>> {
    if input.is_empty() {
        Ok((input, None))
    } else {
        let (rest, b) = bool::decode(input)?;
        Ok((rest, Some(b)))
    }
}

record! {
    /// An identity: `scheme` (world, auth, digest, ip, x509, sasl, super) and its `id`.
    pub struct Id {
        /// The auth scheme.
        pub scheme: String,
        /// The scheme-specific id; kazoo sends null for scheme `auth`.
        pub id: Option<String>,
    }
}

record! {
    /// One ACL entry: permission bits for an identity.
    pub struct Acl {
        /// The permission bits.
        pub perms: Perms,
        /// Whom they are granted to.
        pub id: Id,
    }
}

impl Acl {
    /// `world:anyone` with `perms`.
    pub fn world(perms: Perms) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: "world".to_string(),
                id: Some("anyone".to_string()),
            },
        }
    }
}

record! {
    /// A znode's metadata as clients see it: 11 fields, 68 bytes (`protocol.md` §6.1).
    pub struct Stat {
        /// zxid of the create.
        pub czxid: i64,
        /// zxid of the last setData (= czxid until then).
        pub mzxid: i64,
        /// Create time, ms since the epoch, from the leader's clock.
        pub ctime: i64,
        /// Time of the last setData.
        pub mtime: i64,
        /// Data version: +1 per setData.
        pub version: i32,
        /// Child version as shown: child creates + child deletes.
        pub cversion: i32,
        /// ACL version: +1 per setACL.
        pub aversion: i32,
        /// Owning session of an ephemeral, else 0 (also 0 for containers and TTL nodes).
        pub ephemeral_owner: i64,
        /// Data length in bytes (0 for null data).
        pub data_length: i32,
        /// Number of children.
        pub num_children: i32,
        /// zxid of the last child create or delete (= czxid initially).
        pub pzxid: i64,
    }
}

record! {
    /// One identity in a whoAmI reply, e.g. (`ip`, `127.0.0.1`).
    pub struct ClientInfo {
        /// The auth scheme.
        pub auth_scheme: String,
        /// The id under that scheme.
        pub user: String,
    }
}

record! {
    /// A watch notification's body (xid −1, zxid −1 in 3.8).
    pub struct WatcherEvent {
        /// What happened.
        pub event_type: EventType,
        /// Always SyncConnected from a server.
        pub state: KeeperState,
        /// The node it happened to.
        pub path: String,
    }
}

record! {
    /// A bare result code: addWatch's reply body and the body of a failed multi result.
    pub struct ErrorResponse {
        /// The code.
        pub err: ErrorCode,
    }
}

record! {
    /// The header before each multi sub-op and result (9 bytes), and the terminator
    /// `{-1, true, -1}`.
    pub struct MultiHeader {
        /// The sub-op or result type; −1 for an error result and the terminator.
        pub op_type: OpCode,
        /// True only on the terminator.
        pub done: bool,
        /// The result code (clients send −1 in requests; the server ignores it).
        pub err: ErrorCode,
    }
}

impl MultiHeader {
    /// The header that ends a multi request or reply: `ffffffff 01 ffffffff`.
    pub const TERMINATOR: MultiHeader = MultiHeader {
        op_type: OpCode::Error,
        done: true,
        err: ErrorCode::SystemError,
    };
}

record! {
    /// The body of a createSession txn: the negotiated timeout. Never sent by clients, whose
    /// side of session creation is the [`ConnectRequest`].
    pub struct CreateSessionTxn {
        /// The negotiated session timeout in ms.
        pub time_out: i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_68_bytes() {
        assert_eq!(Stat::default().to_bytes().len(), 68);
        assert_eq!(Stat::MIN_LEN, 68);
    }

    #[test]
    fn legacy_connect_request_has_no_readonly_byte() {
        let req = ConnectRequest {
            time_out: 10_000,
            passwd: vec![0; 16],
            read_only: None,
            ..Default::default()
        };
        let bytes = req.to_bytes();
        assert_eq!(bytes.len(), 44);
        assert_eq!(ConnectRequest::from_bytes(&bytes), Ok(req));
    }

    #[test]
    fn connect_request_cut_inside_passwd_is_an_error() {
        let req = ConnectRequest {
            passwd: vec![7; 16],
            read_only: Some(false),
            ..Default::default()
        };
        let bytes = req.to_bytes();
        assert!(ConnectRequest::from_bytes(&bytes[..40]).is_err());
    }

    #[test]
    fn terminator_bytes() {
        assert_eq!(
            MultiHeader::TERMINATOR.to_bytes().as_ref(),
            &[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
        );
    }
}
