//! Users and their sessions (issue 12): what tying a session to a user costs a request, and
//! how listing and revoking a user's sessions grow with their number.
//!
//! # How to measure
//!
//! ```text
//! cargo bench --bench users                 # ~3 min: criterion cases, then two tables
//! cargo bench --bench users -- 'memory'     # a criterion filter (regex on the bench id)
//! ATS_USERS_SCALE=0 cargo bench --bench users   # the per-request cases only
//! ATS_USERS_STORES=memory,file cargo bench --bench users   # some stores only (no Redis)
//! ATS_USERS_STORES=cookie ATS_USERS_SCALE=0 cargo bench --bench users   # the cookie store
//! ```
//!
//! # What runs
//!
//! - **`users/<store>/<workload>`** (criterion): the `read` and `write` requests of
//!   `support/src/handlers.rs` (read the counter; increment it) through a real
//!   `actix_web::test` app, on a session that is not tied to a user and on one that is
//!   (`tied-read`, `tied-write`: the session was tied once with `set_user` by `/tie`; the
//!   requests themselves are the same). On MemoryStore, FileStore (fsync off) and RedisStore
//!   (a private `redis-server` on a free port), and the encrypted CookieStore without and with
//!   a revocation store (`cookie`, `cookie-revocations`: a MemoryStore; a tied session's
//!   request then reads its user's revocation record once). The table after the run gives
//!   each tied case's ratio to its untied twin, from the medians of one run.
//! - **Scale** (timed loops, not criterion: `revoke_all` destroys what it measures): for
//!   N = 1, 100 and 10 000 sessions of one user (saved straight into the store), the time of
//!   `Sessions::of_user` (the median of several listings) and of `Sessions::revoke_all` (the
//!   median of 3 runs, each on N freshly saved sessions). Not for the cookie store, which
//!   cannot list.
//!
//! - **Stall** (not in test mode; `ATS_USERS_STALL=0` skips it): 10 000 and 50 000 sessions
//!   of one user, listed then revoked while another client works on a thread of its own: on
//!   Redis a connection sending `PING` after `PING` (the worst is how long the store's longest
//!   script held Redis from everyone), on SQLite, PostgreSQL (a private server, as
//!   `tests/stores/postgres.rs` starts it) and the file store a second store on the same
//!   database or directory saving a session of its own in a loop. `ATS_USERS_STORES` also takes
//!   `sqlite` and `postgres` (the default list has them).
//!
//! Wall-clock numbers on a shared 2-core machine move by tens of percent between runs: read
//! the ratios inside one run; `benches/callgrind.sh memory:tied-write ..` counts instructions.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix_typed_session::clock::{Clock, SystemClock};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_typed_session::store::{
    deadpool_redis, Bytes, Changes, CookieStore, FileStore, IntoBackend, MemoryStore, Meta,
    PostgresStore, RedisStore, SessionStore, SessionUser, SqliteStore,
};
use actix_typed_session::{SessionId, SessionMiddleware};
use actix_web::http::header::{COOKIE, SET_COOKIE};
use actix_web::rt::SystemRunner;
use actix_web::{test, App};
use criterion::Criterion;

use support::handlers;
use support::postgres as pg;
use support::redis::RedisServer;

const WORKLOADS: [(&str, &str, bool); 4] = [
    ("read", "/read", false),
    ("write", "/write", false),
    ("tied-read", "/read", true),
    ("tied-write", "/write", true),
];
const SCALE: [usize; 3] = [1, 100, 10_000];
/// The user whose sessions the scale cases list and revoke.
const USER: &str = "scale-user";

/// Per-request times (ns) of every criterion sample, by (store, workload).
type Medians = RefCell<BTreeMap<(String, String), Vec<f64>>>;

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let sys = actix_web::rt::System::new();
    let stores = std::env::var("ATS_USERS_STORES")
        .unwrap_or_else(|_| "memory,file,redis,cookie,sqlite,postgres".into());
    let wanted = |name: &str| stores.split(',').any(|s| s.trim() == name);
    let server = wanted("redis").then(RedisServer::spawn);
    let dir: PathBuf = std::env::temp_dir().join(format!("ats-users-{}", std::process::id()));
    let file = || {
        FileStore::builder(&dir)
            .fsync(false)
            .build()
            .expect("file store")
    };
    let redis = |server: &RedisServer| {
        let pool = deadpool_redis::Config::from_url(format!("{}/0", server.url))
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("redis pool");
        RedisStore::new(pool)
    };

    let medians = Medians::default();
    if wanted("memory") {
        per_request(&mut c, &sys, &medians, "memory", MemoryStore::default());
    }
    if wanted("file") {
        per_request(&mut c, &sys, &medians, "file", file());
    }
    if let Some(server) = &server {
        per_request(&mut c, &sys, &medians, "redis", redis(server));
    }
    if wanted("cookie") {
        let sealed = || CookieStore::encrypted([0x42; 32]);
        per_request(
            &mut c,
            &sys,
            &medians,
            "cookie",
            sealed().build().expect("cookie store"),
        );
        let revocable = sealed()
            .revocations(MemoryStore::default())
            .build()
            .expect("cookie store");
        per_request(&mut c, &sys, &medians, "cookie-revocations", revocable);
    }
    c.final_summary();

    // Criterion's test mode (every case once): under `cargo test`, which passes no `--bench`,
    // or with `--test`; the scale cases then stop at 100 sessions.
    let has = |flag: &str| std::env::args().any(|a| a == flag);
    let test_mode = !has("--bench") || has("--test");
    let scale = std::env::var("ATS_USERS_SCALE").map_or(true, |v| v != "0");
    let mut rows = Vec::new();
    if scale && !std::env::args().any(|a| a == "--list") {
        let sizes: &[usize] = if test_mode { &[1, 100] } else { &SCALE };
        if wanted("memory") {
            let big = MemoryStore::builder().max_sessions(50_000).build();
            rows.extend(scale_cases(&sys, "memory", big, sizes));
        }
        if wanted("file") {
            rows.extend(scale_cases(&sys, "file", file(), sizes));
        }
        if let Some(server) = &server {
            rows.extend(scale_cases(&sys, "redis", redis(server), sizes));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    print_tables(&medians.borrow(), &rows);
    // The stall table: not in test mode (it fills 60 000 sessions per store).
    let stall = std::env::var("ATS_USERS_STALL").map_or(true, |v| v != "0");
    if stall && !test_mode && !has("--list") {
        stall_cases(&sys, server.as_ref(), &wanted, &dir);
    }
}

/// Sessions of one user for the stall table.
const STALL: [usize; 2] = [10_000, 50_000];

/// What one user's many sessions cost everyone else: while they are listed, then revoked,
/// another client works on a thread of its own (another app server): on Redis it sends `PING`
/// after `PING` on a connection of its own (Redis runs one script at a time, so the worst
/// `PING` is about the store's longest script); on SQLite, PostgreSQL and the file store it
/// saves a session of its own in a loop, through a store of its own on the same database or
/// directory. The table gives the worst and the 99.9th percentile of those round trips.
fn stall_cases(
    sys: &SystemRunner,
    redis_server: Option<&RedisServer>,
    wanted: &dyn Fn(&str) -> bool,
    dir: &std::path::Path,
) {
    println!("\n## One user's sessions listed and revoked: what another client waits meanwhile\n");
    println!("| store | sessions | operation | its time | other client's round trips | worst | p99.9 | Redis commands over 2 ms |");
    println!("|---|---|---|---|---|---|---|---|");
    if let Some(server) = redis_server {
        let addr = server.addr();
        let store = RedisStore::new(RedisStore::pool(&server.url).expect("redis pool"));
        stall_store(sys, "redis", store, Some(server), move |stop| {
            pinger(addr.clone(), stop)
        });
    }
    if wanted("sqlite") {
        let url = format!("sqlite://{}", dir.join("stall.db").display());
        std::fs::create_dir_all(dir).expect("bench dir");
        let store = sys.block_on(async {
            let store = SqliteStore::from_url(&url).expect("sqlite store");
            store.migrate().await.expect("migrate");
            store
        });
        stall_store(sys, "sqlite", store, None, move |stop| {
            let url = url.clone();
            writer(
                move || SqliteStore::from_url(&url).expect("sqlite store"),
                stop,
            )
        });
    }
    if wanted("postgres") {
        let server = pg::PgServer::spawn(false);
        let (store, table) = sys.block_on(async {
            let table = server.fresh_table().await;
            let store = PostgresStore::builder(
                PostgresStore::from_url(&server.url).unwrap().pool().clone(),
            )
            .table(&table)
            .timeout(Duration::from_secs(30))
            .without_cleanup()
            .build()
            .expect("postgres store");
            store.migrate().await.expect("migrate");
            (store, table)
        });
        let url = server.url.clone();
        stall_store(sys, "postgres", store, None, move |stop| {
            let (url, table) = (url.clone(), table.clone());
            writer(
                move || {
                    let pool = PostgresStore::from_url(&url).unwrap().pool().clone();
                    PostgresStore::builder(pool)
                        .table(&table)
                        .without_cleanup()
                        .build()
                        .expect("postgres store")
                },
                stop,
            )
        });
    }
    if wanted("file") {
        let files = dir.join("stall-files");
        let make = move || {
            FileStore::builder(&files)
                .fsync(false)
                .build()
                .expect("file store")
        };
        let store = make.clone()();
        stall_store(sys, "file", store, None, move |stop| {
            writer(make.clone(), stop)
        });
    }
}

/// The stall rows of one store: for each size, fill, then list and revoke while `other` runs.
fn stall_store<S: SessionStore + Clone>(
    sys: &SystemRunner,
    name: &str,
    store: S,
    redis: Option<&RedisServer>,
    other: impl Fn(Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Duration>>,
) {
    // Redis's own count of commands (a script counts as one) that ran over 2 ms: what held
    // every other client, free of this machine's scheduling noise in the PING times.
    let slow = |reset: bool| {
        let server = redis?;
        if reset {
            server
                .command("CONFIG SET slowlog-log-slower-than 2000")
                .ok()?;
            server.command("SLOWLOG RESET").ok()?;
            return None;
        }
        let reply = server.command("SLOWLOG LEN").ok()?;
        reply.trim().trim_start_matches(':').parse::<u64>().ok()
    };
    let sessions = SessionMiddleware::new(store.clone()).sessions();
    for &n in &STALL {
        sys.block_on(fill_concurrently(&store, n));
        for op in ["of_user", "revoke_all"] {
            let stop = Arc::new(AtomicBool::new(false));
            let client = other(stop.clone());
            // Let the other client connect and run before the operation starts.
            std::thread::sleep(Duration::from_millis(300));
            slow(true);
            let start = Instant::now();
            sys.block_on(async {
                if op == "of_user" {
                    let listed = sessions.of_user(USER).await.expect("of_user");
                    assert_eq!(listed.len(), n, "{name}: every session listed");
                } else {
                    let ended = sessions.revoke_all(USER).await.expect("revoke_all");
                    assert_eq!(ended, n, "{name}: every session ended");
                }
            });
            let took = start.elapsed();
            stop.store(true, Ordering::Relaxed);
            let mut times = client.join().expect("other client");
            times.sort();
            let worst = times.last().copied().unwrap_or_default();
            let p999 = times
                .get(times.len().saturating_sub(1) * 999 / 1000)
                .copied()
                .unwrap_or_default();
            let slow = slow(false).map_or("-".to_owned(), |n| n.to_string());
            println!(
                "| {name} | {n} | {op} | {took:.1?} | {} | {worst:.2?} | {p999:.2?} | {slow} |",
                times.len()
            );
        }
    }
}

/// Another Redis client: `PING` after `PING` until `stop`; the round trips.
fn pinger(addr: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Duration>> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut conn = std::net::TcpStream::connect(addr).expect("ping connection");
        conn.set_nodelay(true).expect("nodelay");
        let mut times = Vec::new();
        let mut reply = [0u8; 7];
        while !stop.load(Ordering::Relaxed) {
            let start = Instant::now();
            conn.write_all(b"PING\r\n").expect("ping");
            conn.read_exact(&mut reply).expect("pong");
            times.push(start.elapsed());
        }
        times
    })
}

/// Another app server: a store of its own (`make`, called on its own thread and runtime) that
/// saves one session of its own again and again until `stop`; the save times.
fn writer<S: SessionStore>(
    make: impl FnOnce() -> S + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Duration>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let store = make();
            let id = SessionId::generate();
            let now = SystemClock.now();
            let meta = Meta::new(now, now + 3600);
            let first = Changes::full([("n".to_owned(), Bytes::from_static(b"0"))]);
            store.save(&id, &meta, &first).await.expect("save");
            let update = Changes {
                set: vec![("n".to_owned(), Bytes::from_static(b"1"))],
                ..Changes::default()
            };
            let mut times = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                store.save(&id, &meta, &update).await.expect("save");
                times.push(start.elapsed());
            }
            times
        })
    })
}

/// Saves `n` sessions of [`USER`], 64 at a time.
async fn fill_concurrently<S: SessionStore>(store: &S, n: usize) {
    use futures_util::stream::{self, StreamExt};
    let now = SystemClock.now();
    stream::iter(0..n)
        .for_each_concurrent(64, |_| async move {
            let meta = Meta::new(now, now + 3600).with_user(Some(SessionUser::new(USER)));
            let changes = Changes::full([("device".to_owned(), Bytes::from_static(b"\"bench\""))]);
            store
                .save(&SessionId::generate(), &meta, &changes)
                .await
                .expect("save");
        })
        .await;
}

/// The criterion cases of one store: untied and tied `read` / `write`.
fn per_request<S: IntoBackend + Clone>(
    c: &mut Criterion,
    sys: &SystemRunner,
    medians: &Medians,
    store_name: &str,
    store: S,
) {
    let app = sys.block_on(test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store))
            .configure(handlers::ours::routes),
    ));
    let cookie = |path: &str| {
        sys.block_on(async {
            let req = test::TestRequest::get().uri(path).to_request();
            let res = test::call_service(&app, req).await;
            let cookie = res
                .headers()
                .get(SET_COOKIE)
                .expect("a first write sets the cookie")
                .to_str()
                .unwrap();
            cookie.split(';').next().unwrap().to_owned()
        })
    };
    let (plain, tied) = (cookie("/write"), cookie("/tie"));
    let mut group = c.benchmark_group(format!("users/{store_name}"));
    for (workload, path, is_tied) in WORKLOADS {
        let cookie = if is_tied { &tied } else { &plain };
        group.bench_function(workload, |b| {
            b.iter_custom(|iters| {
                let elapsed = sys.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let req = test::TestRequest::get()
                            .uri(path)
                            .insert_header((COOKIE, cookie.as_str()))
                            .to_request();
                        let res = test::call_service(&app, req).await;
                        assert!(res.status().is_success(), "{store_name} {workload}");
                        std::hint::black_box(test::read_body(res).await);
                    }
                    start.elapsed()
                });
                let per = elapsed.as_nanos() as f64 / iters.max(1) as f64;
                medians
                    .borrow_mut()
                    .entry((store_name.to_owned(), workload.to_owned()))
                    .or_default()
                    .push(per);
                elapsed
            });
        });
    }
    group.finish();
}

/// One row of the scale table.
struct ScaleRow {
    store: String,
    sessions: usize,
    of_user: Duration,
    revoke_all: Duration,
}

/// Saves `n` sessions of [`USER`] into `store`.
async fn fill<S: SessionStore>(store: &S, n: usize) {
    let now = SystemClock.now();
    for _ in 0..n {
        let meta = Meta::new(now, now + 3600).with_user(Some(SessionUser::new(USER)));
        let changes = Changes::full([("device".to_owned(), Bytes::from_static(b"\"bench\""))]);
        store
            .save(&SessionId::generate(), &meta, &changes)
            .await
            .expect("save");
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// `of_user` and `revoke_all` of one user with each of `sizes` sessions.
fn scale_cases<S: SessionStore + Clone>(
    sys: &SystemRunner,
    store_name: &str,
    store: S,
    sizes: &[usize],
) -> Vec<ScaleRow> {
    let sessions = SessionMiddleware::new(store.clone()).sessions();
    let mut rows = Vec::new();
    for &n in sizes {
        let row = sys.block_on(async {
            let listings = if n >= 10_000 { 5 } else { 21 };
            let mut of_user = Vec::new();
            let mut revoke_all = Vec::new();
            for round in 0..3 {
                fill(&store, n).await;
                if round == 0 {
                    for _ in 0..listings {
                        let start = Instant::now();
                        let listed = sessions.of_user(USER).await.expect("of_user");
                        of_user.push(start.elapsed());
                        assert_eq!(listed.len(), n, "{store_name}: every session listed");
                    }
                }
                let start = Instant::now();
                let ended = sessions.revoke_all(USER).await.expect("revoke_all");
                revoke_all.push(start.elapsed());
                assert_eq!(ended, n, "{store_name}: every session ended");
                assert!(sessions.of_user(USER).await.expect("of_user").is_empty());
            }
            ScaleRow {
                store: store_name.to_owned(),
                sessions: n,
                of_user: median(of_user),
                revoke_all: median(revoke_all),
            }
        });
        eprintln!(
            "scale {store_name} n={n}: of_user {:?}, revoke_all {:?}",
            row.of_user, row.revoke_all
        );
        rows.push(row);
    }
    rows
}

fn print_tables(samples: &BTreeMap<(String, String), Vec<f64>>, rows: &[ScaleRow]) {
    println!("\n## Per request: a session tied to a user vs one that is not (median ns over criterion's samples, one run)\n");
    println!("| store | read | tied-read | ratio | write | tied-write | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for store in ["memory", "file", "redis", "cookie", "cookie-revocations"] {
        let get = |w: &str| {
            let mut v = samples.get(&(store.to_owned(), w.to_owned()))?.clone();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        let cell = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:.2}×", b / a),
            _ => "-".to_owned(),
        };
        let (r, tr, w, tw) = (
            get("read"),
            get("tied-read"),
            get("write"),
            get("tied-write"),
        );
        println!(
            "| {store} | {} | {} | {} | {} | {} | {} |",
            cell(r),
            cell(tr),
            ratio(r, tr),
            cell(w),
            cell(tw),
            ratio(w, tw)
        );
    }
    if rows.is_empty() {
        return;
    }
    println!("\n## Scale: one user's sessions (median wall time)\n");
    println!("| store | sessions | of_user | revoke_all |");
    println!("|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {:?} | {:?} |",
            row.store, row.sessions, row.of_user, row.revoke_all
        );
    }
}
