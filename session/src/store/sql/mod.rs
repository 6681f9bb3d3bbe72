//! What the SQL stores ([`PostgresStore`](super::PostgresStore), `SqliteStore`) share, whatever
//! the dialect: the builder options, the statement timeout, the background purge loop, and the
//! mapping between a session's [`Meta`] / [`Changes`] and row columns. The SQL itself lives in
//! one file per dialect.
//!
//! Here: the defaults and the statement timeout. `options`: the builder options and their
//! checks; `purge`: the background purge loop and the purge column; `columns`: a session's
//! metadata and changes as row columns.
//!
//! # The row layout both dialects follow
//!
//! - one row per session in `<table>`, keyed by `id`, the SHA-256 of the session id
//!   ([`SessionId::digest`](crate::SessionId::digest), 32 bytes), never the id itself;
//! - its metadata in columns ([`MetaColumns`]): `created_at`, `expires_at`, `last_seen` (Unix
//!   seconds), and for a session tied to a user `user_key` (the [`UserKey`] digest, indexed: the
//!   raw user id is never in an index), `user_id` (the raw id, for `Session::user`, unindexed),
//!   `handle` and `signed_in_at` (Unix milliseconds: the order of the per-user cap);
//! - `purge_at`, the indexed column the purge walks: the expiry rounded up to
//!   [`PURGE_STEP`] seconds, moved only when the expiry passes it (see [`purge_mark`]);
//! - its values in a child table `<table>_values` (`session`, `key`, `value` bytes), one row
//!   per key, so a save writes the changed keys and nothing else ([`KeyChanges`]).
//!
//! [`Meta`]: crate::store::Meta
//! [`Changes`]: crate::store::Changes
//! [`UserKey`]: crate::store::UserKey

#![allow(dead_code)] // each dialect uses its part

mod columns;
mod options;
mod purge;

#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use self::sqlite::{SqliteStore, SqliteStoreBuilder};

use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;

pub(crate) use self::columns::{to_i64, user_key_column, KeyChanges, MetaColumns};
pub(crate) use self::options::{sql_option_setters, SqlOptions};
pub(crate) use self::purge::{purge_mark, start_purge, Purge};

/// Default table name.
pub const DEFAULT_TABLE: &str = "sessions";
/// Default bound on every statement (acquiring a connection included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default pause between two purges of expired rows.
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(300);
/// Default number of expired sessions one purge statement deletes.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;
/// Granularity, in seconds, of the indexed purge column: a save moves it only when the
/// session's expiry passes it, so most saves leave every indexed column alone (PostgreSQL can
/// then update the row in place, a HOT update, without touching the indexes).
pub const PURGE_STEP: u64 = 300;

/// Runs one database operation within `timeout`: a database error or an elapsed timeout
/// becomes a [`StoreError`] (which the middleware answers with `503`).
pub(crate) async fn timed<T>(
    timeout: Duration,
    what: &'static str,
    op: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, op).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(StoreError::msg(format!("{what}: {err}"))),
        Err(_) => Err(StoreError::msg(format!(
            "{what}: no answer from the database within {timeout:?}"
        ))),
    }
}

/// The outcome of `migrate`: the schema check's verdict first (a table of another shape makes
/// the DDL fail, and the check says what does not fit), then the DDL's own error.
pub(crate) fn migrated(
    created: Result<(), StoreError>,
    checked: Result<(), StoreError>,
) -> Result<(), StoreError> {
    checked.and(created)
}

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
