//! Unknown, duplicate, misplaced and invalid container attributes; all are reported.
use actix_typed_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize)]
#[session(kye = "cart", change_id)]
struct Typos {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(key = "a")]
#[session(key = "b")]
struct Keys {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(key = "")]
struct EmptyKey {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(reject = 302)]
struct Redirecting {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(redirect = "/log in")]
struct BadLocation {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(reject = 403, redirect = "/login")]
struct Both {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(key = cart)]
struct NotAString {
    id: u64,
}

fn main() {}
