//! A small shop on typed sessions: a `Cart` that handlers change in place, a `User` guard, login
//! with a new session id and logout that ends the session. Everything lives in the embedded
//! memory store.
//!
//! ```text
//! cargo run --example shop
//! ```
//! then open <http://127.0.0.1:8080/>. (Browsers accept the default `Secure` cookie on
//! `http://127.0.0.1`; with curl use `-c jar -b jar`.)

use actix_typed_session::{session, store::MemoryStore, Session, SessionError, SessionMiddleware};
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{get, post, web, App, HttpResponse, HttpServer, Responder};
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
/// who are not signed in to the login page.
#[derive(Session, Serialize, Deserialize)]
#[session(redirect = "/login")]
struct User {
    name: String,
}

#[derive(Deserialize)]
struct Login {
    name: String,
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(format!(
            "<!doctype html><meta charset=utf-8><title>{title}</title>\
         <p><a href=/>shop</a> · <a href=/cart>cart</a> · <a href=/account>account</a></p>\
         <h1>{title}</h1>{body}"
        ))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

fn price(cents: u32) -> String {
    format!("{}.{:02} €", cents / 100, cents % 100)
}

/// Reading the cart stores nothing.
#[get("/")]
async fn index(cart: Cart, user: Option<User>) -> impl Responder {
    let hello = match &user {
        Some(user) => format!("<p>Signed in as {}.</p>", escape(&user.name)),
        None => "<p><a href=/login>Sign in</a> to check out.</p>".to_owned(),
    };
    let rows: String = PRODUCTS
        .iter()
        .map(|(id, name, cents)| {
            format!(
                "<li>{name}, {} <form method=post action=/cart/{id} style=display:inline>\
                 <button>add</button></form></li>",
                price(*cents)
            )
        })
        .collect();
    page(
        "Tea shop",
        &format!(
            "{hello}<ul>{rows}</ul><p>{} items in your cart.</p>",
            cart.items.len()
        ),
    )
}

/// Changes the cart in place: saved when the handler returns.
#[post("/cart/{product}")]
async fn add(mut cart: Cart, product: web::Path<String>) -> HttpResponse {
    let product = product.into_inner();
    if PRODUCTS.iter().any(|(id, _, _)| *id == product) {
        cart.items.push(product);
    }
    see_other("/cart")
}

#[get("/cart")]
async fn show_cart(cart: Cart) -> impl Responder {
    let items: String = cart
        .items
        .iter()
        .map(|item| format!("<li>{item}</li>"))
        .collect();
    page(
        "Your cart",
        &format!(
            "<ul>{items}</ul><p>Total: {}</p>\
             <form method=post action=/cart/clear><button>empty the cart</button></form>\
             <p><a href=/checkout>check out</a></p>",
            price(cart.total())
        ),
    )
}

#[post("/cart/clear")]
async fn clear_cart(mut cart: Cart) -> HttpResponse {
    cart.items.clear();
    see_other("/cart")
}

/// Needs a signed-in user (the guard redirects otherwise). `no_store`: looking at the bill
/// changes nothing, even though the handler plays with a discount on its copy of the cart.
#[get("/checkout")]
#[session(no_store)]
async fn checkout(user: User, mut cart: Cart) -> impl Responder {
    cart.items.retain(|item| item != "mug"); // mugs are free today (this request only)
    page(
        "Checkout",
        &format!(
            "<p>{}, you pay {} for {} items. (Payment is left as an exercise.)</p>",
            escape(&user.name),
            price(cart.total()),
            cart.items.len()
        ),
    )
}

#[get("/account")]
async fn account(user: User) -> impl Responder {
    page(
        "Account",
        &format!(
            "<p>Signed in as {}.</p><form method=post action=/logout><button>sign out</button>\
             </form>",
            escape(&user.name)
        ),
    )
}

#[get("/login")]
async fn login_form() -> impl Responder {
    page(
        "Sign in",
        "<form method=post action=/login><input name=name placeholder=name required> \
         <button>sign in</button></form>",
    )
}

/// A new session id on login (against session fixation); the cart moves along.
#[post("/login")]
#[session(change_id)]
async fn login(session: Session, form: web::Form<Login>) -> Result<HttpResponse, SessionError> {
    session.put(User {
        name: form.into_inner().name,
    })?;
    Ok(see_other("/"))
}

/// Ends the session: the store forgets it (cart included) and the cookie is removed.
#[session(expire)]
#[post("/logout")]
async fn logout() -> HttpResponse {
    see_other("/")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // One store for every worker: build it outside the factory closure and clone it in.
    let store = MemoryStore::default();
    println!("shop example listening on http://{addr}/");
    HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .service(index)
            .service(clear_cart)
            .service(add)
            .service(show_cart)
            .service(checkout)
            .service(account)
            .service(login_form)
            .service(login)
            .service(logout)
    })
    .bind(addr)?
    .run()
    .await
}
