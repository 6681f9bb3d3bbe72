//! A real redis-server for the tests and benches: spawned on a free port in a temp dir (or
//! REDIS_URL when set), stopped when dropped. Plus a MONITOR reader that counts the commands
//! clients send.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A redis-server owned by one test, or the shared one named by REDIS_URL.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: Option<PathBuf>,
    persistent: bool,
    pub url: String,
}

const INSTALL_HINT: &str = "the Redis tests need a redis-server: install it \
    (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) \
    or point REDIS_URL at a running server (redis://127.0.0.1:6379)";

impl RedisServer {
    /// REDIS_URL when set; otherwise a private redis-server on a free port.
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return RedisServer {
                child: None,
                port: 0,
                dir: None,
                persistent: false,
                url,
            };
        }
        Self::spawn()
    }

    /// Always a private server (tests that kill, pause or count commands need their own).
    pub fn spawn() -> Self {
        Self::spawn_with(false)
    }

    /// A private server that writes every command to its append-only file and fsyncs it before
    /// answering (`appendfsync always`): what it acknowledged survives a kill and restart.
    pub fn spawn_persistent() -> Self {
        Self::spawn_with(true)
    }

    fn spawn_with(persistent: bool) -> Self {
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Self::spawn_on(port, persistent) {
                Ok(server) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("could not start redis-server: {last_err}");
    }

    fn spawn_on(port: u16, persistent: bool) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("ats-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let aof: &[&str] = if persistent {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(aof)
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
                _ => e.to_string(),
            })?;
        let mut server = RedisServer {
            child: Some(child),
            port,
            dir: Some(dir),
            persistent,
            url: format!("redis://127.0.0.1:{port}"),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("redis-server exited: {status}"));
                }
            }
            if self.command("PING").is_ok_and(|r| r.starts_with("+PONG")) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("redis-server did not answer PING within 10 s".into())
    }

    /// Whether this server is private to the test (so it may be killed or paused).
    pub fn is_private(&self) -> bool {
        self.child.is_some()
    }

    /// Sends one inline command on a fresh connection and returns the first reply line.
    pub fn command(&self, line: &str) -> std::io::Result<String> {
        let mut reader = self.send_line(line)?;
        let mut reply = String::new();
        reader.read_line(&mut reply)?;
        Ok(reply)
    }

    /// Sends one inline command whose reply is a bulk string (`CLIENT LIST`, `INFO`) and
    /// returns that string.
    pub fn bulk(&self, line: &str) -> std::io::Result<String> {
        let mut reader = self.send_line(line)?;
        let mut head = String::new();
        reader.read_line(&mut head)?;
        let len: usize = head
            .strip_prefix('$')
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not a bulk string: {head:?}")))?;
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        String::from_utf8(body).map_err(std::io::Error::other)
    }

    /// Sends one inline command on a fresh connection; the reply is to be read from the reader.
    fn send_line(&self, line: &str) -> std::io::Result<BufReader<TcpStream>> {
        let addr = self.addr();
        let mut stream =
            TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{line}\r\n").as_bytes())?;
        Ok(BufReader::new(stream))
    }

    pub fn addr(&self) -> String {
        self.url
            .trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    }

    /// Kills the private server (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the private server from another thread as soon as `when` holds (while requests
    /// are in flight on this one), or after 10 s.
    pub fn kill_when(
        &mut self,
        when: impl Fn() -> bool + Send + 'static,
    ) -> std::thread::JoinHandle<()> {
        let mut child = self.child.take().expect("a private server");
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !when() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        })
    }

    /// Starts the private server again on the same port (and, if persistent, the same data).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "kill() first");
        // Keep the directory: `*self = ..` drops the old value, whose Drop would remove it.
        let dir = self.dir.take();
        let again = Self::spawn_on(self.port, self.persistent).expect("restart redis-server");
        drop(dir);
        *self = again;
    }

    /// A monitor on this server.
    pub fn monitor(&self) -> Monitor {
        Monitor::start(self)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Reads `MONITOR` output: every command clients send, with script-internal ones tagged `lua`.
pub struct Monitor {
    lines: Arc<Mutex<Vec<String>>>,
    server_addr: String,
    seq: Mutex<u32>,
}

impl Monitor {
    fn start(server: &RedisServer) -> Self {
        let mut stream = TcpStream::connect(server.addr()).expect("monitor connection");
        stream.write_all(b"MONITOR\r\n").unwrap();
        let mut ok = [0u8; 5];
        stream.read_exact(&mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            let reader = BufReader::new(stream);
            for line in reader.lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Monitor {
            lines,
            server_addr: server.addr(),
            seq: Mutex::new(0),
        }
    }

    /// Drops what was seen so far (after waiting for a marker, so nothing is in flight).
    pub fn reset(&self) {
        self.sync();
        self.lines.lock().unwrap().clear();
    }

    /// The commands clients sent since the last `reset` (not those run inside scripts, not the
    /// markers), e.g. `["HGETALL", "EVAL"]`.
    pub fn take(&self) -> Vec<String> {
        self.sync();
        let mut lines = self.lines.lock().unwrap();
        let seen: Vec<String> = lines
            .iter()
            .filter(|l| !l.contains(" lua]") && !l.contains("\"ECHO\""))
            .filter_map(|l| l.split('"').nth(1).map(str::to_uppercase))
            .collect();
        lines.clear();
        seen
    }

    /// Like [`take`](Self::take), the whole lines (command and arguments, as MONITOR prints
    /// them).
    pub fn take_lines(&self) -> Vec<String> {
        self.sync();
        let mut lines = self.lines.lock().unwrap();
        let seen = lines
            .iter()
            .filter(|l| !l.contains(" lua]") && !l.contains("\"ECHO\""))
            .cloned()
            .collect();
        lines.clear();
        seen
    }

    /// The commands that scripts ran since the last `reset` (MONITOR's `lua` lines).
    pub fn take_script_commands(&self) -> Vec<String> {
        self.sync();
        let mut lines = self.lines.lock().unwrap();
        let seen = lines
            .iter()
            .filter(|l| l.contains(" lua]"))
            .filter_map(|l| l.split('"').nth(1).map(str::to_uppercase))
            .collect();
        lines.clear();
        seen
    }

    /// Sends a marker and waits until the monitor has printed it: every earlier command is in.
    fn sync(&self) {
        let mut seq = self.seq.lock().unwrap();
        *seq += 1;
        let marker = format!("ats-marker-{}", *seq);
        let mut stream = TcpStream::connect(&self.server_addr).unwrap();
        stream
            .write_all(format!("ECHO {marker}\r\n").as_bytes())
            .unwrap();
        let mut buf = [0u8; 64];
        let _ = stream.read(&mut buf).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(&marker))
        {
            assert!(Instant::now() < deadline, "monitor did not see the marker");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A three-node Redis Cluster (no replicas) of private servers, stopped when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn spawn() -> Self {
        let nodes: Vec<RedisServer> = (0..3).map(|_| Self::node()).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| panic!("redis-cli --cluster create: {e}; {INSTALL_HINT}"));
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.nodes.iter().all(|n| n.cluster_ok()) {
            assert!(Instant::now() < deadline, "cluster did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    fn node() -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("ats-cluster-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                ])
                .args(["--cluster-config-file", "nodes.conf"])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{e}: {INSTALL_HINT}"));
            let mut server = RedisServer {
                child: Some(child),
                port,
                dir: Some(dir),
                persistent: false,
                url: format!("redis://127.0.0.1:{port}"),
            };
            if server.wait_ready().is_ok() {
                return server;
            }
        }
        panic!("could not start a cluster node");
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }
}

impl RedisServer {
    fn cluster_ok(&self) -> bool {
        let Ok(addr) = self.addr().parse() else {
            return false;
        };
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"CLUSTER INFO\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).contains("cluster_state:ok")
    }
}
