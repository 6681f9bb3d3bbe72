//! The cases of actix-session 0.11's `tests/session.rs` that use `SessionExt`,
//! `Session::update` and `Session::update_or`: the rest of the port is in `ported.rs`, whose
//! module docs say how these are ported.
//!
//! | case | result |
//! |---|---|
//! | `ported_session_get_session` | passes as is |
//! | `ported_session_get_session_from_request_head` | passes as is |
//! | `ported_session_update_session` | differs: a fresh session's status is `New`, not `Unchanged` |
//! | `ported_session_update_or_session` | passes as is |

use actix_typed_session::store::MemoryStore;
use actix_typed_session::{Session, SessionExt, SessionMiddleware, SessionStatus};
use actix_web::dev::Service;
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpRequest};
use serde_json::json;

use support::*;

/// `ServiceRequest::get_session()`: the session of a request seen by a middleware (inside the
/// session middleware).
#[actix_web::test]
async fn ported_session_get_session() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap_fn(|req, srv| {
                let session = req.session();
                let call = srv.call(req);
                async move {
                    let session = session.await.unwrap();
                    session.set("key", true).unwrap();
                    let res = session.get("key").unwrap();
                    assert_eq!(res, Some(true));
                    call.await
                }
            })
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/", web::get().to(|| async { "ran" })),
    )
    .await;
    let res = send(&app, get("/", None)).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "ran"));
    let id = res.id().expect("the middleware's change is saved");
    assert_eq!(stored_value(&store, &id, "key").await, Some(json!(true)));
}

/// `HttpRequest::get_session()` (the original's "request head").
#[actix_web::test]
async fn ported_session_get_session_from_request_head() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route(
                "/",
                web::get().to(|req: HttpRequest| async move {
                    let session = req.session().await.unwrap();
                    session.set("key", 10).unwrap();
                    let res = session.get::<u32>("key").unwrap();
                    assert_eq!(res, Some(10));
                    "ran"
                }),
            ),
    )
    .await;
    let res = send(&app, get("/", None)).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "ran"));
    let id = res.id().unwrap();
    assert_eq!(stored_value(&store, &id, "key").await, Some(json!(10)));
}

/// Runs `handler` as the one route of an app on the memory store, for a request without a
/// session, and checks that it ran to the end (its assertions passed).
async fn run_handler<F, Args>(handler: F) -> Resp
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .route("/", web::get().to(handler)),
    )
    .await;
    let res = send(&app, get("/", None)).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "ran"));
    res
}

#[actix_web::test]
async fn ported_session_update_session() {
    run_handler(|session: Session| async move {
        session.update("test_val", |c: u32| c + 1).unwrap();
        // differs: a session not stored yet is `New`; `Unchanged` is a stored one's.
        assert_eq!(session.status(), SessionStatus::New);

        session.set("test_val", 0).unwrap();
        assert_eq!(session.status(), SessionStatus::Changed);

        session.update("test_val", |c: u32| c + 1).unwrap();
        assert_eq!(session.get("test_val").unwrap(), Some(1));

        session.update("test_val", |c: u32| c + 1).unwrap();
        assert_eq!(session.get("test_val").unwrap(), Some(2));
        "ran"
    })
    .await;
}

#[actix_web::test]
async fn ported_session_update_or_session() {
    run_handler(|session: Session| async move {
        session.update_or("test_val", 1, |c: u32| c + 1).unwrap();
        assert_eq!(session.status(), SessionStatus::Changed);
        // actix-session inserts `default` as is when the key is absent.
        assert_eq!(session.get("test_val").unwrap(), Some(1));

        session.update_or("test_val", 1, |c: u32| c + 1).unwrap();
        assert_eq!(session.get("test_val").unwrap(), Some(2));
        "ran"
    })
    .await;
}
