//! Three members in one process: each keeps its own role flags, replication clock and commit
//! index ([`crate::telemetry::MemberTelemetry`]), so one member's view never mixes with
//! another's, and each stops with every task it started.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::peer_server::PeerHandler;
use super::proposer::ProposerConfig;
use super::types::{NodeId, PeerNode, ReconfigError, ReconfigRequest};
use super::{start, Delivery, ProposeError, RaftRuntime, RaftSettings, Replica};
use crate::txn::{Origin, ReplicatedState, Txn, TxnOp, TxnOutcome};

struct NoDelivery;

impl Delivery for NoDelivery {
    fn deliver(&self, _state: &ReplicatedState, _txn: &Txn, _outcome: TxnOutcome) {}
    fn write_failed(&self, _origin: &Origin, _reason: &ProposeError) {}
}

/// Answers only openraft's RPCs (the peer server hands those to Raft itself).
struct RaftOnly;

impl PeerHandler for RaftOnly {
    async fn forward(&self, _txns: Vec<Txn>) -> Result<(), String> {
        Err("not in this test".into())
    }
    fn touch(&self, _sessions: Vec<(i64, i32)>) {}
    async fn read_index(&self) -> Result<u64, String> {
        Err("not in this test".into())
    }
    async fn reconfig(&self, _request: ReconfigRequest) -> Result<u64, ReconfigError> {
        Err(ReconfigError::NoLeader)
    }
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_share_a_process_without_sharing_their_views() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut listeners = BTreeMap::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        members.insert(
            id,
            PeerNode {
                peer_addr: addr.clone(),
                election_port: 1,
                client_addr: addr,
                observer: false,
            },
        );
        listeners.insert(id, listener);
    }
    let settings = |id: NodeId| RaftSettings {
        member_id: id,
        snapshot_dir: dir.path().join(format!("{id}/snapshots")),
        log_dir: dir.path().join(format!("{id}/raft-log")),
        snap_count: 100_000,
        snapshots_retained: 1,
        heartbeat_ms: 50,
        election_timeout_ms: (300, 600),
        proposer: ProposerConfig::default(),
        members: members.clone(),
        faults: Arc::default(),
        peer_tls: None,
        disk_fault_file: None,
    };
    let (a, b, c) = tokio::join!(
        start(settings(1), Arc::new(NoDelivery)),
        start(settings(2), Arc::new(NoDelivery)),
        start(settings(3), Arc::new(NoDelivery)),
    );
    let mut group: Vec<(Replica, RaftRuntime)> = [a, b, c]
        .into_iter()
        .map(|started| started.expect("member starts"))
        .collect();
    for (replica, runtime) in &mut group {
        let listener = listeners
            .remove(&replica.member_id)
            .expect("a listener per member");
        let (r, faults) = (replica.clone(), Arc::default());
        runtime.adopt(tokio::spawn(async move {
            super::serve_peers(&r, listener, None, Arc::new(RaftOnly), faults).await;
        }));
    }
    let replicas: Vec<Replica> = group.iter().map(|(r, _)| r.clone()).collect();
    wait_until("a leader all agree on", Duration::from_secs(20), || {
        let leaders: BTreeSet<_> = replicas.iter().map(Replica::leader).collect();
        leaders.len() == 1 && leaders.iter().all(Option::is_some)
    })
    .await;
    let leader_id = replicas[0].leader().expect("a leader");
    let leader = replicas
        .iter()
        .find(|r| r.member_id == leader_id)
        .expect("the leader is a member");
    leader
        .proposer
        .propose(Txn {
            session_id: 0x100,
            origin: None,
            auth: Vec::new(),
            rules: Default::default(),
            op: TxnOp::CreateSession {
                timeout_ms: 30_000,
                password: vec![7; 16],
            },
        })
        .await
        .expect("proposed");
    wait_until(
        "every member to apply the session",
        Duration::from_secs(10),
        || {
            replicas
                .iter()
                .all(|r| r.state.read().state.sessions.contains(0x100))
        },
    )
    .await;

    // Each member's own view: one leads, two follow; only the leader heard its peers'
    // acknowledgements, and it counts all three members synced.
    let leading: Vec<NodeId> = replicas
        .iter()
        .filter(|r| r.member.is_leading())
        .map(|r| r.member_id)
        .collect();
    assert_eq!(leading, vec![leader_id]);
    wait_until(
        "the leader to see both followers synced",
        Duration::from_secs(5),
        || leader.synced_members().len() == 3,
    )
    .await;
    for replica in replicas.iter().filter(|r| r.member_id != leader_id) {
        assert!(
            replica.member.is_following(),
            "member {}",
            replica.member_id
        );
        assert!(
            replica.synced_members().is_empty(),
            "a follower reports no synced peers"
        );
        assert!(
            replica.member.peer_acks.since(leader_id).is_none(),
            "a follower never sent an AppendEntries"
        );
        let applied = replica.state.applied_index();
        let commit = replica
            .member
            .commit_index
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            commit >= *applied.borrow(),
            "commit {commit} behind applied"
        );
    }

    // Every member stops with its tasks, in this process, while the others keep running.
    wait_until("equal tree digests", Duration::from_secs(5), || {
        let digests: Vec<_> = replicas
            .iter()
            .map(|r| r.state.read().digests.latest())
            .collect();
        digests.windows(2).all(|w| w[0] == w[1])
    })
    .await;
    drop(replicas);
    for (replica, runtime) in group {
        drop(replica);
        tokio::time::timeout(
            Duration::from_secs(5),
            runtime.shutdown(Duration::from_secs(2)),
        )
        .await
        .expect("a member stops within 5 s");
    }
}
