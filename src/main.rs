//! The `raftzk` binary: flags and zoo.cfg → Config → a running member.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use raftzk::config::{whitelist, Config};

/// A ZooKeeper-compatible coordination server replicated with Raft.
///
/// With no arguments: one durable member on 127.0.0.1:2181, data in ./data, tickTime 2000.
/// `--config zoo.cfg` reads a ZooKeeper zoo.cfg unchanged; `--help` lists every key after
/// the flags. Flags override the file. The README says where a default differs from
/// ZooKeeper's.
#[derive(Debug, Parser)]
#[command(
    name = "raftzk",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (RocksDB ",
        env!("RAFTZK_ROCKSDB_VERSION"),
        ", ",
        env!("RAFTZK_ROCKSDB_LINK"),
        ")"
    ),
    about,
    long_about,
    after_long_help = raftzk::config::keys::help()
)]
struct Args {
    /// A ZooKeeper zoo.cfg to read.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Client port (zoo.cfg `clientPort`, default 2181).
    #[arg(long)]
    port: Option<u16>,
    /// Client address (zoo.cfg `clientPortAddress`, default 127.0.0.1).
    #[arg(long, value_name = "IP")]
    address: Option<IpAddr>,
    /// Snapshot directory (zoo.cfg `dataDir`, default ./data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Raft log directory (zoo.cfg `dataLogDir`, default: the data dir).
    #[arg(long, value_name = "DIR")]
    data_log_dir: Option<PathBuf>,
    /// Tick in ms (zoo.cfg `tickTime`, default 2000).
    #[arg(long, value_name = "MS")]
    tick_time: Option<u32>,
    /// Smallest session timeout granted, ms (default 2 × tickTime).
    #[arg(long, value_name = "MS")]
    min_session_timeout: Option<i32>,
    /// Largest session timeout granted, ms (default 20 × tickTime).
    #[arg(long, value_name = "MS")]
    max_session_timeout: Option<i32>,
    /// Connections per client IP, 0 = unlimited (zoo.cfg `maxClientCnxns`, default 60).
    #[arg(long, value_name = "N")]
    max_client_cnxns: Option<u32>,
    /// Four-letter words served, comma-separated or `*` (zoo.cfg `4lw.commands.whitelist`,
    /// default `srvr`).
    #[arg(long, value_name = "LIST")]
    four_letter_words: Option<String>,
    /// Transactions between snapshots (zoo.cfg `snapCount`, default 100000).
    #[arg(long, value_name = "N")]
    snap_count: Option<u64>,
    /// Container/TTL reaping interval, ms (zoo.cfg `znode.container.checkIntervalMs`,
    /// default 60000).
    #[arg(long, value_name = "MS")]
    container_check_interval: Option<u64>,
    /// Log filter (tracing's RUST_LOG syntax); else RUST_LOG, else zoo.cfg
    /// `raftzk.logLevel`, else `info,openraft=warn`.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Log line format on stderr: `text` (default) or `json` (one object per line).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Prometheus /metrics port (zoo.cfg `metricsProvider.httpPort`, default 7000; 0 = off).
    #[arg(long, value_name = "PORT")]
    metrics_port: Option<u16>,
    /// AdminServer port (zoo.cfg `admin.serverPort`, default 8080; 0 = off).
    #[arg(long, value_name = "PORT")]
    admin_port: Option<u16>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match load(&args) {
        Ok(config) => config,
        Err(line) => {
            eprintln!("raftzk: {line}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(
        args.log.as_deref().or(config.log_level.as_deref()),
        args.log.is_some(),
        args.log_format,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("raftzk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(raftzk::node::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("raftzk: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--log` wins, then RUST_LOG, then zoo.cfg's `raftzk.logLevel` (`configured`).
fn init_logging(configured: Option<&str>, from_flag: bool, format: LogFormat) {
    let env = std::env::var("RUST_LOG").ok();
    let filter = match (from_flag, env) {
        (false, Some(env)) => env,
        _ => configured.unwrap_or("info,openraft=warn").to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// The JVM flags ZooKeeper's start scripts pass (`SERVER_JVMFLAGS`, then `JVMFLAGS`): their
/// `-D` properties are read under zoo.cfg (the JAAS file can only be named there).
fn jvm_flags() -> String {
    ["SERVER_JVMFLAGS", "JVMFLAGS"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .collect::<Vec<_>>()
        .join(" ")
}

/// zoo.cfg (if any), then flags; one line on any problem.
fn load(args: &Args) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => {
            Config::from_file_and_jvm_flags(path, &jvm_flags()).map_err(|e| e.to_string())?
        }
        None => Config::from_properties_and_jvm_flags("", "command line", &jvm_flags())
            .map_err(|e| e.to_string())?,
    };
    if let Some(tick) = args.tick_time {
        if tick == 0 {
            return Err("--tick-time must be positive".into());
        }
        let tick = tick as i32;
        // Session bounds follow the tick unless set explicitly.
        if config.min_session_timeout_ms == 2 * config.tick_time_ms as i32 {
            config.min_session_timeout_ms = 2 * tick;
        }
        if config.max_session_timeout_ms == 20 * config.tick_time_ms as i32 {
            config.max_session_timeout_ms = 20 * tick;
        }
        config.tick_time_ms = tick as u32;
    }
    if let Some(port) = args.port {
        config.client_addr.set_port(port);
    }
    if let Some(ip) = args.address {
        config.client_addr.set_ip(ip);
    }
    if let Some(dir) = &args.data_dir {
        if args.data_log_dir.is_none() && config.data_log_dir == config.data_dir {
            config.data_log_dir = dir.clone();
        }
        config.data_dir = dir.clone();
    }
    if let Some(dir) = &args.data_log_dir {
        config.data_log_dir = dir.clone();
    }
    if let Some(v) = args.min_session_timeout {
        config.min_session_timeout_ms = v;
    }
    if let Some(v) = args.max_session_timeout {
        config.max_session_timeout_ms = v;
    }
    if config.min_session_timeout_ms <= 0
        || config.min_session_timeout_ms > config.max_session_timeout_ms
    {
        return Err(format!(
            "session timeouts: min {} must be positive and not above max {}",
            config.min_session_timeout_ms, config.max_session_timeout_ms
        ));
    }
    if let Some(v) = args.max_client_cnxns {
        config.max_client_cnxns = v;
    }
    if let Some(list) = &args.four_letter_words {
        config.four_letter_words = whitelist(list, config.read_only_mode);
    }
    if let Some(v) = args.snap_count {
        config.snap_count = v.max(1);
    }
    if let Some(v) = args.container_check_interval {
        config.container_check_interval_ms = v.max(1);
    }
    if let Some(v) = args.metrics_port {
        config.metrics_port = v;
        config.metrics_port_configured = true;
    }
    if let Some(v) = args.admin_port {
        config.admin_port = v;
        config.admin_port_configured = true;
    }
    Ok(config)
}
