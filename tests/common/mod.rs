//! Test harness: the real `raftzk` binary as a process on a free loopback port with its own
//! data directory, and a small blocking ZooKeeper client built on jute-codec.
//!
//! Every wait is bounded; a server is stopped by its own PID only.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use jute_codec::*;
use tokio_util::codec::Decoder;

/// Runs the server on the config file at `path` and waits for it to stop, at most 30 s: for
/// configs that must stop start-up. A server still running then has accepted the config; it is
/// ended and reported as accepted (`true`), so such a test fails rather than hangs.
/// Returns whether it succeeded and what it wrote to stderr.
pub fn run_config_to_exit(path: &Path) -> (bool, String) {
    const START_UP_LIMIT: Duration = Duration::from_secs(30);
    let stderr_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_raftzk"))
        .arg("--config")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(stderr_file.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + START_UP_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = std::fs::read_to_string(stderr_file.path()).unwrap_or_default();
    let ok = match status {
        Some(status) => status.success(),
        None => {
            stderr.push_str("[still serving after 30 s: ended by the test]\n");
            true
        }
    };
    (ok, stderr)
}

/// A raftzk process.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    /// Where `/metrics` listens.
    pub metrics_port: u16,
    /// Where the AdminServer listens.
    pub admin_port: u16,
    pub dir: tempfile::TempDir,
    extra_cfg: String,
}

impl Server {
    /// Starts raftzk with a zoo.cfg (tickTime 2000, every 4lw) plus `extra_cfg` lines.
    pub fn start_with(extra_cfg: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server {
            child: None,
            port: free_port(),
            metrics_port: free_port(),
            admin_port: free_port(),
            dir,
            extra_cfg: extra_cfg.to_string(),
        };
        server.spawn();
        server
    }

    pub fn start() -> Server {
        Server::start_with("")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("raftzk.log")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    fn write_config(&self) {
        let cfg = format!(
            "tickTime=2000\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nmetricsProvider.httpPort={}\nadmin.serverPort={}\n{}\n",
            self.data_dir().display(),
            self.port,
            self.metrics_port,
            self.admin_port,
            self.extra_cfg
        );
        std::fs::write(self.config_path(), cfg).expect("write zoo.cfg");
    }

    fn spawn(&mut self) {
        self.write_config();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_raftzk"))
            .arg("--config")
            .arg(self.config_path())
            .arg("--log")
            .arg("info,raftzk=debug,openraft=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn raftzk");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits (≤ 60 s) until the server answers `ruok`.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("raftzk exited during start-up ({status}):\n{}", self.log());
                }
            }
            if four_letter_word(self.addr(), b"ruok").as_deref() == Some(b"imok".as_slice()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "raftzk not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port and data.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Runs raftzk on this server's config expecting it to refuse to start: returns (exited
    /// successfully, stderr). A process still running after 30 s started serving: it is
    /// killed and reported as (true, its stderr so far).
    pub fn try_start_expecting_failure(&mut self) -> (bool, String) {
        self.kill9();
        self.write_config();
        let err_path = self.dir.path().join("refused.log");
        let err = std::fs::File::create(&err_path).expect("stderr file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_raftzk"))
            .arg("--config")
            .arg(self.config_path())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("run raftzk");
        let deadline = Instant::now() + Duration::from_secs(30);
        let success = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break true;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (
            success,
            std::fs::read_to_string(err_path).unwrap_or_default(),
        )
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGTERM (as `kill` does by default).
    pub fn terminate(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
    }

    /// Waits (≤ `limit`) for the process to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        wait_child_exit(&mut self.child, limit)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits (≤ `limit`) for a started process to exit on its own; forgets it once it has.
fn wait_child_exit(child: &mut Option<Child>, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(running) = child.as_mut() {
            if let Ok(Some(status)) = running.try_wait() {
                *child = None;
                return Some(status);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// A port nothing listens on, below Linux's ephemeral range (32768+): a port the kernel
/// handed out for `bind(0)` can be taken by an outgoing connection (a member dialing its
/// peers) before the server that was meant to listen on it binds it. A process-wide counter
/// keeps this test binary's picks distinct; the start differs per process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 97) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN)
}

/// `GET path` on 127.0.0.1:`port` over HTTP/1.0: (status, body), None if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Read;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The value of an unlabelled sample `name` in Prometheus text.
pub fn prometheus_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The value of `key` in `mntr` text.
pub fn mntr_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('\t').map(str::to_string))
}

/// Sends a four-letter word and reads until the server closes.
pub fn four_letter_word(addr: SocketAddr, word: &[u8]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(word).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    Some(out)
}

/// A node's data and Stat, as getData returns them.
pub type NodeData = (Option<Vec<u8>>, Stat);

/// A blocking ZooKeeper client: one request at a time, notifications kept aside.
pub struct Client {
    pub stream: TcpStream,
    buf: BytesMut,
    codec: FrameCodec,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
    next_xid: i32,
    pub events: Vec<WatcherEvent>,
    pub last_zxid: i64,
}

impl Client {
    /// A new session with a 10 s timeout.
    pub fn connect(addr: SocketAddr) -> Client {
        Client::connect_with(addr, 10_000, 0, vec![0; 16], 0).expect("handshake")
    }

    /// A handshake with these fields; `None` if the server refused the connection or closed it
    /// without a ConnectResponse.
    pub fn connect_with(
        addr: SocketAddr,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
        last_zxid_seen: i64,
    ) -> Option<Client> {
        Client::connect_mode(addr, timeout_ms, session_id, passwd, last_zxid_seen, false)
            .map(|(client, _)| client)
    }

    /// A new session from a client that accepts a read-only server; with the server's
    /// readOnly byte.
    pub fn connect_read_only(addr: SocketAddr) -> Option<(Client, Option<bool>)> {
        Client::connect_mode(addr, 10_000, 0, vec![0; 16], 0, true)
    }

    fn connect_mode(
        addr: SocketAddr,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
        last_zxid_seen: i64,
        can_be_read_only: bool,
    ) -> Option<(Client, Option<bool>)> {
        let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(stream) => stream,
            // A member killed or restarting refuses or resets: no connection, as for a
            // refused handshake (the fault harness's clients then try another member).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("connect: {e}"),
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut client = Client {
            stream,
            buf: BytesMut::new(),
            codec: FrameCodec::new(64 << 20),
            session_id,
            passwd: passwd.clone(),
            timeout_ms,
            next_xid: 1,
            events: Vec::new(),
            last_zxid: last_zxid_seen,
        };
        client.send(&ConnectRequest {
            protocol_version: 0,
            last_zxid_seen,
            time_out: timeout_ms,
            session_id,
            passwd,
            read_only: Some(can_be_read_only),
        });
        let frame = client.read_frame()?;
        let resp = ConnectResponse::from_bytes(&frame).expect("ConnectResponse");
        if resp.session_id == 0 {
            return None;
        }
        client.session_id = resp.session_id;
        client.passwd = resp.passwd;
        client.timeout_ms = resp.time_out;
        Some((client, resp.read_only))
    }

    pub fn send(&mut self, item: &impl EncodeFrame) {
        let mut out = BytesMut::new();
        encode_frame(item, &mut out, usize::MAX).unwrap();
        self.stream.write_all(&out).expect("send");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next frame, or `None` once the server closed the connection.
    pub fn read_frame(&mut self) -> Option<BytesMut> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).expect("frame") {
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// True if the server closed the connection (EOF within the read timeout).
    pub fn closed_by_server(&mut self) -> bool {
        self.read_frame().is_none()
    }

    fn xid(&mut self) -> i32 {
        let xid = self.next_xid;
        self.next_xid += 1;
        xid
    }

    /// Sends a request and waits for its reply; notifications that arrive first are kept in
    /// `events`. Panics if the server closes the connection.
    pub fn call(&mut self, request: Request) -> (ReplyHeader, Response) {
        self.try_call(request)
            .expect("server closed the connection")
    }

    pub fn try_call(&mut self, request: Request) -> Option<(ReplyHeader, Response)> {
        let op = request.op_code();
        let xid = match op {
            OpCode::Ping => xid::PING,
            OpCode::Auth => xid::AUTH,
            _ => self.xid(),
        };
        self.send(&ClientRequest {
            header: RequestHeader { xid, op },
            request,
        });
        self.reply_to(xid, op)
    }

    /// The reply to request `xid` (which must come next), keeping the notifications that
    /// arrive before it; `None` once the server closed the connection.
    fn reply_to(&mut self, xid: i32, op: OpCode) -> Option<(ReplyHeader, Response)> {
        loop {
            let frame = self.read_frame()?;
            let (header, response) = decode_reply(&frame, |_| op).expect("reply");
            if let Response::Notification(event) = response {
                self.events.push(event);
                continue;
            }
            assert_eq!(header.xid, xid, "reply out of order");
            if header.zxid > 0 {
                self.last_zxid = header.zxid;
            }
            return Some((header, response));
        }
    }

    /// Sends `requests` in one write (pipelined), then reads their replies in order, each
    /// with the instant it arrived; `None` once the server closed the connection.
    pub fn pipeline(
        &mut self,
        requests: Vec<Request>,
    ) -> Option<Vec<(ReplyHeader, Response, Instant)>> {
        let mut out = BytesMut::new();
        let mut sent = Vec::new();
        for request in requests {
            let op = request.op_code();
            let xid = self.xid();
            encode_frame(
                &ClientRequest {
                    header: RequestHeader { xid, op },
                    request,
                },
                &mut out,
                usize::MAX,
            )
            .unwrap();
            sent.push((xid, op));
        }
        self.stream.write_all(&out).ok()?;
        let mut replies = Vec::new();
        for (xid, op) in sent {
            let (header, response) = self.reply_to(xid, op)?;
            replies.push((header, response, Instant::now()));
        }
        Some(replies)
    }

    pub fn create(&mut self, path: &str, data: &[u8], flags: CreateMode) -> (ErrorCode, String) {
        let (h, r) = self.call(Request::Create(CreateRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: vec![Acl::world(Perms::ALL)],
            flags,
        }));
        match r {
            Response::Create(c) => (h.err, c.path),
            _ => (h.err, String::new()),
        }
    }

    pub fn get_data(&mut self, path: &str) -> (ErrorCode, Option<NodeData>) {
        let (h, r) = self.call(Request::GetData(GetDataRequest {
            path: path.into(),
            watch: false,
        }));
        match r {
            Response::GetData(d) => (h.err, Some((d.data, d.stat))),
            _ => (h.err, None),
        }
    }

    pub fn exists(&mut self, path: &str) -> bool {
        let (h, _) = self.call(Request::Exists(ExistsRequest {
            path: path.into(),
            watch: false,
        }));
        h.err == ErrorCode::Ok
    }

    pub fn children(&mut self, path: &str) -> Vec<String> {
        match self
            .call(Request::GetChildren(GetChildrenRequest {
                path: path.into(),
                watch: false,
            }))
            .1
        {
            Response::GetChildren(c) => c.children,
            other => panic!("getChildren: {other:?}"),
        }
    }

    pub fn close(mut self) {
        let _ = self.try_call(Request::CloseSession);
    }
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// The repository's directory, as cargo names it when the test runs (not when it was
/// compiled: a build cache shared between clones at other paths reuses test binaries whose
/// compile-time path is another clone's).
pub fn repo_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The repository's copy of a vectors file.
pub fn vectors_file(name: &str) -> PathBuf {
    repo_dir().join("jute-codec/tests/vectors").join(name)
}

/// A cluster of raftzk processes on loopback, each with its own data dir and a test-only
/// peer fault file (the partition switch).
pub struct Cluster {
    pub dir: Option<tempfile::TempDir>,
    pub members: Vec<Member>,
    /// The `server.N` lines every member was started with.
    servers: String,
    extra_cfg: String,
}

/// One member of a [`Cluster`].
pub struct Member {
    pub id: u64,
    pub client_port: u16,
    /// Where `/metrics` listens.
    pub metrics_port: u16,
    /// Where the AdminServer listens.
    pub admin_port: u16,
    /// Environment variables the process is started with (test-only switches).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
    base: PathBuf,
}

impl Member {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client_port))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.base.join("raftzk.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.base.join("raftzk.log"))
            .expect("log file");
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_raftzk"))
                .arg("--config")
                .arg(self.base.join("zoo.cfg"))
                .arg("--log")
                .arg("info,raftzk=debug,openraft=warn")
                .envs(self.env.iter().cloned())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn raftzk"),
        );
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Waits (≤ `limit`) for the process to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        wait_child_exit(&mut self.child, limit)
    }

    /// `mntr`'s value of `key`, if the member answers.
    pub fn mntr(&self, key: &str) -> Option<String> {
        let mntr = four_letter_word(self.addr(), b"mntr")?;
        mntr_value(&String::from_utf8_lossy(&mntr), key)
    }

    /// (zxid, digest) of the member's tree after its last applied entry (`mntr`).
    pub fn tree_digest(&self) -> Option<(i64, i64)> {
        let mntr = four_letter_word(self.addr(), b"mntr")?;
        let text = String::from_utf8_lossy(&mntr);
        let zxid = mntr_value(&text, "raft_tree_digest_zxid")?.parse().ok()?;
        let digest = mntr_value(&text, "raft_tree_digest")?.parse().ok()?;
        Some((zxid, digest))
    }

    /// `digest_mismatches_count` (0 when the member does not answer).
    pub fn digest_mismatches(&self) -> u64 {
        self.mntr("zk_digest_mismatches_count")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// The `Mode:` line of `srvr`, if the member answers.
    pub fn mode(&self) -> Option<String> {
        let srvr = four_letter_word(self.addr(), b"srvr")?;
        String::from_utf8_lossy(&srvr)
            .lines()
            .find_map(|l| l.strip_prefix("Mode: ").map(str::to_string))
    }

    /// Writes member `id`'s data dir and zoo.cfg under `dir` (not started).
    fn configure(dir: &Path, id: u64, client: u16, servers: &str, extra_cfg: &str) -> Member {
        let base = dir.join(format!("m{id}"));
        std::fs::create_dir_all(base.join("data")).unwrap();
        std::fs::write(base.join("data/myid"), format!("{id}\n")).unwrap();
        std::fs::write(base.join("faults"), "").unwrap();
        std::fs::write(base.join("disk"), "").unwrap();
        let (metrics_port, admin_port) = (free_port(), free_port());
        let cfg = format!(
            "tickTime=2000\ndataDir={}\nclientPort={client}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nmetricsProvider.httpPort={metrics_port}\nadmin.serverPort={admin_port}\npeer.faultFile={}\ndisk.faultFile={}\n{servers}{extra_cfg}\n",
            base.join("data").display(),
            base.join("faults").display(),
            base.join("disk").display()
        );
        std::fs::write(base.join("zoo.cfg"), cfg).unwrap();
        Member {
            id,
            client_port: client,
            metrics_port,
            admin_port,
            env: Vec::new(),
            child: None,
            base,
        }
    }

    fn set_faults(&self, cut: &[u64]) {
        let text: Vec<String> = cut.iter().map(u64::to_string).collect();
        std::fs::write(self.base.join("faults"), text.join(" ")).expect("fault file");
    }
}

impl Cluster {
    /// Starts `n` voting members and waits (≤ 60 s) for a leader.
    pub fn start(n: usize, extra_cfg: &str) -> Cluster {
        Cluster::start_roles(&vec![false; n], extra_cfg)
    }

    /// Starts one member per entry (true = observer) and waits until all serve.
    pub fn start_roles(observers: &[bool], extra_cfg: &str) -> Cluster {
        Cluster::start_configured(observers, extra_cfg, false)
    }

    /// Starts `n` voting members from zoo.cfg files holding only keys ZooKeeper knows (no
    /// metrics or admin ports: each member tries raftzk's defaults, 7000 and 8080, and only
    /// one can have them) and waits until all serve.
    pub fn start_zookeeper_cfg(n: usize) -> Cluster {
        Cluster::start_configured(&vec![false; n], "", true)
    }

    /// Starts `n` voting members, member `id`'s zoo.cfg ending with `extra(id)`, and waits
    /// (≤ 60 s) for a leader only: some members may be meant never to join.
    pub fn start_each(n: usize, extra: impl Fn(u64) -> String) -> Cluster {
        let cluster = Cluster::configure_all(&vec![false; n], &extra, false);
        assert!(
            wait_until(Duration::from_secs(60), || cluster.leader().is_some()),
            "no leader:\n{}",
            cluster.log_tails()
        );
        cluster
    }

    fn start_configured(observers: &[bool], extra_cfg: &str, zookeeper_keys_only: bool) -> Cluster {
        let cluster =
            Cluster::configure_all(observers, &|_| extra_cfg.to_string(), zookeeper_keys_only);
        assert!(
            wait_until(Duration::from_secs(60), || cluster.all_serving()),
            "the cluster did not form:\n{}",
            cluster.log_tails()
        );
        cluster
    }

    /// The last 40 lines of every member's log, newest first.
    pub fn log_tails(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let log = m.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                format!(
                    "--- member {} (last 40 lines, newest first)\n{}",
                    m.id,
                    tail.join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Writes every member's configuration and starts them.
    fn configure_all(
        observers: &[bool],
        extra: &dyn Fn(u64) -> String,
        zookeeper_keys_only: bool,
    ) -> Cluster {
        let extra_cfg = extra(0);
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<(u16, u16, u16)> = observers
            .iter()
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let servers: String = ports
            .iter()
            .enumerate()
            .map(|(i, (client, peer, election))| {
                let role = if observers[i] { ":observer" } else { "" };
                format!(
                    "server.{}=127.0.0.1:{peer}:{election}{role};127.0.0.1:{client}\n",
                    i + 1
                )
            })
            .collect();
        let members: Vec<Member> = ports
            .iter()
            .enumerate()
            .map(|(i, (client, _, _))| {
                let id = i as u64 + 1;
                let member = Member::configure(dir.path(), id, *client, &servers, &extra(id));
                if zookeeper_keys_only {
                    let cfg = format!(
                        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\nclientPortAddress=127.0.0.1\n{servers}",
                        member.base.join("data").display()
                    );
                    std::fs::write(member.base.join("zoo.cfg"), cfg).unwrap();
                }
                member
            })
            .collect();
        let mut members = members;
        for m in &mut members {
            m.spawn();
        }
        Cluster {
            dir: Some(dir),
            members,
            servers,
            extra_cfg,
        }
    }

    /// True when every running member is a leader or follower.
    pub fn all_serving(&self) -> bool {
        self.members.iter().filter(|m| m.is_running()).all(|m| {
            matches!(
                m.mode().as_deref(),
                Some("leader" | "follower" | "observer")
            )
        }) && self.leader().is_some()
    }

    /// The index of the member whose `srvr` says leader.
    pub fn leader(&self) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.is_running() && m.mode().as_deref() == Some("leader"))
    }

    /// Starts a new member that is not (yet) in the group: its zoo.cfg lists the group and
    /// itself. Returns its index and its `server.N` line (for a reconfig to add it).
    pub fn spawn_joiner(&mut self, observer: bool) -> (usize, String) {
        let id = self.members.len() as u64 + 1;
        let (client, peer, election) = (free_port(), free_port(), free_port());
        let role = if observer {
            ":observer"
        } else {
            ":participant"
        };
        let line = format!("server.{id}=127.0.0.1:{peer}:{election}{role};127.0.0.1:{client}");
        let servers = format!("{}{line}\n", self.servers);
        let dir = self.dir.as_ref().expect("cluster dir").path().to_path_buf();
        let mut member = Member::configure(&dir, id, client, &servers, &self.extra_cfg);
        member.spawn();
        self.members.push(member);
        (self.members.len() - 1, line)
    }

    pub fn restart(&mut self, i: usize) {
        self.members[i].kill9();
        self.members[i].spawn();
    }

    /// Waits (≤ `limit`) until every member reports the same (zxid, tree digest) and returns
    /// them, one per member; the last readings if they never agreed.
    pub fn settled_digests(&self, limit: Duration) -> Vec<Option<(i64, i64)>> {
        let mut last = Vec::new();
        wait_until(limit, || {
            last = self.members.iter().map(Member::tree_digest).collect();
            last.iter().all(|d| d.is_some() && *d == last[0])
        });
        last
    }

    /// Cuts member `i` off from every other member (both directions).
    pub fn partition(&self, i: usize) {
        let id = self.members[i].id;
        let others: Vec<u64> = self
            .members
            .iter()
            .map(|m| m.id)
            .filter(|x| *x != id)
            .collect();
        self.members[i].set_faults(&others);
        for m in self.members.iter().filter(|m| m.id != id) {
            m.set_faults(&[id]);
        }
    }

    /// Sets member `i`'s disk fault (`delay=<ms>`, `full`, or empty for none).
    pub fn set_disk_fault(&self, i: usize, fault: &str) {
        std::fs::write(self.members[i].base.join("disk"), fault).expect("disk fault file");
    }

    pub fn heal(&self) {
        for m in &self.members {
            m.set_faults(&[]);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill9();
        }
        // A failed test keeps the members' logs and data for a look.
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                eprintln!("cluster kept in {}", dir.keep().display());
            }
        }
    }
}
