//! The session pipeline: a connection's requests after the handshake, answered strictly in
//! the order they arrived (`protocol.md` §4.2) while writes stay pipelined.
//!
//! - A write is proposed at once and answered by the Notifier when applied; writes of one
//!   connection are applied in the order proposed, so their replies leave in order.
//! - A read with no write of this connection pending is answered here, under the state's read
//!   lock. One that arrives behind pending writes is queued behind them and answered by the
//!   Notifier right after the write before it applies, from the state as that write left it
//!   (`writes`): it sees the session's earlier writes and none of its later ones, and this
//!   task goes on reading, so the writes behind it are proposed meanwhile.
//! - ping and the other requests `reads::read` answers are queued like reads; auth, sasl,
//!   setWatches, sync and closeSession wait until everything before them is answered.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use jute_codec::{
    decode_request, AuthPacket, DecodeError, ErrorCode, EventType, FrameCodec, GetDataResponse,
    GetSaslRequest, Id, Jute, MultiResponse, OpCode, Perms, ReconfigRequest, Request, RequestError,
    RequestHeader, Response, SetSaslResponse, SetWatches2,
};
use tokio::io::AsyncReadExt;

use super::ceilings::{Ceiling, Ceilings};
use super::framing::{holds_whole_frame, next_frame, End};
use super::handle::{Binding, ConnectionHandle};
use super::reads;
use super::reconfig;
use super::stats::CloseCause;
use super::throttle::Wait;
use super::transport::ConnRead;
use super::writes::{PendingWrite, QueuedRead, ReadTurn};
use super::Server;
use crate::raft::ReconfigError;
use crate::tree::acl::{self, digest_id};
use crate::tree::CONFIG_PATH;
use crate::txn::{
    create_refusal, is_logged_write, prepare_write, ApplyRules, Origin, Txn, TxnOp, WriteRules,
};

/// Bytes of a throttled connection's later requests read while its request waits (enough
/// to see the client go away; the rest stay in the socket).
const THROTTLED_READ_BYTES: usize = 1 << 20;

/// One connection's pipeline.
pub(crate) struct Pipeline {
    server: Arc<Server>,
    handle: Arc<ConnectionHandle>,
    binding: Binding,
    /// The connection's identities: `ip:<peer>` always, then every auth added (shared with
    /// the reads queued behind writes).
    auth: Arc<Vec<Id>>,
    rules: WriteRules,
    /// This connection's SASL exchange, once one has begun.
    sasl: Option<crate::sasl::Conversation>,
    /// Every read is linearizable (`raftzk.linearizableReads`, or the session asked with an
    /// auth packet `raftzk`/`linearizable`).
    linearizable: bool,
    /// A read-index round has completed that began after the last read from the socket: the
    /// requests still in the buffer arrived before it, so it serves their reads too.
    round_covers_buffer: bool,
}

/// What to do after a request.
enum Flow {
    Continue,
    Stop(End),
}

impl Pipeline {
    /// The pipeline of a connection bound to `binding`.
    pub(crate) fn new(
        server: Arc<Server>,
        handle: Arc<ConnectionHandle>,
        binding: Binding,
        transport_ids: Vec<Id>,
    ) -> Pipeline {
        let rules = WriteRules {
            extended_types: server.config.extended_types,
            reconfig_enabled: server.config.reconfig_enabled,
            apply: ApplyRules {
                providers: crate::tree::acl::Providers {
                    x509: server.config.x509_provider(),
                    sasl: server.config.sasl_provider(),
                },
                enforce_quota: server.config.enforce_quota,
            },
        };
        let linearizable = server.config.linearizable_reads;
        Pipeline {
            auth: Arc::new(
                std::iter::once(Id {
                    scheme: "ip".into(),
                    id: Some(handle.peer.ip().to_string()),
                })
                .chain(transport_ids)
                .collect(),
            ),
            server,
            handle,
            binding,
            linearizable,
            round_covers_buffer: false,
            rules,
            sasl: None,
        }
    }

    /// Reads and answers requests until the connection ends.
    pub(crate) async fn run(
        &mut self,
        mut read: ConnRead,
        mut buf: BytesMut,
        mut codec: FrameCodec,
    ) -> End {
        let mut closed = self.handle.closed_signal();
        loop {
            let (pause_at, resume_at) = self.handle.read_pause_thresholds();
            if self.handle.queued_bytes() > pause_at {
                // The client is not reading its replies: read no more of its requests until
                // it has (memory stays bounded; its requests wait in the socket buffers).
                self.server
                    .stats
                    .read_pauses
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    conn = self.handle.id,
                    queued = self.handle.queued_bytes(),
                    "reads paused: the client is not reading its replies"
                );
                if !self.handle.replies_drained(resume_at).await {
                    return self.closed_end();
                }
                // Reading its replies is a sign of life, as a request would be.
                self.server
                    .tracker
                    .touch(self.binding.session_id, self.binding.timeout_ms);
            }
            if let Err(end) = self.within_outstanding_limit().await {
                return end;
            }
            if !holds_whole_frame(&buf) {
                // This frame needs a read from the socket: it may be newer than any round.
                self.round_covers_buffer = false;
            }
            let frame = tokio::select! {
                frame = next_frame(&self.server, &mut read, &mut buf, &mut codec) => frame,
                _ = closed.wait_for(|c| *c) => return self.closed_end(),
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(end) => return end,
            };
            self.server
                .stats
                .packets_received
                .fetch_add(1, Ordering::Relaxed);
            self.handle.stats.received.fetch_add(1, Ordering::Relaxed);
            self.server
                .tracker
                .touch(self.binding.session_id, self.binding.timeout_ms);
            if !self
                .server
                .request_throttle
                .passes_at_once(&self.server.stats.requests_pending)
            {
                if let Err(end) = Box::pin(self.throttled(&frame, &mut read, &mut buf)).await {
                    return end;
                }
            } else if self.server.request_throttle.enabled() {
                self.server.request_throttle.passed(None, false, false);
            }
            // Boxed per request: the loop a session idles in stays small (its task lives as
            // long as the session), and the request's state lives only while it is handled.
            match Box::pin(self.handle_frame(&frame)).await {
                Flow::Continue => {}
                Flow::Stop(end) => return end,
            }
        }
    }

    /// ZooKeeper's `globalOutstandingLimit`: while more requests than that are pending on
    /// every connection together, a connection with one of its own pending reads no more
    /// until it is answered (one with none goes on, so an idle session is never held up).
    async fn within_outstanding_limit(&self) -> Result<(), End> {
        let limit = self.server.config.global_outstanding_limit;
        let mut paused = false;
        loop {
            let mut answers = self.handle.writes.answers();
            answers.borrow_and_update();
            let pending = self.handle.writes.member_wide() as i64;
            if pending <= limit || self.handle.writes.is_empty() {
                return Ok(());
            }
            if !paused {
                paused = true;
                self.server
                    .stats
                    .outstanding_limit_pauses
                    .fetch_add(1, Ordering::Relaxed);
            }
            let mut closed = self.handle.closed_signal();
            tokio::select! {
                _ = answers.changed() => {}
                _ = closed.wait_for(|c| *c) => return Err(self.closed_end()),
            }
        }
    }

    /// ZooKeeper's request throttler (`server::throttle`): `frame` waits its turn, behind
    /// every request that began waiting before it, until fewer than
    /// `request_throttle_max_requests` requests are in process. Meanwhile the socket is still
    /// read (up to a bound), so a client that goes away is seen: with
    /// `request_throttle_drop_stale` its request is dropped and the connection ends. auth and
    /// sasl are answered at once, as ZooKeeper answers them outside its request pipeline.
    async fn throttled(
        &mut self,
        frame: &[u8],
        read: &mut ConnRead,
        buf: &mut BytesMut,
    ) -> Result<(), End> {
        let op = RequestHeader::from_bytes(frame).ok().map(|h| h.op);
        if matches!(op, Some(OpCode::Auth | OpCode::Sasl)) {
            return Ok(());
        }
        let close_session = op == Some(OpCode::CloseSession);
        let server = self.server.clone();
        let throttle = &server.request_throttle;
        let in_process = &server.stats.requests_pending;
        let place = throttle.queue().await;
        let mut closed = self.handle.closed_signal();
        let mut client_gone = false;
        loop {
            let stale = client_gone || *closed.borrow();
            let fell = in_process.fell();
            match throttle.at_head(in_process, stale, close_session) {
                Wait::Go => {
                    throttle.passed(Some(place), stale, close_session);
                    return Ok(());
                }
                Wait::Drop => {
                    tracing::debug!(
                        conn = self.handle.id,
                        "request dropped at the throttle: its connection has closed"
                    );
                    return Err(if client_gone {
                        End::ClientClosed
                    } else {
                        self.closed_end()
                    });
                }
                Wait::Stall => {}
            }
            let stall = async {
                match throttle.stall() {
                    Some(stall) => tokio::time::sleep(stall).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = fell => {}
                _ = stall => {}
                _ = closed.wait_for(|c| *c), if !stale => {}
                got = read.read_buf(buf), if !client_gone && buf.len() < THROTTLED_READ_BYTES => {
                    match got {
                        Ok(0) | Err(_) => client_gone = true,
                        // Requests read now are newer than any round that has completed.
                        Ok(_) => self.round_covers_buffer = false,
                    }
                }
            }
        }
    }

    /// Whether `request` would take the tree past one of raftzk's ceilings
    /// (`server::ceilings`); counted and logged.
    fn passes_a_ceiling(&self, request: &Request) -> bool {
        let ceilings = Ceilings::of(&self.server.config);
        if ceilings.is_none() {
            return false;
        }
        let passed = {
            let view = self.server.replica.state.read();
            ceilings.passed_by(request, &view.state.tree)
        };
        let Some(ceiling) = passed else {
            return false;
        };
        ceiling.refused(&self.server.stats);
        true
    }

    /// Why a connection the server closed ended.
    fn closed_end(&self) -> End {
        if self.handle.closed_as_slow_consumer() {
            End::Done(
                CloseCause::SlowConsumer,
                "the client does not read its replies",
            )
        } else {
            End::Done(CloseCause::Server, "closed by the server")
        }
    }

    /// One request (run boxed by `run`). The rare paths (session close, auth, SASL, reconfig,
    /// sync, set watches, refusals) are boxed again, so the box a read or a write takes is the
    /// size a read or a write needs, not what a reconfig does.
    async fn handle_frame(&mut self, frame: &[u8]) -> Flow {
        let started = Instant::now();
        let (header, request) = match decode_request(frame) {
            Ok(decoded) => decoded,
            Err(RequestError::Header(e)) => {
                return Flow::Stop(End::Protocol(
                    CloseCause::Garbage,
                    format!("unreadable request: {e}"),
                ))
            }
            Err(RequestError::Body { header, source }) => {
                return Box::pin(self.undecodable(header, source, started)).await;
            }
        };
        let xid = header.xid;
        if !matches!(request, Request::Auth(_) | Request::Sasl(_)) {
            if let Some(missing) = self.missing_required_auth() {
                return Box::pin(self.refuse_unauthenticated(xid, missing)).await;
            }
        }
        if self.binding.read_only {
            if let Some(flow) =
                Box::pin(self.refuse_in_read_only_mode(xid, &request, started)).await
            {
                return flow;
            }
        }
        match request {
            Request::CloseSession => Box::pin(self.close_session(xid, started)).await,
            Request::Reconfig(wire)
                if self.rules.reconfig_enabled && self.server.config.is_cluster() =>
            {
                Box::pin(self.reconfig(xid, wire, started)).await
            }
            request if is_logged_write(&request) => {
                let op = request.op_code();
                let txn_op = if self.passes_a_ceiling(&request) {
                    // Logged as a failed write: it takes its zxid in order, as any error does.
                    TxnOp::Fail(ErrorCode::QuotaExceeded)
                } else {
                    prepare_write(request, &self.rules)
                };
                self.propose(xid, op, txn_op, started).await
            }
            Request::Auth(auth) => Box::pin(self.auth(xid, auth, started)).await,
            Request::Sasl(sasl) => Box::pin(self.sasl(xid, sasl, started)).await,
            Request::SetWatches(w) => {
                let w = SetWatches2 {
                    relative_zxid: w.relative_zxid,
                    data_watches: w.data_watches,
                    exist_watches: w.exist_watches,
                    child_watches: w.child_watches,
                    ..SetWatches2::default()
                };
                Box::pin(self.set_watches(xid, OpCode::SetWatches, &w, ErrorCode::Ok, started))
                    .await
            }
            Request::SetWatches2(w) => {
                Box::pin(self.set_watches(xid, OpCode::SetWatches2, &w, ErrorCode::Ok, started))
                    .await
            }
            Request::Sync(_) => Box::pin(self.sync(xid, &request, started)).await,
            Request::Unknown { .. } | Request::CreateSession(_) => {
                Box::pin(self.unimplemented(xid)).await
            }
            _ => {
                let op = request.op_code();
                self.read(xid, op, request, started).await
            }
        }
    }

    /// A request whose header reads but whose body does not: answered as ZooKeeper answers
    /// the same bytes (mostly MarshallingError; a write-type op still takes a zxid).
    async fn undecodable(
        &mut self,
        header: RequestHeader,
        source: DecodeError,
        started: Instant,
    ) -> Flow {
        tracing::debug!(conn = self.handle.id, xid = header.xid, op = %header.op, %source, "undecodable request body");
        // ZooKeeper reads auth and sasl packets outside its request pipeline and closes
        // the connection, unanswered, on one it cannot read (checked live).
        if matches!(header.op, OpCode::Auth | OpCode::Sasl) {
            return Flow::Stop(End::Protocol(
                CloseCause::Garbage,
                format!("undecodable {} packet: {source}", header.op),
            ));
        }
        let code = match source {
            // The watches before the null are set (and fire), then MarshallingError.
            DecodeError::NullInSetWatches(partial) => {
                return self
                    .set_watches(
                        header.xid,
                        header.op,
                        &partial,
                        ErrorCode::MarshallingError,
                        started,
                    )
                    .await;
            }
            // A multi with a null sub-op path decodes in ZooKeeper and fails before it
            // is logged: MarshallingError, no zxid taken; a multi's body is empty, a
            // multiRead's holds the results of the sub-ops before the null one.
            DecodeError::NullPathInMulti(before) if header.op == OpCode::MultiRead => {
                let request = Request::MultiRead(*before);
                return self
                    .read_answering(
                        header.xid,
                        header.op,
                        request,
                        Some(ErrorCode::MarshallingError),
                        started,
                    )
                    .await;
            }
            DecodeError::NullPathInMulti(_) => {
                return self
                    .reply_local(
                        header.xid,
                        header.op,
                        ErrorCode::MarshallingError,
                        Response::Multi(MultiResponse::default()),
                        started,
                    )
                    .await;
            }
            // A null path: MarshallingError, after a create's request-only checks.
            DecodeError::NullPath(request) => {
                let refusal = create_refusal(&request);
                match prepare_write(*request, &self.rules) {
                    TxnOp::Fail(code) => code,
                    _ => refusal.unwrap_or(ErrorCode::MarshallingError),
                }
            }
            _ => ErrorCode::MarshallingError,
        };
        // A write-type op still takes a zxid, as ZooKeeper logs an error txn.
        return if header.op.is_write() && header.op != OpCode::CloseSession {
            self.propose(header.xid, header.op, TxnOp::Fail(code), started)
                .await
        } else {
            self.reply_local(header.xid, header.op, code, Response::Empty, started)
                .await
        };
    }

    /// closeSession: proposed like any write; requests pipelined behind it get no reply.
    async fn close_session(&mut self, xid: i32, started: Instant) -> Flow {
        let flow = self
            .propose(xid, OpCode::CloseSession, TxnOp::CloseSession, started)
            .await;
        if let Flow::Stop(end) = flow {
            return Flow::Stop(end);
        }
        // Stop reading, and wait until the reply is queued (the Notifier closes the
        // connection after it).
        let _ = self.wait_for_writes().await;
        Flow::Stop(End::Done(
            CloseCause::Client,
            "session closed by the client",
        ))
    }

    /// sasl (102). Without a JAAS `Server` section ZooKeeper answers err 0, zxid 0, a null
    /// token, and carries on; with one, DIGEST-MD5 (`crate::sasl`): a challenge, then the
    /// verdict. A failure is AuthFailed (SessionClosedRequireSaslAuth when SASL is required)
    /// with a null token, then a close; the session itself stays valid. A null token closes
    /// the connection unanswered.
    async fn sasl(&mut self, xid: i32, sasl: GetSaslRequest, started: Instant) -> Flow {
        let Some(token) = sasl.token else {
            // ZooKeeper 3.8.0 closes the connection without a reply (checked live).
            return Flow::Stop(End::Protocol(
                CloseCause::Garbage,
                "sasl with a null token".to_string(),
            ));
        };
        if let Err(flow) = self.wait_for_writes().await {
            return flow;
        }
        let server = self.server.clone();
        let Some(users) = server.sasl.as_ref() else {
            self.handle.send_reply(
                xid,
                0,
                ErrorCode::Ok,
                Response::Sasl(SetSaslResponse { token: None }),
            );
            self.finish(OpCode::Sasl, xid, 0, started);
            return Flow::Continue;
        };
        let step = self
            .sasl
            .get_or_insert_with(Default::default)
            .step(users, &token);
        let token = match step {
            crate::sasl::Step::Challenge(token) => token,
            crate::sasl::Step::Authenticated { username, token } => {
                if server.config.super_users.contains(&username) {
                    self.add_auth(Id {
                        scheme: "super".into(),
                        id: Some(String::new()),
                    });
                }
                tracing::info!(conn = self.handle.id, peer = %self.handle.peer, session = format_args!("0x{:x}", self.binding.session_id), user = %username, "SASL authenticated");
                self.add_auth(Id {
                    scheme: "sasl".into(),
                    id: Some(username),
                });
                token
            }
            crate::sasl::Step::Failed(reason) => return self.sasl_failed(xid, &reason),
        };
        self.handle.send_reply(
            xid,
            0,
            ErrorCode::Ok,
            Response::Sasl(SetSaslResponse { token: Some(token) }),
        );
        self.finish(OpCode::Sasl, xid, 0, started);
        Flow::Continue
    }

    /// A SASL failure: the error reply with a null token, then the connection closes (kept
    /// with `allowSaslFailedClients` unless SASL is required).
    fn sasl_failed(&mut self, xid: i32, reason: &str) -> Flow {
        let config = &self.server.config;
        let required = self.requires_sasl();
        self.server
            .stats
            .auth_failed
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(conn = self.handle.id, peer = %self.handle.peer, session = format_args!("0x{:x}", self.binding.session_id), reason, "SASL authentication failed");
        let code = if required {
            ErrorCode::SessionClosedRequireSaslAuth
        } else {
            ErrorCode::AuthFailed
        };
        self.handle.send_reply(
            xid,
            0,
            code,
            Response::Sasl(SetSaslResponse { token: None }),
        );
        if config.allow_sasl_failed_clients && !required {
            return Flow::Continue;
        }
        Flow::Stop(End::Done(CloseCause::Auth, "SASL authentication failed"))
    }

    fn requires_sasl(&self) -> bool {
        let config = &self.server.config;
        config.sasl_required
            || config
                .enforce_auth_schemes
                .as_ref()
                .is_some_and(|s| s.iter().any(|s| s == "sasl"))
    }

    /// The first scheme `sessionRequireClientSASLAuth` / `enforce.auth.schemes` requires that
    /// this connection has no id of, if any.
    fn missing_required_auth(&self) -> Option<String> {
        let config = &self.server.config;
        let has = |scheme: &str| self.auth.iter().any(|id| id.scheme == scheme);
        if config.sasl_required && !has("sasl") {
            return Some("sasl".into());
        }
        config
            .enforce_auth_schemes
            .as_ref()?
            .iter()
            .find(|scheme| !has(scheme))
            .cloned()
    }

    /// A request from a connection that has not authenticated as required: ZooKeeper's
    /// SessionClosedRequireSaslAuth (-124), zxid 0, then a close.
    async fn refuse_unauthenticated(&mut self, xid: i32, missing: String) -> Flow {
        if let Err(flow) = self.wait_for_writes().await {
            return flow;
        }
        self.server
            .stats
            .auth_failed
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(conn = self.handle.id, peer = %self.handle.peer, scheme = %missing, "request refused: the connection has not authenticated with a required scheme; closing");
        self.handle.send_reply(
            xid,
            0,
            ErrorCode::SessionClosedRequireSaslAuth,
            Response::Empty,
        );
        Flow::Stop(End::Done(
            CloseCause::Auth,
            "authentication required (enforce.auth / sessionRequireClientSASLAuth)",
        ))
    }

    /// sync: catch up with everything committed when it arrived (a read-index round through
    /// Raft), then answer like a read.
    async fn sync(&mut self, xid: i32, request: &Request, started: Instant) -> Flow {
        if let Err(flow) = self.wait_for_writes().await {
            return flow;
        }
        let timeout = std::time::Duration::from_millis(self.binding.timeout_ms.max(1000) as u64);
        if let Err(e) = self.server.replica.sync(timeout).await {
            return Flow::Stop(End::Protocol(
                CloseCause::Garbage,
                format!("sync could not reach the leader: {e}"),
            ));
        }
        self.read(xid, OpCode::Sync, request.clone(), started).await
    }

    /// A read-only session's writes and syncs get NotReadOnly, as from ZooKeeper's read-only
    /// server, and its closeSession ends it here (nothing was logged for it). `None`: a read,
    /// handled as usual.
    async fn refuse_in_read_only_mode(
        &mut self,
        xid: i32,
        request: &Request,
        started: Instant,
    ) -> Option<Flow> {
        let op = request.op_code();
        if matches!(request, Request::CloseSession) {
            let flow = self
                .reply_local(xid, op, ErrorCode::Ok, Response::Empty, started)
                .await;
            return Some(match flow {
                Flow::Continue => Flow::Stop(End::Done(
                    CloseCause::Client,
                    "read-only session closed by the client",
                )),
                stop => stop,
            });
        }
        if !(is_logged_write(request) || matches!(request, Request::Sync(_))) {
            return None;
        }
        Some(
            self.reply_local(xid, op, ErrorCode::NotReadOnly, Response::Empty, started)
                .await,
        )
    }

    /// Waits until every write this connection proposed is applied (and answered).
    async fn wait_for_writes(&self) -> Result<(), Flow> {
        let settled = self.handle.writes.settled();
        let mut closed = self.handle.closed_signal();
        tokio::select! {
            () = settled => Ok(()),
            _ = closed.wait_for(|c| *c) => Err(Flow::Stop(End::Done(CloseCause::Server, "closed while waiting for writes"))),
        }
    }

    async fn propose(&mut self, xid: i32, op: OpCode, txn_op: TxnOp, started: Instant) -> Flow {
        let txn = Txn {
            session_id: self.binding.session_id,
            origin: Some(Origin {
                member: self.server.member_id(),
                connection: self.handle.id,
                xid,
            }),
            auth: self.auth.to_vec(),
            rules: self.rules.apply,
            op: txn_op,
        };
        self.handle.writes.proposed(PendingWrite {
            xid,
            op,
            started,
            term: self.server.replica.term(),
        });
        match self.server.replica.proposer.propose(txn).await {
            Ok(()) => Flow::Continue,
            Err(e) => Flow::Stop(End::Protocol(
                CloseCause::NotServing,
                format!("write path unavailable: {e}"),
            )),
        }
    }

    async fn read(&mut self, xid: i32, op: OpCode, request: Request, started: Instant) -> Flow {
        let ceilings = Ceilings::of(&self.server.config);
        if ceilings.refuses_watch(&request, self.handle.id, || self.server.watches.clone()) {
            Ceiling::Watches.refused(&self.server.stats);
            return self
                .reply_local(xid, op, ErrorCode::QuotaExceeded, Response::Empty, started)
                .await;
        }
        self.read_answering(xid, op, request, None, started).await
    }

    /// A read whose reply header says `answer` when given: a multiRead cut at a null path
    /// answers MarshallingError with the results of the sub-ops before it, as ZooKeeper does.
    ///
    /// With writes of this connection pending, the read is queued behind them and this
    /// pipeline goes on reading: the Notifier answers it right after the write before it
    /// applies (`writes`).
    async fn read_answering(
        &mut self,
        xid: i32,
        op: OpCode,
        request: Request,
        answer: Option<ErrorCode>,
        started: Instant,
    ) -> Flow {
        let queued = QueuedRead {
            xid,
            op,
            request,
            answer,
            started,
            session_id: self.binding.session_id,
            auth: self.auth.clone(),
        };
        // A linearizable read first waits until this member has applied every write
        // acknowledged before it arrived, then takes its turn behind this connection's own
        // writes like any read (the state only moves forward). Its own pending write is no
        // substitute for the round: that write may have committed before the read arrived,
        // ahead of another client's write acknowledged meanwhile but not yet applied here.
        if self.linearizable && op != OpCode::Sync && !self.round_covers_buffer {
            if let Err(flow) = self.linearize().await {
                return flow;
            }
            // Every request still buffered arrived before that round began.
            self.round_covers_buffer = true;
        }
        let queued = match self.handle.writes.queue_read(queued) {
            ReadTurn::Queued => return Flow::Continue,
            ReadTurn::Now(queued) => queued,
            ReadTurn::Full(queued) => {
                if let Err(flow) = self.wait_for_writes().await {
                    return flow;
                }
                queued
            }
        };
        let view = self.server.replica.state.read();
        reads::answer(&view.state, &self.read_context(), &self.handle, &queued);
        Flow::Continue
    }

    /// Waits until this member has applied every write acknowledged before now (a shared
    /// read-index round); a member that cannot (no leader, the leader unreachable) closes
    /// the connection, as for a `sync` that cannot reach the leader: the client reconnects
    /// elsewhere.
    async fn linearize(&self) -> Result<(), Flow> {
        let timeout = std::time::Duration::from_millis(self.binding.timeout_ms.max(1000) as u64);
        self.server.replica.sync(timeout).await.map_err(|e| {
            Flow::Stop(End::Protocol(
                CloseCause::NotServing,
                format!("linearizable read could not reach the leader: {e}"),
            ))
        })
    }

    /// A local reply (no state read), after the earlier writes.
    async fn reply_local(
        &mut self,
        xid: i32,
        op: OpCode,
        err: ErrorCode,
        response: Response,
        started: Instant,
    ) -> Flow {
        if let Err(flow) = self.wait_for_writes().await {
            return flow;
        }
        let zxid = self.server.replica.state.read().state.last_zxid;
        self.handle.send_reply(xid, zxid, err, response);
        self.finish(op, xid, zxid, started);
        Flow::Continue
    }

    fn read_context(&self) -> reads::ReadContext<'_> {
        reads::ReadContext {
            watches: &self.server.watches,
            stats: &self.server.stats,
            slow: Duration::from_millis(self.server.config.slow_request_ms),
        }
    }

    fn finish(&self, op: OpCode, xid: i32, zxid: i64, started: Instant) {
        reads::record_local(
            &self.read_context(),
            &self.handle,
            self.binding.session_id,
            op,
            xid,
            zxid,
            started,
        );
    }

    /// auth (opcode 100, xid −4 from every client): digest and ip are ZooKeeper's default
    /// providers; any other scheme, or digest without credentials (null), is AuthFailed, then
    /// a close. The reply echoes the request's xid, whatever it was, with zxid 0, as
    /// ZooKeeper's does.
    async fn auth(&mut self, xid: i32, auth: AuthPacket, started: Instant) -> Flow {
        if let Err(flow) = self.wait_for_writes().await {
            return flow;
        }
        match (auth.scheme.as_str(), &auth.auth) {
            ("digest", Some(credentials)) => {
                let id = digest_id(&String::from_utf8_lossy(credentials));
                if self.server.config.super_digest.as_deref() == Some(id.as_str()) {
                    self.add_auth(Id {
                        scheme: "super".into(),
                        id: Some(String::new()),
                    });
                }
                self.add_auth(Id {
                    scheme: "digest".into(),
                    id: Some(id),
                });
            }
            ("ip", _) => {}
            // raftzk's own: linearizable reads for this session (clients resend their auth
            // on every reconnect, so it follows the session from member to member).
            ("raftzk", Some(data)) if data.as_slice() == b"linearizable" => {
                if !self.linearizable {
                    tracing::debug!(conn = self.handle.id, "linearizable reads on request");
                }
                self.linearizable = true;
            }
            (other, _) => {
                self.server
                    .stats
                    .auth_failed
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    conn = self.handle.id,
                    scheme = other,
                    "auth refused (unknown scheme, or digest without credentials); closing"
                );
                self.handle
                    .send_reply(xid, 0, ErrorCode::AuthFailed, Response::Empty);
                return Flow::Stop(End::Done(CloseCause::Auth, "authentication failed"));
            }
        }
        self.handle
            .send_reply(xid, 0, ErrorCode::Ok, Response::Empty);
        self.finish(OpCode::Auth, xid, 0, started);
        Flow::Continue
    }

    fn add_auth(&mut self, id: Id) {
        if !self.auth.contains(&id) {
            Arc::make_mut(&mut self.auth).push(id);
        }
    }

    /// setWatches/setWatches2 after a reconnect: re-register, and fire at once what changed
    /// since the client's last zxid (`protocol.md` §8.4); the events precede the reply.
    /// `answer` is Ok, or MarshallingError for lists cut at a null path (ZooKeeper sets the
    /// watches before the null, then fails).
    async fn set_watches(
        &mut self,
        xid: i32,
        op: OpCode,
        w: &SetWatches2,
        answer: ErrorCode,
        started: Instant,
    ) -> Flow {
        if let Err(flow) = self.wait_for_writes().await {
            return flow;
        }
        let view = self.server.replica.state.read();
        let tree = &view.state.tree;
        let conn = self.handle.id;
        {
            let mut watches = self.server.watches();
            for path in &w.data_watches {
                match tree.get(path) {
                    None => {
                        self.handle.send_event(EventType::NodeDeleted, path);
                    }
                    Some(node) if node.meta.mzxid > w.relative_zxid => {
                        self.handle.send_event(EventType::NodeDataChanged, path);
                    }
                    Some(_) => watches.add_data_watch(conn, path),
                }
            }
            for path in &w.exist_watches {
                match tree.get(path) {
                    None => watches.add_data_watch(conn, path),
                    Some(_) => {
                        self.handle.send_event(EventType::NodeCreated, path);
                    }
                }
            }
            for path in &w.child_watches {
                match tree.get(path) {
                    None => {
                        self.handle.send_event(EventType::NodeDeleted, path);
                    }
                    Some(node) if node.meta.pzxid > w.relative_zxid => {
                        self.handle.send_event(EventType::NodeChildrenChanged, path);
                    }
                    Some(_) => watches.add_child_watch(conn, path),
                }
            }
            for path in &w.persistent_watches {
                watches.add_persistent_watch(conn, path, false);
            }
            for path in &w.persistent_recursive_watches {
                watches.add_persistent_watch(conn, path, true);
            }
        }
        let zxid = view.state.last_zxid;
        self.handle.send_reply(xid, zxid, answer, Response::Empty);
        drop(view);
        self.finish(op, xid, zxid, started);
        Flow::Continue
    }

    /// reconfig (16) on a cluster member with `reconfigEnabled`: after this connection's
    /// earlier writes, the leader changes the membership ([`crate::raft::reconfig`]); once
    /// this member has applied the change, the reply carries `/zookeeper/config` and its Stat.
    /// Like ZooKeeper, it needs WRITE on `/zookeeper/config` (world may only read it, so in
    /// practice the super user). A change whose outcome is unknown closes the connection.
    async fn reconfig(&mut self, xid: i32, wire: ReconfigRequest, started: Instant) -> Flow {
        const OP: OpCode = OpCode::Reconfig;
        if let Err(flow) = self.wait_for_writes().await {
            return flow;
        }
        // ZooKeeper parses and checks the request (version, membership) before it checks
        // WRITE on /zookeeper/config: a malformed one is BadArguments whoever sends it.
        let mut request = match reconfig::parse(&wire, self.server.config.client_addr.port()) {
            Ok(request) => request,
            Err(reason) => {
                tracing::info!(conn = self.handle.id, %reason, "reconfig refused");
                return self
                    .reply_local(xid, OP, ErrorCode::BadArguments, Response::Empty, started)
                    .await;
            }
        };
        request.authorized = {
            let view = self.server.replica.state.read();
            view.state
                .tree
                .get(CONFIG_PATH)
                .is_some_and(|node| acl::check(&node.acl, Perms::WRITE, &self.auth))
        };
        let timeout = Duration::from_millis(self.server.config.write_timeout_ms);
        let index = match self.server.replica.reconfigure(request, timeout).await {
            Ok(index) => index,
            Err(e) => {
                let code = match e {
                    ReconfigError::BadArguments(_) => ErrorCode::BadArguments,
                    ReconfigError::NoAuth => ErrorCode::NoAuth,
                    ReconfigError::BadVersion(_) => ErrorCode::BadVersion,
                    ReconfigError::InProgress => ErrorCode::ReconfigInProgress,
                    ReconfigError::NoQuorum(_) => ErrorCode::NewConfigNoQuorum,
                    ReconfigError::NoLeader
                    | ReconfigError::Timeout(_)
                    | ReconfigError::Raft(_) => {
                        return Flow::Stop(End::Protocol(
                            CloseCause::Garbage,
                            format!("reconfig of unknown outcome: {e}"),
                        ))
                    }
                };
                tracing::info!(conn = self.handle.id, error = %e, "reconfig refused");
                return self
                    .reply_local(xid, OP, code, Response::Empty, started)
                    .await;
            }
        };
        let mut applied = self.server.replica.state.applied_index();
        if !matches!(
            tokio::time::timeout(timeout, applied.wait_for(|i| *i >= index)).await,
            Ok(Ok(_))
        ) {
            return Flow::Stop(End::Protocol(
                CloseCause::Garbage,
                format!("reconfig at index {index} not applied here within {timeout:?}"),
            ));
        }
        let view = self.server.replica.state.read();
        let (data, stat) = view
            .state
            .tree
            .get(CONFIG_PATH)
            .map(|node| (node.data.clone(), node.stat()))
            .unwrap_or_default();
        let zxid = view.state.last_zxid;
        drop(view);
        self.handle.send_reply(
            xid,
            zxid,
            ErrorCode::Ok,
            Response::Reconfig(GetDataResponse { data, stat }),
        );
        self.finish(OP, xid, zxid, started);
        Flow::Continue
    }

    /// An opcode with no request form: Unimplemented with zxid −1, then a close.
    async fn unimplemented(&mut self, xid: i32) -> Flow {
        if let Err(flow) = self.wait_for_writes().await {
            return flow;
        }
        self.handle
            .send_reply(xid, -1, ErrorCode::Unimplemented, Response::Empty);
        Flow::Stop(End::Protocol(
            CloseCause::Garbage,
            format!("unknown opcode (xid {xid})"),
        ))
    }
}
