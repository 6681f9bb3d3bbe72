//! [`CookieStore`]: the whole session sealed into the cookie (no server storage).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::user::HANDLE_LEN;
use super::{
    Bytes, CarrierKind, Changes, ClientValue, Fetch, Handle, Loaded, Meta, NullStore, Record,
    SealContext, SessionStore, SessionUser, Unsealed, UserKey,
};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::{BoxError, ConfigError, SessionError, StoreError};
use crate::id::{SessionId, ID_LEN};

/// Minimum length of a key given to [`CookieStore::signed`] / [`CookieStore::encrypted`].
pub const MIN_KEY_LEN: usize = 32;
/// Largest decompressed payload accepted (a defence against compression bombs).
const MAX_PLAINTEXT: usize = 64 * 1024;

/// How long a [revocation record](CookieStoreBuilder::revocations) is kept by default: 7 days,
/// the middleware's default absolute timeout (and seven times its default idle timeout). See
/// [`CookieStoreBuilder::revocation_ttl`].
pub const DEFAULT_REVOCATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The value of a revocation record that holds the user's "valid after" time (Unix
/// milliseconds, in decimal).
const REVOKED_BEFORE: &str = "valid_after_ms";
/// The value of a revocation record that holds the handle of the session the revocation kept
/// (`expire_others`), if any.
const REVOKED_EXCEPT: &str = "except";
/// Seconds a revocation record outlives its TTL: for the cookies of requests that were in flight
/// when it was written (sealed after it, with an expiry up to the TTL from their seal).
const REVOCATION_MARGIN: u64 = 60;
/// Prefix of the hash that names a user's revocation record.
const REVOCATION_LABEL: &[u8] = b"actix-typed-session/cookie-revocation\0";

/// Format version, the first byte of the plaintext and of the context. Versions 1 (before the
/// name binding and the crate's own key derivation) and 2 (a JSON body, a longer context) no
/// longer open: such a cookie gives a fresh session.
///
/// [`FLAG_USER`] and then [`FLAG_SEEN`] joined version 3 later, without a new version: a
/// cookie without a flag has the layout version 3 always had, and one without the last flag
/// the layout before it, so the cookies of every visitor keep opening across each upgrade. A
/// server from before a flag refuses a cookie with it as an unknown format, which gives a fresh
/// session (a rollback logs visitors out, it never fails a request).
const VERSION: u8 = 3;
const FLAG_DEFLATE: u8 = 1;
/// The session is tied to a user: after the id (and the last-seen time) come the time it was
/// tied to the user (Unix milliseconds by the store's clock, a varint; the same in every later
/// seal of the session), the user id (a varint length, then its bytes) and the session's handle
/// ([`HANDLE_LEN`] bytes). Anonymous sessions carry none of it.
const FLAG_USER: u8 = 2;
/// The session's last-seen time travels in the seal: right after the id, its offset from the
/// creation time (seconds, modulo 2^64: a varint of three bytes or fewer for a session younger
/// than 24 days). The middleware holds a cookie to its own idle timeout from it, so a deploy
/// that lowers the timeout applies to cookies sealed before it. Every seal of a session whose
/// last-seen time is known sets it (the middleware records one at each save, touch and id
/// change, and for a fresh session); a cookie without it, sealed before the flag, opens with
/// `last_seen` 0: unknown, so only the deadline sealed in it applies.
const FLAG_SEEN: u8 = 4;
/// The shortest plaintext header: version, flags, the two timestamps (varints of at least one
/// byte) and the id.
const MIN_HEADER: usize = 2 + 1 + 1 + ID_LEN;
const TAG: usize = 32;
const NONCE: usize = 12;
/// First part of the MAC input (signed) / the AAD (encrypted): the format version, the mode
/// (`S`igned, `E`ncrypted) and the purpose (`R`: a whole session record, for the middleware's
/// client value). Three bytes, so that the context of a name of up to 11 bytes fits in one
/// AES-GCM block (each block of associated data costs a GHASH multiplication on every seal and
/// open); the crate is bound by the keys themselves (their HKDF `info`, below).
const SIGN_LABEL: &[u8] = &[VERSION, b'S', b'R'];
const SEAL_LABEL: &[u8] = &[VERSION, b'E', b'R'];
/// HKDF-SHA256 `info` of each derived key: this crate's own, so that the keys differ from the
/// ones `cookie::Key::derive_from` (or any other use) derives from the same secret. (Unchanged
/// since format version 2: the keys are the same, the context and the layout are not.)
const HKDF_SIGNING: &[u8] = b"actix-typed-session/v2 CookieStore HMAC-SHA256 signing key";
const HKDF_ENCRYPTION: &[u8] = b"actix-typed-session/v2 CookieStore AES-256-GCM encryption key";

type HmacSha256 = Hmac<Sha256>;

/// Turns a session's values into bytes and back, for [`CookieStore`].
///
/// Values arrive already encoded by the middleware's codec (JSON by default). Without a
/// serializer, the store writes them in its own compact layout (each key and value as it is,
/// after its length), which works with every codec and is the fastest to seal and open;
/// [`JsonSerializer`] writes them as one JSON object (readable, JSON values only), and
/// [`BinarySerializer`] in fixed-width lengths.
pub trait CookieSerializer: Send + Sync + 'static {
    /// The session's values as bytes.
    ///
    /// # Errors
    /// Any error makes the seal fail (see [`CookieStoreBuilder::on_encode_error`]).
    fn serialize(&self, data: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError>;

    /// The inverse of [`serialize`](Self::serialize).
    ///
    /// # Errors
    /// Any error gives a fresh session (see [`CookieStoreBuilder::on_decode_error`]).
    fn deserialize(&self, bytes: &[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError>;
}

/// `{"key": <value>, ..}`, each value embedded as the JSON it already is (values must be JSON:
/// the middleware's default codec).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerializer;

impl CookieSerializer for JsonSerializer {
    fn serialize(&self, data: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> {
        let mut map = BTreeMap::new();
        for (key, value) in data {
            let raw: &serde_json::value::RawValue = serde_json::from_slice(value)?;
            map.insert(key.as_str(), raw);
        }
        Ok(serde_json::to_vec(&map)?)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> {
        let map: HashMap<String, Box<serde_json::value::RawValue>> = serde_json::from_slice(bytes)?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k, v.get().as_bytes().to_vec()))
            .collect())
    }
}

/// A codec-independent serializer: each entry as a 2-byte key length, the key, a 4-byte value
/// length and the value (big-endian). The store's own default layout is as codec-independent
/// and shorter; this one is for code that reads or writes the payload itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct BinarySerializer;

impl CookieSerializer for BinarySerializer {
    fn serialize(&self, data: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> {
        let mut out = Vec::new();
        for (key, value) in data {
            let key_len = u16::try_from(key.len()).map_err(|_| "session key over 64 KiB")?;
            let value_len = u32::try_from(value.len()).map_err(|_| "session value over 4 GiB")?;
            out.extend_from_slice(&key_len.to_be_bytes());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&value_len.to_be_bytes());
            out.extend_from_slice(value);
        }
        Ok(out)
    }

    fn deserialize(&self, mut bytes: &[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], BoxError> {
            if bytes.len() < n {
                return Err("truncated session payload".into());
            }
            let (head, rest) = bytes.split_at(n);
            *bytes = rest;
            Ok(head)
        }
        let mut data = HashMap::new();
        while !bytes.is_empty() {
            let key_len = u16::from_be_bytes(take(&mut bytes, 2)?.try_into()?) as usize;
            let key = std::str::from_utf8(take(&mut bytes, key_len)?)?.to_owned();
            let value_len = u32::from_be_bytes(take(&mut bytes, 4)?.try_into()?) as usize;
            let value = take(&mut bytes, value_len)?.to_vec();
            data.insert(key, value);
        }
        Ok(data)
    }
}

/// Why a client's cookie did not open; passed to [`CookieStoreBuilder::on_decode_error`].
///
/// Its `Display` names the kind of failure only, never anything of the payload (it is what the
/// store logs). The serializer's own error, which may quote the payload, is the
/// [`source`](std::error::Error::source) of [`Deserialize`](Self::Deserialize), for the hook.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CookieDecodeError {
    /// Not URL-safe base64, or too short to hold a sealed session.
    #[error("malformed sealed cookie")]
    Malformed,
    /// No key verifies (tampered, or sealed with a key no longer configured).
    #[error("sealed cookie does not verify with any configured key")]
    Unverified,
    /// Verified, but of an unknown format version or with a bad header.
    #[error("sealed cookie has an unknown format")]
    Format,
    /// The compressed payload does not inflate (or inflates past 64 KiB).
    #[error("sealed cookie does not decompress")]
    Decompress,
    /// The serializer rejected the payload (e.g. a schema change between deploys); the
    /// serializer's error is the [`source`](std::error::Error::source).
    #[error("sealed cookie payload does not deserialize")]
    Deserialize(#[source] BoxError),
}

/// What to do when a session cannot be sealed; returned by the
/// [`on_encode_error`](CookieStoreBuilder::on_encode_error) hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodeFailure {
    /// Send no `Set-Cookie`: the client keeps its previous cookie; the response goes out as the
    /// handler made it. The default.
    #[default]
    KeepPrevious,
    /// Fail the response with `500` (or the middleware's chosen error response).
    Fail,
}

type SerializeFn = dyn Fn(&HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> + Send + Sync;
type DeserializeFn = dyn Fn(&[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> + Send + Sync;
type DecodeHook = dyn Fn(&CookieDecodeError) + Send + Sync;
type Binder = dyn Fn(&actix_web::HttpRequest) -> Vec<u8> + Send + Sync;
type EncodeHook = dyn Fn(&BoxError) -> EncodeFailure + Send + Sync;

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
/// (`tests/cookie_store.rs` `a_sealed_cookie_never_opens_under_another_cookie_name`,
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
/// sent truncated: the middleware answers with [`SessionError::CookieTooLarge`] (500 by default)
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
/// [`SessionError::Unsupported`], and building a middleware with `max_sessions_per_user` on it
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
/// revocation store these three answer [`SessionError::Unsupported`] (a 500 that says what to
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
    /// `None`: the built-in layout ([`write_entries`], [`parse_entries`]), straight from and
    /// into the record.
    custom: Option<Custom>,
    compress: bool,
    on_decode_error: Option<Arc<DecodeHook>>,
    on_encode_error: Option<Arc<EncodeHook>>,
    binder: Option<Arc<Binder>>,
    /// Stamps since when a session is tied to its user, and the revocations.
    clock: SharedClock,
    revocations: Option<Revocations>,
}

/// Where a [`CookieStore`] keeps each user's "valid after" time.
struct Revocations {
    store: Box<dyn super::DynStore>,
    /// Seconds a record lives (and the longest a user's cookie is sealed to live).
    ttl: u64,
}

/// A serializer the application chose (an object, functions, or both).
struct Custom {
    serialize: Arc<SerializeFn>,
    deserialize: Arc<DeserializeFn>,
}

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
    revocations: Option<Box<dyn super::DynStore>>,
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
    /// - **Which store:** a [`MemoryStore`](super::MemoryStore) for an app in one process (give
    ///   it the same clock; size its `max_sessions` with room for one record per revoked user
    ///   besides anything else it holds: an evicted record forgets that revocation); a
    ///   `RedisStore` (feature `redis`) or a [`FileStore`](super::FileStore) on a shared
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
    pub fn revocations<S: SessionStore>(mut self, store: S) -> Self {
        let any: &dyn std::any::Any = &store;
        self.revocations_refused = if store.client_side() {
            Some("a client-side store keeps nothing on the server")
        } else if any.is::<NullStore>() {
            Some("the NullStore keeps nothing")
        } else {
            None
        };
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

/// A 256-bit key for `info`, from the secret `ikm`, by HKDF-SHA256 (RFC 5869, no salt).
fn derive_key(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

/// Why a session could not be sealed. Only the kind is logged; the hook gets the detail.
#[derive(Debug)]
enum SealFailure {
    /// The serializer refused the session (its error may quote values).
    Serialize(BoxError),
    /// The random source failed (no nonce).
    Random(rand::Error),
    /// AES-GCM refused to encrypt (a payload over its limit).
    Encrypt,
}

impl SealFailure {
    /// The kind of failure, for the log.
    fn kind(&self) -> &'static str {
        match self {
            SealFailure::Serialize(_) => "serializer failed",
            SealFailure::Random(_) => "random source failed",
            SealFailure::Encrypt => "encryption failed",
        }
    }

    /// The detail, for the `on_encode_error` hook and the handler's error.
    fn into_source(self) -> BoxError {
        match self {
            SealFailure::Serialize(err) => err,
            SealFailure::Random(err) => format!("random source: {err}").into(),
            SealFailure::Encrypt => "AES-GCM encryption failed".into(),
        }
    }
}

/// Why a cookie did not open, with the session it names once that is known (for the log tag).
struct OpenFailure {
    error: CookieDecodeError,
    session: Option<SessionId>,
}

impl From<CookieDecodeError> for OpenFailure {
    fn from(error: CookieDecodeError) -> Self {
        OpenFailure {
            error,
            session: None,
        }
    }
}

/// Up to this many sealed bytes (a cookie of about 680 characters: a typical session) are
/// sealed and opened in a stack buffer; larger ones on the heap. (Zeroing the buffer costs in
/// proportion to its size: 512 is cheaper than an allocation, and holds a few dozen keys.)
const STACK: usize = 512;
/// Up to this many context bytes on the stack (a name of up to 26 bytes with a binding, 58
/// without).
const CONTEXT_STACK: usize = 64;
/// A sealed value that decodes to more bytes than this (a session of several values) is opened
/// in one heap buffer that its values then share; a smaller one on the stack, its values copied.
const SHARE_FROM: usize = 160;
/// The AES-GCM tag.
const AEAD_TAG: usize = 16;

/// `len` zeroed bytes, on the stack when they fit in `N`, else on the heap: the seal and the
/// open work in one buffer, in place, without allocating for typical sessions.
enum Scratch<const N: usize> {
    Stack([u8; N], usize),
    Heap(Vec<u8>),
}

impl<const N: usize> Scratch<N> {
    fn zeroed(len: usize) -> Self {
        if len <= N {
            Scratch::Stack([0; N], len)
        } else {
            Scratch::Heap(vec![0; len])
        }
    }
}

impl<const N: usize> std::ops::Deref for Scratch<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Scratch::Stack(bytes, len) => &bytes[..*len],
            Scratch::Heap(bytes) => bytes,
        }
    }
}

impl<const N: usize> std::ops::DerefMut for Scratch<N> {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Scratch::Stack(bytes, len) => &mut bytes[..*len],
            Scratch::Heap(bytes) => bytes,
        }
    }
}

impl<const N: usize> PartialEq for Scratch<N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<const N: usize> std::fmt::Debug for Scratch<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Writes into a slice from the front; each `put` must fit (the caller sized the slice).
struct Writer<'a>(&'a mut [u8]);

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let (head, rest) = std::mem::take(&mut self.0).split_at_mut(bytes.len());
        head.copy_from_slice(bytes);
        self.0 = rest;
    }
}

impl Writer<'_> {
    fn put_varint(&mut self, mut n: u64) {
        if n < 0x80 {
            return self.put(&[n as u8]);
        }
        let mut bytes = [0u8; 10];
        let mut len = 0;
        while n >= 0x80 {
            bytes[len] = (n as u8 & 0x7f) | 0x80;
            n >>= 7;
            len += 1;
        }
        bytes[len] = n as u8;
        self.put(&bytes[..=len]);
    }

    /// A length, as a varint.
    fn put_len(&mut self, n: usize) {
        self.put_varint(n as u64);
    }
}

/// Bytes of `n` as an unsigned LEB128 varint (7 bits a byte, low bits first).
fn varint_len(n: u64) -> usize {
    (u64::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

/// Bytes of the length `n` as a varint.
fn len_len(n: usize) -> usize {
    varint_len(n as u64)
}

/// Reads an unsigned LEB128 varint in its shortest form off the front of `bytes`.
fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        let low = u64::from(byte & 0x7f);
        if i == 9 && low > 1 {
            return None; // past 64 bits
        }
        n |= low << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return None; // not the shortest form
            }
            return Some(n);
        }
    }
    None
}

/// Reads a varint length.
fn take_len(bytes: &mut &[u8]) -> Option<usize> {
    usize::try_from(take_varint(bytes)?).ok()
}

/// Reads a varint length and that many bytes off the front of `bytes`.
fn take_part<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = take_len(bytes)?;
    if bytes.len() < len {
        return None;
    }
    let (part, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(part)
}

/// Length of the built-in layout of `data`: the number of entries, then each key and each value
/// after its length, all lengths LEB128 varints. Values are embedded as the codec made them.
fn entries_len<V: AsRef<[u8]>>(data: &HashMap<String, V>) -> usize {
    data.iter().fold(len_len(data.len()), |len, (key, value)| {
        let value = value.as_ref();
        len + len_len(key.len()) + key.len() + len_len(value.len()) + value.len()
    })
}

/// Writes the built-in layout of `data` ([`entries_len`] bytes).
fn write_entries<V: AsRef<[u8]>>(data: &HashMap<String, V>, out: &mut Writer<'_>) {
    out.put_len(data.len());
    for (key, value) in data {
        let value = value.as_ref();
        out.put_len(key.len());
        out.put(key.as_bytes());
        out.put_len(value.len());
        out.put(value);
    }
}

/// Reads the built-in layout; `value` makes each value from its bytes in `body` (a copy today;
/// a slice of a shared buffer would do as well). Refuses a truncated or trailing payload, a
/// key that is not UTF-8 and a repeated key.
fn parse_entries<V>(
    mut body: &[u8],
    mut value: impl FnMut(&[u8]) -> V,
) -> Result<HashMap<String, V>, BoxError> {
    let malformed = || BoxError::from("malformed session payload");
    let count = take_len(&mut body).ok_or_else(malformed)?;
    // Each entry takes at least two bytes: reserve no more than the payload can hold.
    let mut data = HashMap::with_capacity(count.min(body.len() / 2));
    for _ in 0..count {
        let key = std::str::from_utf8(take_part(&mut body).ok_or_else(malformed)?)?;
        let bytes = take_part(&mut body).ok_or_else(malformed)?;
        if data.insert(key.to_owned(), value(bytes)).is_some() {
            return Err("repeated key in session payload".into());
        }
    }
    if !body.is_empty() {
        return Err(malformed());
    }
    Ok(data)
}

/// The built-in layout as a serializer object, for a function given without one (and for the
/// compressor's input).
struct Entries;

/// The built-in layout of `data`, as a `Vec`.
fn entries_to_vec<V: AsRef<[u8]>>(data: &HashMap<String, V>) -> Vec<u8> {
    let mut out = vec![0; entries_len(data)];
    write_entries(data, &mut Writer(&mut out));
    out
}

impl CookieSerializer for Entries {
    fn serialize(&self, data: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> {
        Ok(entries_to_vec(data))
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> {
        parse_entries(bytes, <[u8]>::to_vec)
    }
}

/// The session's values as the plaintext carries them: straight from the record (the built-in
/// layout), or the bytes a custom serializer (or the compressor) made.
enum Body<'a> {
    Entries(&'a HashMap<String, Bytes>, usize),
    Bytes(Vec<u8>),
}

impl Body<'_> {
    fn len(&self) -> usize {
        match self {
            Body::Entries(_, len) => *len,
            Body::Bytes(bytes) => bytes.len(),
        }
    }

    fn write(&self, out: &mut Writer<'_>) {
        match self {
            Body::Entries(data, _) => write_entries(data, out),
            Body::Bytes(bytes) => out.put(bytes),
        }
    }
}

impl Inner {
    /// Bytes before the plaintext (the nonce) and after it (the MAC or the AEAD tag).
    fn envelope(&self) -> (usize, usize) {
        match self.mode {
            Mode::Signed => (0, TAG),
            Mode::Encrypted => (NONCE, AEAD_TAG),
        }
    }

    /// The body and its flags (compressed or not).
    fn body<'r>(&self, record: &'r Record) -> Result<(u8, Body<'r>), SealFailure> {
        let body = match &self.custom {
            None if !self.compress => {
                return Ok((0, Body::Entries(&record.data, entries_len(&record.data))))
            }
            None => Ok(entries_to_vec(&record.data)),
            Some(custom) => {
                // The serializer's public signature keeps owned bytes; a cookie holds a few
                // small values.
                let data: HashMap<String, Vec<u8>> = record
                    .data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_vec()))
                    .collect();
                (custom.serialize)(&data)
            }
        }
        .map_err(SealFailure::Serialize)?;
        if self.compress {
            let packed = miniz_oxide::deflate::compress_to_vec(&body, 6);
            if packed.len() < body.len() {
                return Ok((FLAG_DEFLATE, Body::Bytes(packed)));
            }
        }
        Ok((0, Body::Bytes(body)))
    }

    /// The sealed value of `record` under `id`, for `ctx`: the header and the body written
    /// into one buffer between room for the nonce and the tag, sealed in place, then encoded.
    fn seal_record(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<String, SealFailure> {
        let (mut flags, body) = self.body(record)?;
        let (front, back) = self.envelope();
        let meta = &record.meta;
        // A session with a user carries it, and since when it is tied to it: kept from the
        // cookie it came in, the time of this seal for a session tied in this request (the
        // clock is read for sessions with a user only).
        let mut expires_at = meta.expires_at;
        let user = meta.user.as_ref().map(|user| {
            let now_ms = self.clock.now_millis();
            let since = match &meta.user_since {
                Some((handle, since)) if *handle == user.handle => *since,
                _ => now_ms,
            };
            if let Some(revocations) = &self.revocations {
                // Never past what a revocation record made now would cover.
                let horizon = (now_ms / 1000).saturating_add(revocations.ttl);
                expires_at = expires_at.min(horizon);
            }
            (user, since)
        });
        let user_len = user.map_or(0, |(user, since)| {
            varint_len(since) + len_len(user.id.len()) + user.id.len() + HANDLE_LEN
        });
        if user.is_some() {
            flags |= FLAG_USER;
        }
        // 0 is "unknown", and travels as the absence of the flag.
        let seen = (meta.last_seen != 0).then(|| meta.last_seen.wrapping_sub(meta.created_at));
        if seen.is_some() {
            flags |= FLAG_SEEN;
        }
        let header = 2
            + varint_len(meta.created_at)
            + varint_len(expires_at)
            + ID_LEN
            + seen.map_or(0, varint_len)
            + user_len;
        let mut buf = Scratch::<STACK>::zeroed(front + header + body.len() + back);
        {
            let len = buf.len();
            let mut out = Writer(&mut buf[front..len - back]);
            out.put(&[VERSION, flags]);
            out.put_varint(record.meta.created_at);
            out.put_varint(expires_at);
            out.put(id.as_str().as_bytes());
            if let Some(seen) = seen {
                out.put_varint(seen);
            }
            if let Some((user, since)) = user {
                out.put_varint(since);
                out.put_len(user.id.len());
                out.put(&user.id);
                out.put(user.handle.as_str().as_bytes());
            }
            body.write(&mut out);
        }
        self.seal_in_place(&mut buf, ctx)?;
        Ok(URL_SAFE_NO_PAD.encode(&*buf))
    }

    /// What the seal authenticates besides the plaintext (the MAC input before it, or the AEAD's
    /// associated data): the label (format version, mode, purpose), the name the value travels
    /// under, then one byte for the kind of carrier and the binding, then the binding if the
    /// store binds to the client. The label has a fixed length and every variable part is
    /// length-prefixed (a varint), so the contexts are prefix-free: no two give the same bytes,
    /// and none is the start of another (the MAC input is the context and the plaintext,
    /// back to back).
    ///
    /// The byte after the name is twice the carrier's code (cookie 0, header 1, query 2), plus
    /// one when a binding follows. For a cookie that is the 0 or 1 this byte always was, so a
    /// cookie's context is byte for byte what it was before the kind joined it, and cookies
    /// sealed before keep opening; a header's and a query parameter's differ from a cookie's
    /// of the same name, and from each other's.
    fn context(&self, ctx: &SealContext<'_>) -> Scratch<CONTEXT_STACK> {
        let label = match self.mode {
            Mode::Signed => SIGN_LABEL,
            Mode::Encrypted => SEAL_LABEL,
        };
        let name = ctx.name().as_bytes();
        let binding = self
            .binder
            .as_ref()
            .map(|_| ctx.binding().unwrap_or_default());
        let kind: u8 = match ctx.kind() {
            CarrierKind::Cookie => 0,
            CarrierKind::Header => 1,
            CarrierKind::Query => 2,
        };
        let len = label.len()
            + len_len(name.len())
            + name.len()
            + 1
            + binding.map_or(0, |b| len_len(b.len()) + b.len());
        let mut context = Scratch::zeroed(len);
        let mut out = Writer(&mut context);
        out.put(label);
        out.put_len(name.len());
        out.put(name);
        out.put(&[kind * 2 + u8::from(binding.is_some())]);
        if let Some(binding) = binding {
            out.put_len(binding.len());
            out.put(binding);
        }
        context
    }

    /// Seals the plaintext that `buf` holds between the room for the nonce and for the tag
    /// ([`envelope`](Self::envelope)), with the current key.
    fn seal_in_place(&self, buf: &mut [u8], ctx: &SealContext<'_>) -> Result<(), SealFailure> {
        let context = self.context(ctx);
        let (front, back) = self.envelope();
        let (head, tag) = buf.split_at_mut(buf.len() - back);
        let (nonce, plaintext) = head.split_at_mut(front);
        match self.mode {
            Mode::Signed => {
                let mut mac = self.macs[0].clone();
                mac.update(&context);
                mac.update(plaintext);
                tag.copy_from_slice(&mac.finalize().into_bytes());
            }
            Mode::Encrypted => {
                // A user-space CSPRNG (ChaCha, seeded and reseeded from the OS): a random 96-bit
                // nonce per seal without a system call each time.
                rand::RngCore::try_fill_bytes(&mut rand::thread_rng(), nonce)
                    .map_err(SealFailure::Random)?;
                let sealed = self.ciphers[0]
                    .encrypt_in_place_detached(Nonce::from_slice(nonce), &context, plaintext)
                    .map_err(|_| SealFailure::Encrypt)?;
                tag.copy_from_slice(&sealed);
            }
        }
        Ok(())
    }

    /// Verifies or decrypts `raw` in place with each key in turn; the plaintext of the first
    /// that works (a failed AES-GCM tag check leaves the bytes as they were).
    fn open_in_place<'b>(
        &self,
        raw: &'b mut [u8],
        ctx: &SealContext<'_>,
    ) -> Result<&'b [u8], CookieDecodeError> {
        let (front, back) = self.envelope();
        if raw.len() < front + MIN_HEADER + back {
            return Err(CookieDecodeError::Malformed);
        }
        let context = self.context(ctx);
        let (head, tag) = raw.split_at_mut(raw.len() - back);
        let (nonce, plaintext) = head.split_at_mut(front);
        let opened = match self.mode {
            Mode::Signed => self.macs.iter().any(|mac| {
                let mut mac = mac.clone();
                mac.update(&context);
                mac.update(plaintext);
                mac.verify_slice(tag).is_ok()
            }),
            Mode::Encrypted => {
                let (nonce, tag) = (Nonce::from_slice(nonce), aes_gcm::Tag::from_slice(tag));
                self.ciphers.iter().any(|cipher| {
                    cipher
                        .decrypt_in_place_detached(nonce, &context, plaintext, tag)
                        .is_ok()
                })
            }
        };
        match opened {
            true => Ok(plaintext),
            false => Err(CookieDecodeError::Unverified),
        }
    }

    fn unseal(
        &self,
        value: &str,
        ctx: &SealContext<'_>,
    ) -> Result<(SessionId, Record), OpenFailure> {
        let estimate = base64::decoded_len_estimate(value.len());
        let malformed = |_| CookieDecodeError::Malformed;
        if estimate <= SHARE_FROM {
            // A small session: on the stack, a copy of each value.
            let mut buf = Scratch::<STACK>::zeroed(estimate);
            let len = URL_SAFE_NO_PAD
                .decode_slice(value, &mut buf)
                .map_err(malformed)?;
            let plaintext = self.open_in_place(&mut buf[..len], ctx)?;
            return self.parse(plaintext, Bytes::copy_from_slice);
        }
        // Several values: one buffer, shared by the values (slices of it, no copies).
        let mut buf = vec![0; estimate];
        let len = URL_SAFE_NO_PAD
            .decode_slice(value, &mut buf)
            .map_err(malformed)?;
        buf.truncate(len);
        self.open_in_place(&mut buf, ctx)?;
        let (front, back) = self.envelope();
        let shared = Bytes::from(buf);
        self.parse(&shared[front..len - back], |value| shared.slice_ref(value))
    }

    /// The session in an opened plaintext; `value` makes each value of the built-in layout from
    /// its bytes in `plaintext`.
    fn parse(
        &self,
        plaintext: &[u8],
        value: impl FnMut(&[u8]) -> Bytes,
    ) -> Result<(SessionId, Record), OpenFailure> {
        let [VERSION, flags, rest @ ..] = plaintext else {
            return Err(CookieDecodeError::Format.into());
        };
        let flags = *flags;
        // Only signed cookies are ever compressed; no other flag exists.
        let allowed = FLAG_USER
            | FLAG_SEEN
            | match self.mode {
                Mode::Signed => FLAG_DEFLATE,
                Mode::Encrypted => 0,
            };
        if flags & !allowed != 0 {
            return Err(CookieDecodeError::Format.into());
        }
        let mut rest = rest;
        let created_at = take_varint(&mut rest).ok_or(CookieDecodeError::Format)?;
        let expires_at = take_varint(&mut rest).ok_or(CookieDecodeError::Format)?;
        let (id, body) = rest
            .split_at_checked(ID_LEN)
            .ok_or(CookieDecodeError::Format)?;
        let id = std::str::from_utf8(id)
            .ok()
            .and_then(SessionId::parse)
            .ok_or(CookieDecodeError::Format)?;
        let failed = |error| OpenFailure {
            error,
            session: Some(id.clone()),
        };
        let mut meta = Meta::new(created_at, expires_at);
        let mut body = body;
        meta.last_seen = match flags & FLAG_SEEN {
            0 => 0, // sealed before the flag: unknown
            _ => {
                let seen =
                    take_varint(&mut body).ok_or_else(|| failed(CookieDecodeError::Format))?;
                created_at.wrapping_add(seen)
            }
        };
        if flags & FLAG_USER != 0 {
            let user = take_user(&mut body).ok_or_else(|| failed(CookieDecodeError::Format))?;
            let (since, user_id, handle) = user;
            meta.user_since = Some((handle.clone(), since));
            // The cookie's time of the tie is its sign-in time.
            meta.user =
                Some(SessionUser::stored(Bytes::copy_from_slice(user_id), handle).signed_in(since));
        }
        let inflated;
        let body = if flags & FLAG_DEFLATE != 0 {
            inflated = miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_PLAINTEXT)
                .map_err(|_| failed(CookieDecodeError::Decompress))?;
            &inflated[..]
        } else {
            body
        };
        let data = match &self.custom {
            // A decompressed body is a buffer of its own.
            None if flags & FLAG_DEFLATE != 0 => parse_entries(body, Bytes::copy_from_slice),
            None => parse_entries(body, value),
            Some(custom) => (custom.deserialize)(body)
                .map(|data| data.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect()),
        }
        .map_err(|err| failed(CookieDecodeError::Deserialize(err)))?;
        Ok((id, Record { meta, data }))
    }
}

/// Reads what [`FLAG_USER`] adds to the header: since when the session is tied to the user (in
/// milliseconds), the user id and the handle.
fn take_user<'a>(bytes: &mut &'a [u8]) -> Option<(u64, &'a [u8], Handle)> {
    let since = take_varint(bytes)?;
    let user_id = take_part(bytes)?;
    let (handle, rest) = bytes.split_at_checked(HANDLE_LEN)?;
    let handle = Handle::parse(std::str::from_utf8(handle).ok()?)?;
    *bytes = rest;
    Some((since, user_id, handle))
}

/// The id of `user`'s revocation record: `~` and 31 characters of a labelled hash of the user
/// key. `~` is outside the id alphabet, so no client can present it as a session id (the
/// record is never a session of a middleware that shares the store).
fn revocation_id(user: &UserKey) -> SessionId {
    use sha2::Digest as _;
    let digest = Sha256::new()
        .chain_update(REVOCATION_LABEL)
        .chain_update(user.digest())
        .finalize();
    let encoded = URL_SAFE_NO_PAD.encode(digest);
    let mut raw = [b'~'; ID_LEN];
    raw[1..].copy_from_slice(&encoded.as_bytes()[..ID_LEN - 1]);
    SessionId::internal(raw)
}

impl SessionStore for CookieStore {
    // Nothing lives on the server: the data travels in the cookie (`seal`/`unseal`), so the
    // server-side operations are those of the store that keeps nothing.

    async fn load(&self, id: &SessionId, fetch: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        NullStore.load(id, fetch).await
    }

    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        NullStore.save(id, meta, changes).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        NullStore.delete(id).await
    }

    /// Nothing to move: the session travels in the cookie, which the middleware seals anew
    /// under the new id.
    async fn change_id(
        &self,
        _: &SessionId,
        _: &SessionId,
        _: &Meta,
        _: &Changes,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        NullStore.touch(id, meta).await
    }

    // `user_sessions` and `revoke` (by handle) keep their "unsupported" defaults: nothing on
    // the server knows a user's cookies.

    /// With a [revocation store](CookieStoreBuilder::revocations): from now on, every session
    /// tied to `user` until now opens as a fresh session, but a session whose handle is
    /// `except`. One write; returns 0 (the store cannot count them). Without one: unsupported.
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
        let now_ms = self.inner.clock.now_millis();
        let now = now_ms / 1000;
        // A cookie of the user sealed until now expires within the TTL from now (the seal
        // caps it), or from the end of a request in flight (re-sealed a little later): a
        // minute more for those.
        let meta = Meta::new(
            now,
            now.saturating_add(revocations.ttl)
                .saturating_add(REVOCATION_MARGIN),
        );
        let mut data = vec![(
            REVOKED_BEFORE.to_owned(),
            Bytes::from(now_ms.to_string().into_bytes()),
        )];
        if let Some(handle) = except {
            data.push((
                REVOKED_EXCEPT.to_owned(),
                Bytes::copy_from_slice(handle.as_str().as_bytes()),
            ));
        }
        revocations
            .store
            .save(&revocation_id(user), &meta, &Changes::full(data))
            .await?;
        tracing::debug!(
            user = %user.log_tag(),
            kept = except.is_some(),
            "cookie sessions of the user revoked"
        );
        Ok(0)
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
        let Some(loaded) = revocations
            .store
            .load(
                &revocation_id(&user.key),
                Fetch::Keys(&[REVOKED_BEFORE, REVOKED_EXCEPT]),
            )
            .await?
        else {
            return Ok(false);
        };
        let record = loaded.into_record();
        let valid_after = record
            .data
            .get(REVOKED_BEFORE)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
        let Some(valid_after) = valid_after else {
            // Only a bug or someone with write access to the store makes one: refuse the
            // cookie rather than trust it.
            tracing::error!(user = %user.key.log_tag(), "unreadable revocation record");
            return Ok(true);
        };
        if since > valid_after {
            return Ok(false);
        }
        let kept = record
            .data
            .get(REVOKED_EXCEPT)
            .is_some_and(|h| h[..] == *user.handle.as_str().as_bytes());
        Ok(!kept)
    }

    fn client_side(&self) -> bool {
        true
    }

    fn unseal(&self, value: &str, ctx: &SealContext<'_>) -> Option<Unsealed> {
        match self.inner.unseal(value, ctx) {
            Ok((id, record)) => Some(Unsealed::Record(id, record)),
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

    fn client_binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        use sha2::Digest as _;
        let binder = self.inner.binder.as_ref()?;
        Some(Sha256::digest(binder(req)).to_vec())
    }

    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<ClientValue, SessionError> {
        let sealed = self.inner.seal_record(id, record, ctx);
        match sealed {
            Ok(value) => Ok(ClientValue::Sealed(value)),
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
                    EncodeFailure::KeepPrevious => Ok(ClientValue::Unchanged),
                    EncodeFailure::Fail => Err(SessionError::Encode {
                        key: "<session cookie>".into(),
                        source: err,
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{Aead, Payload};

    /// The plaintext inside `value` (which must open).
    fn plaintext_of(store: &CookieStore, value: &str, ctx: &SealContext<'_>) -> Vec<u8> {
        let mut raw = URL_SAFE_NO_PAD.decode(value).unwrap();
        store.inner.open_in_place(&mut raw, ctx).unwrap().to_vec()
    }

    /// `plaintext` sealed as it is.
    fn seal_plaintext(store: &CookieStore, plaintext: &[u8], ctx: &SealContext<'_>) -> String {
        let (front, back) = store.inner.envelope();
        let mut buf = vec![0; front + plaintext.len() + back];
        buf[front..front + plaintext.len()].copy_from_slice(plaintext);
        store.inner.seal_in_place(&mut buf, ctx).unwrap();
        URL_SAFE_NO_PAD.encode(buf)
    }

    fn record() -> Record {
        let mut data = HashMap::new();
        data.insert("n".to_owned(), Bytes::from_static(b"42"));
        data.insert("name".to_owned(), Bytes::from_static(b"\"ann\""));
        Record {
            meta: Meta::new(1_700_000_000, 1_700_003_600),
            data,
        }
    }

    const CTX: SealContext<'static> = SealContext {
        name: "id",
        kind: CarrierKind::Cookie,
        binding: None,
    };

    fn sealed(store: &CookieStore, ctx: &SealContext<'_>) -> (SessionId, String) {
        let id = SessionId::generate();
        let ClientValue::Sealed(value) = store.seal(&id, &record(), ctx).unwrap() else {
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

    #[test]
    fn short_keys_are_refused() {
        assert!(CookieStore::signed([1u8; 31]).build().is_err());
        assert!(CookieStore::encrypted(b"").build().is_err());
        assert!(CookieStore::signed([1u8; 32])
            .fallback_keys([[2u8; 8]])
            .build()
            .is_err());
    }

    /// The keys are this crate's own: a value we seal does not verify (signed) or decrypt
    /// (encrypted) under the keys `cookie::Key::derive_from` gives for the same secret, even with
    /// our exact MAC input / AAD; it does under keys derived with our HKDF info strings (so the
    /// check is of the key, not of a mangled input).
    #[test]
    fn keys_differ_from_the_cookie_crates_derivation_of_the_same_secret() {
        let secret = [0x5Au8; 48];
        let theirs = cookie::Key::derive_from(&secret);
        let ctx = SealContext::new("id");

        let store = CookieStore::signed(secret).build().unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sealed(&store, &ctx).1).unwrap();
        let (plaintext, tag) = raw.split_at(raw.len() - TAG);
        let verifies = |key: &[u8]| {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
            mac.update(&store.inner.context(&ctx));
            mac.update(plaintext);
            mac.verify_slice(tag).is_ok()
        };
        assert!(
            verifies(&derive_key(&secret, HKDF_SIGNING)),
            "our key verifies"
        );
        assert!(
            !verifies(theirs.signing()),
            "the cookie crate's signing key must not verify our seal"
        );

        let store = CookieStore::encrypted(secret).build().unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sealed(&store, &ctx).1).unwrap();
        let (nonce, body) = raw.split_at(NONCE);
        let decrypts = |key: &[u8]| {
            let aad = store.inner.context(&ctx);
            Aes256Gcm::new_from_slice(key)
                .unwrap()
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: body,
                        aad: &aad,
                    },
                )
                .is_ok()
        };
        assert!(
            decrypts(&derive_key(&secret, HKDF_ENCRYPTION)),
            "our key decrypts"
        );
        assert!(
            !decrypts(theirs.encryption()),
            "the cookie crate's encryption key must not decrypt our seal"
        );
    }

    /// The context is unambiguous: the name, the purpose and the binding each change it, and a
    /// binding is included only when the store binds.
    #[test]
    fn context_binds_name_and_binding() {
        let bound = CookieStore::signed([7u8; 32])
            .bind_to_user_agent()
            .build()
            .unwrap();
        let plain = CookieStore::signed([7u8; 32]).build().unwrap();
        let a = SealContext::new("id").with_binding(Some(b"ua-hash"));
        let b = SealContext::new("id").with_binding(Some(b"other"));
        assert_ne!(bound.inner.context(&a), bound.inner.context(&b));
        assert_eq!(plain.inner.context(&a), plain.inner.context(&b));
        assert_ne!(
            plain.inner.context(&SealContext::new("id")),
            plain.inner.context(&SealContext::new("id2"))
        );
        assert_ne!(
            plain.inner.context(&CTX),
            CookieStore::encrypted([7u8; 32])
                .build()
                .unwrap()
                .inner
                .context(&CTX)
        );
    }

    /// The kind of carrier is bound beside the name: a cookie's context is byte for byte the one
    /// of the releases before the kind (so their cookies keep opening), a header's and a query
    /// parameter's differ from it and from each other, with or without a binding; no context
    /// is the start of another (the MAC input is the context, then the plaintext); and a value
    /// sealed for one kind opens for no other, in every mode.
    #[test]
    fn context_binds_the_carrier_kind_and_keeps_a_cookies_bytes() {
        let kinds = [CarrierKind::Cookie, CarrierKind::Header, CarrierKind::Query];
        for builder in [
            CookieStore::signed([7u8; 32]),
            CookieStore::signed([7u8; 32]).compress(true),
            CookieStore::encrypted([7u8; 32]),
            CookieStore::encrypted([7u8; 32]).bind_to_user_agent(),
        ] {
            let store = builder.build().unwrap();
            let label = match store.inner.mode {
                Mode::Signed => SIGN_LABEL,
                Mode::Encrypted => SEAL_LABEL,
            };
            let bound = store.inner.binder.is_some();
            // The context as the releases before the kind wrote it.
            let mut before = label.to_vec();
            before.extend_from_slice(&[3, b's', b'i', b'd']);
            match bound {
                false => before.push(0),
                true => before.extend_from_slice(&[1, 2, b'u', b'a']),
            }
            let ctx = |kind| {
                SealContext::new("sid")
                    .with_kind(kind)
                    .with_binding(Some(b"ua"))
            };
            assert_eq!(*store.inner.context(&ctx(CarrierKind::Cookie)), before[..]);
            assert_eq!(SealContext::new("sid").kind(), CarrierKind::Cookie);

            let mut contexts = Vec::new();
            for name in ["sid", "si", "sidx", ""] {
                for kind in kinds {
                    for binding in [None, Some(&b"ua"[..]), Some(&b""[..])] {
                        let c = SealContext::new(name).with_kind(kind).with_binding(binding);
                        contexts.push(store.inner.context(&c).to_vec());
                    }
                }
            }
            contexts.sort();
            // Without a binder the binding does not count; with one, none binds as empty.
            contexts.dedup();
            for a in &contexts {
                for b in &contexts {
                    assert!(a == b || !b.starts_with(a), "{a:?} starts {b:?}");
                }
            }
            assert_eq!(contexts.len(), 4 * 3 * if bound { 2 } else { 1 });

            for sealed_for in kinds {
                let (_, value) = sealed(&store, &ctx(sealed_for));
                for opened_as in kinds {
                    let opened = store.inner.unseal(&value, &ctx(opened_as));
                    match sealed_for == opened_as {
                        true => assert!(opened.is_ok(), "{sealed_for:?}"),
                        false => assert!(
                            matches!(
                                opened,
                                Err(OpenFailure {
                                    error: CookieDecodeError::Unverified,
                                    ..
                                })
                            ),
                            "{sealed_for:?} opened as {opened_as:?}"
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn varints_round_trip_in_their_shortest_form_only() {
        for n in [
            0,
            1,
            127,
            128,
            255,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = [0u8; 10];
            let len = varint_len(n);
            Writer(&mut buf[..len]).put_varint(n);
            let mut read = &buf[..len];
            assert_eq!(take_varint(&mut read), Some(n), "{n}");
            assert!(read.is_empty());
        }
        for bad in [
            &[0x80][..],                                                   // truncated
            &[0x80, 0x00],                                                 // not shortest
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], // past 64 bits
            &[0xff; 11],
        ] {
            assert_eq!(take_varint(&mut &bad[..]), None, "{bad:?}");
        }
    }

    #[test]
    fn the_built_in_layout_refuses_what_it_never_writes() {
        let ok = |body: &[u8]| parse_entries(body, <[u8]>::to_vec).is_ok();
        assert!(ok(&[0]));
        assert!(ok(&[1, 1, b'k', 2, b'4', b'2']));
        assert!(!ok(&[]), "no count");
        assert!(!ok(&[1, 1, b'k', 2, b'4']), "truncated value");
        assert!(!ok(&[1, 1, b'k', 1, b'4', 0]), "trailing byte");
        assert!(!ok(&[1, 1, 0xff, 1, b'4']), "key not UTF-8");
        assert!(
            !ok(&[2, 1, b'k', 1, b'1', 1, b'k', 1, b'2']),
            "repeated key"
        );
        assert!(
            !ok(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            "a count the bytes cannot hold"
        );
    }

    /// An encrypted cookie is never compressed: one that says so (only the key holder could
    /// make it) is refused as a bad format.
    #[test]
    fn an_encrypted_cookie_flagged_as_compressed_is_refused() {
        let store = CookieStore::encrypted([7u8; 32]).build().unwrap();
        let (_, value) = sealed(&store, &CTX);
        let mut plaintext = plaintext_of(&store, &value, &CTX);
        assert!(store
            .inner
            .parse(&plaintext, Bytes::copy_from_slice)
            .is_ok());
        plaintext[1] = FLAG_DEFLATE;
        let value = seal_plaintext(&store, &plaintext, &CTX);
        assert!(matches!(
            store.inner.unseal(&value, &CTX),
            Err(OpenFailure {
                error: CookieDecodeError::Format,
                ..
            })
        ));
    }

    /// A session with a user carries the user id, the handle and since when it is tied to the
    /// user (in milliseconds, by the store's clock): the first seal of the tie sets it, every
    /// later seal keeps it, a tie to another user (another handle) starts again. In both modes.
    #[test]
    fn a_user_and_the_time_of_the_tie_travel_in_the_seal() {
        let clock = crate::clock::ManualClock::new();
        let seal_open = |store: &CookieStore, id: &SessionId, record: &Record| {
            let ClientValue::Sealed(value) = store.seal(id, record, &CTX).unwrap() else {
                panic!("sealed")
            };
            let (back_id, back) = store.inner.unseal(&value, &CTX).ok().unwrap();
            assert_eq!(back_id, *id);
            back
        };
        for builder in [
            CookieStore::signed([7u8; 32]),
            CookieStore::signed([7u8; 32]).compress(true),
            CookieStore::encrypted([7u8; 32]),
        ] {
            let store = builder.clock(clock.clone()).build().unwrap();
            let tied = clock.now() * 1000;
            let mut record = record();
            record.meta.created_at = clock.now() - 100;
            let user = SessionUser::new([0xff, 0, b'a']); // any bytes
            record.meta.user = Some(user.clone());
            let id = SessionId::generate();
            let back = seal_open(&store, &id, &record);
            assert_eq!(back.data, record.data);
            assert_eq!(back.meta.user, Some(user.clone().signed_in(tied)));
            assert_eq!(back.meta.user_since, Some((user.handle.clone(), tied)));
            assert_eq!(back.meta.created_at, record.meta.created_at);
            assert_eq!(back.meta.expires_at, record.meta.expires_at);

            // Sealed again later: still tied since then.
            clock.advance(Duration::from_secs(5));
            let again = seal_open(&store, &id, &back);
            assert_eq!(again.meta.user_since, Some((user.handle.clone(), tied)));
            // Another user now: since now.
            let mut other = again.clone();
            let bob = SessionUser::new("bob");
            other.meta.user = Some(bob.clone());
            let other = seal_open(&store, &id, &other);
            assert_eq!(
                other.meta.user_since,
                Some((bob.handle, clock.now() * 1000))
            );
        }
    }

    /// With a revocation store, a user's cookie is never sealed to live longer than the
    /// revocation TTL (its record could be gone by then); an anonymous one is sealed as it is.
    #[test]
    fn a_users_cookie_never_outlives_the_revocation_ttl() {
        let clock = crate::clock::ManualClock::new();
        let store = CookieStore::encrypted([7u8; 32])
            .clock(clock.clone())
            .revocations(super::super::MemoryStore::default())
            .revocation_ttl(Duration::from_secs(60))
            .build()
            .unwrap();
        let seal_open = |record: &Record| {
            let id = SessionId::generate();
            let ClientValue::Sealed(value) = store.seal(&id, record, &CTX).unwrap() else {
                panic!("sealed")
            };
            store.inner.unseal(&value, &CTX).ok().unwrap().1
        };
        let mut record = record();
        record.meta = Meta::new(clock.now(), clock.now() + 3600);
        assert_eq!(
            seal_open(&record).meta.expires_at,
            clock.now() + 3600,
            "anonymous: as it is"
        );
        record.meta.user = Some(SessionUser::new("ann"));
        assert_eq!(
            seal_open(&record).meta.expires_at,
            clock.now() + 60,
            "a user's: capped"
        );
    }

    /// An anonymous session keeps the layout version 3 always had, plus the last-seen time
    /// after the id behind its flag: a cookie of the layout before the flag (no flag, nothing
    /// between the id and the values: what every anonymous cookie was) still opens, with the
    /// same session and the last-seen time unknown (0); a flag nobody defines is refused.
    #[test]
    fn an_anonymous_session_keeps_the_version_3_layout_and_unknown_flags_are_refused() {
        let store = CookieStore::encrypted([7u8; 32]).build().unwrap();
        let (id, value) = sealed(&store, &CTX);
        let plaintext = plaintext_of(&store, &value, &CTX);
        let record = record();
        let varint = |n: u64| {
            let mut buf = [0u8; 10];
            let len = varint_len(n);
            Writer(&mut buf[..len]).put_varint(n);
            buf[..len].to_vec()
        };
        let mut old = vec![VERSION, 0];
        for n in [record.meta.created_at, record.meta.expires_at] {
            old.extend_from_slice(&varint(n));
        }
        old.extend_from_slice(id.as_str().as_bytes());
        let mut now = old.clone();
        now[1] = FLAG_SEEN;
        let seen = record.meta.last_seen - record.meta.created_at;
        now.extend_from_slice(&varint(seen));
        assert_eq!(
            plaintext[..now.len()],
            now[..],
            "the version 3 header, byte for byte, then the last-seen offset"
        );
        let body = &plaintext[now.len()..];
        assert_eq!(
            parse_entries(body, Bytes::copy_from_slice).unwrap(),
            record.data,
            "then the values, and nothing else"
        );
        old.extend_from_slice(body);
        let (_, back) = store
            .inner
            .unseal(&seal_plaintext(&store, &old, &CTX), &CTX)
            .ok()
            .unwrap();
        assert_eq!(
            back,
            Record {
                meta: Meta {
                    last_seen: 0,
                    ..record.meta.clone()
                },
                ..record.clone()
            },
            "a cookie from before the flag: the same session, last seen at an unknown time"
        );
        for flags in [8, 0x10, 0x80] {
            let mut other = old.clone();
            other[1] = flags;
            assert!(matches!(
                store
                    .inner
                    .unseal(&seal_plaintext(&store, &other, &CTX), &CTX),
                Err(OpenFailure {
                    error: CookieDecodeError::Format,
                    ..
                })
            ));
        }
        // The user flag with a truncated user part, the last-seen flag with a truncated
        // varint: a bad format, not a panic.
        let mut truncated = old.clone();
        truncated[1] = FLAG_USER;
        truncated.truncate(2 + 10 + ID_LEN);
        let mut unfinished = old[..2 + 10 + ID_LEN].to_vec();
        unfinished[1] = FLAG_SEEN;
        unfinished.push(0x80);
        for bad in [truncated, unfinished] {
            assert!(store
                .inner
                .unseal(&seal_plaintext(&store, &bad, &CTX), &CTX)
                .is_err());
        }
    }

    /// The last-seen time travels in the seal, any value of it, in every mode, as an offset
    /// from the creation time that costs one byte for a session seen within two minutes of its
    /// creation and three within 24 days; 0 (unknown) travels as the absence of the flag.
    #[test]
    fn the_last_seen_time_travels_in_the_seal() {
        let created = 1_700_000_000u64;
        for builder in [
            CookieStore::signed([7u8; 32]),
            CookieStore::signed([7u8; 32]).compress(true),
            CookieStore::encrypted([7u8; 32]),
        ] {
            let store = builder.build().unwrap();
            let id = SessionId::generate();
            let seal = |last_seen: u64| {
                let mut record = record();
                record.meta = Meta::new(created, created + 3600).with_last_seen(last_seen);
                let ClientValue::Sealed(value) = store.seal(&id, &record, &CTX).unwrap() else {
                    panic!("sealed")
                };
                let plaintext = plaintext_of(&store, &value, &CTX);
                let (_, back) = store.inner.unseal(&value, &CTX).ok().unwrap();
                assert_eq!(back, record, "{last_seen}");
                (plaintext[1] & FLAG_SEEN != 0, plaintext.len())
            };
            let (flagged, unknown) = seal(0);
            assert!(!flagged, "0 is no time");
            for (last_seen, bytes) in [
                (created, 1),
                (created + 127, 1),
                (created + 128, 2),
                (created + 24 * 24 * 3600, 3),
                (created - 1, 10),
                (1, 10),
                (u64::MAX, 10),
            ] {
                let (flagged, len) = seal(last_seen);
                assert!(flagged, "{last_seen}");
                assert_eq!(len - unknown, bytes, "{last_seen}");
            }
        }
    }

    /// What a user costs a cookie: the tie time (6 bytes for a time in milliseconds of these
    /// decades), the user id after its length, the 22-byte handle; nothing else changes.
    #[test]
    fn a_user_adds_its_id_a_handle_and_a_time_to_the_cookie() {
        let clock = crate::clock::ManualClock::new();
        let store = CookieStore::encrypted([7u8; 32])
            .clock(clock.clone())
            .build()
            .unwrap();
        let anonymous = sealed(&store, &CTX).1;
        let mut record = record();
        record.meta.user = Some(SessionUser::new("42"));
        let ClientValue::Sealed(tied) = store.seal(&SessionId::generate(), &record, &CTX).unwrap()
        else {
            panic!("sealed")
        };
        let raw = |v: &str| URL_SAFE_NO_PAD.decode(v).unwrap().len();
        assert_eq!(varint_len(clock.now() * 1000), 6);
        assert_eq!(raw(&tied) - raw(&anonymous), 6 + 1 + 2 + HANDLE_LEN);
    }

    /// A user's revocation record has an id no client can present, the same for every store
    /// and process, and its own for each user.
    #[test]
    fn revocation_ids_are_per_user_and_never_a_client_id() {
        let ann = revocation_id(&UserKey::of("ann"));
        assert_eq!(ann, revocation_id(&UserKey::of("ann")));
        assert_ne!(ann, revocation_id(&UserKey::of("bob")));
        assert!(SessionId::parse(ann.as_str()).is_none());
        assert!(!ann.as_str().contains("ann"));
        assert_eq!(ann.store_key().len(), 64);
    }

    #[test]
    fn a_revocation_store_that_keeps_nothing_is_refused() {
        let refused = |b: CookieStoreBuilder| b.build().err().map(|e| e.to_string());
        let msg = refused(CookieStore::signed([7u8; 32]).revocations(NullStore)).unwrap();
        assert!(msg.contains("NullStore"), "{msg}");
        let cookie = CookieStore::signed([8u8; 32]).build().unwrap();
        let msg = refused(CookieStore::signed([7u8; 32]).revocations(cookie)).unwrap();
        assert!(msg.contains("client-side"), "{msg}");
        assert!(refused(
            CookieStore::signed([7u8; 32])
                .revocations(super::super::MemoryStore::default())
                .revocation_ttl(Duration::from_millis(10))
        )
        .is_some());
        assert!(CookieStore::signed([7u8; 32])
            .revocations(super::super::MemoryStore::default())
            .build()
            .is_ok());
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
            let ClientValue::Sealed(value) = store.seal(&id, record, &CTX).unwrap() else {
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

            /// The layout after the seal: random bytes (as only a key holder could seal them)
            /// never panic, and whatever parses writes back to what parses the same.
            #[test]
            fn random_payloads_never_panic(body in any::<Vec<u8>>()) {
                if let Ok(data) = parse_entries(&body, <[u8]>::to_vec) {
                    let again = Entries.serialize(&data).unwrap();
                    prop_assert_eq!(Entries.deserialize(&again).unwrap(), data);
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
                    let _ = store.unseal(&seal_plaintext(store, &plaintext, &CTX), &CTX);
                    if junk.first() != Some(&VERSION) {
                        let value = seal_plaintext(store, &junk, &CTX);
                        prop_assert!(store.unseal(&value, &CTX).is_none());
                    }
                }
            }

            #[test]
            fn random_input_never_panics_nor_opens(input in any::<String>(), bytes in any::<Vec<u8>>()) {
                let encoded = URL_SAFE_NO_PAD.encode(&bytes);
                for store in stores().iter().chain(&json_stores()) {
                    prop_assert!(store.unseal(&input, &CTX).is_none());
                    prop_assert!(store.unseal(&encoded, &CTX).is_none());
                }
            }
        }
    }
}
