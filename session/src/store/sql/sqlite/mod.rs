//! [`SqliteStore`]: sessions in SQLite on sqlx (feature `sqlite`). The store's own docs hold
//! the schema, the costs and the limits.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;

use super::{
    purge_mark, start_purge, timed, to_i64, user_key_column, KeyChanges, MetaColumns, Purge,
    SqlOptions,
};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::{ConfigError, StoreError};
use crate::id::SessionId;
use crate::store::{Bytes, Changes, Fetch, Handle, Loaded, Meta, Record, SessionStore, UserKey};

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
/// [`statements`](SqliteStore::statements) counts them; `tests/sqlite.rs` checks the table.
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

/// Configures a [`SqliteStore`]; from [`SqliteStore::builder`].
#[must_use]
pub struct SqliteStoreBuilder {
    pool: SqlitePool,
    opts: SqlOptions,
    clock: SharedClock,
}

impl SqliteStoreBuilder {
    super::sql_option_setters!(SqliteStore);

    /// The clock that decides expiry. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the store and starts the background purge (within a Tokio runtime; else at the
    /// first operation). No statement runs yet: call [`SqliteStore::migrate`] or
    /// [`SqliteStore::check`] at start-up.
    ///
    /// # Errors
    /// A table name that is not a plain identifier (SQLite's `schema.table` form included), a
    /// zero timeout, interval or batch size.
    pub fn build(self) -> Result<SqliteStore, ConfigError> {
        self.opts.validate(STORE)?;
        if self.opts.table.contains('.') {
            return Err(ConfigError(format!(
                "{STORE}: table name {:?}: SQLite's schema.table form is not supported",
                self.opts.table
            )));
        }
        let store = SqliteStore {
            inner: Arc::new(Inner {
                sql: Statements::new(&self.opts.table),
                pool: self.pool,
                opts: self.opts,
                clock: self.clock,
                statements: AtomicU64::new(0),
                purge_started: AtomicBool::new(false),
            }),
        };
        store.start_purge();
        Ok(store)
    }
}

impl SqliteStore {
    /// A store on `pool` with the defaults (table `sessions`, 2 s timeout, purge every 5
    /// minutes).
    pub fn new(pool: SqlitePool) -> Self {
        Self::builder(pool)
            .build()
            .expect("the default options are valid")
    }

    /// A builder for a store on `pool`.
    pub fn builder(pool: SqlitePool) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            pool,
            opts: SqlOptions::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// A store with the defaults on a new pool for `url` (`sqlite://path.db`, `sqlite:path.db`
    /// or `:memory:`), as [`pool_for`](Self::pool_for) makes it. Call it within a Tokio runtime
    /// (`#[actix_web::main]`), then [`migrate`](Self::migrate).
    ///
    /// # Errors
    /// A malformed URL: reported here, before the server starts.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        Ok(Self::new(Self::pool_for(url, super::DEFAULT_TIMEOUT)?))
    }

    /// A lazy pool for `url` as [`from_url`](Self::from_url) makes it: a file is created if
    /// missing and opened in WAL mode with `synchronous = NORMAL` and a `busy_timeout` of
    /// `timeout`; `:memory:` (or a URL with `mode=memory`) gets exactly one connection, never
    /// closed (see the [store docs](SqliteStore)).
    ///
    /// # Errors
    /// A malformed URL.
    pub fn pool_for(url: &str, timeout: Duration) -> Result<SqlitePool, ConfigError> {
        let bad = |e: sqlx::Error| ConfigError(format!("{STORE}: {url:?}: {e}"));
        let plain_memory = url == ":memory:" || url == "sqlite://:memory:";
        let memory = plain_memory || url == "sqlite::memory:" || url.contains("mode=memory");
        let options =
            SqliteConnectOptions::from_str(if plain_memory { "sqlite::memory:" } else { url })
                .map_err(bad)?
                .busy_timeout(timeout);
        Ok(if memory {
            // Each connection to `:memory:` is a database of its own: one connection, kept.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(timeout)
                .connect_lazy_with(options)
        } else {
            SqlitePoolOptions::new()
                .acquire_timeout(timeout)
                .connect_lazy_with(
                    options
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal),
                )
        })
    }

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

    /// Creates the tables, indexes, view and triggers that are missing (one transaction that
    /// takes the write lock first, every statement `IF NOT EXISTS`: harmless when they exist,
    /// and when several processes run it at once), then [`check`](Self::check)s them.
    ///
    /// # Errors
    /// The database cannot be opened or refuses the DDL, or holds a table of another shape
    /// (then the error says what does not fit).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let script = schema(&inner.opts.table);
        let created = timed(inner.opts.timeout * 5, "SqliteStore::migrate", async {
            let mut tx = inner.pool.begin_with("BEGIN IMMEDIATE").await?;
            // A table made by an earlier version gets the columns added since.
            let table = &inner.opts.table;
            let has: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                .bind(table)
                .fetch_all(&mut *tx)
                .await?;
            if !has.is_empty() && !has.iter().any(|c| c == "signed_in_at") {
                sqlx::raw_sql(&format!(
                    "ALTER TABLE {table} ADD COLUMN signed_in_at INTEGER"
                ))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::raw_sql(&script).execute(&mut *tx).await?;
            tx.commit().await
        })
        .await;
        super::migrated(created, self.check().await)
    }

    /// Checks that the schema has what the store's statements use: both tables with their
    /// columns, the save view and the two triggers.
    ///
    /// # Errors
    /// Something is missing (the error names it and says to run [`migrate`](Self::migrate) or
    /// rename the table), or the database cannot be reached.
    pub async fn check(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let table = &inner.opts.table;
        let values = inner.opts.values_table();
        let expected: [(&str, &[&str]); 3] = [
            (table, SESSION_COLUMNS),
            (&values, &["session", "key", "value"]),
            (&format!("{table}_save"), SAVE_COLUMNS),
        ];
        let mut missing = Vec::new();
        for (name, columns) in expected {
            let found: Vec<String> = timed(inner.opts.timeout, "SqliteStore::check", async {
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                    .bind(name)
                    .fetch_all(&inner.pool)
                    .await
            })
            .await?;
            if found.is_empty() {
                missing.push(format!("table or view {name}"));
                continue;
            }
            for column in columns.iter().filter(|c| !found.iter().any(|f| f == *c)) {
                missing.push(format!("column {name}.{column}"));
            }
        }
        for trigger in [
            format!("{table}_drop_values"),
            format!("{table}_save_apply"),
        ] {
            let n: i64 = timed(inner.opts.timeout, "SqliteStore::check", async {
                sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                )
                .bind(&trigger)
                .fetch_one(&inner.pool)
                .await
            })
            .await?;
            if n == 0 {
                missing.push(format!("trigger {trigger}"));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(StoreError::msg(format!(
            "{STORE}: table {table} does not have the store's shape: missing {}; run \
             `migrate()` (a table of another shape under that name must be renamed, or choose \
             another name with `.table(..)`)",
            missing.join(", ")
        )))
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

/// The columns of the sessions table.
const SESSION_COLUMNS: &[&str] = &[
    "id",
    "created_at",
    "expires_at",
    "last_seen",
    "purge_at",
    "user_key",
    "user_id",
    "handle",
    "signed_in_at",
];

/// The columns of the save view, in the order the save binds them (`?1` ..).
const SAVE_COLUMNS: &[&str] = &[
    "id",
    "now",
    "created",
    "replace_all",
    "created_at",
    "expires_at",
    "last_seen",
    "purge_at",
    "user_key",
    "user_id",
    "handle",
    "sets",
    "blob",
    "removed",
    "signed_in_at",
];

/// The schema of table `t`, every statement `IF NOT EXISTS`.
fn schema(t: &str) -> String {
    let view_columns = SAVE_COLUMNS
        .iter()
        .map(|c| format!("NULL AS {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (
            id BLOB PRIMARY KEY NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            purge_at INTEGER NOT NULL,
            user_key BLOB,
            user_id BLOB,
            handle TEXT,
            signed_in_at INTEGER
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS {t}_purge_at ON {t} (purge_at);
        CREATE INDEX IF NOT EXISTS {t}_user_key ON {t} (user_key) WHERE user_key IS NOT NULL;
        CREATE TABLE IF NOT EXISTS {t}_values (
            session BLOB NOT NULL,
            key TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (session, key)
        ) WITHOUT ROWID;
        CREATE TRIGGER IF NOT EXISTS {t}_drop_values AFTER DELETE ON {t} BEGIN
            DELETE FROM {t}_values WHERE session = OLD.id;
        END;
        -- Made anew by every migrate (its trigger goes with it), so that an earlier version's
        -- view gets the columns of this one.
        DROP VIEW IF EXISTS {t}_save;
        CREATE VIEW {t}_save AS SELECT {view_columns};
        CREATE TRIGGER IF NOT EXISTS {t}_save_apply INSTEAD OF INSERT ON {t}_save BEGIN
            -- A new session: its row (a stale one under the same hash goes first, values too).
            DELETE FROM {t} WHERE NEW.created AND id = NEW.id;
            INSERT INTO {t} (id, created_at, expires_at, last_seen, purge_at, user_key, user_id, handle,
                             signed_in_at)
                SELECT NEW.id, NEW.created_at, NEW.expires_at, NEW.last_seen, NEW.purge_at,
                       NEW.user_key, NEW.user_id, NEW.handle, NEW.signed_in_at
                WHERE NEW.created;
            -- An existing session: only while its row exists and has not expired.
            UPDATE {t} SET expires_at = NEW.expires_at, last_seen = NEW.last_seen,
                    purge_at = CASE WHEN purge_at < NEW.expires_at THEN NEW.purge_at ELSE purge_at END,
                    user_key = NEW.user_key, user_id = NEW.user_id, handle = NEW.handle,
                    signed_in_at = NEW.signed_in_at
                WHERE NOT NEW.created AND id = NEW.id AND expires_at > NEW.now;
            -- The changed keys, only into a live row.
            DELETE FROM {t}_values WHERE NEW.replace_all AND NOT NEW.created AND session = NEW.id;
            DELETE FROM {t}_values WHERE NEW.removed IS NOT NULL AND session = NEW.id
                AND key IN (SELECT value FROM json_each(NEW.removed));
            INSERT INTO {t}_values (session, key, value)
                SELECT NEW.id, j.value ->> 0, coalesce(substr(NEW.blob, j.value ->> 1, j.value ->> 2), x'')
                FROM json_each(NEW.sets) AS j
                WHERE NEW.sets IS NOT NULL
                  AND EXISTS (SELECT 1 FROM {t} WHERE id = NEW.id AND expires_at > NEW.now)
                ON CONFLICT (session, key) DO UPDATE SET value = excluded.value;
        END;"
    )
}

/// The store's statements for one table name.
struct Statements {
    load: String,
    save: String,
    touch: String,
    rename: String,
    rename_values: String,
    delete: String,
    list: String,
    revoke: String,
    revoke_all: String,
    purge: String,
}

impl Statements {
    fn new(t: &str) -> Self {
        let placeholders = (1..=SAVE_COLUMNS.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        Statements {
            load: format!(
                "SELECT s.created_at, s.expires_at, s.last_seen, s.user_key, s.user_id, s.handle,
                        s.signed_in_at, v.key, v.value
                 FROM {t} AS s LEFT JOIN {t}_values AS v ON v.session = s.id
                      AND (?3 IS NULL OR v.key IN (SELECT value FROM json_each(?3)))
                 WHERE s.id = ?1 AND s.expires_at > ?2"
            ),
            save: format!(
                "INSERT INTO {t}_save ({}) VALUES ({placeholders})",
                SAVE_COLUMNS.join(", ")
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = ?3, last_seen = ?4,
                    purge_at = CASE WHEN purge_at < ?3 THEN ?5 ELSE purge_at END,
                    user_key = ?6, user_id = ?7, handle = ?8
                 WHERE id = ?1 AND expires_at > ?2"
            ),
            // `change_id`: the row takes the new key if it is still there and live, then its
            // values follow (in one transaction, with the save of the changes after them).
            rename: format!("UPDATE {t} SET id = ?2 WHERE id = ?1 AND expires_at > ?3"),
            rename_values: format!("UPDATE {t}_values SET session = ?2 WHERE session = ?1"),
            delete: format!("DELETE FROM {t} WHERE id = ?1"),
            list: format!(
                "SELECT s.id, s.created_at, s.expires_at, s.last_seen, s.user_key, s.user_id,
                        s.handle, s.signed_in_at, v.key, v.value
                 FROM {t} AS s LEFT JOIN {t}_values AS v ON v.session = s.id
                 WHERE s.user_key = ?1 AND s.expires_at > ?2
                 ORDER BY s.id"
            ),
            revoke: format!(
                "DELETE FROM {t} WHERE user_key = ?1 AND handle = ?2 AND expires_at > ?3"
            ),
            // At most ?3 rows a statement: a user's thousands of sessions go in several short
            // writes, not one that holds the write lock for every other request meanwhile. The
            // rows are chosen by user, not by id, so a session whose id changes between two
            // statements is still chosen by the next one.
            revoke_all: format!(
                "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE user_key = ?1
                   AND (?2 IS NULL OR handle IS NOT ?2) LIMIT ?3)
                 RETURNING expires_at"
            ),
            purge: format!(
                "DELETE FROM {t} WHERE id IN (
                    SELECT id FROM {t} WHERE purge_at <= ?1 AND expires_at <= ?1
                    ORDER BY purge_at LIMIT ?2)"
            ),
        }
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

impl Inner {
    /// The save of `changes` and `meta` under `id`: one `INSERT` into the save view, whose
    /// trigger applies it (`created`: a new row; else only to a live row).
    fn save_query(
        &self,
        id: &SessionId,
        meta: &Meta,
        changes: &Changes,
        created: bool,
    ) -> Result<sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'_>>, StoreError>
    {
        let cols = MetaColumns::of(meta);
        let shaped = KeyChanges::of(changes);
        // The set values travel as one BLOB, each key naming its (1-based) offset and length.
        let mut blob = Vec::with_capacity(shaped.set_values.iter().map(Vec::len).sum());
        let mut sets = Vec::with_capacity(shaped.set_keys.len());
        for (key, value) in shaped.set_keys.iter().zip(&shaped.set_values) {
            sets.push(serde_json::json!([key, blob.len() + 1, value.len()]));
            blob.extend_from_slice(value);
        }
        let sets = (!sets.is_empty())
            .then(|| serde_json::to_string(&sets))
            .transpose()
            .map_err(StoreError::new)?;
        let removed = (!shaped.removed.is_empty())
            .then(|| serde_json::to_string(&shaped.removed))
            .transpose()
            .map_err(StoreError::new)?;
        Ok(sqlx::query(&self.sql.save)
            .bind(id.digest().to_vec())
            .bind(self.now())
            .bind(created)
            .bind(shaped.replace_all)
            .bind(cols.created_at)
            .bind(cols.expires_at)
            .bind(cols.last_seen)
            .bind(purge_mark(meta.expires_at))
            .bind(cols.user_key)
            .bind(cols.user_id)
            .bind(cols.handle)
            .bind(sets)
            .bind(blob)
            .bind(removed)
            .bind(cols.signed_in_at))
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

/// The metadata columns of a row (from `first`, the index of `created_at`).
fn meta_of(row: &SqliteRow, first: usize, tag: &dyn Fn() -> String) -> Result<Meta, sqlx::Error> {
    let cols = MetaColumns {
        created_at: row.try_get(first)?,
        expires_at: row.try_get(first + 1)?,
        last_seen: row.try_get(first + 2)?,
        user_key: row.try_get(first + 3)?,
        user_id: row.try_get(first + 4)?,
        handle: row.try_get(first + 5)?,
        signed_in_at: row.try_get(first + 6)?,
    };
    Ok(cols.into_meta(tag))
}

/// The key and value of a joined row (from `first`, the index of `key`); none for a session
/// without values.
fn value_of(row: &SqliteRow, first: usize) -> Result<Option<(String, Bytes)>, sqlx::Error> {
    let key: Option<String> = row.try_get(first)?;
    let value: Option<Vec<u8>> = row.try_get(first + 1)?;
    Ok(key.map(|k| (k, Bytes::from(value.unwrap_or_default()))))
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

    fn lists_users(&self) -> bool {
        true
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_view_binds_every_column_in_order() {
        let sql = Statements::new("sessions");
        assert!(sql.save.contains("?15"));
        assert!(!sql.save.contains("?16"));
        assert!(schema("sessions").contains("CREATE VIEW sessions_save"));
    }
}
