//! One ZooKeeper session over one TCP connection, as a client library keeps it: requests are
//! written in order by a writer task (which coalesces whatever is queued into one write),
//! replies come back in the same order and are matched first-in first-out, watch events go to
//! a channel of their own, and pings keep the session alive while it is idle.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use jute_codec::{
    decode_reply, encode_frame, xid, ClientRequest, ConnectRequest, ConnectResponse, ErrorCode,
    FrameCodec, Jute, OpCode, ReplyHeader, Request, RequestHeader, Response, WatcherEvent,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Decoder;

/// Frames up to this size (ZooKeeper's default jute.maxbuffer is 1 MiB; replies may be larger).
const MAX_FRAME: usize = 64 << 20;

/// Why a session or a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    /// The connection could not be made or broke.
    #[error("{0}: {1}")]
    Io(SocketAddr, String),
    /// The server refused the session (expired or not serving).
    #[error("{0}: session refused")]
    Refused(SocketAddr),
    /// The server sent bytes this client cannot read.
    #[error("{0}: undecodable reply: {1}")]
    Protocol(SocketAddr, String),
    /// The connection closed with the call unanswered.
    #[error("{0}: connection closed")]
    Closed(SocketAddr),
}

/// A reply: its header (xid, zxid, error code) and body.
pub type Reply = (ReplyHeader, Response);

struct Pending {
    xid: i32,
    op: OpCode,
    reply: oneshot::Sender<Result<Reply, SessionError>>,
}

/// What the reader and the callers share.
struct Shared {
    /// Requests written and not yet answered, in the order they were written. `None` once the
    /// connection is gone.
    pending: Mutex<Option<VecDeque<Pending>>>,
}

/// A connected session. Cheap to clone: clones share the connection, so several workers can
/// keep requests in flight on it at once.
#[derive(Clone)]
pub struct Session {
    addr: SocketAddr,
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<BytesMut>,
    next_xid: Arc<std::sync::atomic::AtomicI32>,
}

impl Session {
    /// Connects and creates a session with this timeout (ms); watch events go to the
    /// returned channel.
    pub async fn connect(
        addr: SocketAddr,
        timeout_ms: i32,
    ) -> Result<(Session, mpsc::UnboundedReceiver<WatcherEvent>), SessionError> {
        let io = |e: std::io::Error| SessionError::Io(addr, e.to_string());
        let tcp = TcpStream::connect(addr).await.map_err(io)?;
        tcp.set_nodelay(true).map_err(io)?;
        match crate::tls::connector() {
            None => Session::start(addr, tcp, timeout_ms).await,
            Some(connector) => {
                let tls = crate::tls::handshake(connector, tcp).await.map_err(io)?;
                Session::start(addr, tls, timeout_ms).await
            }
        }
    }

    /// The session handshake over an established stream, then the reader, writer and ping
    /// tasks.
    async fn start<S>(
        addr: SocketAddr,
        mut stream: S,
        timeout_ms: i32,
    ) -> Result<(Session, mpsc::UnboundedReceiver<WatcherEvent>), SessionError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = |e: std::io::Error| SessionError::Io(addr, e.to_string());
        let mut out = BytesMut::new();
        encode(
            &ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                time_out: timeout_ms,
                session_id: 0,
                passwd: vec![0; 16],
                read_only: Some(false),
            },
            &mut out,
        );
        stream.write_all(&out).await.map_err(io)?;
        stream.flush().await.map_err(io)?;
        let mut codec = FrameCodec::new(MAX_FRAME);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let frame = loop {
            if let Some(frame) = codec
                .decode(&mut buf)
                .map_err(|e| SessionError::Protocol(addr, e.to_string()))?
            {
                break frame;
            }
            if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
                return Err(SessionError::Refused(addr));
            }
        };
        let response = ConnectResponse::from_bytes(&frame)
            .map_err(|e| SessionError::Protocol(addr, e.to_string()))?;
        if response.session_id == 0 {
            return Err(SessionError::Refused(addr));
        }
        let (read, write) = tokio::io::split(stream);
        let (writer, queue) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Some(VecDeque::new())),
        });
        tokio::spawn(write_loop(write, queue));
        tokio::spawn(read_loop(addr, read, buf, codec, shared.clone(), events_tx));
        let session = Session {
            addr,
            shared,
            writer,
            next_xid: Arc::new(std::sync::atomic::AtomicI32::new(1)),
        };
        let interval = Duration::from_millis(
            u64::try_from(response.time_out / 3)
                .unwrap_or(1000)
                .max(100),
        );
        tokio::spawn(ping_loop(session.writer.clone(), interval));
        Ok((session, events))
    }

    /// The server this session is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `request` and waits for its reply.
    pub async fn call(&self, request: Request) -> Result<Reply, SessionError> {
        let op = request.op_code();
        let xid = self
            .next_xid
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut out = BytesMut::new();
        encode(
            &ClientRequest {
                header: RequestHeader { xid, op },
                request,
            },
            &mut out,
        );
        let (reply, answer) = oneshot::channel();
        {
            // Queued and written under one lock, so the pending order is the wire order.
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(queue) = pending.as_mut() else {
                return Err(SessionError::Closed(self.addr));
            };
            if self.writer.send(out).is_err() {
                return Err(SessionError::Closed(self.addr));
            }
            queue.push_back(Pending { xid, op, reply });
        }
        answer.await.map_err(|_| SessionError::Closed(self.addr))?
    }

    /// Sends `request` and fails unless the reply's error code is Ok.
    pub async fn call_ok(&self, request: Request) -> Result<Response, SessionError> {
        let (header, response) = self.call(request).await?;
        if header.err != ErrorCode::Ok {
            return Err(SessionError::Protocol(
                self.addr,
                format!("{:?}", header.err),
            ));
        }
        Ok(response)
    }

    /// Ends the session (closeSession) and waits for the answer.
    pub async fn close(&self) {
        let _ = self.call(Request::CloseSession).await;
    }
}

fn encode(item: &impl jute_codec::EncodeFrame, out: &mut BytesMut) {
    // A request larger than any frame limit is the caller's bug; encode it anyway.
    let _ = encode_frame(item, out, usize::MAX);
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut write: W,
    mut queue: mpsc::UnboundedReceiver<BytesMut>,
) {
    let mut batch = BytesMut::with_capacity(64 * 1024);
    while let Some(first) = queue.recv().await {
        batch.extend_from_slice(&first);
        while batch.len() < 256 * 1024 {
            match queue.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        // TLS holds written bytes in a record until flushed; TCP's flush does nothing.
        if write.write_all(&batch).await.is_err() || write.flush().await.is_err() {
            return;
        }
        batch.clear();
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    addr: SocketAddr,
    mut read: R,
    mut buf: BytesMut,
    mut codec: FrameCodec,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<WatcherEvent>,
) {
    let failure = loop {
        let frame = match codec.decode(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => match read.read_buf(&mut buf).await {
                Ok(0) => break SessionError::Closed(addr),
                Ok(_) => continue,
                Err(e) => break SessionError::Io(addr, e.to_string()),
            },
            Err(e) => break SessionError::Protocol(addr, e.to_string()),
        };
        let Some(header_xid) = frame
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_be_bytes)
        else {
            break SessionError::Protocol(addr, "short reply".into());
        };
        if header_xid == xid::PING {
            continue;
        }
        if header_xid == xid::NOTIFICATION {
            match decode_reply(&frame, |_| OpCode::Notification) {
                Ok((_, Response::Notification(event))) => {
                    let _ = events.send(event);
                    continue;
                }
                Ok(_) => continue,
                Err(e) => break SessionError::Protocol(addr, e.to_string()),
            }
        }
        let next = shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .and_then(VecDeque::pop_front);
        let Some(pending) = next else {
            break SessionError::Protocol(addr, format!("reply {header_xid} to nothing"));
        };
        if pending.xid != header_xid {
            let reason = format!("reply {header_xid} where {} was next", pending.xid);
            let _ = pending
                .reply
                .send(Err(SessionError::Protocol(addr, reason.clone())));
            break SessionError::Protocol(addr, reason);
        }
        let decoded = decode_reply(&frame, |_| pending.op)
            .map_err(|e| SessionError::Protocol(addr, e.to_string()));
        let _ = pending.reply.send(decoded);
    };
    let waiting = shared
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    for pending in waiting.into_iter().flatten() {
        let _ = pending.reply.send(Err(failure.clone()));
    }
}

async fn ping_loop(writer: mpsc::UnboundedSender<BytesMut>, every: Duration) {
    let mut out = BytesMut::new();
    encode(
        &ClientRequest {
            header: RequestHeader {
                xid: xid::PING,
                op: OpCode::Ping,
            },
            request: Request::Ping,
        },
        &mut out,
    );
    loop {
        tokio::time::sleep(every).await;
        if writer.send(out.clone()).is_err() {
            return;
        }
    }
}
