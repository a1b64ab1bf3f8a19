//! The keys of the tree's node map: a path prefixed with a code of its depth.
//!
//! Ordered by key, the map then holds the nodes by depth and, within a depth, by path, so the
//! children of `/a` (depth 2, starting with `/a/`) are one contiguous range of it: a node's
//! children are found by a range scan instead of a set of names kept in every parent (which
//! cost ~75 bytes per znode and a copy of the set's path whenever a snapshot shared it).
//!
//! The code is order-preserving and prefix-free: depths 0 to 62 are one byte `'0' + depth`
//! (`'0'`..`'n'`); deeper paths are `'o'` and five bytes of six bits each (depths up to 2^30,
//! beyond any path a frame can carry). Every byte is ASCII, so a key is a `str`.

/// Depths below this take one byte.
const SHORT: usize = 63;
/// The first byte of a long code.
const LONG_MARK: u8 = b'0' + SHORT as u8;
/// Bytes of a long code.
const LONG_LEN: usize = 6;
/// Lookups build their key on the stack up to this length.
const INLINE: usize = 128;

/// The depth of a path: `/` is 0, `/a` 1, `/a/b` 2.
fn depth(path: &str) -> usize {
    if path == "/" {
        0
    } else {
        path.bytes().filter(|&b| b == b'/').count()
    }
}

/// The depth code: its bytes and how many of them are used.
fn code(depth: usize) -> ([u8; LONG_LEN], usize) {
    let mut out = [0u8; LONG_LEN];
    if depth < SHORT {
        out[0] = b'0' + depth as u8;
        return (out, 1);
    }
    out[0] = LONG_MARK;
    let rest = (depth - SHORT).min((1 << 30) - 1);
    for (i, byte) in out.iter_mut().skip(1).enumerate() {
        *byte = b'0' + ((rest >> (6 * (LONG_LEN - 2 - i))) & 0x3f) as u8;
    }
    (out, LONG_LEN)
}

/// The bytes of the code a key starts with.
fn code_len(key: &str) -> usize {
    if key.as_bytes().first() == Some(&LONG_MARK) {
        LONG_LEN
    } else {
        1
    }
}

/// The key of `path`, to store.
pub fn owned(path: &str) -> Box<str> {
    let (code, len) = code(depth(path));
    let mut key = String::with_capacity(len + path.len());
    key.extend(code.iter().take(len).map(|&b| char::from(b)));
    key.push_str(path);
    key.into_boxed_str()
}

/// The path a key names.
pub fn path_of(key: &str) -> &str {
    key.get(code_len(key)..).unwrap_or_default()
}

/// The key of a path to look up, built on the stack when short.
pub enum Lookup {
    /// A key of up to [`INLINE`] bytes.
    Inline([u8; INLINE], usize),
    /// A longer key.
    Heap(Box<str>),
}

impl Lookup {
    /// The key of `path`.
    pub fn new(path: &str) -> Lookup {
        let (code, len) = code(depth(path));
        let total = len + path.len();
        if total > INLINE {
            return Lookup::Heap(owned(path));
        }
        let mut buf = [0u8; INLINE];
        let (head, rest) = buf.split_at_mut(len);
        head.copy_from_slice(code.get(..len).unwrap_or_default());
        if let Some(tail) = rest.get_mut(..path.len()) {
            tail.copy_from_slice(path.as_bytes());
        }
        Lookup::Inline(buf, total)
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        match self {
            // ASCII code and a `str`: always UTF-8 (an impossible failure finds nothing).
            Lookup::Inline(buf, len) => {
                std::str::from_utf8(buf.get(..*len).unwrap_or_default()).unwrap_or_default()
            }
            Lookup::Heap(key) => key,
        }
    }
}

/// The key range holding the children of `parent`: `[low, high)`, and the length of the
/// prefix (code, parent path, `/`) before each child's name in those keys.
pub fn children_range(parent: &str) -> (Box<str>, Box<str>, usize) {
    let prefix = if parent == "/" {
        String::from("/")
    } else {
        format!("{parent}/")
    };
    let (code, len) = code(depth(parent) + 1);
    let code: String = code.iter().take(len).map(|&b| char::from(b)).collect();
    let low = format!("{code}{prefix}");
    // '0' is the byte after '/': every key that continues the prefix sorts below it.
    let high = format!("{code}{}0", prefix.strip_suffix('/').unwrap_or_default());
    let skip = low.len();
    (low.into_boxed_str(), high.into_boxed_str(), skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_the_order_of_depths() {
        let keys: Vec<Box<str>> = [0, 1, 2, 61, 62, 63, 64, 127, 4095, 100_000, 1 << 29]
            .iter()
            .map(|&d| {
                let (c, len) = code(d);
                String::from_utf8(c[..len].to_vec())
                    .unwrap()
                    .into_boxed_str()
            })
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert!(keys.iter().all(|k| k.is_ascii()));
    }

    #[test]
    fn keys_name_their_paths() {
        for path in ["/", "/a", "/a/b", "/a-b/c"] {
            assert_eq!(path_of(&owned(path)), path);
            assert_eq!(Lookup::new(path).as_str(), &*owned(path));
        }
        let deep = "/x".repeat(100);
        assert_eq!(path_of(&owned(&deep)), deep);
        assert_eq!(Lookup::new(&deep).as_str(), &*owned(&deep));
        assert_eq!(depth(&deep), 100);
    }

    #[test]
    fn children_and_only_children_fall_in_the_range() {
        let (low, high, skip) = children_range("/a");
        let inside = |p: &str| {
            let k = owned(p);
            *low <= *k && *k < *high
        };
        for child in ["/a/b", "/a/-", "/a/zz", "/a/0"] {
            assert!(inside(child), "{child}");
            assert_eq!(&owned(child)[skip..], &child[3..]);
        }
        for other in ["/a", "/a/b/c", "/a-b/c", "/a0/c", "/b", "/", "/ab/c"] {
            assert!(!inside(other), "{other}");
        }
        let (low, high, skip) = children_range("/");
        for child in ["/a", "/zookeeper"] {
            let k = owned(child);
            assert!(*low <= *k && *k < *high, "{child}");
            assert_eq!(&k[skip..], &child[1..]);
        }
        assert!(!(*low <= *owned("/") && *owned("/") < *high));
        assert!(!(*low <= *owned("/a/b") && *owned("/a/b") < *high));
    }
}
