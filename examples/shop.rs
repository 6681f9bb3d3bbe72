//! A small shop on typed sessions: a `Cart` that handlers change in place, a `User` guard that
//! sends visitors to the login page and brings them back afterwards, login with a new session id
//! and logout that ends the session. Flash messages say what just happened ("added to your
//! cart") on the page after a redirect. Every form carries a CSRF token and every `POST` handler
//! checks it (`#[session(csrf)]`). Everything lives in the embedded memory store.
//! `tests/http/shop.rs` drives it over HTTP; `tests/http/shop_helpers.rs` tests it with the test
//! helpers.
//!
//! ```text
//! cargo run --example shop
//! ```
//! then open <http://127.0.0.1:8080/>. (Browsers accept the default `Secure` cookie on
//! `http://127.0.0.1`; with curl use `-c jar -b jar`.)

use actix_typed_session::typed::local_path;
use actix_typed_session::{
    session, store::MemoryStore, CsrfToken, Flash, Level, Session, SessionError, SessionMiddleware,
};
use actix_web::error::ErrorInternalServerError;
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{get, post, web, App, Error, HttpResponse, HttpServer, Responder};
use serde::{Deserialize, Serialize};

const PRODUCTS: [(&str, &str, u32); 3] = [
    ("tea", "Green tea", 450),
    ("mug", "Stoneware mug", 1200),
    ("pot", "Cast-iron teapot", 3900),
];

/// The cart: with `Default`, a visitor without one gets an empty cart, and nothing is stored
/// (no cookie) until something goes into it.
#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "cart")]
struct Cart {
    items: Vec<String>,
}

impl Cart {
    fn total(&self) -> u32 {
        self.items
            .iter()
            .filter_map(|id| PRODUCTS.iter().find(|(p, _, _)| p == id))
            .map(|(_, _, cents)| cents)
            .sum()
    }
}

/// The signed-in user: no `Default`, so it is a guard. Pages that take a `User` send visitors
/// who are not signed in to the login page, as `/login?next=<the page they asked for>`, with a
/// flash message that the login page shows.
#[derive(Session, Serialize, Deserialize)]
#[session(redirect = "/login", flash = "Please sign in first.")]
struct User {
    name: String,
}

#[derive(Deserialize)]
struct Login {
    name: String,
    /// Where to go once signed in (from the guard's redirect, through the form).
    #[serde(default)]
    next: String,
}

/// The query of the login page.
#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// The query of the home page: `?signed_out=1` after logout.
#[derive(Deserialize)]
struct Home {
    signed_out: Option<String>,
}

/// The flash messages, read (so shown once) as HTML.
fn notes(flash: &Flash) -> String {
    flash
        .messages()
        .iter()
        .map(|m| format!("<p class=\"flash {}\">{}</p>", m.level, escape(&m.text)))
        .collect()
}

/// "1 item", "2 items".
fn items(n: usize) -> String {
    match n {
        1 => "1 item".to_owned(),
        n => format!("{n} items"),
    }
}

/// A page, with the flash messages (see [`notes`]) above its title.
fn page(notes: &str, title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(format!(
            "<!doctype html><meta charset=utf-8><title>{title}</title>\
         <p><a href=/>shop</a> · <a href=/cart>cart</a> · <a href=/account>account</a></p>\
         {notes}<h1>{title}</h1>{body}"
        ))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

/// The hidden field that carries the CSRF token in a form (masked anew on every use).
fn csrf_field(csrf: &CsrfToken) -> String {
    format!("<input type=hidden name=csrf_token value={csrf}>")
}

fn price(cents: u32) -> String {
    format!("{}.{:02} €", cents / 100, cents % 100)
}

/// The products, each with a form that adds it to the cart. Reading the cart stores nothing; the
/// forms' CSRF token is kept in the session, so a first visit gets a session.
#[get("/")]
async fn index(
    cart: Cart,
    user: Option<User>,
    flash: Flash,
    csrf: CsrfToken,
    query: web::Query<Home>,
) -> impl Responder {
    if query.signed_out.is_some() {
        // Logout ends the session, messages included: this note is for this request only.
        flash.now(Level::Info, "You are signed out.");
    }
    let hello = match &user {
        Some(user) => format!("<p>Signed in as {}.</p>", escape(&user.name)),
        None => "<p><a href=/login>Sign in</a> to check out.</p>".to_owned(),
    };
    let rows: String = PRODUCTS
        .iter()
        .map(|(id, name, cents)| {
            format!(
                "<li>{name}, {} <form method=post action=/cart/{id} style=display:inline>\
                 {}<button>add</button></form></li>",
                price(*cents),
                csrf_field(&csrf)
            )
        })
        .collect();
    page(
        &notes(&flash),
        "Tea shop",
        &format!(
            "{hello}<ul>{rows}</ul><p>{} in your cart.</p>",
            items(cart.items.len())
        ),
    )
}

/// Changes the cart in place: saved when the handler returns. Like every `POST` of the shop, it
/// runs only with the session's CSRF token in the form (403 otherwise).
#[post("/cart/{product}")]
#[session(csrf)]
async fn add(mut cart: Cart, flash: Flash, product: web::Path<String>) -> HttpResponse {
    let product = product.into_inner();
    if let Some((_, name, _)) = PRODUCTS.iter().find(|(id, _, _)| *id == product) {
        flash.success(format!("Added {name} to your cart."));
        cart.items.push(product);
    }
    see_other("/cart")
}

/// The cart. Its only form, "empty the cart", is shown for a cart with something in it, so the
/// page asks for a CSRF token (with [`CsrfToken::of`]) only then: an empty cart stores nothing.
#[get("/cart")]
async fn show_cart(cart: Cart, flash: Flash, session: Session) -> Result<HttpResponse, Error> {
    let items: String = cart
        .items
        .iter()
        .map(|item| format!("<li>{item}</li>"))
        .collect();
    let clear = if cart.items.is_empty() {
        String::new()
    } else {
        let csrf = CsrfToken::of(&session).map_err(ErrorInternalServerError)?;
        format!(
            "<form method=post action=/cart/clear>{}<button>empty the cart</button></form>",
            csrf_field(&csrf)
        )
    };
    Ok(page(
        &notes(&flash),
        "Your cart",
        &format!(
            "<ul>{items}</ul><p>Total: {}</p>{clear}<p><a href=/checkout>check out</a></p>",
            price(cart.total())
        ),
    ))
}

#[post("/cart/clear")]
#[session(csrf)]
async fn clear_cart(mut cart: Cart, flash: Flash) -> HttpResponse {
    cart.items.clear();
    flash.info("Your cart is empty now.");
    see_other("/cart")
}

/// Needs a signed-in user (the guard redirects otherwise). `no_store`: looking at the bill
/// changes nothing, even though the handler plays with a discount on its copy of the cart.
/// (It does not read the flash messages: under `no_store` they would show and stay.)
#[get("/checkout")]
#[session(no_store)]
async fn checkout(user: User, mut cart: Cart) -> impl Responder {
    cart.items.retain(|item| item != "mug"); // mugs are free today (this request only)
    page(
        "",
        "Checkout",
        &format!(
            "<p>{}, you pay {} for {}. (Payment is left as an exercise.)</p>",
            escape(&user.name),
            price(cart.total()),
            items(cart.items.len())
        ),
    )
}

#[get("/account")]
async fn account(user: User, flash: Flash, csrf: CsrfToken) -> impl Responder {
    page(
        &notes(&flash),
        "Account",
        &format!(
            "<p>Signed in as {}.</p><form method=post action=/logout>{}\
             <button>sign out</button></form>",
            escape(&user.name),
            csrf_field(&csrf)
        ),
    )
}

/// The login page. Sent here by the `User` guard, it shows the guard's flash message ("Please
/// sign in first.") and keeps where to go next.
#[get("/login")]
async fn login_form(query: web::Query<Next>, flash: Flash, csrf: CsrfToken) -> impl Responder {
    let next = query.next.as_deref().and_then(local_path);
    page(
        &notes(&flash),
        "Sign in",
        &format!(
            "<form method=post action=/login>{}<input name=name placeholder=name required> \
             <input type=hidden name=next value=\"{}\"><button>sign in</button></form>",
            csrf_field(&csrf),
            escape(next.unwrap_or("/"))
        ),
    )
}

/// A new session id on login (against session fixation); the cart moves along, and the CSRF
/// token changes with the id. Then back to the page the guard sent the visitor away from, if it
/// is a page of this site. The CSRF check also stops login CSRF (signing a victim in to the
/// attacker's account).
#[post("/login")]
#[session(change_id, csrf)]
async fn login(
    session: Session,
    flash: Flash,
    form: web::Form<Login>,
) -> Result<HttpResponse, SessionError> {
    let Login { name, next } = form.into_inner();
    flash.success(format!("Welcome, {name}."));
    session.put(User { name })?;
    Ok(see_other(local_path(&next).unwrap_or("/")))
}

/// Ends the session: the store forgets it (cart included) and the cookie is removed. A flash
/// message would go with it, so the home page is told in its query instead.
#[session(expire, csrf)]
#[post("/logout")]
async fn logout() -> HttpResponse {
    see_other("/?signed_out=1")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The shop's routes, for `main` and for `tests/http/shop.rs`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index)
        .service(clear_cart)
        .service(add)
        .service(show_cart)
        .service(checkout)
        .service(account)
        .service(login_form)
        .service(login)
        .service(logout);
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The session layer reports through `tracing` (a tampered cookie, a store that fails): show
    // its events on the terminal.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // One store for every worker: build it outside the factory closure and clone it in.
    let store = MemoryStore::default();
    println!("shop example listening on http://{addr}/");
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .configure(routes)
    })
    .bind(addr)?
    .run()
    .await
}
