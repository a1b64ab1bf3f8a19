//! A 3-member cluster of real processes: writes through any member, reads everywhere,
//! /zookeeper/config, leader kill -9 and a partitioned leader with no acknowledged write lost,
//! sessions that move between members.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{http_get, wait_until, Client, Cluster};
use jute_codec::*;

fn sync(c: &mut Client) {
    let (h, _) = c.call(Request::Sync(SyncRequest {
        path: Some("/".into()),
    }));
    assert_eq!(h.err, ErrorCode::Ok);
}

#[test]
fn writes_through_any_member_are_read_everywhere() {
    let cluster = Cluster::start(3, "");
    let leader = cluster.leader().unwrap();
    let follower = (leader + 1) % 3;
    let mut writer = Client::connect(cluster.members[follower].addr());
    assert_eq!(
        writer.create("/a", b"1", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
    for i in 0..50 {
        assert_eq!(
            writer
                .create(&format!("/a/{i}"), b"", CreateMode::PersistentSequential)
                .0,
            ErrorCode::Ok
        );
    }
    let watched = (leader + 2) % 3;
    let mut watcher = Client::connect(cluster.members[watched].addr());
    sync(&mut watcher);
    assert_eq!(watcher.children("/a").len(), 50);
    // A watch on one member fires for a write made through another.
    let (h, _) = watcher.call(Request::GetData(GetDataRequest {
        path: "/a".into(),
        watch: true,
    }));
    assert_eq!(h.err, ErrorCode::Ok);
    let (h, _) = writer.call(Request::SetData(SetDataRequest {
        path: "/a".into(),
        data: Some(b"2".to_vec()),
        version: -1,
    }));
    assert_eq!(h.err, ErrorCode::Ok);
    assert!(wait_until(Duration::from_secs(10), || {
        sync(&mut watcher);
        !watcher.events.is_empty()
    }));
    assert_eq!(watcher.events[0].event_type, EventType::NodeDataChanged);
    // /zookeeper/config lists the members in ZooKeeper's format.
    let (_, data) = watcher.get_data("/zookeeper/config");
    let config = String::from_utf8(data.unwrap().0.unwrap()).unwrap();
    for m in &cluster.members {
        assert!(
            config.contains(&format!("server.{}=127.0.0.1:", m.id)),
            "{config}"
        );
        assert!(
            config.contains(&format!(";127.0.0.1:{}", m.client_port)),
            "{config}"
        );
    }
    assert!(
        config.contains("participant") && config.contains("\nversion="),
        "{config}"
    );
    let modes: Vec<String> = cluster.members.iter().filter_map(|m| m.mode()).collect();
    assert_eq!(
        modes.iter().filter(|m| *m == "leader").count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.iter().filter(|m| *m == "follower").count(),
        2,
        "{modes:?}"
    );
}

/// Creates as fast as possible through `addr`, recording every acknowledged path, until
/// `stop`; reconnecting (a new session) after each connection loss.
fn write_stream(
    addrs: Vec<std::net::SocketAddr>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
) {
    let mut n = 0u64;
    let mut target = 0;
    'outer: while !stop.load(Ordering::Relaxed) && n < 200_000 {
        target = (target + 1) % addrs.len();
        let Some(mut client) = Client::connect_with(addrs[target], 10_000, 0, vec![0; 16], 0)
        else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let path = format!("/s/w{n}");
            let request = Request::Create(CreateRequest {
                path: path.clone(),
                data: Some(b"v".to_vec()),
                acl: vec![Acl::world(Perms::ALL)],
                flags: CreateMode::Persistent,
            });
            match client.try_call(request) {
                Some((h, _)) if h.err == ErrorCode::Ok => acked.lock().unwrap().push(path),
                Some(_) => {}
                None => continue 'outer,
            }
        }
    }
}

fn assert_all_present(cluster: &Cluster, acked: &[String]) {
    for m in cluster.members.iter().filter(|m| m.is_running()) {
        let mut reader = Client::connect(m.addr());
        sync(&mut reader);
        let children: HashSet<String> = reader.children("/s").into_iter().collect();
        let missing = acked
            .iter()
            .filter(|p| !children.contains(p.trim_start_matches("/s/")))
            .count();
        assert_eq!(
            missing,
            0,
            "member {}: {missing} of {} acknowledged writes missing",
            m.id,
            acked.len()
        );
    }
}

#[test]
fn killing_the_leader_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3, "");
    let mut setup = Client::connect(cluster.members[0].addr());
    setup.create("/s", b"", CreateMode::Persistent);
    // A session with an ephemeral, on a member that will survive.
    let old_leader = cluster.leader().unwrap();
    let survivor = (old_leader + 1) % 3;
    let mut owner = Client::connect(cluster.members[survivor].addr());
    assert_eq!(
        owner.create("/owned", b"", CreateMode::Ephemeral).0,
        ErrorCode::Ok
    );
    let (sid, pw) = (owner.session_id, owner.passwd.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let addrs: Vec<_> = cluster.members.iter().map(|m| m.addr()).collect();
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || write_stream(addrs, stop, acked))
    };
    assert!(wait_until(Duration::from_secs(30), || acked
        .lock()
        .unwrap()
        .len()
        >= 300));
    cluster.members[old_leader].kill9();
    let before = acked.lock().unwrap().len();
    assert!(
        wait_until(Duration::from_secs(30), || acked.lock().unwrap().len()
            > before + 200),
        "writes did not resume after the leader died"
    );
    assert!(wait_until(Duration::from_secs(30), || cluster.all_serving()));
    assert_ne!(cluster.leader().unwrap(), old_leader);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();

    // The session moves to the other surviving member and keeps its ephemeral.
    let other = (0..3).find(|i| *i != old_leader && *i != survivor).unwrap();
    drop(owner);
    let mut moved = Client::connect_with(cluster.members[other].addr(), 10_000, sid, pw, 0)
        .expect("session resumes on another member");
    assert!(moved.exists("/owned"));

    // The dead leader comes back and catches up; nothing acknowledged is missing anywhere.
    cluster.restart(old_leader);
    assert!(wait_for_mode(&cluster, old_leader, "follower", 60));
    assert_all_present(&cluster, &acked);
    println!(
        "{} acknowledged writes across a leader kill, all present on every member",
        acked.len()
    );
}

#[test]
fn a_partitioned_leader_steps_aside_and_loses_nothing() {
    let cluster = Cluster::start(3, "");
    let mut setup = Client::connect(cluster.members[0].addr());
    setup.create("/s", b"", CreateMode::Persistent);
    let old_leader = cluster.leader().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let addrs: Vec<_> = cluster.members.iter().map(|m| m.addr()).collect();
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        std::thread::spawn(move || write_stream(addrs, stop, acked))
    };
    assert!(wait_until(Duration::from_secs(30), || acked
        .lock()
        .unwrap()
        .len()
        >= 300));
    cluster.partition(old_leader);
    // The majority elects another leader; the cut-off one stops calling itself leader.
    assert!(wait_until(Duration::from_secs(30), || {
        cluster.leader().is_some_and(|l| l != old_leader)
            && cluster.members[old_leader].mode().as_deref() != Some("leader")
    }));
    let before = acked.lock().unwrap().len();
    assert!(wait_until(Duration::from_secs(30), || acked
        .lock()
        .unwrap()
        .len()
        > before + 200));
    cluster.heal();
    assert!(wait_for_mode(&cluster, old_leader, "follower", 30));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert_all_present(&cluster, &acked);
    println!(
        "{} acknowledged writes across a leader partition, all present on every member",
        acked.len()
    );
}

#[test]
fn sessions_on_followers_stay_alive_and_dead_ones_expire() {
    let cluster = Cluster::start(3, "minSessionTimeout=1000");
    let leader = cluster.leader().unwrap();
    let follower = (leader + 1) % 3;
    // A live session on a follower: its pings reach only the follower, which reports them.
    let mut live =
        Client::connect_with(cluster.members[follower].addr(), 2_000, 0, vec![0; 16], 0).unwrap();
    assert_eq!(
        live.create("/live", b"", CreateMode::Ephemeral).0,
        ErrorCode::Ok
    );
    let mut dead =
        Client::connect_with(cluster.members[follower].addr(), 2_000, 0, vec![0; 16], 0).unwrap();
    assert_eq!(
        dead.create("/dead", b"", CreateMode::Ephemeral).0,
        ErrorCode::Ok
    );
    drop(dead);
    let mut observer = Client::connect(cluster.members[leader].addr());
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(500));
        let (h, _) = live.call(Request::Ping);
        assert_eq!(h.err, ErrorCode::Ok);
    }
    sync(&mut observer);
    assert!(
        observer.exists("/live"),
        "a session kept alive through a follower was expired"
    );
    assert!(!observer.exists("/dead"), "a dead session was not expired");
}

#[test]
fn an_observer_serves_and_never_votes() {
    let cluster = Cluster::start_roles(&[false, false, false, true], "");
    let observer = &cluster.members[3];
    assert_eq!(observer.mode().as_deref(), Some("observer"));
    let mut through_observer = Client::connect(observer.addr());
    assert_eq!(
        through_observer
            .create("/o", b"x", CreateMode::Persistent)
            .0,
        ErrorCode::Ok
    );
    let mut voter = Client::connect(cluster.members[0].addr());
    sync(&mut voter);
    assert!(voter.exists("/o"));
    let (_, data) = voter.get_data("/zookeeper/config");
    let config = String::from_utf8(data.unwrap().0.unwrap()).unwrap();
    assert!(config.contains("server.4=127.0.0.1:"), "{config}");
    assert!(
        config
            .lines()
            .any(|l| l.starts_with("server.4=") && l.contains(":observer;")),
        "{config}"
    );
}

#[test]
fn a_member_back_from_a_long_outage_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start(3, "snapCount=100");
    let leader = cluster.leader().unwrap();
    let lagging = (leader + 1) % 3;
    cluster.members[lagging].kill9();
    let mut writer = Client::connect(cluster.members[leader].addr());
    writer.create("/c", b"", CreateMode::Persistent);
    // More entries than the log keeps behind a snapshot (1000): the member must get a snapshot.
    for i in 0..1_500 {
        assert_eq!(
            writer
                .create(&format!("/c/{i}"), b"d", CreateMode::Persistent)
                .0,
            ErrorCode::Ok
        );
    }
    cluster.restart(lagging);
    assert!(wait_for_mode(&cluster, lagging, "follower", 60));
    let mut reader = Client::connect(cluster.members[lagging].addr());
    sync(&mut reader);
    assert_eq!(reader.children("/c").len(), 1_500);
    let (_, node) = reader.get_data("/c/1499");
    assert_eq!(node.unwrap().0.as_deref(), Some(&b"d"[..]));
}

#[test]
fn a_member_whose_disk_fills_stops_and_the_rest_carry_on() {
    let mut cluster = Cluster::start(3, "");
    let leader = cluster.leader().unwrap();
    let victim = (leader + 1) % 3;
    let mut writer = Client::connect(cluster.members[leader].addr());
    writer.create("/d", b"", CreateMode::Persistent);
    cluster.set_disk_fault(victim, "full");
    // The member reads its fault switch from a file: wait until it has, or the writes below
    // can all land before it does.
    assert!(wait_until(Duration::from_secs(10), || cluster.members
        [victim]
        .log()
        .contains("full=true")));
    // Its next append fails: it stops (exit 70) naming its log directory, while the writes
    // go on through the healthy majority.
    let mut written = 0;
    let mut status = None;
    while status.is_none() && written < 500 {
        assert_eq!(
            writer
                .create(&format!("/d/{written}"), b"", CreateMode::Persistent)
                .0,
            ErrorCode::Ok
        );
        written += 1;
        status = cluster.members[victim].wait_exit(Duration::from_millis(20));
    }
    let status = status
        .or_else(|| cluster.members[victim].wait_exit(Duration::from_secs(30)))
        .expect("the member kept running on a full disk");
    assert_eq!(status.code(), Some(70));
    let log = cluster.members[victim].log();
    assert!(
        log.contains("storage failure") && log.contains("raft-log"),
        "{log}"
    );
    // The others keep serving; after the disk is freed the member comes back and catches up.
    assert_eq!(
        writer.create("/d/after", b"", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
    cluster.set_disk_fault(victim, "");
    cluster.restart(victim);
    assert!(wait_until(Duration::from_secs(60), || cluster.all_serving()));
    let mut reader = Client::connect(cluster.members[victim].addr());
    sync(&mut reader);
    assert_eq!(reader.children("/d").len(), written + 1);
}

/// mntr's `raft_term` of a member.
/// Waits (≤ `secs`) until member `i`'s `srvr` says `mode`.
fn wait_for_mode(cluster: &Cluster, i: usize, mode: &str, secs: u64) -> bool {
    wait_until(Duration::from_secs(secs), || {
        cluster.members[i].mode().as_deref() == Some(mode)
    })
}

fn raft_term(cluster: &Cluster, i: usize) -> Option<u64> {
    let out = common::four_letter_word(cluster.members[i].addr(), b"mntr")?;
    String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| l.strip_prefix("raft_term\t"))
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_restarted_follower_does_not_unseat_the_leader() {
    // openraft 0.9 has no pre-vote: a member that campaigns before the leader reaches it
    // raises the term and unseats the leader. The leader must retry it soon enough.
    let mut cluster = Cluster::start(3, "");
    let leader = cluster.leader().unwrap();
    let term = raft_term(&cluster, leader).unwrap();
    let follower = (leader + 1) % 3;
    for _ in 0..3 {
        cluster.members[follower].kill9();
        std::thread::sleep(Duration::from_millis(700));
        cluster.restart(follower);
        assert!(wait_for_mode(&cluster, follower, "follower", 30));
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(cluster.leader(), Some(leader));
        assert_eq!(
            raft_term(&cluster, leader),
            Some(term),
            "an election happened"
        );
        assert_eq!(raft_term(&cluster, follower), Some(term));
    }
}

#[test]
fn a_member_cut_off_serves_read_only_clients_until_the_quorum_is_back() {
    let cluster = Cluster::start(3, "readonlymode.enabled=true");
    let leader = cluster.leader().unwrap();
    let mut writer = Client::connect(cluster.members[leader].addr());
    assert_eq!(
        writer.create("/ro", b"before", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
    let cut = (leader + 1) % 3;
    let mut witness = Client::connect(cluster.members[cut].addr());
    sync(&mut witness);
    cluster.partition(cut);
    let isro = |i: usize| {
        common::four_letter_word(cluster.members[i].addr(), b"isro")
            .map(|b| String::from_utf8_lossy(&b).to_string())
    };
    assert!(
        wait_until(Duration::from_secs(30), || isro(cut).as_deref()
            == Some("ro")),
        "isro: {:?}",
        isro(cut)
    );
    assert_eq!(cluster.members[cut].mode().as_deref(), Some("read-only"));
    // A client that cannot be read-only is turned away; one that can gets a read-only session.
    assert!(Client::connect_with(cluster.members[cut].addr(), 10_000, 0, vec![0; 16], 0).is_none());
    let (mut ro, flag) = Client::connect_read_only(cluster.members[cut].addr()).unwrap();
    assert_eq!(flag, Some(true));
    let (err, data) = ro.get_data("/ro");
    assert_eq!(err, ErrorCode::Ok);
    assert_eq!(data.unwrap().0.as_deref(), Some(&b"before"[..]));
    assert_eq!(
        ro.create("/ro/x", b"", CreateMode::Persistent).0,
        ErrorCode::NotReadOnly
    );
    let (h, _) = ro.call(Request::Sync(SyncRequest {
        path: Some("/".into()),
    }));
    assert_eq!(h.err, ErrorCode::NotReadOnly);
    // Reads still work after the refused writes, in order.
    assert!(ro.exists("/ro"));
    // The majority side carries on.
    assert!(wait_until(Duration::from_secs(30), || cluster
        .leader()
        .is_some()));
    let leader = cluster.leader().unwrap();
    let mut writer = Client::connect(cluster.members[leader].addr());
    assert_eq!(
        writer.create("/ro/after", b"", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
    // Healed: the read-only connection is closed, the member serves read-write again.
    cluster.heal();
    let healed = std::time::Instant::now();
    assert!(ro.closed_by_server() && healed.elapsed() < Duration::from_secs(15));
    assert!(wait_until(Duration::from_secs(30), || isro(cut).as_deref()
        == Some("rw")));
    assert!(wait_until(Duration::from_secs(30), || cluster.all_serving()));
    let mut reader = Client::connect(cluster.members[cut].addr());
    sync(&mut reader);
    assert!(reader.exists("/ro/after"));
}

/// `/zookeeper/config` through `c`: its `server.N` lines by id, and the version.
fn ensemble_config(c: &mut Client) -> (std::collections::BTreeMap<u64, String>, i64) {
    let (err, data) = c.get_data("/zookeeper/config");
    assert_eq!(err, ErrorCode::Ok);
    parse_config(&data.unwrap().0.unwrap())
}

fn parse_config(data: &[u8]) -> (std::collections::BTreeMap<u64, String>, i64) {
    let text = String::from_utf8(data.to_vec()).unwrap();
    let mut servers = std::collections::BTreeMap::new();
    let mut version = -1;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("server.") {
            let id = rest.split('=').next().unwrap().parse().unwrap();
            servers.insert(id, line.to_string());
        } else if let Some(v) = line.strip_prefix("version=") {
            version = i64::from_str_radix(v, 16).unwrap();
        }
    }
    (servers, version)
}

fn reconfig(c: &mut Client, joining: Option<&str>, leaving: Option<&str>) -> (ErrorCode, Vec<u8>) {
    let (h, r) = c.call(Request::Reconfig(ReconfigRequest {
        joining_servers: joining.map(String::from),
        leaving_servers: leaving.map(String::from),
        new_members: None,
        cur_config_id: -1,
    }));
    match r {
        Response::Reconfig(GetDataResponse { data, .. }) => (h.err, data.unwrap_or_default()),
        _ => (h.err, Vec::new()),
    }
}

#[test]
fn members_join_change_role_and_leave_by_reconfig_without_an_election() {
    let super_digest = raftzk::tree::acl::digest_id("super:test");
    let mut cluster = Cluster::start(
        3,
        &format!("reconfigEnabled=true\nDigestAuthenticationProvider.superDigest={super_digest}"),
    );
    let leader = cluster.leader().unwrap();
    let term = raft_term(&cluster, leader).unwrap();
    let mut admin = Client::connect(cluster.members[(leader + 1) % 3].addr());
    let (h, _) = admin.call(Request::Auth(AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Some(b"super:test".to_vec()),
    }));
    assert_eq!(h.err, ErrorCode::Ok);
    assert_eq!(
        admin.create("/before", b"x", CreateMode::Persistent).0,
        ErrorCode::Ok
    );

    // A new member, started with the group in its zoo.cfg, waits outside until added.
    let (joiner, line) = cluster.spawn_joiner(false);
    assert!(wait_for_mode(&cluster, joiner, "looking", 20));
    // Without WRITE on /zookeeper/config: a malformed request is BadArguments (ZooKeeper
    // parses before it checks permission), a well-formed one NoAuth, and nothing changes.
    let mut plain = Client::connect(cluster.members[leader].addr());
    assert_eq!(
        reconfig(&mut plain, Some("server.9=nonsense"), None).0,
        ErrorCode::BadArguments
    );
    assert_eq!(reconfig(&mut plain, Some(&line), None).0, ErrorCode::NoAuth);
    let (err, data) = reconfig(&mut admin, Some(&line), None);
    assert_eq!(err, ErrorCode::Ok);
    let (servers, version) = parse_config(&data);
    assert_eq!(servers.len(), 4, "{servers:?}");
    assert!(servers[&4].contains(":participant;"), "{servers:?}");
    assert_eq!(ensemble_config(&mut admin), (servers.clone(), version));
    assert!(wait_for_mode(&cluster, joiner, "follower", 30));
    // `conf` lists the membership after the member's own keys, as ZooKeeper's quorum peer.
    let conf = || {
        let out = common::four_letter_word(cluster.members[joiner].addr(), b"conf");
        String::from_utf8(out.unwrap_or_default()).unwrap()
    };
    assert!(
        wait_until(Duration::from_secs(10), || conf()
            .contains(&format!("{}\n", servers[&4]))),
        "{}",
        conf()
    );
    assert!(conf().contains("serverId=4\n"), "{}", conf());
    assert!(conf().contains("membership: \nserver.1="), "{}", conf());
    let mut through_joiner = Client::connect(cluster.members[joiner].addr());
    sync(&mut through_joiner);
    assert!(through_joiner.exists("/before"));

    // The same member as an observer, then out of the group.
    let as_observer = line.replace(":participant;", ":observer;");
    let (err, data) = reconfig(&mut admin, Some(&as_observer), None);
    assert_eq!(err, ErrorCode::Ok);
    assert!(parse_config(&data).0[&4].contains(":observer;"));
    assert!(wait_for_mode(&cluster, joiner, "observer", 30));
    let (err, data) = reconfig(&mut admin, None, Some("4"));
    assert_eq!(err, ErrorCode::Ok);
    let (servers, _) = parse_config(&data);
    assert_eq!(servers.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(wait_for_mode(&cluster, joiner, "looking", 30));

    // What ZooKeeper refuses.
    assert_eq!(
        reconfig(&mut admin, None, Some("1,2,3")).0,
        ErrorCode::BadArguments
    );
    assert_eq!(
        reconfig(&mut admin, Some("server.9=127.0.0.1:1:2"), None).0,
        ErrorCode::BadArguments
    );
    let (h, _) = admin.call(Request::Reconfig(ReconfigRequest {
        joining_servers: None,
        leaving_servers: Some("4".into()),
        new_members: None,
        cur_config_id: 12345,
    }));
    assert_eq!(h.err, ErrorCode::BadVersion);
    let mut plain = Client::connect(cluster.members[leader].addr());
    assert_eq!(reconfig(&mut plain, None, Some("3")).0, ErrorCode::NoAuth);

    // None of it took an election, and the group still writes.
    assert_eq!(cluster.leader(), Some(leader));
    assert_eq!(
        raft_term(&cluster, leader),
        Some(term),
        "an election happened"
    );
    assert_eq!(
        admin.create("/after", b"y", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
}

#[test]
fn a_follower_cut_off_and_healed_does_not_unseat_the_leader() {
    // openraft 0.9 has no pre-vote: a cut-off follower would campaign again and again, and
    // its higher term would unseat the leader once the link heals. raftzk's pre-vote holds it.
    let cluster = Cluster::start(3, "");
    let leader = cluster.leader().unwrap();
    let term = raft_term(&cluster, leader).unwrap();
    let follower = (leader + 1) % 3;
    cluster.partition(follower);
    // Several election timeouts: it reports looking, and does not raise its term.
    assert!(wait_for_mode(&cluster, follower, "looking", 10));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        raft_term(&cluster, follower),
        Some(term),
        "the cut-off member campaigned"
    );
    cluster.heal();
    assert!(wait_for_mode(&cluster, follower, "follower", 10));
    assert_eq!(cluster.leader(), Some(leader));
    assert_eq!(
        raft_term(&cluster, leader),
        Some(term),
        "an election happened"
    );
}

/// Drop-in start-up: three members on one host whose zoo.cfg files name only ZooKeeper's keys
/// all serve, although raftzk's default metrics (7000) and admin (8080) ports can belong to
/// one of them at most; the others say so in a warning and serve without them.
#[test]
fn three_members_from_zookeeper_only_configs_on_one_host_all_serve() {
    let cluster = Cluster::start_zookeeper_cfg(3);
    let leader = cluster.leader().expect("a leader");
    let mut client = Client::connect(cluster.members[leader].addr());
    assert_eq!(
        client.create("/dropin", b"", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
    let warned = cluster
        .members
        .iter()
        .filter(|m| {
            m.log()
                .contains("its port cannot be bound; serving without it")
        })
        .count();
    assert!(
        warned >= 2,
        "at least two members run without the default ports"
    );
    assert!(cluster.all_serving());
}

/// A member that applies one entry differently (a test-only switch standing in for a bug in
/// apply or a bad disk) is caught: the leader's digest in later entries differs from its own
/// at the same zxid, so it logs an error and counts `digest_mismatches_count`, while the
/// others agree with each other and count nothing.
#[test]
fn a_member_that_applies_an_entry_differently_is_caught_by_the_digest() {
    let mut cluster = Cluster::start(3, "");
    let leader = cluster.leader().unwrap();
    let mut writer = Client::connect(cluster.members[leader].addr());
    for i in 0..20 {
        let path = format!("/d{i}");
        assert_eq!(
            writer.create(&path, b"x", CreateMode::Persistent).0,
            ErrorCode::Ok
        );
    }
    let diverged = (leader + 1) % 3;
    let healthy = (leader + 2) % 3;
    // Restarted, it re-applies its log and applies entry 3 differently.
    cluster.members[diverged]
        .env
        .push(("RAFTZK_TEST_DIVERGE_AT".into(), "3".into()));
    cluster.restart(diverged);
    assert!(wait_until(Duration::from_secs(30), || cluster.members
        [diverged]
        .mode()
        .is_some_and(|m| m == "follower")));
    let mut more = 0;
    assert!(
        wait_until(Duration::from_secs(30), || {
            more += 1;
            writer.create(&format!("/e{more}"), b"y", CreateMode::Persistent);
            cluster.members[diverged].digest_mismatches() > 0
        }),
        "no mismatch counted; log:\n{}",
        cluster.members[diverged].log()
    );
    assert!(cluster.members[diverged]
        .log()
        .contains("tree digest mismatch"));
    assert_eq!(cluster.members[leader].digest_mismatches(), 0);
    assert_eq!(cluster.members[healthy].digest_mismatches(), 0);
    // Quiet: every member reaches the same zxid; the healthy ones share its digest (mntr),
    // and so does the admin `hash` command's `latest`.
    let mut last = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            last = cluster.members.iter().map(|m| m.tree_digest()).collect();
            last.iter()
                .all(|d| d.is_some_and(|d| Some(d.0) == last[leader].map(|l| l.0)))
        }),
        "{last:?}"
    );
    let digests: Vec<(i64, i64)> = last.into_iter().map(Option::unwrap).collect();
    assert_eq!(digests[leader], digests[healthy]);
    assert_ne!(digests[leader].1, digests[diverged].1);
    let (_, hash) = http_get(cluster.members[leader].admin_port, "/commands/hash").unwrap();
    let hash: serde_json::Value = serde_json::from_str(&hash).unwrap();
    assert_eq!(hash["latest"]["zxid"].as_i64(), Some(digests[leader].0));
    assert_eq!(
        hash["latest"]["digest"]
            .as_u64()
            .map(|d| (d & ((1 << 52) - 1)) as i64),
        Some(digests[leader].1)
    );
    assert!(hash["digests"].is_array());
}

/// ZooKeeper adds an observer that is not running yet (observers are in no quorum, so no
/// quorum of the new configuration waits for it): raftzk does too, and answers at once with
/// the new configuration; the group keeps serving writes while the observer is away.
#[test]
fn an_observer_that_is_not_running_yet_can_be_added() {
    let super_digest = raftzk::tree::acl::digest_id("super:test");
    let cluster = Cluster::start(
        3,
        &format!("reconfigEnabled=true\nDigestAuthenticationProvider.superDigest={super_digest}"),
    );
    let leader = cluster.leader().unwrap();
    let mut admin = Client::connect(cluster.members[leader].addr());
    let (h, _) = admin.call(Request::Auth(AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Some(b"super:test".to_vec()),
    }));
    assert_eq!(h.err, ErrorCode::Ok);
    let (peer, election, client) = (
        common::free_port(),
        common::free_port(),
        common::free_port(),
    );
    let line = format!("server.7=127.0.0.1:{peer}:{election}:observer;127.0.0.1:{client}");
    let started = std::time::Instant::now();
    let (err, data) = reconfig(&mut admin, Some(&line), None);
    assert_eq!(err, ErrorCode::Ok, "{}", String::from_utf8_lossy(&data));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let (servers, _) = parse_config(&data);
    assert!(servers[&7].contains(":observer;"), "{servers:?}");
    assert_eq!(
        admin.create("/while-away", b"", CreateMode::Persistent).0,
        ErrorCode::Ok
    );

    // Three absent participants would leave 3 synced voters of 6: ZooKeeper answers
    // NewConfigNoQuorum before it checks WRITE on /zookeeper/config, so a client without
    // it learns that first; one absent participant (3 of 4 synced) gets NoAuth.
    let participant = |id: u32| {
        let (peer, election, client) = (
            common::free_port(),
            common::free_port(),
            common::free_port(),
        );
        format!("server.{id}=127.0.0.1:{peer}:{election}:participant;127.0.0.1:{client}")
    };
    let mut plain = Client::connect(cluster.members[leader].addr());
    let three = [participant(8), participant(9), participant(10)].join(",");
    assert_eq!(
        reconfig(&mut plain, Some(&three), None).0,
        ErrorCode::NewConfigNoQuorum
    );
    assert_eq!(
        reconfig(&mut plain, Some(&participant(8)), None).0,
        ErrorCode::NoAuth
    );
}
