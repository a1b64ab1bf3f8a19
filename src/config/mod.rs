//! Configuration: a ZooKeeper `zoo.cfg`, read unchanged, overridden by command-line flags.
//!
//! zoo.cfg is a Java properties file: `key=value` (or `key: value`), `#`/`!` comments. Keys
//! ZooKeeper reads only as JVM properties (`readonlymode.enabled`,
//! `DigestAuthenticationProvider.superDigest`, `extendedTypesEnabled`,
//! `znode.container.checkIntervalMs`, …) are read from the file too, with or without their
//! `zookeeper.` prefix. Keys raftzk has no use for are kept in [`Config::ignored`] and logged
//! once at start-up; a bad value of a key raftzk uses stops start-up with a [`ConfigError`]
//! naming the key and the file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use jute_codec::{FourLetterWord, DEFAULT_MAX_FRAME};

pub mod keys;
pub mod sasl;
pub mod throttle;
pub mod tls;

pub use sasl::SaslSettings;
pub use throttle::{ConnectionThrottleSettings, RequestThrottleSettings};
pub use tls::{ClientAuth, QuorumTlsOptions, StoreOptions, TlsOptions};

/// One `server.N` line (used by the cluster; parsed and checked now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Host of the member.
    pub host: String,
    /// Port for all member traffic (Raft RPCs and raftzk's own).
    pub peer_port: u16,
    /// ZooKeeper's leader-election port; raftzk ignores it.
    pub election_port: u16,
    /// `:observer` (a Raft learner) rather than `:participant`.
    pub observer: bool,
    /// The client address after `;`, if given.
    pub client: Option<(Option<String>, u16)>,
}

/// Everything raftzk reads from zoo.cfg and flags. Defaults are ZooKeeper 3.8's unless the
/// README says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The zoo.cfg read, if any.
    pub source: Option<PathBuf>,
    /// `tickTime`, ms (2000).
    pub tick_time_ms: u32,
    /// `dataDir`: snapshots (and `myid`) (`./data`).
    pub data_dir: PathBuf,
    /// `dataLogDir`: the Raft log; defaults to `dataDir`.
    pub data_log_dir: PathBuf,
    /// `clientPortAddress`:`clientPort` (127.0.0.1:2181; ZooKeeper binds every address).
    pub client_addr: SocketAddr,
    /// True when zoo.cfg names `clientPort` (or this member's `server.N` line a client
    /// port): a zoo.cfg with only `secureClientPort` serves TLS alone, as ZooKeeper does.
    pub client_port_set: bool,
    /// `secureClientPort`: the TLS client port (none by default).
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress` (default: the client port's address).
    pub secure_client_ip: Option<IpAddr>,
    /// `client.portUnification`: TLS, plaintext and 4lw on the client port, told apart by
    /// their first bytes.
    pub client_port_unification: bool,
    /// `ssl.*`: the client port's TLS.
    pub tls: TlsOptions,
    /// `sslQuorum`, `portUnification`, `ssl.quorum.*`: TLS on the peer link.
    pub quorum_tls: QuorumTlsOptions,
    /// `authProvider.N`: the Java class names of extra auth providers, by N.
    pub auth_providers: BTreeMap<String, String>,
    /// SASL: the JAAS file and section.
    pub sasl: SaslSettings,
    /// `zookeeper.superUser` and `zookeeper.superUser.<suffix>`: SASL users that are super.
    pub super_users: Vec<String>,
    /// `sessionRequireClientSASLAuth`: every request but auth and SASL needs a `sasl` id.
    pub sasl_required: bool,
    /// `enforce.auth.enabled` with `enforce.auth.schemes`: the schemes every connection
    /// must have authenticated with before its requests are served (None: off).
    pub enforce_auth_schemes: Option<Vec<String>>,
    /// `zookeeper.allowSaslFailedClients`: a failed SASL keeps the connection.
    pub allow_sasl_failed_clients: bool,
    /// Security settings zoo.cfg asks for that raftzk does not serve yet (`ssl.crl=true`,
    /// `ssl.ocsp=true` and their quorum twins): each is a warning at start-up, never silence.
    pub unserved_security: Vec<String>,
    /// `minSessionTimeout`, ms (2 × tickTime).
    pub min_session_timeout_ms: i32,
    /// `maxSessionTimeout`, ms (20 × tickTime).
    pub max_session_timeout_ms: i32,
    /// `maxClientCnxns` per client IP; 0 = unlimited (60).
    pub max_client_cnxns: u32,
    /// `globalOutstandingLimit` (also `zookeeper.globalOutstandingLimit`): requests of every
    /// connection together waiting for their outcome, past which a connection with one of
    /// its own waiting stops reading until it is answered, as ZooKeeper throttles (1000).
    pub global_outstanding_limit: i64,
    /// ZooKeeper's request throttler (`zookeeper.request_throttle_*`).
    pub request_throttle: RequestThrottleSettings,
    /// ZooKeeper's connection throttle (`zookeeper.connection_throttle_*`).
    pub connection_throttle: ConnectionThrottleSettings,
    /// `enforceQuota` (also `zookeeper.enforceQuota`): a create or setData that would take a
    /// quota'd subtree past a hard limit gets QuotaExceeded, as ZooKeeper 3.8 refuses it.
    pub enforce_quota: bool,
    /// `raftzk.maxZnodes`: creates past this many znodes are refused (0: no ceiling).
    pub max_znodes: u64,
    /// `raftzk.maxTreeBytes`: writes that take `approximate_data_size` past this are
    /// refused (0: no ceiling).
    pub max_tree_bytes: u64,
    /// `raftzk.maxWatches`: reads that would set a watch past this many get QuotaExceeded
    /// (0: no ceiling).
    pub max_watches: u64,
    /// `raftzk.maxSessions`: no new session past this many live ones (0: no ceiling).
    pub max_sessions: u64,
    /// `4lw.commands.whitelist` after ZooKeeper's rules (`srvr` always; `isro` with read-only
    /// mode; default `srvr` only).
    pub four_letter_words: BTreeSet<&'static str>,
    /// `snapCount`: transactions between snapshots (100000; a snapshot comes after a random
    /// number between half of it and all of it, as in ZooKeeper).
    pub snap_count: u64,
    /// `autopurge.snapRetainCount` (3); raftzk keeps only the newest snapshot, see README.
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval`, hours (0).
    pub autopurge_purge_interval_h: u32,
    /// `jute.maxbuffer`: the largest frame, both ways (1048575).
    pub max_frame: usize,
    /// `extendedTypesEnabled`: TTL nodes. **true** in raftzk (false in ZooKeeper), see README.
    pub extended_types: bool,
    /// `DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    /// `readonlymode.enabled` (false).
    pub read_only_mode: bool,
    /// `reconfigEnabled` (false).
    pub reconfig_enabled: bool,
    /// The `server.N` lines.
    pub servers: BTreeMap<u64, ServerSpec>,
    /// `znode.container.checkIntervalMs` (60000).
    pub container_check_interval_ms: u64,
    /// `znode.container.maxPerMinute` (10000).
    pub container_max_per_minute: u32,
    /// `znode.container.maxNeverUsedIntervalMs` (0 = never reap unused containers).
    pub container_max_never_used_interval_ms: u64,
    /// This member's id in a cluster: the `myid` file in `dataDir` (flag `--myid`).
    pub my_id: Option<u64>,
    /// `raft.heartbeatMs`: leader heartbeat, ms (50).
    pub raft_heartbeat_ms: u64,
    /// `raft.electionTimeoutMinMs` / `raft.electionTimeoutMaxMs`: a follower campaigns after
    /// this much silence, ms (80 / 120).
    pub raft_election_timeout_ms: (u64, u64),
    /// `raftzk.writeTimeoutMs`: a write not applied within this long has an unknown fate and
    /// its connection is closed (10000).
    pub write_timeout_ms: u64,
    /// `raftzk.linearizableReads`: every read waits for a shared read-index round (a session
    /// can ask for it alone with the auth packet `raftzk`/`linearizable`).
    pub linearizable_reads: bool,
    /// `peer.faultFile`: test-only partition switch, a file listing member ids whose peer
    /// traffic this member drops (none).
    pub peer_fault_file: Option<PathBuf>,
    /// `disk.faultFile`: test-only disk faults, a file holding `delay=<ms>` or `full` (none).
    pub disk_fault_file: Option<PathBuf>,
    /// `metricsProvider.httpPort`: Prometheus `/metrics` port, 0 = off (7000, on).
    pub metrics_port: u16,
    /// The user named the metrics port or provider (zoo.cfg or `--metrics-port`): a port in
    /// use then stops start-up; raftzk's own default only gets a warning.
    pub metrics_port_configured: bool,
    /// `metricsProvider.httpHost`: its address (default: the client address).
    pub metrics_host: Option<IpAddr>,
    /// `admin.enableServer`: the AdminServer's HTTP endpoint (true).
    pub admin_enabled: bool,
    /// `admin.serverAddress` (default: the client address).
    pub admin_host: Option<IpAddr>,
    /// `admin.serverPort` (8080).
    pub admin_port: u16,
    /// The user named the admin port (zoo.cfg or `--admin-port`): in use, it stops a
    /// standalone start-up as in ZooKeeper; raftzk's default only gets a warning.
    pub admin_port_configured: bool,
    /// `admin.commandURL` (`/commands`).
    pub admin_command_url: String,
    /// `raftzk.slowRequestMs`: a request answered slower than this is logged (1000; 0 = off).
    pub slow_request_ms: u64,
    /// `raftzk.logLevel`: the log filter when neither `--log` nor `RUST_LOG` is given.
    pub log_level: Option<String>,
    /// Keys accepted but not used, to be logged once.
    pub ignored: Vec<String>,
    /// `key=value` settings whose value ZooKeeper would silently replace by the default (a
    /// number Java's `Integer.getInteger` cannot read): raftzk does the same and warns once.
    pub defaulted: Vec<String>,
}

/// A configuration problem that stops start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {file}: {reason}")]
    Unreadable {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A value is not acceptable.
    #[error("{file}: {key}={value}: {reason}")]
    BadValue {
        /// Where the key came from (a file or "command line").
        file: String,
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What was expected.
        reason: String,
    },
}

impl Default for Config {
    fn default() -> Config {
        let tick = 2000;
        Config {
            source: None,
            tick_time_ms: tick,
            data_dir: PathBuf::from("data"),
            data_log_dir: PathBuf::from("data"),
            client_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2181),
            client_port_set: false,
            secure_client_port: None,
            secure_client_ip: None,
            client_port_unification: false,
            tls: TlsOptions::default(),
            quorum_tls: QuorumTlsOptions::default(),
            auth_providers: BTreeMap::new(),
            sasl: SaslSettings::default(),
            super_users: Vec::new(),
            sasl_required: false,
            enforce_auth_schemes: None,
            allow_sasl_failed_clients: false,
            unserved_security: Vec::new(),
            min_session_timeout_ms: 2 * tick as i32,
            max_session_timeout_ms: 20 * tick as i32,
            max_client_cnxns: 60,
            global_outstanding_limit: 1000,
            request_throttle: RequestThrottleSettings::default(),
            connection_throttle: ConnectionThrottleSettings::default(),
            enforce_quota: false,
            max_znodes: 0,
            max_tree_bytes: 0,
            max_watches: 0,
            max_sessions: 0,
            four_letter_words: whitelist("srvr", false),
            snap_count: 100_000,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_h: 0,
            max_frame: DEFAULT_MAX_FRAME,
            extended_types: true,
            super_digest: None,
            read_only_mode: false,
            reconfig_enabled: false,
            servers: BTreeMap::new(),
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            container_max_never_used_interval_ms: 0,
            my_id: None,
            raft_heartbeat_ms: 50,
            raft_election_timeout_ms: (80, 120),
            write_timeout_ms: 10_000,
            linearizable_reads: false,
            peer_fault_file: None,
            disk_fault_file: None,
            metrics_port: 7000,
            metrics_port_configured: false,
            metrics_host: None,
            admin_enabled: true,
            admin_host: None,
            admin_port: 8080,
            admin_port_configured: false,
            admin_command_url: "/commands".into(),
            slow_request_ms: 1000,
            log_level: None,
            ignored: Vec::new(),
            defaulted: Vec::new(),
        }
    }
}

/// The 4lw whitelist as ZooKeeper builds it: `*` is every word; `srvr` is always allowed;
/// `isro` too when read-only mode is on. Unknown names are dropped.
pub fn whitelist(list: &str, read_only_mode: bool) -> BTreeSet<&'static str> {
    let all = FourLetterWord::ALL
        .iter()
        .map(|w| w.name())
        .filter(|n| *n != "telnetclose");
    let mut words: BTreeSet<&'static str> = if list.split(',').any(|w| w.trim() == "*") {
        all.collect()
    } else {
        let wanted: BTreeSet<&str> = list.split(',').map(str::trim).collect();
        all.filter(|n| wanted.contains(n)).collect()
    };
    words.insert("srvr");
    if read_only_mode {
        words.insert("isro");
    }
    words
}

impl Config {
    /// Reads `path` as a zoo.cfg on top of the defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Config::from_file_and_jvm_flags(path, "")
    }

    /// Reads `path` as a zoo.cfg, with the `-D` properties of `jvm_flags` (ZooKeeper's
    /// `SERVER_JVMFLAGS`) under it: a key the file also names takes the file's value.
    pub fn from_file_and_jvm_flags(path: &Path, jvm_flags: &str) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let mut config = Config::from_properties_and_jvm_flags(&text, &file, jvm_flags)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses zoo.cfg text; `file` names it in errors. Walks [`keys::KEYS`] in order, then
    /// the `server.N` lines, then the checks that span keys.
    pub fn from_properties(text: &str, file: &str) -> Result<Config, ConfigError> {
        Config::from_properties_and_jvm_flags(text, file, "")
    }

    /// [`Config::from_properties`] with the `-D` properties of `jvm_flags` under the file's
    /// keys; of those only the keys raftzk reads are taken (a JVM's own properties are not
    /// zoo.cfg keys).
    pub fn from_properties_and_jvm_flags(
        text: &str,
        file: &str,
        jvm_flags: &str,
    ) -> Result<Config, ConfigError> {
        let mut props: BTreeMap<String, String> = sasl::jvm_properties(jvm_flags)
            .into_iter()
            .filter(|(k, _)| keys::is_used(k))
            .collect();
        props.extend(parse_properties(text));
        let bad = |key: &str, value: &str, reason: &str| ConfigError::BadValue {
            file: file.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let mut config = Config::default();
        for key in keys::KEYS {
            let keys::KeyUse::Used(set) = key.usage else {
                continue;
            };
            let value = props
                .get(key.name)
                .or_else(|| props.get(&format!("zookeeper.{}", key.name)));
            if let Some(value) = value {
                set(&mut config, value).map_err(|reason| {
                    bad(
                        key.name,
                        if key.secret { "<hidden>" } else { value },
                        &reason,
                    )
                })?;
            }
        }
        for (key, value) in &props {
            let bare = keys::bare(key);
            if matches!(
                bare,
                "ssl.crl" | "ssl.ocsp" | "ssl.quorum.crl" | "ssl.quorum.ocsp"
            ) && value.trim().eq_ignore_ascii_case("true")
            {
                config.unserved_security.push(format!("{bare}=true"));
            }
            if let Some(suffix) = keys::bare(key).strip_prefix("superUser") {
                if suffix.is_empty() || suffix.starts_with('.') {
                    config.super_users.push(value.trim().to_string());
                }
            }
            if let Some(n) = keys::bare(key).strip_prefix("authProvider.") {
                config
                    .auth_providers
                    .insert(n.to_string(), value.trim().to_string());
            }
            if let Some(id) = key.strip_prefix("server.") {
                let id: u64 = id
                    .parse()
                    .ok()
                    .filter(|id| (1..=255).contains(id))
                    .ok_or_else(|| bad(key, value, "server id must be 1..255"))?;
                let spec = parse_server(value).map_err(|reason| bad(key, value, &reason))?;
                config.servers.insert(id, spec);
            }
        }
        config
            .check()
            .map_err(|(key, value, reason)| bad(key, &value, &reason))?;
        config.ignored = props
            .keys()
            .filter(|k| !keys::is_used(k))
            .cloned()
            .collect();
        Ok(config)
    }

    /// The rules that span keys: the key to blame, its value and why.
    fn check(&mut self) -> Result<(), (&'static str, String, String)> {
        if self.min_session_timeout_ms > self.max_session_timeout_ms {
            return Err((
                "minSessionTimeout",
                self.min_session_timeout_ms.to_string(),
                "must not exceed maxSessionTimeout".into(),
            ));
        }
        let (lo, hi) = self.raft_election_timeout_ms;
        if lo >= hi || lo <= self.raft_heartbeat_ms {
            return Err((
                "raft.electionTimeoutMinMs",
                lo.to_string(),
                format!(
                    "must exceed raft.heartbeatMs ({}) and be below raft.electionTimeoutMaxMs ({hi})",
                    self.raft_heartbeat_ms
                ),
            ));
        }
        if self.secure_client_ip.is_some() && self.secure_client_port.is_none() {
            return Err((
                "secureClientPortAddress",
                self.secure_client_ip
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
                "is set but secureClientPort is not".into(),
            ));
        }
        if let Some(schemes) = &self.enforce_auth_schemes {
            for scheme in schemes {
                let registered = match scheme.as_str() {
                    "digest" | "ip" => true,
                    "x509" => self.x509_provider(),
                    "sasl" => self.sasl_provider(),
                    _ => false,
                };
                if !registered {
                    return Err((
                        "enforce.auth.schemes",
                        schemes.join(","),
                        format!(
                            "no auth provider for scheme {scheme:?} (authProvider.N names them)"
                        ),
                    ));
                }
            }
        }
        // ZooKeeper adds `isro` to the whitelist whenever read-only mode is on.
        if self.read_only_mode {
            self.four_letter_words.insert("isro");
        }
        Ok(())
    }

    /// The negotiated session timeout for a requested one (ZooKeeper clamps to
    /// [minSessionTimeout, maxSessionTimeout]).
    pub fn negotiate_timeout(&self, requested: i32) -> i32 {
        requested.clamp(self.min_session_timeout_ms, self.max_session_timeout_ms)
    }

    /// Reads `dataDir/myid` when the config lists servers and no id was given; a cluster
    /// member must have an id listed in `server.N`.
    pub fn resolve_my_id(&mut self) -> Result<(), ConfigError> {
        if !self.is_cluster() {
            return Ok(());
        }
        let file = self.data_dir.join("myid");
        if self.my_id.is_none() {
            let text = std::fs::read_to_string(&file).map_err(|e| ConfigError::Unreadable {
                file: file.display().to_string(),
                reason: format!("{e} (a member of a cluster needs its myid)"),
            })?;
            let id = text
                .trim()
                .parse::<u64>()
                .map_err(|_| ConfigError::BadValue {
                    file: file.display().to_string(),
                    key: "myid".into(),
                    value: text.trim().to_string(),
                    reason: "not a number".into(),
                })?;
            self.my_id = Some(id);
        }
        let id = self.my_id.unwrap_or(0);
        let Some(me) = self.servers.get(&id) else {
            return Err(ConfigError::BadValue {
                file: self
                    .source
                    .as_ref()
                    .map_or("command line".into(), |p| p.display().to_string()),
                key: "myid".into(),
                value: id.to_string(),
                reason: "no server.N line has this id".into(),
            });
        };
        // A member's own `;clientPort` (and address) override clientPort.
        if let Some((addr, port)) = &me.client {
            self.client_addr.set_port(*port);
            self.client_port_set = true;
            if let Some(ip) = addr.as_deref().and_then(resolve_ip) {
                self.client_addr.set_ip(ip);
            }
        }
        Ok(())
    }

    /// Where the plaintext client port listens: none when zoo.cfg names only a
    /// `secureClientPort` (a TLS-only server).
    pub fn plain_client_addr(&self) -> Option<SocketAddr> {
        (self.client_port_set || self.secure_client_port.is_none()).then_some(self.client_addr)
    }

    /// Where the TLS-only client port listens, if zoo.cfg names one.
    pub fn secure_client_addr(&self) -> Option<SocketAddr> {
        self.secure_client_port.map(|port| {
            SocketAddr::new(self.secure_client_ip.unwrap_or(self.client_addr.ip()), port)
        })
    }

    /// True if the client port speaks TLS anywhere (a secure port or port unification).
    pub fn serves_tls(&self) -> bool {
        self.secure_client_port.is_some() || self.client_port_unification
    }

    /// True if the `sasl` ACL scheme is registered: `authProvider.N` names
    /// SASLAuthenticationProvider (without it ZooKeeper refuses `sasl` ACLs too).
    pub fn sasl_provider(&self) -> bool {
        self.auth_providers
            .values()
            .any(|class| class.ends_with(".SASLAuthenticationProvider"))
    }

    /// True if the `x509` ACL scheme is registered: whenever TLS is served (ZooKeeper 3.8
    /// registers it for `secureClientPort` but, a bug not copied, not for port unification
    /// alone), or when `authProvider.N` names it.
    pub fn x509_provider(&self) -> bool {
        self.serves_tls()
            || self
                .auth_providers
                .values()
                .any(|class| class.ends_with(".X509AuthenticationProvider"))
    }

    /// Where `/metrics` listens (None: off).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        (self.metrics_port != 0).then(|| {
            SocketAddr::new(
                self.metrics_host.unwrap_or(self.client_addr.ip()),
                self.metrics_port,
            )
        })
    }

    /// Where the AdminServer listens (None: off).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        (self.admin_enabled && self.admin_port != 0).then(|| {
            SocketAddr::new(
                self.admin_host.unwrap_or(self.client_addr.ip()),
                self.admin_port,
            )
        })
    }

    /// True if this member is part of a cluster (more than one `server.N` line).
    pub fn is_cluster(&self) -> bool {
        self.servers.len() > 1
    }

    /// True if `word` may be served.
    pub fn allows(&self, word: FourLetterWord) -> bool {
        self.four_letter_words.contains(word.name())
    }
}

fn resolve_ip(addr: &str) -> Option<IpAddr> {
    if let Ok(ip) = addr.parse() {
        return Some(ip);
    }
    use std::net::ToSocketAddrs;
    (addr, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}

/// `host:peerPort:electionPort[:participant|:observer][;[clientAddr:]clientPort]`.
pub fn parse_server(value: &str) -> Result<ServerSpec, String> {
    let (quorum, client) = match value.split_once(';') {
        Some((q, c)) => (q.trim(), Some(c.trim())),
        None => (value.trim(), None),
    };
    let parts: Vec<&str> = quorum.split(':').collect();
    let (host, peer, election, role) = match parts.as_slice() {
        [h, p, e] => (*h, *p, *e, None),
        [h, p, e, r] => (*h, *p, *e, Some(*r)),
        _ => return Err("expected host:peerPort:electionPort[:role]".into()),
    };
    let port = |p: &str| -> Result<u16, String> {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("bad port {p}"))
    };
    let observer = match role {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(other) => return Err(format!("unknown role {other}")),
    };
    let client = match client {
        None => None,
        Some(c) => Some(match c.rsplit_once(':') {
            Some((addr, p)) => (Some(addr.to_string()), port(p)?),
            None => (None, port(c)?),
        }),
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    Ok(ServerSpec {
        host: host.to_string(),
        peer_port: port(peer)?,
        election_port: port(election)?,
        observer,
        client,
    })
}

/// Java-properties lines: `key=value`, `key: value` or `key value`; `#`/`!` comments.
fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut props = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line
            .find(['=', ':'])
            .or_else(|| line.find(char::is_whitespace));
        let (key, value) = match split {
            Some(i) => (
                line.get(..i).unwrap_or(line),
                line.get(i + 1..).unwrap_or(""),
            ),
            None => (line, ""),
        };
        props.insert(key.trim().to_string(), value.trim().to_string());
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_zookeepers_but_for_address_and_ttl() {
        let c = Config::default();
        assert_eq!(c.client_addr.to_string(), "127.0.0.1:2181");
        assert_eq!(
            (c.min_session_timeout_ms, c.max_session_timeout_ms),
            (4000, 40000)
        );
        assert_eq!(c.four_letter_words, BTreeSet::from(["srvr"]));
        assert!(c.extended_types);
        assert_eq!(c.max_frame, 1_048_575);
    }

    #[test]
    fn reads_a_zookeeper_zoo_cfg() {
        let text = "\
# a comment
tickTime=1000
dataDir=/tmp/zk
clientPort = 23181
clientPortAddress=127.0.0.1
4lw.commands.whitelist=ruok, mntr
zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
readonlymode.enabled=true
znode.container.checkIntervalMs=1000
admin.enableServer=false
server.1=127.0.0.1:2888:3888
server.2=localhost:2889:3889:observer;127.0.0.1:2182
someUnknownKey=1
";
        let c = Config::from_properties(text, "zoo.cfg").unwrap();
        assert_eq!(c.tick_time_ms, 1000);
        assert_eq!(
            (c.min_session_timeout_ms, c.max_session_timeout_ms),
            (2000, 20000)
        );
        assert_eq!(c.data_log_dir, PathBuf::from("/tmp/zk"));
        assert_eq!(c.client_addr.port(), 23181);
        assert_eq!(
            c.four_letter_words,
            BTreeSet::from(["isro", "mntr", "ruok", "srvr"])
        );
        assert!(c.super_digest.is_some());
        assert_eq!(c.container_check_interval_ms, 1000);
        assert!(c.servers[&2].observer);
        assert_eq!(c.servers[&2].client, Some((Some("127.0.0.1".into()), 2182)));
        assert_eq!(c.ignored, vec!["someUnknownKey".to_string()]);
        assert!(!c.admin_enabled && c.admin_addr().is_none());
        assert_eq!(
            c.metrics_addr().map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:7000")
        );
        assert!(keys::is_known_unused("admin.idleTimeout"));
        assert!(!keys::is_known_unused("someUnknownKey"));
    }

    #[test]
    fn metrics_and_admin_endpoints_follow_the_client_address_unless_set() {
        let c = Config::from_properties(
            "clientPortAddress=127.0.0.2\nadmin.serverPort=18080\nmetricsProvider.httpHost=127.0.0.3\n",
            "zoo.cfg",
        )
        .unwrap();
        assert_eq!(c.admin_addr().unwrap().to_string(), "127.0.0.2:18080");
        assert_eq!(c.metrics_addr().unwrap().to_string(), "127.0.0.3:7000");
        let off = Config::from_properties("metricsProvider.httpPort=0\n", "zoo.cfg").unwrap();
        assert!(off.metrics_addr().is_none());
    }

    #[test]
    fn bad_values_name_the_key_and_file() {
        for (text, key) in [
            ("clientPort=abc", "clientPort"),
            ("clientPort=70000", "clientPort"),
            ("tickTime=0", "tickTime"),
            ("extendedTypesEnabled=maybe", "extendedTypesEnabled"),
            ("server.1=host:2888", "server.1"),
            ("minSessionTimeout=50000", "minSessionTimeout"),
            ("metricsProvider.httpPort=70000", "metricsProvider.httpPort"),
            ("admin.serverAddress=no such host!", "admin.serverAddress"),
            ("raftzk.logLevel=[", "raftzk.logLevel"),
        ] {
            let err = Config::from_properties(text, "my.cfg").unwrap_err();
            let line = err.to_string();
            assert!(line.starts_with("my.cfg: ") && line.contains(key), "{line}");
        }
    }

    #[test]
    fn star_whitelists_every_word() {
        let all = whitelist("*", false);
        assert!(all.contains("mntr") && all.contains("ruok") && all.contains("dirs"));
        assert!(!all.contains("telnetclose"));
    }

    #[test]
    fn timeouts_are_clamped() {
        let c = Config::default();
        assert_eq!(c.negotiate_timeout(1000), 4000);
        assert_eq!(c.negotiate_timeout(100_000), 40_000);
        assert_eq!(c.negotiate_timeout(10_000), 10_000);
    }

    #[test]
    fn security_zookeeper_asks_for_and_raftzk_lacks_is_named() {
        let c = Config::from_properties(
            "sslQuorum=true\nzookeeper.ssl.crl=TRUE\nssl.ocsp=false\n",
            "zoo.cfg",
        )
        .unwrap();
        assert_eq!(c.unserved_security, vec!["ssl.crl=true"]);
        assert!(c.quorum_tls.enabled);
    }

    #[test]
    fn quorum_tls_keys_are_read_apart_from_the_client_port_s() {
        let c = Config::from_properties(
            "sslQuorum=true\nportUnification=true\nssl.keyStore.location=client.pem\n\
             ssl.quorum.keyStore.location=member.p12\nssl.quorum.keyStore.password=s\n\
             zookeeper.ssl.quorum.trustStore.location=ca.pem\nssl.quorum.clientAuth=want\n\
             ssl.quorum.hostnameVerification=false\nssl.quorum.enabledProtocols=TLSv1.3\n\
             ssl.quorum.ciphersuites=TLS_AES_128_GCM_SHA256\nsslQuorumReloadCertFiles=true\n",
            "zoo.cfg",
        )
        .unwrap();
        let q = &c.quorum_tls;
        assert!(q.enabled && q.port_unification && !q.hostname_verification);
        assert_eq!(q.tls.key_store.location, Some(PathBuf::from("member.p12")));
        assert_eq!(q.tls.key_store.password.as_deref(), Some("s"));
        assert_eq!(q.tls.trust_store.location, Some(PathBuf::from("ca.pem")));
        assert_eq!(q.tls.client_auth, ClientAuth::Want);
        assert_eq!(q.tls.enabled_protocols, Some(vec!["TLSv1.3".to_string()]));
        assert_eq!(c.tls.key_store.location, Some(PathBuf::from("client.pem")));
        assert!(c.ignored.is_empty(), "{:?}", c.ignored);
        assert!(Config::from_properties("ssl.quorum.clientAuth=maybe\n", "zoo.cfg").is_err());
    }

    #[test]
    fn jvm_flags_are_read_under_the_file() {
        let c = Config::from_properties_and_jvm_flags(
            "tickTime=3000\n",
            "zoo.cfg",
            "-Xmx1g -Dzookeeper.tickTime=1000 -Djava.security.auth.login.config=/j.conf -Dzookeeper.log.dir=/x",
        )
        .unwrap();
        assert_eq!(c.tick_time_ms, 3000);
        assert_eq!(c.sasl.jaas_file, Some(PathBuf::from("/j.conf")));
        assert!(c.ignored.is_empty(), "{:?}", c.ignored);
    }
}
