//! The cost of `#[session(csrf)]` on a POST: the same handler with and without the check, through
//! the middleware on a `MemoryStore`, in a timed loop. Run in release:
//! `cargo run -p actix-typed-session --release --example csrf_cost`.

use std::time::Instant;

use actix_typed_session::{session, store::MemoryStore, CsrfToken, Session, SessionMiddleware};
use actix_web::{get, post, test, web, App};

#[derive(serde::Deserialize)]
struct Comment {
    text: String,
}

#[get("/form")]
async fn form(csrf: CsrfToken) -> String {
    csrf.to_string()
}

#[post("/plain")]
async fn plain(body: web::Form<Comment>) -> String {
    body.into_inner().text
}

/// Loads the session, as the check does: the plain handler never loads it (sessions are lazy).
#[post("/loaded")]
async fn loaded(_session: Session, body: web::Form<Comment>) -> String {
    body.into_inner().text
}

#[post("/checked")]
#[session(csrf)]
async fn checked(body: web::Form<Comment>) -> String {
    body.into_inner().text
}

#[actix_web::main]
async fn main() {
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .service(form)
            .service(plain)
            .service(loaded)
            .service(checked),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::get().uri("/form").to_request()).await;
    let set_cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();

    let n = 50_000u32;
    let form_req = |uri: &str| {
        test::TestRequest::post()
            .uri(uri)
            .insert_header(("cookie", cookie.clone()))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(format!("text=hello&csrf_token={token}"))
            .to_request()
    };
    let header_req = |uri: &str| {
        test::TestRequest::post()
            .uri(uri)
            .insert_header(("cookie", cookie.clone()))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("x-csrf-token", token.clone()))
            .set_payload("text=hello")
            .to_request()
    };
    for round in 0..3 {
        let mut line = format!("round {round}:");
        for (name, uri, header) in [
            ("without", "/plain", false),
            ("without, session loaded", "/loaded", false),
            ("csrf form field", "/checked", false),
            ("csrf header", "/checked", true),
        ] {
            let start = Instant::now();
            for _ in 0..n {
                let req = if header {
                    header_req(uri)
                } else {
                    form_req(uri)
                };
                let res = test::call_service(&app, req).await;
                assert!(res.status().is_success(), "{name}");
                let _ = test::read_body(res).await;
            }
            let ns = start.elapsed().as_nanos() / u128::from(n);
            line.push_str(&format!("  {name}: {ns} ns/req"));
        }
        println!("{line}");
    }
}
