//! What a client connection runs over: plain TCP or TLS, decided when it is accepted by the
//! listener's [`Mode`]; on a unified port by the connection's first bytes. The rest of the
//! connection reads and writes the two halves without knowing which.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use jute_codec::Id;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::stats::CloseCause;
use super::Server;
use crate::tls::{looks_like_tls, ClientTls};

/// How a listener's connections speak.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Plaintext (`clientPort`).
    Plain,
    /// TLS only (`secureClientPort`).
    Tls(Arc<ClientTls>),
    /// TLS or plaintext, told apart by the first bytes (`client.portUnification`).
    Unified(Arc<ClientTls>),
}

/// How long a client may take to complete its TLS handshake (Netty's default, 10 s).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The reading half of a connection.
pub(crate) enum ConnRead {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

/// The writing half of a connection.
pub(crate) enum ConnWrite {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

/// An established connection: its halves and the identities its transport proved.
pub(crate) struct Established {
    pub read: ConnRead,
    pub write: ConnWrite,
    /// `x509:` (and `super`) from a verified client certificate.
    pub identities: Vec<Id>,
}

/// Why a connection ended before its first byte of ZooKeeper protocol.
pub(crate) struct Refused {
    pub cause: CloseCause,
    pub why: String,
}

/// Sets up a connection's transport: the TLS handshake where the mode asks for one.
pub(crate) async fn establish(
    server: &Server,
    stream: TcpStream,
    peer: SocketAddr,
    mode: &Mode,
) -> Result<Established, Refused> {
    let tls = match mode {
        Mode::Plain => return Ok(plain(stream)),
        Mode::Tls(tls) => tls,
        Mode::Unified(tls) => {
            if !starts_with_tls(&stream).await? {
                let stats = &server.stats;
                let local = stream
                    .local_addr()
                    .map(|a| a.ip() == peer.ip())
                    .unwrap_or(false)
                    || peer.ip().is_loopback();
                if local {
                    stats.non_mtls_local.fetch_add(1, Ordering::Relaxed);
                } else {
                    stats.non_mtls_remote.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(plain(stream));
            }
            tls
        }
    };
    let Some(slot) = tls.handshake_slot() else {
        server
            .stats
            .tls_handshakes_exceeded
            .fetch_add(1, Ordering::Relaxed);
        return Err(Refused {
            cause: CloseCause::Tls,
            why: "too many TLS handshakes under way (netty.server.outstandingHandshake.limit)"
                .into(),
        });
    };
    let in_progress = InProgress::start(&server.stats.tls_handshakes_in_progress);
    let accepted = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await;
    drop(in_progress);
    drop(slot);
    let failed = |why: String| {
        server
            .stats
            .tls_handshakes_failed
            .fetch_add(1, Ordering::Relaxed);
        // ZooKeeper counts a failed handshake as a failed authentication too.
        server.stats.auth_failed.fetch_add(1, Ordering::Relaxed);
        Refused {
            cause: CloseCause::Tls,
            why,
        }
    };
    let stream = match accepted {
        Err(_) => return Err(failed("TLS handshake not completed within 10 s".into())),
        Ok(Err(e)) => return Err(failed(format!("TLS handshake failed: {e}"))),
        Ok(Ok(stream)) => stream,
    };
    let identities = tls
        .identities(stream.get_ref().1.peer_certificates())
        .map_err(|e| failed(format!("client certificate: {e}")))?;
    server.stats.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    let (read, write) = tokio::io::split(stream);
    Ok(Established {
        read: ConnRead::Tls(read),
        write: ConnWrite::Tls(write),
        identities,
    })
}

/// Counts one handshake under way for as long as it lives (also when the task is dropped).
struct InProgress<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> InProgress<'a> {
    fn start(gauge: &'a std::sync::atomic::AtomicU64) -> InProgress<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        InProgress(gauge)
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn plain(stream: TcpStream) -> Established {
    let (read, write) = stream.into_split();
    Established {
        read: ConnRead::Plain(read),
        write: ConnWrite::Plain(write),
        identities: Vec::new(),
    }
}

/// Waits for the first bytes (at most the handshake timeout) and tells whether they open a
/// TLS handshake. One byte decides unless it is 0x16, then the second.
async fn starts_with_tls(stream: &TcpStream) -> Result<bool, Refused> {
    let peek = async {
        let mut first = [0u8; 2];
        let mut n = stream.peek(&mut first).await?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        if n == 1 && first.first() == Some(&0x16) {
            // The second byte tells a TLS record from a (huge) frame length; give it a moment.
            tokio::time::sleep(Duration::from_millis(5)).await;
            n = stream.peek(&mut first).await?;
        }
        Ok(looks_like_tls(first.get(..n).unwrap_or_default()))
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, peek).await {
        Err(_) => Err(Refused {
            cause: CloseCause::HandshakeTimeout,
            why: "no bytes within 10 s".into(),
        }),
        Ok(Err(_)) => Err(Refused {
            cause: CloseCause::Client,
            why: "closed before its first byte".into(),
        }),
        Ok(Ok(tls)) => Ok(tls),
    }
}

impl AsyncRead for ConnRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnRead::Plain(r) => Pin::new(r).poll_read(cx, buf),
            ConnRead::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ConnWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ConnWrite::Plain(w) => Pin::new(w).poll_write(cx, buf),
            ConnWrite::Tls(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnWrite::Plain(w) => Pin::new(w).poll_flush(cx),
            ConnWrite::Tls(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnWrite::Plain(w) => Pin::new(w).poll_shutdown(cx),
            ConnWrite::Tls(w) => Pin::new(w).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ConnWrite::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            ConnWrite::Tls(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ConnWrite::Plain(w) => w.is_write_vectored(),
            ConnWrite::Tls(w) => w.is_write_vectored(),
        }
    }
}
