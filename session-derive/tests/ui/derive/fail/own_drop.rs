//! The derive implements `Drop` (the write-back); the type cannot have its own.
use actix_typed_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
struct Visits(u32);

impl Drop for Visits {
    fn drop(&mut self) {}
}

fn main() {}
