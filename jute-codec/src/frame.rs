//! Framing: every message is a 4-byte big-endian length then that many bytes, both ways
//! (`protocol.md` §1). [`FrameCodec`] is the tokio-util codec for it; [`sniff`] tells a
//! four-letter word from a frame on a fresh connection.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::FrameError;
use crate::jute::Jute;
use crate::records::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader};
use crate::request::Request;
use crate::response::Response;

/// ZooKeeper 3.8's default `jute.maxbuffer`: 0xFFFFF bytes, one under 1 MiB. A frame of exactly
/// this length is accepted.
pub const DEFAULT_MAX_FRAME: usize = 0xF_FFFF;

/// Length-prefixed frames with a maximum body length.
///
/// Decoding yields the frame body (without the prefix). A negative length or one above the
/// maximum is a [`FrameError::BadLength`] at once, before any of the body is read or buffered:
/// ZooKeeper closes such a connection with no reply and the session survives.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    /// A codec accepting bodies up to `max_frame` bytes, in both directions.
    pub fn new(max_frame: usize) -> FrameCodec {
        FrameCodec { max_frame }
    }

    /// The largest body accepted.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl Default for FrameCodec {
    fn default() -> FrameCodec {
        FrameCodec::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let Some(&[a, b, c, d]) = src.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([a, b, c, d]);
        let len = match usize::try_from(len) {
            Ok(n) if n <= self.max_frame => n,
            _ => {
                return Err(FrameError::BadLength {
                    len: i64::from(len),
                    max: self.max_frame,
                })
            }
        };
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(len)))
    }
}

/// Something that can be written as one frame: it appends its body, the codec adds the prefix.
pub trait EncodeFrame {
    /// Appends the frame body (no length prefix).
    fn encode_body(&self, buf: &mut BytesMut);
}

impl<T: EncodeFrame> Encoder<T> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_frame(&item, dst, self.max_frame)
    }
}

/// Appends `item` as one length-prefixed frame, failing if its body is over `max_frame`
/// (in which case `dst` is left as it was).
pub fn encode_frame(
    item: &impl EncodeFrame,
    dst: &mut BytesMut,
    max_frame: usize,
) -> Result<(), FrameError> {
    let start = dst.len();
    dst.put_i32(0);
    item.encode_body(dst);
    let len = dst.len() - start - 4;
    match i32::try_from(len) {
        Ok(prefix) if len <= max_frame => {
            if let Some(slot) = dst.get_mut(start..start + 4) {
                slot.copy_from_slice(&prefix.to_be_bytes());
            }
            Ok(())
        }
        _ => {
            dst.truncate(start);
            Err(FrameError::TooLargeToSend {
                len,
                max: max_frame,
            })
        }
    }
}

/// A server's reply frame: header, then the body when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The header.
    pub header: ReplyHeader,
    /// The body; [`Response::Empty`] for header-only replies.
    pub response: Response,
}

impl EncodeFrame for Reply {
    fn encode_body(&self, buf: &mut BytesMut) {
        self.header.encode(buf);
        self.response.encode(buf);
    }
}

/// A client's request frame: header, then the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// The header; its opcode is what the server dispatches on.
    pub header: RequestHeader,
    /// The body.
    pub request: Request,
}

impl EncodeFrame for ClientRequest {
    fn encode_body(&self, buf: &mut BytesMut) {
        self.header.encode(buf);
        self.request.encode(buf);
    }
}

impl EncodeFrame for ConnectRequest {
    fn encode_body(&self, buf: &mut BytesMut) {
        self.encode(buf);
    }
}

impl EncodeFrame for ConnectResponse {
    fn encode_body(&self, buf: &mut BytesMut) {
        self.encode(buf);
    }
}

impl<T: EncodeFrame> EncodeFrame for &T {
    fn encode_body(&self, buf: &mut BytesMut) {
        (*self).encode_body(buf);
    }
}

/// The four-letter words of ZooKeeper 3.8 (`protocol.md` §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    /// `ruok`: answers `imok`.
    Ruok,
    /// `srvr`: server summary.
    Srvr,
    /// `stat`: summary plus clients.
    Stat,
    /// `conf`: serving configuration.
    Conf,
    /// `cons`: connection details.
    Cons,
    /// `crst`: reset connection statistics.
    Crst,
    /// `srst`: reset server statistics.
    Srst,
    /// `dump`: sessions and their ephemerals.
    Dump,
    /// `envi`: environment.
    Envi,
    /// `dirs`: data and log directory sizes.
    Dirs,
    /// `mntr`: monitoring key/values.
    Mntr,
    /// `wchs`: watch summary.
    Wchs,
    /// `wchc`: watches by session.
    Wchc,
    /// `wchp`: watches by path.
    Wchp,
    /// `isro`: `rw` or `ro`.
    Isro,
    /// `gtmk`: the trace mask.
    Gtmk,
    /// `stmk`: set the trace mask (8 more bytes follow).
    Stmk,
    /// `hash`: recent tree digests.
    Hash,
    /// The telnet interrupt `0xfff4fffd`: close.
    TelnetClose,
}

impl FourLetterWord {
    /// Every word.
    pub const ALL: &'static [FourLetterWord] = &[
        FourLetterWord::Ruok,
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Srst,
        FourLetterWord::Dump,
        FourLetterWord::Envi,
        FourLetterWord::Dirs,
        FourLetterWord::Mntr,
        FourLetterWord::Wchs,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Isro,
        FourLetterWord::Gtmk,
        FourLetterWord::Stmk,
        FourLetterWord::Hash,
        FourLetterWord::TelnetClose,
    ];

    /// The four bytes that select this word.
    pub const fn bytes(self) -> [u8; 4] {
        match self {
            FourLetterWord::Ruok => *b"ruok",
            FourLetterWord::Srvr => *b"srvr",
            FourLetterWord::Stat => *b"stat",
            FourLetterWord::Conf => *b"conf",
            FourLetterWord::Cons => *b"cons",
            FourLetterWord::Crst => *b"crst",
            FourLetterWord::Srst => *b"srst",
            FourLetterWord::Dump => *b"dump",
            FourLetterWord::Envi => *b"envi",
            FourLetterWord::Dirs => *b"dirs",
            FourLetterWord::Mntr => *b"mntr",
            FourLetterWord::Wchs => *b"wchs",
            FourLetterWord::Wchc => *b"wchc",
            FourLetterWord::Wchp => *b"wchp",
            FourLetterWord::Isro => *b"isro",
            FourLetterWord::Gtmk => *b"gtmk",
            FourLetterWord::Stmk => *b"stmk",
            FourLetterWord::Hash => *b"hash",
            FourLetterWord::TelnetClose => [0xff, 0xf4, 0xff, 0xfd],
        }
    }

    /// The word's name as the whitelist spells it (`telnetclose` for the interrupt, which no
    /// whitelist names).
    pub fn name(self) -> &'static str {
        match self {
            FourLetterWord::Ruok => "ruok",
            FourLetterWord::Srvr => "srvr",
            FourLetterWord::Stat => "stat",
            FourLetterWord::Conf => "conf",
            FourLetterWord::Cons => "cons",
            FourLetterWord::Crst => "crst",
            FourLetterWord::Srst => "srst",
            FourLetterWord::Dump => "dump",
            FourLetterWord::Envi => "envi",
            FourLetterWord::Dirs => "dirs",
            FourLetterWord::Mntr => "mntr",
            FourLetterWord::Wchs => "wchs",
            FourLetterWord::Wchc => "wchc",
            FourLetterWord::Wchp => "wchp",
            FourLetterWord::Isro => "isro",
            FourLetterWord::Gtmk => "gtmk",
            FourLetterWord::Stmk => "stmk",
            FourLetterWord::Hash => "hash",
            FourLetterWord::TelnetClose => "telnetclose",
        }
    }

    /// The word these four bytes select, if any.
    pub fn from_bytes(bytes: [u8; 4]) -> Option<FourLetterWord> {
        FourLetterWord::ALL
            .iter()
            .copied()
            .find(|w| w.bytes() == bytes)
    }
}

/// What the first bytes of a fresh connection are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// Fewer than 4 bytes have arrived.
    NeedMore,
    /// A four-letter word: answer in plain text and close.
    FourLetterWord(FourLetterWord),
    /// Anything else is a length prefix (which may still be rejected by [`FrameCodec`]).
    Frame,
}

/// Classifies the first bytes of a connection that has not yet sent a ConnectRequest.
/// ZooKeeper compares the first 4 bytes with the known words; four bytes that match none are
/// a length (`abcd` is then over the limit and the connection closes).
pub fn sniff(first: &[u8]) -> Sniff {
    match first.get(..4) {
        None => Sniff::NeedMore,
        Some(&[a, b, c, d]) => match FourLetterWord::from_bytes([a, b, c, d]) {
            Some(word) => Sniff::FourLetterWord(word),
            None => Sniff::Frame,
        },
        Some(_) => Sniff::Frame,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::ErrorCode;

    #[test]
    fn frame_at_the_maximum_is_accepted_and_one_over_is_not() {
        let mut codec = FrameCodec::new(8);
        let mut buf = BytesMut::from(&[0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8][..]);
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap().as_ref(),
            &[1, 2, 3, 4, 5, 6, 7, 8]
        );
        let mut buf = BytesMut::from(&[0, 0, 0, 9][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::BadLength { len: 9, max: 8 })
        ));
    }

    #[test]
    fn negative_length_is_refused() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::BadLength { len: -2, .. })
        ));
    }

    #[test]
    fn oversize_is_refused_from_the_prefix_alone() {
        // setdata_oversize_2mb: 2097180 advertised, nothing else read.
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&2_097_180i32.to_be_bytes()[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::BadLength { len: 2_097_180, .. })
        ));
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&[0, 0][..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[0, 3, 9]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[9, 9, 0]);
        assert_eq!(
            codec.decode(&mut buf).unwrap().unwrap().as_ref(),
            &[9, 9, 9]
        );
        assert_eq!(buf.as_ref(), &[0]);
    }

    #[test]
    fn encoder_writes_the_prefix_and_refuses_oversize() {
        let mut codec = FrameCodec::new(16);
        let mut dst = BytesMut::new();
        let reply = Reply {
            header: ReplyHeader {
                xid: 6,
                zxid: 7,
                err: ErrorCode::NodeExists,
            },
            response: Response::Empty,
        };
        codec.encode(&reply, &mut dst).unwrap();
        assert_eq!(hex(&dst), "00000010000000060000000000000007ffffff92");
        let mut small = FrameCodec::new(15);
        let mut dst = BytesMut::new();
        assert!(matches!(
            small.encode(&reply, &mut dst),
            Err(FrameError::TooLargeToSend { len: 16, max: 15 })
        ));
        assert!(dst.is_empty());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"ru"), Sniff::NeedMore);
        assert_eq!(sniff(b"ruok"), Sniff::FourLetterWord(FourLetterWord::Ruok));
        assert_eq!(
            sniff(&[0xff, 0xf4, 0xff, 0xfd]),
            Sniff::FourLetterWord(FourLetterWord::TelnetClose)
        );
        assert_eq!(sniff(b"abcd"), Sniff::Frame);
        assert_eq!(sniff(&[0, 0, 0, 45, 0]), Sniff::Frame);
        for word in FourLetterWord::ALL {
            assert_eq!(FourLetterWord::from_bytes(word.bytes()), Some(*word));
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
