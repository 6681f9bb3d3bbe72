//! `examples/shop.rs` over HTTP: the guard's redirect brings the visitor back after signing in,
//! never to another site, and the pages count items in good English.

#[allow(dead_code)] // its `main` runs the server; the tests use its routes
#[path = "../examples/shop.rs"]
mod shop;

mod support;

use actix_typed_session::store::MemoryStore;
use actix_typed_session::SessionMiddleware;
use actix_web::{test, App};

use support::*;

/// The shop's routes behind the default middleware.
macro_rules! shop_app {
    () => {
        test::init_service(
            App::new()
                .wrap(SessionMiddleware::new(MemoryStore::default()))
                .configure(shop::routes),
        )
        .await
    };
}

fn login(name: &str, next: &str, id: Option<&str>) -> actix_http::Request {
    let mut req = test::TestRequest::post()
        .uri("/login")
        .set_form([("name", name), ("next", next)]);
    if let Some(id) = id {
        req = req.insert_header(cookie_header(id));
    }
    req.to_request()
}

#[actix_web::test]
async fn the_login_guard_brings_the_visitor_back_to_the_page_they_asked_for() {
    let app = shop_app!();
    let res = send(&app, get("/account", None)).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/login?next=/account"));

    let res = send(&app, get("/login?next=/account", None)).await;
    assert!(
        res.body.contains("Please sign in to see /account."),
        "the page says why: {}",
        res.body
    );
    assert!(
        res.body.contains("name=next value=\"/account\""),
        "{}",
        res.body
    );

    let res = send(&app, login("ann", "/account", None)).await;
    assert_eq!(res.status, 303);
    assert_eq!(
        res.header("location"),
        Some("/account"),
        "back where they were"
    );
    let id = res.id().expect("signed in");
    let res = send(&app, get("/account", Some(&id))).await;
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Signed in as ann."), "{}", res.body);
}

#[actix_web::test]
async fn next_cannot_become_an_open_redirect() {
    let app = shop_app!();
    for evil in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let res = send(&app, login("eve", evil, None)).await;
        assert_eq!(res.status, 303);
        assert_eq!(res.header("location"), Some("/"), "{evil}");
        let page = send(
            &app,
            test::TestRequest::get()
                .uri(&format!(
                    "/login?next={}",
                    evil.replace('/', "%2F").replace(':', "%3A")
                ))
                .to_request(),
        )
        .await;
        assert!(!page.body.contains("evil"), "{evil}: {}", page.body);
    }
}

#[actix_web::test]
async fn one_item_is_one_item() {
    let app = shop_app!();
    let id = send(&app, post("/cart/tea", None)).await.id().unwrap();
    assert!(send(&app, get("/", Some(&id)))
        .await
        .body
        .contains("1 item in your cart."));
    send(&app, post("/cart/mug", Some(&id))).await;
    assert!(send(&app, get("/", Some(&id)))
        .await
        .body
        .contains("2 items in your cart."));
}

#[actix_web::test]
async fn flash_messages_show_once_after_the_redirect() {
    let app = shop_app!();
    // The guard sends the visitor to the login page, which says why.
    let res = send(&app, get("/login?next=/account", None)).await;
    assert!(
        res.body
            .contains("<p class=\"flash warning\">Please sign in to see /account.</p>"),
        "{}",
        res.body
    );
    assert_eq!(res.id(), None, "a `now` message stores nothing");

    let id = send(&app, post("/cart/tea", None)).await.id().unwrap();
    let flash = "<p class=\"flash success\">Added Green tea to your cart.</p>";
    assert!(send(&app, get("/cart", Some(&id)))
        .await
        .body
        .contains(flash));
    assert!(!send(&app, get("/cart", Some(&id)))
        .await
        .body
        .contains(flash));

    send(&app, post("/cart/clear", Some(&id))).await;
    assert!(send(&app, get("/", Some(&id)))
        .await
        .body
        .contains("<p class=\"flash info\">Your cart is empty now.</p>"));

    let res = send(&app, login("ann", "/account", Some(&id))).await;
    let id = res.id().unwrap();
    assert!(send(&app, get("/account", Some(&id)))
        .await
        .body
        .contains("<p class=\"flash success\">Welcome, ann.</p>"));

    let res = send(&app, post("/logout", Some(&id))).await;
    assert_eq!(res.header("location"), Some("/?signed_out=1"));
    assert!(send(&app, get("/?signed_out=1", None))
        .await
        .body
        .contains("<p class=\"flash info\">You are signed out.</p>"));
}
