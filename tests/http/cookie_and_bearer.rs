//! One app, two kinds of client on one store: browsers carry the id in a cookie, API clients
//! in `Authorization: Bearer` under `/api` (a second middleware on the same store, on that
//! scope). Sessions are shared both ways, and one guard type answers each kind as it can
//! follow: a browser is redirected to the login page, an API client gets `401`; step-up too.

use actix_typed_session::state::HeaderState;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{session, Session, SessionError, SessionMiddleware};
use actix_web::{test, web, App};
use serde::{Deserialize, Serialize};

use support::*;

/// The signed-in user: a redirecting guard.
#[derive(actix_typed_session::Session, Serialize, Deserialize)]
#[session(redirect = "/login")]
struct User {
    name: String,
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.set_user("ann");
    session.put(User { name: "ann".into() })?;
    session.change_id();
    Ok("in")
}

async fn account(user: User) -> String {
    user.name.clone()
}

#[session(fresh = "10m")]
async fn sensitive(user: User) -> String {
    format!("sensitive {}", user.name)
}

fn bearer(id: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {id}"))
}

#[actix_web::test]
async fn one_store_two_carriers_each_answered_as_it_can_follow() {
    use actix_typed_session::clock::ManualClock;
    let clock = ManualClock::new();
    let store = MemoryStore::default();
    let site = SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .confirm_path("/confirm")
        .build();
    let api = SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .state(HeaderState::bearer())
        .confirm_path("/confirm")
        .build();
    let app = test::init_service(
        App::new()
            .service(
                web::scope("/api")
                    .wrap(api)
                    .route("/account", web::get().to(account))
                    .route("/sensitive", web::get().to(sensitive)),
            )
            .service(
                web::scope("")
                    .wrap(site)
                    .route("/login", web::post().to(login))
                    .route("/account", web::get().to(account))
                    .route("/sensitive", web::get().to(sensitive)),
            ),
    )
    .await;

    // Signed out: the browser is sent to the login page, the API client gets 401.
    let res = send(&app, get("/account", None)).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/login?next=/account"));
    let res = send(&app, get("/api/account", None)).await;
    assert_eq!(res.status, 401, "no redirect for an API client");
    assert_eq!(res.header("location"), None);

    // A browser's session is the API's too (the same store), and the other way round.
    let id = send(&app, post("/login", None)).await.id().unwrap();
    assert_eq!(send(&app, get("/account", Some(&id))).await.body, "ann");
    let req = test::TestRequest::get()
        .uri("/api/account")
        .insert_header(bearer(&id))
        .to_request();
    assert_eq!(send(&app, req).await.body, "ann");

    // Step-up: the browser goes to confirm, the API client gets 401.
    clock.advance(std::time::Duration::from_secs(11 * 60));
    let res = send(&app, get("/sensitive", Some(&id))).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/confirm?next=/sensitive"));
    let req = test::TestRequest::get()
        .uri("/api/sensitive")
        .insert_header(bearer(&id))
        .to_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.body, "recent authentication required");
}
