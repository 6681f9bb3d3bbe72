//! Sessions for app tests: put one in place before a request ([`TestSession`]), read what a
//! response left behind ([`SessionAfter`]).
//!
//! [`TestSession`] writes a real session into the store — a server-side store saves it under a
//! new id, the cookie store seals it — and gives back the `Cookie` header that carries it, ready
//! for [`TestRequest::insert_header`](actix_web::test::TestRequest::insert_header). The one
//! line for the common case:
//!
//! ```text
//! let cookie = TestSession::new(&store).put(User { id: 7 }).cookie().await?;
//! ```
//!
//! [`PutSession::after`] (or [`TestSession::read`] when the request carried no session) reads a
//! response: the session cookie it set or removed, whether the id changed, and the session's
//! values as the store (or the new sealed cookie) holds them after the request.
//!
//! [`TestSession::new`] uses the middleware's defaults (cookie `id`, JSON values, the default
//! timeouts, the system clock). For an app built with other settings, take them from its
//! middleware with [`TestSession::of`].

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, COOKIE, SET_COOKIE};
use cookie::Cookie;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::{SharedClock, SystemClock};
use crate::codec::Codec;
use crate::config::{DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_IDLE_TIMEOUT};
use crate::error::SessionError;
use crate::id::SessionId;
use crate::state::IdCarrier;
use crate::store::backend::BackendRef;
use crate::store::{
    Bytes, Changes, Fetch, Handle, IntoBackend, Meta, Record, SealContext, SessionUser,
};
use crate::typed::TypedSession;
use crate::SessionMiddleware;

/// What a test session is written with: the store and the app's settings.
#[derive(Clone)]
struct Target<'a> {
    store: BackendRef<'a>,
    carrier: IdCarrier,
    codec: Codec,
    idle: u64,
    absolute: Option<u64>,
    clock: SharedClock,
    /// The store's client binding of the request the session is for.
    binding: Option<Vec<u8>>,
}

impl Target<'_> {
    fn name(&self) -> &str {
        self.carrier.name()
    }

    fn seal_context(&self) -> SealContext<'_> {
        self.carrier.seal_context(self.binding.as_deref())
    }

    /// Whether a session is alive now by the app's timeouts (as the middleware checks it).
    fn alive(&self, meta: &Meta) -> bool {
        let now = self.clock.now();
        meta.expires_at > now
            && self
                .absolute
                .is_none_or(|abs| meta.created_at.saturating_add(abs) > now)
    }
}

/// A session to put in place before a request: values, typed values and a user, written into
/// a real store.
///
/// Build it with [`new`](Self::new) (the middleware's defaults) or [`of`](Self::of) (an app's
/// own middleware), add what the session should hold, then [`cookie`](Self::cookie) for the
/// `Cookie` header alone or [`save`](Self::save) for a [`PutSession`] that can also read the
/// response afterwards.
///
/// The builder methods never fail: a value that does not encode is reported by `save` or
/// `cookie`, as a [`SessionError::Encode`] that names its key.
///
/// The session is written as the store's `save` writes any new session (a user set with
/// [`user`](Self::user) is indexed); the middleware's own policies are not applied:
/// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user) does
/// not end a user's older sessions when a test puts one more.
#[must_use = "a TestSession is written by `save().await` or `cookie().await`"]
pub struct TestSession<'a> {
    target: Target<'a>,
    values: Vec<(String, Bytes)>,
    user: Option<SessionUser>,
    /// The CSRF token put in the session by [`csrf`](Self::csrf).
    csrf: Option<[u8; 32]>,
    error: Option<SessionError>,
}

impl std::fmt::Debug for TestSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSession")
            .field("name", &self.target.name())
            .field(
                "keys",
                &self.values.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("user", &self.user)
            .finish()
    }
}

impl<'a> TestSession<'a> {
    /// A session for `store` as [`SessionMiddleware::new`] would keep it: cookie `id`, JSON
    /// values, the default timeouts, the system clock. The app must use this store (a clone of
    /// it: the cookie store's clones share its keys).
    pub fn new<S: IntoBackend>(store: &'a S) -> Self {
        Self::with_target(Target {
            store: store.as_backend(),
            carrier: IdCarrier::default(),
            codec: Codec::default(),
            idle: DEFAULT_IDLE_TIMEOUT.as_secs(),
            absolute: Some(DEFAULT_ABSOLUTE_TIMEOUT.as_secs()),
            clock: Arc::new(SystemClock),
            binding: None,
        })
    }

    /// A session for the app that `middleware` wraps: its store, and its cookie (or header)
    /// name, codec, timeouts and clock.
    pub fn of(middleware: &'a SessionMiddleware) -> Self {
        let ctx = middleware.ctx();
        let config = &ctx.config;
        Self::with_target(Target {
            store: ctx.backend.as_ref(),
            carrier: config.state.clone(),
            codec: config.codec,
            idle: config.idle,
            absolute: config.absolute,
            clock: config.clock.clone(),
            binding: None,
        })
    }

    fn with_target(target: Target<'a>) -> Self {
        TestSession {
            target,
            values: Vec::new(),
            user: None,
            csrf: None,
            error: None,
        }
    }

    /// Holds `value` under `key`, as [`Session::set`](crate::Session::set) would.
    pub fn set<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        let key = key.into();
        match self.target.codec.encode(value) {
            Ok(bytes) => {
                self.values.retain(|(k, _)| *k != key);
                self.values.push((key, Bytes::from(bytes)));
            }
            Err(source) => {
                self.error
                    .get_or_insert(SessionError::Encode { key, source });
            }
        }
        self
    }

    /// Holds a typed session value under its key, as [`Session::put`](crate::Session::put)
    /// would.
    pub fn put<T: TypedSession>(self, value: T) -> Self {
        self.set(T::KEY, &value)
    }

    /// Ties the session to the user `id`, as [`Session::set_user`](crate::Session::set_user)
    /// would: a store with the user index lists it under that user.
    pub fn user(mut self, id: impl AsRef<[u8]>) -> Self {
        self.user = Some(SessionUser::new(id));
        self
    }

    /// Gives the session a CSRF token, as a page that takes a
    /// [`CsrfToken`](crate::CsrfToken) would: [`PutSession::csrf_token`] then hands out masked
    /// forms of it, for the form field [`CSRF_FORM_FIELD`](crate::CSRF_FORM_FIELD) or the header
    /// [`CSRF_HEADER`](crate::CSRF_HEADER) of a `#[session(csrf)]` handler.
    ///
    /// ```
    /// # use actix_typed_session::{store::MemoryStore, testing::TestSession, CSRF_FORM_FIELD};
    /// # #[actix_web::main]
    /// # async fn main() -> Result<(), actix_typed_session::SessionError> {
    /// let store = MemoryStore::default();
    /// let put = TestSession::new(&store).csrf().save().await?;
    /// let req = actix_web::test::TestRequest::post()
    ///     .uri("/cart/tea")
    ///     .insert_header(put.cookie())
    ///     .set_form([(CSRF_FORM_FIELD, put.csrf_token())]);
    /// # let _ = req;
    /// # Ok(())
    /// # }
    /// ```
    pub fn csrf(mut self) -> Self {
        match crate::csrf::new_raw() {
            Ok(raw) => {
                self.csrf = Some(raw);
                let text = crate::csrf::stored_text(&raw);
                return self.set(crate::CSRF_SESSION_KEY, &text);
            }
            Err(err) => {
                self.error.get_or_insert(SessionError::Encode {
                    key: crate::CSRF_SESSION_KEY.to_owned(),
                    source: Box::new(err),
                });
            }
        }
        self
    }

    /// Binds the session to the client that sends `req`, for a store that binds its value to
    /// the client ([`CookieStoreBuilder::bind_to`](crate::store::CookieStoreBuilder::bind_to) and
    /// `bind_to_user_agent`): send the request with the same headers (for example the same
    /// `User-Agent`). Other stores ignore it.
    pub fn for_request(mut self, req: &actix_web::HttpRequest) -> Self {
        self.target.binding = match &self.target.store {
            BackendRef::Client(store) => store.binding(req),
            BackendRef::Server(_) => None,
        };
        self
    }

    /// Writes the session into the store and returns it, with the header that carries it.
    ///
    /// # Errors
    /// A value that did not encode ([`SessionError::Encode`]), a store that failed, or a sealed
    /// session too large for its cookie ([`SessionError::CookieTooLarge`]).
    pub async fn save(self) -> Result<PutSession<'a>, SessionError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let target = self.target;
        let now = target.clock.now();
        let idle = now.saturating_add(target.idle);
        let expires_at = match target.absolute {
            Some(abs) => idle.min(now.saturating_add(abs)),
            None => idle,
        };
        let handle = self.user.as_ref().map(|u| u.handle.clone());
        let meta = Meta::new(now, expires_at).with_user(self.user);
        let csrf = self.csrf;
        let id = SessionId::generate();
        let changes = Changes::full(self.values.iter().cloned());
        let record = Record {
            meta,
            data: self.values.into_iter().collect(),
        };
        let value = match &target.store {
            BackendRef::Server(store) => {
                store
                    .save(&id, &record.meta, &changes)
                    .await
                    .map_err(SessionError::from_store)?;
                id.as_str().to_owned()
            }
            BackendRef::Client(store) => store
                .seal(&id, &record, &target.seal_context())
                .map_err(SessionError::from_store)?
                .ok_or_else(|| SessionError::Encode {
                    key: "<session cookie>".into(),
                    source: "the store kept no value for this session".into(),
                })?,
        };
        target.carrier.check_size(&value)?;
        let header = request_header(&target.carrier, &value)?;
        Ok(PutSession {
            target,
            id,
            value,
            header,
            csrf,
            handle,
        })
    }

    /// Writes the session into the store and returns the header that carries it, for
    /// [`TestRequest::insert_header`](actix_web::test::TestRequest::insert_header).
    ///
    /// # Errors
    /// As [`save`](Self::save).
    pub async fn cookie(self) -> Result<(HeaderName, HeaderValue), SessionError> {
        Ok(self.save().await?.cookie())
    }

    /// Reads what `res` left behind for a request that carried no session (a first visit, a
    /// login from scratch). See [`PutSession::after`].
    ///
    /// # Errors
    /// The store failed to load the session.
    pub async fn read<B>(
        &self,
        res: &ServiceResponse<B>,
    ) -> Result<SessionAfter<'a>, SessionError> {
        SessionAfter::read(&self.target, None, res.headers()).await
    }
}

/// The header of a request that carries `value`: `Cookie: name=value`, or the id header.
fn request_header(
    carrier: &IdCarrier,
    value: &str,
) -> Result<(HeaderName, HeaderValue), SessionError> {
    let invalid = |source: crate::BoxError| SessionError::Encode {
        key: carrier.name().to_owned(),
        source,
    };
    match carrier {
        IdCarrier::Header(state) => Ok((
            state.name().clone(),
            HeaderValue::from_str(value).map_err(|e| invalid(e.into()))?,
        )),
        _ => Ok((
            COOKIE,
            HeaderValue::from_str(&format!("{}={value}", carrier.name()))
                .map_err(|e| invalid(e.into()))?,
        )),
    }
}

/// A session a [`TestSession`] wrote: its id, the value the client holds, and the header to
/// send it with.
pub struct PutSession<'a> {
    target: Target<'a>,
    id: SessionId,
    value: String,
    header: (HeaderName, HeaderValue),
    csrf: Option<[u8; 32]>,
    handle: Option<Handle>,
}

impl std::fmt::Debug for PutSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutSession").field("id", &self.id).finish()
    }
}

impl<'a> PutSession<'a> {
    /// The session id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The session's handle when it is tied to a user ([`TestSession::user`]): what a devices
    /// page shows and [`Sessions::revoke`](crate::Sessions::revoke) takes.
    pub fn handle(&self) -> Option<&Handle> {
        self.handle.as_ref()
    }

    /// What the client holds: the id, or for the cookie store the sealed session.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The request header that carries the session (`Cookie: id=…` by default), for
    /// [`TestRequest::insert_header`](actix_web::test::TestRequest::insert_header).
    pub fn cookie(&self) -> (HeaderName, HeaderValue) {
        self.header.clone()
    }

    /// A freshly masked form of the session's CSRF token (see [`TestSession::csrf`]), as a
    /// form's hidden field or the `X-CSRF-Token` header carries it. Every call masks anew, and
    /// every mask is accepted until the id changes.
    ///
    /// # Panics
    /// When the session was put without [`TestSession::csrf`] (a test mistake, said in the
    /// message), or the OS random source fails.
    pub fn csrf_token(&self) -> String {
        let raw = self.csrf.as_ref().expect(
            "this test session has no CSRF token: build it with `TestSession::new(..).csrf()`",
        );
        crate::csrf::mask(raw).expect("OS random source")
    }

    /// `name=value` for a URL's query, for an app whose id travels in a query parameter.
    pub fn query(&self) -> String {
        format!("{}={}", self.target.name(), self.value)
    }

    /// Reads what `res` (the response to a request that carried this session) left behind.
    ///
    /// # Errors
    /// The store failed to load the session.
    pub async fn after<B>(
        &self,
        res: &ServiceResponse<B>,
    ) -> Result<SessionAfter<'a>, SessionError> {
        SessionAfter::read(
            &self.target,
            Some((&self.id, self.value.as_str())),
            res.headers(),
        )
        .await
    }
}

/// The session a response left behind: its cookie, whether it was rotated or expired, and its
/// values after the request.
pub struct SessionAfter<'a> {
    target: Target<'a>,
    /// What the client holds after the response, while a session is left.
    value: Option<String>,
    cookie: Option<Cookie<'static>>,
    removed: bool,
    rotated: bool,
    id: Option<SessionId>,
    record: Option<Record>,
    codec: Codec,
    header: Option<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for SessionAfter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionAfter")
            .field("cookie", &self.cookie)
            .field("expired", &self.removed)
            .field("rotated", &self.rotated)
            .field("id", &self.id)
            .field("keys", &self.keys())
            .finish_non_exhaustive()
    }
}

impl<'a> SessionAfter<'a> {
    async fn read(
        target: &Target<'a>,
        before: Option<(&SessionId, &str)>,
        headers: &HeaderMap,
    ) -> Result<SessionAfter<'a>, SessionError> {
        let name = target.name();
        let (cookie, sent) = match &target.carrier {
            IdCarrier::Header(state) => (
                None,
                headers
                    .get(state.name())
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            ),
            _ => {
                let cookie = headers
                    .get_all(SET_COOKIE)
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(|v| Cookie::parse(v.to_owned()).ok())
                    .filter(|c| c.name() == name)
                    .last();
                let sent = cookie.as_ref().map(|c| c.value().to_owned());
                (cookie, sent)
            }
        };
        let removed = sent.as_deref() == Some("");
        let value = match (&sent, before) {
            _ if removed => None,
            (Some(sent), _) => Some(sent.clone()),
            (None, Some((_, value))) => Some(value.to_owned()),
            (None, None) => None,
        };
        let (id, record) = match value.as_deref() {
            None => (None, None),
            Some(value) => match &target.store {
                BackendRef::Client(store) => match store.open(value, &target.seal_context()) {
                    None => (None, None),
                    Some((id, record)) => {
                        // A sealed session tied to a user may have been revoked since.
                        let revoked = record.meta.user.is_some()
                            && store
                                .revoked(&record.meta)
                                .await
                                .map_err(SessionError::from_store)?;
                        // And the middleware holds it to the app's idle timeout from the
                        // last-seen time sealed in it.
                        let now = target.clock.now();
                        let idle = record.meta.last_seen == 0
                            || record.meta.last_seen.saturating_add(target.idle) > now;
                        (Some(id), (!revoked && idle).then_some(record))
                    }
                },
                BackendRef::Server(store) => match SessionId::parse(value) {
                    None => (None, None),
                    Some(id) => {
                        let record = store
                            .load(&id, Fetch::All)
                            .await
                            .map_err(SessionError::from_store)?
                            .map(crate::store::Loaded::into_record);
                        (Some(id), record)
                    }
                },
            },
        };
        let record = record.filter(|r| target.alive(&r.meta));
        let rotated = match (before, &id) {
            (Some((old, _)), Some(new)) => old != new,
            _ => false,
        };
        let header = match (&value, &record) {
            (Some(value), Some(_)) => request_header(&target.carrier, value).ok(),
            _ => None,
        };
        let id = id.filter(|_| record.is_some());
        Ok(SessionAfter {
            target: target.clone(),
            value: value.filter(|_| record.is_some()),
            cookie,
            removed,
            rotated,
            id,
            record,
            codec: target.codec,
            header,
        })
    }

    /// Reads what `res` left behind, for the next request, which carried the session this one
    /// describes ([`next_cookie`](Self::next_cookie)): a chain of requests is followed as a
    /// browser follows it, one response after the other.
    ///
    /// ```text
    /// let after_login = put.after(&login_response).await?;
    /// // ... a request with after_login.next_cookie() ...
    /// let after_page = after_login.after(&page_response).await?;
    /// ```
    ///
    /// # Errors
    /// The store failed to load the session.
    pub async fn after<B>(
        &self,
        res: &ServiceResponse<B>,
    ) -> Result<SessionAfter<'a>, SessionError> {
        let before = match (&self.id, &self.value) {
            (Some(id), Some(value)) => Some((id, value.as_str())),
            _ => None,
        };
        SessionAfter::read(&self.target, before, res.headers()).await
    }

    /// The session's `Set-Cookie`, when the response sent one (a new value or the removal):
    /// its attributes are the cookie's (`http_only()`, `same_site()`, `max_age()` …).
    /// Always `None` for an app whose id travels in a header or the query (there is no cookie;
    /// [`expired`](Self::expired) and [`rotated`](Self::rotated) still say what happened for a
    /// header).
    pub fn cookie(&self) -> Option<&Cookie<'static>> {
        self.cookie.as_ref()
    }

    /// Whether the response ended the session: it removed the cookie (a logout).
    pub fn expired(&self) -> bool {
        self.removed
    }

    /// Whether the session now has another id than the one the request carried (a login with
    /// `change_id`).
    pub fn rotated(&self) -> bool {
        self.rotated
    }

    /// Whether a live session is left after the request.
    pub fn exists(&self) -> bool {
        self.record.is_some()
    }

    /// The id of the session left after the request, if one is.
    pub fn id(&self) -> Option<&SessionId> {
        self.id.as_ref()
    }

    /// The whole session left after the request: metadata and encoded values.
    pub fn record(&self) -> Option<&Record> {
        self.record.as_ref()
    }

    /// The value under `key`, decoded with the app's codec; `None` when absent or when no
    /// session is left.
    ///
    /// # Errors
    /// The stored value is not a `T` ([`SessionError::Decode`]).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let Some(bytes) = self.record.as_ref().and_then(|r| r.data.get(key)) else {
            return Ok(None);
        };
        self.codec
            .decode(bytes)
            .map(Some)
            .map_err(|source| SessionError::Decode {
                key: key.to_owned(),
                source,
            })
    }

    /// The typed session value `T`, if the session holds it.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn typed<T: TypedSession>(&self) -> Result<Option<T>, SessionError> {
        self.get(T::KEY)
    }

    /// The handle of the session after the request, when it is tied to a user (as
    /// [`Session::handle`](crate::Session::handle)).
    pub fn handle(&self) -> Option<&Handle> {
        Some(&self.record.as_ref()?.meta.user.as_ref()?.handle)
    }

    /// The user the session is tied to (lossy UTF-8, as [`Session::user`](crate::Session::user)).
    pub fn user(&self) -> Option<String> {
        let user = self.record.as_ref()?.meta.user.as_ref()?;
        Some(String::from_utf8_lossy(&user.id).into_owned())
    }

    /// The keys that hold a value, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .record
            .iter()
            .flat_map(|r| r.data.keys().map(String::as_str))
            .collect();
        keys.sort_unstable();
        keys
    }

    /// A freshly masked form of the CSRF token the session holds after the request (a login
    /// with `change_id` gives it a new one), for the next `#[session(csrf)]` request; `None`
    /// when it holds none.
    ///
    /// # Panics
    /// When the OS random source fails.
    pub fn csrf_token(&self) -> Option<String> {
        let text: String = self.get(crate::CSRF_SESSION_KEY).ok().flatten()?;
        let raw = crate::csrf::raw_from_text(&text)?;
        Some(crate::csrf::mask(&raw).expect("OS random source"))
    }

    /// The request header that carries the session left behind, for the next request.
    pub fn next_cookie(&self) -> Option<(HeaderName, HeaderValue)> {
        self.header.clone()
    }
}
