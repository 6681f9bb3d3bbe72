//! Switching stores without logging anyone out: sessions that an old store still holds are read
//! when the middleware's store does not know them, and carried over on first use.
//!
//! ```no_run
//! # #[cfg(feature = "redis")] fn f(pool: deadpool_redis::Pool, old_pool: deadpool_redis::Pool) {
//! use actix_typed_session::{migrate, store::{MemoryStore, RedisStore}, SessionMiddleware};
//! // the app's existing actix-session key
//! let key = actix_typed_session::cookie::Key::generate();
//!
//! let sessions = SessionMiddleware::builder(RedisStore::new(pool))
//!     // actix-session 0.11's cookie store: its private cookie `id`, with the app's key
//!     .migrate_from(migrate::ActixSessionCookie::private(key.master()))
//!     // actix-session 0.11's Redis store: its id cookie, its records, through the app's Redis
//!     .migrate_from(migrate::ActixSessionRedis::new(old_pool).key(key.master()))
//!     .build();
//! # }
//! ```
//!
//! # What happens to a visitor with an old session
//!
//! On the first request that uses the session (a handler, an extractor, or every request with
//! [`refresh_on_every_request`](crate::SessionMiddlewareBuilder::refresh_on_every_request)), when
//! the middleware's store does not know the value the client presents, each old source is asked
//! in the order they were added. The first that holds a live session gives its values (and, for
//! a store of this crate, its user, handle, sign-in and creation times); the request goes on with
//! them under a **new id** (an old id is never adopted), the commit saves the session in the new
//! store, and only then is the old record deleted and the new value sent. So:
//!
//! - nothing is lost if the new store fails: the commit answers 503 and the old record stays;
//! - a logout on that first request (`expire`) ends the session in both stores, and a response
//!   that saves nothing (a 5xx, `no_store`) leaves the old session where it was;
//! - [`Sessions::of_user`](crate::Sessions::of_user), `revoke`, `revoke_all` and
//!   `max_sessions_per_user` see the sessions still in an old store of this crate that keeps a
//!   user index, and end them there too;
//! - a cookie of another name than the middleware's (`cookie_name` on the actix-session sources)
//!   is removed by the response that carries the session over;
//! - a cookie store (actix-session's, or this crate's) keeps nothing a delete could end, so the
//!   new store keeps a "spent" marker for a carried cookie value (a labelled hash of it, under an
//!   id no client can present, for 400 days): a copy of the old cookie then starts a fresh
//!   session, also after a logout on the first request. A client-side new store has nowhere to
//!   keep it.
//!
//! Two requests that carry the same old session over at the same moment (a page that fires
//! several requests on its first load after the switch) each save a copy under their own new
//! id; the browser keeps the cookie of the response it gets last, and a change that another of
//! those first requests made to its copy is not in it. The old record is gone after the first
//! of them: a request that presents the old value later finds nothing, starts a fresh session,
//! and (unless its handler writes to it) sends no cookie, so it does not replace the carried one.
//!
//! # How long to keep an old source
//!
//! Until the longest session it holds would have expired: its idle timeout (actix-session:
//! the cookie's or the Redis key's TTL, 1 day by default with `PersistentSession`, else the
//! browser session) or the absolute timeout of this crate's old middleware, whichever ends
//! sessions first. Every carried session is logged at INFO (`session carried over`, with the
//! source and how many this process has moved), and
//! [`SessionMiddleware::carried_over`](crate::SessionMiddleware::carried_over) gives the count:
//! when it stops growing for that long, remove the source.
//!
//! # Sources
//!
//! - any store of this crate ([`OldSessions`] is implemented for every store the middleware
//!   takes), with the same state (cookie name) and codec as the new middleware;
//! - [`ActixSessionCookie`]: actix-session's `CookieSessionStore` (private or signed);
//! - `ActixSessionRedis` (feature `redis`): actix-session's `RedisSessionStore`.
//!
//! actix-session keeps each value as the JSON text of what the app inserted; with this crate's
//! default JSON codec those bytes are taken as they are, with another codec they are re-encoded.
//! Keys this crate reserves ([`RESERVED_KEYS`](crate::RESERVED_KEYS)) are dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::header::{HeaderValue, COOKIE};
use actix_web::HttpRequest;

use crate::codec::Codec;
use crate::config::Config;
use crate::error::{ConfigError, SessionError, StoreError};
use crate::id::SessionId;
use crate::store::backend::Backend;
use crate::store::{Bytes, Fetch, Handle, IntoBackend, Meta, Record, StoreFuture, UserKey};

mod actix_cookie;
mod actix_format;
#[cfg(feature = "redis")]
mod actix_redis;

pub use self::actix_cookie::ActixSessionCookie;
#[cfg(feature = "redis")]
pub use self::actix_redis::ActixSessionRedis;

/// Where sessions may still be: what
/// [`SessionMiddlewareBuilder::migrate_from`](crate::SessionMiddlewareBuilder::migrate_from)
/// takes. Implemented for every store of this crate and for the actix-session sources of this
/// module; implemented by this crate only.
#[allow(private_interfaces)] // what it turns into is the middleware's business
pub trait OldSessions: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_source(self) -> Source
    where
        Self: Sized;
}

#[allow(private_interfaces)] // see the trait
impl<T: IntoBackend> OldSessions for T {
    fn into_source(self) -> Source {
        Source::new(Kind::Ours(self.into_backend()), std::any::type_name::<T>())
    }
}

/// One old source, as the middleware holds it.
pub(crate) struct Source {
    kind: Kind,
    name: String,
    moved: AtomicU64,
}

enum Kind {
    /// A store of this crate, read with the middleware's own state and codec.
    Ours(Backend),
    /// Another library's sessions.
    Foreign(Box<dyn Foreign>),
}

impl Source {
    fn new(kind: Kind, name: &str) -> Self {
        let name = name.rsplit("::").next().unwrap_or(name).to_owned();
        Source {
            kind,
            name,
            moved: AtomicU64::new(0),
        }
    }

    pub(crate) fn foreign(source: impl Foreign) -> Self {
        let name = source.describe();
        Source::new(Kind::Foreign(Box::new(source)), name)
    }

    /// What this source reads of a request: its cookie among `cookies` (another library's),
    /// or the middleware's own value `raw` (a store of this crate; a client-side one with the
    /// next of the old stores' client `bindings`).
    fn input(
        &self,
        cookies: &[HeaderValue],
        raw: Option<&str>,
        bindings: &mut impl Iterator<Item = Option<Vec<u8>>>,
    ) -> Option<Input> {
        match &self.kind {
            Kind::Foreign(f) => f.read(cookies).map(|v| (v, None)),
            Kind::Ours(Backend::Server(_)) => raw.map(|v| (v.to_owned(), None)),
            Kind::Ours(Backend::Client(_)) => {
                let old_binding = bindings.next().flatten();
                raw.map(|v| (v.to_owned(), old_binding))
            }
        }
    }
}

/// What an old source found.
pub(crate) struct Found {
    pub(crate) meta: Meta,
    pub(crate) values: HashMap<String, Bytes>,
    pub(crate) old: Old,
    /// For a session that lives only in the client's value (a cookie store), which no delete
    /// can end: the id of the "spent" marker that the new store keeps once it is carried over,
    /// so that a copy of the old value never carries over again.
    pub(crate) spent: Option<SessionId>,
}

/// How long a "spent" marker of a carried client-side value is kept: 400 days, the longest a
/// browser keeps a cookie (RFC 6265bis).
const SPENT_FOR: u64 = 400 * 86_400;

/// The id of the "spent" marker of the client value `value` of the cookie `name`: `!` and 31
/// characters of a labelled hash. `!` is outside the id alphabet, so no client can present it.
pub(crate) fn spent_id(name: &str, value: &str) -> SessionId {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::new()
        .chain_update(b"actix-typed-session migrate spent v1\0")
        .chain_update(name.as_bytes())
        .chain_update([0])
        .chain_update(value.as_bytes())
        .finalize();
    SessionId::internal_digest(b'!', &digest)
}

/// The old record, to forget once its session is saved in the new store.
#[derive(Debug, Clone)]
pub(crate) enum Old {
    /// A session id of a server-side store of this crate.
    Id(SessionId),
    /// A key in another library's store.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Key(String),
    /// Nothing kept on a server (a cookie store): the new value replaces the client's.
    Nothing,
}

/// What the old stores work with: the middleware's settings and its (new) store.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) config: &'a Config,
    pub(crate) backend: &'a Backend,
}

/// A session found in an old source, to go on under a new id (the request's session data is
/// made from it).
pub(crate) struct Carried {
    pub(crate) meta: Meta,
    pub(crate) values: HashMap<String, Bytes>,
    pub(crate) origin: Origin,
    pub(crate) remember: Option<u64>,
}

/// Where a carried session came from (kept with the request's session data).
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    source: usize,
    old: Old,
    spent: Option<SessionId>,
}

/// Another library's session store, read on behalf of the middleware.
pub(crate) trait Foreign: Send + Sync + 'static {
    /// A short name for logs (`actix-session cookie`).
    fn describe(&self) -> &'static str;
    /// Checked when the middleware is built.
    fn validate(&self) -> Result<(), ConfigError>;
    /// The cookie the old sessions travel in: name and path.
    fn cookie(&self) -> (&str, &str);
    /// The old value among the request's `Cookie` headers (its cookie's).
    fn read(&self, cookies: &[HeaderValue]) -> Option<String>;
    /// The old session `value` stands for, if any is live, with its values in `codec`'s format.
    fn find(&self, value: String, codec: Codec, meta: Meta) -> StoreFuture<'_, Option<Found>>;
    /// Deletes the old record.
    fn forget<'a>(&'a self, old: &'a Old) -> StoreFuture<'a, ()>;
}

/// What a request presents to the old sources, read from the request before any load starts
/// (so that no load holds the request), and only what reading is cheap: the request's `Cookie`
/// headers (shared bytes, parsed only if an actix-session source is asked) and the client
/// bindings of old client-side stores of this crate. The middleware's own value is the load's.
#[derive(Default, Clone)]
pub(crate) struct Presented {
    cookies: Vec<HeaderValue>,
    bindings: Vec<Option<Vec<u8>>>,
}

/// One source's input: the old value, and an old client-side store's client binding.
type Input = (String, Option<Vec<u8>>);

/// Every old source of one middleware, in the order they were added.
#[derive(Default)]
pub(crate) struct Migrations {
    sources: Vec<Source>,
}

impl Migrations {
    pub(crate) fn new(sources: Vec<Source>) -> Result<Self, ConfigError> {
        for source in &sources {
            if let Kind::Foreign(f) = &source.kind {
                f.validate()?;
            }
        }
        Ok(Migrations { sources })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Sessions carried over by this process so far, every source together.
    pub(crate) fn moved(&self) -> u64 {
        self.sources
            .iter()
            .map(|s| s.moved.load(Ordering::Relaxed))
            .sum()
    }

    /// What `req` presents to the sources (`own`: whether it carries the middleware's own
    /// value); `None` when it presents nothing any source could read (a new visitor).
    pub(crate) fn presented(&self, req: &HttpRequest, own: bool) -> Option<Presented> {
        let mut presented = Presented::default();
        for source in &self.sources {
            match &source.kind {
                Kind::Foreign(_) if presented.cookies.is_empty() => {
                    presented.cookies = req.headers().get_all(COOKIE).cloned().collect();
                }
                Kind::Ours(Backend::Client(store)) if own => {
                    presented.bindings.push(store.binding(req));
                }
                _ => {}
            }
        }
        (own || !presented.cookies.is_empty()).then_some(presented)
    }

    /// The session the request presented in an old source, carried over: a new id, every value
    /// to be saved in the new store (`binding`: the new store's client binding).
    pub(crate) async fn carry(
        &self,
        env: Env<'_>,
        presented: Presented,
        raw: Option<&str>,
        now: u64,
    ) -> Result<Option<Carried>, SessionError> {
        let mut bindings = presented.bindings.into_iter();
        for (index, source) in self.sources.iter().enumerate() {
            let Some(input) = source.input(&presented.cookies, raw, &mut bindings) else {
                continue;
            };
            let found = find(env, source, input, now).await.map_err(|e| {
                tracing::error!(from = %source.name, error = %e, "reading an old session store failed");
                SessionError::Store(e)
            })?;
            if let Some(found) = found {
                if let Some(marker) = &found.spent {
                    if spent(env.backend, marker, now).await? {
                        tracing::info!(
                            from = %source.name,
                            "an old session value that was carried over or ended already is \
                             presented again (a copy?); starting a new session"
                        );
                        continue;
                    }
                }
                tracing::debug!(from = %source.name, "old session found; carrying it over");
                let origin = Origin {
                    source: index,
                    old: found.old,
                    spent: found.spent,
                };
                let remember = env
                    .config
                    .remembered(found.values.get(crate::keys::REMEMBER_KEY));
                return Ok(Some(Carried {
                    meta: found.meta,
                    values: found.values,
                    origin,
                    remember,
                }));
            }
        }
        Ok(None)
    }

    /// The carried session is saved in the new store (or ended): the old record goes, and a
    /// client-side value is marked spent in the new store.
    pub(crate) async fn forget(&self, env: Env<'_>, origin: Origin) {
        let Some(source) = self.sources.get(origin.source) else {
            return;
        };
        let mut result = match (&source.kind, &origin.old) {
            (Kind::Ours(backend), Old::Id(id)) => backend.delete(id).await,
            (Kind::Foreign(f), old) => f.forget(old).await,
            (Kind::Ours(_), _) => Ok(()),
        };
        if let (Ok(()), Some(marker)) = (&result, &origin.spent) {
            let now = env.config.clock.now();
            let meta = Meta::new(now, now.saturating_add(SPENT_FOR));
            result = env
                .backend
                .save(marker, &meta, &crate::store::Changes::full([]))
                .await;
        }
        match result {
            Ok(()) => {
                let moved = source.moved.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(from = %source.name, moved, "session carried over");
            }
            // The session lives on in the new store under its new id, which the client now
            // holds; the old record is only a copy, which its own expiry will end.
            Err(e) => tracing::warn!(
                from = %source.name,
                error = %e,
                "session carried over, but the old record could not be deleted"
            ),
        }
    }

    /// `expire` on a request whose handler never loaded the session: whatever old session the
    /// request presents ends too.
    pub(crate) async fn forget_presented(
        &self,
        env: Env<'_>,
        req: &HttpRequest,
    ) -> Result<(), SessionError> {
        let raw = env.config.state.read(req);
        let Some(presented) = self.presented(req, raw.is_some()) else {
            return Ok(());
        };
        let mut bindings = presented.bindings.into_iter();
        for (index, source) in self.sources.iter().enumerate() {
            let Some(input) = source.input(&presented.cookies, raw.as_deref(), &mut bindings)
            else {
                continue;
            };
            let found = find(env, source, input, env.config.clock.now())
                .await
                .map_err(SessionError::Store)?;
            if let Some(found) = found {
                let origin = Origin {
                    source: index,
                    old: found.old,
                    spent: found.spent,
                };
                self.forget(env, origin).await;
            }
        }
        Ok(())
    }

    /// The `Set-Cookie` that removes the old cookie of `origin`, when it is not the
    /// middleware's own (which the response replaces anyway).
    pub(crate) fn removal(
        &self,
        origin: &Origin,
        state: &crate::state::IdCarrier,
    ) -> Option<String> {
        let Kind::Foreign(f) = &self.sources.get(origin.source)?.kind else {
            return None;
        };
        let (name, path) = f.cookie();
        if state.kind() == crate::store::CarrierKind::Cookie && state.name() == name {
            return None;
        }
        let mut cookie = cookie::Cookie::build((name.to_owned(), ""))
            .path(path.to_owned())
            .build();
        cookie.make_removal();
        Some(cookie.to_string())
    }

    /// The old stores of this crate that keep a user index.
    fn indexed(&self) -> impl Iterator<Item = &Backend> {
        self.sources.iter().filter_map(|s| match &s.kind {
            Kind::Ours(b) if b.lists_users() => Some(b),
            _ => None,
        })
    }

    /// `user`'s sessions still in an old store, added to `listed` (those already carried over,
    /// found in the new store by their handle, are not listed twice).
    pub(crate) async fn user_sessions(
        &self,
        user: &UserKey,
        listed: &mut Vec<Record>,
    ) -> Result<(), StoreError> {
        for backend in self.indexed() {
            for record in backend.user_sessions(user).await? {
                let handle = record.meta.user.as_ref().map(|u| &u.handle);
                let twice = listed
                    .iter()
                    .any(|r| r.meta.user.as_ref().map(|u| &u.handle) == handle);
                if !twice {
                    listed.push(record);
                }
            }
        }
        Ok(())
    }

    /// Ends `user`'s session `handle` in every old store that keeps a user index.
    pub(crate) async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        let mut ended = false;
        for backend in self.indexed() {
            ended |= backend.revoke(user, handle).await?;
        }
        Ok(ended)
    }

    /// Ends `user`'s sessions but `except` in every old store that keeps a user index.
    pub(crate) async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        let mut ended = 0;
        for backend in self.indexed() {
            ended += backend.revoke_all(user, except).await?;
        }
        Ok(ended)
    }
}

/// Whether the marker `marker` says its client value was carried over already (a client-side
/// new store keeps no marker: never).
async fn spent(backend: &Backend, marker: &SessionId, now: u64) -> Result<bool, SessionError> {
    if backend.client_side() {
        return Ok(false);
    }
    let found = backend
        .load(marker, Fetch::Keys(&[]))
        .await
        .map_err(SessionError::Store)?;
    Ok(found.is_some_and(|loaded| loaded.meta.expires_at > now))
}

/// The live session `req` presents in `source`, if any.
async fn find(
    env: Env<'_>,
    source: &Source,
    (raw, binding): Input,
    now: u64,
) -> Result<Option<Found>, StoreError> {
    let config = env.config;
    match &source.kind {
        Kind::Foreign(f) => {
            let meta = Meta::new(now, config.expiry(now, now));
            f.find(raw, config.codec, meta).await
        }
        Kind::Ours(Backend::Server(store)) => {
            let Some(id) = SessionId::parse(&raw) else {
                return Ok(None);
            };
            let Some(loaded) = store.load(&id, Fetch::All).await? else {
                return Ok(None);
            };
            let record = loaded.into_record();
            let meta = record.meta;
            let remember = config.remembered(record.data.get(crate::keys::REMEMBER_KEY));
            if !config.alive_with(meta.created_at, meta.expires_at, now, remember) {
                return Ok(None);
            }
            Ok(Some(Found {
                meta,
                values: record.data,
                old: Old::Id(id),
                spent: None,
            }))
        }
        Kind::Ours(Backend::Client(store)) => {
            let seal_ctx = config.state.seal_context(binding.as_deref());
            let Some((_, record)) = store.open(&raw, &seal_ctx) else {
                return Ok(None);
            };
            let meta = record.meta;
            let remember = config.remembered(record.data.get(crate::keys::REMEMBER_KEY));
            if !config.seen_recently(meta.last_seen, now, remember)
                || !config.alive_with(meta.created_at, meta.expires_at, now, remember)
            {
                return Ok(None);
            }
            if meta.user.is_some() && store.revoked(&meta).await? {
                return Ok(None);
            }
            Ok(Some(Found {
                meta,
                values: record.data,
                old: Old::Nothing,
                spent: Some(spent_id(config.state.name(), &raw)),
            }))
        }
    }
}
