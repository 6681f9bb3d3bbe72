//! The counter on Redis: several app servers can share the sessions.
//!
//! Start a Redis first (any of):
//! ```text
//! redis-server --port 6379 --save "" --appendonly no      # Debian: apt-get install redis-server
//! docker run --rm -p 6379:6379 redis:7
//! ```
//! then
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example redis
//! ```
//! and open <http://127.0.0.1:8080/>. Stop Redis to see a 503; start it again and the app
//! recovers without a restart.

use actix_typed_session::store::RedisStore;
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::{web, App, HttpServer};

async fn counter(session: Session) -> Result<String, SessionError> {
    let count: u64 = session.get("counter")?.unwrap_or(0);
    session.set("counter", count + 1)?;
    Ok(format!(
        "Hello, you've been here for {count}th time! (sessions in Redis)\n"
    ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The session layer reports through `tracing` (a tampered cookie, a store that fails): show
    // its events on the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let store = RedisStore::from_url(&url).map_err(std::io::Error::other)?;
    println!("redis example listening on http://{addr}/ (Redis at {url})");
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/", web::get().to(counter))
    })
    .bind(addr)?
    .run()
    .await
}
