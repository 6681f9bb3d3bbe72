//! What the login layer costs in store writes, counted through `testing::Instrumented` on the
//! memory store, Redis and PostgreSQL (real servers): recording the device adds no write to a
//! sign-in (it goes in the sign-in's own), and a signed-in session's fresh last-seen time costs
//! one touch a minute however busy it is (an anonymous session keeps the refresh step).
//! Each test prints its counts (`cargo test --test stores write_counts -- --nocapture`).

use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::{MemoryStore, PostgresStore, RedisStore, SessionStore};
use actix_typed_session::testing::Instrumented;
use actix_typed_session::{Session, SessionError, SessionId, SessionMiddleware};
use actix_web::{test, web, App};

use support::postgres::PgServer;
use support::redis::RedisServer;
use support::*;

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.set("theme", "dark")?;
    session.set_user("ann");
    session.change_id();
    Ok("in")
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<String>("theme")?.unwrap_or_default())
}

/// Writes (save, touch, change_id) the store got.
fn writes<S>(store: &Instrumented<S>) -> usize {
    store.calls.save() + store.calls.touch() + store.calls.change_id()
}

/// The counts of one store: (writes of a sign-in with the device recorded, without it), (writes
/// of 60 reads, one every 10 s, by a signed-in session, by an anonymous one).
async fn count<S: SessionStore + Clone>(store: S, name: &str) -> ((usize, usize), (usize, usize)) {
    let store = Instrumented::new(store);
    let clock = ManualClock::new();
    let app_with = |record: bool| {
        let mw = SessionMiddleware::builder(store.clone())
            .clock(clock.clone())
            .record_device(record)
            .build();
        test::init_service(
            App::new()
                .wrap(mw)
                .route("/login", web::post().to(login))
                .route("/read", web::get().to(read)),
        )
    };
    let with = app_with(true).await;
    let without = app_with(false).await;
    let counted = &store;
    let sign_in = |app| async move {
        let before = writes(counted);
        let req = test::TestRequest::post()
            .uri("/login")
            .insert_header(("user-agent", "Firefox/140"))
            .to_request();
        let id = send(app, req).await.id().unwrap();
        (writes(counted) - before, id)
    };
    let (device_on, tied) = sign_in(&with).await;
    let (device_off, _) = sign_in(&without).await;
    // A session with a value but no user.
    let anonymous = {
        let store = store.clone();
        let mw = SessionMiddleware::builder(store)
            .clock(clock.clone())
            .build();
        let app = test::init_service(App::new().wrap(mw).route(
            "/set",
            web::post().to(|s: Session| async move {
                s.set("theme", "light")?;
                Ok::<_, SessionError>("set")
            }),
        ))
        .await;
        send(&app, test::TestRequest::post().uri("/set").to_request())
            .await
            .id()
            .unwrap()
    };
    let busy = |id: String| {
        let (clock, store, app) = (&clock, &store, &with);
        async move {
            let before = writes(store);
            for _ in 0..60 {
                clock.advance(Duration::from_secs(10));
                assert_eq!(send(app, get("/read", Some(&id))).await.status, 200);
            }
            writes(store) - before
        }
    };
    let signed_in = busy(tied).await;
    let anon = busy(anonymous).await;
    eprintln!(
        "{name}: sign-in writes with the device {device_on}, without {device_off}; \
         60 reads in 10 minutes: signed in {signed_in} writes ({:.3} per request), \
         anonymous {anon}",
        signed_in as f64 / 60.0
    );
    ((device_on, device_off), (signed_in, anon))
}

fn expected(counts: ((usize, usize), (usize, usize))) {
    let ((device_on, device_off), (signed_in, anonymous)) = counts;
    assert_eq!(
        device_on, device_off,
        "the device rides in the sign-in's own write"
    );
    assert_eq!(
        device_on, 1,
        "a sign-in is one write (the id change with its values)"
    );
    assert_eq!(signed_in, 10, "one touch a minute for ten minutes");
    assert_eq!(
        anonymous, 0,
        "the default refresh step (2.4 h) is not reached"
    );
}

#[actix_web::test]
async fn memory() {
    expected(count(MemoryStore::default(), "memory").await);
}

#[actix_web::test]
async fn redis() {
    let server = RedisServer::start();
    let prefix = format!("ats-writes:{}:", SessionId::generate().log_tag());
    let store = RedisStore::builder(RedisStore::pool(&server.url).unwrap())
        .prefix(prefix)
        .build();
    expected(count(store, "redis").await);
}

#[actix_web::test]
async fn postgres() {
    let server = PgServer::start();
    let table = server.fresh_table().await;
    let pool = PostgresStore::pool_for(&server.url, Duration::from_secs(2)).unwrap();
    let store = PostgresStore::builder(pool).table(&table).build().unwrap();
    store.migrate().await.unwrap();
    expected(count(store, "postgres").await);
}
