//! The user a session is tied to, as stores keep and index it: [`UserKey`] (a hash of the
//! user id), [`Handle`] (a session's public name), [`SessionUser`] (both, in a session's
//! [`Meta`](super::Meta)).

use std::fmt;

use sha2::{Digest, Sha256};

use super::Bytes;

/// A user id as indexes keep it: the SHA-256 of its bytes, so that a user id of any length or
/// content (empty, 10 kB, not UTF-8) never reaches a key, a path or a log as it is.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserKey([u8; 32]);

impl UserKey {
    /// The key of the user id `user`.
    pub fn of(user: impl AsRef<[u8]>) -> Self {
        // A label of its own, so a user key never equals a session id's digest.
        let mut hash = Sha256::new();
        hash.update(b"actix-typed-session/user\0");
        hash.update(user.as_ref());
        UserKey(hash.finalize().into())
    }

    /// The hash.
    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as 64 lowercase hex characters, for stores that need text keys.
    pub fn hex(&self) -> String {
        crate::id::hex(&self.0)
    }

    /// A key from its [`hex`](Self::hex) form (for stores reading their own keys back).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let digit = |b: u8| (b as char).to_digit(16);
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(UserKey(out))
    }

    /// A short tag (the first 8 hex characters) that names the user in logs.
    pub fn log_tag(&self) -> String {
        crate::id::hex(&self.0[..4])
    }
}

impl fmt::Debug for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserKey(#{})", self.log_tag())
    }
}

/// A session's public name: stable for the life of the session (`change_id` keeps it), never
/// the id nor enough to load the session, so it may be shown to the user ("your devices") and
/// posted back in a form to end that session. (One exception: on a client-side store,
/// [`Session::expire_others`](crate::Session::expire_others) gives the session it keeps a new
/// handle, the one thing that tells its new cookie from copies of the old.)
///
/// 22 characters of the URL-safe base64 alphabet from the OS CSPRNG (132 bits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle([u8; HANDLE_LEN]);

pub(crate) const HANDLE_LEN: usize = 22;
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Handle {
    /// A new handle.
    ///
    /// # Panics
    /// Only if the OS random source itself fails.
    pub fn generate() -> Self {
        let mut raw = [0u8; HANDLE_LEN];
        getrandom::getrandom(&mut raw).expect("the OS random number generator failed");
        for byte in &mut raw {
            *byte = ALPHABET[(*byte & 63) as usize];
        }
        Handle(raw)
    }

    /// Accepts `value` only if it has the generated shape (as posted back by a client).
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        if bytes.len() != HANDLE_LEN
            || !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return None;
        }
        let mut raw = [0u8; HANDLE_LEN];
        raw.copy_from_slice(bytes);
        Some(Handle(raw))
    }

    /// The handle as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", self.as_str())
    }
}

/// The user a session is tied to (metadata of the session, not one of its values).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// The user id as the app gave it (returned by `Session::user`).
    pub id: Bytes,
    /// Its hash: what indexes are keyed by.
    pub key: UserKey,
    /// The session's handle.
    pub handle: Handle,
    /// When the session was tied to the user (signed in), in Unix milliseconds by the
    /// middleware's clock; 0 when unknown (a session stored before stores kept it). With the
    /// handle it orders a user's sessions for
    /// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user): see
    /// [`sign_in_order`](Self::sign_in_order).
    pub signed_in_at: u64,
}

impl SessionUser {
    /// `id` with a new handle, signed in now (by the system clock; the middleware uses its
    /// own clock).
    pub fn new(id: impl AsRef<[u8]>) -> Self {
        use crate::clock::Clock;
        let id = Bytes::copy_from_slice(id.as_ref());
        SessionUser {
            key: UserKey::of(&id),
            id,
            handle: Handle::generate(),
            signed_in_at: crate::clock::SystemClock.now_millis(),
        }
    }

    /// A user read back from a store: `id` and its handle (the key is recomputed), sign-in
    /// time unknown until [`signed_in`](Self::signed_in) sets it.
    pub fn stored(id: Bytes, handle: Handle) -> Self {
        SessionUser {
            key: UserKey::of(&id),
            id,
            handle,
            signed_in_at: 0,
        }
    }

    /// The same user, signed in at `millis` (Unix milliseconds).
    pub fn signed_in(mut self, millis: u64) -> Self {
        self.signed_in_at = millis;
        self
    }

    /// Where the session stands among its user's sessions, newest sign-in last: the sign-in
    /// time, then the handle, so that two sessions never compare equal and every app server
    /// (every concurrent login) agrees on which sessions are the newest. A session whose
    /// sign-in time is unknown counts as signed in when it was created (`created_at`, Unix
    /// seconds).
    pub fn sign_in_order(&self, created_at: u64) -> (u64, &Handle) {
        let at = match self.signed_in_at {
            0 => created_at.saturating_mul(1000),
            at => at,
        };
        (at, &self.handle)
    }
}

/// Which of a user's sessions a revocation ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// The session with this handle (`revoke`).
    One(Handle),
    /// Every session but the one with this handle, if any (`revoke_all`).
    AllBut(Option<Handle>),
}

impl Choice {
    /// Whether the revocation ends the session with `handle`.
    pub(crate) fn ends(&self, handle: &Handle) -> bool {
        match self {
            Choice::One(h) => h == handle,
            Choice::AllBut(except) => except.as_ref() != Some(handle),
        }
    }
}

/// How many live sessions of one user make a large index: past it a store logs a warning when
/// the index grows (memory, Redis: at the save that ties one more session; the others when it
/// is listed), since listing and revoking cost grows with it. Nothing stops at this size:
/// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user) is the
/// bound.
pub const LARGE_INDEX: usize = 1000;

/// Logs, at `warn`, that `user`'s index holds `size` sessions, each time it grows past another
/// [`LARGE_INDEX`] (a save that ties one more session reports the size it left).
pub(crate) fn note_index_size(user: &UserKey, size: usize) {
    if size > LARGE_INDEX && (size - 1).is_multiple_of(LARGE_INDEX) {
        warn_large(user, size);
    }
}

/// Logs, at `warn`, that listing `user` found `size` sessions, when that is past
/// [`LARGE_INDEX`].
pub(crate) fn note_listed(user: &UserKey, size: usize) {
    if size > LARGE_INDEX {
        warn_large(user, size);
    }
}

fn warn_large(user: &UserKey, size: usize) {
    tracing::warn!(
        user = %user.log_tag(),
        sessions = size,
        large = LARGE_INDEX,
        "a user holds many live sessions: listing and revoking them costs in proportion; \
         bound it with max_sessions_per_user"
    );
}

impl fmt::Debug for SessionUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the user id itself: logs name users by their tag.
        f.debug_struct("SessionUser")
            .field("key", &self.key)
            .field("handle", &self.handle)
            .field("signed_in_at", &self.signed_in_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_keys_hash_any_bytes_and_round_trip_as_hex() {
        for user in [&b""[..], b"42", &[0xff, 0xfe, 0x00], &[b'x'; 10_000]] {
            let key = UserKey::of(user);
            assert_eq!(UserKey::from_hex(&key.hex()), Some(key));
            assert!(!key.hex().contains("42") || user != b"42");
        }
        assert_ne!(UserKey::of("a"), UserKey::of("b"));
        assert_eq!(UserKey::from_hex("zz"), None);
    }

    #[test]
    fn handles_parse_and_differ() {
        let a = Handle::generate();
        assert_eq!(Handle::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a, Handle::generate());
        assert_eq!(Handle::parse("../x"), None);
        assert_eq!(Handle::parse(&"A".repeat(23)), None);
    }
}
