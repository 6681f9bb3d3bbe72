//! The conformance cases of id renewal ([`rotate_every`](crate::SessionMiddlewareBuilder::rotate_every)),
//! driven over HTTP like the rest of the suite, on every server-side store: the id renewed, the
//! old one opening the session within its grace window, concurrent requests across a renewal,
//! reuse after the window ending the session (or every session of its user), and `change_id`
//! never having a window.

use std::time::Duration;

use super::events::Recorded;
use super::harness::{builder, routes};
use super::users::{login, user_app, with_id};
use super::*;
use crate::clock::ManualClock;
use crate::Reuse;

const EVERY: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(30);

/// The suite's app, renewing ids every [`EVERY`] with a [`GRACE`] window, its events recorded.
async fn renewing_app<S: IntoBackend>(
    store: S,
    clock: &ManualClock,
    events: &Recorded,
) -> impl actix_web::dev::Service<
    actix_http::Request,
    Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
    Error = actix_web::Error,
> {
    let mw = builder(store, clock)
        .rotate_every(EVERY)
        .rotation_grace(GRACE)
        .on_event(events.hook())
        .build();
    actix_web::test::init_service(actix_web::App::new().wrap(mw).configure(routes)).await
}

/// Conformance case: a request after `rotate_every` gets a new id with the session's data; the
/// old id opens the same session within the grace window (its response carries the current id,
/// and changes made through it are kept); after the window it is a reuse: reported, the
/// session ends (the default policy), and the request gets a fresh session.
pub async fn rotation_renews_the_id_and_the_old_one_opens_within_grace<S: IntoBackend + Clone>(
    store: S,
) {
    let (clock, events) = (ManualClock::new(), Recorded::default());
    let app = renewing_app(store, &clock, &events).await;
    let first = send(&app, get("/incr", None)).await.id().unwrap();
    clock.advance(Duration::from_secs(30));
    let res = send(&app, get("/incr", Some(&first))).await;
    assert_eq!((res.body.as_str(), res.id()), ("2", None), "not due yet");

    clock.advance(Duration::from_secs(31)); // 61 s after the id was issued
    let res = send(&app, get("/incr", Some(&first))).await;
    assert_eq!(res.body, "3");
    let second = res.id().expect("a renewed id");
    assert_ne!(second, first);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    events.take();

    clock.advance(Duration::from_secs(10));
    let res = send(&app, get("/read", Some(&first))).await;
    assert_eq!(
        res.body, "3",
        "the old id opens the session within the grace window"
    );
    assert_eq!(
        res.id().as_deref(),
        Some(second.as_str()),
        "and is told the current id"
    );
    let res = send(&app, get("/incr", Some(&first))).await;
    assert_eq!(res.body, "4");
    assert_eq!(
        send(&app, get("/read", Some(&second))).await.body,
        "4",
        "kept"
    );
    assert_eq!(events.take(), Vec::<String>::new(), "nothing to report yet");

    clock.advance(GRACE); // 40 s after the renewal
    let res = send(&app, get("/read", Some(&first))).await;
    assert_eq!(res.body, "none", "a reused id opens nothing");
    assert_eq!(events.take(), ["reused", "revoked:reuse"]);
    assert_eq!(
        send(&app, get("/read", Some(&second))).await.body,
        "none",
        "and the session it was renewed into ended"
    );
}

/// Conformance case: requests that carry the id together when it falls due (an app firing
/// several at once) all succeed, each change is kept, and every id they are given opens the one
/// current session.
pub async fn rotation_concurrent_requests_across_a_renewal_all_succeed<S: IntoBackend + Clone>(
    store: S,
) {
    let clock = ManualClock::new();
    let app = renewing_app(store, &clock, &Recorded::default()).await;
    let old = send(&app, post("/set/a/0", None)).await.id().unwrap();
    clock.advance(EVERY + Duration::from_secs(1));
    let answers = futures_util::future::join_all(
        (1..=5).map(|i| send(&app, post(&format!("/set/k{i}/v{i}"), Some(&old)))),
    )
    .await;
    let mut given = Vec::new();
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.removal().is_none(), "nobody is logged out");
        given.extend(answer.id());
    }
    assert!(!given.is_empty(), "the renewed id is sent");
    for id in given.iter().chain([&old]) {
        for i in 1..=5 {
            let res = send(&app, get(&format!("/get/k{i}"), Some(id))).await;
            assert_eq!(res.body, format!("v{i}"), "k{i} through {id:.6}");
        }
    }
}

/// Conformance case: `change_id` (a login) never has a grace window: with renewal on, the old id
/// opens nothing at once, and presenting it is no reuse (the new session lives on).
pub async fn rotation_never_gives_change_id_a_grace_window<S: IntoBackend + Clone>(store: S) {
    let (clock, events) = (ManualClock::new(), Recorded::default());
    let app = renewing_app(store, &clock, &events).await;
    let before = send(&app, get("/incr", None)).await.id().unwrap();
    let after = send(&app, post("/login", Some(&before)))
        .await
        .id()
        .unwrap();
    assert_eq!(send(&app, get("/read", Some(&before))).await.body, "none");
    clock.advance(GRACE + Duration::from_secs(1));
    assert_eq!(send(&app, get("/read", Some(&before))).await.body, "none");
    assert_eq!(send(&app, get("/read", Some(&after))).await.body, "1");
    let seen = events.take();
    assert!(!seen.iter().any(|e| e.starts_with("reused")), "{seen:?}");
}

/// Conformance case: with `Reuse::RevokeUser`, the reuse of a signed-in session's renewed id
/// ends every session of its user; other users' stay.
pub async fn users_reuse_after_grace_can_end_every_session_of_the_user<S: IntoBackend + Clone>(
    store: S,
) {
    let clock = ManualClock::new();
    let mw = builder(store.clone(), &clock)
        .rotate_every(EVERY)
        .rotation_grace(GRACE)
        .on_reuse(Reuse::RevokeUser)
        .build();
    let app = user_app(mw).await;
    let phone = send(&app, login("uma", "phone")).await.id().unwrap();
    let laptop = send(&app, login("uma", "laptop")).await.id().unwrap();
    let other = send(&app, login("vic", "tablet")).await.id().unwrap();
    let whoami = |id: &str| with_id(actix_web::test::TestRequest::get().uri("/u/whoami"), id);
    clock.advance(EVERY + Duration::from_secs(1));
    let renewed = send(&app, whoami(&phone)).await;
    assert_eq!(renewed.body, "uma");
    let renewed = renewed.id().expect("renewed");
    clock.advance(GRACE + Duration::from_secs(1));
    // The stolen copy of the phone's old cookie is used.
    assert_eq!(send(&app, whoami(&phone)).await.body, "nobody");
    for gone in [&renewed, &laptop] {
        assert_eq!(send(&app, whoami(gone)).await.body, "nobody");
    }
    assert_eq!(
        send(&app, whoami(&other)).await.body,
        "vic",
        "another user's stays"
    );
}
