//! The schema of a [`SqliteStore`]: the tables, indexes, view and triggers
//! [`migrate`](SqliteStore::migrate) creates, and the [`check`](SqliteStore::check) that they
//! have what the statements use.

use super::{SqliteStore, STORE};
use crate::error::StoreError;
use crate::store::sql::{migrated, timed};

impl SqliteStore {
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
        migrated(created, self.check().await)
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
pub(super) const SAVE_COLUMNS: &[&str] = &[
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
pub(super) fn schema(t: &str) -> String {
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
