//! The request scope: what one request knows about its session, found by extractors through a
//! task-local while the middleware's inner service runs.
//!
//! Nothing is allocated for a request whose handlers never ask for the session: the scope is a
//! plain value moved into the task-local; the [`Session`] handle (an `Arc`) is created by the
//! first extractor that asks for it.

use std::cell::{Cell, OnceCell};
use std::future::Future;
use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest};
use tokio::task::futures::TaskLocalFuture;

use crate::config::Ctx;
use crate::session::Session;
use crate::typed::Slots;

tokio::task_local! {
    /// The scope of the request being served on this task.
    static SCOPE: Scope;
}

/// One request's scope.
pub(crate) struct Scope {
    ctx: Arc<Ctx>,
    session: OnceCell<Session>,
    /// The session is in the request's extensions.
    published: Cell<bool>,
    /// The typed session values the request handed out.
    pub(crate) typed: Slots,
}

impl Scope {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Scope {
            ctx,
            session: OnceCell::new(),
            published: Cell::new(false),
            typed: Slots::default(),
        }
    }

    /// The request's session, created on first use. It is also put into the request's
    /// extensions, so code running outside the request's task (a spawned task) finds it.
    pub(crate) fn session(&self, req: &HttpRequest) -> &Session {
        let session = self.session_without_request();
        if !self.published.replace(true) {
            req.extensions_mut().insert(session.clone());
        }
        session
    }

    /// The format of session values.
    pub(crate) fn codec(&self) -> crate::codec::Codec {
        self.ctx.config.codec
    }

    /// The session, created on first use, without a request at hand (for a handler's
    /// `#[session(..)]` options).
    pub(crate) fn session_without_request(&self) -> &Session {
        self.session.get_or_init(|| Session::new(self.ctx.clone()))
    }

    /// The session (if anything asked for it) and the typed values, when the request is done.
    pub(crate) fn into_parts(self) -> (Option<Session>, Slots) {
        (self.session.into_inner(), self.typed)
    }
}

/// Runs `fut` inside `scope`.
pub(crate) fn enter<F: Future>(scope: Scope, fut: F) -> TaskLocalFuture<Scope, F> {
    SCOPE.scope(scope, fut)
}

/// `f` on the current request's scope, if this task is serving one.
pub(crate) fn with<R>(f: impl FnOnce(&Scope) -> R) -> Option<R> {
    SCOPE.try_with(f).ok()
}

/// The session of `req`: through the scope, or (outside the request's task) through the
/// extensions, if an extractor created it already.
pub(crate) fn session_of(req: &HttpRequest) -> Option<Session> {
    with(|scope| scope.session(req).clone()).or_else(|| req.extensions().get::<Session>().cloned())
}
