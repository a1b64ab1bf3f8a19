//! raftzk's durable encoding: what the Raft log and the snapshot files hold (format 2).
//!
//! Every value is written field by field in Jute's encoding (big-endian `int`/`long`,
//! length-prefixed buffers and strings, counted vectors: `protocol.md` §2), and every choice
//! between kinds carries an explicit `int` tag fixed in the code next to the type it encodes
//! (`txn::durable`, `raft::durable`), never a derived enum's declaration order. A client write
//! is stored as ZooKeeper's own opcode and request body, so the codec's Rust types can change
//! freely without changing what a stored entry means. A tag the build does not know is an error
//! naming what was being read, never a guess.
//!
//! Format 1 (the postcard encoding of the Rust types, before this module) is still read; it is
//! never written.

use bytes::BytesMut;
use jute_codec::{DecodeError, Jute};

/// Why stored bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A tag this build does not know: written by a newer raftzk, or damaged.
    #[error("unknown {what} tag {tag}")]
    UnknownTag {
        /// What was being read.
        what: &'static str,
        /// The tag found.
        tag: i32,
    },
    /// A field does not decode (truncated, a length beyond the input, …).
    #[error("{what}: {source}")]
    Field {
        /// What was being read.
        what: &'static str,
        /// Jute's reason.
        source: DecodeError,
    },
    /// Bytes left over after the value.
    #[error("{0} bytes after the value")]
    Trailing(usize),
}

/// Appends `value`'s Jute encoding.
pub fn put<T: Jute>(buf: &mut BytesMut, value: &T) {
    value.encode(buf);
}

/// Reads durable values from the front of a byte slice.
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { input }
    }

    /// The next value; `what` names it in an error.
    pub fn take<T: Jute>(&mut self, what: &'static str) -> Result<T, FormatError> {
        match T::decode(self.input) {
            Ok((rest, value)) => {
                self.input = rest;
                Ok(value)
            }
            Err(nom::Err::Error(source) | nom::Err::Failure(source)) => {
                Err(FormatError::Field { what, source })
            }
            Err(nom::Err::Incomplete(_)) => Err(FormatError::Field {
                what,
                source: DecodeError::UnexpectedEnd {
                    remaining: self.input.len(),
                },
            }),
        }
    }

    /// A count written by [`put_count`], checked against the bytes left: every item takes at
    /// least `min_len` bytes, so a damaged count cannot ask for a huge allocation.
    pub fn count(&mut self, what: &'static str, min_len: usize) -> Result<usize, FormatError> {
        let count: i32 = self.take(what)?;
        let count = usize::try_from(count).map_err(|_| FormatError::Field {
            what,
            source: DecodeError::NegativeLength(count),
        })?;
        let least = count.saturating_mul(min_len.max(1));
        if least > self.input.len() {
            return Err(FormatError::Field {
                what,
                source: DecodeError::LengthBeyondInput {
                    claimed: least as u64,
                    remaining: self.input.len(),
                },
            });
        }
        Ok(count)
    }

    /// Ends reading: an error if bytes are left.
    pub fn finish(self) -> Result<(), FormatError> {
        match self.input.len() {
            0 => Ok(()),
            left => Err(FormatError::Trailing(left)),
        }
    }
}

/// Writes a count that [`Reader::count`] reads back.
pub fn put_count(buf: &mut BytesMut, count: usize) {
    put(buf, &i32::try_from(count).unwrap_or(i32::MAX));
}

/// A string as Jute writes a `ustring` (`i32` length, UTF-8 bytes), from a `&str`.
pub fn put_str(buf: &mut BytesMut, value: &str) {
    put_count(buf, value.len());
    buf.extend_from_slice(value.as_bytes());
}

/// A `u64` stored as Jute's `long` (its bits unchanged).
pub fn put_u64(buf: &mut BytesMut, value: u64) {
    put(buf, &(value as i64));
}

/// Reads a `u64` written by [`put_u64`].
pub fn take_u64(reader: &mut Reader<'_>, what: &'static str) -> Result<u64, FormatError> {
    reader.take::<i64>(what).map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_str_writes_what_jute_writes_for_a_string() {
        let (mut ours, mut jute) = (BytesMut::new(), BytesMut::new());
        put_str(&mut ours, "/a/b");
        put(&mut jute, &"/a/b".to_string());
        assert_eq!(ours, jute);
    }

    #[test]
    fn values_round_trip_and_leftovers_are_refused() {
        let mut buf = BytesMut::new();
        put(&mut buf, &7i32);
        put_u64(&mut buf, u64::MAX);
        put(&mut buf, &"/a".to_string());
        put_count(&mut buf, 2);
        let mut reader = Reader::new(&buf);
        assert_eq!(reader.take::<i32>("tag").unwrap(), 7);
        assert_eq!(take_u64(&mut reader, "id").unwrap(), u64::MAX);
        assert_eq!(reader.take::<String>("path").unwrap(), "/a");
        // Two items of at least 8 bytes cannot fit in what is left (nothing).
        assert!(matches!(
            reader.count("items", 8),
            Err(FormatError::Field { what: "items", .. })
        ));
        let reader = Reader::new(&buf[..4]);
        assert!(matches!(reader.finish(), Err(FormatError::Trailing(4))));
    }

    #[test]
    fn a_truncated_field_names_what_was_read() {
        let mut reader = Reader::new(&[0, 0, 0]);
        let err = reader.take::<i32>("tag").unwrap_err();
        assert!(err.to_string().starts_with("tag: "), "{err}");
    }
}
