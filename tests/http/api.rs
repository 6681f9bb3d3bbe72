//! API clients: the rejection renderer, `HeaderState::bearer()`, the expiry header, and
//! `examples/api.rs` behind `actix-cors`.

use examples::api as api_example;

use actix_typed_session::state::HeaderState;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::testing::Instrumented;
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

/// A guard: no `Default`, so absent is a rejection.
#[derive(actix_typed_session::Session, Serialize, Deserialize)]
struct User {
    id: u64,
}

async fn me(user: User) -> HttpResponse {
    HttpResponse::Ok().body(user.id.to_string())
}

async fn login(session: Session) -> Result<HttpResponse, SessionError> {
    session.put(User { id: 7 })?;
    session.change_id();
    Ok(HttpResponse::Ok().finish())
}

async fn incr(session: Session) -> Result<HttpResponse, SessionError> {
    let n: u64 = session.get::<u64>("n")?.unwrap_or(0) + 1;
    session.set("n", n)?;
    Ok(HttpResponse::Ok().body(n.to_string()))
}

fn json_renderer(err: &SessionError) -> HttpResponse {
    match err {
        SessionError::Rejected { status, .. } if *status == StatusCode::UNAUTHORIZED => {
            HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer"))
                .json(serde_json::json!({ "error": "unauthorized" }))
        }
        SessionError::Store(_) => {
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "error": "unavailable" }))
        }
        other => other.error_response(),
    }
}

fn body_text(body: impl MessageBody) -> String {
    String::from_utf8(body.try_into_bytes().ok().unwrap().to_vec()).unwrap()
}

#[actix_web::test]
async fn guard_rejection_and_store_failure_use_the_renderer() {
    let store = Instrumented::new(MemoryStore::default());
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(store.clone())
                    .state(HeaderState::default())
                    .error_response(json_renderer)
                    .build(),
            )
            .route("/me", web::get().to(me))
            .route("/incr", web::get().to(incr)),
    )
    .await;

    let res = test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(body_text(res.into_body()), r#"{"error":"unauthorized"}"#);

    let res = test::call_service(&app, test::TestRequest::get().uri("/incr").to_request()).await;
    let id = res
        .headers()
        .get("x-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    store.fail(true);
    let req = test::TestRequest::get()
        .uri("/incr")
        .insert_header(("x-session-id", id))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(body_text(res.into_body()), r#"{"error":"unavailable"}"#);
}

#[actix_web::test]
async fn default_rejection_is_unchanged() {
    let store = Instrumented::new(MemoryStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/me", web::get().to(me))
            .route("/incr", web::get().to(incr)),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/me").to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/plain; charset=utf-8"
    );
    assert!(res.headers().get("www-authenticate").is_none());
    assert_eq!(body_text(res.into_body()), "Unauthorized");

    store.fail(true);
    let req = test::TestRequest::get()
        .uri("/incr")
        .insert_header(("cookie", "id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_text(res.into_body()), "session store unavailable");
}

#[actix_web::test]
async fn bearer_login_then_the_id_in_authorization() {
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(MemoryStore::default())
                    .state(HeaderState::bearer())
                    .build(),
            )
            .route("/login", web::post().to(login))
            .route("/me", web::get().to(me))
            .route("/incr", web::get().to(incr)),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = res
        .headers()
        .get("x-session-id")
        .expect("the new id in X-Session-Id")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!id.is_empty());
    assert!(res
        .headers()
        .get("vary")
        .is_some_and(|v| v.to_str().unwrap().eq_ignore_ascii_case("authorization")));

    for auth in [format!("Bearer {id}"), format!("bearer   {id}")] {
        let req = test::TestRequest::get()
            .uri("/me")
            .insert_header(("authorization", auth))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_text(res.into_body()), "7");
    }
    // The id in X-Session-Id is not read in bearer mode.
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(("x-session-id", id.clone()))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Junk, another scheme, or nothing: a fresh session, never a 500.
    for auth in [
        Some("Basic dXNlcjpwdw==".to_owned()),
        Some("Bearer".to_owned()),
        Some(format!("Bearer {id} extra")),
        Some("Bearer not-a-session-id".to_owned()),
        Some(format!("Token {id}")),
        None,
    ] {
        let mut req = test::TestRequest::get().uri("/incr");
        if let Some(auth) = &auth {
            req = req.insert_header(("authorization", auth.as_str()));
        }
        let res = test::call_service(&app, req.to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{auth:?}");
        let fresh = res.headers().get("x-session-id").unwrap().to_str().unwrap();
        assert!(!fresh.is_empty() && fresh != id, "{auth:?}");
        assert_eq!(body_text(res.into_body()), "1", "{auth:?}");
    }
}

#[actix_web::test]
async fn bearer_with_another_response_header_and_logout_sends_it_empty() {
    async fn logout(session: Session) -> HttpResponse {
        session.expire();
        HttpResponse::NoContent().finish()
    }
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(MemoryStore::default())
                    .state(HeaderState::bearer_with("x-api-session"))
                    .build(),
            )
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/me", web::get().to(me)),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
    assert!(res.headers().get("x-session-id").is_none());
    let id = res
        .headers()
        .get("x-api-session")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let bearer = || ("authorization", format!("Bearer {id}"));
    let req = test::TestRequest::post()
        .uri("/logout")
        .insert_header(bearer())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers().get("x-api-session").unwrap(), "");
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(bearer())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn expiry_header_on_save_touch_and_rotate_only() {
    use actix_typed_session::clock::{Clock, ManualClock};
    use std::time::Duration;

    async fn read(session: Session) -> Result<HttpResponse, SessionError> {
        let n: u64 = session.get::<u64>("n")?.unwrap_or(0);
        Ok(HttpResponse::Ok().body(n.to_string()))
    }
    let clock = ManualClock::new();
    let start = clock.now();
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(MemoryStore::default())
                    .state(HeaderState::bearer())
                    .clock(clock.clone())
                    .idle_timeout(Duration::from_secs(1000))
                    .absolute_timeout(Duration::from_secs(5000))
                    .refresh_step(Duration::from_secs(100))
                    .expiry_header("x-session-expires")
                    .build(),
            )
            .route("/login", web::post().to(login))
            .route("/incr", web::get().to(incr))
            .route("/read", web::get().to(read)),
    )
    .await;
    let expires = |headers: &actix_web::http::header::HeaderMap| {
        headers
            .get("x-session-expires")
            .map(|v| v.to_str().unwrap().parse::<u64>().unwrap())
    };

    // Saved: a new session.
    let res = test::call_service(&app, test::TestRequest::get().uri("/incr").to_request()).await;
    assert_eq!(expires(res.headers()), Some(start + 1000));
    let id = res
        .headers()
        .get("x-session-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let get = |path: &str, id: &str| {
        test::TestRequest::get()
            .uri(path)
            .insert_header(("authorization", format!("Bearer {id}")))
            .to_request()
    };

    // Read, expiry not moved by more than the refresh step: nothing written, no header.
    clock.advance(Duration::from_secs(10));
    let res = test::call_service(&app, get("/read", &id)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(expires(res.headers()), None);

    // Touched.
    clock.advance(Duration::from_secs(200));
    let res = test::call_service(&app, get("/read", &id)).await;
    assert_eq!(expires(res.headers()), Some(start + 1210));

    // Rotated (a new id).
    clock.advance(Duration::from_secs(500));
    let req = test::TestRequest::post()
        .uri("/login")
        .insert_header(("authorization", format!("Bearer {id}")))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let new_id = res.headers().get("x-session-id").unwrap().to_str().unwrap();
    assert_ne!(new_id, id);
    assert_eq!(expires(res.headers()), Some(start + 1710));

    // Near the absolute timeout, the expiry is capped by it.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(900));
        let res = test::call_service(&app, get("/read", new_id)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = test::call_service(&app, get("/read", new_id)).await;
    assert_eq!(expires(res.headers()), None, "not moved: no header");
    clock.advance(Duration::from_secs(690));
    let res = test::call_service(&app, get("/read", new_id)).await;
    assert_eq!(expires(res.headers()), Some(start + 5000));
}

#[actix_web::test]
async fn expiry_header_is_off_by_default_and_checked() {
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .route("/incr", web::get().to(incr)),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/incr").to_request()).await;
    assert!(res
        .headers()
        .iter()
        .all(|(name, _)| !name.as_str().contains("expire")));
    let err = SessionMiddleware::builder(MemoryStore::default())
        .expiry_header("bad header")
        .try_build()
        .err()
        .expect("an invalid name is a ConfigError");
    assert!(err.to_string().contains("not a valid header name"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// examples/api.rs behind actix-cors

const ORIGIN: &str = "http://localhost:3000";

fn header<B>(res: &actix_web::dev::ServiceResponse<B>, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[actix_web::test]
async fn the_api_example_behind_cors() {
    let store = Instrumented::new(MemoryStore::default());
    let app = test::init_service(
        App::new()
            .wrap(api_example::sessions(store.clone()))
            .wrap(api_example::cors(ORIGIN))
            .configure(api_example::routes),
    )
    .await;

    // Preflight of the login request: the browser may send Content-Type and Authorization.
    let req = test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/login")
        .insert_header(("origin", ORIGIN))
        .insert_header(("access-control-request-method", "POST"))
        .insert_header((
            "access-control-request-headers",
            "authorization, content-type",
        ))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert!(res.status().is_success(), "{}", res.status());
    let allowed = header(&res, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );

    // Not signed in: 401 as JSON, WWW-Authenticate, and CORS headers on the rejection too.
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(("origin", ORIGIN))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "www-authenticate").as_deref(), Some("Bearer"));
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let body = test::read_body(res).await;
    assert_eq!(&body[..], br#"{"error":"unauthorized"}"#);

    // Login: a new id in X-Session-Id, the expiry, and both exposed to the page's scripts.
    let req = test::TestRequest::post()
        .uri("/login")
        .insert_header(("origin", ORIGIN))
        .set_json(serde_json::json!({ "name": "ada" }))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = header(&res, api_example::ID_HEADER).expect("the id header");
    assert!(!id.is_empty());
    let expires: u64 = header(&res, api_example::EXPIRY_HEADER)
        .expect("the expiry header")
        .parse()
        .unwrap();
    assert!(expires > 0);
    let exposed = header(&res, "access-control-expose-headers")
        .expect("Access-Control-Expose-Headers")
        .to_ascii_lowercase();
    assert!(
        exposed.contains(api_example::ID_HEADER) && exposed.contains(api_example::EXPIRY_HEADER),
        "{exposed}"
    );
    let bearer = ("authorization", format!("Bearer {id}"));

    // The guarded JSON route.
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(("origin", ORIGIN))
        .insert_header(bearer.clone())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body, serde_json::json!({ "user": "ada", "streamed": 0 }));

    // The stream: saved when it ends (late_store), so /me then sees what it counted.
    let req = test::TestRequest::get()
        .uri("/events")
        .insert_header(("origin", ORIGIN))
        .insert_header(bearer.clone())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "content-type").as_deref(),
        Some("text/event-stream")
    );
    let body = test::read_body(res).await;
    assert_eq!(
        &body[..],
        &b"data: hello ada\n\ndata: tick 1\n\ndata: tick 2\n\ndata: tick 3\n\n"[..]
    );
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(bearer.clone())
        .to_request();
    let body: serde_json::Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(body["streamed"], 3);

    // Logout: the id header comes back empty; the id no longer signs in.
    let req = test::TestRequest::post()
        .uri("/logout")
        .insert_header(("origin", ORIGIN))
        .insert_header(bearer.clone())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&res, api_example::ID_HEADER).as_deref(), Some(""));
    assert!(header(&res, api_example::EXPIRY_HEADER).is_none());
    let req = test::TestRequest::get()
        .uri("/me")
        .insert_header(bearer)
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A store that is down: 503 as JSON.
    store.fail(true);
    let req = test::TestRequest::post()
        .uri("/login")
        .set_json(serde_json::json!({ "name": "ada" }))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = test::read_body(res).await;
    assert_eq!(&body[..], br#"{"error":"unavailable"}"#);
}

#[actix_web::test]
async fn a_redirecting_guard_reaches_the_renderer_too() {
    #[derive(actix_typed_session::Session, Serialize, Deserialize)]
    #[session(redirect = "/login")]
    struct Member {
        id: u64,
    }
    async fn page(member: Member) -> HttpResponse {
        HttpResponse::Ok().body(member.id.to_string())
    }
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(MemoryStore::default())
                    .error_response(|err| match err {
                        SessionError::Rejected {
                            key,
                            status,
                            location: Some(location),
                        } => HttpResponse::Ok().json(serde_json::json!({
                            "key": key,
                            "status": status.as_u16(),
                            "location": location,
                        })),
                        other => other.error_response(),
                    })
                    .build(),
            )
            .route("/page", web::get().to(page)),
    )
    .await;
    let req = test::TestRequest::get().uri("/page").to_request();
    let body: serde_json::Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(
        body,
        serde_json::json!({ "key": "member", "status": 303, "location": "/login?next=/page" })
    );
}
