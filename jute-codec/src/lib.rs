//! # jute-codec
//!
//! The ZooKeeper client wire protocol, byte for byte as ZooKeeper 3.8 speaks it to 3.5–3.9
//! clients: Jute primitives, every record, one [`Request`] and one [`Response`] variant per
//! opcode, multi encoding, and the length-prefixed [`FrameCodec`]. Pure: no I/O, no runtime,
//! no logging. Every captured 3.8.0 frame in `tests/vectors` decodes and re-encodes exactly.
//!
//! Decoding untrusted bytes never panics and never allocates from an unchecked length: a
//! length beyond the bytes left is a [`DecodeError`].
//!
//! ## Modules
//! - [`jute`]: the [`Jute`] trait and the primitives (int, long, boolean, buffer, ustring,
//!   vector).
//! - [`codes`]: [`OpCode`], [`ErrorCode`], [`CreateMode`], [`EventType`], [`KeeperState`],
//!   [`WatcherType`], [`AddWatchMode`], [`Perms`] and the special [`xid`]s.
//! - [`records`]: headers, the handshake, Id, ACL, Stat, ClientInfo, WatcherEvent.
//! - [`requests`] / [`responses`]: the per-opcode records; [`multi`]: multi and multiRead.
//! - [`request`] / [`response`]: the [`Request`] and [`Response`] enums.
//! - [`frame`]: [`FrameCodec`], [`Reply`], [`ClientRequest`], four-letter-word [`sniff`]ing.
//!
//! ## Example: a client's getData and the server's reply
//!
//! ```
//! use bytes::BytesMut;
//! use jute_codec::{
//!     decode_reply, decode_request, ClientRequest, ErrorCode, FrameCodec, GetDataRequest,
//!     GetDataResponse, OpCode, Reply, ReplyHeader, Request, RequestHeader, Response, Stat,
//! };
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = FrameCodec::default();
//!
//! // The client encodes a request frame ...
//! let request = ClientRequest {
//!     header: RequestHeader { xid: 1, op: OpCode::GetData },
//!     request: Request::GetData(GetDataRequest { path: "/app".into(), watch: true }),
//! };
//! let mut wire = BytesMut::new();
//! codec.encode(&request, &mut wire).unwrap();
//!
//! // ... the server reads one frame and decodes it.
//! let frame = codec.decode(&mut wire).unwrap().unwrap();
//! let (header, decoded) = decode_request(&frame).unwrap();
//! assert_eq!(decoded, request.request);
//!
//! // The server answers with the data and the node's Stat ...
//! let reply = Reply {
//!     header: ReplyHeader { xid: header.xid, zxid: 42, err: ErrorCode::Ok },
//!     response: Response::GetData(GetDataResponse {
//!         data: Some(b"hello".to_vec()),
//!         stat: Stat { czxid: 42, mzxid: 42, data_length: 5, pzxid: 42, ..Stat::default() },
//!     }),
//! };
//! let mut wire = BytesMut::new();
//! codec.encode(&reply, &mut wire).unwrap();
//!
//! // ... and the client decodes it, knowing xid 1 was a getData.
//! let frame = codec.decode(&mut wire).unwrap().unwrap();
//! let (reply_header, response) = decode_reply(&frame, |_xid| OpCode::GetData).unwrap();
//! assert_eq!(reply_header.zxid, 42);
//! match response {
//!     Response::GetData(r) => assert_eq!(r.data.as_deref(), Some(&b"hello"[..])),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
#![deny(missing_docs)]

pub mod codes;
pub mod error;
pub mod frame;
pub mod jute;
pub mod multi;
pub mod records;
pub mod request;
pub mod requests;
pub mod response;
pub mod responses;

#[cfg(test)]
mod proptests;

pub use codes::{
    xid, AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, OpCode, Perms, WatcherType,
};
pub use error::{DecodeError, FrameError};
pub use frame::{
    encode_frame, sniff, ClientRequest, EncodeFrame, FourLetterWord, FrameCodec, Reply, Sniff,
    DEFAULT_MAX_FRAME,
};
pub use jute::{JResult, Jute};
pub use multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
pub use records::{
    Acl, ClientInfo, ConnectRequest, ConnectResponse, CreateSessionTxn, ErrorResponse, Id,
    MultiHeader, ReplyHeader, RequestHeader, Stat, WatcherEvent,
};
pub use request::{decode_request, has_request_form, Request, RequestError};
pub use requests::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteRequest, ExistsRequest, GetAclRequest, GetAllChildrenNumberRequest,
    GetChildren2Request, GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, GetSaslRequest,
    ReconfigRequest, RemoveWatchesRequest, SetAclRequest, SetDataRequest, SetWatches, SetWatches2,
    SyncRequest,
};
pub use response::{decode_reply, Response};
pub use responses::{
    Create2Response, CreateResponse, GetAclResponse, GetAllChildrenNumberResponse,
    GetChildren2Response, GetChildrenResponse, GetDataResponse, GetEphemeralsResponse,
    SetSaslResponse, StatResponse, SyncResponse, WhoAmIResponse,
};
