//! Decisions about a client write that depend on this member's configuration, made once,
//! before the write is logged, so that apply never reads config (`design.md`).

use jute_codec::{ErrorCode, MultiOp, Request};

use super::TxnOp;

/// The configuration that changes how writes are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteRules {
    /// `extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types: bool,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// What apply decides from this member's configuration (travels in each Txn it
    /// proposes).
    pub apply: super::ApplyRules,
}

/// Turns a decoded client write into what is logged. Writes ZooKeeper refuses for a
/// config-dependent reason, and the two opcodes a client may not send, become
/// [`TxnOp::Fail`]: they still take a zxid, as ZooKeeper's error txns do.
pub fn prepare_write(request: Request, rules: &WriteRules) -> TxnOp {
    let fail = match &request {
        // protocol.md §9.1 step 2: a TTL mode while extended types are off (unknown flags
        // were step 1 and stay BadArguments, decided in apply).
        Request::CreateTtl(_) if !rules.extended_types => Some(ErrorCode::Unimplemented),
        Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r)
            if !rules.extended_types && r.flags.is_ttl() =>
        {
            Some(ErrorCode::Unimplemented)
        }
        Request::Multi(m)
            if !rules.extended_types
                && m.ops.iter().any(|op| match op {
                    MultiOp::CreateTtl(_) => true,
                    MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
                        r.flags.is_ttl()
                    }
                    _ => false,
                }) =>
        {
            Some(ErrorCode::Unimplemented)
        }
        // A standalone member answers reconfig as standalone ZooKeeper does.
        Request::Reconfig(_) if rules.reconfig_enabled => Some(ErrorCode::Unimplemented),
        Request::Reconfig(_) => Some(ErrorCode::ReconfigDisabled),
        // deleteContainer is the server's own: BadArguments (protocol.md §9.1). A top-level
        // check runs its checks in apply (see `client_write`).
        Request::DeleteContainer(_) => Some(ErrorCode::BadArguments),
        _ => None,
    };
    match fail {
        Some(code) => TxnOp::Fail(code),
        None => TxnOp::Client(request),
    }
}

/// True for the requests that go through the log (a `W` in `protocol.md` §5). closeSession
/// is one too, but has its own [`TxnOp`].
pub fn is_logged_write(request: &Request) -> bool {
    matches!(
        request,
        Request::Create(_)
            | Request::Create2(_)
            | Request::CreateContainer(_)
            | Request::CreateTtl(_)
            | Request::Delete(_)
            | Request::SetData(_)
            | Request::SetAcl(_)
            | Request::Check(_)
            | Request::Multi(_)
            | Request::Reconfig(_)
            | Request::DeleteContainer(_)
    )
}
