//! `#[session(..)]` above and below actix's route macros, on plain handlers, and with docs,
//! visibility, generics and other attributes kept.
use actix_typed_session::{session, Session};
use actix_web::{get, post, route, web, App, HttpResponse, Responder};

/// Below `#[post]`.
#[post("/login")]
#[session(change_id)]
async fn login(session: Session) -> impl Responder {
    let _ = session.set("user", 7);
    HttpResponse::Ok()
}

/// Above `#[get]`.
#[session(expire)]
#[get("/logout")]
async fn logout() -> &'static str {
    "bye"
}

#[route("/preview", method = "GET", method = "HEAD")]
#[session(no_store)]
async fn preview() -> &'static str {
    "preview"
}

#[session(late_store)]
async fn stream(_session: Session) -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// The one useful pair, with a trailing comma, kept docs and attributes.
#[session(change_id, late_store,)]
#[allow(clippy::unused_async)]
#[inline]
pub(crate) async fn renew<T: Responder + Default>(_session: Session) -> T {
    T::default()
}

struct Handlers;

impl Handlers {
    #[session(no_store)]
    async fn method() -> &'static str {
        "method"
    }
}

fn main() {
    let _ = App::new()
        .service(login)
        .service(logout)
        .service(preview)
        .service(web::resource("/stream").to(stream))
        .service(web::resource("/renew").to(renew::<String>))
        .route("/method", web::get().to(Handlers::method));
}
