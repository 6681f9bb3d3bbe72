//! What the suite's tests, benches and performance tools share (not published): real servers to
//! run against ([`redis`], [`postgres`]), log capture, a store that keeps its server alive
//! ([`Guarded`]), raw HTTP over a socket, and the library's own test helpers
//! (`actix_typed_session::testing`, re-exported here); for the measurements, the handlers every
//! tool serves ([`handlers`]) and the median of criterion's samples ([`samples`]).
//!
//! The suite depends on it under the name `support` (`use support::*;`).

pub mod handlers;
pub mod postgres;
pub mod redis;
pub mod samples;

use std::sync::Arc;

use actix_typed_session::store::{Changes, Fetch, IndexRef, Loaded, Meta, SessionStore};
use actix_typed_session::{SessionId, StoreError};

pub use actix_typed_session::testing::*;

/// The conformance suite's app on `$store` with `$clock` (see `testing::conformance::app`).
#[macro_export]
macro_rules! suite_app {
    ($store:expr, $clock:expr) => {
        actix_typed_session::testing::conformance::app($store, $clock).await
    };
}

/// A store that keeps something alive (a redis-server, a temp dir) as long as any clone of it.
#[derive(Clone)]
pub struct Guarded<S> {
    pub store: S,
    pub guard: Arc<dyn std::any::Any + Send + Sync>,
}

impl<S: SessionStore> SessionStore for Guarded<S> {
    async fn load(&self, id: &SessionId, fetch: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        self.store.load(id, fetch).await
    }
    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        self.store.save(id, meta, changes).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.store.delete(id).await
    }
    async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        self.store.change_id(old, new, meta, changes).await
    }
    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        self.store.touch(id, meta).await
    }
    fn user_index(&self) -> Option<IndexRef<'_>> {
        self.store.user_index()
    }
}

/// A unique temp directory, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ats-{tag}-{}-{}",
            std::process::id(),
            SessionId::generate().log_tag()
        ));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything `tracing` writes on this thread while the returned guard lives (all levels, no
/// colours).
///
/// Tests of one binary run on parallel threads, and `tracing` caches per call site whether any
/// subscriber wants its events. While exactly one dispatcher is registered (this one), it
/// computes that for a call site met on another thread from that thread's dispatcher only
/// (none), caches "nobody listens", and the event is then lost here too: the test
/// `a_tampered_value_shows_no_messages` failed 30 times in 60 runs of its binary that way. A
/// second, silent dispatcher kept alive for the whole process makes every call site ask all of
/// them; the cache is rebuilt after installing for call sites met before.
pub fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let captured = Captured::default();
    let subscriber = captured.subscriber(tracing::Level::TRACE);
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    (captured, guard)
}

/// The text a [`capture_logs`] subscriber wrote.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// A subscriber that writes every event up to `level` here, without colours.
    pub fn subscriber(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A reply read from a real socket.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawReply {
    /// The value of the `Set-Cookie` for `name`, if the reply sets it.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.trim().strip_prefix(name)?.strip_prefix('='))
            .map(|v| v.split(';').next().unwrap_or("").to_owned())
            .next()
    }
}

/// One `GET` over a fresh TCP connection (`Connection: close`), so that consecutive calls can
/// land on different workers of a real `HttpServer`.
pub async fn http_get(addr: std::net::SocketAddr, path: &str, cookie: Option<&str>) -> RawReply {
    http_send(addr, "GET", path, cookie, None).await
}

/// One `POST` of the urlencoded `form` over a fresh TCP connection, as [`http_get`].
pub async fn http_post_form(
    addr: std::net::SocketAddr,
    path: &str,
    cookie: Option<&str>,
    form: &str,
) -> RawReply {
    http_send(addr, "POST", path, cookie, Some(form)).await
}

async fn http_send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> RawReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let body = match form {
        Some(form) => format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
        None => "\r\n".to_owned(),
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nUser-Agent: support/1\r\n{cookie}Connection: close\r\n{body}"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    RawReply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// An app under test, as `test::init_service` gives it.
pub trait TestApp:
    actix_web::dev::Service<
    actix_http::Request,
    Response = actix_web::dev::ServiceResponse<Self::Body>,
    Error = actix_web::Error,
>
{
    /// The response body.
    type Body: actix_web::body::MessageBody;
}

impl<S, B> TestApp for S
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    type Body = B;
}
