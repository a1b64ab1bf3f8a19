//! Request records, one per request shape (`protocol.md` §6.2). Which opcode carries which
//! record is decided in [`crate::request`].

use crate::codes::{AddWatchMode, CreateMode, WatcherType};
use crate::jute::record;
use crate::records::Acl;

record! {
    /// create (1), create2 (15) and createContainer (19).
    pub struct CreateRequest {
        /// The node to create; a sequential mode appends a suffix.
        pub path: String,
        /// The data; `None` (null) is kept as null.
        pub data: Option<Vec<u8>>,
        /// The node's ACL; must not be empty.
        pub acl: Vec<Acl>,
        /// The create mode; unknown flags are answered with BadArguments.
        pub flags: CreateMode,
    }
}

record! {
    /// createTTL (21): a create with a time-to-live in ms.
    pub struct CreateTtlRequest {
        /// The node to create.
        pub path: String,
        /// The data.
        pub data: Option<Vec<u8>>,
        /// The node's ACL.
        pub acl: Vec<Acl>,
        /// The create mode; must be a TTL mode.
        pub flags: CreateMode,
        /// Time to live in ms, `0 < ttl ≤ 2^40 − 1`.
        pub ttl: i64,
    }
}

record! {
    /// delete (2).
    pub struct DeleteRequest {
        /// The node.
        pub path: String,
        /// The expected data version, −1 for any.
        pub version: i32,
    }
}

record! {
    /// exists (3).
    pub struct ExistsRequest {
        /// The node.
        pub path: String,
        /// Leave a data watch (even when the node is absent).
        pub watch: bool,
    }
}

record! {
    /// getData (4).
    pub struct GetDataRequest {
        /// The node.
        pub path: String,
        /// Leave a data watch.
        pub watch: bool,
    }
}

record! {
    /// setData (5).
    pub struct SetDataRequest {
        /// The node.
        pub path: String,
        /// The new data.
        pub data: Option<Vec<u8>>,
        /// The expected data version, −1 for any.
        pub version: i32,
    }
}

record! {
    /// getACL (6).
    pub struct GetAclRequest {
        /// The node.
        pub path: String,
    }
}

record! {
    /// setACL (7).
    pub struct SetAclRequest {
        /// The node.
        pub path: String,
        /// The new ACL.
        pub acl: Vec<Acl>,
        /// The expected ACL version (aversion), −1 for any.
        pub version: i32,
    }
}

record! {
    /// getChildren (8).
    pub struct GetChildrenRequest {
        /// The node.
        pub path: String,
        /// Leave a child watch.
        pub watch: bool,
    }
}

record! {
    /// getChildren2 (12): children and the parent's Stat.
    pub struct GetChildren2Request {
        /// The node.
        pub path: String,
        /// Leave a child watch.
        pub watch: bool,
    }
}

record! {
    /// sync (9); the path need not exist and is echoed back, null as null.
    pub struct SyncRequest {
        /// Any string, or null (ZooKeeper 3.8.0 echoes a null path as null).
        pub path: Option<String>,
    }
}

record! {
    /// check (13), valid only inside a multi.
    pub struct CheckVersionRequest {
        /// The node.
        pub path: String,
        /// The expected data version, −1 for any.
        pub version: i32,
    }
}

record! {
    /// reconfig (16). Unset strings are null, an unset config id is −1.
    pub struct ReconfigRequest {
        /// Servers to add (incremental mode).
        pub joining_servers: Option<String>,
        /// Server ids to remove (incremental mode).
        pub leaving_servers: Option<String>,
        /// The whole new membership (non-incremental mode).
        pub new_members: Option<String>,
        /// The config version this change expects, −1 for any.
        pub cur_config_id: i64,
    }
}

record! {
    /// checkWatches (17): does this connection hold such a watch? Never removes it.
    pub struct CheckWatchesRequest {
        /// The node.
        pub path: String,
        /// Which table.
        pub watcher_type: WatcherType,
    }
}

record! {
    /// removeWatches (18): remove this connection's watches of a type on a path.
    pub struct RemoveWatchesRequest {
        /// The node.
        pub path: String,
        /// Which table.
        pub watcher_type: WatcherType,
    }
}

record! {
    /// auth (100), sent with xid −4.
    pub struct AuthPacket {
        /// Clients send 0; ignored.
        pub auth_type: i32,
        /// The scheme, e.g. `digest`.
        pub scheme: String,
        /// Scheme-specific credentials, e.g. `user:password`; null (−1) is kept apart from
        /// empty, since ZooKeeper's digest provider fails on null and accepts empty.
        pub auth: Option<Vec<u8>>,
    }
}

record! {
    /// setWatches (101): re-registers watches after a reconnect.
    pub struct SetWatches {
        /// The last zxid the client saw; changes after it fire at once.
        pub relative_zxid: i64,
        /// Paths with data watches.
        pub data_watches: Vec<String>,
        /// Paths with exists watches.
        pub exist_watches: Vec<String>,
        /// Paths with child watches.
        pub child_watches: Vec<String>,
    }
}

record! {
    /// setWatches2 (105): setWatches plus persistent watches.
    pub struct SetWatches2 {
        /// The last zxid the client saw.
        pub relative_zxid: i64,
        /// Paths with data watches.
        pub data_watches: Vec<String>,
        /// Paths with exists watches.
        pub exist_watches: Vec<String>,
        /// Paths with child watches.
        pub child_watches: Vec<String>,
        /// Paths with persistent watches.
        pub persistent_watches: Vec<String>,
        /// Paths with persistent-recursive watches.
        pub persistent_recursive_watches: Vec<String>,
    }
}

record! {
    /// sasl (102).
    pub struct GetSaslRequest {
        /// The SASL token.
        pub token: Option<Vec<u8>>,
    }
}

record! {
    /// getEphemerals (103).
    pub struct GetEphemeralsRequest {
        /// A plain string prefix of the paths to list; `/` or empty lists all.
        pub prefix_path: String,
    }
}

record! {
    /// getAllChildrenNumber (104).
    pub struct GetAllChildrenNumberRequest {
        /// The node.
        pub path: String,
    }
}

record! {
    /// addWatch (106).
    pub struct AddWatchRequest {
        /// The node (any string is accepted).
        pub path: String,
        /// Persistent or persistent-recursive; other values get MarshallingError.
        pub mode: AddWatchMode,
    }
}
