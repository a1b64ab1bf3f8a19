//! Start-up configuration through the real binary: a bad value stops start-up with one line
//! naming the key and the file; unknown keys are logged and ignored; `--help` documents it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::process::Command;

use common::{four_letter_word, free_port, run_config_to_exit, Server};

fn run_with_config(cfg: &str) -> (bool, String, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zoo.cfg");
    std::fs::write(&path, cfg).unwrap();
    let (ok, stderr) = run_config_to_exit(&path);
    // Keep the temp dir path for messages; the dir itself goes away here.
    (ok, stderr, path)
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

/// TLS settings that cannot be served stop start-up with a line naming the key, before any
/// port is taken.
#[test]
fn unusable_tls_settings_stop_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let gen = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("compat-tests/security/gen.sh");
    let have_certs = Command::new(&gen)
        .arg(dir.path())
        .output()
        .is_ok_and(|o| o.status.success());
    let base = format!(
        "clientPort={}\nsecureClientPort={}\nmetricsProvider.httpPort=0\nadmin.enableServer=false\ndataDir={}\n",
        free_port(),
        free_port(),
        dir.path().join("data").display()
    );
    let pem = dir.path().join("server.pem");
    let ca = dir.path().join("ca.pem");
    let mut cases = vec![
        (String::new(), "ssl.keyStore.location"),
        (
            format!(
                "ssl.keyStore.location={}\n",
                dir.path().join("missing.pem").display()
            ),
            "ssl.keyStore.location",
        ),
        (
            "ssl.keyStore.location=/etc/server.key\n".into(),
            "ssl.keyStore.type",
        ),
        (
            "ssl.keyStore.location=/etc/server.jks\n".into(),
            "ssl.keyStore.location",
        ),
        ("ssl.clientAuth=sometimes\n".into(), "ssl.clientAuth"),
    ];
    if have_certs {
        cases.extend([
            // need (the default) without a trust store
            (format!("ssl.keyStore.location={}\n", pem.display()), "ssl.trustStore.location"),
            // TLS 1.3 alone with ZooKeeper's default suites (all TLS 1.2)
            (
                format!(
                    "ssl.keyStore.location={}\nssl.trustStore.location={}\nssl.protocol=TLSv1.3\n",
                    pem.display(),
                    ca.display()
                ),
                "ssl.ciphersuites",
            ),
            (
                format!(
                    "ssl.keyStore.location={}\nssl.trustStore.location={}\nssl.enabledProtocols=TLSv1.1\n",
                    pem.display(),
                    ca.display()
                ),
                "ssl.enabledProtocols",
            ),
            (
                format!(
                    "ssl.keyStore.location={}\nssl.trustStore.location={}\n",
                    dir.path().join("server-enc.pem").display(),
                    ca.display()
                ),
                "ssl.keyStore.location",
            ),
            // a legacy PKCS#12-PBE (3DES) key and a PBES2 key, each with the wrong password
            (
                format!(
                    "ssl.keyStore.location={}\nssl.keyStore.password=wrong\nssl.trustStore.location={}\n",
                    dir.path().join("server-enc.pem").display(),
                    ca.display()
                ),
                "ssl.keyStore.location",
            ),
            (
                format!(
                    "ssl.keyStore.location={}\nssl.keyStore.password=wrong\nssl.trustStore.location={}\n",
                    dir.path().join("server-pbes2.pem").display(),
                    ca.display()
                ),
                "ssl.keyStore.location",
            ),
            (
                format!(
                    "ssl.keyStore.location={}\nssl.keyStore.password=wrong\nssl.trustStore.location={}\n",
                    dir.path().join("server.p12").display(),
                    ca.display()
                ),
                "ssl.keyStore.location",
            ),
        ]);
    } else {
        eprintln!("openssl missing: the cases with certificates are skipped");
    }
    for (extra, key) in cases {
        let (ok, stderr, _) = run_with_config(&format!("{base}{extra}"));
        assert!(!ok, "{extra:?} was accepted");
        assert!(
            stderr.lines().any(|l| l.contains(key)),
            "no line names {key} for {extra:?}: {stderr}"
        );
    }
}
