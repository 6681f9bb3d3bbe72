//! Load generator: the counter app under 64 keep-alive connections for a fixed time, on the
//! memory store or on Redis. Reports requests, errors, lost updates and the process RSS.
//!
//! ```text
//! cargo run --release --bin load -- [memory|redis] [fresh|serial|keys] [seconds] [connections]
//! ```
//! - `fresh`: every connection has its own session and increments its counter; at the end the
//!   counters add up to the number of requests.
//! - `serial`: all connections share one session and take turns (one request at a time); the
//!   final counter equals the number of requests.
//! - `keys`: all connections share one session *concurrently*; connection `c` keeps its request
//!   count under its own key `c<c>`; at the end every key holds its connection's final count
//!   (the per-key merge: no request's save clobbers another connection's key).
//!
//! Redis: `REDIS_URL`, or else a private `redis-server` started on a free port for the run.
//! Traffic goes to 127.0.0.1 only; the run stops by itself.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_typed_session::store::{MemoryStore, RedisStore};
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::{web, App, HttpServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn counter(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("counter")?.unwrap_or(0) + 1;
    session.set("counter", n)?;
    Ok(n.to_string())
}

async fn mark(
    session: Session,
    path: web::Path<(String, u64)>,
) -> Result<&'static str, SessionError> {
    let (key, n) = path.into_inner();
    session.set(key, n)?;
    Ok("ok")
}

/// `key=value` lines of the session's numeric values.
async fn dump(session: Session) -> Result<String, SessionError> {
    let mut out = String::new();
    for key in session.keys() {
        let value: u64 = session.get(&key)?.unwrap_or(0);
        out.push_str(&format!("{key}={value}\n"));
    }
    Ok(out)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// One keep-alive HTTP/1.1 connection; just enough of a client for this app.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

struct Reply {
    status: u16,
    body: String,
    cookie: Option<String>,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    async fn get(&mut self, path: &str, cookie: Option<&str>) -> std::io::Result<Reply> {
        let cookie = cookie
            .map(|c| format!("Cookie: id={c}\r\n"))
            .unwrap_or_default();
        let req = format!("GET {path} HTTP/1.1\r\nHost: load\r\n{cookie}\r\n");
        self.stream.write_all(req.as_bytes()).await?;
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let len: usize = header(&head, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while self.buf.len() < end + 4 + len {
                    self.fill().await?;
                }
                let body = String::from_utf8_lossy(&self.buf[end + 4..end + 4 + len]).into_owned();
                self.buf.drain(..end + 4 + len);
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let cookie = header(&head, "set-cookie")
                    .and_then(|v| v.strip_prefix("id="))
                    .map(|v| v.split(';').next().unwrap_or("").to_owned());
                return Ok(Reply {
                    status,
                    body,
                    cookie,
                });
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A private redis-server for the run, killed on drop.
struct Redis(std::process::Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> (String, Option<Redis>) {
    if let Ok(url) = std::env::var("REDIS_URL") {
        return (url, None);
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server) or REDIS_URL");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (format!("redis://127.0.0.1:{port}"), Some(Redis(child)))
}

fn main() -> std::io::Result<()> {
    // The session layer reports through `tracing` (a tampered cookie, a store that fails): show
    // its events on the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store_kind = args.first().map_or("memory", String::as_str).to_owned();
    let mode = args.get(1).map_or("fresh", String::as_str).to_owned();
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let connections: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let (redis_url, _redis) = if store_kind == "redis" {
        let (url, child) = start_redis();
        (Some(url), child)
    } else {
        (None, None)
    };

    // The server: its own thread, its own actix system, two workers.
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let middleware = match redis_url {
                Some(url) => SessionMiddleware::new(RedisStore::from_url(&url).unwrap()),
                None => SessionMiddleware::new(MemoryStore::default()),
            };
            HttpServer::new(move || {
                App::new()
                    .wrap(middleware.clone())
                    .route("/", web::get().to(counter))
                    .route("/mark/{k}/{n}", web::get().to(mark))
                    .route("/dump", web::get().to(dump))
            })
            .workers(2)
            .listen(listener)
            .unwrap()
            .run()
            .await
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // Warm up, then measure the RSS the run starts from.
        let mut probe = loop {
            match Conn::open(&addr).await {
                Ok(c) => break c,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        for _ in 0..1000 {
            probe.get("/", None).await?;
        }
        let rss_start = rss_kib();
        let shared = match mode.as_str() {
            "fresh" => None,
            _ => Some(
                probe
                    .get("/", None)
                    .await?
                    .cookie
                    .expect("a session cookie"),
            ),
        };
        let shared = Arc::new(shared);
        let requests = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let lost = Arc::new(AtomicU64::new(0));
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        // RSS every tenth of the run, to tell warm-up from a leak.
        let sampler = tokio::spawn(async move {
            let mut samples = Vec::new();
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(seconds) / 10).await;
                samples.push(rss_kib());
            }
            samples
        });
        let mut tasks = Vec::new();
        for c in 0..connections {
            let (addr, shared, mode) = (addr.clone(), shared.clone(), mode.clone());
            let (requests, errors, lost, turn) =
                (requests.clone(), errors.clone(), lost.clone(), turn.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::open(&addr).await?;
                let mut own: Option<String> = None;
                let mut mine = 0u64;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let reply = match mode.as_str() {
                        "fresh" => {
                            let r = conn.get("/", own.as_deref()).await?;
                            if own.is_none() {
                                own = r.cookie.clone();
                            }
                            mine += 1;
                            if r.body != mine.to_string() {
                                lost.fetch_add(1, Ordering::Relaxed);
                            }
                            r
                        }
                        "serial" => {
                            let _turn = turn.lock().await;
                            conn.get("/", shared.as_deref()).await?
                        }
                        _ => {
                            let r = conn
                                .get(&format!("/mark/c{c}/{}", n + 1), shared.as_deref())
                                .await?;
                            if r.status == 200 {
                                n += 1;
                            }
                            r
                        }
                    };
                    requests.fetch_add(1, Ordering::Relaxed);
                    if reply.status != 200 {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::io::Result::Ok((c, n))
            }));
        }
        let mut results = 0;
        let mut finals = std::collections::HashMap::new();
        for t in tasks {
            match t.await {
                Ok(Ok((c, n))) => {
                    finals.insert(format!("c{c}"), n);
                }
                _ => results += 1,
            }
        }
        let rss_end = rss_kib();
        let samples = sampler.await.unwrap_or_default();
        let total = requests.load(Ordering::Relaxed);
        // The warm-up connection has idled past the server's keep-alive: open a fresh one.
        let mut probe = Conn::open(&addr).await?;
        let check = match mode.as_str() {
            "fresh" => format!("lost updates: {}", lost.load(Ordering::Relaxed)),
            "serial" => {
                let last = probe.get("/", shared.as_deref()).await?.body; // one more increment
                let counter: u64 = last.parse().unwrap_or(0);
                format!(
                    "final counter {} = requests {} + 2: {}",
                    counter,
                    total,
                    counter == total + 2
                )
            }
            _ => {
                let dump = probe.get("/dump", shared.as_deref()).await?.body;
                let stored: std::collections::HashMap<String, u64> = dump
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.parse().unwrap_or(0)))
                    .collect();
                let kept = finals
                    .iter()
                    .filter(|(k, n)| stored.get(*k) == Some(n))
                    .count();
                format!(
                    "connection keys holding their final count: {kept}/{}: {}",
                    finals.len(),
                    kept == finals.len()
                )
            }
        };
        println!(
            "store={store_kind} mode={mode} connections={connections} seconds={seconds} \
             requests={total} ({:.0}/s) non-200={} io-errors={results} {check} \
             rss_start={rss_start}KiB rss_end={rss_end}KiB rss_every_tenth={samples:?}",
            total as f64 / seconds as f64,
            errors.load(Ordering::Relaxed),
        );
        std::io::Result::Ok(())
    })
}
