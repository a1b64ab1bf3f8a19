//! ZooKeeper's reconfig request (opcode 16) read into a membership change: `joiningServers`
//! is a comma-separated list of `server.N=spec`, `leavingServers` a comma-separated list of
//! ids, `newMembers` the whole membership as `server.N=spec` properties (commas or newlines
//! between them), `curConfigId` the version the client expects or −1.

use std::collections::{BTreeMap, BTreeSet};

use jute_codec::ReconfigRequest as WireReconfig;

use crate::config::parse_server;
use crate::raft::{MembershipChange, NodeId, PeerNode, ReconfigRequest};

/// The change a reconfig request asks for, or why it is malformed (BadArguments).
pub fn parse(wire: &WireReconfig, default_client_port: u16) -> Result<ReconfigRequest, String> {
    let change = match &wire.new_members {
        Some(all) if !all.trim().is_empty() => {
            MembershipChange::Replace(servers(all, default_client_port, true)?)
        }
        _ => MembershipChange::Incremental {
            joining: match &wire.joining_servers {
                Some(list) => servers(list, default_client_port, false)?,
                None => BTreeMap::new(),
            },
            leaving: match &wire.leaving_servers {
                Some(list) => ids(list)?,
                None => BTreeSet::new(),
            },
        },
    };
    Ok(ReconfigRequest {
        change,
        expected_version: (wire.cur_config_id != -1).then_some(wire.cur_config_id),
        authorized: false,
    })
}

/// `server.N=spec` items; in a whole membership other keys (`version=…`) are skipped, as
/// ZooKeeper's dynamic config parser does.
fn servers(
    list: &str,
    default_client_port: u16,
    whole: bool,
) -> Result<BTreeMap<NodeId, PeerNode>, String> {
    let mut out = BTreeMap::new();
    for item in list
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let Some((key, spec)) = item.split_once('=') else {
            return Err(format!(
                "{item}: expected server.N=host:port:port[:role][;client]"
            ));
        };
        let Some(id) = key.trim().strip_prefix("server.") else {
            if whole {
                continue;
            }
            return Err(format!("{item}: expected server.N=…"));
        };
        let id: NodeId = id
            .parse()
            .map_err(|_| format!("{item}: bad server id {id}"))?;
        let spec = parse_server(spec).map_err(|e| format!("{item}: {e}"))?;
        if spec.client.is_none() {
            return Err(format!("{item}: a joining server needs a client port"));
        }
        if out
            .insert(id, PeerNode::from_spec(&spec, default_client_port))
            .is_some()
        {
            return Err(format!("server.{id} is listed twice"));
        }
    }
    Ok(out)
}

fn ids(list: &str) -> Result<BTreeSet<NodeId>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|id| id.parse().map_err(|_| format!("bad server id {id}")))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn wire(joining: Option<&str>, leaving: Option<&str>, all: Option<&str>) -> WireReconfig {
        WireReconfig {
            joining_servers: joining.map(String::from),
            leaving_servers: leaving.map(String::from),
            new_members: all.map(String::from),
            cur_config_id: -1,
        }
    }

    #[test]
    fn reads_incremental_changes() {
        let r = parse(
            &wire(
                Some("server.4=127.0.0.1:2891:3891:participant;127.0.0.1:2184, server.5=127.0.0.1:2892:3892:observer;2185"),
                Some("2,3"),
                None,
            ),
            2181,
        )
        .unwrap();
        let MembershipChange::Incremental { joining, leaving } = r.change else {
            panic!("incremental expected")
        };
        assert_eq!(joining[&4].peer_addr, "127.0.0.1:2891");
        assert_eq!(joining[&4].client_addr, "127.0.0.1:2184");
        assert!(!joining[&4].observer);
        assert!(joining[&5].observer);
        assert_eq!(joining[&5].client_addr, "127.0.0.1:2185");
        assert_eq!(leaving, BTreeSet::from([2, 3]));
        assert_eq!(r.expected_version, None);
    }

    #[test]
    fn reads_a_whole_membership_and_skips_its_version_line() {
        let all = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\nversion=100000000";
        let mut w = wire(None, None, Some(all));
        w.cur_config_id = 0x1_0000_0000;
        let r = parse(&w, 2181).unwrap();
        assert_eq!(r.expected_version, Some(0x1_0000_0000));
        let MembershipChange::Replace(members) = r.change else {
            panic!("replace expected")
        };
        assert_eq!(members.keys().copied().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn malformed_requests_are_bad_arguments() {
        for (joining, leaving) in [
            (Some("server.x=127.0.0.1:1:2;3"), None),
            (Some("server.4=127.0.0.1:1;3"), None),
            (Some("server.4=127.0.0.1:1:2"), None),
            (Some("4=127.0.0.1:1:2;3"), None),
            (None, Some("two")),
        ] {
            assert!(
                parse(&wire(joining, leaving, None), 2181).is_err(),
                "{joining:?} {leaving:?}"
            );
        }
    }
}
