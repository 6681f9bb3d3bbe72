//! [`SessionExt`]: the request's [`Session`](struct@Session) from an `HttpRequest`, a
//! `ServiceRequest` or a `ServiceResponse`, for middleware (where no extractor runs).

use std::future::Future;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::HttpRequest;

use crate::error::SessionError;
use crate::store::Fetch;
use crate::Session;

/// The request's [`Session`](struct@Session) from an [`HttpRequest`], a [`ServiceRequest`] or
/// a [`ServiceResponse`]: for a middleware, a `wrap_fn` closure or any code that has the
/// request but is no handler.
///
/// ```text
/// let session: Session = req.session().await?;
/// ```
///
/// It is the handle the [`Session`](struct@Session) extractor gives the handlers of the same
/// request (one handle per request, shared by every clone): loaded from the store on first use
/// (by whoever asks first), then every value read and changed synchronously. A change made
/// through it is saved by the middleware's commit at the end of the request, like a handler's,
/// by the [same rules](crate#when-the-session-is-written).
///
/// # Where it works: inside the session middleware
///
/// The session lives in a scope that [`SessionMiddleware`](crate::SessionMiddleware) opens
/// around the service it wraps, so your middleware must be *inside* it. In actix-web the last
/// `wrap` is the outermost, so register your middleware *before* the session middleware:
///
/// ```text
/// App::new()
///     .wrap(my_middleware)       // inside: can use the session
///     .wrap(session_middleware)  // outside: opens the session's scope
/// ```
///
/// There it works before your middleware calls the inner service
/// ([`ServiceRequest`]) and after it ([`ServiceResponse`]), and in `wrap_fn` closures
/// registered the same way. Outside (a middleware wrapped after the session middleware, or no
/// session middleware at all) `session()` fails with [`SessionError::NotInstalled`], as the
/// extractor does (logged at `error`; answered with `500` when returned as an error).
///
/// This cannot be checked when the app is built: actix-web composes middleware into nested
/// service types without a trait that says what a service provides, so an `App` does not know
/// at compile time which middleware wrap it (or a scope, or a route added from a `configure`
/// function elsewhere), and a request type (`ServiceRequest`, `HttpRequest`) is the same
/// inside and outside. The mistake shows on the first request instead, with the fix in the
/// error message (and in the body, in debug builds).
///
/// # Example: a middleware that counts visits, with no handler involved
///
/// ```
/// use actix_typed_session::{store::MemoryStore, SessionExt, SessionMiddleware};
/// use actix_web::body::MessageBody;
/// use actix_web::dev::{ServiceRequest, ServiceResponse};
/// use actix_web::middleware::{from_fn, Next};
/// use actix_web::{web, App, Error};
///
/// async fn count_visits(
///     req: ServiceRequest,
///     next: Next<impl MessageBody>,
/// ) -> Result<ServiceResponse<impl MessageBody>, Error> {
///     // Before the handler: it sees the new count.
///     req.session().await?.update_or("visits", 1u64, |n| n + 1)?;
///     let res = next.call(req).await?;
///     // After the handler: changes here are saved too.
///     res.session().await?.set("last_status", res.status().as_u16())?;
///     Ok(res)
/// }
///
/// let store = MemoryStore::default();
/// let app = App::new()
///     .wrap(from_fn(count_visits)) // inside the session middleware
///     .wrap(SessionMiddleware::new(store))
///     .route("/", web::get().to(|| async { "hello" }));
/// ```
///
/// # In `wrap_fn`: drop every clone of the request before calling the service
///
/// actix-web's router changes the request in place when the inner service is called, which
/// needs the request's inner `Rc` to be unshared: an [`HttpRequest`] clone alive across
/// `srv.call(req)` (`let r = req.request().clone();` kept until after the call) makes actix-web
/// panic there, with or without this crate. The future `session()` returns holds no clone of
/// the request (it reads the request's cookie when it is made; being `Send`, it cannot hold
/// one), and neither does a [`Session`](struct@Session), so they can be held across the call.
/// The same holds for every extractor of this crate started with `req.extract::<T>()` (a typed
/// session, [`Flash`](crate::Flash), [`CsrfToken`](crate::CsrfToken),
/// [`Sessions`](crate::Sessions); `every_extractor_can_start_before_the_service_is_called` in
/// `tests/http/session_ext.rs`).
/// A `wrap_fn` closure cannot await before calling the service (the service is only
/// borrowed), so start `session()`, call the service, and await both in the returned future;
/// the handler has not run until that future awaits the service's:
///
/// ```
/// use actix_typed_session::{store::MemoryStore, SessionExt, SessionMiddleware};
/// use actix_web::dev::Service as _;
/// use actix_web::{web, App};
///
/// let app = App::new()
///     .wrap_fn(|req, srv| {
///         let session = req.session(); // holds no clone of the request
///         let res = srv.call(req); // no `req.request().clone()` may be alive here
///         async move {
///             // Before the handler runs (its future has not been polled yet):
///             session.await?.update_or("visits", 1u64, |n| n + 1)?;
///             res.await
///         }
///     })
///     .wrap(SessionMiddleware::new(MemoryStore::default()))
///     .route("/", web::get().to(|| async { "hello" }));
/// ```
///
/// # Typed sessions
///
/// A typed session a handler changed (`#[derive(Session)]`) is written into the session when
/// the session middleware commits, after your middleware's code that runs after the handler: a
/// middleware reading that key there sees the value from before the handler, and a value it
/// sets under that key is overwritten by the handler's change.
///
/// # Guards
///
/// Not implemented for actix-web's `GuardContext`, on purpose. A guard is synchronous and runs
/// while the request is routed, before any handler; the session is loaded lazily from the
/// store, which is asynchronous, so in a guard it is almost never loaded yet, and a guard
/// cannot wait for it. (A getter that answered "only if already loaded" would be sound but
/// would depend on what ran before, and routing would change with it.) Instead:
///
/// - to allow a route only to signed-in users, take a typed session without `Default` as a
///   handler argument: it is a guard that answers `401` (or redirects) when its value is
///   absent (see [`typed`](crate::typed#absent-values-default-or-a-guard));
/// - to decide for many routes at once, write a middleware (above) that awaits `session()`
///   and answers without calling the inner service.
///
/// This trait is sealed: it is implemented for the three request types above only.
pub trait SessionExt: private::Sealed {
    /// The request's session, loaded with every value: the handle the
    /// [`Session`](struct@Session) extractor gives. Awaiting it costs at most one store load
    /// per request (none once a handler or another caller loaded the session).
    ///
    /// The request is read when this is called: the future neither borrows it nor holds a
    /// clone of it, so the request can be moved into the inner service's call while the future
    /// waits (see the
    /// [trait docs](SessionExt#in-wrap_fn-drop-every-clone-of-the-request-before-calling-the-service)).
    ///
    /// # Errors
    /// [`SessionError::NotInstalled`] when no [`SessionMiddleware`](crate::SessionMiddleware)
    /// wraps the code that calls it (it must wrap your middleware: register it after yours);
    /// [`SessionError::Store`] when the store fails to load the session.
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + Send + use<Self>;
}

impl SessionExt for HttpRequest {
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + Send + use<> {
        let started = crate::extract::start(self);
        async move {
            let (session, pending) = started?;
            if let Some(pending) = pending {
                session.load_pending(pending, Fetch::All).await?;
            }
            Ok(session)
        }
    }
}

impl SessionExt for ServiceRequest {
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + Send + use<> {
        self.request().session()
    }
}

impl<B> SessionExt for ServiceResponse<B> {
    fn session(&self) -> impl Future<Output = Result<Session, SessionError>> + Send + use<B> {
        self.request().session()
    }
}

mod private {
    /// Seals [`SessionExt`](super::SessionExt).
    pub trait Sealed {}

    impl Sealed for actix_web::HttpRequest {}
    impl Sealed for actix_web::dev::ServiceRequest {}
    impl<B> Sealed for actix_web::dev::ServiceResponse<B> {}
}
