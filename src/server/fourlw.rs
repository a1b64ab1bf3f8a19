//! Four-letter words in ZooKeeper 3.8's formats (`protocol.md` §12). Every value printed is
//! measured here; keys raftzk has no equivalent for are left out rather than invented
//! (`mntr` prints a subset until the observability issue; `envi` has no `java.*` keys).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jute_codec::FourLetterWord;

use super::handle::ConnectionHandle;
use super::status::{
    dir_size, java_double, mode_name, read_only_now, session_of_connections, version,
};
use super::Server;

/// ZooKeeper's trace mask (`gtmk`/`stmk`); raftzk keeps it but traces through `tracing`.
static TRACE_MASK: AtomicI64 = AtomicI64::new(306);

/// The reply to `word`; `extra` holds the bytes that followed it (stmk's mask).
pub fn respond(server: &Server, word: FourLetterWord, extra: &[u8]) -> Vec<u8> {
    if word == FourLetterWord::TelnetClose {
        return Vec::new();
    }
    if !server.config.allows(word) {
        return format!(
            "{} is not executed because it is not in the whitelist.\n",
            word.name()
        )
        .into_bytes();
    }
    server
        .stats
        .packets_received
        .fetch_add(1, Ordering::Relaxed);
    let text = match word {
        FourLetterWord::Ruok => "imok".to_string(),
        FourLetterWord::Isro => if read_only_now(server) { "ro" } else { "rw" }.to_string(),
        FourLetterWord::Srvr => srvr(server, false),
        FourLetterWord::Stat => srvr(server, true),
        FourLetterWord::Cons => cons(server),
        FourLetterWord::Crst => {
            for conn in server.connections.all() {
                conn.stats.reset();
            }
            "Connection stats reset.\n".to_string()
        }
        FourLetterWord::Srst => {
            server.stats.reset();
            "Server stats reset.\n".to_string()
        }
        FourLetterWord::Conf => conf(server),
        FourLetterWord::Envi => envi(),
        FourLetterWord::Dirs => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            dir_size(&server.config.data_dir),
            dir_size(&server.config.data_log_dir)
        ),
        FourLetterWord::Dump => dump(server),
        FourLetterWord::Mntr => mntr(server),
        FourLetterWord::Wchs => {
            let (conns, paths, total) = server.watches().data_summary();
            format!("{conns} connections watching {paths} paths\nTotal watches:{total}\n")
        }
        FourLetterWord::Wchc => {
            let mut out = String::new();
            let sessions = session_of_connections(server);
            for (conn, paths) in server.watches().data_watches_by_connection() {
                let _ = writeln!(out, "0x{:x}", sessions.get(&conn).copied().unwrap_or(0));
                for path in paths {
                    let _ = writeln!(out, "\t{path}");
                }
            }
            out.push('\n');
            out
        }
        FourLetterWord::Wchp => {
            let mut out = String::new();
            let sessions = session_of_connections(server);
            for (path, conns) in server.watches().data_watches_by_path() {
                let _ = writeln!(out, "{path}");
                for conn in conns {
                    let _ = writeln!(out, "\t0x{:x}", sessions.get(&conn).copied().unwrap_or(0));
                }
            }
            out.push('\n');
            out
        }
        FourLetterWord::Gtmk => TRACE_MASK.load(Ordering::Relaxed).to_string(),
        FourLetterWord::Stmk => match extra.first_chunk::<8>() {
            Some(mask) => {
                let mask = i64::from_be_bytes(*mask);
                TRACE_MASK.store(mask, Ordering::Relaxed);
                mask.to_string()
            }
            None => String::new(),
        },
        // ZooKeeper's format: one `<hex zxid>: <digest>` line per logged digest, oldest first.
        FourLetterWord::Hash => {
            let view = server.replica.state.read();
            view.digests
                .history()
                .map(|d| format!("{:x}: {}\n", d.zxid, d.digest))
                .collect()
        }
        FourLetterWord::TelnetClose => String::new(),
    };
    text.into_bytes()
}

fn srvr(server: &Server, with_clients: bool) -> String {
    let (min, avg, max, _) = server.stats.latency.snapshot();
    let (zxid, nodes) = {
        let view = server.replica.state.read();
        (view.state.last_zxid, view.state.tree.znode_count())
    };
    let mut out = format!("Zookeeper version: {}\n", version());
    if with_clients {
        out.push_str("Clients:\n");
        for conn in server.connections.all() {
            let _ = writeln!(out, "{}", client_line(&conn, false));
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "Latency min/avg/max: {min}/{}/{max}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{zxid:x}\nMode: {}\nNode count: {nodes}\n",
        java_double(avg),
        server.stats.packets_received.load(Ordering::Relaxed),
        server.stats.packets_sent.load(Ordering::Relaxed),
        server.connections.len(),
        server.connections.outstanding(),
        mode_name(server),
    );
    out
}

/// ` /ip:port[ops](queued=,recved=,sent=…)`; `[1]` for a session's connection (reading),
/// `[0]` for one without a session (like the 4lw connection itself).
fn client_line(conn: &ConnectionHandle, detailed: bool) -> String {
    let binding = conn.binding();
    let ops = u8::from(binding.is_some());
    let mut line = format!(
        " /{}:{}[{ops}](queued={},recved={},sent={}",
        conn.peer.ip(),
        conn.peer.port(),
        if conn.queued_bytes() > 0 { 1 } else { 0 },
        conn.stats.received.load(Ordering::Relaxed),
        conn.stats.sent.load(Ordering::Relaxed),
    );
    if let (true, Some(b)) = (detailed, binding) {
        let s = conn.stats.snapshot();
        let avg = s.total.checked_div(s.count).unwrap_or(0);
        let _ = write!(
            line,
            ",sid=0x{:x},lop={},est={},to={}",
            b.session_id, s.last_op, conn.stats.established_ms, b.timeout_ms
        );
        if let Some(cxid) = s.last_cxid {
            let _ = write!(line, ",lcxid=0x{cxid:x}");
        }
        let _ = write!(
            line,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={avg},maxlat={}",
            s.last_zxid, s.last_response_ms, s.last_latency, s.min, s.max
        );
    }
    line.push(')');
    line
}

fn cons(server: &Server) -> String {
    let mut out = String::new();
    for conn in server.connections.all() {
        let _ = writeln!(out, "{}", client_line(&conn, true));
    }
    out.push('\n');
    out
}

fn conf(server: &Server) -> String {
    let c = &server.config;
    let mut out = format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
        // -1 for a port not served, as ZooKeeper prints it.
        c.plain_client_addr().map_or(-1, |a| i32::from(a.port())),
        c.secure_client_addr().map_or(-1, |a| i32::from(a.port())),
        c.data_dir.display(),
        dir_size(&c.data_dir),
        c.data_log_dir.display(),
        dir_size(&c.data_log_dir),
        c.tick_time_ms,
        c.max_client_cnxns,
        c.min_session_timeout_ms,
        c.max_session_timeout_ms,
        if c.is_cluster() { c.my_id.unwrap_or(0) } else { 0 },
    );
    // A cluster member adds its own ports, its role and the membership, as a ZooKeeper
    // quorum peer does (ZAB's initLimit, syncLimit and electionAlg have no meaning here).
    if let Some(me) = c
        .my_id
        .and_then(|id| c.servers.get(&id))
        .filter(|_| c.is_cluster())
    {
        let observer = server.replica.role() == crate::raft::Role::Observer;
        let _ = write!(
            out,
            "electionPort={}\nquorumPort={}\npeerType={}\nmembership: \n",
            me.election_port,
            me.peer_port,
            u8::from(observer)
        );
        let view = server.replica.state.read();
        if let Some(data) = view
            .state
            .tree
            .get(crate::tree::CONFIG_PATH)
            .and_then(|n| n.data.as_ref())
        {
            out.push_str(&String::from_utf8_lossy(data));
            out.push('\n');
        }
    }
    out
}

fn envi() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "<NA>".into());
    let os_version = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|_| "<NA>".into());
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "<NA>".into());
    let dir = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "<NA>".into());
    format!(
        "Environment:\nzookeeper.version={}\nhost.name={host}\nos.name={}\nos.arch={}\nos.version={os_version}\nuser.name={}\nuser.home={}\nuser.dir={dir}\n",
        version(),
        capitalize(std::env::consts::OS),
        std::env::consts::ARCH,
        env("USER"),
        env("HOME"),
    )
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `dump`: sessions grouped by expiry time, ephemerals by session, connections by the expiry
/// of their session (handshaking connections by their handshake deadline).
fn dump(server: &Server) -> String {
    let wall = SystemTime::now();
    let at = |remaining_ms: u64| wall + Duration::from_millis(remaining_ms);
    let (sessions, ephemerals) = {
        let view = server.replica.state.read();
        let sessions: Vec<i64> = view.state.sessions.iter().map(|(id, _)| id).collect();
        (sessions, view.state.tree.ephemerals_by_session().clone())
    };
    let mut buckets: std::collections::BTreeMap<u64, Vec<i64>> = Default::default();
    for id in &sessions {
        if let Some(remaining) = server.tracker.remaining_ms(*id) {
            buckets.entry(remaining / 1000).or_default().push(*id);
        }
    }
    let mut out = format!(
        "SessionTracker dump:\nSession Sets ({})/({}):\n",
        buckets.len(),
        sessions.len()
    );
    for (secs, ids) in &buckets {
        let _ = writeln!(
            out,
            "{} expire at {}:",
            ids.len(),
            java_date(at(secs * 1000))
        );
        for id in ids {
            let _ = writeln!(out, "\t0x{id:x}");
        }
    }
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        ephemerals.len()
    );
    for (session, paths) in &ephemerals {
        let _ = writeln!(out, "0x{session:x}:");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    let conns = server.connections.all();
    let mut conn_buckets: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
    for conn in &conns {
        let (session, remaining) = match conn.binding() {
            Some(b) => (
                b.session_id,
                server.tracker.remaining_ms(b.session_id).unwrap_or(0),
            ),
            None => (0, 10_000),
        };
        conn_buckets
            .entry(remaining / 1000)
            .or_default()
            .push(format!(
                "\tip: /{}:{} sessionId: 0x{session:x}",
                conn.peer.ip(),
                conn.peer.port()
            ));
    }
    let _ = writeln!(
        out,
        "Connections dump:\nConnections Sets ({})/({}):",
        conn_buckets.len(),
        conns.len()
    );
    for (secs, lines) in &conn_buckets {
        let _ = writeln!(
            out,
            "{} expire at {}:",
            lines.len(),
            java_date(at(secs * 1000))
        );
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// `java.util.Date.toString()` in UTC: `Tue Dec 01 13:34:22 UTC 2026`.
fn java_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = DAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("Thu");
    let month = MONTHS.get((m - 1) as usize).copied().unwrap_or("Jan");
    format!(
        "{weekday} {month} {d:02} {:02}:{:02}:{:02} UTC {y}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1–12, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `mntr`: every measurement this member has, ZooKeeper's keys first (`metrics.rs`).
fn mntr(server: &Server) -> String {
    super::metrics::mntr_text(&super::metrics::collect(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_formats() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(3.125), "3.125");
        assert_eq!(java_double(2.388_888), "2.3889");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_132_062);
        assert_eq!(java_date(t), "Tue Dec 01 13:34:22 UTC 2026");
    }
}
