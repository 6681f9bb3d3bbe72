//! [`RedisStore`]: sessions in Redis, through a `deadpool-redis` pool.
//!
//! This file: the store, its key layout (in its docs), its builder and its [`SessionStore`]
//! impl. `conn`: the pool, the one shared connection, commands and scripts run within the
//! timeout; `fields`: a session hash's fields, written by a save and read from a reply;
//! `index`: the user index; `scripts`: the Lua scripts; `cache`: the read cache of
//! [`RedisStore::cached`] and why it is never stale.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis;

mod cache;
mod conn;
mod fields;
mod index;
mod scripts;
mod whole;

use self::cache::{Cache, Lookup};
use self::conn::{pool_from_url, Conn, Pool, Tracked};
use self::fields::{field, field_args, parse_keys, META_FIELDS};
#[cfg(feature = "redis-cluster")]
use self::scripts::RETIRE;
use self::scripts::{DROP, ROTATE, SAVE, TOUCH};
use self::whole::{Sizes, Whole};
use super::user::{note_index_size, Choice};
use super::{
    Changes, Fetch, Handle, IndexRef, Loaded, Meta, Record, SessionStore, UserIndex, UserKey,
};
use crate::error::{ConfigError, StoreError};
use crate::id::SessionId;

pub use self::cache::ReadCache;
#[cfg(feature = "fuzzing")]
pub(super) use self::fields::{parse, parse_packed};

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "session:";
/// Default bound on every Redis operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// What follows the prefix in the key of a user's index (a session's key has 64 hex digits
/// there, never a colon).
const INDEX: &str = "u:";

/// Sessions in Redis (or Redis Cluster with the `redis-cluster` feature): the store for several
/// app servers sharing one session space.
///
/// ```no_run
/// use actix_typed_session::{store::RedisStore, SessionMiddleware};
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::from_url("redis://127.0.0.1:6379")?;
/// let middleware = SessionMiddleware::new(store);
/// # Ok(()) }
/// ```
///
/// # Key layout
///
/// - **A session** is one Redis hash under `<prefix><sha256 of the id, hex>` (see
///   [`key`](Self::key)), whose Redis expiry is the session's: a field `k:<key>` per value, and
///   metadata fields `m:c` (created), `m:e` (expires), `m:s` (last seen), and for a session tied
///   to a user ([`Session::set_user`](crate::Session::set_user)) `m:u` (the user id as the app
///   gave it, what [`Session::user`](crate::Session::user) returns), `m:k` (the hex of its
///   [`UserKey`], a hash of the id), `m:h` (the session's [`Handle`]) and `m:t` (when it was
///   tied to the user, Unix milliseconds).
/// - **A user's index** is a sorted set under `<prefix>u:<UserKey hex>` (see
///   [`user_index_key`](Self::user_index_key)): the user id is hashed, never part of a key,
///   whatever its length or content. Each member is `<session key without the prefix>:<handle>`,
///   scored by that session's expiry (Unix seconds), and the set itself expires with its latest
///   member.
///
/// That layout gives:
///
/// - **one round trip per operation**: a load is one `HMGET` of the metadata and the asked keys
///   (a typed session extractor asks for its one key), or one `HGETALL` when the untyped
///   [`Session`](struct@crate::Session) handle needs every value; while the sessions read
///   lately are large (a hundred values or more), that is one `EVALSHA` of a script that
///   answers the hash packed as one MessagePack string instead, which costs Redis more and the
///   app server far less (see `store/redis/whole.rs` for the trade-off); a save is one
///   `EVALSHA` of a
///   small script that applies the changed keys and sets the expiry (`EXPIREAT`) atomically; a
///   touch is one `EVALSHA`; an expire is one `EVALSHA` (it deletes the hash and the session's
///   index entry). The scripts are loaded once per connection; a server that lost them gets one
///   `EVAL`, which caches them again;
/// - **per-key merge**: a save only `HSET`s / `HDEL`s the keys the request changed, so concurrent
///   requests that change different keys of one session both survive;
/// - **no resurrection**: an update (or touch) of a session whose hash is gone does nothing, so a
///   logout or a revocation in one request wins over a save in another (the index entry is not
///   written back either).
///
/// # The user index
///
/// On one node, a tied session's index entry is written **in the same script** as the session
/// (its score kept equal to the session's expiry on every save and touch): tying a session to a
/// user adds no round trip, and the session and its entry change together. Every script that
/// writes an index also prunes it, a bounded step at a time (at most 128 entries whose score,
/// the expiry, is past by the server's clock), and sets the set's own expiry to its latest
/// member's. Listing a user also drops the entries whose session is gone or was tied to another
/// user (or under another handle) since. So an index entry never outlives its session for long,
/// without keyspace notifications or a sweep: an index that nobody reads again expires by
/// itself with its last session (`tests/stores/redis.rs` lets 10 000 sessions of 100 users expire and
/// finds `DBSIZE` 0).
///
/// **Listing and revoking go in pages** (see `store/redis/index.rs`): `ZSCAN` reads about 50
/// members of the index at a time, and one script per page reads (or ends) those sessions. No
/// script works through a whole large index, so one user's thousands of sessions do not stall
/// Redis for everyone: listing 50 000 sessions of one user took 1.3 s here, and Redis ran no
/// command over 2 ms meanwhile (a single script doing it all held every other client for
/// 587 ms; `cargo bench --bench users` prints the table). A user's index
/// that grows past [`LARGE_INDEX`](crate::store::LARGE_INDEX) sessions is logged at `warn`
/// (at the save that grew it past each thousand); bound it with
/// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user).
///
/// A revocation first raises a marker in the user's marker set (`<prefix>r:<user hash>`, a
/// sorted set that expires by itself), and an id change of a session it ends gives up (the
/// session ends) while the marker is up, so no session slips out of a paged revocation by
/// changing its id between two pages.
///
/// Costs on one node, in round trips: [`user_sessions`](UserIndex::user_sessions) two per
/// page (`ZSCAN`, then the page's `EVALSHA`); [`revoke`](UserIndex::revoke) and
/// [`revoke_all`](UserIndex::revoke_all) the marker's two (raise, lower) plus two per page
/// (`revoke` scans only the members of that handle, `ZSCAN .. MATCH`). A small index (up to a
/// fifty sessions) is one page. Inside Redis, a tied save or touch adds `O(log n)` sorted-set
/// work for a user with `n` sessions. The page scripts name the session keys they touch from
/// the index, which a single Redis node allows; on Cluster they would cross slots, so the store
/// does it otherwise there:
///
/// # Redis Cluster
///
/// A session's hash, its user's index and the user's markers live in different slots, so the
/// index is written and read in commands of its own, each pruning it and setting its expiry to
/// its latest member's as above: a tied save or touch is the session's script, then (only if
/// the session still exists) one `EVALSHA` on the index (two round trips; an untied one stays
/// at one); an expire of a tied session is two (the hash, then its entry); listing is one
/// `ZSCAN` per page, one `HGETALL` per entry (up to 32 in flight) and, if stale entries were
/// found, one to remove them; a revocation raises its marker, then per page one `ZSCAN`, one
/// script per chosen session (deleted only if it still belongs to that user under that
/// handle: a script on the session's slot) and one to update the index, and lowers the
/// marker. A revocation still beats a concurrent save (the session's script refuses to update
/// a hash that is gone); at worst the save writes back an index entry of a session that is
/// gone, which the next listing prunes. If the index write after a session's write fails, the
/// request fails (`503`) and the session's next write indexes it again.
///
/// Redis 5 or later (the scripts read the server's clock with `TIME` before writing).
///
/// The store takes one multiplexed connection from the pool and shares it between requests
/// (commands from concurrent requests are pipelined on it). Checking a connection out of a
/// deadpool-redis pool for every request would cost an extra `PING` round trip each time. A
/// connection that fails is dropped and the next request takes a fresh one from the pool, so the
/// app recovers by itself once Redis is back.
///
/// Every operation is bounded by [`RedisStoreBuilder::timeout`] (default 2 s): a slow or
/// unreachable Redis makes the request fail with `503` within that time instead of hanging.
/// Build the pool with [`RedisStore::pool`] (or use [`RedisStore::from_url`]) so that this
/// timeout is the only one: deadpool-redis's default connections also cut every reply off
/// after 500 ms.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    conn: Mutex<Option<Conn>>,
    /// How large the sessions read lately were: how the next whole load goes (`whole`).
    sizes: Sizes,
}

/// Configures a [`RedisStore`]; from [`RedisStore::builder`].
#[must_use]
pub struct RedisStoreBuilder {
    pool: Pool,
    prefix: String,
    timeout: Duration,
}

impl RedisStoreBuilder {
    /// Prefix of every key the store writes. Default: `session:`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bound on each Redis operation (connecting included); past it the request answers `503`.
    /// Default: 2 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the store. No connection is made yet: Redis may start after the app.
    pub fn build(self) -> RedisStore {
        RedisStore {
            inner: Arc::new(Inner {
                pool: self.pool,
                prefix: self.prefix,
                timeout: self.timeout,
                conn: Mutex::new(None),
                sizes: Sizes::default(),
            }),
        }
    }
}

impl RedisStore {
    /// A store on `pool`, with the defaults (prefix `session:`, 2 s timeout).
    pub fn new(pool: deadpool_redis::Pool) -> Self {
        Self::builder(pool).build()
    }

    /// A builder on `pool`.
    pub fn builder(pool: deadpool_redis::Pool) -> RedisStoreBuilder {
        RedisStoreBuilder {
            pool: Pool::Single(pool),
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A store on a new pool for `url` (`redis://host:port/db`, `rediss://` for TLS where
    /// deadpool-redis is built with TLS).
    ///
    /// # Errors
    /// A malformed URL: reported here, before the server starts.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        Ok(Self::new(Self::pool(url)?))
    }

    /// A deadpool-redis pool for `url` whose connections leave every time limit to the store's
    /// [`timeout`](RedisStoreBuilder::timeout), for [`builder`](Self::builder) (a prefix, a
    /// timeout of your own). [`from_url`](Self::from_url) uses it.
    ///
    /// A pool made with deadpool-redis's `Config::create_pool` works too, but its connections
    /// (redis-rs 1.x) also give up on any reply after 500 ms: a listing or `revoke_all` of a
    /// user with thousands of sessions can then fail before the store's own timeout.
    ///
    /// # Errors
    /// A malformed URL.
    pub fn pool(url: &str) -> Result<deadpool_redis::Pool, ConfigError> {
        pool_from_url(url)
    }

    /// A store on a Redis Cluster pool (feature `redis-cluster`). Every session is one hash, so
    /// each operation on a session touches one slot; a user's index lives in a slot of its own
    /// (see [Redis Cluster](Self#redis-cluster) for what that costs).
    #[cfg(feature = "redis-cluster")]
    pub fn cluster(pool: deadpool_redis::cluster::Pool) -> RedisStoreBuilder {
        RedisStoreBuilder {
            pool: Pool::Cluster(pool),
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A builder of a store that keeps the sessions this app server reads in memory, and
    /// reads them again only when Redis says they changed (server-assisted client-side
    /// caching, RESP3 `CLIENT TRACKING`; Redis 6 or later). A session read again costs no
    /// round trip; a change or a revocation by any app server, a script or an expiry drops
    /// it at once on every server that cached it.
    ///
    /// The store talks to Redis over one connection of its own to `url` (every command, so
    /// that its replies and Redis's pushes come in one order); a lost connection empties the
    /// cache. `cache` bounds the number of sessions kept and their age. A cached load reads
    /// the whole session (`HGETALL`), also for a typed extractor that needs one key: the next
    /// request gets every key from memory. Writes cost what they cost without the cache. How
    /// it stays right is said in the source of the `store/redis/cache.rs` module; the tests
    /// in `tests/stores/redis_cached.rs` check it with two stores on one Redis.
    ///
    /// ```no_run
    /// use actix_typed_session::store::{ReadCache, RedisStore};
    /// use actix_typed_session::SessionMiddleware;
    ///
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = RedisStore::cached("redis://127.0.0.1:6379", ReadCache::default())?.build();
    /// let middleware = SessionMiddleware::new(store);
    /// # Ok(()) }
    /// ```
    ///
    /// Not on Redis Cluster.
    ///
    /// # Errors
    /// A malformed URL.
    pub fn cached(url: &str, cache: ReadCache) -> Result<RedisStoreBuilder, ConfigError> {
        use deadpool_redis::redis::{IntoConnectionInfo, ProtocolVersion};
        let info = url
            .into_connection_info()
            .map_err(|e| ConfigError(format!("redis url: {e}")))?;
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(redis))
            .map_err(|e| ConfigError(format!("redis url: {e}")))?;
        Ok(RedisStoreBuilder {
            pool: Pool::Tracked(Arc::new(Tracked {
                client,
                cache: Arc::new(Cache::new(cache)),
            })),
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The Redis key of a session: the prefix and the hex SHA-256 of its id.
    pub fn key(&self, id: &SessionId) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + 64);
        key.push_str(&self.inner.prefix);
        key.push_str(&id.store_key());
        key
    }

    /// The Redis key of a user's index: the prefix, `u:` and the hex of the [`UserKey`] (a hash
    /// of the user id: the id itself is never part of a key).
    pub fn user_index_key(&self, user: &UserKey) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + INDEX.len() + 64);
        key.push_str(&self.inner.prefix);
        key.push_str(INDEX);
        key.push_str(&user.hex());
        key
    }
}

impl RedisStore {
    /// A load on a cached store: from memory, or one `HGETALL` whose answer the cache keeps
    /// unless the session changed meanwhile.
    async fn load_cached(
        &self,
        cache: &Cache,
        id: &SessionId,
    ) -> Result<Option<Loaded>, StoreError> {
        let key = self.key(id);
        let ticket = match cache.lookup(&key) {
            Lookup::Hit(loaded) => return Ok(Some(loaded)),
            Lookup::Miss(ticket) => ticket,
        };
        let whole = self.load_whole(&key, id).await?;
        Ok(cache.fill(&key, ticket, whole.map(Whole::into_record)))
    }

    /// Cluster: `change_id` across slots (see [`SessionStore::change_id`] on this store).
    #[cfg(feature = "redis-cluster")]
    async fn cluster_change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        let Some(loaded) = self.load(old, Fetch::All).await? else {
            return Ok(false);
        };
        let was = loaded.meta().user.clone();
        let mut record = loaded.into_record();
        changes.apply(&mut record.data);
        self.save(new, meta, &Changes::full(record.data)).await?;
        // The copy is indexed: a revocation that began before now finds it, and one under way
        // (its marker raised) wins.
        if let Some(user) = &was {
            if self.marked(&user.key, &user.handle).await? {
                self.delete(new).await?;
                self.delete(old).await?;
                return Ok(false);
            }
        }
        let retired: Vec<String> = self
            .eval(&RETIRE, &[&self.key(old)], |cmd| {
                cmd.arg(old.store_key());
            })
            .await?;
        match &retired[..] {
            [_, user, member] => {
                if let Some(user) = UserKey::from_hex(user) {
                    let index = self.user_index_key(&user);
                    self.index_remove(&index, std::slice::from_ref(member))
                        .await?;
                }
                Ok(true)
            }
            [existed] if existed == "1" => Ok(true),
            _ => {
                // Ended while the copy was made: the copy goes too.
                self.delete(new).await?;
                Ok(false)
            }
        }
    }
}

impl SessionStore for RedisStore {
    async fn load(&self, id: &SessionId, fetch: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        if let Some(cache) = self.cache() {
            return self.load_cached(cache, id).await;
        }
        match fetch {
            Fetch::All => Ok(self
                .load_whole(&self.key(id), id)
                .await?
                .map(Whole::into_loaded)),
            Fetch::Keys(keys) => {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(self.key(id)).arg(&META_FIELDS[..]);
                for key in keys {
                    cmd.arg(field(key));
                }
                let values: Vec<Option<Vec<u8>>> = self.run(cmd).await?;
                Ok(parse_keys(values, keys, id))
            }
        }
    }

    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        let key = self.key(id);
        let _cached = self.cache().map(|cache| cache.writing(&key));
        let tie = self.tie(id, meta);
        let cluster = self.on_cluster();
        let args = |cmd: &mut redis::Cmd| {
            cmd.arg(u8::from(changes.created))
                .arg(u8::from(changes.replace_all))
                .arg(meta.expires_at)
                .arg(tie.as_ref().map_or("", |(_, member)| member.as_str()));
            field_args(cmd, meta, changes);
        };
        let written: i64 = match &tie {
            Some((index, _)) if !cluster => self.eval(&SAVE, &[&key, index], args).await?,
            _ => self.eval(&SAVE, &[&key], args).await?,
        };
        if written == 0 {
            tracing::debug!(session = %id.log_tag(), "session deleted meanwhile; update dropped");
            return Ok(());
        }
        let indexed = match (&tie, cluster) {
            (Some((index, member)), true) => self.index_add(index, meta.expires_at, member).await?,
            (Some(_), false) => written,
            (None, _) => 0,
        };
        if let Some(user) = &meta.user {
            note_index_size(&user.key, usize::try_from(indexed).unwrap_or(0));
        }
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let store_key = id.store_key();
        let cluster = self.on_cluster();
        let key = self.key(id);
        let _cached = self.cache().map(|cache| cache.writing(&key));
        let found: Vec<String> = self
            .eval(&DROP, &[&key], |cmd| {
                cmd.arg(&self.inner.prefix)
                    .arg(&store_key)
                    .arg(u8::from(!cluster));
            })
            .await?;
        // Cluster: the session was tied; its index entry lives in another slot.
        if let [user, member] = &found[..] {
            if let Some(user) = UserKey::from_hex(user) {
                let index = self.user_index_key(&user);
                self.index_remove(&index, std::slice::from_ref(member))
                    .await?;
            }
        }
        Ok(())
    }

    /// One node: one `EVALSHA` (rename, re-index and apply, only if the session still
    /// exists). Cluster: the old and new keys live in different slots, so it is the default's
    /// protocol with an atomic last step: read the session whole, write the copy under the new
    /// id (and its index entry), then delete the old hash in one script that tells whether it
    /// was still there; if not, the copy goes too and the answer is `false`.
    async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        #[cfg(feature = "redis-cluster")]
        if self.on_cluster() {
            return self.cluster_change_id(old, new, meta, changes).await;
        }
        let (from, to) = (self.key(old), self.key(new));
        let _cached = self
            .cache()
            .map(|cache| (cache.writing(&from), cache.writing(&to)));
        let tie = self.tie(new, meta);
        let args = |cmd: &mut redis::Cmd| {
            cmd.arg(&self.inner.prefix)
                .arg(old.store_key())
                .arg(u8::from(changes.replace_all))
                .arg(meta.expires_at)
                .arg(tie.as_ref().map_or("", |(_, member)| member.as_str()));
            field_args(cmd, meta, changes);
        };
        let moved: i64 = match &tie {
            Some((index, _)) => self.eval(&ROTATE, &[&from, &to, index], args).await?,
            None => self.eval(&ROTATE, &[&from, &to], args).await?,
        };
        Ok(moved == 1)
    }

    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        let key = self.key(id);
        let _cached = self.cache().map(|cache| cache.writing(&key));
        let tie = self.tie(id, meta);
        let cluster = self.on_cluster();
        let args = |cmd: &mut redis::Cmd| {
            cmd.arg(meta.expires_at).arg(meta.last_seen);
            if let Some((_, member)) = &tie {
                cmd.arg(member);
            }
        };
        let touched: i64 = match &tie {
            Some((index, _)) if !cluster => self.eval(&TOUCH, &[&key, index], args).await?,
            _ => self.eval(&TOUCH, &[&key], args).await?,
        };
        if let (Some((index, member)), true, 1) = (&tie, cluster, touched) {
            self.index_add(index, meta.expires_at, member).await?;
        }
        Ok(())
    }

    /// It keeps the user index ([`UserIndex`] below).
    fn user_index(&self) -> Option<IndexRef<'_>> {
        Some(IndexRef::of(self))
    }
}

impl UserIndex for RedisStore {
    /// Pages of about 50 members (`ZSCAN`), each read by one script on one node, or one
    /// `HGETALL` per member (32 in flight) on Cluster; stale members are taken out on the way.
    /// See the `index` module.
    async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        self.list_user(user).await
    }

    /// The user's marker raised, the members with that handle found by `ZSCAN .. MATCH` and
    /// ended (one script per page on one node; one command each on Cluster), the marker
    /// lowered.
    async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        let ended = self
            .revoke_where(user, &Choice::One(handle.clone()))
            .await?;
        Ok(ended > 0)
    }

    /// The user's marker raised, every page of the index ended but the session `except` (one
    /// script per page on one node; one command per session on Cluster), the marker lowered.
    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        self.revoke_where(user, &Choice::AllBut(except.cloned()))
            .await
    }
}
