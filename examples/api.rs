//! A JSON API for clients that keep no cookies (a mobile app, a single-page app on another
//! origin): the session id travels in `Authorization: Bearer <id>`, a new id comes back in the
//! response header `X-Session-Id`, and the session's expiry in `X-Session-Expires` (Unix
//! seconds). A request without a signed-in user is answered `401` with a JSON body and
//! `WWW-Authenticate: Bearer`. The app sits behind `actix-cors`, which exposes both headers to
//! browser scripts. `tests/http/api.rs` drives it over HTTP.
//!
//! ```text
//! cargo run --example api
//! curl -si -X POST -H 'content-type: application/json' -d '{"name":"ada"}' \
//!     http://127.0.0.1:8080/login                  # note X-Session-Id
//! curl -si -H 'authorization: Bearer <id>' http://127.0.0.1:8080/me
//! curl -sN -H 'authorization: Bearer <id>' http://127.0.0.1:8080/events
//! curl -si -X POST -H 'authorization: Bearer <id>' http://127.0.0.1:8080/logout
//! ```

use std::time::Duration;

use actix_cors::Cors;
use actix_typed_session::state::HeaderState;
use actix_typed_session::store::{MemoryStore, SessionStore};
use actix_typed_session::{session, Session, SessionError, SessionMiddleware};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, App, HttpResponse, HttpServer, ResponseError};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

/// The response header that carries a new session id (and an empty value after logout).
pub const ID_HEADER: &str = "x-session-id";
/// The response header that carries the session's expiry, in Unix seconds.
pub const EXPIRY_HEADER: &str = "x-session-expires";

/// The signed-in user: no `Default`, so a guard. Without it a route answers `401`, rendered
/// as JSON by [`error_json`].
#[derive(Session, Serialize, Deserialize)]
struct User {
    name: String,
}

/// The login request's body.
#[derive(Deserialize)]
struct Login {
    name: String,
}

/// Signs in (a real app checks a password here) under a new session id, against session
/// fixation: the id comes back in `X-Session-Id`.
#[post("/login")]
#[session(change_id)]
async fn login(session: Session, body: web::Json<Login>) -> Result<HttpResponse, SessionError> {
    let Login { name } = body.into_inner();
    session.put(User { name: name.clone() })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "user": name })))
}

/// A guarded JSON route.
#[get("/me")]
async fn me(user: User, session: Session) -> Result<HttpResponse, SessionError> {
    let streamed: u64 = session.get("streamed")?.unwrap_or(0);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "user": user.name, "streamed": streamed })))
}

/// Server-sent events. `late_store`: the session is saved when the stream ends, so what the
/// stream changes (here the count of events sent) is kept.
#[get("/events")]
#[session(late_store)]
async fn events(user: User, session: Session) -> HttpResponse {
    let greeting = format!("data: hello {}\n\n", user.name);
    let ticks = futures_util::stream::iter(1..=3u64).then(move |n| {
        let session = session.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let total = session.get::<u64>("streamed").ok().flatten().unwrap_or(0) + 1;
            if let Err(e) = session.set("streamed", total) {
                tracing::warn!(error = %e, "could not count the event");
            }
            Ok::<_, actix_web::Error>(web::Bytes::from(format!("data: tick {n}\n\n")))
        }
    });
    let body =
        futures_util::stream::once(
            async move { Ok::<_, actix_web::Error>(web::Bytes::from(greeting)) },
        )
        .chain(ticks);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body)
}

/// Ends the session: the store forgets it, and `X-Session-Id` comes back empty (the
/// empty-header rule of header mode), telling the client to drop its id.
#[post("/logout")]
#[session(expire)]
async fn logout() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// Every answer the session layer gives instead of a handler, as JSON: `401` with
/// `WWW-Authenticate: Bearer` for a guard's rejection, `503` for a store that is down.
pub fn error_json(err: &SessionError) -> HttpResponse {
    let (status, error) = match err {
        SessionError::Rejected { status, .. } if *status == StatusCode::UNAUTHORIZED => {
            (*status, "unauthorized")
        }
        SessionError::Rejected { .. } => return err.error_response(),
        SessionError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        _ => (err.status_code(), "session error"),
    };
    let mut res = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    res.json(serde_json::json!({ "error": error }))
}

/// The session layer of the API: the id in `Authorization: Bearer`, new ids in `X-Session-Id`,
/// the expiry in `X-Session-Expires`, errors as JSON.
pub fn sessions(store: impl SessionStore) -> SessionMiddleware {
    SessionMiddleware::builder(store)
        .state(HeaderState::bearer_with(ID_HEADER))
        .expiry_header(EXPIRY_HEADER)
        .error_response(error_json)
        .build()
}

/// CORS for a browser client served from `origin`: it may send `Authorization` and
/// `Content-Type`, and its scripts may read the id and expiry headers.
pub fn cors(origin: &str) -> Cors {
    Cors::default()
        .allowed_origin(origin)
        .allowed_methods(["GET", "POST"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([ID_HEADER, EXPIRY_HEADER])
        .max_age(3600)
}

/// The API's routes, for `main` and for `tests/http/api.rs`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login)
        .service(me)
        .service(events)
        .service(logout);
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let origin = std::env::var("ORIGIN").unwrap_or_else(|_| "http://localhost:3000".into());
    // One store for every worker: build it outside the factory closure and clone it in.
    let store = MemoryStore::default();
    println!("api example listening on http://{addr}/ (CORS origin {origin})");
    HttpServer::new(move || {
        App::new()
            // CORS outermost: it answers preflights and adds its headers to every response,
            // the session layer's rejections included.
            .wrap(sessions(store.clone()))
            .wrap(cors(&origin))
            .configure(routes)
    })
    .bind(addr)?
    .run()
    .await
}
