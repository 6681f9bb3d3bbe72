//! "Your devices": log in from two browsers, see both sessions with the device each came from,
//! end the other one, or log out everywhere. On the embedded memory store; `tests/devices.rs`
//! drives it over HTTP with two cookie jars.
//!
//! ```text
//! cargo run --example devices
//! ```
//! then open <http://127.0.0.1:8080/> in two browsers (or a private window) and sign in as the
//! same name in both.

use actix_typed_session::store::{Handle, MemoryStore};
use actix_typed_session::{session, Session, SessionError, SessionMiddleware, Sessions};
use actix_web::http::header::{ContentType, LOCATION, USER_AGENT};
use actix_web::{get, post, web, App, HttpRequest, HttpResponse, HttpServer, Responder};
use serde::{Deserialize, Serialize};

/// The signed-in user: a guard that sends visitors to the login form.
#[derive(Session, Serialize, Deserialize)]
#[session(redirect = "/")]
struct User {
    name: String,
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

#[derive(Deserialize)]
struct End {
    handle: String,
}

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(format!(
            "<!doctype html><meta charset=utf-8><title>devices</title>{body}"
        ))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[get("/")]
async fn index(user: Option<User>) -> impl Responder {
    match user {
        Some(user) => page(&format!(
            "<p>Signed in as {}. <a href=/devices>Your devices</a></p>",
            escape(&user.name)
        )),
        None => page(
            "<form method=post action=/login><input name=name placeholder=name required> \
             <button>sign in</button></form>",
        ),
    }
}

/// A new id against fixation; the session is tied to the user and remembers the device.
#[post("/login")]
#[session(change_id)]
async fn login(
    session: Session,
    form: web::Form<Login>,
    req: HttpRequest,
) -> Result<HttpResponse, SessionError> {
    let name = form.into_inner().name;
    let device = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("an unknown device")
        .to_owned();
    session.set_user(&name);
    session.set("device", device)?;
    session.put(User { name })?;
    Ok(see_other("/devices"))
}

/// Every session of the user: the device, when it was last seen, and a button to end it.
#[get("/devices")]
async fn devices(user: User, sessions: Sessions) -> Result<HttpResponse, SessionError> {
    let mut rows = String::new();
    for s in sessions.of_user(&user.name).await? {
        let device: String = s.get("device")?.unwrap_or_default();
        let action = if s.is_current() {
            "this device".to_owned()
        } else {
            format!(
                "<form method=post action=/devices/end style=display:inline>\
                 <input type=hidden name=handle value={}><button>end</button></form>",
                s.handle()
            )
        };
        rows.push_str(&format!(
            "<li data-handle={}>{} — last seen at {} — {action}</li>",
            s.handle(),
            escape(&device),
            s.last_seen()
        ));
    }
    Ok(page(&format!(
        "<h1>Your devices, {}</h1><ul>{rows}</ul>\
         <form method=post action=/logout-everywhere><button>log out everywhere</button></form>",
        escape(&user.name)
    )))
}

/// Ends one session of the user, by its handle (a handle of someone else's session ends
/// nothing).
#[post("/devices/end")]
async fn end(
    user: User,
    sessions: Sessions,
    form: web::Form<End>,
) -> Result<HttpResponse, SessionError> {
    if let Some(handle) = Handle::parse(&form.handle) {
        sessions.revoke(&user.name, &handle).await?;
    }
    Ok(see_other("/devices"))
}

/// Ends every session of the user, this one included.
#[post("/logout-everywhere")]
async fn logout_everywhere(session: Session) -> HttpResponse {
    session.expire_all();
    see_other("/")
}

/// The example's routes, for `main` and `tests/devices.rs`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index)
        .service(login)
        .service(devices)
        .service(end)
        .service(logout_everywhere);
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The session layer reports through `tracing`: show its events on the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let sessions = SessionMiddleware::builder(MemoryStore::default())
        .max_sessions_per_user(10)
        .try_build()
        .map_err(std::io::Error::other)?;
    println!("devices example listening on http://{addr}/");
    HttpServer::new(move || App::new().wrap(sessions.clone()).configure(routes))
        .bind(addr)?
        .run()
        .await
}
