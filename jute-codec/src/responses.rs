//! Response records, one per reply shape (`protocol.md` §6.3). Which opcode's reply carries
//! which record is decided in [`crate::response`].

use crate::jute::record;
use crate::records::{Acl, ClientInfo, Stat};

record! {
    /// create (1): the created path, with any sequential suffix.
    pub struct CreateResponse {
        /// The actual path.
        pub path: String,
    }
}

record! {
    /// create2 (15), createContainer (19), createTTL (21): path and Stat.
    pub struct Create2Response {
        /// The actual path.
        pub path: String,
        /// The new node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// A reply that is just a Stat: exists (3), setData (5), setACL (7).
    pub struct StatResponse {
        /// The node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// getData (4) and reconfig (16, the new config and `/zookeeper/config`'s Stat).
    pub struct GetDataResponse {
        /// The data; null data stays null.
        pub data: Option<Vec<u8>>,
        /// The node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// getACL (6).
    pub struct GetAclResponse {
        /// The ACL (digest ids masked as `user:x` without ADMIN).
        pub acl: Vec<Acl>,
        /// The node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// getChildren (8): child names, unordered.
    pub struct GetChildrenResponse {
        /// The names.
        pub children: Vec<String>,
    }
}

record! {
    /// getChildren2 (12): child names and the parent's Stat.
    pub struct GetChildren2Response {
        /// The names.
        pub children: Vec<String>,
        /// The parent's Stat.
        pub stat: Stat,
    }
}

record! {
    /// sync (9): echoes the path.
    pub struct SyncResponse {
        /// The request's path, null if it was null.
        pub path: Option<String>,
    }
}

record! {
    /// sasl (102); the token is null when SASL is not configured.
    pub struct SetSaslResponse {
        /// The server's token.
        pub token: Option<Vec<u8>>,
    }
}

record! {
    /// getEphemerals (103): full paths of this session's ephemerals under the prefix.
    pub struct GetEphemeralsResponse {
        /// The paths.
        pub ephemerals: Vec<String>,
    }
}

record! {
    /// getAllChildrenNumber (104): all descendants, not counting the node.
    pub struct GetAllChildrenNumberResponse {
        /// The count.
        pub total_number: i32,
    }
}

record! {
    /// whoAmI (107): every identity of the connection, `ip` always included.
    pub struct WhoAmIResponse {
        /// The identities.
        pub client_info: Vec<ClientInfo>,
    }
}
