//! The deterministic apply: one entry in, one outcome per Txn out.

use jute_codec::{Create2Response, CreateRequest, CreateResponse, ErrorCode, OpCode, Request};
use jute_codec::{Response, StatResponse};

use super::multi::apply_multi;
use super::ops::{CreateKind, CreateSpec, Ctx, MAX_TTL_MS};
use super::state::ReplicatedState;
use super::{zxid_of, LogEntry, Txn, TxnOp, TxnOutcome};
use crate::session::table::SessionInfo;

/// Applies the entry at log `index` to `state`. Reads nothing but its arguments: the same
/// state and entry give the same outcomes on every member.
pub fn apply_entry(state: &mut ReplicatedState, index: u64, entry: &LogEntry) -> Vec<TxnOutcome> {
    let mut outcomes = Vec::with_capacity(entry.txns.len());
    apply_entry_each(state, index, entry, |_, _, outcome| outcomes.push(outcome));
    outcomes
}

/// [`apply_entry`], handing each Txn's outcome to `applied` together with the state right
/// after that Txn (its zxid is `last_zxid`), before the next Txn of the entry is applied: a
/// read a session queued behind one of its writes is answered there, so it sees that write and
/// none of the session's later ones, though they travel in the same entry.
pub fn apply_entry_each(
    state: &mut ReplicatedState,
    index: u64,
    entry: &LogEntry,
    mut applied: impl FnMut(&ReplicatedState, &Txn, TxnOutcome),
) {
    for (position, txn) in entry.txns.iter().enumerate() {
        let zxid = zxid_of(index, position);
        let outcome = apply_txn(state, zxid, entry.time_ms, txn);
        state.last_zxid = state.last_zxid.max(zxid);
        applied(state, txn, outcome);
    }
    state.note_index(index);
}

fn apply_txn(state: &mut ReplicatedState, zxid: i64, time_ms: i64, txn: &Txn) -> TxnOutcome {
    let ReplicatedState { tree, sessions, .. } = state;
    match &txn.op {
        TxnOp::CreateSession {
            timeout_ms,
            password,
        } => {
            let info = SessionInfo {
                timeout_ms: *timeout_ms,
                password: password.clone(),
            };
            if sessions.insert(txn.session_id, info) {
                ok(zxid, Response::Empty, Vec::new())
            } else {
                TxnOutcome::error(zxid, ErrorCode::SessionMoved)
            }
        }
        TxnOp::CloseSession => {
            if !sessions.contains(txn.session_id) {
                return TxnOutcome::error(zxid, ErrorCode::SessionExpired);
            }
            let ephemerals: Vec<String> = tree
                .ephemerals_of(txn.session_id)
                .map(str::to_string)
                .collect();
            let mut ctx = Ctx::for_txn(tree, sessions, txn, zxid, time_ms);
            for path in &ephemerals {
                ctx.remove_node(path);
            }
            let triggers = std::mem::take(&mut ctx.triggers);
            sessions.remove(txn.session_id);
            let mut outcome = ok(zxid, Response::Empty, triggers);
            outcome.closed_session = Some(txn.session_id);
            outcome
        }
        TxnOp::Fail(code) => TxnOutcome::error(zxid, *code),
        TxnOp::Reap { path } => {
            let mut ctx = Ctx::for_txn(tree, sessions, txn, zxid, time_ms);
            match ctx.reap(path) {
                Ok(()) => ok(zxid, Response::Empty, ctx.triggers),
                Err(code) => TxnOutcome::error(zxid, code),
            }
        }
        TxnOp::Client(request) => {
            let mut ctx = Ctx::for_txn(tree, sessions, txn, zxid, time_ms);
            match client_write(&mut ctx, request) {
                Ok((ErrorCode::Ok, response)) => ok(zxid, response, ctx.triggers),
                // A failed multi: header Ok, errors in the body, nothing changed.
                Ok((code, response)) => TxnOutcome {
                    response,
                    ..TxnOutcome::error(zxid, code)
                },
                Err(code) => {
                    ctx.rollback();
                    TxnOutcome::error(zxid, code)
                }
            }
        }
    }
}

fn ok(zxid: i64, response: Response, triggers: Vec<super::WatchTrigger>) -> TxnOutcome {
    TxnOutcome {
        zxid,
        err: ErrorCode::Ok,
        response,
        triggers,
        closed_session: None,
    }
}

/// One client write. `Err` is a header-only error reply; `Ok((code, body))` a reply with a
/// body (multi's header says Ok even when it failed).
fn client_write(ctx: &mut Ctx<'_>, request: &Request) -> Result<(ErrorCode, Response), ErrorCode> {
    let ok = |response| Ok((ErrorCode::Ok, response));
    match request {
        Request::Create(r) => ok(create(ctx, OpCode::Create, r, None)?),
        Request::Create2(r) => ok(create(ctx, OpCode::Create2, r, None)?),
        Request::CreateContainer(r) => ok(create(ctx, OpCode::CreateContainer, r, None)?),
        Request::CreateTtl(r) => {
            let plain = CreateRequest {
                path: r.path.clone(),
                data: r.data.clone(),
                acl: r.acl.clone(),
                flags: r.flags,
            };
            ok(create(ctx, OpCode::CreateTtl, &plain, Some(r.ttl))?)
        }
        Request::Delete(r) => {
            ctx.delete(&r.path, r.version)?;
            ok(Response::Empty)
        }
        Request::SetData(r) => {
            let stat = ctx.set_data(&r.path, &r.data, r.version)?;
            ok(Response::SetData(StatResponse { stat }))
        }
        Request::SetAcl(r) => {
            let stat = ctx.set_acl(&r.path, &r.acl, r.version)?;
            ok(Response::SetAcl(StatResponse { stat }))
        }
        Request::Multi(m) => {
            ctx.check_session()?;
            Ok(apply_multi(ctx, m))
        }
        // check (13) outside a multi: ZooKeeper 3.8.0 runs its checks (BadArguments, NoNode,
        // NoAuth, BadVersion, checked live) and, when they all pass, never answers. raftzk
        // gives the same answers and BadArguments where ZooKeeper would hang.
        Request::Check(r) => {
            ctx.check(&r.path, r.version)?;
            Err(ErrorCode::BadArguments)
        }
        // prepare_write never logs anything else as a client write.
        _ => Err(ErrorCode::MarshallingError),
    }
}

/// A top-level create: ZooKeeper's steps 1 and 3 (flags and their opcode), then the create.
/// Opcode 19 always makes a container and 21 a TTL node; TTL flags need opcode 21 and
/// container flags opcode 19 (`protocol.md` §9.1).
fn create(
    ctx: &mut Ctx<'_>,
    op: OpCode,
    r: &CreateRequest,
    ttl: Option<i64>,
) -> Result<Response, ErrorCode> {
    let mode = r.flags;
    let kind = create_kind(op, mode, ttl)?;
    let (path, stat) = ctx.create(CreateSpec {
        path: &r.path,
        data: &r.data,
        acl: &r.acl,
        mode,
        kind,
    })?;
    Ok(if op == OpCode::Create {
        Response::Create(CreateResponse { path })
    } else {
        Response::Create2(Create2Response { path, stat })
    })
}

/// The create checks that need nothing but the request (flags valid, TTL value, mode and
/// opcode agree), in ZooKeeper's order: for a top-level create whose path is null they come
/// before the path's MarshallingError. `None` for any other request.
pub fn create_refusal(request: &Request) -> Option<ErrorCode> {
    let result = match request {
        Request::Create(r) => create_kind(OpCode::Create, r.flags, None),
        Request::Create2(r) => create_kind(OpCode::Create2, r.flags, None),
        Request::CreateContainer(r) => create_kind(OpCode::CreateContainer, r.flags, None),
        Request::CreateTtl(r) => create_kind(OpCode::CreateTtl, r.flags, Some(r.ttl)),
        _ => return None,
    };
    result.err()
}

fn create_kind(
    op: OpCode,
    mode: jute_codec::CreateMode,
    ttl: Option<i64>,
) -> Result<CreateKind, ErrorCode> {
    if matches!(mode, jute_codec::CreateMode::Unknown(_)) {
        return Err(ErrorCode::BadArguments);
    }
    let kind = match (op, ttl) {
        (OpCode::CreateTtl, Some(ttl)) => {
            if !mode.is_ttl() || ttl <= 0 || ttl > MAX_TTL_MS {
                return Err(ErrorCode::BadArguments);
            }
            CreateKind::Ttl(ttl)
        }
        (OpCode::CreateContainer, _) if !mode.is_ttl() => CreateKind::Container,
        (OpCode::Create | OpCode::Create2, _)
            if !mode.is_ttl() && mode != jute_codec::CreateMode::Container =>
        {
            CreateKind::Plain
        }
        _ => return Err(ErrorCode::BadArguments),
    };
    Ok(kind)
}
