//! The middleware's settings, as the builder ([`crate::middleware::SessionMiddlewareBuilder`])
//! made them, and the defaults it starts from.

use std::time::Duration;

use actix_web::HttpResponse;

use crate::clock::SharedClock;
use crate::codec::Codec;
use crate::error::{ErrorRenderer, SessionError};
use crate::events::Timeout;
use crate::middleware::render::RenderedError;
use crate::state::IdCarrier;

/// Default idle timeout: 24 hours without a request ends a session.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Default absolute timeout: 7 days after creation a session ends, however busy.
pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Default `last_seen_step`: a signed-in session's last-seen time is at most a minute behind.
pub(crate) const DEFAULT_LAST_SEEN_STEP: Duration = Duration::from_secs(60);

/// Settings shared by every request of one middleware.
pub(crate) struct Config {
    pub(crate) state: IdCarrier,
    pub(crate) idle: u64,
    pub(crate) absolute: Option<u64>,
    pub(crate) refresh_step: u64,
    /// `last_seen_step`: a session tied to a user is touched when its last-seen time is this
    /// far behind (seconds); `None` for a client-side store, whose every touch is a new cookie.
    pub(crate) seen_step: Option<u64>,
    /// `record_device`, `client_ip`.
    pub(crate) device: crate::device::DeviceSettings,
    /// `confirm_path`: where `#[session(fresh = "..")]` sends a stale authentication.
    pub(crate) confirm_path: Option<String>,
    pub(crate) clock: SharedClock,
    pub(crate) codec: Codec,
    pub(crate) error_response: Option<ErrorRenderer>,
    /// `max_sessions_per_user`.
    pub(crate) max_per_user: Option<usize>,
    /// `expiry_header`: the response header that carries the expiry (Unix seconds).
    pub(crate) expiry_header: Option<actix_web::http::header::HeaderName>,
    /// `refresh_on_every_request`: a request that does not use the session still counts as
    /// activity.
    pub(crate) refresh_every: bool,
    /// `on_event`: the hooks session events go to (and the metrics, with the feature).
    pub(crate) events: crate::events::Events,
    /// `rotate_every`, `rotation_grace`, `on_reuse`: ids renewed during a session.
    pub(crate) rotation: Option<crate::rotation::Rotation>,
    /// `clear_site_data_on_logout`: the `Clear-Site-Data` value a logout's response carries.
    pub(crate) clear_site_data: Option<actix_web::http::header::HeaderValue>,
    /// `device_bound`: Device Bound Session Credentials.
    #[cfg(feature = "dbsc")]
    pub(crate) dbsc: Option<crate::dbsc::Dbsc>,
}

impl Config {
    /// When a session that is used at `now` expires: the idle deadline, capped by the absolute one.
    pub(crate) fn expiry(&self, created_at: u64, now: u64) -> u64 {
        self.expiry_with(created_at, now, None)
    }

    /// [`expiry`](Self::expiry) for a session with its own lifetime (`remember`, seconds): its
    /// idle and absolute timeouts are at least that long.
    pub(crate) fn expiry_with(&self, created_at: u64, now: u64, remember: Option<u64>) -> u64 {
        let (idle, absolute) = self.timeouts(remember);
        let idle = now.saturating_add(idle);
        match absolute {
            Some(abs) => idle.min(created_at.saturating_add(abs)),
            None => idle,
        }
    }

    /// The idle and absolute timeouts of a session, with its own lifetime if it has one.
    fn timeouts(&self, remember: Option<u64>) -> (u64, Option<u64>) {
        match remember {
            None => (self.idle, self.absolute),
            Some(r) => (self.idle.max(r), self.absolute.map(|a| a.max(r))),
        }
    }

    /// Whether a record read at `now` is still alive: before its expiry, and within this
    /// middleware's own absolute timeout from its creation (today's, whatever the expiry was
    /// computed with; a remembered session's own, when it has one).
    pub(crate) fn alive(&self, created_at: u64, expires_at: u64, now: u64) -> bool {
        self.alive_with(created_at, expires_at, now, None)
    }

    /// [`alive`](Self::alive) for a session with its own lifetime.
    pub(crate) fn alive_with(
        &self,
        created_at: u64,
        expires_at: u64,
        now: u64,
        remember: Option<u64>,
    ) -> bool {
        expires_at > now
            && self
                .timeouts(remember)
                .1
                .is_none_or(|abs| created_at.saturating_add(abs) > now)
    }

    /// Which timeout ended a session created at `created_at` that is no longer alive at `now`:
    /// the absolute one once it has passed, the idle one otherwise.
    pub(crate) fn ended_by(&self, created_at: u64, now: u64, remember: Option<u64>) -> Timeout {
        match self
            .timeouts(remember)
            .1
            .is_some_and(|abs| created_at.saturating_add(abs) <= now)
        {
            true => Timeout::Absolute,
            false => Timeout::Idle,
        }
    }

    /// Whether a stored expiry is later than this middleware's timeouts could have made it: the
    /// session may have a lifetime of its own (`remember`), to be read before its timeouts apply.
    pub(crate) fn beyond_timeouts(&self, meta: &crate::store::Meta, now: u64) -> bool {
        let seen = meta.last_seen.max(meta.created_at);
        meta.expires_at > seen.saturating_add(self.idle)
            || self
                .absolute
                .is_some_and(|abs| meta.created_at.saturating_add(abs) <= now)
    }

    /// Whether a session last seen at `last_seen` (Unix seconds; 0: unknown) is still within
    /// this middleware's idle timeout at `now`. The load applies it to a record the client
    /// carried (a client-side store's), whose deadline is the one its issuer sealed, under the
    /// timeouts of that deploy: a lower idle timeout then applies to it at once. A server-side
    /// record is held to the deadline its store keeps (see `session::load`).
    pub(crate) fn seen_recently(&self, last_seen: u64, now: u64, remember: Option<u64>) -> bool {
        last_seen == 0 || last_seen.saturating_add(self.timeouts(remember).0) > now
    }

    /// A session's own lifetime in seconds, as [`Session::remember`](crate::Session::remember)
    /// stored it under its reserved key (`None`: none, or a value that does not decode).
    pub(crate) fn remembered(&self, value: Option<&crate::store::Bytes>) -> Option<u64> {
        self.codec
            .decode::<u64>(value?)
            .ok()
            .filter(|secs| *secs > 0)
    }

    /// `err` as an actix-web error answered with the response the builder chose.
    pub(crate) fn rendered(&self, err: SessionError) -> RenderedError {
        RenderedError::new(err, self.error_response.clone())
    }

    pub(crate) fn render(&self, err: &SessionError) -> HttpResponse {
        match &self.error_response {
            Some(render) => render(err),
            None => actix_web::ResponseError::error_response(err),
        }
    }
}
