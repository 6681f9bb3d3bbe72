//! A real PostgreSQL for the tests and benches: the server named by DATABASE_URL, or a throwaway
//! one (`initdb` into a temp dir, `postgres` on a free port, as the unprivileged `postgres` user
//! when the tests run as root), stopped and removed when dropped. Each test takes a schema of its
//! own ([`PgServer::fresh_table`]).

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_typed_session::store::sqlx::{self, Connection, Executor};
use actix_typed_session::SessionId;

const INSTALL_HINT: &str = "the PostgreSQL tests need PostgreSQL's server binaries (initdb, \
    postgres): install them (Debian/Ubuntu: `apt-get install postgresql`, macOS: `brew install \
    postgresql`), put their directory in PG_BIN or PATH, or point DATABASE_URL at a running \
    server (postgres://user:pass@127.0.0.1:5432/db) where the user may create schemas";

static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// A PostgreSQL owned by one test, or the shared one named by DATABASE_URL.
pub struct PgServer {
    child: Option<Child>,
    dir: Option<PathBuf>,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    port: u16,
    log_statements: bool,
    /// Where to connect (database `postgres`, user `postgres` on a throwaway server).
    pub url: String,
}

impl PgServer {
    /// DATABASE_URL when set; otherwise a throwaway server.
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            return PgServer {
                child: None,
                dir: None,
                bin: PathBuf::new(),
                owner: None,
                port: 0,
                log_statements: false,
                url,
            };
        }
        Self::spawn(false)
    }

    /// Always a throwaway server (tests that stop it or read its log need their own);
    /// `log_statements`: the server logs every statement it runs (see [`Self::log`]).
    pub fn spawn(log_statements: bool) -> Self {
        let bin = bin_dir().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let n = SERVERS.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "ats-pg-{}-{n}-{}",
            std::process::id(),
            SessionId::generate().log_tag()
        ));
        fs::create_dir_all(&dir).unwrap();
        let owner = if running_as_root() {
            let owner = postgres_user().unwrap_or_else(|| {
                panic!("running as root, and there is no `postgres` user to run PostgreSQL as: {INSTALL_HINT}")
            });
            std::os::unix::fs::chown(&dir, Some(owner.0), Some(owner.1)).unwrap();
            Some(owner)
        } else {
            None
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args([
                "-D",
                "data",
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = owner {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb: {e}; {INSTALL_HINT}"));
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = PgServer {
            child: None,
            dir: Some(dir),
            bin,
            owner,
            port: 0,
            log_statements,
            url: String::new(),
        };
        let mut last_err = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.run() {
                Ok(()) => {
                    server.url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
                    return server;
                }
                Err(e) => last_err = e,
            }
        }
        panic!("could not start PostgreSQL: {last_err}");
    }

    fn dir(&self) -> &Path {
        self.dir.as_deref().expect("a throwaway server")
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("server.log")
    }

    /// Starts `postgres` on `self.port` and waits until it accepts connections.
    fn run(&mut self) -> Result<(), String> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| e.to_string())?;
        let start_len = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.args(["-D", "data", "-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args([
                "-c",
                &format!("unix_socket_directories={}", self.dir().display()),
            ])
            .args(["-c", "fsync=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            .args(["-c", "shared_buffers=64MB"])
            .args([
                "-c",
                "log_min_messages=warning",
                "-c",
                "log_min_error_statement=panic",
            ])
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        if self.log_statements {
            cmd.args(["-c", "log_statement=all"]);
        }
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run postgres: {e}; {INSTALL_HINT}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(self.log_path()).unwrap_or_default();
                return Err(format!(
                    "postgres exited ({status}): {}",
                    &log[(start_len as usize).min(log.len())..]
                ));
            }
            let log = fs::read_to_string(self.log_path()).unwrap_or_default();
            if log[(start_len as usize).min(log.len())..].contains("ready to accept connections") {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("postgres did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops the server (immediate shutdown: like a crash, recovered at the next start).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "QUIT");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again, on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.run() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("restart failed: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Every statement the server logged so far (with `log_statements`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A new schema of its own; answers the table name `<schema>.sessions` for a store.
    pub async fn fresh_table(&self) -> String {
        let schema = format!("t_{}", SessionId::generate().log_tag());
        self.execute(&format!("CREATE SCHEMA {schema}")).await;
        format!("{schema}.sessions")
    }

    /// Runs `sql` (one or more statements) on a connection of its own.
    pub async fn execute(&self, sql: &str) {
        let mut conn = self.connect().await;
        conn.execute(sqlx::raw_sql(sql))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// A connection of its own (retried while the server starts up).
    pub async fn connect(&self) -> sqlx::PgConnection {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match sqlx::PgConnection::connect(&self.url).await {
                Ok(conn) => return conn,
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot connect to {}: {e}", self.url)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.dir.is_none() {
            return;
        }
        self.stop();
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// The directory of `initdb` and `postgres`: PG_BIN, then PATH, then Debian's
/// /usr/lib/postgresql/<version>/bin (the newest).
fn bin_dir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        return has_both(&dir).then_some(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_both(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}
