//! `Session::remember`: "keep me signed in" for one session: its own idle and absolute
//! timeouts and a persistent cookie, on a server-side store (whole and partial loads), on the
//! cookie store, and across `change_id`.

use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::{CookieStore, IntoBackend, MemoryStore, RedisStore};
use actix_typed_session::{Session, SessionError, SessionId, SessionMiddleware};
use actix_web::{test, web, App};
use serde::{Deserialize, Serialize};
use support::redis::RedisServer;
use support::*;

const IDLE: Duration = Duration::from_secs(100);
const ABSOLUTE: Duration = Duration::from_secs(1000);
const REMEMBER: u64 = 5000;

async fn login(session: Session, remember: web::Path<bool>) -> Result<&'static str, SessionError> {
    session.set_user("ann");
    session.set("n", 0u64)?;
    if *remember {
        session.remember(Duration::from_secs(REMEMBER));
    }
    Ok("in")
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(format!("{:?}", session.get::<u64>("n")?))
}

async fn rotate(session: Session) -> &'static str {
    session.change_id();
    "rotated"
}

async fn clear(session: Session) -> &'static str {
    session.clear();
    "cleared"
}

/// A typed session: its extractor loads one key, not the lifetime.
#[derive(actix_typed_session::Session, Serialize, Deserialize, Default)]
#[session(key = "n")]
struct N(u64);

async fn typed(mut n: N) -> String {
    n.0 += 1;
    n.0.to_string()
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login/{remember}", web::get().to(login))
        .route("/read", web::get().to(read))
        .route("/typed", web::get().to(typed))
        .route("/rotate", web::get().to(rotate))
        .route("/clear", web::get().to(clear));
}

fn mw<S: IntoBackend>(store: S, clock: &ManualClock) -> SessionMiddleware {
    SessionMiddleware::builder(store)
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .absolute_timeout(ABSOLUTE)
        .build()
}

fn max_age(res: &Resp) -> Option<i64> {
    res.session()?.max_age().map(|d| d.whole_seconds())
}

/// A remembered session outlives both timeouts of the middleware, up to its own; a session
/// that is not remembered keeps the middleware's. `through` is the route the visits use.
async fn outlives_the_middleware<S: IntoBackend + Clone>(store: S, through: &str) {
    let clock = ManualClock::new();
    let app = test::init_service(App::new().wrap(mw(store, &clock)).configure(routes)).await;
    let res = send(&app, get("/login/true", None)).await;
    let age = max_age(&res).expect("a persistent cookie");
    assert!(
        (REMEMBER as i64 - 5..=REMEMBER as i64).contains(&age),
        "{age}"
    );
    let mut kept = res.id().unwrap();
    let plain = send(&app, get("/login/false", None)).await;
    assert_eq!(
        max_age(&plain),
        None,
        "the middleware's browser-session cookie"
    );
    let plain = plain.id().unwrap();

    // Visits every 400 s (past the idle timeout of 100 s), to 2000 s (past the absolute 1000 s).
    for visit in 1..=5u64 {
        clock.advance(Duration::from_secs(400));
        let res = send(&app, get(through, Some(&kept))).await;
        let expected = match through {
            "/typed" => visit.to_string(),
            _ => "Some(0)".to_owned(),
        };
        assert_eq!(
            res.body, expected,
            "{through}: the remembered session lives on"
        );
        if let Some(id) = res.id() {
            kept = id; // the cookie store seals the session again
            assert!(max_age(&res).is_some(), "a re-sent cookie stays persistent");
        }
    }
    assert_eq!(send(&app, get("/read", Some(&plain))).await.body, "None");
    // Past its own absolute lifetime from its creation, it ends too.
    clock.advance(Duration::from_secs(3100));
    assert_eq!(send(&app, get("/read", Some(&kept))).await.body, "None");
}

#[actix_web::test]
async fn a_remembered_session_outlives_the_middlewares_timeouts_on_the_memory_store() {
    outlives_the_middleware(MemoryStore::default(), "/read").await;
    outlives_the_middleware(MemoryStore::default(), "/typed").await;
}

#[actix_web::test]
async fn a_remembered_session_outlives_the_middlewares_timeouts_on_redis() {
    let server = RedisServer::start();
    let store = || {
        let prefix = format!("ats-remember:{}:", SessionId::generate().log_tag());
        RedisStore::builder(RedisStore::pool(&server.url).unwrap())
            .prefix(prefix)
            .build()
    };
    outlives_the_middleware(store(), "/read").await;
    // The typed extractor loads one key: the lifetime is fetched because the stored expiry
    // says there is one.
    outlives_the_middleware(store(), "/typed").await;
}

#[actix_web::test]
async fn a_remembered_session_outlives_the_middlewares_timeouts_on_the_cookie_store() {
    outlives_the_middleware(CookieStore::encrypted([3; 32]).build().unwrap(), "/read").await;
}

#[actix_web::test]
async fn change_id_keeps_the_lifetime_and_clear_drops_it() {
    let clock = ManualClock::new();
    let store = MemoryStore::default();
    let app = test::init_service(App::new().wrap(mw(store, &clock)).configure(routes)).await;
    let id = send(&app, get("/login/true", None)).await.id().unwrap();
    clock.advance(Duration::from_secs(300));
    let res = send(&app, get("/rotate", Some(&id))).await;
    assert!(
        max_age(&res).is_some(),
        "the new id's cookie is persistent too"
    );
    let id = res.id().unwrap();
    clock.advance(Duration::from_secs(300));
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "Some(0)");
    send(&app, get("/clear", Some(&id))).await;
    clock.advance(Duration::from_secs(150));
    assert_eq!(
        send(&app, get("/read", Some(&id))).await.body,
        "None",
        "after clear() the middleware's idle timeout applies again"
    );
}
