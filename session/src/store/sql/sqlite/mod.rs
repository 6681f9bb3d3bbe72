//! [`SqliteStore`]: sessions in SQLite on sqlx (feature `sqlite`). The store's own docs hold
//! the schema, the costs and the limits.
//!
//! This file: the store, its docs and its [`SessionStore`] impl. `builder`: the options and the
//! pool; `schema`: the DDL, `migrate` and `check`; `statements`: the SQL of each operation and
//! the rows it reads.

mod builder;
mod schema;
mod statements;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqlitePool;
use sqlx::Row;

use self::statements::{meta_of, value_of, Statements};
use super::{
    purge_mark, start_purge, timed, to_i64, user_key_column, MetaColumns, Purge, SqlOptions,
};
use crate::clock::SharedClock;
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::{
    Changes, Fetch, Handle, IndexRef, Loaded, Meta, Record, SessionStore, UserIndex, UserKey,
};

pub use self::builder::SqliteStoreBuilder;

const STORE: &str = "SqliteStore";

/// The purge's pause between two batches, in which writers waiting for the lock get it.
const PURGE_PAUSE: Duration = Duration::from_millis(10);

/// Sessions in SQLite, on an sqlx [`SqlitePool`]: one row per session keyed by the id's hash,
/// one row per value, a user column and an expiry column, both indexed.
///
/// Call [`migrate`](Self::migrate) (creates what is missing, then checks) or
/// [`check`](Self::check) (only checks) at start-up, before serving: a table of the wrong shape
/// is then an error naming what is missing, not a `503` at the first request.
///
/// ```no_run
/// # use actix_typed_session::store::sqlx::SqlitePool;
/// # async fn run(pool: SqlitePool) -> Result<(), Box<dyn std::error::Error>> {
/// use actix_typed_session::store::SqliteStore;
/// // A file (created if missing, WAL); the schema created if missing:
/// let store = SqliteStore::from_url("sqlite://sessions.db")?;
/// store.migrate().await?;
/// // Or on the pool the app already has, with options:
/// let store = SqliteStore::builder(pool)
///     .table("web_sessions")
///     .timeout(std::time::Duration::from_secs(1))
///     .build()?;
/// store.check().await?;
/// # Ok(()) }
/// ```
///
/// # Schema
///
/// [`SqliteStore::migrate`] creates, when missing (every statement is `IF NOT EXISTS`, in one
/// transaction that takes the write lock first, so running it twice or from several processes
/// at once is harmless), for a table named `sessions` (see
/// [`table`](SqliteStoreBuilder::table)):
///
/// ```sql
/// CREATE TABLE sessions (              -- one row per session
///     id         BLOB PRIMARY KEY,     -- SHA-256 of the session id, never the id itself
///     created_at INTEGER NOT NULL,     -- Unix seconds
///     expires_at INTEGER NOT NULL,
///     last_seen  INTEGER NOT NULL,
///     purge_at   INTEGER NOT NULL,     -- the expiry rounded up to 300 s: what the purge walks
///     user_key   BLOB,                 -- SHA-256 of the user id (UserKey), indexed
///     user_id    BLOB,                 -- the user id itself, not indexed
///     handle     TEXT,                 -- the session's public handle
///     signed_in_at INTEGER             -- when it was tied to the user, Unix milliseconds
/// ) WITHOUT ROWID;                     -- (migrate adds it to a table of an earlier version)
/// CREATE INDEX sessions_purge_at ON sessions (purge_at);
/// CREATE INDEX sessions_user_key ON sessions (user_key) WHERE user_key IS NOT NULL;
/// CREATE TABLE sessions_values (       -- one row per key of a session
///     session BLOB NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
///     PRIMARY KEY (session, key)
/// ) WITHOUT ROWID;
/// -- a session's values go with its row, in the same statement, whoever deletes it
/// CREATE TRIGGER sessions_drop_values AFTER DELETE ON sessions ..;
/// -- a save is one INSERT into this view; its INSTEAD OF trigger applies it (below)
/// CREATE VIEW sessions_save AS SELECT .. ; CREATE TRIGGER sessions_save_apply ..;
/// ```
///
/// # Costs: statements per request
///
/// | request | statements |
/// | --- | --- |
/// | does not touch the session | 0 |
/// | reads it | 1 (`SELECT` of the row joined with the asked keys' rows) |
/// | writes it | 1 beyond the load (`INSERT INTO sessions_save`) |
/// | new session | 1 |
/// | refresh of an unchanged session | 1 (`UPDATE`) |
/// | logout | 1 (`DELETE`; the values go by the trigger) |
///
/// [`statements`](SqliteStore::statements) counts them; `tests/stores/sqlite.rs` checks the table.
///
/// **A changed key is written without rewriting the others**: values live one row per key in
/// `<table>_values`, so a save upserts or deletes the changed keys' rows (a B-tree lookup
/// each) and updates the session's small metadata row, whatever the session holds. Values are
/// BLOBs, stored as the codec made them (JSON, MessagePack, CBOR): no text encoding. (JSON1's
/// `json_set` was not used: SQLite rewrites the whole JSON text, so a save would cost the
/// session's size, and binary values would need an encoding.)
///
/// **One statement per save**: SQLite has no data-modifying CTEs, and a transaction of several
/// statements costs several round trips to the connection's worker thread. So a save is one
/// `INSERT` into the view `<table>_save`, whose `INSTEAD OF` trigger runs the parts in that one
/// statement (atomic, as every SQLite statement): update the row only if it still exists and
/// has not expired (or insert it, for a new session), then write the changed keys only if the
/// row is there and live. A save racing a logout or a revocation therefore finds no row and
/// writes nothing: a deleted session never comes back.
///
/// # Expiry
///
/// A load or a listing ignores a row whose `expires_at` is past. Expired rows are deleted in
/// the background every [`cleanup_interval`](SqliteStoreBuilder::cleanup_interval) (± 10 %
/// jitter), in batches of [`batch_size`](SqliteStoreBuilder::batch_size) ordered by the indexed
/// `purge_at`, each batch its own short write with a pause of 10 ms after it, so requests
/// interleave with a long purge (`cargo bench --bench sqlite` measures their p99 meanwhile). A
/// failed batch is logged and retried at the next interval; the task never ends on an error
/// (it ends when the last clone of the store is dropped). `purge_at` moves only when the
/// expiry passes it, so most saves leave every index alone; a row is deleted at most
/// [`PURGE_STEP`](crate::store::SQL_PURGE_STEP) seconds after it expired (and is invisible
/// from its expiry on). [`SqliteStore::purge_expired`] runs one purge now.
///
/// # Timeouts, locking, `:memory:`
///
/// - Every statement (acquiring a connection included) is bounded by
///   [`timeout`](SqliteStoreBuilder::timeout) (default 2 s) and fails as a
///   [`StoreError`] (`503`) past it.
/// - SQLite has one writer at a time. [`SqliteStore::from_url`] opens files in WAL mode (readers
///   never wait for the writer), `synchronous = NORMAL` (durable across a process crash; the
///   last transactions may be lost on a power cut), and a `busy_timeout` equal to the store's
///   timeout (a writer waits that long for the lock, then fails). With
///   [`SqliteStore::new`] on your own pool, these are your pool's settings; sqlx's default
///   `busy_timeout` is 5 s, and the store's timeout answers `503` before it. A statement that
///   timed out may still complete in the connection's worker thread afterwards.
/// - `:memory:`: every SQLite connection to `:memory:` is a database of its own. So
///   [`from_url`](SqliteStore::from_url)`(":memory:")` makes a pool of exactly one connection
///   that is never closed (closing it would drop the data): statements queue for it, so
///   concurrent requests are served one statement at a time (correct, and what the
///   conformance suite runs on; a file in WAL mode lets reads run in parallel). Build a pool of
///   your own for [`new`](SqliteStore::new) the same way: `max_connections(1)`,
///   `min_connections(1)`, no idle timeout, no maximum lifetime. Sessions in `:memory:` live
///   as long as that connection: use a file for sessions that must survive a restart.
///
/// # Limits
///
/// - Table names are plain identifiers (`[a-z_][a-z0-9_]*`); SQLite's `schema.table` form is
///   refused.
/// - A table of the wrong shape (a column, the values table, the save view or a trigger
///   missing) is an error of [`migrate`](SqliteStore::migrate) and [`check`](SqliteStore::check)
///   (run one at start-up), naming what is missing.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    opts: SqlOptions,
    clock: SharedClock,
    sql: Statements,
    statements: AtomicU64,
    purge_started: AtomicBool,
}

impl SqliteStore {
    /// The pool the store runs on.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// The sessions table's name.
    pub fn table(&self) -> &str {
        &self.inner.opts.table
    }

    /// How many statements this store has sent to the database for sessions (loads, saves,
    /// touches, deletes, the user index) and purges, since it was built; [`migrate`](Self::migrate)
    /// and [`check`](Self::check) are not counted. A counter for tests and metrics.
    pub fn statements(&self) -> u64 {
        self.inner.statements.load(Ordering::Relaxed)
    }

    fn start_purge(&self) {
        if let Some(interval) = self.inner.opts.cleanup_interval {
            start_purge(&self.inner, &self.inner.purge_started, interval);
        }
    }

    /// Deletes every expired session now, in batches; answers how many went.
    ///
    /// # Errors
    /// A batch failed (the database is locked past the timeout, or unreachable): the rows it
    /// would have deleted are left for the next round (the batches before it stay done).
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.inner.purge().await
    }
}

impl Inner {
    fn now(&self) -> i64 {
        to_i64(self.clock.now())
    }

    /// Runs one statement within the timeout, counting it.
    async fn run<T>(
        &self,
        what: &'static str,
        op: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        timed(self.opts.timeout, what, op).await.inspect_err(|e| {
            tracing::error!(error = %e, "SQLite session store failed");
        })
    }
}

impl Purge for Inner {
    async fn purge(&self) -> Result<u64, StoreError> {
        let batch = self.opts.batch_size;
        let mut total = 0;
        loop {
            let now = self.now();
            let done = self
                .run("SqliteStore purge", async {
                    sqlx::query(&self.sql.purge)
                        .bind(now)
                        .bind(i64::from(batch))
                        .execute(&self.pool)
                        .await
                })
                .await?
                .rows_affected();
            total += done;
            if done < u64::from(batch) {
                return Ok(total);
            }
            // Let requests waiting for the write lock go between two batches: they poll for it
            // (SQLite's busy handler sleeps 1, 2, 5, 10 ms .. between tries), so a purge that
            // took the lock again at once could starve them for tens of milliseconds.
            tokio::time::sleep(PURGE_PAUSE).await;
        }
    }
}

impl SessionStore for SqliteStore {
    async fn load(&self, id: &SessionId, fetch: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        self.start_purge();
        let inner = &self.inner;
        let keys = match fetch {
            Fetch::All => None,
            Fetch::Keys(keys) => Some(serde_json::to_string(keys).map_err(StoreError::new)?),
        };
        let rows = inner
            .run("SqliteStore load", async {
                sqlx::query(&inner.sql.load)
                    .bind(&id.digest()[..])
                    .bind(inner.now())
                    .bind(keys.as_deref())
                    .fetch_all(&inner.pool)
                    .await
            })
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let tag = || id.log_tag();
        let meta = meta_of(first, 0, &tag).map_err(StoreError::new)?;
        let mut data = HashMap::with_capacity(rows.len());
        for row in &rows {
            if let Some((k, v)) = value_of(row, 7).map_err(StoreError::new)? {
                data.insert(k, v);
            }
        }
        Ok(Some(match fetch {
            Fetch::All => Loaded::whole(Record { meta, data }),
            Fetch::Keys(_) => Loaded::partial(meta, data),
        }))
    }

    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        self.start_purge();
        let inner = &self.inner;
        let query = inner.save_query(id, meta, changes, changes.created)?;
        inner
            .run("SqliteStore save", query.execute(&inner.pool))
            .await?;
        Ok(())
    }

    /// One transaction (`BEGIN IMMEDIATE`: the write lock first), three statements: the row
    /// takes the new key if it is still there and live (else nothing happens and the answer
    /// is `false`), its values follow, and the request's changes are saved under the new key.
    async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        self.start_purge();
        let inner = &self.inner;
        let (from, to) = (old.digest(), new.digest());
        let save = inner.save_query(new, meta, changes, false)?;
        inner.statements.fetch_add(2, Ordering::Relaxed);
        inner
            .run("SqliteStore change_id", async {
                let mut tx = inner.pool.begin_with("BEGIN IMMEDIATE").await?;
                let renamed = sqlx::query(&inner.sql.rename)
                    .bind(&from[..])
                    .bind(&to[..])
                    .bind(inner.now())
                    .execute(&mut *tx)
                    .await?;
                if renamed.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query(&inner.sql.rename_values)
                    .bind(&from[..])
                    .bind(&to[..])
                    .execute(&mut *tx)
                    .await?;
                save.execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(true)
            })
            .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner
            .run("SqliteStore delete", async {
                sqlx::query(&inner.sql.delete)
                    .bind(&id.digest()[..])
                    .execute(&inner.pool)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        let inner = &self.inner;
        let cols = MetaColumns::of(meta);
        inner
            .run("SqliteStore touch", async {
                sqlx::query(&inner.sql.touch)
                    .bind(&id.digest()[..])
                    .bind(inner.now())
                    .bind(cols.expires_at)
                    .bind(cols.last_seen)
                    .bind(purge_mark(meta.expires_at))
                    .bind(cols.user_key)
                    .bind(cols.user_id)
                    .bind(cols.handle)
                    .execute(&inner.pool)
                    .await
            })
            .await?;
        Ok(())
    }

    /// It keeps the user index ([`UserIndex`] below).
    fn user_index(&self) -> Option<IndexRef<'_>> {
        Some(IndexRef::of(self))
    }
}

impl UserIndex for SqliteStore {
    async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        let inner = &self.inner;
        let rows = inner
            .run("SqliteStore user_sessions", async {
                sqlx::query(&inner.sql.list)
                    .bind(user_key_column(user))
                    .bind(inner.now())
                    .fetch_all(&inner.pool)
                    .await
            })
            .await?;
        let mut out: Vec<Record> = Vec::new();
        let mut last: Option<Vec<u8>> = None;
        for row in &rows {
            let id: Vec<u8> = row.try_get(0).map_err(StoreError::new)?;
            if last.as_ref() != Some(&id) {
                let tag = || crate::id::hex(&id[..id.len().min(4)]);
                out.push(Record::new(meta_of(row, 1, &tag).map_err(StoreError::new)?));
                last = Some(id);
            }
            if let (Some(record), Some((k, v))) =
                (out.last_mut(), value_of(row, 8).map_err(StoreError::new)?)
            {
                record.data.insert(k, v);
            }
        }
        Ok(out)
    }

    async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let done = inner
            .run("SqliteStore revoke", async {
                sqlx::query(&inner.sql.revoke)
                    .bind(user_key_column(user))
                    .bind(handle.as_str())
                    .bind(inner.now())
                    .execute(&inner.pool)
                    .await
            })
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let batch = inner.opts.batch_size;
        let mut ended = 0;
        loop {
            let now = inner.now();
            let gone: Vec<i64> = inner
                .run("SqliteStore revoke_all", async {
                    sqlx::query_scalar(&inner.sql.revoke_all)
                        .bind(user_key_column(user))
                        .bind(except.map(Handle::as_str))
                        .bind(i64::from(batch))
                        .fetch_all(&inner.pool)
                        .await
                })
                .await?;
            ended += gone.iter().filter(|e| **e > now).count();
            if gone.len() < batch as usize {
                return Ok(ended);
            }
            // Writers waiting for the lock go between two batches (as in the purge).
            tokio::time::sleep(PURGE_PAUSE).await;
        }
    }
}
