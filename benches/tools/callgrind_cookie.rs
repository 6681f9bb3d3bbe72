//! A callgrind harness for the cookie store: seals and opens typical sessions in a loop, or
//! drives increment requests through `actix_web::test`, so that instruction counts per operation
//! can be read off (wall-clock on a shared machine moves too much; instruction counts do not).
//!
//! ```text
//! cargo build --release --bin callgrind_cookie
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/callgrind_cookie seal-counter 1000
//! callgrind_annotate --inclusive=yes cg.out | head -60
//! ```
//!
//! `<what>` is one of:
//! - `seal-counter`, `open-counter`: `CookieStore::encrypted` seal / open of the bench's counter
//!   session (`{"counter": {"n": 7}}`);
//! - `seal-10`, `open-10`: the same for a session of ten short strings;
//! - `seal-signed`, `open-signed`: the counter, `CookieStore::signed`;
//! - `incr-ours`, `incr-theirs`, `incr-bare`: increment requests through `actix_web::test`, with
//!   our encrypted cookie store, actix-session 0.11's private (encrypted) cookie store, and bare
//!   actix-web (the same handler work, no session);
//! - `none`: setup only.
//!
//! Per-operation counts: run twice with different `<n>` and divide the difference of the totals
//! (`summary:` line of the callgrind output) by the difference of the `<n>`s; setup cancels out.
//! `benches/callgrind_cookie.sh` does exactly that for every case.

use std::collections::HashMap;
use std::hint::black_box;

use actix_typed_session::store::{Bytes, ClientStore, CookieStore, Meta, Record, SealContext};
use actix_typed_session::{Session, SessionError, SessionId, SessionMiddleware};
use actix_web::http::header::{COOKIE, SET_COOKIE};
use actix_web::{test, web, App};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default)]
struct Count {
    n: u64,
}

fn counter_record() -> Record {
    let mut data = HashMap::new();
    data.insert("counter".to_owned(), Bytes::from_static(br#"{"n":7}"#));
    Record {
        meta: Meta::new(1_700_000_000, 1_700_086_400),
        data,
    }
}

fn ten_key_record() -> Record {
    let data = (0..10)
        .map(|i| {
            let value = serde_json::to_vec(&format!("value number {i}")).unwrap();
            (format!("key{i}"), Bytes::from(value))
        })
        .collect();
    Record {
        meta: Meta::new(1_700_000_000, 1_700_086_400),
        data,
    }
}

fn ctx() -> SealContext<'static> {
    SealContext::new("id")
}

#[inline(never)]
fn seal_loop(store: &CookieStore, id: &SessionId, record: &Record, n: usize) {
    for _ in 0..n {
        black_box(
            store
                .seal(black_box(id), black_box(record), &ctx())
                .unwrap(),
        );
    }
}

#[inline(never)]
fn open_loop(store: &CookieStore, value: &str, n: usize) {
    for _ in 0..n {
        let opened = store.open(black_box(value), &ctx());
        assert!(opened.is_some());
        black_box(opened);
    }
}

fn micro(what: &str, n: usize) {
    let (store, record) = match what {
        "seal-counter" | "open-counter" => (
            CookieStore::encrypted([7u8; 64]).build().unwrap(),
            counter_record(),
        ),
        "seal-10" | "open-10" => (
            CookieStore::encrypted([7u8; 64]).build().unwrap(),
            ten_key_record(),
        ),
        "seal-signed" | "open-signed" => (
            CookieStore::signed([7u8; 64]).build().unwrap(),
            counter_record(),
        ),
        _ => unreachable!(),
    };
    let id = SessionId::generate();
    let Some(value) = store.seal(&id, &record, &ctx()).unwrap() else {
        panic!("the cookie store seals")
    };
    if what.starts_with("seal") {
        seal_loop(&store, &id, &record, n);
    } else {
        open_loop(&store, &value, n);
    }
}

async fn ours_write(session: Session) -> Result<String, SessionError> {
    let mut count: Count = session.get("counter")?.unwrap_or_default();
    count.n += 1;
    session.set("counter", &count)?;
    Ok(count.n.to_string())
}

async fn theirs_write(session: actix_session::Session) -> actix_web::Result<String> {
    let mut count: Count = session
        .get("counter")
        .map_err(actix_web::error::ErrorInternalServerError)?
        .unwrap_or_default();
    count.n += 1;
    session
        .insert("counter", &count)
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(count.n.to_string())
}

async fn bare_write() -> String {
    (1u64 + 1).to_string()
}

/// `n` increment requests with the cookie `cookie`, each response read to the end.
async fn drive<S, B>(app: &S, cookie: &str, n: usize)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    for _ in 0..n {
        let req = test::TestRequest::get()
            .uri("/write")
            .insert_header((COOKIE, cookie.to_owned()))
            .to_request();
        let res = test::call_service(app, req).await;
        assert!(res.status().is_success());
        black_box(test::read_body(res).await);
    }
}

fn set_cookie<B>(res: &actix_web::dev::ServiceResponse<B>) -> String {
    let header = res.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    header.split(';').next().unwrap().to_owned()
}

fn requests(what: &str, n: usize) {
    let sys = actix_web::rt::System::new();
    sys.block_on(async move {
        match what {
            "incr-ours" => {
                let store = CookieStore::encrypted([7u8; 64]).build().unwrap();
                let app = test::init_service(
                    App::new()
                        .wrap(SessionMiddleware::new(store))
                        .route("/write", web::get().to(ours_write)),
                )
                .await;
                let first =
                    test::call_service(&app, test::TestRequest::get().uri("/write").to_request())
                        .await;
                let cookie = set_cookie(&first);
                drive(&app, &cookie, n).await;
            }
            "incr-theirs" => {
                let key = actix_web::cookie::Key::from(&[7u8; 64]);
                let mw = actix_session::SessionMiddleware::builder(
                    actix_session::storage::CookieSessionStore::default(),
                    key,
                )
                .cookie_content_security(actix_session::config::CookieContentSecurity::Private)
                .build();
                let app = test::init_service(
                    App::new()
                        .wrap(mw)
                        .route("/write", web::get().to(theirs_write)),
                )
                .await;
                let first =
                    test::call_service(&app, test::TestRequest::get().uri("/write").to_request())
                        .await;
                let cookie = set_cookie(&first);
                drive(&app, &cookie, n).await;
            }
            "incr-bare" => {
                let app =
                    test::init_service(App::new().route("/write", web::get().to(bare_write))).await;
                // A cookie of the same shape as ours, so that the header work is the same.
                let cookie = format!("id={}", "A".repeat(150));
                drive(&app, &cookie, n).await;
            }
            _ => unreachable!(),
        }
    });
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "none".into());
    let n: usize = args.next().map_or(1000, |n| n.parse().expect("a count"));
    match what.as_str() {
        "none" => {}
        w if w.starts_with("seal") || w.starts_with("open") => micro(w, n),
        w if w.starts_with("incr") => requests(w, n),
        other => panic!("unknown case {other}"),
    }
}
