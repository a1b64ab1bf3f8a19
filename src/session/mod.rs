//! Sessions: the replicated table (pure, changed only by apply) and the tracker (member-local
//! expiry bookkeeping).

pub mod table;
pub mod tracker;
