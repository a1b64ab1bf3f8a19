//! Reading client frames off a socket: the length-prefixed frames of `protocol.md` §1, a bad
//! length refused before its body is read, and how a connection ended. Shared by the
//! handshake (`connection`) and the session pipeline (`pipeline`).

use bytes::BytesMut;
use jute_codec::{FrameCodec, FrameError};
use tokio::io::AsyncReadExt;
use tokio_util::codec::Decoder;

use super::stats::CloseCause;
use super::transport::ConnRead;
use super::Server;

/// Why a connection ended.
pub(crate) enum End {
    /// EOF or a reset from the client.
    ClientClosed,
    /// The server ended it on purpose (4lw answered, session closed, refused).
    Done(CloseCause, &'static str),
    /// The client broke the protocol (or the write path failed under it).
    Protocol(CloseCause, String),
}

/// Reads from the socket into `buf` until it holds at least `n` bytes.
pub(crate) async fn fill(read: &mut ConnRead, buf: &mut BytesMut, n: usize) -> Result<(), End> {
    while buf.len() < n {
        match read.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(End::ClientClosed),
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Reads one frame, refusing a bad length before reading its body.
/// Whether `buf` already holds a whole frame (the next [`next_frame`] reads no socket).
pub(crate) fn holds_whole_frame(buf: &[u8]) -> bool {
    match buf.get(..4) {
        Some(&[a, b, c, d]) => {
            let len = i32::from_be_bytes([a, b, c, d]);
            usize::try_from(len).is_ok_and(|len| buf.len() - 4 >= len)
        }
        _ => false,
    }
}

pub(crate) async fn next_frame(
    server: &Server,
    read: &mut ConnRead,
    buf: &mut BytesMut,
    codec: &mut FrameCodec,
) -> Result<BytesMut, End> {
    loop {
        match codec.decode(buf) {
            Ok(Some(frame)) => {
                server
                    .stats
                    .bytes_received
                    .fetch_add(frame.len() as u64 + 4, std::sync::atomic::Ordering::Relaxed);
                return Ok(frame);
            }
            Ok(None) => match read.read_buf(buf).await {
                Ok(0) | Err(_) => return Err(End::ClientClosed),
                Ok(_) => {}
            },
            Err(FrameError::BadLength { len, max }) => {
                return Err(End::Protocol(
                    CloseCause::Oversize,
                    format!(
                        "Len error: advertised length {len} is outside 0..={max} (jute.maxbuffer)"
                    ),
                ));
            }
            Err(e) => return Err(End::Protocol(CloseCause::Garbage, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::holds_whole_frame;

    #[test]
    fn a_whole_frame_is_told_from_a_partial_one() {
        assert!(!holds_whole_frame(&[]));
        assert!(!holds_whole_frame(&[0, 0, 0]));
        assert!(holds_whole_frame(&[0, 0, 0, 0]), "an empty frame");
        assert!(!holds_whole_frame(&[0, 0, 0, 2, 9]));
        assert!(holds_whole_frame(&[0, 0, 0, 2, 9, 9]));
        assert!(
            holds_whole_frame(&[0, 0, 0, 1, 9, 0, 0]),
            "and the start of the next"
        );
        assert!(
            !holds_whole_frame(&[255, 255, 255, 255, 0]),
            "a negative length"
        );
    }
}
