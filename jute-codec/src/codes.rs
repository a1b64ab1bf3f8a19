//! The protocol's numbers: opcodes, error codes, create modes, watch event types and states,
//! watcher types, addWatch modes, permission bits and the special xids (`protocol.md` §4–§11).
//!
//! Each enum keeps numbers it does not know as `Unknown(n)` instead of failing to decode, so a
//! server can answer an unknown opcode with `Unimplemented` and unknown create flags with
//! `BadArguments`, as ZooKeeper does.

use bytes::{BufMut, BytesMut};

use crate::jute::{JResult, Jute};

/// Declares a wire enum: named values plus `Unknown(i32)`, with lossless conversions and a Jute
/// `int` encoding. Build values from the wire with `from_i32`, which never yields
/// `Unknown(n)` for a known `n`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(#[$first_meta:meta])*
            $first:ident = $first_value:literal,
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        ///
        /// The default is the first named value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[cfg_attr(
            feature = "serde",
            derive(serde::Serialize, serde::Deserialize),
            serde(from = "i32", into = "i32")
        )]
        pub enum $name {
            $(#[$first_meta])*
            #[default]
            $first,
            $(
                $(#[$vmeta])*
                $variant,
            )*
            /// A number this crate does not know, kept as it came off the wire.
            Unknown(i32),
        }

        impl $name {
            /// Every named value, in declaration order.
            pub const ALL: &'static [$name] = &[$name::$first, $($name::$variant),*];

            /// The value for a wire number; unknown numbers become `Unknown`.
            pub const fn from_i32(value: i32) -> Self {
                match value {
                    $first_value => $name::$first,
                    $($value => $name::$variant,)*
                    other => $name::Unknown(other),
                }
            }

            /// The wire number.
            pub const fn as_i32(self) -> i32 {
                match self {
                    $name::$first => $first_value,
                    $($name::$variant => $value,)*
                    $name::Unknown(other) => other,
                }
            }

            /// The name ZooKeeper's sources use, or `None` for an unknown number.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $name::$first => Some(stringify!($first)),
                    $($name::$variant => Some(stringify!($variant)),)*
                    $name::Unknown(_) => None,
                }
            }
        }

        impl From<i32> for $name {
            fn from(value: i32) -> Self {
                $name::from_i32(value)
            }
        }

        impl From<$name> for i32 {
            fn from(value: $name) -> i32 {
                value.as_i32()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(name) => write!(f, "{name}({})", self.as_i32()),
                    None => write!(f, "Unknown({})", self.as_i32()),
                }
            }
        }

        impl Jute for $name {
            const MIN_LEN: usize = 4;
            fn encode(&self, buf: &mut BytesMut) {
                buf.put_i32(self.as_i32());
            }
            fn decode(input: &[u8]) -> JResult<'_, Self> {
                let (rest, value) = i32::decode(input)?;
                Ok((rest, $name::from_i32(value)))
            }
        }

        #[cfg(test)]
        impl proptest::arbitrary::Arbitrary for $name {
            type Parameters = ();
            type Strategy = proptest::strategy::BoxedStrategy<Self>;
            fn arbitrary_with(_: ()) -> Self::Strategy {
                use proptest::prelude::*;
                prop_oneof![
                    3 => proptest::sample::select($name::ALL),
                    1 => any::<i32>().prop_map($name::from_i32),
                ]
                .boxed()
            }
        }
    };
}

wire_enum! {
    /// A request type (`ZooDefs.OpCode`), the `type` field of a `RequestHeader` and of a multi
    /// `MultiHeader`.
    pub enum OpCode {
        /// Server push of a watch event (xid −1); never a request.
        Notification = 0,
        /// create (CreateRequest → CreateResponse).
        Create = 1,
        /// delete.
        Delete = 2,
        /// exists.
        Exists = 3,
        /// getData.
        GetData = 4,
        /// setData.
        SetData = 5,
        /// getACL.
        GetAcl = 6,
        /// setACL.
        SetAcl = 7,
        /// getChildren.
        GetChildren = 8,
        /// sync.
        Sync = 9,
        /// ping (xid −2).
        Ping = 11,
        /// getChildren2 (children + Stat).
        GetChildren2 = 12,
        /// check version; only valid inside a multi.
        Check = 13,
        /// multi (transaction).
        Multi = 14,
        /// create2 (create returning a Stat).
        Create2 = 15,
        /// reconfig.
        Reconfig = 16,
        /// checkWatches.
        CheckWatches = 17,
        /// removeWatches.
        RemoveWatches = 18,
        /// createContainer.
        CreateContainer = 19,
        /// deleteContainer: server-internal, rejected from clients.
        DeleteContainer = 20,
        /// createTTL.
        CreateTtl = 21,
        /// multiRead (3.6+).
        MultiRead = 22,
        /// auth (xid −4).
        Auth = 100,
        /// setWatches, sent on reconnect.
        SetWatches = 101,
        /// sasl.
        Sasl = 102,
        /// getEphemerals (3.6+).
        GetEphemerals = 103,
        /// getAllChildrenNumber (3.6+).
        GetAllChildrenNumber = 104,
        /// setWatches2, with persistent watches (3.6+).
        SetWatches2 = 105,
        /// addWatch, persistent and persistent-recursive (3.6+).
        AddWatch = 106,
        /// whoAmI (3.7+).
        WhoAmI = 107,
        /// createSession: a txn type; the client's side of it is the ConnectRequest.
        CreateSession = -10,
        /// closeSession.
        CloseSession = -11,
        /// error: a txn type and the type of a failed multi result.
        Error = -1,
    }
}

impl OpCode {
    /// True for the opcodes that change state and take a zxid in ZooKeeper (`protocol.md` §5, W).
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            OpCode::Create
                | OpCode::Delete
                | OpCode::SetData
                | OpCode::SetAcl
                | OpCode::Check
                | OpCode::Multi
                | OpCode::Create2
                | OpCode::Reconfig
                | OpCode::CreateContainer
                | OpCode::DeleteContainer
                | OpCode::CreateTtl
                | OpCode::CreateSession
                | OpCode::CloseSession
        )
    }
}

wire_enum! {
    /// A ZooKeeper result code (`KeeperException.Code`), the `err` field of a `ReplyHeader`
    /// and of multi results. The complete 3.8 list (`protocol.md` §7).
    pub enum ErrorCode {
        /// Success.
        Ok = 0,
        /// Base of the system-error range.
        SystemError = -1,
        /// A multi op after the failing one.
        RuntimeInconsistency = -2,
        /// Client-side.
        DataInconsistency = -3,
        /// Client-side: the connection was lost.
        ConnectionLoss = -4,
        /// An undecodable request body.
        MarshallingError = -5,
        /// Unknown opcode, or TTL while extended types are off.
        Unimplemented = -6,
        /// Client-side.
        OperationTimeout = -7,
        /// Invalid path, flags or arguments.
        BadArguments = -8,
        /// Internal: the session was removed while a request was queued.
        UnknownSession = -12,
        /// reconfig: the new config has no synced quorum.
        NewConfigNoQuorum = -13,
        /// reconfig while another is running.
        ReconfigInProgress = -14,
        /// Base of the API-error range.
        ApiError = -100,
        /// The node (or its parent) does not exist.
        NoNode = -101,
        /// An ACL check failed.
        NoAuth = -102,
        /// A version did not match.
        BadVersion = -103,
        /// Create under an ephemeral parent.
        NoChildrenForEphemerals = -108,
        /// Create of an existing node.
        NodeExists = -110,
        /// Delete of a node with children.
        NotEmpty = -111,
        /// The session is expired or closing.
        SessionExpired = -112,
        /// Client-side.
        InvalidCallback = -113,
        /// An invalid ACL list.
        InvalidAcl = -114,
        /// Authentication failed; the server then closes.
        AuthFailed = -115,
        /// The session moved to another server (the server closes instead).
        SessionMoved = -118,
        /// A write sent to a read-only server.
        NotReadOnly = -119,
        /// Ephemeral create on a local session.
        EphemeralOnLocalSession = -120,
        /// checkWatches/removeWatches found no watch.
        NoWatcher = -121,
        /// Client-side request timeout.
        RequestTimeout = -122,
        /// reconfig is disabled.
        ReconfigDisabled = -123,
        /// The server requires SASL.
        SessionClosedRequireSaslAuth = -124,
        /// A quota was exceeded.
        QuotaExceeded = -125,
        /// The request was throttled.
        ThrottledOp = -127,
    }
}

wire_enum! {
    /// A create mode: the `flags` of a create request (`CreateMode`, `protocol.md` §9).
    pub enum CreateMode {
        /// A plain node.
        Persistent = 0,
        /// Deleted when its session ends.
        Ephemeral = 1,
        /// A plain node with a `%010d` suffix.
        PersistentSequential = 2,
        /// An ephemeral node with a `%010d` suffix.
        EphemeralSequential = 3,
        /// Deleted by the server once its last child is gone (opcode 19).
        Container = 4,
        /// Deleted when childless and unmodified for its TTL (opcode 21).
        PersistentWithTtl = 5,
        /// Sequential, with a TTL (opcode 21).
        PersistentSequentialWithTtl = 6,
    }
}

impl CreateMode {
    /// Session-owned modes.
    pub const fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Modes that append the parent's counter to the name.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Modes that carry a TTL.
    pub const fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

wire_enum! {
    /// The `type` of a watch event (`Watcher.Event.EventType`).
    pub enum EventType {
        /// A client-side state change; never on the wire.
        None = -1,
        /// The watched node was created.
        NodeCreated = 1,
        /// The watched node was deleted.
        NodeDeleted = 2,
        /// The watched node's data changed.
        NodeDataChanged = 3,
        /// A child was created or deleted.
        NodeChildrenChanged = 4,
        /// Client-side, after removeWatches.
        DataWatchRemoved = 5,
        /// Client-side, after removeWatches.
        ChildWatchRemoved = 6,
        /// Client-side, after removeWatches.
        PersistentWatchRemoved = 7,
    }
}

wire_enum! {
    /// The `state` of a watch event (`Watcher.Event.KeeperState`); a server only sends
    /// `SyncConnected`.
    pub enum KeeperState {
        /// Deprecated.
        LegacyUnknown = -1,
        /// Client-side.
        Disconnected = 0,
        /// Deprecated.
        NoSyncConnected = 1,
        /// The only state a server puts in a notification.
        SyncConnected = 3,
        /// Client-side.
        AuthFailed = 4,
        /// Client-side.
        ConnectedReadOnly = 5,
        /// Client-side.
        SaslAuthenticated = 6,
        /// Client-side.
        Expired = -112,
        /// Client-side.
        Closed = 7,
    }
}

wire_enum! {
    /// The watch table a checkWatches/removeWatches request names (`protocol.md` §8.5). 3.9's
    /// Persistent (4) and PersistentRecursive (5) are `Unknown` here: a 3.8 server answers
    /// them with MarshallingError.
    pub enum WatcherType {
        /// Child watches.
        Children = 1,
        /// Data and exists watches.
        Data = 2,
        /// Both tables.
        Any = 3,
    }
}

wire_enum! {
    /// The mode of an addWatch request.
    pub enum AddWatchMode {
        /// A watch on the node itself that survives firing.
        Persistent = 0,
        /// A watch on the node and every descendant that survives firing.
        PersistentRecursive = 1,
    }
}

/// ACL permission bits (`ZooDefs.Perms`). Any `i32` is a valid value on the wire; `perms 0`
/// is accepted at create and then denies everything (`protocol.md` §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Perms(pub i32);

impl Perms {
    /// Read data and list children.
    pub const READ: Perms = Perms(1);
    /// Set data.
    pub const WRITE: Perms = Perms(2);
    /// Create children.
    pub const CREATE: Perms = Perms(4);
    /// Delete children.
    pub const DELETE: Perms = Perms(8);
    /// Set the ACL.
    pub const ADMIN: Perms = Perms(16);
    /// Every permission.
    pub const ALL: Perms = Perms(31);

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: Perms) -> bool {
        self.0 & other.0 == other.0
    }
}

impl Jute for Perms {
    const MIN_LEN: usize = 4;
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_i32(self.0);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, bits) = i32::decode(input)?;
        Ok((rest, Perms(bits)))
    }
}

/// The special xids (`protocol.md` §4.2); ordinary xids start at 1.
pub mod xid {
    /// A watch notification, server to client.
    pub const NOTIFICATION: i32 = -1;
    /// A ping and its reply.
    pub const PING: i32 = -2;
    /// An auth packet and its reply.
    pub const AUTH: i32 = -4;
    /// setWatches as the Java client code names it (the socket layer sends an ordinary xid).
    pub const SET_WATCHES: i32 = -8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_numbers_round_trip() {
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_i32(op.as_i32()), *op);
        }
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_i32(code.as_i32()), *code);
        }
        assert_eq!(OpCode::from_i32(999), OpCode::Unknown(999));
        assert_eq!(ErrorCode::from_i32(-9), ErrorCode::Unknown(-9));
    }

    #[test]
    fn numbers_match_zookeeper() {
        assert_eq!(OpCode::WhoAmI.as_i32(), 107);
        assert_eq!(OpCode::Sasl.as_i32(), 102);
        assert_eq!(OpCode::SetWatches2.as_i32(), 105);
        assert_eq!(ErrorCode::UnknownSession.as_i32(), -12);
        assert_eq!(ErrorCode::ThrottledOp.as_i32(), -127);
        assert_eq!(ErrorCode::ALL.len(), 32);
    }

    #[test]
    fn create_mode_predicates() {
        assert!(CreateMode::EphemeralSequential.is_ephemeral());
        assert!(CreateMode::EphemeralSequential.is_sequential());
        assert!(CreateMode::PersistentSequentialWithTtl.is_ttl());
        assert!(!CreateMode::Container.is_ephemeral());
        assert_eq!(CreateMode::from_i32(99), CreateMode::Unknown(99));
    }

    #[test]
    fn perms_contain() {
        assert!(Perms::ALL.contains(Perms::ADMIN));
        assert!(!Perms(27).contains(Perms::CREATE));
    }
}
