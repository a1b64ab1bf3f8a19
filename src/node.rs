//! A running member: wires the Raft side, the server, the leader's duties and the listener
//! together, and owns shutdown. The only module that knows every other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::leader;
use crate::raft::{self, ProposerConfig, RaftSettings};
use crate::server::handle::Connections;
use crate::server::stats::ServerStats;
use crate::server::{listener, session_ids::SessionIds, Notifier, Server};
use crate::session::tracker::SessionTracker;
use crate::watch::WatchManager;

/// The standalone member's id: ZooKeeper's session ids start with 1 on a standalone server.
const STANDALONE_ID: u64 = 1;

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
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
    /// Raft state could not be loaded.
    #[error(transparent)]
    Raft(#[from] raft::StartError),
    /// The client port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs a member until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<(), NodeError> {
    let config = Arc::new(config);
    for key in &config.ignored {
        if crate::config::is_known_unused(key) {
            tracing::info!(key, "zoo.cfg key not used by raftzk; ignored");
        } else {
            tracing::warn!(key, "unknown zoo.cfg key; ignored");
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
    let stats = Arc::new(ServerStats::default());
    let connections = Arc::new(Connections::new(stats.clone()));
    let watches = Arc::new(Mutex::new(WatchManager::default()));
    let notifier = Arc::new(Notifier {
        member_id: STANDALONE_ID,
        connections: connections.clone(),
        watches: watches.clone(),
        stats: stats.clone(),
    });
    let settings = RaftSettings {
        member_id: STANDALONE_ID,
        snapshot_dir: config.data_dir.join("snapshots"),
        log_dir: config.data_log_dir.join("raft-log"),
        snap_count: config.snap_count,
        snapshots_retained: config.autopurge_snap_retain_count as usize,
        heartbeat_ms: 50,
        election_timeout_ms: (150, 300),
        proposer: ProposerConfig {
            write_timeout: Duration::from_millis(
                u64::try_from(config.max_session_timeout_ms).unwrap_or(40_000),
            ),
            ..ProposerConfig::default()
        },
    };
    let (replica, runtime) = raft::start(settings, notifier).await?;
    let tick = Duration::from_millis(u64::from(config.tick_time_ms));
    let tracker = Arc::new(SessionTracker::new(tick));
    let listener = TcpListener::bind(config.client_addr)
        .await
        .map_err(|source| NodeError::Listen {
            addr: config.client_addr.to_string(),
            source,
        })?;
    let server = Arc::new(Server {
        config: config.clone(),
        replica: replica.clone(),
        connections,
        watches,
        tracker: tracker.clone(),
        stats,
        session_ids: SessionIds::new(STANDALONE_ID),
    });
    let tasks = [
        tokio::spawn(leader::expire_sessions(replica.clone(), tracker, tick)),
        tokio::spawn(leader::reap_nodes(replica.clone(), config.clone())),
        tokio::spawn(listener::run(server, listener)),
    ];
    let (zxid, znodes, sessions) = {
        let view = replica.state.read();
        (
            view.state.last_zxid,
            view.state.tree.znode_count(),
            view.state.sessions.len(),
        )
    };
    tracing::info!(
        addr = %config.client_addr,
        data_dir = %config.data_dir.display(),
        zxid = format_args!("0x{zxid:x}"),
        znodes,
        sessions,
        "raftzk serving"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    for task in tasks {
        task.abort();
    }
    runtime.shutdown().await;
    Ok(())
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
