//! The crate's two error types: [`DecodeError`] for a record that cannot be read, and
//! [`FrameError`] for a length prefix that ends the connection.
//!
//! A ZooKeeper error *code* (NoNode, BadVersion, …) is not an error here: it is data, carried by
//! [`crate::ErrorCode`] in a reply.

use nom::error::{ErrorKind, ParseError};

/// Why bytes could not be decoded into a Jute record.
///
/// Every variant is reachable from untrusted input; none of them is a bug. A server answers a
/// body that fails to decode with `MarshallingError` (−5), as ZooKeeper does (`protocol.md` §1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a fixed-size field or a header.
    #[error("record ends early: {remaining} byte(s) left where more were needed")]
    UnexpectedEnd {
        /// Bytes that were left when the field started.
        remaining: usize,
    },
    /// A buffer or string length below −1 (−1 is null).
    #[error("negative length {0}")]
    NegativeLength(i32),
    /// A buffer, string or vector claims more bytes than the input has left.
    #[error("length {claimed} is beyond the {remaining} byte(s) left")]
    LengthBeyondInput {
        /// Bytes the length prefix asks for (for a vector: the least its elements could take).
        claimed: u64,
        /// Bytes left after the length prefix.
        remaining: usize,
    },
    /// A multi or multiRead sub-op whose type is not create, create2, createContainer, createTTL,
    /// delete, setData, check, getData or getChildren.
    #[error("invalid multi sub-op type {0}")]
    InvalidMultiOp(i32),
    /// A multi or multiRead that mixes read sub-ops (getData, getChildren) with write sub-ops;
    /// ZooKeeper refuses to decode it.
    #[error("multi mixes read and write sub-ops")]
    MixedMultiOps,
    /// A null string (length −1) where ZooKeeper dereferences a path: its processors fail on
    /// the Java `null` and answer MarshallingError (checked against 3.8.0: create, delete,
    /// exists, getData, getACL, getChildren(2), checkWatches, getAllChildrenNumber).
    /// Carries the request as read with the null path as empty, since a create's earlier
    /// checks (flags, TTL) come first there.
    #[error("null path")]
    NullPath(Box<crate::request::Request>),
    /// A setWatches or setWatches2 whose lists hold a null path or are null: ZooKeeper 3.8.0
    /// sets (and fires) the watches listed before it, then answers MarshallingError. Carries
    /// those lists, cut at the null.
    #[error("null path in setWatches")]
    NullInSetWatches(Box<crate::requests::SetWatches2>),
    /// A multi or multiRead that decodes but has a sub-op with a null path: ZooKeeper 3.8.0
    /// answers MarshallingError; a multi's body is empty (nothing logged, no zxid taken), a
    /// multiRead's holds the results of the sub-ops before the null one. Carries those.
    #[error("null path in a multi sub-op")]
    NullPathInMulti(Box<crate::multi::MultiRequest>),
    /// A frame too short to hold the 8-byte request header.
    #[error("frame of {0} byte(s) is shorter than a request header")]
    ShortHeader(usize),
    /// A parser error that none of the variants above describes.
    #[error("malformed record ({0:?})")]
    Malformed(ErrorKind),
}

impl ParseError<&[u8]> for DecodeError {
    fn from_error_kind(input: &[u8], kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Eof | ErrorKind::Complete => DecodeError::UnexpectedEnd {
                remaining: input.len(),
            },
            other => DecodeError::Malformed(other),
        }
    }

    fn append(_input: &[u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

impl From<nom::Err<DecodeError>> for DecodeError {
    fn from(err: nom::Err<DecodeError>) -> Self {
        match err {
            nom::Err::Error(e) | nom::Err::Failure(e) => e,
            // Every parser here is a `complete` parser over a whole frame.
            nom::Err::Incomplete(_) => DecodeError::UnexpectedEnd { remaining: 0 },
        }
    }
}

/// Why a length-prefixed frame cannot be read; the connection must be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is negative or above the configured maximum (`jute.maxbuffer`).
    /// ZooKeeper logs "Len error" and closes the socket with no reply (`setdata_oversize_2mb`).
    #[error("frame length {len} is outside 0..={max}")]
    BadLength {
        /// The advertised length.
        len: i64,
        /// The largest accepted length.
        max: usize,
    },
    /// An outgoing frame is larger than the peer accepts (the Java client drops the
    /// connection on a reply over its own `jute.maxbuffer`).
    #[error("outgoing frame of {len} bytes is over the maximum {max}")]
    TooLargeToSend {
        /// The frame's body length.
        len: usize,
        /// The largest allowed length.
        max: usize,
    },
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
