//! The [`Session`] handle's core: one request's session state (options, whether it was
//! committed, the data once loaded), shared by every clone of the handle. The handle's public
//! methods are in the `session` module; this part is what the request's lifecycle works with.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::HttpRequest;
use tokio::sync::OnceCell;

use super::data::Data;
use super::load::Presented;
use crate::ctx::Ctx;
use crate::error::SessionError;
use crate::events::{Rejection, SessionEvent, SessionEventKind};
use crate::middleware::render::RenderedError;
use crate::store::Fetch;

/// Per-request options, Plack's `psgix.session.options` as flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options(u8);

impl Options {
    pub(crate) const EXPIRE: u8 = 1;
    pub(crate) const CHANGE_ID: u8 = 2;
    pub(crate) const NO_STORE: u8 = 4;
    pub(crate) const LATE_STORE: u8 = 8;
    /// Every session of this session's user ends, this one too (with `EXPIRE`).
    pub(crate) const EXPIRE_ALL: u8 = 16;
    /// Every session of this session's user but this one ends.
    pub(crate) const EXPIRE_OTHERS: u8 = 32;
    /// No handler used the session: the middleware loaded it only to count the request as
    /// activity (`refresh_on_every_request`).
    pub(crate) const REFRESH_ONLY: u8 = 64;

    pub(crate) fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }
}

/// A load still to do, with what the request presented for it (`None`: the session is loaded,
/// values are missing).
#[derive(Clone)]
pub(crate) struct Pending(Option<Presented>);

/// State of one request's session, shared by every handle of that request.
pub(crate) struct RequestSession {
    pub(crate) ctx: Arc<Ctx>,
    options: AtomicU8,
    /// The middleware has committed; later changes cannot be saved.
    committed: AtomicBool,
    data: OnceCell<Mutex<Data>>,
}

/// The session of the current request.
///
/// Take it as a handler argument (a middleware gets the same handle from
/// [`SessionExt::session`](crate::SessionExt::session)); it is loaded from the store the first
/// time a handler or extractor of the request asks for it (never before), and saved by the
/// middleware when the handler returns, following the commit rules of [`crate::middleware`].
/// All methods are synchronous once extracted.
///
/// Values are encoded per key (JSON by default). A value read is a copy: changing it changes
/// nothing until it is [`set`](Self::set) back. Every method that changes data marks the session
/// changed.
///
/// `Session` is `Send + Sync` and cheap to clone, so it can go into an async-graphql or juniper
/// context. Changes made after the response was committed (from a spawned task that outlived the
/// request) are not saved; use [`late_store`](Self::late_store) for streaming responses.
#[derive(Clone)]
pub struct Session(pub(crate) Arc<RequestSession>);

impl Session {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Session(Arc::new(RequestSession {
            ctx,
            options: AtomicU8::new(0),
            committed: AtomicBool::new(false),
            data: OnceCell::new(),
        }))
    }

    /// Loads the session of `req` unless already loaded, with at least the values `fetch` asks
    /// for (a typed extractor asks for its key, the untyped handle for every value).
    ///
    /// `req` is read now; the future holds no clone of it (see [`Presented`]).
    pub(crate) fn ensure<'a>(
        &'a self,
        req: &HttpRequest,
        fetch: Fetch<'a>,
    ) -> impl Future<Output = Result<(), SessionError>> + 'a {
        let pending = self.pending(req, fetch);
        async move {
            match pending {
                Some(pending) => self.load_pending(pending, fetch).await,
                None => Ok(()),
            }
        }
    }

    /// What is left to load for `fetch`, `None` when nothing is: the synchronous half of
    /// [`ensure`](Self::ensure), which reads the request.
    pub(crate) fn pending(&self, req: &HttpRequest, fetch: Fetch<'_>) -> Option<Pending> {
        match self.data() {
            Some(data) => data.needs(fetch).then_some(Pending(None)),
            None => Some(Pending(Some(Presented::read(&self.0.ctx, req)))),
        }
    }

    /// The asynchronous half of [`ensure`](Self::ensure): loads what `pending` says is left.
    pub(crate) async fn load_pending(
        &self,
        pending: Pending,
        fetch: Fetch<'_>,
    ) -> Result<(), SessionError> {
        let inner = &self.0;
        if let Pending(Some(presented)) = pending {
            let mut first = false;
            inner
                .data
                .get_or_try_init(|| {
                    first = true;
                    async {
                        super::load::load(&inner.ctx, presented, fetch)
                            .await
                            .map(Mutex::new)
                    }
                })
                .await?;
            if first {
                return Ok(());
            }
        }
        // Loaded (by this request's other extractor meanwhile, maybe): only values may be
        // missing.
        let id = {
            let data = self.guard();
            if !data.needs(fetch) {
                return Ok(());
            }
            data.id().clone()
        };
        // Locks are never held across a store call.
        let more = inner.ctx.backend.load(&id, fetch).await.map_err(|e| {
            tracing::error!(session = %id.log_tag(), error = %e, "session load failed");
            SessionError::Store(e)
        })?;
        self.guard().merge(fetch, more);
        Ok(())
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.0.data.initialized()
    }

    /// The loaded data, if any handler asked for the session.
    pub(crate) fn data(&self) -> Option<MutexGuard<'_, Data>> {
        self.0.data.get().map(lock)
    }

    pub(crate) fn options(&self) -> Options {
        Options(self.0.options.load(Ordering::Acquire))
    }

    pub(crate) fn set_option(&self, flag: u8) {
        self.0.options.fetch_or(flag, Ordering::AcqRel);
    }

    pub(crate) fn mark_committed(&self) {
        self.0.committed.store(true, Ordering::Release);
    }

    /// The data, for a change: warns when the change comes too late to be saved.
    pub(crate) fn guard_mut(&self) -> MutexGuard<'_, Data> {
        if self.0.committed.load(Ordering::Acquire) {
            let data = self.guard();
            tracing::warn!(
                session = %data.id().log_tag(),
                "session changed after the response was committed; this change is not saved \
                 (a handle kept past the request? use late_store for streaming bodies)"
            );
            return data;
        }
        self.guard()
    }

    pub(crate) fn guard(&self) -> MutexGuard<'_, Data> {
        // Every public handle was produced by the extractor, which loads first.
        self.data()
            .expect("a Session handle is only handed out once loaded")
    }

    pub(crate) fn codec(&self) -> crate::codec::Codec {
        self.0.ctx.config.codec
    }

    /// The middleware's store and settings.
    pub(crate) fn ctx(&self) -> &Arc<Ctx> {
        &self.0.ctx
    }

    /// `err` as an actix-web error answered with the response the builder chose; a rejection
    /// is reported as an event when (and only if) it is answered.
    pub(crate) fn rendered(&self, err: SessionError) -> RenderedError {
        let config = &self.0.ctx.config;
        let rejection = match &err {
            SessionError::Rejected { key, .. } if config.events.listening() => Some(match *key {
                crate::keys::CSRF_SESSION_KEY => Rejection::Csrf,
                crate::keys::AUTH_KEY => Rejection::StepUp,
                crate::keys::DBSC_KEY => Rejection::DeviceBound,
                key => Rejection::Guard(key),
            }),
            _ => None,
        };
        let rendered = config.rendered(err);
        match rejection {
            None => rendered,
            Some(rejection) => {
                let session = self.clone();
                rendered.on_answer(move || {
                    let ctx = session.ctx();
                    let at = ctx.config.clock.now_millis();
                    let kind = SessionEventKind::Rejected(rejection);
                    let data = session.data();
                    ctx.config.events.emit(kind, 1, || {
                        SessionEvent::new(kind, at).of(data.as_ref().and_then(|d| d.user()))
                    });
                })
            }
        }
    }
}

fn lock(m: &Mutex<Data>) -> MutexGuard<'_, Data> {
    // A panic while the lock was held cannot leave Data half-updated in a way that matters
    // more than losing the request; keep serving rather than poisoning every later call.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
