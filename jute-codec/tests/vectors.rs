//! Golden vectors: every frame a real ZooKeeper 3.8.0 and its clients exchanged
//! (`tests/vectors/zk-3.8.0.jsonl`, copied from `shared/vectors`) must decode, re-encode byte
//! for byte, and decode to the field values the capture's independent decoder recorded. Every
//! `varying_ranges` span must land on the field it names. No entry may be skipped.

// A panic in a test helper is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use bytes::BytesMut;
use jute_codec::*;
use serde_json::{json, Map, Value};
use tokio_util::codec::Decoder;

/// The captured vectors. The crate's directory is read when the test runs (cargo sets it), not
/// when it was compiled: a build cache shared between clones at other paths reuses test
/// binaries whose compile-time path is another clone's.
fn vectors() -> std::path::PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    dir.join("tests/vectors/zk-3.8.0.jsonl")
}

/// Per-kind counts of frames checked, printed at the end.
#[derive(Default)]
struct Tally {
    frames: BTreeMap<&'static str, usize>,
    fields: usize,
    ranges: usize,
}

impl Tally {
    fn frame(&mut self, what: &'static str) {
        *self.frames.entry(what).or_default() += 1;
    }
}

#[test]
fn every_captured_frame_round_trips_byte_exact() {
    let text = std::fs::read_to_string(vectors()).expect("vectors file");
    let mut tally = Tally::default();
    let mut entries = 0;
    // op of each (connection, xid), for decoding replies the way a client would.
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).expect("json line");
        let name = entry["name"].as_str().expect("name").to_string();
        entries += 1;
        let kind = entry["kind"].as_str().expect("kind");
        match kind {
            "handshake" => check_handshake(&name, &entry, &mut tally),
            "request" => check_exchange(&name, &entry, &mut tally),
            "notification" => check_notification(&name, &entry, &mut tally),
            "fourlw" => check_four_letter_word(&name, &entry, &mut tally),
            other => panic!("{name}: unknown kind {other}: the test would skip it"),
        }
    }
    let total: usize = tally.frames.values().sum();
    println!(
        "golden vectors: {entries} entries, {total} frames checked byte-exact {:?}, \
         {} decoded fields compared, {} varying ranges located",
        tally.frames, tally.fields, tally.ranges
    );
    assert_eq!(entries, 122, "the capture has 122 named exchanges");
}

fn check_handshake(name: &str, entry: &Value, tally: &mut Tally) {
    let request = frame_bytes(&entry["connect_request_hex"]).expect("connect request");
    let body = single_frame(name, &request);
    let decoded = ConnectRequest::from_bytes(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(reencode(&decoded), request, "{name}: ConnectRequest bytes");
    compare(
        name,
        &entry["decoded"]["connect_request"],
        &connect_request_json(&decoded),
        tally,
    );
    check_ranges(
        name,
        &entry["varying_ranges"]["connect_request"],
        &request,
        &connect_request_json(&decoded),
        tally,
    );
    tally.frame("connect_request");

    match frame_bytes(&entry["connect_response_hex"]) {
        None => {
            // connect_zxid_ahead_refused: the server closed without a ConnectResponse.
            assert_eq!(entry["server_closed_connection"], json!(true), "{name}");
        }
        Some(response) => {
            let body = single_frame(name, &response);
            let decoded =
                ConnectResponse::from_bytes(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                reencode(&decoded),
                response,
                "{name}: ConnectResponse bytes"
            );
            let rendered = connect_response_json(&decoded);
            compare(
                name,
                &entry["decoded"]["connect_response"],
                &rendered,
                tally,
            );
            check_ranges(
                name,
                &entry["varying_ranges"]["connect_response"],
                &response,
                &rendered,
                tally,
            );
            tally.frame("connect_response");
        }
    }
}

fn check_exchange(name: &str, entry: &Value, tally: &mut Tally) {
    let request = match frame_bytes(&entry["request_hex"]) {
        Some(bytes) => bytes,
        None => return check_oversize(name, entry, tally),
    };
    let body = single_frame(name, &request);
    let (header, decoded) = decode_request(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        header.op.as_i32(),
        entry["opcode"].as_i64().expect("opcode") as i32,
        "{name}: opcode"
    );
    let frame = ClientRequest {
        header,
        request: decoded,
    };
    assert_eq!(reencode(&frame), request, "{name}: request bytes");
    let rendered = json!({ "header": request_header_json(&frame.header),
                           "body": request_json(&frame.request) });
    compare(name, &entry["decoded"]["request"], &rendered, tally);
    check_ranges(
        name,
        &entry["varying_ranges"]["request"],
        &request,
        &rendered["body"],
        tally,
    );
    tally.frame("request");

    let Some(response) = frame_bytes(&entry["response_hex"]) else {
        panic!("{name}: a request entry without a reply must be the oversize one");
    };
    let body = single_frame(name, &response);
    let (reply_header, decoded) =
        decode_reply(&body, |_| frame.header.op).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        reply_header.xid, frame.header.xid,
        "{name}: reply xid echoes the request"
    );
    let reply = Reply {
        header: reply_header,
        response: decoded,
    };
    assert_eq!(reencode(&reply), response, "{name}: reply bytes");
    let rendered = json!({ "header": reply_header_json(&reply.header),
                           "body": response_json(&reply.response) });
    compare(name, &entry["decoded"]["response"], &rendered, tally);
    check_ranges(
        name,
        &entry["varying_ranges"]["response"],
        &response,
        &rendered,
        tally,
    );
    tally.frame("reply");
}

/// `setdata_oversize_2mb`: the 2 MiB frame is refused from its length prefix alone with the
/// default maximum; with a larger maximum it still decodes and re-encodes exactly.
fn check_oversize(name: &str, entry: &Value, tally: &mut Tally) {
    let recipe = &entry["request_reconstruct"];
    assert!(
        recipe.is_object(),
        "{name}: no request bytes and no reconstruction"
    );
    let mut frame = hex(recipe["prefix_hex"].as_str().expect("prefix"));
    let fill = hex(recipe["fill_byte_hex"].as_str().expect("fill"))[0];
    frame.extend(std::iter::repeat_n(
        fill,
        recipe["fill_count"].as_u64().expect("count") as usize,
    ));
    frame.extend(hex(recipe["suffix_hex"].as_str().expect("suffix")));
    assert_eq!(
        frame.len() as u64,
        recipe["total_len"].as_u64().expect("len")
    );

    let mut buf = BytesMut::from(&frame[..4]);
    match FrameCodec::default().decode(&mut buf) {
        Err(FrameError::BadLength { len, max }) => {
            assert_eq!(len, frame.len() as i64 - 4);
            assert_eq!(max, 1_048_575);
        }
        other => panic!("{name}: oversize prefix not refused: {other:?}"),
    }
    assert!(entry["response_hex"].is_null());
    assert_eq!(entry["server_closed_connection"], json!(true));

    let mut buf = BytesMut::from(&frame[..]);
    let body = FrameCodec::new(4 << 20).decode(&mut buf).unwrap().unwrap();
    let (header, request) = decode_request(&body).unwrap();
    let Request::SetData(set) = &request else {
        panic!("{name}: not a setData")
    };
    assert_eq!(header.xid, 47);
    assert_eq!(set.path, "/vec/big");
    assert_eq!(set.version, -1);
    assert!(set.data.as_ref().unwrap().iter().all(|b| *b == fill));
    assert_eq!(set.data.as_ref().unwrap().len(), 2 << 20);
    let mut out = BytesMut::new();
    encode_frame(&ClientRequest { header, request }, &mut out, 4 << 20).unwrap();
    assert_eq!(&out[..], &frame[..], "{name}: oversize request bytes");
    tally.frame("request");
}

fn check_notification(name: &str, entry: &Value, tally: &mut Tally) {
    let bytes = frame_bytes(&entry["response_hex"]).expect("notification bytes");
    let body = single_frame(name, &bytes);
    let (header, response) = decode_reply(&body, |xid| panic!("{name}: xid {xid} is not -1"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(header.xid, xid::NOTIFICATION);
    assert_eq!(header.zxid, -1, "{name}: 3.8 notifications carry zxid -1");
    assert!(matches!(response, Response::Notification(_)), "{name}");
    let reply = Reply { header, response };
    assert_eq!(reencode(&reply), bytes, "{name}: notification bytes");
    let rendered = json!({ "header": reply_header_json(&reply.header),
                           "body": response_json(&reply.response) });
    compare(name, &entry["decoded"]["response"], &rendered, tally);
    tally.frame("notification");
}

fn check_four_letter_word(name: &str, entry: &Value, tally: &mut Tally) {
    let request = hex(entry["request_raw_hex"].as_str().expect("raw request"));
    assert_eq!(
        sniff(&request),
        Sniff::FourLetterWord(FourLetterWord::Ruok),
        "{name}"
    );
    let reply = hex(entry["response_raw_hex"].as_str().expect("raw reply"));
    assert_eq!(reply, b"imok", "{name}: ruok answers imok with no newline");
    assert_eq!(entry["server_closed_connection"], json!(true));
    tally.frame("four_letter_word");
}

// ---- helpers -------------------------------------------------------------------------------

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn frame_bytes(value: &Value) -> Option<Vec<u8>> {
    value.as_str().map(hex)
}

/// The body of a capture that must be exactly one frame with nothing after it.
fn single_frame(name: &str, bytes: &[u8]) -> BytesMut {
    let mut buf = BytesMut::from(bytes);
    let body = FrameCodec::default()
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("{name}: frame error {e}"))
        .unwrap_or_else(|| panic!("{name}: incomplete frame"));
    assert!(buf.is_empty(), "{name}: bytes after the frame");
    body
}

fn reencode(item: &impl EncodeFrame) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(item, &mut out, usize::MAX).expect("encode");
    out.to_vec()
}

/// Every field the capture's decoder named must be present in ours with the same value;
/// `*_name` fields are labels derived from numbers that are compared themselves.
fn compare(name: &str, expected: &Value, ours: &Value, tally: &mut Tally) {
    compare_at(name, "", expected, ours, tally);
}

fn compare_at(name: &str, at: &str, expected: &Value, ours: &Value, tally: &mut Tally) {
    match (expected, ours) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                if key.ends_with("_name") {
                    continue;
                }
                let Some(mine) = have.get(key) else {
                    panic!("{name}: field {at}.{key} not decoded (have {have:?})");
                };
                compare_at(name, &format!("{at}.{key}"), value, mine, tally);
            }
        }
        (Value::Array(want), Value::Array(have)) => {
            assert_eq!(want.len(), have.len(), "{name}: length of {at}");
            for (i, (w, h)) in want.iter().zip(have).enumerate() {
                compare_at(name, &format!("{at}[{i}]"), w, h, tally);
            }
        }
        _ => {
            assert_eq!(expected, ours, "{name}: field {at}");
            tally.fields += 1;
        }
    }
}

/// Each `[offset, len, "dotted.field"]` span of the full frame must hold the value we decoded
/// for that field: this pins every varying field to the right bytes.
fn check_ranges(name: &str, ranges: &Value, frame: &[u8], rendered: &Value, tally: &mut Tally) {
    let Some(ranges) = ranges.as_array() else {
        return;
    };
    for range in ranges {
        let offset = range[0].as_u64().expect("offset") as usize;
        let len = range[1].as_u64().expect("len") as usize;
        let field = range[2].as_str().expect("field");
        let bytes = &frame[offset..offset + len];
        let value = lookup(rendered, field)
            .unwrap_or_else(|| panic!("{name}: varying field {field} not in {rendered}"));
        let from_bytes = match (len, value) {
            (8, Value::Number(_)) => json!(i64::from_be_bytes(bytes.try_into().unwrap())),
            (4, Value::Number(_)) => json!(i32::from_be_bytes(bytes.try_into().unwrap())),
            (_, Value::String(_)) => json!(to_hex(bytes)),
            other => panic!("{name}: cannot read {field} as {other:?}"),
        };
        assert_eq!(&from_bytes, value, "{name}: span of {field}");
        tally.ranges += 1;
    }
}

/// Resolves `stat.czxid`, `zxid` (a reply header field) or `result[1].stat.mzxid` (a multi
/// result) in a rendered frame.
fn lookup<'a>(rendered: &'a Value, field: &str) -> Option<&'a Value> {
    if field == "zxid" {
        return rendered.get("header")?.get("zxid");
    }
    let mut node = rendered.get("body").unwrap_or(rendered);
    for part in field.split('.') {
        if let Some(index) = part.strip_prefix("result[") {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            node = node.get("results")?.get(i)?.get("result")?;
        } else {
            node = node.get(part)?;
        }
    }
    Some(node)
}

// ---- rendering in the capture's schema (`decoded` objects, zookeeper.jute field names) ----

trait ToJson {
    fn to_json(&self) -> Value;
}

impl ToJson for i32 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}
impl ToJson for i64 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}
impl ToJson for bool {
    fn to_json(&self) -> Value {
        json!(self)
    }
}
impl ToJson for String {
    fn to_json(&self) -> Value {
        json!(self)
    }
}
impl ToJson for Option<String> {
    fn to_json(&self) -> Value {
        json!(self)
    }
}
impl ToJson for Vec<u8> {
    fn to_json(&self) -> Value {
        json!(to_hex(self))
    }
}
impl ToJson for Option<Vec<u8>> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, |b| json!(to_hex(b)))
    }
}
impl<T: ToJson> ToJson for Vec<T>
where
    T: NotBytes,
{
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}
/// Keeps `Vec<u8>` (a buffer, rendered as hex) apart from vectors of records.
trait NotBytes {}
impl NotBytes for String {}
impl NotBytes for Acl {}
impl NotBytes for ClientInfo {}

macro_rules! wire_enum_json {
    ($($ty:ty),*) => {$(
        impl ToJson for $ty {
            fn to_json(&self) -> Value {
                json!(self.as_i32())
            }
        }
    )*};
}
wire_enum_json!(
    OpCode,
    ErrorCode,
    CreateMode,
    EventType,
    KeeperState,
    WatcherType,
    AddWatchMode
);

impl ToJson for Perms {
    fn to_json(&self) -> Value {
        json!(self.0)
    }
}

/// Renders a record as an object of its fields under the capture's (Java) names.
macro_rules! json_record {
    ($($ty:ty { $($field:ident => $key:literal),* $(,)? })*) => {$(
        impl ToJson for $ty {
            fn to_json(&self) -> Value {
                let mut map = Map::new();
                $( map.insert($key.to_string(), self.$field.to_json()); )*
                Value::Object(map)
            }
        }
    )*};
}

json_record! {
    Stat { czxid => "czxid", mzxid => "mzxid", ctime => "ctime", mtime => "mtime",
           version => "version", cversion => "cversion", aversion => "aversion",
           ephemeral_owner => "ephemeralOwner", data_length => "dataLength",
           num_children => "numChildren", pzxid => "pzxid" }
    ClientInfo { auth_scheme => "authScheme", user => "user" }
    WatcherEvent { event_type => "type", state => "state", path => "path" }
    ErrorResponse { err => "err" }
    MultiHeader { op_type => "type", done => "done", err => "err" }
    CreateRequest { path => "path", data => "data", acl => "acl", flags => "flags" }
    CreateTtlRequest { path => "path", data => "data", acl => "acl", flags => "flags",
                       ttl => "ttl" }
    DeleteRequest { path => "path", version => "version" }
    ExistsRequest { path => "path", watch => "watch" }
    GetDataRequest { path => "path", watch => "watch" }
    SetDataRequest { path => "path", data => "data", version => "version" }
    GetAclRequest { path => "path" }
    SetAclRequest { path => "path", acl => "acl", version => "version" }
    GetChildrenRequest { path => "path", watch => "watch" }
    GetChildren2Request { path => "path", watch => "watch" }
    SyncRequest { path => "path" }
    CheckVersionRequest { path => "path", version => "version" }
    ReconfigRequest { joining_servers => "joiningServers", leaving_servers => "leavingServers",
                      new_members => "newMembers", cur_config_id => "curConfigId" }
    CheckWatchesRequest { path => "path", watcher_type => "type" }
    RemoveWatchesRequest { path => "path", watcher_type => "type" }
    AuthPacket { auth_type => "type", scheme => "scheme", auth => "auth" }
    SetWatches { relative_zxid => "relativeZxid", data_watches => "dataWatches",
                 exist_watches => "existWatches", child_watches => "childWatches" }
    SetWatches2 { relative_zxid => "relativeZxid", data_watches => "dataWatches",
                  exist_watches => "existWatches", child_watches => "childWatches",
                  persistent_watches => "persistentWatches",
                  persistent_recursive_watches => "persistentRecursiveWatches" }
    GetSaslRequest { token => "token" }
    GetEphemeralsRequest { prefix_path => "prefixPath" }
    GetAllChildrenNumberRequest { path => "path" }
    AddWatchRequest { path => "path", mode => "mode" }
    CreateResponse { path => "path" }
    Create2Response { path => "path", stat => "stat" }
    StatResponse { stat => "stat" }
    GetDataResponse { data => "data", stat => "stat" }
    GetAclResponse { acl => "acl", stat => "stat" }
    GetChildrenResponse { children => "children" }
    GetChildren2Response { children => "children", stat => "stat" }
    SyncResponse { path => "path" }
    SetSaslResponse { token => "token" }
    GetEphemeralsResponse { ephemerals => "ephemerals" }
    GetAllChildrenNumberResponse { total_number => "totalNumber" }
    WhoAmIResponse { client_info => "clientInfo" }
}

/// The capture flattens an ACL's Id into it.
impl ToJson for Acl {
    fn to_json(&self) -> Value {
        json!({ "perms": self.perms.0, "scheme": self.id.scheme, "id": self.id.id })
    }
}

fn request_header_json(h: &RequestHeader) -> Value {
    json!({ "xid": h.xid, "type": h.op.as_i32() })
}

fn reply_header_json(h: &ReplyHeader) -> Value {
    json!({ "xid": h.xid, "zxid": h.zxid, "err": h.err.as_i32() })
}

fn read_only_json(read_only: Option<bool>) -> Value {
    read_only.map_or(json!("(absent)"), |b| json!(b))
}

fn connect_request_json(r: &ConnectRequest) -> Value {
    json!({ "protocolVersion": r.protocol_version, "lastZxidSeen": r.last_zxid_seen,
            "timeOut": r.time_out, "sessionId": r.session_id, "passwd": to_hex(&r.passwd),
            "readOnly": read_only_json(r.read_only) })
}

fn connect_response_json(r: &ConnectResponse) -> Value {
    json!({ "protocolVersion": r.protocol_version, "timeOut": r.time_out,
            "sessionId": r.session_id, "passwd": to_hex(&r.passwd),
            "readOnly": read_only_json(r.read_only) })
}

fn terminator_json() -> Value {
    json!({ "header": MultiHeader::TERMINATOR.to_json() })
}

fn multi_request_json(m: &MultiRequest) -> Value {
    let mut ops: Vec<Value> = m
        .ops
        .iter()
        .map(|op| {
            let record = match op {
                MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
                    r.to_json()
                }
                MultiOp::CreateTtl(r) => r.to_json(),
                MultiOp::Delete(r) => r.to_json(),
                MultiOp::SetData(r) => r.to_json(),
                MultiOp::Check(r) => r.to_json(),
                MultiOp::GetData(r) => r.to_json(),
                MultiOp::GetChildren(r) => r.to_json(),
            };
            json!({ "header": { "type": op.op_code().as_i32(), "done": false, "err": -1 },
                    "op": record })
        })
        .collect();
    ops.push(terminator_json());
    json!({ "ops": ops })
}

fn multi_response_json(m: &MultiResponse) -> Value {
    let mut results: Vec<Value> = m
        .results
        .iter()
        .map(|r| {
            let (op_type, err, body) = match r {
                MultiResult::Create(c) => (1, 0, c.to_json()),
                MultiResult::Create2(c) => (15, 0, c.to_json()),
                MultiResult::Delete => (2, 0, json!({})),
                MultiResult::SetData(stat) => (5, 0, json!({ "stat": stat.to_json() })),
                MultiResult::Check => (13, 0, json!({})),
                MultiResult::GetData(d) => (4, 0, d.to_json()),
                MultiResult::GetChildren(c) => (8, 0, c.to_json()),
                MultiResult::Error(code) => (-1, code.as_i32(), json!({ "err": code.as_i32() })),
            };
            json!({ "header": { "type": op_type, "done": false, "err": err }, "result": body })
        })
        .collect();
    results.push(terminator_json());
    json!({ "results": results })
}

fn request_json(r: &Request) -> Value {
    match r {
        Request::Create(x) | Request::Create2(x) | Request::CreateContainer(x) => x.to_json(),
        Request::Delete(x) => x.to_json(),
        Request::Exists(x) => x.to_json(),
        Request::GetData(x) => x.to_json(),
        Request::SetData(x) => x.to_json(),
        Request::GetAcl(x) => x.to_json(),
        Request::SetAcl(x) => x.to_json(),
        Request::GetChildren(x) => x.to_json(),
        Request::Sync(x) => x.to_json(),
        Request::GetChildren2(x) => x.to_json(),
        Request::Check(x) => x.to_json(),
        Request::Multi(x) | Request::MultiRead(x) => multi_request_json(x),
        Request::Reconfig(x) => x.to_json(),
        Request::CheckWatches(x) => x.to_json(),
        Request::RemoveWatches(x) => x.to_json(),
        Request::CreateTtl(x) => x.to_json(),
        Request::Auth(x) => x.to_json(),
        Request::SetWatches(x) => x.to_json(),
        Request::Sasl(x) => x.to_json(),
        Request::GetEphemerals(x) => x.to_json(),
        Request::GetAllChildrenNumber(x) => x.to_json(),
        Request::SetWatches2(x) => x.to_json(),
        Request::AddWatch(x) => x.to_json(),
        Request::CreateSession(x) => json!({ "timeOut": x.time_out }),
        // The capture's driver sent a length-prefixed path; the server never reads it.
        Request::DeleteContainer(raw) => match String::from_bytes(raw) {
            Ok(path) => json!({ "path": path }),
            Err(_) => json!({ "undecoded": to_hex(raw) }),
        },
        Request::Unknown { body, .. } => json!({ "undecoded": to_hex(body) }),
        Request::Ping | Request::WhoAmI | Request::CloseSession => json!({}),
    }
}

fn response_json(r: &Response) -> Value {
    match r {
        Response::Empty => json!({}),
        Response::Create(x) => x.to_json(),
        Response::Create2(x) => x.to_json(),
        Response::Exists(x) | Response::SetData(x) | Response::SetAcl(x) => x.to_json(),
        Response::GetData(x) | Response::Reconfig(x) => x.to_json(),
        Response::GetAcl(x) => x.to_json(),
        Response::GetChildren(x) => x.to_json(),
        Response::GetChildren2(x) => x.to_json(),
        Response::Sync(x) => x.to_json(),
        Response::Multi(x) => multi_response_json(x),
        Response::AddWatch(x) => x.to_json(),
        Response::Sasl(x) => x.to_json(),
        Response::GetEphemerals(x) => x.to_json(),
        Response::GetAllChildrenNumber(x) => x.to_json(),
        Response::WhoAmI(x) => x.to_json(),
        Response::Notification(x) => x.to_json(),
    }
}
