//! `refresh_on_every_request`: a request that never reads the session still counts as activity
//! (actix-session's `TtlExtensionPolicy::OnEveryRequest`), throttled by the refresh step, and
//! costs nothing when the option is off.

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::{CookieStore, MemoryStore};
use actix_typed_session::testing::conformance::{incr, read};
use actix_typed_session::SessionMiddleware;
use actix_web::http::StatusCode;
use actix_web::{test, web, App};

use support::*;

const IDLE: Duration = Duration::from_secs(100);

async fn page() -> &'static str {
    "a page that never reads the session"
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/incr", web::get().to(incr))
        .route("/read", web::get().to(read))
        .route("/page", web::get().to(page));
}

fn mw<S: actix_typed_session::store::IntoBackend>(
    store: S,
    clock: &ManualClock,
    every: bool,
) -> SessionMiddleware {
    SessionMiddleware::builder(store)
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .refresh_step(Duration::from_secs(10))
        .refresh_on_every_request(every)
        .build()
}

/// Pages that never read the session keep it alive with the option, and do not without it.
#[actix_web::test]
async fn pages_that_never_read_the_session_keep_it_alive_only_with_the_option() {
    for every in [true, false] {
        let clock = ManualClock::new();
        let app = test::init_service(
            App::new()
                .wrap(mw(MemoryStore::default(), &clock, every))
                .configure(routes),
        )
        .await;
        let id = send(&app, get("/incr", None)).await.id().unwrap();
        for _ in 0..3 {
            clock.advance(Duration::from_secs(60));
            let res = send(&app, get("/page", Some(&id))).await;
            assert_eq!(res.status, StatusCode::OK);
            assert!(res.cookies.is_empty(), "an id cookie is not sent again");
            assert!(
                res.header("vary").is_none(),
                "the page does not depend on the cookie"
            );
        }
        // 180 s after the last read, with an idle timeout of 100 s.
        let body = send(&app, get("/read", Some(&id))).await.body;
        let expected = if every { "1" } else { "none" };
        assert_eq!(body, expected, "refresh_on_every_request({every})");
    }
}

/// The refresh is a touch, throttled by the refresh step; with the option off an untouched
/// request makes no store call at all.
#[actix_web::test]
async fn the_refresh_loads_metadata_only_and_touches_once_per_step() {
    for every in [true, false] {
        let clock = ManualClock::new();
        let store = Instrumented::new(MemoryStore::default());
        let app = test::init_service(
            App::new()
                .wrap(mw(store.clone(), &clock, every))
                .configure(routes),
        )
        .await;
        let id = send(&app, get("/incr", None)).await.id().unwrap();
        let calls = &store.calls;
        let (load0, touch0) = (calls.load(), calls.touch());
        clock.advance(Duration::from_secs(5));
        send(&app, get("/page", Some(&id))).await; // within the step: no touch
        clock.advance(Duration::from_secs(20));
        send(&app, get("/page", Some(&id))).await; // past it: one touch
        send(&app, get("/page", Some(&id))).await; // just touched: none
        send(&app, get("/page", None)).await; // no value: no store call
        let (loads, touches) = (calls.load() - load0, calls.touch() - touch0);
        if every {
            assert_eq!((loads, touches), (3, 1));
            assert_eq!(calls.load_keys.load(Ordering::SeqCst), 3, "metadata only");
        } else {
            assert_eq!((loads, touches), (0, 0));
        }
    }
}

/// A value the store does not know starts nothing; a failing store leaves the page alone.
#[actix_web::test]
async fn an_unknown_value_or_a_failing_store_leaves_the_page_as_it_was() {
    let clock = ManualClock::new();
    let store = Instrumented::new(MemoryStore::default());
    let app = test::init_service(
        App::new()
            .wrap(mw(store.clone(), &clock, true))
            .configure(routes),
    )
    .await;
    let unknown = actix_typed_session::SessionId::generate();
    let res = send(&app, get("/page", Some(unknown.as_str()))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.cookies.is_empty());
    assert_eq!(store.calls.save(), 0);

    let id = send(&app, get("/incr", None)).await.id().unwrap();
    store.fail(true);
    let res = send(&app, get("/page", Some(&id))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "a page that never reads the session");
}

/// With the cookie store the refreshed value is the cookie: it is sealed again once per step.
#[actix_web::test]
async fn with_the_cookie_store_the_cookie_is_sealed_again_once_per_step() {
    let clock = ManualClock::new();
    let store = CookieStore::encrypted([9; 32]).build().unwrap();
    let app = test::init_service(App::new().wrap(mw(store, &clock, true)).configure(routes)).await;
    let mut value = send(&app, get("/incr", None)).await.id().unwrap();
    for _ in 0..3 {
        clock.advance(Duration::from_secs(60));
        let res = send(&app, get("/page", Some(&value))).await;
        value = res
            .id()
            .expect("the cookie is sealed again with the new expiry");
    }
    assert_eq!(send(&app, get("/read", Some(&value))).await.body, "1");
}
