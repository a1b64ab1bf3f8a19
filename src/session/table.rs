//! The replicated session table: which sessions exist, their negotiated timeouts and
//! passwords. Changed only by apply (createSession and closeSession entries), so every member
//! holds the same table and a client may resume its session on any member.

use imbl::OrdMap;

use serde::{Deserialize, Serialize};

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The negotiated timeout in ms.
    pub timeout_ms: i32,
    /// The 16-byte password the client must present to resume.
    pub password: Vec<u8>,
}

/// Every live session, by id (persistent, so a snapshot's copy is O(1)).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionTable {
    sessions: OrdMap<i64, SessionInfo>,
}

impl SessionTable {
    /// The session `id`, if it is live.
    pub fn get(&self, id: i64) -> Option<&SessionInfo> {
        self.sessions.get(&id)
    }

    /// True if `id` is live.
    pub fn contains(&self, id: i64) -> bool {
        self.sessions.contains_key(&id)
    }

    /// Adds a session; false (and no change) if the id is taken.
    pub fn insert(&mut self, id: i64, info: SessionInfo) -> bool {
        if self.sessions.contains_key(&id) {
            return false;
        }
        self.sessions.insert(id, info);
        true
    }

    /// Removes a session.
    pub fn remove(&mut self, id: i64) -> Option<SessionInfo> {
        self.sessions.remove(&id)
    }

    /// Every session, by id.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &SessionInfo)> {
        self.sessions.iter().map(|(id, info)| (*id, info))
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}
