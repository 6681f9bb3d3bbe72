//! The counter on PostgreSQL: sessions survive a restart, and several app servers can share them.
//!
//! Point `DATABASE_URL` at a database the app may create tables in (any of):
//! ```text
//! DATABASE_URL=postgres://app:secret@127.0.0.1:5432/app cargo run --example postgres
//! docker run --rm -p 5432:5432 -e POSTGRES_PASSWORD=secret postgres:16   # then
//! DATABASE_URL=postgres://postgres:secret@127.0.0.1:5432/postgres cargo run --example postgres
//! ```
//! and open <http://127.0.0.1:8080/>. The tables (`sessions`, `sessions_values`) are created at
//! start; a table of another shape is reported there. Stop PostgreSQL to see a 503; start it
//! again and the app recovers without a restart.

use actix_typed_session::store::PostgresStore;
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::{web, App, HttpServer};

async fn counter(session: Session) -> Result<String, SessionError> {
    let count: u64 = session.get("counter")?.unwrap_or(0);
    session.set("counter", count + 1)?;
    Ok(format!(
        "Hello, you've been here for {count}th time! (sessions in PostgreSQL)\n"
    ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // An app that already has a pool passes it: `PostgresStore::new(pool.clone())`.
    let store = PostgresStore::from_url(&url).map_err(std::io::Error::other)?;
    // At start-up, before serving: creates what is missing (safe from several servers at once)
    // and fails here, not at the first request, if the tables do not fit.
    store.migrate().await.map_err(std::io::Error::other)?;
    println!("postgres example listening on http://{addr}/");
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/", web::get().to(counter))
    })
    .bind(addr)?
    .run()
    .await
}
