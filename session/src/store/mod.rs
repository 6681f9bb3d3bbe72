//! Where session data lives: the [`SessionStore`] trait and the stores that implement it.
//!
//! A store keeps [`Record`]s under a [`SessionId`]. The middleware decides *when* to load, save,
//! touch or delete (the commit rules in [`crate::middleware`]); a store only carries it out.
//! Server-side stores should key records by [`SessionId::store_key`] (a hash of the id), never by
//! the id itself.
//!
//! Writing your own store takes four async methods; `examples/custom_store.rs` shows one in about
//! thirty lines. A store that cannot save single keys can ignore [`Changes`] and write the whole
//! record; one that can (a Redis hash, a map) applies only the changed keys, so that concurrent
//! requests that change different keys of one session do not erase each other.
//!
//! A *client-side* store (the data sealed into the cookie) fits the same trait through the two
//! provided methods [`SessionStore::seal`] and [`SessionStore::unseal`]: it turns a record into the
//! value the client carries, and back. Both get a [`SealContext`]: the name the value travels
//! under and the client binding, which a sealing store binds its value to.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::error::{SessionError, StoreError};
use crate::id::SessionId;

mod cookie;
mod file;
mod memory;
mod null;
#[cfg(feature = "redis")]
mod redis;

pub use self::cookie::{
    BinarySerializer, CookieDecodeError, CookieSerializer, CookieStore, CookieStoreBuilder,
    EncodeFailure, JsonSerializer, MIN_KEY_LEN,
};
#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreBuilder};
/// Re-export of `deadpool-redis`, so the pool types match the store's (feature `redis`).
#[cfg(feature = "redis")]
pub use deadpool_redis;
#[cfg(feature = "fuzzing")]
pub(crate) use file::decode as file_decode;
pub use file::{FileStore, FileStoreBuilder};
#[cfg(all(feature = "fuzzing", feature = "redis"))]
pub(crate) fn redis_decode(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Option<Record> {
    self::redis::parse(fields, &SessionId::generate())
}
pub use memory::{MemoryStore, MemoryStoreBuilder};
pub use null::NullStore;

/// One session's data and timestamps, as a store keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Encoded values (see [`crate::codec`]) by key.
    pub data: HashMap<String, Vec<u8>>,
    /// When the session was created, in Unix seconds: the base of the absolute timeout.
    pub created_at: u64,
    /// When the record stops being valid, in Unix seconds: the earlier of the idle and absolute
    /// deadlines. Stores use it as their TTL; the middleware checks it again after a load.
    pub expires_at: u64,
}

impl Record {
    /// Seconds left before [`expires_at`](Self::expires_at), counted from `now` (0 when past).
    pub fn ttl(&self, now: u64) -> u64 {
        self.expires_at.saturating_sub(now)
    }
}

/// What a save changes relative to what the store holds.
///
/// The values of changed keys are in the [`Record`] passed alongside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The session did not exist in the store before this save (a new session, or one under a
    /// new id after `change_id`). A store must not *update* a record that is gone when this is
    /// `false`: the session was deleted meanwhile (logout elsewhere wins).
    pub created: bool,
    /// The whole record replaces what the store holds (after `clear()`, or for a new session).
    pub replace_all: bool,
    /// Keys whose value was set.
    pub set: Vec<String>,
    /// Keys that were removed.
    pub removed: Vec<String>,
}

impl Changes {
    /// A change that writes the whole record as new.
    pub fn full() -> Self {
        Changes {
            created: true,
            replace_all: true,
            set: Vec::new(),
            removed: Vec::new(),
        }
    }
}

/// What a client's value stands for, as read by [`SessionStore::unseal`].
#[derive(Debug)]
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

/// What a client's value is bound to, passed by the middleware to [`SessionStore::seal`] and
/// [`SessionStore::unseal`].
///
/// - [`name`](Self::name): the name the value travels under: the cookie name of a
///   [`CookieState`](crate::state::CookieState), the header name of a
///   [`HeaderState`](crate::state::HeaderState) (lower case), or the query parameter of a
///   [`QueryState`](crate::state::QueryState).
/// - [`binding`](Self::binding): what [`SessionStore::client_binding`] returned for this request.
///
/// A store that seals its value (like [`CookieStore`]) authenticates both along with it, so a
/// value issued under one name never opens under another (an app's `user_sid` presented as its
/// `admin_sid`), even when one store value serves both middlewares. Server-side stores can
/// ignore it. Build one with [`SealContext::new`] (for tests, or a store that wraps another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealContext<'a> {
    name: &'a str,
    binding: Option<&'a [u8]>,
}

impl<'a> SealContext<'a> {
    /// A value travelling under `name`, bound to no client.
    pub fn new(name: &'a str) -> Self {
        SealContext {
            name,
            binding: None,
        }
    }

    /// The same context with the client binding `binding`.
    pub fn with_binding(self, binding: Option<&'a [u8]>) -> Self {
        SealContext { binding, ..self }
    }

    /// The cookie, header or query parameter name the value travels under.
    pub fn name(&self) -> &'a str {
        self.name
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
/// formed; records passed to [`save`](Self::save) carry their own expiry.
pub trait SessionStore: Send + Sync + 'static {
    /// Returns the record stored under `id`, or `None` when unknown or expired.
    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Writes `record` under `id`, applying `changes` (or simply the whole record).
    fn save(
        &self,
        id: &SessionId,
        record: &Record,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the record of `id`; removing an unknown id is not an error.
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Extends the life of an unchanged record to `record.expires_at`.
    ///
    /// The default rewrites the whole record with [`save`](Self::save); stores with a cheaper
    /// expiry update (Redis `EXPIRE`) override it.
    fn touch(
        &self,
        id: &SessionId,
        record: &Record,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let changes = Changes {
                created: false,
                replace_all: true,
                ..Changes::default()
            };
            self.save(id, record, &changes).await
        }
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

/// Object-safe twin of [`SessionStore`], so that the untyped [`Session`](crate::Session) handle
/// does not carry the store's type.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<Record>>;
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
        changes: &'a Changes,
    ) -> StoreFuture<'a, ()>;
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()>;
    fn touch<'a>(&'a self, id: &'a SessionId, record: &'a Record) -> StoreFuture<'a, ()>;
    fn unseal(&self, value: &str, ctx: &SealContext<'_>) -> Option<Unsealed>;
    fn client_binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>>;
    fn client_side(&self) -> bool;
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<ClientValue, SessionError>;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<Record>> {
        Box::pin(SessionStore::load(self, id))
    }
    fn save<'a>(
        &'a self,
        id: &'a SessionId,
        record: &'a Record,
        changes: &'a Changes,
    ) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::save(self, id, record, changes))
    }
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::delete(self, id))
    }
    fn touch<'a>(&'a self, id: &'a SessionId, record: &'a Record) -> StoreFuture<'a, ()> {
        Box::pin(SessionStore::touch(self, id, record))
    }
    fn unseal(&self, value: &str, ctx: &SealContext<'_>) -> Option<Unsealed> {
        SessionStore::unseal(self, value, ctx)
    }
    fn client_binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        SessionStore::client_binding(self, req)
    }
    fn client_side(&self) -> bool {
        SessionStore::client_side(self)
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
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        (**self).load(id)
    }
    fn save(
        &self,
        id: &SessionId,
        record: &Record,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).save(id, record, changes)
    }
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).delete(id)
    }
    fn touch(
        &self,
        id: &SessionId,
        record: &Record,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).touch(id, record)
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
