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
//!   another status, `#[session(redirect = "/login")]` answers `303 See Other` to a page (but
//!   `401` under a middleware whose id travels in a header, `HeaderState`: an API client does
//!   not follow a login page). Either
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
pub(crate) mod guard;
#[doc(hidden)]
pub mod private;

use serde::{de::DeserializeOwned, Serialize};

pub use self::guard::local_path;
use crate::error::SessionError;
use crate::Session;

/// A struct that lives in the session under one key.
///
/// Derive it with [`#[derive(Session)]`](macro@crate::Session), which also makes the type an
/// actix-web extractor, or implement it by hand to move a value in and out of a
/// [`Session`](struct@crate::Session) with [`put`](crate::Session::put) and
/// [`typed`](crate::Session::typed).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a typed session",
    label = "not a typed session",
    note = "add `#[derive(Session)]` to `{Self}` (with `Serialize` and `Deserialize`)"
)]
pub trait TypedSession: Serialize + DeserializeOwned {
    /// The session key the value is stored under (by convention the type name in snake_case).
    const KEY: &'static str;
}

impl Session {
    /// Stores a typed session value under its key ([`TypedSession::KEY`]).
    ///
    /// # Errors
    /// [`SessionError::Encode`] when it cannot be serialized.
    pub fn put<T: TypedSession>(&self, value: T) -> Result<(), SessionError> {
        self.set(T::KEY, value)
    }

    /// A copy of the typed session value stored under [`TypedSession::KEY`] (absent, or not
    /// decodable as `T`: `None`).
    ///
    /// # Errors
    /// None today; see [`get`](Self::get).
    pub fn typed<T: TypedSession>(&self) -> Result<Option<T>, SessionError> {
        self.get(T::KEY)
    }
}
