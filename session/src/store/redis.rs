//! [`RedisStore`]: sessions in Redis, through a `deadpool-redis` pool.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use deadpool_redis::redis::{self, aio::ConnectionLike, RedisError, Value};

use super::{Bytes, Changes, Fetch, Loaded, Meta, Record, SessionStore};
use crate::error::{ConfigError, StoreError};
use crate::id::SessionId;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "session:";
/// Default bound on every Redis operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

const DATA: &[u8] = b"k:";
const CREATED: &str = "m:c";
const EXPIRES: &str = "m:e";

/// A Lua script, sent as `EVALSHA` (it is loaded when a connection is made; a server that lost
/// it gets `EVAL` once, which caches it again).
struct Lua {
    code: &'static str,
    sha: OnceLock<String>,
}

impl Lua {
    const fn new(code: &'static str) -> Self {
        Lua {
            code,
            sha: OnceLock::new(),
        }
    }

    fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| redis::Script::new(self.code).get_hash().to_owned())
    }
}

static SAVE: Lua = Lua::new(SAVE_SCRIPT);
static TOUCH: Lua = Lua::new(TOUCH_SCRIPT);

/// ARGV: created?, replace_all?, expires_at, n_removed, removed fields.., field, value, ..
///
/// An update sets the expiry first: `EXPIREAT` on a key that is gone does nothing and answers
/// 0, which is the check that the session still exists (no resurrection) in the same call. Then
/// one `HDEL` and one `HSET` for all the fields (in chunks that Lua's `unpack` can take). A new
/// session (a new id: 192 random bits, never in use) is written, then given its expiry.
const SAVE_SCRIPT: &str = r"
local key = KEYS[1]
local function each(command, from, to)
  while from <= to do
    local last = math.min(from + 3999, to)
    redis.call(command, key, unpack(ARGV, from, last))
    from = last + 1
  end
end
local n = tonumber(ARGV[4])
if ARGV[1] == '0' then
  if redis.call('EXPIREAT', key, ARGV[3]) == 0 then return 0 end
  if ARGV[2] == '1' then
    redis.call('DEL', key)
  else
    each('HDEL', 5, 4 + n)
  end
  each('HSET', 5 + n, #ARGV)
  if ARGV[2] == '1' then redis.call('EXPIREAT', key, ARGV[3]) end
else
  -- A new id: 192 random bits, never in use.
  each('HSET', 5 + n, #ARGV)
  redis.call('EXPIREAT', key, ARGV[3])
end
return 1
";

/// ARGV: expires_at
const TOUCH_SCRIPT: &str = r"
if redis.call('EXPIREAT', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'm:e', ARGV[1])
return 1
";

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
/// Each session is one Redis hash under `<prefix><sha256 of the id>`: a field `k:<key>` per value
/// and two metadata fields (`m:c` created, `m:e` expires). That layout gives:
///
/// - **one round trip per operation**: a load is one `HMGET` of the metadata and the asked keys
///   (a typed session extractor asks for its one key), or one `HGETALL` when the untyped
///   [`Session`](struct@crate::Session) handle needs every value; a save is one `EVALSHA` of a
///   small script that applies the changed keys and sets the expiry (`EXPIREAT`) atomically; a
///   touch is one `EVALSHA`; an expire is one `DEL` (the two scripts are loaded once per
///   connection; a server that lost them gets one `EVAL`, which caches them again);
/// - **per-key merge**: a save only `HSET`s / `HDEL`s the keys the request changed, so concurrent
///   requests that change different keys of one session both survive;
/// - **no resurrection**: an update (or touch) of a session whose hash is gone does nothing, so a
///   logout in one request wins over a save in another.
///
/// The store takes one multiplexed connection from the pool and shares it between requests
/// (commands from concurrent requests are pipelined on it). Checking a connection out of a
/// deadpool-redis pool for every request would cost an extra `PING` round trip each time. A
/// connection that fails is dropped and the next request takes a fresh one from the pool, so the
/// app recovers by itself once Redis is back.
///
/// Every operation is bounded by [`RedisStoreBuilder::timeout`] (default 2 s): a slow or
/// unreachable Redis makes the request fail with `503` within that time instead of hanging.
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
        Ok(Self::new(pool_from_url(url)?))
    }

    /// A store on a Redis Cluster pool (feature `redis-cluster`). Every session is one hash,
    /// so each operation touches one slot.
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
        // Load both scripts once per connection (one round trip), so requests send `EVALSHA`.
        let mut load = redis::pipe();
        for lua in [&SAVE, &TOUCH] {
            load.cmd("SCRIPT").arg("LOAD").arg(lua.code);
        }
        if let Err(err) = load.query_async::<Vec<String>>(&mut conn).await {
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
    /// `SCRIPT FLUSH`). `args` fills in what follows the key.
    async fn eval<T: redis::FromRedisValue>(
        &self,
        lua: &Lua,
        key: &str,
        args: impl Fn(&mut redis::Cmd),
    ) -> Result<T, StoreError> {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(lua.sha()).arg(1).arg(key);
        args(&mut cmd);
        match self.run_raw(cmd).await {
            Err(Failure::Redis(err))
                if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(lua.code).arg(1).arg(key);
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
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .map_err(|e| ConfigError(format!("redis pool: {e}")))
}

/// Parses an `HGETALL` reply; a hash without its metadata is treated as absent.
pub(super) fn parse(fields: Vec<(Vec<u8>, Vec<u8>)>, id: &SessionId) -> Option<Record> {
    if fields.is_empty() {
        return None;
    }
    let mut data = std::collections::HashMap::with_capacity(fields.len().saturating_sub(2));
    let (mut created, mut expires) = (None, None);
    for (mut field, value) in fields {
        if field.starts_with(DATA) {
            // The key and the value are the reply's own buffers: no copy.
            field.drain(..DATA.len());
            match String::from_utf8(field) {
                Ok(key) => {
                    data.insert(key, Bytes::from(value));
                }
                Err(_) => tracing::warn!(session = %id.log_tag(), "non-UTF-8 field skipped"),
            }
        } else if field == CREATED.as_bytes() {
            created = number(&value);
        } else if field == EXPIRES.as_bytes() {
            expires = number(&value);
        }
    }
    Some(Record {
        meta: meta(created, expires, id)?,
        data,
    })
}

/// Parses an `HMGET m:c m:e k:<key>..` reply for `keys`.
fn parse_keys(mut values: Vec<Option<Vec<u8>>>, keys: &[&str], id: &SessionId) -> Option<Loaded> {
    if values.len() != keys.len() + 2 || values.iter().all(Option::is_none) {
        return None;
    }
    let created = values[0].as_deref().and_then(number);
    let expires = values[1].as_deref().and_then(number);
    let meta = meta(created, expires, id)?;
    let data = keys
        .iter()
        .zip(values.drain(2..))
        .filter_map(|(key, value)| Some(((*key).to_owned(), Bytes::from(value?))))
        .collect();
    Some(Loaded::partial(meta, data))
}

fn meta(created: Option<u64>, expires: Option<u64>, id: &SessionId) -> Option<Meta> {
    match (created, expires) {
        (Some(c), Some(e)) => Some(Meta::new(c, e)),
        _ => {
            tracing::warn!(session = %id.log_tag(), "redis session hash lacks metadata; ignored");
            None
        }
    }
}

/// The hash field of a session key.
fn field(key: &str) -> Vec<u8> {
    [DATA, key.as_bytes()].concat()
}

fn number(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
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
                cmd.arg(self.key(id)).arg(CREATED).arg(EXPIRES);
                for key in keys {
                    cmd.arg(field(key));
                }
                let values: Vec<Option<Vec<u8>>> = self.run(cmd).await?;
                Ok(parse_keys(values, keys, id))
            }
        }
    }

    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        let args = |cmd: &mut redis::Cmd| {
            cmd.arg(u8::from(changes.created))
                .arg(u8::from(changes.replace_all))
                .arg(meta.expires_at);
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
                .arg(meta.expires_at);
            for (key, value) in &changes.set {
                cmd.arg(field(key)).arg(&value[..]);
            }
        };
        let written: i64 = self.eval(&SAVE, &self.key(id), args).await?;
        if written == 0 {
            tracing::debug!(session = %id.log_tag(), "session deleted meanwhile; update dropped");
        }
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(id));
        self.run::<i64>(cmd).await.map(drop)
    }

    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        let expires_at = meta.expires_at;
        self.eval::<i64>(&TOUCH, &self.key(id), |cmd| {
            cmd.arg(expires_at);
        })
        .await
        .map(drop)
    }
}
