//! [`RedisStore`]: sessions in Redis, through a `deadpool-redis` pool.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use deadpool_redis::redis::{self, aio::ConnectionLike, FromRedisValue, RedisError, Value};

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
/// How many times a revocation reads a user's index again after a listed session was gone.
#[cfg(feature = "redis-cluster")]
const REVOKE_ROUNDS: usize = 32;
/// Commands in flight at once when one operation needs one per session (Cluster).
#[cfg(feature = "redis-cluster")]
const FAN_OUT: usize = 32;

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
static DROP: Lua = Lua::new(DROP_SCRIPT);
static LIST: Lua = Lua::new(LIST_SCRIPT);
static REVOKE: Lua = Lua::new(REVOKE_SCRIPT);
static INDEX_ADD: Lua = Lua::new(INDEX_ADD_SCRIPT);
static INDEX_READ: Lua = Lua::new(INDEX_READ_SCRIPT);
static INDEX_REMOVE: Lua = Lua::new(INDEX_REMOVE_SCRIPT);
static DELETE_IF: Lua = Lua::new(DELETE_IF_SCRIPT);
static ROTATE: Lua = Lua::new(ROTATE_SCRIPT);
static RETIRE: Lua = Lua::new(RETIRE_SCRIPT);
static SCRIPTS: [&Lua; 11] = [
    &SAVE,
    &TOUCH,
    &DROP,
    &LIST,
    &REVOKE,
    &INDEX_ADD,
    &INDEX_READ,
    &INDEX_REMOVE,
    &DELETE_IF,
    &ROTATE,
    &RETIRE,
];

/// The helpers of the scripts that keep a user's index: a sorted set of `<session key>:<handle>`
/// members (the session key without the prefix) scored by the session's expiry.
///
/// `reindex` prunes the members whose expiry is past (by the server's clock, the one that
/// expires the session hashes) and sets the set's own expiry to its latest member's, so an index
/// that nobody reads again goes when its last session does.
macro_rules! index_lua {
    () => {
        r"
local function reindex(idx)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', redis.call('TIME')[1])
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('EXPIREAT', idx, top[2]) end
end
local function split(member)
  local sep = string.find(member, ':', 1, true)
  if not sep then return nil, nil end
  return string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
end
local function remove(idx, members)
  for i = 1, #members, 4000 do
    redis.call('ZREM', idx, unpack(members, i, math.min(i + 3999, #members)))
  end
end
"
    };
}

/// The helper of the scripts that write a session's fields: `apply(key, replace_all,
/// expires_at, at)` reads, from `ARGV[at]` on, the number of removed keys, their fields, then
/// field / value pairs to the end, and applies them with one `HDEL` and one `HSET` (in chunks
/// that Lua's `unpack` can take). With `replace_all` the hash is emptied first and given its
/// expiry again afterwards.
macro_rules! fields_lua {
    () => {
        r"
local function apply(key, replace_all, expires_at, at)
  local function each(command, from, to)
    while from <= to do
      local last = math.min(from + 3999, to)
      redis.call(command, key, unpack(ARGV, from, last))
      from = last + 1
    end
  end
  local n = tonumber(ARGV[at])
  if replace_all then
    redis.call('DEL', key)
  else
    each('HDEL', at + 1, at + n)
  end
  each('HSET', at + 1 + n, #ARGV)
  if replace_all then redis.call('EXPIREAT', key, expires_at) end
end
"
    };
}

/// KEYS: the session, and on one node the user's index when the session is tied to a user.
/// ARGV: created?, replace_all?, expires_at, index member, then what `apply` reads (n_removed,
/// removed fields.., field, value, ..).
///
/// An update sets the expiry first: `EXPIREAT` on a key that is gone does nothing and answers
/// 0, which is the check that the session still exists (no resurrection) in the same call. A
/// new session (a new id: 192 random bits, never in use) is written whole, then given its
/// expiry. A tied session's index entry is then written with its expiry as the score, in the
/// same call.
const SAVE_SCRIPT: &str = concat!(
    index_lua!(),
    fields_lua!(),
    r"
local key = KEYS[1]
if ARGV[1] == '0' then
  if redis.call('EXPIREAT', key, ARGV[3]) == 0 then return 0 end
  apply(key, ARGV[2] == '1', ARGV[3], 5)
else
  -- A new id: 192 random bits, never in use (its values come whole, no removed key).
  apply(key, false, ARGV[3], 5)
  redis.call('EXPIREAT', key, ARGV[3])
end
if KEYS[2] then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  reindex(KEYS[2])
end
return 1
"
);

/// One node. KEYS: the session, its new key, and the user's index when the session is tied to
/// a user. ARGV: prefix, the session's key without it, replace_all?, expires_at, the new index
/// member ('' for none), then what `apply` reads.
///
/// `change_id` in one step: nothing happens (0) when the session is gone or expired (a logout,
/// a revocation or the expiry won). Otherwise the hash is renamed (its values move as they are
/// now, concurrent changes to other keys included), its old index entry goes, the request's
/// changes and metadata are applied under the new key, and the new entry is written.
const ROTATE_SCRIPT: &str = concat!(
    index_lua!(),
    fields_lua!(),
    r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local was = redis.call('HMGET', KEYS[1], 'm:k', 'm:h')
redis.call('RENAME', KEYS[1], KEYS[2])
if was[1] and was[2] then
  local idx = ARGV[1] .. 'u:' .. was[1]
  redis.call('ZREM', idx, ARGV[2] .. ':' .. was[2])
  reindex(idx)
end
redis.call('EXPIREAT', KEYS[2], ARGV[4])
if ARGV[5] == '' then redis.call('HDEL', KEYS[2], 'm:u', 'm:k', 'm:h', 'm:t') end
apply(KEYS[2], ARGV[3] == '1', ARGV[4], 6)
if KEYS[3] then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
  reindex(KEYS[3])
end
return 1
"
);

/// Cluster, on the old session's slot (the last step of `change_id` there). KEYS: the
/// session. ARGV: the session's key without the prefix. Deletes it, answering `{'0'}` when it
/// was gone already, `{'1'}` when it was there untied, and `{'1', user key, member}` when its
/// index entry (in another slot) is to be removed.
const RETIRE_SCRIPT: &str = r"
local was = redis.call('HMGET', KEYS[1], 'm:k', 'm:h')
if redis.call('DEL', KEYS[1]) == 0 then return {'0'} end
if was[1] and was[2] then return {'1', was[1], ARGV[1] .. ':' .. was[2]} end
return {'1'}
";

/// KEYS: the session, and on one node the user's index. ARGV: expires_at, last_seen, member.
const TOUCH_SCRIPT: &str = concat!(
    index_lua!(),
    r"
if redis.call('EXPIREAT', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'm:e', ARGV[1], 'm:s', ARGV[2])
if KEYS[2] then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
  reindex(KEYS[2])
end
return 1
"
);

/// KEYS: the session. ARGV: prefix, the session's key without it, here? ('1' on one node).
///
/// Deletes the session. On one node its index entry goes in the same call; on Cluster (another
/// slot) the reply names the user key and the member for the caller to remove: `{}` when the
/// session was not tied to a user.
const DROP_SCRIPT: &str = concat!(
    index_lua!(),
    r"
local user = redis.call('HMGET', KEYS[1], 'm:k', 'm:h')
redis.call('DEL', KEYS[1])
if not (user[1] and user[2]) then return {} end
local member = ARGV[2] .. ':' .. user[2]
if ARGV[3] == '1' then
  local idx = ARGV[1] .. 'u:' .. user[1]
  redis.call('ZREM', idx, member)
  reindex(idx)
  return {}
end
return {user[1], member}
"
);

/// KEYS: the user's index (one node). ARGV: prefix, the user's key (hex).
///
/// Prunes the index (expired entries; entries whose session is gone or tied to another user or
/// handle since) and answers every listed session's `HGETALL`.
const LIST_SCRIPT: &str = concat!(
    index_lua!(),
    r"
local idx = KEYS[1]
reindex(idx)
local found, stale = {}, {}
for _, member in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  local session, handle = split(member)
  local user = {}
  if session then
    user = redis.call('HMGET', ARGV[1] .. session, 'm:k', 'm:h')
  end
  if user[1] == ARGV[2] and user[2] == handle then
    found[#found + 1] = redis.call('HGETALL', ARGV[1] .. session)
  else
    stale[#stale + 1] = member
  end
end
if #stale > 0 then
  remove(idx, stale)
  reindex(idx)
end
return found
"
);

/// KEYS: the user's index (one node). ARGV: prefix, the user's key (hex), one? ('1': end the
/// session with the handle; '0': every session but the one with it), handle ('' for none).
///
/// Ends the chosen sessions that still belong to the user with that handle and takes their
/// entries out of the index; answers how many ended.
const REVOKE_SCRIPT: &str = concat!(
    index_lua!(),
    r"
local idx = KEYS[1]
reindex(idx)
local ended, gone = 0, {}
for _, member in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  local session, handle = split(member)
  local chosen
  if ARGV[3] == '1' then chosen = handle == ARGV[4] else chosen = handle ~= ARGV[4] end
  if not session then
    gone[#gone + 1] = member
  elseif chosen then
    local key = ARGV[1] .. session
    local user = redis.call('HMGET', key, 'm:k', 'm:h')
    if user[1] == ARGV[2] and user[2] == handle then
      redis.call('DEL', key)
      ended = ended + 1
    end
    gone[#gone + 1] = member
  end
end
if #gone > 0 then
  remove(idx, gone)
  reindex(idx)
end
return ended
"
);

/// Cluster, on the index's slot. KEYS: the user's index. ARGV: expires_at, member.
const INDEX_ADD_SCRIPT: &str = concat!(
    index_lua!(),
    r"
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
reindex(KEYS[1])
return 1
"
);

/// Cluster, on the index's slot. KEYS: the user's index. Prunes it and answers its members.
const INDEX_READ_SCRIPT: &str = concat!(
    index_lua!(),
    r"
reindex(KEYS[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
"
);

/// Cluster, on the index's slot. KEYS: the user's index. ARGV: members to take out.
const INDEX_REMOVE_SCRIPT: &str = concat!(
    index_lua!(),
    r"
remove(KEYS[1], ARGV)
reindex(KEYS[1])
return 1
"
);

/// Cluster, on the session's slot. KEYS: the session. ARGV: the user's key (hex), handle.
/// Deletes the session only if it still belongs to that user under that handle.
const DELETE_IF_SCRIPT: &str = r"
local user = redis.call('HMGET', KEYS[1], 'm:k', 'm:h')
if user[1] == ARGV[1] and user[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
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
/// writes or reads an index also prunes it: entries whose score (expiry) is past, by the
/// server's clock, go, and the set's own expiry is set to its latest member's. Listing a user
/// also drops the entries whose session is gone or was tied to another user (or under another
/// handle) since. So an index entry never outlives its session for long, without keyspace
/// notifications or a sweep: an index that nobody reads again expires by itself with its last
/// session (`tests/redis.rs` lets 10 000 sessions of 100 users expire and finds `DBSIZE` 0).
///
/// Costs on one node, in round trips: [`user_sessions`](SessionStore::user_sessions) one
/// (`EVALSHA`: prune, then every listed session whole), [`revoke`](SessionStore::revoke) one,
/// [`revoke_all`](SessionStore::revoke_all) one whatever the number of sessions. Inside Redis,
/// a tied save or touch adds `O(log n)` sorted-set work for a user with `n` sessions; listing
/// and revoking read each of the user's sessions, and Redis runs nothing else meanwhile: about
/// 0.6 ms for a user with 100 sessions, and 70 ms to list (50 ms to revoke) 10 000 (measured by
/// `tests/redis.rs` with Redis 7.0 on a 2-core machine). Cap what one user may hold with
/// [`max_sessions_per_user`](crate::SessionMiddlewareBuilder::max_sessions_per_user). These scripts name the session keys
/// they touch from the index, which a single Redis node allows; on Cluster they would cross
/// slots, so the store does it otherwise there:
///
/// # Redis Cluster
///
/// A session's hash and its user's index live in different slots, so the index is written and
/// read in commands of its own, each pruning it and setting its expiry to its latest member's
/// as above: a tied save or touch is the session's script, then (only if the session still
/// exists) one `EVALSHA` on the index (two round trips; an untied one stays at one); an expire
/// of a tied session is two (the hash, then its entry); listing is one round trip to prune and
/// read the index, one `HGETALL` per entry (up to 32 in flight) and, if stale entries were
/// found, one to remove them; `revoke` is three; `revoke_all` is one to read the index, one per
/// session (each deleted only if it still belongs to that user under that handle: a script on
/// the session's slot) and one to update the index. A revocation still beats a concurrent save
/// (the session's script refuses to update a hash that is gone); at worst the save writes back
/// an index entry of a session that is gone, which the next listing prunes. If the index write
/// after a session's write fails, the request fails (`503`) and the session's next write
/// indexes it again.
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
                let loads = SCRIPTS.iter().map(|lua| {
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
                for lua in SCRIPTS {
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
        lua: &Lua,
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

/// The session key (without the prefix) and the handle of an index entry.
#[cfg(feature = "redis-cluster")]
fn split_member(member: &str) -> Option<(&str, &str)> {
    member.split_once(':')
}

impl RedisStore {
    /// The index key and the member of a tied session.
    fn tie(&self, id: &SessionId, meta: &Meta) -> Option<(String, String)> {
        let user = meta.user.as_ref()?;
        Some((self.user_index_key(&user.key), member(id, &user.handle)))
    }

    /// Cluster: writes an index entry after its session was written (another slot).
    async fn index_add(
        &self,
        index: &str,
        expires_at: u64,
        member: &str,
    ) -> Result<(), StoreError> {
        self.eval::<i64>(&INDEX_ADD, &[index], |cmd| {
            cmd.arg(expires_at).arg(member);
        })
        .await
        .map(drop)
    }

    /// Cluster: takes `members` out of an index.
    async fn index_remove(&self, index: &str, members: &[String]) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        self.eval::<i64>(&INDEX_REMOVE, &[index], |cmd| {
            cmd.arg(members);
        })
        .await
        .map(drop)
    }

    /// Cluster: prunes an index of its expired entries and reads the others.
    #[cfg(feature = "redis-cluster")]
    async fn index_read(&self, index: &str) -> Result<Vec<String>, StoreError> {
        self.eval(&INDEX_READ, &[index], |_| {}).await
    }

    /// Cluster: reads (and prunes) the index of `user`, ends the sessions of the entries whose
    /// handle `chosen` picks, each only if it still belongs to the user under that handle, and
    /// takes the picked entries out of the index. Answers how many sessions ended.
    ///
    /// A picked session that is gone by then may have moved to a new id (`change_id` writes
    /// the copy and its entry before it deletes the old hash): the index is read again, so
    /// that a session cannot slip out of a revocation by changing its id at the same moment.
    /// Sessions that keep moving through `REVOKE_ROUNDS` readings fail the revocation (`503`)
    /// rather than leave it unsure.
    #[cfg(feature = "redis-cluster")]
    async fn cluster_revoke(
        &self,
        user: &UserKey,
        chosen: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let index = self.user_index_key(user);
        let hex = user.hex();
        let mut total = 0;
        for _ in 0..REVOKE_ROUNDS {
            let picked: Vec<String> = self
                .index_read(&index)
                .await?
                .into_iter()
                .filter(|m| split_member(m).is_none_or(|(_, handle)| chosen(handle)))
                .collect();
            let targets: Vec<(String, String)> = picked
                .iter()
                .filter_map(|m| split_member(m))
                .map(|(session, handle)| {
                    (format!("{}{session}", self.inner.prefix), handle.to_owned())
                })
                .collect();
            let ended: Vec<i64> = stream::iter(targets)
                .map(|(key, handle)| self.delete_if(key, hex.clone(), handle))
                .buffer_unordered(FAN_OUT)
                .try_collect()
                .await?;
            self.index_remove(&index, &picked).await?;
            let done = ended.iter().filter(|n| **n == 1).count();
            total += done;
            if done == ended.len() {
                return Ok(total);
            }
        }
        // Sessions that kept moving: fail rather than answer a revocation that may be partial.
        Err(StoreError::msg(
            "revocation not finished: the user's sessions kept changing their ids",
        ))
    }

    /// Cluster: deletes the session `key` if it still belongs to the user `hex` under
    /// `handle`; 1 when it did.
    #[cfg(feature = "redis-cluster")]
    async fn delete_if(&self, key: String, hex: String, handle: String) -> Result<i64, StoreError> {
        self.eval(&DELETE_IF, &[&key], |cmd| {
            cmd.arg(&hex).arg(&handle);
        })
        .await
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
        let mut record = loaded.into_record();
        changes.apply(&mut record.data);
        self.save(new, meta, &Changes::full(record.data)).await?;
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

    /// Cluster: one session of an index entry, if it still belongs to `user` under the
    /// entry's handle.
    #[cfg(feature = "redis-cluster")]
    async fn entry_record(
        &self,
        member: String,
        user: UserKey,
    ) -> Result<(String, Option<Record>), StoreError> {
        let Some((session, handle)) = split_member(&member) else {
            return Ok((member, None));
        };
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(format!("{}{session}", self.inner.prefix));
        let fields: Vec<(Vec<u8>, Vec<u8>)> = self.run(cmd).await?;
        let record = parse_tagged(fields, &|| session.chars().take(8).collect())
            .filter(|r| belongs(r, &user, handle));
        Ok((member, record))
    }

    /// Cluster: the live sessions of `user`, reading each listed session on its own slot, and
    /// taking the stale entries out of the index.
    #[cfg(feature = "redis-cluster")]
    async fn cluster_user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let index = self.user_index_key(user);
        let members = self.index_read(&index).await?;
        let fetched: Vec<(String, Option<Record>)> = stream::iter(members)
            .map(|member| self.entry_record(member, *user))
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let mut found = Vec::with_capacity(fetched.len());
        let mut stale = Vec::new();
        for (member, record) in fetched {
            match record {
                Some(record) => found.push(record),
                None => stale.push(member),
            }
        }
        self.index_remove(&index, &stale).await?;
        Ok(found)
    }
}

/// Whether `record` is a session of `user` under `handle` (an index entry may be stale).
#[cfg(feature = "redis-cluster")]
fn belongs(record: &Record, user: &UserKey, handle: &str) -> bool {
    record
        .meta
        .user
        .as_ref()
        .is_some_and(|u| u.key == *user && u.handle.as_str() == handle)
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
        if let (Some((index, member)), true) = (&tie, cluster) {
            self.index_add(index, meta.expires_at, member).await?;
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

    /// One node: one `EVALSHA` that prunes the index and answers every listed session whole.
    /// Cluster: one to prune and read the index, one `HGETALL` per entry (at most 32 in
    /// flight), and one to take stale entries out, if any.
    fn lists_users(&self) -> bool {
        true
    }

    async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        #[cfg(feature = "redis-cluster")]
        if self.on_cluster() {
            return self.cluster_user_sessions(user).await;
        }
        let index = self.user_index_key(user);
        let replies: Vec<Value> = self
            .eval(&LIST, &[&index], |cmd| {
                cmd.arg(&self.inner.prefix).arg(user.hex());
            })
            .await?;
        let mut found = Vec::with_capacity(replies.len());
        for reply in replies {
            let fields =
                Vec::<(Vec<u8>, Vec<u8>)>::from_redis_value(reply).map_err(StoreError::new)?;
            let tag = || user.log_tag();
            if let Some(record) = parse_tagged(fields, &tag) {
                if record.meta.user.as_ref().is_some_and(|u| u.key == *user) {
                    found.push(record);
                }
            }
        }
        Ok(found)
    }

    /// One node: one `EVALSHA`. Cluster: three round trips (read the index, delete the session
    /// if it is still that user's under that handle, update the index).
    async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        #[cfg(feature = "redis-cluster")]
        if self.on_cluster() {
            let wanted = handle.as_str();
            return Ok(self.cluster_revoke(user, |h| h == wanted).await? > 0);
        }
        let ended: i64 = self
            .eval(&REVOKE, &[&self.user_index_key(user)], |cmd| {
                cmd.arg(&self.inner.prefix)
                    .arg(user.hex())
                    .arg(1)
                    .arg(handle.as_str());
            })
            .await?;
        Ok(ended > 0)
    }

    /// One node: one `EVALSHA`, whatever the number of sessions. Cluster: one round trip to
    /// read the index, one per session (at most 32 in flight), one to update the index.
    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        #[cfg(feature = "redis-cluster")]
        if self.on_cluster() {
            let except = except.map(Handle::as_str);
            return self.cluster_revoke(user, |h| Some(h) != except).await;
        }
        let ended: i64 = self
            .eval(&REVOKE, &[&self.user_index_key(user)], |cmd| {
                cmd.arg(&self.inner.prefix)
                    .arg(user.hex())
                    .arg(0)
                    .arg(except.map_or("", Handle::as_str));
            })
            .await?;
        Ok(usize::try_from(ended).unwrap_or(0))
    }
}
