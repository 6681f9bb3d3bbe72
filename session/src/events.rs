//! Session events: what happened to a session ([`SessionEvent`]), delivered to the hooks given to
//! [`on_event`](crate::SessionMiddlewareBuilder::on_event) and, with the `metrics` feature,
//! counted (`telemetry.rs`; the names are in the crate docs, "Metrics").
//!
//! The rules, each kept where the event is emitted:
//!
//! - an event that reports a change (created, tied, rotated, revoked) is emitted after the store
//!   confirmed it: a failed save or revocation emits none (`request/commit.rs`,
//!   `request/users.rs`, `sessions.rs`);
//! - a revocation is emitted by the app server that made it, once, with how many sessions it
//!   ended; the servers that later find those sessions gone emit nothing;
//! - an expiry is emitted when a request presents a session that the store still holds but whose
//!   timeouts have passed (`request/load.rs`); a record the store dropped on its own (a Redis
//!   TTL, a purge) ends without an event, since nothing in the app sees it go;
//! - a rejection is emitted when its response is rendered (an `Option<Guard>` extractor that
//!   swallows it emits none);
//! - an event never carries the session id: the handle names the session.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::store::Handle;

/// Something that happened to a session, as the hooks of
/// [`on_event`](crate::SessionMiddlewareBuilder::on_event) receive it.
///
/// It names the session by its [`handle`](Self::handle) (stable across `change_id`, safe to log
/// and show), never by its id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionEvent {
    /// What happened.
    pub kind: SessionEventKind,
    /// The user the session is tied to (as [`Session::user`](crate::Session::user) gives it),
    /// if any.
    pub user: Option<String>,
    /// The session's handle, for a session tied to a user; `None` for an anonymous session and
    /// for a revocation of several sessions at once ([`sessions`](Self::sessions) says how
    /// many).
    pub handle: Option<Handle>,
    /// How many sessions the event covers: 1, or for a revocation of a user's sessions at once
    /// ("log out everywhere", `expire_others`, [`Sessions::revoke_all`](crate::Sessions::revoke_all))
    /// how many the store ended.
    pub sessions: usize,
    /// For [`SessionEventKind::Tied`]: the `User-Agent` of the sign-in, when the middleware
    /// records devices ([`record_device`](crate::SessionMiddlewareBuilder::record_device)).
    pub user_agent: Option<String>,
    /// For [`SessionEventKind::Tied`]: the client IP of the sign-in, as
    /// [`client_ip`](crate::SessionMiddlewareBuilder::client_ip) reads it.
    pub ip: Option<String>,
    /// When, by the middleware's clock.
    pub at: SystemTime,
}

/// What a [`SessionEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEventKind {
    /// A new session was saved for the first time (a session carried over from an old store
    /// with [`migrate_from`](crate::SessionMiddlewareBuilder::migrate_from) too).
    Created,
    /// The session was tied to a user ([`Session::set_user`](crate::Session::set_user): a
    /// sign-in), and saved.
    Tied,
    /// The session moved to a new id (`change_id`); its handle stays.
    Rotated,
    /// A request presented a session whose timeout had passed.
    Expired(Timeout),
    /// The session was ended on purpose.
    Revoked(RevokedBy),
    /// A request was refused before its handler ran.
    Rejected(Rejection),
    /// An id that [`rotate_every`](crate::SessionMiddlewareBuilder::rotate_every) replaced came
    /// back after its [`rotation_grace`](crate::SessionMiddlewareBuilder::rotation_grace): two
    /// parties hold the session's cookie (a theft signal). What ends next is reported as
    /// [`RevokedBy::Reuse`], as [`on_reuse`](crate::SessionMiddlewareBuilder::on_reuse) says.
    Reused,
}

/// Which timeout ended a session ([`SessionEventKind::Expired`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// Unused for longer than the idle timeout.
    Idle,
    /// Older than the absolute timeout (or its own lifetime, for a remembered session).
    Absolute,
}

/// Who ended a session ([`SessionEventKind::Revoked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokedBy {
    /// The user, from that very session (a logout: `#[session(expire)]`,
    /// [`Session::expire`](crate::Session::expire)), or all of theirs at once from one of them
    /// ("log out everywhere": [`Session::expire_all`](crate::Session::expire_all),
    /// [`Sessions::revoke_all`](crate::Sessions::revoke_all) of their own user).
    User,
    /// The user, from another of their sessions: [`Sessions::revoke`](crate::Sessions::revoke)
    /// of another handle, [`Session::expire_others`](crate::Session::expire_others).
    OtherDevice,
    /// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user): newer
    /// sign-ins of the user filled the cap.
    Cap,
    /// Someone else: [`Sessions`](crate::Sessions) used by a request whose session is not the
    /// user's, or outside a request ([`SessionMiddleware::sessions`](crate::SessionMiddleware::sessions)).
    Admin,
    /// The reuse of a replaced id ([`SessionEventKind::Reused`]), by the policy of
    /// [`on_reuse`](crate::SessionMiddlewareBuilder::on_reuse).
    Reuse,
}

/// Why a request was refused ([`SessionEventKind::Rejected`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The CSRF check of `#[session(csrf)]`.
    Csrf,
    /// Step-up: `#[session(fresh = "..")]` found no recent authentication.
    StepUp,
    /// A guard (a typed session without `Default`) found its value absent: the session key of
    /// the guard's type.
    Guard(&'static str),
    /// A device-bound session (feature `dbsc`) came without its current bound cookie.
    DeviceBound,
}

impl SessionEventKind {
    /// The kind as a short name: `created`, `tied`, `rotated`, `expired`, `revoked`,
    /// `rejected`, `reused` (the `kind` label of the metrics).
    pub fn name(self) -> &'static str {
        match self {
            SessionEventKind::Created => "created",
            SessionEventKind::Tied => "tied",
            SessionEventKind::Rotated => "rotated",
            SessionEventKind::Expired(_) => "expired",
            SessionEventKind::Revoked(_) => "revoked",
            SessionEventKind::Rejected(_) => "rejected",
            SessionEventKind::Reused => "reused",
        }
    }

    /// The reason as a short name, `""` for kinds without one: `idle`, `absolute`; `user`,
    /// `other_device`, `cap`, `admin`, `reuse`; `csrf`, `step_up`, `guard` (the `reason` label of the
    /// metrics).
    pub fn reason(self) -> &'static str {
        match self {
            SessionEventKind::Created
            | SessionEventKind::Tied
            | SessionEventKind::Rotated
            | SessionEventKind::Reused => "",
            SessionEventKind::Expired(Timeout::Idle) => "idle",
            SessionEventKind::Expired(Timeout::Absolute) => "absolute",
            SessionEventKind::Revoked(RevokedBy::User) => "user",
            SessionEventKind::Revoked(RevokedBy::OtherDevice) => "other_device",
            SessionEventKind::Revoked(RevokedBy::Cap) => "cap",
            SessionEventKind::Revoked(RevokedBy::Admin) => "admin",
            SessionEventKind::Revoked(RevokedBy::Reuse) => "reuse",
            SessionEventKind::Rejected(Rejection::Csrf) => "csrf",
            SessionEventKind::Rejected(Rejection::StepUp) => "step_up",
            SessionEventKind::Rejected(Rejection::Guard(_)) => "guard",
            SessionEventKind::Rejected(Rejection::DeviceBound) => "device_bound",
        }
    }
}

impl SessionEvent {
    /// An event of `kind` about one session, at `millis` (Unix milliseconds).
    pub(crate) fn new(kind: SessionEventKind, millis: u64) -> Self {
        SessionEvent {
            kind,
            user: None,
            handle: None,
            sessions: 1,
            user_agent: None,
            ip: None,
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(millis),
        }
    }

    /// The same event about the session of `user` (raw bytes, shown lossily as text).
    pub(crate) fn of(mut self, user: Option<&crate::store::SessionUser>) -> Self {
        if let Some(user) = user {
            self.user = Some(String::from_utf8_lossy(&user.id).into_owned());
            self.handle = Some(user.handle.clone());
        }
        self
    }
}

/// A hook given to [`on_event`](crate::SessionMiddlewareBuilder::on_event).
pub(crate) type Hook = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

/// A middleware's listeners: its hooks, and the metrics when the feature is on.
#[derive(Clone, Default)]
pub(crate) struct Events {
    hooks: Vec<Hook>,
}

impl Events {
    /// Adds a hook (after those given before: each event reaches every hook, in order).
    pub(crate) fn add(&mut self, hook: Hook) {
        self.hooks.push(hook);
    }

    /// Whether anything listens: when nothing does, no event is built.
    pub(crate) fn listening(&self) -> bool {
        cfg!(feature = "metrics") || !self.hooks.is_empty()
    }

    /// Reports an event of `kind` about `sessions` sessions: counted (feature `metrics`), and,
    /// when a hook listens, built by `make` and handed to every hook. A hook that panics is
    /// logged and the request goes on (its answer is not the hook's to change).
    pub(crate) fn emit(
        &self,
        kind: SessionEventKind,
        sessions: usize,
        make: impl FnOnce() -> SessionEvent,
    ) {
        crate::telemetry::event(kind.name(), kind.reason(), sessions);
        if self.hooks.is_empty() {
            return;
        }
        let event = make();
        for hook in &self.hooks {
            if catch_unwind(AssertUnwindSafe(|| hook(&event))).is_err() {
                tracing::error!(
                    kind = event.kind.name(),
                    "a session event hook panicked; the event is lost for it, the request goes on"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_hook_gets_the_event_and_a_panicking_one_stops_nothing() {
        let seen = Arc::new(AtomicUsize::new(0));
        let mut events = Events::default();
        events.add(Arc::new(|_: &SessionEvent| panic!("hook bug")));
        let counter = seen.clone();
        events.add(Arc::new(move |e: &SessionEvent| {
            assert_eq!(e.kind, SessionEventKind::Created);
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        events.emit(SessionEventKind::Created, 1, || {
            SessionEvent::new(SessionEventKind::Created, 1_000)
        });
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn nothing_listens_without_a_hook_unless_metrics_count() {
        assert_eq!(Events::default().listening(), cfg!(feature = "metrics"));
        let mut events = Events::default();
        events.add(Arc::new(|_: &SessionEvent| {}));
        assert!(events.listening());
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn every_kind_and_reason_is_counted() {
        for kind in [
            SessionEventKind::Created,
            SessionEventKind::Tied,
            SessionEventKind::Rotated,
            SessionEventKind::Expired(Timeout::Idle),
            SessionEventKind::Expired(Timeout::Absolute),
            SessionEventKind::Revoked(RevokedBy::User),
            SessionEventKind::Revoked(RevokedBy::OtherDevice),
            SessionEventKind::Revoked(RevokedBy::Cap),
            SessionEventKind::Revoked(RevokedBy::Admin),
            SessionEventKind::Revoked(RevokedBy::Reuse),
            SessionEventKind::Reused,
            SessionEventKind::Rejected(Rejection::Csrf),
            SessionEventKind::Rejected(Rejection::StepUp),
            SessionEventKind::Rejected(Rejection::Guard("user")),
            SessionEventKind::Rejected(Rejection::DeviceBound),
        ] {
            assert!(
                crate::telemetry::counts(kind.name(), kind.reason()),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn names_and_reasons_are_metric_labels() {
        let kind = SessionEventKind::Revoked(RevokedBy::OtherDevice);
        assert_eq!((kind.name(), kind.reason()), ("revoked", "other_device"));
        let kind = SessionEventKind::Rejected(Rejection::Guard("user"));
        assert_eq!((kind.name(), kind.reason()), ("rejected", "guard"));
    }
}
