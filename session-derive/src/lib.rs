//! The macros of [actix-typed-session]: `#[derive(Session)]` and the `#[session(..)]` handler
//! attribute. Depend on `actix-typed-session`, which re-exports both; this crate is an
//! implementation detail and its generated code only calls `actix_typed_session::__private`.
//!
//! [actix-typed-session]: https://docs.rs/actix-typed-session
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate proc_macro;

mod attr;
mod case;
mod derive;
mod errors;
mod names;

use proc_macro::TokenStream;

/// Makes a `Serialize + Deserialize` type a typed session: a value stored under one key of the
/// session, taken by handlers as an argument and saved when they return.
///
/// ```
/// use actix_typed_session::{session, Session};
/// use actix_web::{web, HttpResponse, Responder};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Session, Serialize, Deserialize, Default)]
/// #[session(key = "cart")]            // below the derive (above it: error E0659)
/// struct Cart {
///     items: Vec<String>,
/// }
///
/// // Implements `Default`: a visitor without a cart gets an empty one.
/// async fn add(mut cart: Cart, item: web::Path<String>) -> impl Responder {
///     cart.items.push(item.into_inner()); // saved when the handler returns
///     HttpResponse::Ok()
/// }
///
/// // No `Default`: a guard. Absent → 401 (or `reject = 403`, or `redirect = "/login"`).
/// #[derive(Session, Serialize, Deserialize)]
/// struct User {
///     id: u64,
/// }
///
/// async fn me(user: User) -> String {
///     user.id.to_string()
/// }
///
/// async fn hello(user: Option<User>) -> String {
///     match user {
///         Some(user) => format!("hello, user {}", user.id),
///         None => "hello, stranger".to_owned(),
///     }
/// }
/// ```
///
/// # Generated items
///
/// - `TypedSession` with `KEY` = the type name in snake_case (`ShoppingCart` → `"shopping_cart"`)
///   or the `key` attribute; `session.put(value)` and `session.typed::<T>()` use it.
/// - `actix_web::FromRequest`: loads the session (once per request), decodes the value, and
///   when absent gives `Default::default()` (types implementing `Default`) or rejects (guards).
///   A stored value that does not decode is treated as absent and logged, never a 500.
/// - `Drop`, which writes a changed value back into the request's session. Hence such a type
///   cannot be destructured by move, be `Copy`, or have a `Drop` of its own. The rules and
///   limits are in the docs of `actix_typed_session::typed`.
///
/// # Attributes (below the derive)
///
/// | attribute | effect |
/// |---|---|
/// | `#[session(key = "cart_v2")]` | the session key (default: the type name in snake_case) |
/// | `#[session(reject = 403)]` | a guard answering this status (400–599) when absent |
/// | `#[session(redirect = "/login")]` | a guard answering `303 See Other` to this location |
/// | `#[session(redirect = "/login", flash = "Please sign in.")]` | the same, leaving a flash message (at `Level::Warning`) for the page it leads to |
///
/// `reject` and `redirect` make the type a guard even if it implements `Default`. A `redirect`
/// guard adds `?next=<the page asked for>` to `GET` and `HEAD` redirects; check it with
/// `actix_typed_session::typed::local_path` before sending anyone there.
/// With `flash`, the rejection also sets the message in the visitor's session (so it costs one
/// store write, and gives a visitor without a session one), and the page it leads to shows it
/// with `actix_typed_session::Flash`.
///
/// # Error E0659: write the helper below the derive
///
/// Written above `#[derive(Session)]`, `#[session(..)]` names both the derive's helper and the
/// handler attribute `session` (when both are imported), and rustc answers:
///
/// ```text
/// error[E0659]: `session` is ambiguous
///   |
/// 5 | #[session(key = "cart")]
///   |   ^^^^^^^ ambiguous name
///   |
///   = note: ambiguous because of a name conflict with a derive helper attribute
///   ...
///   = help: use `crate::session` to refer to this attribute macro unambiguously
/// ```
///
/// The `help` points the wrong way: the fix is the order, not a path. Move `#[session(..)]` to
/// the line below `#[derive(Session)]`, as in the example above.
///
/// Structs (named, tuple or unit) and enums are supported. Generic parameters, lifetimes and
/// unions are compile errors: a typed session has one fixed key and is deserialized into an owned
/// value.
#[proc_macro_derive(Session, attributes(session))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    derive::expand(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Per-request session options on a handler: `change_id`, `expire`, `no_store`, `late_store`,
/// and the CSRF check `csrf`.
///
/// ```
/// use actix_typed_session::{session, Session, SessionError};
/// use actix_web::{get, post, web, HttpResponse, Responder};
/// # #[derive(Session, serde::Serialize, serde::Deserialize)]
/// # struct User { id: u64 }
///
/// /// Login: a new session id against fixation; the data moves along.
/// #[post("/login")]
/// #[session(change_id)]
/// async fn login(session: Session) -> Result<HttpResponse, SessionError> {
///     session.put(User { id: 7 })?;
///     Ok(HttpResponse::SeeOther().insert_header(("location", "/")).finish())
/// }
///
/// /// Logout: the store forgets the session, the client drops its cookie.
/// #[session(expire)]
/// #[get("/logout")]
/// async fn logout() -> impl Responder {
///     "bye"
/// }
///
/// /// Plain handlers for `web::resource(..).to(..)` work too.
/// #[session(change_id, late_store)]
/// async fn renew(session: Session) -> impl Responder {
///     HttpResponse::Ok()
/// }
/// # fn _routes() { let _ = web::resource("/renew").to(renew); }
/// ```
///
/// | option | effect when the request ends |
/// |---|---|
/// | `change_id` | the data moves to a new id; the old id stops working (use on login) |
/// | `expire` | the store forgets the session and the client's cookie is removed (logout) |
/// | `no_store` | nothing this request changed is saved (previews) |
/// | `late_store` | saving waits until a streamed body has been sent |
/// | `csrf` | before the handler runs: any method but GET, HEAD, OPTIONS and TRACE without a valid token is answered 403 |
/// | `fresh = "10m"` | before the handler runs (after `csrf`): a session whose user signed in or passed [`Session::mark_authenticated`](https://docs.rs/actix-typed-session/latest/actix_typed_session/struct.Session.html#method.mark_authenticated) longer ago is sent to the builder's `confirm_path` (`303`, with `?next=` for a GET) or answered `401` (step-up); units `s`, `m`, `h`, `d`, e.g. `"90s"`, `"1h30m"` |
///
/// Any comma-separated combination that means something is accepted; one where an option would
/// do nothing is an error: `expire` beats every other option, `change_id` saves even with
/// `no_store`, and `no_store` leaves nothing for `late_store` to delay. So the one useful pair of
/// the saving options is `#[session(change_id, late_store)]`; `csrf` goes with any of them
/// (`#[session(csrf, change_id)]` on a login form's handler, `#[session(csrf, expire)]` on logout).
///
/// `csrf` adds a first extractor to the handler: every method but the safe GET, HEAD, OPTIONS
/// and TRACE (POST, PUT, PATCH, DELETE, but also `PROPFIND`, `PURGE`, an extension method or a
/// lowercase `post`, on a route that takes them) needs a masked form of the session's token (`CsrfToken`) in the header `X-CSRF-Token` or, in an
/// `application/x-www-form-urlencoded` body, the field `csrf_token` (the body is read and handed
/// on, so the handler's `web::Form` still gets it); otherwise the answer is `403 Forbidden`
/// (a `SessionError::Rejected`, answered through the builder's `error_response` when one is
/// set; a short text body by default). The four safe methods pass. A `multipart/form-data` body (a file
/// upload) is not read: send the token in the header, or leave `csrf` off that handler and
/// check the field your multipart parser reads with `CsrfToken::verify`.
///
/// The options are set when the handler starts running (as if its first statement called
/// `session.change_id()` etc.), so a request rejected by an extractor before the handler runs is
/// not affected. The attribute works above or below actix-web's `#[get]`/`#[post]`/`#[route]`
/// and keeps the function's doc comments, other attributes, visibility, generics and signature.
/// It needs the route to be wrapped in `SessionMiddleware` (otherwise the options are ignored
/// and an error is logged).
#[proc_macro_attribute]
pub fn session(args: TokenStream, item: TokenStream) -> TokenStream {
    let tokens = proc_macro2::TokenStream::from(item.clone());
    match attr::expand(args.into(), tokens) {
        Ok(output) => output.into(),
        Err(err) => {
            // Keep the item so the rest of the crate (and the IDE) still sees the handler.
            let mut output = item;
            output.extend(TokenStream::from(err.into_compile_error()));
            output
        }
    }
}
