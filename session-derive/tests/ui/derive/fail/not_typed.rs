//! The untyped handle's `put`/`typed` take typed sessions only; the error says how to make one.
use actix_typed_session::Session;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Prefs {
    dark: bool,
}

fn save(session: &Session) {
    let _ = session.put(Prefs { dark: true });
}

fn main() {
    let _ = save;
}
