//! `#[session(csrf)]` above and below actix's route macros, alone and with other options, with
//! a `web::Form` after it.
use actix_typed_session::{session, CsrfToken, Session};
use actix_web::{get, post, web, App, HttpResponse, Responder};

#[derive(serde::Deserialize)]
struct Comment {
    text: String,
}

#[get("/comment")]
async fn show(csrf: CsrfToken) -> String {
    format!(r#"<input type="hidden" name="csrf_token" value="{csrf}">"#)
}

/// Below `#[post]`, with a form.
#[post("/comment")]
#[session(csrf)]
async fn comment(form: web::Form<Comment>) -> impl Responder {
    form.into_inner().text
}

/// Above `#[post]`, with `change_id`.
#[session(csrf, change_id)]
#[post("/login")]
async fn login(session: Session) -> impl Responder {
    let _ = session.set("user", 7);
    HttpResponse::Ok()
}

/// With `expire`: a logout form is guarded too.
#[post("/logout")]
#[session(expire, csrf)]
async fn logout() -> &'static str {
    "bye"
}

/// A plain handler.
#[session(csrf)]
async fn plain() -> &'static str {
    ""
}

fn main() {
    let _ = App::new()
        .service(show)
        .service(comment)
        .service(login)
        .service(logout)
        .route("/plain", web::put().to(plain));
}
