//! Step-up (`#[session(fresh = "..")]`, `Session::mark_authenticated`, `confirm_path`): a
//! sensitive handler runs only for a sign-in or a password check recent enough; otherwise the
//! request goes to the confirm page (with `?next=` for a `GET`), or gets `401` without one,
//! through the builder's error renderer.

use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{session, Session, SessionError, SessionMiddleware};
use actix_web::{get, post, test, App, HttpResponse};

use support::*;

#[post("/login")]
#[session(change_id)]
async fn login(session: Session) -> &'static str {
    session.set_user("ann");
    "in"
}

/// The confirm page's form: the app checks the password, then records it.
#[post("/confirm")]
async fn confirm(session: Session) -> &'static str {
    session.mark_authenticated();
    "confirmed"
}

#[get("/settings")]
#[session(fresh = "10m")]
async fn settings() -> &'static str {
    "settings"
}

#[post("/password")]
#[session(fresh = "10m", change_id)]
async fn password(session: Session) -> String {
    session.expire_others();
    let at = session.authenticated_at().expect("signed in");
    format!(
        "changed {}",
        at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    )
}

macro_rules! app {
    ($mw:expr) => {
        test::init_service(
            App::new()
                .wrap($mw)
                .service(login)
                .service(confirm)
                .service(settings)
                .service(password),
        )
        .await
    };
}

fn middleware(clock: &ManualClock, with_confirm_page: bool) -> SessionMiddleware {
    let builder = SessionMiddleware::builder(MemoryStore::default()).clock(clock.clone());
    let builder = if with_confirm_page {
        builder.confirm_path("/confirm")
    } else {
        builder
    };
    builder.build()
}

#[actix_web::test]
async fn a_recent_sign_in_passes_and_an_old_one_is_sent_to_confirm() {
    let clock = ManualClock::new();
    let app = app!(middleware(&clock, true));
    let id = send(&app, post("/login", None)).await.id().unwrap();
    clock.advance(Duration::from_secs(9 * 60));
    assert_eq!(
        send(&app, get("/settings", Some(&id))).await.body,
        "settings"
    );

    clock.advance(Duration::from_secs(2 * 60)); // 11 minutes after the sign-in
    let res = send(&app, get("/settings", Some(&id))).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/confirm?next=/settings"));
    let res = send(&app, post("/password", Some(&id))).await;
    assert_eq!(res.status, 303, "a POST too, without next");
    assert_eq!(res.header("location"), Some("/confirm"));
    assert_eq!(res.id(), None, "the rejected request changed no id");

    // The password checked again: sensitive handlers run for ten more minutes.
    send(&app, post("/confirm", Some(&id))).await;
    let confirmed_at = clock_secs(&clock);
    assert_eq!(
        send(&app, get("/settings", Some(&id))).await.body,
        "settings"
    );
    let res = send(&app, post("/password", Some(&id))).await;
    assert_eq!(res.body, format!("changed {confirmed_at}"));
    let id = res.id().expect("a new id");
    clock.advance(Duration::from_secs(10 * 60 + 1));
    assert_eq!(send(&app, get("/settings", Some(&id))).await.status, 303);
}

#[actix_web::test]
async fn without_a_confirm_page_the_answer_is_401_and_a_renderer_can_change_it() {
    let clock = ManualClock::new();
    let app = app!(middleware(&clock, false));
    let res = send(&app, get("/settings", None)).await;
    assert_eq!(res.status, 401, "not signed in at all");
    assert_eq!(res.body, "recent authentication required");
    let id = send(&app, post("/login", None)).await.id().unwrap();
    clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(send(&app, get("/settings", Some(&id))).await.status, 401);

    // An API answers in its own format.
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .clock(clock.clone())
        .error_response(|err| match err {
            SessionError::Rejected { key, status, .. } if *key == "__ats_auth" => {
                HttpResponse::build(*status).json(serde_json::json!({"error": "step_up"}))
            }
            other => actix_web::ResponseError::error_response(other),
        })
        .build();
    let app = app!(mw);
    let res = send(&app, get("/settings", None)).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.body, r#"{"error":"step_up"}"#);
}

#[actix_web::test]
async fn a_confirm_path_off_the_site_fails_at_build_time() {
    for bad in ["https://evil.example/confirm", "//evil.example", "confirm"] {
        let built = SessionMiddleware::builder(MemoryStore::default())
            .confirm_path(bad)
            .try_build();
        assert!(built.is_err(), "{bad}");
    }
}

fn clock_secs(clock: &ManualClock) -> u64 {
    use actix_typed_session::clock::Clock;
    clock.now()
}
