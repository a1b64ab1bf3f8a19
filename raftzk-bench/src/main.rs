//! `raftzk-bench`: a load generator for ZooKeeper-protocol servers (raftzk and ZooKeeper
//! alike). Many sessions, a window of requests in flight on each, the workloads of
//! `scripts/bench.sh` (create, set, get, exists, mixed, Curator's lock cycle, watch fan-out,
//! connect storm); ops/s and latency percentiles as a table line and JSON, with the client's
//! own CPU (and the server's, given its pid) so a result says what it cost to measure.

mod histogram;
mod session;
mod tls;
mod workloads;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use jute_codec::{CreateMode, EventType, GetDataRequest, Request, SetDataRequest};
use serde_json::json;

use histogram::Histogram;
use session::{Session, SessionError};
use workloads::{ensure, next_request, Keys, LockChecks, Rng, WorkerResult, Workload};

/// Load for a ZooKeeper-protocol server: prints one result line and writes JSON.
#[derive(Debug, Parser)]
#[command(name = "raftzk-bench", version, about)]
struct Args {
    /// Servers, comma-separated; sessions are spread over them in turn.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:2181")]
    servers: Vec<SocketAddr>,
    /// What to run.
    #[arg(long, value_enum)]
    workload: Workload,
    /// Sessions (connections) doing the work; for `connect`, how many handshakes at once.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Requests in flight per session (key workloads and create).
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 8.0)]
    duration: f64,
    /// Seconds run before measuring (not recorded).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Stop after this many measured operations, whatever the time.
    #[arg(long)]
    max_ops: Option<u64>,
    /// Bytes per value written.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Keys the set/get/exists/mixed workloads spread over (created first).
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Reads in every 100 requests of the mixed workload.
    #[arg(long, default_value_t = 90)]
    read_percent: usize,
    /// Sessions watching the one node of the watch workload.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Writes (rounds) of the watch workload.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Sessions the connect workload opens.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Data watches each session of the hold workload sets (getData with watch on keys
    /// spread over --keys).
    #[arg(long, default_value_t = 0)]
    watches_per_session: usize,
    /// Seconds the hold workload waits after printing each phase (for a caller's samples).
    #[arg(long, default_value_t = 0.0)]
    phase_pause: f64,
    /// How long a lock holder holds the lock, ms.
    #[arg(long, default_value_t = 0)]
    hold_ms: u64,
    /// Session timeout asked for, ms.
    #[arg(long, default_value_t = 30_000)]
    session_timeout: i32,
    /// Pids of server processes whose CPU time to report, comma-separated.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Where to write the result as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A label for the result (e.g. the server's name).
    #[arg(long, default_value = "")]
    label: String,
    /// Runtime threads of the load generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Speak TLS to the servers (their secureClientPort), trusting the CAs in this PEM file.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) for TLS, with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("session: {0}")]
    Session(#[from] SessionError),
    #[error("{0}")]
    Setup(String),
}

/// What a run measured.
struct Outcome {
    ops: u64,
    elapsed: Duration,
    result: WorkerResult,
    extra: serde_json::Value,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(ca) = &args.tls_ca {
        if let Err(e) = tls::configure(ca, args.tls_cert.as_deref(), args.tls_key.as_deref()) {
            eprintln!("raftzk-bench: TLS: {e}");
            return ExitCode::from(2);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("raftzk-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(run(&args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(clean) if clean => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("raftzk-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the workload and reports it; true when nothing failed and no check was violated.
async fn run(args: &Args) -> Result<bool, BenchError> {
    let first = *args
        .servers
        .first()
        .ok_or_else(|| BenchError::Setup("no --servers".into()))?;
    let (admin, _) = Session::connect(first, args.session_timeout).await?;
    ensure(&admin, "/raftzk-bench").await?;
    let run_id = format!(
        "{}-{}",
        args.workload.name(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let keys = Keys {
        root: format!("/raftzk-bench/{run_id}"),
        count: args.keys.max(1),
        value: vec![b'x'; args.value_size],
    };
    ensure(&admin, &keys.root).await?;
    if args.workload.uses_keys()
        || (args.workload == Workload::Hold && args.watches_per_session > 0)
    {
        prefill(&admin, &keys).await?;
    }
    let server_cpu_before = server_cpu(&args.server_pid);
    let client_cpu_before = process_cpu("self");
    let outcome = match args.workload {
        Workload::Lock => run_lock(args, &keys).await?,
        Workload::Watch => run_watch(args, &keys).await?,
        Workload::Connect => run_connect(args).await?,
        Workload::Hold => run_hold(args, &keys).await?,
        _ => run_requests(args, &keys).await?,
    };
    let client_cpu = process_cpu("self") - client_cpu_before;
    let server_cpu = server_cpu(&args.server_pid) - server_cpu_before;
    admin.close().await;
    report(args, &outcome, client_cpu, server_cpu)
}

/// Creates the keys, 256 in flight.
async fn prefill(admin: &Session, keys: &Keys) -> Result<(), BenchError> {
    let mut next = 0;
    while next < keys.count {
        let end = (next + 256).min(keys.count);
        let mut calls = tokio::task::JoinSet::new();
        for i in next..end {
            let request =
                workloads::create(keys.key(i), keys.value.clone(), CreateMode::Persistent);
            let admin = admin.clone();
            calls.spawn(async move { admin.call(request).await });
        }
        while let Some(joined) = calls.join_next().await {
            joined.map_err(|e| BenchError::Setup(e.to_string()))??;
        }
        next = end;
    }
    Ok(())
}

/// The key workloads and create: `connections` sessions × `window` workers, each sending its
/// next request as soon as the last is answered.
async fn run_requests(args: &Args, keys: &Keys) -> Result<Outcome, BenchError> {
    let sessions = connect_many(args, args.connections.max(1)).await?;
    let warmup_end = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = warmup_end + Duration::from_secs_f64(args.duration);
    let counted = Arc::new(AtomicU64::new(0));
    let max_ops = args.max_ops.unwrap_or(u64::MAX);
    let mut workers = tokio::task::JoinSet::new();
    for (s, (session, _events)) in sessions.iter().enumerate() {
        for w in 0..args.window.max(1) {
            let worker = s * args.window.max(1) + w;
            let (session, keys, counted) = (session.clone(), keys.clone(), counted.clone());
            let (workload, read_percent) = (args.workload, args.read_percent);
            workers.spawn(async move {
                let mut result = WorkerResult::default();
                let mut rng = Rng::new(worker as u64 + 1);
                let mut n = 0u64;
                loop {
                    let request = next_request(workload, &keys, &mut rng, worker, n, read_percent);
                    n += 1;
                    let sent = Instant::now();
                    if sent >= end || counted.load(Ordering::Relaxed) >= max_ops {
                        break;
                    }
                    let reply = session.call(request).await;
                    let measured = sent >= warmup_end;
                    match reply {
                        Ok((header, _)) if header.err == jute_codec::ErrorCode::Ok => {
                            if measured {
                                result.latency.record(sent.elapsed());
                                counted.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok((header, _)) => result.failed(format!("{:?}", header.err)),
                        Err(e) => {
                            result.failed(e);
                            break;
                        }
                    }
                }
                result
            });
        }
    }
    let result = collect(workers).await;
    let elapsed = Instant::now()
        .min(end)
        .saturating_duration_since(warmup_end);
    close_all(&sessions).await;
    Ok(Outcome {
        ops: counted.load(Ordering::Relaxed),
        elapsed,
        result,
        extra: json!({}),
    })
}

/// `connections` clients on one lock, each in its own session, cycling until the time is up.
async fn run_lock(args: &Args, keys: &Keys) -> Result<Outcome, BenchError> {
    let lock = format!("{}/lock", keys.root);
    let sessions = connect_many(args, args.connections.max(1)).await?;
    if let Some((first, _)) = sessions.first() {
        ensure(first, &lock).await?;
    }
    let checks = Arc::new(LockChecks::default());
    let warmup_end = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = warmup_end + Duration::from_secs_f64(args.duration);
    let counted = Arc::new(AtomicU64::new(0));
    let hold = Duration::from_millis(args.hold_ms);
    let mut workers = tokio::task::JoinSet::new();
    let mut handles = Vec::new();
    for (client, (session, mut events)) in sessions.into_iter().enumerate() {
        handles.push(session.clone());
        let (lock, checks, counted) = (lock.clone(), checks.clone(), counted.clone());
        workers.spawn(async move {
            let mut result = WorkerResult::default();
            while Instant::now() < end {
                let started = Instant::now();
                match workloads::lock_cycle(
                    &session,
                    &mut events,
                    &lock,
                    client as i64 + 1,
                    &checks,
                    hold,
                )
                .await
                {
                    Ok(acquired) if started >= warmup_end => {
                        result.latency.record(acquired);
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        result.failed(e);
                        break;
                    }
                }
            }
            result
        });
    }
    let result = collect(workers).await;
    let elapsed = Instant::now()
        .min(end)
        .saturating_duration_since(warmup_end);
    for session in &handles {
        session.close().await;
    }
    let exclusion = checks.exclusion_violations.load(Ordering::SeqCst);
    let fencing = checks.fencing_violations.load(Ordering::SeqCst);
    Ok(Outcome {
        ops: counted.load(Ordering::Relaxed),
        elapsed,
        result,
        extra: json!({
            "clients": args.connections,
            "exclusion_violations": exclusion,
            "fencing_violations": fencing,
        }),
    })
}

/// `watchers` sessions watch one node; one writer sets it `rounds` times, each once every
/// watcher has re-armed; a notification's latency is from the write's send to its arrival.
async fn run_watch(args: &Args, keys: &Keys) -> Result<Outcome, BenchError> {
    let node = format!("{}/fan", keys.root);
    let (writer, _) = Session::connect(server_for(args, 0), args.session_timeout).await?;
    ensure(&writer, &node).await?;
    let watchers = connect_many(args, args.watchers.max(1)).await?;
    let armed = Arc::new(tokio::sync::Barrier::new(watchers.len() + 1));
    let written_at = Arc::new(std::sync::Mutex::new(Instant::now()));
    let done = Arc::new(AtomicBool::new(false));
    let rounds = args.rounds.max(1);
    let mut workers = tokio::task::JoinSet::new();
    let mut handles = Vec::new();
    for (session, mut events) in watchers {
        handles.push(session.clone());
        let (node, armed, written_at, done) = (
            node.clone(),
            armed.clone(),
            written_at.clone(),
            done.clone(),
        );
        workers.spawn(async move {
            let mut result = WorkerResult::default();
            for _ in 0..rounds {
                let watch = session
                    .call_ok(Request::GetData(GetDataRequest {
                        path: node.clone(),
                        watch: true,
                    }))
                    .await;
                if let Err(e) = watch {
                    result.failed(e);
                }
                armed.wait().await;
                let event = tokio::time::timeout(Duration::from_secs(30), async {
                    loop {
                        match events.recv().await {
                            Some(e) if e.event_type == EventType::NodeDataChanged => return true,
                            Some(_) => continue,
                            None => return false,
                        }
                    }
                })
                .await;
                let at = *written_at
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match event {
                    Ok(true) => result.latency.record(at.elapsed()),
                    _ => result.failed("notification not received within 30 s"),
                }
                if done.load(Ordering::Relaxed) {
                    break;
                }
            }
            result
        });
    }
    let started = Instant::now();
    let mut writes = Histogram::default();
    for round in 0..rounds {
        armed.wait().await;
        *written_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        let sent = Instant::now();
        writer
            .call_ok(Request::SetData(SetDataRequest {
                path: node.clone(),
                data: Some(round.to_le_bytes().to_vec()),
                version: -1,
            }))
            .await?;
        writes.record(sent.elapsed());
    }
    done.store(true, Ordering::Relaxed);
    let result = collect(workers).await;
    let elapsed = started.elapsed();
    for session in &handles {
        session.close().await;
    }
    writer.close().await;
    Ok(Outcome {
        ops: result.latency.count(),
        elapsed,
        result,
        extra: json!({
            "watchers": handles.len(),
            "rounds": rounds,
            "write_p50_us": writes.quantile_us(0.5),
        }),
    })
}

/// `sessions` handshakes, `connections` at a time; every session is held until the last is
/// open, then all are closed.
async fn run_connect(args: &Args) -> Result<Outcome, BenchError> {
    let started = Instant::now();
    let (open, result) = open_sessions(args).await;
    let elapsed = started.elapsed();
    let held = open.len();
    let closing = Instant::now();
    close_at_once(&open).await;
    Ok(Outcome {
        ops: held as u64,
        elapsed,
        result,
        extra: json!({
            "sessions_held": held,
            "close_all_ms": closing.elapsed().as_millis() as u64,
        }),
    })
}

/// `sessions` sessions opened (`connections` handshakes at a time) and held with
/// `watches_per_session` data watches each for `duration` seconds. Each phase is printed on
/// stdout as `phase <name> <count>` once reached, and followed by `phase_pause` seconds of
/// quiet, so a caller can sample the server's memory there: `ready` (keys made, no session
/// yet), `sessions-open`, `watches-set`, `closing`.
async fn run_hold(args: &Args, keys: &Keys) -> Result<Outcome, BenchError> {
    phase("ready", 0, args.phase_pause).await;
    let started = Instant::now();
    let (open, mut result) = open_sessions(args).await;
    let open_ms = started.elapsed().as_millis() as u64;
    phase("sessions-open", open.len(), args.phase_pause).await;

    // Session i watches keys i*W .. i*W+W-1 (mod --keys), every call of a session in flight
    // at once, 64 sessions at a time.
    let watching = Instant::now();
    let per_session = args.watches_per_session;
    let watches_set = Arc::new(AtomicU64::new(0));
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut calls = tokio::task::JoinSet::new();
    for (i, (session, _events)) in open.iter().enumerate() {
        if per_session == 0 {
            break;
        }
        let (session, keys, limit, watches_set) = (
            session.clone(),
            keys.clone(),
            limit.clone(),
            watches_set.clone(),
        );
        calls.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let mut pending = tokio::task::JoinSet::new();
            for j in 0..per_session {
                let path = keys.key((i * per_session + j) % keys.count);
                let session = session.clone();
                pending.spawn(async move {
                    session
                        .call(Request::GetData(GetDataRequest { path, watch: true }))
                        .await
                });
            }
            let mut failed = WorkerResult::default();
            while let Some(joined) = pending.join_next().await {
                match joined {
                    Ok(Ok((header, _))) if header.err == jute_codec::ErrorCode::Ok => {
                        watches_set.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Ok((header, _))) => failed.failed(format!("{:?}", header.err)),
                    Ok(Err(e)) => failed.failed(e),
                    Err(e) => failed.failed(e),
                }
            }
            failed
        });
    }
    result.merge(collect(calls).await);
    let watch_ms = watching.elapsed().as_millis() as u64;
    let watches = watches_set.load(Ordering::Relaxed);
    phase("watches-set", watches as usize, args.phase_pause).await;
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    phase("closing", open.len(), 0.0).await;
    let elapsed = started.elapsed();
    let closing = Instant::now();
    close_at_once(&open).await;
    Ok(Outcome {
        ops: open.len() as u64,
        elapsed,
        result,
        extra: json!({
            "sessions_held": open.len(),
            "watches_set": watches,
            "open_ms": open_ms,
            "watch_ms": watch_ms,
            "close_all_ms": closing.elapsed().as_millis() as u64,
        }),
    })
}

/// Tells a caller on stdout that the hold workload reached `name`, then waits `pause` s.
async fn phase(name: &str, count: usize, pause: f64) {
    say(&format!("phase {name} {count}"));
    tokio::time::sleep(Duration::from_secs_f64(pause.max(0.0))).await;
}

/// One line on stdout, flushed; a reader that went away (a closed pipe) is no reason to
/// panic or stop: the JSON result is still written.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `sessions` handshakes over the servers in turn, `connections` at a time: the sessions
/// that opened, and a result holding each handshake's latency and every failure.
async fn open_sessions(args: &Args) -> (Vec<Connected>, WorkerResult) {
    let limit = Arc::new(tokio::sync::Semaphore::new(args.connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.sessions {
        let (addr, timeout, limit) = (server_for(args, i), args.session_timeout, limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let sent = Instant::now();
            Session::connect(addr, timeout)
                .await
                .map(|connected| (connected, sent.elapsed()))
        });
    }
    let mut result = WorkerResult::default();
    let mut open = Vec::with_capacity(args.sessions);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((connected, took))) => {
                result.latency.record(took);
                open.push(connected);
            }
            Ok(Err(e)) => result.failed(e),
            Err(e) => result.failed(e),
        }
    }
    (open, result)
}

fn server_for(args: &Args, i: usize) -> SocketAddr {
    let n = args.servers.len().max(1);
    args.servers
        .get(i % n)
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 2181)))
}

type Connected = (
    Session,
    tokio::sync::mpsc::UnboundedReceiver<jute_codec::WatcherEvent>,
);

/// `count` sessions over the servers in turn, 64 handshakes at a time.
async fn connect_many(args: &Args, count: usize) -> Result<Vec<Connected>, BenchError> {
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let (addr, timeout, limit) = (server_for(args, i), args.session_timeout, limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            (i, Session::connect(addr, timeout).await)
        });
    }
    let mut sessions = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        let (i, connected) = joined.map_err(|e| BenchError::Setup(e.to_string()))?;
        sessions.push((i, connected?));
    }
    sessions.sort_by_key(|(i, _)| *i);
    Ok(sessions.into_iter().map(|(_, s)| s).collect())
}

/// Closes every session at once (the connect and hold workloads time it).
async fn close_at_once(sessions: &[Connected]) {
    let mut closes = tokio::task::JoinSet::new();
    for (session, _events) in sessions {
        let session = session.clone();
        closes.spawn(async move { session.close().await });
    }
    while closes.join_next().await.is_some() {}
}

async fn close_all(sessions: &[Connected]) {
    for (session, _) in sessions {
        session.close().await;
    }
}

async fn collect(mut workers: tokio::task::JoinSet<WorkerResult>) -> WorkerResult {
    let mut all = WorkerResult::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(result) => all.merge(result),
            Err(e) => all.failed(e),
        }
    }
    all
}

/// CPU seconds (user + system) of a process, from /proc (0 where unreadable).
fn process_cpu(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the command name;
    // Linux counts them in USER_HZ = 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

fn server_cpu(pids: &[u32]) -> f64 {
    pids.iter().map(|p| process_cpu(&p.to_string())).sum()
}

fn report(
    args: &Args,
    outcome: &Outcome,
    client_cpu: f64,
    server_cpu: f64,
) -> Result<bool, BenchError> {
    let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
    let ops_per_s = outcome.ops as f64 / seconds;
    let h = &outcome.result.latency;
    let per_op = |cpu: f64| {
        if outcome.ops == 0 {
            0.0
        } else {
            cpu * 1e6 / outcome.ops as f64
        }
    };
    let result = json!({
        "label": args.label,
        "workload": args.workload.name(),
        "servers": args.servers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "tls": args.tls_ca.is_some(),
        "connections": args.connections,
        "window": args.window,
        "value_size": args.value_size,
        "keys": args.keys,
        "read_percent": args.read_percent,
        "seconds": seconds,
        "ops": outcome.ops,
        "ops_per_s": ops_per_s,
        "errors": outcome.result.errors,
        "first_error": outcome.result.first_error,
        "latency_us": {
            "mean": h.mean_us(),
            "p50": h.quantile_us(0.5),
            "p90": h.quantile_us(0.9),
            "p99": h.quantile_us(0.99),
            "p999": h.quantile_us(0.999),
            "max": h.quantile_us(1.0),
        },
        "client_cpu_s": client_cpu,
        "client_cores": client_cpu / seconds,
        "client_cpu_us_per_op": per_op(client_cpu),
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_op": per_op(server_cpu),
        "extra": outcome.extra,
    });
    say(&format!(
        "{:<8} {:<8} c={:<4} w={:<3} {:>10.0} ops/s  p50 {:>8.1} p90 {:>8.1} p99 {:>8.1} p99.9 {:>8.1} max {:>8.1} us  errors {}  client {:.2} cores ({:.1} us/op){}",
        args.label,
        args.workload.name(),
        args.connections,
        args.window,
        ops_per_s,
        h.quantile_us(0.5),
        h.quantile_us(0.9),
        h.quantile_us(0.99),
        h.quantile_us(0.999),
        h.quantile_us(1.0),
        outcome.result.errors,
        client_cpu / seconds,
        per_op(client_cpu),
        if args.server_pid.is_empty() {
            String::new()
        } else {
            format!("  server {:.1} us/op", per_op(server_cpu))
        }
    ));
    if let Some(error) = &outcome.result.first_error {
        eprintln!("raftzk-bench: first error: {error}");
    }
    if !outcome
        .extra
        .as_object()
        .is_none_or(serde_json::Map::is_empty)
    {
        say(&format!("  {}", outcome.extra));
    }
    if let Some(path) = &args.json {
        let text =
            serde_json::to_string_pretty(&result).map_err(|e| BenchError::Setup(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| BenchError::Setup(format!("{}: {e}", path.display())))?;
    }
    let violations = ["exclusion_violations", "fencing_violations"]
        .iter()
        .map(|k| {
            outcome
                .extra
                .get(k)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        })
        .sum::<u64>();
    Ok(outcome.result.errors == 0 && violations == 0)
}
