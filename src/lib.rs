//! raftzk: a coordination server that speaks ZooKeeper 3.8's client protocol and replicates
//! every change through Raft.
//!
//! Modules, lowest first (a module uses only those above it in this list, `design.md`; a file
//! uses its own module's parent and other files without a cycle; `scripts/check_layers.py`
//! checks both in `scripts/test.sh`):
//! - [`durable`]: the durable encoding's reader and writer (the Raft log and snapshots).
//! - [`telemetry`]: the summaries and counts every layer records (`mntr`, `/metrics`).
//! - [`config`]: zoo.cfg and flags → Config.
//! - [`tls`]: the client port's TLS: stores, the server configuration, x509 identities.
//! - [`sasl`]: SASL DIGEST-MD5: the JAAS file's users, one conversation per connection.
//! - [`tree`]: the DataTree (znodes, Stat, ACL rules, path rules, the digest).
//! - [`session`]: the replicated session table and the SessionTracker.
//! - [`txn`]: what goes into the log ([`txn::LogEntry`]) and the deterministic apply.
//! - [`watch`]: the WatchManager.
//! - [`raft`]: openraft glue: log store, state machine, snapshots, the Proposer, the peer link.
//! - [`server`]: connections, the session pipeline, reads, four-letter words, metrics.
//! - [`leader`]: session expiry and container/TTL reaping.
//! - [`node`]: wiring a member together and its shutdown.

pub mod config;
pub mod durable;
pub mod leader;
pub mod node;
pub mod raft;
pub mod sasl;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod tls;
pub mod tree;
pub mod txn;
pub mod watch;
