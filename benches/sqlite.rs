//! SqliteStore timings (issue 13), a plain timed loop that prints (no criterion: one number per
//! case is what the note needs):
//!
//! - ns/request of a read (`/read`) and a write (`/incr`) through the middleware, on a database
//!   file in WAL mode (`SqliteStore::from_url`, `synchronous = NORMAL`);
//! - ns/save when one key of a session holding 1, 100 or 1000 keys changes (the store's
//!   `save`, no HTTP), and the ratio 1000 keys / 1 key (goal ≤ 1.2).
//!
//! `cargo bench --bench sqlite` (`ATS_SQLITE_ITERS`, default 5000, sets the iterations per case).

use std::time::Instant;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::{Bytes, Changes, Meta, SessionStore, SqliteStore};
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
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
