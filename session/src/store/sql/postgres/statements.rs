//! The SQL of a [`PostgresStore`](super::PostgresStore), built once for its table names (the DDL
//! of `migrate` included), and the rows a load or a listing reads back.

use std::collections::HashMap;

use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::error::StoreError;
use crate::store::sql::{MetaColumns, SqlOptions};
use crate::store::Bytes;

/// The database's clock, in Unix seconds: what decides whether a row has expired.
const NOW: &str = "EXTRACT(EPOCH FROM now())::bigint";

/// The SQL of one store, built once for its table names.
pub(super) struct Statements {
    pub(super) create: String,
    pub(super) load_all: String,
    pub(super) load_keys: String,
    pub(super) insert: String,
    pub(super) update: String,
    pub(super) touch: String,
    pub(super) lock_live: String,
    pub(super) rotate: String,
    pub(super) delete: String,
    pub(super) list: String,
    pub(super) revoke: String,
    pub(super) revoke_all: String,
    pub(super) purge: String,
}

impl Statements {
    pub(super) fn new(opts: &SqlOptions) -> Self {
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

/// Reads the metadata columns starting at `at` (created_at, expires_at, last_seen, user_id,
/// handle, signed_in_at).
pub(super) fn meta_at(row: &PgRow, at: usize) -> Result<MetaColumns, sqlx::Error> {
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
pub(super) fn value_at(
    row: &PgRow,
    at: usize,
    data: &mut HashMap<String, Bytes>,
) -> Result<(), sqlx::Error> {
    let key: Option<String> = row.try_get(at)?;
    let value: Option<Vec<u8>> = row.try_get(at + 1)?;
    if let (Some(key), Some(value)) = (key, value) {
        data.insert(key, Bytes::from(value));
    }
    Ok(())
}

pub(super) fn decode(err: sqlx::Error) -> StoreError {
    StoreError::msg(format!("PostgresStore: unexpected row: {err}"))
}
