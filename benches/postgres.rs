//! PostgresStore measured (issue 13), in one run and one process, beside RedisStore:
//!
//! - ns/request of `read` and `write` (the conformance app's `/read` and `/incr`) through an
//!   `actix_web::test` app, on a private PostgreSQL and a private redis-server, each spawned on a
//!   free port for this run (mean, p50 and p99 over the timed requests);
//! - the cost of a save that changes one key of a session of 1, 100 and 1000 keys;
//! - the purge of `ATS_PG_PURGE` expired sessions (default 1 000 000; `0` skips it) in the
//!   background while requests run: its duration, and the p50/p99/max of the requests meanwhile.
//!
//! ```text
//! cargo bench --bench postgres
//! ATS_PG_PURGE=0 cargo bench --bench postgres     # without the purge (the slow part)
//! ```
//!
//! Wall-clock numbers on a shared machine move from run to run: read the ratios inside one run.

use support::postgres as pg;
use support::redis as redis_server;

use std::time::{Duration, Instant};

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::{
    deadpool_redis, Bytes, Changes, Meta, PostgresStore, RedisStore, SessionStore,
};
use actix_typed_session::testing::{conformance, get, send};
use actix_typed_session::SessionId;

const WARM: usize = 300;
const TIMED: usize = 3000;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Mean, p50, p99 and max of `samples`.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    let at = |q: f64| samples[((n as f64 * q) as usize).min(n - 1)];
    format!(
        "mean {:>7} ns, p50 {:>7} ns, p99 {:>7} ns, max {:>9} ns ({n} requests)",
        mean.as_nanos(),
        at(0.50).as_nanos(),
        at(0.99).as_nanos(),
        samples[n - 1].as_nanos()
    )
}

/// Times `/read` and `/incr` of one session on `store`.
async fn requests<S: SessionStore + Clone>(name: &str, store: S) {
    let clock = ManualClock::new();
    let app = conformance::app(store, &clock).await;
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    for (what, uri) in [("read", "/read"), ("write", "/incr")] {
        for _ in 0..WARM {
            send(&app, get(uri, Some(&id))).await;
        }
        let mut samples = Vec::with_capacity(TIMED);
        for _ in 0..TIMED {
            let started = Instant::now();
            let res = send(&app, get(uri, Some(&id))).await;
            samples.push(started.elapsed());
            assert_eq!(res.status, 200);
        }
        println!("{name:<9} {what:<5}: {}", summary(samples));
    }
}

/// A save of one changed key in sessions of 1, 100 and 1000 keys, the three sessions in turn
/// (so that noise from the rest of the machine falls on each alike).
async fn write_cost(store: &PostgresStore) {
    let sizes = [1usize, 100, 1000];
    let meta = Meta::new(now(), now() + 600);
    let value = Bytes::from(vec![7u8; 64]);
    let mut ids = Vec::new();
    for keys in sizes {
        let id = SessionId::generate();
        store
            .save(
                &id,
                &meta,
                &Changes::full((0..keys).map(|k| (format!("key{k}"), value.clone()))),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    let one = |i: usize| Changes {
        set: vec![("key0".to_owned(), Bytes::from(i.to_string()))],
        ..Changes::default()
    };
    let mut samples = vec![Vec::with_capacity(TIMED); sizes.len()];
    for i in 0..WARM + TIMED {
        for (n, id) in ids.iter().enumerate() {
            let started = Instant::now();
            store.save(id, &meta, &one(i)).await.unwrap();
            if i >= WARM {
                samples[n].push(started.elapsed());
            }
        }
    }
    let means: Vec<Duration> = samples
        .iter()
        .map(|s| s.iter().sum::<Duration>() / TIMED as u32)
        .collect();
    for (keys, samples) in sizes.iter().zip(samples) {
        println!(
            "save of 1 key in a session of {keys:>4} keys: {}",
            summary(samples)
        );
    }
    println!(
        "write cost 1000 keys / 1 key: {:.2}x (goal <= 1.2x)",
        means[2].as_secs_f64() / means[0].as_secs_f64()
    );
}

/// Fills `n` expired sessions, then purges them in the background while requests run.
async fn purge(server: &pg::PgServer, table: &str, n: usize) {
    let past = now() as i64 - 3600;
    let started = Instant::now();
    server
        .execute(&format!(
            "INSERT INTO {table} (id, created_at, expires_at, last_seen, purge_at) \
             SELECT sha256(i::text::bytea), {past}, {past} + (i % 600), {past}, {past} + 600 \
             FROM generate_series(1, {n}) i; \
             INSERT INTO {table}_values (session, key, value) \
             SELECT sha256(i::text::bytea), 'counter', '{{\"n\":1}}'::bytea \
             FROM generate_series(1, {n}) i; ANALYZE {table}; ANALYZE {table}_values"
        ))
        .await;
    println!("filled {n} expired sessions in {:?}", started.elapsed());

    let pool = PostgresStore::pool_for(&server.url, Duration::from_secs(2)).unwrap();
    let store = PostgresStore::builder(pool)
        .table(table)
        .without_cleanup()
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let app = conformance::app(store.clone(), &clock).await;
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..64 {
            ids.push(send(&app, get("/incr", None)).await.id().unwrap());
        }
        ids
    };
    let mut baseline = Vec::new();
    for i in 0..TIMED {
        let started = Instant::now();
        send(&app, get("/incr", Some(&ids[i % ids.len()]))).await;
        baseline.push(started.elapsed());
    }
    println!("requests before the purge: {}", summary(baseline));

    let purger = store.clone();
    let started = Instant::now();
    let purging = actix_web::rt::spawn(async move {
        let deleted = purger.purge_expired().await.unwrap();
        (deleted, started.elapsed())
    });
    let mut during = Vec::new();
    let mut errors = 0;
    let mut i = 0;
    while !purging.is_finished() {
        let begun = Instant::now();
        let res = send(&app, get("/incr", Some(&ids[i % ids.len()]))).await;
        during.push(begun.elapsed());
        errors += usize::from(res.status != 200);
        i += 1;
    }
    let (deleted, took) = purging.await.unwrap();
    println!(
        "purged {deleted} expired sessions in {took:?} ({:.0} sessions/s); requests meanwhile: {} \
         ({errors} not 200)",
        deleted as f64 / took.as_secs_f64(),
        summary(during)
    );
}

fn main() {
    // `cargo test --benches` runs each bench binary once with `--bench` absent: keep it short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let purge_n: usize = if quick {
        0
    } else {
        std::env::var("ATS_PG_PURGE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000)
    };
    if quick {
        return;
    }
    let sys = actix_web::rt::System::new();
    sys.block_on(async {
        let server = pg::PgServer::spawn(false);
        let redis = redis_server::RedisServer::spawn();
        let table = server.fresh_table().await;
        let pool = PostgresStore::pool_for(&server.url, Duration::from_secs(2)).unwrap();
        let store = PostgresStore::builder(pool)
            .table(&table)
            .without_cleanup()
            .build()
            .unwrap();
        store.migrate().await.unwrap();
        let redis_pool = deadpool_redis::Config::from_url(&redis.url)
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .unwrap();
        requests("postgres", store.clone()).await;
        requests("redis", RedisStore::new(redis_pool)).await;
        write_cost(&store).await;
        if purge_n > 0 {
            let table = server.fresh_table().await;
            let store = PostgresStore::builder(
                PostgresStore::pool_for(&server.url, Duration::from_secs(2)).unwrap(),
            )
            .table(&table)
            .without_cleanup()
            .build()
            .unwrap();
            store.migrate().await.unwrap();
            purge(&server, &table, purge_n).await;
        }
    });
}
