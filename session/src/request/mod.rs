//! One request's life with its session, in the order it happens. This module holds all of it;
//! the middleware around it only plumbs the actix `Service` and writes the response headers.
//!
//! 1. **Scope** ([`scope`]): the middleware runs the inner service inside a task-local scope.
//!    Nothing is read or allocated for the session until something asks for it.
//! 2. **Handle** ([`handle`]): the first extractor that asks creates the request's
//!    [`Session`] (an `Arc` shared by every clone) in the scope.
//! 3. **Load** ([`load`]): the state (cookie, header, query) gives the client's value; the
//!    store opens it and loads what the extractor needs ([`Fetch`](crate::store::Fetch)); an
//!    unknown, expired, tampered or revoked value gives a fresh session with a new id. The
//!    loaded session is [`Data`](data::Data): what the store gave, with this request's changes
//!    on top.
//! 4. **Write-back** ([`ledger`]): typed session values handed out are recorded; when the
//!    handler is done their changed values go into the session.
//! 5. **Plan** ([`plan`]): one pure function decides, from the options, the response's status
//!    and the data, what the store and the client get (the commit rules, as a table), and
//!    whether the store work waits for the end of a streamed body (`late_store`).
//! 6. **Commit** ([`commit`]): the plan carried out against the store (with the per-user work
//!    of [`users`]: "log out everywhere", the per-user cap), giving what the client must be
//!    told; with `late_store`, the same when the body ends.

pub(crate) mod commit;
pub(crate) mod data;
mod handle;
pub(crate) mod ledger;
pub(crate) mod load;
pub(crate) mod plan;
mod renew;
pub(crate) mod scope;
pub(crate) mod users;

pub(crate) use self::handle::Options;
pub(crate) use self::handle::Pending;
pub use self::handle::Session;
