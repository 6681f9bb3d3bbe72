//! Bad `fresh` durations: each error points at the value.
use actix_typed_session::session;

#[session(fresh = "10")]
async fn no_unit() {}

#[session(fresh = "ten minutes")]
async fn words() {}

#[session(fresh = 10)]
async fn not_a_string() {}

#[session(fresh = "0m")]
async fn zero() {}

#[session(fresh)]
async fn bare() {}

#[session(fresh = "1m", fresh = "2m")]
async fn twice() {}

fn main() {}
