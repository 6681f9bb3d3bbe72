//! [`SessionMiddleware`]: reads nothing up front, commits when the handler is done.
//!
//! Per request the middleware only sets up a request scope (a task-local value: no allocation);
//! the [`Session`] is created by the first extractor that asks for it, and nothing is read from
//! the store before. When the inner service has answered, it
//! applies the commit rules of [`crate::commit`] and adds the response headers:
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
use actix_web::http::header::{HeaderValue, CACHE_CONTROL, VARY};
use tokio::task::futures::TaskLocalFuture;

use crate::commit::{decide, execute, presented_id, ClientUpdate, Plan};
use crate::config::Ctx;
use crate::error::SessionError;

mod body;
mod builder;

pub use self::body::SessionBody;

/// The body of a response through [`SessionMiddleware`]: the app's own (almost always), the app's
/// wrapped in a [`SessionBody`] that commits when it ends (`late_store`), or the session layer's
/// error response.
pub type ResponseBody<B> = EitherBody<B, EitherBody<SessionBody<B>>>;
pub use self::builder::SessionMiddlewareBuilder;
use crate::scope::Scope;
use crate::session::{Options, Session};
use crate::store::{Fetch, SessionStore};
use crate::typed::Slots;

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
    pub fn new<S: SessionStore>(store: S) -> Self {
        Self::builder(store).build()
    }

    /// A builder to change the defaults.
    pub fn builder<S: SessionStore>(store: S) -> SessionMiddlewareBuilder<S> {
        SessionMiddlewareBuilder::new(store)
    }

    /// The sessions of the app's users, for code outside a request (jobs, admin tools): the
    /// same as the [`Sessions`](crate::Sessions) extractor, with no "current" session.
    pub fn sessions(&self) -> crate::Sessions {
        crate::Sessions::new(self.ctx.clone(), None)
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
        crate::workers::check(&self.ctx);
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
        // No allocation here: the scope is a plain value, the session is created by the first
        // extractor that asks for it, and the inner service is called inside the scope.
        let scope = Scope::new(self.ctx.clone());
        let call = Call::Start {
            service: self.service.clone(),
            req: Some(req),
        };
        SessionFuture {
            state: State::Serving {
                fut: crate::scope::enter(scope, call),
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
                    let (session, typed) = scope.into_parts();
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

/// The request is served and its session was used: write typed values back, then commit.
async fn finish<B: MessageBody + 'static>(
    session: Session,
    typed: Slots,
    result: Result<ServiceResponse<B>, actix_web::Error>,
) -> Result<ServiceResponse<ResponseBody<B>>, actix_web::Error> {
    // Changed typed values go into the session before the commit decides.
    let written = typed.finish(&session);
    match result {
        Ok(res) => Ok(match written {
            Ok(()) => commit(session, res).await,
            Err(err) => failed(res, &session.0.ctx, err),
        }),
        Err(err) => {
            // An error escaped the app without a response (another middleware's): no
            // response to put a cookie on, but a logout still ends the stored session.
            if session.options().has(Options::EXPIRE) {
                let now = session.0.ctx.config.clock.now();
                if let Err(e) = execute(&session, Plan::Expire, None, now).await {
                    tracing::error!(error = %e, "expire after an app error failed");
                }
            }
            Err(err)
        }
    }
}

async fn commit<B: MessageBody + 'static>(
    session: Session,
    mut res: ServiceResponse<B>,
) -> ServiceResponse<ResponseBody<B>> {
    let options = session.options();
    // A session handle that nobody loaded and no option: nothing to do.
    if options == Options::default() && !session.is_loaded() {
        session.mark_committed();
        return res.map_body(|_, body| EitherBody::left(body));
    }

    let ctx = session.0.ctx.clone();
    let config = &ctx.config;
    let server_error = res.status().is_server_error();
    let expire = options.has(Options::EXPIRE);

    // change_id moves the stored session, even when no handler read it: the store moves the
    // values itself, so only the metadata is needed here (a handler that read the session
    // has it already).
    if options.has(Options::CHANGE_ID) && !expire && !server_error {
        if let Err(err) = session.ensure(res.request(), Fetch::Keys(&[])).await {
            return failed(res, &ctx, err);
        }
    }

    // Log out everywhere / everywhere else: the other sessions end before this one commits
    // (a logout is honoured even when the page after it fails).
    if options.has(Options::EXPIRE_ALL) || options.has(Options::EXPIRE_OTHERS) {
        if let Err(err) = crate::commit::revoke_users_sessions(&session, res.request()).await {
            return failed(res, &ctx, err);
        }
    }

    let late = options.has(Options::LATE_STORE)
        && !expire
        && !server_error
        && session.is_loaded()
        && !client_side(&session);
    // The expiry the client is told, when the builder asks for it and the session was saved,
    // touched or rotated.
    let mut expiry = None;
    let update = if late {
        let update = late_head(&session);
        if matches!(update, ClientUpdate::Send(_)) && config.expiry_header.is_some() {
            let now = config.clock.now();
            expiry = session
                .data()
                .map(|data| config.expiry(data.meta.created_at, now));
        }
        update
    } else {
        let now = config.clock.now();
        let plan = {
            let data = session.data();
            decide(options, server_error, data.as_deref(), now, config)
        };
        let presented = (plan == Plan::Expire && !session.is_loaded())
            .then(|| presented_id(&ctx, res.request()))
            .flatten();
        let announces = matches!(plan, Plan::Rotate | Plan::Save { .. } | Plan::Touch { .. });
        let update = execute(&session, plan, presented, now)
            .await
            .and_then(|update| {
                if let ClientUpdate::Send(value) = &update {
                    config.state.check_size(value)?;
                }
                Ok(update)
            });
        match update {
            Ok(update) => {
                if announces && config.expiry_header.is_some() {
                    expiry = session.data().map(|data| data.meta.expires_at);
                }
                update
            }
            Err(err) => return failed(res, &ctx, err),
        }
    };

    let sent = match &update {
        ClientUpdate::Keep => false,
        ClientUpdate::Send(value) => config.state.send(res.headers_mut(), value),
        ClientUpdate::Remove => config.state.send_removal(res.headers_mut()),
    };
    let headers = res.headers_mut();
    if let (Some(name), Some(expiry)) = (&config.expiry_header, expiry) {
        headers.insert(name.clone(), HeaderValue::from(expiry));
    }
    if sent && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if session.is_loaded() {
        if let Some(name) = config.state.vary() {
            add_vary(headers, name);
        }
    }

    if !late {
        session.mark_committed();
    }
    let late = late.then_some(session);
    match late {
        // Only a late commit needs to watch the body; any other goes out as it is.
        Some(session) => res.map_body(|_, body| {
            EitherBody::right(EitherBody::left(SessionBody::new(body, session)))
        }),
        None => res.map_body(|_, body| EitherBody::left(body)),
    }
}

/// Whether the store carries the data in the client's value: then the value must leave with the
/// response head, and `late_store` cannot apply.
fn client_side(session: &Session) -> bool {
    let client_side = session.0.ctx.store.client_side();
    if client_side {
        tracing::warn!("late_store has no effect with a client-side store; committing now");
    }
    client_side
}

/// With `late_store`, what the client must learn with the response head: a new or rotated id,
/// or a persistent cookie's refresh. The store write happens when the body ends.
fn late_head(session: &Session) -> ClientUpdate {
    let config = &session.0.ctx.config;
    let options = session.options();
    let Some(mut data) = session.data() else {
        return ClientUpdate::Keep;
    };
    if options.has(Options::CHANGE_ID) {
        data.rotate();
        return ClientUpdate::Send(data.id.as_str().to_owned());
    }
    if options.has(Options::NO_STORE) {
        return ClientUpdate::Keep;
    }
    if !data.existed || config.state.refresh_on_touch() {
        return ClientUpdate::Send(data.id.as_str().to_owned());
    }
    ClientUpdate::Keep
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
