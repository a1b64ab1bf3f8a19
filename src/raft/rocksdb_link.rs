//! Which RocksDB this binary links, and whether that library can read a log directory.
//!
//! raftzk links either the platform's RocksDB (Debian's `librocksdb-dev`) or the copy bundled
//! with librocksdb-sys (`scripts/setup.sh` chooses; `build.rs` records the choice). Both are
//! RocksDB 7.x, and the log store writes SST `format_version` 5 without compression, so a log
//! directory moves freely between the two builds. The releases before this one linked RocksDB
//! 11.8, which writes tables in `format_version` 7: their write-ahead log and MANIFEST read
//! fine in 7.x (a directory whose entries are all still in the WAL opens and serves), but a
//! table of format 7 cannot be read. Such a directory is refused here, before RocksDB opens
//! it, with a message that names the file, the versions and what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// The RocksDB version this binary was built against (from the headers its bindings came from).
pub const LINKED_VERSION: &str = env!("RAFTZK_ROCKSDB_VERSION");
/// How it is linked: `system shared library in <dir>` or `bundled source, compiled`.
pub const LINK: &str = env!("RAFTZK_ROCKSDB_LINK");
/// The SST format the log store writes: the newest that every RocksDB 7.x reads.
pub const WRITTEN_FORMAT_VERSION: i32 = 5;

/// A RocksDB release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parses `MAJOR.MINOR[.PATCH]`.
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().unwrap_or(Some(0))?;
        Some(Version(major, minor, patch))
    }

    /// The newest SST `format_version` this release reads (RocksDB's `table.h`: 5 from 6.6.0,
    /// 6 from 8.6.0, 7 from 10.4.0).
    pub fn readable_format_version(self) -> u32 {
        match self {
            v if v >= Version(10, 4, 0) => 7,
            v if v >= Version(8, 6, 0) => 6,
            v if v >= Version(6, 6, 0) => 5,
            _ => 4,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The linked release, if the build could read its version.
pub fn linked() -> Option<Version> {
    Version::parse(LINKED_VERSION)
}

/// One line for `--version` and the start-up log.
pub fn describe() -> String {
    format!("RocksDB {LINKED_VERSION} ({LINK})")
}

/// The newest `OPTIONS-<n>` file of a RocksDB directory: which release opened it last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBy {
    /// The options file read.
    pub options_file: PathBuf,
    /// Its `rocksdb_version`.
    pub version: Option<Version>,
}

/// What the newest options file among a directory's `files` records of the directory's last
/// writer, or `None` for a new directory.
fn newest_options(files: &[(String, PathBuf)]) -> std::io::Result<Option<WrittenBy>> {
    let mut newest: Option<(u64, &PathBuf)> = None;
    for (name, path) in files {
        let Some(number) = name
            .strip_prefix("OPTIONS-")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if newest.as_ref().is_none_or(|(n, _)| number > *n) {
            newest = Some((number, path));
        }
    }
    let Some((_, options_file)) = newest else {
        return Ok(None);
    };
    let options_file = options_file.clone();
    let text = std::fs::read_to_string(&options_file)?;
    let version = text.lines().find_map(|line| {
        let (key, value) = line.trim().split_once('=')?;
        (key.trim() == "rocksdb_version").then(|| Version::parse(value))?
    });
    Ok(Some(WrittenBy {
        options_file,
        version,
    }))
}

/// The block-based table magic number that ends every SST footer of format 1 and later.
const TABLE_MAGIC: u64 = 0x88e2_41b7_85f4_cff7;

/// The table format an SST file was written in, from the last 12 bytes of its footer
/// (`format_version` as u32 LE, then the magic number as u64 LE, in every format from 1 on);
/// `None` for a file too short or not a block-based table.
pub fn table_format(path: &Path) -> std::io::Result<Option<u32>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    if file.metadata()?.len() < 12 {
        return Ok(None);
    }
    file.seek(SeekFrom::End(-12))?;
    let mut tail = [0u8; 12];
    file.read_exact(&mut tail)?;
    let (version, magic) = tail.split_at(4);
    let magic = u64::from_le_bytes(magic.try_into().map_err(std::io::Error::other)?);
    let version = u32::from_le_bytes(version.try_into().map_err(std::io::Error::other)?);
    Ok((magic == TABLE_MAGIC).then_some(version))
}

fn files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            files.push((name.to_string(), entry.path()));
        }
    }
    Ok(files)
}

/// A log directory the linked RocksDB cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{file} in the Raft log {dir} is an SST table of format_version {format} (the directory was \
     last opened by RocksDB {writer}); this raftzk links RocksDB {linked}, which reads \
     format_version {readable} at most. Open it with the raftzk release that wrote it, or (in a \
     cluster) remove this member, empty the directory and add it back so it catches up from \
     the leader"
)]
pub struct Unreadable {
    /// The table file.
    pub file: String,
    /// The log directory.
    pub dir: String,
    /// The version that last opened the directory, as its options file records it.
    pub writer: String,
    /// The table's format.
    pub format: u32,
    /// The linked library.
    pub linked: Version,
    /// The newest format that library reads.
    pub readable: u32,
}

/// Refuses a directory holding an SST table in a format newer than the linked library reads
/// (RocksDB itself would stop with "Corrupt or unsupported format_version"). The write-ahead
/// log and MANIFEST of newer releases stay readable by older ones, so a directory without
/// such a table opens. Returns what the directory recorded of its writer, for the log line.
pub fn check_readable(
    dir: &Path,
    linked: Version,
) -> std::io::Result<Result<Option<WrittenBy>, Unreadable>> {
    let mut files = files(dir)?;
    let written = newest_options(&files)?;
    let readable = linked.readable_format_version();
    files.retain(|(name, _)| name.ends_with(".sst"));
    files.sort();
    for (_, path) in files {
        if let Some(format) = table_format(&path)?.filter(|f| *f > readable) {
            return Ok(Err(Unreadable {
                file: path.display().to_string(),
                dir: dir.display().to_string(),
                writer: written
                    .as_ref()
                    .and_then(|w| w.version)
                    .map_or_else(|| "(unrecorded)".to_string(), |v| v.to_string()),
                format,
                linked,
                readable,
            }));
        }
    }
    Ok(Ok(written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("7.8.3"), Some(Version(7, 8, 3)));
        assert_eq!(Version::parse("11.8"), Some(Version(11, 8, 0)));
        assert_eq!(Version::parse("x.1"), None);
        assert!(Version(7, 9, 2) > Version(7, 8, 3));
        assert_eq!(Version(7, 8, 3).readable_format_version(), 5);
        assert_eq!(Version(8, 6, 0).readable_format_version(), 6);
        assert_eq!(Version(11, 8, 1).readable_format_version(), 7);
    }

    #[test]
    fn the_linked_version_is_known() {
        let linked = linked().expect("build.rs records the linked version");
        assert_eq!(linked.0, 7, "the rocksdb crate speaks RocksDB 7.x's C API");
        assert!(i64::from(linked.readable_format_version()) >= i64::from(WRITTEN_FORMAT_VERSION));
    }

    const NEWER: &str = "[Version]\n  rocksdb_version=11.8.1\n  options_file_version=1.1\n\
        [TableOptions/BlockBasedTable \"default\"]\n  format_version=7\n";

    /// An SST file as far as the check reads it: a body, then format_version and the magic.
    fn table(format: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes.extend_from_slice(&format.to_le_bytes());
        bytes.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        bytes
    }

    #[test]
    fn a_newer_table_format_is_refused_with_both_versions_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("OPTIONS-000007"),
            "[Version]\n  rocksdb_version=7.8.3\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("OPTIONS-000012"), NEWER).expect("write");
        std::fs::write(dir.path().join("OPTIONS-000013.dbtmp"), "garbage").expect("write");
        std::fs::write(dir.path().join("000010.sst"), table(5)).expect("write");
        // Options naming a newer format do not matter while every table is readable.
        let ok = check_readable(dir.path(), Version(7, 8, 3))
            .expect("dir")
            .expect("readable");
        assert_eq!(ok.and_then(|w| w.version), Some(Version(11, 8, 1)));

        std::fs::write(dir.path().join("000011.sst"), table(7)).expect("write");
        let refused = check_readable(dir.path(), Version(7, 8, 3))
            .expect("readable dir")
            .expect_err("format 7 is too new for 7.8");
        assert_eq!((refused.format, refused.readable), (7, 5));
        let message = refused.to_string();
        assert!(message.contains("000011.sst"), "{message}");
        assert!(message.contains("RocksDB 11.8.1"), "{message}");
        assert!(message.contains("RocksDB 7.8.3"), "{message}");
        // The same directory is fine for a library that reads format 7.
        assert!(check_readable(dir.path(), Version(11, 8, 1))
            .expect("dir")
            .is_ok());
    }

    #[test]
    fn files_that_are_not_block_based_tables_are_not_judged() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("000001.sst"), b"short").expect("write");
        std::fs::write(dir.path().join("000002.sst"), [0u8; 40]).expect("write");
        assert_eq!(
            table_format(&dir.path().join("000002.sst")).expect("read"),
            None
        );
        assert_eq!(
            check_readable(dir.path(), Version(7, 8, 3)).expect("dir"),
            Ok(None)
        );
    }

    #[test]
    fn new_and_missing_directories_pass() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            check_readable(dir.path(), Version(7, 8, 3)).expect("dir"),
            Ok(None)
        );
        let missing = dir.path().join("absent");
        assert_eq!(
            check_readable(&missing, Version(7, 8, 3)).expect("dir"),
            Ok(None)
        );
    }
}
