//! SqliteStore timings (issue 13), a plain timed loop that prints (no criterion: one number per
//! case is what the note needs):
//!
//! - ns/request of a read (`/read`) and a write (`/incr`) through the middleware, on a database
//!   file in WAL mode (`SqliteStore::from_url`, `synchronous = NORMAL`);
//! - ns/save when one key of a session holding 1, 100 or 1000 keys changes (the store's
//!   `save`, no HTTP), and the ratio 1000 keys / 1 key (goal ≤ 1.2).
//!
//! - the purge of 200 000 expired rows while requests run, with their p50 / p99 before and
//!   during it.
//!
//! `cargo bench --bench sqlite` (`ATS_SQLITE_ITERS`, default 5000, sets the iterations per case).

use std::time::Instant;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::{sqlx, Bytes, Changes, Meta, SessionStore, SqliteStore};
use actix_typed_session::testing::conformance::app;
use actix_typed_session::testing::{get, send};
use actix_typed_session::SessionId;

fn iterations() -> usize {
    std::env::var("ATS_SQLITE_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists, then runs once with `--bench` absent
    }
    let iters = if std::env::args().any(|a| a == "--bench") {
        iterations()
    } else {
        50 // `cargo test --benches`: a check that it runs, not a measurement
    };
    let rt = actix_web::rt::System::new();
    rt.block_on(run(iters));
}

async fn run(iters: usize) {
    let dir = std::env::temp_dir().join(format!("ats-sqlite-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = SqliteStore::from_url(&url).unwrap();
    store.migrate().await.unwrap();

    // Through the middleware: read and write of one session.
    let clock = ManualClock::new();
    let service = app(store.clone(), &clock).await;
    let id = send(&service, get("/incr", None)).await.id().unwrap();
    for (name, path) in [("read", "/read"), ("write", "/incr")] {
        for _ in 0..iters / 10 {
            send(&service, get(path, Some(&id))).await;
        }
        let start = Instant::now();
        for _ in 0..iters {
            send(&service, get(path, Some(&id))).await;
        }
        let ns = start.elapsed().as_nanos() / iters as u128;
        println!("sqlite file WAL  {name:<5} {ns:>9} ns/request");
    }

    // One key changes in a session of 1, 100, 1000 keys: the three cases take turns, five
    // rounds, the median of each (WAL checkpoints land in one case or another).
    let now = actix_typed_session::clock::Clock::now(&clock);
    let meta = Meta::new(now, now + 3600);
    let sizes = [1usize, 100, 1000];
    let mut ids = Vec::new();
    for keys in sizes {
        let id = SessionId::generate();
        let value = Bytes::from(vec![0x5a; 32]);
        let all = (0..keys).map(|k| (format!("key{k}"), value.clone()));
        store.save(&id, &meta, &Changes::full(all)).await.unwrap();
        ids.push(id);
    }
    let save = |id: &SessionId, i: usize| {
        let changes = Changes {
            set: vec![("key0".to_owned(), Bytes::from(i.to_le_bytes().to_vec()))],
            ..Changes::default()
        };
        let (store, id, meta) = (&store, id.clone(), &meta);
        async move { store.save(&id, meta, &changes).await.unwrap() }
    };
    let mut rounds: Vec<Vec<u128>> = vec![Vec::new(); sizes.len()];
    for round in 0..6 {
        for (case, id) in ids.iter().enumerate() {
            let start = Instant::now();
            for i in 0..iters / 5 {
                save(id, i).await;
            }
            if round > 0 {
                // round 0 warms up
                rounds[case].push(start.elapsed().as_nanos() / (iters / 5).max(1) as u128);
            }
        }
    }
    let mut per_save = Vec::new();
    for (keys, mut times) in sizes.into_iter().zip(rounds) {
        times.sort_unstable();
        let ns = times[times.len() / 2];
        per_save.push(ns);
        println!(
            "sqlite file WAL  save 1 of {keys:>4} keys {ns:>9} ns (median of 5 rounds: {times:?})"
        );
    }
    println!(
        "ratio 1000 keys / 1 key: {:.2} (goal <= 1.2)",
        per_save[2] as f64 / per_save[0] as f64
    );

    // The purge of many expired rows (default 200 000, `ATS_SQLITE_PURGE`) while requests run:
    // their p50/p99 before and during it.
    let expired: i64 = std::env::var("ATS_SQLITE_PURGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if iters > 50 { 200_000 } else { 1000 });
    let past = now as i64 - 1000;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO sessions (id, created_at, expires_at, last_seen, purge_at)
         SELECT randomblob(32), ?2, ?2, ?2, ?2 FROM n",
    )
    .bind(expired)
    .bind(past)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO sessions_values (session, key, value)
         SELECT id, 'n', x'31' FROM sessions WHERE expires_at = ?1",
    )
    .bind(past)
    .execute(store.pool())
    .await
    .unwrap();
    let requests = |stop: Option<std::rc::Rc<std::cell::Cell<bool>>>, n: usize| {
        let (service, id) = (&service, &id);
        async move {
            let mut times = Vec::with_capacity(n);
            let mut i = 0usize;
            while stop.as_ref().map_or(i < n, |s| !s.get()) {
                let path = if i.is_multiple_of(2) {
                    "/read"
                } else {
                    "/incr"
                };
                let start = Instant::now();
                send(service, get(path, Some(id))).await;
                times.push(start.elapsed().as_micros());
                i += 1;
            }
            times.sort_unstable();
            times
        }
    };
    let quantile = |times: &[u128], q: f64| {
        times
            .get((times.len().saturating_sub(1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    let before = requests(None, 2000).await;
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let start = Instant::now();
    let purge = async {
        let n = store.purge_expired().await.unwrap();
        stop.set(true);
        (n, start.elapsed())
    };
    let ((purged, took), during) =
        futures_util::future::join(purge, requests(Some(stop.clone()), 0)).await;
    println!(
        "purge of {purged} expired rows (batches of 1000): {took:?}; {} requests meanwhile \
         (half reads, half writes): p50 {} us, p99 {} us; before: p50 {} us, p99 {} us",
        during.len(),
        quantile(&during, 0.5),
        quantile(&during, 0.99),
        quantile(&before, 0.5),
        quantile(&before, 0.99),
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
