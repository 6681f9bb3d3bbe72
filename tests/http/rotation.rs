//! Id renewal (`rotate_every`) over HTTP, in what is not one store's (the conformance suite runs
//! the store-dependent cases on every server-side store: `testing/rotation.rs`): a renewal keeps
//! the CSRF token where `change_id` drops it, `Reuse::Log` only reports, and what cannot work is
//! refused when the middleware is built. And the other defence against stolen cookies that is
//! not one store's: `clear_site_data_on_logout`.

use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::{CookieStore, MemoryStore};
use actix_typed_session::testing::conformance::Recorded;
use actix_typed_session::{session, CsrfToken, Reuse, Session, SessionError, SessionMiddleware};
use actix_web::{get, post, test, App};

use support::*;

#[get("/form")]
async fn form(csrf: CsrfToken) -> String {
    csrf.to_string()
}

#[post("/save")]
#[session(csrf)]
async fn save(session: Session) -> Result<&'static str, SessionError> {
    session.set("saved", true)?;
    Ok("saved")
}

#[post("/login")]
#[session(change_id)]
async fn login(session: Session) -> &'static str {
    session.set_user("ann");
    "in"
}

#[get("/whoami")]
async fn whoami(session: Session) -> String {
    session.user().unwrap_or_else(|| "nobody".into())
}

fn middleware(clock: &ManualClock, policy: Reuse, events: &Recorded) -> SessionMiddleware {
    SessionMiddleware::builder(MemoryStore::default())
        .clock(clock.clone())
        .rotate_every(Duration::from_secs(60))
        .rotation_grace(Duration::from_secs(5))
        .on_reuse(policy)
        .on_event(events.hook())
        .build()
}

macro_rules! app {
    ($mw:expr) => {
        test::init_service(
            App::new()
                .wrap($mw)
                .service(form)
                .service(save)
                .service(login)
                .service(whoami),
        )
        .await
    };
}

fn post_with_token(uri: &str, id: &str, token: &str) -> actix_http::Request {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(cookie_header(id))
        .insert_header(("x-csrf-token", token.to_owned()))
        .to_request()
}

#[actix_web::test]
async fn a_renewal_keeps_the_csrf_token_and_change_id_drops_it() {
    let clock = ManualClock::new();
    let app = app!(middleware(
        &clock,
        Reuse::RevokeSession,
        &Recorded::default()
    ));
    let res = send(&app, get("/form", None)).await;
    let (id, token) = (res.id().unwrap(), res.body);
    clock.advance(Duration::from_secs(61));
    // The form was on screen when the id fell due: it still posts.
    let res = send(&app, post_with_token("/save", &id, &token)).await;
    assert_eq!(res.body, "saved");
    let renewed = res.id().expect("renewed by this request");
    assert_ne!(renewed, id);
    let res = send(&app, post_with_token("/save", &renewed, &token)).await;
    assert_eq!(res.status, 200, "the token survived the renewal");

    // A login's change_id still drops it.
    let signed_in = send(&app, post("/login", Some(&renewed)))
        .await
        .id()
        .unwrap();
    let res = send(&app, post_with_token("/save", &signed_in, &token)).await;
    assert_eq!(res.status, 403);
}

#[actix_web::test]
async fn reuse_with_log_only_reports_it() {
    let clock = ManualClock::new();
    let events = Recorded::default();
    let app = app!(middleware(&clock, Reuse::Log, &events));
    let old = send(&app, post("/login", None)).await.id().unwrap();
    clock.advance(Duration::from_secs(61));
    let renewed = send(&app, get("/whoami", Some(&old))).await.id().unwrap();
    clock.advance(Duration::from_secs(6));
    events.take();
    assert_eq!(send(&app, get("/whoami", Some(&old))).await.body, "nobody");
    let seen = events.take();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("reused ann h"), "{seen:?}");
    assert_eq!(
        send(&app, get("/whoami", Some(&renewed))).await.body,
        "ann",
        "only reported: the session goes on"
    );
}

#[actix_web::test]
async fn what_cannot_work_is_refused_when_the_middleware_is_built() {
    let refused = |builder: actix_typed_session::SessionMiddlewareBuilder<_>| {
        builder.try_build().err().map(|e| e.to_string())
    };
    let cookie = CookieStore::encrypted([7; 32]).build().unwrap();
    let err = SessionMiddleware::builder(cookie)
        .rotate_every(Duration::from_secs(60))
        .try_build()
        .err()
        .expect("a client-side store cannot renew ids")
        .to_string();
    assert!(err.contains("server-side store"), "{err}");
    let memory = || SessionMiddleware::builder(MemoryStore::default());
    for (every, grace) in [(60, 60), (60, 0), (0, 0), (60, 90)] {
        let err = refused(
            memory()
                .rotate_every(Duration::from_secs(every))
                .rotation_grace(Duration::from_secs(grace)),
        )
        .unwrap_or_else(|| panic!("every {every} s, grace {grace} s must be refused"));
        assert!(err.contains("rotat"), "{err}");
    }
    assert!(refused(memory().rotate_every(Duration::from_secs(60))).is_none());
}

#[post("/logout")]
#[session(expire)]
async fn logout() -> &'static str {
    "bye"
}

/// `clear_site_data_on_logout`: a logout's response asks the browser to drop the site's cookies
/// and storage; no other response does, and without the setting not even a logout.
#[actix_web::test]
async fn a_logout_can_clear_the_site_data() {
    for on in [true, false] {
        let mw = SessionMiddleware::builder(MemoryStore::default())
            .clear_site_data_on_logout(on)
            .build();
        let app = test::init_service(App::new().wrap(mw).service(login).service(logout)).await;
        let res = send(&app, post("/login", None)).await;
        assert_eq!(
            res.header("clear-site-data"),
            None,
            "a login clears nothing"
        );
        let id = res.id().unwrap();
        let res = send(&app, post("/logout", Some(&id))).await;
        assert!(res.removal().is_some());
        let expected = on.then_some("\"cookies\", \"storage\"");
        assert_eq!(res.header("clear-site-data"), expected, "on: {on}");
    }
}

/// Two app servers (two middlewares) on one store: an id renewed on one opens the session on the
/// other within the grace window, and its reuse after the window is caught on either.
#[actix_web::test]
async fn a_renewal_on_one_app_server_is_followed_on_another() {
    let clock = ManualClock::new();
    let store = MemoryStore::default();
    let server = |events: &Recorded| {
        SessionMiddleware::builder(store.clone())
            .clock(clock.clone())
            .rotate_every(Duration::from_secs(60))
            .rotation_grace(Duration::from_secs(5))
            .on_event(events.hook())
            .build()
    };
    let (on_a, on_b) = (Recorded::default(), Recorded::default());
    let a = app!(server(&on_a));
    let b = app!(server(&on_b));
    let old = send(&a, post("/login", None)).await.id().unwrap();
    clock.advance(Duration::from_secs(61));
    let renewed = send(&a, get("/whoami", Some(&old)))
        .await
        .id()
        .expect("renewed on A");
    let res = send(&b, get("/whoami", Some(&old))).await;
    assert_eq!(
        res.body, "ann",
        "B follows A's renewal within the grace window"
    );
    assert_eq!(res.id(), Some(renewed.clone()));
    clock.advance(Duration::from_secs(6));
    assert_eq!(send(&b, get("/whoami", Some(&old))).await.body, "nobody");
    let handle = signed_in_handle(&on_a);
    assert_eq!(
        on_b.take(),
        [
            format!("reused ann h{handle}"),
            format!("revoked:reuse ann h{handle}")
        ],
        "caught on B, which ends the session"
    );
    assert_eq!(
        send(&a, get("/whoami", Some(&renewed))).await.body,
        "nobody"
    );
}

/// The handle (its first 6 characters, as `describe` writes it) of the sign-in A reported.
fn signed_in_handle(on_a: &Recorded) -> String {
    let events = on_a.take_events();
    let handle = events
        .iter()
        .find_map(|e| e.handle.clone())
        .expect("a signed-in session");
    handle.as_str()[..6].to_owned()
}
