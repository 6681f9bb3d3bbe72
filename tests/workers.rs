//! A real `HttpServer` with two workers: a `MemoryStore` built inside the factory (one per
//! worker, so sessions are lost) is reported at WARN with the fix; one built outside and cloned
//! in is shared, and a visitor's session survives connections landing on either worker.
//!
//! Its own test binary, because it installs the process's global `tracing` subscriber (the
//! workers log on threads of their own): in a binary shared with other tests, it would read
//! their events too, and theirs could not install one.

use std::sync::OnceLock;

use actix_typed_session::state::CookieState;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::testing::conformance::incr;
use actix_typed_session::SessionMiddleware;
use actix_web::{web, App, HttpServer};

use support::{http_get, Captured};

/// Worker threads log outside the test's thread: one global subscriber for this binary.
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        tracing::subscriber::set_global_default(captured.subscriber(tracing::Level::INFO))
            .expect("one global subscriber");
        captured
    })
}

const WARNING: &str = "each worker holds its own MemoryStore";

/// Eight requests, each on a new connection, carrying the cookie the last one set.
async fn count_eight_times(addr: std::net::SocketAddr, name: &str) -> Vec<String> {
    let mut cookie: Option<String> = None;
    let mut bodies = Vec::new();
    for _ in 0..8 {
        let header = cookie.as_ref().map(|v| format!("{name}={v}"));
        let reply = http_get(addr, "/incr", header.as_deref()).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        if let Some(value) = reply.cookie(name) {
            cookie = Some(value);
        }
        bodies.push(reply.body);
    }
    bodies
}

/// A real server of two workers whose factory wraps the counter in `sessions()`.
fn serve(
    sessions: impl Fn() -> SessionMiddleware + Send + Clone + 'static,
) -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions())
            .route("/incr", web::get().to(incr))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (addr, handle)
}

fn cookie(name: &str) -> CookieState {
    CookieState::new(name)
}

#[actix_web::test]
async fn a_memory_store_built_in_the_factory_is_reported() {
    let logs = logs();
    let (addr, handle) = serve(|| {
        // The mistake: a store per call of the factory, i.e. per worker.
        SessionMiddleware::builder(MemoryStore::default())
            .state(cookie("per_worker"))
            .build()
    });
    let bodies = count_eight_times(addr, "per_worker").await;
    handle.stop(true).await;
    let log = logs.text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(WARNING) && l.contains("per_worker"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning, with the fix:\n{log}");
    assert!(warnings[0].contains("WARN") && warnings[0].contains("HttpServer::new"));
    // What the warning is about: the count restarts whenever another worker answers.
    assert!(
        bodies.iter().filter(|b| *b == "1").count() > 1,
        "sessions were lost across workers: {bodies:?}"
    );
}

#[actix_web::test]
async fn a_memory_store_cloned_into_the_factory_is_shared_and_not_reported() {
    let logs = logs();
    let store = MemoryStore::default();
    let (addr, handle) = serve(move || {
        SessionMiddleware::builder(store.clone())
            .state(cookie("shared"))
            .build()
    });

    let bodies = count_eight_times(addr, "shared").await;
    handle.stop(true).await;
    let expected: Vec<String> = (1..=8).map(|n| n.to_string()).collect();
    assert_eq!(bodies, expected, "one session across both workers");
    let log = logs.text();
    assert!(
        !log.lines()
            .any(|l| l.contains(WARNING) && l.contains("shared")),
        "{log}"
    );
}
