//! Unknown and duplicate words, and key-value forms, each pointing at its word.
use actix_typed_session::session;

#[session(chnage_id)]
async fn typo() -> &'static str {
    ""
}

#[session(expire, expire)]
async fn duplicate() -> &'static str {
    ""
}

#[session(key = "cart")]
async fn key() -> &'static str {
    ""
}

#[session(late_store(true))]
async fn list() -> &'static str {
    ""
}

#[session(42)]
async fn literal() -> &'static str {
    ""
}

fn main() {}
