//! Ids renewed during a session, with reuse detection
//! ([`rotate_every`](crate::SessionMiddlewareBuilder::rotate_every)): the settings, and the
//! record an id leaves behind when it is replaced (its *tombstone*).
//!
//! When a request finds a session's id older than `rotate_every`, the commit moves the session
//! to a new id (the store's atomic `change_id`, as a login's) and saves a tombstone for the old
//! one under an id derived from it ([`tombstone_id`]): when it was replaced, the session's user
//! and handle, and the new id sealed with a key derived from the old id ([`seal_next`]), so the
//! store keeps no id a client could present (only a client holding the old id can open it).
//! A request that presents the old id (the store no longer knows it) finds the tombstone:
//!
//! - within `rotation_grace`, the old id opens the current session (the sealed id, followed
//!   through at most [`MAX_HOPS`] tombstones) and the response carries the current id: requests
//!   that were in flight at the rotation are not logged out;
//! - after it, two parties hold the cookie: the event [`Reused`](crate::SessionEventKind::Reused)
//!   and the policy of [`on_reuse`](crate::SessionMiddlewareBuilder::on_reuse), and the request
//!   gets a fresh session.
//!
//! `change_id` (a login, a privilege change) leaves no tombstone: the old id dies at once.
//! The flow lives in `request/load.rs` (`replaced`) and `request/commit.rs` (`Plan::Renew`).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::SessionId;
use crate::store::{Bytes, Handle, SessionUser};

/// The reserved key of a tombstone's one value.
pub(crate) const MOVED_KEY: &str = "__ats_moved";

/// How many tombstones a grace request follows to the current id (ids replaced again within
/// the grace window).
pub(crate) const MAX_HOPS: usize = 4;

/// What to do when an id replaced by [`rotate_every`](crate::SessionMiddlewareBuilder::rotate_every)
/// comes back after its grace window: someone else holds (or held) the session's cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reuse {
    /// End the session the id belonged to (the default): both holders sign in again.
    #[default]
    RevokeSession,
    /// End every session of its user (as an admin's "log out everywhere"): a thief who also
    /// signed in elsewhere with what they stole loses that too. For an anonymous session, as
    /// `RevokeSession`.
    RevokeUser,
    /// Only report it (the event and a `warn` log); the session goes on.
    Log,
}

/// `rotate_every`, `rotation_grace`, `on_reuse`, as the builder checked them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rotation {
    /// Seconds after which a session's id is renewed.
    pub(crate) every: u64,
    /// Seconds during which a replaced id still opens the session.
    pub(crate) grace: u64,
    pub(crate) on_reuse: Reuse,
}

/// A tombstone's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Moved {
    /// When the id was replaced (Unix seconds).
    pub(crate) at: u64,
    /// The new id, sealed with a key derived from the old one ([`seal_next`]).
    pub(crate) next: Vec<u8>,
    /// The session's user id and handle, to end it (or all of the user's) on reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<(Vec<u8>, String)>,
}

impl Moved {
    /// The tombstone of `old`, replaced by `new` at `at`, for the session of `user`.
    pub(crate) fn new(
        old: &SessionId,
        new: &SessionId,
        at: u64,
        user: Option<&SessionUser>,
    ) -> Self {
        Moved {
            at,
            next: seal_next(old, new),
            user: user.map(|u| (u.id.to_vec(), u.handle.as_str().to_owned())),
        }
    }

    pub(crate) fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// The user id and handle of the session, if it was tied.
    pub(crate) fn user(&self) -> Option<(&[u8], Handle)> {
        let (id, handle) = self.user.as_ref()?;
        Some((id, Handle::parse(handle)?))
    }
}

/// The id a tombstone of `old` is kept under: derived from it by SHA-256 with a label of its
/// own, as an internal id (`^`, a byte outside the id alphabet, then the digest): no client can
/// present it and no session id equals it.
pub(crate) fn tombstone_id(old: &SessionId) -> SessionId {
    let mut hash = Sha256::new();
    hash.update(b"actix-typed-session/replaced-id\0");
    hash.update(old.as_str().as_bytes());
    SessionId::internal_digest(b'^', &hash.finalize())
}

fn cipher(old: &SessionId) -> Aes256Gcm {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, old.as_str().as_bytes())
        .expand(b"actix-typed-session/next-id", &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Aes256Gcm::new(&key.into())
}

/// `new` sealed (AES-256-GCM) with a key derived from `old` by HKDF-SHA256: nonce, then
/// ciphertext and tag.
pub(crate) fn seal_next(old: &SessionId, new: &SessionId) -> Vec<u8> {
    use rand::RngCore as _;
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let sealed = cipher(old)
        .encrypt(Nonce::from_slice(&nonce), new.as_str().as_bytes())
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// The id [`seal_next`] sealed, if `sealed` opens with `old`'s key and holds an id.
pub(crate) fn open_next(old: &SessionId, sealed: &[u8]) -> Option<SessionId> {
    if sealed.len() < 12 {
        return None;
    }
    let (nonce, rest) = sealed.split_at(12);
    let plain = cipher(old).decrypt(Nonce::from_slice(nonce), rest).ok()?;
    SessionId::parse(std::str::from_utf8(&plain).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_id_opens_only_with_the_old_one() {
        let (old, new, other) = (
            SessionId::generate(),
            SessionId::generate(),
            SessionId::generate(),
        );
        let sealed = seal_next(&old, &new);
        assert_eq!(open_next(&old, &sealed), Some(new.clone()));
        assert_eq!(open_next(&other, &sealed), None);
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(open_next(&old, &tampered), None);
        for cut in 0..sealed.len() {
            assert_eq!(open_next(&old, &sealed[..cut]), None);
        }
        assert!(!String::from_utf8_lossy(&sealed).contains(new.as_str()));
    }

    #[test]
    fn tombstone_ids_are_stable_distinct_and_never_a_client_id() {
        let (a, b) = (SessionId::generate(), SessionId::generate());
        assert_eq!(tombstone_id(&a), tombstone_id(&a));
        assert_ne!(tombstone_id(&a), tombstone_id(&b));
        assert_eq!(SessionId::parse(tombstone_id(&a).as_str()), None);
    }

    #[test]
    fn a_tombstone_round_trips_and_junk_is_none() {
        let (old, new) = (SessionId::generate(), SessionId::generate());
        let user = SessionUser::new("ann");
        let moved = Moved::new(&old, &new, 42, Some(&user));
        let back = Moved::decode(&moved.encode()).unwrap();
        assert_eq!(back.at, 42);
        assert_eq!(open_next(&old, &back.next), Some(new));
        let (id, handle) = back.user().unwrap();
        assert_eq!((id, handle), (&b"ann"[..], user.handle));
        assert!(Moved::decode(b"{").is_none());
    }
}
