//! Jute, ZooKeeper's serialisation: the [`Jute`] trait, its primitive implementations, and the
//! `record!` macro that builds a record from its fields in schema order.
//!
//! Encoding (`protocol.md` §2): big-endian `int` (4 bytes) and `long` (8), `boolean` as one byte,
//! `buffer` and `ustring` as an `int` length then the bytes, `vector<T>` as an `int` count then
//! the elements, records as their fields in order with no tag or padding. Length −1 is null.
//!
//! Decoding never trusts a length: it is checked against the bytes left before anything is
//! allocated, so a frame of a few bytes can never ask for gigabytes.

use bytes::{BufMut, BytesMut};
use nom::number::complete::{be_i32, be_i64, be_u8};

use crate::error::DecodeError;

/// The result of a Jute parser: the rest of the input and the value.
pub type JResult<'a, T> = nom::IResult<&'a [u8], T, DecodeError>;

/// A value with a Jute encoding.
///
/// Implemented for the primitives (`i32` = int, `i64` = long, `bool`, `String` = ustring,
/// `Vec<u8>` = buffer, `Vec<T>` = vector) and for every record of the protocol.
pub trait Jute: Sized {
    /// The fewest bytes any encoding of this type takes; bounds vector counts before allocation.
    const MIN_LEN: usize;

    /// Appends the encoding of `self` to `buf`.
    fn encode(&self, buf: &mut BytesMut);

    /// Parses one value from the front of `input`, returning the rest.
    fn decode(input: &[u8]) -> JResult<'_, Self>;

    /// Decodes one value from `input`, ignoring any bytes after it as ZooKeeper's server does
    /// (that is how the optional trailing `readOnly` byte of the handshake works).
    fn from_bytes(input: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(input)
            .map(|(_, v)| v)
            .map_err(DecodeError::from)
    }

    /// Encodes `self` into a new buffer.
    fn to_bytes(&self) -> BytesMut {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf
    }
}

impl Jute for i32 {
    const MIN_LEN: usize = 4;
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_i32(*self);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        be_i32(input)
    }
}

impl Jute for i64 {
    const MIN_LEN: usize = 8;
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_i64(*self);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        be_i64(input)
    }
}

impl Jute for bool {
    const MIN_LEN: usize = 1;
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(u8::from(*self));
    }
    /// Any non-zero byte is true, as Java's `BinaryInputArchive.readBool` reads it.
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, b) = be_u8(input)?;
        Ok((rest, b != 0))
    }
}

/// A `buffer` that may be null: `None` is length −1, distinct from an empty buffer
/// (ZooKeeper keeps null node data as null, `protocol.md` §2).
impl Jute for Option<Vec<u8>> {
    const MIN_LEN: usize = 4;
    fn encode(&self, buf: &mut BytesMut) {
        match self {
            None => buf.put_i32(-1),
            Some(bytes) => put_bytes(buf, bytes),
        }
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, data) = sized(input)?;
        Ok((rest, data.map(<[u8]>::to_vec)))
    }
}

/// A `buffer` where null means empty (passwords, auth data).
impl Jute for Vec<u8> {
    const MIN_LEN: usize = 4;
    fn encode(&self, buf: &mut BytesMut) {
        put_bytes(buf, self);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, data) = <Option<Vec<u8>>>::decode(input)?;
        Ok((rest, data.unwrap_or_default()))
    }
}

/// A `ustring` that may be null (`None` is length −1). kazoo and the Java client send null for
/// unset strings, e.g. an ACL id with scheme `auth` or reconfig's unset server lists.
impl Jute for Option<String> {
    const MIN_LEN: usize = 4;
    fn encode(&self, buf: &mut BytesMut) {
        match self {
            None => buf.put_i32(-1),
            Some(s) => put_bytes(buf, s.as_bytes()),
        }
    }
    /// Invalid UTF-8 becomes U+FFFD, as Java's decoder does; ZooKeeper's path validation then
    /// rejects such a path (`protocol.md` §2).
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, text) = sized(input)?;
        Ok((rest, text.map(|t| String::from_utf8_lossy(t).into_owned())))
    }
}

/// A `ustring` where null reads as the empty string; used for paths and names, where ZooKeeper
/// rejects null and empty alike. Always encoded with its length, never as null.
impl Jute for String {
    const MIN_LEN: usize = 4;
    fn encode(&self, buf: &mut BytesMut) {
        put_bytes(buf, self.as_bytes());
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, s) = <Option<String>>::decode(input)?;
        Ok((rest, s.unwrap_or_default()))
    }
}

/// A `vector<T>`. Count −1 (null) reads as empty; so does any count below −1, exactly as Java's
/// `BinaryInputArchive` reads it (its index is "done" when the count is ≤ 0).
impl<T: Jute> Jute for Vec<T> {
    const MIN_LEN: usize = 4;
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_i32(wire_len(self.len()));
        for item in self {
            item.encode(buf);
        }
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (mut rest, count) = be_i32(input)?;
        let Ok(count) = usize::try_from(count) else {
            return Ok((rest, Vec::new()));
        };
        // Every element takes at least MIN_LEN bytes: refuse a count the input cannot hold
        // before allocating for it.
        let least = (count as u64).saturating_mul(T::MIN_LEN.max(1) as u64);
        if least > rest.len() as u64 {
            return Err(nom::Err::Failure(DecodeError::LengthBeyondInput {
                claimed: least,
                remaining: rest.len(),
            }));
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let (next, item) = T::decode(rest)?;
            items.push(item);
            rest = next;
        }
        Ok((rest, items))
    }
}

/// Reads a length-prefixed byte run (buffer or ustring): `None` for null (−1), else the bytes,
/// which must all be in the input.
fn sized(input: &[u8]) -> JResult<'_, Option<&[u8]>> {
    let (rest, len) = be_i32(input)?;
    if len == -1 {
        return Ok((rest, None));
    }
    let Ok(n) = usize::try_from(len) else {
        return Err(nom::Err::Failure(DecodeError::NegativeLength(len)));
    };
    match rest.split_at_checked(n) {
        Some((bytes, rest)) => Ok((rest, Some(bytes))),
        None => Err(nom::Err::Failure(DecodeError::LengthBeyondInput {
            claimed: n as u64,
            remaining: rest.len(),
        })),
    }
}

fn put_bytes(buf: &mut BytesMut, bytes: &[u8]) {
    buf.put_i32(wire_len(bytes.len()));
    buf.put_slice(bytes);
}

/// A length as Jute's `int`. Nothing this crate encodes comes near 2 GiB (frames are capped far
/// below it); saturating keeps the function total rather than wrapping to a negative length.
pub(crate) fn wire_len(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// Declares a Jute record: a struct whose fields are encoded in the order written, each
/// with its own [`Jute`] implementation.
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $crate::jute::Jute for $name {
            const MIN_LEN: usize = 0 $(+ <$ty as $crate::jute::Jute>::MIN_LEN)*;

            #[allow(unused_variables)]
            fn encode(&self, buf: &mut ::bytes::BytesMut) {
                $( $crate::jute::Jute::encode(&self.$field, buf); )*
            }

            fn decode(input: &[u8]) -> $crate::jute::JResult<'_, Self> {
                $( let (input, $field) = <$ty as $crate::jute::Jute>::decode(input)?; )*
                Ok((input, Self { $($field),* }))
            }
        }
    };
}
pub(crate) use record;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_buffers_are_distinct() {
        assert_eq!(
            None::<Vec<u8>>.to_bytes().as_ref(),
            &[0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(Some(Vec::new()).to_bytes().as_ref(), &[0, 0, 0, 0]);
        assert_eq!(<Option<Vec<u8>>>::from_bytes(&[0xff; 4]), Ok(None));
        assert_eq!(<Option<Vec<u8>>>::from_bytes(&[0; 4]), Ok(Some(Vec::new())));
    }

    #[test]
    fn null_string_reads_as_empty_path() {
        assert_eq!(String::from_bytes(&[0xff; 4]), Ok(String::new()));
        assert_eq!(<Option<String>>::from_bytes(&[0xff; 4]), Ok(None));
    }

    #[test]
    fn negative_length_other_than_null_is_an_error() {
        let bytes = (-2i32).to_be_bytes();
        assert_eq!(
            String::from_bytes(&bytes),
            Err(DecodeError::NegativeLength(-2))
        );
        assert_eq!(
            <Vec<u8>>::from_bytes(&bytes),
            Err(DecodeError::NegativeLength(-2))
        );
    }

    #[test]
    fn length_beyond_input_is_an_error_not_an_allocation() {
        let bytes = [0x7f, 0xff, 0xff, 0xff, b'a'];
        assert_eq!(
            String::from_bytes(&bytes),
            Err(DecodeError::LengthBeyondInput {
                claimed: 0x7fff_ffff,
                remaining: 1
            })
        );
        // A vector of a billion strings in 8 bytes is refused before any allocation.
        let bytes = [0x40, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            <Vec<String>>::from_bytes(&bytes),
            Err(DecodeError::LengthBeyondInput { .. })
        ));
    }

    #[test]
    fn vector_counts_below_minus_one_read_as_empty_like_java() {
        let bytes = (-7i32).to_be_bytes();
        assert_eq!(<Vec<i32>>::from_bytes(&bytes), Ok(Vec::new()));
        assert_eq!(<Vec<i32>>::from_bytes(&[0xff; 4]), Ok(Vec::new()));
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        let bytes = [0, 0, 0, 2, b'/', 0xff];
        assert_eq!(String::from_bytes(&bytes), Ok("/\u{fffd}".to_string()));
    }

    #[test]
    fn truncated_fixed_fields_are_errors() {
        assert!(matches!(
            i64::from_bytes(&[1, 2, 3]),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
        assert!(matches!(
            bool::from_bytes(&[]),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn booleans_read_any_nonzero_byte_as_true() {
        assert_eq!(bool::from_bytes(&[2]), Ok(true));
        assert_eq!(bool::from_bytes(&[0]), Ok(false));
    }
}
