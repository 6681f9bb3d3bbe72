//! The server `benches/wrk.sh` drives over real HTTP: `ATS_WORKERS` workers (default 1), the routes of
//! `support/src/handlers.rs` (`/untouched`, `/read`, `/write`; a `/write` without a cookie is
//! a new visitor), behind the session layer that `MODE` names.
//!
//! ```text
//! cargo run --release --bin bench_server -- MODE [ADDR] [REDIS_URL]
//! ```
//!
//! | `MODE`          | session layer                                                     |
//! |-----------------|-------------------------------------------------------------------|
//! | `bare`          | none (the handlers do the same work without a session)            |
//! | `actix-cookie`  | actix-session 0.11, `CookieSessionStore`, private (encrypted)     |
//! | `actix-redis`   | actix-session 0.11, `RedisSessionStore`, private cookie           |
//! | `ours-memory`   | actix-typed-session, `MemoryStore::default()`                     |
//! | `ours-cookie`   | actix-typed-session, `CookieStore::encrypted`                     |
//! | `ours-redis`    | actix-typed-session, `RedisStore`                                 |
//! | `ours-redis-cached` | actix-typed-session, `RedisStore::cached` (its read cache)    |
//!
//! `ADDR` defaults to `127.0.0.1:8080` (port 0: the OS picks a free one); `REDIS_URL` (argument
//! or environment variable) to `redis://127.0.0.1:6379` (the Redis modes only). Once bound, the
//! server prints `listening on IP:PORT (MODE)` (the port it got), and runs until killed.

use actix_typed_session::store::{deadpool_redis, CookieStore, MemoryStore, ReadCache, RedisStore};
use actix_typed_session::SessionMiddleware;
use actix_web::{App, HttpServer};

use support::handlers::{self, bare, ours, theirs, theirs_middleware};

const MODES: &str =
    "bare, actix-cookie, actix-redis, ours-memory, ours-cookie, ours-redis, ours-redis-cached";

fn redis_pool(url: &str) -> deadpool_redis::Pool {
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("redis pool")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .unwrap_or_else(|| panic!("usage: bench_server MODE [ADDR] [REDIS_URL]; MODE: {MODES}"));
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let redis_url = args
        .next()
        .or_else(|| std::env::var("REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());

    let workers: usize = std::env::var("ATS_WORKERS")
        .ok()
        .map_or(1, |w| w.parse().expect("ATS_WORKERS is a number"));

    // Each arm builds its own HttpServer: the App types differ by middleware.
    macro_rules! serve {
        ($factory:expr) => {{
            let server = HttpServer::new($factory).workers(workers).bind(&addr)?;
            let bound = server.addrs();
            (server.run(), bound)
        }};
    }
    let (server, bound) = match mode.as_str() {
        "bare" => serve!(|| App::new().configure(bare::routes)),
        "actix-cookie" => serve!(|| {
            App::new()
                .wrap(theirs_middleware(
                    actix_session::storage::CookieSessionStore::default(),
                ))
                .configure(theirs::routes)
        }),
        "actix-redis" => {
            let store = actix_session::storage::RedisSessionStore::new(redis_url)
                .await
                .expect("actix-session redis store");
            serve!(move || {
                App::new()
                    .wrap(theirs_middleware(store.clone()))
                    .configure(theirs::routes)
            })
        }
        "ours-memory" | "ours-cookie" | "ours-redis" | "ours-redis-cached" => {
            let mw = match mode.as_str() {
                "ours-memory" => SessionMiddleware::new(MemoryStore::default()),
                "ours-cookie" => SessionMiddleware::new(
                    CookieStore::encrypted(handlers::COOKIE_KEY)
                        .build()
                        .expect("cookie store"),
                ),
                "ours-redis-cached" => SessionMiddleware::new(
                    RedisStore::cached(&redis_url, ReadCache::default())
                        .expect("redis url")
                        .build(),
                ),
                _ => SessionMiddleware::new(RedisStore::new(redis_pool(&redis_url))),
            };
            serve!(move || App::new().wrap(mw.clone()).configure(ours::routes))
        }
        other => panic!("unknown mode {other:?}; one of: {MODES}"),
    };
    for addr in bound {
        println!("listening on {addr} ({mode})");
    }
    server.await
}
