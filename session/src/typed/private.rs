//! Hidden support for the code that `#[derive(Session)]` and `#[session(..)]` generate (the
//! crate root re-exports it as `__private`). Not a public API: it changes without notice.

use std::future::{ready, Future};
use std::pin::Pin;

use actix_web::HttpRequest;

use super::guard::Target;

use super::TypedSession;
use crate::error::SessionError;
use crate::request::Options;
use crate::store::Fetch;

pub use crate::csrf::CsrfCheck;
pub use crate::step_up::Fresh;
pub use actix_web;

/// Flags of `#[session(..)]` on a handler.
pub const EXPIRE: u8 = Options::EXPIRE;
/// See [`EXPIRE`].
pub const CHANGE_ID: u8 = Options::CHANGE_ID;
/// See [`EXPIRE`].
pub const NO_STORE: u8 = Options::NO_STORE;
/// See [`EXPIRE`].
pub const LATE_STORE: u8 = Options::LATE_STORE;

pub use super::guard::Reject;

/// The future of a typed session extractor.
pub type ExtractFuture<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

/// What a typed extractor does when the session does not hold the value.
pub enum Absent<T> {
    /// Hand out this value (a `Default` type).
    Default(fn() -> T),
    /// Reject the request (a guard).
    Reject(Reject),
}

impl<T> Absent<T> {
    /// Guard: answer with this status.
    pub const fn status(code: u16) -> Self {
        Absent::Reject(Reject::Status(code))
    }

    /// Guard: answer `303 See Other` to this location.
    pub const fn redirect(location: &'static str) -> Self {
        Absent::Reject(Reject::Redirect(location))
    }

    /// Guard: answer `303 See Other` to this location and leave a flash message (at
    /// [`Level::Warning`](crate::Level::Warning)) for the page it leads to.
    pub const fn redirect_with_flash(location: &'static str, text: &'static str) -> Self {
        Absent::Reject(Reject::RedirectWithFlash(location, text))
    }
}

/// Picks [`Absent`] for a concrete type by autoref specialization:
/// `(&Probe::<T>::new()).absent()` resolves to [`ViaDefault`] when `T: Default`, and to
/// [`ViaGuard`] otherwise.
pub struct Probe<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// The probe.
    #[allow(clippy::new_without_default)] // only generated code builds it, with `new`
    pub const fn new() -> Self {
        Probe(std::marker::PhantomData)
    }
}

/// `T: Default`: absent gives the default.
pub trait ViaDefault<T> {
    /// See [`Probe`].
    fn absent(&self) -> Absent<T>;
}

impl<T: Default> ViaDefault<T> for Probe<T> {
    fn absent(&self) -> Absent<T> {
        Absent::Default(T::default)
    }
}

/// Any other `T`: absent is rejected with 401.
pub trait ViaGuard<T> {
    /// See [`Probe`].
    fn absent(&self) -> Absent<T>;
}

impl<T> ViaGuard<T> for &Probe<T> {
    fn absent(&self) -> Absent<T> {
        Absent::status(401)
    }
}

/// `FromRequest::from_request` of a derived type.
pub fn extract<T: TypedSession + 'static>(
    req: &HttpRequest,
    absent: Absent<T>,
) -> ExtractFuture<T> {
    let Some(session) = crate::request::scope::current() else {
        tracing::error!(
            key = T::KEY,
            type_name = std::any::type_name::<T>(),
            "typed session extracted: {}",
            SessionError::NotInstalled
        );
        return Box::pin(ready(Err(SessionError::NotInstalled.into())));
    };
    // Only this type's key: a typed extractor reads nothing else. A guard that leaves a flash
    // message also reads the messages already waiting, so it adds to them.
    let flashes = matches!(&absent, Absent::Reject(r) if r.flash().is_some());
    let keys: &[&str] = if flashes {
        &[T::KEY, crate::keys::FLASH_KEY]
    } else {
        &[T::KEY]
    };
    // The request is read now, and a guard keeps only what its answer needs: the future holds
    // no clone of the request (a middleware may extract this before it calls the inner
    // service, whose router needs the request unshared).
    let pending = session.pending(req, Fetch::Keys(keys));
    let target = matches!(&absent, Absent::Reject(_)).then(|| Target::of(req));
    let flash = flashes.then(|| crate::Flash::of(req, session.clone()));
    Box::pin(async move {
        if let Some(pending) = pending {
            if let Err(err) = session.load_pending(pending, Fetch::Keys(keys)).await {
                crate::request::scope::with(|scope| scope.typed.fail(&err));
                return Err(session.rendered(err).into());
            }
        }
        // `get` logs a value that does not decode (key, type and kind of failure; never the
        // value) and reads it as absent.
        let stored = session.get::<T>(T::KEY).unwrap_or_else(|err| {
            tracing::warn!(
                key = T::KEY,
                type_name = std::any::type_name::<T>(),
                error_kind = crate::codec::error_kind(&err),
                "stored typed session value could not be read: treated as absent"
            );
            None
        });
        let value = match (stored, absent) {
            (Some(value), _) => value,
            (None, Absent::Default(default)) => default(),
            (None, Absent::Reject(reject)) => {
                tracing::debug!(key = T::KEY, ?reject, "typed session guard: value absent");
                // An API (the id in a header, e.g. a bearer token) does not follow a redirect
                // to a login page: it gets 401.
                let reject = if session.ctx().config.state.is_header() {
                    reject.for_api()
                } else {
                    reject
                };
                let target = target.unwrap_or_default();
                let err = reject.error(T::KEY, &target);
                let mut err = session.rendered(err);
                if let (Some(text), Some(flash)) = (reject.flash(), flash) {
                    err = err.on_answer(move || flash.warning(text));
                }
                return Err(err.into());
            }
        };
        if crate::request::scope::with(|scope| scope.typed.register(T::KEY, scope.codec(), &value))
            .is_none()
        {
            tracing::warn!(
                key = T::KEY,
                "typed session extracted outside the request's task: changes to it are not \
                 saved"
            );
        }
        Ok(value)
    })
}

/// `Drop::drop` of a derived type.
pub fn dropped<T: TypedSession + 'static>(value: &T) {
    crate::request::scope::with(|scope| scope.typed.dropped(scope.codec(), value));
}

/// The first statement of a handler with `#[session(..)]`.
pub fn handler_options(flags: u8) {
    let set = crate::request::scope::with(|scope| scope.session().set_option(flags));
    if set.is_none() {
        tracing::error!(
            "a #[session(..)] handler ran outside SessionMiddleware, so its options are \
             ignored: wrap the App or scope with SessionMiddleware"
        );
    }
}
