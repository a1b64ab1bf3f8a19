//! Apply, op by op, against ZooKeeper 3.8's rules (`protocol.md`); then random op sequences
//! checked for the tree's invariants, determinism and snapshot round trips.

use jute_codec::*;
use proptest::prelude::*;

use super::*;
use crate::tree::acl::digest_id;

const SESSION: i64 = 0x0100_0000_0000_0001;

/// A state with one live session, and a counter of log indexes.
struct Harness {
    state: ReplicatedState,
    index: u64,
    /// The rules every Txn carries.
    rules: ApplyRules,
}

impl Harness {
    fn new() -> Harness {
        let mut h = Harness {
            state: ReplicatedState::new(),
            index: 0,
            rules: ApplyRules::default(),
        };
        let out = h.txn(
            SESSION,
            vec![],
            TxnOp::CreateSession {
                timeout_ms: 10_000,
                password: vec![7; 16],
            },
        );
        assert_eq!(out.err, ErrorCode::Ok);
        h
    }

    fn txn(&mut self, session_id: i64, auth: Vec<Id>, op: TxnOp) -> TxnOutcome {
        self.index += 1;
        let entry = LogEntry {
            time_ms: 1_000 + self.index as i64,
            txns: vec![Txn {
                session_id,
                origin: None,
                auth,
                rules: self.rules,
                op,
            }],
            digest: None,
        };
        apply_entry(&mut self.state, self.index, &entry)
            .pop()
            .expect("one outcome")
    }

    fn run(&mut self, request: Request) -> TxnOutcome {
        self.txn(SESSION, vec![ip()], TxnOp::Client(request))
    }

    fn run_as(&mut self, auth: Vec<Id>, request: Request) -> TxnOutcome {
        self.txn(SESSION, auth, TxnOp::Client(request))
    }

    fn create(&mut self, path: &str, flags: CreateMode) -> TxnOutcome {
        self.run(create(path, flags))
    }

    fn stat(&self, path: &str) -> Stat {
        self.state.tree.get(path).expect(path).stat()
    }
}

fn ip() -> Id {
    Id {
        scheme: "ip".into(),
        id: Some("127.0.0.1".into()),
    }
}

fn open() -> Vec<Acl> {
    vec![Acl::world(Perms::ALL)]
}

fn create(path: &str, flags: CreateMode) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(b"d".to_vec()),
        acl: open(),
        flags,
    })
}

fn created_path(out: &TxnOutcome) -> String {
    match &out.response {
        Response::Create(r) => r.path.clone(),
        Response::Create2(r) => r.path.clone(),
        other => panic!("not a create reply: {other:?} ({})", out.err),
    }
}

#[test]
fn create_sets_stat_and_parent() {
    let mut h = Harness::new();
    let out = h.create("/a", CreateMode::Persistent);
    assert_eq!(out.err, ErrorCode::Ok);
    assert_eq!(out.zxid, zxid_of(2, 0));
    let stat = h.stat("/a");
    assert_eq!(
        (stat.czxid, stat.mzxid, stat.pzxid),
        (out.zxid, out.zxid, out.zxid)
    );
    assert_eq!((stat.ctime, stat.mtime), (1002, 1002));
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(
        (stat.data_length, stat.num_children, stat.ephemeral_owner),
        (1, 0, 0)
    );
    let root = h.stat("/");
    assert_eq!(root.pzxid, out.zxid);
    assert_eq!(root.num_children, 2);
    assert_eq!(
        out.triggers,
        vec![
            WatchTrigger {
                path: "/a".into(),
                event: EventType::NodeCreated
            },
            WatchTrigger {
                path: "/".into(),
                event: EventType::NodeChildrenChanged
            },
        ]
    );
}

#[test]
fn sequential_suffix_counts_creates_only() {
    let mut h = Harness::new();
    h.create("/p", CreateMode::Persistent);
    h.create("/p/a", CreateMode::Persistent);
    let seq = h.create("/p/s-", CreateMode::PersistentSequential);
    assert_eq!(created_path(&seq), "/p/s-0000000001");
    h.run(Request::Delete(DeleteRequest {
        path: "/p/a".into(),
        version: -1,
    }));
    let seq = h.create("/p/s-", CreateMode::EphemeralSequential);
    assert_eq!(created_path(&seq), "/p/s-0000000002");
    // 3 creates, 1 delete: visible cversion 4.
    assert_eq!(h.stat("/p").cversion, 4);
    // A sequential create on a path ending in '/' is valid.
    assert_eq!(
        created_path(&h.create("/p/", CreateMode::PersistentSequential)),
        "/p/0000000003"
    );
}

#[test]
fn create_errors_in_zookeeper_order() {
    let mut h = Harness::new();
    h.create("/e", CreateMode::Ephemeral);
    let cases: Vec<(Request, ErrorCode)> = vec![
        (
            create("/a", CreateMode::Unknown(99)),
            ErrorCode::BadArguments,
        ),
        (
            create("vec", CreateMode::Persistent),
            ErrorCode::BadArguments,
        ),
        (create("/vec/", CreateMode::Persistent), ErrorCode::NoNode),
        (
            create("/e/", CreateMode::Persistent),
            ErrorCode::BadArguments,
        ),
        (create("/x/y", CreateMode::Persistent), ErrorCode::NoNode),
        (create("/e", CreateMode::Persistent), ErrorCode::NodeExists),
        (
            create("/e/c", CreateMode::Persistent),
            ErrorCode::NoChildrenForEphemerals,
        ),
        (
            create("/a\0", CreateMode::Persistent),
            ErrorCode::BadArguments,
        ),
        (create("/a/./b", CreateMode::Persistent), ErrorCode::NoNode),
        (
            create("/ok", CreateMode::PersistentWithTtl),
            ErrorCode::BadArguments,
        ),
        (
            create("/ok", CreateMode::Container),
            ErrorCode::BadArguments,
        ),
        (
            Request::Create(CreateRequest {
                acl: vec![],
                ..create_request("/ok")
            }),
            ErrorCode::InvalidAcl,
        ),
        (
            Request::CreateTtl(CreateTtlRequest {
                path: "/t".into(),
                data: None,
                acl: open(),
                flags: CreateMode::PersistentWithTtl,
                ttl: 0,
            }),
            ErrorCode::BadArguments,
        ),
        (
            Request::CreateTtl(CreateTtlRequest {
                path: "/t".into(),
                data: None,
                acl: open(),
                flags: CreateMode::Persistent,
                ttl: 100,
            }),
            ErrorCode::BadArguments,
        ),
    ];
    for (request, want) in cases {
        let before = h.state.tree.clone();
        let out = h.run(request.clone());
        assert_eq!(out.err, want, "{request:?}");
        assert_eq!(out.response, Response::Empty);
        assert!(out.triggers.is_empty());
        assert_eq!(h.state.tree, before, "a failed create changed the tree");
    }
}

fn create_request(path: &str) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: None,
        acl: open(),
        flags: CreateMode::Persistent,
    }
}

#[test]
fn containers_and_ttl_nodes() {
    let mut h = Harness::new();
    let out = h.run(Request::CreateContainer(create_request("/c")));
    assert_eq!(out.err, ErrorCode::Ok);
    assert!(matches!(out.response, Response::Create2(_)));
    assert!(h.state.tree.containers().contains("/c"));
    assert_eq!(h.stat("/c").ephemeral_owner, 0);
    let out = h.run(Request::CreateTtl(CreateTtlRequest {
        path: "/t".into(),
        data: None,
        acl: open(),
        flags: CreateMode::PersistentSequentialWithTtl,
        ttl: 500,
    }));
    // The root's raw count starts at 0 (the built-in /zookeeper is not counted): /c was 1.
    assert_eq!(created_path(&out), "/t0000000001");
    assert!(h.state.tree.ttl_nodes().contains("/t0000000001"));
    // Reaping: a container with a child is NotEmpty, a missing node NoNode.
    h.create("/c/x", CreateMode::Persistent);
    let reap = |h: &mut Harness, p: &str| h.txn(0, vec![], TxnOp::Reap { path: p.into() });
    assert_eq!(reap(&mut h, "/c").err, ErrorCode::NotEmpty);
    h.run(Request::Delete(DeleteRequest {
        path: "/c/x".into(),
        version: -1,
    }));
    let out = reap(&mut h, "/c");
    assert_eq!(out.err, ErrorCode::Ok);
    assert_eq!(out.triggers[0].event, EventType::NodeDeleted);
    assert_eq!(reap(&mut h, "/c").err, ErrorCode::NoNode);
    h.create("/eph", CreateMode::Ephemeral);
    assert_eq!(reap(&mut h, "/eph").err, ErrorCode::BadVersion);
}

#[test]
fn delete_set_data_and_set_acl() {
    let mut h = Harness::new();
    h.create("/a", CreateMode::Persistent);
    h.create("/a/b", CreateMode::Persistent);
    let del = |path: &str, version| {
        Request::Delete(DeleteRequest {
            path: path.into(),
            version,
        })
    };
    assert_eq!(h.run(del("/a", -1)).err, ErrorCode::NotEmpty);
    assert_eq!(h.run(del("/a/b", 3)).err, ErrorCode::BadVersion);
    assert_eq!(h.run(del("/zz", -1)).err, ErrorCode::NoNode);
    for special in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(
            h.run(del(special, -1)).err,
            ErrorCode::BadArguments,
            "{special}"
        );
    }
    let set = |version| {
        Request::SetData(SetDataRequest {
            path: "/a".into(),
            data: None,
            version,
        })
    };
    let out = h.run(set(0));
    let Response::SetData(StatResponse { stat }) = out.response else {
        panic!("{out:?}")
    };
    assert_eq!(
        (stat.version, stat.mzxid, stat.data_length),
        (1, out.zxid, 0)
    );
    assert_ne!(stat.mzxid, stat.czxid);
    assert_eq!(h.run(set(0)).err, ErrorCode::BadVersion);
    assert_eq!(h.state.tree.get("/a").unwrap().data, None);

    let out = h.run(Request::SetAcl(SetAclRequest {
        path: "/a".into(),
        acl: vec![Acl::world(Perms::READ)],
        version: 0,
    }));
    assert_eq!(out.err, ErrorCode::Ok);
    assert!(out.triggers.is_empty());
    assert_eq!(h.stat("/a").aversion, 1);
    // Now world may only read: setData is NoAuth, delete of the child too (DELETE on parent).
    assert_eq!(h.run(set(-1)).err, ErrorCode::NoAuth);
    assert_eq!(h.run(del("/a/b", -1)).err, ErrorCode::NoAuth);
    let out = h.run(del("/a/b", 0));
    assert_eq!(out.err, ErrorCode::NoAuth);
}

#[test]
fn digest_and_auth_scheme_acls() {
    let mut h = Harness::new();
    let user = Id {
        scheme: "digest".into(),
        id: Some(digest_id("user:pass")),
    };
    let auth_acl = vec![Acl {
        perms: Perms::ALL,
        id: Id {
            scheme: "auth".into(),
            id: None,
        },
    }];
    let req = Request::Create(CreateRequest {
        acl: auth_acl.clone(),
        ..create_request("/secret")
    });
    assert_eq!(h.run(req.clone()).err, ErrorCode::InvalidAcl);
    assert_eq!(h.run_as(vec![ip(), user.clone()], req).err, ErrorCode::Ok);
    let acl = &h.state.tree.get("/secret").unwrap().acl;
    assert_eq!(acl[0].id, user);
    let child = create("/secret/c", CreateMode::Persistent);
    assert_eq!(h.run(child.clone()).err, ErrorCode::NoAuth);
    let superuser = Id {
        scheme: "super".into(),
        id: Some(String::new()),
    };
    assert_eq!(h.run_as(vec![superuser], child).err, ErrorCode::Ok);
}

#[test]
fn multi_commits_all_or_nothing() {
    let mut h = Harness::new();
    h.create("/m", CreateMode::Persistent);
    let ok = h.run(Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create2(create_request("/m/a")),
            MultiOp::CreateContainer(CreateRequest {
                flags: CreateMode::Container,
                ..create_request("/m/c")
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/m/a".into(),
                data: Some(b"x".to_vec()),
                version: 0,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/m/a".into(),
                version: 1,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/m/a".into(),
                version: 1,
            }),
        ],
    }));
    assert_eq!(ok.err, ErrorCode::Ok);
    let Response::Multi(MultiResponse { results }) = &ok.response else {
        panic!("{ok:?}")
    };
    // A create2 sub-op answers like create (type 1), a container like create2 (type 15).
    assert!(matches!(&results[0], MultiResult::Create(r) if r.path == "/m/a"));
    assert!(matches!(&results[1], MultiResult::Create2(r) if r.stat.czxid == ok.zxid));
    assert!(matches!(results[2], MultiResult::SetData(_)));
    assert_eq!(results[3], MultiResult::Check);
    assert_eq!(results[4], MultiResult::Delete);
    assert!(h.state.tree.get("/m/a").is_none());
    assert!(h.state.tree.get("/m/c").is_some());

    let before = h.state.tree.clone();
    let failed = h.run(Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(create_request("/m/x")),
            MultiOp::Check(CheckVersionRequest {
                path: "/m".into(),
                version: 99,
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/m/x".into(),
                data: None,
                version: -1,
            }),
        ],
    }));
    assert_eq!(failed.err, ErrorCode::Ok, "a failed multi's header says Ok");
    assert_eq!(
        failed.response,
        Response::Multi(MultiResponse {
            results: vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::BadVersion),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
            ]
        })
    );
    assert!(failed.triggers.is_empty());
    assert_eq!(h.state.tree, before);

    let empty = h.run(Request::Multi(MultiRequest::default()));
    assert_eq!(empty.err, ErrorCode::Ok);
    assert_eq!(empty.response, Response::Multi(MultiResponse::default()));

    let reads = h.run(Request::Multi(MultiRequest {
        ops: vec![MultiOp::GetData(GetDataRequest {
            path: "/m".into(),
            watch: false,
        })],
    }));
    assert_eq!(
        (reads.err, reads.response),
        (ErrorCode::MarshallingError, Response::Empty)
    );
    let ttl_flags = h.run(Request::Multi(MultiRequest {
        ops: vec![MultiOp::Create(CreateRequest {
            flags: CreateMode::PersistentWithTtl,
            ..create_request("/m/t")
        })],
    }));
    assert_eq!(ttl_flags.err, ErrorCode::MarshallingError);
}

#[test]
fn closing_a_session_deletes_its_ephemerals() {
    let mut h = Harness::new();
    h.create("/p", CreateMode::Persistent);
    h.create("/p/e1", CreateMode::Ephemeral);
    h.create("/p/e2", CreateMode::EphemeralSequential);
    assert_eq!(h.state.tree.ephemeral_count(), 2);
    let out = h.txn(SESSION, vec![], TxnOp::CloseSession);
    assert_eq!(out.err, ErrorCode::Ok);
    assert_eq!(out.closed_session, Some(SESSION));
    assert_eq!(out.triggers.len(), 4);
    assert_eq!(h.state.tree.ephemeral_count(), 0);
    assert!(!h.state.sessions.contains(SESSION));
    assert_eq!(h.stat("/p").pzxid, out.zxid);
    // Every later request of that session is SessionExpired.
    assert_eq!(
        h.create("/q", CreateMode::Persistent).err,
        ErrorCode::SessionExpired
    );
    assert_eq!(
        h.txn(SESSION, vec![], TxnOp::CloseSession).err,
        ErrorCode::SessionExpired
    );
}

#[test]
fn failed_writes_still_take_a_zxid() {
    let mut h = Harness::new();
    let a = h.create("/a", CreateMode::Persistent);
    let b = h.create("/a", CreateMode::Persistent);
    let c = h.txn(SESSION, vec![], TxnOp::Fail(ErrorCode::ReconfigDisabled));
    assert_eq!(b.err, ErrorCode::NodeExists);
    assert_eq!(c.err, ErrorCode::ReconfigDisabled);
    assert!(a.zxid < b.zxid && b.zxid < c.zxid);
    assert_eq!(h.state.last_zxid, c.zxid);
}

#[test]
fn one_entry_many_txns_get_consecutive_zxids() {
    let mut h = Harness::new();
    let entry = LogEntry {
        time_ms: 5,
        txns: (0..3)
            .map(|i| Txn {
                session_id: SESSION,
                origin: None,
                auth: vec![],
                rules: Default::default(),
                op: TxnOp::Client(create(&format!("/n{i}"), CreateMode::Persistent)),
            })
            .collect(),
        digest: None,
    };
    let outs = apply_entry(&mut h.state, 9, &entry);
    let zxids: Vec<i64> = outs.iter().map(|o| o.zxid).collect();
    assert_eq!(zxids, vec![zxid_of(9, 0), zxid_of(9, 1), zxid_of(9, 2)]);
    assert_eq!(h.stat("/n1").ctime, 5);
}

#[test]
fn prepare_refuses_what_config_forbids() {
    let rules = WriteRules {
        extended_types: false,
        reconfig_enabled: false,
        apply: Default::default(),
    };
    let ttl = Request::CreateTtl(CreateTtlRequest::default());
    assert_eq!(
        prepare_write(ttl, &rules),
        TxnOp::Fail(ErrorCode::Unimplemented)
    );
    let reconfig = Request::Reconfig(ReconfigRequest::default());
    assert_eq!(
        prepare_write(reconfig.clone(), &rules),
        TxnOp::Fail(ErrorCode::ReconfigDisabled)
    );
    let enabled = WriteRules {
        extended_types: true,
        reconfig_enabled: true,
        apply: Default::default(),
    };
    assert_eq!(
        prepare_write(reconfig, &enabled),
        TxnOp::Fail(ErrorCode::Unimplemented)
    );
    assert_eq!(
        prepare_write(Request::DeleteContainer(b"/x".to_vec()), &enabled),
        TxnOp::Fail(ErrorCode::BadArguments)
    );
    let plain = create("/a", CreateMode::Persistent);
    assert_eq!(prepare_write(plain.clone(), &rules), TxnOp::Client(plain));
}

#[test]
fn snapshots_round_trip_and_refuse_corruption() {
    let mut h = Harness::new();
    h.create("/a", CreateMode::Persistent);
    h.create("/a/e", CreateMode::Ephemeral);
    h.run(Request::CreateContainer(create_request("/c")));
    let bytes = h.state.encode_snapshot();
    let back = ReplicatedState::decode_snapshot(&bytes).unwrap();
    assert_eq!(back, h.state);

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    assert!(matches!(
        ReplicatedState::decode_snapshot(&flipped),
        Err(SnapshotError::Checksum { .. })
    ));
    assert!(matches!(
        ReplicatedState::decode_snapshot(&bytes[..bytes.len() - 1]),
        Err(SnapshotError::Length { .. })
    ));
    assert!(matches!(
        ReplicatedState::decode_snapshot(b"nonsense"),
        Err(SnapshotError::BadMagic)
    ));

    // A newer format is refused by number.
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&3u32.to_be_bytes());
    assert_eq!(
        ReplicatedState::decode_snapshot(&newer)
            .unwrap_err()
            .to_string(),
        "snapshot format 3 is newer than this build reads (formats 1 and 2)"
    );
    // A body whose nodes do not make the digest it carries (its checksum made right, as a
    // bug on the writing side would leave it) is refused.
    let mut wrong_digest = bytes.clone();
    let body = 20..wrong_digest.len() - 4;
    wrong_digest[32 + 7] ^= 1; // the digest's last byte: magic 8, version 4, length 8, zxid 8, digest version 4
    let crc = crc32fast::hash(&wrong_digest[body.clone()]);
    wrong_digest[body.end..].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        ReplicatedState::decode_snapshot(&wrong_digest),
        Err(SnapshotError::DigestMismatch { .. })
    ));
}

/// The digest kept up to date by every change equals the digest of the same nodes summed
/// from scratch, after creates, sets, ACL changes, deletes and a failed multi's rollback.
#[test]
fn the_incremental_digest_equals_a_full_recount() {
    let mut h = Harness::new();
    let fresh = h.state.tree.digest();
    h.create("/a", CreateMode::Persistent);
    h.create("/a/b", CreateMode::PersistentSequential);
    h.create("/e", CreateMode::Ephemeral);
    h.run(Request::SetData(SetDataRequest {
        path: "/a".into(),
        data: Some(b"new".to_vec()),
        version: -1,
    }));
    h.run(Request::SetAcl(SetAclRequest {
        path: "/a".into(),
        acl: vec![Acl::world(Perms::READ)],
        version: -1,
    }));
    h.run(Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(create_request("/m")),
            MultiOp::Delete(DeleteRequest {
                path: "/missing".into(),
                version: -1,
            }),
        ],
    }));
    let recount = |state: &ReplicatedState| {
        let nodes: Vec<(String, crate::tree::Node)> = state
            .tree
            .sorted_nodes()
            .into_iter()
            .map(|(p, n)| (p.to_string(), n.clone()))
            .collect();
        crate::tree::DataTree::from_nodes(nodes).digest()
    };
    assert_ne!(h.state.tree.digest(), fresh);
    assert_eq!(h.state.tree.digest(), recount(&h.state));
    h.run(Request::Delete(DeleteRequest {
        path: "/a/b0000000000".into(),
        version: -1,
    }));
    h.run(Request::Delete(DeleteRequest {
        path: "/a".into(),
        version: -1,
    }));
    assert_eq!(h.state.tree.digest(), recount(&h.state));
}

// ---- random op sequences ---------------------------------------------------------------------

fn arb_path() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["/a", "/a/b", "/a/b/c", "/b", "/b/x", "/a/e", "/c"])
        .prop_map(str::to_string)
}

fn arb_txn() -> impl Strategy<Value = Txn> {
    let sessions = prop::sample::select(vec![SESSION, SESSION + 1]);
    let op = prop_oneof![
        (arb_path(), 0..4i32).prop_map(|(p, f)| TxnOp::Client(create(&p, CreateMode::from_i32(f)))),
        arb_path().prop_map(|p| TxnOp::Client(Request::CreateContainer(create_request(&p)))),
        (arb_path(), -1..2i32).prop_map(|(path, version)| TxnOp::Client(Request::Delete(
            DeleteRequest { path, version }
        ))),
        (arb_path(), -1..2i32).prop_map(|(path, version)| TxnOp::Client(Request::SetData(
            SetDataRequest {
                path,
                data: Some(vec![1; 3]),
                version
            }
        ))),
        prop::collection::vec((arb_path(), 0..4i32), 0..4).prop_map(|ops| TxnOp::Client(
            Request::Multi(MultiRequest {
                ops: ops
                    .into_iter()
                    .map(|(p, f)| MultiOp::Create(CreateRequest {
                        flags: CreateMode::from_i32(f),
                        ..create_request(&p)
                    }))
                    .collect()
            })
        )),
        Just(TxnOp::CloseSession),
        Just(TxnOp::CreateSession {
            timeout_ms: 4000,
            password: vec![1; 16]
        }),
        arb_path().prop_map(|path| TxnOp::Reap { path }),
    ];
    (sessions, op).prop_map(|(session_id, op)| Txn {
        session_id,
        origin: None,
        auth: vec![],
        rules: Default::default(),
        op,
    })
}

/// Invariants of a tree: every child link has a node and every node (but the root) is linked
/// from its parent; ephemerals belong to live sessions; no ephemeral has children.
fn check_invariants(state: &ReplicatedState) -> Result<(), TestCaseError> {
    let nodes = state.tree.sorted_nodes();
    for (path, node) in &nodes {
        let children: Vec<&str> = state.tree.children(path).collect();
        prop_assert_eq!(
            node.stat().num_children as usize,
            children.len(),
            "{}",
            path
        );
        for child in children {
            let child_path = crate::tree::path::join(path, child);
            prop_assert!(
                state.tree.get(&child_path).is_some(),
                "{child_path} dangling"
            );
        }
        if *path != "/" {
            let (parent, name) = crate::tree::path::split_parent(path).unwrap();
            prop_assert!(state.tree.children(parent).any(|c| c == name));
        }
        if let Some(owner) = node.ephemeral_owner() {
            prop_assert!(
                state.sessions.contains(owner),
                "{path} outlived its session"
            );
            prop_assert!(!node.has_children());
        }
    }
    let indexed: usize = state.tree.ephemeral_count();
    let actual = nodes
        .iter()
        .filter(|(_, n)| n.ephemeral_owner().is_some())
        .count();
    prop_assert_eq!(indexed, actual);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_entries_keep_invariants_and_replay_identically(
        entries in prop::collection::vec(prop::collection::vec(arb_txn(), 1..4), 1..30)
    ) {
        let mut a = Harness::new();
        let mut b_state = a.state.clone();
        for (i, txns) in entries.into_iter().enumerate() {
            let entry = LogEntry {
                time_ms: i as i64,
                txns,
                digest: None,
            };
            let index = 10 + i as u64;
            let out_a = apply_entry(&mut a.state, index, &entry);
            let out_b = apply_entry(&mut b_state, index, &entry);
            prop_assert_eq!(out_a, out_b);
            check_invariants(&a.state)?;
        }
        prop_assert_eq!(&a.state, &b_state);
        let bytes = a.state.encode_snapshot();
        prop_assert_eq!(ReplicatedState::decode_snapshot(&bytes).unwrap(), a.state);
    }
}

#[test]
fn quota_stats_follow_the_subtree() {
    let mut h = Harness::new();
    let mk = |h: &mut Harness, path: &str, data: &[u8]| {
        let out = h.run(Request::Create(CreateRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: open(),
            flags: CreateMode::Persistent,
        }));
        assert_eq!(out.err, ErrorCode::Ok, "{path}");
    };
    mk(&mut h, "/q", b"ab");
    mk(&mut h, "/q/a", b"xyz");
    mk(&mut h, "/zookeeper/quota/q", b"");
    mk(
        &mut h,
        "/zookeeper/quota/q/zookeeper_limits",
        b"count=5,bytes=-1",
    );
    mk(
        &mut h,
        "/zookeeper/quota/q/zookeeper_stats",
        b"count=0,bytes=0",
    );
    let stats = |h: &Harness| {
        let node = h
            .state
            .tree
            .get("/zookeeper/quota/q/zookeeper_stats")
            .unwrap();
        String::from_utf8(node.data.clone().unwrap()).unwrap()
    };
    assert_eq!(stats(&h), "count=2,bytes=5");
    let version_before = h.stat("/zookeeper/quota/q/zookeeper_stats").version;
    mk(&mut h, "/q/b", b"1234");
    assert_eq!(stats(&h), "count=3,bytes=9");
    h.run(Request::Delete(DeleteRequest {
        path: "/q/a".into(),
        version: -1,
    }));
    assert_eq!(stats(&h), "count=2,bytes=6");
    h.run(Request::SetData(SetDataRequest {
        path: "/q".into(),
        data: Some(b"abcd".to_vec()),
        version: -1,
    }));
    assert_eq!(stats(&h), "count=2,bytes=8");
    assert_eq!(
        h.stat("/zookeeper/quota/q/zookeeper_stats").version,
        version_before,
        "stats rewrites keep the Stat"
    );
    // A failed multi leaves the stats as they were.
    h.run(Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(create_request("/q/c")),
            MultiOp::Check(CheckVersionRequest {
                path: "/q".into(),
                version: 99,
            }),
        ],
    }));
    assert_eq!(stats(&h), "count=2,bytes=8");
    // Outside the quota'd subtree nothing moves; removing the limits ends the tracking.
    mk(&mut h, "/other", b"zz");
    assert_eq!(stats(&h), "count=2,bytes=8");
    h.run(Request::Delete(DeleteRequest {
        path: "/zookeeper/quota/q/zookeeper_limits".into(),
        version: -1,
    }));
    mk(&mut h, "/q/d", b"1");
    assert_eq!(stats(&h), "count=2,bytes=8");
}

/// A snapshot larger than the writer's chunk is written in several chunks, at any offset of
/// its writer, and reads back as the same state.
#[test]
fn snapshots_written_in_chunks_read_back_whole() {
    let mut h = Harness::new();
    h.create("/big", CreateMode::Persistent);
    let value = vec![b'v'; 1000];
    for i in 0..3000 {
        h.state.tree.insert(
            &format!("/big/n{i}"),
            crate::tree::Node::new(
                Some(value.clone()),
                std::sync::Arc::from(vec![jute_codec::Acl::world(jute_codec::Perms::ALL)]),
                crate::tree::NodeMeta::default(),
                crate::tree::NodeKind::Persistent,
            ),
        );
    }
    let mut out = std::io::Cursor::new(b"file header".to_vec());
    out.set_position(11);
    let written = h.state.write_snapshot(&mut out).unwrap();
    let bytes = out.into_inner();
    assert!(written > 3_000_000, "{written}");
    assert_eq!(written as usize, bytes.len() - 11);
    assert_eq!(&bytes[11..], h.state.encode_snapshot().as_slice());
    let back = ReplicatedState::decode_snapshot(&bytes[11..]).unwrap();
    assert_eq!(back, h.state);
}

#[test]
fn snapshots_check_as_a_stream_as_they_do_in_memory() {
    use crate::txn::SnapshotStreamError;
    let mut h = Harness::new();
    h.create("/a", CreateMode::Persistent);
    h.create("/a/b", CreateMode::Persistent);
    let bytes = h.state.encode_snapshot();
    let n = bytes.len() as u64;
    ReplicatedState::check_snapshot_stream(&mut &bytes[..], n).unwrap();

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    assert!(matches!(
        ReplicatedState::check_snapshot_stream(&mut &flipped[..], n),
        Err(SnapshotStreamError::Snapshot(
            SnapshotError::Checksum { .. }
        ))
    ));
    assert!(matches!(
        ReplicatedState::check_snapshot_stream(&mut &bytes[..bytes.len() - 1], n - 1),
        Err(SnapshotStreamError::Snapshot(SnapshotError::Length { .. }))
    ));
    assert!(matches!(
        ReplicatedState::check_snapshot_stream(&mut &bytes[..bytes.len() - 2], n),
        Err(SnapshotStreamError::Io(_))
    ));
    assert!(matches!(
        ReplicatedState::check_snapshot_stream(&mut &b"nonsense, not a snapshot"[..], 24),
        Err(SnapshotStreamError::Snapshot(SnapshotError::BadMagic))
    ));
}

/// `enforceQuota`: creates past `countHardLimit` and data changes past `byteHardLimit` are
/// QuotaExceeded; soft limits never refuse; each op of a multi counts the ones before it; a
/// Txn without the flag is never refused.
#[test]
fn enforced_hard_quotas_refuse_growth_past_them() {
    let mut h = Harness::new();
    h.rules.enforce_quota = true;
    let mk = |h: &mut Harness, path: &str, data: &[u8]| {
        h.run(Request::Create(CreateRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: open(),
            flags: CreateMode::Persistent,
        }))
        .err
    };
    assert_eq!(mk(&mut h, "/q", b"ab"), ErrorCode::Ok);
    assert_eq!(mk(&mut h, "/zookeeper/quota/q", b""), ErrorCode::Ok);
    let limits = b"count=2,bytes=-1,countHardLimit=3,byteHardLimit=10";
    assert_eq!(
        mk(&mut h, "/zookeeper/quota/q/zookeeper_limits", limits),
        ErrorCode::Ok
    );
    assert_eq!(
        mk(
            &mut h,
            "/zookeeper/quota/q/zookeeper_stats",
            b"count=0,bytes=0"
        ),
        ErrorCode::Ok
    );
    // count=1 (/q) bytes=2. The soft count (2) is passed without a refusal.
    assert_eq!(mk(&mut h, "/q/a", b"123"), ErrorCode::Ok);
    assert_eq!(mk(&mut h, "/q/b", b""), ErrorCode::Ok);
    assert_eq!(
        mk(&mut h, "/q/c", b""),
        ErrorCode::QuotaExceeded,
        "a 4th node"
    );
    assert!(h.state.tree.get("/q/c").is_none());
    // Bytes: 5 of 10 used. Growing past 10 is refused, shrinking and same-size sets are not.
    let set = |h: &mut Harness, data: &[u8], version: i32| {
        h.run(Request::SetData(SetDataRequest {
            path: "/q/a".into(),
            data: Some(data.to_vec()),
            version,
        }))
        .err
    };
    assert_eq!(set(&mut h, b"12345678", -1), ErrorCode::Ok, "exactly 10");
    assert_eq!(set(&mut h, b"123456789", -1), ErrorCode::QuotaExceeded);
    assert_eq!(
        set(&mut h, b"123456789", 99),
        ErrorCode::QuotaExceeded,
        "before the version"
    );
    assert_eq!(set(&mut h, b"87654321", -1), ErrorCode::Ok, "same size");
    assert_eq!(set(&mut h, b"1", -1), ErrorCode::Ok);
    // A delete makes room; then a multi of two creates with room for one fails whole.
    h.run(Request::Delete(DeleteRequest {
        path: "/q/b".into(),
        version: -1,
    }));
    let out = h.run(Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(create_request("/q/m1")),
            MultiOp::Create(create_request("/q/m2")),
        ],
    }));
    assert_eq!(
        out.response,
        Response::Multi(MultiResponse {
            results: vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::QuotaExceeded),
            ]
        })
    );
    assert!(h.state.tree.get("/q/m1").is_none());
    // Outside the subtree, and without the flag, nothing is refused.
    assert_eq!(mk(&mut h, "/other", b"zz"), ErrorCode::Ok);
    h.rules.enforce_quota = false;
    assert_eq!(mk(&mut h, "/q/c", b""), ErrorCode::Ok);
    assert_eq!(mk(&mut h, "/q/d", b""), ErrorCode::Ok);
}
