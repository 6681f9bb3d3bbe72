//! Typed sessions over HTTP: `#[derive(Session)]` extractors, write-back on return, guards,
//! `Option<T>`, and the `#[session(..)]` handler options.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_typed_session::cookie::Cookie;
use actix_typed_session::id::SessionId;
use actix_typed_session::store::{Changes, Fetch, Loaded, MemoryStore, Meta, SessionStore};
use actix_typed_session::{
    session, Session, SessionError, SessionMiddleware, StoreError, TypedSession as _,
};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{get, post, route, test, web, App, Error, HttpResponse, Responder};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Typed session types

/// `Default`: absent gives an empty cart.
#[derive(Session, Serialize, Deserialize, Default, Debug, Clone, PartialEq)]
#[session(key = "cart")]
struct Cart {
    items: Vec<String>,
}

/// No `Default`: a guard (401 when absent).
#[derive(Session, Serialize, Deserialize, Debug)]
struct User {
    id: u64,
}

/// A guard with its own status.
#[derive(Session, Serialize, Deserialize)]
#[session(reject = 403)]
struct Admin {
    name: String,
}

/// A guard that sends visitors to the login page; `Default` does not make it optional.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(redirect = "/login", key = "member")]
struct Member {
    since: u32,
}

/// A tuple struct under its default key, `visit_count`.
#[derive(Session, Serialize, Deserialize, Default)]
struct VisitCount(u32);

/// An enum.
#[derive(Session, Serialize, Deserialize, Default, Debug, PartialEq)]
enum Theme {
    #[default]
    Light,
    Dark,
}

/// Its `Serialize` fails once the map holds an entry (JSON map keys must be strings).
#[derive(Session, Serialize, Deserialize, Default)]
struct Broken {
    map: HashMap<(u8, u8), u8>,
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn add(mut cart: Cart, item: web::Path<String>) -> String {
    cart.items.push(item.into_inner());
    cart.items.len().to_string()
}

/// Returns the changed value in the response: it is saved when the response is built.
async fn add_json(mut cart: Cart, item: web::Path<String>) -> web::Json<Cart> {
    cart.items.push(item.into_inner());
    web::Json(cart)
}

async fn show(cart: Cart) -> String {
    cart.items.join(",")
}

/// Builds and drops other `Cart` values: none of them may reach the session.
async fn temporaries(cart: Cart, session: Session) -> Result<String, SessionError> {
    let empty = Cart::default();
    let is_empty = cart == empty;
    let mut copy = session.typed::<Cart>()?.unwrap_or_default();
    copy.items.push("copy".into());
    drop(copy);
    let mut clone = cart.clone();
    clone.items.clear();
    Ok(is_empty.to_string())
}

/// Replaces the extracted value by assignment: the new value is saved.
async fn clear(mut cart: Cart) -> String {
    let before = cart.items.len();
    cart = Cart::default();
    format!("{before} -> {}", cart.items.len())
}

/// An explicit `put` next to an unchanged extracted value stands.
async fn put_over(_cart: Cart, session: Session) -> Result<&'static str, SessionError> {
    session.put(Cart {
        items: vec!["put".into()],
    })?;
    Ok("put")
}

/// Moves the cart into a task that outlives the request: the change is lost (and logged).
async fn escape(mut cart: Cart) -> &'static str {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    actix_web::rt::spawn(async move {
        let _ = rx.await;
        cart.items.push("late".into());
    });
    // Keep the task waiting until the response is done.
    std::mem::forget(tx);
    "escaped"
}

async fn me(user: User) -> String {
    format!("user {}", user.id)
}

async fn hello(user: Option<User>) -> String {
    match user {
        Some(user) => format!("hello {}", user.id),
        None => "hello stranger".into(),
    }
}

async fn admin(admin: Admin) -> String {
    admin.name.clone()
}

async fn members(member: Member) -> String {
    member.since.to_string()
}

async fn visits(mut n: VisitCount) -> String {
    n.0 += 1;
    n.0.to_string()
}

async fn toggle(mut theme: Theme) -> String {
    theme = match theme {
        Theme::Light => Theme::Dark,
        Theme::Dark => Theme::Light,
    };
    format!("{theme:?}")
}

async fn break_it(mut broken: Broken) -> &'static str {
    broken.map.insert((1, 2), 3);
    "broken"
}

/// A logout whose typed value cannot be written back: the logout still happens.
#[session(expire)]
async fn logout_broken(mut broken: Broken) -> &'static str {
    broken.map.insert((1, 2), 3);
    "bye"
}

async fn set_raw(
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<&'static str, SessionError> {
    let (key, json) = path.into_inner();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    session.set(key, value)?;
    Ok("set")
}

/// Login: a new id, the data moves along.
#[post("/login")]
#[session(change_id)]
async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.put(User { id: 7 })?;
    Ok("welcome")
}

/// Logout, with the attribute above actix's.
#[session(expire)]
#[post("/logout")]
async fn logout(user: User) -> String {
    format!("bye {}", user.id)
}

/// A change that must not be kept.
#[get("/preview/{item}")]
#[session(no_store)]
async fn preview(mut cart: Cart, item: web::Path<String>) -> String {
    cart.items.push(item.into_inner());
    cart.items.join(",")
}

/// `#[route]` with several methods.
#[route("/preview-any/{item}", method = "GET", method = "POST")]
#[session(no_store)]
async fn preview_any(mut cart: Cart, item: web::Path<String>) -> String {
    cart.items.push(item.into_inner());
    cart.items.len().to_string()
}

/// A body that changes the session while it streams.
fn streaming(session: Session) -> HttpResponse {
    let body = futures_util::stream::once(async move {
        session.set("streamed", true)?;
        Ok::<_, Error>(Bytes::from_static(b"streamed"))
    });
    HttpResponse::Ok().streaming(body)
}

#[session(late_store)]
async fn stream_late(session: Session) -> HttpResponse {
    streaming(session)
}

/// The control: without `late_store`, the streamed change is lost.
async fn stream_early(session: Session) -> HttpResponse {
    streaming(session)
}

/// Login and stream, on a plain fn registered with `web::resource`.
#[session(change_id, late_store)]
async fn renew_streaming(session: Session) -> HttpResponse {
    streaming(session)
}

/// The type extracted twice; the first copy is changed (dropped last).
async fn twice_first_changed(mut a: Cart, b: Cart) -> String {
    a.items.push("first".into());
    format!("{} {}", a.items.len(), b.items.len())
}

/// The type extracted twice; the second copy is changed (dropped first, then the unchanged
/// first copy: the change must survive all the same).
async fn twice_second_changed(a: Cart, mut b: Cart) -> String {
    b.items.push("second".into());
    format!("{} {}", a.items.len(), b.items.len())
}

/// Both copies changed, differently: no right answer, so a loud failure.
async fn twice_both_changed(mut a: Cart, mut b: Cart) -> String {
    a.items.push("one".into());
    b.items.push("two".into());
    "both".into()
}

/// Both copies changed the same way: that value is saved.
async fn twice_same_change(mut a: Cart, mut b: Cart) -> String {
    a.items.push("same".into());
    b.items.push("same".into());
    "same".into()
}

/// Keeps docs, visibility, generics and other attributes.
#[session(no_store)]
#[allow(clippy::unused_async)]
pub(crate) async fn generic_handler<T: Responder + Default>(mut cart: Cart) -> T {
    cart.items.push("generic".into());
    T::default()
}

// ---------------------------------------------------------------------------------------------
// Stores and helpers

/// A memory store that counts writes and can be made to fail.
#[derive(Clone, Default)]
struct Counting {
    inner: MemoryStore,
    saves: Arc<AtomicUsize>,
    fail_loads: Arc<std::sync::atomic::AtomicBool>,
}

impl SessionStore for Counting {
    async fn load(&self, id: &SessionId, fetch: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        if self.fail_loads.load(Ordering::SeqCst) {
            return Err(StoreError::msg("store down"));
        }
        self.inner.load(id, fetch).await
    }
    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.inner.save(id, meta, changes).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.delete(id).await
    }
}

impl Counting {
    fn saves(&self) -> usize {
        self.saves.load(Ordering::SeqCst)
    }

    /// The value stored under `key` for the session in `cookie`, as JSON text.
    fn value(&self, cookie: &Cookie<'_>, key: &str) -> Option<String> {
        let id = SessionId::parse(cookie.value()).expect("a session id");
        let record = self.inner.peek(&id)?;
        record
            .data
            .get(key)
            .map(|bytes| String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn exists(&self, cookie: &Cookie<'_>) -> bool {
        SessionId::parse(cookie.value()).is_some_and(|id| self.inner.peek(&id).is_some())
    }
}

async fn app(
    store: Counting,
) -> impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = Error>
{
    test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store))
            .route("/add/{item}", web::post().to(add))
            .route("/cart", web::get().to(show))
            .route("/add-json/{item}", web::post().to(add_json))
            .route("/temporaries", web::get().to(temporaries))
            .route("/clear", web::post().to(clear))
            .route("/put", web::post().to(put_over))
            .route("/escape", web::post().to(escape))
            .route("/me", web::get().to(me))
            .route("/hello", web::get().to(hello))
            .route("/admin", web::get().to(admin))
            .service(
                web::resource("/members")
                    .route(web::get().to(members))
                    .route(web::post().to(members)),
            )
            .route("/visits", web::get().to(visits))
            .route("/toggle", web::post().to(toggle))
            .route("/break", web::post().to(break_it))
            .route("/logout-broken", web::post().to(logout_broken))
            .route("/raw/{key}/{json}", web::post().to(set_raw))
            .route("/stream-late", web::get().to(stream_late))
            .route("/stream-early", web::get().to(stream_early))
            .service(web::resource("/renew-streaming").to(renew_streaming))
            .route("/generic", web::get().to(generic_handler::<String>))
            .route("/twice/first", web::post().to(twice_first_changed))
            .route("/twice/second", web::post().to(twice_second_changed))
            .route("/twice/both", web::post().to(twice_both_changed))
            .route("/twice/same", web::post().to(twice_same_change))
            .service(login)
            .service(logout)
            .service(preview)
            .service(preview_any),
    )
    .await
}

/// Sends a request, with `cookie` if given; returns status, session cookie and body.
async fn send(
    app: &impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = Error>,
    req: test::TestRequest,
    cookie: Option<&Cookie<'static>>,
) -> (
    StatusCode,
    Option<Cookie<'static>>,
    String,
    actix_web::http::header::HeaderMap,
) {
    let req = match cookie {
        Some(cookie) => req.insert_header(("cookie", format!("id={}", cookie.value()))),
        None => req,
    };
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .filter_map(|v| Cookie::parse(v.to_str().ok()?.to_owned()).ok())
        .find(|c| c.name() == "id");
    let body = test::read_body(res).await;
    (
        status,
        cookie,
        String::from_utf8(body.to_vec()).unwrap(),
        headers,
    )
}

fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}

fn post(uri: &str) -> test::TestRequest {
    test::TestRequest::post().uri(uri)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[actix_web::test]
async fn keys_default_to_the_type_name_in_snake_case() {
    assert_eq!(Cart::KEY, "cart");
    assert_eq!(User::KEY, "user");
    assert_eq!(VisitCount::KEY, "visit_count");
    assert_eq!(Member::KEY, "member");
    assert_eq!(Theme::KEY, "theme");
}

#[actix_web::test]
async fn cart_is_added_read_and_persisted_across_requests() {
    let store = Counting::default();
    let app = app(store.clone()).await;

    let (status, cookie, body, _) = send(&app, post("/add/tea"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "1");
    let cookie = cookie.expect("a new session sends its cookie");
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea"]}"#)
    );

    let (_, again, body, _) = send(&app, post("/add/milk"), Some(&cookie)).await;
    assert_eq!(body, "2");
    assert!(again.is_none(), "a known session id is not sent again");
    let (_, _, body, _) = send(&app, get("/cart"), Some(&cookie)).await;
    assert_eq!(body, "tea,milk");
    assert_eq!(store.saves(), 2);
    assert_eq!(store.inner.len(), 1);
}

#[actix_web::test]
async fn unchanged_value_writes_nothing_and_sends_no_cookie() {
    let store = Counting::default();
    let app = app(store.clone()).await;

    // A new visitor who only looks at the (default) cart: no cookie, nothing stored.
    let (status, cookie, body, _) = send(&app, get("/cart"), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    assert!(cookie.is_none());
    assert_eq!((store.saves(), store.inner.len()), (0, 0));

    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();
    assert_eq!(store.saves(), 1);
    let (_, again, body, _) = send(&app, get("/cart"), Some(&cookie)).await;
    assert_eq!(body, "tea");
    assert!(again.is_none());
    assert_eq!(store.saves(), 1, "reading does not write");
}

#[actix_web::test]
async fn only_the_extracted_value_is_written_back() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();

    // Temporaries, copies and clones of the type are dropped in the handler: no effect.
    let (status, _, body, _) = send(&app, get("/temporaries"), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "false"));
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea"]}"#)
    );
    assert_eq!(store.saves(), 1);

    // An explicit put next to an unchanged extracted value stands.
    send(&app, post("/put"), Some(&cookie)).await;
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["put"]}"#)
    );

    // Assigning a new value to the argument saves the new value.
    send(&app, post("/clear"), Some(&cookie)).await;
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":[]}"#)
    );
}

#[actix_web::test]
async fn a_value_that_escapes_the_request_is_not_saved_and_logged() {
    let (logs, _guard) = support::capture_logs();
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();

    let (status, _, _, _) = send(&app, post("/escape"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea"]}"#)
    );
    assert!(
        logs.text()
            .contains("still alive when the handler returned"),
        "{}",
        logs.text()
    );
}

#[actix_web::test]
async fn guard_rejects_with_401_when_absent() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (status, cookie, body, _) = send(&app, get("/me"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "Unauthorized");
    assert!(cookie.is_none());

    let (_, cookie, _, _) = send(&app, post("/login"), None).await;
    let (status, _, body, _) = send(&app, get("/me"), cookie.as_ref()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "user 7"));
}

#[actix_web::test]
async fn guard_rejection_is_configurable() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (status, _, body, _) = send(&app, get("/admin"), None).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "Forbidden")
    );

    // `redirect` makes even a `Default` type a guard.
    let (status, _, _, headers) = send(&app, get("/members"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers.get("location").unwrap(), "/login?next=/members");
    let (_, _, _, headers) = send(&app, get("/members?tab=a%20b&x=1"), None).await;
    assert_eq!(
        headers.get("location").unwrap(),
        "/login?next=/members%3Ftab%3Da%2520b%26x%3D1",
        "the page they asked for, query included, for the login to send them back"
    );
    let (status, _, _, headers) = send(&app, post("/members"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers.get("location").unwrap(),
        "/login",
        "no next for a POST: it cannot be replayed by a redirect"
    );

    let (_, cookie, _, _) = send(&app, post("/raw/member/%7B%22since%22%3A2020%7D"), None).await;
    let (status, _, body, _) = send(&app, get("/members"), cookie.as_ref()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2020"));
}

#[actix_web::test]
async fn option_gives_none_when_absent() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (status, cookie, body, _) = send(&app, get("/hello"), None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello stranger"));
    assert!(cookie.is_none());

    let (_, cookie, _, _) = send(&app, post("/login"), None).await;
    let (_, _, body, _) = send(&app, get("/hello"), cookie.as_ref()).await;
    assert_eq!(body, "hello 7");
}

#[actix_web::test]
async fn option_does_not_hide_a_failing_store() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/login"), None).await;

    store.fail_loads.store(true, Ordering::SeqCst);
    let (status, _, body, _) = send(&app, get("/hello"), cookie.as_ref()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body, "session store unavailable");
    let (status, _, _, _) = send(&app, get("/me"), cookie.as_ref()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[actix_web::test]
async fn login_with_change_id_keeps_data_under_a_new_id() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, old, _, _) = send(&app, post("/add/tea"), None).await;
    let old = old.unwrap();

    let (status, new, body, _) = send(&app, post("/login"), Some(&old)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "welcome"));
    let new = new.expect("the new id is sent");
    assert_ne!(new.value(), old.value());
    assert!(!store.exists(&old), "the old id is dead");
    assert_eq!(
        store.value(&new, "cart").as_deref(),
        Some(r#"{"items":["tea"]}"#)
    );
    assert_eq!(store.value(&new, "user").as_deref(), Some(r#"{"id":7}"#));

    let (_, _, body, _) = send(&app, get("/cart"), Some(&old)).await;
    assert_eq!(body, "", "the old id gives a fresh session");
    let (_, _, body, _) = send(&app, get("/cart"), Some(&new)).await;
    assert_eq!(body, "tea");
}

#[actix_web::test]
async fn logout_with_expire_removes_the_session() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/login"), None).await;
    let cookie = cookie.unwrap();
    assert!(store.exists(&cookie));

    let (status, removal, body, _) = send(&app, post("/logout"), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "bye 7"));
    let removal = removal.expect("a removal cookie");
    assert_eq!(removal.value(), "");
    assert_eq!(removal.max_age().map(|d| d.whole_seconds()), Some(0));
    assert!(!store.exists(&cookie), "the store entry is gone");
    assert!(store.inner.is_empty());

    let (status, _, _, _) = send(&app, get("/me"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn logout_that_is_rejected_does_not_expire() {
    // The guard rejects before the handler runs, so `expire` is never set.
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();
    let (status, removal, _, _) = send(&app, post("/logout"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(removal.is_none());
    assert!(store.exists(&cookie));
}

#[actix_web::test]
async fn no_store_preview_changes_nothing() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();

    let (status, again, body, _) = send(&app, get("/preview/cake"), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "tea,cake"));
    assert!(again.is_none());
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea"]}"#)
    );
    assert_eq!(store.saves(), 1);

    // `#[route]` with two methods, and a new visitor: no cookie, nothing stored.
    let (_, fresh, body, _) = send(&app, post("/preview-any/cake"), None).await;
    assert_eq!(body, "1");
    assert!(fresh.is_none());
    let (_, _, body, _) = send(&app, get("/preview-any/pie"), Some(&cookie)).await;
    assert_eq!(body, "2");
    assert_eq!(store.saves(), 1);

    // Generic handler, attribute kept with its other attributes.
    let (status, _, _, _) = send(&app, get("/generic"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.saves(), 1);
}

#[actix_web::test]
async fn late_store_saves_what_a_streaming_body_changed() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();

    let (_, _, body, _) = send(&app, get("/stream-early"), Some(&cookie)).await;
    assert_eq!(body, "streamed");
    assert_eq!(
        store.value(&cookie, "streamed"),
        None,
        "saved before the body ran"
    );

    let (_, _, body, _) = send(&app, get("/stream-late"), Some(&cookie)).await;
    assert_eq!(body, "streamed");
    assert_eq!(store.value(&cookie, "streamed").as_deref(), Some("true"));
}

#[actix_web::test]
async fn change_id_and_late_store_combine_on_a_plain_resource() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, old, _, _) = send(&app, post("/add/tea"), None).await;
    let old = old.unwrap();

    let (status, new, body, _) = send(&app, get("/renew-streaming"), Some(&old)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "streamed"));
    let new = new.expect("new id sent with the head");
    assert_ne!(new.value(), old.value());
    assert!(!store.exists(&old));
    assert_eq!(store.value(&new, "streamed").as_deref(), Some("true"));
    assert_eq!(
        store.value(&new, "cart").as_deref(),
        Some(r#"{"items":["tea"]}"#)
    );
}

#[actix_web::test]
async fn a_value_that_does_not_decode_is_treated_as_absent() {
    let (logs, _guard) = support::capture_logs();
    let store = Counting::default();
    let app = app(store.clone()).await;
    // An old deploy stored other shapes under these keys.
    let (_, cookie, _, _) = send(&app, post("/raw/cart/%5B1%2C2%5D"), None).await;
    let cookie = cookie.unwrap();
    send(&app, post("/raw/user/%22seven%22"), Some(&cookie)).await;

    let (status, _, body, _) = send(&app, get("/cart"), Some(&cookie)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, ""),
        "default, not a 500"
    );
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some("[1,2]"),
        "left untouched"
    );
    assert!(logs.text().contains("does not decode"), "{}", logs.text());

    let (status, _, _, _) = send(&app, get("/me"), Some(&cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, _, body, _) = send(&app, get("/hello"), Some(&cookie)).await;
    assert_eq!(body, "hello stranger");

    // A change replaces the old value.
    send(&app, post("/add/tea"), Some(&cookie)).await;
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea"]}"#)
    );
}

#[actix_web::test]
async fn tuple_structs_and_enums_work() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, body, _) = send(&app, get("/visits"), None).await;
    assert_eq!(body, "1");
    let cookie = cookie.unwrap();
    let (_, _, body, _) = send(&app, get("/visits"), Some(&cookie)).await;
    assert_eq!(body, "2");
    assert_eq!(store.value(&cookie, "visit_count").as_deref(), Some("2"));

    let (_, _, body, _) = send(&app, post("/toggle"), Some(&cookie)).await;
    assert_eq!(body, "Dark");
    assert_eq!(store.value(&cookie, "theme").as_deref(), Some(r#""Dark""#));
    let (_, _, body, _) = send(&app, post("/toggle"), Some(&cookie)).await;
    assert_eq!(body, "Light");
}

#[actix_web::test]
async fn a_value_that_does_not_encode_answers_500_and_saves_nothing() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();
    let (status, _, body, _) = send(&app, post("/break"), Some(&cookie)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "session error")
    );
    assert_eq!(store.value(&cookie, "broken"), None);
    assert_eq!(store.saves(), 1);
}

#[actix_web::test]
async fn typed_extractor_without_middleware_is_a_500() {
    let app = test::init_service(App::new().route("/cart", web::get().to(show))).await;
    let res = test::call_service(&app, get("/cart").to_request()).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[actix_web::test]
async fn expire_wins_over_a_value_that_does_not_encode() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();
    let (status, removal, body, _) = send(&app, post("/logout-broken"), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "bye"));
    assert_eq!(removal.expect("a removal cookie").value(), "");
    assert!(!store.exists(&cookie));
}

#[actix_web::test]
async fn a_value_returned_in_the_response_is_saved() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (status, cookie, body, _) = send(&app, post("/add-json/tea"), None).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"items":["tea"]}"#)
    );
    let cookie = cookie.expect("saved, so the cookie is sent");
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea"]}"#)
    );
}

/// A typed struct extracted twice in one handler: the changed copy is saved whichever argument
/// it is; copies changed differently fail the request loudly (never a 200 that drops data).
#[actix_web::test]
async fn a_type_extracted_twice_saves_the_changed_copy_or_fails_loudly() {
    let store = Counting::default();
    let app = app(store.clone()).await;
    let (_, cookie, _, _) = send(&app, post("/add/tea"), None).await;
    let cookie = cookie.unwrap();

    let (status, _, body, _) = send(&app, post("/twice/first"), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2 1"));
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea","first"]}"#),
        "(mut a, b): a's change is saved"
    );

    let (status, _, body, _) = send(&app, post("/twice/second"), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2 3"));
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea","first","second"]}"#),
        "(a, mut b): b's change is saved too"
    );

    let (status, _, body, _) = send(&app, post("/twice/same"), Some(&cookie)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "same"));
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea","first","second","same"]}"#),
        "two copies changed alike: saved once"
    );

    let (logs, guard) = support::capture_logs();
    let saves = store.saves();
    let (status, _, body, _) = send(&app, post("/twice/both"), Some(&cookie)).await;
    drop(guard);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    if cfg!(debug_assertions) {
        assert!(
            body.contains("Cart") && body.contains("more than once"),
            "a debug build names the type: {body}"
        );
    }
    assert_eq!(store.saves(), saves, "nothing of the request is saved");
    assert_eq!(
        store.value(&cookie, "cart").as_deref(),
        Some(r#"{"items":["tea","first","second","same"]}"#)
    );
    let log = logs.text();
    assert!(
        log.contains("ERROR") && log.contains("Cart") && log.contains("more than once"),
        "{log}"
    );
}

/// A typed extractor, and a `#[session(..)]` handler, on a route the middleware does not wrap:
/// the 500 says what to do in a debug build, and the error log says it in every build.
#[actix_web::test]
async fn a_missing_middleware_says_how_to_fix_it() {
    #[session(no_store)]
    async fn bare() -> &'static str {
        "ran"
    }
    let (logs, _guard) = support::capture_logs();
    let app = test::init_service(
        App::new()
            .route("/cart", web::get().to(show))
            .route("/bare", web::get().to(bare)),
    )
    .await;
    let res = test::call_service(&app, get("/cart").to_request()).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = test::read_body(res).await;
    let body = String::from_utf8_lossy(&body);
    if cfg!(debug_assertions) {
        assert!(
            body.contains("no SessionMiddleware: wrap the App or scope with it"),
            "{body}"
        );
    }
    let log = logs.text();
    assert!(
        log.contains("ERROR") && log.contains("wrap the App or scope with it"),
        "{log}"
    );
    assert!(log.contains("key=\"cart\""), "{log}");

    let res = test::call_service(&app, get("/bare").to_request()).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the handler itself still runs"
    );
    let log = logs.text();
    assert!(
        log.contains("#[session(..)] handler ran outside SessionMiddleware"),
        "{log}"
    );
}
