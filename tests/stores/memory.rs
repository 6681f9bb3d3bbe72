//! The conformance suite on the embedded memory store.

use actix_typed_session::store::MemoryStore;
use actix_typed_session::testing::users::expire_tied_sessions;
use support::{get, send};

actix_typed_session::conformance_suite!(MemoryStore::default());

/// Eviction (LRU) logs a warning the first time, and only then: a flood of new sessions pushing
/// out real users' sessions must not go unnoticed, nor flood the log itself.
#[actix_web::test]
async fn the_first_eviction_is_logged_once() {
    use actix_typed_session::clock::ManualClock;
    use actix_typed_session::testing::conformance::app;
    let (captured, _guard) = support::capture_logs();
    let clock = ManualClock::new();
    let store = MemoryStore::builder()
        .max_sessions(16)
        .clock(clock.clone())
        .build();
    let app = app(store.clone(), &clock).await;
    let first = send(&app, get("/incr", None)).await.id().unwrap();
    assert!(
        !captured.text().contains("evicted"),
        "nothing evicted yet: {}",
        captured.text()
    );
    for _ in 0..200 {
        send(&app, get("/incr", None)).await;
    }
    assert_eq!(
        send(&app, get("/read", Some(&first))).await.body,
        "none",
        "the first visitor's session was evicted"
    );
    let log = captured.text();
    assert_eq!(log.matches("MemoryStore is full").count(), 1, "{log}");
    assert!(
        log.contains("WARN") && log.contains("max_sessions"),
        "{log}"
    );
}

/// The user index cannot leak: 10 000 sessions of 100 users expire; listing each user once (as
/// a devices page would) leaves no index entry and no session behind.
#[actix_web::test]
async fn the_user_index_is_empty_once_its_sessions_expired() {
    let clock = actix_typed_session::clock::ManualClock::new();
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .max_sessions(20_000)
        .build();
    expire_tied_sessions(&store, &clock, 10_000, 100).await;
    assert_eq!(
        store.index_size(),
        (0, 0),
        "no index entry outlives its session"
    );
    assert!(store.is_empty());
}

/// A store outage while listing or revoking a user's sessions is a 503, never "no sessions";
/// a store without the index answers Unsupported (500), never an empty list.
#[actix_web::test]
async fn listing_on_a_failing_or_unable_store_is_an_error() {
    use actix_typed_session::store::NullStore;
    use actix_typed_session::testing::users::user_routes;
    use actix_typed_session::testing::{conformance::routes, Instrumented};
    let store = Instrumented::new(MemoryStore::default());
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(actix_typed_session::SessionMiddleware::new(store.clone()))
            .configure(routes)
            .configure(user_routes),
    )
    .await;
    let req = actix_web::test::TestRequest::post()
        .uri("/u/login/ann")
        .to_request();
    send(&app, req).await;
    store.fail(true);
    for (method, uri) in [("GET", "/u/devices/ann"), ("POST", "/u/revoke_all/ann")] {
        let req = actix_web::test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri)
            .to_request();
        let res = send(&app, req).await;
        assert_eq!(res.status, 503, "{uri}");
        assert_eq!(res.body, "session store unavailable");
    }
    store.fail(false);
    assert!(!send(&app, get("/u/devices/ann", None))
        .await
        .body
        .is_empty());

    let unable = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(actix_typed_session::SessionMiddleware::new(NullStore))
            .configure(routes)
            .configure(user_routes),
    )
    .await;
    let res = send(&unable, get("/u/devices/ann", None)).await;
    assert_eq!(res.status, 500);
    assert!(
        res.body.contains("cannot list a user's sessions"),
        "{}",
        res.body
    );
}

/// A user whose index grows past `LARGE_INDEX` live sessions is logged at `warn` once per
/// thousand (at the save that grew it), and when the index is listed; a user below it never is.
#[actix_web::test]
async fn a_large_user_index_is_logged_as_it_grows_and_when_listed() {
    use actix_typed_session::clock::{Clock, SystemClock};
    use actix_typed_session::store::{
        Bytes, Changes, Meta, SessionStore, SessionUser, UserKey, LARGE_INDEX,
    };
    use actix_typed_session::{SessionId, SessionMiddleware};
    let (captured, _guard) = support::capture_logs();
    let store = MemoryStore::builder().max_sessions(10_000).build();
    let now = SystemClock.now();
    let tie = |user: &str| {
        let meta = Meta::new(now, now + 600).with_user(Some(SessionUser::new(user)));
        let store = store.clone();
        async move {
            let values = Changes::full([("k".to_owned(), Bytes::from_static(b"1"))]);
            store
                .save(&SessionId::generate(), &meta, &values)
                .await
                .unwrap();
        }
    };
    for _ in 0..LARGE_INDEX {
        tie("big").await;
        tie("small").await;
    }
    assert!(
        !captured.text().contains("many live sessions"),
        "not past it yet"
    );
    tie("big").await;
    let log = captured.text();
    assert_eq!(log.matches("many live sessions").count(), 1, "{log}");
    assert!(log.contains("sessions=1001"), "{log}");
    assert!(
        !log.contains(&UserKey::of("big").hex()[8..]),
        "the user by its tag only"
    );
    for _ in 0..10 {
        tie("big").await;
    }
    assert_eq!(
        captured.text().matches("many live sessions").count(),
        1,
        "once per thousand"
    );
    let sessions = SessionMiddleware::new(store.clone()).sessions();
    assert_eq!(
        sessions.of_user("big").await.unwrap().len(),
        LARGE_INDEX + 11
    );
    assert_eq!(
        captured.text().matches("many live sessions").count(),
        2,
        "and when listed"
    );
    sessions.of_user("small").await.unwrap();
    assert_eq!(captured.text().matches("many live sessions").count(), 2);
}

/// A rotation that finds its session ended (here by a logout from another tab while the request
/// ran) says why at `info`, naming the session by its tag only.
#[actix_web::test]
async fn a_rotation_that_finds_its_session_ended_says_why() {
    use actix_typed_session::clock::ManualClock;
    use actix_typed_session::testing::conformance::{
        assert_rotation_refused, middleware, rotating_while, routes, Held,
    };
    use support::post;
    let (captured, _guard) = support::capture_logs();
    let clock = ManualClock::new();
    let held = actix_web::web::Data::new(Held::default());
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(middleware(MemoryStore::default(), &clock))
            .configure(routes)
            .app_data(held.clone()),
    )
    .await;
    let id = send(&app, post("/set/a/1", None)).await.id().unwrap();
    let res = rotating_while(&app, &held, &id, async {
        send(&app, post("/logout", Some(&id))).await;
    })
    .await;
    assert_rotation_refused(&res, "nobody");
    let log = captured.text();
    assert!(
        log.contains("INFO")
            && log.contains("session ended (logout, revocation or expiry) while this request ran"),
        "{log}"
    );
    assert!(!log.contains(&id), "never the id itself");
}
