//! "Your devices": log in from two browsers, see both sessions with the device each came from
//! and when it was last seen ("3 minutes ago"), end the other one, or log out everywhere; sign
//! out every other device, which asks for the password again when the sign-in is more than five
//! minutes old (step-up: `#[session(fresh = "5m")]`); and the account's recent activity (new
//! sign-ins with their device, sessions ended and by whom, refused requests), kept from the
//! middleware's session events (`on_event`). Every
//! form carries a CSRF token and every `POST` checks it (`#[session(csrf)]`), the login form
//! too: without it, another site could sign a visitor in to the attacker's account (login
//! CSRF). On the embedded memory store; `tests/http/devices.rs` drives it over HTTP with two cookie
//! jars.
//!
//! ```text
//! cargo run --example devices
//! ```
//! then open <http://127.0.0.1:8080/> in two browsers (or a private window) and sign in as the
//! same name in both.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_typed_session::clock::Clock;
use actix_typed_session::store::{Handle, MemoryStore};
use actix_typed_session::typed::local_path;
use actix_typed_session::{
    session, CsrfToken, RevokedBy, Session, SessionError, SessionEvent, SessionEventKind,
    SessionMiddleware, Sessions,
};
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{get, post, web, App, HttpResponse, HttpServer, Responder};
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

#[derive(Deserialize)]
struct Confirm {
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
struct Next {
    #[serde(default)]
    next: String,
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

/// The hidden field that carries the CSRF token in a form (masked anew on every use).
fn csrf_field(csrf: &CsrfToken) -> String {
    format!("<input type=hidden name=csrf_token value={csrf}>")
}

/// How long ago `then` was, at `now` (Unix seconds), as a person says it: "just now",
/// "1 minute ago", "3 hours ago", "2 days ago".
pub fn ago(now: u64, then: u64) -> String {
    let seconds = now.saturating_sub(then);
    let (n, unit) = match seconds {
        0..=59 => return "just now".to_owned(),
        60..=3_599 => (seconds / 60, "minute"),
        3_600..=86_399 => (seconds / 3_600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    format!("{n} {unit}{plural} ago")
}

/// A moment (Unix seconds) as a UTC date and time to the minute: "2026-03-01 09:05 UTC".
pub fn utc(secs: u64) -> String {
    fn leap(year: u64) -> bool {
        year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
    }
    let (mut days, time) = (secs / 86_400, secs % 86_400);
    let year_length = |year| if leap(year) { 366 } else { 365 };
    let mut year = 1970;
    while days >= year_length(year) {
        days -= year_length(year);
        year += 1;
    }
    let february = if leap(year) { 29 } else { 28 };
    let mut month = 1;
    for length in [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    format!(
        "{year}-{month:02}-{:02} {:02}:{:02} UTC",
        days + 1,
        time / 3_600,
        time % 3_600 / 60
    )
}

/// The account activity an app keeps from the session events: who, when (Unix seconds), what,
/// newest last, the last 1000 entries of every user together (a real app writes them to its
/// database, from a task or a channel: the hook runs in the request).
#[derive(Clone, Default)]
pub struct Activity(Arc<Mutex<VecDeque<(String, u64, String)>>>);

impl Activity {
    /// Keeps what `event` tells a user about their account, if anything.
    pub fn record(&self, event: &SessionEvent) {
        let Some(user) = event.user.clone() else {
            return; // an anonymous visitor's session: nothing about an account
        };
        let what = match event.kind {
            SessionEventKind::Tied => format!(
                "signed in from {} ({})",
                event.user_agent.as_deref().unwrap_or("an unknown device"),
                event.ip.as_deref().unwrap_or("no IP")
            ),
            SessionEventKind::Revoked(by) => {
                let whom = match by {
                    RevokedBy::User => "signed out",
                    RevokedBy::OtherDevice => "ended from another device",
                    RevokedBy::Cap => "ended by a newer sign-in (10 at most)",
                    RevokedBy::Admin => "ended by an administrator",
                    _ => "ended",
                };
                match (event.handle.as_ref(), event.sessions) {
                    (Some(handle), _) => format!("session {handle} {whom}"),
                    (None, 1) => format!("1 session {whom}"),
                    (None, n) => format!("{n} sessions {whom}"),
                }
            }
            SessionEventKind::Expired(_) => "a session expired".to_owned(),
            SessionEventKind::Rejected(_) => "a request was refused".to_owned(),
            _ => return, // created, rotated: not news to the user
        };
        let at = event
            .at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == 1000 {
            log.pop_front();
        }
        log.push_back((user, at, what));
    }

    /// `user`'s activity, newest first, at most `n` entries.
    pub fn of(&self, user: &str, n: usize) -> Vec<(u64, String)> {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.iter()
            .rev()
            .filter(|(who, ..)| who == user)
            .take(n)
            .map(|(_, at, what)| (*at, what.clone()))
            .collect()
    }
}

/// The home page: who is signed in, or the login form. The form's CSRF token is kept in the
/// session, so a first visit gets a session.
#[get("/")]
async fn index(user: Option<User>, csrf: CsrfToken) -> impl Responder {
    match user {
        Some(user) => page(&format!(
            "<p>Signed in as {}. <a href=/devices>Your devices</a></p>",
            escape(&user.name)
        )),
        None => page(&format!(
            "<form method=post action=/login>{}<input name=name placeholder=name required> \
             <button>sign in</button></form>",
            csrf_field(&csrf)
        )),
    }
}

/// A new id against fixation; the session is tied to the user (the middleware records the
/// device it signed in from: its user agent and IP, `SessionInfo::user_agent` / `ip`). The
/// CSRF check stops login CSRF (another site's form signing the visitor in to the attacker's
/// account, where what the visitor does next is the attacker's to read); the token changes with
/// the id.
#[post("/login")]
#[session(change_id, csrf)]
async fn login(session: Session, form: web::Form<Login>) -> Result<HttpResponse, SessionError> {
    let name = form.into_inner().name;
    session.set_user(&name);
    session.put(User { name })?;
    Ok(see_other("/devices"))
}

/// Every session of the user: the device, when it was last seen, and a button to end it.
#[get("/devices")]
async fn devices(
    user: User,
    sessions: Sessions,
    csrf: CsrfToken,
    activity: Option<web::Data<Activity>>,
) -> Result<HttpResponse, SessionError> {
    // The middleware's clock, the one that set `last_seen`.
    let now = sessions.now();
    let mut rows = String::new();
    for s in sessions.of_user(&user.name).await? {
        let device = match (s.user_agent(), s.ip()) {
            (Some(agent), Some(ip)) => format!("{agent} ({ip})"),
            (Some(agent), None) => agent.to_owned(),
            (None, _) => "an unknown device".to_owned(),
        };
        let action = if s.is_current() {
            "this device".to_owned()
        } else {
            format!(
                "<form method=post action=/devices/end style=display:inline>{}\
                 <input type=hidden name=handle value={}><button>end</button></form>",
                csrf_field(&csrf),
                s.handle()
            )
        };
        rows.push_str(&format!(
            "<li data-handle={}>{} — last seen {} ({}) — {action}</li>",
            s.handle(),
            escape(&device),
            ago(now, s.last_seen()),
            utc(s.last_seen())
        ));
    }
    let recent: String = activity
        .map(|a| a.of(&user.name, 10))
        .unwrap_or_default()
        .into_iter()
        .map(|(at, what)| format!("<li>{} — {}</li>", utc(at), escape(&what)))
        .collect();
    Ok(page(&format!(
        "<h1>Your devices, {}</h1><ul>{rows}</ul>\
         <form method=post action=/devices/end-others>{}\
         <button>sign out every other device</button></form>\
         <form method=post action=/logout-everywhere>{}\
         <button>log out everywhere</button></form>\
         <h2>Recent activity</h2><ol class=activity>{recent}</ol>",
        escape(&user.name),
        csrf_field(&csrf),
        csrf_field(&csrf)
    )))
}

/// "Is it you?": the page step-up sends a signed-in visitor to when a sensitive action needs a
/// recent password (`confirm_path`); `next` is where to go back to.
#[get("/confirm")]
async fn confirm_page(user: User, csrf: CsrfToken, next: web::Query<Next>) -> impl Responder {
    page(&format!(
        "<p>{}, please enter your password again (in this example it is your name).</p>\
         <form method=post action=/confirm>{}<input type=hidden name=next value=\"{}\">\
         <input type=password name=password required> <button>confirm</button></form>",
        escape(&user.name),
        csrf_field(&csrf),
        escape(&next.next)
    ))
}

/// Checks the password (this example's is the user's name; a real app checks its own), records
/// the fresh authentication, and goes back to `next` if it is a path of this site.
#[post("/confirm")]
#[session(csrf)]
async fn confirm(session: Session, user: User, form: web::Form<Confirm>) -> HttpResponse {
    let form = form.into_inner();
    if form.password != user.name {
        return see_other("/confirm");
    }
    session.mark_authenticated();
    see_other(local_path(&form.next).unwrap_or("/devices"))
}

/// Signs out every other session of the user, this one staying: a sensitive action, so only
/// within five minutes of a sign-in or a password check (older: to `/confirm` first).
#[post("/devices/end-others")]
#[session(csrf, fresh = "5m")]
async fn end_others(session: Session) -> HttpResponse {
    session.expire_others();
    see_other("/devices")
}

/// Ends one session of the user, by its handle (a handle of someone else's session ends
/// nothing). Only with the CSRF token of the devices page: another site cannot end them.
#[post("/devices/end")]
#[session(csrf)]
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

/// Ends every session of the user, this one included (with the page's CSRF token, as every
/// `POST` here).
#[post("/logout-everywhere")]
#[session(csrf)]
async fn logout_everywhere(session: Session) -> HttpResponse {
    session.expire_all();
    see_other("/")
}

/// The example's routes, for `main` and `tests/http/devices.rs`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index)
        .service(login)
        .service(devices)
        .service(end)
        .service(confirm_page)
        .service(confirm)
        .service(end_others)
        .service(logout_everywhere);
}

/// The example's middleware on `store` and `clock`: at most 10 sessions per user, the
/// confirm page for step-up, and the session events kept in `activity` (give the app the same
/// `Activity` as `web::Data` for the devices page to show it).
pub fn middleware(store: MemoryStore, clock: impl Clock, activity: &Activity) -> SessionMiddleware {
    let activity = activity.clone();
    SessionMiddleware::builder(store)
        .clock(clock)
        .max_sessions_per_user(10)
        .confirm_path("/confirm")
        .on_event(move |event| activity.record(event))
        .build()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The session layer reports through `tracing`: show its events on the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let activity = Activity::default();
    let sessions = middleware(
        MemoryStore::default(),
        actix_typed_session::clock::SystemClock,
        &activity,
    );
    let activity = web::Data::new(activity);
    println!("devices example listening on http://{addr}/");
    HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .app_data(activity.clone())
            .configure(routes)
    })
    .bind(addr)?
    .run()
    .await
}
