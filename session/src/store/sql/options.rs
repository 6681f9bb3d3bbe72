//! The options every SQL store's builder has ([`SqlOptions`]), their setters (one macro for
//! both dialects) and the checks `build` makes of them.

use std::time::Duration;

use super::{DEFAULT_BATCH_SIZE, DEFAULT_CLEANUP_INTERVAL, DEFAULT_TABLE, DEFAULT_TIMEOUT};
use crate::error::ConfigError;

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
}
