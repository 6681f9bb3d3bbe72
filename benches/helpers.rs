//! What the request helpers cost per request: `#[session(csrf)]` (token in the header, in the
//! form field, and a wrong token) and `Flash`, beside the same read of one session value without
//! them, actix-session 0.11 and bare actix-web, in one run and one process. (This replaces the
//! plain timed loop that was `session/examples/csrf_cost.rs`.)
//!
//! # How to measure
//!
//! ```text
//! cargo bench --bench helpers                     # ~1 min: the criterion cases, then the tables
//! cargo bench --bench helpers -- csrf             # a criterion filter (regex on the bench id)
//! cargo bench --bench helpers -- --warm-up-time 1 --measurement-time 3   # shorter
//! cargo test --bench helpers                      # every case once: a check, no measurement
//! benches/callgrind.sh memory:post-read memory:csrf-header   # instructions per request
//! ```
//!
//! Wall-clock numbers on a shared 2-core machine move by tens of percent from run to run: read
//! the differences and ratios inside one run, and count instructions with `benches/callgrind.sh`
//! (`DIFF="memory:post-read memory:csrf-header"`) for before/after comparisons.
//!
//! # What runs
//!
//! Every case drives a real `actix_web::test::init_service` app on one actix (tokio
//! current-thread) runtime: each request is built, sent with `test::call_service`, its status
//! checked and its body read to the end (and compared with the expected one), inside the timed
//! loop, so that a case answering anything else fails instead of measuring the failure. The
//! routes are `helpers::routes` of `support/src/handlers.rs`.
//!
//! | id                | request                                               | answer        |
//! |-------------------|-------------------------------------------------------|---------------|
//! | `bare`            | `POST /h/read`, no middleware                         | 200 `1`       |
//! | `actix-session`   | the same on actix-session (cookie store, private)     | 200 `1`       |
//! | `ours`            | the same on ours, MemoryStore: `Session`, one `get`   | 200 `1`       |
//! | `csrf-header`     | `POST /h/csrf/read`: `ours` under `#[session(csrf)]`  | 200 `1`       |
//! | `form`            | `POST /h/form/read`: `ours` and a `web::Form`         | 200 `1 hello` |
//! | `csrf-form`       | `POST /h/csrf/form/read`: `form` under `#[session(csrf)]` | 200 `1 hello` |
//! | `csrf-invalid`    | `csrf-header` with another session's (valid) token    | 403           |
//! | `flash-untouched` | `POST /h/flash/untouched`: takes `Flash`, uses nothing | 200 `ok`     |
//! | `flash-round`     | `POST /h/flash/set` and `GET /h/flash/read` in turn   | 303; 200 `1`  |
//! | `ours-again`      | `ours` once more, last                                | 200 `1`       |
//!
//! One criterion iteration is one request (`flash-round`: a set or a read, so its time is per
//! request, half a round). Every session case sends the cookie of a session that exists (the
//! counter `{"n": 1}` and a CSRF token, made by `GET /h/token` and `GET /h/write` before timing).
//! `bare`, `actix-session`, `ours`, `csrf-header`, `csrf-invalid` and `flash-untouched` send
//! requests of the same shape: a cookie and an `X-CSRF-Token` header that only the CSRF cases
//! read (bare actix-web gets a cookie of the same length that nothing reads, actix-session its
//! own); the form cases send `text=hello&csrf_token=<token>` as an urlencoded body, no header.
//!
//! After criterion, the bench prints Markdown tables: for each case the median over criterion's
//! measurement samples of (sample time / requests in the sample), recorded by this bench's own
//! timing loop (`iter_custom`), and its ratio to `bare` and to `ours`; then what each helper adds
//! (e.g. `csrf-header` − `ours`), beside `ours-again` − `ours`, the drift of the run: a difference
//! no larger than that one is noise. `--sample-size` is fixed by the bench (the medians need it);
//! `--warm-up-time` and `--measurement-time` apply.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use actix_http::Request;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{SessionMiddleware, CSRF_HEADER};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use actix_web::http::{Method, StatusCode};
use actix_web::rt::SystemRunner;
use actix_web::{test, App};
use criterion::{BenchmarkGroup, Criterion};

use support::handlers::{helpers, theirs_middleware};
use support::samples;

/// Criterion settings: modest, so that a full run stays near a minute on 2 cores. The sample
/// count is fixed on the group (the medians read the last `SAMPLES` calls of the timing loop).
const SAMPLES: usize = 30;
const WARM_UP: Duration = Duration::from_millis(1000);
const MEASUREMENT: Duration = Duration::from_secs(4);

/// The criterion group every case is in.
const GROUP: &str = "helpers";

/// The cases in the order they run and print: (id, what it is).
const CASES: [(&str, &str); 10] = [
    ("bare", "bare actix-web, no middleware"),
    (
        "actix-session",
        "actix-session 0.11, cookie store (private)",
    ),
    ("ours", "ours, MemoryStore, `Session` reads one value"),
    (
        "csrf-header",
        "`ours` + `#[session(csrf)]`, token in `X-CSRF-Token`",
    ),
    ("form", "`ours` + `web::Form` (no check)"),
    (
        "csrf-form",
        "`form` + `#[session(csrf)]`, token in `csrf_token`",
    ),
    ("csrf-invalid", "`csrf-header` with a wrong token: 403"),
    ("flash-untouched", "`Flash` taken, neither set nor read"),
    (
        "flash-round",
        "`flash.success` (POST, 303), then `flash.messages()` (GET)",
    ),
    (
        "ours-again",
        "`ours` once more, last: how far the machine drifted",
    ),
];

/// What each helper adds, as the difference of two cases: (helper, case, baseline).
const ADDED: [(&str, &str, &str); 7] = [
    ("`#[session(csrf)]`, header", "csrf-header", "ours"),
    ("`#[session(csrf)]`, form field", "csrf-form", "form"),
    ("`web::Form` (the body read and parsed)", "form", "ours"),
    (
        "`#[session(csrf)]`, wrong token (403)",
        "csrf-invalid",
        "ours",
    ),
    ("`Flash`, untouched", "flash-untouched", "ours"),
    ("`Flash`, set then read, per request", "flash-round", "ours"),
    ("nothing: the noise of this run", "ours-again", "ours"),
];

// ---------------------------------------------------------------------------------------------
// The requests.

/// One request of a case and the answer it must get.
struct Step {
    method: Method,
    path: &'static str,
    cookie: String,
    /// The `X-CSRF-Token` header.
    header: Option<String>,
    /// An urlencoded body.
    form: Option<String>,
    status: StatusCode,
    /// The body the answer must have, when it matters.
    body: Option<&'static str>,
}

impl Step {
    /// `POST path` with `cookie` and the token in the header: the request of most cases.
    fn post(path: &'static str, cookie: &str, token: &str, body: &'static str) -> Self {
        Step {
            method: Method::POST,
            path,
            cookie: cookie.to_owned(),
            header: Some(token.to_owned()),
            form: None,
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    /// `POST path` with `cookie` and the form `text=hello&csrf_token=<token>`.
    fn post_form(path: &'static str, cookie: &str, token: &str) -> Self {
        Step {
            header: None,
            form: Some(format!("text=hello&csrf_token={token}")),
            ..Step::post(path, cookie, token, "1 hello")
        }
    }

    fn request(&self) -> Request {
        let mut req = test::TestRequest::default()
            .method(self.method.clone())
            .uri(self.path)
            .insert_header((COOKIE, self.cookie.clone()));
        if let Some(token) = &self.header {
            req = req.insert_header((CSRF_HEADER, token.clone()));
        }
        if let Some(form) = &self.form {
            req = req
                .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(form.clone());
        }
        req.to_request()
    }

    /// Sends the request and checks the answer; panics (naming `case`) on any other.
    async fn run<S, B>(&self, app: &S, case: &str)
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let res = test::call_service(app, self.request()).await;
        let status = res.status();
        let body = test::read_body(res).await;
        assert!(
            status == self.status && self.body.is_none_or(|b| body == b.as_bytes()),
            "{case}: {} {} answered {status} {body:?}, expected {} {:?}",
            self.method,
            self.path,
            self.status,
            self.body,
        );
        black_box(body);
    }
}

/// `GET path` (with `cookie`), answered 200: its `name=value` cookie if it set one, and its body.
async fn get<S, B>(app: &S, path: &str, cookie: Option<&str>) -> (Option<String>, String)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::get().uri(path);
    if let Some(cookie) = cookie {
        req = req.insert_header((COOKIE, cookie.to_owned()));
    }
    let res = test::call_service(app, req.to_request()).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    let set_cookie = res
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_owned());
    let body = test::read_body(res).await;
    (
        set_cookie,
        String::from_utf8(body.to_vec()).expect("a text body"),
    )
}

/// A session of ours with the counter at 1 and a CSRF token: its cookie and a masked token.
async fn ours_session<S, B>(app: &S) -> (String, String)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (cookie, token) = get(app, "/h/token", None).await;
    let cookie = cookie.expect("the first token sets the session cookie");
    assert_eq!(get(app, "/h/write", Some(&cookie)).await.1, "1");
    (cookie, token)
}

// ---------------------------------------------------------------------------------------------
// Timing and recording.

/// ns per request of every call of the timing loop, by case.
#[derive(Default)]
struct Recorder(RefCell<BTreeMap<&'static str, Vec<f64>>>);

impl Recorder {
    fn record(&self, case: &'static str, requests: u64, elapsed: Duration) {
        if requests > 0 {
            let ns = elapsed.as_nanos() as f64 / requests as f64;
            self.0.borrow_mut().entry(case).or_default().push(ns);
        }
    }

    /// Median ns/request over the measurement samples: criterion calls the loop during its
    /// warm-up first, then exactly once per sample, so the last `SAMPLES` calls are the samples.
    fn median(&self, case: &str) -> Option<f64> {
        samples::median_of_last(self.0.borrow().get(case)?, SAMPLES)
    }
}

/// The case `id`: `steps` in turn, one criterion iteration a request (a step), the turn going
/// on from one call of the loop to the next. Every step is checked once before timing.
fn bench_case<S, B>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    sys: &SystemRunner,
    rec: &Recorder,
    app: &S,
    id: &'static str,
    steps: &[Step],
) where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    sys.block_on(async {
        for step in steps {
            step.run(app, id).await;
        }
    });
    let next = Cell::new(0usize);
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let elapsed = sys.block_on(async {
                let mut i = next.get();
                let start = Instant::now();
                for _ in 0..iters {
                    steps[i % steps.len()].run(app, id).await;
                    i += 1;
                }
                next.set(i);
                start.elapsed()
            });
            rec.record(id, iters, elapsed);
            elapsed
        });
    });
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    // Criterion's test mode: under `cargo test` (no `--bench`), or with `--test`.
    let test_mode = !has("--bench") || has("--test");
    let mut c = Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .configure_from_args();
    let sys = actix_web::rt::System::new();
    let rec = Recorder::default();

    let ours = sys.block_on(test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .configure(helpers::routes),
    ));
    let bare = sys.block_on(test::init_service(
        App::new().configure(helpers::bare_routes),
    ));
    let theirs = sys.block_on(test::init_service(
        App::new()
            .wrap(theirs_middleware(
                actix_session::storage::CookieSessionStore::default(),
            ))
            .configure(helpers::theirs_routes),
    ));

    let (cookie, token, other_token, flash_cookie, theirs_cookie) = sys.block_on(async {
        let (cookie, token) = ours_session(&ours).await;
        // Another session's token: well formed, valid there (checked), wrong for `cookie`.
        let (other_cookie, other_token) = ours_session(&ours).await;
        Step::post("/h/csrf/read", &other_cookie, &other_token, "1")
            .run(&ours, "other session")
            .await;
        let (flash_cookie, _) = ours_session(&ours).await;
        let (theirs_cookie, _) = get(&theirs, "/h/write", None).await;
        let theirs_cookie = theirs_cookie.expect("actix-session's write sets its cookie");
        (cookie, token, other_token, flash_cookie, theirs_cookie)
    });
    // Bare actix-web reads no cookie: it gets one of the same length as ours.
    let bare_cookie = format!("id={}", "A".repeat(cookie.len().saturating_sub(3)));

    let mut group = c.benchmark_group(GROUP);
    group.sample_size(SAMPLES);
    let read = |cookie: &str| [Step::post("/h/read", cookie, &token, "1")];
    bench_case(&mut group, &sys, &rec, &bare, "bare", &read(&bare_cookie));
    bench_case(
        &mut group,
        &sys,
        &rec,
        &theirs,
        "actix-session",
        &read(&theirs_cookie),
    );
    let ours_read = || vec![Step::post("/h/read", &cookie, &token, "1")];
    let ours_cases = [
        ("ours", ours_read()),
        (
            "csrf-header",
            vec![Step::post("/h/csrf/read", &cookie, &token, "1")],
        ),
        (
            "form",
            vec![Step::post_form("/h/form/read", &cookie, &token)],
        ),
        (
            "csrf-form",
            vec![Step::post_form("/h/csrf/form/read", &cookie, &token)],
        ),
        (
            "csrf-invalid",
            vec![Step {
                status: StatusCode::FORBIDDEN,
                body: None,
                ..Step::post("/h/csrf/read", &cookie, &other_token, "")
            }],
        ),
        (
            "flash-untouched",
            vec![Step::post(
                "/h/flash/untouched",
                &flash_cookie,
                &token,
                "ok",
            )],
        ),
        (
            "flash-round",
            vec![
                Step {
                    status: StatusCode::SEE_OTHER,
                    body: Some(""),
                    ..Step::post("/h/flash/set", &flash_cookie, &token, "")
                },
                Step {
                    method: Method::GET,
                    header: None,
                    ..Step::post("/h/flash/read", &flash_cookie, &token, "1")
                },
            ],
        ),
        ("ours-again", ours_read()),
    ];
    for (id, steps) in &ours_cases {
        bench_case(&mut group, &sys, &rec, &ours, id, steps);
    }
    group.finish();
    c.final_summary();

    if has("--list") {
        return;
    }
    if test_mode {
        println!("\n(criterion's test mode: every case ran once; the tables below check that the cases run and are no measurement)");
    }
    print_tables(&rec);
}

/// The tables after the run (see the module docs).
fn print_tables(rec: &Recorder) {
    let ns = |case: &str| rec.median(case);
    let fmt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let ratio = |a: &str, b: &str| ns(a).zip(ns(b)).map(|(a, b)| format!("{:.2}×", a / b));

    println!(
        "\n## Request helpers: ns per request (median of {SAMPLES} criterion samples), one run\n"
    );
    println!("| case | what | ns/request | vs bare | vs ours |");
    println!("|---|---|---:|---:|---:|");
    for (id, what) in CASES {
        println!(
            "| {id} | {what} | {} | {} | {} |",
            fmt(ns(id).map(|v| format!("{v:.0}"))),
            fmt(ratio(id, "bare")),
            fmt(ratio(id, "ours")),
        );
    }

    println!("\n## What each helper adds per request\n");
    println!("| helper | measured as | ns added | ratio |");
    println!("|---|---|---:|---:|");
    for (helper, case, base) in ADDED {
        println!(
            "| {helper} | {case} − {base} | {} | {} |",
            fmt(ns(case)
                .zip(ns(base))
                .map(|(a, b)| format!("{:+.0}", a - b))),
            fmt(ratio(case, base)),
        );
    }
    println!();
}
