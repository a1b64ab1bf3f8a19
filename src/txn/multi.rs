//! multi: all-or-nothing, with ZooKeeper's result encoding (`protocol.md` §6.4, §13).
//!
//! Sub-ops run in order on the live tree; the first failure rolls every earlier one back and
//! the results become: `Error(Ok)` before it, `Error(code)` for it, `Error(RuntimeInconsistency)`
//! after it, under a reply header that says Ok. Inside a multi the create flags, not the
//! sub-op type, choose the node type.

use jute_codec::{
    Create2Response, CreateMode, CreateRequest, CreateResponse, ErrorCode, MultiOp, MultiRequest,
    MultiResponse, MultiResult, Response,
};

use super::ops::{CreateKind, CreateSpec, Ctx, MAX_TTL_MS};

/// Applies a multi request; returns the header code and the reply body.
pub(crate) fn apply_multi(ctx: &mut Ctx<'_>, request: &MultiRequest) -> (ErrorCode, Response) {
    // A multi of reads is refused whole with a header-only MarshallingError. So is one that
    // reaches a plain create sub-op with TTL flags (its record has no ttl) or another sub-op
    // ZooKeeper cannot prepare (below); an earlier failing sub-op ends the multi before it
    // (ZooKeeper 3.8.0 prepares sub-ops in order, checked live).
    if request.is_read() {
        return (ErrorCode::MarshallingError, Response::Empty);
    }
    let mut results = Vec::with_capacity(request.ops.len());
    for (failed_at, op) in request.ops.iter().enumerate() {
        match run_op(ctx, op) {
            Ok(result) => results.push(result),
            // A sub-op ZooKeeper cannot even prepare (a null ACL id it dereferences) fails the
            // whole multi with a header-only MarshallingError, as 3.8.0 answers it.
            Err(ErrorCode::MarshallingError) => {
                ctx.rollback();
                return (ErrorCode::MarshallingError, Response::Empty);
            }
            Err(code) => {
                ctx.rollback();
                let results = (0..request.ops.len())
                    .map(|i| {
                        MultiResult::Error(match i.cmp(&failed_at) {
                            std::cmp::Ordering::Less => ErrorCode::Ok,
                            std::cmp::Ordering::Equal => code,
                            std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                        })
                    })
                    .collect();
                return (ErrorCode::Ok, Response::Multi(MultiResponse { results }));
            }
        }
    }
    (ErrorCode::Ok, Response::Multi(MultiResponse { results }))
}

fn run_op(ctx: &mut Ctx<'_>, op: &MultiOp) -> Result<MultiResult, ErrorCode> {
    match op {
        MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
            create(ctx, r, None)
        }
        MultiOp::CreateTtl(r) => {
            let plain = CreateRequest {
                path: r.path.clone(),
                data: r.data.clone(),
                acl: r.acl.clone(),
                flags: r.flags,
            };
            create(ctx, &plain, Some(r.ttl))
        }
        MultiOp::Delete(r) => ctx.delete(&r.path, r.version).map(|()| MultiResult::Delete),
        MultiOp::SetData(r) => ctx
            .set_data(&r.path, &r.data, r.version)
            .map(MultiResult::SetData),
        MultiOp::Check(r) => ctx.check(&r.path, r.version).map(|()| MultiResult::Check),
        // Reads cannot be mixed into a write multi (the decoder refuses them).
        MultiOp::GetData(_) | MultiOp::GetChildren(_) => Err(ErrorCode::MarshallingError),
    }
}

/// A create sub-op: flags 4 make a container, TTL flags (only reachable with a ttl) a TTL
/// node; both answer with a type-15 result carrying the Stat. Anything else is a plain create
/// with a type-1 result, whatever the sub-op type was.
fn create(
    ctx: &mut Ctx<'_>,
    r: &CreateRequest,
    ttl: Option<i64>,
) -> Result<MultiResult, ErrorCode> {
    let kind = match (r.flags, ttl) {
        (CreateMode::Unknown(_), _) => return Err(ErrorCode::BadArguments),
        (CreateMode::Container, _) => CreateKind::Container,
        (mode, Some(ttl)) if mode.is_ttl() => {
            if ttl <= 0 || ttl > MAX_TTL_MS {
                return Err(ErrorCode::BadArguments);
            }
            CreateKind::Ttl(ttl)
        }
        (mode, None) if mode.is_ttl() => return Err(ErrorCode::MarshallingError),
        _ => CreateKind::Plain,
    };
    let (path, stat) = ctx.create(CreateSpec {
        path: &r.path,
        data: &r.data,
        acl: &r.acl,
        mode: r.flags,
        kind,
    })?;
    Ok(match kind {
        CreateKind::Plain => MultiResult::Create(CreateResponse { path }),
        CreateKind::Container | CreateKind::Ttl(_) => {
            MultiResult::Create2(Create2Response { path, stat })
        }
    })
}
