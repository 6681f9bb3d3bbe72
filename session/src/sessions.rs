//! [`Sessions`]: every session of a user, for "your devices", "log out everywhere" and admin
//! tools; [`SessionInfo`]: one of them, read-only.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;

use crate::ctx::Ctx;
use crate::error::SessionError;
use crate::events::{RevokedBy, SessionEvent, SessionEventKind};
use crate::store::{Bytes, Handle, Record, UserKey};

/// The sessions of the app's users: list a user's sessions, end one, end them all.
///
/// An extractor (in a handler: `sessions: Sessions`), or
/// [`SessionMiddleware::sessions`](crate::SessionMiddleware::sessions) outside a request (jobs,
/// admin tools). Sessions are tied to a user with [`Session::set_user`](crate::Session::set_user).
///
/// ```no_run
/// use actix_typed_session::{Sessions, SessionError};
///
/// async fn devices(sessions: Sessions) -> Result<String, SessionError> {
///     let mut page = String::new();
///     for s in sessions.of_user("42").await? {
///         let device: Option<String> = s.get("device")?;
///         page += &format!("{} {:?}{}\n", s.handle(), device, if s.is_current() { " (this one)" } else { "" });
///     }
///     Ok(page)
/// }
/// ```
///
/// A store that cannot do it (the cookie store cannot list; a custom store without the index)
/// answers [`SessionError::Unsupported`], never an empty list; a store that fails answers
/// [`SessionError::Store`] (503 through `?`), never "no sessions".
#[derive(Clone)]
pub struct Sessions {
    ctx: Arc<Ctx>,
    /// The request's own session (to mark it current), when extracted in a request.
    /// Read from the request when extracted: no clone of the request is kept.
    current: Option<(crate::Session, Option<crate::request::Pending>)>,
}

impl Sessions {
    pub(crate) fn new(ctx: Arc<Ctx>, current: Option<(crate::Session, &HttpRequest)>) -> Self {
        let current = current.map(|(session, req)| {
            let pending = session.pending(req, crate::store::Fetch::Keys(&[]));
            (session, pending)
        });
        Sessions { ctx, current }
    }

    /// The user and handle of the request's own session, if it is tied to a user (its
    /// metadata is loaded for that, if no handler did).
    async fn current(&self) -> Result<Option<(UserKey, Handle)>, SessionError> {
        let Some((session, pending)) = &self.current else {
            return Ok(None);
        };
        if let Some(pending) = pending.clone() {
            session
                .load_pending(pending, crate::store::Fetch::Keys(&[]))
                .await?;
        }
        Ok(session
            .data()
            .and_then(|d| d.meta().user.as_ref().map(|u| (u.key, u.handle.clone()))))
    }

    /// Who ends `user`'s session `handle` (`None`: several of them) through this value: the
    /// user from that session, or from another of theirs, or someone else.
    async fn revoker(
        &self,
        user: &UserKey,
        handle: Option<&Handle>,
    ) -> Result<RevokedBy, SessionError> {
        Ok(match self.current().await? {
            Some((me, mine)) if me == *user => match handle {
                Some(handle) if *handle != mine => RevokedBy::OtherDevice,
                _ => RevokedBy::User,
            },
            _ => RevokedBy::Admin,
        })
    }

    /// Reports that `ended` sessions of `user` ended (one, `handle`, or several).
    fn revoked(&self, by: RevokedBy, user: &[u8], handle: Option<&Handle>, ended: usize) {
        let at = self.ctx.config.clock.now_millis();
        let kind = SessionEventKind::Revoked(by);
        self.ctx.config.events.emit(kind, ended, || {
            let mut event = SessionEvent::new(kind, at);
            event.user = Some(String::from_utf8_lossy(user).into_owned());
            event.handle = handle.cloned();
            event.sessions = ended;
            event
        });
    }

    /// The time now by the middleware's clock (Unix seconds): what to measure
    /// [`SessionInfo::last_seen`] against ("3 minutes ago"), on the clock that set it (a test's
    /// [`ManualClock`](crate::clock::ManualClock) too).
    pub fn now(&self) -> u64 {
        self.ctx.config.clock.now()
    }

    /// Every live session of `user`, in the order they signed in (oldest first; see
    /// [`SessionInfo::signed_in_at`]), sessions that signed in within the same millisecond in
    /// the order of their handles.
    ///
    /// # Errors
    /// [`SessionError::Store`] when the store fails, [`SessionError::Unsupported`] when it
    /// cannot list.
    pub async fn of_user(&self, user: impl AsRef<[u8]>) -> Result<Vec<SessionInfo>, SessionError> {
        let key = UserKey::of(user);
        let current = self.current().await?.map(|(_, handle)| handle);
        let now = self.ctx.config.clock.now();
        let records = self
            .ctx
            .user_sessions(&key)
            .await
            .map_err(|e| failed(&key, e, "listing a user's sessions failed"))?;
        crate::store::user::note_listed(&key, records.len());
        let mut infos: Vec<SessionInfo> = records
            .into_iter()
            .filter(|r| {
                self.ctx
                    .config
                    .alive(r.meta.created_at, r.meta.expires_at, now)
            })
            .filter_map(|r| SessionInfo::new(r, current.as_ref(), self.ctx.config.codec))
            .map(|mut info| {
                // The request asking is this session's activity: seen now.
                if info.current {
                    info.last_seen = info.last_seen.max(now);
                }
                info
            })
            .collect();
        infos.sort_by(|a, b| {
            (a.signed_in_at, a.handle.as_str()).cmp(&(b.signed_in_at, b.handle.as_str()))
        });
        Ok(infos)
    }

    /// Ends the session of `user` whose handle is `handle`; `Ok(false)` when no session of
    /// `user` has it (a handle of another user's session revokes nothing).
    ///
    /// # Errors
    /// As [`of_user`](Self::of_user).
    pub async fn revoke(
        &self,
        user: impl AsRef<[u8]>,
        handle: &Handle,
    ) -> Result<bool, SessionError> {
        let key = UserKey::of(&user);
        // Who asks, read before the session may end (it may be this request's own).
        let by = match self.ctx.config.events.listening() {
            true => Some(self.revoker(&key, Some(handle)).await?),
            false => None,
        };
        let ended = self
            .ctx
            .revoke(&key, handle)
            .await
            .map_err(|e| failed(&key, e, "revoking a session failed"))?;
        if let (true, Some(by)) = (ended, by) {
            self.revoked(by, user.as_ref(), Some(handle), 1);
        }
        Ok(ended)
    }

    /// Ends every session of `user` (the request's own included: its next request starts
    /// afresh; to end it now, call [`Session::expire_all`](crate::Session::expire_all)).
    /// Returns how many ended, as far as the store can tell.
    ///
    /// # Errors
    /// As [`of_user`](Self::of_user).
    pub async fn revoke_all(&self, user: impl AsRef<[u8]>) -> Result<usize, SessionError> {
        let key = UserKey::of(&user);
        let by = match self.ctx.config.events.listening() {
            true => Some(self.revoker(&key, None).await?),
            false => None,
        };
        let ended = self
            .ctx
            .revoke_all(&key, None)
            .await
            .map_err(|e| failed(&key, e, "revoking a user's sessions failed"))?;
        if let (true, Some(by)) = (ended > 0, by) {
            self.revoked(by, user.as_ref(), None, ended);
        }
        Ok(ended)
    }
}

fn failed(user: &UserKey, e: crate::error::StoreError, what: &str) -> SessionError {
    tracing::error!(user = %user.log_tag(), error = %e, "{what}");
    SessionError::from_store(e)
}

/// One session of a user, as [`Sessions::of_user`] lists it: read-only.
///
/// Its values are the app's: the crate's own bookkeeping in that session, its CSRF token and
/// its waiting flash messages ([`RESERVED_KEYS`](crate::RESERVED_KEYS)), is left out, so
/// [`keys`](Self::keys) never lists them and [`get`](Self::get) of them is `None`.
#[derive(Clone)]
pub struct SessionInfo {
    handle: Handle,
    signed_in_at: u64,
    device: crate::device::Device,
    created_at: u64,
    last_seen: u64,
    expires_at: u64,
    current: bool,
    data: HashMap<String, Bytes>,
    codec: crate::codec::Codec,
}

impl SessionInfo {
    fn new(record: Record, current: Option<&Handle>, codec: crate::codec::Codec) -> Option<Self> {
        let user = record.meta.user?;
        let mut data = record.data;
        let device = crate::device::read(codec, &data).unwrap_or_default();
        // Another session's CSRF secret and flash messages are not for a listing to show.
        data.retain(|key, _| !crate::keys::RESERVED_KEYS.contains(&key.as_str()));
        let signed_in_at = user.sign_in_order(record.meta.created_at).0;
        Some(SessionInfo {
            current: current == Some(&user.handle),
            signed_in_at,
            device,
            handle: user.handle,
            created_at: record.meta.created_at,
            last_seen: record.meta.last_seen,
            expires_at: record.meta.expires_at,
            data,
            codec,
        })
    }

    /// The session's handle: show it, post it back to [`Sessions::revoke`].
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// When the session was tied to its user (signed in), in Unix milliseconds by the
    /// middleware's clock: what [`Sessions::of_user`] lists the sessions by, oldest sign-in
    /// first, and what
    /// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user) ends the
    /// oldest by. Not [`created_at`](Self::created_at): a session made before its sign-in (a
    /// login page's CSRF token) keeps its creation time when it signs in. For a session stored
    /// before stores kept the sign-in time, its creation time.
    pub fn signed_in_at(&self) -> u64 {
        self.signed_in_at
    }

    /// The `User-Agent` the session signed in with (up to 512 bytes), when the middleware
    /// recorded it ([`record_device`](crate::SessionMiddlewareBuilder::record_device), on by
    /// default).
    pub fn user_agent(&self) -> Option<&str> {
        self.device.user_agent.as_deref()
    }

    /// The client IP the session signed in from, as text (`203.0.113.7`, `2001:db8::1`), when
    /// the middleware recorded it: where
    /// [`client_ip`](crate::SessionMiddlewareBuilder::client_ip) says to read it (the TCP peer
    /// by default).
    pub fn ip(&self) -> Option<&str> {
        self.device.ip.as_deref()
    }

    /// When the session was created (Unix seconds).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// When the session was last used (Unix seconds): kept within
    /// [`last_seen_step`](crate::SessionMiddlewareBuilder::last_seen_step) (1 minute by default)
    /// on a server-side store, and now for the session of the request that lists. A request
    /// that never asks for the session does not count (see
    /// [`refresh_on_every_request`](crate::SessionMiddlewareBuilder::refresh_on_every_request)).
    /// [`Sessions::now`] minus it is how long ago, on the same clock.
    pub fn last_seen(&self) -> u64 {
        self.last_seen
    }

    /// When the session ends unless it is used (Unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether this is the session of the request that asked.
    pub fn is_current(&self) -> bool {
        self.current
    }

    /// A copy of the value under `key` in that session (absent, not decodable as `T`, or one of
    /// the crate's [`RESERVED_KEYS`](crate::RESERVED_KEYS): `None`).
    ///
    /// # Errors
    /// None today; the `Result` matches [`Session::get`](crate::Session::get).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        Ok(self
            .data
            .get(key)
            .and_then(|bytes| self.codec.decode(bytes).ok()))
    }

    /// The keys that hold values in that session, but the crate's own
    /// ([`RESERVED_KEYS`](crate::RESERVED_KEYS)).
    pub fn keys(&self) -> Vec<String> {
        self.data.keys().cloned().collect()
    }
}

impl std::fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionInfo")
            .field("handle", &self.handle)
            .field("signed_in_at", &self.signed_in_at)
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .field("expires_at", &self.expires_at)
            .field("current", &self.current)
            .finish()
    }
}
