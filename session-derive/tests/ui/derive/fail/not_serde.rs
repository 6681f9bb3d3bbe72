//! A typed session must be `Serialize + Deserialize`.
use actix_typed_session::Session;
use serde::Serialize;

#[derive(Session, Serialize, Default)]
struct Cart {
    items: Vec<String>,
}

fn main() {}
