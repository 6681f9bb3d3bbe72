//! The counter on SQLite: sessions in a file that survive a restart of the app, no server.
//!
//! ```text
//! cargo run --example sqlite                          # sessions.db in the current directory
//! SQLITE_URL=sqlite:///tmp/s.db cargo run --example sqlite
//! ```
//! then open <http://127.0.0.1:8080/>. Stop the app and start it again: the count goes on.

use actix_typed_session::store::SqliteStore;
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::{web, App, HttpServer};

async fn counter(session: Session) -> Result<String, SessionError> {
    let count: u64 = session.get("counter")?.unwrap_or(0);
    session.set("counter", count + 1)?;
    Ok(format!(
        "Hello, you've been here for {count}th time! (sessions in SQLite)\n"
    ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let url = std::env::var("SQLITE_URL").unwrap_or_else(|_| "sqlite://sessions.db".into());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // WAL, created if missing; the schema is made now (or checked), not at the first request.
    let store = SqliteStore::from_url(&url).map_err(std::io::Error::other)?;
    store.migrate().await.map_err(std::io::Error::other)?;
    println!("sqlite example listening on http://{addr}/ (sessions in {url})");
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/", web::get().to(counter))
    })
    .bind(addr)?
    .run()
    .await
}
