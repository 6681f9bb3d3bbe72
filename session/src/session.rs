//! The public methods of the untyped [`Session`] handle: an extractor, cheap to clone,
//! `Send + Sync`. (Its state and loading are the request lifecycle's, in `request`.)

use serde::{de::DeserializeOwned, Serialize};

use crate::error::SessionError;
use crate::id::SessionId;
use crate::request::Options;
pub use crate::request::Session;
use crate::store::Bytes;

/// What the middleware will do with the session when the request ends, as far as known now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStatus {
    /// A session that is not in the store and has no data yet: nothing will be written.
    New,
    /// A stored session whose data has not changed.
    Unchanged,
    /// Data changed: it will be saved.
    Changed,
    /// [`Session::change_id`] was called: the data moves to a new id.
    Renewed,
    /// [`Session::expire`] was called: the session ends.
    Expired,
}

impl Session {
    /// The id the client holds once this request is answered: the one the response sends.
    ///
    /// After [`change_id`](Self::change_id) (or on a `#[session(change_id)]` handler) it is the
    /// new id, already chosen, so a JSON login can return it in its body; the old id stops
    /// working when the request ends. For a new session it is the id that is sent and stored
    /// once the session holds data. Not to be logged: logs name a session by
    /// [`SessionId::log_tag`].
    pub fn id(&self) -> SessionId {
        let options = self.options();
        let mut data = self.guard();
        if options.has(Options::CHANGE_ID) && !options.has(Options::EXPIRE) {
            // The commit would draw the new id later; draw it now so that it is the one sent.
            data.rotate();
        }
        data.id().clone()
    }

    /// Whether `key` holds a value (even a JSON `null`).
    pub fn has(&self, key: &str) -> bool {
        self.guard().value(key).is_some()
    }

    /// A copy of the value under `key`, or `None` when absent.
    ///
    /// A stored value that does not decode as `T` (a type changed between deploys, a corrupt
    /// record) reads as absent and is logged at `warn`; it stays stored until overwritten.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for codecs that can fail in other ways.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let (value, id) = {
            let data = self.guard();
            (data.value(key), data.id().clone())
        };
        Ok(value.and_then(|bytes| self.decode_or_warn(&id, key, &bytes)))
    }

    /// Stores `value` under `key`.
    ///
    /// # Errors
    /// [`SessionError::Encode`] when `value` cannot be serialized; the session is unchanged.
    pub fn set<T: Serialize>(&self, key: impl Into<String>, value: T) -> Result<(), SessionError> {
        let key = key.into();
        let bytes = self.encode(&key, &value)?;
        self.guard_mut().set(key, bytes);
        Ok(())
    }

    /// Stores `value` under `key` and returns the value it replaces (`None` when there was none,
    /// or when it did not decode as `T`).
    ///
    /// # Errors
    /// [`SessionError::Encode`] when `value` cannot be serialized; the session is unchanged.
    pub fn replace<T: Serialize + DeserializeOwned>(
        &self,
        key: impl Into<String>,
        value: T,
    ) -> Result<Option<T>, SessionError> {
        let key = key.into();
        let bytes = self.encode(&key, &value)?;
        let old = self.guard_mut().set(key.clone(), bytes);
        self.decode_owned(&key, old)
    }

    /// Changes the value under `key` with `f` (read, change, write back) and returns the new
    /// value; when `key` is absent nothing changes and the answer is `None` (see
    /// [`update_or`](Self::update_or) to start from a default).
    ///
    /// ```
    /// # use actix_typed_session::{Session, SessionError};
    /// async fn visit(session: Session) -> Result<String, SessionError> {
    ///     match session.update("visits", |n: u64| n + 1)? {
    ///         Some(n) => Ok(format!("visit {n}")),
    ///         None => Ok("no counter yet".into()), // and none is created
    ///     }
    /// }
    /// ```
    ///
    /// `f` runs without the session's lock held, so it may use the session; a change it makes
    /// to `key` itself is overwritten by its result.
    ///
    /// # Errors
    /// [`SessionError::Decode`] when the stored value does not decode as `T` (unlike
    /// [`get`](Self::get), which reads it as absent: an update would replace a value it
    /// cannot read); [`SessionError::Encode`] when the new value cannot be serialized. In both
    /// cases the session is unchanged.
    pub fn update<T, F>(&self, key: &str, f: F) -> Result<Option<T>, SessionError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(T) -> T,
    {
        let Some(old) = self.get_strict::<T>(key)? else {
            return Ok(None);
        };
        self.store_new(key, f(old)).map(Some)
    }

    /// Changes the value under `key` with `f`, or stores `default` as it is when `key` is
    /// absent (as actix-session's `update_or` and `HashMap`'s
    /// `entry(key).and_modify(f).or_insert(default)`), and returns the new value: a counter in
    /// one line.
    ///
    /// ```
    /// # use actix_typed_session::{Session, SessionError};
    /// async fn visit(session: Session) -> Result<String, SessionError> {
    ///     let n = session.update_or("visits", 1u64, |n| n + 1)?; // 1 on the first visit
    ///     Ok(format!("visit {n}"))
    /// }
    /// ```
    ///
    /// `f` runs without the session's lock held, as for [`update`](Self::update).
    ///
    /// # Errors
    /// [`SessionError::Decode`] when the stored value does not decode as `T`: it is not
    /// replaced by `default`; [`SessionError::Encode`] when the new value cannot be
    /// serialized. In both cases the session is unchanged.
    pub fn update_or<T, F>(&self, key: &str, default: T, f: F) -> Result<T, SessionError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(T) -> T,
    {
        let new = match self.get_strict::<T>(key)? {
            Some(old) => f(old),
            None => default,
        };
        self.store_new(key, new)
    }

    /// Removes `key`; returns whether it held a value.
    pub fn remove(&self, key: &str) -> bool {
        self.guard_mut().remove(key).is_some()
    }

    /// Removes `key` and returns its value (`None` when absent, or when it did not decode as `T`;
    /// it is removed all the same).
    ///
    /// # Errors
    /// None today; see [`get`](Self::get).
    pub fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let old = self.guard_mut().remove(key);
        self.decode_owned(key, old)
    }

    /// The keys that hold values, in no particular order: the crate's own
    /// ([`RESERVED_KEYS`](crate::RESERVED_KEYS): the CSRF token, waiting flash messages)
    /// included when they hold one ([`SessionInfo::keys`](crate::SessionInfo::keys) leaves them
    /// out).
    pub fn keys(&self) -> Vec<String> {
        self.guard().keys()
    }

    /// How many keys hold values.
    pub fn len(&self) -> usize {
        self.guard().keys().len()
    }

    /// Whether no key holds a value.
    pub fn is_empty(&self) -> bool {
        self.guard().keys().is_empty()
    }

    /// Removes every value (the session itself lives on; see [`expire`](Self::expire)), the
    /// crate's own ([`RESERVED_KEYS`](crate::RESERVED_KEYS)) too: the CSRF token (a form shown
    /// before no longer verifies; the next [`CsrfToken`](crate::CsrfToken) is a new one) and the
    /// flash messages stored in it.
    pub fn clear(&self) {
        self.guard_mut().clear();
    }

    /// Ties the session to the user `user` (any bytes: an id, a name; it is hashed wherever a
    /// store indexes it), so that [`Sessions`](crate::Sessions) can list and end the sessions
    /// of that user. Saved with the request's other changes, in the same write; `change_id`
    /// keeps the user. Tying a session to the user it is tied to already changes nothing.
    ///
    /// Tying records the sign-in time (milliseconds). With
    /// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user), the
    /// user's sessions beyond the newest sign-ins end when this one makes one too many.
    pub fn set_user(&self, user: impl AsRef<[u8]>) {
        let now_ms = self.ctx().config.clock.now_millis();
        self.guard_mut().set_user(user.as_ref(), now_ms);
    }

    /// Records that the user has just proved who they are again in this session (the app
    /// checked their password before a sensitive action): a handler under
    /// `#[session(fresh = "10m")]` then runs for the next ten minutes. Saved with the request's
    /// other changes; kept across `change_id`. Signing in ([`set_user`](Self::set_user)) counts
    /// too, without this call.
    ///
    /// ```
    /// use actix_typed_session::Session;
    ///
    /// async fn confirm(session: Session /* , form: the password */) -> &'static str {
    ///     let password_ok = true; // the app's own check
    ///     if password_ok {
    ///         session.mark_authenticated();
    ///     }
    ///     "confirmed"
    /// }
    /// ```
    pub fn mark_authenticated(&self) {
        let now_ms = self.ctx().config.clock.now_millis();
        let Ok(bytes) = self.encode(crate::keys::AUTH_KEY, &now_ms) else {
            return; // a u64 encodes with every codec
        };
        self.guard_mut()
            .set(crate::keys::AUTH_KEY.to_owned(), bytes);
    }

    /// When the user last proved who they are in this session: the later of its sign-in
    /// ([`set_user`](Self::set_user)) and the last
    /// [`mark_authenticated`](Self::mark_authenticated), by the middleware's clock; `None` for a
    /// session not tied to a user. What `#[session(fresh = "..")]` checks.
    pub fn authenticated_at(&self) -> Option<std::time::SystemTime> {
        let millis = self.authenticated_millis()?;
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis))
    }

    /// [`authenticated_at`](Self::authenticated_at) in Unix milliseconds.
    pub(crate) fn authenticated_millis(&self) -> Option<u64> {
        let signed_in = {
            let data = self.guard();
            let created_at = data.meta().created_at;
            data.meta().user.as_ref()?.sign_in_order(created_at).0
        };
        let marked: u64 = self.get(crate::keys::AUTH_KEY).ok().flatten().unwrap_or(0);
        Some(signed_in.max(marked))
    }

    /// "Keep me signed in": this session, and only this one, lives at least `lifetime` without
    /// a request (its idle timeout) and at least `lifetime` from its creation (its absolute
    /// timeout, when the middleware has one), and its cookie becomes persistent (`Max-Age`: the
    /// time left to its expiry, sent again whenever the expiry moves by more than the refresh
    /// step). Other sessions keep the middleware's timeouts and its cookie.
    ///
    /// Typically in the login handler, after [`set_user`](Self::set_user):
    ///
    /// ```
    /// use std::time::Duration;
    /// use actix_typed_session::Session;
    ///
    /// async fn login(session: Session /* , form: .. */) -> &'static str {
    ///     session.set_user("ann");
    ///     let remember_me = true; // the form's checkbox
    ///     if remember_me {
    ///         session.remember(Duration::from_secs(30 * 86400));
    ///     }
    ///     "signed in"
    /// }
    /// ```
    ///
    /// The lifetime is kept in the session (under a [reserved key](crate::RESERVED_KEYS)), so
    /// it holds on every store and across app servers; `change_id` keeps it, `clear()` drops
    /// it. A lifetime no longer than the middleware's idle timeout changes only the cookie of
    /// this response. Whole seconds; zero is ignored.
    pub fn remember(&self, lifetime: std::time::Duration) {
        let secs = lifetime.as_secs();
        if secs == 0 {
            return;
        }
        let Ok(bytes) = self.encode(crate::keys::REMEMBER_KEY, &secs) else {
            return; // a u64 encodes with every codec
        };
        let mut data = self.guard_mut();
        data.set(crate::keys::REMEMBER_KEY.to_owned(), bytes);
        data.set_remember(Some(secs));
    }

    /// The user the session is tied to ([`set_user`](Self::set_user)), as text (an id that is
    /// not UTF-8 comes back with replacement characters).
    pub fn user(&self) -> Option<String> {
        let data = self.guard();
        let user = data.meta().user.as_ref()?;
        Some(String::from_utf8_lossy(&user.id).into_owned())
    }

    /// The session's public name, once it is tied to a user: stable for its life (but on a
    /// client-side store, see [`expire_others`](Self::expire_others)), never enough to load it;
    /// what [`SessionInfo::handle`](crate::SessionInfo::handle) shows and
    /// [`Sessions::revoke`](crate::Sessions::revoke) takes.
    pub fn handle(&self) -> Option<crate::store::Handle> {
        let data = self.guard();
        data.meta().user.as_ref().map(|u| u.handle.clone())
    }

    /// Ends every session of this session's user when the request ends, this one included
    /// (its cookie is removed): "log out everywhere". A session without a user just ends.
    pub fn expire_all(&self) {
        self.set_option(Options::EXPIRE_ALL | Options::EXPIRE);
    }

    /// Ends every session of this session's user but this one when the request ends (after a
    /// password change, with [`change_id`](Self::change_id)). Nothing happens to a session
    /// without a user.
    ///
    /// With `change_id`, copies of this session's value taken before end too: a server-side
    /// store forgets the old id. The [`CookieStore`](crate::store::CookieStore) (with a
    /// revocation store) cannot forget a cookie: `expire_others` re-ties this session to its
    /// user under a new [`handle`](Self::handle) that only the cookie sealed in this response
    /// carries, so there the copies end with or without `change_id`, and a response that seals
    /// nothing (a 5xx, or [`no_store`](Self::no_store) without `change_id`) ends this session as
    /// well.
    pub fn expire_others(&self) {
        self.set_option(Options::EXPIRE_OTHERS);
    }

    /// Ends the session when the request ends: the store forgets it and the client is told to
    /// drop its cookie. Beats every other option and is honoured even on a 5xx response.
    pub fn expire(&self) {
        self.set_option(Options::EXPIRE);
    }

    /// Moves the session to a new id when the request ends (call it on login, against session
    /// fixation). The old id stops working; the data is saved under the new id even with
    /// [`no_store`](Self::no_store). From now on [`id`](Self::id) returns the new id.
    pub fn change_id(&self) {
        self.set_option(Options::CHANGE_ID);
    }

    /// Saves nothing for this request (changes are dropped), unless the id changes.
    pub fn no_store(&self) {
        self.set_option(Options::NO_STORE);
    }

    /// Saves after the response body has been sent instead of before the response head, so that
    /// a streaming body can still change the session. The price: a client's next request may
    /// race the save.
    pub fn late_store(&self) {
        self.set_option(Options::LATE_STORE);
    }

    /// What the middleware will do with this session, as of now.
    pub fn status(&self) -> SessionStatus {
        let options = self.options();
        let data = self.guard();
        if options.has(Options::EXPIRE) {
            SessionStatus::Expired
        } else if options.has(Options::CHANGE_ID) {
            SessionStatus::Renewed
        } else if data.changed() {
            SessionStatus::Changed
        } else if data.existed() {
            SessionStatus::Unchanged
        } else {
            SessionStatus::New
        }
    }

    /// The value under `key`, for an update: one that does not decode as `T` is an error
    /// (logged as [`get`](Self::get) logs it), not absent.
    fn get_strict<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let (value, id) = {
            let data = self.guard();
            (data.value(key), data.id().clone())
        };
        let Some(bytes) = value else {
            return Ok(None);
        };
        match self.codec().decode(&bytes) {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                let type_name = std::any::type_name::<T>();
                let error_kind = crate::codec::error_kind(&*error);
                tracing::warn!(
                    session = %id.log_tag(),
                    key,
                    type_name,
                    error_kind,
                    "stored session value does not decode as the requested type: not updated"
                );
                // Not the codec's message: it can quote the stored value (see `decode_or_warn`).
                Err(SessionError::Decode {
                    key: key.to_owned(),
                    source: format!("not a {type_name} ({error_kind} error)").into(),
                })
            }
        }
    }

    /// Stores `value` under `key` and returns it.
    fn store_new<T: Serialize>(&self, key: &str, value: T) -> Result<T, SessionError> {
        let bytes = self.encode(key, &value)?;
        self.guard_mut().set(key.to_owned(), bytes);
        Ok(value)
    }

    fn encode<T: Serialize>(&self, key: &str, value: &T) -> Result<Bytes, SessionError> {
        self.codec()
            .encode(value)
            .map(Bytes::from)
            .map_err(|source| SessionError::Encode {
                key: key.to_owned(),
                source,
            })
    }

    fn decode_owned<T: DeserializeOwned>(
        &self,
        key: &str,
        bytes: Option<Bytes>,
    ) -> Result<Option<T>, SessionError> {
        let bytes = match bytes {
            None => return Ok(None),
            Some(bytes) => bytes,
        };
        let id = self.guard().id().clone();
        Ok(self.decode_or_warn(&id, key, &bytes))
    }

    /// Decodes a stored value; one that does not decode is logged and read as absent.
    fn decode_or_warn<T: DeserializeOwned>(
        &self,
        id: &SessionId,
        key: &str,
        bytes: &[u8],
    ) -> Option<T> {
        match self.codec().decode(bytes) {
            Ok(value) => Some(value),
            Err(error) => {
                // The key, the type and the kind of failure only: the codec's own message can
                // quote the stored value (a token, an address), which has no place in a log.
                tracing::warn!(
                    session = %id.log_tag(),
                    key,
                    type_name = std::any::type_name::<T>(),
                    error_kind = crate::codec::error_kind(&*error),
                    "stored session value does not decode as the requested type: treated as absent"
                );
                None
            }
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Session");
        if let Some(data) = self.data() {
            s.field("id", &data.id()).field("existed", &data.existed());
        }
        s.field("options", &self.options()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_is_send_sync() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Session>();
    }
}
