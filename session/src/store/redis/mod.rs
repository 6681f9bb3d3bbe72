//! [`RedisStore`]: sessions in Redis, through a `deadpool-redis` pool.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis::{self, aio::ConnectionLike, RedisError, Value};

mod index;
mod scripts;

#[cfg(feature = "redis-cluster")]
use self::scripts::RETIRE;
use self::scripts::{DROP, INDEX_ADD, INDEX_REMOVE, ROTATE, SAVE, TOUCH};
use super::user::{note_index_size, Choice};
use super::{
    Bytes, Changes, Fetch, Handle, Loaded, Meta, Record, SessionStore, SessionUser, UserKey,
};
use crate::error::{ConfigError, StoreError};
use crate::id::SessionId;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "session:";
/// Default bound on every Redis operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

const DATA: &[u8] = b"k:";
const CREATED: &str = "m:c";
const EXPIRES: &str = "m:e";
const LAST_SEEN: &str = "m:s";
/// The user id as the app gave it (what `Session::user` returns).
const USER_ID: &str = "m:u";
/// The hex of the user's [`UserKey`]: names the user's index (scripts cannot hash).
const USER_KEY: &str = "m:k";
const HANDLE: &str = "m:h";
/// When the session was tied to its user, Unix milliseconds.
const SIGNED_IN: &str = "m:t";
/// The metadata fields a per-key load (`HMGET`) asks for, in this order.
const META_FIELDS: [&str; 6] = [CREATED, EXPIRES, LAST_SEEN, USER_ID, HANDLE, SIGNED_IN];
/// What follows the prefix in the key of a user's index (a session's key has 64 hex digits
/// there, never a colon).
const INDEX: &str = "u:";

/// The pool a [`RedisStore`] draws its connection from.
#[derive(Clone)]
enum Pool {
    Single(deadpool_redis::Pool),
    #[cfg(feature = "redis-cluster")]
    Cluster(deadpool_redis::cluster::Pool),
}

/// A connection taken from the pool, shared by every request.
#[derive(Clone)]
enum Conn {
    Single(redis::aio::MultiplexedConnection),
    #[cfg(feature = "redis-cluster")]
    Cluster(deadpool_redis::cluster::ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

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
///   [`Session`](struct@crate::Session) handle needs every value; a save is one `EVALSHA` of a
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
/// itself with its last session (`tests/redis.rs` lets 10 000 sessions of 100 users expire and
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
/// Costs on one node, in round trips: [`user_sessions`](SessionStore::user_sessions) two per
/// page (`ZSCAN`, then the page's `EVALSHA`); [`revoke`](SessionStore::revoke) and
/// [`revoke_all`](SessionStore::revoke_all) the marker's two (raise, lower) plus two per page
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

    /// Whether the sessions and the indexes live in different slots (Cluster): then the index
    /// is written and read in commands of its own.
    fn on_cluster(&self) -> bool {
        match self.inner.pool {
            Pool::Single(_) => false,
            #[cfg(feature = "redis-cluster")]
            Pool::Cluster(_) => true,
        }
    }

    async fn conn(&self) -> Result<Conn, RedisError> {
        if let Some(conn) = lock(&self.inner.conn).clone() {
            return Ok(conn);
        }
        let mut conn = match &self.inner.pool {
            Pool::Single(pool) => Conn::Single(deadpool_redis::Connection::take(
                pool.get().await.map_err(pool_error)?,
            )),
            #[cfg(feature = "redis-cluster")]
            Pool::Cluster(pool) => Conn::Cluster(deadpool_redis::cluster::Connection::take(
                pool.get().await.map_err(cluster_pool_error)?,
            )),
        };
        // Load the scripts once per connection, so requests send `EVALSHA`: one pipelined
        // round trip on one node; on Cluster one `SCRIPT LOAD` per script, which the client
        // sends to every primary (a pipeline would reach one node only).
        let loaded = match &mut conn {
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(_) => {
                let loads = scripts::ALL.iter().map(|lua| {
                    let mut conn = conn.clone();
                    async move {
                        redis::cmd("SCRIPT")
                            .arg("LOAD")
                            .arg(lua.code)
                            .query_async::<Value>(&mut conn)
                            .await
                    }
                });
                futures_util::future::join_all(loads)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()
                    .map(drop)
            }
            _ => {
                let mut load = redis::pipe();
                for lua in scripts::ALL {
                    load.cmd("SCRIPT").arg("LOAD").arg(lua.code);
                }
                load.query_async::<Vec<String>>(&mut conn).await.map(drop)
            }
        };
        if let Err(err) = loaded {
            tracing::debug!(error = %err, "redis SCRIPT LOAD failed; EVAL will load on demand");
        }
        *lock(&self.inner.conn) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `cmd` within the timeout; a failed connection is dropped for the next request.
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, StoreError> {
        self.run_raw(cmd).await.map_err(Failure::into_store_error)
    }

    /// Runs a script: `EVALSHA`, or `EVAL` when the server does not know it (restarted, or
    /// `SCRIPT FLUSH`). `args` fills in what follows the keys.
    async fn eval<T: redis::FromRedisValue>(
        &self,
        lua: &scripts::Lua,
        keys: &[&str],
        args: impl Fn(&mut redis::Cmd),
    ) -> Result<T, StoreError> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(lua.sha()).arg(keys.len()).arg(keys);
        args(&mut cmd);
        match self.run_raw(cmd).await {
            Err(Failure::Redis(err))
                if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(lua.code).arg(keys.len()).arg(keys);
                args(&mut cmd);
                self.run(cmd).await
            }
            other => other.map_err(Failure::into_store_error),
        }
    }

    async fn run_raw<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, Failure> {
        let attempt = async {
            let mut conn = self.conn().await?;
            cmd.query_async::<T>(&mut conn).await
        };
        match tokio::time::timeout(self.inner.timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                if err.is_io_error()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal()
                    || err.is_timeout()
                    || err.is_unrecoverable_error()
                {
                    lock(&self.inner.conn).take();
                }
                Err(Failure::Redis(err))
            }
            Err(_) => {
                // The connection may be wedged (e.g. Redis paused): start afresh next time.
                lock(&self.inner.conn).take();
                Err(Failure::Timeout(self.inner.timeout))
            }
        }
    }
}

/// Why a Redis operation failed.
enum Failure {
    Redis(RedisError),
    Timeout(Duration),
}

impl Failure {
    fn into_store_error(self) -> StoreError {
        match self {
            Failure::Redis(err) => StoreError::new(err),
            Failure::Timeout(t) => StoreError::msg(format!("redis did not answer within {t:?}")),
        }
    }
}

fn lock(m: &Mutex<Option<Conn>>) -> std::sync::MutexGuard<'_, Option<Conn>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn pool_error(e: deadpool_redis::PoolError) -> RedisError {
    match e {
        deadpool_redis::PoolError::Backend(e) => e,
        other => RedisError::from(std::io::Error::other(other.to_string())),
    }
}

#[cfg(feature = "redis-cluster")]
fn cluster_pool_error(e: deadpool_redis::cluster::PoolError) -> RedisError {
    match e {
        deadpool_redis::cluster::PoolError::Backend(e) => e,
        other => RedisError::from(std::io::Error::other(other.to_string())),
    }
}

fn pool_from_url(url: &str) -> Result<deadpool_redis::Pool, ConfigError> {
    use deadpool_redis::redis::IntoConnectionInfo;
    url.into_connection_info()
        .map_err(|e| ConfigError(format!("redis url: {e}")))?;
    // redis-rs gives each connection a response timeout of its own (500 ms by default), which
    // would cut a long reply (a user's thousands of sessions) short of the store's `timeout`.
    // Without it, the store's `timeout` alone bounds every operation, as documented.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let manager = deadpool_redis::Manager::new_with_config(url, config)
        .map_err(|e| ConfigError(format!("redis url: {e}")))?;
    deadpool_redis::Pool::builder(manager)
        .runtime(deadpool_redis::Runtime::Tokio1)
        .build()
        .map_err(|e| ConfigError(format!("redis pool: {e}")))
}

/// Parses an `HGETALL` reply; a hash without its metadata is treated as absent.
pub(super) fn parse(fields: Vec<(Vec<u8>, Vec<u8>)>, id: &SessionId) -> Option<Record> {
    parse_tagged(fields, &|| id.log_tag())
}

/// [`parse`], naming the session in logs with `tag` (called only to log).
fn parse_tagged(fields: Vec<(Vec<u8>, Vec<u8>)>, tag: &dyn Fn() -> String) -> Option<Record> {
    if fields.is_empty() {
        return None;
    }
    let mut data = std::collections::HashMap::with_capacity(fields.len().saturating_sub(2));
    let mut found = Found::default();
    for (mut field, value) in fields {
        if field.starts_with(DATA) {
            // The key and the value are the reply's own buffers: no copy.
            field.drain(..DATA.len());
            match String::from_utf8(field) {
                Ok(key) => {
                    data.insert(key, Bytes::from(value));
                }
                Err(_) => tracing::warn!(session = %tag(), "non-UTF-8 field skipped"),
            }
        } else if let Ok(name) = std::str::from_utf8(&field) {
            found.set(name, value);
        }
    }
    Some(Record {
        meta: found.meta(tag)?,
        data,
    })
}

/// Parses an `HMGET <META_FIELDS> k:<key>..` reply for `keys`.
fn parse_keys(mut values: Vec<Option<Vec<u8>>>, keys: &[&str], id: &SessionId) -> Option<Loaded> {
    let n = META_FIELDS.len();
    if values.len() != keys.len() + n || values.iter().all(Option::is_none) {
        return None;
    }
    let mut found = Found::default();
    for (name, value) in META_FIELDS.iter().zip(values.drain(..n)) {
        if let Some(value) = value {
            found.set(name, value);
        }
    }
    let meta = found.meta(&|| id.log_tag())?;
    let data = keys
        .iter()
        .zip(values)
        .filter_map(|(key, value)| Some(((*key).to_owned(), Bytes::from(value?))))
        .collect();
    Some(Loaded::partial(meta, data))
}

/// The metadata fields of a session hash, as read.
#[derive(Default)]
struct Found {
    created: Option<u64>,
    expires: Option<u64>,
    last_seen: Option<u64>,
    user: Option<Vec<u8>>,
    handle: Option<Vec<u8>>,
    signed_in: Option<u64>,
}

impl Found {
    fn set(&mut self, field: &str, value: Vec<u8>) {
        match field {
            CREATED => self.created = number(&value),
            EXPIRES => self.expires = number(&value),
            LAST_SEEN => self.last_seen = number(&value),
            USER_ID => self.user = Some(value),
            HANDLE => self.handle = Some(value),
            SIGNED_IN => self.signed_in = number(&value),
            _ => {}
        }
    }

    /// The metadata; `None` (the hash is ignored) without the timestamps.
    fn meta(self, tag: &dyn Fn() -> String) -> Option<Meta> {
        let (Some(created), Some(expires)) = (self.created, self.expires) else {
            tracing::warn!(session = %tag(), "redis session hash lacks metadata; ignored");
            return None;
        };
        let user = match (self.user, self.handle) {
            (Some(user), Some(handle)) => {
                let handle = std::str::from_utf8(&handle).ok().and_then(Handle::parse);
                if handle.is_none() {
                    tracing::warn!(session = %tag(), "redis session hash has a malformed handle");
                }
                let signed_in = self.signed_in.unwrap_or(0);
                handle.map(|h| SessionUser::stored(Bytes::from(user), h).signed_in(signed_in))
            }
            _ => None,
        };
        Some(
            Meta::new(created, expires)
                .with_last_seen(self.last_seen.unwrap_or(created))
                .with_user(user),
        )
    }
}

/// What the scripts' `apply` reads: the removed keys (none with `replace_all`), then the
/// metadata fields and the set keys, as field / value pairs.
fn field_args(cmd: &mut redis::Cmd, meta: &Meta, changes: &Changes) {
    if changes.replace_all {
        cmd.arg(0);
    } else {
        cmd.arg(changes.removed.len());
        for key in &changes.removed {
            cmd.arg(field(key));
        }
    }
    cmd.arg(CREATED)
        .arg(meta.created_at)
        .arg(EXPIRES)
        .arg(meta.expires_at)
        .arg(LAST_SEEN)
        .arg(meta.last_seen);
    if let Some(user) = &meta.user {
        cmd.arg(USER_ID)
            .arg(&user.id[..])
            .arg(USER_KEY)
            .arg(user.key.hex())
            .arg(HANDLE)
            .arg(user.handle.as_str())
            .arg(SIGNED_IN)
            .arg(user.signed_in_at);
    }
    for (key, value) in &changes.set {
        cmd.arg(field(key)).arg(&value[..]);
    }
}

/// The hash field of a session key.
fn field(key: &str) -> Vec<u8> {
    [DATA, key.as_bytes()].concat()
}

fn number(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A session's entry in its user's index: its key without the prefix, and its handle.
fn member(id: &SessionId, handle: &Handle) -> String {
    let mut member = id.store_key();
    member.push(':');
    member.push_str(handle.as_str());
    member
}

impl RedisStore {
    /// The index key and the member of a tied session.
    fn tie(&self, id: &SessionId, meta: &Meta) -> Option<(String, String)> {
        let user = meta.user.as_ref()?;
        Some((self.user_index_key(&user.key), member(id, &user.handle)))
    }

    /// Cluster: writes an index entry after its session was written (another slot); answers
    /// the index's size.
    async fn index_add(
        &self,
        index: &str,
        expires_at: u64,
        member: &str,
    ) -> Result<i64, StoreError> {
        self.eval::<i64>(&INDEX_ADD, &[index], |cmd| {
            cmd.arg(expires_at).arg(member);
        })
        .await
    }

    /// Cluster: takes `members` out of an index.
    pub(super) async fn index_remove(
        &self,
        index: &str,
        members: &[String],
    ) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        self.eval::<i64>(&INDEX_REMOVE, &[index], |cmd| {
            cmd.arg(members);
        })
        .await
        .map(drop)
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
        match fetch {
            Fetch::All => {
                let mut cmd = redis::cmd("HGETALL");
                cmd.arg(self.key(id));
                let fields: Vec<(Vec<u8>, Vec<u8>)> = self.run(cmd).await?;
                Ok(parse(fields, id).map(Loaded::whole))
            }
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
        let found: Vec<String> = self
            .eval(&DROP, &[&self.key(id)], |cmd| {
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

    /// Pages of about 50 members (`ZSCAN`), each read by one script on one node, or one
    /// `HGETALL` per member (32 in flight) on Cluster; stale members are taken out on the way.
    /// See the `index` module.
    fn lists_users(&self) -> bool {
        true
    }

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
