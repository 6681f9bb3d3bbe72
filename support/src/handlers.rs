//! The handlers every measurement serves: `benches/sessions.rs` (criterion),
//! `benches/tools/bench_server.rs` (wrk, over real HTTP) and `benches/tools/callgrind_requests.rs`
//! (instruction counts) use this one module, so all three time the same code.
//!
//! | route          | handler                                                            |
//! |----------------|--------------------------------------------------------------------|
//! | `/untouched`   | ignores the session                                                |
//! | `/read`        | reads the counter `{"n": u64}` under `counter`                     |
//! | `/write`       | increments it (without a cookie: a new visitor's first write)      |
//! | `/typed`       | increments it through a `#[derive(Session)]` (ours only)           |
//! | `/fill/{n}`    | sets `counter` to 0 and `pad1` .. `pad{n-1}`: a session of n keys  |
//!
//! Bare actix-web does the same work without a session.
//!
//! `benches/helpers.rs` (and the `post-read`, `csrf-*` and `flash-*` workloads of
//! `benches/tools/callgrind_requests.rs`) serve [`helpers::routes`] instead: POSTs under `/h/`
//! that read the same counter, with and without `#[session(csrf)]`, a form, or `Flash`.

use serde::{Deserialize, Serialize};

/// The session key every contender's counter lives under.
pub const KEY: &str = "counter";

/// The counter as the untyped handlers store it: the same value, under the same key, as the
/// typed `ours::Counter`, so `typed` and `write` differ only by the typed machinery.
#[derive(Serialize, Deserialize, Default)]
pub struct Count {
    pub n: u64,
}

/// Name of the `i`-th filler key of a `/fill/{n}` session (`i` ≥ 1; key 0 is the counter).
pub fn pad_key(i: usize) -> String {
    format!("pad{i}")
}

pub mod bare {
    use actix_web::web;

    pub async fn untouched() -> &'static str {
        "ok"
    }
    pub async fn read() -> String {
        1u64.to_string()
    }
    pub async fn write() -> String {
        (1u64 + 1).to_string()
    }

    pub fn routes(cfg: &mut web::ServiceConfig) {
        cfg.route("/untouched", web::get().to(untouched))
            .route("/read", web::get().to(read))
            .route("/write", web::get().to(write));
    }
}

pub mod ours {
    use super::{pad_key, Count, KEY};
    use actix_typed_session::{Session, SessionError};
    use actix_web::web;
    use serde::{Deserialize, Serialize};

    pub async fn untouched() -> &'static str {
        "ok"
    }
    pub async fn read(session: Session) -> Result<String, SessionError> {
        let count: Count = session.get(KEY)?.unwrap_or_default();
        Ok(count.n.to_string())
    }
    pub async fn write(session: Session) -> Result<String, SessionError> {
        let mut count: Count = session.get(KEY)?.unwrap_or_default();
        count.n += 1;
        session.set(KEY, &count)?;
        Ok(count.n.to_string())
    }

    /// The typed twin of `write`.
    #[derive(actix_typed_session::Session, Serialize, Deserialize, Default)]
    #[session(key = "counter")]
    pub struct Counter {
        n: u64,
    }

    pub async fn typed(mut counter: Counter) -> String {
        counter.n += 1;
        counter.n.to_string()
    }

    /// `write` on a session tied to a user (`set_user`): the user index's cost per request.
    pub async fn tie(session: Session) -> Result<String, SessionError> {
        session.set_user("user-1");
        write(session).await
    }

    pub async fn fill(session: Session, n: web::Path<usize>) -> Result<String, SessionError> {
        let n = n.into_inner().max(1);
        session.set(KEY, Count { n: 0 })?;
        for i in 1..n {
            session.set(pad_key(i), Count { n: i as u64 })?;
        }
        Ok(session.len().to_string())
    }

    pub fn routes(cfg: &mut web::ServiceConfig) {
        cfg.route("/untouched", web::get().to(untouched))
            .route("/read", web::get().to(read))
            .route("/write", web::get().to(write))
            .route("/typed", web::get().to(typed))
            .route("/tie", web::get().to(tie))
            .route("/fill/{n}", web::get().to(fill));
    }
}

pub mod theirs {
    use super::{pad_key, Count, KEY};
    use actix_session::Session;
    use actix_web::error::ErrorInternalServerError;
    use actix_web::web;

    pub async fn untouched() -> &'static str {
        "ok"
    }
    pub async fn read(session: Session) -> actix_web::Result<String> {
        let count: Count = session
            .get(KEY)
            .map_err(ErrorInternalServerError)?
            .unwrap_or_default();
        Ok(count.n.to_string())
    }
    pub async fn write(session: Session) -> actix_web::Result<String> {
        let mut count: Count = session
            .get(KEY)
            .map_err(ErrorInternalServerError)?
            .unwrap_or_default();
        count.n += 1;
        session
            .insert(KEY, &count)
            .map_err(ErrorInternalServerError)?;
        Ok(count.n.to_string())
    }

    /// The same `n` keys as `ours::fill`; actix-session keeps them as one serialized map.
    pub async fn fill(session: Session, n: web::Path<usize>) -> actix_web::Result<String> {
        let n = n.into_inner().max(1);
        session
            .insert(KEY, Count { n: 0 })
            .map_err(ErrorInternalServerError)?;
        for i in 1..n {
            session
                .insert(pad_key(i), Count { n: i as u64 })
                .map_err(ErrorInternalServerError)?;
        }
        Ok(session.entries().len().to_string())
    }

    pub fn routes(cfg: &mut web::ServiceConfig) {
        cfg.route("/untouched", web::get().to(untouched))
            .route("/read", web::get().to(read))
            .route("/write", web::get().to(write))
            .route("/fill/{n}", web::get().to(fill));
    }
}

/// The routes of `benches/helpers.rs`: the cost of the request helpers (`#[session(csrf)]`,
/// `Flash`) on top of a handler that reads the counter. Every one but the setup routes is a POST
/// (CSRF checks only unsafe methods).
///
/// | route                 | handler                                                          |
/// |-----------------------|------------------------------------------------------------------|
/// | `POST /h/read`        | `ours::read` (bare: `bare::read`; actix-session: `theirs::read`) |
/// | `POST /h/csrf/read`   | the same under `#[session(csrf)]`                                 |
/// | `POST /h/form/read`   | reads the counter and a `web::Form<Comment>`                      |
/// | `POST /h/csrf/form/read` | the same under `#[session(csrf)]`                              |
/// | `POST /h/flash/untouched` | takes `Flash`, neither sets nor reads it                      |
/// | `POST /h/flash/set`   | `flash.success(..)`, answers 303 See Other                         |
/// | `GET /h/flash/read`   | `flash.messages()`, answers how many there were                   |
/// | `GET /h/token`        | setup: the session's `CsrfToken`, masked (creates the session)    |
/// | `GET /h/write`        | setup: `ours::write` (bare and actix-session: their `write`)      |
pub mod helpers {
    use super::{bare, ours, theirs};
    use actix_typed_session::{session, CsrfToken, Flash, Session, SessionError};
    use actix_web::{http::header::LOCATION, web, HttpResponse};
    use serde::Deserialize;

    /// The form the `form` routes read (the CSRF field, when sent, is ignored by it).
    #[derive(Deserialize)]
    pub struct Comment {
        pub text: String,
    }

    /// `ours::read` behind the CSRF check.
    #[session(csrf)]
    pub async fn csrf_read(session: Session) -> Result<String, SessionError> {
        ours::read(session).await
    }

    /// `ours::read` and a form: the body is read and parsed.
    pub async fn form_read(
        session: Session,
        form: web::Form<Comment>,
    ) -> Result<String, SessionError> {
        let n = ours::read(session).await?;
        Ok(format!("{n} {}", form.text))
    }

    /// `form_read` behind the CSRF check (the token may come in the form).
    #[session(csrf)]
    pub async fn csrf_form_read(
        session: Session,
        form: web::Form<Comment>,
    ) -> Result<String, SessionError> {
        form_read(session, form).await
    }

    /// Takes the flash messages and does nothing with them.
    pub async fn flash_untouched(_flash: Flash) -> &'static str {
        "ok"
    }

    /// Sets one message for the next request and redirects, as a form's POST does.
    pub async fn flash_set(flash: Flash) -> HttpResponse {
        flash.success("Saved.");
        HttpResponse::SeeOther()
            .insert_header((LOCATION, "/h/flash/read"))
            .finish()
    }

    /// Reads (and so consumes) the messages; answers their number.
    pub async fn flash_read(flash: Flash) -> String {
        flash.messages().len().to_string()
    }

    /// The session's CSRF token, freshly masked; creates the token (and the session) if needed.
    pub async fn token(csrf: CsrfToken) -> String {
        csrf.to_string()
    }

    /// actix-typed-session's routes (see the table above).
    pub fn routes(cfg: &mut web::ServiceConfig) {
        cfg.route("/h/read", web::post().to(ours::read))
            .route("/h/csrf/read", web::post().to(csrf_read))
            .route("/h/form/read", web::post().to(form_read))
            .route("/h/csrf/form/read", web::post().to(csrf_form_read))
            .route("/h/flash/untouched", web::post().to(flash_untouched))
            .route("/h/flash/set", web::post().to(flash_set))
            .route("/h/flash/read", web::get().to(flash_read))
            .route("/h/token", web::get().to(token))
            .route("/h/write", web::get().to(ours::write));
    }

    /// Bare actix-web's: the same read without a session.
    pub fn bare_routes(cfg: &mut web::ServiceConfig) {
        cfg.route("/h/read", web::post().to(bare::read))
            .route("/h/write", web::get().to(bare::write));
    }

    /// actix-session's: the same read on its session.
    pub fn theirs_routes(cfg: &mut web::ServiceConfig) {
        cfg.route("/h/read", web::post().to(theirs::read))
            .route("/h/write", web::get().to(theirs::write));
    }
}

/// The encryption key both libraries' cookies are sealed with in every measurement.
pub const COOKIE_KEY: [u8; 64] = [7u8; 64];

/// actix-session's middleware on `store`, private (encrypted) cookie, as every measurement
/// configures it.
pub fn theirs_middleware<St: actix_session::storage::SessionStore + 'static>(
    store: St,
) -> actix_session::SessionMiddleware<St> {
    let key = actix_web::cookie::Key::from(&COOKIE_KEY);
    actix_session::SessionMiddleware::builder(store, key)
        .cookie_content_security(actix_session::config::CookieContentSecurity::Private)
        .build()
}
