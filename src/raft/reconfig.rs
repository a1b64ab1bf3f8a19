//! Dynamic reconfiguration (ZooKeeper's reconfig, opcode 16) as openraft membership changes.
//!
//! ZooKeeper switches to a new quorum with one txn; openraft changes its membership in steps,
//! each a log entry. The leader runs them in order: new members join as learners, a quorum of
//! the new voter set must be up to date (ZooKeeper's NewConfigNoQuorum rule), observers that
//! leave are dropped, then the voter set changes through a joint configuration (voters that
//! leave are dropped with it), and voters that become observers rejoin as learners. Every
//! uniform membership the steps commit is published in `/zookeeper/config` by the state
//! machine; the reply names the last step's index. A reconfig sent to any other member is
//! forwarded to the leader over the peer link.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::ChangeMembers;

use super::messages::{PeerRequest, PeerResponse};
use super::types::{MembershipChange, NodeId, PeerNode, ReconfigError, ReconfigRequest};
use super::Replica;

/// The version of the configuration a membership entry at `index` publishes (the `version=`
/// line of `/zookeeper/config`, ZooKeeper's config id).
pub fn config_version(index: u64) -> i64 {
    crate::txn::zxid_of(index, 0)
}

/// The membership a reconfig asks for, checked: whom to add, drop, promote and demote.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    /// Members new to the group (they join as learners first).
    added: BTreeMap<NodeId, PeerNode>,
    /// Learners (observers) that leave.
    dropped_learners: BTreeSet<NodeId>,
    /// Voters that leave the group.
    dropped_voters: BTreeSet<NodeId>,
    /// Voters that stay as observers.
    demoted: BTreeMap<NodeId, PeerNode>,
    /// The new voter set.
    voters: BTreeSet<NodeId>,
}

impl Plan {
    /// Checks `change` against the current `nodes` (with their roles) and plans the steps.
    fn new(
        nodes: &BTreeMap<NodeId, PeerNode>,
        voters: &BTreeSet<NodeId>,
        change: MembershipChange,
        leader: NodeId,
    ) -> Result<Plan, ReconfigError> {
        let target = match change {
            MembershipChange::Replace(all) => all,
            MembershipChange::Incremental { joining, leaving } => {
                let mut target = nodes.clone();
                for id in &leaving {
                    target.remove(id);
                }
                target.extend(joining);
                target
            }
        };
        let bad = |reason: String| Err(ReconfigError::BadArguments(reason));
        let new_voters: BTreeSet<NodeId> = target
            .iter()
            .filter(|(_, n)| !n.observer)
            .map(|(id, _)| *id)
            .collect();
        if new_voters.is_empty() {
            return bad("the new configuration has no participants".into());
        }
        for (a, na) in &target {
            for (b, nb) in target.range(a + 1..) {
                if na.peer_addr == nb.peer_addr || na.client_addr == nb.client_addr {
                    return bad(format!("server.{a} and server.{b} share an address"));
                }
            }
            if let Some(now) = nodes.get(a) {
                if now.peer_addr != na.peer_addr || now.client_addr != na.client_addr {
                    return bad(format!(
                        "server.{a} is a member with other addresses: remove it, then add it"
                    ));
                }
            }
        }
        let demoted: BTreeMap<NodeId, PeerNode> = target
            .iter()
            .filter(|(id, n)| n.observer && voters.contains(id))
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        if demoted.contains_key(&leader) {
            return bad(format!(
                "server.{leader} leads and cannot become an observer here: remove it, then add it as an observer"
            ));
        }
        Ok(Plan {
            added: target
                .iter()
                .filter(|(id, _)| !nodes.contains_key(id))
                .map(|(id, n)| (*id, n.clone()))
                .collect(),
            dropped_learners: nodes
                .keys()
                .filter(|id| !target.contains_key(id) && !voters.contains(id))
                .copied()
                .collect(),
            dropped_voters: voters
                .iter()
                .filter(|id| !target.contains_key(id))
                .copied()
                .collect(),
            demoted,
            voters: new_voters,
        })
    }

    fn is_empty(&self, voters: &BTreeSet<NodeId>) -> bool {
        self.added.is_empty() && self.dropped_learners.is_empty() && &self.voters == voters
    }
}

impl Replica {
    /// Runs a reconfig on the leader (forwarding it there from any other member) and returns
    /// the index of its last membership entry; the caller waits until it is applied, then
    /// answers with `/zookeeper/config`.
    pub async fn reconfigure(
        &self,
        request: ReconfigRequest,
        timeout: Duration,
    ) -> Result<u64, ReconfigError> {
        let leader = self.leader().ok_or(ReconfigError::NoLeader)?;
        if leader == self.member_id {
            return self.lead_reconfig(request, timeout).await;
        }
        let (Some(network), Some(addr)) = (&self.network, self.peer_addr(leader)) else {
            return Err(ReconfigError::NoLeader);
        };
        match network
            .client(leader, &addr)
            .call(PeerRequest::Reconfig(request), timeout)
            .await
        {
            Ok(PeerResponse::Reconfigured(result)) => result,
            Ok(_) => Err(ReconfigError::Raft("unexpected answer".into())),
            Err(e) => Err(ReconfigError::Raft(e.to_string())),
        }
    }

    /// The leader's side of [`Replica::reconfigure`].
    pub async fn lead_reconfig(
        &self,
        request: ReconfigRequest,
        timeout: Duration,
    ) -> Result<u64, ReconfigError> {
        let _one_at_a_time = self
            .reconfig_lock
            .try_lock()
            .map_err(|_| ReconfigError::InProgress)?;
        if !self.is_leader() {
            return Err(ReconfigError::NoLeader);
        }
        let deadline = Instant::now() + timeout;
        self.finish_joint(deadline).await?;
        let (nodes, voters, index) = self.current_membership();
        let version = config_version(index);
        if let Some(expected) = request.expected_version {
            if expected != version {
                return Err(ReconfigError::BadVersion(version));
            }
        }
        let plan = Plan::new(&nodes, &voters, request.change, self.member_id)?;
        if !request.authorized {
            // ZooKeeper checks that the new voters hold a synced quorum before it checks
            // WRITE on /zookeeper/config. Without WRITE nothing may change, so only members
            // already replicating count here (a joiner the leader has not added yet does not).
            let synced = self.synced_members();
            let need = plan.voters.len() / 2 + 1;
            let have = plan.voters.iter().filter(|id| synced.contains(id)).count();
            if have < need {
                return Err(ReconfigError::NoQuorum(format!(
                    "{have} of {} voters synced (need {need})",
                    plan.voters.len()
                )));
            }
            return Err(ReconfigError::NoAuth);
        }
        if plan.is_empty(&voters) {
            return Ok(index);
        }
        tracing::info!(
            ?plan,
            version = format!("{version:x}"),
            "reconfig: starting"
        );
        let mut last = index;
        if !plan.added.is_empty() {
            last = self
                .change_members(ChangeMembers::AddNodes(plan.added.clone()), true, deadline)
                .await?;
        }
        if plan.voters != voters {
            if let Err(e) = self.wait_synced_quorum(&plan.voters, last, deadline).await {
                if !plan.added.is_empty() {
                    let undo = ChangeMembers::RemoveNodes(plan.added.keys().copied().collect());
                    let grace = Instant::now() + Duration::from_secs(5);
                    if let Err(undo_error) = self.change_members(undo, true, grace).await {
                        tracing::warn!(error = %undo_error, "reconfig: could not drop the learners it added");
                    }
                }
                return Err(e);
            }
        }
        if !plan.dropped_learners.is_empty() {
            let drop = ChangeMembers::RemoveNodes(plan.dropped_learners.clone());
            last = self.change_members(drop, true, deadline).await?;
        }
        // Voters that stay as observers are kept as learners by `retain`; when voters also
        // leave, they are dropped with them and added back (a leaving voter must not stay).
        let retain = plan.dropped_voters.is_empty();
        if plan.voters != voters {
            let replace = ChangeMembers::ReplaceAllVoters(plan.voters.clone());
            last = self.change_members(replace, retain, deadline).await?;
        }
        if !retain && !plan.demoted.is_empty() {
            last = self
                .change_members(
                    ChangeMembers::AddNodes(plan.demoted.clone()),
                    true,
                    deadline,
                )
                .await?;
        }
        for id in plan.dropped_learners.iter().chain(&plan.dropped_voters) {
            if *id == self.member_id {
                self.gate.mark_removed();
            } else if let Some(node) = nodes.get(id) {
                self.tell_removed(*id, node.peer_addr.clone());
            }
        }
        tracing::info!(
            index = last,
            version = format!("{:x}", config_version(last)),
            "reconfig: done"
        );
        Ok(last)
    }

    /// A leader that died between a change's joint and uniform entries left the group in the
    /// joint configuration: complete it to the configuration it was heading for.
    pub async fn finish_joint(&self, deadline: Instant) -> Result<(), ReconfigError> {
        let goal = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            let joint = m.membership_config.membership().get_joint_config();
            if joint.len() < 2 {
                return Ok(());
            }
            joint.last().cloned().unwrap_or_default()
        };
        tracing::info!(
            ?goal,
            "completing a joint membership a previous leader left"
        );
        self.change_members(ChangeMembers::ReplaceAllVoters(goal), false, deadline)
            .await
            .map(|_| ())
    }

    /// The current membership: every node with its role (`observer` set for learners), the
    /// voter ids, and the index of the membership entry.
    pub fn current_membership(&self) -> (BTreeMap<NodeId, PeerNode>, BTreeSet<NodeId>, u64) {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let nodes = membership
            .nodes()
            .map(|(id, node)| {
                let mut node = node.clone();
                node.observer = !voters.contains(id);
                (*id, node)
            })
            .collect();
        let index = m.membership_config.log_id().map_or(0, |id| id.index);
        (nodes, voters, index)
    }

    /// One membership step, bounded by `deadline`; its entry's index.
    pub(super) async fn change_members(
        &self,
        change: ChangeMembers<NodeId, PeerNode>,
        retain: bool,
        deadline: Instant,
    ) -> Result<u64, ReconfigError> {
        let left = deadline.saturating_duration_since(Instant::now());
        tracing::info!(?change, retain, "reconfig: membership step");
        match tokio::time::timeout(left, self.raft.change_membership(change, retain)).await {
            Err(_) => Err(ReconfigError::Timeout(left.as_millis() as u64)),
            Ok(Ok(response)) => Ok(response.log_id.index),
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_),
            )))) => Err(ReconfigError::InProgress),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Err(ReconfigError::NoLeader)
            }
            Ok(Err(e)) => Err(ReconfigError::Raft(e.to_string())),
        }
    }

    /// Waits until a majority of `voters` (this leader counts) has replicated up to `index`.
    async fn wait_synced_quorum(
        &self,
        voters: &BTreeSet<NodeId>,
        index: u64,
        deadline: Instant,
    ) -> Result<(), ReconfigError> {
        let need = voters.len() / 2 + 1;
        let mut metrics = self.raft.metrics();
        loop {
            let synced: Vec<NodeId> = {
                let m = metrics.borrow_and_update();
                voters
                    .iter()
                    .filter(|id| {
                        **id == self.member_id
                            || m.replication.as_ref().is_some_and(|r| {
                                r.get(id)
                                    .and_then(|matched| *matched)
                                    .is_some_and(|matched| matched.index >= index)
                            })
                    })
                    .copied()
                    .collect()
            };
            if synced.len() >= need {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, metrics.changed()).await.is_err() {
                return Err(ReconfigError::NoQuorum(format!(
                    "{} of {} voters up to date (need {need}): {synced:?}",
                    synced.len(),
                    voters.len()
                )));
            }
        }
    }

    /// Tells a member it left the group, so it stops campaigning (openraft 0.9 would have it
    /// campaign forever in the configuration it last saw). Best effort: a member that misses
    /// it is one the operator stops anyway.
    fn tell_removed(&self, member: NodeId, addr: String) {
        let Some(network) = self.network.clone() else {
            return;
        };
        tokio::spawn(async move {
            let client = network.client(member, &addr);
            if let Err(e) = client
                .call(PeerRequest::Removed, Duration::from_secs(1))
                .await
            {
                tracing::info!(member, error = %e, "could not tell a removed member");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn node(port: u16, observer: bool) -> PeerNode {
        PeerNode {
            peer_addr: format!("127.0.0.1:{port}"),
            election_port: port + 1000,
            client_addr: format!("127.0.0.1:{}", port + 2000),
            observer,
        }
    }

    fn group() -> (BTreeMap<NodeId, PeerNode>, BTreeSet<NodeId>) {
        let nodes = BTreeMap::from([
            (1, node(10, false)),
            (2, node(20, false)),
            (3, node(30, false)),
            (4, node(40, true)),
        ]);
        (nodes, BTreeSet::from([1, 2, 3]))
    }

    fn incremental(joining: &[(NodeId, PeerNode)], leaving: &[NodeId]) -> MembershipChange {
        MembershipChange::Incremental {
            joining: joining.iter().cloned().collect(),
            leaving: leaving.iter().copied().collect(),
        }
    }

    #[test]
    fn plans_adding_removing_and_demoting() {
        let (nodes, voters) = group();
        let plan = Plan::new(
            &nodes,
            &voters,
            incremental(&[(5, node(50, false)), (2, node(20, true))], &[3, 4]),
            1,
        )
        .unwrap();
        assert_eq!(plan.added.keys().copied().collect::<Vec<_>>(), vec![5]);
        assert_eq!(plan.dropped_learners, BTreeSet::from([4]));
        assert_eq!(plan.dropped_voters, BTreeSet::from([3]));
        assert_eq!(plan.demoted.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(plan.voters, BTreeSet::from([1, 5]));
    }

    #[test]
    fn refuses_what_zookeeper_refuses_or_raftzk_cannot_do() {
        let (nodes, voters) = group();
        let bad = |change| {
            matches!(
                Plan::new(&nodes, &voters, change, 1),
                Err(ReconfigError::BadArguments(_))
            )
        };
        // No participant left.
        assert!(bad(incremental(&[], &[1, 2, 3])));
        // Two members on one address.
        assert!(bad(incremental(&[(5, node(10, false))], &[])));
        // A member re-specified with other addresses.
        assert!(bad(incremental(&[(2, node(60, false))], &[])));
        // The leader demoted.
        assert!(bad(incremental(&[(1, node(10, true))], &[])));
        // A no-op is a valid plan with nothing to do.
        let same = Plan::new(&nodes, &voters, incremental(&[], &[9]), 1).unwrap();
        assert!(same.is_empty(&voters));
    }

    #[test]
    fn a_full_membership_replaces_the_group() {
        let (nodes, voters) = group();
        let all = BTreeMap::from([(1, node(10, false)), (2, node(20, false))]);
        let plan = Plan::new(&nodes, &voters, MembershipChange::Replace(all), 2).unwrap();
        assert_eq!(plan.voters, BTreeSet::from([1, 2]));
        assert_eq!(plan.dropped_voters, BTreeSet::from([3]));
        assert_eq!(plan.dropped_learners, BTreeSet::from([4]));
    }
}
