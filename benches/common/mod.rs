//! What the benches apply: entries of one session's Txns, as a leader logs them.

use raftzk::txn::{LogEntry, Txn, TxnOp};

/// The session every bench Txn belongs to.
pub const SESSION: i64 = 0x100;

/// An entry of `requests`, all from [`SESSION`].
pub fn entry(requests: impl Iterator<Item = jute_codec::Request>) -> LogEntry {
    LogEntry {
        time_ms: 1_795_000_000_000,
        txns: requests
            .map(|request| Txn {
                session_id: SESSION,
                origin: None,
                auth: Vec::new(),
                rules: Default::default(),
                op: TxnOp::Client(request),
            })
            .collect(),
        digest: None,
    }
}

/// The entry that creates [`SESSION`].
pub fn session_entry() -> LogEntry {
    let mut session = entry(std::iter::empty());
    session.txns.push(Txn {
        session_id: SESSION,
        origin: None,
        auth: Vec::new(),
        rules: Default::default(),
        op: TxnOp::CreateSession {
            timeout_ms: 30_000,
            password: vec![0; 16],
        },
    });
    session
}
