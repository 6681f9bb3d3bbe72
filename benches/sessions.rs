//! What a session layer costs per request, against bare actix-web and actix-session 0.11, in one
//! run and one process.
//!
//! ```text
//! cargo bench --bench sessions
//! ```
//!
//! Every measurement drives a real `actix_web::test::init_service` app: each request is built,
//! sent with `test::call_service` and its body read to the end, on one actix (tokio
//! current-thread) runtime. Every contender serves the same routes with the same handler logic:
//!
//! | workload    | request                     | handler                                         |
//! |-------------|-----------------------------|-------------------------------------------------|
//! | `untouched` | valid session cookie        | ignores the session                             |
//! | `read`      | valid session cookie        | reads the counter `{"n": u64}` under `counter`  |
//! | `write`     | valid session cookie        | increments it                                   |
//! | `typed`     | valid session cookie        | increments it through a `#[derive(Session)]`    |
//! | `new`       | no cookie                   | increments it (a new session, written once)     |
//!
//! Contenders: bare actix-web (no session middleware; its handlers do the same work without a
//! session), actix-session with its cookie store (private: encrypted) and its Redis store, and
//! actix-typed-session with MemoryStore, CookieStore (encrypted), FileStore (fsync off) and
//! RedisStore. Both Redis stores
//! talk to one private `redis-server` spawned on a free port for this run (never the machine's).
//!
//! After the criterion groups the bench prints a Markdown table: for each cell, the median over
//! criterion's measurement samples of (sample time / requests in the sample), as recorded by this
//! bench's own timing loop (`iter_custom`), then ratios against bare actix-web and against the
//! matching actix-session store, the targets of issue 6, and Redis round trips per request counted
//! with `MONITOR` after the timed part.
//!
//! Adding a contender is one call in `main` (see `bench_ours`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_http::Request;
use actix_typed_session::store::{deadpool_redis, CookieStore, FileStore, MemoryStore, RedisStore};
use actix_typed_session::{SessionError, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{COOKIE, SET_COOKIE};
use actix_web::rt::SystemRunner;
use actix_web::{test, web, App};
use criterion::Criterion;
use serde::{Deserialize, Serialize};

#[path = "../tests/support/redis.rs"]
mod redis_support;

use redis_support::RedisServer;

/// Criterion settings: modest, so that a full run stays within a few minutes on 2 cores.
const SAMPLES: usize = 30;
const WARM_UP: Duration = Duration::from_millis(700);
const MEASUREMENT: Duration = Duration::from_secs(3);

const WORKLOADS: [&str; 5] = ["untouched", "read", "write", "typed", "new"];

// ---------------------------------------------------------------------------------------------
// Handlers: the same logic for every contender.

/// The session key every contender's counter lives under.
const KEY: &str = "counter";

/// The counter as the untyped handlers store it: the same value, under the same key, as the
/// typed `ours::Counter`, so `typed` and `write` differ only by the typed machinery.
#[derive(Serialize, Deserialize, Default)]
struct Count {
    n: u64,
}

mod bare {
    pub async fn untouched() -> &'static str {
        "ok"
    }
    pub async fn read() -> String {
        1u64.to_string()
    }
    pub async fn write() -> String {
        (1u64 + 1).to_string()
    }
}

mod ours {
    use super::*;
    use actix_typed_session::Session;

    pub async fn untouched() -> &'static str {
        "ok"
    }
    pub async fn read(session: Session) -> Result<String, SessionError> {
        let count: Count = session.get(KEY)?.unwrap_or_default();
        Ok(count.n.to_string())
    }
    pub async fn write(session: Session) -> Result<String, SessionError> {
        let mut count: Count = session.get(KEY)?.unwrap_or_default();
        count.n += 1;
        session.set(KEY, &count)?;
        Ok(count.n.to_string())
    }

    /// The typed twin of `write`.
    #[derive(actix_typed_session::Session, Serialize, Deserialize, Default)]
    #[session(key = "counter")]
    pub struct Counter {
        n: u64,
    }

    pub async fn typed(mut counter: Counter) -> String {
        counter.n += 1;
        counter.n.to_string()
    }
}

mod theirs {
    use super::{Count, KEY};
    use actix_session::Session;
    use actix_web::error::ErrorInternalServerError;

    pub async fn untouched() -> &'static str {
        "ok"
    }
    pub async fn read(session: Session) -> actix_web::Result<String> {
        let count: Count = session
            .get(KEY)
            .map_err(ErrorInternalServerError)?
            .unwrap_or_default();
        Ok(count.n.to_string())
    }
    pub async fn write(session: Session) -> actix_web::Result<String> {
        let mut count: Count = session
            .get(KEY)
            .map_err(ErrorInternalServerError)?
            .unwrap_or_default();
        count.n += 1;
        session
            .insert(KEY, &count)
            .map_err(ErrorInternalServerError)?;
        Ok(count.n.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Recording: what the timing loop saw, for the summary table.

#[derive(Default)]
struct Recorder {
    /// (contender, workload) -> ns per request of each call of the timing loop.
    samples: RefCell<BTreeMap<(String, String), Vec<f64>>>,
    /// Contenders in the order they ran.
    order: RefCell<Vec<String>>,
}

impl Recorder {
    fn record(&self, contender: &str, workload: &str, iters: u64, elapsed: Duration) {
        if iters == 0 {
            return;
        }
        self.samples
            .borrow_mut()
            .entry((contender.to_owned(), workload.to_owned()))
            .or_default()
            .push(elapsed.as_nanos() as f64 / iters as f64);
    }

    /// Median ns/request over the measurement samples: criterion calls the loop during its
    /// warm-up first, then exactly once per sample, so the last `SAMPLES` calls are the samples.
    fn median(&self, contender: &str, workload: &str) -> Option<f64> {
        let samples = self.samples.borrow();
        let all = samples.get(&(contender.to_owned(), workload.to_owned()))?;
        let mut last: Vec<f64> = all[all.len().saturating_sub(SAMPLES)..].to_vec();
        last.sort_by(f64::total_cmp);
        let n = last.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(last[n / 2]),
            _ => Some((last[n / 2 - 1] + last[n / 2]) / 2.0),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driving one app.

fn request(path: &str, cookie: Option<&str>) -> Request {
    let mut req = test::TestRequest::get().uri(path);
    if let Some(cookie) = cookie {
        req = req.insert_header((COOKIE, cookie.to_owned()));
    }
    req.to_request()
}

/// `name=value` of the first `Set-Cookie` of a response.
fn set_cookie<B>(res: &ServiceResponse<B>) -> Option<String> {
    let header = res.headers().get(SET_COOKIE)?.to_str().ok()?;
    Some(header.split(';').next()?.trim().to_owned())
}

/// One request, answered 200 (checked before timing, so a broken contender fails loudly).
async fn check<S, B>(app: &S, path: &str, cookie: Option<&str>) -> ServiceResponse<B>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(app, request(path, cookie)).await;
    assert!(
        res.status().is_success(),
        "{path}: status {} (cookie {cookie:?})",
        res.status()
    );
    res
}

/// Benches every workload `app` serves. `session` says whether it is a session layer (it gets
/// a cookie from a first write, and its answers are checked; bare actix-web gets a cookie of the
/// same shape that nothing reads); `before_sample` runs outside the
/// timed loop before each sample of the `new` workload (to keep a file store's directory small).
#[allow(clippy::too_many_arguments)]
fn run_contender<S, B>(
    c: &mut Criterion,
    sys: &SystemRunner,
    rec: &Recorder,
    contender: &str,
    app: &S,
    session: bool,
    typed: bool,
    before_sample: &dyn Fn(),
) where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    rec.order.borrow_mut().push(contender.to_owned());
    let cookie = sys.block_on(async {
        let res = check(app, "/write", None).await;
        let cookie = set_cookie(&res);
        if session {
            let cookie = cookie.expect("a first write sets the session cookie");
            // Sanity: the cookie is accepted (the counter goes on) and `untouched` costs no cookie.
            let res = check(app, "/write", Some(&cookie)).await;
            assert_eq!(test::read_body(res).await, "2", "{contender}: session kept");
            let res = check(app, "/untouched", Some(&cookie)).await;
            if contender.starts_with("ours") {
                assert!(
                    set_cookie(&res).is_none(),
                    "{contender}: untouched sends nothing"
                );
            }
            Some(cookie)
        } else {
            // Bare actix-web gets a cookie of the same shape as ours, so that every contender's
            // requests cost the harness the same to build.
            Some(format!("id={}", "A".repeat(32)))
        }
    });
    let mut group = c.benchmark_group(contender);
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT);
    for workload in WORKLOADS {
        if workload == "typed" && !typed {
            continue;
        }
        let (path, cookie) = match workload {
            "new" => ("/write", None),
            other => (other, cookie.as_deref()),
        };
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        group.bench_function(workload, |b| {
            b.iter_custom(|iters| {
                if workload == "new" {
                    before_sample();
                }
                let elapsed = sys.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let res = test::call_service(app, request(&path, cookie)).await;
                        black_box(test::read_body(res).await);
                    }
                    start.elapsed()
                });
                rec.record(contender, workload, iters, elapsed);
                elapsed
            });
        });
    }
    group.finish();
}

fn bench_bare(c: &mut Criterion, sys: &SystemRunner, rec: &Recorder) {
    let app = sys.block_on(test::init_service(
        App::new()
            .route("/untouched", web::get().to(bare::untouched))
            .route("/read", web::get().to(bare::read))
            .route("/write", web::get().to(bare::write)),
    ));
    run_contender(c, sys, rec, "bare", &app, false, false, &|| {});
}

/// One row of actix-typed-session: the middleware `mw` (any store) on the shared routes.
fn bench_ours(
    c: &mut Criterion,
    sys: &SystemRunner,
    rec: &Recorder,
    contender: &str,
    mw: SessionMiddleware,
    before_sample: &dyn Fn(),
) {
    let app = sys.block_on(test::init_service(
        App::new()
            .wrap(mw)
            .route("/untouched", web::get().to(ours::untouched))
            .route("/read", web::get().to(ours::read))
            .route("/write", web::get().to(ours::write))
            .route("/typed", web::get().to(ours::typed)),
    ));
    run_contender(c, sys, rec, contender, &app, true, true, before_sample);
}

/// One row of actix-session 0.11 with `store`, private (encrypted) cookie.
fn bench_theirs<St: actix_session::storage::SessionStore + 'static>(
    c: &mut Criterion,
    sys: &SystemRunner,
    rec: &Recorder,
    contender: &str,
    store: St,
) {
    let key = actix_web::cookie::Key::from(&[7u8; 64]);
    let mw = actix_session::SessionMiddleware::builder(store, key)
        .cookie_content_security(actix_session::config::CookieContentSecurity::Private)
        .build();
    let app = sys.block_on(test::init_service(
        App::new()
            .wrap(mw)
            .route("/untouched", web::get().to(theirs::untouched))
            .route("/read", web::get().to(theirs::read))
            .route("/write", web::get().to(theirs::write)),
    ));
    run_contender(c, sys, rec, contender, &app, true, false, &|| {});
}

fn redis_pool(url: &str) -> deadpool_redis::Pool {
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("redis pool")
}

/// Redis round trips per request, counted with `MONITOR` after the timed part (commands run
/// inside a script are not round trips): (contender, workload) -> round trips per request.
fn count_round_trips(
    sys: &SystemRunner,
    server: &RedisServer,
    ours_url: &str,
    theirs_url: &str,
) -> Vec<(String, Vec<(&'static str, f64)>)> {
    const N: usize = 20;
    let monitor = server.monitor();
    let mut rows = Vec::new();
    sys.block_on(async {
        let ours_app = test::init_service(
            App::new()
                .wrap(SessionMiddleware::new(RedisStore::new(redis_pool(
                    ours_url,
                ))))
                .route("/untouched", web::get().to(ours::untouched))
                .route("/read", web::get().to(ours::read))
                .route("/write", web::get().to(ours::write))
                .route("/typed", web::get().to(ours::typed)),
        )
        .await;
        let store = actix_session::storage::RedisSessionStore::new(theirs_url)
            .await
            .expect("actix-session redis store");
        let key = actix_web::cookie::Key::from(&[7u8; 64]);
        let theirs_app = test::init_service(
            App::new()
                .wrap(actix_session::SessionMiddleware::new(store, key))
                .route("/untouched", web::get().to(theirs::untouched))
                .route("/read", web::get().to(theirs::read))
                .route("/write", web::get().to(theirs::write)),
        )
        .await;

        macro_rules! count {
            ($name:expr, $app:expr, $workloads:expr) => {{
                let cookie = set_cookie(&check(&$app, "/write", None).await).unwrap();
                // Warm every route once (connection handshakes are not per-request cost).
                for w in $workloads.into_iter().filter(|w| *w != "new") {
                    check(&$app, &format!("/{w}"), Some(&cookie)).await;
                }
                let mut counts = Vec::new();
                for w in $workloads {
                    monitor.reset();
                    for _ in 0..N {
                        let (path, cookie) = match w {
                            "new" => ("/write".to_owned(), None),
                            w => (format!("/{w}"), Some(cookie.as_str())),
                        };
                        let res = check(&$app, &path, cookie).await;
                        test::read_body(res).await;
                    }
                    counts.push((w, monitor.take().len() as f64 / N as f64));
                }
                rows.push(($name.to_owned(), counts));
            }};
        }
        count!(
            "actix-session/redis",
            theirs_app,
            ["untouched", "read", "write", "new"]
        );
        count!(
            "ours/redis",
            ours_app,
            ["untouched", "read", "write", "typed", "new"]
        );
    });
    rows
}

// ---------------------------------------------------------------------------------------------
// The summary.

/// The actix-session store a row of ours is compared with.
fn matching_theirs(contender: &str) -> Option<&'static str> {
    match contender {
        "ours/redis" => Some("actix-session/redis"),
        "ours/cookie" => Some("actix-session/cookie"),
        _ => None,
    }
}

fn print_summary(rec: &Recorder, round_trips: &[(String, Vec<(&'static str, f64)>)]) {
    let order = rec.order.borrow().clone();
    let cell = |c: &str, w: &str| rec.median(c, w);
    let bare = |w: &str| cell("bare", if w == "typed" { "write" } else { w });
    let header = || {
        let mut line = String::from("| contender |");
        let mut rule = String::from("|---|");
        for w in WORKLOADS {
            line.push_str(&format!(" {w} |"));
            rule.push_str("---:|");
        }
        println!("{line}\n{rule}");
    };
    let row = |name: &str, f: &dyn Fn(&str) -> Option<String>| {
        let mut line = format!("| {name} |");
        for w in WORKLOADS {
            line.push_str(&format!(" {} |", f(w).unwrap_or_else(|| "—".into())));
        }
        println!("{line}");
    };

    println!("\n## Session layers: ns per request (median of {SAMPLES} criterion samples)\n");
    header();
    for c in &order {
        row(c, &|w| cell(c, w).map(|ns| format!("{ns:.0}")));
    }

    println!("\n## Ratio to bare actix-web (same workload; `typed` against bare `write`)\n");
    header();
    for c in order.iter().filter(|c| *c != "bare") {
        row(c, &|w| Some(format!("{:.2}×", cell(c, w)? / bare(w)?)));
    }

    println!("\n## Ratio to the matching actix-session store (`typed` against its `write`)\n");
    header();
    for c in &order {
        let Some(theirs) = matching_theirs(c) else {
            continue;
        };
        row(&format!("{c} / {theirs}"), &|w| {
            let theirs_w = if w == "typed" { "write" } else { w };
            Some(format!("{:.2}×", cell(c, w)? / cell(theirs, theirs_w)?))
        });
    }

    println!("\n## Targets of issue 6\n");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    for c in order.iter().filter(|c| c.starts_with("ours")) {
        if let (Some(ours), Some(b)) = (cell(c, "untouched"), bare("untouched")) {
            let r = ours / b;
            println!(
                "- untouched ≤ 1.10× bare, {c}: {r:.3}× → {}",
                verdict(r <= 1.10)
            );
        }
    }
    if let (Some(ours), Some(b)) = (cell("ours/memory", "write"), bare("write")) {
        let r = ours / b;
        println!(
            "- memory write ≤ 1.5× bare: {r:.3}× → {}",
            verdict(r <= 1.5)
        );
    }
    match (
        cell("ours/cookie", "write"),
        cell("actix-session/cookie", "write"),
    ) {
        (Some(ours), Some(theirs)) => {
            let r = ours / theirs;
            println!(
                "- cookie store write ≤ 0.5× actix-session cookie: {r:.3}× → {}",
                verdict(r <= 0.5)
            );
        }
        _ => println!(
            "- cookie store write ≤ 0.5× actix-session cookie: not measured (no ours/cookie row)"
        ),
    }
    for c in order.iter().filter(|c| c.starts_with("ours")) {
        if let (Some(t), Some(u)) = (cell(c, "typed"), cell(c, "write")) {
            let r = t / u;
            println!(
                "- typed write within 10% of write, {c}: {r:.3}× → {}",
                verdict((r - 1.0).abs() <= 0.10)
            );
        }
    }

    if !round_trips.is_empty() {
        println!("\n## Redis round trips per request (MONITOR, after the timed part)\n");
        header();
        for (c, counts) in round_trips {
            row(c, &|w| {
                counts
                    .iter()
                    .find(|(cw, _)| *cw == w)
                    .map(|(_, n)| format!("{n:.2}"))
            });
        }
    }
    println!();
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let sys = actix_web::rt::System::new();
    let rec = Recorder::default();

    bench_bare(&mut c, &sys, &rec);
    bench_theirs(
        &mut c,
        &sys,
        &rec,
        "actix-session/cookie",
        actix_session::storage::CookieSessionStore::default(),
    );
    bench_ours(
        &mut c,
        &sys,
        &rec,
        "ours/memory",
        SessionMiddleware::new(MemoryStore::default()),
        &|| {},
    );
    // Encrypted (AES-256-GCM), like actix-session's private cookie it is compared with.
    bench_ours(
        &mut c,
        &sys,
        &rec,
        "ours/cookie",
        SessionMiddleware::new(
            CookieStore::encrypted([7u8; 64])
                .build()
                .expect("cookie store"),
        ),
        &|| {},
    );

    let server = RedisServer::spawn();
    let ours_url = format!("{}/0", server.url);
    let theirs_url = format!("{}/1", server.url);
    let theirs_redis = sys
        .block_on(actix_session::storage::RedisSessionStore::new(
            theirs_url.clone(),
        ))
        .expect("actix-session redis store");
    bench_theirs(&mut c, &sys, &rec, "actix-session/redis", theirs_redis);
    bench_ours(
        &mut c,
        &sys,
        &rec,
        "ours/redis",
        SessionMiddleware::new(RedisStore::new(redis_pool(&ours_url))),
        &|| {},
    );

    // FileStore last: the kernel writes its files back in the background some 30 s later, which
    // must not land on another contender's measurement. A private temp dir, fsync off (the
    // default is on): this measures the session layer and the page cache, not the disk. The
    // store makes the directory itself (mode 0700: it refuses one that others can write).
    let dir: PathBuf = std::env::temp_dir().join(format!("ats-bench-{}", std::process::id()));
    let file_store = FileStore::builder(&dir)
        .fsync(false)
        .build()
        .expect("file store");
    let dir_for_reset = dir.clone();
    let cookie_files = Rc::new(RefCell::new(None::<Vec<PathBuf>>));
    let clear_new_sessions = move || {
        // Keep the sessions that existed before the first `new` sample (the cookie's), drop
        // those that `new` created, so the directory does not grow by one file per request.
        let list = || -> Vec<PathBuf> {
            std::fs::read_dir(&dir_for_reset)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default()
        };
        let mut keep = cookie_files.borrow_mut();
        let keep = keep.get_or_insert_with(list);
        for path in list() {
            if !keep.contains(&path) {
                let _ = std::fs::remove_file(path);
            }
        }
    };
    bench_ours(
        &mut c,
        &sys,
        &rec,
        "ours/file",
        SessionMiddleware::new(file_store),
        &clear_new_sessions,
    );

    c.final_summary();
    let round_trips = count_round_trips(&sys, &server, &ours_url, &theirs_url);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    print_summary(&rec, &round_trips);
}
