//! Middleware behaviour that does not depend on the store: laziness, cookie parsing and
//! attributes, response headers, states, errors, configuration.

use std::collections::HashSet;
use std::time::Duration;

use actix_typed_session::cookie::SameSite;
use actix_typed_session::state::{CookieState, HeaderState, QueryState};
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};

use actix_typed_session::testing::conformance::{incr, read};
use support::*;

async fn logout(session: Session) -> &'static str {
    session.expire();
    "out"
}

async fn untouched() -> &'static str {
    "plain"
}

/// A handler that sets its own cookie and caching headers next to the session's.
async fn own_headers(session: Session) -> Result<HttpResponse, SessionError> {
    session.set("x", 1)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Set-Cookie", "theme=dark; Path=/"))
        .insert_header(("Cache-Control", "private, max-age=60"))
        .insert_header(("Vary", "Accept-Encoding"))
        .body("own"))
}

/// Returns the counter and the id, as an app using `QueryState` would put the id in its links.
async fn incr_with_id(session: Session) -> Result<String, SessionError> {
    let n = incr(session.clone()).await?;
    Ok(format!("{n} {}", session.id()))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/incr", web::get().to(incr))
        .route("/read", web::get().to(read))
        .route("/logout", web::post().to(logout))
        .route("/untouched", web::get().to(untouched))
        .route("/own", web::get().to(own_headers))
        .route("/incr_id", web::get().to(incr_with_id));
}

macro_rules! app {
    ($mw:expr) => {
        test::init_service(App::new().wrap($mw).configure(routes)).await
    };
}

#[actix_web::test]
async fn untouched_route_costs_no_store_call_and_no_cookie() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(SessionMiddleware::new(store.clone()));
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let before = store.calls.total();
    let res = send(&app, get("/untouched", Some(&id))).await;
    assert_eq!(res.body, "plain");
    assert_eq!(
        store.calls.total(),
        before,
        "no store call for a route that ignores the session"
    );
    assert!(res.cookies.is_empty());
    assert_eq!(res.header("vary"), None);
    assert_eq!(res.header("cache-control"), None);
}

#[actix_web::test]
async fn reading_costs_one_load_and_no_write() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(SessionMiddleware::new(store.clone()));
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let (loads, saves) = (store.calls.load(), store.calls.save());
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "1");
    assert_eq!(store.calls.load(), loads + 1);
    assert_eq!(store.calls.save(), saves);
    // A brand-new visitor costs no load at all: there is no id to look up.
    let loads = store.calls.load();
    send(&app, get("/read", None)).await;
    assert_eq!(store.calls.load(), loads);
}

#[actix_web::test]
async fn junk_never_reaches_the_store() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(SessionMiddleware::new(store.clone()));
    let huge = "Z".repeat(10 * 1024);
    for junk in [
        "../../etc/passwd",
        "%ZZ",
        "\"unterminated",
        huge.as_str(),
        "é",
    ] {
        let req = test::TestRequest::get()
            .uri("/read")
            .insert_header(("Cookie", format!("id={junk}").into_bytes()))
            .to_request();
        let res = send(&app, req).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body, "none");
    }
    assert_eq!(
        store.calls.load(),
        0,
        "malformed ids are rejected before the store"
    );
}

#[actix_web::test]
async fn non_utf8_cookie_header_is_ignored() {
    let app = app!(SessionMiddleware::new(MemoryStore::default()));
    let req = test::TestRequest::get()
        .uri("/incr")
        .insert_header((
            "Cookie",
            actix_web::http::header::HeaderValue::from_bytes(b"id=\xff\xfe").unwrap(),
        ))
        .to_request();
    let res = send(&app, req).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "1");
}

#[actix_web::test]
async fn first_cookie_wins_and_values_are_decoded() {
    let app = app!(SessionMiddleware::new(MemoryStore::default()));
    let a = send(&app, get("/incr", None)).await.id().unwrap();
    let b = send(&app, get("/incr", None)).await.id().unwrap();
    send(&app, get("/incr", Some(&b))).await; // b is at 2, a at 1

    let req = test::TestRequest::get()
        .uri("/read")
        .insert_header(("Cookie", format!("other=1; id={a}; id={b}")))
        .to_request();
    assert_eq!(send(&app, req).await.body, "1", "first occurrence wins");

    let quoted = test::TestRequest::get()
        .uri("/read")
        .insert_header(("Cookie", format!("id=\"{b}\"")))
        .to_request();
    assert_eq!(send(&app, quoted).await.body, "2", "quoted value decoded");

    let encoded: String = b.chars().map(|c| format!("%{:02X}", c as u8)).collect();
    let encoded = test::TestRequest::get()
        .uri("/read")
        .insert_header(("Cookie", format!("id={encoded}")))
        .to_request();
    assert_eq!(
        send(&app, encoded).await.body,
        "2",
        "percent-encoded value decoded"
    );
}

#[actix_web::test]
async fn app_headers_survive_next_to_the_session() {
    let app = app!(SessionMiddleware::new(MemoryStore::default()));
    let res = send(&app, get("/own", None)).await;
    assert!(res.session().is_some());
    assert!(
        res.cookies
            .iter()
            .any(|c| c.name() == "theme" && c.value() == "dark"),
        "the app's own Set-Cookie is kept"
    );
    assert_eq!(
        res.header("cache-control"),
        Some("private, max-age=60"),
        "the app's Cache-Control is respected"
    );
    let vary: Vec<_> = res
        .headers
        .get_all("vary")
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(vary, ["Accept-Encoding", "Cookie"]);
}

#[actix_web::test]
async fn ids_are_long_random_and_url_safe() {
    let app = app!(SessionMiddleware::new(MemoryStore::default()));
    let mut seen = HashSet::new();
    for _ in 0..300 {
        let id = send(&app, get("/incr", None)).await.id().unwrap();
        assert_eq!(id.len(), 32, "32 chars x 6 bits = 192 bits");
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(seen.insert(id), "ids never repeat");
    }
    // Every character of the alphabet is used: no fixed or biased positions.
    let chars: HashSet<char> = seen.iter().flat_map(|id| id.chars()).collect();
    assert_eq!(chars.len(), 64);
}

#[actix_web::test]
async fn failing_store_answers_503_with_a_short_body() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(SessionMiddleware::new(store.clone()));
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    store.fail(true);
    // On load (extraction) ...
    let res = send(&app, get("/read", Some(&id))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.body, "session store unavailable");
    assert!(
        !res.body.contains("10.9.8.7"),
        "no internals leak to the client"
    );
    // ... and on save (commit): a new visitor's first write cannot be saved.
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        res.cookies.is_empty(),
        "no cookie for data that was not saved"
    );
    store.fail(false);
    assert_eq!(
        send(&app, get("/read", Some(&id))).await.body,
        "1",
        "recovers"
    );
}

#[actix_web::test]
async fn error_response_can_be_chosen() {
    let store = Instrumented::new(MemoryStore::default());
    let mw = SessionMiddleware::builder(store.clone())
        .error_response(|err| {
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .body(format!(
                    "try later ({})",
                    matches!(err, SessionError::Store(_))
                ))
        })
        .build();
    let app = app!(mw);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    store.fail(true);
    let res = send(&app, get("/read", Some(&id))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.body, "try later (true)");
    assert_eq!(res.header("retry-after"), Some("5"));
}

#[actix_web::test]
async fn missing_middleware_is_a_clear_500() {
    let (captured, _guard) = capture_logs();
    let app = test::init_service(App::new().route("/read", web::get().to(read))).await;
    let res = send(&app, get("/read", None)).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    let fix = "this route has no SessionMiddleware: wrap the App or scope with it";
    if cfg!(debug_assertions) {
        assert!(res.body.starts_with(fix), "{}", res.body);
    } else {
        assert_eq!(res.body, "session error");
    }
    let log = captured.text();
    assert!(log.contains("ERROR") && log.contains(fix), "{log}");
}

#[actix_web::test]
async fn cookie_attributes_are_configurable_and_removal_repeats_them() {
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .state(
            CookieState::new("sid")
                .path("/app")
                .domain("example.com")
                .same_site(SameSite::Strict)
                .max_age(Duration::from_secs(3600)),
        )
        .build();
    let app = test::init_service(
        App::new().wrap(mw).service(
            web::scope("/app")
                .route("/incr", web::get().to(incr))
                .route("/logout", web::post().to(logout)),
        ),
    )
    .await;
    let res = send(&app, get("/app/incr", None)).await;
    let c = cookie_named_in(&res, "sid").expect("cookie sid");
    assert_eq!(c.path(), Some("/app"));
    assert_eq!(c.domain(), Some("example.com"));
    assert_eq!(c.same_site(), Some(SameSite::Strict));
    assert_eq!(c.max_age(), Some(cookie::time::Duration::seconds(3600)));
    let id = c.value().to_owned();

    // A persistent cookie is re-sent when its data changes, to slide its expiry.
    let req = test::TestRequest::get()
        .uri("/app/incr")
        .insert_header(("Cookie", format!("sid={id}")))
        .to_request();
    let res = send(&app, req).await;
    assert_eq!(res.body, "2");
    assert_eq!(cookie_named_in(&res, "sid").unwrap().value(), id);

    let req = test::TestRequest::post()
        .uri("/app/logout")
        .insert_header(("Cookie", format!("sid={id}")))
        .to_request();
    let res = send(&app, req).await;
    let removal = cookie_named_in(&res, "sid").unwrap();
    assert_eq!(removal.value(), "");
    assert_eq!(removal.path(), Some("/app"));
    assert_eq!(removal.domain(), Some("example.com"));
    assert_eq!(removal.same_site(), Some(SameSite::Strict));
    assert_eq!(removal.secure(), Some(true));
    assert_eq!(removal.http_only(), Some(true));
    assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
}

fn cookie_named_in(res: &Resp, name: &str) -> Option<cookie::Cookie<'static>> {
    res.cookies.iter().find(|c| c.name() == name).cloned()
}

#[actix_web::test]
async fn partitioned_cookie_is_secure_and_same_site_none() {
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .state(CookieState::new("__Host-id").partitioned(true))
        .build();
    let app = app!(mw);
    let res = send(&app, get("/incr", None)).await;
    let raw = res.header("set-cookie").unwrap().to_owned();
    assert!(raw.starts_with("__Host-id="), "{raw}");
    for attr in [
        "Secure",
        "SameSite=None",
        "Partitioned",
        "Path=/",
        "HttpOnly",
    ] {
        assert!(raw.contains(attr), "{attr} missing in {raw}");
    }
    assert!(!raw.contains("Domain"));
}

#[actix_web::test]
async fn misconfiguration_fails_at_build_time() {
    let bad = [
        CookieState::new("__Host-id").domain("example.com"),
        CookieState::new("__Host-id").path("/app"),
        CookieState::new("__Host-id").secure(false),
        CookieState::new("__Secure-id").secure(false),
        CookieState::new("id;evil"),
    ];
    for state in bad {
        let err = SessionMiddleware::builder(MemoryStore::default())
            .state(state)
            .try_build()
            .err()
            .expect("rejected");
        assert!(err.to_string().contains("cookie"), "{err}");
    }
    let zero = SessionMiddleware::builder(MemoryStore::default())
        .idle_timeout(Duration::ZERO)
        .try_build();
    assert!(zero.is_err());
    let panicked = std::panic::catch_unwind(|| {
        SessionMiddleware::builder(MemoryStore::default())
            .state(CookieState::new("__Host-x").domain("a.example"))
            .build()
    });
    assert!(panicked.is_err(), "build() refuses a misconfiguration");
}

#[actix_web::test]
async fn header_state_round_trip() {
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .state(HeaderState::new("x-session"))
        .build();
    let app = app!(mw);
    let res = send(&app, get("/incr", None)).await;
    let id = res
        .header("x-session")
        .expect("new id in the response header")
        .to_owned();
    assert!(res.cookies.is_empty());
    assert_eq!(res.header("vary"), Some("x-session"));
    let req = test::TestRequest::get()
        .uri("/incr")
        .insert_header(("x-session", id.as_str()))
        .to_request();
    let res = send(&app, req).await;
    assert_eq!(res.body, "2");
    assert_eq!(res.header("x-session"), None, "known id: nothing sent");
    let req = test::TestRequest::post()
        .uri("/logout")
        .insert_header(("x-session", id.as_str()))
        .to_request();
    let res = send(&app, req).await;
    assert_eq!(res.header("x-session"), Some(""), "ended: empty value");
}

#[actix_web::test]
async fn query_state_reads_and_never_sends() {
    let store = MemoryStore::default();
    let mw = SessionMiddleware::builder(store.clone())
        .state(QueryState::new("sid"))
        .build();
    let app = app!(mw);
    let res = send(&app, get("/incr_id", None)).await;
    assert!(res.cookies.is_empty(), "query state sends nothing");
    assert_eq!(res.header("vary"), None);
    let (n, id) = res.body.split_once(' ').unwrap();
    assert_eq!(n, "1");
    let res = send(&app, get(&format!("/incr_id?x=1&sid={id}&sid=other"), None)).await;
    assert_eq!(
        res.body,
        format!("2 {id}"),
        "first parameter wins; same session"
    );
    let res = send(&app, post(&format!("/logout?sid={id}"), None)).await;
    assert!(
        res.cookies.is_empty(),
        "query state sends nothing, even on expire"
    );
    assert!(store.is_empty(), "but the session is gone");
}

#[actix_web::test]
async fn expire_deletes_exactly_once() {
    let store = Instrumented::new(MemoryStore::default());
    let app = app!(SessionMiddleware::new(store.clone()));
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, post("/logout", Some(&id))).await;
    assert!(res.removal().is_some());
    assert_eq!(store.calls.delete(), 1);
    assert_eq!(store.calls.save(), 1, "only the first write saved");
    assert!(stored(&store.inner, &id).await.is_none());
}

#[actix_web::test]
async fn persistent_cookie_is_refreshed_once_per_refresh_step() {
    let clock = actix_typed_session::clock::ManualClock::new();
    let store = Instrumented::new(MemoryStore::builder().clock(clock.clone()).build());
    let mw = SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .state(CookieState::new("id").max_age(Duration::from_secs(600)))
        .idle_timeout(Duration::from_secs(600))
        .refresh_step(Duration::from_secs(60))
        .build();
    let app = app!(mw);
    let id = send(&app, get("/incr", None)).await.id().unwrap();

    clock.advance(Duration::from_secs(30));
    let res = send(&app, get("/read", Some(&id))).await;
    assert!(
        res.cookies.is_empty(),
        "within the refresh step: no touch, no cookie"
    );
    assert_eq!(store.calls.touch(), 0);

    clock.advance(Duration::from_secs(60));
    let res = send(&app, get("/read", Some(&id))).await;
    assert_eq!(res.id().as_deref(), Some(id.as_str()), "same id, re-sent");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(store.calls.touch(), 1);

    let res = send(&app, get("/read", Some(&id))).await;
    assert!(res.cookies.is_empty(), "just refreshed");
    assert_eq!(store.calls.touch(), 1);
}

/// A cookie with non-ASCII bytes next to the session's (`name=Zoë`) must not hide the session:
/// each pair of the header is read on its own.
#[actix_web::test]
async fn a_non_ascii_cookie_next_to_the_session_does_not_hide_it() {
    let app = app!(SessionMiddleware::new(MemoryStore::default()));
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    for header in [
        format!("id={id}; name=Zo\u{eb}"),
        format!("name=Zo\u{eb}; id={id}"),
        format!("theme=\u{1f600}; id={id}; lang=fran\u{e7}ais"),
    ] {
        let value = actix_web::http::header::HeaderValue::from_bytes(header.as_bytes()).unwrap();
        let req = test::TestRequest::get()
            .uri("/read")
            .insert_header(("cookie", value))
            .to_request();
        let res = send(&app, req).await;
        assert_eq!(res.body, "1", "{header}: the session is found");
        assert!(res.cookies.is_empty(), "{header}: no new session");
    }
}

/// `HeaderState::new("bad header")` must not panic (inside the `HttpServer` factory that would
/// take down every worker): the builder reports it as a `ConfigError` before the server starts.
#[actix_web::test]
async fn a_bad_header_name_is_a_build_error_not_a_panic() {
    let state = std::panic::catch_unwind(|| HeaderState::new("bad header"))
        .expect("HeaderState::new does not panic");
    let err = SessionMiddleware::builder(MemoryStore::default())
        .state(state)
        .try_build()
        .err()
        .expect("try_build reports the bad name");
    assert!(err.to_string().contains("\"bad header\""), "{err}");
    assert!(err.to_string().contains("not a valid header name"), "{err}");
    let err = HeaderState::try_new("bad header").unwrap_err();
    assert!(err.to_string().contains("not a valid header name"), "{err}");
    assert!(HeaderState::try_new("x-session").is_ok());
}

/// The id header twice with different values (junk then valid, or valid then junk) is no id and
/// a warning, never a silent pick of one of them.
#[actix_web::test]
async fn an_id_header_sent_twice_with_different_values_is_no_id() {
    let store = MemoryStore::default();
    let mw = SessionMiddleware::builder(store.clone())
        .state(HeaderState::new("x-session"))
        .build();
    let app = app!(mw);
    let id = send(&app, get("/incr", None))
        .await
        .header("x-session")
        .unwrap()
        .to_owned();
    let (captured, _guard) = capture_logs();
    let junk = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for (first, second) in [(junk, id.as_str()), (id.as_str(), junk)] {
        let req = test::TestRequest::get()
            .uri("/read")
            .append_header(("x-session", first))
            .append_header(("x-session", second))
            .to_request();
        let res = send(&app, req).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body, "none", "{first} then {second}: treated as no id");
    }
    let log = captured.text();
    assert_eq!(
        log.matches("sent more than once with different values")
            .count(),
        2,
        "{log}"
    );
    assert!(!log.contains(&id), "the log names no id: {log}");
    // The same value twice is still the session.
    let req = test::TestRequest::get()
        .uri("/read")
        .append_header(("x-session", id.as_str()))
        .append_header(("x-session", id.as_str()))
        .to_request();
    assert_eq!(send(&app, req).await.body, "1");
}

/// A JSON login that returns its token: `#[session(change_id)]` on the handler.
#[actix_typed_session::session(change_id)]
async fn token_login(session: Session) -> Result<HttpResponse, SessionError> {
    session.set("user", 7)?;
    Ok(HttpResponse::Ok().body(session.id().to_string()))
}

/// The same with `Session::change_id`, reading the id before and after.
async fn token_login_by_call(session: Session) -> Result<HttpResponse, SessionError> {
    let before = session.id();
    session.set("user", 8)?;
    session.change_id();
    let after = session.id();
    assert_ne!(before, after, "change_id picks the new id at once");
    assert_eq!(session.id(), after, "and keeps it");
    Ok(HttpResponse::Ok().body(after.to_string()))
}

async fn user(session: Session) -> Result<String, SessionError> {
    Ok(format!("{:?}", session.get::<u64>("user")?))
}

/// `Session::id()` after `change_id` is the id the response sends, so a token handed out in a
/// login's body works: for a new and for an existing session, with the attribute and with the
/// method, in a header and in a cookie.
#[actix_web::test]
async fn id_after_change_id_is_the_id_that_is_sent() {
    for state in [
        actix_typed_session::state::IdCarrier::from(HeaderState::new("x-session")),
        CookieState::new("id").into(),
    ] {
        let header = matches!(state, actix_typed_session::state::IdCarrier::Header(_));
        let mw = SessionMiddleware::builder(MemoryStore::default())
            .state(state)
            .build();
        let app = test::init_service(
            App::new()
                .wrap(mw)
                .route("/incr", web::get().to(incr))
                .route("/login", web::post().to(token_login))
                .route("/login-call", web::post().to(token_login_by_call))
                .route("/user", web::get().to(user)),
        )
        .await;
        let with = |req: test::TestRequest, id: Option<&str>| match id {
            Some(id) if header => req.insert_header(("x-session", id)),
            Some(id) => req.insert_header(cookie_header(id)),
            None => req,
        };
        let sent = |res: &Resp| -> String {
            if header {
                res.header("x-session").unwrap().to_owned()
            } else {
                res.id().unwrap()
            }
        };
        for (route, expected) in [("/login", "Some(7)"), ("/login-call", "Some(8)")] {
            let first = send(
                &app,
                with(test::TestRequest::get().uri("/incr"), None).to_request(),
            )
            .await;
            let existing = sent(&first);
            for old in [None, Some(existing.as_str())] {
                let req = with(test::TestRequest::post().uri(route), old);
                let res = send(&app, req.to_request()).await;
                assert_eq!(res.status, StatusCode::OK);
                assert_eq!(res.body, sent(&res), "{route} from {old:?}: body = sent id");
                assert_ne!(Some(res.body.as_str()), old);
                let req = with(test::TestRequest::get().uri("/user"), Some(&res.body));
                assert_eq!(send(&app, req.to_request()).await.body, expected);
                if let Some(old) = old {
                    let req = with(test::TestRequest::get().uri("/user"), Some(old));
                    assert_eq!(
                        send(&app, req.to_request()).await.body,
                        "None",
                        "old id dead"
                    );
                }
            }
        }
    }
}
