//! actix-session 0.11's own examples and tests, ported to this crate (issue 21): the migration
//! guide's mapping, checked by running what actix-session checks.
//!
//! Sources (in actix-session-0.11.0): `examples/basic.rs`, `examples/authentication.rs`,
//! `tests/session.rs`, `tests/middleware.rs`, `tests/opaque_errors.rs`, and the acceptance suite
//! of `src/lib.rs` (`test_helpers::acceptance_test_suite`), which actix-session runs on each of
//! its stores; here it runs on the memory store, the cookie store (signed and encrypted: the
//! suite's loop over `CookieContentSecurity`, which for a server-side store has nothing to
//! choose: ids are 192-bit random, not signed) and the Redis store (a real server, a key prefix
//! per test).
//!
//! The mapping: `insert` → `set`, `remove` → `remove`/`take`, `contains_key` → `has`,
//! `entries` → `keys` + `get`, `purge` → `expire`, `renew` → `change_id`, `SessionStatus::Purged`
//! → `SessionStatus::Expired`; `PersistentSession::session_ttl(d)` → `CookieState::max_age(d)`
//! with `idle_timeout(d)`; `TtlExtensionPolicy::OnEveryRequest` →
//! `refresh_on_every_request(true)`; `cookie_*` → the `CookieState` builder.
//!
//! actix-session's unit tests of `tests/session.rs` take a session from a bare
//! `TestRequest` (`get_session()`, no middleware); ours has no session without the middleware,
//! so each runs its steps, with the original's assertions, inside a handler behind the
//! middleware (a failed assertion fails the test: nothing catches a handler's panic), and then
//! checks what was stored. A difference of this crate is marked `// differs:` above the
//! assertion that states our behaviour.
//!
//! Four cases of `tests/session.rs` use `SessionExt` and `Session::update`/`update_or`: they
//! are in `ported_ext.rs`.
//!
//! | case | result |
//! |---|---|
//! | `ported_example_basic` (Redis) | passes as is |
//! | `ported_example_authentication` (Redis) | passes as is |
//! | `ported_middleware_cookie_storage` | passes as is |
//! | `ported_opaque_errors_errors_are_opaque` | differs: a failing store answers 503 with a short fixed body, not 500 with an empty one |
//! | `ported_session_session` | passes as is |
//! | `ported_session_purge_session` | differs: a fresh session's status is `New`, not `Unchanged` |
//! | `ported_session_renew_session` | differs: a fresh session's status is `New`, not `Unchanged` |
//! | `ported_session_session_entries` | passes as is (the original asserted nothing; asserted here) |
//! | `ported_session_session_contains_key` | passes as is |
//! | `ported_session_insert_session_after_renew` | passes as is |
//! | `ported_session_remove_session_after_renew` | passes as is |
//! | `ported_session_clear_session_after_renew` | differs: clearing an empty fresh session leaves it `New` (nothing to save) |
//! | `ported_session_get_session` (`ported_ext.rs`) | passes as is |
//! | `ported_session_get_session_from_request_head` (`ported_ext.rs`) | passes as is |
//! | `ported_session_update_session` (`ported_ext.rs`) | differs: a fresh session's status is `New`, not `Unchanged` |
//! | `ported_session_update_or_session` (`ported_ext.rs`) | passes as is (`update_or` stores the default as it is when the key is absent, as actix-session) |
//! | `ported_acceptance_basic_workflow_on_{memory,cookie,redis}` | passes as is |
//! | `ported_acceptance_expiration_is_refreshed_on_changes_on_{memory,cookie,redis}` | passes as is |
//! | `ported_acceptance_expiration_is_always_refreshed_if_configured_to_refresh_on_every_request_on_{memory,cookie,redis}` | differs: the refresh is throttled by the refresh step, so the untouched request re-sends the cookie only once time has passed |
//! | `ported_acceptance_guard_on_{memory,cookie,redis}` | differs: a route guard cannot load a lazy session, so a typed-session guard answers 401 where the scope guard left 404 |
//! | `ported_acceptance_complex_workflow_on_{memory,cookie,redis}` | passes as is |

use std::sync::Arc;
use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::cookie::{Cookie, SameSite};
use actix_typed_session::state::CookieState;
use actix_typed_session::store::{
    Changes, CookieStore, Fetch, IntoBackend, Loaded, MemoryStore, Meta, RedisStore, SessionStore,
};
use actix_typed_session::{Session, SessionId, SessionMiddleware, SessionStatus, StoreError};
use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use actix_web::{test, web, App, Error, HttpResponse, Responder};
use serde::{Deserialize, Serialize};
use serde_json::json;

use support::redis::RedisServer;
use support::*;

// ---------------------------------------------------------------------------------------------
// The stores and the client side of the tests

/// A Redis store on a server of its own (or REDIS_URL's), under a prefix of its own.
fn redis_store() -> Guarded<RedisStore> {
    let server = RedisServer::start();
    let prefix = format!("ats-ported:{}:", SessionId::generate().log_tag());
    let store = RedisStore::builder(RedisStore::pool(&server.url).unwrap())
        .prefix(prefix)
        .build();
    Guarded {
        store,
        guard: Arc::new(server),
    }
}

/// The cookie store in both modes: actix-session's suite runs with signed and private cookies.
fn cookie_stores() -> [CookieStore; 2] {
    [
        CookieStore::signed([0x21; 32]).build().unwrap(),
        CookieStore::encrypted([0x21; 32]).build().unwrap(),
    ]
}

/// A request carrying `cookie` (whatever its name) when given, as a browser would send it.
fn request(method: Method, uri: &str, cookie: Option<&Cookie<'static>>) -> TestRequest {
    let req = TestRequest::default().method(method).uri(uri);
    match cookie {
        Some(cookie) => {
            req.insert_header(("Cookie", format!("{}={}", cookie.name(), cookie.value())))
        }
        None => req,
    }
}

/// The `Set-Cookie` named `name` of a response.
fn cookie(res: &Resp, name: &str) -> Option<Cookie<'static>> {
    res.cookies.iter().find(|c| c.name() == name).cloned()
}

fn secs(d: Option<actix_typed_session::cookie::time::Duration>) -> Option<i64> {
    d.map(|d| d.whole_seconds())
}

// ---------------------------------------------------------------------------------------------
// examples/basic.rs: a counter on Redis

async fn basic_index(
    req: actix_web::HttpRequest,
    session: Session,
) -> Result<impl Responder, Error> {
    let _ = req; // the example prints the request
    if let Some(count) = session.get::<i32>("counter")? {
        session.set("counter", count + 1)?;
    } else {
        session.set("counter", 1)?;
    }
    Ok("Welcome!")
}

#[actix_web::test]
async fn ported_example_basic() {
    let store = redis_store();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .service(web::resource("/").to(basic_index)),
    )
    .await;
    let res = send(&app, get("/", None)).await;
    assert_eq!(res.body, "Welcome!");
    let id = res.id().expect("the first visit gets a session cookie");
    assert_eq!(stored_value(&store, &id, "counter").await, Some(json!(1)));
    for n in 2..=3 {
        let res = send(&app, get("/", Some(&id))).await;
        assert_eq!(res.body, "Welcome!");
        assert_eq!(stored_value(&store, &id, "counter").await, Some(json!(n)));
    }
}

// ---------------------------------------------------------------------------------------------
// examples/authentication.rs: JSON login, a protected resource that renews the session

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

struct AuthUser {
    id: i64,
}

/// The example's 401, as an error a handler returns.
fn unauthorized() -> Error {
    actix_web::error::InternalError::from_response(
        "",
        HttpResponse::Unauthorized().json("Unauthorized"),
    )
    .into()
}

impl AuthUser {
    fn authenticate(credentials: Credentials) -> Result<Self, Error> {
        if credentials.password != "hunter2" || credentials.username.is_empty() {
            return Err(unauthorized());
        }
        Ok(AuthUser { id: 42 })
    }
}

fn validate_session(session: &Session) -> Result<i64, Error> {
    match session.get::<i64>("user_id").unwrap_or(None) {
        Some(id) => {
            // keep the user's session alive (the example's comment; it renews the id)
            session.change_id();
            Ok(id)
        }
        None => Err(unauthorized()),
    }
}

async fn auth_login(
    credentials: web::Json<Credentials>,
    session: Session,
) -> Result<impl Responder, Error> {
    let user = AuthUser::authenticate(credentials.into_inner())?;
    session.set("user_id", user.id)?;
    Ok("Welcome!")
}

async fn auth_secret(session: Session) -> Result<impl Responder, Error> {
    validate_session(&session)?;
    Ok("secret revealed")
}

#[actix_web::test]
async fn ported_example_authentication() {
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(redis_store())
                    .state(
                        CookieState::default()
                            .http_only(false)
                            .same_site(SameSite::Strict),
                    )
                    .build(),
            )
            .route("/login", web::post().to(auth_login))
            .route("/secret", web::get().to(auth_secret)),
    )
    .await;
    let login = |password: &str| {
        request(Method::POST, "/login", None)
            .set_json(json!({ "username": "ferris", "password": password }))
            .to_request()
    };

    let res = send(&app, login("hunter3")).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(res.body, "\"Unauthorized\"");
    assert!(res.cookies.is_empty());
    let res = send(&app, get("/secret", None)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    let res = send(&app, login("hunter2")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "Welcome!");
    let session = res.session().expect("a session cookie").clone();
    assert_ne!(session.http_only(), Some(true), "readable from JavaScript");
    assert_eq!(session.same_site(), Some(SameSite::Strict));

    let res = send(&app, get("/secret", Some(session.value()))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "secret revealed");
    let renewed = res.id().expect("renew sends a new id");
    assert_ne!(renewed, session.value());
    let res = send(&app, get("/secret", Some(session.value()))).await;
    assert_eq!(
        res.status,
        StatusCode::UNAUTHORIZED,
        "the old id ended with the renewal"
    );
    let res = send(&app, get("/secret", Some(&renewed))).await;
    assert_eq!(res.body, "secret revealed");
}

// ---------------------------------------------------------------------------------------------
// tests/middleware.rs: the cookie's attributes, and those of its removal

async fn mw_login(session: Session) -> impl Responder {
    session.set("user_id", "id").unwrap();
    "Logged in"
}

async fn mw_logout(session: Session) -> impl Responder {
    session.expire();
    "Logged out"
}

#[actix_web::test]
async fn ported_middleware_cookie_storage() {
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(CookieStore::encrypted([0x33; 32]).build().unwrap())
                    .state(CookieState::default().path("/test").domain("localhost"))
                    .build(),
            )
            .route("/login", web::post().to(mw_login))
            .route("/logout", web::post().to(mw_logout)),
    )
    .await;

    let res = send(&app, request(Method::POST, "/login", None).to_request()).await;
    let session = res.cookies.first().expect("a session cookie").clone();
    assert_eq!(session.name(), "id");
    assert_eq!(session.path(), Some("/test"));
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.http_only(), Some(true));
    assert!(session.max_age().is_none());
    assert_eq!(session.domain(), Some("localhost"));

    let res = send(
        &app,
        request(Method::POST, "/logout", Some(&session)).to_request(),
    )
    .await;
    let removal = res.cookies.first().expect("a removal cookie").clone();
    assert_eq!(removal.name(), "id");
    assert_eq!(removal.path(), Some("/test"));
    assert_eq!(removal.secure(), Some(true));
    assert_eq!(removal.http_only(), Some(true));
    assert_eq!(secs(removal.max_age()), Some(0));
    assert_eq!(removal.domain(), Some("localhost"));
}

// ---------------------------------------------------------------------------------------------
// tests/opaque_errors.rs: a store error's details never reach the client

/// Saves anything, loads nothing: every load fails with details the client must not see.
#[derive(Clone)]
struct FailingLoads;

impl SessionStore for FailingLoads {
    async fn load(&self, _: &SessionId, _: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        Err(StoreError::msg("My error full of implementation details"))
    }
    async fn save(&self, _: &SessionId, _: &Meta, _: &Changes) -> Result<(), StoreError> {
        Ok(())
    }
    async fn delete(&self, _: &SessionId) -> Result<(), StoreError> {
        Ok(())
    }
}

#[actix_web::test]
async fn ported_opaque_errors_errors_are_opaque() {
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(FailingLoads))
            .route("/create_session", web::post().to(mw_login))
            .route(
                "/load_session_with_error",
                web::post().to(|_session: Session| async { "Loaded" }),
            ),
    )
    .await;
    let res = send(
        &app,
        request(Method::POST, "/create_session", None).to_request(),
    )
    .await;
    let session = res.session().expect("a session cookie").clone();

    let res = send(
        &app,
        request(Method::POST, "/load_session_with_error", Some(&session)).to_request(),
    )
    .await;
    // differs: a store failure is 503 (try again), not 500, and the middleware answers it
    // itself (a response, not an `Err` of the service).
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    // differs: the body is a short fixed text, not empty; it is as opaque.
    assert_eq!(res.body, "session store unavailable");
    assert!(!res.body.contains("implementation details"));
}

// ---------------------------------------------------------------------------------------------
// tests/session.rs: the handle's methods and its status, one request each

/// Runs `handler` as the one route of an app on `store`, for a request without a session, and
/// checks that it ran to the end (its assertions passed). Answers the response.
async fn run_handler<S, F, Args>(store: S, handler: F) -> Resp
where
    S: IntoBackend,
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store))
            .route("/", web::get().to(handler)),
    )
    .await;
    let res = send(&app, get("/", None)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body, "ran");
    res
}

#[actix_web::test]
async fn ported_session_session() {
    let store = MemoryStore::default();
    let res = run_handler(store.clone(), |session: Session| async move {
        session.set("key", "value").unwrap();
        let res = session.get::<String>("key").unwrap();
        assert_eq!(res, Some("value".to_string()));

        session.set("key2", "value2").unwrap();
        session.remove("key");
        "ran"
    })
    .await;
    // The original reads the entries off the response: what the store holds after it.
    let record = stored(&store, &res.id().unwrap()).await.unwrap();
    let state: Vec<_> = record
        .data
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8(v.to_vec()).unwrap()))
        .collect();
    assert_eq!(
        state.as_slice(),
        [("key2".to_string(), "\"value2\"".to_string())]
    );
}

#[actix_web::test]
async fn ported_session_purge_session() {
    run_handler(MemoryStore::default(), |session: Session| async move {
        // differs: a session not stored yet is `New`; `Unchanged` is a stored one's.
        assert_eq!(session.status(), SessionStatus::New);
        session.expire();
        assert_eq!(session.status(), SessionStatus::Expired);
        "ran"
    })
    .await;
}

#[actix_web::test]
async fn ported_session_renew_session() {
    run_handler(MemoryStore::default(), |session: Session| async move {
        // differs: a session not stored yet is `New`; `Unchanged` is a stored one's.
        assert_eq!(session.status(), SessionStatus::New);
        session.change_id();
        assert_eq!(session.status(), SessionStatus::Renewed);
        "ran"
    })
    .await;
}

#[actix_web::test]
async fn ported_session_session_entries() {
    run_handler(MemoryStore::default(), |session: Session| async move {
        session.set("test_str", "val").unwrap();
        session.set("test_str", 1).unwrap();
        // The original calls `contains_key` on the entries and ignores the answers.
        let keys = session.keys();
        assert!(keys.contains(&"test_str".to_owned()));
        assert!(!keys.contains(&"test_num".to_owned()));
        assert_eq!(session.get::<i32>("test_str").unwrap(), Some(1));
        "ran"
    })
    .await;
}

#[actix_web::test]
async fn ported_session_session_contains_key() {
    run_handler(MemoryStore::default(), |session: Session| async move {
        session.set("test_str", "val").unwrap();
        session.set("test_str", 1).unwrap();
        assert!(session.has("test_str"));
        assert!(!session.has("test_num"));
        "ran"
    })
    .await;
}

#[actix_web::test]
async fn ported_session_insert_session_after_renew() {
    let store = MemoryStore::default();
    let res = run_handler(store.clone(), |session: Session| async move {
        session.set("test_val", "val").unwrap();
        assert_eq!(session.status(), SessionStatus::Changed);

        session.change_id();
        assert_eq!(session.status(), SessionStatus::Renewed);

        session.set("test_val1", "val1").unwrap();
        assert_eq!(session.status(), SessionStatus::Renewed);
        "ran"
    })
    .await;
    let id = res.id().unwrap();
    assert_eq!(
        stored_value(&store, &id, "test_val1").await,
        Some(json!("val1"))
    );
}

#[actix_web::test]
async fn ported_session_remove_session_after_renew() {
    run_handler(MemoryStore::default(), |session: Session| async move {
        session.set("test_val", "val").unwrap();
        assert!(session.remove("test_val"));
        assert_eq!(session.status(), SessionStatus::Changed);

        session.change_id();
        session.set("test_val", "val").unwrap();
        assert!(session.remove("test_val"));
        assert_eq!(session.status(), SessionStatus::Renewed);
        "ran"
    })
    .await;
}

#[actix_web::test]
async fn ported_session_clear_session_after_renew() {
    run_handler(MemoryStore::default(), |session: Session| async move {
        session.clear();
        // differs: clearing a fresh, empty session changes nothing: it stays `New`.
        assert_eq!(session.status(), SessionStatus::New);

        session.change_id();
        assert_eq!(session.status(), SessionStatus::Renewed);

        session.clear();
        assert_eq!(session.status(), SessionStatus::Renewed);
        "ran"
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The acceptance suite of src/lib.rs

/// actix-session's `PersistentSession::default().session_ttl(ttl)`: a cookie that lives `ttl`,
/// and a session that does too.
fn persistent<S: IntoBackend>(store: S, cookie: CookieState, ttl: Duration) -> SessionMiddleware {
    SessionMiddleware::builder(store)
        .state(cookie.max_age(ttl))
        .idle_timeout(ttl)
        .build()
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct IndexResponse {
    user_id: Option<String>,
    counter: i32,
}

fn index_response(res: &Resp) -> IndexResponse {
    serde_json::from_str(&res.body).unwrap_or_else(|e| panic!("{e}: {:?}", res.body))
}

async fn index(session: Session) -> actix_web::Result<HttpResponse> {
    let user_id: Option<String> = session.get::<String>("user_id").unwrap();
    let counter: i32 = session
        .get::<i32>("counter")
        .unwrap_or(Some(0))
        .unwrap_or(0);
    Ok(HttpResponse::Ok().json(&IndexResponse { user_id, counter }))
}

async fn do_something(session: Session) -> actix_web::Result<HttpResponse> {
    let user_id: Option<String> = session.get::<String>("user_id").unwrap();
    let counter: i32 = session
        .get::<i32>("counter")
        .unwrap_or(Some(0))
        .map_or(1, |inner| inner + 1);
    session.set("counter", counter)?;
    Ok(HttpResponse::Ok().json(&IndexResponse { user_id, counter }))
}

/// The signed-in user, as the `guard` case's scope guard checks it: a typed session under the
/// key `user_id` (a newtype is stored as its string), and without `Default`, a guard.
#[derive(actix_typed_session::Session, Serialize, Deserialize)]
#[session(key = "user_id")]
struct UserId(String);

async fn count(user: UserId, session: Session) -> actix_web::Result<HttpResponse> {
    let user_id = Some(user.0.clone());
    let counter: i32 = session.get::<i32>("counter").unwrap().unwrap();
    Ok(HttpResponse::Ok().json(&IndexResponse { user_id, counter }))
}

#[derive(Deserialize)]
struct Identity {
    user_id: String,
}

async fn login(user_id: web::Json<Identity>, session: Session) -> actix_web::Result<HttpResponse> {
    let id = user_id.into_inner().user_id;
    session.set("user_id", &id)?;
    session.change_id();
    let counter: i32 = session
        .get::<i32>("counter")
        .unwrap_or(Some(0))
        .unwrap_or(0);
    Ok(HttpResponse::Ok().json(&IndexResponse {
        user_id: Some(id),
        counter,
    }))
}

async fn logout(session: Session) -> actix_web::Result<HttpResponse> {
    let id: Option<String> = session.get("user_id")?;
    let body = if let Some(id) = id {
        session.expire();
        format!("Logged out: {id}")
    } else {
        "Could not log out anonymous user".to_owned()
    };
    Ok(HttpResponse::Ok().body(body))
}

async fn counter_100(session: Session) -> &'static str {
    let _ = session.set("counter", 100);
    "test"
}

async fn no_changes() -> &'static str {
    "no-changes-in-session"
}

async fn basic_workflow<S: IntoBackend>(store: S) {
    let app = test::init_service(
        App::new()
            .wrap(persistent(
                store,
                CookieState::new("actix-test")
                    .path("/test/")
                    .domain("localhost"),
                Duration::from_secs(100),
            ))
            .service(web::resource("/").to(counter_100))
            .service(web::resource("/test/").to(|session: Session| async move {
                let val: usize = session.get("counter").unwrap().unwrap();
                format!("counter: {val}")
            })),
    )
    .await;

    let res = send(&app, request(Method::GET, "/", None).to_request()).await;
    let cookie = cookie(&res, "actix-test").unwrap();
    assert_eq!(cookie.path(), Some("/test/"));

    let res = send(
        &app,
        request(Method::GET, "/test/", Some(&cookie)).to_request(),
    )
    .await;
    assert_eq!(res.body, "counter: 100");
}

async fn expiration_is_refreshed_on_changes<S: IntoBackend>(store: S) {
    let session_ttl = Duration::from_secs(60);
    let app = test::init_service(
        App::new()
            .wrap(persistent(store, CookieState::default(), session_ttl))
            .service(web::resource("/").to(counter_100))
            .service(web::resource("/test/").to(no_changes)),
    )
    .await;

    let res = send(&app, request(Method::GET, "/", None).to_request()).await;
    let cookie_1 = cookie(&res, "id").expect("Cookie is set");
    assert_eq!(secs(cookie_1.max_age()), Some(60));

    let res = send(
        &app,
        request(Method::GET, "/test/", Some(&cookie_1)).to_request(),
    )
    .await;
    assert!(res.cookies.is_empty());

    let res = send(
        &app,
        request(Method::GET, "/", Some(&cookie_1)).to_request(),
    )
    .await;
    let cookie_2 = cookie(&res, "id").expect("Cookie is set");
    assert_eq!(secs(cookie_2.max_age()), Some(60));
}

async fn expiration_is_always_refreshed_if_configured_to_refresh_on_every_request<
    S: IntoBackend,
>(
    store: S,
) {
    let session_ttl = Duration::from_secs(60);
    let clock = ManualClock::new();
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store)
                    .state(CookieState::default().max_age(session_ttl))
                    .idle_timeout(session_ttl)
                    .refresh_on_every_request(true)
                    .clock(clock.clone())
                    .build(),
            )
            .service(web::resource("/").to(counter_100))
            .service(web::resource("/test/").to(no_changes)),
    )
    .await;

    // Create session
    let res = send(&app, request(Method::GET, "/", None).to_request()).await;
    let cookie_1 = cookie(&res, "id").expect("Cookie is set");
    assert_eq!(secs(cookie_1.max_age()), Some(60));

    // differs: the refresh is throttled by the refresh step (a tenth of the idle timeout, 6 s
    // here): the same instant moves no expiry, and no cookie is sent.
    let res = send(
        &app,
        request(Method::GET, "/test/", Some(&cookie_1)).to_request(),
    )
    .await;
    assert!(res.cookies.is_empty());

    // A request that doesn't touch the session state, once the expiry moves: the cookie is sent
    // again, its expiry set to the maximum we configured.
    clock.advance(Duration::from_secs(30));
    let res = send(
        &app,
        request(Method::GET, "/test/", Some(&cookie_1)).to_request(),
    )
    .await;
    let cookie_2 = cookie(&res, "id").expect("Cookie is set");
    assert_eq!(secs(cookie_2.max_age()), Some(60));
}

async fn guard<S: IntoBackend>(store: S) {
    let app = test::init_service(
        App::new()
            .wrap(persistent(
                store,
                CookieState::new("test-session"),
                Duration::from_secs(7 * 86400),
            ))
            .service(web::resource("/").route(web::get().to(index)))
            .service(web::resource("/do_something").route(web::post().to(do_something)))
            .service(web::resource("/login").route(web::post().to(login)))
            .service(web::resource("/logout").route(web::post().to(logout)))
            .service(
                web::scope("/protected")
                    .service(web::resource("/count").route(web::get().to(count))),
            ),
    )
    .await;

    // Step 1: GET without session info: an unsuccessful status.
    let res = send(
        &app,
        request(Method::GET, "/protected/count", None).to_request(),
    )
    .await;
    assert!(!res.status.is_success());
    // differs: a route guard is synchronous and our session loads lazily (no eager load), so
    // the check is a typed-session guard on the handler: 401, where the scope's guard left 404.
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    // Step 2: POST to login: session cookie #1; state {"counter": 0, "user_id": "ferris"}.
    let res = send(
        &app,
        request(Method::POST, "/login", None)
            .set_json(json!({"user_id": "ferris"}))
            .to_request(),
    )
    .await;
    let cookie_1 = cookie(&res, "test-session").unwrap();

    // Step 3: POST to do_something: {"counter": 1, "user_id": "ferris"}, session cookie #2.
    let res = send(
        &app,
        request(Method::POST, "/do_something", Some(&cookie_1)).to_request(),
    )
    .await;
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: Some("ferris".into()),
            counter: 1
        }
    );
    let cookie_2 = cookie(&res, "test-session").unwrap();

    // Step 4: GET with the signed-in session: {"counter": 1, "user_id": "ferris"}.
    let res = send(
        &app,
        request(Method::GET, "/protected/count", Some(&cookie_2)).to_request(),
    )
    .await;
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: Some("ferris".into()),
            counter: 1
        }
    );
}

async fn complex_workflow<S: IntoBackend>(store: S, is_invalidation_supported: bool) {
    let session_ttl = Duration::from_secs(7 * 86400);
    let app = test::init_service(
        App::new()
            .wrap(persistent(
                store,
                CookieState::new("test-session"),
                session_ttl,
            ))
            .service(web::resource("/").route(web::get().to(index)))
            .service(web::resource("/do_something").route(web::post().to(do_something)))
            .service(web::resource("/login").route(web::post().to(login)))
            .service(web::resource("/logout").route(web::post().to(logout))),
    )
    .await;
    let call = |method: Method, uri: &str, cookie: Option<&Cookie<'static>>| {
        request(method, uri, cookie).to_request()
    };
    let name = "test-session";

    // Step 1: GET index: no cookie (the session is empty); {"counter": 0, "user_id": None}.
    let res = send(&app, call(Method::GET, "/", None)).await;
    assert!(res.cookies.is_empty());
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: None,
            counter: 0
        }
    );

    // Step 2: POST to do_something: state {"counter": 1}, session cookie #1.
    let res = send(&app, call(Method::POST, "/do_something", None)).await;
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: None,
            counter: 1
        }
    );
    let cookie_1 = cookie(&res, name).unwrap();
    assert_eq!(secs(cookie_1.max_age()), Some(session_ttl.as_secs() as i64));

    // Step 3: GET index with cookie #1: no Set-Cookie; {"counter": 1, "user_id": None}.
    let res = send(&app, call(Method::GET, "/", Some(&cookie_1))).await;
    assert!(res.cookies.is_empty());
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: None,
            counter: 1
        }
    );

    // Step 4: POST to do_something with cookie #1: session cookie #2; {"counter": 2}.
    let res = send(&app, call(Method::POST, "/do_something", Some(&cookie_1))).await;
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: None,
            counter: 2
        }
    );
    let cookie_2 = cookie(&res, name).unwrap();
    assert_eq!(cookie_2.max_age(), cookie_1.max_age());

    // Step 5: POST to login with cookie #2: session cookie #3, a new value;
    // {"counter": 2, "user_id": "ferris"}.
    let res = send(
        &app,
        request(Method::POST, "/login", Some(&cookie_2))
            .set_json(json!({"user_id": "ferris"}))
            .to_request(),
    )
    .await;
    let cookie_3 = cookie(&res, name).unwrap();
    assert_ne!(cookie_2.value(), cookie_3.value());
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: Some("ferris".into()),
            counter: 2
        }
    );

    // Step 6: GET index with cookie #3: {"counter": 2, "user_id": "ferris"}.
    let res = send(&app, call(Method::GET, "/", Some(&cookie_3))).await;
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: Some("ferris".into()),
            counter: 2
        }
    );

    // Step 7: POST to do_something with cookie #3: {"counter": 3, "user_id": "ferris"}.
    let res = send(&app, call(Method::POST, "/do_something", Some(&cookie_3))).await;
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: Some("ferris".into()),
            counter: 3
        }
    );

    // Step 8: GET index with cookie #2. With invalidation, no state is found for it; without
    // (the cookie store), the old state is still read.
    let res = send(&app, call(Method::GET, "/", Some(&cookie_2))).await;
    if is_invalidation_supported {
        assert!(res.cookies.is_empty());
        assert_eq!(
            index_response(&res),
            IndexResponse {
                user_id: None,
                counter: 0
            }
        );
    } else {
        assert_eq!(
            index_response(&res),
            IndexResponse {
                user_id: None,
                counter: 2
            }
        );
    }

    // Step 9: POST to logout with cookie #3: the removal cookie.
    let res = send(&app, call(Method::POST, "/logout", Some(&cookie_3))).await;
    let cookie_3 = cookie(&res, name).unwrap();
    assert_eq!(secs(cookie_3.max_age()), Some(0));
    assert_eq!(cookie_3.path(), Some("/"));

    // Step 10: GET index with (the removal's) cookie #3: no Set-Cookie with invalidation;
    // {"counter": 0, "user_id": None}.
    let res = send(&app, call(Method::GET, "/", Some(&cookie_3))).await;
    if is_invalidation_supported {
        assert!(res.cookies.is_empty());
    }
    assert_eq!(
        index_response(&res),
        IndexResponse {
            user_id: None,
            counter: 0
        }
    );
}

#[actix_web::test]
async fn ported_acceptance_basic_workflow_on_memory() {
    basic_workflow(MemoryStore::default()).await;
}

#[actix_web::test]
async fn ported_acceptance_basic_workflow_on_cookie() {
    for store in cookie_stores() {
        basic_workflow(store).await;
    }
}

#[actix_web::test]
async fn ported_acceptance_basic_workflow_on_redis() {
    basic_workflow(redis_store()).await;
}

#[actix_web::test]
async fn ported_acceptance_expiration_is_refreshed_on_changes_on_memory() {
    expiration_is_refreshed_on_changes(MemoryStore::default()).await;
}

#[actix_web::test]
async fn ported_acceptance_expiration_is_refreshed_on_changes_on_cookie() {
    for store in cookie_stores() {
        expiration_is_refreshed_on_changes(store).await;
    }
}

#[actix_web::test]
async fn ported_acceptance_expiration_is_refreshed_on_changes_on_redis() {
    expiration_is_refreshed_on_changes(redis_store()).await;
}

#[actix_web::test]
async fn ported_acceptance_expiration_is_always_refreshed_if_configured_to_refresh_on_every_request_on_memory(
) {
    expiration_is_always_refreshed_if_configured_to_refresh_on_every_request(MemoryStore::default())
        .await;
}

#[actix_web::test]
async fn ported_acceptance_expiration_is_always_refreshed_if_configured_to_refresh_on_every_request_on_cookie(
) {
    for store in cookie_stores() {
        expiration_is_always_refreshed_if_configured_to_refresh_on_every_request(store).await;
    }
}

#[actix_web::test]
async fn ported_acceptance_expiration_is_always_refreshed_if_configured_to_refresh_on_every_request_on_redis(
) {
    expiration_is_always_refreshed_if_configured_to_refresh_on_every_request(redis_store()).await;
}

#[actix_web::test]
async fn ported_acceptance_guard_on_memory() {
    guard(MemoryStore::default()).await;
}

#[actix_web::test]
async fn ported_acceptance_guard_on_cookie() {
    for store in cookie_stores() {
        guard(store).await;
    }
}

#[actix_web::test]
async fn ported_acceptance_guard_on_redis() {
    guard(redis_store()).await;
}

#[actix_web::test]
async fn ported_acceptance_complex_workflow_on_memory() {
    complex_workflow(MemoryStore::default(), true).await;
}

#[actix_web::test]
async fn ported_acceptance_complex_workflow_on_cookie() {
    for store in cookie_stores() {
        complex_workflow(store, false).await;
    }
}

#[actix_web::test]
async fn ported_acceptance_complex_workflow_on_redis() {
    complex_workflow(redis_store(), true).await;
}
