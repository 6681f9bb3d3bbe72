//! The SQL of a [`SqliteStore`](super::SqliteStore), built once for its table name: a statement
//! per operation, the save bound to the save view, and the rows a load or a listing reads back.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::schema::SAVE_COLUMNS;
use super::Inner;
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::sql::{purge_mark, KeyChanges, MetaColumns};
use crate::store::{Bytes, Changes, Meta};

/// The store's statements for one table name.
pub(super) struct Statements {
    pub(super) load: String,
    pub(super) save: String,
    pub(super) touch: String,
    pub(super) rename: String,
    pub(super) rename_values: String,
    pub(super) delete: String,
    pub(super) list: String,
    pub(super) revoke: String,
    pub(super) revoke_all: String,
    pub(super) purge: String,
}

impl Statements {
    pub(super) fn new(t: &str) -> Self {
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
    /// The save of `changes` and `meta` under `id`: one `INSERT` into the save view, whose
    /// trigger applies it (`created`: a new row; else only to a live row).
    pub(super) fn save_query(
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

/// The metadata columns of a row (from `first`, the index of `created_at`).
pub(super) fn meta_of(
    row: &SqliteRow,
    first: usize,
    tag: &dyn Fn() -> String,
) -> Result<Meta, sqlx::Error> {
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
pub(super) fn value_of(
    row: &SqliteRow,
    first: usize,
) -> Result<Option<(String, Bytes)>, sqlx::Error> {
    let key: Option<String> = row.try_get(first)?;
    let value: Option<Vec<u8>> = row.try_get(first + 1)?;
    Ok(key.map(|k| (k, Bytes::from(value.unwrap_or_default()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::sqlite::schema::schema;

    #[test]
    fn save_view_binds_every_column_in_order() {
        let sql = Statements::new("sessions");
        assert!(sql.save.contains("?15"));
        assert!(!sql.save.contains("?16"));
        assert!(schema("sessions").contains("CREATE VIEW sessions_save"));
    }
}
