//! CSRF protection over HTTP: the token a form shows, the check on unsafe methods (header and,
//! with `#[session(csrf)]`, the form field), masking, and rotation with `change_id`.

use actix_typed_session::cookie::Cookie;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{check_csrf, session, CsrfToken, Session, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{get, post, test, web, App, Error, HttpRequest, HttpResponse};

#[get("/form")]
async fn form(csrf: CsrfToken) -> HttpResponse {
    HttpResponse::Ok().body(csrf.to_string())
}

/// The check by hand, header only.
#[post("/manual")]
async fn manual(session: Session, req: HttpRequest) -> HttpResponse {
    if check_csrf(&session, &req) {
        HttpResponse::Ok().body("ok")
    } else {
        HttpResponse::Forbidden().body("bad token")
    }
}

#[derive(serde::Deserialize)]
struct Comment {
    text: String,
}

/// The attribute, with a form the handler reads after the check.
#[post("/comment")]
#[session(csrf)]
async fn comment(body: web::Form<Comment>) -> HttpResponse {
    HttpResponse::Ok().body(format!("got {}", body.into_inner().text))
}

/// The attribute on a resource that also answers GET.
#[session(csrf)]
async fn either() -> &'static str {
    "ran"
}

/// The attribute with `change_id`.
#[post("/login")]
#[session(csrf, change_id)]
async fn login() -> &'static str {
    "in"
}

/// A login that rotates the id, by hand.
#[post("/login-manual")]
async fn login_manual(session: Session) -> HttpResponse {
    session.change_id();
    HttpResponse::Ok().body("in")
}

async fn app(
    store: MemoryStore,
) -> impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = Error>
{
    test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store))
            .service(form)
            .service(manual)
            .service(login_manual)
            .service(comment)
            .service(login)
            .service(web::resource("/either").to(either))
            .service(
                web::resource("/check").to(|s: Session, r: HttpRequest| async move {
                    if check_csrf(&s, &r) {
                        HttpResponse::Ok().body("ok")
                    } else {
                        HttpResponse::Forbidden().body("bad token")
                    }
                }),
            )
            .route(
                "/safe",
                web::get().to(|s: Session, r: HttpRequest| async move {
                    if check_csrf(&s, &r) {
                        "ok"
                    } else {
                        "no"
                    }
                }),
            ),
    )
    .await
}

/// Sends `req` with `cookie`; returns status, the new session cookie if any, and the body.
async fn send(
    app: &impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = Error>,
    req: test::TestRequest,
    cookie: Option<&Cookie<'static>>,
) -> (StatusCode, Option<Cookie<'static>>, String) {
    let req = match cookie {
        Some(cookie) => req.insert_header(("cookie", format!("id={}", cookie.value()))),
        None => req,
    };
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .filter_map(|v| Cookie::parse(v.to_str().ok()?.to_owned()).ok())
        .find(|c| c.name() == "id");
    let body = test::read_body(res).await;
    (status, cookie, String::from_utf8_lossy(&body).into_owned())
}

/// A session with a token: its cookie and one masked token.
async fn with_token(
    app: &impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = Error>,
) -> (Cookie<'static>, String) {
    let (status, cookie, token) = send(app, test::TestRequest::get().uri("/form"), None).await;
    assert_eq!(status, StatusCode::OK);
    (cookie.expect("the token is stored in a new session"), token)
}

#[actix_web::test]
async fn header_token_passes_and_missing_or_forged_fails() {
    let app = app(MemoryStore::default()).await;
    let (cookie, token) = with_token(&app).await;
    assert_eq!(token.len(), 86);
    let post = || test::TestRequest::post().uri("/manual");
    let ok = send(
        &app,
        post().insert_header(("X-CSRF-Token", token.clone())),
        Some(&cookie),
    )
    .await;
    assert_eq!((ok.0, ok.2.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(
        send(&app, post(), Some(&cookie)).await.0,
        StatusCode::FORBIDDEN
    );
    // A token of another session.
    let (_, other) = with_token(&app).await;
    let forged = send(
        &app,
        post().insert_header(("X-CSRF-Token", other)),
        Some(&cookie),
    )
    .await;
    assert_eq!(forged.0, StatusCode::FORBIDDEN);
    // Without a session at all.
    let none = send(&app, post().insert_header(("X-CSRF-Token", token)), None).await;
    assert_eq!(none.0, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn bad_input_is_403() {
    let app = app(MemoryStore::default()).await;
    let (cookie, token) = with_token(&app).await;
    let big = "A".repeat(10_000);
    let bad: Vec<Vec<u8>> = vec![
        token.as_bytes()[..40].to_vec(),
        format!("{token}A").into_bytes(),
        b"\xff\xfe\x80not utf-8".to_vec(),
        big.into_bytes(),
        Vec::new(),
        "A".repeat(86).into_bytes(),
    ];
    for value in bad {
        let header = actix_web::http::header::HeaderValue::from_bytes(&value).unwrap();
        let req = test::TestRequest::post()
            .uri("/manual")
            .insert_header(("X-CSRF-Token", header));
        assert_eq!(
            send(&app, req, Some(&cookie)).await.0,
            StatusCode::FORBIDDEN
        );
    }
}

#[actix_web::test]
async fn masks_differ_per_response_and_all_verify() {
    let app = app(MemoryStore::default()).await;
    let (cookie, first) = with_token(&app).await;
    let (_, again, second) = send(&app, test::TestRequest::get().uri("/form"), Some(&cookie)).await;
    assert!(
        again.is_none(),
        "the token is created once, not on every form"
    );
    assert_ne!(first, second);
    for token in [first, second] {
        let req = test::TestRequest::post()
            .uri("/manual")
            .insert_header(("X-CSRF-Token", token));
        assert_eq!(send(&app, req, Some(&cookie)).await.0, StatusCode::OK);
    }
}

#[actix_web::test]
async fn safe_methods_pass_without_a_token() {
    let app = app(MemoryStore::default()).await;
    let (status, _, body) = send(&app, test::TestRequest::get().uri("/safe"), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[actix_web::test]
async fn change_id_invalidates_the_old_token() {
    let app = app(MemoryStore::default()).await;
    let (cookie, before) = with_token(&app).await;
    let (status, renewed, _) = send(
        &app,
        test::TestRequest::post().uri("/login-manual"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let renewed = renewed.expect("login sends a new id");
    assert_ne!(renewed.value(), cookie.value());
    let req = test::TestRequest::post()
        .uri("/manual")
        .insert_header(("X-CSRF-Token", before.clone()));
    assert_eq!(
        send(&app, req, Some(&renewed)).await.0,
        StatusCode::FORBIDDEN
    );
    // A fresh token of the new session works.
    let (_, _, after) = send(&app, test::TestRequest::get().uri("/form"), Some(&renewed)).await;
    let req = test::TestRequest::post()
        .uri("/manual")
        .insert_header(("X-CSRF-Token", after));
    assert_eq!(send(&app, req, Some(&renewed)).await.0, StatusCode::OK);
}

fn form_post(uri: &str, body: String) -> test::TestRequest {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body)
}

#[actix_web::test]
async fn attribute_form_field_passes_and_the_handler_still_reads_the_form() {
    let app = app(MemoryStore::default()).await;
    let (cookie, token) = with_token(&app).await;
    let body = format!("text=hello+there&csrf_token={token}");
    let (status, _, body) = send(&app, form_post("/comment", body), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "got hello there"));
    // Field first, percent-encoded: still fine.
    let body = format!("csrf_token={}&text=x", token.replace('-', "%2D"));
    let (status, _, body) = send(&app, form_post("/comment", body), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "got x"));
}

#[actix_web::test]
async fn attribute_rejects_missing_forged_and_bad_tokens_with_403() {
    let app = app(MemoryStore::default()).await;
    let (cookie, token) = with_token(&app).await;
    let (_, other) = with_token(&app).await;
    let bodies = [
        "text=hi".to_owned(),
        format!("text=hi&csrf_token={other}"),
        format!("text=hi&csrf_token={}", &token[..50]),
        format!("text=hi&csrf_token=%FF%FE{token}"),
        format!("text=hi&csrf_token={}", "A".repeat(10_000)),
        "csrf_token=".to_owned(),
    ];
    for body in bodies {
        let (status, _, text) = send(&app, form_post("/comment", body), Some(&cookie)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(text, "CSRF token missing or invalid");
    }
    // Not a form and no header.
    let json = test::TestRequest::post()
        .uri("/comment")
        .insert_header(("content-type", "application/json"))
        .set_payload(format!(r#"{{"csrf_token":"{token}"}}"#));
    assert_eq!(
        send(&app, json, Some(&cookie)).await.0,
        StatusCode::FORBIDDEN
    );
    // A valid token without the session it belongs to.
    let body = format!("text=hi&csrf_token={token}");
    assert_eq!(
        send(&app, form_post("/comment", body), None).await.0,
        StatusCode::FORBIDDEN
    );
}

#[actix_web::test]
async fn attribute_header_path_and_safe_methods() {
    let app = app(MemoryStore::default()).await;
    let (cookie, token) = with_token(&app).await;
    for method in ["PUT", "PATCH", "DELETE", "POST"] {
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
        let req = || {
            test::TestRequest::default()
                .method(method.clone())
                .uri("/either")
        };
        let ok = send(
            &app,
            req().insert_header(("X-CSRF-Token", token.clone())),
            Some(&cookie),
        )
        .await;
        assert_eq!((ok.0, ok.2.as_str()), (StatusCode::OK, "ran"), "{method}");
        let bad = send(&app, req(), Some(&cookie)).await;
        assert_eq!(bad.0, StatusCode::FORBIDDEN, "{method}");
        let forged = send(
            &app,
            req().insert_header(("X-CSRF-Token", "x")),
            Some(&cookie),
        )
        .await;
        assert_eq!(forged.0, StatusCode::FORBIDDEN, "{method}");
    }
    let (status, _, body) = send(&app, test::TestRequest::get().uri("/either"), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ran"));
}

/// Only GET, HEAD, OPTIONS and TRACE are exempt: every other method, WebDAV's and the
/// extension methods included, and `post` in lower case (not `POST`: method names are
/// case-sensitive), needs the token, both under `#[session(csrf)]` and with `check_csrf`, on
/// routes that take every method.
#[actix_web::test]
async fn every_method_but_get_head_options_and_trace_needs_the_token() {
    use actix_web::http::Method;
    let app = app(MemoryStore::default()).await;
    let (cookie, token) = with_token(&app).await;
    let checked = [
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "PROPFIND",
        "PROPPATCH",
        "PURGE",
        "LOCK",
        "UNLOCK",
        "MKCOL",
        "COPY",
        "MOVE",
        "CONNECT",
        "post",
        "Post",
        "put",
        "delete",
        "get",
        "FOO",
    ];
    for (uri, ran) in [("/either", "ran"), ("/check", "ok")] {
        for name in checked {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            let req = || test::TestRequest::default().method(method.clone()).uri(uri);
            let (status, _, _) = send(&app, req(), Some(&cookie)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{name} {uri} without a token"
            );
            let forged = req().insert_header(("X-CSRF-Token", "forged"));
            let (status, _, _) = send(&app, forged, Some(&cookie)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{name} {uri} with a forged token"
            );
            let with_token = req().insert_header(("X-CSRF-Token", token.clone()));
            let (status, _, body) = send(&app, with_token, Some(&cookie)).await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::OK, ran),
                "{name} {uri}"
            );
        }
        for safe in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            let req = test::TestRequest::default().method(safe.clone()).uri(uri);
            let (status, _, _) = send(&app, req, Some(&cookie)).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{safe} {uri} passes without a token"
            );
            let req = test::TestRequest::default().method(safe.clone()).uri(uri);
            let (status, _, _) = send(&app, req, None).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{safe} {uri} passes without a session"
            );
        }
    }
    // A form field carries the token for any checked method, as for POST.
    for name in ["PROPFIND", "post", "FOO"] {
        let method = Method::from_bytes(name.as_bytes()).unwrap();
        let form_with = |body: String| {
            test::TestRequest::default()
                .method(method.clone())
                .uri("/either")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(body)
        };
        let (status, _, _) = send(&app, form_with("text=hi".to_owned()), Some(&cookie)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name} form without a token");
        let body = format!("text=hi&csrf_token={token}");
        let (status, _, _) = send(&app, form_with(body), Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK, "{name} form with the token");
    }
}

#[actix_web::test]
async fn attribute_with_change_id_rotates_the_token() {
    let app = app(MemoryStore::default()).await;
    let (cookie, before) = with_token(&app).await;
    let req = test::TestRequest::post()
        .uri("/login")
        .insert_header(("X-CSRF-Token", before.clone()));
    let (status, renewed, _) = send(&app, req, Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let renewed = renewed.expect("a new id");
    // The token captured before the login fails after it.
    let req = test::TestRequest::post()
        .uri("/login")
        .insert_header(("X-CSRF-Token", before));
    assert_eq!(
        send(&app, req, Some(&renewed)).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, _, after) = send(&app, test::TestRequest::get().uri("/form"), Some(&renewed)).await;
    let req = test::TestRequest::post()
        .uri("/login")
        .insert_header(("X-CSRF-Token", after));
    assert_eq!(send(&app, req, Some(&renewed)).await.0, StatusCode::OK);
}

/// Random byte strings as the header and as the form field: always 403, never a 500.
#[actix_web::test]
async fn random_tokens_are_403_never_500() {
    use proptest::strategy::{Strategy, ValueTree};
    let app = app(MemoryStore::default()).await;
    let (cookie, _) = with_token(&app).await;
    let mut runner = proptest::test_runner::TestRunner::default();
    let inputs = proptest::collection::vec(
        proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        300,
    )
    .new_tree(&mut runner)
    .unwrap()
    .current();
    for bytes in inputs {
        let field: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        let body = format!("text=x&csrf_token={field}");
        let status = send(&app, form_post("/comment", body), Some(&cookie))
            .await
            .0;
        assert_eq!(status, StatusCode::FORBIDDEN, "{bytes:?}");
        if let Ok(header) = actix_web::http::header::HeaderValue::from_bytes(&bytes) {
            let req = test::TestRequest::post()
                .uri("/either")
                .insert_header(("X-CSRF-Token", header));
            let status = send(&app, req, Some(&cookie)).await.0;
            assert_eq!(status, StatusCode::FORBIDDEN, "{bytes:?}");
        }
    }
}

/// A failed check is a `SessionError::Rejected` (key `CSRF_SESSION_KEY`, 403): the builder's
/// renderer answers it, as it answers a guard's rejection (an API gets JSON, not text).
#[actix_web::test]
async fn a_failed_check_goes_through_the_error_renderer() {
    use actix_typed_session::{SessionError, CSRF_SESSION_KEY};
    let middleware = SessionMiddleware::builder(MemoryStore::default())
        .error_response(|err| match err {
            SessionError::Rejected { key, status, .. } => HttpResponse::build(*status)
                .content_type("application/json")
                .body(format!(r#"{{"error":"rejected","key":"{key}"}}"#)),
            other => HttpResponse::ServiceUnavailable().body(other.to_string()),
        })
        .build();
    let app = test::init_service(App::new().wrap(middleware).service(form).service(comment)).await;
    let (cookie, token) = with_token(&app).await;
    let expected = format!(r#"{{"error":"rejected","key":"{CSRF_SESSION_KEY}"}}"#);
    // Each way a check fails: a forged form field, a forged header, no form at all.
    let forged = form_post("/comment", "text=hi&csrf_token=forged".to_owned());
    let header = test::TestRequest::post()
        .uri("/comment")
        .insert_header(("X-CSRF-Token", "forged"));
    let json = test::TestRequest::post()
        .uri("/comment")
        .insert_header(("content-type", "application/json"))
        .set_payload("{}");
    for req in [forged, header, json] {
        let (status, _, body) = send(&app, req, Some(&cookie)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, expected);
    }
    let body = format!("text=x&csrf_token={token}");
    let (status, _, body) = send(&app, form_post("/comment", body), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "got x"));
}

/// A multipart body is not read by the check (an upload can be large): a token in one of its
/// fields is not seen (403), a token in the header passes.
#[actix_web::test]
async fn a_multipart_form_needs_the_token_in_the_header() {
    let app = app(MemoryStore::default()).await;
    let (cookie, token) = with_token(&app).await;
    let multipart = |req: test::TestRequest| {
        req.uri("/either")
            .insert_header(("content-type", "multipart/form-data; boundary=XyZ"))
            .set_payload(format!(
                "--XyZ\r\ncontent-disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n--XyZ--\r\n"
            ))
    };
    let (status, _, body) = send(&app, multipart(test::TestRequest::post()), Some(&cookie)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "CSRF token missing or invalid")
    );
    let with_header =
        multipart(test::TestRequest::post()).insert_header(("X-CSRF-Token", token.clone()));
    let (status, _, _) = send(&app, with_header, Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
}
