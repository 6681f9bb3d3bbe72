//! Typed, lazy session management for [actix-web](https://actix.rs).
//!
//! A [`SessionMiddleware`] keeps per-visitor state across requests. As in Perl's
//! Plack::Middleware::Session it has two halves:
//!
//! - a **state** ([`state`]) that carries the session id: a cookie (default), a header or a query
//!   parameter;
//! - a **store** ([`store`]) that keeps the data: [`store::MemoryStore`] (the embedded default),
//!   [`store::FileStore`], `store::RedisStore` (feature `redis`), [`store::CookieStore`] (the
//!   whole session sealed in the cookie), [`store::NullStore`], or your own
//!   [`store::SessionStore`].
//!
//! Handlers take a [`Session`](struct@Session) argument, or a typed session struct (below); a
//! middleware inside the session middleware gets the same handle from [`SessionExt`].
//! Nothing is loaded until one does, and nothing is written unless something changed: a visitor
//! who stores nothing gets no cookie. When the handler returns, the middleware commits by the
//! rules [below](#when-the-session-is-written): `expire` beats `change_id` beats `no_store`; a
//! 5xx response commits nothing but a logout.
//!
//! # Quick start
//!
//! ```
//! use actix_typed_session::{store::MemoryStore, Session, SessionError, SessionMiddleware};
//! use actix_web::{test, web, App};
//!
//! async fn counter(session: Session) -> Result<String, SessionError> {
//!     let n: u32 = session.get("counter")?.unwrap_or(0) + 1;
//!     session.set("counter", n)?; // saved when the handler returns
//!     Ok(format!("you've been here {n} times"))
//! }
//!
//! # #[actix_web::main]
//! # async fn main() {
//! let store = MemoryStore::default();
//! let app = test::init_service(
//!     App::new()
//!         .wrap(SessionMiddleware::new(store.clone()))
//!         .route("/", web::get().to(counter)),
//! )
//! .await;
//!
//! let res = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
//! let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
//! assert!(cookie.starts_with("id=") && cookie.contains("HttpOnly"));
//! assert_eq!(test::read_body(res).await, "you've been here 1 times");
//! assert_eq!(store.len(), 1);
//! # }
//! ```
//!
//! In a server, build the store once and clone it into the `HttpServer` factory so every worker
//! shares it (see [`SessionMiddleware`]).
//!
//! # Configuration
//!
//! ```
//! use std::time::Duration;
//! use actix_typed_session::{state::CookieState, store::MemoryStore, SessionMiddleware};
//! use actix_typed_session::cookie::SameSite;
//!
//! let middleware = SessionMiddleware::builder(MemoryStore::default())
//!     .state(CookieState::new("__Host-sid").same_site(SameSite::Strict))
//!     .idle_timeout(Duration::from_secs(30 * 60))
//!     .absolute_timeout(Duration::from_secs(12 * 3600))
//!     .build();
//! ```
//!
//! # Typed sessions
//!
//! `#[derive(Session)]` on a `Serialize + Deserialize` struct stores it under one key and makes it
//! an extractor. Change it in the handler; it is saved when the handler returns. A type with
//! `Default` is never absent; one without is a guard (401 when absent); `Option<T>` gives `None`.
//!
//! ```
//! use actix_typed_session::Session;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Session, Serialize, Deserialize, Default)]
//! #[session(key = "cart")] // below the derive
//! struct Cart {
//!     items: Vec<String>,
//! }
//!
//! async fn add(mut cart: Cart) -> &'static str {
//!     cart.items.push("tea".into()); // saved when the handler returns: no save call
//!     "added"
//! }
//! ```
//!
//! The write-back rules, their limits and advice for changing a type between deploys are in
//! [`typed`]; the attributes in [`derive@Session`].
//!
//! # Per-request options
//!
//! [`Session::expire`] (logout), [`Session::change_id`] (login: a new id against fixation),
//! [`Session::no_store`] (drop this request's changes) and [`Session::late_store`] (save after a
//! streamed body) are Plack's per-request options. On a handler, the attribute
//! [`#[session(..)]`](macro@session) sets them: `#[session(change_id)]`, `#[session(expire)]`,
//! `#[session(no_store)]`, `#[session(late_store)]` or `#[session(change_id, late_store)]`.
//!
//! # When the session is written
//!
//! When the request ends, the first row that applies decides:
//!
//! | options / state | store | client |
//! |---|---|---|
//! | `expire` (beats all, even a 5xx) | delete the stored record | removal cookie |
//! | response is 5xx | nothing | nothing |
//! | session never loaded | nothing | nothing |
//! | `change_id` (even with `no_store`) | move the session to a new id with this request's changes, if it still lives | the new id; a removal if it ended meanwhile |
//! | `no_store` | nothing | nothing |
//! | id older than `rotate_every` (not under `late_store`) | move the session to a new id; the old one opens it for `rotation_grace` | the new id |
//! | data changed | save the changed keys | id when new, or to refresh a persistent cookie |
//! | new and still empty | nothing | nothing |
//! | unchanged, stored | touch, when the expiry moves by more than the refresh step | a persistent cookie, when touched |
//!
//! A client-side store (the session sealed in the cookie) gets its value sent after every save
//! or touch, since the data travels with it. With `late_store` the store work waits for the end
//! of the response body; the new or rotated id still goes out with the head. (`ARCHITECTURE.md`
//! in the repository says where each rule lives.)
//!
//! # Users and their sessions
//!
//! [`Session::set_user`] ties a session to a user (at login, in the same write as its data);
//! the store indexes it, and [`Sessions`] (an extractor, or [`SessionMiddleware::sessions`]
//! outside a request) lists a user's sessions ([`SessionInfo`]: handle, created, last seen,
//! expires, current, read-only values but the crate's own, [`RESERVED_KEYS`]), ends one by its
//! handle, or all of them.
//! [`Session::expire_all`] logs out everywhere, [`Session::expire_others`] everywhere else, and
//! [`SessionMiddlewareBuilder::max_sessions_per_user`] caps how many sessions one user holds.
//! Every store of this crate keeps the index but the cookie store, which can revoke all of a
//! user's cookies when given a server-side store for it
//! ([`CookieStoreBuilder::revocations`](store::CookieStoreBuilder::revocations)); a store
//! without the index answers [`SessionError::Unsupported`]. `examples/devices.rs` is a "your
//! devices" page.
//!
//! # Events
//!
//! [`SessionMiddlewareBuilder::on_event`] gives a hook each [`SessionEvent`]: a session created,
//! tied to a user (with the device it signed in from), rotated, expired, revoked (and by whom:
//! [`RevokedBy`]), a request rejected (CSRF, step-up, a guard: [`Rejection`]), or an id that
//! [`SessionMiddlewareBuilder::rotate_every`] replaced presented again (a stolen cookie); for an audit
//! log, "new sign-in" alerts or your own counters. A change is reported only once the store
//! confirmed it, by the app server that made it, naming the session by its handle and user,
//! never by its id; see the builder method for the rules.
//!
//! # Metrics
//!
//! With the feature `metrics`, the session layer records through the
//! [`metrics`](https://docs.rs/metrics) facade (install any of its exporters in the app):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `session_events_total` | counter | `kind` ([`SessionEventKind::name`]), `reason` ([`SessionEventKind::reason`]) |
//! | `session_store_seconds` | histogram | `op`: `load`, `save`, `touch`, `delete`, `change_id`, `list`, `revoke`, `revoke_all`, `revoked` (a client-side store's revocation check) |
//! | `session_store_errors_total` | counter | `op`, as above |
//!
//! Without the feature nothing is recorded and the calls are compiled out.
//!
//! # Stores
//!
//! | store | where | per-key merge | notes |
//! |---|---|---|---|
//! | [`store::MemoryStore`] | this process | yes | default; bounded (approximate LRU), no copies on load; gone on restart |
//! | [`store::FileStore`] | a directory | yes (also across processes sharing it) | atomic writes, mode 0600, file locks, swept |
//! | `store::RedisStore` | Redis / Redis Cluster | yes (hash fields) | one round trip per operation; a tied session's user index entry in the same script (Cluster: one more round trip) |
//! | [`store::CookieStore`] | the client's cookie | — (whole session) | signed or encrypted, key rotation, ≤ 4 KiB |
//! | [`store::NullStore`] | nowhere | — | every request starts afresh |
//!
//! # Feature flags
//!
//! - `redis`: `RedisStore` on deadpool-redis (`cargo add actix-typed-session --features redis`).
//! - `redis-cluster`: `RedisStore::cluster` for Redis Cluster.
//! - `msgpack`, `cbor`: [`codec::Codec`] variants for MessagePack and CBOR values.
//! - `dbsc`: Device Bound Session Credentials ([`SessionMiddlewareBuilder::device_bound`]):
//!   sessions bound to a key the browser keeps, renewed by short-lived cookies.
//! - `metrics`: session events counted and store calls timed through the
//!   [`metrics`](https://docs.rs/metrics) facade (see [Metrics](#metrics)).
//! - `test-helpers`: `testing` for app tests — `TestSession` puts a
//!   session (values, typed values, a user) in place before a request on any store and gives
//!   the `Cookie` header that carries it; `SessionAfter` reads the session a response left
//!   behind (values, rotated, expired, `Set-Cookie`) — plus HTTP test helpers and
//!   `conformance_suite!`, the store test suite every store of this crate passes, to run
//!   against your own store. A signed-in request in one line:
//!   `TestSession::new(&store).put(User { id: 7 }).cookie().await?`.
//!
//! # Security
//!
//! Ids are 192 bits from a CSPRNG seeded by the OS (the thread's ChaCha12 generator) and carry
//! no data. An id the server did not issue, or one
//! that is unknown or expired, is never adopted: the visitor gets a new one. Stores key records by
//! a SHA-256 of the id, and logs name sessions by a short prefix of that hash. Idle and absolute
//! timeouts are checked by the middleware itself, whatever the store does. A failing store gives
//! `503 Service Unavailable` with a fixed short body; details go to the `tracing` log.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod codec;
mod config;
mod csrf;
mod ctx;
#[cfg(feature = "dbsc")]
pub mod dbsc;
mod device;
mod error;
mod events;
mod ext;
mod extract;
pub mod flash;
pub mod id;
mod keys;
pub mod middleware;
pub mod migrate;
mod request;
mod rotation;
mod session;
mod sessions;
pub mod state;
mod step_up;
pub mod store;
mod telemetry;
pub mod typed;

#[cfg(feature = "test-helpers")]
pub mod testing;

/// Entry points into the decode paths, for the fuzz targets in `fuzz/` (feature `fuzzing`; not
/// part of the API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// The cookie state's parse of `Cookie` headers, then the id check.
    pub fn cookie_header(headers: &actix_web::http::header::HeaderMap) -> Option<crate::SessionId> {
        let raw = crate::state::CookieState::default().read(headers)?;
        crate::SessionId::parse(&raw)
    }

    /// The query state's parse.
    pub fn query(query: &str) -> Option<String> {
        crate::state::QueryState::default()
            .read(query)
            .map(|v| v.into_owned())
    }

    /// The file store's decode of a session file.
    pub fn file_record(bytes: &[u8]) -> Option<crate::store::Record> {
        crate::store::file_decode(bytes)
    }

    /// The Redis store's decode of an `HGETALL` reply.
    #[cfg(feature = "redis")]
    pub fn redis_record(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Option<crate::store::Record> {
        crate::store::redis_decode(fields)
    }

    /// The Redis store's decode of a whole session as its load script packs it.
    #[cfg(feature = "redis")]
    pub fn redis_packed(packed: &[u8]) -> Option<crate::store::Record> {
        crate::store::redis_decode_packed(packed)
    }
}

pub use config::{DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_IDLE_TIMEOUT};
pub use csrf::{check_csrf, CsrfToken, CSRF_FORM_FIELD, CSRF_HEADER};
pub use device::ClientIp;
pub use error::{BoxError, ConfigError, ErrorRenderer, SessionError, StoreError};
pub use events::{Rejection, RevokedBy, SessionEvent, SessionEventKind, Timeout};
pub use ext::SessionExt;
pub use flash::{Flash, Level};
pub use id::SessionId;
pub use keys::{CSRF_SESSION_KEY, RESERVED_KEYS};
pub use middleware::SessionMiddleware;
pub use middleware::SessionMiddlewareBuilder;
pub use rotation::Reuse;
pub use session::{Session, SessionStatus};
pub use sessions::{SessionInfo, Sessions};
pub use typed::TypedSession;

// The derive macro shares its name with the `Session` handle (macro and type namespaces), as
// serde's derives share theirs with the traits: `use actix_typed_session::{session, Session};`
// brings the handle, the derive and the handler attribute.
pub use actix_typed_session_derive::{session, Session};

#[doc(hidden)]
pub use typed::private as __private;

/// The README's code, compiled (and run, where it is not `no_run`) as doc tests, so that what a
/// newcomer copies from it compiles. It needs the features the README uses (`redis`,
/// `postgres`, `sqlite`, `dbsc`), which `cargo test --workspace` turns on.
#[cfg(all(
    doctest,
    feature = "redis",
    feature = "postgres",
    feature = "sqlite",
    feature = "dbsc"
))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The `cookie` crate, re-exported for [`cookie::SameSite`] and keys.
pub use cookie;
