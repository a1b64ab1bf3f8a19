//! Metrics through the real binary: `/metrics` and `mntr` report true values under
//! ZooKeeper's names; a metrics port the user named that is in use stops start-up with a clear
//! error, raftzk's own default ports in use only a warning.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{four_letter_word, http_get, mntr_value, prometheus_value, Client, Server};
use jute_codec::CreateMode;

fn scrape(server: &Server) -> String {
    let (status, body) = http_get(server.metrics_port, "/metrics").expect("/metrics answers");
    assert_eq!(status, 200, "{body}");
    body
}

fn mntr(server: &Server) -> String {
    String::from_utf8(four_letter_word(server.addr(), b"mntr").unwrap()).unwrap()
}

/// Summaries are exported from start-up, before their first event (`_count 0`), as
/// Prometheus clients do: a dashboard panel shows 0 rather than "No data", and an `absent()`
/// alert can tell a quiet member from a dead target.
#[test]
fn summaries_are_exported_before_their_first_event() {
    let server = Server::start();
    let text = scrape(&server);
    for name in [
        "snapshottime",
        "raft_snapshot_build_time",
        "raft_snapshot_bytes",
        "raft_snapshot_install_time",
        "raft_snapshot_install_bytes",
        "raft_read_index_wait",
        "election_time",
    ] {
        assert_eq!(
            prometheus_value(&text, &format!("{name}_count")),
            Some(0.0),
            "{name}_count"
        );
    }
}

#[test]
fn creating_100_znodes_raises_znode_count_by_exactly_100() {
    let server = Server::start();
    let before = prometheus_value(&scrape(&server), "znode_count").unwrap();
    let reads_before = prometheus_value(&scrape(&server), "readlatency_count").unwrap_or(0.0);
    let mut client = Client::connect(server.addr());
    for i in 0..100 {
        assert_eq!(
            client
                .create(&format!("/n{i}"), b"x", CreateMode::Persistent)
                .0,
            jute_codec::ErrorCode::Ok
        );
    }
    for i in 0..10 {
        assert!(client.get_data(&format!("/n{i}")).1.is_some());
    }
    let text = scrape(&server);
    assert_eq!(
        prometheus_value(&text, "znode_count").unwrap(),
        before + 100.0
    );
    assert!(prometheus_value(&text, "readlatency_count").unwrap() >= reads_before + 10.0);
    assert!(prometheus_value(&text, "updatelatency_count").unwrap() >= 100.0);
    // As on a standalone ZooKeeper: commits are counted by a cluster's leader only.
    assert_eq!(prometheus_value(&text, "commit_count"), Some(0.0));
    assert!(prometheus_value(&text, "sync_processor_batch_size_count").unwrap() >= 100.0);
    assert!(text.contains("# TYPE readlatency summary"), "{text}");
    assert!(text.contains("readlatency{quantile=\"0.99\"}"), "{text}");
    assert!(
        text.contains("raftzk_request_latency_count{op=\"create\"} 100"),
        "{text}"
    );
    // mntr reads the same values.
    let m = mntr(&server);
    assert_eq!(
        mntr_value(&m, "zk_znode_count").unwrap(),
        format!("{}", before as i64 + 100)
    );
    assert_eq!(mntr_value(&m, "zk_server_state").unwrap(), "standalone");
    // ZooKeeper's per-namespace sets: "/n1" + 1 byte of data written; read adds a Stat (68).
    assert_eq!(
        mntr_value(&m, "zk_cnt_n1_write_per_namespace").unwrap(),
        "1"
    );
    assert_eq!(
        mntr_value(&m, "zk_sum_n1_write_per_namespace").unwrap(),
        "4"
    );
    assert_eq!(
        mntr_value(&m, "zk_sum_n1_read_per_namespace").unwrap(),
        "72"
    );
    assert!(
        text.contains("read_per_namespace_count{key=\"n1\"} 1"),
        "{text}"
    );
    assert!(
        mntr_value(&m, "zk_cnt_updatelatency")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 100
    );
    client.close();
}

#[test]
fn connections_closed_for_cause_are_counted_by_reason() {
    let server = Server::start_with("jute.maxbuffer=1000");
    // An oversize frame: the server closes the connection.
    let mut c = Client::connect(server.addr());
    c.send_raw(&2_000_000u32.to_be_bytes()).unwrap();
    assert!(c.closed_by_server());
    let text = scrape(&server);
    assert!(
        text.contains("raftzk_connections_closed{reason=\"oversize\"} 1"),
        "{text}"
    );
    assert_eq!(
        prometheus_value(&text, "large_requests_rejected"),
        Some(1.0)
    );
    assert_eq!(prometheus_value(&text, "connection_drop_count"), Some(0.0));
    let log = server.log();
    assert!(log.contains("oversize"), "{log}");
    // A client that goes away without closeSession: ZooKeeper's connection_drop_count.
    drop(Client::connect(server.addr()));
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || { prometheus_value(&scrape(&server), "connection_drop_count") == Some(1.0) }
    ));
    assert_eq!(
        prometheus_value(&scrape(&server), "connection_request_count"),
        Some(2.0),
        "two handshakes; 4lw and scrapes do not count"
    );
}

#[test]
fn a_metrics_port_in_use_stops_start_up_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut server = Server::start();
    // Restart the same member with its metrics port taken by someone else.
    server.kill9();
    let cfg = std::fs::read_to_string(server.config_path()).unwrap();
    let cfg = cfg.replace(
        &format!("metricsProvider.httpPort={}", server.metrics_port),
        &format!("metricsProvider.httpPort={port}"),
    );
    std::fs::write(server.config_path(), &cfg).unwrap();
    let (ok, stderr) = common::run_config_to_exit(&server.config_path());
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("metricsProvider.httpPort") && stderr.contains(&port.to_string()),
        "{stderr}"
    );
}

/// A raftzk started from a zoo.cfg of exactly `cfg` (plus dataDir and clientPort), its
/// stderr in `log`; killed when dropped, even when an assertion fails.
struct RawServer {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl RawServer {
    fn start(cfg: &str, args: &[&str]) -> RawServer {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let path = dir.path().join("zoo.cfg");
        let data = dir.path().join("data");
        std::fs::write(
            &path,
            format!("dataDir={}\nclientPort={port}\n{cfg}", data.display()),
        )
        .unwrap();
        let log = dir.path().join("log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_raftzk"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        RawServer {
            child,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process; its directory (and log) stay until the value is dropped.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Drop-in: raftzk's own default ports (metrics 7000, admin 8080) held by someone else never
/// stop a member whose zoo.cfg does not name them; it warns and serves.
#[test]
fn default_metrics_and_admin_ports_in_use_only_warn() {
    // Held here, or already in use by another process: taken either way.
    let _metrics = std::net::TcpListener::bind("127.0.0.1:7000");
    let _admin = std::net::TcpListener::bind("127.0.0.1:8080");
    let server = RawServer::start("tickTime=2000\nclientPortAddress=127.0.0.1\n", &[]);
    let served = common::wait_until(std::time::Duration::from_secs(60), || {
        four_letter_word(server.addr, b"srvr").is_some()
    });
    let log = server.log();
    assert!(served, "raftzk did not serve:\n{log}");
    assert!(
        log.contains("Prometheus /metrics not started") && log.contains("AdminServer not started"),
        "{log}"
    );
}

#[test]
fn the_admin_server_answers_zookeepers_commands_and_readiness() {
    let server = Server::start();
    let mut client = Client::connect(server.addr());
    client.create("/admin", b"x", CreateMode::Persistent);
    let get = |path: &str| http_get(server.admin_port, path).expect("admin answers");
    let (status, list) = get("/commands");
    assert_eq!(status, 200);
    for name in [
        "monitor",
        "stats",
        "configuration",
        "connections",
        "watches",
        "leader",
    ] {
        assert!(list.contains(&format!("/commands/{name}\"")), "{list}");
    }
    let json = |path: &str| -> serde_json::Value {
        let (status, body) = get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    };
    let monitor = json("/commands/mntr");
    assert_eq!(monitor["command"], "monitor");
    assert!(monitor["error"].is_null());
    assert_eq!(monitor["server_state"], "standalone");
    let text = scrape(&server);
    assert_eq!(
        monitor["znode_count"].as_f64(),
        prometheus_value(&text, "znode_count")
    );
    let conns = json("/commands/connections");
    assert_eq!(conns["connections"].as_array().unwrap().len(), 1, "{conns}");
    assert_eq!(json("/commands/conf")["client_port"], server.port);
    assert_eq!(
        json("/commands/leader")["error"],
        "server is not initialized"
    );
    let unknown = json("/commands/no_such_command");
    assert_eq!(unknown["error"], "Unknown command: no_such_command");
    let ready = json("/ready");
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(json("/health")["status"], "ok");
    client.close();
}

#[test]
fn a_cluster_reports_leader_and_follower_metrics_under_zookeepers_names() {
    let cluster = common::Cluster::start(3, "");
    assert!(common::wait_until(
        std::time::Duration::from_secs(30),
        || { cluster.leader().is_some() }
    ));
    let leader = cluster.leader().unwrap();
    let mut client = Client::connect(cluster.members[leader].addr());
    for i in 0..50 {
        client.create(&format!("/c{i}"), b"x", CreateMode::Persistent);
    }
    let scrape_member = |i: usize| {
        http_get(cluster.members[i].metrics_port, "/metrics")
            .expect("/metrics answers")
            .1
    };
    // Followers apply shortly after the leader answers.
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || {
            (0..3).all(|i| {
                i == leader
                    || prometheus_value(&scrape_member(i), "learner_commit_received_count")
                        .is_some_and(|v| v >= 50.0)
            })
        }
    ));
    let text = scrape_member(leader);
    assert_eq!(prometheus_value(&text, "quorum_size"), Some(3.0), "{text}");
    assert_eq!(prometheus_value(&text, "learners"), Some(2.0), "{text}");
    assert_eq!(
        prometheus_value(&text, "synced_followers"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(prometheus_value(&text, "raft_is_leader"), Some(1.0));
    assert!(prometheus_value(&text, "commit_count").unwrap() >= 50.0);
    assert!(prometheus_value(&text, "proposal_count").unwrap() >= 50.0);
    assert!(
        text.contains("raft_replication_lag_entries{peer="),
        "{text}"
    );
    assert!(
        prometheus_value(&text, "last_proposal_size").unwrap() > 0.0,
        "{text}"
    );
    assert!(prometheus_value(&text, "quorum_ack_latency_count").unwrap() >= 1.0);
    assert!(text.contains("ack_latency_count{key="), "{text}");
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let f = scrape_member(follower);
    assert_eq!(prometheus_value(&f, "raft_is_leader"), Some(0.0));
    assert_eq!(prometheus_value(&f, "commit_count"), Some(0.0));
    assert!(
        prometheus_value(&f, "proposal_latency_count").unwrap() >= 1.0,
        "{f}"
    );
    assert!(
        prometheus_value(&f, "propagation_latency_count").unwrap() >= 50.0,
        "{f}"
    );
    assert!(prometheus_value(&f, "proposal_ack_creation_latency_count").unwrap() >= 1.0);
    assert!(prometheus_value(&f, "learner_proposal_received_count").unwrap() >= 50.0);
    assert!(
        f.lines().all(|l| !l.starts_with("learners ")),
        "leader-only gauge: {f}"
    );
    let m = String::from_utf8(four_letter_word(cluster.members[follower].addr(), b"mntr").unwrap())
        .unwrap();
    assert_eq!(
        mntr_value(&m, "zk_peer_state").unwrap(),
        "following - broadcast"
    );
    assert_eq!(mntr_value(&m, "zk_server_state").unwrap(), "follower");
    assert!(
        mntr_value(&m, "zk_learners").is_none(),
        "leader-only key on a follower"
    );
    client.close();
}

#[test]
fn json_logs_are_one_object_per_line_with_session_lines() {
    let mut server = RawServer::start(
        "clientPortAddress=127.0.0.1\nmetricsProvider.httpPort=0\nadmin.enableServer=false\nraftzk.logLevel=info\n4lw.commands.whitelist=*\n",
        &["--log-format", "json"],
    );
    let (addr, log_path) = (server.addr, server.log.clone());
    assert!(common::wait_until(
        std::time::Duration::from_secs(30),
        || { four_letter_word(addr, b"ruok").as_deref() == Some(b"imok".as_slice()) }
    ));
    let client = Client::connect(addr);
    client.close();
    // The close is logged when its entry is applied; give it a moment.
    let lines_with = |what: &str| {
        std::fs::read_to_string(&log_path)
            .unwrap()
            .lines()
            .filter(|l| l.contains(what))
            .count()
    };
    assert!(common::wait_until(
        std::time::Duration::from_secs(10),
        || { lines_with("session closed by the client") == 1 }
    ));
    server.stop();
    let text = std::fs::read_to_string(&log_path).unwrap();
    let mut established = None;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        if v["fields"]["message"] == "session established" {
            established = Some(v);
        }
    }
    let established = established.expect("a session established line");
    assert!(established["fields"]["session"]
        .as_str()
        .unwrap()
        .starts_with("0x"));
    assert!(established["fields"]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
}
