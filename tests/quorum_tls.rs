//! TLS between members (`sslQuorum=true`, `ssl.quorum.*`, `portUnification`): real
//! processes with certificates made at test time by `compat-tests/security/gen.sh`. A TLS
//! quorum replicates as a plaintext one does; a member whose certificate the quorum's CA did
//! not sign, one that speaks plaintext, and one whose certificate names another host never
//! join; the mixed state of turning TLS on member by member (port unification) serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{http_get, wait_until, Client, Cluster, Member};
use jute_codec::*;

/// The test certificates (openssl, as the security suite makes them).
fn certificates() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    let status = Command::new("bash")
        .arg(Path::new(&repo).join("compat-tests/security/gen.sh"))
        .arg(dir.path())
        .stdout(Stdio::null())
        .status()
        .expect("bash runs gen.sh");
    assert!(status.success(), "gen.sh made no certificates");
    dir
}

/// zoo.cfg lines for a member presenting `key_store` (a PEM file of `certs`).
fn quorum_tls(certs: &Path, key_store: &str, extra: &str) -> String {
    format!(
        "ssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n{extra}",
        certs.join(key_store).display(),
        certs.join("ca.pem").display()
    )
}

/// `raftzk_peer_tls_handshakes{side,outcome}` of a member (0 if absent).
fn handshakes(member: &Member, side: &str, outcome: &str) -> u64 {
    let Some((200, text)) = http_get(member.metrics_port, "/metrics") else {
        return 0;
    };
    let labels = [format!("side=\"{side}\""), format!("outcome=\"{outcome}\"")];
    text.lines()
        .filter(|l| l.starts_with("raftzk_peer_tls_handshakes{"))
        .filter(|l| labels.iter().all(|label| l.contains(label.as_str())))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Creates `/tls/<i>` for i < n through member `at`, then returns the leader's zxid.
fn write_some(cluster: &Cluster, at: usize, n: usize) -> i64 {
    let mut writer = Client::connect(cluster.members[at].addr());
    assert_eq!(
        writer.create("/tls", b"", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
    for i in 0..n {
        assert_eq!(
            writer
                .create(&format!("/tls/{i}"), b"x", CreateMode::Persistent)
                .0,
            ErrorCode::Ok
        );
    }
    let leader = cluster.leader().expect("a leader");
    cluster.members[leader]
        .tree_digest()
        .expect("the leader answers mntr")
        .0
}

/// Waits until members `which` report the tree digest the leader has at `zxid` or later.
fn caught_up(cluster: &Cluster, which: &[usize], zxid: i64) -> bool {
    wait_until(Duration::from_secs(20), || {
        which.iter().all(|i| {
            cluster.members[*i]
                .tree_digest()
                .is_some_and(|(z, _)| z >= zxid)
        })
    })
}

#[test]
fn a_tls_quorum_replicates_and_every_link_is_tls() {
    let certs = certificates();
    let cfg = format!(
        "sslQuorum=true\n{}",
        quorum_tls(certs.path(), "server.pem", "")
    );
    let cluster = Cluster::start(3, &cfg);
    let leader = cluster.leader().unwrap();
    let follower = (leader + 1) % 3;
    // Through a follower: the write is forwarded to the leader over the TLS link.
    let zxid = write_some(&cluster, follower, 20);
    assert!(
        caught_up(&cluster, &[0, 1, 2], zxid),
        "{}",
        cluster.log_tails()
    );
    let mut reader = Client::connect(cluster.members[(leader + 2) % 3].addr());
    let (h, _) = reader.call(Request::Sync(SyncRequest {
        path: Some("/".into()),
    }));
    assert_eq!(h.err, ErrorCode::Ok);
    assert_eq!(reader.children("/tls").len(), 20);
    for m in &cluster.members {
        assert!(
            handshakes(m, "dial", "ok") > 0,
            "member {} dialled over TLS",
            m.id
        );
        assert!(
            handshakes(m, "accept", "ok") > 0,
            "member {} accepted TLS",
            m.id
        );
        assert_eq!(handshakes(m, "accept", "plaintext"), 0);
        assert!(m
            .log()
            .contains("TLS on the peer link: certificate CN=localhost,O=raftzk,C=US"));
    }
}

/// Of five voters, three share the quorum's CA; one presents a certificate of another CA
/// and one speaks plaintext. The three form a quorum and serve; the other two never receive
/// a single entry, and the three count and log the refused handshakes.
#[test]
fn a_member_the_quorum_cannot_verify_never_joins() {
    let certs = certificates();
    let good = format!(
        "sslQuorum=true\n{}",
        quorum_tls(certs.path(), "server.pem", "")
    );
    let rogue = format!(
        "sslQuorum=true\n{}",
        quorum_tls(certs.path(), "rogue-member.pem", "")
    );
    let cluster = Cluster::start_each(5, |id| match id {
        4 => rogue.clone(),
        5 => String::new(),
        _ => good.clone(),
    });
    let leader = cluster.leader().unwrap();
    assert!(
        leader < 3,
        "only a verified member can lead (leader: member {})",
        leader + 1
    );
    let zxid = write_some(&cluster, leader, 5);
    assert!(
        caught_up(&cluster, &[0, 1, 2], zxid),
        "{}",
        cluster.log_tails()
    );
    // Give the outsiders time they would need to catch up, then check they have nothing.
    std::thread::sleep(Duration::from_secs(2));
    for outsider in [3, 4] {
        let digest = cluster.members[outsider].tree_digest();
        assert!(
            digest.is_none_or(|(z, _)| z < zxid),
            "member {} applied the quorum's entries: {digest:?}",
            outsider + 1
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || (0..3).all(|i| handshakes(
            &cluster.members[i],
            "accept",
            "failed"
        ) > 0)),
        "every verified member refused the outsiders' connections"
    );
    assert!(cluster.members[..3]
        .iter()
        .any(|m| m.log().contains("peer link refused")));
    assert!(cluster.members[3].log().contains("peer link refused"));
}

/// ssl.quorum.hostnameVerification (default true): a certificate from the quorum's CA that
/// names another host is refused both ways; with the check off the same member joins.
#[test]
fn a_member_certificate_for_another_host_is_refused_unless_names_are_not_checked() {
    let certs = certificates();
    let cfg = |id: u64, extra: &str| {
        let store = if id == 3 {
            "wronghost.pem"
        } else {
            "server.pem"
        };
        format!("sslQuorum=true\n{}", quorum_tls(certs.path(), store, extra))
    };
    let checked = Cluster::start_each(3, |id| cfg(id, ""));
    let leader = checked.leader().unwrap();
    let zxid = write_some(&checked, leader, 3);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        checked.members[2]
            .tree_digest()
            .is_none_or(|(z, _)| z < zxid),
        "the member named elsewhere.invalid joined"
    );
    assert!(checked.members[..2]
        .iter()
        .any(|m| m.log().contains("ssl.quorum.hostnameVerification")
            || m.log().contains("names neither")));
    drop(checked);

    let unchecked = Cluster::start_each(3, |id| cfg(id, "ssl.quorum.hostnameVerification=false\n"));
    let leader = unchecked.leader().unwrap();
    let zxid = write_some(&unchecked, leader, 3);
    assert!(
        caught_up(&unchecked, &[0, 1, 2], zxid),
        "{}",
        unchecked.log_tails()
    );
}

/// Turning TLS on in a running cluster, ZooKeeper's way: every member accepts both
/// (`portUnification=true`), then members dial over TLS one by one. In the mixed state (two
/// dial TLS, one still plaintext) the cluster serves, and the unified ports count both kinds.
#[test]
fn port_unification_serves_the_mixed_state_of_a_rolling_switch_to_tls() {
    let certs = certificates();
    let cluster = Cluster::start_each(3, |id| {
        let on = if id == 3 { "" } else { "sslQuorum=true\n" };
        format!(
            "portUnification=true\n{on}{}",
            quorum_tls(certs.path(), "server.pem", "")
        )
    });
    let leader = cluster.leader().unwrap();
    let zxid = write_some(&cluster, (leader + 1) % 3, 10);
    assert!(
        caught_up(&cluster, &[0, 1, 2], zxid),
        "{}",
        cluster.log_tails()
    );
    let (tls_dialers, plain_dialer) = (&cluster.members[..2], &cluster.members[2]);
    assert!(
        tls_dialers
            .iter()
            .all(|m| handshakes(m, "accept", "plaintext") > 0),
        "member 3 dials plaintext into the unified ports"
    );
    assert!(
        handshakes(plain_dialer, "accept", "ok") > 0,
        "members 1 and 2 dial TLS"
    );
    assert_eq!(handshakes(plain_dialer, "dial", "ok"), 0);
}
