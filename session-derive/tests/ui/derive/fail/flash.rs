//! `flash` on a guard that does not redirect, or with an empty message: both are reported, at
//! the message.
use actix_typed_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize)]
#[session(reject = 401, flash = "Please sign in.")]
struct NoRedirect {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(flash = "Please sign in.")]
struct FlashOnly {
    id: u64,
}

#[derive(Session, Serialize, Deserialize)]
#[session(redirect = "/login", flash = " ")]
struct Blank {
    id: u64,
}

fn main() {}
