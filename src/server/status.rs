//! What a member says about itself in ZooKeeper's words and formats, shared by the
//! four-letter words, `mntr`/`/metrics` and the AdminServer: its version line, its mode, whether
//! it serves read-only, its directories' sizes, and Java's number format.

use std::path::Path;

use super::Server;

/// The version line raftzk reports (ZooKeeper's tools read the `3.8.0` prefix).
pub fn version() -> String {
    format!(
        "3.8.0-raftzk-{}, built on unknown",
        env!("CARGO_PKG_VERSION")
    )
}

/// True while this member serves read-only sessions: read-only mode is on and it is outside
/// a quorum.
pub fn read_only_now(server: &Server) -> bool {
    server.config.read_only_mode && server.replica.role() == crate::raft::Role::Looking
}

/// srvr's Mode and mntr's zk_server_state: ZooKeeper's read-only server says "read-only".
pub fn mode_name(server: &Server) -> &'static str {
    if read_only_now(server) {
        "read-only"
    } else {
        server.replica.role().name()
    }
}

/// Each open connection's session id (0: none yet).
pub fn session_of_connections(server: &Server) -> std::collections::HashMap<u64, i64> {
    server
        .connections
        .all()
        .iter()
        .filter_map(|c| c.binding().map(|b| (c.id, b.session_id)))
        .collect()
}

/// Java's `Double.toString` of a value rounded to 4 decimals: `3.125`, `0.0`.
pub fn java_double(value: f64) -> String {
    let rounded = (value * 10_000.0).round() / 10_000.0;
    let text = format!("{rounded}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// Total bytes of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
