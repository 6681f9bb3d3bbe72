//! [`ClientStore`]: a store that keeps nothing on the server, the whole session sealed in the
//! client's value; what that value is bound to ([`SealContext`]); and the object-safe twin.

use std::future::Future;

use super::{Handle, Meta, Record, StoreFuture, UserKey};
use crate::error::StoreError;
use crate::id::SessionId;

/// A store that keeps nothing on the server: the whole session travels sealed in the client's
/// value (a cookie, usually), as [`CookieStore`](super::CookieStore) does. The middleware seals
/// the session after every save or touch and opens it on every request that reads it.
///
/// The client's value must leave with the response head, so `late_store` does not apply to a
/// client-side store. Wrap a custom one in [`ClientSide`] to give it to the middleware.
pub trait ClientStore: Send + Sync + 'static {
    /// The session sealed for the client, to travel under `ctx` (and to open only there), or
    /// `None` when the client should keep the value it has (a session that cannot be encoded,
    /// when the store is set to keep the previous value).
    ///
    /// # Errors
    /// A session that cannot be sealed and must fail the response
    /// ([`StoreError::encode`]).
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<Option<String>, StoreError>;

    /// The session a client presented (already unquoted and percent-decoded), if it opens under
    /// `ctx`; `None` gives a fresh session (log why: a tampered value, another key, another
    /// name).
    fn open(&self, value: &str, ctx: &SealContext<'_>) -> Option<(SessionId, Record)>;

    /// What of the request a session should be bound to (for example a hash of the
    /// `User-Agent`), passed to [`open`](Self::open) and [`seal`](Self::seal) in the
    /// [`SealContext`]. Default: nothing.
    fn binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        let _ = req;
        None
    }

    /// Whether a session it opened (tied to a user) was revoked since it was sealed. Called
    /// after [`open`](Self::open) for sessions with a user. Default: `false`.
    fn revoked(&self, meta: &Meta) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = meta;
        async { Ok(false) }
    }

    /// Ends every session of `user` but the one with handle `except`, on every client (the
    /// cookie store keeps a "valid after" time per user in a server-side store for this).
    /// Default: [`StoreError::unsupported`].
    fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let _ = (user, except);
        async { Err(StoreError::unsupported("revoke a user's sessions")) }
    }
}

/// A custom [`ClientStore`], given to the middleware: `SessionMiddleware::new(ClientSide(store))`.
/// (The [`CookieStore`](super::CookieStore) needs no wrapper.)
#[derive(Debug, Clone)]
pub struct ClientSide<C>(pub C);

/// The kind of carrier a client's value travels in: a cookie, a request header or a query
/// parameter (the [state](crate::state) of the middleware, see
/// [`IdCarrier::kind`](crate::state::IdCarrier::kind)). Part of a [`SealContext`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CarrierKind {
    /// A cookie ([`CookieState`](crate::state::CookieState)); what [`SealContext::new`] assumes.
    #[default]
    Cookie,
    /// A request header ([`HeaderState`](crate::state::HeaderState), bearer tokens included).
    Header,
    /// A query parameter ([`QueryState`](crate::state::QueryState)).
    Query,
}

/// What a client's value is bound to, passed by the middleware to [`ClientStore::seal`] and
/// [`ClientStore::open`].
///
/// - [`name`](Self::name): the name the value travels under: the cookie name of a
///   [`CookieState`](crate::state::CookieState), the header name of a
///   [`HeaderState`](crate::state::HeaderState) (lower case), or the query parameter of a
///   [`QueryState`](crate::state::QueryState).
/// - [`kind`](Self::kind): which of the three it is ([`CarrierKind`]). The name alone does not
///   say: a cookie `sid`, a header `sid` and a query parameter `sid` have the same name.
/// - [`binding`](Self::binding): what [`ClientStore::binding`] returned for this request.
///
/// A store that seals its value (like [`CookieStore`](super::CookieStore)) authenticates all three along with it, so
/// a value issued under one name never opens under another (an app's `user_sid` presented as
/// its `admin_sid`), nor in another kind of carrier (the cookie `sid` of one middleware
/// presented as the query parameter `sid` of another), even when one store value serves both
/// middlewares (`tests/stores/cookie_store.rs` `a_sealed_cookie_never_opens_under_another_cookie_name`,
/// `a_sealed_value_never_opens_under_another_kind_of_carrier_of_the_same_name`).
///
/// Build one with [`SealContext::new`] (for tests, or a store that wraps another): a value in
/// a cookie, as before the kind existed, so code written for the name alone keeps meaning a
/// cookie; [`with_kind`](Self::with_kind) sets another kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealContext<'a> {
    pub(crate) name: &'a str,
    pub(crate) kind: CarrierKind,
    pub(crate) binding: Option<&'a [u8]>,
}

impl<'a> SealContext<'a> {
    /// A value travelling in the cookie `name`, bound to no client.
    pub fn new(name: &'a str) -> Self {
        SealContext {
            name,
            kind: CarrierKind::Cookie,
            binding: None,
        }
    }

    /// The same context with the client binding `binding`.
    pub fn with_binding(self, binding: Option<&'a [u8]>) -> Self {
        SealContext { binding, ..self }
    }

    /// The same context for a value travelling in a carrier of kind `kind` (a header or a query
    /// parameter named [`name`](Self::name)).
    pub fn with_kind(self, kind: CarrierKind) -> Self {
        SealContext { kind, ..self }
    }

    /// The cookie, header or query parameter name the value travels under.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Whether the value travels in a cookie, a header or a query parameter.
    pub fn kind(&self) -> CarrierKind {
        self.kind
    }

    /// The store's [`binding`](ClientStore::binding) of this request, if any.
    pub fn binding(&self) -> Option<&'a [u8]> {
        self.binding
    }
}

/// Object-safe twin of [`ClientStore`].
pub(crate) trait DynClient: Send + Sync + 'static {
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<Option<String>, StoreError>;
    fn open(&self, value: &str, ctx: &SealContext<'_>) -> Option<(SessionId, Record)>;
    fn binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>>;
    fn revoked<'a>(&'a self, meta: &'a Meta) -> StoreFuture<'a, bool>;
    fn revoke_all<'a>(
        &'a self,
        user: &'a UserKey,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, usize>;
}

impl<C: ClientStore> DynClient for C {
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<Option<String>, StoreError> {
        ClientStore::seal(self, id, record, ctx)
    }
    fn open(&self, value: &str, ctx: &SealContext<'_>) -> Option<(SessionId, Record)> {
        ClientStore::open(self, value, ctx)
    }
    fn binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        ClientStore::binding(self, req)
    }
    fn revoked<'a>(&'a self, meta: &'a Meta) -> StoreFuture<'a, bool> {
        Box::pin(ClientStore::revoked(self, meta))
    }
    fn revoke_all<'a>(
        &'a self,
        user: &'a UserKey,
        except: Option<&'a Handle>,
    ) -> StoreFuture<'a, usize> {
        Box::pin(ClientStore::revoke_all(self, user, except))
    }
}
