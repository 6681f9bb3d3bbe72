//! An unknown word next to `csrf` errors at that word.
use actix_typed_session::session;
use actix_web::post;

#[post("/form")]
#[session(csrf, bogus)]
async fn form() -> &'static str {
    ""
}

fn main() {}
