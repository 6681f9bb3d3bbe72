//! [`SessionMiddlewareBuilder`]: the one place where defaults live, and where the settings are
//! checked before any request.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;

use super::SessionMiddleware;
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::codec::Codec;
use crate::config::{
    Config, DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_LAST_SEEN_STEP,
};
use crate::ctx::Ctx;
use crate::error::{ConfigError, ErrorRenderer, SessionError};
use crate::state::IdCarrier;
use crate::store::IntoBackend;

/// What `clear_site_data_on_logout` asks the browser to drop.
const CLEAR_SITE_DATA_VALUE: &str = "\"cookies\", \"storage\"";

/// Default `rotation_grace`.
const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(30);

/// `rotate_every` and its companions, checked.
fn rotation(
    every: Duration,
    grace: Duration,
    on_reuse: crate::Reuse,
    idle: u64,
    client_side: bool,
) -> Result<crate::rotation::Rotation, ConfigError> {
    if client_side {
        return Err(ConfigError(
            "rotate_every needs a server-side store: a client-side store keeps no record of a \
             replaced id, so it could neither let it open the session for a grace window nor \
             detect its reuse"
                .into(),
        ));
    }
    let (every, grace) = (every.as_secs(), grace.as_secs());
    if every == 0 || grace == 0 {
        return Err(ConfigError(
            "rotate_every and rotation_grace must be at least one second".into(),
        ));
    }
    if grace >= every || grace >= idle {
        return Err(ConfigError(format!(
            "rotation_grace ({grace} s) must be shorter than rotate_every ({every} s) and the \
             idle timeout ({idle} s)"
        )));
    }
    Ok(crate::rotation::Rotation {
        every,
        grace,
        on_reuse,
    })
}

/// Builds a [`SessionMiddleware`]; from [`SessionMiddleware::builder`].
///
/// Every setting has a default; `build()` checks the combination (cookie prefix rules, timeouts)
/// and fails before the server starts, never at the first request.
#[must_use]
pub struct SessionMiddlewareBuilder<S> {
    store: S,
    state: IdCarrier,
    idle: Duration,
    absolute: Option<Duration>,
    refresh_step: Option<Duration>,
    last_seen_step: Duration,
    device: crate::device::DeviceSettings,
    confirm_path: Option<String>,
    clock: SharedClock,
    codec: Codec,
    error_response: Option<ErrorRenderer>,
    max_per_user: Option<usize>,
    expiry_header: Option<String>,
    migrations: Vec<crate::migrate::Source>,
    refresh_every: bool,
    events: crate::events::Events,
    rotate_every: Option<Duration>,
    rotation_grace: Duration,
    on_reuse: crate::Reuse,
    clear_site_data: bool,
    #[cfg(feature = "dbsc")]
    dbsc: Option<crate::dbsc::Dbsc>,
}

impl<S: IntoBackend> SessionMiddlewareBuilder<S> {
    pub(crate) fn new(store: S) -> Self {
        SessionMiddlewareBuilder {
            store,
            state: IdCarrier::default(),
            idle: DEFAULT_IDLE_TIMEOUT,
            absolute: Some(DEFAULT_ABSOLUTE_TIMEOUT),
            refresh_step: None,
            last_seen_step: DEFAULT_LAST_SEEN_STEP,
            device: crate::device::DeviceSettings::default(),
            confirm_path: None,
            clock: Arc::new(SystemClock),
            codec: Codec::default(),
            error_response: None,
            max_per_user: None,
            expiry_header: None,
            migrations: Vec::new(),
            refresh_every: false,
            events: crate::events::Events::default(),
            rotate_every: None,
            rotation_grace: DEFAULT_ROTATION_GRACE,
            on_reuse: crate::Reuse::default(),
            clear_site_data: false,
            #[cfg(feature = "dbsc")]
            dbsc: None,
        }
    }

    /// Where the id travels: [`CookieState`](crate::state::CookieState) (default, cookie `id`),
    /// [`HeaderState`](crate::state::HeaderState) or [`QueryState`](crate::state::QueryState).
    pub fn state(mut self, state: impl Into<IdCarrier>) -> Self {
        self.state = state.into();
        self
    }

    /// A session unused this long ends (sliding, enforced server-side). Default: 24 hours.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// A session ends this long after it was created, however busy. Default: 7 days.
    pub fn absolute_timeout(mut self, absolute: Duration) -> Self {
        self.absolute = Some(absolute);
        self
    }

    /// No absolute timeout: only the idle timeout ends a session.
    pub fn no_absolute_timeout(mut self) -> Self {
        self.absolute = None;
        self
    }

    /// An unchanged session's expiry is pushed forward (one store "touch") only when it would
    /// move by more than this. Default: a tenth of the idle timeout.
    pub fn refresh_step(mut self, step: Duration) -> Self {
        self.refresh_step = Some(step);
        self
    }

    /// How fresh the last-seen time of a session tied to a user is kept (what a devices page
    /// shows as [`SessionInfo::last_seen`](crate::SessionInfo::last_seen)): a request that uses
    /// such a session moves it forward (a store "touch") once it is this far behind. Default:
    /// 1 minute, so an active signed-in session costs at most one extra write a minute;
    /// sessions not tied to a user keep the [`refresh_step`](Self::refresh_step). Server-side
    /// stores only: the cookie store's sessions cannot be listed, and each of its touches is a
    /// new cookie. Capped by the refresh step.
    pub fn last_seen_step(mut self, step: Duration) -> Self {
        self.last_seen_step = step;
        self
    }

    /// Whether the device a session signs in from is recorded (default: on): in the response
    /// of the request that ties the session to a user ([`Session::set_user`](crate::Session::set_user)),
    /// its `User-Agent` (up to 512 bytes) and the client IP that [`client_ip`](Self::client_ip)
    /// names are kept in the session under a [reserved key](crate::RESERVED_KEYS), for a devices
    /// page ([`SessionInfo::user_agent`](crate::SessionInfo::user_agent),
    /// [`SessionInfo::ip`](crate::SessionInfo::ip)). An IP address is personal data in the EU:
    /// turn this off, or keep the user agent only with `client_ip(ClientIp::Off)`, where the app
    /// has no use for it. Nothing is recorded on later requests, nor by a client-side store
    /// (the cookie store cannot list its sessions; the device would only make its cookie longer).
    pub fn record_device(mut self, on: bool) -> Self {
        self.device.record = on;
        self
    }

    /// Where the client IP recorded at sign-in comes from: the TCP peer by default
    /// ([`ClientIp::Peer`](crate::ClientIp::Peer)); behind a proxy that sets `Forwarded` or
    /// `X-Forwarded-For` (and drops the client's own), [`ClientIp::Forwarded`](crate::ClientIp::Forwarded);
    /// none, [`ClientIp::Off`](crate::ClientIp::Off). A forwarding header is never trusted by
    /// default.
    pub fn client_ip(mut self, from: crate::ClientIp) -> Self {
        self.device.ip = from;
        self
    }

    /// Where a handler under `#[session(fresh = "..")]` (step-up) sends a session whose user
    /// last proved who they are too long ago: `303 See Other` to this path of the site, with
    /// `?next=` the request's path for a `GET` (the confirm page asks for the password, calls
    /// [`Session::mark_authenticated`](crate::Session::mark_authenticated) and goes back to
    /// [`local_path`](crate::typed::local_path)`(next)`). Without it, or when the id travels
    /// in a header (an API client), such a request is answered `401 Unauthorized`, through the builder's
    /// [`error_response`](Self::error_response) either way (`SessionError::Rejected` with the
    /// key `"__ats_auth"`). `build()` refuses a path that is not a path of this site.
    pub fn confirm_path(mut self, path: impl Into<String>) -> Self {
        self.confirm_path = Some(path.into());
        self
    }

    /// Every request that presents a session value counts as activity, whether or not a
    /// handler uses the session: the session's expiry moves forward as it does when a handler
    /// reads it (a store "touch", only when the expiry would move by more than the
    /// [`refresh_step`](Self::refresh_step); with the cookie store or a persistent cookie,
    /// the value is sent again then). actix-session's `TtlExtensionPolicy::OnEveryRequest`.
    /// Default: off, and a request whose handlers never ask for the session costs nothing.
    ///
    /// The cost: such a request loads the session's metadata from the store (no values: on
    /// Redis one `HMGET` of a few fields) and, once per refresh step, touches it. Nothing else
    /// changes: a value the store does not know starts no session and sends no cookie, the
    /// response gets no `Vary: Cookie` for it, and a store failure during this refresh is
    /// logged and leaves the response as the handler made it.
    pub fn refresh_on_every_request(mut self, on: bool) -> Self {
        self.refresh_every = on;
        self
    }

    /// The clock behind every timeout. Default: the system clock; tests use
    /// [`ManualClock`](crate::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The format of session values. Default: JSON.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The response sent when the session layer fails (store down: 503 `session store
    /// unavailable` by default) and when a guard rejects a request
    /// ([`SessionError::Rejected`]: `401 Unauthorized` as `text/plain` by default). Store
    /// failures are logged before this runs.
    ///
    /// One renderer for every answer the session layer gives instead of the handler's, so a
    /// JSON API needs no actix-web `ErrorHandlers`. `actix_web::ResponseError::error_response(err)`
    /// is the default answer, for the cases a renderer does not change:
    ///
    /// ```
    /// use actix_typed_session::{SessionError, SessionMiddleware};
    /// use actix_typed_session::store::MemoryStore;
    /// use actix_web::{http::StatusCode, HttpResponse, ResponseError};
    ///
    /// let mw = SessionMiddleware::builder(MemoryStore::default())
    ///     .error_response(|err| match err {
    ///         SessionError::Rejected { status, .. } if *status == StatusCode::UNAUTHORIZED => {
    ///             HttpResponse::Unauthorized()
    ///                 .insert_header(("WWW-Authenticate", "Bearer"))
    ///                 .json(serde_json::json!({ "error": "unauthorized" }))
    ///         }
    ///         SessionError::Store(_) => HttpResponse::ServiceUnavailable()
    ///             .json(serde_json::json!({ "error": "unavailable" })),
    ///         other => other.error_response(),
    ///     })
    ///     .build();
    /// ```
    pub fn error_response(
        mut self,
        render: impl Fn(&SessionError) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.error_response = Some(Arc::new(render));
        self
    }

    /// Calls `hook` with each [`SessionEvent`](crate::SessionEvent): a session created, tied to
    /// a user (signed in, with the device), rotated, expired, revoked (by the user, another of
    /// their devices, the cap, an admin) or a request rejected (CSRF, step-up, a guard). For an
    /// audit log, alerts ("new sign-in from …") or your own metrics. Called again, it adds a
    /// hook: every hook gets every event, in the order they were given.
    ///
    /// An event that reports a change is emitted only once the store confirmed it (a failed
    /// save emits nothing), by the app server that made the change; it names the session by
    /// its handle and user, never by its id. The hook runs in the request, before the response
    /// goes out: keep it quick, and hand slow work (a database insert) to a task or a channel.
    /// A hook that panics is logged and the request goes on.
    ///
    /// ```
    /// use actix_typed_session::{store::MemoryStore, SessionEventKind, SessionMiddleware};
    ///
    /// let middleware = SessionMiddleware::builder(MemoryStore::default())
    ///     .on_event(|e| {
    ///         if e.kind == SessionEventKind::Tied {
    ///             tracing::info!(user = ?e.user, agent = ?e.user_agent, "new sign-in");
    ///         }
    ///     })
    ///     .build();
    /// ```
    pub fn on_event(mut self, hook: impl Fn(&crate::SessionEvent) + Send + Sync + 'static) -> Self {
        self.events.add(Arc::new(hook));
        self
    }

    /// Renews a session's id every `every`, on the first request after that which loads the
    /// session (OWASP's periodic renewal), and treats the reuse of a replaced id as theft. Off
    /// by default; server-side stores only (a misconfiguration error otherwise).
    ///
    /// The old id still opens the session for [`rotation_grace`](Self::rotation_grace) (30 s by
    /// default), so requests that were in flight (an app firing several requests at once) are
    /// not logged out; their responses carry the current id. Presented after that, it means two
    /// parties hold the cookie: a [`SessionEventKind::Reused`](crate::SessionEventKind::Reused)
    /// event, and what [`on_reuse`](Self::on_reuse) says (by default the session ends). A
    /// `change_id` (a login, a privilege change) never has a grace window: its old id dies at
    /// once. The CSRF token survives a renewal (forms open in other tabs keep working); it still
    /// changes with `change_id`.
    ///
    /// Each renewal writes a small record for the old id (when, the user and handle, and the new
    /// id sealed with a key only the old id gives), kept as long as the idle timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_typed_session::{store::MemoryStore, Reuse, SessionMiddleware};
    ///
    /// let middleware = SessionMiddleware::builder(MemoryStore::default())
    ///     .rotate_every(Duration::from_secs(15 * 60))
    ///     .rotation_grace(Duration::from_secs(30))
    ///     .on_reuse(Reuse::RevokeUser)
    ///     .build();
    /// ```
    pub fn rotate_every(mut self, every: Duration) -> Self {
        self.rotate_every = Some(every);
        self
    }

    /// How long an id replaced by [`rotate_every`](Self::rotate_every) still opens its session
    /// (default 30 s; at least 1 s, and shorter than `rotate_every`).
    pub fn rotation_grace(mut self, grace: Duration) -> Self {
        self.rotation_grace = grace;
        self
    }

    /// What the reuse of a replaced id after its grace window ends: see [`Reuse`](crate::Reuse)
    /// (default [`Reuse::RevokeSession`](crate::Reuse::RevokeSession)).
    pub fn on_reuse(mut self, policy: crate::Reuse) -> Self {
        self.on_reuse = policy;
        self
    }

    /// On the response of a logout (`#[session(expire)]`, [`Session::expire`](crate::Session::expire)),
    /// also send `Clear-Site-Data: "cookies", "storage"`: the browser drops every cookie and the
    /// storage (local and session storage, IndexedDB, service workers) of the site's origin,
    /// not only the session cookie, so nothing an app kept on the device outlives the logout.
    /// Off by default: it also ends what the app may want kept (a consent cookie, a draft in
    /// local storage). Browsers honour it on HTTPS only; it is not sent for `"cache"` (ask for
    /// it in your own header if cached pages must go too).
    pub fn clear_site_data_on_logout(mut self, on: bool) -> Self {
        self.clear_site_data = on;
        self
    }

    /// Binds signed-in sessions to a key pair the browser keeps (Device Bound Session
    /// Credentials, feature `dbsc`; see [`crate::dbsc`] for the protocol): a copied session
    /// cookie is then useless without a short-lived bound cookie that only that browser can
    /// renew. Browsers without DBSC never register and work as before. Server-side stores only
    /// (a misconfiguration error otherwise).
    #[cfg(feature = "dbsc")]
    pub fn device_bound(mut self, dbsc: crate::dbsc::Dbsc) -> Self {
        self.dbsc = Some(dbsc);
        self
    }

    /// At most `max` sessions per user ([`Session::set_user`](crate::Session::set_user)): when
    /// a request ties one more session to a user, the user's sessions beyond the `max` newest
    /// sign-ins end. Default: no limit.
    ///
    /// Sessions are ranked by sign-in time (milliseconds, by the middleware's clock), then by
    /// handle ([`SessionUser::sign_in_order`](crate::store::SessionUser::sign_in_order)): a
    /// total order that every login agrees on, so logins of one user at the same moment (on
    /// one app server or several) end exactly the sessions beyond the `max` newest, never
    /// more. When logins land in the same millisecond, the handle decides, and a login that
    /// ranks beyond the cap ends at once (its response removes the cookie).
    /// (`users_cap_keeps_exactly_the_newest_under_concurrent_logins` in the conformance suite.) Needs a store with the user index
    /// ([`user_index`](crate::store::SessionStore::user_index): every store of this crate but
    /// the cookie store and the null store); on another store, building the middleware fails
    /// with a [`ConfigError`].
    pub fn max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_per_user = Some(max);
        self
    }

    /// Sends the session's expiry in the response header `name` (e.g. `x-session-expires`),
    /// so an API client knows when it will have to sign in again. Default: not sent.
    ///
    /// The value is the expiry as **Unix seconds** (UTC), e.g. `1767225600`: the idle
    /// deadline, capped by the absolute timeout. It is sent on every response whose session
    /// was saved, touched (its expiry pushed forward) or given a new id; a response that left
    /// the session as it was carries no such header (the last value the client got still
    /// holds), and an ended session carries none. With `late_store` the session is saved after
    /// the response head has left: the header is sent only when that head carries a new id
    /// (a new session, or `change_id`), with the expiry as of then.
    ///
    /// An invalid header name is a [`ConfigError`] from [`try_build`](Self::try_build).
    pub fn expiry_header(mut self, name: &str) -> Self {
        self.expiry_header = Some(name.to_owned());
        self
    }

    /// Sessions may still be in `old`: another store of this crate, or actix-session's
    /// ([`migrate::ActixSessionCookie`](crate::migrate::ActixSessionCookie),
    /// `migrate::ActixSessionRedis`). A visitor whose value this middleware's store does not
    /// know keeps the session `old` holds: it is saved here under a new id on its first use,
    /// and deleted there. Call it once per old source; they are asked in this order. See
    /// [`crate::migrate`] for what holds during the move and how long to keep a source.
    ///
    /// ```
    /// use actix_typed_session::{store::{FileStore, MemoryStore}, SessionMiddleware};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join("ats-doc-migrate");
    /// let sessions = SessionMiddleware::builder(FileStore::new(&dir)?)
    ///     .migrate_from(MemoryStore::default())
    ///     .try_build()?;
    /// # Ok(()) }
    /// ```
    pub fn migrate_from(mut self, old: impl crate::migrate::OldSessions) -> Self {
        self.migrations.push(old.into_source());
        self
    }

    /// Checks the settings and builds the middleware.
    pub fn try_build(self) -> Result<SessionMiddleware, ConfigError> {
        self.state.validate()?;
        if self.idle.as_secs() == 0 {
            return Err(ConfigError(
                "idle_timeout must be at least one second".into(),
            ));
        }
        if self.max_per_user == Some(0) {
            return Err(ConfigError(
                "max_sessions_per_user must be at least 1".into(),
            ));
        }

        if self.absolute.is_some_and(|a| a.as_secs() == 0) {
            return Err(ConfigError(
                "absolute_timeout must be at least one second".into(),
            ));
        }
        let expiry_header = match &self.expiry_header {
            None => None,
            Some(name) => Some(
                actix_web::http::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    ConfigError(format!(
                        "expiry_header: {name:?} is not a valid header name (e.g. \
                         \"x-session-expires\")"
                    ))
                })?,
            ),
        };
        let idle = self.idle.as_secs();
        let refresh_step = self
            .refresh_step
            .map_or(idle / 10, |s| s.as_secs())
            .min(idle);
        // Sessions that live in this process's memory: every worker must hold the same store
        // (checked as workers start, `workers.rs`).
        let process_local = (&self.store as &dyn std::any::Any)
            .downcast_ref::<crate::store::MemoryStore>()
            .map(crate::store::MemoryStore::instance);
        let backend = self.store.into_backend();
        // What a client-side store cannot use (it cannot list its sessions) is off for it:
        // a fresh last-seen time would be a new cookie every minute, a device a longer cookie.
        let client_side = backend.client_side();
        let seen_step = (!client_side).then(|| self.last_seen_step.as_secs().min(refresh_step));
        let device = crate::device::DeviceSettings {
            record: self.device.record && !client_side,
            ..self.device
        };
        if self.max_per_user.is_some() && !backend.lists_users() {
            return Err(ConfigError(format!(
                "max_sessions_per_user needs a store that keeps the user index, and {} does not \
                 (its `user_index()` is `None`): use the memory, file, Redis, PostgreSQL or \
                 SQLite store, or drop the cap",
                std::any::type_name::<S>()
            )));
        }
        if let Some(path) = &self.confirm_path {
            if crate::typed::local_path(path).is_none() {
                return Err(ConfigError(format!(
                    "confirm_path {path:?} is not a path of this site: give an absolute path \
                     such as \"/confirm\""
                )));
            }
        }
        let rotation = match self.rotate_every {
            None => None,
            Some(every) => Some(rotation(
                every,
                self.rotation_grace,
                self.on_reuse,
                idle,
                client_side,
            )?),
        };
        #[cfg(feature = "dbsc")]
        let dbsc = match self.dbsc {
            None => None,
            Some(_) if client_side => {
                return Err(ConfigError(
                    "device_bound (DBSC) needs a server-side store: the browser's key and the \
                     bound cookie are kept with the session"
                        .into(),
                ))
            }
            Some(dbsc) => Some(dbsc.checked().map_err(ConfigError)?),
        };
        let migrations = crate::migrate::Migrations::new(self.migrations)?;
        Ok(SessionMiddleware::from_ctx(Ctx {
            process_local,
            migrations,
            backend,
            config: Config {
                state: self.state,
                idle,
                absolute: self.absolute.map(|a| a.as_secs()),
                refresh_step,
                seen_step,
                device,
                confirm_path: self.confirm_path,
                clock: self.clock,
                codec: self.codec,
                error_response: self.error_response,
                max_per_user: self.max_per_user,
                expiry_header,
                refresh_every: self.refresh_every,
                events: self.events,
                rotation,
                clear_site_data: self.clear_site_data.then(|| {
                    actix_web::http::header::HeaderValue::from_static(CLEAR_SITE_DATA_VALUE)
                }),
                #[cfg(feature = "dbsc")]
                dbsc,
            },
        }))
    }

    /// Checks the settings and builds the middleware.
    ///
    /// # Panics
    /// On a misconfiguration (for example a `__Host-` cookie with a domain), with a message that
    /// says what is wrong. This happens while the app is being built, before any request; use
    /// [`try_build`](Self::try_build) to handle it yourself.
    pub fn build(self) -> SessionMiddleware {
        self.try_build().unwrap_or_else(|e| panic!("{e}"))
    }
}
