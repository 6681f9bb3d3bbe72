//! The request scope: what one request knows about its session, found by extractors through a
//! task-local while the middleware's inner service runs.
//!
//! Nothing is allocated for a request whose handlers never ask for the session: the scope is a
//! plain value moved into the task-local; the [`Session`] handle (an `Arc`) is created by the
//! first extractor that asks for it.

use std::cell::OnceCell;
use std::future::Future;
use std::sync::Arc;

use tokio::task::futures::TaskLocalFuture;

use super::ledger::Slots;
use super::Session;
use crate::ctx::Ctx;

tokio::task_local! {
    /// The scope of the request being served on this task.
    static SCOPE: Scope;
}

/// One request's scope.
pub(crate) struct Scope {
    ctx: Arc<Ctx>,
    session: OnceCell<Session>,
    /// The typed session values the request handed out.
    pub(crate) typed: Slots,
}

impl Scope {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Scope {
            ctx,
            session: OnceCell::new(),
            typed: Slots::default(),
        }
    }

    /// The request's session, created on first use.
    pub(crate) fn session(&self) -> &Session {
        self.session.get_or_init(|| Session::new(self.ctx.clone()))
    }

    /// The middleware's context.
    pub(crate) fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    /// The format of session values.
    pub(crate) fn codec(&self) -> crate::codec::Codec {
        self.ctx.config.codec
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

/// The session of the request this task serves. Extractors find it here (inside the
/// middleware's inner service: handlers, their extractors, inner middleware); code on another
/// task gets a clone of the `Session` handle, which is `Send + Sync`.
pub(crate) fn current() -> Option<Session> {
    with(|scope| scope.session().clone())
}
