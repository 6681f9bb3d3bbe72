//! [`CookieStoreBuilder`]: the keys and the options of a [`CookieStore`], checked by `build`,
//! which derives the keys the store seals and opens with.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::KeyInit;
use aes_gcm::Aes256Gcm;
use hmac::Mac;

use super::crypto::{derive_key, HmacSha256, HKDF_ENCRYPTION, HKDF_SIGNING};
use super::revocation::{Revocations, DEFAULT_REVOCATION_TTL};
use super::serializer::{
    Binder, CookieDecodeError, CookieSerializer, Custom, DecodeHook, DeserializeFn, EncodeFailure,
    EncodeHook, Entries, SerializeFn,
};
use super::{CookieStore, Inner, Mode};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::{BoxError, ConfigError};
use crate::store::{DynStore, NullStore, SessionStore};

/// Minimum length of a key given to [`CookieStore::signed`] / [`CookieStore::encrypted`].
pub const MIN_KEY_LEN: usize = 32;

/// Configures a [`CookieStore`]; from [`CookieStore::signed`] or [`CookieStore::encrypted`].
#[must_use]
pub struct CookieStoreBuilder {
    mode: Mode,
    key: Vec<u8>,
    fallback: Vec<Vec<u8>>,
    serializer: Option<Arc<dyn CookieSerializer>>,
    serialize: Option<Arc<SerializeFn>>,
    deserialize: Option<Arc<DeserializeFn>>,
    compress: bool,
    on_decode_error: Option<Arc<DecodeHook>>,
    on_encode_error: Option<Arc<EncodeHook>>,
    binder: Option<Arc<Binder>>,
    clock: SharedClock,
    revocations: Option<Box<dyn DynStore>>,
    /// Why the revocation store was refused (checked in `build`).
    revocations_refused: Option<&'static str>,
    revocation_ttl: Duration,
}

impl CookieStore {
    /// Signed cookies (readable, tamper-proof) with `key` (at least 32 bytes).
    pub fn signed(key: impl AsRef<[u8]>) -> CookieStoreBuilder {
        CookieStoreBuilder::new(Mode::Signed, key.as_ref())
    }

    /// Encrypted cookies (private, tamper-proof) with `key` (at least 32 bytes).
    pub fn encrypted(key: impl AsRef<[u8]>) -> CookieStoreBuilder {
        CookieStoreBuilder::new(Mode::Encrypted, key.as_ref())
    }
}

impl CookieStoreBuilder {
    fn new(mode: Mode, key: &[u8]) -> Self {
        CookieStoreBuilder {
            mode,
            key: key.to_vec(),
            fallback: Vec::new(),
            serializer: None,
            serialize: None,
            deserialize: None,
            compress: false,
            on_decode_error: None,
            on_encode_error: None,
            binder: None,
            clock: Arc::new(SystemClock),
            revocations: None,
            revocations_refused: None,
            revocation_ttl: DEFAULT_REVOCATION_TTL,
        }
    }

    /// Older keys that still open cookies (tried in order after the current key); none seals.
    pub fn fallback_keys<K: AsRef<[u8]>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.fallback = keys.into_iter().map(|k| k.as_ref().to_vec()).collect();
        self
    }

    /// The serializer object (SerializedCookie's `serializer`), for example [`JsonSerializer`].
    /// Default: none, the store's own compact layout (see [`CookieSerializer`]); a function
    /// given without an object pairs with that layout.
    ///
    /// [`JsonSerializer`]: super::JsonSerializer
    pub fn serializer(mut self, serializer: impl CookieSerializer) -> Self {
        self.serializer = Some(Arc::new(serializer));
        self
    }

    /// A serialize function; overrides the serializer object's (SerializedCookie's `serialize`).
    pub fn serialize(
        mut self,
        f: impl Fn(&HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.serialize = Some(Arc::new(f));
        self
    }

    /// A deserialize function; overrides the serializer object's (SerializedCookie's
    /// `deserialize`).
    pub fn deserialize(
        mut self,
        f: impl Fn(&[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.deserialize = Some(Arc::new(f));
        self
    }

    /// Deflate the payload when that makes it shorter (flagged inside the seal). Default: off.
    ///
    /// Signed cookies only: [`build`](Self::build) refuses it for an encrypted store. Compressing
    /// before encrypting makes the cookie's length depend on how well the session compresses,
    /// so an attacker who can put a value next to a secret in one session (a search term, a
    /// display name) and watch the cookie's length can recover the secret a character at a time
    /// (the CRIME attack). A signed cookie is readable anyway, so compressing it reveals nothing
    /// more.
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Called when a client's cookie does not open; the request then gets a fresh session.
    pub fn on_decode_error(
        mut self,
        hook: impl Fn(&CookieDecodeError) + Send + Sync + 'static,
    ) -> Self {
        self.on_decode_error = Some(Arc::new(hook));
        self
    }

    /// Called when a session cannot be serialized; its answer decides between sending no cookie
    /// (the default) and failing the response.
    pub fn on_encode_error(
        mut self,
        hook: impl Fn(&BoxError) -> EncodeFailure + Send + Sync + 'static,
    ) -> Self {
        self.on_encode_error = Some(Arc::new(hook));
        self
    }

    /// Binds each cookie to what `binder` returns for the request (its SHA-256 joins the seal):
    /// a cookie replayed by a client for which `binder` returns something else does not open.
    /// Off by default.
    ///
    /// Trade-offs: it makes a stolen cookie harder to use only if the thief cannot copy what you
    /// bind to (a `User-Agent` is easy to copy; an IP address changes on mobile networks and
    /// behind some proxies, logging users out). When the bound value changes, the user simply
    /// gets a fresh session. See [`bind_to_user_agent`](Self::bind_to_user_agent).
    pub fn bind_to(
        mut self,
        binder: impl Fn(&actix_web::HttpRequest) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        self.binder = Some(Arc::new(binder));
        self
    }

    /// [`bind_to`](Self::bind_to) the request's `User-Agent` header (a cheap speed bump, not a
    /// defence against a thief who also copies the header).
    pub fn bind_to_user_agent(self) -> Self {
        self.bind_to(|req| {
            req.headers()
                .get(actix_web::http::header::USER_AGENT)
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default()
        })
    }

    /// Keeps each user's "valid after" time in `store`, a server-side store, so that
    /// [`Session::expire_all`](crate::Session::expire_all),
    /// [`Session::expire_others`](crate::Session::expire_others) and
    /// [`Sessions::revoke_all`](crate::Sessions::revoke_all) end every cookie of a user.
    /// Without it they answer [`SessionError::Unsupported`].
    ///
    /// - **Which store:** a [`MemoryStore`] for an app in one process (give
    ///   it the same clock; size its `max_sessions` with room for one record per revoked user
    ///   besides anything else it holds: an evicted record forgets that revocation); a
    ///   `RedisStore` (feature `redis`) or a [`FileStore`](crate::store::FileStore) on a shared
    ///   directory when several app processes serve the same cookies: they must all be given
    ///   the same revocation store. A client-side store or the `NullStore` is refused by
    ///   [`build`](Self::build) (it would keep nothing).
    /// - **What it keeps:** one record per revoked user, written by every revocation (the
    ///   latest wins): the time of the revocation in milliseconds and, for `expire_others`, the
    ///   handle of the session it keeps (a new one, carried only by the cookie sealed in that
    ///   response: see [`CookieStore`]). It is stored under an id derived from the user's
    ///   [`UserKey`] (a hash of the user id, hashed again by the store, never the user id
    ///   itself), and that id has a character no session id has, so no client can present it
    ///   as a session of a middleware that shares the store. It lives for the
    ///   [`revocation_ttl`](Self::revocation_ttl).
    /// - **When a cookie is refused:** a cookie of a session tied to the user (logged in) at or
    ///   before the revocation's time opens as a fresh session, whenever it was sealed (so a
    ///   request in flight during the revocation cannot bring its session back by re-sealing
    ///   it), but the session `expire_others` kept (by its new handle: the copies of its
    ///   cookie from before carry the old one and end too). A session tied in the same
    ///   millisecond as a revocation counts as before it: a revocation never misses a session,
    ///   and a login in that same millisecond after it is ended too. With a clock that counts
    ///   whole seconds (like [`ManualClock`](crate::clock::ManualClock)) that is the same
    ///   second.
    /// - **Cost:** every request whose cookie carries a user loads that user's record (one read
    ///   of the store: one Redis round trip); an anonymous session costs nothing. Revoking is
    ///   one write. If the store fails, the request fails with 503 (the check is never
    ///   skipped).
    /// - **Limits:** the app servers' clocks must agree (a session tied on a server whose clock
    ///   is ahead survives a revocation made within that skew); two revocations of one user at
    ///   the same moment on two servers keep the one written last. `revoke_all` returns 0: the
    ///   store cannot count the cookies it ended.
    ///
    /// [`SessionError::Unsupported`]: crate::error::SessionError::Unsupported
    /// [`MemoryStore`]: crate::store::MemoryStore
    /// [`UserKey`]: crate::store::UserKey
    ///
    /// Only a server-side store can keep revocations; another cookie store does not compile:
    ///
    /// ```compile_fail
    /// use actix_typed_session::store::CookieStore;
    /// let elsewhere = CookieStore::signed([8u8; 32]).build().unwrap();
    /// let _ = CookieStore::signed([7u8; 32]).revocations(elsewhere);
    /// ```
    pub fn revocations<S: SessionStore>(mut self, store: S) -> Self {
        // A client-side store cannot be given (it is no `SessionStore`); the one server-side
        // store that keeps nothing is told by its type.
        let any: &dyn std::any::Any = &store;
        self.revocations_refused = any
            .is::<NullStore>()
            .then_some("the NullStore keeps nothing");
        self.revocations = Some(Box::new(store));
        self
    }

    /// How long a revocation record lives (a minute more, for requests in flight), and so the
    /// longest expiry a cookie with a user is sealed with: the seal caps the cookie's expiry at
    /// this long from the seal, so that no cookie sealed before a revocation outlives the
    /// record. Default: [`DEFAULT_REVOCATION_TTL`] (7 days).
    ///
    /// Keep it at least the middleware's idle timeout: the cap then never ends a session before
    /// the timeouts would (a cookie in use is re-sealed whenever its expiry moves by more than
    /// the refresh step). Shorter, a user's session ends after this long without a re-seal.
    /// Only with a [revocation store](Self::revocations).
    pub fn revocation_ttl(mut self, ttl: Duration) -> Self {
        self.revocation_ttl = ttl;
        self
    }

    /// The clock that stamps sessions tied to a user and revocations. Default: the
    /// system clock (milliseconds); in tests, the middleware's
    /// [`ManualClock`](crate::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the keys and the options, and builds the store.
    ///
    /// # Errors
    /// A key shorter than [`MIN_KEY_LEN`] bytes (or empty); [`compress`](Self::compress) on an
    /// encrypted store; a [revocation store](Self::revocations) that keeps nothing on the
    /// server; a [`revocation_ttl`](Self::revocation_ttl) under one second.
    pub fn build(self) -> Result<CookieStore, ConfigError> {
        if let Some(why) = self.revocations_refused {
            return Err(ConfigError(format!(
                "CookieStore: the revocation store must keep records on the server ({why}); \
                 use a MemoryStore (one process), a RedisStore or a FileStore"
            )));
        }
        if self.revocations.is_some() && self.revocation_ttl.as_secs() == 0 {
            return Err(ConfigError(
                "CookieStore: revocation_ttl must be at least one second".into(),
            ));
        }
        if self.compress && self.mode == Mode::Encrypted {
            return Err(ConfigError(
                "CookieStore: compress(true) cannot be combined with encrypted cookies: \
                 compressing before encrypting lets the cookie's length reveal the session's \
                 contents (a CRIME-style attack); use CookieStore::signed(..).compress(true) if \
                 you want compression (signed contents are readable anyway)"
                    .into(),
            ));
        }
        let keys: Vec<&Vec<u8>> = std::iter::once(&self.key).chain(&self.fallback).collect();
        for (i, key) in keys.iter().enumerate() {
            if key.len() < MIN_KEY_LEN {
                let which = if i == 0 {
                    "the key".to_owned()
                } else {
                    format!("fallback key {i}")
                };
                return Err(ConfigError(format!(
                    "CookieStore: {which} has {} bytes; at least {MIN_KEY_LEN} random bytes are needed",
                    key.len()
                )));
            }
        }
        // Only the keys the mode uses are derived.
        let (macs, ciphers) = match self.mode {
            Mode::Signed => (
                keys.iter()
                    .map(|k| {
                        <HmacSha256 as Mac>::new_from_slice(&derive_key(k, HKDF_SIGNING))
                            .expect("HMAC takes any key length")
                    })
                    .collect(),
                Vec::new(),
            ),
            Mode::Encrypted => (
                Vec::new(),
                keys.iter()
                    .map(|k| {
                        Aes256Gcm::new_from_slice(&derive_key(k, HKDF_ENCRYPTION))
                            .expect("derived keys are 32 bytes")
                    })
                    .collect(),
            ),
        };
        let custom = match (self.serializer, self.serialize, self.deserialize) {
            (None, None, None) => None,
            (object, serialize, deserialize) => {
                let object = object.unwrap_or_else(|| Arc::new(Entries));
                let serialize = serialize.unwrap_or_else(|| {
                    let object = object.clone();
                    Arc::new(move |data: &HashMap<String, Vec<u8>>| object.serialize(data))
                });
                let deserialize = deserialize
                    .unwrap_or_else(|| Arc::new(move |bytes: &[u8]| object.deserialize(bytes)));
                Some(Custom {
                    serialize,
                    deserialize,
                })
            }
        };
        Ok(CookieStore {
            inner: Arc::new(Inner {
                mode: self.mode,
                macs,
                ciphers,
                custom,
                compress: self.compress,
                on_decode_error: self.on_decode_error,
                on_encode_error: self.on_encode_error,
                binder: self.binder,
                clock: self.clock,
                revocations: self.revocations.map(|store| Revocations {
                    store,
                    ttl: self.revocation_ttl.as_secs(),
                }),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_refused() {
        assert!(CookieStore::signed([1u8; 31]).build().is_err());
        assert!(CookieStore::encrypted(b"").build().is_err());
        assert!(CookieStore::signed([1u8; 32])
            .fallback_keys([[2u8; 8]])
            .build()
            .is_err());
    }

    #[test]
    fn a_revocation_store_that_keeps_nothing_is_refused() {
        let refused = |b: CookieStoreBuilder| b.build().err().map(|e| e.to_string());
        let msg = refused(CookieStore::signed([7u8; 32]).revocations(NullStore)).unwrap();
        assert!(msg.contains("NullStore"), "{msg}");
        // A client-side store is no `SessionStore`: giving one does not compile (the
        // `compile_fail` example on `revocations`).
        assert!(refused(
            CookieStore::signed([7u8; 32])
                .revocations(crate::store::MemoryStore::default())
                .revocation_ttl(Duration::from_millis(10))
        )
        .is_some());
        assert!(CookieStore::signed([7u8; 32])
            .revocations(crate::store::MemoryStore::default())
            .build()
            .is_ok());
    }
}
