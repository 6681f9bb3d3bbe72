//! The counter from Plack::Middleware::Session's synopsis, on the embedded memory store.
//!
//! ```text
//! cargo run --example counter
//! ```
//! then open <http://127.0.0.1:8080/> and reload; `/forget` ends the session.
//! (Browsers accept the default `Secure` cookie on `http://localhost`/`127.0.0.1`. With curl:
//! `curl -c jar -b jar http://127.0.0.1:8080/` twice; recent curl also keeps Secure cookies for
//! localhost.)

use actix_typed_session::{store::MemoryStore, Session, SessionError, SessionMiddleware};
use actix_web::{web, App, HttpResponse, HttpServer};

async fn counter(session: Session) -> Result<String, SessionError> {
    let count: u64 = session.get("counter")?.unwrap_or(0);
    session.set("counter", count + 1)?;
    Ok(format!("Hello, you've been here for {count}th time!\n"))
}

async fn forget(session: Session) -> HttpResponse {
    session.expire();
    HttpResponse::Ok().body("Session ended.\n")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The session layer reports through `tracing` (a tampered cookie, a store that fails): show
    // its events on the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // One store for every worker: build it outside the factory closure and clone it in.
    let store = MemoryStore::default();
    println!("counter example listening on http://{addr}/");
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/", web::get().to(counter))
            .route("/forget", web::get().to(forget))
    })
    .bind(addr)?
    .run()
    .await
}
