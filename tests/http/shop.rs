//! `examples/shop.rs` over HTTP, driven as a browser would: a visitor keeps the session cookie
//! and sends back the CSRF token of the last page's forms. The guard's redirect brings the
//! visitor back after signing in (never to another site) with a flash message, every `POST`
//! needs the token of the visitor's own session, the token changes at login, and the pages
//! count items in good English.

use examples::shop;

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

/// A browser: it keeps the session cookie and the CSRF token of the last page that had a form.
#[derive(Default, Clone)]
struct Visitor {
    id: Option<String>,
    token: Option<String>,
}

impl Visitor {
    /// Follows the response's cookie (a new id, or a removal) and picks up the page's token.
    fn saw(&mut self, res: &Resp) {
        if let Some(id) = res.id() {
            self.id = Some(id);
        } else if res.removal().is_some() {
            self.id = None;
        }
        if let Some(token) = csrf_field(&res.body) {
            self.token = Some(token);
        }
    }

    async fn get(&mut self, app: &impl TestApp, uri: &str) -> Resp {
        let res = send(app, get(uri, self.id.as_deref())).await;
        self.saw(&res);
        res
    }

    /// Posts a form with `fields` and the token of the last page, as a form of that page would.
    async fn submit(&mut self, app: &impl TestApp, uri: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.token.clone().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        let res = send(app, form_post(uri, self.id.as_deref(), &form)).await;
        self.saw(&res);
        res
    }
}

/// A POST of an urlencoded form, carrying the session `id` when given.
fn form_post(uri: &str, id: Option<&str>, form: &[(&str, &str)]) -> actix_http::Request {
    let mut req = test::TestRequest::post().uri(uri).set_form(form);
    if let Some(id) = id {
        req = req.insert_header(cookie_header(id));
    }
    req.to_request()
}

/// The value of the first hidden `csrf_token` field of a page.
fn csrf_field(body: &str) -> Option<String> {
    let start = body.find("name=csrf_token value=")? + "name=csrf_token value=".len();
    let rest = &body[start..];
    let end = rest.find(['>', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// Signs a new visitor in as `name` through the login page.
async fn signed_in(app: &impl TestApp, name: &str) -> Visitor {
    let mut visitor = Visitor::default();
    visitor.get(app, "/login").await;
    let res = visitor
        .submit(app, "/login", &[("name", name), ("next", "/account")])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    visitor.get(app, "/account").await;
    visitor
}

#[actix_web::test]
async fn the_login_guard_brings_the_visitor_back_with_a_flash_message() {
    let app = shop_app!();
    let mut visitor = Visitor::default();
    let res = visitor.get(&app, "/account").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/login?next=/account"));
    assert!(
        res.id().is_some(),
        "the guard's flash message is kept in a new session"
    );

    let res = visitor.get(&app, "/login?next=/account").await;
    assert!(
        res.body
            .contains("<p class=\"flash warning\">Please sign in first.</p>"),
        "the login page says why: {}",
        res.body
    );
    assert!(
        res.body.contains("name=next value=\"/account\""),
        "{}",
        res.body
    );
    // Shown once.
    let again = visitor.get(&app, "/login?next=/account").await;
    assert!(
        !again.body.contains("Please sign in first."),
        "{}",
        again.body
    );

    let before = visitor.id.clone();
    let res = visitor
        .submit(&app, "/login", &[("name", "ann"), ("next", "/account")])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(
        res.header("location"),
        Some("/account"),
        "back where they were"
    );
    assert_ne!(visitor.id, before, "a new id at login");
    let res = visitor.get(&app, "/account").await;
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
        let mut visitor = Visitor::default();
        let page = visitor
            .get(
                &app,
                &format!(
                    "/login?next={}",
                    evil.replace('/', "%2F").replace(':', "%3A")
                ),
            )
            .await;
        assert!(!page.body.contains("evil"), "{evil}: {}", page.body);
        let res = visitor
            .submit(&app, "/login", &[("name", "eve"), ("next", evil)])
            .await;
        assert_eq!(res.status, 303, "{evil}: {}", res.body);
        assert_eq!(res.header("location"), Some("/"), "{evil}");
    }
}

#[actix_web::test]
async fn one_item_is_one_item() {
    let app = shop_app!();
    let mut visitor = Visitor::default();
    visitor.get(&app, "/").await;
    visitor.submit(&app, "/cart/tea", &[]).await;
    assert!(visitor
        .get(&app, "/")
        .await
        .body
        .contains("1 item in your cart."));
    visitor.submit(&app, "/cart/mug", &[]).await;
    assert!(visitor
        .get(&app, "/")
        .await
        .body
        .contains("2 items in your cart."));
}

#[actix_web::test]
async fn flash_messages_show_once_after_the_redirect() {
    let app = shop_app!();
    let mut visitor = Visitor::default();
    visitor.get(&app, "/").await;
    visitor.submit(&app, "/cart/tea", &[]).await;
    let flash = "<p class=\"flash success\">Added Green tea to your cart.</p>";
    assert!(visitor.get(&app, "/cart").await.body.contains(flash));
    assert!(!visitor.get(&app, "/cart").await.body.contains(flash));

    visitor.submit(&app, "/cart/clear", &[]).await;
    assert!(visitor
        .get(&app, "/")
        .await
        .body
        .contains("<p class=\"flash info\">Your cart is empty now.</p>"));

    visitor.get(&app, "/login").await;
    visitor
        .submit(&app, "/login", &[("name", "ann"), ("next", "/account")])
        .await;
    assert!(visitor
        .get(&app, "/account")
        .await
        .body
        .contains("<p class=\"flash success\">Welcome, ann.</p>"));

    let res = visitor.submit(&app, "/logout", &[]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.header("location"), Some("/?signed_out=1"));
    assert!(res.removal().is_some(), "logout removes the cookie");
    assert!(visitor
        .get(&app, "/?signed_out=1")
        .await
        .body
        .contains("<p class=\"flash info\">You are signed out.</p>"));
}

/// Each of the shop's `POST` routes, with the form fields it needs.
const POSTS: [(&str, &[(&str, &str)]); 4] = [
    ("/cart/pot", &[]),
    ("/cart/clear", &[]),
    ("/logout", &[]),
    ("/login", &[("name", "mallory"), ("next", "/")]),
];

#[actix_web::test]
async fn every_post_needs_the_token_of_the_visitors_own_session() {
    let app = shop_app!();
    let ann = signed_in(&app, "ann").await;
    let mut ann = ann.clone();
    ann.get(&app, "/").await;
    ann.submit(&app, "/cart/tea", &[]).await;
    let mallory = signed_in(&app, "mallory").await;

    for (uri, fields) in POSTS {
        // No token, a forged one, and a valid token of another session: 403, before the handler.
        let mut forged = ann.clone();
        forged.token = None;
        let res = forged.submit(&app, uri, fields).await;
        assert_eq!(res.status, 403, "{uri} without a token");
        assert_eq!(res.body, "CSRF token missing or invalid");
        forged.token = Some("A".repeat(86));
        assert_eq!(forged.submit(&app, uri, fields).await.status, 403, "{uri}");
        forged.token = mallory.token.clone();
        assert_eq!(
            forged.submit(&app, uri, fields).await.status,
            403,
            "{uri} with another session's token"
        );
        // A plain POST without a form (as a cross-site `fetch` with no body would send).
        let res = send(&app, post(uri, ann.id.as_deref())).await;
        assert_eq!(res.status, 403, "{uri} without a body");
    }
    // Nothing of the above ran: ann is still signed in with one item in her cart.
    let page = ann.get(&app, "/").await.body;
    assert!(page.contains("Signed in as ann."), "{page}");
    assert!(page.contains("1 item in your cart."), "{page}");
}

#[actix_web::test]
async fn the_token_changes_at_login() {
    let app = shop_app!();
    let mut visitor = Visitor::default();
    visitor.get(&app, "/login").await;
    let before_login = visitor.token.clone();
    visitor
        .submit(&app, "/login", &[("name", "ann"), ("next", "/")])
        .await;
    // The token of the login page (captured before login) opens nothing after it.
    let mut stale = visitor.clone();
    stale.token = before_login;
    assert_eq!(stale.submit(&app, "/cart/tea", &[]).await.status, 403);
    // A page shown after login has the new one.
    visitor.get(&app, "/").await;
    assert_eq!(visitor.submit(&app, "/cart/tea", &[]).await.status, 303);
}

#[actix_web::test]
async fn an_empty_cart_page_stores_nothing() {
    let app = shop_app!();
    let res = send(&app, get("/cart", None)).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.id(), None, "no form, no token, no session");
    assert_eq!(csrf_field(&res.body), None);
}
