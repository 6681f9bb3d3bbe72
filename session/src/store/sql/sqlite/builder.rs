//! [`SqliteStoreBuilder`]: the options of a [`SqliteStore`], and the pool
//! [`from_url`](SqliteStore::from_url) makes (WAL for a file, one kept connection for
//! `:memory:`).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::statements::Statements;
use super::{Inner, SqliteStore, STORE};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::ConfigError;
use crate::store::sql::SqlOptions;

/// Configures a [`SqliteStore`]; from [`SqliteStore::builder`].
#[must_use]
pub struct SqliteStoreBuilder {
    pool: SqlitePool,
    opts: SqlOptions,
    clock: SharedClock,
}

impl SqliteStoreBuilder {
    crate::store::sql::sql_option_setters!(SqliteStore);

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
        Ok(Self::new(Self::pool_for(
            url,
            crate::store::sql::DEFAULT_TIMEOUT,
        )?))
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
}
