//! ZooKeeper's quota bookkeeping. A path P has a quota when `/zookeeper/quota` + P +
//! `/zookeeper_limits` exists; the server keeps `/zookeeper/quota` + P + `/zookeeper_stats` at
//! `count=<nodes>,bytes=<data>` of P's subtree, rewriting only its data (no version or mzxid
//! change, no watch), exactly as ZooKeeper's DataTree does. The limits node holds
//! `count`/`bytes` (soft limits: never refused) and `countHardLimit`/`byteHardLimit` (refused
//! with QuotaExceeded when `enforceQuota` is on, as 3.8 refuses them); -1 or missing is none.

/// Where quotas live.
pub const QUOTA_ROOT: &str = "/zookeeper/quota";
/// The limits node's name.
pub const LIMITS_NODE: &str = "zookeeper_limits";
/// The stats node's name.
pub const STATS_NODE: &str = "zookeeper_stats";

/// The quota'd path a `…/zookeeper_limits` node belongs to.
pub fn limits_target(path: &str) -> Option<&str> {
    target(path, LIMITS_NODE)
}

/// The quota'd path a `…/zookeeper_stats` node belongs to.
pub fn stats_target(path: &str) -> Option<&str> {
    target(path, STATS_NODE)
}

fn target<'p>(path: &'p str, node: &str) -> Option<&'p str> {
    let inner = path
        .strip_prefix(QUOTA_ROOT)?
        .strip_suffix(node)?
        .strip_suffix('/')?;
    (!inner.is_empty()).then_some(inner)
}

/// The limits node of a quota'd path.
pub fn limits_path(target: &str) -> String {
    format!("{QUOTA_ROOT}{target}/{LIMITS_NODE}")
}

/// A `key=value,…` field of a limits or stats node as ZooKeeper's StatsTrack reads it: -1 when
/// missing or not a number.
pub fn field(data: Option<&[u8]>, key: &str) -> i64 {
    let text = data.map(String::from_utf8_lossy).unwrap_or_default();
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(-1)
}

/// The stats node of a quota'd path.
pub fn stats_path(target: &str) -> String {
    format!("{QUOTA_ROOT}{target}/{STATS_NODE}")
}

/// `count=N,bytes=M[,other=…]` with `count` and `bytes` moved by the given amounts (missing
/// ones start at 0; other keys are kept, after them, as ZooKeeper's StatsTrack writes them).
pub fn adjust(data: Option<&[u8]>, count_diff: i64, bytes_diff: i64) -> Vec<u8> {
    let text = data.map(String::from_utf8_lossy).unwrap_or_default();
    let mut count = 0i64;
    let mut bytes = 0i64;
    let mut others = Vec::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        match pair.split_once('=') {
            Some(("count", v)) => count = v.trim().parse().unwrap_or(0),
            Some(("bytes", v)) => bytes = v.trim().parse().unwrap_or(0),
            _ => others.push(pair.to_string()),
        }
    }
    let mut out = format!("count={},bytes={}", count + count_diff, bytes + bytes_diff);
    for other in others {
        out.push(',');
        out.push_str(&other);
    }
    out.into_bytes()
}

/// `count=N,bytes=M` with these values (a freshly created stats node is recomputed).
pub fn set_counts(data: Option<&[u8]>, count: i64, bytes: i64) -> Vec<u8> {
    let reset = adjust(data, 0, 0);
    let text = String::from_utf8_lossy(&reset);
    let others = text.splitn(3, ',').nth(2).map(str::to_string);
    let mut out = format!("count={count},bytes={bytes}");
    if let Some(others) = others {
        out.push(',');
        out.push_str(&others);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_as_stats_track_reads_them() {
        let limits = b"count=-1,bytes=-1,countHardLimit=3,byteHardLimit=-1";
        assert_eq!(field(Some(limits), "countHardLimit"), 3);
        assert_eq!(field(Some(limits), "count"), -1);
        assert_eq!(field(Some(b"count=5,bytes=10"), "byteHardLimit"), -1);
        assert_eq!(field(None, "count"), -1);
        assert_eq!(limits_path("/a"), "/zookeeper/quota/a/zookeeper_limits");
    }

    #[test]
    fn targets() {
        assert_eq!(
            limits_target("/zookeeper/quota/q/zookeeper_limits"),
            Some("/q")
        );
        assert_eq!(
            stats_target("/zookeeper/quota/a/b/zookeeper_stats"),
            Some("/a/b")
        );
        assert_eq!(limits_target("/zookeeper/quota/zookeeper_limits"), None);
        assert_eq!(limits_target("/q/zookeeper_limits"), None);
        assert_eq!(stats_path("/q"), "/zookeeper/quota/q/zookeeper_stats");
    }

    #[test]
    fn stats_text() {
        assert_eq!(adjust(Some(b"count=2,bytes=5"), 1, 4), b"count=3,bytes=9");
        assert_eq!(adjust(None, 1, 2), b"count=1,bytes=2");
        assert_eq!(
            set_counts(Some(b"count=0,bytes=0"), 2, 5),
            b"count=2,bytes=5"
        );
        assert_eq!(
            adjust(Some(b"count=1,bytes=1,countHardLimit=-1"), 1, 0),
            b"count=2,bytes=1,countHardLimit=-1"
        );
    }
}
