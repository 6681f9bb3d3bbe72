//! What the SQL stores ([`PostgresStore`](super::PostgresStore), `SqliteStore`) share, whatever
//! the dialect: the builder options, the statement timeout, the background purge loop, and the
//! mapping between a session's [`Meta`] / [`Changes`] and row columns. The SQL itself lives in
//! one file per dialect.
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

#![allow(dead_code)] // each dialect uses its part

#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use self::sqlite::{SqliteStore, SqliteStoreBuilder};

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Bytes, Changes, Handle, Meta, SessionUser, UserKey};
use crate::error::{ConfigError, StoreError};

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

/// The options every SQL store's builder has.
#[derive(Debug, Clone)]
pub(crate) struct SqlOptions {
    /// The sessions table; the values table is `<table>_values`.
    pub table: String,
    /// Bound on each statement.
    pub timeout: Duration,
    /// Pause between purges; `None`: no background purge.
    pub cleanup_interval: Option<Duration>,
    /// Sessions deleted per purge statement.
    pub batch_size: u32,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            table: DEFAULT_TABLE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// The setters of [`SqlOptions`] on a dialect's builder (a struct with an `opts` field), the
/// same words and defaults for every SQL store. `$store` names the store in the docs.
macro_rules! sql_option_setters {
    ($store:ident) => {
        /// The sessions table: lowercase ASCII letters, digits and `_`, at most 48 bytes
        /// (checked by `build`; PostgreSQL also takes `schema.name`, in an existing schema);
        /// the key rows go to `<table>_values`. Default: `sessions`.
        pub fn table(mut self, table: impl Into<String>) -> Self {
            self.opts.table = table.into();
            self
        }

        /// Bound on each statement, acquiring a connection included; past it the request
        /// answers `503`. Default: 2 seconds.
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.opts.timeout = timeout;
            self
        }

        /// Pause between two background purges of expired rows (± 10 % jitter). Default: 5
        /// minutes.
        pub fn cleanup_interval(mut self, interval: std::time::Duration) -> Self {
            self.opts.cleanup_interval = Some(interval);
            self
        }

        #[doc = concat!("No background purge (for an app that runs [`", stringify!($store), "::purge_expired`] itself, or leaves it to another process).")]
        pub fn without_cleanup(mut self) -> Self {
            self.opts.cleanup_interval = None;
            self
        }

        /// Sessions deleted by one purge statement (on SQLite also by one statement of
        /// `revoke_all`, which ends a user's many sessions in such batches, so that no single
        /// write holds the database's write lock for long). Default: 1000.
        pub fn batch_size(mut self, sessions: u32) -> Self {
            self.opts.batch_size = sessions;
            self
        }
    };
}
pub(crate) use sql_option_setters;

impl SqlOptions {
    /// Checks the options at build time: the table name is spliced into the SQL, so it must be
    /// a plain identifier (`sessions`, or `schema.sessions`).
    pub fn validate(&self, store: &str) -> Result<(), ConfigError> {
        validate_table(&self.table)
            .map_err(|why| ConfigError(format!("{store}: table name {:?}: {why}", self.table)))?;
        if self.timeout.is_zero() {
            return Err(ConfigError(format!(
                "{store}: the timeout must not be zero"
            )));
        }
        if self.batch_size == 0 {
            return Err(ConfigError(format!(
                "{store}: the batch size must not be zero"
            )));
        }
        if self.cleanup_interval.is_some_and(|i| i.is_zero()) {
            return Err(ConfigError(format!(
                "{store}: the cleanup interval must not be zero (use `None` for no cleanup)"
            )));
        }
        Ok(())
    }

    /// The name of the values table.
    pub fn values_table(&self) -> String {
        format!("{}_values", self.table)
    }

    /// The table name without its schema (to name indexes and locks).
    pub fn bare_table(&self) -> &str {
        self.table.rsplit('.').next().unwrap_or(&self.table)
    }
}

/// Accepts `name` or `schema.name`, each part `[a-z_][a-z0-9_]*` of at most 48 bytes (so that
/// `<name>_values` and the index names stay within PostgreSQL's 63-byte identifiers).
fn validate_table(table: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 {
        return Err("at most one `.` (schema.table)");
    }
    for part in parts {
        let mut chars = part.chars();
        match chars.next() {
            None => return Err("empty identifier"),
            Some(c) if !(c.is_ascii_lowercase() || c == '_') => {
                return Err("must start with a lowercase ASCII letter or `_`")
            }
            _ => {}
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err("only lowercase ASCII letters, digits and `_`");
        }
        if part.len() > 48 {
            return Err("longer than 48 bytes");
        }
    }
    Ok(())
}

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

/// One round of the background purge of a SQL store.
pub(crate) trait Purge: Send + Sync + 'static {
    /// Deletes expired sessions (in batches); answers how many went.
    fn purge(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Starts the background purge of `store` once (the first call that finds a Tokio runtime);
/// later calls do nothing.
///
/// The task sleeps `interval` ± 10 % (jitter: app servers started together do not purge in
/// step), then runs [`Purge::purge`]; a failed round is logged at `warn` and tried again after
/// the next interval, never ending the task. It holds only a weak reference: once every clone of
/// the store is dropped, the task ends at its next wake-up.
/// The outcome of `migrate`: the schema check's verdict first (a table of another shape makes
/// the DDL fail, and the check says what does not fit), then the DDL's own error.
pub(crate) fn migrated(
    created: Result<(), StoreError>,
    checked: Result<(), StoreError>,
) -> Result<(), StoreError> {
    checked.and(created)
}

pub(crate) fn start_purge<P: Purge>(store: &Arc<P>, started: &AtomicBool, interval: Duration) {
    if started.load(Ordering::Relaxed) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if started.swap(true, Ordering::AcqRel) {
        return;
    }
    let weak: Weak<P> = Arc::downgrade(store);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(jittered(interval)).await;
            let Some(store) = weak.upgrade() else {
                break;
            };
            match store.purge().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(sessions = n, "expired sessions purged"),
                Err(err) => {
                    tracing::warn!(error = %err, "purge of expired sessions failed; retried next interval")
                }
            }
        }
    });
}

/// `interval` ± 10 %, at random.
pub(crate) fn jittered(interval: Duration) -> Duration {
    use rand::Rng;
    let tenth = interval / 10;
    if tenth.is_zero() {
        return interval;
    }
    let spread = rand::thread_rng().gen_range(Duration::ZERO..=tenth * 2);
    interval - tenth + spread
}

/// The value of the indexed purge column for a session expiring at `expires_at`: the expiry
/// rounded up to a multiple of [`PURGE_STEP`]. A save sets the column to this only when the
/// stored value is below `expires_at` (`CASE WHEN purge_at < $expires THEN $mark ELSE purge_at`),
/// so a session whose idle deadline slides forward moves it once every `PURGE_STEP` seconds,
/// not on every save. A row is purged once `purge_at` is past, never before its expiry.
pub(crate) fn purge_mark(expires_at: u64) -> i64 {
    let mark = expires_at.div_ceil(PURGE_STEP).saturating_mul(PURGE_STEP);
    to_i64(mark)
}

/// Unix seconds as a SQL `bigint`/`INTEGER` (saturating: no time fits above).
pub(crate) fn to_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// A SQL integer back as Unix seconds (a negative one is 0).
pub(crate) fn to_u64(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(0)
}

/// A session's metadata as row columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaColumns {
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen: i64,
    /// The [`UserKey`] digest (32 bytes), indexed.
    pub user_key: Option<Vec<u8>>,
    /// The user id as the app gave it.
    pub user_id: Option<Vec<u8>>,
    /// The session's [`Handle`].
    pub handle: Option<String>,
    /// When the session was tied to its user, Unix milliseconds (NULL: unknown).
    pub signed_in_at: Option<i64>,
}

impl MetaColumns {
    /// The columns of `meta`.
    pub fn of(meta: &Meta) -> Self {
        let user = meta.user.as_ref();
        MetaColumns {
            created_at: to_i64(meta.created_at),
            expires_at: to_i64(meta.expires_at),
            last_seen: to_i64(meta.last_seen),
            user_key: user.map(|u| u.key.digest().to_vec()),
            user_id: user.map(|u| u.id.to_vec()),
            handle: user.map(|u| u.handle.as_str().to_owned()),
            signed_in_at: user.map(|u| to_i64(u.signed_in_at)),
        }
    }

    /// The metadata these columns hold. A user whose handle does not parse is dropped (logged
    /// with `tag`, the session's log tag).
    pub fn into_meta(self, tag: &dyn Fn() -> String) -> Meta {
        let user = match (self.user_id, self.handle) {
            (Some(id), Some(handle)) => match Handle::parse(&handle) {
                Some(handle) => Some(
                    SessionUser::stored(Bytes::from(id), handle)
                        .signed_in(self.signed_in_at.map_or(0, to_u64)),
                ),
                None => {
                    tracing::warn!(session = %tag(), "stored session has a malformed handle");
                    None
                }
            },
            _ => None,
        };
        Meta::new(to_u64(self.created_at), to_u64(self.expires_at))
            .with_last_seen(to_u64(self.last_seen))
            .with_user(user)
    }
}

/// The digest of `user` as the `user_key` column holds it.
pub(crate) fn user_key_column(user: &UserKey) -> Vec<u8> {
    user.digest().to_vec()
}

/// What a save does to the values table, shaped for array parameters.
///
/// `set_keys` / `set_values` are parallel (the last value of a key set twice wins); `removed`
/// holds no key of `set_keys`. With `replace_all`, every stored key not in `set_keys` goes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyChanges {
    pub replace_all: bool,
    pub set_keys: Vec<String>,
    pub set_values: Vec<Vec<u8>>,
    pub removed: Vec<String>,
}

impl KeyChanges {
    /// The shape of `changes`.
    pub fn of(changes: &Changes) -> Self {
        let mut latest: std::collections::HashMap<&str, &Bytes> =
            std::collections::HashMap::with_capacity(changes.set.len());
        let mut order = Vec::with_capacity(changes.set.len());
        for (key, value) in &changes.set {
            if latest.insert(key.as_str(), value).is_none() {
                order.push(key.as_str());
            }
        }
        let mut out = KeyChanges {
            replace_all: changes.replace_all,
            set_keys: Vec::with_capacity(order.len()),
            set_values: Vec::with_capacity(order.len()),
            removed: Vec::new(),
        };
        for key in order {
            out.set_keys.push(key.to_owned());
            out.set_values.push(latest[key].to_vec());
        }
        if !changes.replace_all {
            let mut removed: Vec<String> = changes
                .removed
                .iter()
                .filter(|k| !latest.contains_key(k.as_str()))
                .cloned()
                .collect();
            removed.sort();
            removed.dedup();
            out.removed = removed;
        }
        out
    }

    /// Whether the values table is left alone.
    pub fn is_empty(&self) -> bool {
        !self.replace_all && self.set_keys.is_empty() && self.removed.is_empty()
    }
}

#[cfg(feature = "postgres")]
pub(crate) mod postgres;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        for ok in ["sessions", "app.sessions", "_s1", "a_b_c"] {
            assert!(validate_table(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Sessions",
            "1s",
            "s;drop table x",
            "a.b.c",
            "s-s",
            "\"s\"",
            ".s",
            &"s".repeat(49),
        ] {
            assert!(validate_table(bad).is_err(), "{bad}");
        }
        let opts = SqlOptions {
            table: "x y".into(),
            ..SqlOptions::default()
        };
        assert!(opts.validate("PostgresStore").is_err());
        assert!(SqlOptions::default().validate("PostgresStore").is_ok());
    }

    #[test]
    fn purge_marks_move_in_steps_and_never_precede_the_expiry() {
        assert_eq!(purge_mark(0), 0);
        assert_eq!(purge_mark(1), 300);
        assert_eq!(purge_mark(300), 300);
        assert_eq!(purge_mark(301), 600);
        for e in [1_700_000_001u64, 1_700_000_299] {
            assert!(purge_mark(e) >= to_i64(e));
            assert!(purge_mark(e) < to_i64(e + PURGE_STEP));
        }
        assert_eq!(purge_mark(u64::MAX), i64::MAX);
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(100));
            assert!(d >= Duration::from_secs(90) && d <= Duration::from_secs(110));
        }
    }

    /// A purge that fails its first rounds, then counts.
    struct Flaky(Arc<std::sync::atomic::AtomicU64>);

    impl Purge for Flaky {
        async fn purge(&self) -> Result<u64, StoreError> {
            match self.0.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(StoreError::msg("database down")),
                _ => Ok(1),
            }
        }
    }

    #[tokio::test]
    async fn the_purge_loop_survives_failures_starts_once_and_ends_with_the_store() {
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let store = Arc::new(Flaky(count.clone()));
        let started = AtomicBool::new(false);
        let interval = Duration::from_millis(10);
        start_purge(&store, &started, interval);
        start_purge(&store, &started, interval); // no second task
        let rounds = || count.load(Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while rounds() < 5 {
            assert!(std::time::Instant::now() < deadline, "the loop stopped");
            tokio::time::sleep(interval).await;
        }
        drop(store);
        tokio::time::sleep(interval * 3).await;
        let at_drop = rounds();
        tokio::time::sleep(interval * 10).await;
        assert_eq!(rounds(), at_drop, "the task ended with the store");
    }

    #[test]
    fn changes_are_shaped_per_key() {
        let changes = Changes {
            created: false,
            replace_all: false,
            set: vec![
                ("a".into(), Bytes::from_static(b"1")),
                ("b".into(), Bytes::from_static(b"2")),
                ("a".into(), Bytes::from_static(b"3")),
            ],
            removed: vec!["c".into(), "a".into(), "c".into()],
        };
        let shaped = KeyChanges::of(&changes);
        assert_eq!(shaped.set_keys, ["a", "b"]);
        assert_eq!(shaped.set_values, [b"3".to_vec(), b"2".to_vec()]);
        assert_eq!(shaped.removed, ["c"]);
        assert!(KeyChanges::of(&Changes::default()).is_empty());
    }

    #[test]
    fn meta_round_trips_through_columns() {
        let user = SessionUser::new("42");
        let meta = Meta::new(10, 20)
            .with_last_seen(15)
            .with_user(Some(user.clone()));
        let cols = MetaColumns::of(&meta);
        assert_eq!(cols.user_key.as_deref(), Some(&user.key.digest()[..]));
        assert_eq!(cols.into_meta(&String::new), meta);
        let plain = Meta::new(1, 2);
        assert_eq!(MetaColumns::of(&plain).into_meta(&String::new), plain);
    }
}
