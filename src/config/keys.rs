//! The one table of zoo.cfg keys: what raftzk does with each (reads it, or accepts and
//! ignores it), its default and its meaning. [`Config::from_properties`](super::Config)
//! walks it, `raftzk --help` prints it, and a test keeps the README's tables in step with it.

use std::net::IpAddr;
use std::path::PathBuf;

use super::throttle::{java_bool, java_int};
use super::{resolve_ip, whitelist, Config};

/// Sets a key's value on the configuration, or says why the value is not acceptable.
pub type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// What raftzk does with a key.
#[derive(Clone, Copy)]
pub enum KeyUse {
    /// Read: the setter checks the value and stores it.
    Used(Setter),
    /// A ZooKeeper key with no equivalent here (or none needed): logged at info, never an error.
    Ignored,
}

/// One zoo.cfg key. Keys ZooKeeper reads only as JVM properties are also found with their
/// `zookeeper.` prefix.
#[derive(Clone, Copy)]
pub struct Key {
    /// The key as zoo.cfg spells it.
    pub name: &'static str,
    /// Its default, as the README states it.
    pub default: &'static str,
    /// What it does here, in a line.
    pub meaning: &'static str,
    /// Whether raftzk reads it.
    pub usage: KeyUse,
    /// Its value is a secret: errors print `<hidden>`.
    pub secret: bool,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("name", &self.name).finish()
    }
}

const fn used(
    name: &'static str,
    default: &'static str,
    meaning: &'static str,
    set: Setter,
) -> Key {
    Key {
        name,
        default,
        meaning,
        usage: KeyUse::Used(set),
        secret: false,
    }
}

const fn ignored(name: &'static str, meaning: &'static str) -> Key {
    Key {
        name,
        default: "-",
        meaning,
        usage: KeyUse::Ignored,
        secret: false,
    }
}

/// Every key raftzk knows, in the order they are applied: a key whose default follows from
/// another (the session timeouts from `tickTime`, `dataLogDir` from `dataDir`) comes after it.
pub const KEYS: &[Key] = &[
    used(
        "tickTime",
        "2000",
        "the tick, ms: session timeout bounds default to 2 and 20 ticks",
        |c, v| {
            c.tick_time_ms = positive(v, i64::from(u32::MAX))? as u32;
            let tick = i64::from(c.tick_time_ms);
            c.min_session_timeout_ms = (2 * tick).min(i64::from(i32::MAX)) as i32;
            c.max_session_timeout_ms = (20 * tick).min(i64::from(i32::MAX)) as i32;
            Ok(())
        },
    ),
    used(
        "dataDir",
        "./data",
        "snapshots (dataDir/snapshots) and myid",
        |c, v| {
            c.data_dir = PathBuf::from(v);
            c.data_log_dir = PathBuf::from(v);
            Ok(())
        },
    ),
    used(
        "dataLogDir",
        "dataDir",
        "the Raft log (dataLogDir/raft-log, RocksDB)",
        |c, v| {
            c.data_log_dir = PathBuf::from(v);
            Ok(())
        },
    ),
    used("clientPort", "2181", "the client port", |c, v| {
        c.client_addr.set_port(positive(v, 65_535)? as u16);
        c.client_port_set = true;
        Ok(())
    }),
    used(
        "clientPortAddress",
        "127.0.0.1",
        "the client address (ZooKeeper binds every address)",
        |c, v| {
            c.client_addr.set_ip(host(v)?);
            Ok(())
        },
    ),
    used(
        "minSessionTimeout",
        "2 × tickTime",
        "the smallest session timeout granted, ms (-1: the default)",
        |c, v| {
            let n = number(v)?;
            if n != -1 {
                c.min_session_timeout_ms = positive_number(n, i64::from(i32::MAX))? as i32;
            }
            Ok(())
        },
    ),
    used(
        "maxSessionTimeout",
        "20 × tickTime",
        "the largest session timeout granted, ms (-1: the default)",
        |c, v| {
            let n = number(v)?;
            if n != -1 {
                c.max_session_timeout_ms = positive_number(n, i64::from(i32::MAX))? as i32;
            }
            Ok(())
        },
    ),
    used(
        "globalOutstandingLimit",
        "1000",
        "requests of every connection together waiting for their outcome, past which a connection with one of its own waiting reads no more until it is answered",
        |c, v| {
            c.global_outstanding_limit =
                in_range(v, i64::from(i32::MIN), i64::from(i32::MAX), "must be a whole number")?;
            Ok(())
        },
    ),
    used(
        "request_throttle_max_requests",
        "0",
        "requests in process member-wide past which the next waits, in arrival order (ZooKeeper's RequestThrottler); 0 = off",
        |c, v| {
            java_int_or_default(c, "request_throttle_max_requests", v, |c, n| {
                c.request_throttle.max_requests = n
            });
            Ok(())
        },
    ),
    used(
        "request_throttle_stall_time",
        "100",
        "the request throttler's longest single wait before it looks again, ms",
        |c, v| {
            java_int_or_default(c, "request_throttle_stall_time", v, |c, n| {
                c.request_throttle.stall_time_ms = n
            });
            Ok(())
        },
    ),
    used(
        "request_throttle_drop_stale",
        "true",
        "a throttled request whose connection has closed is dropped, not run",
        |c, v| {
            c.request_throttle.drop_stale = java_bool(v);
            Ok(())
        },
    ),
    used(
        "connection_throttle_tokens",
        "0",
        "the connection throttle's bucket: handshakes past it are closed (connection_rejected); 0 = off",
        |c, v| {
            java_int_or_default(c, "connection_throttle_tokens", v, |c, n| {
                c.connection_throttle.tokens = n
            });
            Ok(())
        },
    ),
    used(
        "connection_throttle_fill_time",
        "1",
        "ms per refill of the connection throttle's bucket",
        |c, v| {
            java_int_or_default(c, "connection_throttle_fill_time", v, |c, n| {
                c.connection_throttle.fill_time_ms = n
            });
            Ok(())
        },
    ),
    used(
        "connection_throttle_fill_count",
        "1",
        "tokens per refill of the connection throttle's bucket",
        |c, v| {
            java_int_or_default(c, "connection_throttle_fill_count", v, |c, n| {
                c.connection_throttle.fill_count = n
            });
            Ok(())
        },
    ),
    used(
        "connection_throttle_freeze_time",
        "-1",
        "ms between changes of the connection throttle's random drop chance (BLUE); -1 = no random drops",
        |c, v| {
            java_int_or_default(c, "connection_throttle_freeze_time", v, |c, n| {
                c.connection_throttle.freeze_time_ms = n
            });
            Ok(())
        },
    ),
    used(
        "connection_throttle_drop_increase",
        "0.02",
        "added to the drop chance when the bucket is found empty",
        |c, v| {
            c.connection_throttle.drop_increase = fraction(v)?;
            Ok(())
        },
    ),
    used(
        "connection_throttle_drop_decrease",
        "0.002",
        "taken off the drop chance when the bucket is nearly full",
        |c, v| {
            c.connection_throttle.drop_decrease = fraction(v)?;
            Ok(())
        },
    ),
    used(
        "connection_throttle_decrease_ratio",
        "0",
        "the bucket's shortfall (share of its size) at or below which the drop chance falls",
        |c, v| {
            c.connection_throttle.decrease_ratio = fraction(v)?;
            Ok(())
        },
    ),
    used(
        "connection_throttle_weight_enabled",
        "false",
        "a new session costs the global weight in tokens, a reconnect the renew weight",
        |c, v| {
            c.connection_throttle.weight_enabled = java_bool(v);
            Ok(())
        },
    ),
    used(
        "connection_throttle_global_session_weight",
        "3",
        "tokens a new session costs with weights on",
        |c, v| {
            java_int_or_default(c, "connection_throttle_global_session_weight", v, |c, n| {
                c.connection_throttle.global_session_weight = n
            });
            Ok(())
        },
    ),
    used(
        "connection_throttle_local_session_weight",
        "1",
        "the least a handshake costs with weights on (raftzk has no local sessions)",
        |c, v| {
            java_int_or_default(c, "connection_throttle_local_session_weight", v, |c, n| {
                c.connection_throttle.local_session_weight = n
            });
            Ok(())
        },
    ),
    used(
        "connection_throttle_renew_session_weight",
        "2",
        "tokens a reconnect to an existing session costs with weights on",
        |c, v| {
            java_int_or_default(c, "connection_throttle_renew_session_weight", v, |c, n| {
                c.connection_throttle.renew_session_weight = n
            });
            Ok(())
        },
    ),
    used(
        "enforceQuota",
        "false",
        "creates and setData past a quota's hard limit (setquota -N / -B) get QuotaExceeded",
        |c, v| {
            c.enforce_quota = java_bool(v);
            Ok(())
        },
    ),
    used(
        "maxClientCnxns",
        "60",
        "connections per client IP; 0 = unlimited",
        |c, v| {
            c.max_client_cnxns = in_range(v, 0, i64::from(u32::MAX), "must be 0 or more")? as u32;
            Ok(())
        },
    ),
    used(
        "snapCount",
        "100000",
        "Raft log entries between snapshots",
        |c, v| {
            c.snap_count = positive(v, i64::MAX)? as u64;
            Ok(())
        },
    ),
    used(
        "autopurge.snapRetainCount",
        "3",
        "snapshots kept",
        |c, v| {
            c.autopurge_snap_retain_count = positive(v, 1_000_000)? as u32;
            Ok(())
        },
    ),
    used(
        "autopurge.purgeInterval",
        "0",
        "hours; parsed, purging is continuous",
        |c, v| {
            c.autopurge_purge_interval_h = in_range(v, 0, 1_000_000, "must be 0 or more")? as u32;
            Ok(())
        },
    ),
    used(
        "jute.maxbuffer",
        "1048575",
        "the largest frame, bytes, both directions",
        |c, v| {
            c.max_frame = positive(v, i64::from(i32::MAX))? as usize;
            Ok(())
        },
    ),
    used(
        "extendedTypesEnabled",
        "true",
        "TTL nodes (false in ZooKeeper)",
        |c, v| {
            c.extended_types = flag(v)?;
            Ok(())
        },
    ),
    Key {
        secret: true,
        ..used(
            "DigestAuthenticationProvider.superDigest",
            "none",
            "super:<base64 sha1>: the super user's digest",
            |c, v| {
                if v.split(':').count() != 2 {
                    return Err("must be user:base64-digest".into());
                }
                c.super_digest = Some(v.to_string());
                Ok(())
            },
        )
    },
    used(
        "readonlymode.enabled",
        "false",
        "a member outside a quorum serves read-only clients",
        |c, v| {
            c.read_only_mode = flag(v)?;
            Ok(())
        },
    ),
    used(
        "reconfigEnabled",
        "false",
        "dynamic membership changes by reconfig",
        |c, v| {
            c.reconfig_enabled = flag(v)?;
            Ok(())
        },
    ),
    used(
        "4lw.commands.whitelist",
        "srvr",
        "four-letter words served, comma-separated or *",
        |c, v| {
            c.four_letter_words = whitelist(v, false);
            Ok(())
        },
    ),
    used(
        "znode.container.checkIntervalMs",
        "60000",
        "container and TTL reaping interval, ms",
        |c, v| {
            c.container_check_interval_ms = positive(v, i64::MAX)? as u64;
            Ok(())
        },
    ),
    used(
        "znode.container.maxPerMinute",
        "10000",
        "containers and TTL nodes reaped per minute",
        |c, v| {
            c.container_max_per_minute = positive(v, i64::from(u32::MAX))? as u32;
            Ok(())
        },
    ),
    used(
        "znode.container.maxNeverUsedIntervalMs",
        "0",
        "reap containers never given a child after this long, ms; 0 = never",
        |c, v| {
            c.container_max_never_used_interval_ms =
                in_range(v, 0, i64::MAX, "must be 0 or more")? as u64;
            Ok(())
        },
    ),
    used(
        "raft.heartbeatMs",
        "50",
        "the leader's heartbeat, ms",
        |c, v| {
            c.raft_heartbeat_ms = positive(v, 60_000)? as u64;
            Ok(())
        },
    ),
    used(
        "raft.electionTimeoutMinMs",
        "80",
        "a follower campaigns after this much silence at least, ms",
        |c, v| {
            c.raft_election_timeout_ms.0 = positive(v, 600_000)? as u64;
            Ok(())
        },
    ),
    used(
        "raft.electionTimeoutMaxMs",
        "120",
        "… and at most, ms",
        |c, v| {
            c.raft_election_timeout_ms.1 = positive(v, 600_000)? as u64;
            Ok(())
        },
    ),
    used(
        "raftzk.maxZnodes",
        "0",
        "creates past this many znodes get QuotaExceeded; 0 = no ceiling",
        |c, v| {
            c.max_znodes = in_range(v, 0, i64::MAX, "must be 0 or more")? as u64;
            Ok(())
        },
    ),
    used(
        "raftzk.maxTreeBytes",
        "0",
        "writes that take path + data bytes past this get QuotaExceeded; 0 = no ceiling",
        |c, v| {
            c.max_tree_bytes = in_range(v, 0, i64::MAX, "must be 0 or more")? as u64;
            Ok(())
        },
    ),
    used(
        "raftzk.maxWatches",
        "0",
        "reads that would set a watch past this many get QuotaExceeded; 0 = no ceiling",
        |c, v| {
            c.max_watches = in_range(v, 0, i64::MAX, "must be 0 or more")? as u64;
            Ok(())
        },
    ),
    used(
        "raftzk.maxSessions",
        "0",
        "no new session past this many live ones (the connection closes); 0 = no ceiling",
        |c, v| {
            c.max_sessions = in_range(v, 0, i64::MAX, "must be 0 or more")? as u64;
            Ok(())
        },
    ),
    used(
        "raftzk.linearizableReads",
        "false",
        "every read linearizable: it waits for a read-index round shared with the reads waiting then",
        |c, v| {
            c.linearizable_reads = flag(v)?;
            Ok(())
        },
    ),
    used(
        "raftzk.writeTimeoutMs",
        "10000",
        "a write not applied within this long has an unknown fate: its connection closes",
        |c, v| {
            c.write_timeout_ms = positive(v, 3_600_000)? as u64;
            Ok(())
        },
    ),
    used(
        "peer.faultFile",
        "none",
        "test only: a file listing member ids whose peer traffic is dropped",
        |c, v| {
            c.peer_fault_file = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    used(
        "disk.faultFile",
        "none",
        "test only: a file holding delay=<ms> or full",
        |c, v| {
            c.disk_fault_file = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    used(
        "metricsProvider.className",
        "-",
        "naming ZooKeeper's provider makes the metrics port required",
        |c, _| {
            c.metrics_port_configured = true;
            Ok(())
        },
    ),
    used(
        "metricsProvider.httpPort",
        "7000",
        "Prometheus /metrics; 0 = off; the default in use is a warning",
        |c, v| {
            c.metrics_port = port(v)?;
            c.metrics_port_configured = true;
            Ok(())
        },
    ),
    used(
        "metricsProvider.httpHost",
        "the client address",
        "where /metrics listens",
        |c, v| {
            c.metrics_host = Some(host(v)?);
            Ok(())
        },
    ),
    used("admin.enableServer", "true", "the AdminServer", |c, v| {
        c.admin_enabled = flag(v)?;
        Ok(())
    }),
    used(
        "admin.serverAddress",
        "the client address",
        "where the AdminServer listens",
        |c, v| {
            c.admin_host = Some(host(v)?);
            Ok(())
        },
    ),
    used(
        "admin.serverPort",
        "8080",
        "the AdminServer's port; 0 = off; the default in use is a warning",
        |c, v| {
            c.admin_port = port(v)?;
            c.admin_port_configured = true;
            Ok(())
        },
    ),
    used(
        "admin.commandURL",
        "/commands",
        "the AdminServer's command path",
        |c, v| {
            if !v.starts_with('/') {
                return Err("must start with /".into());
            }
            c.admin_command_url = v.trim_end_matches('/').to_string();
            Ok(())
        },
    ),
    used(
        "raftzk.slowRequestMs",
        "1000",
        "a request answered slower is logged at warn, ms; 0 = off",
        |c, v| {
            c.slow_request_ms = in_range(v, 0, i64::MAX, "must be 0 or more")? as u64;
            Ok(())
        },
    ),
    used(
        "raftzk.logLevel",
        "info,openraft=warn",
        "the log filter when neither --log nor RUST_LOG is set",
        |c, v| {
            if tracing_subscriber::EnvFilter::try_new(v).is_err() {
                return Err("not a log filter (e.g. info, debug, raftzk=debug)".into());
            }
            c.log_level = Some(v.to_string());
            Ok(())
        },
    ),
    ignored(
        "initLimit",
        "ticks a follower may take to connect: Raft has no such phase",
    ),
    ignored(
        "syncLimit",
        "ticks a follower may lag: raftzk uses Raft's timeouts",
    ),
    ignored("electionAlg", "Raft elects"),
    ignored(
        "standaloneEnabled",
        "one server.N line (or none) is standalone",
    ),
    ignored("localSessionsEnabled", "every session is global"),
    ignored("localSessionsUpgradingEnabled", "every session is global"),
    ignored("serverCnxnFactory", "one network layer"),
    ignored("preAllocSize", "the log is RocksDB"),
    ignored("leaderServes", "the leader always serves"),
    ignored("cnxTimeout", "peer links have their own timeouts"),
    ignored(
        "quorumListenOnAllIPs",
        "the peer port binds the server.N host",
    ),
    ignored("syncEnabled", "observers always persist"),
    ignored("forceSync", "the log is always synced"),
    ignored("skipACL", "ACLs are always checked"),
    used(
        "sessionRequireClientSASLAuth",
        "false",
        "every request but auth and SASL needs a SASL-authenticated connection (-124 and a close otherwise)",
        |c, v| {
            c.sasl_required = flag(v)?;
            Ok(())
        },
    ),
    used(
        "enforce.auth.enabled",
        "false",
        "every request but auth and SASL needs an id of each enforce.auth.schemes scheme",
        |c, v| {
            if flag(v)? {
                c.enforce_auth_schemes.get_or_insert_with(Vec::new);
            } else {
                c.enforce_auth_schemes = None;
            }
            Ok(())
        },
    ),
    used(
        "enforce.auth.schemes",
        "none",
        "the schemes enforce.auth.enabled requires, a comma list (e.g. sasl)",
        |c, v| {
            if let Some(schemes) = c.enforce_auth_schemes.as_mut() {
                *schemes = super::tls::comma_list(v);
            }
            Ok(())
        },
    ),
    used(
        "java.security.auth.login.config",
        "none",
        "the JAAS file whose Server section lists the SASL DIGEST-MD5 users (usually -D in SERVER_JVMFLAGS)",
        |c, v| {
            c.sasl.jaas_file = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    used(
        "sasl.serverconfig",
        "Server",
        "the JAAS section of the server's users",
        |c, v| {
            c.sasl.section = v.trim().to_string();
            Ok(())
        },
    ),
    Key {
        secret: true,
        ..used(
            "SASLAuthenticationProvider.superPassword",
            "none",
            "the SASL password of user super (overrides the JAAS file's)",
            |c, v| {
                c.sasl.super_password = Some(v.to_string());
                Ok(())
            },
        )
    },
    used(
        "superUser",
        "none",
        "a SASL user that is super (also superUser.<suffix>)",
        |_, _| Ok(()),
    ),
    used(
        "allowSaslFailedClients",
        "false",
        "a failed SASL authentication keeps the connection",
        |c, v| {
            c.allow_sasl_failed_clients = flag(v)?;
            Ok(())
        },
    ),
    used(
        "secureClientPort",
        "none",
        "the TLS client port (with clientPort absent, the only one)",
        |c, v| {
            c.secure_client_port = Some(positive(v, 65_535)? as u16);
            Ok(())
        },
    ),
    used(
        "secureClientPortAddress",
        "clientPortAddress",
        "the TLS client port's address",
        |c, v| {
            c.secure_client_ip = Some(host(v)?);
            Ok(())
        },
    ),
    used(
        "client.portUnification",
        "false",
        "TLS, plaintext and 4lw on the client port, told apart by the first bytes",
        |c, v| {
            c.client_port_unification = flag(v)?;
            Ok(())
        },
    ),
    used(
        "ssl.keyStore.location",
        "none",
        "the server's key and certificate chain (PEM or PKCS12)",
        |c, v| {
            c.tls.key_store.location = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    Key {
        secret: true,
        ..used(
            "ssl.keyStore.password",
            "none",
            "the key store's password (PKCS12, an encrypted PEM key)",
            |c, v| {
                c.tls.key_store.password = Some(v.to_string());
                Ok(())
            },
        )
    },
    used(
        "ssl.keyStore.passwordPath",
        "none",
        "a file holding the key store's password (wins over .password)",
        |c, v| {
            c.tls.key_store.password_path = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    used(
        "ssl.keyStore.type",
        "by extension",
        "PEM (.pem) or PKCS12 (.p12); JKS and BCFKS are refused at start-up",
        |c, v| {
            c.tls.key_store.kind = Some(v.to_string());
            Ok(())
        },
    ),
    used(
        "ssl.trustStore.location",
        "none",
        "the CAs client certificates must chain to (PEM or PKCS12)",
        |c, v| {
            c.tls.trust_store.location = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    Key {
        secret: true,
        ..used(
            "ssl.trustStore.password",
            "none",
            "the trust store's password (PKCS12; unused for PEM, as in ZooKeeper)",
            |c, v| {
                c.tls.trust_store.password = Some(v.to_string());
                Ok(())
            },
        )
    },
    used(
        "ssl.trustStore.passwordPath",
        "none",
        "a file holding the trust store's password",
        |c, v| {
            c.tls.trust_store.password_path = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    used(
        "ssl.trustStore.type",
        "by extension",
        "PEM (.pem) or PKCS12 (.p12); JKS and BCFKS are refused at start-up",
        |c, v| {
            c.tls.trust_store.kind = Some(v.to_string());
            Ok(())
        },
    ),
    used(
        "ssl.clientAuth",
        "need",
        "need, want or none: whether a client certificate is asked for and required",
        |c, v| {
            c.tls.client_auth = super::ClientAuth::parse(v)?;
            Ok(())
        },
    ),
    used(
        "ssl.protocol",
        "TLSv1.2",
        "the protocol enabled when ssl.enabledProtocols is unset",
        |c, v| {
            c.tls.protocol = v.trim().to_string();
            Ok(())
        },
    ),
    used(
        "ssl.enabledProtocols",
        "ssl.protocol",
        "TLSv1.2 and/or TLSv1.3 (older ones are not offered)",
        |c, v| {
            c.tls.enabled_protocols = Some(super::tls::comma_list(v));
            Ok(())
        },
    ),
    used(
        "ssl.ciphersuites",
        "ZooKeeper's ECDHE GCM suites",
        "IANA/Java suite names; those rustls lacks (CBC) are skipped",
        |c, v| {
            c.tls.ciphersuites = Some(super::tls::comma_list(v));
            Ok(())
        },
    ),
    used(
        "netty.server.outstandingHandshake.limit",
        "-1",
        "TLS handshakes in progress at once; more are closed (-1: no limit)",
        |c, v| {
            let n = in_range(v, i64::MIN, i64::from(u32::MAX), "must be a number")?;
            c.tls.handshake_limit = (n > 0).then_some(n as usize);
            Ok(())
        },
    ),
    used(
        "X509AuthenticationProvider.superUser",
        "none",
        "the client certificate subject (RFC 2253) that is super",
        |c, v| {
            c.tls.x509_super_user = Some(v.to_string());
            Ok(())
        },
    ),
    used(
        "sslQuorum",
        "false",
        "the peer link (Raft, forwarded writes, session touches) over mutual TLS; plaintext refused",
        |c, v| {
            c.quorum_tls.enabled = flag(v)?;
            Ok(())
        },
    ),
    used(
        "portUnification",
        "false",
        "the peer port accepts TLS and plaintext alike (for turning sslQuorum on member by member)",
        |c, v| {
            c.quorum_tls.port_unification = flag(v)?;
            Ok(())
        },
    ),
    used(
        "sslQuorumReloadCertFiles",
        "false",
        "raftzk always reads changed quorum stores again (as for the client port); accepted",
        |_, v| flag(v).map(|_| ()),
    ),
    used(
        "ssl.quorum.keyStore.location",
        "none",
        "a member's key and certificate chain on the peer link (PEM or PKCS12)",
        |c, v| {
            c.quorum_tls.tls.key_store.location = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    Key {
        secret: true,
        ..used(
            "ssl.quorum.keyStore.password",
            "none",
            "the quorum key store's password",
            |c, v| {
                c.quorum_tls.tls.key_store.password = Some(v.to_string());
                Ok(())
            },
        )
    },
    used(
        "ssl.quorum.keyStore.passwordPath",
        "none",
        "a file holding the quorum key store's password",
        |c, v| {
            c.quorum_tls.tls.key_store.password_path = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    used(
        "ssl.quorum.keyStore.type",
        "by extension",
        "PEM or PKCS12, as ssl.keyStore.type",
        |c, v| {
            c.quorum_tls.tls.key_store.kind = Some(v.to_string());
            Ok(())
        },
    ),
    used(
        "ssl.quorum.trustStore.location",
        "none",
        "the CAs members' certificates must chain to (PEM or PKCS12)",
        |c, v| {
            c.quorum_tls.tls.trust_store.location = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    Key {
        secret: true,
        ..used(
            "ssl.quorum.trustStore.password",
            "none",
            "the quorum trust store's password (PKCS12)",
            |c, v| {
                c.quorum_tls.tls.trust_store.password = Some(v.to_string());
                Ok(())
            },
        )
    },
    used(
        "ssl.quorum.trustStore.passwordPath",
        "none",
        "a file holding the quorum trust store's password",
        |c, v| {
            c.quorum_tls.tls.trust_store.password_path = Some(PathBuf::from(v));
            Ok(())
        },
    ),
    used(
        "ssl.quorum.trustStore.type",
        "by extension",
        "PEM or PKCS12, as ssl.trustStore.type",
        |c, v| {
            c.quorum_tls.tls.trust_store.kind = Some(v.to_string());
            Ok(())
        },
    ),
    used(
        "ssl.quorum.clientAuth",
        "need",
        "need, want or none: whether a dialling member must present a certificate",
        |c, v| {
            c.quorum_tls.tls.client_auth = super::ClientAuth::parse(v)?;
            Ok(())
        },
    ),
    used(
        "ssl.quorum.protocol",
        "TLSv1.2",
        "the peer link's protocol when ssl.quorum.enabledProtocols is unset",
        |c, v| {
            c.quorum_tls.tls.protocol = v.trim().to_string();
            Ok(())
        },
    ),
    used(
        "ssl.quorum.enabledProtocols",
        "ssl.quorum.protocol",
        "TLSv1.2 and/or TLSv1.3 on the peer link",
        |c, v| {
            c.quorum_tls.tls.enabled_protocols = Some(super::tls::comma_list(v));
            Ok(())
        },
    ),
    used(
        "ssl.quorum.ciphersuites",
        "ZooKeeper's ECDHE GCM suites",
        "the peer link's suites, as ssl.ciphersuites",
        |c, v| {
            c.quorum_tls.tls.ciphersuites = Some(super::tls::comma_list(v));
            Ok(())
        },
    ),
    used(
        "ssl.quorum.hostnameVerification",
        "true",
        "a member's certificate must name the address it is dialled at or dials from",
        |c, v| {
            c.quorum_tls.hostname_verification = flag(v)?;
            Ok(())
        },
    ),
    ignored(
        "ssl.hostnameVerification",
        "a client port never checks client host names (as in ZooKeeper)",
    ),
    ignored("dynamicConfigFile", "the membership lives in the Raft log"),
];

/// Key families that are accepted and ignored (logged at info) unless [`KEYS`] reads the key.
pub const IGNORED_PREFIXES: &[(&str, &str)] = &[
    (
        "ssl.",
        "CRL and OCSP checks (ssl.crl, ssl.ocsp and their quorum twins) are not served yet",
    ),
    ("admin.", "AdminServer options raftzk has no use for"),
    ("metricsProvider.", "the Prometheus endpoint is built in"),
    ("quorum.", "Raft replaces ZooKeeper's quorum protocol"),
    ("group.", "hierarchical quorums are not supported"),
    ("weight.", "hierarchical quorums are not supported"),
];

/// `key` without ZooKeeper's JVM-property prefix.
pub fn bare(key: &str) -> &str {
    key.strip_prefix("zookeeper.").unwrap_or(key)
}

/// The table's entry for `key` (with or without the `zookeeper.` prefix).
pub fn find(key: &str) -> Option<&'static Key> {
    let key = bare(key);
    KEYS.iter().find(|k| k.name == key)
}

/// True if raftzk reads `key` (a table key or a `server.N` line).
pub fn is_used(key: &str) -> bool {
    bare(key).starts_with("server.")
        || bare(key).starts_with("authProvider.")
        || bare(key).starts_with("superUser.")
        || find(key).is_some_and(|k| matches!(k.usage, KeyUse::Used(_)))
}

/// True if `key` is a known ZooKeeper key raftzk deliberately ignores (logged at info, the
/// rest at warn).
pub fn is_known_unused(key: &str) -> bool {
    !is_used(key)
        && (find(key).is_some()
            || IGNORED_PREFIXES
                .iter()
                .any(|(prefix, _)| bare(key).starts_with(prefix)))
}

/// The table as `raftzk --help` prints it.
pub fn help() -> String {
    let mut out = String::from("zoo.cfg keys read (default: meaning):\n");
    for key in KEYS {
        if let KeyUse::Used(_) = key.usage {
            out.push_str(&format!(
                "  {} ({}): {}\n",
                key.name, key.default, key.meaning
            ));
        }
    }
    out.push_str("  server.N: host:peerPort:electionPort[:participant|:observer][;[clientHost:]clientPort]\n");
    out.push_str("zoo.cfg keys accepted and ignored:\n");
    for key in KEYS {
        if let KeyUse::Ignored = key.usage {
            out.push_str(&format!("  {}: {}\n", key.name, key.meaning));
        }
    }
    for (prefix, meaning) in IGNORED_PREFIXES {
        out.push_str(&format!("  {prefix}* (unless read above): {meaning}\n"));
    }
    out
}

fn number(v: &str) -> Result<i64, String> {
    v.parse::<i64>().map_err(|_| "not a number".to_string())
}

fn positive_number(v: i64, max: i64) -> Result<i64, String> {
    if v <= 0 || v > max {
        Err(format!("must be in 1..={max}"))
    } else {
        Ok(v)
    }
}

fn positive(v: &str, max: i64) -> Result<i64, String> {
    positive_number(number(v)?, max)
}

fn in_range(v: &str, min: i64, max: i64, reason: &str) -> Result<i64, String> {
    let n = number(v)?;
    if n < min || n > max {
        return Err(reason.to_string());
    }
    Ok(n)
}

/// A whole number read as Java's `Integer.getInteger` reads it; one it cannot read leaves the
/// default in place and is remembered for a warning, as ZooKeeper silently uses its default.
fn java_int_or_default(c: &mut Config, key: &str, v: &str, set: fn(&mut Config, i64)) {
    match java_int(v) {
        Some(n) => set(c, n),
        None => c.defaulted.push(format!("{key}={v}")),
    }
}

/// A fraction as Java's `Double.parseDouble` reads it (ZooKeeper fails to start on others).
fn fraction(v: &str) -> Result<f64, String> {
    v.trim()
        .trim_end_matches(['d', 'D', 'f', 'F'])
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .ok_or_else(|| "not a number".to_string())
}

fn flag(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err("not true or false".into()),
    }
}

fn port(v: &str) -> Result<u16, String> {
    let n = number(v)?;
    u16::try_from(n).map_err(|_| "must be in 0..=65535".to_string())
}

fn host(v: &str) -> Result<IpAddr, String> {
    resolve_ip(v).ok_or_else(|| "not an IP address or resolvable host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_named_once() {
        let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a key is listed twice");
    }

    /// The README's configuration tables name every key raftzk reads.
    #[test]
    fn the_readme_lists_every_key_read() {
        // At run time: a shared build cache may hold a binary compiled in another checkout.
        let repo = std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
        let readme = std::fs::read_to_string(std::path::Path::new(&repo).join("README.md"))
            .expect("README.md");
        let missing: Vec<&str> = KEYS
            .iter()
            .filter(|k| matches!(k.usage, KeyUse::Used(_)))
            .filter(|k| !k.name.contains("faultFile"))
            .map(|k| k.name)
            .filter(|name| !readme.contains(&format!("`{name}`")))
            .collect();
        assert!(missing.is_empty(), "README.md does not list {missing:?}");
    }

    #[test]
    fn prefixed_keys_are_found() {
        assert!(is_used("zookeeper.extendedTypesEnabled"));
        assert!(is_known_unused("zookeeper.skipACL"));
        assert!(is_used("ssl.keyStore.location"));
        assert!(is_used("zookeeper.ssl.keyStore.location"));
        assert!(is_used("ssl.quorum.keyStore.location"));
        assert!(is_known_unused("ssl.quorum.crl"));
        assert!(is_used("authProvider.1"));
        assert!(!is_known_unused("admin.serverPort"));
        assert!(!is_known_unused("noSuchKey"));
        assert!(help().contains("tickTime (2000)"));
    }
}
