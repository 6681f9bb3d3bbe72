//! RedisStore against a real redis-server: the conformance suite, round trips counted with
//! MONITOR, key layout, and failure behaviour (Redis killed, Redis paused).

mod support;

use std::sync::Arc;
use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::deadpool_redis;
use actix_typed_session::store::RedisStore;
use actix_typed_session::SessionId;
use actix_web::http::StatusCode;

use support::redis::RedisServer;
use support::*;

fn pool(url: &str) -> deadpool_redis::Pool {
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap()
}

/// A store with a prefix of its own, so tests can share a REDIS_URL server.
fn store_on(server: &RedisServer) -> RedisStore {
    let prefix = format!("ats-test:{}:", SessionId::generate().log_tag());
    RedisStore::builder(pool(&server.url))
        .prefix(prefix)
        .build()
}

fn redis_store() -> Guarded<RedisStore> {
    let server = RedisServer::start();
    Guarded {
        store: store_on(&server),
        guard: Arc::new(server),
    }
}

actix_typed_session::conformance_suite!(redis_store());

#[actix_web::test]
async fn records_are_keyed_by_the_hash_of_the_id() {
    let server = RedisServer::start();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, actix_web_get("/incr")).await.id().unwrap();
    let key = store.key(&SessionId::parse(&id).unwrap());
    assert!(key.ends_with(&SessionId::parse(&id).unwrap().store_key()));
    assert!(!key.contains(&id), "the raw id is not part of the key");
    assert_eq!(server.command(&format!("EXISTS {key}")).unwrap(), ":1\r\n");
    assert_eq!(server.command(&format!("TYPE {key}")).unwrap(), "+hash\r\n");
    // The Redis TTL follows the session's expiry (idle 600 s in the suite's middleware).
    let ttl: i64 = server.command(&format!("TTL {key}")).unwrap()[1..]
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 600, "ttl {ttl}");
}

fn actix_web_get(uri: &str) -> actix_http::Request {
    get(uri, None)
}

/// Round trips per request, counted from the server's MONITOR stream: commands run inside the
/// save script are not round trips and are filtered out.
#[actix_web::test]
async fn round_trips_per_request() {
    let server = RedisServer::spawn();
    let monitor = server.monitor();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);

    // Warm the connection up (the client's own handshake commands are not per-request cost).
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    monitor.reset();

    send(&app, get("/untouched", Some(&id))).await;
    assert_eq!(
        monitor.take(),
        Vec::<String>::new(),
        "untouched: no round trip"
    );

    send(&app, get("/read", Some(&id))).await;
    assert_eq!(monitor.take(), ["HGETALL"], "read: one round trip");

    send(&app, get("/incr", Some(&id))).await;
    assert_eq!(
        monitor.take(),
        ["HGETALL", "EVALSHA"],
        "write: load + one write"
    );

    send(&app, get("/incr", None)).await;
    assert_eq!(
        monitor.take(),
        ["EVALSHA"],
        "new visitor's first write: one write, no load"
    );

    for _ in 0..3 {
        send(&app, get("/read", Some(&id))).await;
    }
    assert_eq!(
        monitor.take(),
        ["HGETALL", "HGETALL", "HGETALL"],
        "unchanged within the refresh step: no touch"
    );

    clock.advance(conformance::IDLE / 5); // past the refresh step (a tenth of idle)
    send(&app, get("/read", Some(&id))).await;
    assert_eq!(
        monitor.take(),
        ["HGETALL", "EVALSHA"],
        "one touch once the step is passed"
    );
    send(&app, get("/read", Some(&id))).await;
    assert_eq!(monitor.take(), ["HGETALL"], "and not again right after");

    send(&app, post("/logout", Some(&id))).await;
    assert_eq!(
        monitor.take(),
        ["HGETALL", "EVALSHA"],
        "logout: the handler's read, one delete (a script that also takes a tied session out of its user's index)"
    );
}

#[actix_web::test]
async fn redis_down_answers_503_then_recovers() {
    let mut server = RedisServer::spawn();
    let store = RedisStore::builder(pool(&server.url))
        .timeout(Duration::from_millis(500))
        .build();
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();

    server.kill();
    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.body, "session store unavailable");
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a write that fails is not a success"
    );
    assert!(
        res.cookies.is_empty(),
        "no cookie for a session that was not saved"
    );

    server.restart();
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "back without restarting the app"
    );
    let id2 = res.id().unwrap();
    assert_eq!(send(&app, get("/incr", Some(&id2))).await.body, "2");
}

#[actix_web::test]
async fn paused_redis_fails_within_the_timeout() {
    let server = RedisServer::spawn();
    let store = RedisStore::builder(pool(&server.url))
        .timeout(Duration::from_millis(200))
        .build();
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();

    // Redis stops answering clients for 1.5 s. Had the request waited for Redis, it would have
    // succeeded once the pause ended; a 503 shows the store's timeout cut it short.
    assert_eq!(server.command("CLIENT PAUSE 1500 ALL").unwrap(), "+OK\r\n");
    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    server.command("CLIENT UNPAUSE").unwrap(); // queued behind the pause: returns when it ends
    assert_eq!(
        send(&app, get("/incr", Some(&id))).await.body,
        "2",
        "no data lost"
    );
}

#[actix_web::test]
async fn malformed_url_is_a_build_time_error() {
    assert!(RedisStore::from_url("not a url").is_err());
    assert!(RedisStore::from_url("redis://127.0.0.1:6379/0").is_ok());
}

/// A server that lost the scripts (`SCRIPT FLUSH`, or a failover to a fresh replica) costs one
/// `EVAL`, which loads the script again; nothing fails.
#[actix_web::test]
async fn flushed_scripts_fall_back_to_eval_once() {
    let server = RedisServer::spawn();
    let monitor = server.monitor();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    assert_eq!(server.command("SCRIPT FLUSH").unwrap(), "+OK\r\n");
    monitor.reset();
    assert_eq!(send(&app, get("/incr", Some(&id))).await.body, "2");
    assert_eq!(monitor.take(), ["HGETALL", "EVALSHA", "EVAL"]);
    assert_eq!(send(&app, get("/incr", Some(&id))).await.body, "3");
    assert_eq!(monitor.take(), ["HGETALL", "EVALSHA"], "cached again");
}

/// A counter as a typed session: its extractor asks the store for its one key.
#[derive(actix_typed_session::Session, serde::Serialize, serde::Deserialize, Default)]
#[session(key = "counter")]
struct Counter(u64);

async fn typed_incr(mut counter: Counter) -> String {
    counter.0 += 1;
    counter.0.to_string()
}

/// Reads the typed counter and, through the untyped handle, every other key.
async fn typed_and_untyped(
    counter: Counter,
    session: actix_typed_session::Session,
) -> Result<String, actix_typed_session::SessionError> {
    let other: Option<String> = session.get("other")?;
    Ok(format!("{} {other:?} {}", counter.0, session.len()))
}

/// A typed extractor loads the metadata and its own key (`HMGET`), never the whole hash, however
/// many other keys the session holds; the untyped handle next to it loads the rest.
#[actix_web::test]
async fn a_typed_extractor_loads_only_its_key() {
    let server = RedisServer::spawn();
    let monitor = server.monitor();
    let store = store_on(&server);
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(actix_typed_session::SessionMiddleware::new(store.clone()))
            .configure(actix_typed_session::testing::conformance::routes)
            .route("/typed", actix_web::web::get().to(typed_incr))
            .route("/both", actix_web::web::get().to(typed_and_untyped)),
    )
    .await;
    let id = send(&app, post("/set/other/x", None)).await.id().unwrap();
    for i in 0..50 {
        send(
            &app,
            post(&format!("/set/filler{i}/{}", "y".repeat(100)), Some(&id)),
        )
        .await;
    }
    monitor.reset();

    assert_eq!(send(&app, get("/typed", Some(&id))).await.body, "1");
    let lines = monitor.take_lines();
    let commands: Vec<String> = lines
        .iter()
        .filter_map(|l| l.split('"').nth(1).map(str::to_uppercase))
        .collect();
    assert_eq!(commands, ["HMGET", "EVALSHA"], "{lines:?}");
    assert!(
        lines[0].contains("\"m:c\" \"m:e\" \"m:s\" \"m:u\" \"m:h\" \"k:counter\"") && !lines[0].contains("filler"),
        "the metadata and the one key: {}",
        lines[0]
    );
    assert!(
        !lines[1].contains("filler"),
        "the save sends the one changed key"
    );

    assert_eq!(send(&app, get("/typed", Some(&id))).await.body, "2");
    let res = send(&app, get("/both", Some(&id))).await;
    assert_eq!(res.body, "2 Some(\"x\") 52");
    assert_eq!(monitor.take()[..2], ["HMGET", "EVALSHA"]);
}

/// Inside Redis, an update is two commands (the expiry, which also checks that the session
/// still exists, and one HSET), a touch two, a new session two.
#[actix_web::test]
async fn saves_run_few_commands_inside_redis() {
    let server = RedisServer::spawn();
    let monitor = server.monitor();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    send(&app, get("/incr", Some(&id))).await; // scripts loaded, connection warm
    monitor.reset();
    send(&app, get("/incr", None)).await;
    assert_eq!(monitor.take_script_commands(), ["HSET", "EXPIREAT"], "new");
    send(&app, get("/incr", Some(&id))).await;
    assert_eq!(
        monitor.take_script_commands(),
        ["EXPIREAT", "HSET"],
        "update"
    );
    clock.advance(conformance::IDLE / 5);
    send(&app, get("/read", Some(&id))).await;
    assert_eq!(
        monitor.take_script_commands(),
        ["EXPIREAT", "HSET"],
        "touch"
    );
}
