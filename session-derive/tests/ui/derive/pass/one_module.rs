//! The derive, its helper (below the derive) and the handler attribute in one module, from one
//! `use` line.
use actix_typed_session::{session, Session};
use actix_web::{get, web, App, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Session, Serialize, Deserialize, Default)]
#[session(key = "cart")]
struct Cart {
    items: Vec<String>,
}

#[derive(Serialize, Deserialize, Session)]
#[session(reject = 401)]
struct User {
    id: u64,
}

#[get("/")]
#[session(no_store)]
async fn index(cart: Cart, user: Option<User>) -> String {
    format!("{} {}", cart.items.len(), user.is_some())
}

#[session(change_id)]
async fn login(session: Session) -> HttpResponse {
    let _ = session.put(User { id: 1 });
    HttpResponse::Ok().finish()
}

fn main() {
    let _ = App::new()
        .service(index)
        .route("/login", web::post().to(login));
}
