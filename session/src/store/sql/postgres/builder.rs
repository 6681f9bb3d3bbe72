//! [`PostgresStoreBuilder`]: the options of a [`PostgresStore`], the keys of its advisory locks,
//! and the pool [`from_url`](PostgresStore::from_url) makes.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::statements::Statements;
use super::{Inner, PostgresStore};
use crate::error::ConfigError;
use crate::store::sql::SqlOptions;

/// Configures a [`PostgresStore`]; from [`PostgresStore::builder`].
#[must_use]
pub struct PostgresStoreBuilder {
    pool: PgPool,
    opts: SqlOptions,
}

impl PostgresStoreBuilder {
    crate::store::sql::sql_option_setters!(PostgresStore);

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
        Ok(Self::new(Self::pool_for(
            url,
            crate::store::sql::DEFAULT_TIMEOUT,
        )?))
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
}
