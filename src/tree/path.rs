//! Path rules of ZooKeeper's `PathUtils.validatePath` (`protocol.md` §10), and the parent/name
//! split every op uses.

/// Why a path is not a valid znode path; every reason is answered with BadArguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty (null reads as empty).
    #[error("path length must be > 0")]
    Empty,
    /// Does not begin with `/`.
    #[error("path must start with / character")]
    NoLeadingSlash,
    /// Ends with `/` (only the root may).
    #[error("path must not end with / character")]
    TrailingSlash,
    /// Contains `//`.
    #[error("empty node name specified @{0}")]
    EmptyName(usize),
    /// Contains a `.` or `..` component.
    #[error("relative paths not allowed @{0}")]
    Relative(usize),
    /// Contains U+0000.
    #[error("null character not allowed @{0}")]
    Nul(usize),
    /// Contains a control, private-use, specials or non-BMP character.
    #[error("invalid character @{0}")]
    InvalidChar(usize),
}

/// Checks `path` as `PathUtils.validatePath` does. Positions are char indexes, as in Java
/// (where a character above U+FFFF is a surrogate pair, and invalid anyway).
pub fn validate(path: &str) -> Result<(), PathError> {
    let chars: Vec<char> = path.chars().collect();
    match chars.as_slice() {
        [] => return Err(PathError::Empty),
        [first, ..] if *first != '/' => return Err(PathError::NoLeadingSlash),
        [_] => return Ok(()),
        [.., last] if *last == '/' => return Err(PathError::TrailingSlash),
        _ => {}
    }
    let at = |i: usize| chars.get(i).copied();
    let mut last = '/';
    for (i, &c) in chars.iter().enumerate().skip(1) {
        let next_ends_name = matches!(at(i + 1), None | Some('/'));
        if c == '\0' {
            return Err(PathError::Nul(i));
        } else if c == '/' && last == '/' {
            return Err(PathError::EmptyName(i));
        } else if c == '.' && last == '.' {
            if i >= 2 && at(i - 2) == Some('/') && next_ends_name {
                return Err(PathError::Relative(i));
            }
        } else if c == '.' {
            if last == '/' && next_ends_name {
                return Err(PathError::Relative(i));
            }
        } else if is_invalid_char(c) {
            return Err(PathError::InvalidChar(i));
        }
        last = c;
    }
    Ok(())
}

/// The character classes Java's check rejects: C0 controls, DEL and C1 controls, the
/// surrogate and private-use block up to U+F8FF, the specials U+FFF0–U+FFFF, and everything
/// above U+FFFF (a surrogate pair in Java).
fn is_invalid_char(c: char) -> bool {
    matches!(c, '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}')
        || c >= '\u{fff0}'
}

/// Splits `path` at its last `/` into (parent, name), as ZooKeeper's prep stage does with
/// `lastIndexOf('/')`: `/a/b` → (`/a`, `b`), `/a` → (`/`, `a`), `a/b` → (`a`, `b`). `None`
/// when there is no `/` at all.
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    let slash = path.rfind('/')?;
    let parent = if slash == 0 { "/" } else { path.get(..slash)? };
    Some((parent, path.get(slash + 1..)?))
}

/// `parent` + `/` + `name` without doubling the root's slash.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// True if `path` is `ancestor` or lies below it (`/` is the ancestor of everything).
pub fn is_at_or_below(path: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        return path.starts_with('/');
    }
    match path.strip_prefix(ancestor) {
        Some("") => true,
        Some(rest) => rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/.x",
            "/a.b",
            "/...",
            "/a/.b",
            "/zookeeper",
            "/é",
        ] {
            assert_eq!(validate(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn invalid_paths() {
        let cases: &[(&str, PathError)] = &[
            ("", PathError::Empty),
            ("vec", PathError::NoLeadingSlash),
            ("/vec/", PathError::TrailingSlash),
            ("/a//b", PathError::EmptyName(3)),
            ("/a/./b", PathError::Relative(3)),
            ("/a/..", PathError::Relative(4)),
            ("/.", PathError::Relative(1)),
            ("/..", PathError::Relative(2)),
            ("/a\0b", PathError::Nul(2)),
            ("/bad\x7f", PathError::InvalidChar(4)),
            ("/bad\u{1}", PathError::InvalidChar(4)),
            ("/emoji\u{1F600}", PathError::InvalidChar(6)),
            ("/p\u{e000}", PathError::InvalidChar(2)),
            ("/r\u{fffd}", PathError::InvalidChar(2)),
        ];
        for (p, want) in cases {
            assert_eq!(validate(p).as_ref(), Err(want), "{p:?}");
        }
    }

    #[test]
    fn parents() {
        assert_eq!(split_parent("/a/b"), Some(("/a", "b")));
        assert_eq!(split_parent("/a"), Some(("/", "a")));
        assert_eq!(split_parent("/"), Some(("/", "")));
        assert_eq!(split_parent("a/b"), Some(("a", "b")));
        assert_eq!(split_parent("vec"), None);
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn ancestry() {
        assert!(is_at_or_below("/a/b", "/a"));
        assert!(is_at_or_below("/a", "/a"));
        assert!(!is_at_or_below("/ab", "/a"));
        assert!(is_at_or_below("/ab", "/"));
    }
}
