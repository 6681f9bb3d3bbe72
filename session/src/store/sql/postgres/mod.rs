//! [`PostgresStore`]: sessions in PostgreSQL, through an `sqlx` pool.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::Row;

use super::{
    purge_mark, start_purge, timed, to_i64, user_key_column, KeyChanges, MetaColumns, Purge,
    SqlOptions,
};
use crate::error::{ConfigError, StoreError};
use crate::id::SessionId;
use crate::store::{Bytes, Changes, Fetch, Handle, Loaded, Meta, Record, SessionStore, UserKey};

/// The database's clock, in Unix seconds: what decides whether a row has expired.
const NOW: &str = "EXTRACT(EPOCH FROM now())::bigint";

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

/// Configures a [`PostgresStore`]; from [`PostgresStore::builder`].
#[must_use]
pub struct PostgresStoreBuilder {
    pool: PgPool,
    opts: SqlOptions,
}

impl PostgresStoreBuilder {
    super::sql_option_setters!(PostgresStore);

    /// Builds the store. No statement runs yet: call [`PostgresStore::migrate`] or
    /// [`PostgresStore::check`] at start-up.
    ///
    /// # Errors
    /// A table name that is not a plain identifier, a zero timeout, interval or batch size.
    pub fn build(self) -> Result<PostgresStore, ConfigError> {
        self.opts.validate("PostgresStore")?;
        let lock = |what: &str| {
            let hash = Sha256::digest(format!("actix-typed-session/{what}/{}", self.opts.table));
            i64::from_be_bytes(hash[..8].try_into().unwrap_or_default())
        };
        let store = PostgresStore {
            inner: Arc::new(Inner {
                sql: Statements::new(&self.opts),
                migrate_lock: lock("migrate"),
                purge_lock: lock("purge"),
                pool: self.pool,
                opts: self.opts,
                purge_started: AtomicBool::new(false),
            }),
        };
        store.start_purge();
        Ok(store)
    }
}

impl PostgresStore {
    /// A store on `pool` with the defaults (table `sessions`, 2 s timeout, purge every 5
    /// minutes).
    pub fn new(pool: PgPool) -> Self {
        Self::builder(pool)
            .build()
            .expect("the default options are valid")
    }

    /// A builder on `pool`.
    pub fn builder(pool: PgPool) -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            pool,
            opts: SqlOptions::default(),
        }
    }

    /// A store with the defaults on a new pool for `url` (`postgres://user:pass@host/db`).
    /// Connections are made on demand (the database may start after the app), checked out
    /// without a ping, and carry `statement_timeout` = the store's 2 s timeout. Call it within
    /// a Tokio runtime (`#[actix_web::main]`): `sqlx` starts the pool's tasks there.
    ///
    /// # Errors
    /// A malformed URL: reported here, before the server starts.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        Ok(Self::new(Self::pool_for(url, super::DEFAULT_TIMEOUT)?))
    }

    /// A lazy pool for `url` as [`from_url`](Self::from_url) makes it, with the server's
    /// `statement_timeout` set to `timeout` (for a [`builder`](Self::builder) with another
    /// timeout).
    ///
    /// # Errors
    /// A malformed URL.
    pub fn pool_for(url: &str, timeout: Duration) -> Result<PgPool, ConfigError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| ConfigError(format!("postgres url: {e}")))?;
        let options = options.options([("statement_timeout", timeout.as_millis().to_string())]);
        Ok(PgPoolOptions::new()
            .test_before_acquire(false)
            .acquire_timeout(timeout)
            .connect_lazy_with(options))
    }

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

    /// Creates the tables and indexes that are missing, then [`check`](Self::check)s them.
    /// Safe to run from several processes at once: they take turns on an advisory lock.
    ///
    /// # Errors
    /// The database cannot be reached, refuses the DDL, or holds a table of another shape.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let created = timed(self.timeout() * 5, "PostgresStore::migrate", async {
            let mut tx = inner.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(inner.migrate_lock)
                .execute(&mut *tx)
                .await?;
            sqlx::raw_sql(&inner.sql.create).execute(&mut *tx).await?;
            tx.commit().await
        })
        .await;
        super::migrated(created, self.check().await)
    }

    /// Checks that both tables exist with the columns the store uses, of the right types.
    ///
    /// # Errors
    /// A table or column is missing or of another type (the error names them and says to run
    /// [`migrate`](Self::migrate) or fix the table), or the database cannot be reached.
    pub async fn check(&self) -> Result<(), StoreError> {
        let opts = &self.inner.opts;
        let expected: [(String, &[(&str, &str)]); 2] = [
            (opts.table.clone(), SESSION_COLUMNS),
            (opts.values_table(), VALUE_COLUMNS),
        ];
        let mut problems = Vec::new();
        for (table, columns) in expected {
            let found: Vec<(String, String)> =
                timed(self.timeout(), "PostgresStore::check", async {
                    sqlx::query_as(
                        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                         FROM pg_attribute a WHERE a.attrelid = to_regclass($1) \
                         AND a.attnum > 0 AND NOT a.attisdropped",
                    )
                    .bind(&table)
                    .fetch_all(&self.inner.pool)
                    .await
                })
                .await?;
            if found.is_empty() {
                problems.push(format!("table {table} does not exist"));
                continue;
            }
            let found: HashMap<String, String> = found.into_iter().collect();
            for (name, ty) in columns {
                match found.get(*name) {
                    None => problems.push(format!("{table}.{name} is missing (want {ty})")),
                    Some(have) if have != ty => {
                        problems.push(format!("{table}.{name} is {have}, want {ty}"))
                    }
                    Some(_) => {}
                }
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(StoreError::msg(format!(
            "PostgresStore: the schema does not fit ({}); run `migrate()` on an empty \
             database, or fix or rename the table",
            problems.join("; ")
        )))
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

/// The columns of the sessions table and their types, as `format_type` names them.
const SESSION_COLUMNS: &[(&str, &str)] = &[
    ("id", "bytea"),
    ("created_at", "bigint"),
    ("expires_at", "bigint"),
    ("last_seen", "bigint"),
    ("purge_at", "bigint"),
    ("user_key", "bytea"),
    ("user_id", "bytea"),
    ("handle", "text"),
    ("signed_in_at", "bigint"),
];
/// The columns of the values table.
const VALUE_COLUMNS: &[(&str, &str)] = &[("session", "bytea"), ("key", "text"), ("value", "bytea")];

/// The SQL of one store, built once for its table names.
struct Statements {
    create: String,
    load_all: String,
    load_keys: String,
    insert: String,
    update: String,
    touch: String,
    lock_live: String,
    rotate: String,
    delete: String,
    list: String,
    revoke: String,
    revoke_all: String,
    purge: String,
}

impl Statements {
    fn new(opts: &SqlOptions) -> Self {
        let t = &opts.table;
        let v = opts.values_table();
        let bare = opts.bare_table();
        let meta = "s.created_at, s.expires_at, s.last_seen, s.user_id, s.handle, s.signed_in_at";
        // $1 id; $6 replace_all; $7 removed keys; $8 set keys; $9 set values. Both deletes are
        // one-time gated, so a save that removes nothing never reads the session's other key
        // rows: `gone` runs only when keys are removed (and the session row was updated),
        // `cleared` only with `replace_all`. They leave the keys being set alone (`removed`
        // holds none of them), so no row is both deleted and upserted.
        let values_ctes = format!(
            "gone AS (DELETE FROM {v} d WHERE cardinality($7::text[]) > 0 \
               AND EXISTS (SELECT 1 FROM s) AND d.session = $1 AND d.key = ANY($7)), \
             cleared AS (DELETE FROM {v} d USING s WHERE $6 AND d.session = s.id \
               AND NOT (d.key = ANY($8))), \
             put AS (INSERT INTO {v} (session, key, value) \
               SELECT s.id, u.key, u.value FROM s, unnest($8::text[], $9::bytea[]) AS u(key, value) \
               ON CONFLICT (session, key) DO UPDATE SET value = EXCLUDED.value) \
             SELECT count(*) FROM s"
        );
        Statements {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                   id bytea PRIMARY KEY, \
                   created_at bigint NOT NULL, \
                   expires_at bigint NOT NULL, \
                   last_seen bigint NOT NULL, \
                   purge_at bigint NOT NULL, \
                   user_key bytea, \
                   user_id bytea, \
                   handle text, \
                   signed_in_at bigint) WITH (fillfactor = 80); \
                 ALTER TABLE {t} ADD COLUMN IF NOT EXISTS signed_in_at bigint; \
                 CREATE INDEX IF NOT EXISTS {bare}_purge_at ON {t} (purge_at); \
                 CREATE INDEX IF NOT EXISTS {bare}_user_key ON {t} (user_key) \
                   WHERE user_key IS NOT NULL; \
                 CREATE TABLE IF NOT EXISTS {v} (\
                   session bytea NOT NULL REFERENCES {t} (id) ON DELETE CASCADE, \
                   key text NOT NULL, \
                   value bytea NOT NULL, \
                   PRIMARY KEY (session, key)) WITH (fillfactor = 80);"
            ),
            load_all: format!(
                "SELECT {meta}, k.key, k.value FROM {t} s \
                 LEFT JOIN {v} k ON k.session = s.id \
                 WHERE s.id = $1 AND s.expires_at > {NOW}"
            ),
            load_keys: format!(
                "SELECT {meta}, k.key, k.value FROM {t} s \
                 LEFT JOIN {v} k ON k.session = s.id AND k.key = ANY($2) \
                 WHERE s.id = $1 AND s.expires_at > {NOW}"
            ),
            // $2 expires_at, $3 last_seen, $4 user_key, $5 user_id, $10 handle, $11 purge mark,
            // $12 created_at, $13 signed_in_at. A new id (192 random bits) is never in use; were it in use, the
            // row is replaced whole (its other keys go with `replace_all`).
            insert: format!(
                "WITH s AS (INSERT INTO {t} AS o \
                   (id, created_at, expires_at, last_seen, purge_at, user_key, user_id, handle, \
                    signed_in_at) \
                   VALUES ($1, $12, $2, $3, $11, $4, $5, $10, $13) \
                   ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, \
                     expires_at = EXCLUDED.expires_at, last_seen = EXCLUDED.last_seen, \
                     purge_at = GREATEST(o.purge_at, EXCLUDED.purge_at), \
                     user_key = EXCLUDED.user_key, user_id = EXCLUDED.user_id, \
                     handle = EXCLUDED.handle, signed_in_at = EXCLUDED.signed_in_at \
                   RETURNING id), {values_ctes}"
            ),
            update: format!(
                "WITH s AS (UPDATE {t} SET expires_at = $2, last_seen = $3, user_key = $4, \
                   user_id = $5, handle = $10, signed_in_at = $13, \
                   purge_at = CASE WHEN purge_at < $2 THEN $11 ELSE purge_at END \
                   WHERE id = $1 AND expires_at > {NOW} RETURNING id), {values_ctes}"
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = $2, last_seen = $3, \
                   purge_at = CASE WHEN purge_at < $2 THEN $4 ELSE purge_at END \
                 WHERE id = $1 AND expires_at > {NOW}"
            ),
            // `change_id`, first statement: the old row, locked for the transaction, if it is
            // still there and live. Concurrent saves of it wait from now on, so the second
            // statement sees all of its key rows.
            lock_live: format!("SELECT 1 FROM {t} WHERE id = $1 AND expires_at > {NOW} FOR UPDATE"),
            // `change_id`, second statement: the row takes the new key $12 (an UPDATE, so a
            // concurrent revocation waiting for the row lock follows the row to its new key
            // and still deletes it), and so do its key rows but those the request removed or
            // set, which go; the set ones are then written under the new key. The foreign key
            // is checked at the end of the statement, when no key row names the old id.
            rotate: format!(
                "WITH s AS (UPDATE {t} SET id = $12, expires_at = $2, last_seen = $3, \
                   user_key = $4, user_id = $5, handle = $10, signed_in_at = $13, \
                   purge_at = CASE WHEN purge_at < $2 THEN $11 ELSE purge_at END \
                   WHERE id = $1 RETURNING id), \
                 moved AS (UPDATE {v} m SET session = s.id FROM s WHERE m.session = $1 \
                   AND NOT $6 AND NOT (m.key = ANY($7)) AND NOT (m.key = ANY($8))), \
                 dropped AS (DELETE FROM {v} d USING s WHERE d.session = $1 \
                   AND ($6 OR d.key = ANY($7) OR d.key = ANY($8))), \
                 put AS (INSERT INTO {v} (session, key, value) \
                   SELECT s.id, u.key, u.value FROM s, unnest($8::text[], $9::bytea[]) AS u(key, value)) \
                 SELECT count(*) FROM s"
            ),
            delete: format!("DELETE FROM {t} WHERE id = $1"),
            list: format!(
                "SELECT s.id, {meta}, k.key, k.value FROM {t} s \
                 LEFT JOIN {v} k ON k.session = s.id \
                 WHERE s.user_key = $1 AND s.expires_at > {NOW} ORDER BY s.id"
            ),
            // An expired row (not purged yet) goes too, but does not count as ended.
            revoke: format!(
                "WITH gone AS (DELETE FROM {t} WHERE user_key = $1 AND handle = $2 \
                   RETURNING expires_at) \
                 SELECT count(*) FILTER (WHERE expires_at > {NOW}) FROM gone"
            ),
            revoke_all: format!(
                "WITH gone AS (DELETE FROM {t} WHERE user_key = $1 \
                   AND ($2::text IS NULL OR handle IS DISTINCT FROM $2) RETURNING expires_at) \
                 SELECT count(*) FILTER (WHERE expires_at > {NOW}) FROM gone"
            ),
            // The lock first (a materialized CTE, read by the batch's condition): when another
            // store holds it, the batch selects nothing and answers `false`.
            purge: format!(
                "WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock($1) AS got), \
                 batch AS (SELECT id FROM {t} WHERE (SELECT got FROM lock) \
                   AND purge_at < {NOW} ORDER BY purge_at LIMIT $2 FOR UPDATE SKIP LOCKED), \
                 gone AS (DELETE FROM {t} s USING batch WHERE s.id = batch.id \
                   AND s.expires_at <= {NOW} RETURNING 1) \
                 SELECT (SELECT got FROM lock), (SELECT count(*) FROM gone)"
            ),
        }
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

/// Reads the metadata columns starting at `at` (created_at, expires_at, last_seen, user_id,
/// handle, signed_in_at).
fn meta_at(row: &PgRow, at: usize) -> Result<MetaColumns, sqlx::Error> {
    Ok(MetaColumns {
        created_at: row.try_get(at)?,
        expires_at: row.try_get(at + 1)?,
        last_seen: row.try_get(at + 2)?,
        user_key: None,
        user_id: row.try_get(at + 3)?,
        handle: row.try_get(at + 4)?,
        signed_in_at: row.try_get(at + 5)?,
    })
}

/// Adds the key and value at `at` of `row`, if the join found one.
fn value_at(row: &PgRow, at: usize, data: &mut HashMap<String, Bytes>) -> Result<(), sqlx::Error> {
    let key: Option<String> = row.try_get(at)?;
    let value: Option<Vec<u8>> = row.try_get(at + 1)?;
    if let (Some(key), Some(value)) = (key, value) {
        data.insert(key, Bytes::from(value));
    }
    Ok(())
}

fn decode(err: sqlx::Error) -> StoreError {
    StoreError::msg(format!("PostgresStore: unexpected row: {err}"))
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

    /// One `SELECT` on the `user_key` index, joined with the sessions' keys.
    fn lists_users(&self) -> bool {
        true
    }

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
