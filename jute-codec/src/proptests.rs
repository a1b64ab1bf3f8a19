//! Property tests: every record, request and response survives encode → decode unchanged, and
//! arbitrary bytes fed to every decoder give a value or a `DecodeError`, never a panic.

use std::fmt::Debug;

use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

use crate::*;

/// Cases per property. 40 properties × 1024 = about 41k generated cases per `cargo test`.
const CASES: u32 = 1024;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

/// Encodes `value`, decodes it back, and checks that the decoder consumed every byte.
fn round_trip<T: Jute + PartialEq + Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = value.to_bytes();
    let (rest, decoded) = T::decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(rest.is_empty(), "{} byte(s) left over", rest.len());
    prop_assert_eq!(&decoded, value);
    Ok(())
}

macro_rules! record_round_trips {
    ($($test:ident: $ty:ty),* $(,)?) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $test(value in any::<$ty>()) {
                    round_trip(&value)?;
                }
            )*
        }
    };
}

record_round_trips! {
    request_header: RequestHeader,
    reply_header: ReplyHeader,
    connect_request: ConnectRequest,
    connect_response: ConnectResponse,
    id: Id,
    acl: Acl,
    stat: Stat,
    client_info: ClientInfo,
    watcher_event: WatcherEvent,
    error_response: ErrorResponse,
    multi_header: MultiHeader,
    create_session_txn: CreateSessionTxn,
    create_request: CreateRequest,
    create_ttl_request: CreateTtlRequest,
    delete_request: DeleteRequest,
    exists_request: ExistsRequest,
    get_data_request: GetDataRequest,
    set_data_request: SetDataRequest,
    get_acl_request: GetAclRequest,
    set_acl_request: SetAclRequest,
    get_children_request: GetChildrenRequest,
    get_children2_request: GetChildren2Request,
    sync_request: SyncRequest,
    check_version_request: CheckVersionRequest,
    reconfig_request: ReconfigRequest,
    check_watches_request: CheckWatchesRequest,
    remove_watches_request: RemoveWatchesRequest,
    auth_packet: AuthPacket,
    set_watches: SetWatches,
    set_watches2: SetWatches2,
    get_sasl_request: GetSaslRequest,
    get_ephemerals_request: GetEphemeralsRequest,
    get_all_children_number_request: GetAllChildrenNumberRequest,
    add_watch_request: AddWatchRequest,
    multi_request: MultiRequest,
    create_response: CreateResponse,
    create2_response: Create2Response,
    stat_response: StatResponse,
    get_data_response: GetDataResponse,
    get_acl_response: GetAclResponse,
    get_children_response: GetChildrenResponse,
    get_children2_response: GetChildren2Response,
    sync_response: SyncResponse,
    set_sasl_response: SetSaslResponse,
    get_ephemerals_response: GetEphemeralsResponse,
    get_all_children_number_response: GetAllChildrenNumberResponse,
    who_am_i_response: WhoAmIResponse,
    multi_response: MultiResponse,
}

/// The opcode whose reply has the shape of `response`.
fn op_for(response: &Response) -> OpCode {
    match response {
        Response::Empty => OpCode::Delete,
        Response::Create(_) => OpCode::Create,
        Response::Create2(_) => OpCode::Create2,
        Response::Exists(_) => OpCode::Exists,
        Response::GetData(_) => OpCode::GetData,
        Response::SetData(_) => OpCode::SetData,
        Response::GetAcl(_) => OpCode::GetAcl,
        Response::SetAcl(_) => OpCode::SetAcl,
        Response::GetChildren(_) => OpCode::GetChildren,
        Response::GetChildren2(_) => OpCode::GetChildren2,
        Response::Sync(_) => OpCode::Sync,
        Response::Multi(_) => OpCode::Multi,
        Response::Reconfig(_) => OpCode::Reconfig,
        Response::AddWatch(_) => OpCode::AddWatch,
        Response::Sasl(_) => OpCode::Sasl,
        Response::GetEphemerals(_) => OpCode::GetEphemerals,
        Response::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
        Response::WhoAmI(_) => OpCode::WhoAmI,
        Response::Notification(_) => OpCode::Notification,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every Request variant, through a whole frame: FrameCodec, header, body.
    #[test]
    fn request_frames_round_trip(xid in any::<i32>(), request in any::<Request>()) {
        let frame = ClientRequest {
            header: RequestHeader { xid, op: request.op_code() },
            request,
        };
        let mut wire = BytesMut::new();
        encode_frame(&frame, &mut wire, usize::MAX).unwrap();
        let body = FrameCodec::new(usize::MAX).decode(&mut wire).unwrap().unwrap();
        prop_assert!(wire.is_empty());
        let (header, decoded) = decode_request(&body).unwrap();
        prop_assert_eq!(header, frame.header);
        prop_assert_eq!(decoded, frame.request);
    }

    /// Every Response variant, through a whole frame.
    #[test]
    fn reply_frames_round_trip(
        xid in any::<i32>().prop_filter("not a notification", |x| *x != xid::NOTIFICATION),
        zxid in any::<i64>(),
        response in any::<Response>(),
    ) {
        let op = op_for(&response);
        let xid = if op == OpCode::Notification { xid::NOTIFICATION } else { xid };
        let reply = Reply {
            header: ReplyHeader { xid, zxid, err: ErrorCode::Ok },
            response,
        };
        let mut wire = BytesMut::new();
        encode_frame(&reply, &mut wire, usize::MAX).unwrap();
        let body = FrameCodec::new(usize::MAX).decode(&mut wire).unwrap().unwrap();
        let (header, decoded) = decode_reply(&body, |_| op).unwrap();
        prop_assert_eq!(header, reply.header);
        prop_assert_eq!(decoded, reply.response);
    }

    /// Arbitrary bytes as a request frame: a request or an error, never a panic.
    #[test]
    fn request_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(&bytes);
    }

    /// Arbitrary bytes after a valid header of every opcode, so every body decoder is hit.
    #[test]
    fn every_body_decoder_never_panics(
        op in any::<OpCode>(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = Request::decode_body(op, &body);
        let _ = Response::decode_body(op, &body);
        let _ = MultiRequest::from_bytes(&body);
        let _ = MultiResponse::from_bytes(&body);
        let _ = ConnectRequest::from_bytes(&body);
        let _ = ConnectResponse::from_bytes(&body);
    }

    /// Arbitrary byte streams through the frame decoder, in arbitrary chunks: frames, waiting,
    /// or a length error, never a panic, and never a frame over the maximum.
    #[test]
    fn frame_decoder_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..1024),
        chunk in 1usize..64,
        max in 0usize..128,
    ) {
        let mut codec = FrameCodec::new(max);
        let mut buf = BytesMut::new();
        'feed: for piece in bytes.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => prop_assert!(frame.len() <= max),
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }
}
