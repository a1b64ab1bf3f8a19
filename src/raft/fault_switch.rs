//! The test-only network fault switch of the peer link: members whose traffic this member
//! drops, both ways (the fault harness's partition switch, `peer.faultFile`).

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use super::types::NodeId;

/// Members whose traffic this member drops, both ways.
#[derive(Debug, Default)]
pub struct FaultSwitch {
    cut: RwLock<HashSet<NodeId>>,
}

impl FaultSwitch {
    /// True if traffic with `peer` is cut.
    pub fn is_cut(&self, peer: NodeId) -> bool {
        self.cut
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&peer)
    }

    /// Replaces the set of cut peers.
    pub fn set(&self, peers: HashSet<NodeId>) {
        *self.cut.write().unwrap_or_else(PoisonError::into_inner) = peers;
    }

    /// Follows a file listing member ids (whitespace or comma separated) to cut; a missing
    /// file cuts nothing. Polled every 50 ms.
    pub async fn follow_file(self: Arc<Self>, path: std::path::PathBuf) {
        let mut last = None;
        loop {
            // A tiny test-only file: reading it synchronously is cheaper than a blocking task.
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if last.as_ref() != Some(&text) {
                let peers: HashSet<NodeId> = text
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter_map(|t| t.parse().ok())
                    .collect();
                tracing::warn!(?peers, "peer fault switch: cutting traffic");
                self.set(peers);
                last = Some(text);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
