//! Reads, answered from this member's applied state. The caller holds the state's lock (the
//! pipeline its read lock; the Notifier, answering reads queued behind a write, the write lock
//! it applies under) for the whole call and queues the reply before releasing it, and
//! registers watches under the same lock, so a watch can never miss a change that the read did
//! not see (`protocol.md` §8.2 for which read sets which watch).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use jute_codec::{
    xid, AddWatchMode, ClientInfo, ErrorCode, ErrorResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, Id, MultiOp, MultiRequest, MultiResponse, MultiResult, OpCode, Perms,
    Request, Response, StatResponse, SyncResponse, WhoAmIResponse,
};

use super::handle::ConnectionHandle;
use super::stats::{self, ServerStats};
use super::writes::QueuedRead;
use super::{op_abbreviation, op_label};
use crate::tree::{acl, DataTree, Node};
use crate::txn::ReplicatedState;
use crate::watch::WatchManager;

/// What answering a read touches besides the state and the connection.
pub struct ReadContext<'a> {
    /// The member's watches (a read may set one).
    pub watches: &'a Mutex<WatchManager>,
    /// The member's statistics.
    pub stats: &'a ServerStats,
    /// A request answered slower than this is logged (zero: never).
    pub slow: Duration,
}

/// Answers `request` from `state` on `handle` and records it. The one way a read is answered,
/// whether its pipeline answers it at once (under the state's read lock) or the Notifier
/// answers it behind the write it followed (under the write lock, after that write applied).
pub fn answer(
    state: &ReplicatedState,
    ctx: &ReadContext<'_>,
    handle: &ConnectionHandle,
    queued: &QueuedRead,
) {
    let who = Reader {
        conn: handle.id,
        session_id: queued.session_id,
        auth: &queued.auth,
    };
    let (err, response) = {
        let mut watches = ctx.watches.lock().unwrap_or_else(PoisonError::into_inner);
        read(state, &mut watches, &who, &queued.request)
    };
    if err == ErrorCode::Ok {
        if let Some((path, bytes)) = stats::read_bytes(&queued.request, &response) {
            if let Some(ns) = stats::namespace(path) {
                ctx.stats.read_per_namespace.record(ns, bytes as f64);
            }
        }
    }
    let err = queued.answer.unwrap_or(err);
    let zxid = state.last_zxid;
    let reply_xid = if queued.op == OpCode::Ping {
        xid::PING
    } else {
        queued.xid
    };
    handle.send_reply(reply_xid, zxid, err, response);
    record_local(
        ctx,
        handle,
        queued.session_id,
        queued.op,
        queued.xid,
        zxid,
        queued.started,
    );
}

/// Records a request answered without a write (a read, ping, auth, sasl, setWatches):
/// latency summaries, the connection's last request, and a log line when slow.
pub fn record_local(
    ctx: &ReadContext<'_>,
    handle: &ConnectionHandle,
    session_id: i64,
    op: OpCode,
    xid: i32,
    zxid: i64,
    started: Instant,
) {
    let elapsed = started.elapsed();
    let latency = elapsed.as_millis() as u64;
    if !ctx.slow.is_zero() && elapsed >= ctx.slow {
        tracing::warn!(
            session = format_args!("0x{session_id:x}"),
            client = %handle.peer,
            op = op_label(op_abbreviation(op)),
            ms = latency,
            "slow request"
        );
    }
    ctx.stats.latency.record(latency);
    ctx.stats.read_latency.record_ms(elapsed);
    ctx.stats
        .request_done(op_label(op_abbreviation(op)), elapsed);
    handle.stats.record(op_abbreviation(op), xid, zxid, latency);
}

/// Who is reading.
pub struct Reader<'a> {
    /// The connection (watches belong to it).
    pub conn: u64,
    /// Its session.
    pub session_id: i64,
    /// Its identities.
    pub auth: &'a [Id],
}

/// Answers a read request: the reply's error code and body.
pub fn read(
    state: &ReplicatedState,
    watches: &mut WatchManager,
    who: &Reader<'_>,
    request: &Request,
) -> (ErrorCode, Response) {
    let tree = &state.tree;
    let result = match request {
        Request::Exists(r) => {
            // exists checks only for NUL, and leaves its watch even when the node is absent.
            if r.path.contains('\0') {
                return (ErrorCode::BadArguments, Response::Empty);
            }
            if r.watch {
                watches.add_data_watch(who.conn, &r.path);
            }
            lookup(tree, &r.path).map(|node| Response::Exists(StatResponse { stat: node.stat() }))
        }
        Request::GetData(r) => readable(tree, &r.path, who).map(|node| {
            if r.watch {
                watches.add_data_watch(who.conn, &r.path);
            }
            Response::GetData(GetDataResponse {
                data: node.data.clone(),
                stat: node.stat(),
            })
        }),
        Request::GetChildren(r) => readable(tree, &r.path, who).map(|_| {
            if r.watch {
                watches.add_child_watch(who.conn, &r.path);
            }
            Response::GetChildren(GetChildrenResponse {
                children: child_names(tree, &r.path),
            })
        }),
        Request::GetChildren2(r) => readable(tree, &r.path, who).map(|node| {
            if r.watch {
                watches.add_child_watch(who.conn, &r.path);
            }
            Response::GetChildren2(GetChildren2Response {
                children: child_names(tree, &r.path),
                stat: node.stat(),
            })
        }),
        Request::GetAcl(r) => get_acl(tree, &r.path, who),
        Request::GetAllChildrenNumber(r) => readable(tree, &r.path, who).map(|_| {
            let total = tree.descendant_count(normalize(&r.path)).unwrap_or(0);
            Response::GetAllChildrenNumber(GetAllChildrenNumberResponse {
                total_number: i32::try_from(total).unwrap_or(i32::MAX),
            })
        }),
        Request::GetEphemerals(r) => {
            let prefix = r.prefix_path.as_str();
            let all = prefix.is_empty() || prefix == "/";
            let ephemerals = tree
                .ephemerals_of(who.session_id)
                .filter(|p| all || p.starts_with(prefix))
                .map(str::to_string)
                .collect();
            Ok(Response::GetEphemerals(GetEphemeralsResponse {
                ephemerals,
            }))
        }
        Request::MultiRead(m) => return multi_read(tree, who, m),
        Request::Sync(r) => Ok(Response::Sync(SyncResponse {
            path: r.path.clone(),
        })),
        Request::CheckWatches(r) => match watches.has_watch(who.conn, &r.path, r.watcher_type) {
            None => Err(ErrorCode::MarshallingError),
            Some(true) => Ok(Response::Empty),
            Some(false) => Err(ErrorCode::NoWatcher),
        },
        Request::RemoveWatches(r) => {
            match watches.remove_watches(who.conn, &r.path, r.watcher_type) {
                None => Err(ErrorCode::MarshallingError),
                Some(true) => Ok(Response::Empty),
                Some(false) => Err(ErrorCode::NoWatcher),
            }
        }
        Request::AddWatch(r) => match r.mode {
            AddWatchMode::Persistent | AddWatchMode::PersistentRecursive => {
                let recursive = r.mode == AddWatchMode::PersistentRecursive;
                watches.add_persistent_watch(who.conn, &r.path, recursive);
                Ok(Response::AddWatch(ErrorResponse { err: ErrorCode::Ok }))
            }
            AddWatchMode::Unknown(_) => Err(ErrorCode::MarshallingError),
        },
        // ZooKeeper lists each identity whose scheme has a provider, by its user name: the
        // address for ip, the part before ':' for digest; `super` has no provider. The order
        // is its connection's hash set's (see `zookeeper_set_order`).
        Request::WhoAmI => Ok(Response::WhoAmI(WhoAmIResponse {
            client_info: zookeeper_set_order(who.auth)
                .into_iter()
                .filter(|id| id.scheme != "super")
                .map(|id| {
                    let raw = id.id.as_deref().unwrap_or_default();
                    let user = match id.scheme.as_str() {
                        "digest" => raw.split(':').next().unwrap_or_default(),
                        _ => raw,
                    };
                    ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: user.to_string(),
                    }
                })
                .collect(),
        })),
        Request::Ping => Ok(Response::Empty),
        _ => Err(ErrorCode::MarshallingError),
    };
    match result {
        Ok(response) => (ErrorCode::Ok, response),
        Err(code) => (code, Response::Empty),
    }
}

/// Reads do not validate paths (`protocol.md` §10); the empty path reads as the root, as in
/// ZooKeeper, whose tree also registers the root under "".
fn normalize(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// The names of a node's children, as getChildren answers them (sorted).
fn child_names(tree: &DataTree, path: &str) -> Vec<String> {
    tree.children(normalize(path)).map(str::to_string).collect()
}

fn lookup<'t>(tree: &'t DataTree, path: &str) -> Result<&'t Node, ErrorCode> {
    tree.get(normalize(path)).ok_or(ErrorCode::NoNode)
}

/// The node, if it exists and the reader may READ it.
fn readable<'t>(tree: &'t DataTree, path: &str, who: &Reader<'_>) -> Result<&'t Node, ErrorCode> {
    let node = lookup(tree, path)?;
    if acl::check(&node.acl, Perms::READ, who.auth) {
        Ok(node)
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// getACL needs READ or ADMIN; without ADMIN digest ids are masked as `user:x`.
fn get_acl(tree: &DataTree, path: &str, who: &Reader<'_>) -> Result<Response, ErrorCode> {
    let node = lookup(tree, path)?;
    let admin = acl::check(&node.acl, Perms::ADMIN, who.auth);
    if !admin && !acl::check(&node.acl, Perms::READ, who.auth) {
        return Err(ErrorCode::NoAuth);
    }
    let list = if admin {
        node.acl.to_vec()
    } else {
        acl::mask_digests(&node.acl)
    };
    Ok(Response::GetAcl(GetAclResponse {
        acl: list,
        stat: node.stat(),
    }))
}

/// multiRead: each getData/getChildren answered on its own (no atomicity), watch flags
/// ignored. One made of writes gets MarshallingError with an empty result list.
fn multi_read(tree: &DataTree, who: &Reader<'_>, m: &MultiRequest) -> (ErrorCode, Response) {
    if m.ops.iter().any(|op| !op.is_read()) {
        return (
            ErrorCode::MarshallingError,
            Response::Multi(MultiResponse::default()),
        );
    }
    let results = m
        .ops
        .iter()
        .map(|op| {
            let result = match op {
                MultiOp::GetData(r) => readable(tree, &r.path, who).map(|node| {
                    MultiResult::GetData(GetDataResponse {
                        data: node.data.clone(),
                        stat: node.stat(),
                    })
                }),
                MultiOp::GetChildren(r) => readable(tree, &r.path, who).map(|_| {
                    MultiResult::GetChildren(GetChildrenResponse {
                        children: child_names(tree, &r.path),
                    })
                }),
                _ => Err(ErrorCode::MarshallingError),
            };
            result.unwrap_or_else(MultiResult::Error)
        })
        .collect();
    (ErrorCode::Ok, Response::Multi(MultiResponse { results }))
}

/// The order ZooKeeper 3.8.0 lists a connection's identities in (`whoAmI`): they live in a
/// `ConcurrentHashMap`-backed set of 16 bins, iterated bin by bin, insertion order within a
/// bin; an id's bin comes from the Jute `Id.hashCode` (17, then ×37 + `String.hashCode` of
/// scheme and id) spread as the map spreads it. Checked live: `ip` before `digest u:…`,
/// `digest` with empty credentials before `ip`.
fn zookeeper_set_order(ids: &[Id]) -> Vec<&Id> {
    fn java_string_hash(s: &str) -> i32 {
        s.encode_utf16().fold(0i32, |h, unit| {
            h.wrapping_mul(31).wrapping_add(i32::from(unit))
        })
    }
    let bin = |id: &Id| {
        let h = 17i32
            .wrapping_mul(37)
            .wrapping_add(java_string_hash(&id.scheme))
            .wrapping_mul(37)
            .wrapping_add(java_string_hash(id.id.as_deref().unwrap_or_default()));
        let h = h as u32;
        ((h ^ (h >> 16)) & 0x7fff_ffff) & 15
    };
    let mut ordered: Vec<&Id> = ids.iter().collect();
    ordered.sort_by_key(|id| bin(id));
    ordered
}
