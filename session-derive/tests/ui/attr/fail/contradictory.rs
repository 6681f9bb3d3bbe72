//! Combinations where one option would do nothing.
use actix_typed_session::session;

#[session(expire, change_id)]
async fn expire_and_change_id() -> &'static str {
    ""
}

#[session(no_store, late_store, expire)]
async fn expire_beats_all() -> &'static str {
    ""
}

#[session(change_id, no_store)]
async fn change_id_saves_anyway() -> &'static str {
    ""
}

#[session(no_store, late_store)]
async fn nothing_to_delay() -> &'static str {
    ""
}

fn main() {}
