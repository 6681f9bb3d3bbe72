//! What a session layer costs per request, against bare actix-web and actix-session 0.11, in one
//! run and one process; and how that cost grows with the session's size and the store's
//! population (issue 11).
//!
//! # How to measure
//!
//! ```text
//! cargo bench --bench sessions                   # criterion, in-process; ~5 min; prints the tables
//! ATS_BENCH_1M=0 cargo bench --bench sessions    # the same without the 1 M live-session case (-30 s)
//! cargo bench --bench sessions -- 'keys|live'    # a criterion filter (regex on the bench id)
//! benches/wrk.sh                                 # end to end over real HTTP with wrk
//! benches/callgrind.sh                           # instructions per request (stable under load)
//! ```
//!
//! Wall-clock numbers on a shared 2-core machine move by tens of percent from run to run: read
//! the ratios inside one run, and use `benches/callgrind.sh` for before/after comparisons.
//!
//! # What runs
//!
//! Every measurement drives a real `actix_web::test::init_service` app: each request is built,
//! sent with `test::call_service` and its body read to the end, on one actix (tokio
//! current-thread) runtime. Every contender serves the same routes with the same handler logic
//! (`support/src/handlers.rs`, shared with the wrk server and the callgrind driver):
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
//! Two more families of cases (issue 11):
//!
//! - **`keys/<contender>/<read|write>/<N>`**: a session of N = 1, 30, 100, 1000 keys (the
//!   counter plus N − 1 small `{"n": i}` values, set by one `/fill/N` request), then `read` or
//!   `write` of the one counter key. On `ours/memory` and `ours/redis` for every N, and on
//!   `actix-session/redis` for N = 1 and 1000 (it keeps the same N keys as one serialized map).
//! - **`live/ours/memory/write/<L>`**: a MemoryStore holding L = 1 k, 100 k and 1 M (unless
//!   `ATS_BENCH_1M=0`) one-key sessions, made by L new-visitor requests through the app;
//!   then increments of 10 000 of them spread over the store, in turn. Criterion gives the mean;
//!   a separate loop of 100 000 increments times each request for p50/p99/p99.9/max and counts
//!   those of 1 ms or more (pauses; a descheduled process too, on a loaded machine); and a child
//!   process (this binary again, with `ATS_BENCH_RSS_CHILD=L`, so that no earlier case's freed
//!   memory is reused) reads `VmRSS` before and after filling its own store of L sessions. The
//!   store is built with `max_sessions` = 1.25 × L + 1024, so nothing is evicted; the store's
//!   preallocated table is part of what RSS counts.
//!
//! These setups (filling the stores) run only for cases the criterion filter selects. Under
//! `cargo test --benches` (criterion's test mode: every case once) the live cases shrink 100×.
//!
//! After the criterion groups the bench prints Markdown tables: for each cell, the median over
//! criterion's measurement samples of (sample time / requests in the sample), as recorded by this
//! bench's own timing loop (`iter_custom`), then ratios against bare actix-web and against the
//! matching actix-session store, the targets of issue 6, the size and live-session cases, Redis
//! round trips per request counted with `MONITOR` after the timed part, and last every row of
//! issue 11's table: measured ratio beside its goal.
//!
//! Adding a contender is one call in `main` (see `bench_ours`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_http::Request;
use actix_typed_session::store::{
    deadpool_redis, CookieStore, FileStore, MemoryStore, ReadCache, RedisStore,
};
use actix_typed_session::SessionMiddleware;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{COOKIE, SET_COOKIE};
use actix_web::rt::SystemRunner;
use actix_web::{test, App};
use criterion::Criterion;

use support::handlers::{self, bare, ours, theirs, theirs_middleware};
use support::redis::RedisServer;
use support::samples;

/// Criterion settings: modest, so that a full run stays within a few minutes on 2 cores.
const SAMPLES: usize = 30;
const WARM_UP: Duration = Duration::from_millis(700);
const MEASUREMENT: Duration = Duration::from_secs(3);
/// Shorter for the many size cases (`keys/..`).
const KEYS_WARM_UP: Duration = Duration::from_millis(500);
const KEYS_MEASUREMENT: Duration = Duration::from_secs(2);

const WORKLOADS: [&str; 5] = ["untouched", "read", "write", "typed", "new"];

/// Session sizes of the `keys/..` cases, and the subset run on actix-session.
const KEY_COUNTS: [usize; 4] = [1, 30, 100, 1000];
const KEY_COUNTS_THEIRS: [usize; 2] = [1, 1000];
const KEY_WORKLOADS: [&str; 3] = ["read", "write", "typed"];

/// Live-session populations of the `live/..` cases: (sessions, label).
const LIVE: [(usize, &str); 3] = [(1_000, "1k"), (100_000, "100k"), (1_000_000, "1M")];
/// How many of the live sessions the increments rotate through (spread evenly over the store).
const LIVE_COOKIES: usize = 10_000;
/// Requests of the per-request timing loop (p99.9 is its 100th slowest).
const TAIL_REQUESTS: usize = 100_000;
/// Sessions made before the child's first RSS reading (runtime, allocator and store warmed).
const RSS_WARM_SESSIONS: usize = 1_000;

/// Set to `0` to skip the 1 M live-session case (about 30 s and 0.5 GB of the run).
const ENV_1M: &str = "ATS_BENCH_1M";
/// Set by this bench for its own child process: fill a store of this many sessions, print RSS.
const ENV_RSS_CHILD: &str = "ATS_BENCH_RSS_CHILD";

// ---------------------------------------------------------------------------------------------
// Which cases criterion will run: its filter, read from the same arguments it reads, so that the
// costly setups (filling stores) run only for selected cases.

struct Selection {
    /// Criterion's test mode (`cargo test --benches`, or `--test`): every case runs once.
    test: bool,
    /// `--list`: nothing runs.
    list: bool,
    filter: Filter,
}

enum Filter {
    All,
    Nothing,
    Exact(String),
    Regex(regex::Regex),
}

impl Selection {
    /// Mirrors `Criterion::configure_from_args`: the first positional argument is a regex
    /// (or, with `--exact`, the exact id); `--ignored` selects nothing; without `--bench`
    /// (i.e. under `cargo test`) or with `--test`, test mode.
    fn from_args() -> Self {
        const WITH_VALUE: &[&str] = &[
            "-c",
            "--color",
            "-s",
            "--save-baseline",
            "-b",
            "--baseline",
            "--baseline-lenient",
            "--format",
            "--profile-time",
            "--load-baseline",
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--plotting-backend",
            "--output-format",
        ];
        let (mut bench, mut test, mut list, mut exact, mut ignored) =
            (false, false, false, false, false);
        let mut positional = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => bench = true,
                "--test" => test = true,
                "--list" => list = true,
                "--exact" => exact = true,
                "--ignored" => ignored = true,
                a if WITH_VALUE.contains(&a) => {
                    args.next();
                }
                a if a.starts_with('-') => {}
                a => {
                    positional.get_or_insert_with(|| a.to_owned());
                }
            }
        }
        let filter = match positional {
            _ if ignored => Filter::Nothing,
            None => Filter::All,
            Some(f) if exact => Filter::Exact(f),
            Some(f) => Filter::Regex(regex::Regex::new(&f).expect("the filter is a regex")),
        };
        Selection {
            test: !bench || test,
            list,
            filter,
        }
    }

    /// Whether criterion will run the case `id` (`group/function`).
    fn runs(&self, id: &str) -> bool {
        !self.list
            && match &self.filter {
                Filter::All => true,
                Filter::Nothing => false,
                Filter::Exact(e) => e == id,
                Filter::Regex(r) => r.is_match(id),
            }
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
    /// Contenders of the `keys/..` cases, in the order they ran.
    keys_order: RefCell<Vec<String>>,
    /// The `live/..` cases that ran.
    live: RefCell<Vec<Live>>,
}

/// One live-session case: its population, per-request latencies and the child's RSS reading.
struct Live {
    label: &'static str,
    sessions: usize,
    tail: Tail,
    rss: Option<Rss>,
}

/// Per-request latencies of the timing loop.
struct Tail {
    requests: usize,
    mean: Duration,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
    /// Requests that took 1 ms or more: pauses (a sweep), or this process being descheduled.
    over_1ms: usize,
}

impl Tail {
    fn of(mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let n = latencies.len();
        let at = |q: f64| latencies[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
        Tail {
            requests: n,
            mean: latencies.iter().sum::<Duration>() / n as u32,
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: latencies[n - 1],
            over_1ms: latencies
                .iter()
                .filter(|d| **d >= Duration::from_millis(1))
                .count(),
        }
    }
}

/// The RSS child's reading: VmRSS before and after filling `sessions` sessions.
struct Rss {
    before_kib: u64,
    after_kib: u64,
    sessions: usize,
}

impl Rss {
    fn bytes_per_session(&self) -> f64 {
        (self.after_kib.saturating_sub(self.before_kib) * 1024) as f64 / self.sessions as f64
    }
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
        samples::median_of_last(all, SAMPLES)
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

/// The body of one checked request, as text.
async fn body_of<S, B>(app: &S, path: &str, cookie: Option<&str>) -> String
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = check(app, path, cookie).await;
    String::from_utf8(test::read_body(res).await.to_vec()).expect("a text body")
}

/// `iters` requests of `path`, the cookie of the `i`-th taken from `cookies` in turn from
/// `*next` on (so consecutive calls go on rotating), timed as a whole.
fn time_requests<S, B>(
    sys: &SystemRunner,
    app: &S,
    path: &str,
    cookies: &[Option<&str>],
    next: &Cell<usize>,
    iters: u64,
) -> Duration
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    sys.block_on(async {
        let mut i = next.get();
        let start = Instant::now();
        for _ in 0..iters {
            let cookie = cookies[i % cookies.len()];
            i = i.wrapping_add(1);
            let res = test::call_service(app, request(path, cookie)).await;
            black_box(test::read_body(res).await);
        }
        let elapsed = start.elapsed();
        next.set(i);
        elapsed
    })
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
            "new" => ("/write".to_owned(), None),
            other => (format!("/{other}"), cookie.as_deref()),
        };
        let next = Cell::new(0);
        group.bench_function(workload, |b| {
            b.iter_custom(|iters| {
                if workload == "new" {
                    before_sample();
                }
                let elapsed = time_requests(sys, app, &path, &[cookie], &next, iters);
                rec.record(contender, workload, iters, elapsed);
                elapsed
            });
        });
    }
    group.finish();
}

/// The `keys/<contender>/..` cases: for each N of `counts`, a session of N keys made by one
/// `/fill/N`, then `read` and `write` of its one counter key.
fn run_keys<S, B>(
    c: &mut Criterion,
    sys: &SystemRunner,
    rec: &Recorder,
    contender: &str,
    app: &S,
    counts: &[usize],
) where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let group_name = format!("keys/{contender}");
    rec.keys_order.borrow_mut().push(contender.to_owned());
    let cookies: Vec<(usize, String)> = sys.block_on(async {
        let mut cookies = Vec::new();
        for &n in counts {
            let res = check(app, &format!("/fill/{n}"), None).await;
            let cookie = set_cookie(&res).expect("a fill sets the session cookie");
            let keys = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
            assert_eq!(keys, n.to_string(), "{contender}: /fill/{n} made {n} keys");
            // The session comes back whole: the counter reads 0, and an increment keeps the rest.
            assert_eq!(body_of(app, "/read", Some(&cookie)).await, "0");
            assert_eq!(body_of(app, "/write", Some(&cookie)).await, "1");
            assert_eq!(body_of(app, "/read", Some(&cookie)).await, "1");
            cookies.push((n, cookie));
        }
        cookies
    });
    let mut group = c.benchmark_group(&group_name);
    group
        .sample_size(SAMPLES)
        .warm_up_time(KEYS_WARM_UP)
        .measurement_time(KEYS_MEASUREMENT);
    for (n, cookie) in &cookies {
        // `typed` (the counter through `#[derive(Session)]`, which loads its one key) is ours only.
        let workloads = KEY_WORKLOADS
            .iter()
            .filter(|w| **w != "typed" || contender.starts_with("ours/"));
        for workload in workloads {
            let id = format!("{workload}/{n}");
            let path = format!("/{workload}");
            let next = Cell::new(0);
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let elapsed =
                        time_requests(sys, app, &path, &[Some(cookie.as_str())], &next, iters);
                    rec.record(&group_name, &id, iters, elapsed);
                    elapsed
                });
            });
        }
    }
    group.finish();
}

fn bench_bare(c: &mut Criterion, sys: &SystemRunner, rec: &Recorder) {
    let app = sys.block_on(test::init_service(App::new().configure(bare::routes)));
    run_contender(c, sys, rec, "bare", &app, false, false, &|| {});
}

/// One row of actix-typed-session: the middleware `mw` (any store) on the shared routes; and,
/// given `keys_mw` (a second middleware on a fresh store of the same kind), the `keys/..` cases
/// on an app of their own, so that the sessions `new` left behind (a full 100 000-session
/// MemoryStore, whose sweeps then walk 6 000 entries a shard) do not weigh on them.
#[allow(clippy::too_many_arguments)]
fn bench_ours(
    c: &mut Criterion,
    sys: &SystemRunner,
    rec: &Recorder,
    contender: &str,
    mw: SessionMiddleware,
    before_sample: &dyn Fn(),
    keys_mw: Option<SessionMiddleware>,
) {
    let app = sys.block_on(test::init_service(
        App::new().wrap(mw).configure(ours::routes),
    ));
    run_contender(c, sys, rec, contender, &app, true, true, before_sample);
    drop(app);
    if let Some(mw) = keys_mw {
        let app = sys.block_on(test::init_service(
            App::new().wrap(mw).configure(ours::routes),
        ));
        run_keys(c, sys, rec, contender, &app, &KEY_COUNTS);
    }
}

/// One row of actix-session 0.11 with `store`, private (encrypted) cookie; and its `keys/..`
/// cases for the sizes `keys`.
fn bench_theirs<St: actix_session::storage::SessionStore + 'static>(
    c: &mut Criterion,
    sys: &SystemRunner,
    rec: &Recorder,
    contender: &str,
    store: St,
    keys: &[usize],
) {
    let app = sys.block_on(test::init_service(
        App::new()
            .wrap(theirs_middleware(store))
            .configure(theirs::routes),
    ));
    run_contender(c, sys, rec, contender, &app, true, false, &|| {});
    if !keys.is_empty() {
        run_keys(c, sys, rec, contender, &app, keys);
    }
}

// ---------------------------------------------------------------------------------------------
// Live sessions: a MemoryStore holding L sessions.

/// The store of a live-session case: room for `sessions` and more, so that none is evicted
/// (16 shards of ⌈max/16⌉ each; the margin covers the uneven spread of ids over the shards).
fn live_store(sessions: usize) -> MemoryStore {
    MemoryStore::builder()
        .max_sessions(sessions + sessions / 4 + 1024)
        .build()
}

/// `sessions` new visitors' first writes (each a one-key session); returns the cookies of
/// every `keep_every`-th.
async fn fill_live<S, B>(app: &S, sessions: usize, keep_every: usize) -> Vec<String>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut kept = Vec::new();
    for i in 0..sessions {
        let res = test::call_service(app, request("/write", None)).await;
        assert!(res.status().is_success(), "new visitor: {}", res.status());
        if i % keep_every == 0 {
            kept.push(set_cookie(&res).expect("a new visitor's write sets the cookie"));
        }
        black_box(test::read_body(res).await);
    }
    kept
}

/// VmRSS of this process, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .expect("VmRSS in /proc/self/status")
}

/// The child process's whole job (`ATS_BENCH_RSS_CHILD=L`): a fresh process builds the live
/// store and app, warms them with a few sessions, reads VmRSS, fills L sessions through the app,
/// reads VmRSS again and prints both.
fn rss_child(sessions: usize) {
    let sys = actix_web::rt::System::new();
    sys.block_on(async {
        let store = live_store(sessions + RSS_WARM_SESSIONS);
        let app = test::init_service(
            App::new()
                .wrap(SessionMiddleware::new(store))
                .configure(ours::routes),
        )
        .await;
        fill_live(&app, RSS_WARM_SESSIONS, usize::MAX).await;
        let before = rss_kib();
        fill_live(&app, sessions, usize::MAX).await;
        let after = rss_kib();
        println!("ATS_RSS {before} {after} {sessions}");
    });
}

/// Runs [`rss_child`] in a child process (this binary again) and reads its answer.
fn measure_rss(sessions: usize) -> Option<Rss> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe)
        .env(ENV_RSS_CHILD, sessions.to_string())
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("ATS_RSS "));
    let Some(line) = line.filter(|_| out.status.success()) else {
        eprintln!(
            "RSS child for {sessions} sessions failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    };
    let mut n = line.split_whitespace().map(|v| v.parse::<u64>().ok());
    Some(Rss {
        before_kib: n.next()??,
        after_kib: n.next()??,
        sessions: n.next()?? as usize,
    })
}

/// Each of `count` increments timed on its own, cookies taken in turn.
async fn tail_latencies<S, B>(app: &S, cookies: &[String], count: usize) -> Tail
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        let cookie = cookies[i % cookies.len()].as_str();
        let start = Instant::now();
        let res = test::call_service(app, request("/write", Some(cookie))).await;
        black_box(test::read_body(res).await);
        latencies.push(start.elapsed());
    }
    Tail::of(latencies)
}

/// The `live/ours/memory/write/<L>` cases (see the module docs).
fn bench_live(c: &mut Criterion, sys: &SystemRunner, rec: &Recorder, sel: &Selection) {
    const GROUP: &str = "live/ours/memory";
    let with_1m = std::env::var(ENV_1M).map_or(true, |v| v != "0");
    let mut group = c.benchmark_group(GROUP);
    group
        .sample_size(SAMPLES)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT);
    for (live, label) in LIVE {
        if live >= 1_000_000 && !with_1m {
            continue;
        }
        let id = format!("write/{label}");
        if !sel.runs(&format!("{GROUP}/{id}")) {
            if sel.list {
                // Listed, never run: criterion calls no routine in list mode.
                group.bench_function(&id, |b| b.iter_custom(|_| Duration::ZERO));
            }
            continue;
        }
        // Test mode (`cargo test --benches`, debug build): the same steps, 100× smaller.
        let (sessions, tail_requests) = if sel.test {
            (live / 100, TAIL_REQUESTS / 100)
        } else {
            (live, TAIL_REQUESTS)
        };
        // The child's RSS first, while this process holds no big store of its own.
        let rss = measure_rss(sessions);
        let app = sys.block_on(test::init_service(
            App::new()
                .wrap(SessionMiddleware::new(live_store(sessions)))
                .configure(ours::routes),
        ));
        let start = Instant::now();
        let cookies = sys.block_on(async {
            let keep_every = (sessions / LIVE_COOKIES).max(1);
            let cookies = fill_live(&app, sessions, keep_every).await;
            // Nothing was evicted: every kept session (the first one among them) is still there.
            for cookie in &cookies {
                assert_eq!(body_of(&app, "/read", Some(cookie)).await, "1", "{label}");
            }
            cookies
        });
        eprintln!(
            "{GROUP}: {sessions} sessions made through the app in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        let refs: Vec<Option<&str>> = cookies.iter().map(|c| Some(c.as_str())).collect();
        let next = Cell::new(0);
        let case = format!("{GROUP}/{label}");
        group.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                let elapsed = time_requests(sys, &app, "/write", &refs, &next, iters);
                rec.record(GROUP, label, iters, elapsed);
                elapsed
            });
        });
        let tail = sys.block_on(tail_latencies(&app, &cookies, tail_requests));
        eprintln!(
            "{case}: {} increments timed one by one: p99.9 {:?}, max {:?}",
            tail.requests, tail.p999, tail.max
        );
        rec.live.borrow_mut().push(Live {
            label,
            sessions,
            tail,
            rss,
        });
    }
    group.finish();
}

/// A RedisStore with its read cache (`RedisStore::cached`, default settings).
fn cached_store(url: &str) -> RedisStore {
    RedisStore::cached(url, ReadCache::default())
        .expect("redis url")
        .build()
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
                .configure(ours::routes),
        )
        .await;
        let cached_app = test::init_service(
            App::new()
                .wrap(SessionMiddleware::new(cached_store(ours_url)))
                .configure(ours::routes),
        )
        .await;
        let store = actix_session::storage::RedisSessionStore::new(theirs_url)
            .await
            .expect("actix-session redis store");
        let theirs_app = test::init_service(
            App::new()
                .wrap(theirs_middleware(store))
                .configure(theirs::routes),
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
        count!(
            "ours/redis-cached",
            cached_app,
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
        "ours/redis" | "ours/redis-cached" => Some("actix-session/redis"),
        "ours/cookie" => Some("actix-session/cookie"),
        _ => None,
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_nanos() as f64 / 1000.0)
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

    if !order.is_empty() {
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
    }

    let keys_order = rec.keys_order.borrow().clone();
    if !keys_order.is_empty() {
        println!("\n## Session size: ns per request with N keys (one key read or changed)\n");
        let mut line = String::from("| contender | workload |");
        let mut rule = String::from("|---|---|");
        for n in KEY_COUNTS {
            line.push_str(&format!(" N = {n} |"));
            rule.push_str("---:|");
        }
        println!("{line} N = 1000 / N = 1 |\n{rule}---:|");
        for c in &keys_order {
            for w in KEY_WORKLOADS {
                let at = |n: usize| cell(&format!("keys/{c}"), &format!("{w}/{n}"));
                if KEY_COUNTS.iter().all(|n| at(*n).is_none()) {
                    continue;
                }
                let mut line = format!("| {c} | {w} |");
                for n in KEY_COUNTS {
                    let v = at(n).map(|ns| format!("{ns:.0}"));
                    line.push_str(&format!(" {} |", v.unwrap_or_else(|| "—".into())));
                }
                let ratio = at(1000).zip(at(1)).map(|(a, b)| format!("{:.2}×", a / b));
                println!("{line} {} |", ratio.unwrap_or_else(|| "—".into()));
            }
        }
    }

    let live = rec.live.borrow();
    if !live.is_empty() {
        println!("\n## Live sessions in one MemoryStore: increment latency and RSS\n");
        println!(
            "| sessions | mean (criterion) | mean (loop) | p50 | p99 | p99.9 | max | ≥ 1 ms | RSS per session (child) |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for l in live.iter() {
            let t = &l.tail;
            let rss = l.rss.as_ref().map_or("—".into(), |r| {
                format!(
                    "{:.0} B ({} → {} KiB)",
                    r.bytes_per_session(),
                    r.before_kib,
                    r.after_kib
                )
            });
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {rss} |",
                l.sessions,
                cell("live/ours/memory", l.label).map_or("—".into(), |ns| format!("{ns:.0} ns")),
                micros(t.mean),
                micros(t.p50),
                micros(t.p99),
                micros(t.p999),
                micros(t.max),
                t.over_1ms,
            );
        }
        println!(
            "\n(per-request loop: {} increments per population, cookies of up to {LIVE_COOKIES} sessions in turn)",
            live[0].tail.requests
        );
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

    print_issue_11(rec);
    print_issue_22(rec);
    println!();
}

/// Every row of issue 11's table: what this run measured beside the goal.
fn print_issue_11(rec: &Recorder) {
    let cell = |c: &str, w: &str| rec.median(c, w);
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let keys = |c: &str, w: &str, n: usize| cell(&format!("keys/{c}"), &format!("{w}/{n}"));
    let not_run = || "not measured in this run".to_owned();
    // (workload, measured, goal, met?)
    let mut rows: Vec<(&str, String, &str, Option<bool>)> = Vec::new();
    let simple = |r: Option<f64>, goal: f64| {
        (
            r.map_or_else(not_run, |r| format!("{r:.2}×")),
            r.map(|r| r <= goal),
        )
    };

    let untouched: Vec<(String, f64)> = rec
        .order
        .borrow()
        .iter()
        .filter(|c| c.starts_with("ours/"))
        .filter_map(|c| {
            Some((
                c.clone(),
                ratio(cell(c, "untouched"), cell("bare", "untouched"))?,
            ))
        })
        .collect();
    rows.push((
        "untouched (cookie sent, handler ignores the session), every store, vs bare actix-web",
        if untouched.is_empty() {
            not_run()
        } else {
            untouched
                .iter()
                .map(|(c, r)| format!("{} {r:.2}×", c.trim_start_matches("ours/")))
                .collect::<Vec<_>>()
                .join(", ")
        },
        "≤ 1.15×",
        (!untouched.is_empty()).then(|| untouched.iter().all(|(_, r)| *r <= 1.15)),
    ));
    let (m, ok) = simple(
        ratio(cell("ours/memory", "write"), cell("bare", "write")),
        2.0,
    );
    rows.push((
        "memory store, read-and-increment a counter, vs bare",
        m,
        "≤ 2.0×",
        ok,
    ));
    let (m, ok) = simple(ratio(cell("ours/memory", "new"), cell("bare", "new")), 2.0);
    rows.push((
        "memory store, new visitor's first write, vs bare",
        m,
        "≤ 2.0×",
        ok,
    ));
    let (m, ok) = simple(
        ratio(
            cell("ours/cookie", "write"),
            cell("actix-session/cookie", "write"),
        ),
        0.7,
    );
    rows.push((
        "cookie store (encrypted), increment, vs actix-session's encrypted cookie store",
        m,
        "≤ 0.7×",
        ok,
    ));
    let (m, ok) = simple(
        ratio(
            keys("ours/memory", "write", 1000),
            keys("ours/memory", "write", 1),
        ),
        1.5,
    );
    rows.push((
        "memory store, change one key in a 1000-key session / in a 1-key session",
        m,
        "≤ 1.5×",
        ok,
    ));
    let (m, ok) = simple(
        ratio(
            keys("ours/memory", "read", 1000),
            keys("ours/memory", "read", 1),
        ),
        1.5,
    );
    rows.push((
        "memory store, read one key, 1000 keys / 1 key",
        m,
        "≤ 1.5×",
        ok,
    ));
    let (m, ok) = simple(
        ratio(
            keys("ours/redis", "write", 1000),
            keys("ours/redis", "write", 1),
        ),
        1.5,
    );
    rows.push((
        "Redis store, change one key, 1000 keys / 1 key",
        m,
        "≤ 1.5×",
        ok,
    ));
    let (m, ok) = simple(
        ratio(
            keys("ours/redis", "typed", 1000),
            keys("ours/redis", "typed", 1),
        ),
        1.5,
    );
    rows.push((
        "… the same through a typed session (its extractor loads its one key)",
        m,
        "≤ 1.5×",
        ok,
    ));
    for (workload, label) in [
        (
            "write",
            "Redis store, change one key in a 1000-key session, vs actix-session Redis",
        ),
        ("typed", "… the same through a typed session"),
    ] {
        let r = ratio(
            keys("ours/redis", workload, 1000),
            keys("actix-session/redis", "write", 1000),
        );
        rows.push((
            label,
            r.map_or_else(not_run, |r| {
                format!(
                    "{r:.2}× ({})",
                    if r > 1.0 { "slower" } else { "not slower" }
                )
            }),
            "≤ 1.0×",
            r.map(|r| r <= 1.0),
        ));
    }

    let live = rec.live.borrow();
    let largest = live.iter().max_by_key(|l| l.sessions);
    let rss = largest.and_then(|l| Some((l, l.rss.as_ref()?.bytes_per_session())));
    rows.push((
        "memory store holding 1 000 000 small sessions: RSS per session",
        rss.map_or_else(not_run, |(l, b)| {
            let note = if l.sessions >= 1_000_000 {
                String::new()
            } else {
                format!(" (at {} sessions, not 1 M)", l.sessions)
            };
            format!("{b:.0} B{note}")
        }),
        "≤ 300 B",
        rss.map(|(_, b)| b <= 300.0),
    ));
    let smallest = live.iter().min_by_key(|l| l.sessions);
    let tail = largest
        .zip(smallest)
        .filter(|(a, b)| a.sessions > b.sessions);
    rows.push((
        "memory store, increment p99.9 latency at 1 M live sessions / at 1 k",
        tail.map_or_else(not_run, |(big, small)| {
            let r = big.tail.p999.as_secs_f64() / small.tail.p999.as_secs_f64();
            let note = if big.sessions >= 1_000_000 {
                String::new()
            } else {
                format!("; at {} / {}, not 1 M / 1 k", big.sessions, small.sessions)
            };
            format!(
                "{r:.2}× ({} vs {}; max {} / {}; requests ≥ 1 ms: {} / {} of {}{note})",
                micros(big.tail.p999),
                micros(small.tail.p999),
                micros(big.tail.max),
                micros(small.tail.max),
                big.tail.over_1ms,
                small.tail.over_1ms,
                big.tail.requests,
            )
        }),
        "≤ 2× (no pauses)",
        tail.map(|(big, small)| big.tail.p999.as_secs_f64() / small.tail.p999.as_secs_f64() <= 2.0),
    ));

    println!("\n## Issue 11: measured in this run vs goal\n");
    println!("| workload | measured | goal | |\n|---|---|---|---|");
    for (workload, measured, goal, ok) in rows {
        let verdict = match ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "—",
        };
        println!("| {workload} | {measured} | {goal} | {verdict} |");
    }
}

/// Every row of issue 22's table: what this run measured beside the goal.
fn print_issue_22(rec: &Recorder) {
    let cell = |c: &str, w: &str| rec.median(c, w);
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let keys = |c: &str, w: &str, n: usize| cell(&format!("keys/{c}"), &format!("{w}/{n}"));
    // A goal of `None`: a row for reference.
    let row = |workload: &str, r: Option<f64>, goal: Option<f64>| {
        let verdict = match (r, goal) {
            (Some(r), Some(goal)) if r <= goal => "met",
            (Some(_), Some(_)) => "MISSED",
            _ => "—",
        };
        let measured = r.map_or("not measured in this run".to_owned(), |r| {
            format!("{r:.2}×")
        });
        let goal = goal.map_or("(reference)".to_owned(), |g| format!("≤ {g:.2}×"));
        println!("| {workload} | {measured} | {goal} | {verdict} |");
    };
    println!("\n## Issue 22: measured in this run vs goal\n");
    println!("| workload | measured | goal | |\n|---|---|---|---|");
    for c in rec.order.borrow().iter().filter(|c| c.starts_with("ours/")) {
        row(
            &format!("untouched vs bare, {}", c.trim_start_matches("ours/")),
            ratio(cell(c, "untouched"), cell("bare", "untouched")),
            Some(1.10),
        );
    }
    row(
        "memory store, read-and-increment vs bare",
        ratio(cell("ours/memory", "write"), cell("bare", "write")),
        Some(2.0),
    );
    row(
        "memory store, new visitor's first write vs bare",
        ratio(cell("ours/memory", "new"), cell("bare", "new")),
        Some(2.0),
    );
    row(
        "cookie store (encrypted), increment vs actix-session's private cookie",
        ratio(
            cell("ours/cookie", "write"),
            cell("actix-session/cookie", "write"),
        ),
        Some(0.7),
    );
    row(
        "cookie store (encrypted), new visitor vs actix-session's private cookie",
        ratio(
            cell("ours/cookie", "new"),
            cell("actix-session/cookie", "new"),
        ),
        Some(0.8),
    );
    row(
        "Redis, untyped `Session`, change one key, 1000 keys / 1 key",
        ratio(
            keys("ours/redis", "write", 1000),
            keys("ours/redis", "write", 1),
        ),
        Some(1.5),
    );
    row(
        "Redis, untyped, change one key in a 1000-key session vs actix-session",
        ratio(
            keys("ours/redis", "write", 1000),
            keys("actix-session/redis", "write", 1000),
        ),
        Some(1.0),
    );
    row(
        "Redis with the read cache, read an unchanged session again vs the memory store",
        ratio(
            cell("ours/redis-cached", "read"),
            cell("ours/memory", "read"),
        ),
        Some(2.0),
    );
    row(
        "Redis without the cache, the same read vs the memory store",
        ratio(cell("ours/redis", "read"), cell("ours/memory", "read")),
        None,
    );
}

// ---------------------------------------------------------------------------------------------

fn main() {
    // The RSS child (see `measure_rss`): nothing else, no criterion.
    if let Ok(sessions) = std::env::var(ENV_RSS_CHILD) {
        rss_child(sessions.parse().expect("ATS_BENCH_RSS_CHILD is a number"));
        return;
    }
    let sel = Selection::from_args();
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
        &[],
    );
    bench_ours(
        &mut c,
        &sys,
        &rec,
        "ours/memory",
        SessionMiddleware::new(MemoryStore::default()),
        &|| {},
        Some(SessionMiddleware::new(MemoryStore::default())),
    );
    // Encrypted (AES-256-GCM), like actix-session's private cookie it is compared with.
    bench_ours(
        &mut c,
        &sys,
        &rec,
        "ours/cookie",
        SessionMiddleware::new(
            CookieStore::encrypted(handlers::COOKIE_KEY)
                .build()
                .expect("cookie store"),
        ),
        &|| {},
        None,
    );
    bench_live(&mut c, &sys, &rec, &sel);

    let server = RedisServer::spawn();
    let ours_url = format!("{}/0", server.url);
    let theirs_url = format!("{}/1", server.url);
    let theirs_redis = sys
        .block_on(actix_session::storage::RedisSessionStore::new(
            theirs_url.clone(),
        ))
        .expect("actix-session redis store");
    bench_theirs(
        &mut c,
        &sys,
        &rec,
        "actix-session/redis",
        theirs_redis,
        &KEY_COUNTS_THEIRS,
    );
    bench_ours(
        &mut c,
        &sys,
        &rec,
        "ours/redis",
        SessionMiddleware::new(RedisStore::new(redis_pool(&ours_url))),
        &|| {},
        Some(SessionMiddleware::new(RedisStore::new(redis_pool(
            &ours_url,
        )))),
    );
    // The same with the read cache: a session read again costs no round trip.
    bench_ours(
        &mut c,
        &sys,
        &rec,
        "ours/redis-cached",
        SessionMiddleware::new(cached_store(&ours_url)),
        &|| {},
        None,
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
        None,
    );

    c.final_summary();
    let round_trips = if sel.list {
        Vec::new()
    } else {
        count_round_trips(&sys, &server, &ours_url, &theirs_url)
    };
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    if sel.test {
        println!("\n(criterion's test mode: every case ran once, live cases 100× smaller; the tables below check that the cases run and are no measurement)");
    }
    if !sel.list {
        print_summary(&rec, &round_trips);
    }
}
