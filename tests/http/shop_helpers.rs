//! `examples/shop.rs` tested the way an app author would, with the test helpers
//! (`testing::TestSession`): a signed-in session is put in place instead of driving the login
//! form, and what a response left behind is read back. On the memory store and the cookie
//! store; a put session is seen by the app on every kind of store.

use examples::shop;

use std::sync::Arc;

use actix_typed_session::store::{deadpool_redis, CookieStore, FileStore, MemoryStore, RedisStore};
use actix_typed_session::testing::TestSession;
use actix_typed_session::{
    Session, SessionError, SessionId, SessionMiddleware, CSRF_FORM_FIELD, CSRF_HEADER,
};
use actix_web::http::header::{HeaderName, HeaderValue, LOCATION};
use actix_web::http::StatusCode;
use actix_web::{test, App};
use serde::{Deserialize, Serialize};

use support::redis::RedisServer;
use support::TempDir;

/// The shop's signed-in user, as the shop stores it (its own type is private to the example):
/// the same key and fields.
#[derive(Session, Serialize, Deserialize, Debug, PartialEq)]
#[session(key = "user")]
struct User {
    name: String,
}

/// The shop's cart, as the shop stores it.
#[derive(Session, Serialize, Deserialize, Debug, PartialEq, Default)]
#[session(key = "cart")]
struct Cart {
    items: Vec<String>,
}

fn ann() -> User {
    User { name: "ann".into() }
}

const KEY: [u8; 32] = [0x5a; 32];

macro_rules! shop_on {
    ($store:expr) => {
        test::init_service(
            App::new()
                .wrap(SessionMiddleware::new($store))
                .configure(shop::routes),
        )
        .await
    };
}

/// A GET of `uri` carrying the session `header`.
fn get_with(uri: &str, header: (HeaderName, HeaderValue)) -> actix_http::Request {
    test::TestRequest::get()
        .uri(uri)
        .insert_header(header)
        .to_request()
}

/// A form POST of `uri` carrying the session `header` and the CSRF `token`.
fn form_with(
    uri: &str,
    header: (HeaderName, HeaderValue),
    token: impl AsRef<str>,
) -> actix_http::Request {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(header)
        .set_form([(CSRF_FORM_FIELD, token.as_ref())])
        .to_request()
}

async fn body<B: actix_web::body::MessageBody>(res: actix_web::dev::ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
}

#[actix_web::test]
async fn the_one_liner_signs_a_visitor_in_on_the_memory_store() -> Result<(), SessionError> {
    let store = MemoryStore::default();
    let app = shop_on!(store.clone());

    // Without a session the guard sends the visitor to the login page.
    let res = test::call_service(&app, test::TestRequest::get().uri("/account").to_request()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let cookie = TestSession::new(&store).put(ann()).cookie().await?;
    let req = get_with("/account", cookie);
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body(res).await.contains("Signed in as ann."));
    Ok(())
}

/// The guarded routes of the shop on one store: checkout sees the user and the cart and stores
/// nothing; logout expires the session; login rotates the id and keeps the cart.
async fn guarded_routes<S: actix_typed_session::store::IntoBackend + Clone>(store: S) {
    let app = shop_on!(store.clone());

    let put = TestSession::new(&store)
        .put(ann())
        .put(Cart {
            items: vec!["tea".into(), "mug".into()],
        })
        .csrf()
        .save()
        .await
        .unwrap();

    // /checkout: `no_store`, so the discount on the handler's copy of the cart is not kept.
    let req = get_with("/checkout", put.cookie());
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let after = put.after(&res).await.unwrap();
    assert!(after.cookie().is_none(), "no_store sends no cookie");
    assert!(!after.rotated() && !after.expired());
    assert_eq!(
        after.typed::<Cart>().unwrap().unwrap().items,
        ["tea", "mug"]
    );
    assert!(body(res).await.contains("ann, you pay 4.50 € for 1 item."));

    // POST /cart/pot changes the cart in place: the store (or the new cookie) holds it. Every
    // POST of the shop needs the session's CSRF token in its form.
    let req = test::TestRequest::post()
        .uri("/cart/pot")
        .insert_header(put.cookie())
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no token");
    let req = form_with("/cart/pot", put.cookie(), put.csrf_token());
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let after = put.after(&res).await.unwrap();
    assert!(!after.rotated());
    assert_eq!(after.id(), Some(put.id()));
    assert_eq!(
        after.typed::<Cart>().unwrap().unwrap().items,
        ["tea", "mug", "pot"]
    );
    assert_eq!(after.typed::<User>().unwrap(), Some(ann()));
    // The flash message "added to your cart" waits under the reserved key.
    assert_eq!(after.keys(), ["__ats_csrf", "_flash", "cart", "user"]);
    let flash: Vec<actix_typed_session::flash::Message> = after
        .get(actix_typed_session::flash::FLASH_KEY)
        .unwrap()
        .unwrap();
    assert_eq!(flash[0].text, "Added Cast-iron teapot to your cart.");

    // The session after the request carries on to the next one, which shows the message.
    let req = get_with("/cart", after.next_cookie().unwrap());
    let page = body(test::call_service(&app, req).await).await;
    assert!(page.contains("Total: 55.50 €"));
    assert!(
        page.contains("<p class=\"flash success\">Added Cast-iron teapot to your cart.</p>"),
        "{page}"
    );

    // Logout: the cookie is removed and no session is left.
    let req = form_with(
        "/logout",
        after.next_cookie().unwrap(),
        after.csrf_token().unwrap(),
    );
    let res = test::call_service(&app, req).await;
    let after = put.after(&res).await.unwrap();
    assert!(after.expired());
    assert!(!after.exists());
    assert_eq!(after.cookie().unwrap().value(), "");
    assert_eq!(after.get::<Cart>("cart").unwrap(), None);
}

#[actix_web::test]
async fn guarded_routes_on_the_memory_store() {
    guarded_routes(MemoryStore::default()).await;
}

#[actix_web::test]
async fn guarded_routes_on_the_cookie_store() {
    guarded_routes(CookieStore::encrypted(KEY).build().unwrap()).await;
}

/// Login with `change_id`: a new id, the cart moves along, the user is set.
async fn login_rotates<S: actix_typed_session::store::IntoBackend + Clone>(store: S) {
    let app = shop_on!(store.clone());
    let put = TestSession::new(&store)
        .put(Cart {
            items: vec!["tea".into()],
        })
        .csrf()
        .save()
        .await
        .unwrap();
    let token = put.csrf_token();
    let req = test::TestRequest::post()
        .uri("/login")
        .insert_header(put.cookie())
        .set_form([
            ("name", "bob"),
            ("next", "/checkout"),
            (CSRF_FORM_FIELD, &token),
        ])
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers().get(LOCATION).unwrap(), "/checkout");
    let after = put.after(&res).await.unwrap();
    assert!(after.rotated());
    assert!(!after.expired());
    assert_ne!(after.id(), Some(put.id()));
    let cookie = after.cookie().unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(
        after.typed::<User>().unwrap(),
        Some(User { name: "bob".into() })
    );
    assert_eq!(after.typed::<Cart>().unwrap().unwrap().items, ["tea"]);
    // The CSRF token went with the old id: the one from before the login is refused, and the
    // next page with a form makes a new one.
    assert_eq!(after.csrf_token(), None);
    let stale = form_with("/cart/mug", after.next_cookie().unwrap(), &token);
    assert_eq!(
        test::call_service(&app, stale).await.status(),
        StatusCode::FORBIDDEN
    );
    let req = get_with("/account", after.next_cookie().unwrap());
    let page = test::call_service(&app, req).await;
    // The session after that page (the cookie store sealed the new token into a new cookie; a
    // server-side store kept the id) has the token of its form.
    let after_page = after.after(&page).await.unwrap();
    assert!(!after_page.rotated());
    let fresh = after_page.csrf_token().expect("a new token");
    let req = form_with("/cart/mug", after_page.next_cookie().unwrap(), &fresh);
    assert_eq!(
        test::call_service(&app, req).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn login_rotates_the_id_on_the_memory_store() {
    let store = MemoryStore::default();
    login_rotates(store.clone()).await;
}

#[actix_web::test]
async fn login_rotates_the_id_on_the_cookie_store() {
    login_rotates(CookieStore::signed(KEY).build().unwrap()).await;
}

#[actix_web::test]
async fn the_old_id_is_gone_after_a_login_on_the_memory_store() {
    let store = MemoryStore::default();
    let app = shop_on!(store.clone());
    let put = TestSession::new(&store)
        .set("n", &1)
        .csrf()
        .save()
        .await
        .unwrap();
    let req = test::TestRequest::post()
        .uri("/login")
        .insert_header(put.cookie())
        .set_form([("name", "bob"), (CSRF_FORM_FIELD, &put.csrf_token())])
        .to_request();
    let res = test::call_service(&app, req).await;
    assert!(put.after(&res).await.unwrap().rotated());
    // The old cookie now opens no session: the guard redirects.
    let req = get_with("/account", put.cookie());
    assert_eq!(
        test::call_service(&app, req).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn a_first_visit_is_read_without_a_put_session() {
    let store = MemoryStore::default();
    let app = shop_on!(store.clone());
    // The home page's forms carry a CSRF token, kept in a new session.
    let res = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    let after = TestSession::new(&store).read(&res).await.unwrap();
    assert!(after.exists() && !after.rotated() && !after.expired());
    assert_eq!(
        after.keys(),
        ["__ats_csrf"],
        "`Option<User>` leaves no flash"
    );
    assert_eq!(after.typed::<Cart>().unwrap(), None);
    assert_eq!(after.user(), None);
    assert_eq!(store.len(), 1);
    // The form's token, sent back with that session, adds to the cart.
    let req = form_with(
        "/cart/tea",
        after.next_cookie().unwrap(),
        after.csrf_token().unwrap(),
    );
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let req = get_with("/cart", after.next_cookie().unwrap());
    let page = body(test::call_service(&app, req).await).await;
    assert!(page.contains("<li>tea</li>"), "{page}");

    // A page that only reads leaves nothing behind.
    let res = test::call_service(&app, test::TestRequest::get().uri("/cart").to_request()).await;
    let after = TestSession::new(&store).read(&res).await.unwrap();
    assert!(!after.exists() && after.cookie().is_none() && after.id().is_none());
}

/// A session with a user is indexed like one the app tied: `Sessions::of_user` lists it.
#[actix_web::test]
async fn a_put_user_is_listed_by_sessions_of_user() {
    let store = MemoryStore::default();
    let middleware = SessionMiddleware::new(store.clone());
    let put = TestSession::of(&middleware)
        .user("42")
        .put(ann())
        .save()
        .await
        .unwrap();
    let listed = middleware.sessions().of_user("42").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].get::<User>("user").unwrap(), Some(ann()));
    assert_eq!(
        put.handle(),
        Some(listed[0].handle()),
        "the handle a devices page shows"
    );
    assert!(middleware
        .sessions()
        .of_user("43")
        .await
        .unwrap()
        .is_empty());

    // …and revoking it ends the session the test put in place.
    assert_eq!(middleware.sessions().revoke_all("42").await.unwrap(), 1);
    let app = test::init_service(App::new().wrap(middleware.clone()).configure(shop::routes)).await;
    let req = get_with("/account", put.cookie());
    assert_eq!(
        test::call_service(&app, req).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn the_user_is_read_back() {
    let store = MemoryStore::default();
    let app = shop_on!(store.clone());
    let put = TestSession::new(&store)
        .user("42")
        .put(ann())
        .csrf()
        .save()
        .await
        .unwrap();
    let req = form_with("/cart/tea", put.cookie(), put.csrf_token());
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let after = put.after(&res).await.unwrap();
    assert_eq!(after.user().as_deref(), Some("42"));
    assert_eq!(
        after.handle(),
        put.handle(),
        "the same handle after the request"
    );
    assert!(put.handle().is_some());
}

/// A session put with other settings than the app's is not seen; `TestSession::of` takes them
/// from the app's middleware.
#[actix_web::test]
async fn of_follows_the_apps_cookie_name() {
    use actix_typed_session::state::CookieState;
    let store = MemoryStore::default();
    let middleware = SessionMiddleware::builder(store.clone())
        .state(CookieState::new("sid"))
        .build();
    let app = test::init_service(App::new().wrap(middleware.clone()).configure(shop::routes)).await;
    let account = |cookie| get_with("/account", cookie);
    let default_name = TestSession::new(&store).put(ann()).cookie().await.unwrap();
    assert_eq!(
        test::call_service(&app, account(default_name))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let put = TestSession::of(&middleware)
        .put(ann())
        .save()
        .await
        .unwrap();
    assert_eq!(put.cookie().1, format!("sid={}", put.id().as_str()));
    let res = test::call_service(&app, account(put.cookie())).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Bad input is an error, not a panic: a value that does not encode names its key.
#[actix_web::test]
async fn a_value_that_does_not_encode_is_an_error() {
    use std::collections::HashMap;
    let store = MemoryStore::default();
    let bad: HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
    let err = TestSession::new(&store)
        .put(ann())
        .set("bad", &bad)
        .cookie()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SessionError::Encode { key, .. } if key == "bad"),
        "{err}"
    );
    assert_eq!(store.len(), 0, "nothing was written");

    // A stored value read as the wrong type is a decode error.
    let app = shop_on!(store.clone());
    let put = TestSession::new(&store)
        .put(ann())
        .csrf()
        .save()
        .await
        .unwrap();
    let req = form_with("/cart/tea", put.cookie(), put.csrf_token());
    let after = put
        .after(&test::call_service(&app, req).await)
        .await
        .unwrap();
    assert!(matches!(
        after.get::<u32>("user"),
        Err(SessionError::Decode { .. })
    ));
}

/// Per store kind: a put session is seen by the app.
async fn seen_by_the_app<S: actix_typed_session::store::IntoBackend + Clone>(store: S) {
    let app = shop_on!(store.clone());
    let cookie = TestSession::new(&store).put(ann()).cookie().await.unwrap();
    let req = get_with("/account", cookie);
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body(res).await.contains("Signed in as ann."));
}

#[actix_web::test]
async fn a_put_session_is_seen_on_the_memory_store() {
    seen_by_the_app(MemoryStore::default()).await;
}

#[actix_web::test]
async fn a_put_session_is_seen_on_the_file_store() {
    let dir = TempDir::new("shop-helpers");
    let store = FileStore::builder(dir.0.join("sessions"))
        .fsync(false)
        .build()
        .unwrap();
    seen_by_the_app(store.clone()).await;
    guarded_routes(store).await;
}

#[actix_web::test]
async fn a_put_session_is_seen_on_the_cookie_store() {
    seen_by_the_app(CookieStore::signed(KEY).build().unwrap()).await;
    seen_by_the_app(CookieStore::encrypted(KEY).build().unwrap()).await;
}

#[actix_web::test]
async fn a_session_sealed_for_another_key_is_not_seen() {
    let app = shop_on!(CookieStore::encrypted(KEY).build().unwrap());
    let other = CookieStore::encrypted([0x11; 32]).build().unwrap();
    let cookie = TestSession::new(&other).put(ann()).cookie().await.unwrap();
    let req = get_with("/account", cookie);
    assert_eq!(
        test::call_service(&app, req).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[actix_web::test]
async fn a_put_session_is_seen_on_the_redis_store() {
    let server = RedisServer::start();
    let pool = deadpool_redis::Config::from_url(&server.url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let prefix = format!("ats-test:{}:", SessionId::generate().log_tag());
    let store = RedisStore::builder(pool).prefix(prefix).build();
    let _server = Arc::new(server);
    seen_by_the_app(store.clone()).await;
    guarded_routes(store).await;
}

/// A cookie store that binds its cookie to the `User-Agent`: a session put `for_request` opens
/// only for a request with the same header.
#[actix_web::test]
async fn a_bound_cookie_opens_only_for_its_client() {
    use actix_web::http::header::USER_AGENT;
    let store = CookieStore::encrypted(KEY)
        .bind_to_user_agent()
        .build()
        .unwrap();
    let app = shop_on!(store.clone());
    let phone = test::TestRequest::default()
        .insert_header((USER_AGENT, "phone"))
        .to_http_request();
    let put = TestSession::new(&store)
        .for_request(&phone)
        .put(ann())
        .save()
        .await
        .unwrap();
    let account = |agent: &'static str| {
        test::TestRequest::get()
            .uri("/account")
            .insert_header((USER_AGENT, agent))
            .insert_header(put.cookie())
            .to_request()
    };
    assert_eq!(
        test::call_service(&app, account("phone")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        test::call_service(&app, account("laptop")).await.status(),
        StatusCode::SEE_OTHER
    );
}

/// `TestSession::of` follows the app's clock and timeouts: a session idle too long is gone,
/// and reading a response says so.
#[actix_web::test]
async fn of_follows_the_apps_clock_and_idle_timeout() {
    use actix_typed_session::clock::ManualClock;
    use std::time::Duration;
    let clock = ManualClock::new();
    let middleware = SessionMiddleware::builder(MemoryStore::default())
        .clock(clock.clone())
        .idle_timeout(Duration::from_secs(60))
        .build();
    let app = test::init_service(App::new().wrap(middleware.clone()).configure(shop::routes)).await;
    let put = TestSession::of(&middleware)
        .put(ann())
        .save()
        .await
        .unwrap();
    let req = || get_with("/checkout", put.cookie());
    let res = test::call_service(&app, req()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(put.after(&res).await.unwrap().exists());

    clock.advance(Duration::from_secs(61));
    let res = test::call_service(&app, req()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The session expired: the guard's redirect starts a new one for its flash message.
    let after = put.after(&res).await.unwrap();
    assert_ne!(after.id(), Some(put.id()));
    assert_eq!(after.keys(), ["_flash"]);
    assert_eq!(after.typed::<User>().unwrap(), None);
}

/// The same on the cookie store, whose expiry is sealed in the cookie.
#[actix_web::test]
async fn of_follows_the_apps_clock_on_the_cookie_store() {
    use actix_typed_session::clock::ManualClock;
    use std::time::Duration;
    let clock = ManualClock::new();
    let store = CookieStore::encrypted(KEY)
        .clock(clock.clone())
        .build()
        .unwrap();
    let middleware = SessionMiddleware::builder(store)
        .clock(clock.clone())
        .idle_timeout(Duration::from_secs(60))
        .build();
    let app = test::init_service(App::new().wrap(middleware.clone()).configure(shop::routes)).await;
    let put = TestSession::of(&middleware)
        .put(ann())
        .save()
        .await
        .unwrap();
    let req = || get_with("/checkout", put.cookie());
    assert_eq!(
        test::call_service(&app, req()).await.status(),
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(61));
    let res = test::call_service(&app, req()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Expired: the guard's redirect seals a new session that holds only its flash message.
    let after = put.after(&res).await.unwrap();
    assert_eq!(after.keys(), ["_flash"]);
    assert_eq!(after.typed::<User>().unwrap(), None);
}

/// An app whose id travels in a header: the session is put in that header, and the new id is
/// read from the response's header.
#[actix_web::test]
async fn of_follows_a_header_state() {
    use actix_typed_session::state::HeaderState;
    let middleware = SessionMiddleware::builder(MemoryStore::default())
        .state(HeaderState::new("x-session-id"))
        .build();
    let app = test::init_service(App::new().wrap(middleware.clone()).configure(shop::routes)).await;
    let put = TestSession::of(&middleware)
        .put(ann())
        .csrf()
        .save()
        .await
        .unwrap();
    assert_eq!(put.cookie().0, "x-session-id");
    let req = test::TestRequest::post()
        .uri("/login")
        .insert_header(put.cookie())
        .insert_header((CSRF_HEADER, put.csrf_token()))
        .set_form([("name", "bob")])
        .to_request();
    let res = test::call_service(&app, req).await;
    let after = put.after(&res).await.unwrap();
    assert!(after.rotated());
    assert!(after.cookie().is_none(), "no Set-Cookie in header mode");
    assert_eq!(
        after.typed::<User>().unwrap(),
        Some(User { name: "bob".into() })
    );
}

/// A cookie store with revocations: a session put with a user is ended by `revoke_all`, and
/// reading it afterwards says it is gone, even from a response that did not touch it.
#[actix_web::test]
async fn a_revoked_sealed_session_reads_as_gone() {
    let store = CookieStore::encrypted(KEY)
        .revocations(MemoryStore::default())
        .build()
        .unwrap();
    let middleware = SessionMiddleware::new(store);
    let app = test::init_service(App::new().wrap(middleware.clone()).configure(shop::routes)).await;
    let put = TestSession::of(&middleware)
        .user("42")
        .put(ann())
        .save()
        .await
        .unwrap();
    let page = |uri: &str| get_with(uri, put.cookie());
    let res = test::call_service(&app, page("/cart")).await; // an empty cart: nothing stored
    let after = put.after(&res).await.unwrap();
    assert!(after.exists());
    assert_eq!(after.user().as_deref(), Some("42"));

    middleware.sessions().revoke_all("42").await.unwrap();
    let res = test::call_service(&app, page("/cart")).await;
    assert!(!put.after(&res).await.unwrap().exists());
    let res = test::call_service(&app, page("/account")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}
