//! `fresh = ".."` alone and with other options.
use actix_typed_session::{session, Session};
use actix_web::{get, post};

#[get("/settings")]
#[session(fresh = "10m")]
async fn settings(_session: Session) -> &'static str {
    ""
}

#[post("/password")]
#[session(csrf, change_id, fresh = "1h30m")]
async fn password(_session: Session) -> &'static str {
    ""
}

#[post("/close")]
#[session(fresh = "90s", expire)]
async fn close() -> &'static str {
    ""
}

fn main() {
    let _ = (settings, password, close);
}
