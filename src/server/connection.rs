//! One client connection, from the first byte to the close: four-letter-word sniffing, the
//! handshake (new session or resume), then the request pipeline; and the writer task that
//! owns the socket's write half.
//!
//! ZooKeeper's rules this follows (`protocol.md` §1, §3): the first four bytes of a fresh
//! connection may be a four-letter word; otherwise the first frame is a ConnectRequest, and
//! nothing else is read until the session is set up. A client whose lastZxidSeen is ahead of
//! this member is closed with no reply; an unknown session or a wrong password gets the
//! "invalid session" ConnectResponse, then a close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use jute_codec::{sniff, ConnectRequest, FrameCodec, Jute, OpCode, Sniff};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::framing::{fill, next_frame, End};
use super::handle::{Binding, ConnectionHandle, Outbound};
use super::pipeline::Pipeline;
use super::session_ids;
use super::stats::CloseCause;
use super::throttle::Refused;
use super::transport::{establish, ConnRead, ConnWrite, Mode};
use super::writes::PendingWrite;
use super::{fourlw, Server};
use crate::txn::{Origin, Txn, TxnOp};

/// How long a connection may take to send its first frame (ZooKeeper's
/// `sessionlessCnxnTimeout`, 10 s).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection's first read buffer: a handshake and a few requests. It grows with pipelined
/// bursts; an idle session should not pin kilobytes (10 k sessions are a scale point).
const FIRST_READ_BUFFER: usize = 1024;
/// Replies gathered for one socket write at most this far past one reply...
const WRITE_GATHER: usize = 256 * 1024;
/// ...and a gathering buffer that grew past this is let go once written (a smaller one when
/// no reply is waiting).
const WRITE_BUFFER_KEPT: usize = 64 * 1024;

/// Serves one accepted connection until it closes. `maxClientCnxns` is checked before any
/// TLS handshake, as ZooKeeper does.
pub async fn serve(server: Arc<Server>, stream: TcpStream, peer: SocketAddr, mode: Mode) {
    let _ = stream.set_nodelay(true);
    let Some(handle) = server
        .connections
        .open(peer, server.config.max_client_cnxns)
    else {
        server.stats.closed(CloseCause::MaxClientCnxns);
        tracing::warn!(%peer, limit = server.config.max_client_cnxns, "too many connections from this address (maxClientCnxns); closing");
        return;
    };
    let established = match establish(&server, stream, peer, &mode).await {
        Ok(established) => established,
        Err(refused) => {
            server.stats.closed(refused.cause);
            if refused.cause == CloseCause::Tls {
                tracing::warn!(conn = handle.id, %peer, why = %refused.why, "TLS connection refused");
            } else {
                tracing::debug!(conn = handle.id, %peer, why = %refused.why, "connection closed before its first request");
            }
            handle.close();
            server.connections.remove(&handle);
            return;
        }
    };
    let writer = tokio::spawn(write_loop(established.write, handle.clone()));
    let reason = run(&server, &handle, established.read, established.identities).await;
    let session = handle
        .binding()
        .map(|b| format!("0x{:x}", b.session_id))
        .unwrap_or_default();
    match &reason {
        End::ClientClosed => {
            server.stats.closed(CloseCause::Client);
            // ZooKeeper's connection_drop_count: the client went away without closeSession.
            server
                .stats
                .connections_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(conn = handle.id, %peer, session, "client closed the connection");
        }
        End::Done(cause, why) => {
            server.stats.closed(*cause);
            if cause.is_fault() {
                tracing::info!(conn = handle.id, %peer, session, cause = cause.name(), why, "connection closed");
            } else {
                tracing::debug!(conn = handle.id, %peer, session, why, "connection closed");
            }
        }
        End::Protocol(cause, why) => {
            server.stats.closed(*cause);
            tracing::warn!(conn = handle.id, %peer, session, cause = cause.name(), why = %why, "closing connection");
        }
    }
    handle.close();
    // The writer flushes what is queued, then ends.
    let _ = writer.await;
    server.connections.remove(&handle);
    server.watches().remove_connection(handle.id);
}

async fn run(
    server: &Arc<Server>,
    handle: &Arc<ConnectionHandle>,
    mut read: ConnRead,
    transport_ids: Vec<jute_codec::Id>,
) -> End {
    let mut buf = BytesMut::with_capacity(FIRST_READ_BUFFER);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, fill(&mut read, &mut buf, 4)).await {
        Err(_) => {
            return End::Done(CloseCause::HandshakeTimeout, "no handshake within 10 s");
        }
        Ok(Err(end)) => return end,
        Ok(Ok(())) => {}
    }
    if let Sniff::FourLetterWord(word) = sniff(&buf) {
        let _ = buf.split_to(4);
        // stmk carries an 8-byte mask; give it a moment to arrive.
        if word == jute_codec::FourLetterWord::Stmk {
            let _ = tokio::time::timeout(Duration::from_millis(500), fill(&mut read, &mut buf, 8))
                .await;
        }
        handle
            .stats
            .received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let text = fourlw::respond(server, word, &buf);
        handle.send_bytes(text.into());
        return End::Done(CloseCause::FourLetterWord, "four-letter word answered");
    }
    let mut codec = FrameCodec::new(server.config.max_frame);
    let frame = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        next_frame(server, &mut read, &mut buf, &mut codec),
    )
    .await
    {
        Err(_) => return End::Done(CloseCause::HandshakeTimeout, "no handshake within 10 s"),
        Ok(Err(end)) => return end,
        Ok(Ok(frame)) => frame,
    };
    server
        .stats
        .packets_received
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let connect = match ConnectRequest::from_bytes(&frame) {
        Ok(connect) => {
            // ZooKeeper's connection throttle draws on the handshake it has just read; a
            // refused one is closed unanswered and not counted as a connection request.
            match server.connection_throttle.admit(connect.session_id != 0) {
                Ok(deficit) => crate::telemetry::CONNECTION_TOKEN_DEFICIT.record(deficit as f64),
                Err(refused) => {
                    return End::Done(
                        CloseCause::ConnectionThrottle,
                        match refused {
                            Refused::NoTokens => "connection throttle: no tokens left",
                            Refused::RandomDrop => "connection throttle: dropped at random",
                        },
                    );
                }
            }
            // ZooKeeper counts session handshakes, not 4lw or refused sockets.
            server
                .stats
                .connection_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            connect
        }
        Err(e) => {
            return End::Protocol(
                CloseCause::Garbage,
                format!("undecodable ConnectRequest: {e}"),
            )
        }
    };
    // Boxed: the handshake's state is gone once the session runs (see Pipeline::handle_frame).
    let binding = match Box::pin(handshake(server, handle, &connect)).await {
        Ok(binding) => binding,
        Err(end) => return end,
    };
    let mut pipeline = Pipeline::new(server.clone(), handle.clone(), binding, transport_ids);
    pipeline.run(read, buf, codec).await
}

/// Sets up the session: a new one through the log, or a resumed one checked against the
/// replicated table.
async fn handshake(
    server: &Arc<Server>,
    handle: &Arc<ConnectionHandle>,
    connect: &ConnectRequest,
) -> Result<Binding, End> {
    handle.set_read_only_byte(connect.read_only.is_some());
    let timeout_ms = server.config.negotiate_timeout(connect.time_out);
    if server.replica.role() == crate::raft::Role::Looking {
        if server.config.read_only_mode && connect.read_only == Some(true) {
            return read_only_session(server, handle, connect, timeout_ms);
        }
        // Like a ZooKeeper member outside a quorum: not serving; the client tries another.
        return Err(End::Done(CloseCause::NotServing, "no leader: not serving"));
    }
    let known_password = caught_up_with(server, handle, connect, timeout_ms).await?;
    if connect.session_id != 0 {
        resume_session(server, handle, connect, timeout_ms, known_password)
    } else {
        create_session(server, handle, timeout_ms).await
    }
}

/// The password of the session the client names (None: unknown here), once this member has
/// seen everything the client has. A member behind the client (it saw a newer zxid, or its
/// session was created on another member a moment ago) catches up with the leader before
/// judging; one still behind refuses the client, which tries another server.
async fn caught_up_with(
    server: &Arc<Server>,
    handle: &Arc<ConnectionHandle>,
    connect: &ConnectRequest,
    timeout_ms: i32,
) -> Result<Option<Vec<u8>>, End> {
    let lookup = || {
        let view = server.replica.state.read();
        let known = view
            .state
            .sessions
            .get(connect.session_id)
            .map(|info| info.password.clone());
        (view.state.last_zxid, known)
    };
    let (mut last_zxid, mut known) = lookup();
    if server.config.is_cluster()
        && (connect.last_zxid_seen > last_zxid || (connect.session_id != 0 && known.is_none()))
    {
        let wait = std::time::Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(4000));
        if server.replica.sync(wait).await.is_ok() {
            (last_zxid, known) = lookup();
        }
    }
    if connect.last_zxid_seen > last_zxid {
        tracing::info!(
            conn = handle.id,
            client_zxid = format_args!("0x{:x}", connect.last_zxid_seen),
            our_zxid = format_args!("0x{last_zxid:x}"),
            "refusing session: the client has seen a newer zxid; it must try another server"
        );
        return Err(End::Done(
            CloseCause::NotServing,
            "client is ahead of this member",
        ));
    }
    Ok(known)
}

/// A reconnect: the replicated session table decides (the tracker only vetoes a session
/// being expired); the session's older connection, if any, closes.
fn resume_session(
    server: &Arc<Server>,
    handle: &Arc<ConnectionHandle>,
    connect: &ConnectRequest,
    timeout_ms: i32,
    known_password: Option<Vec<u8>>,
) -> Result<Binding, End> {
    let valid = known_password.as_deref() == Some(connect.passwd.as_slice())
        && !server.tracker.is_expiring(connect.session_id);
    if !valid {
        // ZooKeeper also drops the session's live connection when the password is wrong.
        if let Some(other) = server.connections.by_session(connect.session_id) {
            other.close();
        }
        tracing::info!(
            conn = handle.id,
            session = format_args!("0x{:x}", connect.session_id),
            "invalid session (expired, unknown or wrong password)"
        );
        handle.refuse_session();
        return Err(End::Done(CloseCause::InvalidSession, "invalid session"));
    }
    let binding = Binding {
        session_id: connect.session_id,
        timeout_ms,
        read_only: false,
    };
    if let Some(old) = server.connections.bind_session(handle, binding) {
        old.close();
    }
    server.tracker.touch(connect.session_id, timeout_ms);
    server
        .stats
        .connection_revalidations
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    handle.send_connect_response(timeout_ms, connect.session_id, connect.passwd.clone());
    tracing::debug!(
        conn = handle.id,
        session = format_args!("0x{:x}", connect.session_id),
        "session resumed"
    );
    Ok(binding)
}

/// A new session: its id and password are chosen here, before logging (the state machine
/// stays deterministic); the Notifier sends the ConnectResponse when the createSession entry
/// is applied, which binds the connection.
async fn create_session(
    server: &Arc<Server>,
    handle: &Arc<ConnectionHandle>,
    timeout_ms: i32,
) -> Result<Binding, End> {
    let live = server.replica.state.read().state.sessions.len();
    if super::ceilings::Ceilings::of(&server.config).refuses_session(live) {
        super::ceilings::Ceiling::Sessions.refused(&server.stats);
        return Err(End::Done(
            CloseCause::NotServing,
            "raftzk.maxSessions sessions are live: no new session",
        ));
    }
    let session_id = loop {
        let id = server.session_ids.next();
        if !server.replica.state.read().state.sessions.contains(id) {
            break id;
        }
    };
    let txn = Txn {
        session_id,
        origin: Some(Origin {
            member: server.member_id(),
            connection: handle.id,
            xid: 0,
        }),
        auth: Vec::new(),
        rules: Default::default(),
        op: TxnOp::CreateSession {
            timeout_ms,
            password: session_ids::password(),
        },
    };
    let mut closed = handle.closed_signal();
    server.tracker.touch(session_id, timeout_ms);
    handle.writes.proposed(PendingWrite {
        xid: 0,
        op: OpCode::CreateSession,
        started: std::time::Instant::now(),
        term: server.replica.term(),
    });
    let settled = handle.writes.settled();
    if server.replica.proposer.propose(txn).await.is_err() {
        return Err(End::Done(CloseCause::NotServing, "write path shut down"));
    }
    tokio::select! {
        () = settled => {}
        _ = closed.wait_for(|c| *c) => return Err(End::Done(CloseCause::Server, "closed during handshake")),
    }
    match handle.binding() {
        Some(binding) => {
            tracing::debug!(
                conn = handle.id,
                session = format_args!("0x{session_id:x}"),
                timeout_ms,
                "session created"
            );
            Ok(binding)
        }
        None => Err(End::Done(CloseCause::NotServing, "session not created")),
    }
}

/// A session for a read-only client on a member cut off from the quorum
/// (`readonlymode.enabled`), as ZooKeeper's read-only server gives: nothing is logged (no
/// quorum could commit it). A known session resumes with its password; a new one gets an id
/// and password of this member's own and lives as long as its connection. The member closes
/// every read-only connection once it is back in a quorum, and the client reconnects.
fn read_only_session(
    server: &Arc<Server>,
    handle: &Arc<ConnectionHandle>,
    connect: &ConnectRequest,
    timeout_ms: i32,
) -> Result<Binding, End> {
    let (session_id, passwd) = if connect.session_id != 0 {
        let known = server
            .replica
            .state
            .read()
            .state
            .sessions
            .get(connect.session_id)
            .map(|info| info.password.clone());
        if known.as_deref() != Some(connect.passwd.as_slice()) {
            handle.refuse_session();
            return Err(End::Done(
                CloseCause::InvalidSession,
                "invalid session (read-only mode)",
            ));
        }
        (connect.session_id, connect.passwd.clone())
    } else {
        (server.session_ids.next(), session_ids::password())
    };
    let binding = Binding {
        session_id,
        timeout_ms,
        read_only: true,
    };
    if let Some(old) = server.connections.bind_session(handle, binding) {
        old.close();
    }
    handle.send_connect_response_mode(timeout_ms, session_id, passwd, true);
    tracing::info!(
        conn = handle.id,
        session = format_args!("0x{session_id:x}"),
        "read-only session (no quorum)"
    );
    Ok(binding)
}

/// Owns the write half: writes queued bytes, coalescing whatever is waiting into one write,
/// until asked to close or the socket fails. A reply that is alone in the queue is written as
/// it is, without a copy; the gathering buffer exists only while replies queue up.
async fn write_loop(mut write: ConnWrite, handle: Arc<ConnectionHandle>) {
    let mut out = BytesMut::new();
    let mut closing = false;
    // When each notification in `out` was queued: its trigger latency ends at the write.
    let mut events: Vec<std::time::Instant> = Vec::new();
    let queue = handle.outbound();
    loop {
        let mut next = Some(queue.next().await);
        // The first reply, kept aside until a second one shows whether to gather.
        let mut alone: Option<bytes::Bytes> = None;
        while let Some(item) = next.take() {
            let bytes = match item {
                Outbound::Bytes(bytes) => Some(bytes),
                Outbound::Event(bytes, queued) => {
                    events.push(queued);
                    Some(bytes)
                }
                Outbound::Close => {
                    closing = true;
                    None
                }
            };
            if let Some(bytes) = bytes {
                handle.written(bytes.len());
                if out.is_empty() && alone.is_none() {
                    alone = Some(bytes);
                } else {
                    if let Some(first) = alone.take() {
                        out.extend_from_slice(&first);
                    }
                    out.extend_from_slice(&bytes);
                }
            }
            if out.len() < WRITE_GATHER && !closing {
                next = queue.try_next();
            }
        }
        let written = match alone.take() {
            Some(bytes) => write.write_all(&bytes).await,
            None if !out.is_empty() => write.write_all(&out).await,
            None => Ok(()),
        };
        // TLS holds written bytes in records until flushed; plain TCP's flush does nothing.
        let written = match written {
            Ok(()) => write.flush().await,
            Err(e) => Err(e),
        };
        if written.is_err() {
            handle.close();
            return;
        }
        out.clear();
        // Kept only while replies keep coming: an idle session holds no gathering buffer
        // (after a burst of pipelined replies it would keep kilobytes for as long as it lives).
        if out.capacity() > WRITE_BUFFER_KEPT || (out.capacity() > 0 && queue.is_empty()) {
            out = BytesMut::new();
        }
        for queued in events.drain(..) {
            handle
                .server_stats()
                .watch_trigger_latency
                .record_ms(queued.elapsed());
        }
        if closing {
            let _ = write.shutdown().await;
            return;
        }
    }
}
