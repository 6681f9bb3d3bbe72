//! The connection layer of [`RedisStore`]: the pool, the one multiplexed connection every
//! request shares (dropped when it fails, for a fresh one), commands and scripts run within the
//! store's timeout, and what a failure becomes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis::{self, aio::ConnectionLike, PushInfo, RedisError, Value};

use super::cache::Cache;
use super::scripts;
use super::RedisStore;
use crate::error::{ConfigError, StoreError};

/// The pool a [`RedisStore`] draws its connection from.
#[derive(Clone)]
pub(super) enum Pool {
    Single(deadpool_redis::Pool),
    #[cfg(feature = "redis-cluster")]
    Cluster(deadpool_redis::cluster::Pool),
    /// [`RedisStore::cached`]: one RESP3 connection with tracking on, made by this client.
    Tracked(Arc<Tracked>),
}

/// The client of a cached store's connection, and the cache its pushes keep.
pub(super) struct Tracked {
    pub(super) client: redis::Client,
    pub(super) cache: Arc<Cache>,
}

impl Tracked {
    /// A RESP3 connection whose pushes go to the cache, with `CLIENT TRACKING ON NOLOOP`: Redis
    /// remembers every key it reads and says when one changes (see the `cache` module).
    async fn connect(&self) -> Result<redis::aio::MultiplexedConnection, RedisError> {
        let cache = self.cache.clone();
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_push_sender(move |push: PushInfo| {
                cache.on_push(&push);
                Ok::<(), std::convert::Infallible>(())
            });
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        // NOLOOP: Redis does not tell this connection about its own writes, which the store
        // takes out of the cache itself, before and after each (rules 2 and 3 of `cache`).
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("NOLOOP")
            .query_async::<()>(&mut conn)
            .await?;
        Ok(conn)
    }
}

/// A connection taken from the pool, shared by every request.
#[derive(Clone)]
pub(super) enum Conn {
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

impl RedisStore {
    /// Whether the sessions and the indexes live in different slots (Cluster): then the index
    /// is written and read in commands of its own.
    pub(super) fn on_cluster(&self) -> bool {
        match self.inner.pool {
            Pool::Single(_) | Pool::Tracked(_) => false,
            #[cfg(feature = "redis-cluster")]
            Pool::Cluster(_) => true,
        }
    }

    /// The read cache, on a store made by [`RedisStore::cached`].
    pub(super) fn cache(&self) -> Option<&Cache> {
        match &self.inner.pool {
            Pool::Tracked(tracked) => Some(&tracked.cache),
            _ => None,
        }
    }

    /// Drops the shared connection (it failed or hangs): the next request takes a fresh one.
    /// The read cache goes with it: the pushes that keep it right came on that connection.
    fn drop_conn(&self) {
        lock(&self.inner.conn).take();
        if let Some(cache) = self.cache() {
            cache.clear();
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
            Pool::Tracked(tracked) => Conn::Single(tracked.connect().await?),
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
        // Stored first, emptied next: a read whose ticket is taken from now on is sent on this
        // connection, which tracks what it reads (see the `cache` module).
        if let Some(cache) = self.cache() {
            cache.clear();
        }
        Ok(conn)
    }

    /// Runs `cmd` within the timeout; a failed connection is dropped for the next request.
    pub(super) async fn run<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
    ) -> Result<T, StoreError> {
        self.run_raw(cmd).await.map_err(Failure::into_store_error)
    }

    /// Runs a script: `EVALSHA`, or `EVAL` when the server does not know it (restarted, or
    /// `SCRIPT FLUSH`). `args` fills in what follows the keys.
    pub(super) async fn eval<T: redis::FromRedisValue>(
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
                    self.drop_conn();
                }
                Err(Failure::Redis(err))
            }
            Err(_) => {
                // The connection may be wedged (e.g. Redis paused): start afresh next time.
                self.drop_conn();
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

pub(super) fn pool_from_url(url: &str) -> Result<deadpool_redis::Pool, ConfigError> {
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
