//! Session events over HTTP, in what is not one store's (the conformance suite runs the
//! store-dependent cases on every store: `testing/events.rs`): a sign-in reports its device,
//! rejections (CSRF, a guard, step-up) are reported when answered and only then, a failed save
//! reports nothing, a `late_store` save is reported when the body ends, a panicking hook stops
//! nothing, and a revocation is reported by the app server that made it, not by the one that
//! later finds the session gone.

use actix_typed_session::clock::{Clock, ManualClock};
use actix_typed_session::store::MemoryStore;
use actix_typed_session::testing::conformance::Recorded;
use actix_typed_session::testing::Instrumented;
use actix_typed_session::{
    session, Rejection, Session, SessionError, SessionEventKind, SessionMiddleware, Sessions,
    TypedSession,
};
use actix_web::{get, post, test, web, App, HttpResponse};
use serde::{Deserialize, Serialize};

use support::*;

#[derive(Session, Serialize, Deserialize)]
struct Member {
    name: String,
}

#[post("/login")]
#[session(change_id)]
async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.set_user("ann");
    session.put(Member { name: "ann".into() })?;
    Ok("in")
}

#[post("/form")]
#[session(csrf)]
async fn form() -> &'static str {
    "posted"
}

#[get("/members")]
async fn members(member: Member) -> String {
    member.name.clone()
}

/// A guard taken as `Option`: an absent value is `None`, not a rejection.
#[get("/maybe")]
async fn maybe(member: Option<Member>) -> &'static str {
    if member.is_some() {
        "member"
    } else {
        "guest"
    }
}

#[get("/sudo")]
#[session(fresh = "5m")]
async fn sudo() -> &'static str {
    "sudo"
}

#[post("/count")]
async fn count(session: Session) -> Result<String, SessionError> {
    let n: u32 = session.get("n")?.unwrap_or(0) + 1;
    session.set("n", n)?;
    Ok(n.to_string())
}

#[get("/stream")]
async fn stream(session: Session) -> HttpResponse {
    session.late_store();
    let body = futures_util::stream::iter((0..3).map(move |i| {
        if i == 2 {
            session.set("streamed", true).ok();
        }
        Ok::<_, actix_web::Error>(web::Bytes::from(format!("part{i};")))
    }));
    HttpResponse::Ok().streaming(body)
}

/// A logout that never touches the session itself.
#[post("/logout")]
#[session(expire)]
async fn logout() -> &'static str {
    "bye"
}

#[post("/revoke_all")]
async fn revoke_all(sessions: Sessions) -> Result<String, SessionError> {
    Ok(sessions.revoke_all("ann").await?.to_string())
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login)
        .service(form)
        .service(members)
        .service(maybe)
        .service(sudo)
        .service(count)
        .service(stream)
        .service(logout)
        .service(revoke_all);
}

macro_rules! app {
    ($mw:expr) => {
        test::init_service(App::new().wrap($mw).configure(routes)).await
    };
}

fn recorded_middleware(store: MemoryStore, clock: &ManualClock) -> (SessionMiddleware, Recorded) {
    let events = Recorded::default();
    let mw = SessionMiddleware::builder(store)
        .clock(clock.clone())
        .on_event(events.hook())
        .build();
    (mw, events)
}

#[actix_web::test]
async fn a_sign_in_reports_the_user_the_handle_and_the_device() {
    let clock = ManualClock::new();
    let (mw, events) = recorded_middleware(MemoryStore::default(), &clock);
    let app = app!(mw);
    let req = test::TestRequest::post()
        .uri("/login")
        .peer_addr("192.0.2.10:50000".parse().unwrap())
        .insert_header(("user-agent", "Firefox/140"))
        .to_request();
    let id = send(&app, req).await.id().unwrap();
    let got = events.take_events();
    let kinds: Vec<_> = got.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [SessionEventKind::Created, SessionEventKind::Tied]);
    let tied = &got[1];
    assert_eq!(tied.user.as_deref(), Some("ann"));
    assert_eq!(tied.user_agent.as_deref(), Some("Firefox/140"));
    assert_eq!(tied.ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(tied.handle, got[0].handle, "one session, one handle");
    assert!(tied.handle.is_some());
    let at = tied.at.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(at.as_secs(), clock.now(), "on the middleware's clock");
    assert!(!format!("{tied:?}").contains(&id), "never the id");
    assert_eq!(got[0].user_agent, None, "the device goes with the sign-in");
}

#[actix_web::test]
async fn rejections_are_reported_when_answered_and_only_then() {
    let clock = ManualClock::new();
    let (mw, events) = recorded_middleware(MemoryStore::default(), &clock);
    let app = app!(mw);

    assert_eq!(send(&app, post("/form", None)).await.status, 403);
    assert_eq!(events.take(), ["rejected:csrf"]);
    assert_eq!(send(&app, get("/members", None)).await.status, 401);
    assert_eq!(events.take(), ["rejected:guard"]);
    send(&app, get("/members", None)).await;
    let kinds: Vec<_> = events.take_events().iter().map(|e| e.kind).collect();
    let guard = Rejection::Guard(<Member as TypedSession>::KEY);
    assert_eq!(
        kinds,
        [SessionEventKind::Rejected(guard)],
        "the guard's key"
    );
    assert_eq!(send(&app, get("/maybe", None)).await.body, "guest");
    assert_eq!(
        events.take(),
        Vec::<String>::new(),
        "an Option guard rejects nothing"
    );
    assert_eq!(send(&app, get("/sudo", None)).await.status, 401);
    assert_eq!(events.take(), ["rejected:step_up"]);

    // A signed-in user's rejection names the user.
    let id = send(&app, post("/login", None)).await.id().unwrap();
    events.take();
    clock.advance(std::time::Duration::from_secs(6 * 60));
    assert_eq!(send(&app, get("/sudo", Some(&id))).await.status, 401);
    let got = events.take();
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("rejected:step_up ann h"), "{got:?}");
}

#[actix_web::test]
async fn a_failed_save_reports_nothing_and_a_late_save_reports_at_the_end_of_the_body() {
    let clock = ManualClock::new();
    let store = Instrumented::new(MemoryStore::default());
    let events = Recorded::default();
    let mw = SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .on_event(events.hook())
        .build();
    let app = app!(mw);
    store.fail(true);
    assert_eq!(send(&app, post("/count", None)).await.status, 503);
    assert_eq!(send(&app, post("/login", None)).await.status, 503);
    assert_eq!(events.take(), Vec::<String>::new(), "nothing was stored");
    store.fail(false);
    let id = send(&app, post("/count", None)).await.id().unwrap();
    assert_eq!(events.take(), ["created"]);

    // late_store: the save, and its event, wait for the end of the body.
    let res = test::call_service(&app, get("/stream", None)).await;
    assert_eq!(
        events.take(),
        Vec::<String>::new(),
        "head sent, body not read"
    );
    assert_eq!(test::read_body(res).await, "part0;part1;part2;");
    assert_eq!(events.take(), ["created"]);
    let _ = id;
}

#[actix_web::test]
async fn a_panicking_hook_stops_nothing() {
    let clock = ManualClock::new();
    let events = Recorded::default();
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .clock(clock.clone())
        .on_event(|_| panic!("a bug in the app's hook"))
        .on_event(events.hook())
        .build();
    let app = app!(mw);
    let res = send(&app, post("/count", None)).await;
    assert_eq!(res.status, 200);
    let id = res.id().unwrap();
    assert_eq!(
        send(&app, post("/count", Some(&id))).await.body,
        "2",
        "saved"
    );
    assert_eq!(events.take(), ["created"], "the next hook still got it");
}

#[actix_web::test]
async fn a_revocation_is_reported_by_the_app_server_that_made_it() {
    // Two app servers (two middlewares, each with its hook) on one store.
    let clock = ManualClock::new();
    let store = MemoryStore::default();
    let (a, on_a) = recorded_middleware(store.clone(), &clock);
    let (b, on_b) = recorded_middleware(store.clone(), &clock);
    let (a, b) = (app!(a), app!(b));
    let phone = send(&b, post("/login", None)).await.id().unwrap();
    on_b.take();
    assert_eq!(send(&a, post("/revoke_all", None)).await.body, "1");
    assert_eq!(on_a.take(), ["revoked:admin ann"]);
    assert_eq!(send(&b, get("/members", Some(&phone))).await.status, 401);
    assert_eq!(
        on_b.take(),
        ["rejected:guard"],
        "server B finds the session gone: no second revocation"
    );
}

#[actix_web::test]
async fn a_logout_names_the_session_that_ended_and_an_unknown_cookie_reports_nothing() {
    let clock = ManualClock::new();
    let (mw, events) = recorded_middleware(MemoryStore::default(), &clock);
    let app = app!(mw);
    let id = send(&app, post("/login", None)).await.id().unwrap();
    let handle = events
        .take_events()
        .iter()
        .find_map(|e| e.handle.clone())
        .unwrap();
    let res = send(&app, post("/logout", Some(&id))).await;
    assert!(res.removal().is_some());
    let got = events.take_events();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].kind,
        SessionEventKind::Revoked(actix_typed_session::RevokedBy::User)
    );
    assert_eq!(
        (got[0].user.as_deref(), got[0].handle.as_ref()),
        (Some("ann"), Some(&handle))
    );
    // The same cookie again, and one the store never knew: nothing ended, nothing reported.
    send(&app, post("/logout", Some(&id))).await;
    let unknown = actix_typed_session::SessionId::generate();
    send(&app, post("/logout", Some(unknown.as_str()))).await;
    assert_eq!(events.take(), Vec::<String>::new());
}
