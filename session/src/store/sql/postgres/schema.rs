//! The schema check of a [`PostgresStore`]: the columns and types its statements use, what
//! [`migrate`](PostgresStore::migrate) creates (its DDL is among the statements) and
//! [`check`](PostgresStore::check) verifies.

use std::collections::HashMap;

use super::PostgresStore;
use crate::error::StoreError;
use crate::store::sql::{migrated, timed};

impl PostgresStore {
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
        migrated(created, self.check().await)
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
