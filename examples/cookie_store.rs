//! The counter with the whole session sealed in an encrypted cookie: no server storage at all.
//!
//! ```text
//! SESSION_KEY=$(head -c 64 /dev/urandom | base64 -w0) cargo run --example cookie_store
//! ```
//! then open <http://127.0.0.1:8080/>. Without `SESSION_KEY` a random key is drawn at start, so
//! sessions end when the process restarts. Keep the key secret and the same on every server;
//! rotate with `.fallback_keys([old_key])`.

use actix_typed_session::store::CookieStore;
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::{web, App, HttpServer};

async fn counter(session: Session) -> Result<String, SessionError> {
    let count: u64 = session.get("counter")?.unwrap_or(0);
    session.set("counter", count + 1)?;
    Ok(format!(
        "Hello, you've been here for {count}th time! (session in the cookie)\n"
    ))
}

async fn forget(session: Session) -> &'static str {
    session.expire();
    "Session ended.\n"
}

fn key() -> Vec<u8> {
    match std::env::var("SESSION_KEY") {
        Ok(key) => key.into_bytes(),
        Err(_) => {
            let mut key = vec![0u8; 64];
            for chunk in key.chunks_mut(32) {
                // Two fresh session ids' worth of OS randomness: 384 bits, as printable text.
                chunk.copy_from_slice(
                    &actix_typed_session::SessionId::generate()
                        .as_str()
                        .as_bytes()[..chunk.len()],
                );
            }
            key
        }
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The session layer reports through `tracing` (a tampered cookie, a store that fails): show
    // its events on the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let store = CookieStore::encrypted(key())
        .build()
        .map_err(std::io::Error::other)?;
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    println!("cookie_store example listening on http://{addr}/");
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
