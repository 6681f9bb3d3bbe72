//! SqliteStore: the conformance suite on a temporary file and on `:memory:`, statements per
//! request, the schema (migrate twice and at once, a table of the wrong shape), the timeout,
//! the purge in batches and the leak check of the user index.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_typed_session::clock::{Clock, ManualClock};
use actix_typed_session::store::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use actix_typed_session::store::sqlx::{self, SqlitePool};
use actix_typed_session::store::{
    Bytes, Changes, Fetch, Handle, Meta, SessionStore, SessionUser, SqliteStore, UserIndex,
    UserKey, SQL_PURGE_STEP,
};
use actix_typed_session::testing::users::expire_tied_sessions;
use actix_typed_session::SessionId;
use actix_web::http::StatusCode;

use support::*;

/// A database file in a fresh temporary directory (removed with the guard).
fn temp_db(tag: &str) -> (TempDir, String) {
    let dir = TempDir::new(tag);
    std::fs::create_dir_all(&dir.0).unwrap();
    let url = format!("sqlite://{}", dir.0.join("sessions.db").display());
    (dir, url)
}

/// `store`, its schema created.
async fn migrated(store: SqliteStore) -> SqliteStore {
    store.migrate().await.unwrap();
    store
}

async fn file_store() -> Guarded<SqliteStore> {
    let (dir, url) = temp_db("sqlite");
    let store = migrated(SqliteStore::from_url(&url).unwrap()).await;
    Guarded {
        store,
        guard: Arc::new(dir),
    }
}

/// A pool on `url` (a file created if missing, WAL, sqlx's default busy timeout of 5 s).
async fn pool_on(url: &str) -> SqlitePool {
    let options: SqliteConnectOptions = url.parse().unwrap();
    SqlitePoolOptions::new()
        .connect_with(
            options
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
        )
        .await
        .unwrap()
}

async fn count(pool: &SqlitePool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

mod on_a_file {
    use super::*;
    actix_typed_session::conformance_suite!(file_store().await);
}

mod in_memory {
    use super::*;
    actix_typed_session::conformance_suite!(
        migrated(SqliteStore::from_url(":memory:").unwrap()).await
    );
}

/// Statements per request: untouched 0, read 1, write 1 beyond the load, new session 1.
#[actix_web::test]
async fn statements_per_request() {
    let (_dir, url) = temp_db("sqlite-count");
    let store = migrated(SqliteStore::from_url(&url).unwrap()).await;
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let mut before = store.statements();
    let mut step = |store: &SqliteStore| {
        let now = store.statements();
        let delta = now - before;
        before = now;
        delta
    };
    send(&app, get("/untouched", None)).await;
    assert_eq!(step(&store), 0, "untouched");
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    assert_eq!(step(&store), 1, "new session");
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "1");
    assert_eq!(step(&store), 1, "read");
    assert_eq!(send(&app, get("/incr", Some(&id))).await.body, "2");
    assert_eq!(step(&store), 2, "write: the load and one save");
    send(&app, post("/logout", Some(&id))).await;
    assert_eq!(step(&store), 2, "logout: the load and one delete");
}

#[actix_web::test]
async fn migrate_twice_and_at_once() {
    let (_dir, url) = temp_db("sqlite-migrate");
    let store = migrated(SqliteStore::from_url(&url).unwrap()).await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    // Two processes starting at once: two pools, each migrating.
    let (a, b) = (pool_on(&url).await, pool_on(&url).await);
    let one = SqliteStore::builder(a).table("other").build().unwrap();
    let two = SqliteStore::builder(b).table("other").build().unwrap();
    let (x, y) = futures_util::future::join(one.migrate(), two.migrate()).await;
    x.unwrap();
    y.unwrap();
    let id = SessionId::generate();
    let meta = Meta::new(now(), now() + 60);
    one.save(
        &id,
        &meta,
        &Changes::full([("k".into(), Bytes::from_static(b"v"))]),
    )
    .await
    .unwrap();
    let got = two
        .load(&id, Fetch::All)
        .await
        .unwrap()
        .unwrap()
        .into_record();
    assert_eq!(got.data["k"], Bytes::from_static(b"v"));
    // Not in the default table.
    assert!(store.load(&id, Fetch::All).await.unwrap().is_none());
}

#[actix_web::test]
async fn a_table_of_the_wrong_shape_fails_at_start() {
    let (_dir, url) = temp_db("sqlite-shape");
    let pool = pool_on(&url).await;
    let store = SqliteStore::new(pool.clone());
    let missing = store.check().await.unwrap_err().to_string();
    assert!(missing.contains("migrate()"), "{missing}");
    sqlx::query("CREATE TABLE sessions (id TEXT PRIMARY KEY, data TEXT, expires INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    let err = store.check().await.unwrap_err().to_string();
    assert!(err.contains("does not have the store's shape"), "{err}");
    assert!(err.contains("sessions.purge_at"), "names the column: {err}");
    // migrate() does not paper over it: the table stays as it is, and the error says why.
    let err = store.migrate().await.unwrap_err().to_string();
    assert!(err.contains("column sessions.expires_at"), "{err}");
    // A table name that is not a plain identifier is refused before any SQL runs.
    for bad in ["x; drop table sessions", "main.sessions", "Sessions"] {
        assert!(SqliteStore::builder(pool.clone())
            .table(bad)
            .build()
            .is_err());
    }
}

/// Another connection holds the write lock: a save waits no longer than the timeout and the
/// request answers 503; once the lock is released, the store works again.
#[actix_web::test]
async fn a_held_write_lock_gives_503_within_the_timeout() {
    let (_dir, url) = temp_db("sqlite-timeout");
    let pool = pool_on(&url).await; // busy_timeout 5 s: the store's timeout must answer first
    let store = migrated(
        SqliteStore::builder(pool.clone())
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .await;
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();

    let locker = pool_on(&url).await;
    let mut tx = locker.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("DELETE FROM sessions WHERE 0")
        .execute(&mut *tx)
        .await
        .unwrap();
    let started = Instant::now();
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    // Reads go on (WAL: readers do not wait for the writer).
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "1");
    tx.rollback().await.unwrap();
    // Wait for the timed-out statement's worker to give up its busy wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(send(&app, get("/incr", Some(&id))).await.body, "2");
}

fn now() -> u64 {
    actix_typed_session::clock::SystemClock.now()
}

/// The purge deletes expired rows in batches (one statement each) and leaves live rows.
#[actix_web::test]
async fn purge_in_batches_leaves_live_rows() {
    let (_dir, url) = temp_db("sqlite-purge");
    let clock = ManualClock::new();
    let store = migrated(
        SqliteStore::builder(pool_on(&url).await)
            .clock(clock.clone())
            .batch_size(7)
            .without_cleanup()
            .build()
            .unwrap(),
    )
    .await;
    let t = clock.now();
    let mut live = Vec::new();
    for i in 0..55 {
        let id = SessionId::generate();
        let ttl = if i % 11 == 0 { 100_000 } else { 60 };
        let data = [
            ("a".to_owned(), Bytes::from_static(b"1")),
            ("b".to_owned(), Bytes::from_static(b"2")),
        ];
        store
            .save(&id, &Meta::new(t, t + ttl), &Changes::full(data))
            .await
            .unwrap();
        if ttl > 60 {
            live.push(id);
        }
    }
    clock.advance(Duration::from_secs(61 + SQL_PURGE_STEP));
    let before = store.statements();
    assert_eq!(store.purge_expired().await.unwrap(), 50);
    assert_eq!(store.statements() - before, 8, "50 rows in batches of 7");
    let pool = store.pool();
    assert_eq!(count(pool, "SELECT count(*) FROM sessions").await, 5);
    assert_eq!(
        count(pool, "SELECT count(*) FROM sessions_values").await,
        10
    );
    for id in &live {
        let record = store.load(id, Fetch::All).await.unwrap().unwrap();
        assert_eq!(record.into_record().data.len(), 2);
    }
    assert_eq!(store.purge_expired().await.unwrap(), 0);
}

/// The background purge runs by itself; a failed round is logged and the next one works.
#[actix_web::test]
async fn background_purge_survives_a_failed_round() {
    let (captured, _guard) = capture_logs();
    let (_dir, url) = temp_db("sqlite-bg");
    let clock = ManualClock::new();
    let pool = pool_on(&url).await;
    let store = migrated(
        SqliteStore::builder(pool.clone())
            .clock(clock.clone())
            .cleanup_interval(Duration::from_millis(100))
            .build()
            .unwrap(),
    )
    .await;
    let t = clock.now();
    for _ in 0..20 {
        store
            .save(
                &SessionId::generate(),
                &Meta::new(t, t + 60),
                &Changes::full([]),
            )
            .await
            .unwrap();
    }
    // Break the purge: its table is gone for a while.
    sqlx::query("ALTER TABLE sessions RENAME TO sessions_away")
        .execute(&pool)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(61 + SQL_PURGE_STEP));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        captured.text().contains("purge of expired sessions failed"),
        "{}",
        captured.text()
    );
    sqlx::query("ALTER TABLE sessions_away RENAME TO sessions")
        .execute(&pool)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&pool, "SELECT count(*) FROM sessions").await > 0 {
        assert!(Instant::now() < deadline, "the purge task ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The leak check of the user index: 10 000 sessions of 100 users expire; after listing each
/// user once and a purge, nothing of them is left.
#[actix_web::test]
async fn the_user_index_does_not_leak() {
    let (_dir, url) = temp_db("sqlite-leak");
    let clock = ManualClock::new();
    let store = migrated(
        SqliteStore::builder(pool_on(&url).await)
            .clock(clock.clone())
            .without_cleanup()
            .build()
            .unwrap(),
    )
    .await;
    expire_tied_sessions(&store, &clock, 10_000, 100).await;
    clock.advance(Duration::from_secs(SQL_PURGE_STEP));
    assert_eq!(store.purge_expired().await.unwrap(), 10_000);
    let pool = store.pool();
    assert_eq!(count(pool, "SELECT count(*) FROM sessions").await, 0);
    assert_eq!(count(pool, "SELECT count(*) FROM sessions_values").await, 0);
}

/// The user column is the hash; revoke touches only that user's session with that handle.
#[actix_web::test]
async fn the_user_column_is_hashed_and_revoke_is_per_user() {
    let store = migrated(SqliteStore::from_url(":memory:").unwrap()).await;
    let t = now();
    let (ann, bob) = (SessionUser::new("ann"), SessionUser::new("bob"));
    let (a, b) = (SessionId::generate(), SessionId::generate());
    for (id, user) in [(&a, &ann), (&b, &bob)] {
        let meta = Meta::new(t, t + 60).with_user(Some(user.clone()));
        store.save(id, &meta, &Changes::full([])).await.unwrap();
    }
    let raw: Vec<Vec<u8>> = sqlx::query_scalar("SELECT user_key FROM sessions")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(raw.iter().all(|k| k.len() == 32 && k.as_slice() != b"ann"));
    assert!(!store.revoke(&ann.key, &bob.handle).await.unwrap());
    assert!(!store.revoke(&ann.key, &Handle::generate()).await.unwrap());
    assert!(store.load(&b, Fetch::All).await.unwrap().is_some());
    assert!(store.revoke(&bob.key, &bob.handle).await.unwrap());
    assert!(store.load(&b, Fetch::All).await.unwrap().is_none());
    assert_eq!(store.user_sessions(&ann.key).await.unwrap().len(), 1);
    assert_eq!(
        store
            .revoke_all(&UserKey::of("ann"), Some(&ann.handle))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.revoke_all(&ann.key, None).await.unwrap(), 1);
    assert!(store.user_sessions(&ann.key).await.unwrap().is_empty());
}

/// How many statements sqlx ran whose SQL names `counted_sessions`, from sqlx's own query log
/// (target `sqlx::query`, logged by the connection's worker thread, hence a global subscriber).
static LOGGED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The global subscriber behind [`LOGGED`]: a check of [`SqliteStore::statements`] from
/// outside the store.
struct StatementLog;

impl tracing::Subscriber for StatementLog {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.target() == "sqlx::query"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Text(String);
        impl tracing::field::Visit for Text {
            fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{value:?} "));
            }
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        if text.0.contains("counted_sessions") {
            LOGGED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The same counts as `statements_per_request`, read from sqlx's query log: what reaches
/// SQLite, not what the store says it sent.
#[actix_web::test]
async fn statements_per_request_by_the_query_log() {
    tracing::subscriber::set_global_default(StatementLog).expect("the only global subscriber");
    let seen = || LOGGED.load(std::sync::atomic::Ordering::SeqCst);
    let (_dir, url) = temp_db("sqlite-log");
    let store = migrated(
        SqliteStore::builder(pool_on(&url).await)
            .table("counted_sessions")
            .without_cleanup()
            .build()
            .unwrap(),
    )
    .await;
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let mut before = seen();
    let mut step = || {
        let now = seen();
        let delta = now - before;
        before = now;
        delta
    };
    send(&app, get("/untouched", None)).await;
    assert_eq!(step(), 0, "untouched");
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    assert_eq!(step(), 1, "new session");
    send(&app, get("/read", Some(&id))).await;
    assert_eq!(step(), 1, "read");
    send(&app, get("/incr", Some(&id))).await;
    assert_eq!(step(), 2, "write: the load and one save");
}

/// The purge walks the expiry index in order, and a user's sessions are found by the user
/// index, not by a scan of the table.
#[actix_web::test]
async fn the_purge_and_the_user_queries_use_their_indexes() {
    let store = migrated(SqliteStore::from_url(":memory:").unwrap()).await;
    let plan = |sql: &'static str| {
        let pool = store.pool().clone();
        async move {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
        }
    };
    let purge = plan(
        "SELECT id FROM sessions WHERE purge_at <= 1 AND expires_at <= 1 ORDER BY purge_at LIMIT 10",
    )
    .await;
    assert!(purge.contains("USING INDEX sessions_purge_at"), "{purge}");
    assert!(!purge.contains("TEMP B-TREE"), "no sort: {purge}");
    for sql in [
        "SELECT id FROM sessions WHERE user_key = x'00' AND expires_at > 1",
        "DELETE FROM sessions WHERE user_key = x'00' AND handle = 'h' AND expires_at > 1",
    ] {
        let p = plan(sql).await;
        assert!(p.contains("USING INDEX sessions_user_key"), "{sql}: {p}");
    }
}

/// Values are bytes of any kind (a MessagePack or CBOR codec): empty, NUL, not UTF-8, 1 MiB;
/// removals and `replace_all` act per key; a partial load answers only the asked keys.
#[actix_web::test]
async fn values_are_arbitrary_bytes_and_change_per_key() {
    let store = migrated(SqliteStore::from_url(":memory:").unwrap()).await;
    let t = now();
    let meta = Meta::new(t, t + 60);
    let id = SessionId::generate();
    let big = Bytes::from((0..1 << 20).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let values = [
        ("empty", Bytes::new()),
        ("nul", Bytes::from_static(b"\0\0\0")),
        ("binary", Bytes::from_static(&[0xff, 0xfe, 0x00, 0x80])),
        ("big", big.clone()),
        ("é \" ' ] ,", Bytes::from_static(b"json-ish key")),
    ];
    let full = values.iter().map(|(k, v)| (k.to_string(), v.clone()));
    store.save(&id, &meta, &Changes::full(full)).await.unwrap();
    let all = store
        .load(&id, Fetch::All)
        .await
        .unwrap()
        .unwrap()
        .into_record();
    for (k, v) in &values {
        assert_eq!(all.data.get(*k), Some(v), "{k}");
    }
    let partial = store
        .load(&id, Fetch::Keys(&["nul", "missing", "é \" ' ] ,"]))
        .await
        .unwrap()
        .unwrap()
        .into_record();
    assert_eq!(partial.data.len(), 2);

    // One key set, one removed: the others stay.
    let changes = Changes {
        set: vec![("nul".into(), Bytes::from_static(b"x"))],
        removed: vec!["big".into()],
        ..Changes::default()
    };
    store.save(&id, &meta, &changes).await.unwrap();
    let after = store
        .load(&id, Fetch::All)
        .await
        .unwrap()
        .unwrap()
        .into_record();
    assert_eq!(after.data.len(), 4);
    assert_eq!(after.data["nul"], Bytes::from_static(b"x"));
    assert_eq!(after.data["binary"], values[2].1);

    // replace_all on an existing session: only the new set is left.
    let changes = Changes {
        replace_all: true,
        set: vec![("only".into(), Bytes::from_static(b"1"))],
        ..Changes::default()
    };
    store.save(&id, &meta, &changes).await.unwrap();
    let after = store
        .load(&id, Fetch::All)
        .await
        .unwrap()
        .unwrap()
        .into_record();
    assert_eq!(after.data.keys().collect::<Vec<_>>(), ["only"]);
}

/// A save (or a touch) of a session whose row expired, by the store's clock, writes nothing:
/// an expired session is not brought back by a late request.
#[actix_web::test]
async fn an_expired_row_is_not_brought_back() {
    let clock = ManualClock::new();
    let store = migrated(
        SqliteStore::builder(SqliteStore::pool_for(":memory:", Duration::from_secs(2)).unwrap())
            .clock(clock.clone())
            .without_cleanup()
            .build()
            .unwrap(),
    )
    .await;
    let t = clock.now();
    let id = SessionId::generate();
    let data = [("a".to_owned(), Bytes::from_static(b"1"))];
    store
        .save(&id, &Meta::new(t, t + 60), &Changes::full(data))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(61));
    assert!(store.load(&id, Fetch::All).await.unwrap().is_none());
    let later = Meta::new(t, t + 1000);
    let changes = Changes {
        set: vec![("b".into(), Bytes::from_static(b"2"))],
        ..Changes::default()
    };
    store.save(&id, &later, &changes).await.unwrap();
    store.touch(&id, &later).await.unwrap();
    assert!(store.load(&id, Fetch::All).await.unwrap().is_none());
    let values = count(store.pool(), "SELECT count(*) FROM sessions_values").await;
    assert_eq!(
        values, 1,
        "only the expired row's own value, until the purge"
    );
}

/// Another process takes the write lock again and again while requests keep writing: they
/// answer 503 while it is held and 200 in between, without a restart; every request answered
/// 200 has its key in the store afterwards (a 503 promises nothing either way).
#[actix_web::test]
async fn write_lock_held_under_load_then_released() {
    let (_dir, url) = temp_db("sqlite-fault");
    let timeout = Duration::from_millis(150);
    let store = migrated(
        SqliteStore::builder(SqliteStore::pool_for(&url, timeout).unwrap())
            .timeout(timeout)
            .build()
            .unwrap(),
    )
    .await;
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, post("/set/base/0", None)).await.id().unwrap();

    let locker = pool_on(&url).await;
    let done = std::cell::Cell::new(false);
    let hold = async {
        for _ in 0..3 {
            let mut tx = locker.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("DELETE FROM sessions WHERE 0")
                .execute(&mut *tx)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
            tx.rollback().await.unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        done.set(true);
    };
    let load = async {
        let mut answers = Vec::new();
        let mut wave = 0;
        while !done.get() {
            let keys: Vec<String> = (0..8).map(|i| format!("k{wave}x{i}")).collect();
            let replies = futures_util::future::join_all(
                keys.iter()
                    .map(|k| send(&app, post(&format!("/set/{k}/1"), Some(&id)))),
            )
            .await;
            answers.extend(keys.into_iter().zip(replies.into_iter().map(|r| r.status)));
            wave += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        answers
    };
    let ((), answers) = futures_util::future::join(hold, load).await;
    let ok: Vec<&String> = answers
        .iter()
        .filter(|(_, s)| *s == StatusCode::OK)
        .map(|(k, _)| k)
        .collect();
    let unavailable = answers
        .iter()
        .filter(|(_, s)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    println!(
        "{} requests: {} answered 200, {unavailable} answered 503",
        answers.len(),
        ok.len()
    );
    assert_eq!(ok.len() + unavailable, answers.len(), "only 200 and 503");
    assert!(unavailable > 0 && !ok.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = store
        .load(&SessionId::parse(&id).unwrap(), Fetch::All)
        .await
        .unwrap()
        .expect("the session survived")
        .into_record();
    let lost: Vec<_> = ok
        .iter()
        .filter(|k| !stored.data.contains_key(**k))
        .collect();
    assert!(lost.is_empty(), "answered 200 but missing: {lost:?}");
    let res = send(&app, post("/set/after/1", Some(&id))).await;
    assert_eq!(res.status, StatusCode::OK, "recovered without a restart");
}

/// The schema the previous version's `migrate` made (no `signed_in_at`, a save view of 14
/// columns), with a signed-in session stored before the upgrade.
fn previous_schema() -> &'static str {
    "CREATE TABLE sessions (id BLOB PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, purge_at INTEGER NOT NULL,
        user_key BLOB, user_id BLOB, handle TEXT) WITHOUT ROWID;
    CREATE INDEX sessions_purge_at ON sessions (purge_at);
    CREATE INDEX sessions_user_key ON sessions (user_key) WHERE user_key IS NOT NULL;
    CREATE TABLE sessions_values (session BLOB NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
        PRIMARY KEY (session, key)) WITHOUT ROWID;
    CREATE TRIGGER sessions_drop_values AFTER DELETE ON sessions BEGIN
        DELETE FROM sessions_values WHERE session = OLD.id;
    END;
    CREATE VIEW sessions_save AS SELECT NULL AS id, NULL AS now, NULL AS created,
        NULL AS replace_all, NULL AS created_at, NULL AS expires_at, NULL AS last_seen,
        NULL AS purge_at, NULL AS user_key, NULL AS user_id, NULL AS handle, NULL AS sets,
        NULL AS blob, NULL AS removed;
    CREATE TRIGGER sessions_save_apply INSTEAD OF INSERT ON sessions_save BEGIN
        INSERT INTO sessions (id, created_at, expires_at, last_seen, purge_at, user_key, user_id, handle)
            SELECT NEW.id, NEW.created_at, NEW.expires_at, NEW.last_seen, NEW.purge_at,
                   NEW.user_key, NEW.user_id, NEW.handle
            WHERE NEW.created;
    END;"
}

/// A database of the previous version: `migrate` adds the sign-in column and makes the save
/// view anew; the session stored before the upgrade still loads and lists (its sign-in time
/// unknown, so it counts as signed in when it was created), and saves work.
#[actix_web::test]
async fn migrate_upgrades_a_database_of_the_previous_version() {
    let (_dir, url) = temp_db("sqlite-upgrade");
    let pool = pool_on(&url).await;
    sqlx::raw_sql(previous_schema())
        .execute(&pool)
        .await
        .unwrap();
    let (id, handle, user) = (
        SessionId::generate(),
        Handle::generate(),
        UserKey::of("ann"),
    );
    let (created, expires) = (now() - 10, now() + 600);
    sqlx::query("INSERT INTO sessions VALUES (?1, ?2, ?3, ?2, ?3, ?4, 'ann', ?5)")
        .bind(&id.digest()[..])
        .bind(created as i64)
        .bind(expires as i64)
        .bind(&user.digest()[..])
        .bind(handle.as_str())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sessions_values VALUES (?1, 'k', 'v')")
        .bind(&id.digest()[..])
        .execute(&pool)
        .await
        .unwrap();
    let store = SqliteStore::new(pool.clone());
    let before = store.check().await.unwrap_err().to_string();
    assert!(before.contains("signed_in_at"), "{before}");
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // and again: nothing changes
    let loaded = store
        .load(&id, Fetch::All)
        .await
        .unwrap()
        .unwrap()
        .into_record();
    assert_eq!(loaded.data["k"], Bytes::from_static(b"v"));
    let ann = loaded.meta.user.clone().unwrap();
    assert_eq!(
        (ann.handle.as_str(), ann.signed_in_at),
        (handle.as_str(), 0)
    );
    assert_eq!(ann.sign_in_order(created).0, created * 1000);
    let changes = Changes {
        set: vec![("k".into(), Bytes::from_static(b"w"))],
        ..Changes::default()
    };
    store.save(&id, &loaded.meta, &changes).await.unwrap();
    let again = store
        .load(&id, Fetch::All)
        .await
        .unwrap()
        .unwrap()
        .into_record();
    assert_eq!(again.data["k"], Bytes::from_static(b"w"));
    let fresh = SessionId::generate();
    let meta =
        Meta::new(now(), now() + 600).with_user(Some(SessionUser::new("ann").signed_in(1_234)));
    store.save(&fresh, &meta, &Changes::full([])).await.unwrap();
    let back = store.load(&fresh, Fetch::All).await.unwrap().unwrap();
    assert_eq!(back.meta().user.as_ref().unwrap().signed_in_at, 1_234);
    assert_eq!(store.user_sessions(&user).await.unwrap().len(), 2);
}

/// `revoke_all` of a user with many sessions goes in statements of `batch_size` rows, so no
/// single write holds the database's write lock for all of them; every session ends but the
/// one kept, and another user's sessions stay.
#[actix_web::test]
async fn revoke_all_ends_many_sessions_in_batches() {
    let (_dir, url) = temp_db("sqlite-revoke-batches");
    let store = migrated(
        SqliteStore::builder(pool_on(&url).await)
            .batch_size(7)
            .without_cleanup()
            .build()
            .unwrap(),
    )
    .await;
    let t = now();
    let mut kept = None;
    for i in 0..51 {
        let user = SessionUser::new(if i == 50 { "bob" } else { "ann" });
        if i == 0 {
            kept = Some(user.handle.clone());
        }
        let meta = Meta::new(t, t + 600).with_user(Some(user));
        let values = Changes::full([("a".to_owned(), Bytes::from_static(b"1"))]);
        store
            .save(&SessionId::generate(), &meta, &values)
            .await
            .unwrap();
    }
    let before = store.statements();
    let ended = store
        .revoke_all(&UserKey::of("ann"), kept.as_ref())
        .await
        .unwrap();
    assert_eq!(ended, 49);
    assert_eq!(
        store.statements() - before,
        8,
        "49 rows: seven full batches of 7, then one that finds none"
    );
    assert_eq!(
        store
            .user_sessions(&UserKey::of("ann"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .user_sessions(&UserKey::of("bob"))
            .await
            .unwrap()
            .len(),
        1
    );
}
