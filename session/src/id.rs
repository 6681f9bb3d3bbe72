//! Session ids: generation, validation, and the hashes that stand in for them.
//!
//! An id is 32 characters of the URL-safe base64 alphabet (`A–Z a–z 0–9 - _`), each drawn from one
//! byte of the operating system's CSPRNG: 192 bits of entropy, no data inside. Anything a client
//! sends that is not of this exact shape is treated as "no id" before any store is asked.
//!
//! Stores never see the id itself as a key: they use [`SessionId::store_key`], a SHA-256 of the id,
//! so a copy of the store leaks no live ids. Logs use [`SessionId::log_tag`], a short prefix of that
//! hash; the `Debug` impl prints the tag too, so an id that slips into a log stays unusable.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// Length of every generated id, in characters.
pub const ID_LEN: usize = 32;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A well-formed session id.
///
/// Values of this type come from [`SessionId::generate`] or passed [`SessionId::parse`], so a store
/// can rely on the shape (32 URL-safe characters) without checking it again.
///
/// The id's SHA-256 ([`digest`](Self::digest)) is computed at most once per value (and carried
/// by its clones): a request that loads and saves a session hashes its id once.
#[derive(Clone)]
pub struct SessionId {
    raw: [u8; ID_LEN],
    digest: OnceLock<[u8; 32]>,
}

impl SessionId {
    fn from_raw(raw: [u8; ID_LEN]) -> Self {
        SessionId {
            raw,
            digest: OnceLock::new(),
        }
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for SessionId {}

impl Hash for SessionId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl SessionId {
    /// Draws a new id: 192 bits from a cryptographically secure generator.
    ///
    /// The generator is the thread's `rand::thread_rng()`: ChaCha12, seeded from the operating
    /// system's CSPRNG, reseeded from it after every 64 KiB it produces (about 2 000 ids) and
    /// after a `fork`. The cookie store draws its AES-GCM nonces from it too. A system call per id
    /// (`getrandom`, what this function made before) costs about as much as the rest of a new
    /// visitor's id and cookie; a user-space CSPRNG seeded from the OS is what Rails
    /// (`SecureRandom`, OpenSSL's DRBG) and Go (`crypto/rand` on the vDSO) use as well. An id's
    /// security rests on the generator's output being unpredictable, which ChaCha12 keyed from
    /// the OS gives; it is never derived from anything a client sends.
    ///
    /// # Panics
    /// Only if the OS random source fails when the thread's generator is seeded, which leaves
    /// nothing safe to do.
    pub fn generate() -> Self {
        use rand::RngCore as _;
        let mut raw = [0u8; ID_LEN];
        rand::thread_rng().fill_bytes(&mut raw);
        // 256 is a multiple of 64: masking keeps every character uniformly distributed.
        for byte in &mut raw {
            *byte = ALPHABET[(*byte & 63) as usize];
        }
        SessionId::from_raw(raw)
    }

    /// Accepts `value` only if it has the generated shape; anything else is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        if bytes.len() != ID_LEN
            || !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return None;
        }
        let mut raw = [0u8; ID_LEN];
        raw.copy_from_slice(bytes);
        Some(SessionId::from_raw(raw))
    }

    /// An id for a record a store keeps for the crate itself (the cookie store's revocations):
    /// `raw` must hold a byte outside the id alphabet, so that [`parse`](Self::parse) refuses it
    /// and no client can ever present it as its session id.
    pub(crate) fn internal(raw: [u8; ID_LEN]) -> Self {
        debug_assert!(raw.iter().any(|b| !ALPHABET.contains(b)));
        SessionId::from_raw(raw)
    }

    /// An internal id (see [`internal`](Self::internal)) derived from `digest` (a labelled hash):
    /// `marker`, a byte outside the id alphabet that names the kind of record, then the
    /// digest's URL-safe base64. The revocations of the cookie store, the spent markers of
    /// `migrate_from` and the records of renewed ids are keyed this way.
    pub(crate) fn internal_digest(marker: u8, digest: &[u8]) -> Self {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        let mut raw = [marker; ID_LEN];
        let take = (ID_LEN - 1).min(encoded.len());
        raw[1..=take].copy_from_slice(&encoded.as_bytes()[..take]);
        Self::internal(raw)
    }

    /// The id as sent to the client.
    pub fn as_str(&self) -> &str {
        // Every byte is from ALPHABET (ASCII), checked at construction.
        std::str::from_utf8(&self.raw).unwrap_or_default()
    }

    /// SHA-256 of the id: what server-side stores key their records by.
    pub fn digest(&self) -> [u8; 32] {
        *self.digest.get_or_init(|| Sha256::digest(self.raw).into())
    }

    /// [`digest`](Self::digest) as 64 lowercase hex characters, for stores that need text keys
    /// (Redis keys, file names).
    pub fn store_key(&self) -> String {
        hex(&self.digest())
    }

    /// A short tag (the first 8 hex characters of the hash) that names the session in logs
    /// without revealing the id.
    pub fn log_tag(&self) -> String {
        hex(&self.digest()[..4])
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(#{})", self.log_tag())
    }
}

/// Prints the id itself: use it to hand the id to a client, never in logs.
impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.as_str().len(), ID_LEN);
    }

    #[test]
    fn junk_is_rejected() {
        for junk in [
            "",
            "../wrong",
            "short",
            &"a".repeat(ID_LEN + 1),
            &"a".repeat(ID_LEN - 1),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaé",
            &"x".repeat(10_000),
        ] {
            assert!(SessionId::parse(junk).is_none(), "{junk:?} accepted");
        }
    }

    #[test]
    fn debug_hides_the_id() {
        let id = SessionId::generate();
        let shown = format!("{id:?}");
        assert!(!shown.contains(id.as_str()));
        assert!(shown.contains(&id.log_tag()));
        assert_eq!(id.store_key().len(), 64);
    }
}
