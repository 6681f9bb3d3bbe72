//! The app every conformance case drives: its handlers and routes, the middleware on the store
//! under test with a manual clock, and the held request of the rotation races. Shared by the
//! core cases (`conformance`) and the user index's (`users`).

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{web, HttpResponse};
use futures_util::stream;

use super::*;
use crate::clock::ManualClock;
use crate::{Session, SessionError, SessionMiddleware};

/// The idle timeout of the suite's middleware.
pub const IDLE: Duration = Duration::from_secs(600);
/// The absolute timeout of the suite's middleware.
pub const ABSOLUTE: Duration = Duration::from_secs(3600);

/// Handler: increments the `u64` under `counter` and answers the new value.
pub async fn incr(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("counter")?.unwrap_or(0) + 1;
    session.set("counter", n)?;
    Ok(n.to_string())
}

/// Handler: answers the `u64` under `counter`, or `none`.
pub async fn read(session: Session) -> Result<String, SessionError> {
    let n: Option<u64> = session.get("counter")?;
    Ok(n.map_or("none".into(), |n| n.to_string()))
}

async fn set_kv(
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<String, SessionError> {
    let (k, v) = path.into_inner();
    session.set(k, v)?;
    Ok("ok".into())
}

async fn get_k(session: Session, key: web::Path<String>) -> Result<String, SessionError> {
    Ok(session
        .get::<String>(&key)?
        .unwrap_or_else(|| "none".into()))
}

/// Sets a key, then waits until a second request has done the same: both have loaded the
/// session before either saves.
async fn set_in_step(
    session: Session,
    path: web::Path<(String, String)>,
    barrier: web::Data<tokio::sync::Barrier>,
) -> Result<String, SessionError> {
    let (k, v) = path.into_inner();
    session.set(k, v)?;
    barrier.wait().await;
    Ok("ok".into())
}

/// Loads the session, sets a key, then waits for the test's signal before returning (and so
/// before its save).
async fn hold(
    session: Session,
    path: web::Path<(String, String)>,
    signal: web::Data<tokio::sync::Notify>,
) -> Result<String, SessionError> {
    let (k, v) = path.into_inner();
    session.set(k, v)?;
    signal.notified().await;
    Ok("held".into())
}

/// A request held between its load and its commit, for the rotation races: the handler of
/// `/hold_rotate` loads the session, signals [`loaded`](Self::loaded), waits for
/// [`go`](Self::go), then changes the id.
#[derive(Debug, Default)]
pub struct Held {
    /// Notified once the held request has loaded its session.
    pub loaded: tokio::sync::Notify,
    /// The held request goes on (and commits) once this is notified.
    pub go: tokio::sync::Notify,
}

/// Handler: loads the session, waits as [`Held`] says, then `change_id`; answers the user the
/// session had when loaded (`nobody` without one).
async fn hold_rotate(session: Session, held: web::Data<Held>) -> Result<String, SessionError> {
    let user = session.user().unwrap_or_else(|| "nobody".into());
    held.loaded.notify_one();
    held.go.notified().await;
    session.change_id();
    Ok(user)
}

/// Sends `/hold_rotate` for the session `id` and runs `end` once that request has loaded the
/// session and before it commits; answers the held request's response.
pub async fn rotating_while<S, B, F>(app: &S, held: &Held, id: &str, end: F) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    F: std::future::Future,
{
    let (res, _) = futures_util::future::join(send(app, post("/hold_rotate", Some(id))), async {
        held.loaded.notified().await;
        end.await;
        held.go.notify_one();
    })
    .await;
    res
}

/// Asserts that a rotation that found its session ended issued no id and removed the cookie.
pub fn assert_rotation_refused(res: &Resp, who: &str) {
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body, who, "the held request loaded the session");
    assert_eq!(
        res.id(),
        None,
        "a session that ended while the request ran got a new id (resurrected)"
    );
    assert!(
        res.removal().is_some(),
        "the cookie of an ended session is removed"
    );
}

async fn login(session: Session) -> Result<String, SessionError> {
    session.set("user", "alice")?;
    session.change_id();
    Ok("in".into())
}

async fn login_no_store(session: Session) -> Result<String, SessionError> {
    session.set("user", "bob")?;
    session.change_id();
    session.no_store();
    Ok("in".into())
}

async fn logout(session: Session) -> &'static str {
    session.expire();
    "out"
}

async fn logout_then_fail(session: Session) -> HttpResponse {
    session.expire();
    HttpResponse::InternalServerError().body("boom")
}

async fn set_then_fail(session: Session) -> Result<HttpResponse, SessionError> {
    session.set("counter", 999)?;
    session.change_id();
    Ok(HttpResponse::InternalServerError().body("boom"))
}

async fn preview(session: Session) -> Result<String, SessionError> {
    session.set("counter", 12345)?;
    session.no_store();
    Ok("preview".into())
}

async fn untouched() -> &'static str {
    "plain"
}

/// Streams three chunks, changing the session while it streams.
async fn stream_late(session: Session) -> HttpResponse {
    session.late_store();
    streaming(session)
}

/// The same stream without `late_store`: the streamed changes are lost.
async fn stream_early(session: Session) -> HttpResponse {
    streaming(session)
}

fn streaming(session: Session) -> HttpResponse {
    let body = stream::unfold(0u32, move |i| {
        let session = session.clone();
        async move {
            if i == 3 {
                return None;
            }
            session.set("streamed", i).ok()?;
            Some((
                Ok::<_, actix_web::Error>(web::Bytes::from(format!("chunk{i};"))),
                i + 1,
            ))
        }
    });
    HttpResponse::Ok().streaming(body)
}

async fn clear(session: Session) -> &'static str {
    session.clear();
    "cleared"
}

/// The routes every conformance test uses.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/incr", web::get().to(incr))
        .route("/read", web::get().to(read))
        .app_data(web::Data::new(tokio::sync::Barrier::new(2)))
        .app_data(web::Data::new(tokio::sync::Notify::new()))
        .app_data(web::Data::new(Held::default()))
        .route("/hold/{k}/{v}", web::post().to(hold))
        .route("/hold_rotate", web::post().to(hold_rotate))
        .route("/set/{k}/{v}", web::post().to(set_kv))
        .route("/set_in_step/{k}/{v}", web::post().to(set_in_step))
        .route("/get/{k}", web::get().to(get_k))
        .route("/login", web::post().to(login))
        .route("/login_no_store", web::post().to(login_no_store))
        .route("/logout", web::post().to(logout))
        .route("/logout_fail", web::post().to(logout_then_fail))
        .route("/set_fail", web::post().to(set_then_fail))
        .route("/preview", web::post().to(preview))
        .route("/untouched", web::get().to(untouched))
        .route("/stream_late", web::get().to(stream_late))
        .route("/stream_early", web::get().to(stream_early))
        .route("/clear", web::post().to(clear));
}

/// The middleware every conformance test uses, on `store`, with a manual clock.
pub fn middleware<S: IntoBackend>(store: S, clock: &ManualClock) -> SessionMiddleware {
    builder(store, clock).build()
}

/// The builder of [`middleware`], for a case that adds a setting.
pub fn builder<S: IntoBackend>(
    store: S,
    clock: &ManualClock,
) -> crate::SessionMiddlewareBuilder<S> {
    SessionMiddleware::builder(store)
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .absolute_timeout(ABSOLUTE)
}

/// The suite's app: [`middleware`] on `store` around [`routes`].
pub async fn app<S: IntoBackend>(
    store: S,
    clock: &ManualClock,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    actix_web::test::init_service(
        actix_web::App::new()
            .wrap(middleware(store, clock))
            .configure(routes),
    )
    .await
}
