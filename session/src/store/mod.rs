//! Where session data lives: the [`SessionStore`] trait and the stores that implement it.
//!
//! A store keeps sessions — [`Meta`]data and values, by key — under a [`SessionId`]. The
//! middleware decides *when* to load, save, touch or delete (the
//! [commit rules](crate#when-the-session-is-written)); a store only carries it out. Server-side stores key records by
//! [`SessionId::store_key`] (a hash of the id), never by the id itself.
//!
//! # The trait's shape, and why
//!
//! A request should cost what it touches, not what the session holds. So the trait speaks in
//! keys:
//!
//! - [`load`](SessionStore::load) gets a [`Fetch`]: the values the request needs besides the
//!   metadata. A typed session extractor asks for its one key (Redis: one `HMGET` of the
//!   metadata and that key); the untyped [`Session`](struct@crate::Session) handle, whose
//!   reads are synchronous, asks for every value, since it cannot fetch later. A
//!   store answers with [`Loaded::whole`] (everything: always correct, the simple answer of a
//!   store that keeps whole records), [`Loaded::partial`] (the asked keys), or, for a store in
//!   this process, [`Loaded::live`]: a [`LiveValues`] view that the request reads key by key,
//!   so a load copies nothing (`MemoryStore`; reads then see what the store holds at the time
//!   of the read, not a snapshot taken at the load).
//! - [`save`](SessionStore::save) gets [`Changes`]: only the keys the request set or removed,
//!   with their values. Concurrent requests that change different keys of one session keep
//!   both changes, and a save costs the changed keys, not the session's size. A store of whole
//!   records applies them with [`Changes::apply`].
//! - Values are [`Bytes`]: handing one from the store to the request and back is a reference
//!   count, never a copy.
//!
//! What every store must do is three methods: `load`, `save` and `delete`; `touch` and
//! [`change_id`](SessionStore::change_id) have defaults built from them (a store overrides them
//! when it can do better: a cheaper expiry update, a rotation in one atomic step).
//! `examples/custom_store.rs` is one in about thirty lines. The rest are capabilities with
//! honest defaults: per-key loads (the `Fetch` a store may ignore), live
//! views, the user index ([`lists_users`](SessionStore::lists_users) with
//! [`user_sessions`](SessionStore::user_sessions), [`revoke`](SessionStore::revoke) and
//! [`revoke_all`](SessionStore::revoke_all)), and client-side sealing ([`seal`](SessionStore::seal) / [`unseal`](SessionStore::unseal)
//! / [`client_side`](SessionStore::client_side), for a store that keeps the session in the
//! client's cookie: both get a [`SealContext`], the name and the kind of carrier the value
//! travels under and the client binding, which a sealing store binds its value to).
//!
//! Trade-offs: a handler that takes the untyped `Session` loads every value of a session from a
//! remote store (Redis `HGETALL`), since its reads cannot wait for the network; take a typed
//! session to load one key. A request that only writes still loads what its extractor asks for:
//! the sync API cannot tell a write-only handler from a reading one.

use std::future::Future;
use std::pin::Pin;

use crate::error::{SessionError, StoreError};
use crate::id::SessionId;

pub(crate) mod backend;
mod cookie;
mod file;
mod memory;
mod null;
mod record;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
pub(crate) mod user;

pub use self::cookie::{
    BinarySerializer, CookieDecodeError, CookieSerializer, CookieStore, CookieStoreBuilder,
    EncodeFailure, JsonSerializer, DEFAULT_REVOCATION_TTL, MIN_KEY_LEN,
};
#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreBuilder};
/// Re-export of `deadpool-redis`, so the pool types match the store's (feature `redis`).
#[cfg(feature = "redis")]
pub use deadpool_redis;
#[cfg(feature = "fuzzing")]
pub(crate) use file::decode as file_decode;
pub use file::{FileStore, FileStoreBuilder};
#[cfg(feature = "postgres")]
pub use sql::postgres::{PostgresStore, PostgresStoreBuilder};
#[cfg(feature = "sqlite")]
pub use sql::{SqliteStore, SqliteStoreBuilder};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sql::{
    DEFAULT_BATCH_SIZE as SQL_DEFAULT_BATCH_SIZE,
    DEFAULT_CLEANUP_INTERVAL as SQL_DEFAULT_CLEANUP_INTERVAL, DEFAULT_TABLE as SQL_DEFAULT_TABLE,
    DEFAULT_TIMEOUT as SQL_DEFAULT_TIMEOUT, PURGE_STEP as SQL_PURGE_STEP,
};
/// Re-export of `sqlx`, so the pool types match the SQL stores' (features `postgres`, `sqlite`).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sqlx;
#[cfg(all(feature = "fuzzing", feature = "redis"))]
pub(crate) fn redis_decode(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Record> {
    self::redis::parse(fields, &SessionId::generate())
}
pub use memory::{MemoryStore, MemoryStoreBuilder};
pub use null::NullStore;
pub(crate) use record::Values;
pub use record::{Bytes, Changes, Fetch, LiveValues, Loaded, Meta, Record};
pub use user::{Handle, SessionUser, UserKey, LARGE_INDEX};

/// What a client's value stands for, as read by [`SessionStore::unseal`].
#[derive(Debug)]
// Moved once per request; boxing the record would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
pub enum Unsealed {
    /// An id to look up with [`SessionStore::load`] (server-side stores).
    Id(SessionId),
    /// The record itself, carried by the client (client-side stores).
    Record(SessionId, Record),
}

/// What [`SessionStore::seal`] asks the middleware to send to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientValue {
    /// The session id (server-side stores); sent when the id is new or a persistent cookie needs
    /// refreshing.
    Id,
    /// This value (a client-side store's sealed record); sent after every save or touch.
    Sealed(String),
    /// Nothing: the client keeps what it has.
    Unchanged,
}

/// The kind of carrier a client's value travels in: a cookie, a request header or a query
/// parameter (the [state](crate::state) of the middleware, see
/// [`IdCarrier::kind`](crate::state::IdCarrier::kind)). Part of a [`SealContext`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CarrierKind {
    /// A cookie ([`CookieState`](crate::state::CookieState)); what [`SealContext::new`] assumes.
    #[default]
    Cookie,
    /// A request header ([`HeaderState`](crate::state::HeaderState), bearer tokens included).
    Header,
    /// A query parameter ([`QueryState`](crate::state::QueryState)).
    Query,
}

/// What a client's value is bound to, passed by the middleware to [`SessionStore::seal`] and
/// [`SessionStore::unseal`].
///
/// - [`name`](Self::name): the name the value travels under: the cookie name of a
///   [`CookieState`](crate::state::CookieState), the header name of a
///   [`HeaderState`](crate::state::HeaderState) (lower case), or the query parameter of a
///   [`QueryState`](crate::state::QueryState).
/// - [`kind`](Self::kind): which of the three it is ([`CarrierKind`]). The name alone does not
///   say: a cookie `sid`, a header `sid` and a query parameter `sid` have the same name.
/// - [`binding`](Self::binding): what [`SessionStore::client_binding`] returned for this request.
///
/// A store that seals its value (like [`CookieStore`]) authenticates all three along with it, so
/// a value issued under one name never opens under another (an app's `user_sid` presented as
/// its `admin_sid`), nor in another kind of carrier (the cookie `sid` of one middleware
/// presented as the query parameter `sid` of another), even when one store value serves both
/// middlewares (`tests/cookie_store.rs` `a_sealed_cookie_never_opens_under_another_cookie_name`,
/// `a_sealed_value_never_opens_under_another_kind_of_carrier_of_the_same_name`). Server-side
/// stores can ignore it.
///
/// Build one with [`SealContext::new`] (for tests, or a store that wraps another): a value in
/// a cookie, as before the kind existed, so code written for the name alone keeps meaning a
/// cookie; [`with_kind`](Self::with_kind) sets another kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealContext<'a> {
    name: &'a str,
    kind: CarrierKind,
    binding: Option<&'a [u8]>,
}

impl<'a> SealContext<'a> {
    /// A value travelling in the cookie `name`, bound to no client.
    pub fn new(name: &'a str) -> Self {
        SealContext {
            name,
            kind: CarrierKind::Cookie,
            binding: None,
        }
    }

    /// The same context with the client binding `binding`.
    pub fn with_binding(self, binding: Option<&'a [u8]>) -> Self {
        SealContext { binding, ..self }
    }

    /// The same context for a value travelling in a carrier of kind `kind` (a header or a query
    /// parameter named [`name`](Self::name)).
    pub fn with_kind(self, kind: CarrierKind) -> Self {
        SealContext { kind, ..self }
    }

    /// The cookie, header or query parameter name the value travels under.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Whether the value travels in a cookie, a header or a query parameter.
    pub fn kind(&self) -> CarrierKind {
        self.kind
    }

    /// The store's [`client_binding`](SessionStore::client_binding) of this request, if any.
    pub fn binding(&self) -> Option<&'a [u8]> {
        self.binding
    }
}

/// A future returned by a store method.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The storage backend of [`SessionMiddleware`](crate::SessionMiddleware).
///
/// Implementations write `async fn` in their `impl` block. All methods receive ids that are well
/// formed. Three methods are required (`load`, `save`, `delete`); the rest have defaults built
/// from them or are capabilities with honest defaults (see the
/// [module docs](self)).
pub trait SessionStore: Send + Sync + 'static {
    /// The session stored under `id` — its metadata and the values `fetch` asks for — or `None`
    /// when unknown or expired.
    ///
    /// A store that cannot fetch single keys answers every `fetch` with [`Loaded::whole`]; one
    /// that can answers [`Fetch::Keys`] with [`Loaded::partial`]; one that keeps sessions in
    /// this process can hand out a [`Loaded::live`] view and copy nothing.
    fn load(
        &self,
        id: &SessionId,
        fetch: Fetch<'_>,
    ) -> impl Future<Output = Result<Option<Loaded>, StoreError>> + Send;

    /// Writes `changes` under `id` and sets its metadata to `meta`.
    ///
    /// Unless [`changes.created`](Changes::created), apply them only to a session that still
    /// exists (a concurrent logout wins). A store that keeps whole records can use
    /// [`Changes::apply`].
    fn save(
        &self,
        id: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the session `id`; removing an unknown id is not an error.
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves the session stored under `old` to the new id `new` (never stored before), applies
    /// `changes` to its values and sets its metadata to `meta`, **only if `old` still holds a
    /// live session**; answers whether it moved. This is `change_id` (a login, a privilege
    /// change): the request loaded `old` a while ago, and a logout, a revocation or the expiry
    /// may have ended it since. Then nothing may be written under `new` (the middleware removes
    /// the client's cookie instead): a rotation never brings back a session that ended while it
    /// ran.
    ///
    /// The default is built from the other methods: it loads `old` whole, writes the copy
    /// under `new`, then checks that `old` is still there (if not, it deletes the copy and
    /// answers `false`) and deletes `old`. A session ended before that check ends the copy
    /// too; one ended after it finds the old id gone, and the rotation counts as done first.
    /// That is safe against a logout, and against a revocation that ends the sessions it
    /// chooses in one step over the user index (as `examples/custom_store.rs` does under its
    /// lock): such a revocation either runs before the check or finds the copy, which is
    /// indexed already. A store whose revocation lists a user's sessions and then ends them
    /// one by one must override this method (a revocation listing before the copy and ending
    /// `old` after the check would miss the copy). Concurrent changes to other keys of `old`
    /// made between the load and the copy are lost. Stores that can do it as one operation
    /// override it (the stores of this crate all do: a rename under locks, in one script, or
    /// in one transaction, with revocations that cannot miss a moved session), which also
    /// keeps those concurrent changes.
    ///
    /// A store that wraps another forwards this method, like every other: the default on the
    /// wrapper would run on the inner store's parts and lose what the inner store does better.
    fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let Some(loaded) = self.load(old, Fetch::All).await? else {
                return Ok(false);
            };
            let mut record = loaded.into_record();
            changes.apply(&mut record.data);
            self.save(new, meta, &Changes::full(record.data)).await?;
            if self.load(old, Fetch::Keys(&[])).await?.is_none() {
                // Ended since the copy was made: the copy goes too.
                self.delete(new).await?;
                return Ok(false);
            }
            self.delete(old).await?;
            Ok(true)
        }
    }

    /// Extends the life of an unchanged session to `meta.expires_at`.
    ///
    /// The default is a [`save`](Self::save) that changes no value; stores with a cheaper
    /// expiry update (Redis `EXPIREAT`) override it.
    fn touch(
        &self,
        id: &SessionId,
        meta: &Meta,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move { self.save(id, meta, &Changes::default()).await }
    }

    /// Capability, the user index: every live session tied to `user` (a [`save`](Self::save)
    /// whose [`Meta::user`] is set indexes the session), whole. The default answers
    /// [`StoreError::unsupported`].
    ///
    /// An index entry must not outlive its session for long: prune entries whose session is
    /// gone, expired or tied to another user when you meet them, without relying on expiry
    /// notifications.
    fn user_sessions(
        &self,
        user: &UserKey,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send {
        let _ = user;
        async { Err(StoreError::unsupported("list a user's sessions")) }
    }

    /// Whether this store keeps the user index: `true` when it implements
    /// [`user_sessions`](Self::user_sessions), [`revoke`](Self::revoke) and
    /// [`revoke_all`](Self::revoke_all). Default: `false`.
    ///
    /// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user) needs
    /// the index on every login, so building the middleware with it on a store that answers
    /// `false` is a [`ConfigError`](crate::ConfigError) at start-up rather than a failed login
    /// later. A store that wraps another returns the inner store's answer.
    fn lists_users(&self) -> bool {
        false
    }

    /// Capability: ends the session of `user` whose handle is `handle`; `false` when no
    /// session of that user has it (another user's session is never touched). A save racing
    /// the revocation must not bring the session back.
    fn revoke(
        &self,
        user: &UserKey,
        handle: &Handle,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = (user, handle);
        async { Err(StoreError::unsupported("revoke a session by its handle")) }
    }

    /// Capability: ends every session of `user`, but the one with handle `except`; returns how
    /// many ended (as far as the store knows). A save racing it must not bring a session back.
    fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let _ = (user, except);
        async { Err(StoreError::unsupported("revoke a user's sessions")) }
    }

    /// Capability of a client-side store: whether a session it opened (tied to a user) was
    /// revoked since it was sealed. Called after [`unseal`](Self::unseal) for sessions with a
    /// user; the default is `false` (nothing to check).
    fn revoked(&self, meta: &Meta) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = meta;
        async { Ok(false) }
    }

    /// Reads the value a client presented (already unquoted and percent-decoded).
    ///
    /// The default accepts only a well-formed [`SessionId`]; anything else is `None` and gives a
    /// fresh session. A client-side store opens its sealed value here instead, and refuses one
    /// that was not sealed for `ctx` (the name it travels under, and the client binding that
    /// [`client_binding`](Self::client_binding) returned for this request).
    fn unseal(&self, value: &str, ctx: &SealContext<'_>) -> Option<Unsealed> {
        let _ = ctx;
        SessionId::parse(value).map(Unsealed::Id)
    }

    /// Whether this store carries the session's data in the client's value (a sealed cookie)
    /// rather than on the server. Such a value must leave with the response head, so
    /// `late_store` does not apply to it. Default: `false`.
    fn client_side(&self) -> bool {
        false
    }

    /// What of the request a session should be bound to (for example a hash of the
    /// `User-Agent`), passed to [`unseal`](Self::unseal) and [`seal`](Self::seal) in the
    /// [`SealContext`]. The default: nothing.
    fn client_binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        let _ = req;
        None
    }

    /// The value to send to the client for this session. Server-side stores keep the default,
    /// [`ClientValue::Id`]. A client-side store returns the sealed record
    /// ([`ClientValue::Sealed`]), which is then sent after every save or touch, or
    /// [`ClientValue::Unchanged`] to send nothing (the client keeps its previous value). A
    /// sealed value should open only under the same `ctx` (see [`SealContext`]).
    ///
    /// # Errors
    /// A [`SessionError`] fails the response (for example a value that cannot be encoded).
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<ClientValue, SessionError> {
        let _ = (id, record, ctx);
        Ok(ClientValue::Id)
    }
}

/// Object-safe twin of [`SessionStore`], so that the untyped [`Session`](struct@crate::Session) handle
/// does not carry the store's type.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId, fetch: Fetch<'a>) -> StoreFuture<'a, Option<Loaded>>;
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        meta: &'a Meta,
        changes: &'a Changes,
    ) -> StoreFuture<'a, ()>;
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()>;
    fn change_id<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionId,
        meta: &'a Meta,
        changes: &'a Changes,
    ) -> StoreFuture<'a, bool>;
    fn touch<'a>(&'a self, id: &'a SessionId, meta: &'a Meta) -> StoreFuture<'a, ()>;
    fn user_sessions<'a>(&'a self, user: &'a UserKey) -> StoreFuture<'a, Vec<Record>>;
    fn revoke<'a>(&'a self, user: &'a UserKey, handle: &'a Handle) -> StoreFuture<'a, bool>;
    fn revoke_all<'a>(
        &'a self,
        user: &'a UserKey,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, usize>;
    fn revoked<'a>(&'a self, meta: &'a Meta) -> StoreFuture<'a, bool>;
    fn unseal(&self, value: &str, ctx: &SealContext<'_>) -> Option<Unsealed>;
    fn client_binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>>;
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<ClientValue, SessionError>;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, id: &'a SessionId, fetch: Fetch<'a>) -> StoreFuture<'a, Option<Loaded>> {
        Box::pin(SessionStore::load(self, id, fetch))
    }
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        meta: &'a Meta,
        changes: &'a Changes,
    ) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::save(self, id, meta, changes))
    }
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::delete(self, id))
    }
    fn change_id<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionId,
        meta: &'a Meta,
        changes: &'a Changes,
    ) -> StoreFuture<'a, bool> {
        Box::pin(SessionStore::change_id(self, old, new, meta, changes))
    }
    fn touch<'a>(&'a self, id: &'a SessionId, meta: &'a Meta) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::touch(self, id, meta))
    }
    fn user_sessions<'a>(&'a self, user: &'a UserKey) -> StoreFuture<'a, Vec<Record>> {
        Box::pin(SessionStore::user_sessions(self, user))
    }
    fn revoke<'a>(&'a self, user: &'a UserKey, handle: &'a Handle) -> StoreFuture<'a, bool> {
        Box::pin(SessionStore::revoke(self, user, handle))
    }
    fn revoke_all<'a>(
        &'a self,
        user: &'a UserKey,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, usize> {
        Box::pin(SessionStore::revoke_all(self, user, except))
    }
    fn revoked<'a>(&'a self, meta: &'a Meta) -> StoreFuture<'a, bool> {
        Box::pin(SessionStore::revoked(self, meta))
    }
    fn unseal(&self, value: &str, ctx: &SealContext<'_>) -> Option<Unsealed> {
        SessionStore::unseal(self, value, ctx)
    }
    fn client_binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        SessionStore::client_binding(self, req)
    }
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<ClientValue, SessionError> {
        SessionStore::seal(self, id, record, ctx)
    }
}

/// Stores behind a shared pointer are stores too, so tests and apps can keep a handle.
impl<S: SessionStore> SessionStore for std::sync::Arc<S> {
    fn load(
        &self,
        id: &SessionId,
        fetch: Fetch<'_>,
    ) -> impl Future<Output = Result<Option<Loaded>, StoreError>> + Send {
        (**self).load(id, fetch)
    }
    fn save(
        &self,
        id: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).save(id, meta, changes)
    }
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).delete(id)
    }
    fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).change_id(old, new, meta, changes)
    }
    fn touch(
        &self,
        id: &SessionId,
        meta: &Meta,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).touch(id, meta)
    }
    fn user_sessions(
        &self,
        user: &UserKey,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send {
        (**self).user_sessions(user)
    }
    fn revoke(
        &self,
        user: &UserKey,
        handle: &Handle,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).revoke(user, handle)
    }
    fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).revoke_all(user, except)
    }
    fn revoked(&self, meta: &Meta) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).revoked(meta)
    }
    fn lists_users(&self) -> bool {
        (**self).lists_users()
    }
    fn unseal(&self, value: &str, ctx: &SealContext<'_>) -> Option<Unsealed> {
        (**self).unseal(value, ctx)
    }
    fn client_binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        (**self).client_binding(req)
    }
    fn client_side(&self) -> bool {
        (**self).client_side()
    }
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<ClientValue, SessionError> {
        (**self).seal(id, record, ctx)
    }
}
