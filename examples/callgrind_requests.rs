//! Requests for `benches/callgrind.sh` to count instructions on: one workload through one app,
//! `WARM` requests first, then `MEASURED` requests inside [`measured_requests`], the only function
//! callgrind collects in (`--toggle-collect=*measured_requests*`). One thread, one actix
//! (tokio current-thread) runtime, requests through `actix_web::test` as in
//! `benches/sessions.rs`, the handlers of `benches/common/handlers.rs`.
//!
//! ```text
//! cargo build --release --example callgrind_requests
//! valgrind --tool=callgrind --toggle-collect='*measured_requests*' \
//!     target/release/examples/callgrind_requests STORE WORKLOAD [WARM] [MEASURED]
//! ```
//!
//! - `STORE`: `bare` (no session layer), `memory`, `cookie` (encrypted), `redis` (ours), or
//!   `actix-cookie`, `actix-redis` (actix-session 0.11, private cookie). The Redis ones talk to
//!   `REDIS_URL` (default `redis://127.0.0.1:6379`): the script starts a private server.
//! - `WORKLOAD`: `untouched`, `read`, `write` (increment), `typed` (ours only), or `new` (a
//!   `/write` without a cookie: a new visitor's first write); `tied-read`, `tied-write`: the
//!   same on a session tied to a user (ours only).
//! - `WARM` (default 1000) and `MEASURED` (default 5000) requests.
//!
//! Every request sends the same cookie, from one first `/write` (bare actix-web gets a cookie of
//! the same shape that nothing reads); `new` sends none. The harness's own work (building each
//! request, reading the body) is counted too, the same for every store: compare with `bare`.

use std::hint::black_box;

use actix_http::Request;
use actix_typed_session::store::{deadpool_redis, CookieStore, MemoryStore, RedisStore};
use actix_typed_session::SessionMiddleware;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{COOKIE, SET_COOKIE};
use actix_web::rt::SystemRunner;
use actix_web::{test, App};

#[path = "../benches/common/handlers.rs"]
mod handlers;

use handlers::{bare, ours, theirs, theirs_middleware};

fn request(path: &str, cookie: Option<&str>) -> Request {
    let mut req = test::TestRequest::get().uri(path);
    if let Some(cookie) = cookie {
        req = req.insert_header((COOKIE, cookie.to_owned()));
    }
    req.to_request()
}

/// `n` requests, each answered and its body read; panics on a non-2xx answer.
#[inline(never)]
fn drive<S, B>(sys: &SystemRunner, app: &S, path: &str, cookie: Option<&str>, n: u64)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    sys.block_on(async {
        for _ in 0..n {
            let res = test::call_service(app, request(path, cookie)).await;
            assert!(res.status().is_success(), "{path}: {}", res.status());
            black_box(test::read_body(res).await);
        }
    });
}

/// The measured requests: callgrind collects only while this function runs.
#[inline(never)]
fn measured_requests<S, B>(sys: &SystemRunner, app: &S, path: &str, cookie: Option<&str>, n: u64)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    drive(sys, app, path, cookie, n);
}

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
        // `tied-*`: the same workloads on a session tied to a user (`/tie`, ours only).
        let (workload, first) = match self.workload.strip_prefix("tied-") {
            Some(w) => (w, "/tie"),
            None => (self.workload, "/write"),
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
            other => panic!("unknown workload {other:?}: untouched, read, write, typed, new"),
        };
        drive(self.sys, &app, &path, cookie, self.warm);
        measured_requests(self.sys, &app, &path, cookie, self.measured);
        eprintln!(
            "{} measured requests of {path} (after {} warm ones)",
            self.measured, self.warm
        );
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
    let ours_app = |mw: SessionMiddleware| {
        sys.block_on(test::init_service(
            App::new().wrap(mw).configure(ours::routes),
        ))
    };
    match store {
        "bare" => run.on(
            sys.block_on(test::init_service(App::new().configure(bare::routes))),
            false,
        ),
        "memory" => run.on(
            ours_app(SessionMiddleware::new(MemoryStore::default())),
            true,
        ),
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
            "unknown store {other:?}: bare, memory, cookie, redis, actix-cookie, actix-redis"
        ),
    }
}
