//! [`Request`]: every request a 3.5–3.9 client sends, and [`decode_request`], which turns one
//! client frame (after the handshake) into its header and request.

use bytes::{BufMut, BytesMut};

use crate::codes::OpCode;
use crate::error::DecodeError;
use crate::jute::Jute;
use crate::multi::MultiRequest;
use crate::records::{CreateSessionTxn, RequestHeader};
use crate::requests::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteRequest, ExistsRequest, GetAclRequest, GetAllChildrenNumberRequest,
    GetChildren2Request, GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, GetSaslRequest,
    ReconfigRequest, RemoveWatchesRequest, SetAclRequest, SetDataRequest, SetWatches, SetWatches2,
    SyncRequest,
};

/// A decoded request body, one variant per opcode (`protocol.md` §5).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Request {
    /// 1.
    Create(CreateRequest),
    /// 2.
    Delete(DeleteRequest),
    /// 3.
    Exists(ExistsRequest),
    /// 4.
    GetData(GetDataRequest),
    /// 5.
    SetData(SetDataRequest),
    /// 6.
    GetAcl(GetAclRequest),
    /// 7.
    SetAcl(SetAclRequest),
    /// 8.
    GetChildren(GetChildrenRequest),
    /// 9.
    Sync(SyncRequest),
    /// 11, no body.
    Ping,
    /// 12.
    GetChildren2(GetChildren2Request),
    /// 13: outside a multi ZooKeeper 3.8 mishandles it; a server should reject it.
    Check(CheckVersionRequest),
    /// 14.
    Multi(MultiRequest),
    /// 15.
    Create2(CreateRequest),
    /// 16.
    Reconfig(ReconfigRequest),
    /// 17.
    CheckWatches(CheckWatchesRequest),
    /// 18.
    RemoveWatches(RemoveWatchesRequest),
    /// 19.
    CreateContainer(CreateRequest),
    /// 20: server-internal, so its body is kept raw; from a client it always gets
    /// BadArguments (`protocol.md` §9.1).
    DeleteContainer(Vec<u8>),
    /// 21.
    CreateTtl(CreateTtlRequest),
    /// 22.
    MultiRead(MultiRequest),
    /// 100, xid −4.
    Auth(AuthPacket),
    /// 101.
    SetWatches(SetWatches),
    /// 102.
    Sasl(GetSaslRequest),
    /// 103.
    GetEphemerals(GetEphemeralsRequest),
    /// 104.
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// 105.
    SetWatches2(SetWatches2),
    /// 106.
    AddWatch(AddWatchRequest),
    /// 107, no body.
    WhoAmI,
    /// −10: the server-side createSession txn; clients never send it.
    CreateSession(CreateSessionTxn),
    /// −11, no body.
    CloseSession,
    /// An opcode with no request form (unknown numbers, 0, −1); ZooKeeper answers
    /// Unimplemented with zxid −1 and closes.
    Unknown {
        /// The opcode as sent.
        #[cfg_attr(test, proptest(strategy = "tests::arb_op_without_request_form()"))]
        op: OpCode,
        /// The undecoded body.
        body: Vec<u8>,
    },
}

/// Why a client frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The frame has no complete header: ZooKeeper closes the connection without a reply.
    #[error("unreadable request header: {0}")]
    Header(DecodeError),
    /// The header is fine but the body is not: ZooKeeper replies MarshallingError (−5) to
    /// this xid and keeps the connection.
    #[error("undecodable {} body (xid {}): {source}", header.op, header.xid)]
    Body {
        /// The header, so the server can answer the right xid.
        header: RequestHeader,
        /// What was wrong.
        source: DecodeError,
    },
}

/// Decodes one client frame (the bytes after the length prefix) into its header and request.
///
/// Bytes after the request's record are ignored, as ZooKeeper ignores them.
pub fn decode_request(frame: &[u8]) -> Result<(RequestHeader, Request), RequestError> {
    let Ok((body, header)) = RequestHeader::decode(frame) else {
        return Err(RequestError::Header(DecodeError::ShortHeader(frame.len())));
    };
    match Request::decode_body(header.op, body) {
        Ok(request) => Ok((header, request)),
        Err(source) => Err(RequestError::Body { header, source }),
    }
}

/// True if the request's path is null where ZooKeeper 3.8.0 needs one: ops whose record
/// starts with the path (setData and setACL validate theirs first, and answer BadArguments
/// for null as for empty; sync echoes null; getEphemerals, addWatch and removeWatches take
/// null as they take empty), and setWatches lists that are null or hold a null path.
fn null_where_a_path_belongs(op: OpCode, body: &[u8]) -> bool {
    match op {
        OpCode::Create
        | OpCode::Create2
        | OpCode::CreateContainer
        | OpCode::CreateTtl
        | OpCode::Delete
        | OpCode::Exists
        | OpCode::GetData
        | OpCode::GetAcl
        | OpCode::GetChildren
        | OpCode::GetChildren2
        | OpCode::CheckWatches
        | OpCode::GetAllChildrenNumber => body.get(..4) == Some(&[0xff; 4][..]),
        _ => false,
    }
}

/// For a setWatches (3 lists) or setWatches2 (5 lists) body whose lists are null or hold a
/// null data, exist or child path: the watches listed before that null, in a
/// [`SetWatches2`]. `None` when there is no such null. The null persistent paths ZooKeeper
/// takes are left to the decoder, which reads them as empty.
fn watches_before_a_null(body: &[u8], lists: usize) -> Option<SetWatches2> {
    let read_i32 = |at: usize| -> Option<i32> {
        let bytes: [u8; 4] = body.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(i32::from_be_bytes(bytes))
    };
    let zxid: [u8; 8] = body.get(..8)?.try_into().ok()?;
    let mut seen: Vec<Vec<String>> = Vec::new();
    let mut at = 8;
    let mut null = false;
    let mut null_persistent = false;
    'lists: for index in 0..lists {
        let count = read_i32(at)?;
        let mut list = Vec::new();
        if count == -1 {
            seen.push(list);
            null = true;
            break;
        }
        at += 4;
        for _ in 0..count.max(0) {
            let len = read_i32(at)?;
            // ZooKeeper fails on a null data, exist or child watch path. A null persistent
            // path it takes, and a null persistent-recursive one too unless a null
            // persistent one came first (checked live).
            if len == -1 && (index == 3 || (index == 4 && !null_persistent)) {
                null_persistent |= index == 3;
                at += 4;
                continue;
            }
            if len == -1 {
                seen.push(list);
                null = true;
                break 'lists;
            }
            let len = usize::try_from(len).ok()?;
            let start = at.checked_add(4)?;
            let bytes = body.get(start..start.checked_add(len)?)?;
            list.push(String::from_utf8_lossy(bytes).into_owned());
            at = start + len;
        }
        seen.push(list);
    }
    if !null {
        return None;
    }
    let mut lists = seen.into_iter();
    let mut next = || lists.next().unwrap_or_default();
    Some(SetWatches2 {
        relative_zxid: i64::from_be_bytes(zxid),
        data_watches: next(),
        exist_watches: next(),
        child_watches: next(),
        persistent_watches: next(),
        persistent_recursive_watches: next(),
    })
}

/// Whether `op` has a request form a client may send (everything but 0, −1 and unknowns).
pub fn has_request_form(op: OpCode) -> bool {
    !matches!(
        op,
        OpCode::Notification | OpCode::Error | OpCode::Unknown(_)
    )
}

impl Request {
    /// Decodes the body of a request whose header said `op`.
    pub fn decode_body(op: OpCode, body: &[u8]) -> Result<Request, DecodeError> {
        fn rec<T: Jute>(body: &[u8], f: fn(T) -> Request) -> Result<Request, DecodeError> {
            T::from_bytes(body).map(f)
        }
        let null_path = null_where_a_path_belongs(op, body);
        let request = match op {
            OpCode::Create => rec(body, Request::Create),
            OpCode::Delete => rec(body, Request::Delete),
            OpCode::Exists => rec(body, Request::Exists),
            OpCode::GetData => rec(body, Request::GetData),
            OpCode::SetData => rec(body, Request::SetData),
            OpCode::GetAcl => rec(body, Request::GetAcl),
            OpCode::SetAcl => rec(body, Request::SetAcl),
            OpCode::GetChildren => rec(body, Request::GetChildren),
            OpCode::Sync => rec(body, Request::Sync),
            OpCode::Ping => Ok(Request::Ping),
            OpCode::GetChildren2 => rec(body, Request::GetChildren2),
            OpCode::Check => rec(body, Request::Check),
            OpCode::Multi => rec(body, Request::Multi),
            OpCode::Create2 => rec(body, Request::Create2),
            OpCode::Reconfig => rec(body, Request::Reconfig),
            OpCode::CheckWatches => rec(body, Request::CheckWatches),
            OpCode::RemoveWatches => rec(body, Request::RemoveWatches),
            OpCode::CreateContainer => rec(body, Request::CreateContainer),
            OpCode::DeleteContainer => Ok(Request::DeleteContainer(body.to_vec())),
            OpCode::CreateTtl => rec(body, Request::CreateTtl),
            OpCode::MultiRead => rec(body, Request::MultiRead),
            OpCode::Auth => rec(body, Request::Auth),
            OpCode::SetWatches => rec(body, Request::SetWatches),
            OpCode::Sasl => rec(body, Request::Sasl),
            OpCode::GetEphemerals => rec(body, Request::GetEphemerals),
            OpCode::GetAllChildrenNumber => rec(body, Request::GetAllChildrenNumber),
            OpCode::SetWatches2 => rec(body, Request::SetWatches2),
            OpCode::AddWatch => rec(body, Request::AddWatch),
            OpCode::WhoAmI => Ok(Request::WhoAmI),
            OpCode::CreateSession => rec(body, Request::CreateSession),
            OpCode::CloseSession => Ok(Request::CloseSession),
            OpCode::Notification | OpCode::Error | OpCode::Unknown(_) => Ok(Request::Unknown {
                op,
                body: body.to_vec(),
            }),
        };
        let lists = match op {
            OpCode::SetWatches => 3,
            OpCode::SetWatches2 => 5,
            _ => 0,
        };
        match request {
            Ok(request) if null_path => Err(DecodeError::NullPath(Box::new(request))),
            // Only a well-formed body: ZooKeeper refuses a malformed one before it sets any.
            Ok(request) if lists > 0 => match watches_before_a_null(body, lists) {
                Some(partial) => Err(DecodeError::NullInSetWatches(Box::new(partial))),
                None => Ok(request),
            },
            other => other,
        }
    }

    /// The opcode this request is sent with.
    pub fn op_code(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Delete(_) => OpCode::Delete,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::Create2(_) => OpCode::Create2,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CreateSession(_) => OpCode::CreateSession,
            Request::CloseSession => OpCode::CloseSession,
            Request::Unknown { op, .. } => *op,
        }
    }

    /// Appends the request's body (no header) to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => r.encode(buf),
            Request::Delete(r) => r.encode(buf),
            Request::Exists(r) => r.encode(buf),
            Request::GetData(r) => r.encode(buf),
            Request::SetData(r) => r.encode(buf),
            Request::GetAcl(r) => r.encode(buf),
            Request::SetAcl(r) => r.encode(buf),
            Request::GetChildren(r) => r.encode(buf),
            Request::Sync(r) => r.encode(buf),
            Request::GetChildren2(r) => r.encode(buf),
            Request::Check(r) => r.encode(buf),
            Request::Multi(r) | Request::MultiRead(r) => r.encode(buf),
            Request::Reconfig(r) => r.encode(buf),
            Request::CheckWatches(r) => r.encode(buf),
            Request::RemoveWatches(r) => r.encode(buf),
            Request::CreateTtl(r) => r.encode(buf),
            Request::Auth(r) => r.encode(buf),
            Request::SetWatches(r) => r.encode(buf),
            Request::Sasl(r) => r.encode(buf),
            Request::GetEphemerals(r) => r.encode(buf),
            Request::GetAllChildrenNumber(r) => r.encode(buf),
            Request::SetWatches2(r) => r.encode(buf),
            Request::AddWatch(r) => r.encode(buf),
            Request::CreateSession(r) => r.encode(buf),
            Request::DeleteContainer(raw) | Request::Unknown { body: raw, .. } => {
                buf.put_slice(raw)
            }
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Opcodes that decode as [`Request::Unknown`].
    pub(crate) fn arb_op_without_request_form() -> impl Strategy<Value = OpCode> {
        prop_oneof![
            Just(OpCode::Notification),
            Just(OpCode::Error),
            any::<i32>()
                .prop_map(OpCode::from_i32)
                .prop_filter("no request form", |op| !has_request_form(*op)),
        ]
    }

    #[test]
    fn short_frames_are_header_errors() {
        assert_eq!(
            decode_request(&[0, 0, 0, 1, 0, 0]),
            Err(RequestError::Header(DecodeError::ShortHeader(6)))
        );
    }

    #[test]
    fn bad_body_keeps_the_header() {
        // xid 7, getData, a path length of 100 with 2 bytes behind it.
        let frame = [0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0, 100, b'/', b'a'];
        match decode_request(&frame) {
            Err(RequestError::Body { header, .. }) => {
                assert_eq!(header.xid, 7);
                assert_eq!(header.op, OpCode::GetData);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_opcode_decodes() {
        let frame = [0, 0, 0, 1, 0, 0, 3, 0xe7, 1, 2];
        let (header, req) = decode_request(&frame).unwrap();
        assert_eq!(header.op, OpCode::Unknown(999));
        assert_eq!(
            req,
            Request::Unknown {
                op: OpCode::Unknown(999),
                body: vec![1, 2]
            }
        );
    }

    #[test]
    fn ping_is_header_only() {
        let frame = [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11];
        assert_eq!(
            decode_request(&frame),
            Ok((
                RequestHeader {
                    xid: -2,
                    op: OpCode::Ping
                },
                Request::Ping
            ))
        );
    }
}
