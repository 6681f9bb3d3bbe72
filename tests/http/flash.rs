//! Flash messages over HTTP, with real cookies: set → redirect → shown once → gone; `now`,
//! `keep`, `discard`, levels; a request that does not read them does not consume them and
//! writes nothing (counted with the instrumented store); a tampered value shows nothing.

use actix_typed_session::flash::FLASH_KEY;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{Flash, Level, Session, SessionMiddleware};
use actix_web::{web, App, HttpResponse};
use proptest::prelude::*;

use support::*;

fn show(flash: &Flash) -> HttpResponse {
    let body: String = flash
        .messages()
        .iter()
        .map(|m| format!("[{}:{}]", m.level, m.text))
        .collect();
    HttpResponse::Ok().body(body)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/set",
        web::post().to(|flash: Flash| async move {
            flash.success("saved");
            HttpResponse::SeeOther()
                .insert_header(("Location", "/show"))
                .finish()
        }),
    )
    .route(
        "/levels",
        web::post().to(|flash: Flash| async move {
            flash.debug("d");
            flash.info("i");
            flash.success("s");
            flash.warning("w");
            flash.error("e");
            flash.set(Level::Info, "i2");
            HttpResponse::SeeOther().finish()
        }),
    )
    .route(
        "/show",
        web::get().to(|flash: Flash| async move { show(&flash) }),
    )
    .route(
        "/now",
        web::get().to(|flash: Flash| async move {
            flash.now(Level::Warning, "only now");
            show(&flash)
        }),
    )
    .route(
        "/keep",
        web::get().to(|flash: Flash| async move {
            let res = show(&flash);
            flash.keep();
            res
        }),
    )
    .route(
        "/discard",
        web::post().to(|flash: Flash| async move {
            flash.discard();
            HttpResponse::Ok().finish()
        }),
    )
    .route(
        "/only-flash",
        web::get().to(|flash: Flash| async move { show(&flash) }),
    )
    .route(
        "/read-then-set",
        web::get().to(|flash: Flash| async move {
            let res = show(&flash);
            flash.info("again");
            res
        }),
    )
    // Takes the flash but never reads it, and a session that it leaves alone.
    .route(
        "/quiet",
        web::get().to(|_flash: Flash, session: Session| async move {
            HttpResponse::Ok().body(session.len().to_string())
        }),
    )
    .route(
        "/other",
        web::post().to(|session: Session| async move {
            session.set("n", 1).unwrap();
            HttpResponse::Ok().finish()
        }),
    )
    .route(
        "/tamper",
        web::post().to(|session: Session, body: web::Bytes| async move {
            // Stores the raw JSON of the body under the reserved key, as if tampered with.
            let value: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            session.set(FLASH_KEY, value).unwrap();
            HttpResponse::Ok().finish()
        }),
    );
}

/// A guard whose redirect leaves a flash message for the page it leads to.
#[derive(Session, serde::Serialize, serde::Deserialize)]
#[session(redirect = "/login", flash = "Please sign in first.")]
struct Member {
    name: String,
}

/// The same guard without a message.
#[derive(Session, serde::Serialize, serde::Deserialize)]
#[session(redirect = "/login")]
struct Quiet {
    name: String,
}

macro_rules! app {
    ($store:expr) => {
        actix_web::test::init_service(
            App::new()
                .wrap(SessionMiddleware::new($store))
                .configure(routes)
                .route(
                    "/members",
                    web::route().to(|m: Member| async move { m.name.clone() }),
                )
                .route(
                    "/maybe-members",
                    web::get().to(|m: Option<Member>| async move {
                        m.map_or("nobody".to_owned(), |m| m.name.clone())
                    }),
                )
                .route(
                    "/quiet-members",
                    web::get().to(|m: Quiet| async move { m.name.clone() }),
                ),
        )
        .await
    };
}

#[actix_web::test]
async fn a_guards_redirect_leaves_its_flash_message_for_the_next_page() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(store.clone());
    // A visitor without a session: the message gets one.
    let res = send(&app, get("/members", None)).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/login?next=/members"));
    let id = res.id().expect("the message is kept in a new session");
    let res = send(&app, get("/show", Some(&id))).await;
    assert_eq!(res.body, "[warning:Please sign in first.]");
    assert_eq!(send(&app, get("/show", Some(&id))).await.body, "");

    // Messages already waiting stay, in order, and the guard's comes after them.
    let id = send(&app, post("/set", None)).await.id().unwrap();
    let res = send(&app, post("/members", Some(&id))).await;
    assert_eq!(res.status, 303);
    assert_eq!(
        res.header("location"),
        Some("/login"),
        "no `next` on a POST"
    );
    assert_eq!(
        send(&app, get("/show", Some(&id))).await.body,
        "[success:saved][warning:Please sign in first.]"
    );

    // A guard without `flash` stores nothing, and neither does an `Option` of a guard with one
    // (the rejection is not answered, so there is no redirect to explain).
    let saves = store.calls.save();
    let res = send(&app, get("/quiet-members", None)).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.id(), None);
    let res = send(&app, get("/maybe-members", None)).await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "nobody"));
    assert_eq!(res.id(), None);
    let id = send(&app, post("/set", None)).await.id().unwrap();
    send(&app, get("/maybe-members", Some(&id))).await;
    assert_eq!(
        send(&app, get("/show", Some(&id))).await.body,
        "[success:saved]"
    );
    assert_eq!(
        store.calls.save(),
        saves + 2,
        "only the two messages of /set"
    );
}

#[actix_web::test]
async fn set_redirect_shown_once_then_gone() {
    let app = app!(MemoryStore::default());
    let res = send(&app, post("/set", None)).await;
    assert_eq!(res.status, 303);
    let id = res.id().expect("the message is stored, so the session is");
    let res = send(&app, get("/show", Some(&id))).await;
    assert_eq!(res.body, "[success:saved]");
    let res = send(&app, get("/show", Some(&id))).await;
    assert_eq!(res.body, "", "gone after one reading");
}

#[actix_web::test]
async fn now_shows_in_this_request_only_and_stores_nothing() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(store.clone());
    let res = send(&app, get("/now", None)).await;
    assert_eq!(res.body, "[warning:only now]");
    assert_eq!(res.id(), None, "no cookie for a `now` message");
    assert_eq!(store.calls.save(), 0);

    let id = send(&app, post("/set", None)).await.id().unwrap();
    let res = send(&app, get("/now", Some(&id))).await;
    assert_eq!(res.body, "[success:saved][warning:only now]");
    let res = send(&app, get("/show", Some(&id))).await;
    assert_eq!(res.body, "");
}

#[actix_web::test]
async fn keep_keeps_them_one_more_request() {
    let app = app!(MemoryStore::default());
    let id = send(&app, post("/set", None)).await.id().unwrap();
    assert_eq!(
        send(&app, get("/keep", Some(&id))).await.body,
        "[success:saved]"
    );
    assert_eq!(
        send(&app, get("/show", Some(&id))).await.body,
        "[success:saved]"
    );
    assert_eq!(send(&app, get("/show", Some(&id))).await.body, "");
}

#[actix_web::test]
async fn discard_drops_them() {
    let app = app!(MemoryStore::default());
    let id = send(&app, post("/set", None)).await.id().unwrap();
    assert_eq!(send(&app, post("/discard", Some(&id))).await.status, 200);
    assert_eq!(send(&app, get("/show", Some(&id))).await.body, "");
}

#[actix_web::test]
async fn levels_in_order() {
    let app = app!(MemoryStore::default());
    let id = send(&app, post("/levels", None)).await.id().unwrap();
    assert_eq!(
        send(&app, get("/show", Some(&id))).await.body,
        "[debug:d][info:i][success:s][warning:w][error:e][info:i2]"
    );
    assert!(Level::Debug < Level::Error);
}

#[actix_web::test]
async fn a_request_that_does_not_read_them_writes_nothing_and_consumes_nothing() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(store.clone());
    let id = send(&app, post("/set", None)).await.id().unwrap();
    let other = send(&app, post("/other", Some(&id))).await;
    assert_eq!(other.status, 200);
    let (saves, deletes) = (store.calls.save(), store.calls.delete());

    for _ in 0..3 {
        let res = send(&app, get("/quiet", Some(&id))).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.body, "2", "the flash and `n`");
    }
    assert_eq!(
        store.calls.save(),
        saves,
        "0 store writes for 3 quiet requests"
    );
    assert_eq!(store.calls.delete(), deletes);
    eprintln!(
        "measured: 3 requests that neither set nor read messages: {} saves, {} deletes, {} touches",
        store.calls.save() - saves,
        store.calls.delete() - deletes,
        store.calls.touch()
    );

    let saves = store.calls.save();
    assert_eq!(
        send(&app, get("/show", Some(&id))).await.body,
        "[success:saved]"
    );
    // Reading when there is nothing to read writes nothing either.
    assert_eq!(send(&app, get("/show", Some(&id))).await.body, "");
    assert_eq!(send(&app, get("/show", Some(&id))).await.body, "");
    assert_eq!(
        store.calls.save(),
        saves + 1,
        "one save: the read message removed"
    );
}

fn tampered(payload: &[u8]) -> String {
    actix_web::rt::System::new().block_on(async {
        let app = app!(MemoryStore::default());
        let req = actix_web::test::TestRequest::post()
            .uri("/tamper")
            .set_payload(payload.to_vec())
            .to_request();
        let id = send(&app, req).await.id().unwrap();
        let res = send(&app, get("/show", Some(&id))).await;
        assert_eq!(res.status, 200);
        res.body
    })
}

#[test]
fn a_tampered_value_shows_no_messages() {
    for payload in [
        &b"not json"[..],
        b"42",
        b"\"text\"",
        b"[{\"level\":\"panic\",\"text\":\"x\"}]",
        b"[{\"level\":\"info\"}]",
        b"{\"level\":\"info\",\"text\":\"x\"}",
    ] {
        assert_eq!(
            tampered(payload),
            "",
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
    // ... and says so through `tracing`.
    let (logs, _guard) = capture_logs();
    assert_eq!(tampered(b"[{\"level\":\"panic\"}]"), "");
    assert!(
        logs.text()
            .contains("flash messages in the session do not decode; showing none"),
        "{}",
        logs.text()
    );
    drop(_guard);
    // A well-formed value is read (the route stores what it is given).
    assert_eq!(
        tampered(b"[{\"level\":\"info\",\"text\":\"x\"}]"),
        "[info:x]"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_flash_payloads_never_fail(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let body = tampered(&payload);
        // Random bytes are never a list of messages, except by the rarest luck.
        prop_assert!(body.is_empty() || body.starts_with('['));
    }

    #[test]
    fn random_json_payloads_never_fail(text in "[\\[\\]{}\":,a-z0-9 ]{0,64}") {
        let _ = tampered(text.as_bytes());
    }

    /// Lists of message-like objects with random levels and texts: shown when every level is
    /// one of the five, else nothing at all.
    #[test]
    fn random_message_lists(
        list in proptest::collection::vec(
            (prop_oneof![
                Just("debug".to_owned()), Just("info".to_owned()), Just("error".to_owned()),
                "[a-zA-Z]{0,8}",
            ], "[^\\[\\]:]{0,16}"),
            0..6,
        )
    ) {
        let json: Vec<serde_json::Value> = list
            .iter()
            .map(|(level, text)| serde_json::json!({ "level": level, "text": text }))
            .collect();
        let body = tampered(&serde_json::to_vec(&json).unwrap());
        let valid = ["debug", "info", "success", "warning", "error"];
        if list.iter().all(|(level, _)| valid.contains(&level.as_str())) {
            let expected: String = list.iter().map(|(l, t)| format!("[{l}:{t}]")).collect();
            prop_assert_eq!(body, expected);
        } else {
            prop_assert_eq!(body, "");
        }
    }
}

#[actix_web::test]
async fn the_extractor_loads_only_its_key() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(store.clone());
    let id = send(&app, post("/set", None)).await.id().unwrap();
    send(&app, post("/other", Some(&id))).await;
    let (loads, keyed) = (store.calls.load(), store.calls.load_keys());
    let res = send(&app, get("/only-flash", Some(&id))).await;
    assert_eq!(res.body, "[success:saved]");
    assert_eq!(store.calls.load(), loads + 1);
    assert_eq!(
        store.calls.load_keys(),
        keyed + 1,
        "a load of some keys only"
    );
    assert_eq!(send(&app, get("/show", Some(&id))).await.body, "");
    assert_eq!(
        send(&app, get("/quiet", Some(&id))).await.body,
        "1",
        "`n` is still there"
    );
}

#[actix_web::test]
async fn reading_and_setting_in_one_request() {
    let app = app!(MemoryStore::default());
    let id = send(&app, post("/set", None)).await.id().unwrap();
    let res = send(&app, get("/read-then-set", Some(&id))).await;
    assert_eq!(
        res.body, "[success:saved]",
        "the new message is for the next request"
    );
    assert_eq!(
        send(&app, get("/show", Some(&id))).await.body,
        "[info:again]"
    );
    assert_eq!(send(&app, get("/show", Some(&id))).await.body, "");
}
