//! A running member: wires the Raft side, the peer link, the server, the leader's duties and
//! the listener together, and owns shutdown. The only module that knows every other.
//!
//! A zoo.cfg with two or more `server.N` lines makes a cluster member (`myid` in dataDir);
//! otherwise the member is standalone. Both run the same code path: every write goes through
//! the Proposer and Raft.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::config::{Config, ConfigError};
use crate::leader;
use crate::raft::fault_switch::FaultSwitch;
use crate::raft::peer_server::PeerHandler;
use crate::raft::{
    self, NodeId, PeerNode, ProposerConfig, RaftSettings, ReconfigError, ReconfigRequest, Replica,
};
use crate::server::handle::Connections;
use crate::server::prometheus::MetricsEndpoint;
use crate::server::stats::ServerStats;
use crate::server::throttle::{ConnectionThrottle, RequestThrottle};
use crate::server::transport::Mode;
use crate::server::{http, listener, session_ids::SessionIds, Notifier, Server};
use crate::session::tracker::SessionTracker;
use crate::txn::Txn;
use crate::watch::WatchManager;

/// How often the TLS stores' files are checked for a new certificate.
const TLS_STORE_CHECK: Duration = Duration::from_secs(10);

/// The standalone member's id: ZooKeeper's session ids start with 1 on a standalone server.
const STANDALONE_ID: u64 = 1;

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is incomplete (no myid, …).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A directory could not be created.
    #[error("{key}={path}: cannot create or use the directory: {source}")]
    Dir {
        /// The config key naming it (dataDir or dataLogDir).
        key: &'static str,
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics recorder could not be installed.
    #[error("cannot start the metrics recorder: {0}")]
    Metrics(String),
    /// The client port's TLS cannot be served (a bad keystore, password or suite list).
    #[error("TLS on the client port: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// SASL cannot be served (an unreadable JAAS file, Kerberos asked for).
    #[error(transparent)]
    Sasl(#[from] crate::sasl::SaslError),
    /// Raft state could not be loaded (boxed: it is large, and start-up errors are rare).
    #[error(transparent)]
    Raft(Box<raft::StartError>),
    /// A port could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Which listener.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

impl From<raft::StartError> for NodeError {
    fn from(e: raft::StartError) -> NodeError {
        NodeError::Raft(Box::new(e))
    }
}

/// Binds a listener, naming the config key in the error.
async fn bind(
    addr: impl tokio::net::ToSocketAddrs + std::fmt::Display,
    what: &'static str,
) -> Result<TcpListener, NodeError> {
    TcpListener::bind(&addr)
        .await
        .map_err(|source| NodeError::Listen {
            addr: addr.to_string(),
            what,
            source,
        })
}

/// Binds the port of an optional feature; if it cannot be had, says so in one warning and
/// runs without that feature.
async fn bind_or_warn(addr: SocketAddr, key: &'static str, feature: &str) -> Option<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::warn!(%addr, key, %error, "{feature} not started: its port cannot be bound; serving without it");
            None
        }
    }
}

/// Every member of the configured group with its addresses.
fn members(config: &Config) -> BTreeMap<NodeId, PeerNode> {
    config
        .servers
        .iter()
        .map(|(id, spec)| (*id, PeerNode::from_spec(spec, config.client_addr.port())))
        .collect()
}

/// Runs a member until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<(), NodeError> {
    let config = prepare(config)?;
    let cluster = config.is_cluster();
    let member_id = if cluster {
        config.my_id.unwrap_or(STANDALONE_ID)
    } else {
        STANDALONE_ID
    };
    let members = if cluster {
        members(&config)
    } else {
        BTreeMap::new()
    };
    // The recorder goes in before anything records (a summary binds to it on first use).
    let prometheus = match config.metrics_addr() {
        Some(_) => Some(crate::telemetry::prometheus().map_err(NodeError::Metrics)?),
        None => None,
    };
    let faults = Arc::new(FaultSwitch::default());
    let stats = Arc::new(ServerStats::default());
    let connections = Arc::new(Connections::new(stats.clone()));
    let watches = Arc::new(Mutex::new(WatchManager::default()));
    let notifier = Arc::new(Notifier {
        member_id,
        connections: connections.clone(),
        watches: watches.clone(),
        stats: stats.clone(),
        slow_request: Duration::from_millis(config.slow_request_ms),
    });
    // The stores are read before anything starts: a bad one stops start-up with one line.
    let tls = if config.serves_tls() {
        let tls = Arc::new(crate::tls::ClientTls::new(&config.tls)?);
        tracing::info!("TLS on the client port: {}", tls.describe());
        Some(tls)
    } else {
        None
    };
    let peer_tls = peer_tls(&config, &members)?;
    let sasl = crate::sasl::SaslServer::load(&config.sasl)?;
    if let Some(sasl) = &sasl {
        tracing::info!(section = %config.sasl.section, users = ?sasl.user_names(), "SASL DIGEST-MD5 on the client port");
    }
    // Every port is taken before anything else: starting a member dials its peers, and an
    // outgoing connection may be given a port this member is about to listen on.
    let ports = Ports::bind(&config, members.get(&member_id).filter(|_| cluster)).await?;
    let mut settings = raft_settings(&config, member_id, members.clone(), faults.clone());
    settings.peer_tls = peer_tls.clone();
    let (replica, runtime) = raft::start(settings, notifier).await?;
    let tick = Duration::from_millis(u64::from(config.tick_time_ms));
    let server = Arc::new(Server {
        config: config.clone(),
        replica: replica.clone(),
        connections,
        watches,
        tracker: Arc::new(SessionTracker::new(tick)),
        stats,
        session_ids: SessionIds::new(member_id),
        sasl,
        tls: tls.clone(),
        peer_tls,
        request_throttle: RequestThrottle::new(config.request_throttle),
        connection_throttle: ConnectionThrottle::new(config.connection_throttle),
    });
    let (mut tasks, mut runtime) = (MemberTasks::default(), runtime);
    tasks.start_serving(&server, ports.client, ports.secure_client, tls);
    tasks.start_http(&server, ports.metrics.zip(prometheus), ports.admin);
    if let Some(peer_listener) = ports.peer {
        tasks.start_peering(&server, &mut runtime, peer_listener, members, faults);
    }
    log_serving(&server, member_id);
    let failed = tokio::select! {
        _ = shutdown_signal() => None,
        reason = replica.fatal() => Some(reason),
    };
    if let Some(reason) = failed {
        stop_on_storage_failure(&config, &reason, tasks, runtime).await;
    }
    shut_down_in_order(&server, tasks, runtime).await;
    Ok(())
}

/// Completes the configuration (the member's id), logs the keys it ignores, and makes the
/// data directories.
fn prepare(mut config: Config) -> Result<Arc<Config>, NodeError> {
    config.resolve_my_id()?;
    for key in &config.ignored {
        if crate::config::keys::is_known_unused(key) {
            tracing::info!(key, "zoo.cfg key not used by raftzk; ignored");
        } else {
            tracing::warn!(key, "unknown zoo.cfg key; ignored");
        }
    }
    for setting in &config.defaulted {
        tracing::warn!(
            setting,
            "not a whole number Java can read: the default is used, as ZooKeeper does"
        );
    }
    for setting in &config.unserved_security {
        tracing::warn!(
            setting,
            "not served by raftzk yet: certificates are not checked for revocation"
        );
    }
    for (n, class) in &config.auth_providers {
        let known = [
            ".X509AuthenticationProvider",
            ".DigestAuthenticationProvider",
            ".IPAuthenticationProvider",
            ".SASLAuthenticationProvider",
        ];
        if !known.iter().any(|k| class.ends_with(k)) {
            tracing::warn!(key = %format!("authProvider.{n}"), class, "auth provider not available in raftzk: ACLs of its scheme are refused (InvalidACL)");
        }
    }
    for (key, dir) in [
        ("dataDir", &config.data_dir),
        ("dataLogDir", &config.data_log_dir),
    ] {
        std::fs::create_dir_all(dir).map_err(|source| NodeError::Dir {
            key,
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(Arc::new(config))
}

/// The Raft side's settings, from the configuration.
fn raft_settings(
    config: &Config,
    member_id: NodeId,
    members: BTreeMap<NodeId, PeerNode>,
    faults: Arc<FaultSwitch>,
) -> RaftSettings {
    RaftSettings {
        member_id,
        snapshot_dir: config.data_dir.join("snapshots"),
        log_dir: config.data_log_dir.join("raft-log"),
        snap_count: config.snap_count,
        snapshots_retained: config.autopurge_snap_retain_count as usize,
        heartbeat_ms: config.raft_heartbeat_ms,
        election_timeout_ms: config.raft_election_timeout_ms,
        proposer: ProposerConfig {
            write_timeout: Duration::from_millis(config.write_timeout_ms),
            ..ProposerConfig::default()
        },
        members,
        faults,
        peer_tls: None,
        disk_fault_file: config.disk_fault_file.clone(),
    }
}

/// The peer link's TLS, read before anything starts: with `sslQuorum` a bad store stops
/// start-up with one line naming the key. A standalone member has no peer link (ZooKeeper
/// ignores `sslQuorum` there too). With only `portUnification`, stores that cannot be read
/// leave the link plaintext, with a warning: the member would start in ZooKeeper too.
fn peer_tls(
    config: &Config,
    members: &BTreeMap<NodeId, PeerNode>,
) -> Result<Option<Arc<crate::tls::PeerTls>>, NodeError> {
    let options = &config.quorum_tls;
    if members.len() < 2 || !options.in_use() {
        return Ok(None);
    }
    let hosts = members
        .values()
        .filter_map(|n| n.peer_addr.rsplit_once(':').map(|(h, _)| h.to_string()))
        .collect();
    match crate::tls::PeerTls::new(options, hosts) {
        Ok(tls) => {
            tracing::info!("TLS on the peer link: {}", tls.describe());
            Ok(Some(Arc::new(tls)))
        }
        Err(e) if !options.enabled => {
            tracing::warn!(error = %e, "portUnification: the quorum TLS stores cannot be read; the peer link accepts plaintext only");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The member's listening sockets, bound before it starts.
struct Ports {
    client: Option<TcpListener>,
    secure_client: Option<TcpListener>,
    metrics: Option<TcpListener>,
    admin: Option<TcpListener>,
    peer: Option<TcpListener>,
}

impl Ports {
    /// A port only raftzk's defaults open never stops a member (drop-in: ZooKeeper opens no
    /// metrics port unless asked). One the user named does, as in ZooKeeper 3.8.0: its
    /// Prometheus provider fails start-up, and so does a standalone server's AdminServer; a
    /// quorum member's failed AdminServer is a warning there and serves on, so here too.
    async fn bind(config: &Config, me: Option<&PeerNode>) -> Result<Ports, NodeError> {
        let client = match config.plain_client_addr() {
            Some(addr) => Some(bind(addr, "clientPort").await?),
            None => None,
        };
        let secure_client = match config.secure_client_addr() {
            Some(addr) => Some(bind(addr, "secureClientPort").await?),
            None => None,
        };
        let metrics = match config.metrics_addr() {
            Some(addr) if config.metrics_port_configured => {
                Some(bind(addr, "metricsProvider.httpPort").await?)
            }
            Some(addr) => {
                bind_or_warn(addr, "metricsProvider.httpPort", "Prometheus /metrics").await
            }
            None => None,
        };
        let admin = match config.admin_addr() {
            Some(addr) if config.admin_port_configured && !config.is_cluster() => {
                Some(bind(addr, "admin.serverPort").await?)
            }
            Some(addr) => bind_or_warn(addr, "admin.serverPort", "AdminServer").await,
            None => None,
        };
        let peer = match me {
            Some(me) => Some(bind(me.peer_addr.as_str(), "peerPort").await?),
            None => None,
        };
        Ok(Ports {
            client,
            secure_client,
            metrics,
            admin,
            peer,
        })
    }
}

/// The tasks a member runs. Listeners take work in (clients, HTTP, peers) and stop first at
/// shutdown; duties stop after the connections have been answered.
#[derive(Default)]
struct MemberTasks {
    listeners: Vec<tokio::task::JoinHandle<()>>,
    duties: Vec<tokio::task::JoinHandle<()>>,
}

impl MemberTasks {
    /// The client listener and the duties every member has (expiring sessions and reaping
    /// nodes when leading, failing writes whose fate is unknown).
    /// `client` speaks plaintext, or TLS and plaintext with `client.portUnification`;
    /// `secure_client` TLS only.
    fn start_serving(
        &mut self,
        server: &Arc<Server>,
        client: Option<TcpListener>,
        secure_client: Option<TcpListener>,
        tls: Option<Arc<crate::tls::ClientTls>>,
    ) {
        let replica = &server.replica;
        let tick = Duration::from_millis(u64::from(server.config.tick_time_ms));
        let write_timeout = Duration::from_millis(server.config.write_timeout_ms);
        if let Some(client) = client {
            let mode = match &tls {
                Some(tls) if server.config.client_port_unification => Mode::Unified(tls.clone()),
                _ => Mode::Plain,
            };
            self.listeners
                .push(tokio::spawn(listener::run(server.clone(), client, mode)));
        }
        if let Some(tls) = &tls {
            self.duties.push(tokio::spawn(crate::tls::watch_stores(
                tls.clone(),
                TLS_STORE_CHECK,
            )));
        }
        if let (Some(secure), Some(tls)) = (secure_client, tls) {
            self.listeners.push(tokio::spawn(listener::run(
                server.clone(),
                secure,
                Mode::Tls(tls),
            )));
        }
        self.duties.extend([
            tokio::spawn(leader::expire_sessions(
                replica.clone(),
                server.tracker.clone(),
                tick,
            )),
            tokio::spawn(leader::reap_nodes(replica.clone(), server.config.clone())),
            tokio::spawn(leader::close_unanswered_writes(
                replica.clone(),
                server.connections.clone(),
                write_timeout,
            )),
        ]);
    }

    /// The Prometheus endpoint (with its recorder) and the AdminServer, where their ports
    /// were had.
    fn start_http(
        &mut self,
        server: &Arc<Server>,
        metrics: Option<(TcpListener, PrometheusHandle)>,
        admin: Option<TcpListener>,
    ) {
        let config = &server.config;
        if let Some((http, handle)) = metrics {
            let endpoint = Arc::new(MetricsEndpoint::new(server.clone(), handle));
            let upkeep = endpoint.clone();
            self.duties.push(tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    upkeep.upkeep();
                }
            }));
            tracing::info!(addr = %config.metrics_addr().map_or(String::new(), |a| a.to_string()), "Prometheus metrics at /metrics");
            self.listeners
                .push(tokio::spawn(http::serve(http, endpoint, "metrics")));
        }
        if let Some(http) = admin {
            let endpoint = Arc::new(crate::server::admin::AdminEndpoint::new(
                server.clone(),
                config.admin_command_url.clone(),
            ));
            tracing::info!(addr = %config.admin_addr().map_or(String::new(), |a| a.to_string()), url = %config.admin_command_url, "AdminServer");
            self.listeners
                .push(tokio::spawn(http::serve(http, endpoint, "admin")));
        }
    }

    /// A cluster member's peer listener (it runs as long as Raft does, so Raft owns it) and
    /// duties: reporting session touches to the leader, closing connections while
    /// leaderless, tending the membership (observers), and the test-only partition switch.
    fn start_peering(
        &mut self,
        server: &Arc<Server>,
        runtime: &mut raft::RaftRuntime,
        peer_listener: TcpListener,
        members: BTreeMap<NodeId, PeerNode>,
        faults: Arc<FaultSwitch>,
    ) {
        let config = &server.config;
        let replica = &server.replica;
        let tick = Duration::from_millis(u64::from(server.config.tick_time_ms));
        let handler = Arc::new(Peering {
            replica: replica.clone(),
            tracker: server.tracker.clone(),
            timeout: Duration::from_millis(config.write_timeout_ms),
        });
        let (r, f, tls) = (replica.clone(), faults.clone(), server.peer_tls.clone());
        runtime.adopt(tokio::spawn(async move {
            raft::serve_peers(&r, peer_listener, tls, handler, f).await;
        }));
        if let Some(tls) = &server.peer_tls {
            self.duties.push(tokio::spawn(crate::tls::watch_stores(
                tls.clone(),
                TLS_STORE_CHECK,
            )));
        }
        let grace = Duration::from_millis(config.raft_election_timeout_ms.1 * 2);
        let observers: BTreeMap<NodeId, PeerNode> =
            members.into_iter().filter(|(_, n)| n.observer).collect();
        self.duties.extend([
            tokio::spawn(leader::report_touches(
                replica.clone(),
                server.tracker.clone(),
                tick,
            )),
            tokio::spawn(leader::close_when_leaderless(
                replica.clone(),
                server.connections.clone(),
                grace,
            )),
            tokio::spawn(leader::tend_membership(
                replica.clone(),
                observers,
                config.reconfig_enabled,
            )),
        ]);
        if let Some(path) = config.peer_fault_file.clone() {
            tracing::warn!(file = %path.display(), "test-only peer fault switch is on");
            self.duties.push(tokio::spawn(faults.follow_file(path)));
        }
    }

    fn abort_all(&self) {
        for task in self.listeners.iter().chain(&self.duties) {
            task.abort();
        }
    }
}

/// The one line that says a member is up, and with what.
fn log_serving(server: &Server, member_id: NodeId) {
    let (zxid, znodes, sessions) = {
        let view = server.replica.state.read();
        (
            view.state.last_zxid,
            view.state.tree.znode_count(),
            view.state.sessions.len(),
        )
    };
    let config = &server.config;
    tracing::info!(
        member = member_id,
        cluster = config.is_cluster(),
        addr = %config
            .plain_client_addr()
            .map_or("none".into(), |a| a.to_string()),
        secure_addr = %config
            .secure_client_addr()
            .map_or("none".into(), |a| a.to_string()),
        data_dir = %config.data_dir.display(),
        zxid = format_args!("0x{zxid:x}"),
        znodes,
        sessions,
        "raftzk serving"
    );
}

/// A member whose log write failed may have lost writes it acknowledged: it stops rather
/// than serve (exit 70). A supervisor restarts it once the disk is fixed.
async fn stop_on_storage_failure(
    config: &Config,
    reason: &str,
    tasks: MemberTasks,
    runtime: raft::RaftRuntime,
) -> ! {
    let log_dir = config.data_log_dir.join("raft-log");
    tracing::error!(%reason, log_dir = %log_dir.display(), "raft stopped on a storage failure; exiting");
    eprintln!(
        "raftzk: storage failure under {}: {reason}",
        log_dir.display()
    );
    // Close the log database first: exiting while RocksDB's threads still run can abort
    // the process ("pthread lock: Invalid argument") instead of exiting with 70.
    tasks.abort_all();
    runtime.shutdown(SHUTDOWN_RAFT_LIMIT).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::process::exit(70);
}

/// How long shutdown lets proposed writes be answered before it closes connections.
const SHUTDOWN_WRITES_LIMIT: Duration = Duration::from_secs(2);
/// How long shutdown lets connections flush their queued replies.
const SHUTDOWN_FLUSH_LIMIT: Duration = Duration::from_secs(1);
/// How long openraft gets to stop (and close the log database).
const SHUTDOWN_RAFT_LIMIT: Duration = Duration::from_millis(1500);

/// SIGTERM/SIGINT: stops the member in order, within 5 s. Listeners first (no new clients
/// or HTTP requests; HTTP connections stop with their listener); then writes already
/// proposed get their outcome (≤ 2 s), every connection writes what is queued for it and
/// closes (≤ 1 s; sessions stay open, as ZooKeeper leaves them, so clients resume them
/// elsewhere or after the restart); then the member's duties stop and Raft stops with every
/// task it owns (the peer listener and its connections among them), closing the log
/// database. Client connection tasks end when their connection closes (step two).
async fn shut_down_in_order(server: &Server, tasks: MemberTasks, runtime: raft::RaftRuntime) {
    let MemberTasks { listeners, duties } = tasks;
    let started = std::time::Instant::now();
    for task in &listeners {
        task.abort();
    }
    for task in listeners {
        let _ = task.await;
    }
    let connections = server.connections.all().len();
    tracing::info!(connections, "shutting down: listeners closed");
    let deadline = tokio::time::Instant::now() + SHUTDOWN_WRITES_LIMIT;
    while server.connections.outstanding() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let unanswered = server.connections.outstanding();
    for connection in server.connections.all() {
        connection.close();
    }
    let deadline = tokio::time::Instant::now() + SHUTDOWN_FLUSH_LIMIT;
    while !server.connections.all().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tracing::info!(
        unanswered_writes = unanswered,
        still_open = server.connections.all().len(),
        "shutting down: connections closed after their queued replies"
    );
    for task in &duties {
        task.abort();
    }
    for task in duties {
        let _ = task.await;
    }
    runtime.shutdown(SHUTDOWN_RAFT_LIMIT).await;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "stopped: Raft and the log database closed"
    );
}

/// What this member does with its peers' requests.
struct Peering {
    replica: Replica,
    tracker: Arc<SessionTracker>,
    timeout: Duration,
}

impl PeerHandler for Peering {
    async fn forward(&self, txns: Vec<Txn>) -> Result<(), String> {
        if self.replica.leader() != Some(self.replica.member_id) {
            return Err("not the leader".into());
        }
        for txn in txns {
            self.replica
                .proposer
                .propose(txn)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn touch(&self, sessions: Vec<(i64, i32)>) {
        for (session, timeout_ms) in sessions {
            self.tracker.touch(session, timeout_ms);
        }
    }

    async fn reconfig(&self, request: ReconfigRequest) -> Result<u64, ReconfigError> {
        self.replica.lead_reconfig(request, self.timeout).await
    }

    async fn read_index(&self) -> Result<u64, String> {
        // Followers' requests share the leader's rounds with its own reads.
        self.replica
            .shared_read_index(self.timeout)
            .await
            .map_err(|e| e.to_string())
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
