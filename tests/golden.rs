//! The golden data directory: a Raft log and snapshots written in durable format 2 by the
//! release that introduced it (`tests/fixtures/golden-format-2/data`), and what a server
//! started on them serves (`expected.txt`: every znode with its data, Stat and ACL, the
//! sessions with their ephemerals, and the last zxid). Every build must open that directory
//! and serve exactly that, so a change to the encoding that would change what stored data
//! means fails here, whatever the Rust types look like.
//!
//! `cargo test --release --test golden -- --ignored write_golden_fixture` writes the fixture
//! anew (only when the format changes on purpose: then the old one stays too, under its own
//! name, and keeps being checked).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{four_letter_word, repo_dir, wait_until, Client, Server};
use jute_codec::*;

fn fixture_dir(name: &str) -> PathBuf {
    repo_dir().join("tests/fixtures").join(name)
}

/// zoo.cfg lines both the writer and the readers use.
const CONFIG: &str = "snapCount=25\nextendedTypesEnabled=true\nmaxSessionTimeout=120000\n";

/// Copies a directory tree, leaving out RocksDB's lock and info log.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == "LOCK" || name_str.starts_with("LOG") {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every znode under `path` (depth first, children sorted): path, data, Stat and ACL.
fn dump_tree(client: &mut Client, path: &str, out: &mut String) {
    let (err, data) = client.get_data(path);
    assert_eq!(err, ErrorCode::Ok, "{path}");
    let (data, stat) = data.unwrap();
    let (_, acl) = client.call(Request::GetAcl(GetAclRequest { path: path.into() }));
    let acl = match acl {
        Response::GetAcl(r) => r
            .acl
            .iter()
            .map(|a| {
                format!(
                    "{}:{}:{}",
                    a.id.scheme,
                    a.id.id.as_deref().unwrap_or("-"),
                    a.perms.0
                )
            })
            .collect::<Vec<_>>()
            .join(","),
        other => panic!("getACL {path}: {other:?}"),
    };
    let data = match data {
        None => "null".to_string(),
        Some(d) => d.iter().map(|b| format!("{b:02x}")).collect(),
    };
    writeln!(
        out,
        "{path} data={data} czxid={:#x} mzxid={:#x} pzxid={:#x} ctime={} mtime={} version={} \
         cversion={} aversion={} owner={:#x} children={} acl={acl}",
        stat.czxid,
        stat.mzxid,
        stat.pzxid,
        stat.ctime,
        stat.mtime,
        stat.version,
        stat.cversion,
        stat.aversion,
        stat.ephemeral_owner,
        stat.num_children
    )
    .unwrap();
    let mut children = client.children(path);
    children.sort();
    for child in children {
        let child_path = if path == "/" {
            format!("/{child}")
        } else {
            format!("{path}/{child}")
        };
        dump_tree(client, &child_path, out);
    }
}

/// What a server started on `server`'s data serves: the last zxid, the sessions with
/// ephemerals (`dump`), the tree.
fn served_state(server: &Server) -> String {
    let mut out = String::new();
    let srvr = four_letter_word(server.addr(), b"srvr").unwrap();
    let srvr = String::from_utf8_lossy(&srvr).to_string();
    let zxid = srvr.lines().find(|l| l.starts_with("Zxid:")).unwrap();
    writeln!(out, "{zxid}").unwrap();
    let dump = four_letter_word(server.addr(), b"dump").unwrap();
    let dump = String::from_utf8_lossy(&dump).to_string();
    // The sessions part only: the connections part names this run's ports and times.
    let ephemerals = dump
        .split("Sessions with Ephemerals")
        .nth(1)
        .unwrap_or_default()
        .split("Connections dump")
        .next()
        .unwrap_or_default();
    writeln!(out, "Sessions with Ephemerals{}", ephemerals.trim_end()).unwrap();
    let mut client = Client::connect(server.addr());
    dump_tree(&mut client, "/", &mut out);
    out
}

/// Starts a server on a copy of the fixture's data directory.
fn serve_fixture(name: &str) -> Server {
    let mut server = Server::start_with(CONFIG);
    server.kill9();
    std::fs::remove_dir_all(server.data_dir()).unwrap();
    copy_dir(&fixture_dir(name).join("data"), &server.data_dir());
    server.restart();
    assert!(wait_until(Duration::from_secs(30), || four_letter_word(
        server.addr(),
        b"ruok"
    )
    .is_some_and(|r| r == b"imok")));
    server
}

#[test]
fn the_format_2_golden_data_directory_serves_exactly_what_it_held() {
    let server = serve_fixture("golden-format-2");
    let expected =
        std::fs::read_to_string(fixture_dir("golden-format-2").join("expected.txt")).unwrap();
    let served = served_state(&server);
    assert_eq!(served, expected, "log:\n{}", server.log());
    // What it read was format 2 throughout.
    assert!(
        server.log().contains("entry_formats=[2]"),
        "{}",
        server.log()
    );
    for snapshot in
        std::fs::read_dir(fixture_dir("golden-format-2").join("data/snapshots")).unwrap()
    {
        let bytes = std::fs::read(snapshot.unwrap().path()).unwrap();
        assert_eq!(&bytes[..8], b"RZKRAFT\x02");
    }
    // It keeps serving writes on top of the old data.
    let mut client = Client::connect(server.addr());
    assert_eq!(
        client.create("/after", b"", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
}

/// A snapshot in a format newer than this build reads stops start-up with one line naming
/// the file and the format; so does a log entry in a newer format.
#[test]
fn newer_formats_are_refused_by_file_and_number() {
    let mut server = serve_fixture("golden-format-2");
    server.kill9();
    let snapshots = server.data_dir().join("snapshots");
    let newest = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[7] = 3;
    std::fs::write(&newest, &bytes).unwrap();
    let (ok, stderr) = server.try_start_expecting_failure();
    assert!(!ok, "started from a snapshot of format 3");
    let name = newest.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        stderr.lines().any(
            |l| l.contains(&name) && l.contains("file format 3 is newer than this build reads")
        ),
        "{stderr}"
    );
}

/// Writes the fixture: a workload with every kind of node, ACL and session, snapshots taken
/// mid-way (snapCount 25), then kill -9 with two sessions still open.
#[test]
#[ignore = "writes tests/fixtures/golden-format-2; run by hand when the format changes"]
fn write_golden_fixture() {
    let mut server = Server::start_with(CONFIG);
    let mut a = Client::connect_with(server.addr(), 120_000, 0, vec![0; 16], 0).unwrap();
    let mut b = Client::connect_with(server.addr(), 90_000, 0, vec![0; 16], 0).unwrap();
    let ok = |(h, _): (ReplyHeader, Response)| assert_eq!(h.err, ErrorCode::Ok);
    assert_eq!(
        a.create("/app", b"root of it", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
    for i in 0..30 {
        a.create("/app/seq-", &[i as u8; 3], CreateMode::PersistentSequential);
    }
    a.create("/app/lock-", b"", CreateMode::EphemeralSequential);
    b.create("/app/member", b"b", CreateMode::Ephemeral);
    ok(a.call(Request::Create(CreateRequest {
        path: "/null-data".into(),
        data: None,
        acl: vec![Acl::world(Perms::ALL)],
        flags: CreateMode::Persistent,
    })));
    ok(a.call(Request::Auth(AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Some(b"alice:secret".to_vec()),
    })));
    ok(a.call(Request::Create(CreateRequest {
        path: "/private".into(),
        data: Some(vec![0, 1, 2, 255]),
        acl: vec![
            Acl {
                perms: Perms::ALL,
                id: Id {
                    scheme: "auth".into(),
                    id: Some(String::new()),
                },
            },
            Acl {
                perms: Perms::READ,
                id: Id {
                    scheme: "ip".into(),
                    id: Some("127.0.0.1".into()),
                },
            },
        ],
        flags: CreateMode::Persistent,
    })));
    ok(a.call(Request::CreateContainer(CreateRequest {
        path: "/container".into(),
        data: Some(b"c".to_vec()),
        acl: vec![Acl::world(Perms::ALL)],
        flags: CreateMode::Container,
    })));
    a.create("/container/child", b"", CreateMode::Persistent);
    ok(a.call(Request::CreateTtl(CreateTtlRequest {
        path: "/ttl".into(),
        data: Some(b"t".to_vec()),
        acl: vec![Acl::world(Perms::ALL)],
        flags: CreateMode::PersistentWithTtl,
        ttl: 3_600_000,
    })));
    ok(a.call(Request::SetData(SetDataRequest {
        path: "/app".into(),
        data: Some(b"changed".to_vec()),
        version: 0,
    })));
    ok(a.call(Request::SetAcl(SetAclRequest {
        path: "/null-data".into(),
        acl: vec![Acl::world(Perms(Perms::READ.0 | Perms::ADMIN.0))],
        version: -1,
    })));
    ok(a.call(Request::Delete(DeleteRequest {
        path: "/app/seq-0000000003".into(),
        version: -1,
    })));
    ok(a.call(Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(CreateRequest {
                path: "/multi".into(),
                data: Some(b"m".to_vec()),
                acl: vec![Acl::world(Perms::ALL)],
                flags: CreateMode::Persistent,
            }),
            MultiOp::SetData(SetDataRequest {
                path: "/multi".into(),
                data: Some(b"m2".to_vec()),
                version: 0,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/app".into(),
                version: 1,
            }),
        ],
    })));
    // A multi that fails changes nothing but still takes its zxid.
    a.call(Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(CreateRequest {
                path: "/never".into(),
                data: None,
                acl: vec![Acl::world(Perms::ALL)],
                flags: CreateMode::Persistent,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/missing".into(),
                version: -1,
            }),
        ],
    }));
    // A session that ended: its ephemeral is gone.
    let mut c = Client::connect(server.addr());
    c.create("/gone", b"", CreateMode::Ephemeral);
    c.close();
    for i in 0..10 {
        a.create(
            &format!("/tail-{i}"),
            b"after the last snapshot",
            CreateMode::Persistent,
        );
    }
    let dir = fixture_dir("golden-format-2");
    let _ = std::fs::remove_dir_all(&dir);
    server.kill9();
    copy_dir(&server.data_dir(), &dir.join("data"));
    drop((a, b));
    let reader = serve_fixture("golden-format-2");
    std::fs::write(dir.join("expected.txt"), served_state(&reader)).unwrap();
}
