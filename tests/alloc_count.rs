//! Allocations per request, counted (never timed): a request whose handler ignores the session
//! allocates only a small, known constant more than the same request on bare actix-web.
//!
//! Its own test binary, because it installs a counting global allocator. The count is per
//! thread, so the test harness's other threads do not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use actix_typed_session::store::MemoryStore;
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{COOKIE, SET_COOKIE};
use actix_web::{test, web, App};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a plain
// thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Extra allocations per request that an untouched session may cost over bare actix-web (4 when
/// this was written): the request's session slot (`Arc`), the request-extensions entry actix-web
/// boxes it into, the typed-session scope (`Rc`) and the boxed middleware future. Nothing is
/// parsed, loaded, hashed or encoded.
const UNTOUCHED_EXTRA: u64 = 4;

async fn untouched() -> &'static str {
    "ok"
}

async fn read(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("n")?.unwrap_or(0);
    Ok(n.to_string())
}

async fn write(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("n")?.unwrap_or(0) + 1;
    session.set("n", n)?;
    Ok(n.to_string())
}

const N: u64 = 50;

/// Allocations per request (building it, serving it, reading the body), after a warm-up.
async fn per_request<S, B>(app: &S, path: &str, cookie: &str) -> u64
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let one = || async {
        let req = test::TestRequest::get()
            .uri(path)
            .insert_header((COOKIE, cookie.to_owned()))
            .to_request();
        let res = test::call_service(app, req).await;
        assert!(res.status().is_success());
        test::read_body(res).await;
    };
    for _ in 0..10 {
        one().await;
    }
    let before = allocs();
    for _ in 0..N {
        one().await;
    }
    (allocs() - before) / N
}

#[actix_web::test]
async fn untouched_session_allocates_a_small_constant() {
    let bare = test::init_service(
        App::new()
            .route("/untouched", web::get().to(untouched))
            .route("/read", web::get().to(untouched))
            .route("/write", web::get().to(untouched)),
    )
    .await;
    let ours = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .route("/untouched", web::get().to(untouched))
            .route("/read", web::get().to(read))
            .route("/write", web::get().to(write)),
    )
    .await;
    let res = test::call_service(&ours, test::TestRequest::get().uri("/write").to_request()).await;
    let set_cookie = res.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    // The same Cookie header for both apps, so the requests cost the same to build.
    let bare_untouched = per_request(&bare, "/untouched", &cookie).await;
    let ours_untouched = per_request(&ours, "/untouched", &cookie).await;
    let ours_read = per_request(&ours, "/read", &cookie).await;
    let ours_write = per_request(&ours, "/write", &cookie).await;
    eprintln!(
        "allocations per request: bare {bare_untouched}, ours untouched {ours_untouched}, \
         read {ours_read}, write {ours_write}"
    );
    assert!(
        ours_untouched <= bare_untouched + UNTOUCHED_EXTRA,
        "untouched: {ours_untouched} allocations per request, bare actix-web {bare_untouched}"
    );
}
