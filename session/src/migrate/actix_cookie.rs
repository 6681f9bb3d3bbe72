//! actix-session 0.11's `CookieSessionStore`: the whole state in the session cookie, through the
//! `cookie` crate's private (AES-256-GCM, the default) or signed (HMAC-SHA256) jar with the
//! app's `Key`.

use cookie::{Cookie, CookieJar, Key};

use super::{actix_format, Foreign, Found, Old, OldSessions, Source};
use crate::codec::Codec;
use crate::error::ConfigError;
use crate::state::cookie::read_cookie_in;
use crate::store::{Meta, StoreFuture};
use actix_web::http::header::HeaderValue;

/// How actix-session protected its cookie (`CookieContentSecurity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    Private,
    Signed,
}

/// The app's actix-session key, from its master bytes (`Key::master()`, 64 bytes).
pub(crate) fn key_from(master: &[u8], source: &str) -> Result<Key, String> {
    Key::try_from(master).map_err(|_| {
        format!(
            "{source}: the key must be the app's actix-session `Key`, as `key.master()` (64 \
             bytes), not {} bytes",
            master.len()
        )
    })
}

/// The cookie an actix-session app issues, as both actix-session sources read it: its name and
/// path, the app's key and how the jar protected it.
pub(crate) struct SessionCookie {
    /// `None`: not given yet (the Redis source's `key` is required).
    pub(crate) key: Option<Result<Key, String>>,
    pub(crate) security: Security,
    pub(crate) name: String,
    pub(crate) path: String,
}

impl SessionCookie {
    /// actix-session's defaults: the cookie `id` on `/`.
    pub(crate) fn new(key: Option<Result<Key, String>>, security: Security) -> Self {
        SessionCookie {
            key,
            security,
            name: "id".to_owned(),
            path: "/".to_owned(),
        }
    }

    /// The key's error, if the key given is not one (a missing key is the source's to judge).
    pub(crate) fn key_error(&self) -> Option<ConfigError> {
        match &self.key {
            Some(Err(e)) => Some(ConfigError(e.clone())),
            _ => None,
        }
    }

    /// This cookie's value among the request's `Cookie` headers.
    pub(crate) fn read(&self, cookies: &[HeaderValue]) -> Option<String> {
        read_cookie_in(cookies.iter(), &self.name).map(|v| v.into_owned())
    }

    /// The value actix-session sealed in `value` (`None`: it does not open with the key).
    pub(crate) fn open(&self, value: &str) -> Option<String> {
        let key = self.key.as_ref()?.as_ref().ok()?;
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(self.name.clone(), value.to_owned()));
        let opened = match self.security {
            Security::Private => jar.private(key).get(&self.name),
            Security::Signed => jar.signed(key).get(&self.name),
        };
        opened.map(|c| c.value().to_owned())
    }
}

/// Sessions of actix-session 0.11's `CookieSessionStore`, carried over on first use (see the
/// [module docs](super)).
///
/// ```
/// use actix_typed_session::{migrate, store::MemoryStore, SessionMiddleware};
/// let key = actix_typed_session::cookie::Key::generate(); // the app's existing key
/// let sessions = SessionMiddleware::builder(MemoryStore::default())
///     .migrate_from(migrate::ActixSessionCookie::private(key.master()))
///     .build();
/// ```
///
/// A cookie that does not open with the key (junk, tampered, another key) is no old session:
/// the request gets a fresh one, as for any unusable value.
pub struct ActixSessionCookie {
    cookie: SessionCookie,
}

impl ActixSessionCookie {
    /// Cookies sealed with `CookieContentSecurity::Private` (actix-session's default);
    /// `master` is the app's key as `key.master()`.
    pub fn private(master: &[u8]) -> Self {
        Self::with(master, Security::Private)
    }

    /// Cookies signed with `CookieContentSecurity::Signed`.
    pub fn signed(master: &[u8]) -> Self {
        Self::with(master, Security::Signed)
    }

    fn with(master: &[u8], security: Security) -> Self {
        let key = key_from(master, "ActixSessionCookie");
        ActixSessionCookie {
            cookie: SessionCookie::new(Some(key), security),
        }
    }

    /// The cookie's name, when the app set one (`cookie_name`); default `id`. When it differs
    /// from this middleware's cookie, the response that carries a session over removes it.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// The cookie's path (`cookie_path`), used to remove it; default `/`.
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie.path = path.into();
        self
    }
}

#[allow(private_interfaces)] // see the trait
impl OldSessions for ActixSessionCookie {
    fn into_source(self) -> Source {
        Source::foreign(self)
    }
}

impl Foreign for ActixSessionCookie {
    fn describe(&self) -> &'static str {
        "actix-session cookie"
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.cookie.key_error().map_or(Ok(()), Err)
    }

    fn cookie(&self) -> (&str, &str) {
        (&self.cookie.name, &self.cookie.path)
    }

    fn read(&self, cookies: &[HeaderValue]) -> Option<String> {
        self.cookie.read(cookies)
    }

    fn find(&self, cookie: String, codec: Codec, meta: Meta) -> StoreFuture<'_, Option<Found>> {
        let found = (|| {
            let Some(state) = self.cookie.open(&cookie) else {
                tracing::info!(
                    len = cookie.len(),
                    "cookie does not open as an actix-session cookie (tampered, or another key)"
                );
                return None;
            };
            Some(Found {
                meta,
                values: actix_format::values(&state, codec)?,
                old: Old::Nothing,
                spent: Some(super::spent_id(&self.cookie.name, &cookie)),
            })
        })();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn forget<'a>(&'a self, _: &'a Old) -> StoreFuture<'a, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}
