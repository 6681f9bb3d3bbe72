//! Requests for `benches/callgrind.sh` to count instructions on: one workload through one app,
//! `WARM` requests first, then `MEASURED` requests inside [`measured_requests`], the only function
//! callgrind collects in (`--toggle-collect=*measured_requests*`). One thread, one actix
//! (tokio current-thread) runtime, requests through `actix_web::test` as in
//! `benches/sessions.rs`, the handlers of `support/src/handlers.rs`.
//!
//! ```text
//! cargo build --release --bin callgrind_requests
//! valgrind --tool=callgrind --toggle-collect='*measured_requests*' \
//!     target/release/callgrind_requests STORE WORKLOAD [WARM] [MEASURED]
//! ```
//!
//! - `STORE`: `bare` (no session layer), `memory`, `memory-migrating` (`migrate_from` an
//!   actix-session cookie store and another memory store), `memory-refresh`
//!   (`refresh_on_every_request(true)`), `memory-hooked` (an `on_event` hook that does
//!   nothing), `memory-prometheus` (built with the suite's feature `metrics`: a Prometheus
//!   recorder installed), `cookie` (encrypted), `redis` (ours), or
//!   `actix-cookie`, `actix-redis` (actix-session 0.11, private cookie). The Redis ones talk to
//!   `REDIS_URL` (default `redis://127.0.0.1:6379`): the script starts a private server.
//! - `WORKLOAD`: `untouched`, `read`, `write` (increment), `typed` (ours only), or `new` (a
//!   `/write` without a cookie: a new visitor's first write); `tied-read`, `tied-write`: the
//!   same on a session tied to a user (ours only); `big-read`, `big-write`, `big-typed`: the
//!   same on a session of 1000 keys (made by `/fill/1000`). The request helpers of `benches/helpers.rs`
//!   (`helpers::routes`): `post-read` (`POST /h/read` with the cookie and an `X-CSRF-Token`
//!   header nothing reads; bare too), `csrf-header` (the same read under `#[session(csrf)]`,
//!   the session's token in the header), `post-form` and `csrf-form` (the read with a
//!   `web::Form`, without and with the check, the token in the form field), `flash-untouched`
//!   (takes `Flash`, uses nothing); ours only but `post-read`.
//! - `WARM` (default 1000) and `MEASURED` (default 5000) requests.
//!
//! Every request sends the same cookie, from one first `/write` (bare actix-web gets a cookie of
//! the same shape that nothing reads); `new` sends none. The helper workloads' session is made
//! by `GET /h/token` (its CSRF token) and `GET /h/write`. The harness's own work (building each
//! request, reading the body) is counted too, the same for every store: compare with `bare`.

use std::hint::black_box;

use actix_http::Request;
use actix_typed_session::store::{deadpool_redis, CookieStore, MemoryStore, RedisStore};
use actix_typed_session::SessionMiddleware;
use actix_typed_session::CSRF_HEADER;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use actix_web::rt::SystemRunner;
use actix_web::{test, App};

use support::handlers::{self, bare, helpers, ours, theirs, theirs_middleware};

fn request(path: &str, cookie: Option<&str>) -> Request {
    let mut req = test::TestRequest::get().uri(path);
    if let Some(cookie) = cookie {
        req = req.insert_header((COOKIE, cookie.to_owned()));
    }
    req.to_request()
}

/// A `POST` of the helper workloads: `cookie`, and `token` in the `X-CSRF-Token` header or, with
/// `form`, in the urlencoded body `text=hello&csrf_token=<token>`.
fn post(path: &str, cookie: &str, token: &str, form: bool) -> Request {
    let req = test::TestRequest::post()
        .uri(path)
        .insert_header((COOKIE, cookie.to_owned()));
    let req = if form {
        req.insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload(format!("text=hello&csrf_token={token}"))
    } else {
        req.insert_header((CSRF_HEADER, token.to_owned()))
    };
    req.to_request()
}

/// `n` requests made by `make`, each answered and its body read; panics on a non-2xx answer.
#[inline(never)]
fn drive<S, B, F>(sys: &SystemRunner, app: &S, path: &str, make: &F, n: u64)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    F: Fn() -> Request,
{
    sys.block_on(async {
        for _ in 0..n {
            let res = test::call_service(app, make()).await;
            assert!(res.status().is_success(), "{path}: {}", res.status());
            black_box(test::read_body(res).await);
        }
    });
}

/// The measured requests: callgrind collects only while this function runs.
#[inline(never)]
fn measured_requests<S, B, F>(sys: &SystemRunner, app: &S, path: &str, make: &F, n: u64)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    F: Fn() -> Request,
{
    drive(sys, app, path, make, n);
}

/// The workloads of `benches/helpers.rs`, served by `helpers::routes`.
const HELPER_WORKLOADS: [&str; 5] = [
    "post-read",
    "csrf-header",
    "post-form",
    "csrf-form",
    "flash-untouched",
];

struct Run<'a> {
    sys: &'a SystemRunner,
    workload: &'a str,
    warm: u64,
    measured: u64,
}

impl Run<'_> {
    fn on<S, B>(&self, app: S, session: bool)
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        if HELPER_WORKLOADS.contains(&self.workload) {
            return self.helper(app, session);
        }
        // `tied-*`: the same workloads on a session tied to a user (`/tie`, ours only).
        // `big-*`: on a session of 1000 keys (`/fill/1000`), the one counter key read or changed.
        let (workload, first) = match (
            self.workload.strip_prefix("tied-"),
            self.workload.strip_prefix("big-"),
        ) {
            (Some(w), _) => (w, "/tie"),
            (_, Some(w)) => (w, "/fill/1000"),
            _ => (self.workload, "/write"),
        };
        let cookie = if session {
            let res = self
                .sys
                .block_on(test::call_service(&app, request(first, None)));
            let header = res
                .headers()
                .get(SET_COOKIE)
                .expect("a first write sets the cookie");
            let cookie = header
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            Some(cookie)
        } else {
            Some(format!("id={}", "A".repeat(32)))
        };
        let (path, cookie) = match workload {
            "new" => ("/write".to_owned(), None),
            w @ ("untouched" | "read" | "write" | "typed") => (format!("/{w}"), cookie.as_deref()),
            other => panic!(
                "unknown workload {other:?}: untouched, read, write, typed, new, tied-read, \
                 tied-write, big-read, big-write, big-typed, post-read, csrf-header, post-form, csrf-form, flash-untouched"
            ),
        };
        let make = || request(&path, cookie);
        self.measure(&app, &make, &path);
    }

    /// The warm requests, then the measured ones.
    fn measure<S, B, F>(&self, app: &S, make: &F, path: &str)
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
        F: Fn() -> Request,
    {
        drive(self.sys, app, path, make, self.warm);
        measured_requests(self.sys, app, path, make, self.measured);
        eprintln!(
            "{} measured requests of {path} (after {} warm ones)",
            self.measured, self.warm
        );
    }

    /// The helper workloads (`helpers::routes`), on a session made by `GET /h/token` and
    /// `GET /h/write`; bare actix-web (`post-read` only) gets a cookie and a token of the same
    /// shape that nothing reads.
    fn helper<S, B>(&self, app: S, session: bool)
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let (cookie, token) = if session {
            self.sys.block_on(async {
                let res = test::call_service(&app, request("/h/token", None)).await;
                let cookie = res
                    .headers()
                    .get(SET_COOKIE)
                    .and_then(|v| v.to_str().ok()?.split(';').next())
                    .expect("the first token sets the cookie")
                    .to_owned();
                let token = test::read_body(res).await;
                let token = String::from_utf8(token.to_vec()).expect("a text token");
                let res = test::call_service(&app, request("/h/write", Some(&cookie))).await;
                assert!(res.status().is_success(), "/h/write: {}", res.status());
                (cookie, token)
            })
        } else {
            (format!("id={}", "A".repeat(32)), "A".repeat(86))
        };
        let (path, form) = match self.workload {
            "post-read" => ("/h/read", false),
            "csrf-header" => ("/h/csrf/read", false),
            "post-form" => ("/h/form/read", true),
            "flash-untouched" => ("/h/flash/untouched", false),
            _ => ("/h/csrf/form/read", true),
        };
        let make = || post(path, &cookie, &token, form);
        self.measure(&app, &make, path);
    }
}

fn redis_pool(url: &str) -> deadpool_redis::Pool {
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("redis pool")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: callgrind_requests STORE WORKLOAD [WARM] [MEASURED]";
    let store = args.first().expect(usage).as_str();
    let workload = args.get(1).expect(usage).as_str();
    let number = |i: usize, default: u64| args.get(i).map_or(default, |v| v.parse().expect(usage));
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let sys = actix_web::rt::System::new();
    let run = Run {
        sys: &sys,
        workload,
        warm: number(2, 1000),
        measured: number(3, 5000),
    };
    // The helper workloads' apps serve their routes only, the others' theirs only: a route
    // more or less shifts every request's count a little.
    let helper = HELPER_WORKLOADS.contains(&workload);
    let ours_app = |mw: SessionMiddleware| {
        sys.block_on(test::init_service(App::new().wrap(mw).configure(|cfg| {
            if helper {
                helpers::routes(cfg);
            } else {
                ours::routes(cfg);
            }
        })))
    };
    match store {
        "bare" => run.on(
            sys.block_on(test::init_service(App::new().configure(|cfg| {
                if helper {
                    helpers::bare_routes(cfg);
                } else {
                    bare::routes(cfg);
                }
            }))),
            false,
        ),
        "memory" => run.on(
            ours_app(SessionMiddleware::new(MemoryStore::default())),
            true,
        ),
        // The same, while sessions may still be carried over from an old store (an
        // actix-session cookie store and another memory store): what the fallback costs a
        // request whose session has moved already, or a new visitor.
        "memory-migrating" => run.on(
            ours_app(
                SessionMiddleware::builder(MemoryStore::default())
                    .migrate_from(actix_typed_session::migrate::ActixSessionCookie::private(
                        &handlers::COOKIE_KEY,
                    ))
                    .migrate_from(MemoryStore::default())
                    .build(),
            ),
            true,
        ),
        // With `refresh_on_every_request(true)`: what the option costs a request that never
        // reads the session.
        "memory-refresh" => run.on(
            ours_app(
                SessionMiddleware::builder(MemoryStore::default())
                    .refresh_on_every_request(true)
                    .build(),
            ),
            true,
        ),
        // With an event hook that does nothing: what listening costs (`new` emits one event a
        // request; the other workloads none).
        "memory-hooked" => run.on(
            ours_app(
                SessionMiddleware::builder(MemoryStore::default())
                    .on_event(|event| {
                        black_box(event);
                    })
                    .build(),
            ),
            true,
        ),
        // With the suite's feature `metrics` (`FEATURES=metrics benches/callgrind.sh ..`): a
        // Prometheus recorder installed, so every store call and event is recorded.
        #[cfg(feature = "metrics")]
        "memory-prometheus" => {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("one recorder");
            run.on(
                ours_app(SessionMiddleware::new(MemoryStore::default())),
                true,
            )
        }
        "cookie" => run.on(
            ours_app(SessionMiddleware::new(
                CookieStore::encrypted(handlers::COOKIE_KEY)
                    .build()
                    .expect("cookie store"),
            )),
            true,
        ),
        "redis" => run.on(
            ours_app(SessionMiddleware::new(RedisStore::new(redis_pool(
                &redis_url,
            )))),
            true,
        ),
        "actix-cookie" => run.on(
            sys.block_on(test::init_service(
                App::new()
                    .wrap(theirs_middleware(
                        actix_session::storage::CookieSessionStore::default(),
                    ))
                    .configure(theirs::routes),
            )),
            true,
        ),
        "actix-redis" => {
            let store = sys
                .block_on(actix_session::storage::RedisSessionStore::new(redis_url))
                .expect("actix-session redis store");
            run.on(
                sys.block_on(test::init_service(
                    App::new()
                        .wrap(theirs_middleware(store))
                        .configure(theirs::routes),
                )),
                true,
            )
        }
        other => panic!(
            "unknown store {other:?}: bare, memory, memory-migrating, memory-refresh, \
             memory-hooked, memory-prometheus (feature metrics), cookie, redis, actix-cookie, \
             actix-redis"
        ),
    }
}
