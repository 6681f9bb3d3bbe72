//! Every supported shape and attribute, used as extractors.
use actix_typed_session::{Session, TypedSession};
use actix_web::{web, App};
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
struct ShoppingCart {
    items: Vec<String>,
}

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "cart_v2")]
struct CartV2 {
    items: Vec<String>,
}

#[derive(Session, Serialize, Deserialize)]
struct User {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(reject = 403)]
struct Admin(String);

#[derive(Session, Serialize, Deserialize, Default)]
#[session(redirect = "/login?next=%2Fmembers")]
#[session(key = "member")]
struct Member;

#[derive(Session, Serialize, Deserialize)]
#[session(redirect = "/login", flash = "Please sign in to see your orders.")]
struct Customer {
    id: u64,
}

#[derive(Session, Serialize, Deserialize, Default)]
enum Theme {
    #[default]
    Light,
    Dark,
}

#[derive(Session, Serialize, Deserialize)]
struct Owned
where
    String: Clone,
{
    name: String,
}

#[allow(non_camel_case_types)]
#[derive(Session, Serialize, Deserialize, Default)]
struct r#HTTPState {
    hits: u32,
}

async fn handler(
    _cart: ShoppingCart,
    _v2: CartV2,
    _user: Option<User>,
    _admin: Admin,
    _member: Member,
    _customer: Customer,
    _theme: Theme,
    _owned: Owned,
    _state: r#HTTPState,
) -> &'static str {
    "ok"
}

fn main() {
    assert_eq!(ShoppingCart::KEY, "shopping_cart");
    assert_eq!(CartV2::KEY, "cart_v2");
    assert_eq!(User::KEY, "user");
    assert_eq!(Admin::KEY, "admin");
    assert_eq!(Member::KEY, "member");
    assert_eq!(Customer::KEY, "customer");
    assert_eq!(Theme::KEY, "theme");
    assert_eq!(Owned::KEY, "owned");
    assert_eq!(r#HTTPState::KEY, "http_state");
    let _ = App::new().route("/", web::get().to(handler));
}
