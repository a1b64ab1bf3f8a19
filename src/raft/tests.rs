//! The storage contract: openraft's own conformance suite over the RocksDB log store and the
//! state machine, plus the durability rules the log store's doc lists.

use std::sync::Arc;

use openraft::storage::RaftLogStorage;
use openraft::testing::{StoreBuilder, Suite};
use openraft::{RaftLogReader, Vote};

use super::log_store::LogStore;
use super::snapshot::SnapshotStore;
use super::state_machine::{SharedState, StateMachine};
use super::types::{StorageError, TypeConfig};
use super::{Delivery, ProposeError};
use crate::txn::{Origin, ReplicatedState, Txn, TxnOutcome};

/// Outcomes go nowhere: the suite applies only blank and membership entries.
struct NoDelivery;

impl Delivery for NoDelivery {
    fn deliver(&self, _state: &ReplicatedState, _txn: &Txn, _outcome: TxnOutcome) {}
    fn write_failed(&self, _origin: &Origin, _reason: &ProposeError) {}
}

struct Builder;

fn open(dir: &std::path::Path) -> (LogStore, StateMachine) {
    let log = LogStore::open(&dir.join("log")).expect("open log");
    let snapshots = SnapshotStore::open(&dir.join("snapshots"), 1).expect("snapshots");
    let shared = Arc::new(SharedState::new(StateMachine::initial_state(None)));
    (
        log,
        StateMachine::new(shared, Arc::new(NoDelivery), snapshots, Arc::default()),
    )
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = open(dir.path());
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).expect("openraft storage suite");
}

#[test]
fn vote_and_committed_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (mut log, _sm) = open(dir.path());
        let vote = Vote::new_committed(3, 1);
        log.save_vote(&vote).await.unwrap();
        let committed = Some(openraft::testing::log_id(3, 1, 7));
        log.save_committed(committed).await.unwrap();
        drop(log);
        drop(_sm);
        let (mut log, _sm) = open(dir.path());
        assert_eq!(log.read_vote().await.unwrap(), Some(vote));
        assert_eq!(log.read_committed().await.unwrap(), committed);
        assert!(log.try_get_log_entries(0..10).await.unwrap().is_empty());
    });
}
