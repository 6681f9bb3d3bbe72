//! [`CookieStore`]: the whole session sealed into the cookie (no server storage).
//!
//! One job a file: `builder` checks the keys and the options and derives the keys; `crypto`
//! seals and opens the envelope (HMAC-SHA256 or AES-256-GCM over a context that binds the name
//! and the kind of carrier); `format` holds the pieces of the plaintext (version, flags,
//! varints, the built-in layout of the values); `seal` takes a record through them into a
//! sealed value and back; `serializer` holds the serializer traits, the hooks and the errors;
//! `revocation` the users' "valid after" records. This file: the store, its documentation and
//! its [`ClientStore`] impl.

mod builder;
mod crypto;
mod format;
mod revocation;
mod seal;
mod serializer;

use std::sync::Arc;

use aes_gcm::Aes256Gcm;
use sha2::Sha256;

use super::backend::{Backend, BackendRef};
use super::{ClientStore, Handle, IntoBackend, Meta, Record, SealContext, UserKey};
use crate::clock::SharedClock;
use crate::error::StoreError;
use crate::id::SessionId;
use crypto::HmacSha256;
use revocation::Revocations;
use serializer::{Binder, Custom, DecodeHook, EncodeHook, OpenFailure};

pub use builder::{CookieStoreBuilder, MIN_KEY_LEN};
pub use revocation::DEFAULT_REVOCATION_TTL;
pub use serializer::{
    BinarySerializer, CookieDecodeError, CookieSerializer, EncodeFailure, JsonSerializer,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Signed,
    Encrypted,
}

/// The whole session in the cookie, as Plack's Session::Cookie and SerializedCookie: no server
/// storage, so any number of app servers share sessions with nothing but a key.
///
/// - [`CookieStore::signed`]: the client can read the data (base64) but not change it
///   (HMAC-SHA256).
/// - [`CookieStore::encrypted`]: the client can neither read nor change it (AES-256-GCM).
///
/// Keys are at least 32 bytes of secret randomness. The signing (HMAC-SHA256) and encryption
/// (AES-256-GCM) keys are derived from them with HKDF-SHA256 and this crate's own `info`
/// strings, so they differ from the keys `cookie::Key::derive_from` derives from the same
/// secret: an app that also uses the secret for the `cookie` crate's jars cannot have one
/// accepted as the other. With [`fallback_keys`](CookieStoreBuilder::fallback_keys) the current
/// key seals and every key opens, so keys can be rotated without logging everyone out: a cookie
/// sealed with an old key is re-sealed with the current one on its next write.
///
/// Inside the seal: a format version, the session id, its creation time, its expiry and the
/// time the middleware last saw it, so the server enforces the idle and absolute timeouts itself
/// even if a browser keeps an old cookie. The middleware holds a cookie to the expiry sealed in
/// it *and* to its own timeouts as configured today: its idle timeout from the last-seen time,
/// its absolute timeout from the creation time. So a deploy that lowers a timeout applies it at
/// once to every cookie sealed before (a stolen copy does not keep the old, longer window);
/// raising one applies to a cookie when it is next sealed. A cookie sealed by a release before
/// the last-seen time joined the seal opens with it unknown and keeps the deadline sealed in it.
/// Bound to the seal without being stored in it (in the MAC input, or the AEAD's associated
/// data): the mode, a purpose, the name the value travels under and the kind of carrier (the
/// cookie name, or a header or query parameter name, from the middleware's state, see
/// [`SealContext`]) and the client binding if there is one. So a value never opens under
/// another name nor in another kind of carrier: two middlewares on one key (a user area's
/// `user_sid` and an admin area's `admin_sid`, or a cookie `sid` and a query parameter `sid`,
/// even with one store value cloned into both) keep their sessions and their timeouts apart
/// (`tests/stores/cookie_store.rs` `a_sealed_cookie_never_opens_under_another_cookie_name`,
/// `a_sealed_value_never_opens_under_another_kind_of_carrier_of_the_same_name`).
/// Two middlewares that share a key, a kind of carrier *and* its name share sessions. Anything
/// that does not open (tampered, truncated, wrong key, other name or kind, expired, junk) gives
/// a fresh session and a `tracing` event, never an error response.
///
/// The kind joined the context without a new format version: a cookie's context is the one
/// version 3 always had, so cookies keep opening across the upgrade; a value sealed for a
/// header or a query parameter by a release before it does not open after it (each such API
/// client starts a fresh session, once).
///
/// Upgrading: this is format version 3. Cookies sealed by earlier versions (1: no name binding,
/// keys from the `cookie` crate's derivation; 2: a JSON body and a longer context) do not
/// verify: each such visitor simply starts a fresh session (and
/// [`on_decode_error`](CookieStoreBuilder::on_decode_error) sees
/// [`CookieDecodeError::Unverified`] once). Without a [`serializer`](CookieStoreBuilder::serializer)
/// the values travel in the store's own compact layout, whatever the middleware's codec; an
/// app that wants the version 2 body back (JSON, readable in a signed cookie) sets
/// `.serializer(JsonSerializer)`.
///
/// Size: a browser keeps at most about 4 KiB per cookie. A session that would not fit is never
/// sent truncated: the middleware answers with [`SessionError::CookieTooLarge`](crate::SessionError::CookieTooLarge) (500 by default)
/// and the client keeps its previous cookie. For signed cookies,
/// [`compress`](CookieStoreBuilder::compress) helps with repetitive data; encrypted cookies are
/// not compressed (their length would leak their contents).
///
/// # What a client-side store cannot do
///
/// Nothing on the server remembers a cookie, so every copy of a sealed cookie opens until the
/// deadline sealed in it:
/// - A logout (`expire`) removes the cookie from the browser, and `change_id` (login) issues a
///   new id in a new seal, but a copy of the previous cookie still opens, with the data it
///   carries, until its own idle deadline (or, kept in use, until the absolute timeout: below).
/// - Every use of a copy that moves its deadline re-seals it (a change, or a refresh past the
///   refresh step), and the new copy carries a later idle deadline. So a copy that someone keeps
///   using within the idle timeout (a stolen cookie, replayed every few minutes) stays valid
///   until the **absolute timeout**, counted from the session's creation (sealed in the cookie),
///   and no longer. That is the real bound on a stolen cookie: keep the absolute timeout short
///   where this matters (with `no_absolute_timeout()`, nothing bounds a copy in use). A copy
///   that is not used dies at its idle deadline.
///
/// Use a server-side store when a logout must end every copy. `late_store` has no effect with
/// this store (the cookie leaves with the response head).
///
/// # Users: "log out everywhere" with a revocation store
///
/// A session tied to a user ([`Session::set_user`](crate::Session::set_user)) carries inside the
/// seal the user id (readable in a signed cookie, like the values), its handle and since when it
/// is tied to the user (in milliseconds; every later seal of the session keeps it). The store
/// cannot list a user's sessions: [`Sessions::of_user`](crate::Sessions::of_user),
/// [`Sessions::revoke`](crate::Sessions::revoke) (one session by its handle) answer
/// [`SessionError::Unsupported`](crate::SessionError::Unsupported), and building a middleware with `max_sessions_per_user` on it
/// is a [`ConfigError`](crate::ConfigError).
///
/// Ending all of a user's sessions works once the builder is given a server-side store for
/// revocations ([`CookieStoreBuilder::revocations`]):
/// [`Session::expire_all`](crate::Session::expire_all),
/// [`Session::expire_others`](crate::Session::expire_others) and
/// [`Sessions::revoke_all`](crate::Sessions::revoke_all) write one "valid after" time for the
/// user there, and every session tied to that user at or before it (every copy of its cookie, on
/// every device, and the cookie a request in flight re-seals) then opens as a fresh session,
/// except the cookie that `expire_others` seals for the session it keeps (below). Without a
/// revocation store these three answer [`SessionError::Unsupported`](crate::SessionError::Unsupported) (a 500 that says what to
/// configure), never a silent no-op. See
/// [`revocations`](CookieStoreBuilder::revocations) for the cost (one load a request, for
/// sessions with a user only) and the limits.
///
/// After a password change (`change_id` and `expire_others`, as OWASP has it) only the cookie
/// sealed in that response opens, as on a server-side store, where `change_id` forgets the old
/// id: the copies of this session's cookie taken before end with the other sessions. A copy has
/// the very bytes the browser holds, handle included, so the revocation cannot spare "this
/// session" by its handle; instead the middleware re-ties the session it keeps to its user under
/// a new handle, the revocation spares that handle only, and the new cookie carries it. The
/// price: on this store, [`Session::handle`](crate::Session::handle) changes at
/// `expire_others` (nothing else reads a cookie session's handle: listing and revoking by handle
/// are unsupported here), and if that response seals nothing (a 5xx, or `no_store` without
/// `change_id`) the session ends too, like every copy of its cookie.
#[derive(Clone)]
pub struct CookieStore {
    inner: Arc<Inner>,
}

struct Inner {
    mode: Mode,
    /// Current key first.
    macs: Vec<HmacSha256>,
    ciphers: Vec<Aes256Gcm>,
    /// `None`: the built-in layout ([`write_entries`](format::write_entries),
    /// [`parse_entries`](format::parse_entries)), straight from and into the record.
    custom: Option<Custom>,
    compress: bool,
    on_decode_error: Option<Arc<DecodeHook>>,
    on_encode_error: Option<Arc<EncodeHook>>,
    binder: Option<Arc<Binder>>,
    /// Stamps since when a session is tied to its user, and the revocations.
    clock: SharedClock,
    revocations: Option<Revocations>,
}

impl ClientStore for CookieStore {
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<Option<String>, StoreError> {
        let sealed = self.inner.seal_record(id, record, ctx);
        match sealed {
            Ok(value) => Ok(Some(value)),
            Err(failure) => {
                // The kind only: a serializer's error may quote the session's values.
                tracing::error!(
                    session = %id.log_tag(),
                    reason = failure.kind(),
                    "session cannot be sealed"
                );
                let err = failure.into_source();
                let action = self
                    .inner
                    .on_encode_error
                    .as_ref()
                    .map_or(EncodeFailure::KeepPrevious, |hook| hook(&err));
                match action {
                    EncodeFailure::KeepPrevious => Ok(None),
                    EncodeFailure::Fail => Err(StoreError::encode(err)),
                }
            }
        }
    }

    fn open(&self, value: &str, ctx: &SealContext<'_>) -> Option<(SessionId, Record)> {
        match self.inner.unseal(value, ctx) {
            Ok(opened) => Some(opened),
            Err(OpenFailure { error, session }) => {
                // The kind only (a fixed text); the serializer's detail goes to the hook alone.
                match session {
                    Some(id) => tracing::info!(
                        session = %id.log_tag(),
                        reason = %error,
                        "session cookie did not open"
                    ),
                    None => tracing::info!(reason = %error, "session cookie did not open"),
                }
                if let Some(hook) = &self.inner.on_decode_error {
                    hook(&error);
                }
                None
            }
        }
    }

    fn binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        use sha2::Digest as _;
        let binder = self.inner.binder.as_ref()?;
        Some(Sha256::digest(binder(req)).to_vec())
    }

    /// With a [revocation store](CookieStoreBuilder::revocations): whether the session opened
    /// from a cookie (tied to a user) was tied to the user at or before the user's last
    /// revocation, and is not the session that revocation kept. One load of the store; none for
    /// a session without a user, nor without a revocation store.
    async fn revoked(&self, meta: &Meta) -> Result<bool, StoreError> {
        let (Some(revocations), Some(user)) = (&self.inner.revocations, &meta.user) else {
            return Ok(false);
        };
        // Since when the session is tied to its user (always known for a session this store
        // opened; 0, the most cautious answer, otherwise).
        let since = match &meta.user_since {
            Some((handle, since)) if *handle == user.handle => *since,
            _ => 0,
        };
        revocations.revoked(user, since).await
    }

    /// With a [revocation store](CookieStoreBuilder::revocations): from now on, every session
    /// tied to `user` until now opens as a fresh session, but a session whose handle is
    /// `except`. One write; returns 0 (the store cannot count them). Without one: unsupported.
    /// (Listing a user's sessions, or ending one by its handle, is not possible: nothing on
    /// the server knows a user's cookies.)
    ///
    /// Every copy of a cookie carries its session's handle: to keep one session and not the
    /// copies of its cookie, give it a new handle and pass that (the middleware does, for
    /// [`Session::expire_others`](crate::Session::expire_others)), then seal it.
    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        let Some(revocations) = &self.inner.revocations else {
            return Err(StoreError::unsupported(
                "revoke a user's sessions without a revocation store \
                 (CookieStoreBuilder::revocations)",
            ));
        };
        revocations
            .revoke_all(self.inner.clock.now_millis(), user, except)
            .await?;
        Ok(0)
    }
}

/// The cookie store is a client-side store: the middleware takes it as it is.
#[allow(private_interfaces)] // see the trait
impl IntoBackend for CookieStore {
    fn into_backend(self) -> Backend {
        Backend::Client(Box::new(self))
    }
    fn as_backend(&self) -> BackendRef<'_> {
        BackendRef::Client(self)
    }
}

#[cfg(test)]
mod tests {
    //! The store sealed and opened whole, and the helpers the tests of the other files share.

    use super::*;
    use std::collections::HashMap;

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    use super::format::VERSION;
    use crate::store::{Bytes, CarrierKind};

    /// The plaintext inside `value` (which must open).
    pub(super) fn plaintext_of(store: &CookieStore, value: &str, ctx: &SealContext<'_>) -> Vec<u8> {
        let mut raw = URL_SAFE_NO_PAD.decode(value).unwrap();
        store.inner.open_in_place(&mut raw, ctx).unwrap().to_vec()
    }

    /// `plaintext` sealed as it is.
    pub(super) fn seal_plaintext(
        store: &CookieStore,
        plaintext: &[u8],
        ctx: &SealContext<'_>,
    ) -> String {
        let (front, back) = store.inner.envelope();
        let mut buf = vec![0; front + plaintext.len() + back];
        buf[front..front + plaintext.len()].copy_from_slice(plaintext);
        store.inner.seal_in_place(&mut buf, ctx).unwrap();
        URL_SAFE_NO_PAD.encode(buf)
    }

    pub(super) fn record() -> Record {
        let mut data = HashMap::new();
        data.insert("n".to_owned(), Bytes::from_static(b"42"));
        data.insert("name".to_owned(), Bytes::from_static(b"\"ann\""));
        Record {
            meta: Meta::new(1_700_000_000, 1_700_003_600),
            data,
        }
    }

    pub(super) const CTX: SealContext<'static> = SealContext {
        name: "id",
        kind: CarrierKind::Cookie,
        binding: None,
    };

    pub(super) fn sealed(store: &CookieStore, ctx: &SealContext<'_>) -> (SessionId, String) {
        let id = SessionId::generate();
        let Some(value) = store.seal(&id, &record(), ctx).unwrap() else {
            panic!("sealed")
        };
        (id, value)
    }

    #[test]
    fn seal_open_round_trip_both_modes() {
        for store in [
            CookieStore::signed([7u8; 32]).build().unwrap(),
            CookieStore::signed([7u8; 32])
                .compress(true)
                .build()
                .unwrap(),
            CookieStore::encrypted([7u8; 32]).build().unwrap(),
        ] {
            let (id, value) = sealed(&store, &CTX);
            let (back_id, back) = store.inner.unseal(&value, &CTX).ok().unwrap();
            assert_eq!(back_id, id);
            assert_eq!(back, record());
            // Another name does not open it.
            let other = SealContext::new("admin_sid");
            assert!(matches!(
                store.inner.unseal(&value, &other),
                Err(OpenFailure {
                    error: CookieDecodeError::Unverified,
                    ..
                })
            ));
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string().into_bytes()),
                any::<String>().prop_map(|s| serde_json::to_vec(&s).unwrap()),
                proptest::collection::vec(any::<u32>(), 0..20)
                    .prop_map(|v| serde_json::to_vec(&v).unwrap()),
                Just(b"null".to_vec()),
            ]
        }

        /// Values of any codec: the built-in layout embeds them as they are.
        fn any_value() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![json_value(), proptest::collection::vec(any::<u8>(), 0..300),]
        }

        /// The stores with the built-in layout.
        fn stores() -> [CookieStore; 3] {
            [
                CookieStore::signed([3u8; 40]).build().unwrap(),
                CookieStore::signed([3u8; 40])
                    .compress(true)
                    .build()
                    .unwrap(),
                CookieStore::encrypted([3u8; 40]).build().unwrap(),
            ]
        }

        /// The stores with the JSON serializer (JSON values only).
        fn json_stores() -> [CookieStore; 2] {
            [
                CookieStore::signed([3u8; 40])
                    .serializer(JsonSerializer)
                    .compress(true)
                    .build()
                    .unwrap(),
                CookieStore::encrypted([3u8; 40])
                    .serializer(JsonSerializer)
                    .build()
                    .unwrap(),
            ]
        }

        fn round_trip(store: &CookieStore, record: &Record) -> Result<(), TestCaseError> {
            let id = SessionId::generate();
            let Some(value) = store.seal(&id, record, &CTX).unwrap() else {
                panic!("not sealed");
            };
            let (back_id, back) = store.inner.unseal(&value, &CTX).ok().unwrap();
            prop_assert_eq!(back_id, id);
            prop_assert_eq!(&back, record);
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn seal_then_open_gives_the_same_session(
                data in proptest::collection::hash_map(any::<String>(), json_value(), 0..12),
                created_at in any::<u64>(),
                expires_at in any::<u64>(),
            ) {
                let data = data.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect();
                let record = Record { meta: Meta::new(created_at, expires_at), data };
                for store in stores().iter().chain(&json_stores()) {
                    round_trip(store, &record)?;
                }
            }

            #[test]
            fn seal_then_open_gives_the_same_session_of_any_codec(
                data in proptest::collection::hash_map(any::<String>(), any_value(), 0..12),
                created_at in any::<u64>(),
                expires_at in any::<u64>(),
            ) {
                let data = data.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect();
                let record = Record { meta: Meta::new(created_at, expires_at), data };
                for store in stores() {
                    round_trip(&store, &record)?;
                }
            }

            /// A sealed plaintext with a well-formed header and a random body (as only a key
            /// holder could seal it) opens to a session or to an error, never a panic, in every
            /// mode and layout; with random bytes all through, it never opens.
            #[test]
            fn random_sealed_plaintexts_never_panic(
                flags in 0u8..8,
                body in proptest::collection::vec(any::<u8>(), 0..400),
                junk in any::<Vec<u8>>(),
            ) {
                let mut plaintext = vec![VERSION, flags];
                plaintext.extend_from_slice(&[0, 0]); // the timestamps
                plaintext.extend_from_slice(SessionId::generate().as_str().as_bytes());
                plaintext.extend_from_slice(&body);
                for store in stores().iter().chain(&json_stores()) {
                    let _ = store.open(&seal_plaintext(store, &plaintext, &CTX), &CTX);
                    if junk.first() != Some(&VERSION) {
                        let value = seal_plaintext(store, &junk, &CTX);
                        prop_assert!(store.open(&value, &CTX).is_none());
                    }
                }
            }

            #[test]
            fn random_input_never_panics_nor_opens(input in any::<String>(), bytes in any::<Vec<u8>>()) {
                let encoded = URL_SAFE_NO_PAD.encode(&bytes);
                for store in stores().iter().chain(&json_stores()) {
                    prop_assert!(store.open(&input, &CTX).is_none());
                    prop_assert!(store.open(&encoded, &CTX).is_none());
                }
            }
        }
    }
}
