//! Typed sessions: a plain struct stored under one key of the session.
//!
//! `#[derive(Session)]` turns a `Serialize + Deserialize` type into a [`TypedSession`] and an
//! actix-web extractor. A handler takes it as an argument, changes it, and returns: the change is
//! saved, with no save call.
//!
//! ```
//! use actix_typed_session::{session, store::MemoryStore, Session, SessionMiddleware};
//! use actix_web::{test, web, App, HttpResponse, Responder};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Session, Serialize, Deserialize, Default)]
//! #[session(key = "cart")] // helpers go *below* the derive
//! struct Cart {
//!     items: Vec<String>,
//! }
//!
//! /// Persisted when the handler returns; no save call.
//! async fn add(mut cart: Cart, item: web::Path<String>) -> impl Responder {
//!     cart.items.push(item.into_inner());
//!     HttpResponse::Ok().body(cart.items.len().to_string())
//! }
//!
//! /// A handler that only reads stores nothing.
//! #[session(no_store)]
//! async fn count(cart: Cart) -> String {
//!     cart.items.len().to_string()
//! }
//!
//! # #[actix_web::main]
//! # async fn main() {
//! let store = MemoryStore::default();
//! let app = test::init_service(
//!     App::new()
//!         .wrap(SessionMiddleware::new(store.clone()))
//!         .route("/add/{item}", web::post().to(add))
//!         .route("/count", web::get().to(count)),
//! )
//! .await;
//! let res = test::call_service(&app, test::TestRequest::post().uri("/add/tea").to_request()).await;
//! let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
//! let id = cookie.split(';').next().unwrap().to_owned(); // "id=…"
//! assert_eq!(test::read_body(res).await, "1");
//!
//! let req = test::TestRequest::get().uri("/count").insert_header(("cookie", id)).to_request();
//! assert_eq!(test::call_and_read_body(&app, req).await, "1");
//! assert_eq!(store.len(), 1);
//! # }
//! ```
//!
//! # Absent values: `Default` or a guard
//!
//! - A type that implements `Default` is never absent: a session without the key gives
//!   `Default::default()`, and nothing is stored unless the handler changes it (a visitor who
//!   only looks at an empty cart gets no cookie).
//! - A type without `Default` is a **guard**: when the session does not hold it, the request is
//!   rejected with `401 Unauthorized` before the handler runs. `#[session(reject = 403)]` picks
//!   another status, `#[session(redirect = "/login")]` answers `303 See Other` to a page. Either
//!   attribute makes the type a guard even when it implements `Default`. A rejection is a
//!   [`SessionError::Rejected`], answered through the builder's
//!   [`error_response`](crate::SessionMiddlewareBuilder::error_response) when one is set (a JSON
//!   body and `WWW-Authenticate` for an API).
//! - A redirecting guard tells the page where the visitor was going: a `GET` (or `HEAD`) of
//!   `/account?tab=orders` is sent to `/login?next=/account%3Ftab%3Dorders`, so the login
//!   handler can bring them back after signing in. `next` comes back from the client, so check
//!   it with [`local_path`] before redirecting to it (anything else is an open redirect). Other
//!   methods get no `next`: a form posted while signed out cannot be replayed by a redirect.
//! - `#[session(redirect = "/login", flash = "Please sign in first.")]` also leaves that message
//!   (at [`Level::Warning`](crate::Level::Warning)) for the page the visitor is sent to, which
//!   shows it with [`Flash`](crate::Flash). It is set when the redirect is answered: an
//!   `Option<T>` that gets `None` sets nothing. Like any flash message it is kept in the
//!   session, so a visitor without one gets a session (one store write per redirect).
//! - `Option<User>` never rejects: it gives `None` when the value is absent.
//!
//! The generated code tells the two cases apart on the concrete type, so no attribute is needed.
//!
//! # Write-back rules
//!
//! The middleware runs the rest of the request (inner middleware, extractors, the handler and the
//! conversion of its return value into a response) inside a *request scope* (a
//! [`tokio::task_local!`] holding this request's session; nothing is shared between requests).
//! The derive gives the type a `Drop` impl that reports to that scope:
//!
//! 1. Only types that an extractor of **this request** handed out are written back. A value built
//!    by hand, read with [`Session::typed`](crate::Session::typed), or dropped in a request that
//!    did not extract its type never touches the session by being dropped.
//! 2. When the handler has finished, the session receives the value of the instances that were
//!    **extracted**, if their encoding differs from the value that was extracted. The extracted
//!    instances are the handler's arguments, and an `async fn` drops its arguments after
//!    everything its body created, so they are the last instances of the type dropped: when `n`
//!    were extracted, the last `n` dropped count. A temporary such as `if cart == Cart::default()`
//!    or a copy from `session.typed::<Cart>()` cannot overwrite them.
//!    Returning the value in the response (`web::Json(cart)`) works too: it is dropped, and
//!    compared, when the response is built. (A value of the type built by hand and returned in
//!    the response would be dropped last, and saved.)
//!
//!    Extracting the type twice (`(a: Cart, mut b: Cart)`) works in either order: the changed
//!    copy is saved. When two copies were changed *differently*, nothing of the request is saved
//!    and it answers `500` (the body names the type in debug builds; an error is logged in every
//!    build): there is no right way to pick one, and a `200` that drops data would be worse.
//! 3. Unchanged (same encoding as extracted): nothing is written, so an explicit
//!    `session.put(..)` in the same handler stands.
//! 4. The write happens before the commit, so `change_id` carries the new value to the new id,
//!    `no_store` drops it, `expire` discards it, and a 5xx response saves nothing — the same rules
//!    as every other change ([`crate::middleware`]).
//! 5. A value that fails to encode answers `500` (nothing is saved), like
//!    [`Session::set`](crate::Session::set) would.
//!
//! ## Limits
//!
//! - **No destructuring by move.** A type with a `Drop` impl cannot be taken apart by value:
//!   `let Cart { items } = cart;` is error E0509. Take fields out by reference or with
//!   `std::mem::take(&mut cart.items)` (which counts as a change). For the same reason the type
//!   cannot be `Copy` and cannot have a `Drop` impl of its own.
//! - **Values that escape the request are not saved.** A value moved into a spawned task, a
//!   response body stream or anything else that outlives the handler is dropped outside the
//!   request scope; its changes are lost. When a handler returns while an extracted value is still
//!   alive, a `tracing` warning says so. Use the untyped [`Session`](struct@crate::Session) handle (it is
//!   `Send + Sync`) with [`late_store`](crate::Session::late_store) for streaming bodies.
//! - **Extract once.** Two copies changed differently fail the request (rule 2). Middleware
//!   that only needs to look at the value should read it with `session.typed::<T>()`, which
//!   hands out a copy that is never written back.
//! - Values created or dropped outside a request (unit tests, background jobs) behave like any
//!   struct: their `Drop` does nothing.
//!
//! # Changing a type between deploys
//!
//! A stored value that no longer deserializes (a field was renamed, a type changed) is treated as
//! absent and logged with `tracing` at `warn`: the visitor gets `Default::default()` or the guard's
//! rejection, never a 500. It stays in the store untouched until the handler changes the value,
//! so servers still running the old version can read it during a rolling deploy. To migrate:
//!
//! - for an additive change, mark new fields `#[serde(default)]`: old values still load;
//! - for an incompatible change, **version the key**: `#[session(key = "cart_v2")]`. Old values
//!   are simply ignored and expire with their session.
//!
//! # Attribute order
//!
//! Write `#[derive(Session)]` first and `#[session(..)]` below it. Written above the derive,
//! `#[session(..)]` is ambiguous with the handler attribute [`session`](macro@crate::session)
//! when both are imported: error E0659, "`session` is ambiguous", whose `help` line suggests
//! `crate::session`. That is not the fix: move the line below the derive (see
//! [`derive@crate::Session`]).
use std::any::TypeId;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{ready, Future};
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use serde::{de::DeserializeOwned, Serialize};

use crate::codec::Codec;
use crate::error::{SessionError, StoreError};
use crate::session::{Options, Session};
use crate::store::Fetch;

/// A struct that lives in the session under one key.
///
/// Derive it with [`#[derive(Session)]`](macro@crate::Session), which also makes the type an
/// actix-web extractor, or implement it by hand to move a value in and out of a
/// [`Session`] with [`put`](crate::Session::put) and [`typed`](crate::Session::typed).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a typed session",
    label = "not a typed session",
    note = "add `#[derive(Session)]` to `{Self}` (with `Serialize` and `Deserialize`)"
)]
pub trait TypedSession: Serialize + DeserializeOwned {
    /// The session key the value is stored under (by convention the type name in snake_case).
    const KEY: &'static str;
}

/// What one request knows about the typed values it handed out (kept in its
/// [scope](crate::scope)).
#[derive(Default)]
pub(crate) struct Slots {
    slots: RefCell<Vec<Slot>>,
    /// A load error that an extractor reported but that `Option<T>` may have swallowed.
    failure: RefCell<Option<SessionError>>,
}

/// One typed session type extracted during the request.
struct Slot {
    type_id: TypeId,
    key: &'static str,
    type_name: &'static str,
    /// Encoding of the value handed out (`None`: it would not encode; any drop is a change).
    baseline: Option<Vec<u8>>,
    /// Encodings of the last `extracted` instances dropped in the scope, oldest first (`Err`:
    /// it would not encode). The extracted instances are the handler's arguments, which an
    /// `async fn` drops after everything its body created: they are the last ones dropped.
    recent: VecDeque<Result<Vec<u8>, String>>,
    extracted: usize,
    dropped: usize,
}

/// What the instances of one slot ask to be written.
enum WriteBack {
    /// Nothing changed.
    Nothing,
    /// One new value (every changed instance agrees on it).
    Value(Vec<u8>),
    /// A changed instance does not encode.
    Unencodable(String),
    /// Instances were changed to different values.
    Conflict,
}

impl Slot {
    fn write_back(self) -> WriteBack {
        let mut new: Option<Vec<u8>> = None;
        for encoded in self.recent {
            match encoded {
                Err(message) => return WriteBack::Unencodable(message),
                Ok(bytes) if self.baseline.as_ref() == Some(&bytes) => {}
                Ok(bytes) => match &new {
                    Some(other) if *other != bytes => return WriteBack::Conflict,
                    _ => new = Some(bytes),
                },
            }
        }
        new.map_or(WriteBack::Nothing, WriteBack::Value)
    }
}

impl Slots {
    /// Writes changed typed values back into the session, once the inner service has answered.
    ///
    /// An error means the response must not be committed: a value would not encode, or loading
    /// the session failed under an `Option<T>` extractor that hid the error from the app. With
    /// `expire` set, nothing is written and no error is reported (the logout must happen).
    pub(crate) fn finish(self, session: &Session) -> Result<(), SessionError> {
        let slots = self.slots.into_inner();
        let failure = self.failure.into_inner();
        if session.options().has(Options::EXPIRE) {
            return Ok(());
        }
        if let Some(err) = failure {
            return Err(err);
        }
        let mut result = Ok(());
        for slot in slots {
            if slot.extracted > slot.dropped {
                tracing::warn!(
                    key = slot.key,
                    type_name = slot.type_name,
                    "a typed session value extracted by this request was still alive when the \
                     handler returned (moved into a spawned task or a response body?): changes \
                     made to it from now on are not saved"
                );
            }
            let (key, type_name) = (slot.key, slot.type_name);
            match slot.write_back() {
                WriteBack::Nothing => {}
                WriteBack::Value(bytes) => {
                    let Some(mut data) = session.data() else {
                        continue;
                    };
                    // What `Session::set` does, with the bytes the `Drop` impl already encoded.
                    data.set(key.to_owned(), bytes.into());
                }
                WriteBack::Unencodable(message) => {
                    tracing::error!(
                        key,
                        type_name,
                        error = %message,
                        "typed session value cannot be encoded; nothing is saved"
                    );
                    result = Err(SessionError::Encode {
                        key: key.to_owned(),
                        source: message.into(),
                    });
                }
                WriteBack::Conflict => {
                    let err = SessionError::TypedConflict { key, type_name };
                    tracing::error!(key, type_name, "{err}");
                    result = Err(err);
                }
            }
        }
        result
    }
}

/// `target` if it is a path on this site, else `None`: for the `next` parameter that a
/// redirecting guard adds (see [above](self#absent-values-default-or-a-guard)), before a login
/// handler redirects to it.
///
/// Accepted: an absolute path (`/account`, `/search?q=tea`). Refused: anything that a browser
/// could resolve to another site or scheme (`https://evil.example`, `//evil.example`,
/// `/\evil.example`, `javascript:..`), relative paths, and control characters.
///
/// ```
/// use actix_typed_session::typed::local_path;
///
/// assert_eq!(local_path("/account?tab=orders"), Some("/account?tab=orders"));
/// assert_eq!(local_path("//evil.example/"), None);
/// assert_eq!(local_path("https://evil.example/"), None);
/// assert_eq!(local_path("/\\evil.example"), None);
/// let next = local_path("//evil.example").unwrap_or("/"); // fall back to the home page
/// # assert_eq!(next, "/");
/// ```
pub fn local_path(target: &str) -> Option<&str> {
    let rest = target.strip_prefix('/')?;
    let safe = !rest.starts_with('/')
        && !target.contains('\\')
        && target.bytes().all(|b| (0x21..0x7f).contains(&b));
    safe.then_some(target)
}

/// What of a path-and-query stays as it is in the `next` parameter.
const NEXT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `location` with `next=<the request's path and query>` added, for a `GET` or `HEAD`.
fn with_next(location: &str, req: &HttpRequest) -> String {
    let method = req.method();
    if method != actix_web::http::Method::GET && method != actix_web::http::Method::HEAD {
        return location.to_owned();
    }
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", actix_web::http::uri::PathAndQuery::as_str);
    let join = if location.contains('?') { '&' } else { '?' };
    format!(
        "{location}{join}next={}",
        percent_encoding::utf8_percent_encode(target, NEXT)
    )
}

impl Slots {
    /// Records a value an extractor hands out. The first extraction of a type sets the baseline
    /// that the dropped instances are compared with.
    fn register<T: TypedSession + 'static>(&self, codec: Codec, value: &T) {
        let mut slots = self.slots.borrow_mut();
        match slots.iter_mut().find(|s| s.type_id == TypeId::of::<T>()) {
            Some(slot) => slot.extracted += 1,
            None => slots.push(Slot {
                type_id: TypeId::of::<T>(),
                key: T::KEY,
                type_name: std::any::type_name::<T>(),
                baseline: codec.encode(value).ok(),
                recent: VecDeque::with_capacity(1),
                extracted: 1,
                dropped: 0,
            }),
        }
    }

    /// Records the encoding of an instance dropped in the scope; only the last `extracted` ones
    /// are kept (rule 2).
    fn dropped<T: TypedSession + 'static>(&self, codec: Codec, value: &T) {
        // A drop while the slots are borrowed can only come from our own code: ignore it.
        let Ok(mut slots) = self.slots.try_borrow_mut() else {
            return;
        };
        let Some(slot) = slots.iter_mut().find(|s| s.type_id == TypeId::of::<T>()) else {
            return;
        };
        slot.dropped += 1;
        let encoded = codec.encode(value);
        if slot.recent.len() == slot.extracted {
            slot.recent.pop_front();
        }
        slot.recent.push_back(encoded.map_err(|e| e.to_string()));
    }

    fn fail(&self, err: &SessionError) {
        let copy = SessionError::Store(StoreError::msg(err.to_string()));
        self.failure.borrow_mut().get_or_insert(copy);
    }
}

/// Hidden support for the code that `#[derive(Session)]` and `#[session(..)]` generate.
/// Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub use crate::csrf::CsrfCheck;
    pub use actix_web;

    /// Flags of `#[session(..)]` on a handler.
    pub const EXPIRE: u8 = Options::EXPIRE;
    /// See [`EXPIRE`].
    pub const CHANGE_ID: u8 = Options::CHANGE_ID;
    /// See [`EXPIRE`].
    pub const NO_STORE: u8 = Options::NO_STORE;
    /// See [`EXPIRE`].
    pub const LATE_STORE: u8 = Options::LATE_STORE;

    /// The response of a guard whose value is absent.
    #[derive(Debug, Clone, Copy)]
    pub enum Reject {
        /// Answer with this status.
        Status(u16),
        /// Answer `303 See Other` to this location.
        Redirect(&'static str),
        /// Answer `303 See Other` to this location, with this flash message (at
        /// [`Level::Warning`](crate::Level::Warning)) for the page it leads to.
        RedirectWithFlash(&'static str, &'static str),
    }

    impl Reject {
        /// The rejection as a [`SessionError::Rejected`], answered through the builder's
        /// renderer.
        fn error(self, key: &'static str, req: &HttpRequest) -> SessionError {
            match self {
                Reject::Status(code) => SessionError::Rejected {
                    key,
                    status: StatusCode::from_u16(code).unwrap_or(StatusCode::UNAUTHORIZED),
                    location: None,
                },
                Reject::Redirect(location) | Reject::RedirectWithFlash(location, _) => {
                    SessionError::Rejected {
                        key,
                        status: StatusCode::SEE_OTHER,
                        location: Some(with_next(location, req)),
                    }
                }
            }
        }

        /// The flash message that goes with the rejection, if any.
        fn flash(self) -> Option<&'static str> {
            match self {
                Reject::RedirectWithFlash(_, text) => Some(text),
                Reject::Status(_) | Reject::Redirect(_) => None,
            }
        }
    }

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
        let Some(session) = crate::scope::current() else {
            tracing::error!(
                key = T::KEY,
                type_name = std::any::type_name::<T>(),
                "typed session extracted: {}",
                SessionError::NotInstalled
            );
            return Box::pin(ready(Err(SessionError::NotInstalled.into())));
        };
        let req = req.clone();
        Box::pin(async move {
            // Only this type's key: a typed extractor reads nothing else. A guard that leaves a
            // flash message also reads the messages already waiting, so it adds to them.
            let flashes = matches!(&absent, Absent::Reject(r) if r.flash().is_some());
            let keys: &[&str] = if flashes {
                &[T::KEY, crate::flash::FLASH_KEY]
            } else {
                &[T::KEY]
            };
            if let Err(err) = session.ensure(&req, Fetch::Keys(keys)).await {
                crate::scope::with(|scope| scope.typed.fail(&err));
                return Err(session.0.ctx.config.rendered(err).into());
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
                    let err = reject.error(T::KEY, &req);
                    let mut err = session.0.ctx.config.rendered(err);
                    if let Some(text) = reject.flash() {
                        err = err.with_flash(crate::Flash::of(&req, session.clone()), text);
                    }
                    return Err(err.into());
                }
            };
            if crate::scope::with(|scope| scope.typed.register(scope.codec(), &value)).is_none() {
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
        crate::scope::with(|scope| scope.typed.dropped(scope.codec(), value));
    }

    /// The first statement of a handler with `#[session(..)]`.
    pub fn handler_options(flags: u8) {
        let set = crate::scope::with(|scope| scope.session().set_option(flags));
        if set.is_none() {
            tracing::error!(
                "a #[session(..)] handler ran outside SessionMiddleware, so its options are \
                 ignored: wrap the App or scope with SessionMiddleware"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn local_paths_pass_and_everything_else_is_refused() {
        for ok in ["/", "/account", "/search?q=tea&page=2", "/a/b%20c#frag"] {
            assert_eq!(local_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "account",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "/a\\b",
            "https://evil.example/",
            "javascript:alert(1)",
            " /account",
            "/acc ount",
            "/a\r\nSet-Cookie: x=1",
            "/caf\u{e9}",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
