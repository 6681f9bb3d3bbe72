//! Test helpers for apps and store authors (feature `test-helpers`).
//!
//! # Testing an app: sessions put in place and read back
//!
//! [`TestSession`] puts a session in place before a request — values, typed values, a user —
//! on any store (the cookie store seals it), and gives the `Cookie` header that carries it:
//! a test of a guarded page needs no login request. [`PutSession::after`] (or
//! [`TestSession::read`]) reads what the response left behind ([`SessionAfter`]): the session
//! cookie and its attributes, whether it was rotated or expired, and the session's values.
//!
//! ```
//! use actix_typed_session::testing::TestSession;
//! use actix_typed_session::{session, store::MemoryStore, Session, SessionError, SessionMiddleware};
//! use actix_web::{get, http::StatusCode, post, test, App, HttpResponse};
//! use serde::{Deserialize, Serialize};
//!
//! /// A guard: no `Default`, so a request without it is answered 401.
//! #[derive(Session, Serialize, Deserialize)]
//! struct User {
//!     id: u32,
//! }
//!
//! #[derive(Session, Serialize, Deserialize, Default)]
//! struct Visits {
//!     n: u32,
//! }
//!
//! #[get("/account")]
//! async fn account(user: User, mut visits: Visits) -> String {
//!     visits.n += 1;
//!     format!("user {}, visit {}", user.id, visits.n)
//! }
//!
//! #[session(expire)]
//! #[post("/logout")]
//! async fn logout(_user: User) -> HttpResponse {
//!     HttpResponse::NoContent().finish()
//! }
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), SessionError> {
//! let store = MemoryStore::default();
//! let app = test::init_service(
//!     App::new()
//!         .wrap(SessionMiddleware::new(store.clone()))
//!         .service(account)
//!         .service(logout),
//! )
//! .await;
//!
//! // Without a session, the guard answers 401.
//! let res = test::call_service(&app, test::TestRequest::get().uri("/account").to_request()).await;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//!
//! // The one line: a session with a user in it, and the header that carries it.
//! let cookie = TestSession::new(&store).put(User { id: 7 }).cookie().await?;
//! let req = test::TestRequest::get().uri("/account").insert_header(cookie).to_request();
//! assert_eq!(test::call_and_read_body(&app, req).await, "user 7, visit 1");
//!
//! // Kept, to read the response: the values after the request, rotated, expired.
//! let put = TestSession::new(&store)
//!     .put(User { id: 7 })
//!     .set("theme", "dark")
//!     .user("7") // tied to the user: `Sessions::of_user("7")` lists it
//!     .save()
//!     .await?;
//! let req = test::TestRequest::get().uri("/account").insert_header(put.cookie()).to_request();
//! let res = test::call_service(&app, req).await;
//! let after = put.after(&res).await?;
//! assert_eq!(after.typed::<Visits>()?.map(|v| v.n), Some(1));
//! assert_eq!(after.get::<String>("theme")?.as_deref(), Some("dark"));
//! assert_eq!(after.user().as_deref(), Some("7"));
//! assert!(!after.rotated() && !after.expired());
//! assert_eq!(after.cookie(), None); // same id: no Set-Cookie
//!
//! let req = test::TestRequest::post().uri("/logout").insert_header(put.cookie()).to_request();
//! let res = test::call_service(&app, req).await;
//! let after = put.after(&res).await?;
//! assert!(after.expired() && !after.exists());
//! assert_eq!(after.cookie().map(|c| c.value()), Some("")); // the removal cookie
//! # Ok(())
//! # }
//! ```
//!
//! [`TestSession::new`] writes the session as [`SessionMiddleware::new`](crate::SessionMiddleware::new)
//! would (cookie `id`, JSON values, the default timeouts); for an app built with other settings
//! use [`TestSession::of`] with its middleware.
//!
//! # Driving an app over HTTP, and testing a store
//!
//! The functions below drive an app with `actix_web::test` and read what the client was sent
//! and what the store holds (for the default cookie `id`); [`Instrumented`] counts a store's
//! calls; and the [conformance suite](conformance), which every store of this crate passes,
//! runs against your own store:
//!
//! ```no_run
//! // tests/my_store.rs, with actix-typed-session's `test-helpers` feature as a dev-dependency:
//! // one `#[actix_web::test]` per case, each on a fresh store from the expression.
//! actix_typed_session::conformance_suite!(actix_typed_session::store::MemoryStore::default());
//! # fn main() {}
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::header::SET_COOKIE;
use cookie::Cookie;

use crate::store::backend::BackendRef;
use crate::store::{
    Changes, Fetch, Handle, IndexRef, IntoBackend, Loaded, Meta, Record, SealContext, SessionStore,
    UserIndex, UserKey,
};
use crate::{SessionId, StoreError};

pub mod conformance;
mod events;
mod harness;
mod rotation;
mod session;
pub mod users;

pub use self::session::{PutSession, SessionAfter, TestSession};

/// Every `Set-Cookie` of a response, parsed.
pub fn set_cookies<B>(res: &ServiceResponse<B>) -> Vec<Cookie<'static>> {
    res.headers()
        .get_all(SET_COOKIE)
        .map(|v| Cookie::parse(v.to_str().unwrap().to_owned()).expect("valid Set-Cookie"))
        .collect()
}

/// The `Set-Cookie` for `name`, if the response sets it.
pub fn cookie_named<B>(res: &ServiceResponse<B>, name: &str) -> Option<Cookie<'static>> {
    set_cookies(res).into_iter().find(|c| c.name() == name)
}

/// The session cookie (named `id`), if the response sets it.
pub fn session_cookie<B>(res: &ServiceResponse<B>) -> Option<Cookie<'static>> {
    cookie_named(res, "id")
}

/// `id=<value>` for a request's `Cookie` header.
pub fn cookie_header(value: &str) -> (&'static str, String) {
    ("Cookie", format!("id={value}"))
}

/// How often each store method was called.
#[derive(Debug, Default)]
pub struct Calls {
    /// Calls of `load`.
    pub load: AtomicUsize,
    /// Calls of `load` that asked for some keys only ([`Fetch::Keys`]).
    pub load_keys: AtomicUsize,
    /// Calls of `save`.
    pub save: AtomicUsize,
    /// Calls of `delete`.
    pub delete: AtomicUsize,
    /// Calls of `touch`.
    pub touch: AtomicUsize,
    /// Calls of `change_id`.
    pub change_id: AtomicUsize,
}

impl Calls {
    /// Calls of every method.
    pub fn total(&self) -> usize {
        self.load() + self.save() + self.delete() + self.touch() + self.change_id()
    }
    /// Calls of `load` that asked for some keys only, so far.
    pub fn load_keys(&self) -> usize {
        self.load_keys.load(Ordering::SeqCst)
    }
    /// Calls of `load` so far.
    pub fn load(&self) -> usize {
        self.load.load(Ordering::SeqCst)
    }
    /// Calls of `save` so far.
    pub fn save(&self) -> usize {
        self.save.load(Ordering::SeqCst)
    }
    /// Calls of `delete` so far.
    pub fn delete(&self) -> usize {
        self.delete.load(Ordering::SeqCst)
    }
    /// Calls of `touch` so far.
    pub fn touch(&self) -> usize {
        self.touch.load(Ordering::SeqCst)
    }
    /// Calls of `change_id` so far.
    pub fn change_id(&self) -> usize {
        self.change_id.load(Ordering::SeqCst)
    }
}

/// Wraps a store, counts its calls, and fails every call while `failing` is set.
#[derive(Clone)]
pub struct Instrumented<S> {
    /// The wrapped store.
    pub inner: S,
    /// The call counts, shared by clones.
    pub calls: Arc<Calls>,
    /// While set, every call fails (see [`fail`](Self::fail)).
    pub failing: Arc<AtomicBool>,
}

impl<S> Instrumented<S> {
    /// Wraps `inner`, counting from zero, not failing.
    pub fn new(inner: S) -> Self {
        Instrumented {
            inner,
            calls: Arc::default(),
            failing: Arc::default(),
        }
    }

    /// Makes every later call fail (`true`) or pass through again (`false`).
    pub fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::msg(
                "injected failure: backend at 10.9.8.7 unreachable",
            ))
        } else {
            Ok(())
        }
    }
}

impl<S: SessionStore> SessionStore for Instrumented<S> {
    async fn load(&self, id: &SessionId, fetch: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        self.calls.load.fetch_add(1, Ordering::SeqCst);
        if let Fetch::Keys(_) = fetch {
            self.calls.load_keys.fetch_add(1, Ordering::SeqCst);
        }
        self.check()?;
        self.inner.load(id, fetch).await
    }
    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        self.calls.save.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.save(id, meta, changes).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.calls.delete.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.delete(id).await
    }
    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        self.calls.touch.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.touch(id, meta).await
    }
    async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        self.calls.change_id.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.change_id(old, new, meta, changes).await
    }
    /// The inner store's index, through this wrapper (so that its calls fail on demand too).
    fn user_index(&self) -> Option<IndexRef<'_>> {
        self.inner.user_index().map(|_| IndexRef::of(self))
    }
}

/// The inner store's index, each call failing while [`fail`](Instrumented::fail) is on.
impl<S: SessionStore> UserIndex for Instrumented<S> {
    async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        self.check()?;
        self.inner_index()?.user_sessions(user).await
    }
    async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        self.check()?;
        self.inner_index()?.revoke(user, handle).await
    }
    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        self.check()?;
        self.inner_index()?.revoke_all(user, except).await
    }
}

impl<S: SessionStore> Instrumented<S> {
    fn inner_index(&self) -> Result<IndexRef<'_>, StoreError> {
        self.inner
            .user_index()
            .ok_or_else(|| StoreError::unsupported("list a user's sessions"))
    }
}

/// What a test needs of a response, read in full.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: actix_web::http::StatusCode,
    /// The response headers.
    pub headers: actix_web::http::header::HeaderMap,
    /// The whole body, as text.
    pub body: String,
    /// Every `Set-Cookie`, parsed.
    pub cookies: Vec<Cookie<'static>>,
}

impl Resp {
    /// The session cookie the response sets (not a removal), if any.
    pub fn session(&self) -> Option<&Cookie<'static>> {
        self.cookies
            .iter()
            .find(|c| c.name() == "id" && !c.value().is_empty())
    }

    /// The session id value the response sets.
    pub fn id(&self) -> Option<String> {
        self.session().map(|c| c.value().to_owned())
    }

    /// The removal cookie for the session, if the response sends one.
    pub fn removal(&self) -> Option<&Cookie<'static>> {
        self.cookies
            .iter()
            .find(|c| c.name() == "id" && c.value().is_empty())
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Sends `req` through `app` and reads the whole response.
pub async fn send<S, B>(app: &S, req: actix_http::Request) -> Resp
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = actix_web::test::call_service(app, req).await;
    let status = res.status();
    let headers = res.headers().clone();
    let cookies = set_cookies(&res);
    let body = actix_web::test::read_body(res).await;
    Resp {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
        cookies,
    }
}

/// A GET to `uri`, carrying the session `id` when given.
pub fn get(uri: &str, id: Option<&str>) -> actix_http::Request {
    let mut req = actix_web::test::TestRequest::get().uri(uri);
    if let Some(id) = id {
        req = req.insert_header(cookie_header(id));
    }
    req.to_request()
}

/// A POST to `uri`, carrying the session `id` when given.
pub fn post(uri: &str, id: Option<&str>) -> actix_http::Request {
    let mut req = actix_web::test::TestRequest::post().uri(uri);
    if let Some(id) = id {
        req = req.insert_header(cookie_header(id));
    }
    req.to_request()
}

/// What the store holds for the client value `value` (through the store's traits themselves):
/// the record under that id, or for a client-side store the record sealed in the value, read as
/// the value of the default cookie `id` with no client binding.
pub async fn stored<S: IntoBackend>(store: &S, value: &str) -> Option<Record> {
    match store.as_backend() {
        BackendRef::Server(store) => {
            let id = SessionId::parse(value)?;
            store
                .load(&id, Fetch::All)
                .await
                .expect("store load")
                .map(Loaded::into_record)
        }
        BackendRef::Client(store) => store.open(value, &SealContext::new("id")).map(|(_, r)| r),
    }
}

/// The JSON value stored under `key` for the id `value`.
pub async fn stored_value<S: IntoBackend>(
    store: &S,
    value: &str,
    key: &str,
) -> Option<serde_json::Value> {
    let record = stored(store, value).await?;
    record
        .data
        .get(key)
        .map(|bytes| serde_json::from_slice(bytes).unwrap())
}
