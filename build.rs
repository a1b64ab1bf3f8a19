//! Records which RocksDB this build links, so the binary can say so (`--version`, the start-up
//! log) and can refuse a data directory that library cannot read before RocksDB touches it.
//!
//! librocksdb-sys decides the link from the environment (`scripts/setup.sh` writes it into
//! `.cargo/config.toml`): `ROCKSDB_COMPILE=1` compiles its bundled source, else
//! `ROCKSDB_LIB_DIR` links the library there, else the bundled source. This script applies the
//! same rule and reads the version from the headers the bindings were made from
//! (`ROCKSDB_INCLUDE_DIR`, or the bundled copy whose version the crate's own version names).

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    for var in [
        "ROCKSDB_COMPILE",
        "ROCKSDB_LIB_DIR",
        "ROCKSDB_INCLUDE_DIR",
        "ROCKSDB_STATIC",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");

    let compile =
        env::var("ROCKSDB_COMPILE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let lib_dir = env::var("ROCKSDB_LIB_DIR").ok().filter(|_| !compile);
    let (link, version) = match lib_dir {
        Some(dir) => {
            let include = env::var("ROCKSDB_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include".into());
            let version = header_version(&Path::new(&include).join("rocksdb/version.h"))
                .unwrap_or_else(|| "unknown".into());
            let mode = if env::var_os("ROCKSDB_STATIC").is_some() {
                "static"
            } else {
                "shared"
            };
            (format!("system {mode} library in {dir}"), version)
        }
        None => (
            "bundled source, compiled".to_string(),
            bundled_version().unwrap_or_else(|| "unknown".into()),
        ),
    };
    println!("cargo:rustc-env=RAFTZK_ROCKSDB_LINK={link}");
    println!("cargo:rustc-env=RAFTZK_ROCKSDB_VERSION={version}");
}

/// `MAJOR.MINOR.PATCH` from RocksDB's `version.h`.
fn header_version(path: &Path) -> Option<String> {
    println!("cargo:rerun-if-changed={}", path.display());
    let text = fs::read_to_string(path).ok()?;
    let find = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.trim().strip_prefix("#define")?.trim_start();
            let value = rest.strip_prefix(name)?.trim();
            value.parse::<u32>().ok()
        })
    };
    Some(format!(
        "{}.{}.{}",
        find("ROCKSDB_MAJOR")?,
        find("ROCKSDB_MINOR")?,
        find("ROCKSDB_PATCH")?
    ))
}

/// The bundled RocksDB's version: librocksdb-sys names it after the `+` of its own version in
/// Cargo.lock (e.g. `0.10.0+7.9.2`).
fn bundled_version() -> Option<String> {
    let lock = fs::read_to_string("Cargo.lock").ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"librocksdb-sys\"" {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').split_once('+')?.1.to_string());
        }
    }
    None
}
