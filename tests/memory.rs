//! The conformance suite on the embedded memory store.

mod support;

use actix_typed_session::store::MemoryStore;
use support::{get, send};

actix_typed_session::conformance_suite!(MemoryStore::default());

/// Eviction (LRU) logs a warning the first time, and only then: a flood of new sessions pushing
/// out real users' sessions must not go unnoticed, nor flood the log itself.
#[actix_web::test]
async fn the_first_eviction_is_logged_once() {
    use actix_typed_session::clock::ManualClock;
    use actix_typed_session::testing::conformance::app;
    let (captured, _guard) = support::capture_logs();
    let clock = ManualClock::new();
    let store = MemoryStore::builder()
        .max_sessions(16)
        .clock(clock.clone())
        .build();
    let app = app(store.clone(), &clock).await;
    let first = send(&app, get("/incr", None)).await.id().unwrap();
    assert!(
        !captured.text().contains("evicted"),
        "nothing evicted yet: {}",
        captured.text()
    );
    for _ in 0..200 {
        send(&app, get("/incr", None)).await;
    }
    assert_eq!(
        send(&app, get("/read", Some(&first))).await.body,
        "none",
        "the first visitor's session was evicted"
    );
    let log = captured.text();
    assert_eq!(log.matches("MemoryStore is full").count(), 1, "{log}");
    assert!(
        log.contains("WARN") && log.contains("max_sessions"),
        "{log}"
    );
}
