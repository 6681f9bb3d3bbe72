//! Generic parameters, lifetimes and unions are not typed sessions.
use actix_typed_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize)]
struct Wrapper<T> {
    value: T,
}

#[derive(Session, Serialize)]
struct Borrowed<'a> {
    name: &'a str,
}

#[derive(Session)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
