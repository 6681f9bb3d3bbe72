//! [`SessionMiddleware`]: reads nothing up front, commits when the handler is done.
//!
//! Per request the middleware only sets up a request scope (a task-local value: no allocation);
//! the [`Session`] is created by the first extractor that asks for it, and nothing is read from
//! the store before. When the inner service has answered, it
//! applies the [commit rules](crate#when-the-session-is-written) and adds the response headers:
//!
//! - the session's `Set-Cookie` is *appended*, so the app's own cookies survive;
//! - a response that sets or removes the session cookie gets `Cache-Control: no-store`, unless the
//!   app chose its own `Cache-Control`;
//! - a response whose handler read the session gets `Vary: Cookie` (or the id's header).
//!
//! With [`late_store`](Session::late_store) the store write waits until the body stream has
//! ended; the client value (a new id) still goes out with the head.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue, CACHE_CONTROL, VARY};
use tokio::task::futures::TaskLocalFuture;

use crate::ctx::Ctx;
use crate::error::SessionError;
use crate::request::commit::{self, ClientUpdate};

/// The response header that asks the browser to drop a site's data (W3C Clear Site Data).
const CLEAR_SITE_DATA: HeaderName = HeaderName::from_static("clear-site-data");

mod body;
mod builder;
#[cfg(feature = "dbsc")]
mod dbsc;
pub(crate) mod render;
mod workers;

pub use self::body::SessionBody;

/// The body of a response through [`SessionMiddleware`]: the app's own (almost always), the app's
/// wrapped in a [`SessionBody`] that commits when it ends (`late_store`), or the session layer's
/// error response.
pub type ResponseBody<B> = EitherBody<B, EitherBody<SessionBody<B>>>;
pub use self::builder::SessionMiddlewareBuilder;
use crate::request::ledger::Slots;
use crate::request::scope::{self, Scope};
use crate::request::{Options, Session};
use crate::store::{Fetch, IntoBackend};

/// The session middleware. Wrap an `App` or a scope with it.
///
/// Build it once, before `HttpServer::new`, and clone it into the factory (it is cheap to
/// clone): every worker then shares one store, and a misconfiguration is an error before any
/// worker starts.
///
/// ```no_run
/// use actix_typed_session::{store::MemoryStore, SessionMiddleware};
/// use actix_web::{App, HttpServer};
///
/// # async fn run() -> std::io::Result<()> {
/// let sessions = SessionMiddleware::builder(MemoryStore::default())
///     .try_build()
///     .map_err(std::io::Error::other)?;
/// HttpServer::new(move || App::new().wrap(sessions.clone()))
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct SessionMiddleware {
    ctx: Arc<Ctx>,
}

impl SessionMiddleware {
    /// The middleware with every default: the id in a cookie named `id` (Secure, HttpOnly,
    /// SameSite=Lax, browser-session), 24 h idle and 7 days absolute timeout, JSON values.
    pub fn new<S: IntoBackend>(store: S) -> Self {
        Self::builder(store).build()
    }

    /// A builder to change the defaults.
    pub fn builder<S: IntoBackend>(store: S) -> SessionMiddlewareBuilder<S> {
        SessionMiddlewareBuilder::new(store)
    }

    /// The sessions of the app's users, for code outside a request (jobs, admin tools): the
    /// same as the [`Sessions`](crate::Sessions) extractor, with no "current" session.
    pub fn sessions(&self) -> crate::Sessions {
        crate::Sessions::new(self.ctx.clone(), None)
    }

    /// How many sessions this process has carried over from the old stores given to
    /// [`migrate_from`](SessionMiddlewareBuilder::migrate_from) (each is also logged at INFO):
    /// when it stops growing for as long as the old sessions could live, the old stores can
    /// go (see [`crate::migrate`]).
    pub fn carried_over(&self) -> u64 {
        self.ctx.migrations.moved()
    }

    /// The store and settings (for the test helpers).
    #[cfg(feature = "test-helpers")]
    pub(crate) fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    pub(crate) fn from_ctx(ctx: Ctx) -> Self {
        SessionMiddleware { ctx: Arc::new(ctx) }
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        // Called on each worker as it builds its app: the place to see that workers disagree.
        workers::check(&self.ctx);
        ready(Ok(SessionService {
            service: Rc::new(service),
            ctx: self.ctx.clone(),
        }))
    }
}

/// The per-worker service behind [`SessionMiddleware`].
#[doc(hidden)]
pub struct SessionService<S> {
    service: Rc<S>,
    ctx: Arc<Ctx>,
}

impl<S, B> Service<ServiceRequest> for SessionService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = actix_web::Error;
    type Future = SessionFuture<S, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // The DBSC endpoints are the middleware's own: they never reach the app.
        #[cfg(feature = "dbsc")]
        if let Some(which) = dbsc::endpoint(&self.ctx, &req) {
            return SessionFuture {
                state: State::Committing {
                    fut: Box::pin(dbsc::serve(self.ctx.clone(), req, which)),
                },
            };
        }
        // No allocation here: the scope is a plain value, the session is created by the first
        // extractor that asks for it, and the inner service is called inside the scope.
        let scope = Scope::new(self.ctx.clone());
        let call = Call::Start {
            service: self.service.clone(),
            req: Some(req),
        };
        SessionFuture {
            state: State::Serving {
                fut: scope::enter(scope, call),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's call, made on the first poll (inside the request's scope).
    #[project = CallProj]
    enum Call<S: Service<ServiceRequest>> {
        Start { service: Rc<S>, req: Option<ServiceRequest> },
        Running { #[pin] fut: S::Future },
    }
}

impl<S: Service<ServiceRequest>> Future for Call<S> {
    type Output = Result<S::Response, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let CallProj::Start { service, req } = self.as_mut().project() {
            let req = req.take().expect("the inner service is called once");
            let fut = service.call(req);
            self.set(Call::Running { fut });
        }
        match self.project() {
            CallProj::Running { fut } => fut.poll(cx),
            CallProj::Start { .. } => unreachable!("just started"),
        }
    }
}

type Committed<B> =
    Pin<Box<dyn Future<Output = Result<ServiceResponse<ResponseBody<B>>, actix_web::Error>>>>;

pin_project_lite::pin_project! {
    /// The future of one request through [`SessionMiddleware`]: a named type, so a request whose
    /// handlers never ask for the session costs no boxed future.
    #[doc(hidden)]
    pub struct SessionFuture<S: Service<ServiceRequest>, B> {
        #[pin]
        state: State<S, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S: Service<ServiceRequest>, B> {
        /// The inner service runs in the request's scope.
        Serving { #[pin] fut: TaskLocalFuture<Scope, Call<S>> },
        /// A handler used the session: the commit runs.
        Committing { fut: Committed<B> },
        Done,
    }
}

impl<S, B> Future for SessionFuture<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Output = Result<ServiceResponse<ResponseBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Serving { mut fut } => {
                    let result = std::task::ready!(fut.as_mut().poll(cx));
                    let scope = fut
                        .take_value()
                        .expect("the scope comes back with the result");
                    let ctx = scope.ctx().clone();
                    let (session, typed) = scope.into_parts();
                    let session = session.or_else(|| refresh_only(ctx, &result));
                    let Some(session) = session else {
                        // No handler asked for the session and no option was set: the commit
                        // rules say "nothing" (no clock read, no store call, no header).
                        state.set(State::Done);
                        return Poll::Ready(
                            result.map(|res| res.map_body(|_, body| EitherBody::left(body))),
                        );
                    };
                    state.set(State::Committing {
                        fut: Box::pin(finish(session, typed, result)),
                    });
                }
                StateProj::Committing { fut } => {
                    let out = std::task::ready!(fut.as_mut().poll(cx));
                    state.set(State::Done);
                    return Poll::Ready(out);
                }
                StateProj::Done => panic!("SessionFuture polled after completion"),
            }
        }
    }
}

/// With `refresh_on_every_request`, a request that presents a session value but whose handlers
/// never asked for the session: a handle that the commit loads (metadata only) and touches.
fn refresh_only<B>(
    ctx: Arc<Ctx>,
    result: &Result<ServiceResponse<B>, actix_web::Error>,
) -> Option<Session> {
    if !ctx.config.refresh_every {
        return None;
    }
    let res = result.as_ref().ok()?;
    if res.status().is_server_error() || ctx.config.state.read(res.request()).is_none() {
        return None;
    }
    let session = Session::new(ctx);
    session.set_option(Options::REFRESH_ONLY);
    Some(session)
}

/// The request is served and its session was used: write typed values back, then commit.
async fn finish<B: MessageBody + 'static>(
    session: Session,
    typed: Slots,
    result: Result<ServiceResponse<B>, actix_web::Error>,
) -> Result<ServiceResponse<ResponseBody<B>>, actix_web::Error> {
    // Changed typed values go into the session before the commit decides.
    let written = typed.finish(session.options().has(Options::EXPIRE), |key, bytes| {
        if let Some(mut data) = session.data() {
            data.set(key.to_owned(), bytes.into());
        }
    });
    match result {
        Ok(res) => Ok(match written {
            Ok(()) => respond(session, res).await,
            Err(err) => failed(res, session.ctx(), err),
        }),
        Err(err) => {
            commit::after_app_error(&session).await;
            Err(err)
        }
    }
}

/// The commit at the response, then its headers: the session's `Set-Cookie` (appended, so the
/// app's own cookies survive), `Cache-Control: no-store` on a response that sets or removes it
/// (unless the app chose its own), `Vary` on one whose handler read the session, and the expiry
/// header when the builder asks for it. A deferred commit (`late_store`) watches the body.
pub(crate) async fn respond<B: MessageBody + 'static>(
    session: Session,
    mut res: ServiceResponse<B>,
) -> ServiceResponse<ResponseBody<B>> {
    let refresh_only = session.options().has(Options::REFRESH_ONLY);
    if refresh_only {
        if let Err(err) = session.ensure(res.request(), Fetch::Keys(&[])).await {
            // Already logged; the response did not need the session.
            tracing::debug!(error = %err, "refresh on every request: session not refreshed");
            return res.map_body(|_, body| EitherBody::left(body));
        }
    }
    crate::device::record(&session, res.request());
    #[cfg(feature = "dbsc")]
    let offer = dbsc::offer(&session);
    let outcome = match commit::at_response(&session, res.request(), res.status()).await {
        Ok(outcome) => outcome,
        Err(err) if refresh_only => {
            tracing::debug!(error = %err, "refresh on every request: session not refreshed");
            return res.map_body(|_, body| EitherBody::left(body));
        }
        Err(err) => return failed(res, session.ctx(), err),
    };
    let ctx = session.ctx().clone();
    let config = &ctx.config;
    let sent = match &outcome.update {
        ClientUpdate::Keep => false,
        ClientUpdate::Send(value) => match outcome.lasting {
            Some(max_age) => config.state.send_lasting(res.headers_mut(), value, max_age),
            None => config.state.send(res.headers_mut(), value),
        },
        ClientUpdate::Remove => config.state.send_removal(res.headers_mut()),
    };
    let headers = res.headers_mut();
    if let Some(removal) = outcome
        .remove_old
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        headers.append(actix_web::http::header::SET_COOKIE, removal);
    }
    if let (Some(name), Some(expiry)) = (&config.expiry_header, outcome.expiry) {
        headers.insert(name.clone(), HeaderValue::from(expiry));
    }
    if let (ClientUpdate::Remove, Some(value), true) = (
        &outcome.update,
        &config.clear_site_data,
        session.options().has(Options::EXPIRE),
    ) {
        headers.insert(CLEAR_SITE_DATA, value.clone());
    }
    #[cfg(feature = "dbsc")]
    if let (Some(offer), false) = (offer, outcome.update == ClientUpdate::Remove) {
        headers.insert(dbsc::offer_header(), offer);
    }
    if sent && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if session.is_loaded() && !refresh_only {
        if let Some(name) = config.state.vary() {
            add_vary(headers, name);
        }
    }
    if outcome.deferred {
        // Only a late commit needs to watch the body; any other goes out as it is.
        res.map_body(|_, body| EitherBody::right(EitherBody::left(SessionBody::new(body, session))))
    } else {
        res.map_body(|_, body| EitherBody::left(body))
    }
}

fn failed<B>(
    res: ServiceResponse<B>,
    ctx: &Ctx,
    err: SessionError,
) -> ServiceResponse<ResponseBody<B>> {
    let (req, _) = res.into_parts();
    let response = ctx.config.render(&err);
    ServiceResponse::new(req, response)
        .map_body(|_, body| EitherBody::right(EitherBody::right(body)))
}

fn add_vary(headers: &mut actix_web::http::header::HeaderMap, name: &str) {
    let present = headers.get_all(VARY).any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|item| item.trim() == "*" || item.trim().eq_ignore_ascii_case(name))
        })
    });
    if !present {
        let value = match name {
            "Cookie" => Ok(HeaderValue::from_static("Cookie")),
            other => HeaderValue::from_str(other),
        };
        if let Ok(value) = value {
            headers.append(VARY, value);
        }
    }
}
