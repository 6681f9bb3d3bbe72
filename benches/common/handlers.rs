//! The handlers every measurement serves: `benches/sessions.rs` (criterion),
//! `examples/bench_server.rs` (wrk, over real HTTP) and `examples/callgrind_requests.rs`
//! (instruction counts) include this one file, so all three time the same code.
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
#![allow(dead_code)] // not every includer uses every handler

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
