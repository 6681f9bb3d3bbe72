//! `SessionExt` (the session from a middleware, a `wrap_fn` closure or an `HttpRequest`) and
//! `Session::update` / `update_or`, over HTTP with real cookies.

use actix_typed_session::store::MemoryStore;
use actix_typed_session::{Session, SessionError, SessionExt, SessionId, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::dev::{Service as _, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{test, web, App, Error, HttpRequest, HttpResponse};

use support::*;

/// The value stored under `key` for the session `id`, as JSON text.
fn stored(store: &MemoryStore, id: &str, key: &str) -> Option<String> {
    let id = SessionId::parse(id).expect("a session id");
    let record = store.peek(&id)?;
    record
        .data
        .get(key)
        .map(|bytes| String::from_utf8(bytes.to_vec()).unwrap())
}

/// Counts visits before the handler and records the status after it, with no handler asking
/// for the session.
async fn count_visits(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let session: Session = req.session().await?;
    session.update_or("visits", 1u64, |n| n + 1)?;
    // The handle is held across the call: it keeps no clone of the request.
    let res = next.call(req).await?;
    res.session().await?.set("status", res.status().as_u16())?;
    drop(session);
    Ok(res)
}

async fn plain() -> &'static str {
    "plain"
}

/// Answers the visits the middleware counted, through the extractor.
async fn visits(session: Session) -> Result<String, SessionError> {
    let n: Option<u64> = session.get("visits")?;
    Ok(n.map_or("none".into(), |n| n.to_string()))
}

#[actix_web::test]
async fn middleware_uses_the_session_before_and_after_a_handler_that_does_not() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap(from_fn(count_visits))
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/plain", web::get().to(plain))
            .route("/visits", web::get().to(visits)),
    )
    .await;
    let res = send(&app, get("/plain", None)).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "plain"));
    let id = res
        .id()
        .expect("the middleware's change is saved: a cookie");
    assert_eq!(stored(&store, &id, "visits").as_deref(), Some("1"));
    assert_eq!(stored(&store, &id, "status").as_deref(), Some("200"));

    // The next request reads it back (the cookie carries the id), in the middleware and in a
    // handler, which sees the middleware's change before it.
    let res = send(&app, get("/visits", Some(&id))).await;
    assert_eq!(res.body, "2");
    let res = send(&app, get("/plain", Some(&id))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(stored(&store, &id, "visits").as_deref(), Some("3"));
    let res = send(&app, get("/nowhere", Some(&id))).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(stored(&store, &id, "status").as_deref(), Some("404"));
}

/// Sets `seen` before the handler; after it, answers what the handler left under `by`.
async fn share(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    req.session().await?.set("seen", true)?;
    let res = next.call(req).await?;
    let by: Option<String> = res.session().await?.get("by")?;
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(
        req,
        HttpResponse::Ok().body(by.unwrap_or_default()),
    ))
}

async fn handler_sets(session: Session) -> Result<&'static str, SessionError> {
    assert_eq!(session.get::<bool>("seen")?, Some(true));
    session.set("by", "handler")?;
    Ok("ignored")
}

#[actix_web::test]
async fn middleware_and_handler_share_one_handle_and_one_load() {
    let store = Instrumented::new(MemoryStore::default());
    let app = test::init_service(
        App::new()
            .wrap(from_fn(share))
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/", web::get().to(handler_sets)),
    )
    .await;
    let id = send(&app, get("/", None)).await.id().unwrap();
    let loads = store.calls.load();
    let res = send(&app, get("/", Some(&id))).await;
    assert_eq!(
        res.body, "handler",
        "the middleware sees the handler's change"
    );
    assert_eq!(store.calls.load(), loads + 1, "one load for the request");
}

#[actix_web::test]
async fn wrap_fn_gets_the_session_before_calling_the_service_and_changes_it() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap_fn(|req, srv| {
                // Started before the service is called, awaited after: a future that kept a
                // clone of the request would make actix-web's router panic in `srv.call`.
                let session = req.session();
                let res = srv.call(req);
                async move {
                    session.await?.update_or("visits", 1u64, |n| n + 1)?;
                    res.await
                }
            })
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/visits", web::get().to(visits)),
    )
    .await;
    let res = send(&app, get("/visits", None)).await;
    assert_eq!(res.body, "1", "the handler runs after the wrap_fn's change");
    let id = res.id().unwrap();
    assert_eq!(stored(&store, &id, "visits").as_deref(), Some("1"));
    let res = send(&app, get("/visits", Some(&id))).await;
    assert_eq!(res.body, "2");
    assert_eq!(stored(&store, &id, "visits").as_deref(), Some("2"));
}

#[actix_web::test]
async fn wrap_fn_after_the_service_and_the_extractor_before_it() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap_fn(|mut req, srv| {
                // The extractor's future holds no clone of the request either.
                let extracted = req.extract::<Session>();
                let res = srv.call(req);
                async move {
                    extracted.await?.set("before", 1)?;
                    let res = res.await?;
                    res.session().await?.set("after", 2)?;
                    Ok(res)
                }
            })
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/plain", web::get().to(plain)),
    )
    .await;
    let id = send(&app, get("/plain", None)).await.id().unwrap();
    assert_eq!(stored(&store, &id, "before").as_deref(), Some("1"));
    assert_eq!(stored(&store, &id, "after").as_deref(), Some("2"));
}

/// The panic a user reported ("in `wrap_fn`, cloning `req.request()` before calling the service
/// panicked inside actix-web's router") is actix-web's: its router needs the request's `Rc`
/// unshared (`Rc::get_mut(..).unwrap()`), and here there is no session middleware at all. If
/// this test fails, actix-web no longer panics there.
#[actix_web::test]
#[should_panic(expected = "called `Option::unwrap()` on a `None` value")]
async fn request_clone_held_across_the_call_panics_in_actix_web_without_sessions() {
    let app = test::init_service(
        App::new()
            .wrap_fn(|req, srv| {
                let held = req.request().clone();
                let res = srv.call(req);
                async move {
                    drop(held);
                    res.await
                }
            })
            .route("/plain", web::get().to(plain)),
    )
    .await;
    send(&app, get("/plain", None)).await;
}

/// The same clone, dropped before the call: the working pattern.
#[actix_web::test]
async fn request_clone_dropped_before_the_call_is_fine() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap_fn(|req, srv| {
                let http: HttpRequest = req.request().clone();
                let session = http.session();
                drop(http);
                let res = srv.call(req);
                async move {
                    session.await?.set("k", "v")?;
                    res.await
                }
            })
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/plain", web::get().to(plain)),
    )
    .await;
    let id = send(&app, get("/plain", None)).await.id().unwrap();
    assert_eq!(stored(&store, &id, "k").as_deref(), Some("\"v\""));
}

/// What `err` answers, read in full.
async fn answer(err: Error) -> (StatusCode, String) {
    let res = err.error_response();
    let status = res.status();
    let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn assert_not_installed(err: &Error) {
    assert!(
        matches!(
            err.as_error::<SessionError>(),
            Some(SessionError::NotInstalled)
        ),
        "{err:?}"
    );
}

const FIX: &str = "this route has no SessionMiddleware: wrap the App or scope with it";
const ORDER: &str = "`.wrap(your_middleware).wrap(session_middleware)`";

fn assert_clear(status: StatusCode, body: &str) {
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    if cfg!(debug_assertions) {
        assert!(body.starts_with(FIX) && body.contains(ORDER), "{body}");
    } else {
        assert_eq!(body, "session error");
    }
}

#[actix_web::test]
async fn outside_the_session_middleware_is_not_installed() {
    let (captured, _guard) = capture_logs();
    // actix order: the last wrap is the outermost, so `count_visits` is outside here.
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .wrap(from_fn(count_visits))
            .route("/plain", web::get().to(plain)),
    )
    .await;
    let Err(err) = test::try_call_service(&app, get("/plain", None)).await else {
        panic!("the middleware's error");
    };
    assert_not_installed(&err);
    let (status, body) = answer(err).await;
    assert_clear(status, &body);
    let log = captured.text();
    assert!(log.contains("ERROR") && log.contains(ORDER), "{log}");

    // wrap_fn outside, after the call: the scope is closed too.
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .wrap_fn(|req, srv| {
                let res = srv.call(req);
                async move {
                    let res = res.await?;
                    res.session().await?;
                    Ok(res)
                }
            })
            .route("/plain", web::get().to(plain)),
    )
    .await;
    let Err(err) = test::try_call_service(&app, get("/plain", None)).await else {
        panic!("the wrap_fn's error");
    };
    assert_not_installed(&err);
}

async fn from_http_request(req: HttpRequest) -> Result<String, SessionError> {
    let session = req.session().await?;
    Ok(session.update_or("n", 1u64, |n| n + 1)?.to_string())
}

#[actix_web::test]
async fn an_http_request_in_a_handler_works_and_fails_like_the_extractor() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/", web::get().to(from_http_request)),
    )
    .await;
    let res = send(&app, get("/", None)).await;
    assert_eq!(res.body, "1");
    let id = res.id().unwrap();
    assert_eq!(send(&app, get("/", Some(&id))).await.body, "2");
    assert_eq!(stored(&store, &id, "n").as_deref(), Some("2"));

    let bare = test::init_service(App::new().route("/", web::get().to(from_http_request))).await;
    let res = send(&bare, get("/", None)).await;
    assert_clear(res.status, &res.body);
}

// update / update_or

async fn update(session: Session) -> Result<String, SessionError> {
    Ok(match session.update("visits", |n: u64| n + 1)? {
        Some(n) => n.to_string(),
        None => "none".into(),
    })
}

async fn update_or(session: Session) -> Result<String, SessionError> {
    Ok(session.update_or("visits", 10u64, |n| n * 2)?.to_string())
}

async fn set_text(session: Session) -> Result<&'static str, SessionError> {
    session.set("visits", "many")?;
    Ok("set")
}

/// Both updates on a value that is not a `u64`: each an error, the value left as it was.
async fn update_wrong_type(session: Session) -> Result<String, SessionError> {
    let update = session.update("visits", |n: u64| n + 1);
    let update_or = session.update_or("visits", 1u64, |n| n + 1);
    let still: Option<String> = session.get("visits")?;
    Ok(format!(
        "{} {} {}",
        matches!(update, Err(SessionError::Decode { ref key, .. }) if key == "visits"),
        matches!(update_or, Err(SessionError::Decode { ref key, .. }) if key == "visits"),
        still.unwrap_or_default()
    ))
}

#[actix_web::test]
async fn update_changes_a_present_value_and_update_or_inserts_the_default() {
    let store = Instrumented::new(MemoryStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/update", web::get().to(update))
            .route("/update_or", web::get().to(update_or))
            .route("/set_text", web::get().to(set_text))
            .route("/wrong", web::get().to(update_wrong_type)),
    )
    .await;
    // Absent: `update` changes nothing, so a new visitor gets no session.
    let res = send(&app, get("/update", None)).await;
    assert_eq!(res.body, "none");
    assert_eq!(res.id(), None, "nothing changed, nothing saved");
    assert_eq!(store.calls.save(), 0);

    let res = send(&app, get("/update_or", None)).await;
    assert_eq!(
        res.body, "10",
        "absent: the default as it is (as actix-session and HashMap's entry API)"
    );
    let id = res.id().unwrap();
    assert_eq!(stored(&store.inner, &id, "visits").as_deref(), Some("10"));
    assert_eq!(send(&app, get("/update_or", Some(&id))).await.body, "20");
    assert_eq!(send(&app, get("/update", Some(&id))).await.body, "21");
    assert_eq!(stored(&store.inner, &id, "visits").as_deref(), Some("21"));

    send(&app, get("/set_text", Some(&id))).await;
    let res = send(&app, get("/wrong", Some(&id))).await;
    assert_eq!(res.body, "true true many");
    assert_eq!(
        stored(&store.inner, &id, "visits").as_deref(),
        Some("\"many\"")
    );
    // Returned from a handler, the error is a 500 and nothing is saved.
    let res = send(&app, get("/update", Some(&id))).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        stored(&store.inner, &id, "visits").as_deref(),
        Some("\"many\"")
    );
}

#[actix_web::test]
async fn update_from_a_middleware_is_saved() {
    // `count_visits` uses `update_or`; the store holds each new value after its request.
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap(from_fn(count_visits))
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/plain", web::get().to(plain)),
    )
    .await;
    let id = send(&app, get("/plain", None)).await.id().unwrap();
    for n in 2..=4 {
        send(&app, get("/plain", Some(&id))).await;
        assert_eq!(
            stored(&store, &id, "visits").as_deref(),
            Some(n.to_string().as_str())
        );
    }
}

/// A typed session with a guard that redirects with a flash message.
#[derive(actix_typed_session::Session, serde::Serialize, serde::Deserialize)]
#[session(key = "member", redirect = "/login", flash = "Please sign in")]
struct Member {
    name: String,
}

/// A typed session with a default.
#[derive(actix_typed_session::Session, serde::Serialize, serde::Deserialize, Default)]
#[session(key = "cart")]
struct Cart {
    items: u32,
}

/// Every extractor of the crate, started in a `wrap_fn` before the inner service is called and
/// awaited after: none keeps a clone of the request (actix-web's router would panic in
/// `srv.call`), and each works.
#[actix_web::test]
async fn every_extractor_can_start_before_the_service_is_called() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap_fn(|mut req, srv| {
                let cart = req.extract::<Cart>();
                let member = req.extract::<Member>();
                let flash = req.extract::<actix_typed_session::Flash>();
                let token = req.extract::<actix_typed_session::CsrfToken>();
                let sessions = req.extract::<actix_typed_session::Sessions>();
                let res = srv.call(req);
                async move {
                    let mut cart = cart.await?;
                    cart.items += 1;
                    drop(cart);
                    let signed_in = member.await.is_ok();
                    flash.await?.info("seen by the middleware");
                    token.await?;
                    let listed = sessions.await?.of_user("nobody").await?.len();
                    let mut res = res.await?;
                    res.headers_mut().insert(
                        actix_web::http::header::HeaderName::from_static("x-probe"),
                        actix_web::http::header::HeaderValue::from_str(&format!(
                            "{signed_in} {listed}"
                        ))
                        .unwrap(),
                    );
                    Ok(res)
                }
            })
            .wrap(SessionMiddleware::new(store.clone()))
            .route(
                "/cart",
                web::get().to(|cart: Cart| async move { cart.items.to_string() }),
            ),
    )
    .await;
    let res = send(&app, get("/cart", None)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("x-probe"), Some("false 0"));
    let id = res.id().unwrap();
    let res = send(&app, get("/cart", Some(&id))).await;
    assert_eq!(res.status, StatusCode::OK);
    // The middleware's change of the first request was saved (its handler saw the value as
    // the request began; the write-back of the typed value comes at the commit).
    assert!(stored(&store, &id, "cart").is_some());
}
