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
