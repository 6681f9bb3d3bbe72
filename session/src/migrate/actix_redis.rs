//! actix-session 0.11's `RedisSessionStore`: the cookie carries a 64-character session key
//! (through the app's private or signed jar), the Redis key is `cache_keygen(session key)`
//! (the session key itself by default), and the value is the JSON of the session state,
//! written with `SET .. EX ttl`.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;

use super::actix_cookie::{key_from, Security, SessionCookie};
use super::{actix_format, Foreign, Found, Old, OldSessions, Source};
use crate::codec::Codec;
use crate::error::{ConfigError, StoreError};
use crate::store::{Meta, StoreFuture};
use actix_web::http::header::HeaderValue;

/// Sessions of actix-session 0.11's `RedisSessionStore`, read through the app's Redis and
/// carried over on first use (see the [module docs](super)).
///
/// ```no_run
/// # fn f(old_pool: deadpool_redis::Pool) {
/// use actix_typed_session::{migrate, store::MemoryStore, SessionMiddleware};
/// let key = actix_typed_session::cookie::Key::generate(); // the app's existing key
/// let sessions = SessionMiddleware::builder(MemoryStore::default())
///     .migrate_from(migrate::ActixSessionRedis::new(old_pool).key(key.master()))
///     .build();
/// # }
/// ```
///
/// The Redis read happens only for a request whose cookie opens with the key as an
/// actix-session key; the record is deleted (`DEL`) once the session is saved in the new store.
pub struct ActixSessionRedis {
    pool: deadpool_redis::Pool,
    cookie: SessionCookie,
    keygen: Arc<dyn Fn(&str) -> String + Send + Sync>,
    timeout: Duration,
}

impl ActixSessionRedis {
    /// The old sessions, in the Redis behind `pool`. Give the app's key with
    /// [`key`](Self::key) (required: building the middleware fails without it).
    pub fn new(pool: deadpool_redis::Pool) -> Self {
        ActixSessionRedis {
            pool,
            cookie: SessionCookie::new(None, Security::Private),
            keygen: Arc::new(str::to_owned),
            timeout: crate::store::redis::DEFAULT_TIMEOUT,
        }
    }

    /// The longest a read or a delete of an old record may take (the pool's wait for a
    /// connection included); past it the request answers 503, as for the store itself.
    /// Default: 2 s, as `RedisStore`'s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The app's actix-session key, as `key.master()` (64 bytes).
    pub fn key(mut self, master: &[u8]) -> Self {
        self.cookie.key = Some(key_from(master, "ActixSessionRedis"));
        self
    }

    /// The id cookie was signed (`CookieContentSecurity::Signed`), not private (the default).
    pub fn signed(mut self) -> Self {
        self.cookie.security = Security::Signed;
        self
    }

    /// The cookie's name, when the app set one (`cookie_name`); default `id`.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// The cookie's path (`cookie_path`), used to remove it; default `/`.
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = path.into();
        self
    }

    /// The Redis key of a session key, when the app set `cache_keygen` (default: the session
    /// key itself).
    pub fn cache_keygen(mut self, keygen: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.keygen = Arc::new(keygen);
        self
    }
}

#[allow(private_interfaces)] // see the trait
impl OldSessions for ActixSessionRedis {
    fn into_source(self) -> Source {
        Source::foreign(self)
    }
}

/// actix-session's session keys: 64 ASCII alphanumerics.
fn is_session_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn failed(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::new(e)
}

fn timed_out(after: Duration) -> StoreError {
    StoreError::msg(format!(
        "actix-session's Redis did not answer within {after:?}"
    ))
}

impl Foreign for ActixSessionRedis {
    fn describe(&self) -> &'static str {
        "actix-session Redis"
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(err) = self.cookie.key_error() {
            return Err(err);
        }
        match &self.cookie.key {
            Some(_) => Ok(()),
            None => Err(ConfigError(
                "ActixSessionRedis needs the app's actix-session key: \
                 ActixSessionRedis::new(pool).key(key.master())"
                    .into(),
            )),
        }
    }

    fn cookie(&self) -> (&str, &str) {
        (&self.cookie.name, &self.cookie.path)
    }

    fn read(&self, cookies: &[HeaderValue]) -> Option<String> {
        self.cookie.read(cookies)
    }

    fn find(&self, cookie: String, codec: Codec, meta: Meta) -> StoreFuture<'_, Option<Found>> {
        let session_key = match self.cookie.open(&cookie) {
            Some(k) if is_session_key(&k) => Some(k),
            _ => {
                tracing::info!(
                    len = cookie.len(),
                    "cookie does not open as an actix-session key (tampered, or another key)"
                );
                None
            }
        };
        Box::pin(async move {
            let Some(session_key) = session_key else {
                return Ok(None);
            };
            let redis_key = (self.keygen)(&session_key);
            let get = async {
                let mut conn = self.pool.get().await.map_err(failed)?;
                redis::cmd("GET")
                    .arg(&redis_key)
                    .query_async::<Option<String>>(&mut *conn)
                    .await
                    .map_err(failed)
            };
            let state = tokio::time::timeout(self.timeout, get)
                .await
                .map_err(|_| timed_out(self.timeout))??;
            let Some(state) = state else {
                return Ok(None);
            };
            Ok(actix_format::values(&state, codec).map(|values| Found {
                meta,
                values,
                old: Old::Key(redis_key),
                spent: None,
            }))
        })
    }

    fn forget<'a>(&'a self, old: &'a Old) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let Old::Key(key) = old else {
                return Ok(());
            };
            let del = async {
                let mut conn = self.pool.get().await.map_err(failed)?;
                redis::cmd("DEL")
                    .arg(key)
                    .query_async::<()>(&mut *conn)
                    .await
                    .map_err(failed)
            };
            tokio::time::timeout(self.timeout, del)
                .await
                .map_err(|_| timed_out(self.timeout))?
        })
    }
}
