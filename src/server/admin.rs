//! The AdminServer: ZooKeeper 3.8's HTTP commands (`admin.serverPort`, default 8080) as JSON,
//! under the same names and aliases (`/commands/monitor` or `/commands/mntr`), plus `/ready`
//! and `/health` for load balancers and orchestrators. Unknown commands answer 200 with an
//! `error`, as ZooKeeper's do. Commands with no raftzk meaning (Java system properties, ZAB
//! state, trace masks) are not served.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::http::{HttpResponse, Routes};
use super::metrics::{collect, summary_keys, Number, Value as Metric};
use super::Server;
use crate::raft::Role;

/// Commands: (name, aliases). Served in this order by `/commands`.
const COMMANDS: &[(&str, &[&str])] = &[
    ("configuration", &["conf", "config"]),
    ("connection_stat_reset", &["crst"]),
    ("connections", &["cons"]),
    ("dirs", &[]),
    ("dump", &[]),
    ("environment", &["env", "envi"]),
    ("hash", &[]),
    ("initial_configuration", &["icfg"]),
    ("is_read_only", &["isro"]),
    ("last_snapshot", &["lsnp"]),
    ("leader", &["lead"]),
    ("monitor", &["mntr"]),
    ("observers", &["obsr"]),
    ("ruok", &[]),
    ("server_stats", &["srvr"]),
    ("stat_reset", &["srst"]),
    ("stats", &["stat"]),
    ("voting_view", &["vote"]),
    ("watch_summary", &["wchs"]),
    ("watches", &["wchc"]),
    ("watches_by_path", &["wchp"]),
];

/// The AdminServer's routes.
pub struct AdminEndpoint {
    server: Arc<Server>,
    prefix: String,
}

impl AdminEndpoint {
    /// Commands under `prefix` (`admin.commandURL`, `/commands`).
    pub fn new(server: Arc<Server>, prefix: String) -> AdminEndpoint {
        AdminEndpoint { server, prefix }
    }

    /// The JSON answer of command `name` (or an alias).
    pub fn command(&self, name: &str) -> Value {
        let primary = COMMANDS
            .iter()
            .find(|(n, aliases)| *n == name || aliases.contains(&name))
            .map(|(n, _)| *n);
        let mut body = match primary {
            Some(primary) => self.run(primary),
            None => {
                let mut m = Map::new();
                m.insert("command".into(), json!(name));
                m.insert("error".into(), json!(format!("Unknown command: {name}")));
                return Value::Object(m);
            }
        };
        body.insert("command".into(), json!(primary.unwrap_or(name)));
        body.entry("error").or_insert(Value::Null);
        Value::Object(body)
    }

    fn run(&self, name: &str) -> Map<String, Value> {
        let s = &*self.server;
        let v = match name {
            "configuration" => configuration(s),
            "connection_stat_reset" => {
                for conn in s.connections.all() {
                    conn.stats.reset();
                }
                json!({})
            }
            "connections" => json!({ "connections": connections(s), "secure_connections": [] }),
            "dirs" => json!({
                "datadir_size": super::status::dir_size(&s.config.data_dir),
                "logdir_size": super::status::dir_size(&s.config.data_log_dir),
            }),
            "dump" => dump(s),
            "environment" => environment(),
            "hash" => {
                let view = s.replica.state.read();
                let entry = |d: &crate::txn::ZxidDigest| json!({ "zxid": d.zxid, "digest_version": d.version, "digest": d.digest });
                // ZooKeeper's `digests`, and raftzk's `latest`: the digest after the last
                // applied entry, which members that applied the same entries share.
                json!({
                    "digests": view.digests.history().map(entry).collect::<Vec<_>>(),
                    "latest": view.digests.latest().as_ref().map(entry),
                })
            }
            "initial_configuration" => json!({
                "initial_configuration": s.config.source.as_ref()
                    .and_then(|p| std::fs::read_to_string(p).ok()),
            }),
            "is_read_only" => json!({ "read_only": super::status::read_only_now(s) }),
            "last_snapshot" => {
                let raft = s.replica.raft_status();
                json!({
                    "zxid": format!("{:x}", crate::txn::zxid_of(raft.snapshot_index, 0)),
                    "index": raft.snapshot_index,
                })
            }
            "leader" => leader(s),
            "monitor" => monitor(s),
            "observers" => observers(s),
            "ruok" => json!({}),
            "server_stats" => stats(s, false),
            "stat_reset" => {
                s.stats.reset();
                json!({})
            }
            "stats" => stats(s, true),
            "voting_view" => voting_view(s),
            "watch_summary" => {
                let (conns, paths, total) = s.watches().data_summary();
                json!({ "num_connections": conns, "num_paths": paths, "num_total_watches": total })
            }
            "watches" => {
                let sessions = super::status::session_of_connections(s);
                let by_session: Map<String, Value> = s
                    .watches()
                    .data_watches_by_connection()
                    .into_iter()
                    .map(|(conn, paths)| {
                        (
                            sessions.get(&conn).copied().unwrap_or(0).to_string(),
                            json!(paths),
                        )
                    })
                    .collect();
                json!({ "session_id_to_watched_paths": by_session })
            }
            "watches_by_path" => {
                let sessions = super::status::session_of_connections(s);
                let by_path: Map<String, Value> = s
                    .watches()
                    .data_watches_by_path()
                    .into_iter()
                    .map(|(path, conns)| {
                        let ids: Vec<i64> = conns
                            .iter()
                            .map(|c| sessions.get(c).copied().unwrap_or(0))
                            .collect();
                        (path, json!(ids))
                    })
                    .collect();
                json!({ "path_to_session_ids": by_path })
            }
            _ => json!({ "error": format!("Unknown command: {name}") }),
        };
        match v {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert(name.into(), other);
                m
            }
        }
    }

    /// `/ready`: serving clients, a leader known, caught up with it.
    pub fn readiness(&self) -> (bool, Value) {
        let s = &*self.server;
        let role = s.replica.role();
        let raft = s.replica.raft_status();
        let commit = s
            .replica
            .member
            .commit_index
            .load(Ordering::Relaxed)
            .max(raft.applied_index);
        let behind = commit.saturating_sub(raft.applied_index);
        let mut reasons = Vec::new();
        if role == Role::Looking {
            reasons.push("no leader: not serving clients".to_string());
        }
        if raft.elections_held {
            reasons.push("catching up with the leader".into());
        }
        if behind > READY_LAG {
            reasons.push(format!("{behind} committed entries not yet applied"));
        }
        let ready = reasons.is_empty();
        (
            ready,
            json!({
                "ready": ready,
                "server_state": role.name(),
                "leader_id": raft.leader.unwrap_or(0),
                "applied_index": raft.applied_index,
                "commit_index": commit,
                "reasons": reasons,
            }),
        )
    }
}

/// A member this many committed entries behind is not ready.
const READY_LAG: u64 = 1000;

impl Routes for AdminEndpoint {
    fn get(&self, path: &str, _query: &str) -> HttpResponse {
        let path = path.trim_end_matches('/');
        if path == "/ready" {
            let (ready, body) = self.readiness();
            return HttpResponse {
                status: if ready { 200 } else { 503 },
                content_type: "application/json",
                body: pretty(&body),
            };
        }
        if path == "/health" {
            return HttpResponse::ok("application/json", pretty(&json!({ "status": "ok" })));
        }
        if path == self.prefix {
            let mut html = String::new();
            for (name, _) in COMMANDS {
                html.push_str(&format!(
                    "<a href=\"{}/{name}\">{name}</a>\n<br/>\n",
                    self.prefix
                ));
            }
            return HttpResponse::ok("text/html; charset=utf-8", html);
        }
        match path.strip_prefix(&format!("{}/", self.prefix)) {
            Some(name) => HttpResponse::ok("application/json", pretty(&self.command(name))),
            None => HttpResponse::error(404, "not found: commands are under the command URL"),
        }
    }
}

fn pretty(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn configuration(s: &Server) -> Value {
    let c = &s.config;
    json!({
        "client_port": c.client_addr.port(),
        "data_dir": c.data_dir.display().to_string(),
        "data_log_dir": c.data_log_dir.display().to_string(),
        "tick_time": c.tick_time_ms,
        "max_client_cnxns": c.max_client_cnxns,
        "min_session_timeout": c.min_session_timeout_ms,
        "max_session_timeout": c.max_session_timeout_ms,
        "server_id": if c.is_cluster() { c.my_id.unwrap_or(0) } else { 0 },
        "client_port_listen_backlog": -1,
    })
}

fn connections(s: &Server) -> Vec<Value> {
    s.connections
        .all()
        .iter()
        .map(|conn| {
            let st = conn.stats.snapshot();
            let mut m = json!({
                "remote_socket_address": conn.peer.to_string(),
                "interest_ops": u8::from(conn.binding().is_some()),
                "outstanding_requests": conn.writes.len(),
                "packets_received": conn.stats.received.load(Ordering::Relaxed),
                "packets_sent": conn.stats.sent.load(Ordering::Relaxed),
            });
            if let (Some(b), Value::Object(obj)) = (conn.binding(), &mut m) {
                obj.insert("session_id".into(), json!(b.session_id));
                obj.insert("last_operation".into(), json!(st.last_op));
                obj.insert("established".into(), json!(conn.stats.established_ms));
                obj.insert("session_timeout".into(), json!(b.timeout_ms));
                obj.insert("last_cxid".into(), json!(st.last_cxid.unwrap_or(-1)));
                obj.insert("last_zxid".into(), json!(st.last_zxid));
                obj.insert("last_response_time".into(), json!(st.last_response_ms));
                obj.insert("last_latency".into(), json!(st.last_latency));
                obj.insert("min_latency".into(), json!(st.min));
                obj.insert(
                    "avg_latency".into(),
                    json!(st.total.checked_div(st.count).unwrap_or(0)),
                );
                obj.insert("max_latency".into(), json!(st.max));
            }
            m
        })
        .collect()
}

fn dump(s: &Server) -> Value {
    let (sessions, ephemerals) = {
        let view = s.replica.state.read();
        let sessions: Vec<i64> = view.state.sessions.iter().map(|(id, _)| id).collect();
        (sessions, view.state.tree.ephemerals_by_session().clone())
    };
    let mut buckets: std::collections::BTreeMap<u64, Vec<i64>> = Default::default();
    let now = super::stats::now_ms().max(0) as u64;
    for id in sessions {
        if let Some(remaining) = s.tracker.remaining_ms(id) {
            buckets
                .entry((now + remaining) / 1000 * 1000)
                .or_default()
                .push(id);
        }
    }
    let expiry: Map<String, Value> = buckets
        .into_iter()
        .map(|(at, ids)| (at.to_string(), json!(ids)))
        .collect();
    let eph: Map<String, Value> = ephemerals
        .iter()
        .map(|(session, paths)| (session.to_string(), json!(paths)))
        .collect();
    json!({ "expiry_time_to_session_ids": expiry, "session_id_to_ephemeral_paths": eph })
}

fn environment() -> Value {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "<NA>".into())
    };
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "<NA>".into());
    json!({
        "zookeeper.version": super::status::version(),
        "host.name": read("/proc/sys/kernel/hostname"),
        "os.name": std::env::consts::OS,
        "os.arch": std::env::consts::ARCH,
        "os.version": read("/proc/sys/kernel/osrelease"),
        "user.name": env("USER"),
        "user.home": env("HOME"),
        "user.dir": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
    })
}

fn leader(s: &Server) -> Value {
    let raft = s.replica.raft_status();
    match (s.replica.role(), raft.leader) {
        (Role::Standalone, _) | (_, None) => json!({ "error": "server is not initialized" }),
        (_, Some(leader)) => {
            let ip = s
                .replica
                .current_membership()
                .0
                .get(&leader)
                .and_then(|n| n.client_addr.rsplit_once(':').map(|(h, _)| h.to_string()))
                .unwrap_or_default();
            json!({ "is_leader": leader == s.member_id(), "leader_id": leader, "leader_ip": ip })
        }
    }
}

fn monitor(s: &Server) -> Value {
    let mut m = Map::new();
    for sample in collect(s)
        .into_iter()
        .filter(|x| x.labels.is_empty() && x.in_mntr)
    {
        let name = sample.name.to_string();
        match sample.value {
            Metric::Text(t) => {
                m.insert(name, json!(t));
            }
            Metric::Int(v) => {
                m.insert(name, json!(v));
            }
            Metric::Float(v) => {
                m.insert(name, json!((v * 10_000.0).round() / 10_000.0));
            }
            Metric::Counter(v) => {
                m.insert(name, json!(v));
            }
            Metric::CountSet(counts, _) => {
                for (key, v) in counts {
                    m.insert(format!("{key}_{name}"), json!(v));
                }
            }
            Metric::SummarySet(sets, percentiles, _) => {
                for (key, v) in sets {
                    for (k, n) in summary_keys(&format!("{key}_{name}"), &v, percentiles) {
                        m.insert(k, number(n));
                    }
                }
            }
            Metric::Summary(v, percentiles) => {
                for (k, n) in summary_keys(&name, &v, percentiles) {
                    m.insert(k, number(n));
                }
            }
        }
    }
    Value::Object(m)
}

/// A summary number as JSON: doubles rounded to 4 decimals, as `mntr` prints them.
fn number(n: Number) -> Value {
    match n {
        Number::Double(v) => json!((v * 10_000.0).round() / 10_000.0),
        Number::Whole(v) => json!(v),
    }
}

fn observers(s: &Server) -> Value {
    let peers = s.replica.replication();
    let window = s.replica.synced_within_ms();
    let observers: Vec<Value> = peers
        .iter()
        .filter(|p| !p.voter)
        .map(|p| {
            json!({
                "sid": p.id,
                "lag_entries": p.lag_entries,
                "lag_ms": p.lag_ms,
                "last_ack_ms": p.acked_ms,
            })
        })
        .collect();
    let synced = peers
        .iter()
        .filter(|p| !p.voter && p.is_synced(window))
        .count();
    json!({ "synced_observers": synced, "observers": observers })
}

fn stats(s: &Server, with_connections: bool) -> Value {
    let st = &s.stats;
    let (min, avg, max, _) = st.latency.snapshot();
    let (last, min_size, max_size) = st.response_sizes.values();
    let conns = s.connections.all();
    let response = json!({
        "last_buffer_size": last,
        "min_buffer_size": min_size,
        "max_buffer_size": max_size,
    });
    let (zxid, nodes) = {
        let view = s.replica.state.read();
        (view.state.last_zxid, view.state.tree.znode_count())
    };
    let mut v = json!({
        "version": super::status::version(),
        "read_only": super::status::read_only_now(s),
        "server_stats": {
            "packets_sent": st.packets_sent.load(Ordering::Relaxed),
            "packets_received": st.packets_received.load(Ordering::Relaxed),
            "client_response_stats": response,
            "data_dir_size": super::status::dir_size(&s.config.data_dir),
            "log_dir_size": super::status::dir_size(&s.config.data_log_dir),
            "server_state": super::status::mode_name(s),
            "last_processed_zxid": zxid,
            "outstanding_requests": s.connections.outstanding(),
            "avg_latency": (avg * 10_000.0).round() / 10_000.0,
            "max_latency": max,
            "min_latency": min,
            "num_alive_client_connections": conns.len(),
            "uptime": st.started.elapsed().as_millis() as u64,
            "auth_failed_count": st.auth_failed.load(Ordering::Relaxed),
        },
        "client_response": response,
    });
    if let (true, Value::Object(m)) = (with_connections, &mut v) {
        m.insert("node_count".into(), json!(nodes));
        m.insert("connections".into(), json!(connections(s)));
        m.insert("secure_connections".into(), json!([]));
    }
    v
}

fn voting_view(s: &Server) -> Value {
    let (members, _, _) = s.replica.current_membership();
    let view: Map<String, Value> = members
        .iter()
        .filter(|(_, n)| !n.peer_addr.is_empty())
        .map(|(id, n)| {
            let host = n.peer_addr.rsplit_once(':').map_or("", |(h, _)| h);
            (
                id.to_string(),
                json!({
                    "server_addresses": [n.peer_addr],
                    "election_addresses": [format!("{host}:{}", n.election_port)],
                    "client_address": n.client_addr,
                    "learner_type": if n.observer { "observer" } else { "participant" },
                }),
            )
        })
        .collect();
    json!({ "current_config": view })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_alias_is_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for (name, aliases) in COMMANDS {
            assert!(seen.insert(*name), "{name}");
            for a in *aliases {
                assert!(seen.insert(*a), "{a}");
            }
        }
    }
}
