//! Start-up configuration through the real binary: a bad value stops start-up with one line
//! naming the key and the file; unknown keys are logged and ignored; `--help` documents it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::process::Command;

use common::{four_letter_word, free_port, Server};

fn run_with_config(cfg: &str) -> (bool, String, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zoo.cfg");
    std::fs::write(&path, cfg).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_raftzk"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // Keep the temp dir path for messages; the dir itself goes away here.
    (out.status.success(), stderr, path)
}

#[test]
fn bad_values_stop_start_up_naming_key_and_file() {
    for (cfg, key) in [
        ("clientPort=abc\n", "clientPort"),
        ("clientPort=70000\n", "clientPort"),
        ("tickTime=-1\n", "tickTime"),
        ("maxClientCnxns=lots\n", "maxClientCnxns"),
        ("server.1=localhost\n", "server.1"),
    ] {
        let (ok, stderr, path) = run_with_config(cfg);
        assert!(!ok, "{cfg:?} was accepted");
        let line = stderr
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no line names {key}: {stderr}"));
        assert!(line.contains(&path.display().to_string()), "{line}");
    }
}

#[test]
fn an_unusable_data_dir_stops_start_up() {
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let cfg = format!(
        "dataDir={}/sub\nclientPort={}\nclientPortAddress=127.0.0.1\nmetricsProvider.httpPort=0\nadmin.enableServer=false\n",
        blocker.path().display(),
        free_port()
    );
    let (ok, stderr, _) = run_with_config(&cfg);
    assert!(!ok);
    assert!(stderr.contains("dataDir="), "{stderr}");
}

#[test]
fn unknown_keys_are_logged_and_ignored() {
    let server = Server::start_with(
        "someUnknownKey=1\nadmin.enableServer=false\nserver.1=127.0.0.1:2888:3888",
    );
    assert_eq!(four_letter_word(server.addr(), b"ruok").unwrap(), b"imok");
    let log = server.log();
    assert!(
        log.contains("someUnknownKey"),
        "unknown key not logged:\n{log}"
    );
}

#[test]
fn help_lists_the_flags_and_conf_shows_the_file() {
    let help = Command::new(env!("CARGO_BIN_EXE_raftzk"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--config",
        "--port",
        "--data-dir",
        "--tick-time",
        "zoo.cfg",
        "snapCount",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
    let conf = {
        let server = Server::start_with("maxClientCnxns=7");
        String::from_utf8(four_letter_word(server.addr(), b"conf").unwrap()).unwrap()
    };
    assert!(conf.contains("maxClientCnxns=7\n"), "{conf}");
    assert!(conf.contains("tickTime=2000\n"));
}
