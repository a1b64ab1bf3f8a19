//! multi (14) and multiRead (22): a sequence of `(MultiHeader, record)` pairs closed by the
//! terminator `{-1, true, -1}` in both directions (`protocol.md` §6.4).
//!
//! Decoding follows ZooKeeper's `MultiOperationRecord`: an unknown sub-op type is an error, and
//! so is a request that mixes read sub-ops (getData, getChildren) with write sub-ops. Whether a
//! write multi arrived as opcode 14 and a read one as 22 is the server's check, not the codec's.

use bytes::BytesMut;

use crate::codes::{ErrorCode, OpCode};
use crate::error::DecodeError;
use crate::jute::{JResult, Jute};
use crate::records::{MultiHeader, Stat};
use crate::requests::{
    CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, GetChildrenRequest,
    GetDataRequest, SetDataRequest,
};
use crate::responses::{Create2Response, CreateResponse, GetChildrenResponse, GetDataResponse};

/// One sub-op of a multi or multiRead, tagged with the type it had on the wire.
///
/// Inside a multi the effective create mode comes from the flags, not the sub-op type
/// (`protocol.md` §6.4); the variants keep the wire type so a request re-encodes exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MultiOp {
    /// Sub-op type 1.
    Create(CreateRequest),
    /// Sub-op type 15.
    Create2(CreateRequest),
    /// Sub-op type 19.
    CreateContainer(CreateRequest),
    /// Sub-op type 21.
    CreateTtl(CreateTtlRequest),
    /// Sub-op type 2.
    Delete(DeleteRequest),
    /// Sub-op type 5.
    SetData(SetDataRequest),
    /// Sub-op type 13.
    Check(CheckVersionRequest),
    /// Sub-op type 4 (multiRead only; the watch flag is ignored).
    GetData(GetDataRequest),
    /// Sub-op type 8 (multiRead only; the watch flag is ignored).
    GetChildren(GetChildrenRequest),
}

impl MultiOp {
    /// The sub-op type written in its header.
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }

    /// True for the sub-ops a multiRead may hold.
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }

    /// The node the sub-op is about.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => &r.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetData(r) => &r.path,
            MultiOp::GetChildren(r) => &r.path,
        }
    }

    fn encode_record(&self, buf: &mut BytesMut) {
        match self {
            MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => r.encode(buf),
            MultiOp::CreateTtl(r) => r.encode(buf),
            MultiOp::Delete(r) => r.encode(buf),
            MultiOp::SetData(r) => r.encode(buf),
            MultiOp::Check(r) => r.encode(buf),
            MultiOp::GetData(r) => r.encode(buf),
            MultiOp::GetChildren(r) => r.encode(buf),
        }
    }

    fn decode_record(op: OpCode, input: &[u8]) -> JResult<'_, MultiOp> {
        fn wrap<T: Jute>(input: &[u8], f: fn(T) -> MultiOp) -> JResult<'_, MultiOp> {
            let (rest, record) = T::decode(input)?;
            Ok((rest, f(record)))
        }
        match op {
            OpCode::Create => wrap(input, MultiOp::Create),
            OpCode::Create2 => wrap(input, MultiOp::Create2),
            OpCode::CreateContainer => wrap(input, MultiOp::CreateContainer),
            OpCode::CreateTtl => wrap(input, MultiOp::CreateTtl),
            OpCode::Delete => wrap(input, MultiOp::Delete),
            OpCode::SetData => wrap(input, MultiOp::SetData),
            OpCode::Check => wrap(input, MultiOp::Check),
            OpCode::GetData => wrap(input, MultiOp::GetData),
            OpCode::GetChildren => wrap(input, MultiOp::GetChildren),
            other => Err(nom::Err::Failure(DecodeError::InvalidMultiOp(
                other.as_i32(),
            ))),
        }
    }
}

/// The body of a multi (14) or multiRead (22) request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MultiRequest {
    /// The sub-ops, in order; either all writes or all reads.
    pub ops: Vec<MultiOp>,
}

impl MultiRequest {
    /// True if every sub-op is a read (an empty multi counts as a write: it takes a zxid).
    pub fn is_read(&self) -> bool {
        !self.ops.is_empty() && self.ops.iter().all(MultiOp::is_read)
    }
}

impl Jute for MultiRequest {
    const MIN_LEN: usize = MultiHeader::MIN_LEN;

    fn encode(&self, buf: &mut BytesMut) {
        for op in &self.ops {
            // Both reference clients put err −1 in each sub-op header.
            MultiHeader {
                op_type: op.op_code(),
                done: false,
                err: ErrorCode::SystemError,
            }
            .encode(buf);
            op.encode_record(buf);
        }
        MultiHeader::TERMINATOR.encode(buf);
    }

    /// A sub-op with a null path (every sub-op record starts with its path) fails the whole
    /// multi with [`DecodeError::NullPathInMulti`], but only once the rest decoded: a later
    /// malformed sub-op is the plainer error, as in ZooKeeper.
    fn decode(mut input: &[u8]) -> JResult<'_, Self> {
        let mut ops = Vec::new();
        let mut kind: Option<bool> = None;
        let mut before_null: Option<usize> = None;
        loop {
            let (rest, header) = MultiHeader::decode(input)?;
            if header.done {
                if let Some(n) = before_null {
                    ops.truncate(n);
                    return Err(nom::Err::Failure(DecodeError::NullPathInMulti(Box::new(
                        MultiRequest { ops },
                    ))));
                }
                return Ok((rest, MultiRequest { ops }));
            }
            if before_null.is_none() && rest.get(..4) == Some(&[0xff; 4][..]) {
                before_null = Some(ops.len());
            }
            let (rest, op) = MultiOp::decode_record(header.op_type, rest)?;
            match kind {
                None => kind = Some(op.is_read()),
                Some(is_read) if is_read != op.is_read() => {
                    return Err(nom::Err::Failure(DecodeError::MixedMultiOps))
                }
                Some(_) => {}
            }
            ops.push(op);
            input = rest;
        }
    }
}

/// One result of a multi or multiRead, tagged with its result type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MultiResult {
    /// Type 1: a plain create (sub-op 1 or 15).
    Create(CreateResponse),
    /// Type 15: a container or TTL create, with its Stat.
    Create2(Create2Response),
    /// Type 2.
    Delete,
    /// Type 5: the node's new Stat.
    SetData(Stat),
    /// Type 13.
    Check,
    /// Type 4 (multiRead).
    GetData(GetDataResponse),
    /// Type 8 (multiRead).
    GetChildren(GetChildrenResponse),
    /// Type −1: this op failed, or was rolled back (`Ok`), or came after the failure
    /// (`RuntimeInconsistency`).
    Error(ErrorCode),
}

impl MultiResult {
    fn header(&self) -> MultiHeader {
        let (op_type, err) = match self {
            MultiResult::Create(_) => (OpCode::Create, ErrorCode::Ok),
            MultiResult::Create2(_) => (OpCode::Create2, ErrorCode::Ok),
            MultiResult::Delete => (OpCode::Delete, ErrorCode::Ok),
            MultiResult::SetData(_) => (OpCode::SetData, ErrorCode::Ok),
            MultiResult::Check => (OpCode::Check, ErrorCode::Ok),
            MultiResult::GetData(_) => (OpCode::GetData, ErrorCode::Ok),
            MultiResult::GetChildren(_) => (OpCode::GetChildren, ErrorCode::Ok),
            MultiResult::Error(code) => (OpCode::Error, *code),
        };
        MultiHeader {
            op_type,
            done: false,
            err,
        }
    }
}

/// The body of a multi or multiRead reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MultiResponse {
    /// One result per sub-op.
    pub results: Vec<MultiResult>,
}

impl Jute for MultiResponse {
    const MIN_LEN: usize = MultiHeader::MIN_LEN;

    fn encode(&self, buf: &mut BytesMut) {
        for result in &self.results {
            result.header().encode(buf);
            match result {
                MultiResult::Create(r) => r.encode(buf),
                MultiResult::Create2(r) => r.encode(buf),
                MultiResult::SetData(stat) => stat.encode(buf),
                MultiResult::GetData(r) => r.encode(buf),
                MultiResult::GetChildren(r) => r.encode(buf),
                MultiResult::Error(code) => code.encode(buf),
                MultiResult::Delete | MultiResult::Check => {}
            }
        }
        MultiHeader::TERMINATOR.encode(buf);
    }

    fn decode(mut input: &[u8]) -> JResult<'_, Self> {
        fn wrap<T: Jute>(input: &[u8], f: fn(T) -> MultiResult) -> JResult<'_, MultiResult> {
            let (rest, record) = T::decode(input)?;
            Ok((rest, f(record)))
        }
        let mut results = Vec::new();
        loop {
            let (rest, header) = MultiHeader::decode(input)?;
            if header.done {
                return Ok((rest, MultiResponse { results }));
            }
            let (rest, result) = match header.op_type {
                OpCode::Create => wrap(rest, MultiResult::Create)?,
                OpCode::Create2 => wrap(rest, MultiResult::Create2)?,
                OpCode::Delete => (rest, MultiResult::Delete),
                OpCode::SetData => wrap(rest, MultiResult::SetData)?,
                OpCode::Check => (rest, MultiResult::Check),
                OpCode::GetData => wrap(rest, MultiResult::GetData)?,
                OpCode::GetChildren => wrap(rest, MultiResult::GetChildren)?,
                // The body's code is the one clients read (`MultiResponse.deserialize`).
                OpCode::Error => wrap(rest, MultiResult::Error)?,
                other => {
                    return Err(nom::Err::Failure(DecodeError::InvalidMultiOp(
                        other.as_i32(),
                    )))
                }
            };
            results.push(result);
            input = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A multi request of all writes or all reads, as `decode` accepts.
    pub(crate) fn arb_multi_request() -> impl Strategy<Value = MultiRequest> {
        let write = any::<MultiOp>().prop_filter("write sub-op", |op| !op.is_read());
        let read = prop_oneof![
            any::<GetDataRequest>().prop_map(MultiOp::GetData),
            any::<GetChildrenRequest>().prop_map(MultiOp::GetChildren),
        ];
        prop_oneof![
            proptest::collection::vec(write, 0..6),
            proptest::collection::vec(read, 0..6),
        ]
        .prop_map(|ops| MultiRequest { ops })
    }

    impl Arbitrary for MultiRequest {
        type Parameters = ();
        type Strategy = BoxedStrategy<Self>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            arb_multi_request().boxed()
        }
    }

    #[test]
    fn mixed_read_and_write_is_refused() {
        let mut buf = BytesMut::new();
        MultiHeader {
            op_type: OpCode::GetData,
            done: false,
            err: ErrorCode::SystemError,
        }
        .encode(&mut buf);
        GetDataRequest::default().encode(&mut buf);
        MultiHeader {
            op_type: OpCode::Delete,
            done: false,
            err: ErrorCode::SystemError,
        }
        .encode(&mut buf);
        DeleteRequest::default().encode(&mut buf);
        MultiHeader::TERMINATOR.encode(&mut buf);
        assert_eq!(
            MultiRequest::from_bytes(&buf),
            Err(DecodeError::MixedMultiOps)
        );
    }

    #[test]
    fn unknown_sub_op_is_refused() {
        let mut buf = BytesMut::new();
        MultiHeader {
            op_type: OpCode::SetAcl,
            done: false,
            err: ErrorCode::SystemError,
        }
        .encode(&mut buf);
        assert_eq!(
            MultiRequest::from_bytes(&buf),
            Err(DecodeError::InvalidMultiOp(7))
        );
    }

    #[test]
    fn missing_terminator_is_an_error() {
        let mut buf = BytesMut::new();
        MultiHeader {
            op_type: OpCode::Check,
            done: false,
            err: ErrorCode::SystemError,
        }
        .encode(&mut buf);
        CheckVersionRequest::default().encode(&mut buf);
        assert!(matches!(
            MultiRequest::from_bytes(&buf),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn empty_multi_is_just_the_terminator() {
        let bytes = MultiRequest::default().to_bytes();
        assert_eq!(bytes.as_ref(), MultiHeader::TERMINATOR.to_bytes().as_ref());
        assert!(!MultiRequest::default().is_read());
    }

    #[test]
    fn a_hundred_thousand_ops_decode_without_recursion() {
        let ops = vec![
            MultiOp::Check(CheckVersionRequest {
                path: "/a".into(),
                version: -1
            });
            100_000
        ];
        let req = MultiRequest { ops };
        let bytes = req.to_bytes();
        assert_eq!(MultiRequest::from_bytes(&bytes), Ok(req));
    }
}
