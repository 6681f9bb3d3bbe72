//! `#[session(..)]` above the derive is the handler attribute, not the derive's helper.
use actix_typed_session::{session, Session};
use serde::{Deserialize, Serialize};

#[session(key = "cart")]
#[derive(Session, Serialize, Deserialize, Default)]
struct Cart {
    items: Vec<String>,
}

fn main() {}
