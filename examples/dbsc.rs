//! Device Bound Session Credentials (feature `dbsc`): sign in, and a browser that speaks DBSC
//! (Chrome 145+ on Windows; elsewhere with the flags below) registers a key pair with the
//! middleware (offered at sign-in, and on every page of a signed-in session not bound yet); from then on the session opens only with a bound cookie that lives two minutes
//! and that only that browser can renew. The home page says whether this browser's session is
//! bound; a browser without DBSC works as before.
//!
//! ```text
//! cargo run --example dbsc
//! ```
//! then open <http://localhost:8080/> (localhost counts as a secure origin). On Linux, Chromium
//! needs DBSC and its software keys switched on, e.g.
//! `chromium --enable-features=DeviceBoundSessions,EnableBoundSessionCredentialsSoftwareKeysForManualTesting`
//! (or the `chrome://flags` entries "Device Bound Session Credentials" and "software keys for
//! manual testing"). The terminal shows the registration and each refresh;
//! `tests/http/dbsc.rs` drives it with a test client that plays the browser.

use std::time::Duration;

use actix_typed_session::dbsc::Dbsc;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{session, CsrfToken, Session, SessionError, SessionMiddleware};
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{get, post, web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Deserialize;

#[derive(Deserialize)]
struct Login {
    name: String,
}

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(format!(
            "<!doctype html><meta charset=utf-8><title>dbsc</title>{body}"
        ))
}

/// Who is signed in, and whether this request came with a bound cookie; or the login form.
#[get("/")]
async fn index(session: Session, csrf: CsrfToken, req: HttpRequest) -> impl actix_web::Responder {
    let bound = req
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("__Host-bound="));
    match session.user() {
        Some(name) => page(&format!(
            "<p id=who>Signed in as {}.</p><p id=bound>bound: {}</p>\
             <form method=post action=/logout><input type=hidden name=csrf_token value={csrf}>\
             <button>log out</button></form>",
            name.replace('<', "&lt;"),
            if bound { "yes" } else { "no" }
        )),
        None => page(&format!(
            "<form method=post action=/login><input type=hidden name=csrf_token value={csrf}>\
             <input name=name placeholder=name required> <button>sign in</button></form>"
        )),
    }
}

/// Signs in (a new id, the session tied to the user): the response offers DBSC registration.
#[post("/login")]
#[session(change_id, csrf)]
async fn login(session: Session, form: web::Form<Login>) -> Result<HttpResponse, SessionError> {
    session.set_user(&form.name);
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish())
}

/// Ends the session: the browser's next refresh is told to stop.
#[post("/logout")]
#[session(expire, csrf)]
async fn logout() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .finish()
}

/// The example's middleware: DBSC on, bound cookies of two minutes (so a refresh is soon seen),
/// offered on every page of a signed-in session that is not bound yet.
pub fn middleware(store: MemoryStore) -> SessionMiddleware {
    SessionMiddleware::builder(store)
        .device_bound(
            Dbsc::new()
                .cookie_lifetime(Duration::from_secs(120))
                .offer_on_every_response(true),
        )
        .build()
}

/// The example's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index).service(login).service(logout);
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let sessions = middleware(MemoryStore::default());
    println!("dbsc example listening on http://{addr}/ (open it as http://localhost:PORT/)");
    HttpServer::new(move || App::new().wrap(sessions.clone()).configure(routes))
        .bind(addr)?
        .run()
        .await
}
