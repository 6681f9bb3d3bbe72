//! The write-back `Drop` impl forbids destructuring by move (take fields by reference or with
//! `std::mem::take` instead).
use actix_typed_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
struct Cart {
    items: Vec<String>,
}

async fn checkout(cart: Cart) -> usize {
    let Cart { items } = cart;
    items.len()
}

fn main() {
    let _ = checkout;
}
