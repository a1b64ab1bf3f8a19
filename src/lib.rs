//! raftzk: a coordination server that speaks ZooKeeper 3.8's client protocol and replicates
//! every change through Raft.
//!
//! Modules, lowest first (a module uses only those above it in this list, `design.md`):
//! - [`telemetry`]: the summaries and counts every layer records (`mntr`, `/metrics`).
//! - [`tree`]: the DataTree (znodes, Stat, ACL rules, path rules).
//! - [`session`]: the replicated session table and the SessionTracker.
//! - [`txn`]: what goes into the log ([`txn::LogEntry`]) and the deterministic apply.
//! - [`watch`]: the WatchManager.
//! - [`raft`]: openraft glue: log store, state machine, snapshots, the Proposer.
//! - [`server`]: connections, the session pipeline, reads, four-letter words.
//! - [`leader`]: session expiry and container/TTL reaping.
//! - [`config`], [`node`]: zoo.cfg and wiring.

pub mod config;
pub mod durable;
pub mod leader;
pub mod node;
pub mod raft;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod tree;
pub mod txn;
pub mod watch;
