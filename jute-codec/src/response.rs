//! [`Response`]: every reply body a 3.8 server sends, with [`decode_reply`] for clients and
//! tests. A server builds a `Response` and writes it with [`crate::Reply`].

use bytes::BytesMut;

use crate::codes::{xid, OpCode};
use crate::error::DecodeError;
use crate::jute::Jute;
use crate::multi::MultiResponse;
use crate::records::{ErrorResponse, ReplyHeader, WatcherEvent};
use crate::responses::{
    Create2Response, CreateResponse, GetAclResponse, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse,
    SetSaslResponse, StatResponse, SyncResponse, WhoAmIResponse,
};

/// A reply body. Which variant answers which opcode is ZooKeeper's (`protocol.md` §5).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Response {
    /// No body: every error reply but multi's and sasl's, and the replies to delete, ping,
    /// auth, setWatches(2), checkWatches, removeWatches and closeSession.
    Empty,
    /// create (1).
    Create(CreateResponse),
    /// create2 (15), createContainer (19), createTTL (21).
    Create2(Create2Response),
    /// exists (3).
    Exists(StatResponse),
    /// getData (4).
    GetData(GetDataResponse),
    /// setData (5).
    SetData(StatResponse),
    /// getACL (6).
    GetAcl(GetAclResponse),
    /// setACL (7).
    SetAcl(StatResponse),
    /// getChildren (8).
    GetChildren(GetChildrenResponse),
    /// getChildren2 (12).
    GetChildren2(GetChildren2Response),
    /// sync (9).
    Sync(SyncResponse),
    /// multi (14) and multiRead (22); the header says Ok even when the multi failed.
    Multi(MultiResponse),
    /// reconfig (16): the new config and the Stat of `/zookeeper/config`.
    Reconfig(GetDataResponse),
    /// addWatch (106): a 4-byte `ErrorResponse{0}` body.
    AddWatch(ErrorResponse),
    /// sasl (102).
    Sasl(SetSaslResponse),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsResponse),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// whoAmI (107).
    WhoAmI(WhoAmIResponse),
    /// A watch notification (xid −1).
    Notification(WatcherEvent),
}

impl Response {
    /// Appends the body to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Response::Empty => {}
            Response::Create(r) => r.encode(buf),
            Response::Create2(r) => r.encode(buf),
            Response::Exists(r) | Response::SetData(r) | Response::SetAcl(r) => r.encode(buf),
            Response::GetData(r) | Response::Reconfig(r) => r.encode(buf),
            Response::GetAcl(r) => r.encode(buf),
            Response::GetChildren(r) => r.encode(buf),
            Response::GetChildren2(r) => r.encode(buf),
            Response::Sync(r) => r.encode(buf),
            Response::Multi(r) => r.encode(buf),
            Response::AddWatch(r) => r.encode(buf),
            Response::Sasl(r) => r.encode(buf),
            Response::GetEphemerals(r) => r.encode(buf),
            Response::GetAllChildrenNumber(r) => r.encode(buf),
            Response::WhoAmI(r) => r.encode(buf),
            Response::Notification(r) => r.encode(buf),
        }
    }

    /// Decodes the body of a reply to a request sent with `op`. An empty body is
    /// [`Response::Empty`] whatever the opcode (error replies are header-only).
    pub fn decode_body(op: OpCode, body: &[u8]) -> Result<Response, DecodeError> {
        fn rec<T: Jute>(body: &[u8], f: fn(T) -> Response) -> Result<Response, DecodeError> {
            T::from_bytes(body).map(f)
        }
        if body.is_empty() {
            return Ok(Response::Empty);
        }
        match op {
            OpCode::Create => rec(body, Response::Create),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                rec(body, Response::Create2)
            }
            OpCode::Exists => rec(body, Response::Exists),
            OpCode::GetData => rec(body, Response::GetData),
            OpCode::SetData => rec(body, Response::SetData),
            OpCode::GetAcl => rec(body, Response::GetAcl),
            OpCode::SetAcl => rec(body, Response::SetAcl),
            OpCode::GetChildren => rec(body, Response::GetChildren),
            OpCode::GetChildren2 => rec(body, Response::GetChildren2),
            OpCode::Sync => rec(body, Response::Sync),
            OpCode::Multi | OpCode::MultiRead => rec(body, Response::Multi),
            OpCode::Reconfig => rec(body, Response::Reconfig),
            OpCode::AddWatch => rec(body, Response::AddWatch),
            OpCode::Sasl => rec(body, Response::Sasl),
            OpCode::GetEphemerals => rec(body, Response::GetEphemerals),
            OpCode::GetAllChildrenNumber => rec(body, Response::GetAllChildrenNumber),
            OpCode::WhoAmI => rec(body, Response::WhoAmI),
            OpCode::Notification => rec(body, Response::Notification),
            // These replies have no body; bytes after a record are ignored, as ever.
            OpCode::Delete
            | OpCode::Ping
            | OpCode::Check
            | OpCode::CheckWatches
            | OpCode::RemoveWatches
            | OpCode::DeleteContainer
            | OpCode::Auth
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::CreateSession
            | OpCode::CloseSession
            | OpCode::Error
            | OpCode::Unknown(_) => Ok(Response::Empty),
        }
    }
}

/// Decodes one server frame after the handshake. `op_for_xid` names the opcode of the
/// request with that xid (the client's pending table); notifications (xid −1) need no lookup.
pub fn decode_reply(
    frame: &[u8],
    op_for_xid: impl FnOnce(i32) -> OpCode,
) -> Result<(ReplyHeader, Response), DecodeError> {
    let (body, header) = ReplyHeader::decode(frame)?;
    let op = if header.xid == xid::NOTIFICATION {
        OpCode::Notification
    } else {
        op_for_xid(header.xid)
    };
    Ok((header, Response::decode_body(op, body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::ErrorCode;

    #[test]
    fn error_replies_are_header_only() {
        let header = ReplyHeader {
            xid: 6,
            zxid: 7,
            err: ErrorCode::NodeExists,
        };
        let bytes = header.to_bytes();
        assert_eq!(bytes.len(), 16);
        let (h, r) = decode_reply(&bytes, |_| OpCode::Create).unwrap();
        assert_eq!(h, header);
        assert_eq!(r, Response::Empty);
    }
}
