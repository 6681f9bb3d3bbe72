//! Where session data lives: the store traits, one per capability, and the stores of this
//! crate.
//!
//! # Two kinds of store, and one capability
//!
//! - [`SessionStore`]: the session lives on the server, keyed by a hash of its id
//!   ([`SessionId::store_key`](crate::SessionId::store_key), never the id itself); the client
//!   holds the id. Three methods are required (`load`, `save`, `delete`); `touch` and
//!   [`change_id`](SessionStore::change_id) have defaults built from them, which a store
//!   overrides when it can do better (a cheaper expiry update, a move of the id in one atomic
//!   step). `examples/custom_store.rs` is one in about thirty lines. [`MemoryStore`],
//!   [`FileStore`], `RedisStore`, `PostgresStore`, `SqliteStore`, [`NullStore`].
//! - [`UserIndex`]: the capability of a server-side store to list a user's sessions and end
//!   them, handed out by [`SessionStore::user_index`] (an [`IndexRef`], which only a type that
//!   implements the trait can make: a store cannot claim an index it does not have). Every
//!   server-side store of this crate but the `NullStore` has it.
//! - [`ClientStore`]: nothing is kept on the server; the whole session travels sealed in the
//!   client's value ([`CookieStore`]), bound to a [`SealContext`] (the name and kind of carrier
//!   it travels in, and the client binding).
//!
//! The middleware takes any of them ([`IntoBackend`]) and decides once, when it is built, which
//! kind it holds; no request asks again. A store that wraps another forwards every method, the
//! capability accessor included (see `testing::Instrumented`).
//!
//! The middleware decides *when* to load, save, touch or delete (the
//! [commit rules](crate#when-the-session-is-written)); a store only carries it out.
//!
//! # The server-side trait's shape, and why
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
//! Trade-offs: a handler that takes the untyped `Session` loads every value of a session from a
//! remote store (Redis `HGETALL`), since its reads cannot wait for the network; take a typed
//! session to load one key. A request that only writes still loads what its extractor asks for:
//! the sync API cannot tell a write-only handler from a reading one.

use std::future::Future;
use std::pin::Pin;

use crate::error::StoreError;

pub(crate) mod backend;
mod client;
mod cookie;
mod file;
mod index;
mod memory;
mod null;
mod record;
#[cfg(feature = "redis")]
pub(crate) mod redis;
mod server;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
pub(crate) mod user;

pub use self::cookie::{
    BinarySerializer, CookieDecodeError, CookieSerializer, CookieStore, CookieStoreBuilder,
    EncodeFailure, JsonSerializer, DEFAULT_REVOCATION_TTL, MIN_KEY_LEN,
};
#[cfg(feature = "redis")]
pub use self::redis::{ReadCache, RedisStore, RedisStoreBuilder};
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
    self::redis::parse(fields, &crate::id::SessionId::generate())
}
#[cfg(all(feature = "fuzzing", feature = "redis"))]
pub(crate) fn redis_decode_packed(packed: &[u8]) -> Option<Record> {
    self::redis::parse_packed(packed, &crate::id::SessionId::generate())
}
pub use backend::IntoBackend;
pub use client::{CarrierKind, ClientSide, ClientStore, SealContext};
pub use index::{IndexRef, UserIndex};
pub use memory::{MemoryStore, MemoryStoreBuilder};
pub use null::NullStore;
pub(crate) use record::Values;
pub use record::{Bytes, Changes, Fetch, LiveValues, Loaded, Meta, Record};
pub(crate) use server::DynStore;
pub use server::SessionStore;
pub use user::{Handle, SessionUser, UserKey, LARGE_INDEX};

/// A future returned by a store method.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;
