//! [`PostgresStore`]: sessions in PostgreSQL, through an `sqlx` pool.
//!
//! This file: the store, its docs and its [`SessionStore`] impl. `builder`: the options, the
//! pool and the advisory lock keys; `schema`: `migrate` and `check`; `statements`: the SQL of
//! each operation (the DDL included) and the rows it reads.

mod builder;
mod schema;
mod statements;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;
use sqlx::Row;

use self::statements::{decode, meta_at, value_at, Statements};
use super::{
    purge_mark, start_purge, timed, to_i64, user_key_column, KeyChanges, MetaColumns, Purge,
    SqlOptions,
};
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::{
    Changes, Fetch, Handle, IndexRef, Loaded, Meta, Record, SessionStore, UserIndex, UserKey,
};

pub use self::builder::PostgresStoreBuilder;

/// A session store in PostgreSQL (feature `postgres`), on the `sqlx` pool the app already has.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use actix_typed_session::store::PostgresStore;
/// let store = PostgresStore::from_url("postgres://app@localhost/app")?;
/// store.migrate().await?; // at start-up: creates the tables, or says why they do not fit
/// # Ok(()) }
/// ```
///
/// # Schema
///
/// [`migrate`](Self::migrate) creates (if missing) two tables, `<table>` (default `sessions`)
/// and `<table>_values`:
///
/// - `<table>`: one row per session, keyed by `id`, the SHA-256 of the session id (`bytea`),
///   never the id itself; `created_at`, `expires_at`, `last_seen` (Unix seconds, `bigint`);
///   `user_key` (the SHA-256 [`UserKey`] of the session's user, indexed), `user_id` (the user
///   id as the app gave it, returned by `Session::user`; in no index), `handle` and
///   `signed_in_at` (when the session was tied to its user, Unix milliseconds; added to a table
///   made by an earlier version when `migrate` runs again); `purge_at` (indexed, see below).
/// - `<table>_values`: one row per key of a session (`session`, `key` `text`, `value` `bytea`,
///   primary key `(session, key)`, deleted with its session by `ON DELETE CASCADE`). Values are
///   the codec's bytes as they are (MessagePack and CBOR included): no text encoding.
///
/// A key table rather than one `jsonb` column: PostgreSQL rewrites a whole `jsonb` value (and
/// its TOAST chunks) on any change to it, so a save would cost the session's size; a key row
/// costs the key. A save of one changed key writes that key's row and the session's row, whether
/// the session holds 1 or 1000 keys.
///
/// # Statements
///
/// Each operation is one statement, one round trip (once the statement is prepared on the
/// connection; `sqlx` caches prepared statements per connection):
///
/// - load: one `SELECT` (the session's row joined with the keys asked for);
/// - save: one statement whose data-modifying CTEs update the session's row only if it exists
///   and has not expired (by the database's clock), then delete the removed keys and upsert the
///   set ones, only for that row. A session deleted meanwhile (logout, revocation) stays
///   deleted: the update waits for the row lock of a concurrent delete and then finds no row.
///   A new session is an `INSERT` in the same shape;
/// - touch: one `UPDATE` of the session's row; delete, `revoke`, `revoke_all`: one `DELETE`;
///   `user_sessions`: one `SELECT` on the `user_key` index.
///
/// Keep `sqlx`'s `test_before_acquire` off on the pool (as [`from_url`](Self::from_url)
/// does): with it on, every checkout costs a ping round trip more.
///
/// # HOT updates
///
/// A row whose indexed columns do not change can be updated in place (a HOT update), without
/// new index entries. The expiry slides on most saves, so it is not what the purge index holds:
/// `purge_at` is the expiry rounded up to [`SQL_PURGE_STEP`](crate::store::SQL_PURGE_STEP)
/// (5 minutes), and a
/// save moves it only when the new expiry passes it: at most once per 5 minutes per session.
/// Both tables are created with `fillfactor = 80` to leave room on each page for HOT updates.
///
/// # Purge
///
/// Expired rows are deleted in the background every
/// [`cleanup_interval`](PostgresStoreBuilder::cleanup_interval) (default 5 minutes, ± 10 %
/// jitter), in batches of [`batch_size`](PostgresStoreBuilder::batch_size) sessions (default
/// 1000) taken in `purge_at` order from its index. Each batch is one statement that first takes
/// a transaction-level advisory lock (`pg_try_advisory_xact_lock`, keyed by the table name):
/// when several app servers share the database, one purges and the others skip the round.
/// Between two batches the purge rests as long as the last batch took, so it never holds the
/// database busy more than half the time and requests run between its batches. A
/// failed batch is logged at `warn` and tried again at the next interval; the task never ends
/// on an error, and ends once every clone of the store is dropped. It starts with the first
/// operation on a Tokio runtime (or at [`build`](PostgresStoreBuilder::build) when there is
/// one). [`purge_expired`](Self::purge_expired) runs a round now.
///
/// # Failures
///
/// Every statement is bounded by [`timeout`](PostgresStoreBuilder::timeout) (default 2 s,
/// acquiring a connection included); past it, or on any database error, the request answers
/// `503`. The pool reconnects by itself once the database is back. [`from_url`](Self::from_url)
/// also sets the server's `statement_timeout` to the same bound, so an abandoned statement does
/// not run on.
///
/// PostgreSQL 12 or later (materialized CTEs).
///
/// # Wrong schema
///
/// Call [`migrate`](Self::migrate) (creates what is missing, then checks) or
/// [`check`](Self::check) (only checks) at start-up, before serving: a table of the wrong shape
/// (a column missing or of another type) is then an error naming the column, not a `503` at the
/// first request.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    opts: SqlOptions,
    sql: Statements,
    purge_started: AtomicBool,
    migrate_lock: i64,
    purge_lock: i64,
}

impl PostgresStore {
    /// The pool the store runs on.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The sessions table's name.
    pub fn table(&self) -> &str {
        &self.inner.opts.table
    }

    fn start_purge(&self) {
        if let Some(interval) = self.inner.opts.cleanup_interval {
            start_purge(&self.inner, &self.inner.purge_started, interval);
        }
    }

    fn timeout(&self) -> Duration {
        self.inner.opts.timeout
    }

    /// Deletes expired sessions now, in batches, unless another store (another app server)
    /// is purging the same table at this moment; answers how many this call deleted.
    ///
    /// # Errors
    /// A batch failed (the database is unreachable or slow): the rows it would have deleted
    /// are left for the next round.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.inner.purge().await
    }
}

impl Purge for Inner {
    async fn purge(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        loop {
            let started = std::time::Instant::now();
            let (got, deleted): (bool, i64) = timed(self.opts.timeout, "PostgresStore purge", {
                sqlx::query_as(&self.sql.purge)
                    .bind(self.purge_lock)
                    .bind(i64::from(self.opts.batch_size))
                    .fetch_one(&self.pool)
            })
            .await?;
            let deleted = u64::try_from(deleted).unwrap_or(0);
            total += deleted;
            if !got || deleted < u64::from(self.opts.batch_size) {
                return Ok(total);
            }
            // Rest as long as the batch took: the purge takes at most half of the database's
            // time that one connection could, and requests run between batches.
            tokio::time::sleep(started.elapsed()).await;
        }
    }
}

impl SessionStore for PostgresStore {
    async fn load(&self, id: &SessionId, fetch: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        self.start_purge();
        let digest = id.digest();
        let rows = timed(self.timeout(), "PostgresStore load", async {
            match fetch {
                Fetch::All => {
                    sqlx::query(&self.inner.sql.load_all)
                        .bind(&digest[..])
                        .fetch_all(&self.inner.pool)
                        .await
                }
                Fetch::Keys(keys) => {
                    sqlx::query(&self.inner.sql.load_keys)
                        .bind(&digest[..])
                        .bind(keys)
                        .fetch_all(&self.inner.pool)
                        .await
                }
            }
        })
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let meta = meta_at(first, 0)
            .map_err(decode)?
            .into_meta(&|| id.log_tag());
        let mut data = HashMap::with_capacity(rows.len());
        for row in &rows {
            value_at(row, 6, &mut data).map_err(decode)?;
        }
        Ok(Some(match fetch {
            Fetch::All => Loaded::whole(Record { meta, data }),
            Fetch::Keys(_) => Loaded::partial(meta, data),
        }))
    }

    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        self.start_purge();
        let digest = id.digest();
        let cols = MetaColumns::of(meta);
        let keys = KeyChanges::of(changes);
        let sql = if changes.created {
            &self.inner.sql.insert
        } else {
            &self.inner.sql.update
        };
        let written: i64 = timed(self.timeout(), "PostgresStore save", async {
            sqlx::query_scalar(sql)
                .bind(&digest[..])
                .bind(cols.expires_at)
                .bind(cols.last_seen)
                .bind(&cols.user_key)
                .bind(&cols.user_id)
                .bind(keys.replace_all)
                .bind(&keys.removed)
                .bind(&keys.set_keys)
                .bind(&keys.set_values)
                .bind(&cols.handle)
                .bind(purge_mark(meta.expires_at))
                .bind(cols.created_at)
                .bind(cols.signed_in_at)
                .fetch_one(&self.inner.pool)
                .await
        })
        .await?;
        if written == 0 {
            tracing::debug!(session = %id.log_tag(), "session deleted meanwhile; update dropped");
        }
        Ok(())
    }

    /// One transaction of two statements: lock the old row if it is live, then move it and
    /// its key rows to the new id with the request's changes (see the statements' comments).
    async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        self.start_purge();
        let (from, to) = (old.digest(), new.digest());
        let cols = MetaColumns::of(meta);
        let keys = KeyChanges::of(changes);
        let inner = &self.inner;
        timed(self.timeout(), "PostgresStore change_id", async {
            let mut tx = inner.pool.begin().await?;
            let live = sqlx::query(&inner.sql.lock_live)
                .bind(&from[..])
                .fetch_optional(&mut *tx)
                .await?;
            if live.is_none() {
                tx.rollback().await?;
                return Ok(false);
            }
            let moved: i64 = sqlx::query_scalar(&inner.sql.rotate)
                .bind(&from[..])
                .bind(cols.expires_at)
                .bind(cols.last_seen)
                .bind(&cols.user_key)
                .bind(&cols.user_id)
                .bind(keys.replace_all)
                .bind(&keys.removed)
                .bind(&keys.set_keys)
                .bind(&keys.set_values)
                .bind(&cols.handle)
                .bind(purge_mark(meta.expires_at))
                .bind(&to[..])
                .bind(cols.signed_in_at)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(moved == 1)
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.start_purge();
        let digest = id.digest();
        timed(self.timeout(), "PostgresStore delete", async {
            sqlx::query(&self.inner.sql.delete)
                .bind(&digest[..])
                .execute(&self.inner.pool)
                .await
        })
        .await
        .map(drop)
    }

    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        self.start_purge();
        let digest = id.digest();
        timed(self.timeout(), "PostgresStore touch", async {
            sqlx::query(&self.inner.sql.touch)
                .bind(&digest[..])
                .bind(to_i64(meta.expires_at))
                .bind(to_i64(meta.last_seen))
                .bind(purge_mark(meta.expires_at))
                .execute(&self.inner.pool)
                .await
        })
        .await
        .map(drop)
    }

    /// It keeps the user index ([`UserIndex`] below).
    fn user_index(&self) -> Option<IndexRef<'_>> {
        Some(IndexRef::of(self))
    }
}

impl UserIndex for PostgresStore {
    /// One `SELECT` on the `user_key` index, joined with the sessions' keys.
    async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        self.start_purge();
        let rows = timed(self.timeout(), "PostgresStore user_sessions", async {
            sqlx::query(&self.inner.sql.list)
                .bind(user_key_column(user))
                .fetch_all(&self.inner.pool)
                .await
        })
        .await?;
        let mut found: Vec<Record> = Vec::new();
        let mut current: Option<Vec<u8>> = None;
        for row in &rows {
            let id: Vec<u8> = row.try_get(0).map_err(decode)?;
            if current.as_ref() != Some(&id) {
                let meta = meta_at(row, 1)
                    .map_err(decode)?
                    .into_meta(&|| user.log_tag());
                found.push(Record::new(meta));
                current = Some(id);
            }
            if let Some(record) = found.last_mut() {
                value_at(row, 7, &mut record.data).map_err(decode)?;
            }
        }
        // A row whose user did not read back (a malformed handle) is not listed.
        found.retain(|r| r.meta.user.as_ref().is_some_and(|u| u.key == *user));
        Ok(found)
    }

    /// One `DELETE` of the row with that user key and handle; `true` if it had not expired.
    async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        self.start_purge();
        let ended: i64 = timed(self.timeout(), "PostgresStore revoke", async {
            sqlx::query_scalar(&self.inner.sql.revoke)
                .bind(user_key_column(user))
                .bind(handle.as_str())
                .fetch_one(&self.inner.pool)
                .await
        })
        .await?;
        Ok(ended > 0)
    }

    /// One `DELETE` of the user's rows (but the one with handle `except`); counts the live ones.
    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        self.start_purge();
        let ended: i64 = timed(self.timeout(), "PostgresStore revoke_all", async {
            sqlx::query_scalar(&self.inner.sql.revoke_all)
                .bind(user_key_column(user))
                .bind(except.map(Handle::as_str))
                .fetch_one(&self.inner.pool)
                .await
        })
        .await?;
        Ok(usize::try_from(ended).unwrap_or(0))
    }
}
