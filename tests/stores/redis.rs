//! RedisStore against a real redis-server: the conformance suite, round trips counted with
//! MONITOR, key layout, and failure behaviour (Redis killed, Redis paused).

use std::sync::Arc;
use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::deadpool_redis;
use actix_typed_session::store::{RedisStore, UserIndex, UserKey};
use actix_typed_session::SessionId;
use actix_web::http::StatusCode;

use support::redis::RedisServer;
use support::*;

/// A pool whose connections leave time limits to the store (see `RedisStore::pool`).
fn pool(url: &str) -> deadpool_redis::Pool {
    RedisStore::pool(url).unwrap()
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

/// The store's `timeout` is the only time limit on a `RedisStore::pool`: a reply that comes
/// after 0.9 s is waited for under a 3 s timeout. deadpool-redis's default pool gives up after
/// redis-rs's own 500 ms instead (the contrast shows this test would see it).
#[actix_web::test]
async fn the_stores_timeout_is_the_only_time_limit() {
    let server = RedisServer::spawn();
    let default_pool = deadpool_redis::Config::from_url(&server.url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let clock = ManualClock::new();
    for (pool, expected) in [
        (pool(&server.url), StatusCode::OK),
        (default_pool, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let store = RedisStore::builder(pool)
            .timeout(Duration::from_secs(3))
            .build();
        let app = suite_app!(store.clone(), &clock);
        let id = send(&app, get("/incr", None)).await.id().unwrap();
        // Redis holds every reply for 0.9 s.
        assert_eq!(server.command("CLIENT PAUSE 900 ALL").unwrap(), "+OK\r\n");
        let res = send(&app, get("/incr", Some(&id))).await;
        assert_eq!(res.status, expected, "{}", res.body);
        server.command("CLIENT UNPAUSE").unwrap();
    }
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
        lines[0].contains("\"m:c\" \"m:e\" \"m:s\" \"m:u\" \"m:h\" \"m:t\" \"k:counter\"")
            && !lines[0].contains("filler"),
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

// ---------------------------------------------------------------------------------------------
// The user index (`Sessions`): its cost in round trips, its keys, and no leak.

/// Ties the session to the user of the path and writes a value: a login without `change_id`.
async fn tie(
    session: actix_typed_session::Session,
    user: actix_web::web::Path<String>,
) -> Result<&'static str, actix_typed_session::SessionError> {
    session.set_user(user.as_str());
    session.set("device", "d")?;
    Ok("tied")
}

/// The suite's routes, the user routes and `/tie/{user}`, on `mw`.
macro_rules! users_app {
    ($mw:expr) => {
        actix_web::test::init_service(
            actix_web::App::new()
                .wrap($mw)
                .configure(actix_typed_session::testing::conformance::routes)
                .configure(actix_typed_session::testing::users::user_routes)
                .route("/tie/{user}", actix_web::web::post().to(tie)),
        )
        .await
    };
}

/// The handles of a devices page (`handle device current` per line).
fn handles(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// The integer of a `:<n>` reply.
fn integer(reply: &str) -> i64 {
    reply
        .trim()
        .strip_prefix(':')
        .unwrap_or_else(|| panic!("not an integer reply: {reply:?}"))
        .parse()
        .unwrap()
}

/// Tying a session to a user costs no round trip: a tied session's writes, reads and touches
/// send what an untied one's do (its index entry is written in the same script).
#[actix_web::test]
async fn a_tied_session_costs_the_round_trips_of_an_untied_one() {
    let server = RedisServer::spawn();
    let monitor = server.monitor();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = users_app!(conformance::middleware(store.clone(), &clock));
    let untied = send(&app, get("/incr", None)).await.id().unwrap(); // warm
    monitor.reset();

    send(&app, post("/set/k/v", None)).await;
    let new_untied = monitor.take();
    let tied = send(&app, post("/tie/ann", None)).await.id().unwrap();
    let new_tied = monitor.take();
    assert_eq!(new_untied, ["EVALSHA"]);
    assert_eq!(
        new_tied, new_untied,
        "a new tied session: one write, like an untied one"
    );

    send(&app, get("/incr", Some(&untied))).await;
    let write_untied = monitor.take();
    send(&app, get("/incr", Some(&tied))).await;
    let write_tied = monitor.take();
    assert_eq!(write_untied, ["HGETALL", "EVALSHA"]);
    assert_eq!(write_tied, write_untied, "a tied write: load + one write");

    send(&app, post("/tie/bob", Some(&untied))).await;
    assert_eq!(
        monitor.take(),
        ["HGETALL", "EVALSHA"],
        "tying an existing session: load + one write"
    );

    clock.advance(conformance::IDLE / 5); // past the refresh step
    send(&app, get("/read", Some(&tied))).await;
    assert_eq!(
        monitor.take(),
        ["HGETALL", "EVALSHA"],
        "a tied touch: load + one touch"
    );
    send(&app, get("/read", Some(&tied))).await;
    assert_eq!(monitor.take(), ["HGETALL"]);

    // What the write script runs inside Redis for a tied write (for the record).
    send(&app, get("/incr", Some(&tied))).await;
    let inside = monitor.take_script_commands();
    eprintln!("a tied update inside Redis: {inside:?}");
    assert_eq!(inside[..2], ["EXPIREAT", "HSET"]);
    assert!(inside.contains(&"ZADD".to_owned()), "{inside:?}");
}

/// How many index members (`<64 hex>:<handle>`) one MONITOR line carries.
fn members_in(line: &str) -> usize {
    line.split('"')
        .filter(|arg| {
            arg.split_once(':').is_some_and(|(key, handle)| {
                key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) && handle.len() == 22
            })
        })
        .count()
}

/// Listing and revoking a user's sessions go in pages: `ZSCAN` reads about fifty members,
/// and one script reads (or ends) the sessions of that page, so no script works through the
/// whole index, however large; a small index is one page. A revocation raises its marker first
/// and lowers it at the end (one script each).
#[actix_web::test]
async fn listing_and_revoking_go_in_pages_on_one_node() {
    let server = RedisServer::spawn();
    let monitor = server.monitor();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = users_app!(conformance::middleware(store.clone(), &clock));
    send(&app, get("/incr", None)).await; // warm
    for n in [1usize, 40, 1000] {
        let user = format!("user{n}");
        for _ in 0..n {
            send(&app, post(&format!("/tie/{user}"), None)).await;
        }
        monitor.reset();

        let listed = send(&app, get(&format!("/u/devices/{user}"), None)).await;
        let listed = handles(&listed.body);
        assert_eq!(listed.len(), n);
        let lines = monitor.take_lines();
        let scans = lines.iter().filter(|l| l.contains("\"ZSCAN\"")).count();
        let pages: Vec<usize> = lines
            .iter()
            .filter(|l| l.contains("\"EVALSHA\""))
            .map(|l| members_in(l))
            .collect();
        eprintln!("listing {n}: {scans} scans, pages of {pages:?} members");
        assert_eq!(pages.iter().sum::<usize>(), n, "every member read once");
        assert!(
            pages.iter().all(|p| *p <= 150),
            "listing {n}: no script reads more than a page: {pages:?}"
        );
        if n <= 40 {
            // A small index is one page (a second `ZSCAN` may only find the end).
            assert_eq!(pages.len(), 1, "listing {n}: one page");
            assert!(scans <= 2, "listing {n}: {scans} scans");
        } else {
            assert!(pages.len() >= n / 150, "listing {n}: {pages:?}");
        }

        let res = send(&app, post(&format!("/u/revoke/{user}/{}", listed[0]), None)).await;
        assert_eq!(res.body, "true");
        let commands = monitor.take();
        assert_eq!(
            commands.first().map(String::as_str),
            Some("EVALSHA"),
            "marker raised"
        );
        assert_eq!(
            commands.last().map(String::as_str),
            Some("EVALSHA"),
            "marker lowered"
        );
        if n <= 40 {
            let scripts = commands.iter().filter(|c| *c == "EVALSHA").count();
            assert_eq!(
                scripts, 3,
                "revoking one of {n}: marker, page, marker: {commands:?}"
            );
        }
        let res = send(&app, post(&format!("/u/revoke/{user}/{}", listed[0]), None)).await;
        assert_eq!(res.body, "false", "gone already");
        monitor.take();

        let res = send(&app, post(&format!("/u/revoke_all/{user}"), None)).await;
        assert_eq!(res.body, (n - 1).to_string());
        let lines = monitor.take_lines();
        let pages: Vec<usize> = lines
            .iter()
            .filter(|l| l.contains("\"EVALSHA\""))
            .map(|l| members_in(l))
            .filter(|m| *m > 0)
            .collect();
        eprintln!("revoke_all {n}: pages of {pages:?} members");
        assert!(pages.iter().all(|p| *p <= 150), "{pages:?}");
        assert_eq!(pages.iter().sum::<usize>(), n - 1);
        assert_eq!(
            server
                .command(&format!(
                    "EXISTS {} {}",
                    store.user_index_key(&UserKey::of(&user)),
                    format_args!("{}r:{}", "session:", UserKey::of(&user).hex())
                ))
                .unwrap(),
            ":0\r\n",
            "an emptied index is gone, and so is the marker set"
        );
    }
}

/// The index is a sorted set under the hash of the user id (the id never appears in a key),
/// scored by each session's expiry, and expiring with its latest session; a logout takes the
/// session's entry out.
#[actix_web::test]
async fn the_index_is_keyed_by_the_hashed_user_and_expires_with_its_latest_session() {
    let server = RedisServer::spawn();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = users_app!(conformance::middleware(store.clone(), &clock));
    let user = "someone@example.com";
    let first = send(&app, post(&format!("/tie/{user}"), None))
        .await
        .id()
        .unwrap();
    clock.advance(Duration::from_secs(10));
    let second = send(&app, post(&format!("/tie/{user}"), None))
        .await
        .id()
        .unwrap();
    let index = store.user_index_key(&UserKey::of(user));
    assert!(index.ends_with(&UserKey::of(user).hex()));
    assert_eq!(
        server.command(&format!("TYPE {index}")).unwrap(),
        "+zset\r\n"
    );
    assert_eq!(
        integer(&server.command(&format!("ZCARD {index}")).unwrap()),
        2
    );
    assert_eq!(
        server.command("KEYS *example*").unwrap(),
        "*0\r\n",
        "no key holds the user id"
    );
    let expiry = |key: &str| integer(&server.command(&format!("EXPIRETIME {key}")).unwrap());
    let (first_key, second_key) = (
        store.key(&SessionId::parse(&first).unwrap()),
        store.key(&SessionId::parse(&second).unwrap()),
    );
    assert_eq!(expiry(&first_key) + 10, expiry(&second_key));
    assert_eq!(
        expiry(&index),
        expiry(&second_key),
        "the index expires with its latest session"
    );
    // The user id itself is the session's metadata (what `Session::user` returns).
    let whoami = send(&app, get("/u/whoami", Some(&first))).await;
    assert_eq!(whoami.body, user);

    send(&app, post("/logout", Some(&second))).await;
    assert_eq!(
        integer(&server.command(&format!("ZCARD {index}")).unwrap()),
        1,
        "a logout takes its entry out at once"
    );
    assert_eq!(
        expiry(&index),
        expiry(&first_key),
        "and the index's expiry follows"
    );
    send(&app, post("/logout", Some(&first))).await;
    assert_eq!(
        server.command(&format!("EXISTS {index}")).unwrap(),
        ":0\r\n"
    );
}

/// The leak measurement of the issue: 10 000 sessions of 100 users with a 2 s idle timeout
/// expire; each user is then listed once, the way a devices page would; nothing is left in
/// Redis (`DBSIZE` 0): no session hash, no index. No keyspace notification, no sweep.
#[actix_web::test]
async fn ten_thousand_expired_sessions_of_a_hundred_users_leave_no_key() {
    const USERS: usize = 100;
    const PER_USER: usize = 100;
    let server = RedisServer::spawn();
    let store = store_on(&server);
    let mw = actix_typed_session::SessionMiddleware::builder(store.clone())
        .idle_timeout(Duration::from_secs(2))
        .build();
    let app = users_app!(mw);
    let dbsize = || integer(&server.command("DBSIZE").unwrap());

    let started = std::time::Instant::now();
    for round in 0..PER_USER {
        let logins = (0..USERS).map(|u| send(&app, post(&format!("/tie/user{u}"), None)));
        for res in futures_util::future::join_all(logins).await {
            assert_eq!(res.status, StatusCode::OK, "round {round}");
        }
    }
    let created_in = started.elapsed();
    let after_creating = dbsize();
    let index_prefix = store.user_index_key(&UserKey::of(""));
    let index_prefix = &index_prefix[..index_prefix.len() - 64];
    let indexes = server.command(&format!("KEYS {index_prefix}*")).unwrap();
    eprintln!(
        "created {} sessions in {created_in:?}; DBSIZE then {after_creating}; index keys {}",
        USERS * PER_USER,
        indexes.trim()
    );
    assert!(after_creating > 0);

    // Every session expires within 2 s of its last write (whole seconds: up to 3 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let listed_at = std::time::Instant::now();
    for u in 0..USERS {
        let res = send(&app, get(&format!("/u/devices/user{u}"), None)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body, "", "user{u} has no live session");
    }
    let after_listing = dbsize();
    eprintln!(
        "listed {USERS} users in {:?}; DBSIZE then {after_listing}",
        listed_at.elapsed()
    );

    // Redis reclaims expired keys actively (and on access): wait for it, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut left = after_listing;
    while left > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = dbsize();
    }
    eprintln!("DBSIZE {left} after {:?} in all", started.elapsed());
    assert_eq!(left, 0, "keys left behind");
}

/// While a user keeps one session, their index lives on: the entries of the sessions that
/// expired meanwhile are pruned when the index is read, and nothing else is left.
#[actix_web::test]
async fn expired_entries_are_pruned_from_an_index_that_lives_on() {
    const USERS: usize = 10;
    const SHORT: usize = 50;
    let server = RedisServer::spawn();
    let store = store_on(&server);
    let short = users_app!(
        actix_typed_session::SessionMiddleware::builder(store.clone())
            .idle_timeout(Duration::from_secs(2))
            .build()
    );
    let long = users_app!(
        actix_typed_session::SessionMiddleware::builder(store.clone())
            .idle_timeout(Duration::from_secs(600))
            .build()
    );
    for u in 0..USERS {
        send(&long, post(&format!("/tie/user{u}"), None)).await;
        for _ in 0..SHORT {
            send(&short, post(&format!("/tie/user{u}"), None)).await;
        }
    }
    let zcard = |u: usize| {
        let index = store.user_index_key(&UserKey::of(format!("user{u}")));
        integer(&server.command(&format!("ZCARD {index}")).unwrap())
    };
    assert_eq!(zcard(0), 1 + SHORT as i64);
    // Expired within 3 s (whole seconds).
    tokio::time::sleep(Duration::from_secs(3)).await;
    for u in 0..USERS {
        let res = send(&long, get(&format!("/u/devices/user{u}"), None)).await;
        assert_eq!(handles(&res.body).len(), 1, "the long-lived one");
        assert_eq!(zcard(u), 1, "user{u}: the expired entries are pruned");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut left = integer(&server.command("DBSIZE").unwrap());
    while left > 2 * USERS as i64 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = integer(&server.command("DBSIZE").unwrap());
    }
    assert_eq!(left, 2 * USERS as i64, "one session and one index per user");
}

/// Scale: listing and `revoke_all` for a user with 1, 100 and 10 000 sessions, timed (printed)
/// and checked for their counts; each is one round trip whatever the count.
#[actix_web::test]
async fn listing_and_revoking_scale_with_the_sessions_of_one_user() {
    let server = RedisServer::spawn();
    assert_eq!(
        server
            .command("CONFIG SET slowlog-log-slower-than 0")
            .unwrap(),
        "+OK\r\n"
    );
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = users_app!(conformance::middleware(store.clone(), &clock));
    let sessions = actix_typed_session::SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .idle_timeout(conformance::IDLE)
        .build()
        .sessions();
    for n in [1usize, 100, 10_000] {
        let user = format!("scale{n}");
        for _ in 0..n / 100 {
            let logins = (0..100).map(|_| send(&app, post(&format!("/tie/{user}"), None)));
            futures_util::future::join_all(logins).await;
        }
        if n < 100 {
            for _ in 0..n {
                send(&app, post(&format!("/tie/{user}"), None)).await;
            }
        }
        slowest_script_micros(&server); // empties the slow log of the logins
        let started = std::time::Instant::now();
        let listed = sessions.of_user(&user).await.unwrap();
        let listing = started.elapsed();
        let listing_in_redis = slowest_script_micros(&server);
        assert_eq!(listed.len(), n);
        let started = std::time::Instant::now();
        let ended = sessions.revoke_all(&user).await.unwrap();
        let revoking = started.elapsed();
        let revoking_in_redis = slowest_script_micros(&server);
        assert_eq!(ended, n);
        assert!(sessions.of_user(&user).await.unwrap().is_empty());
        eprintln!(
            "{n} sessions of one user: of_user {listing:?} (its script {listing_in_redis} µs in \
             Redis), revoke_all {revoking:?} (its script {revoking_in_redis} µs in Redis)"
        );
    }
}

/// How long the slowest `EVALSHA` in the slow log took inside Redis (µs), and empties the log.
fn slowest_script_micros(server: &RedisServer) -> i64 {
    let port = server.addr().rsplit(':').next().unwrap().to_owned();
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port, "--json", "SLOWLOG", "GET", "128"])
        .output()
        .expect("redis-cli");
    server.command("SLOWLOG RESET").unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e[3][0]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case("evalsha"))
        })
        .filter_map(|e| e[2].as_i64())
        .max()
        .unwrap_or(0)
}

/// While a revocation of a user's sessions is under way (its marker raised in the user's marker
/// set), an id change of a session it ends gives up and ends the session, and one of a session
/// it spares goes through; a marker past its deadline counts for nothing.
#[actix_web::test]
async fn an_id_change_gives_up_while_a_revocation_of_its_session_is_under_way() {
    use actix_typed_session::store::{Bytes, Changes, Fetch, Meta, SessionStore, SessionUser};
    let server = RedisServer::spawn();
    let store = store_on(&server);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ann = SessionUser::new("ann");
    let spared = SessionUser::new("ann");
    let prefix = store.key(&SessionId::generate());
    let prefix = &prefix[..prefix.len() - 64];
    let markers = format!("{prefix}r:{}", ann.key.hex());
    let save = |user: &SessionUser| {
        let (store, meta) = (
            store.clone(),
            Meta::new(now, now + 600).with_user(Some(user.clone())),
        );
        async move {
            let id = SessionId::generate();
            let values = Changes::full([("k".to_owned(), Bytes::from_static(b"v"))]);
            store.save(&id, &meta, &values).await.unwrap();
            (id, meta)
        }
    };
    let mark = |member: String, deadline_ms: u64| {
        server
            .command(&format!("ZADD {markers} {deadline_ms} {member}"))
            .unwrap()
    };
    let far = (now + 3600) * 1000;

    // "All but the spared one" is under way: ann's session cannot move, the spared one can.
    mark(format!("a:{}:t1", spared.handle), far);
    let (id, meta) = save(&ann).await;
    let next = SessionId::generate();
    assert!(!store
        .change_id(&id, &next, &meta, &Changes::default())
        .await
        .unwrap());
    assert!(
        store.load(&id, Fetch::All).await.unwrap().is_none(),
        "it ended"
    );
    assert!(
        store.load(&next, Fetch::All).await.unwrap().is_none(),
        "nothing moved"
    );
    let (id, meta) = save(&spared).await;
    let next = SessionId::generate();
    assert!(store
        .change_id(&id, &next, &meta, &Changes::default())
        .await
        .unwrap());
    assert!(store.load(&next, Fetch::All).await.unwrap().is_some());

    // A marker of one other session spares ann's; one past its deadline counts for nothing.
    server.command(&format!("DEL {markers}")).unwrap();
    mark(format!("o:{}:t2", spared.handle), far);
    mark("a::t3".to_owned(), 1_000);
    let (id, meta) = save(&ann).await;
    let next = SessionId::generate();
    assert!(store
        .change_id(&id, &next, &meta, &Changes::default())
        .await
        .unwrap());
    // And one that ends ann's session by its handle.
    mark(format!("o:{}:t4", ann.handle), far);
    let last = SessionId::generate();
    assert!(!store
        .change_id(&next, &last, &meta, &Changes::default())
        .await
        .unwrap());
    assert!(store
        .user_sessions(&ann.key)
        .await
        .unwrap()
        .iter()
        .all(|r| r.meta.user.as_ref().unwrap().handle != ann.handle));
}

// ---------------------------------------------------------------------------------------------
// Whole loads of large sessions (`store/redis/whole.rs`).

/// Fills the session with `n` values `v0` .. `v{n-1}` (each its number).
pub(crate) async fn fill(
    session: actix_typed_session::Session,
    n: actix_web::web::Path<usize>,
) -> Result<String, actix_typed_session::SessionError> {
    for i in 0..*n {
        session.set(format!("v{i}"), i)?;
    }
    Ok(n.to_string())
}

/// Every value, checked: how many there are, and whether each but `v0` holds its number;
/// answers the count and `v0`.
pub(crate) async fn check_all(
    session: actix_typed_session::Session,
) -> Result<String, actix_typed_session::SessionError> {
    let keys = session.keys();
    for key in keys.iter().filter(|k| *k != "v0") {
        let want: usize = key[1..].parse().unwrap();
        assert_eq!(session.get::<usize>(key)?, Some(want), "{key}");
    }
    let v0: Option<usize> = session.get("v0")?;
    Ok(format!("{} values, v0 {v0:?}", keys.len()))
}

/// Sets `v0` to 1000 in a session loaded whole.
pub(crate) async fn bump(
    session: actix_typed_session::Session,
) -> Result<String, actix_typed_session::SessionError> {
    assert!(session.len() > 1);
    session.set("v0", 1000)?;
    Ok("bumped".into())
}

/// Small sessions are read with `HGETALL` (cheap for Redis); once the sessions read lately are
/// large, whole loads use the packing script (cheap for the app server), and every value comes
/// back the same either way; small sessions bring `HGETALL` back.
#[actix_web::test]
async fn large_sessions_are_read_packed_and_come_back_whole() {
    let server = RedisServer::spawn();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(conformance::middleware(store.clone(), &clock))
            .route("/fill/{n}", actix_web::web::post().to(fill))
            .route("/all", actix_web::web::get().to(check_all))
            .route("/bump", actix_web::web::post().to(bump)),
    )
    .await;
    let large = send(&app, post("/fill/150", None)).await.id().unwrap();
    let small = send(&app, post("/fill/3", None)).await.id().unwrap();
    let monitor = server.monitor();
    monitor.reset();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let res = send(&app, get("/all", Some(&large))).await;
        assert_eq!(res.body, "150 values, v0 Some(0)");
        seen.extend(monitor.take());
    }
    assert_eq!(seen, ["HGETALL", "HGETALL", "EVALSHA", "EVALSHA"]);
    // A change through the packed load keeps the other 149 values.
    assert_eq!(send(&app, post("/bump", Some(&large))).await.body, "bumped");
    assert_eq!(monitor.take(), ["EVALSHA", "EVALSHA"], "load, save");
    let res = send(&app, get("/all", Some(&large))).await;
    assert_eq!(res.body, "150 values, v0 Some(1000)");
    monitor.take();
    let mut seen = Vec::new();
    for _ in 0..8 {
        let res = send(&app, get("/all", Some(&small))).await;
        assert_eq!(res.body, "3 values, v0 Some(0)");
        seen.extend(monitor.take());
    }
    assert_eq!(seen[..2], ["EVALSHA", "EVALSHA"], "{seen:?}");
    assert_eq!(seen[6..], ["HGETALL", "HGETALL"], "{seen:?}");
}

/// A signed-in session's last-seen time kept within a minute (`last_seen_step`) costs one
/// touch a minute, whatever the number of requests: 18 reads over 3 minutes write 3 times.
#[actix_web::test]
async fn fresh_last_seen_costs_one_write_a_minute() {
    let server = RedisServer::spawn();
    let monitor = server.monitor();
    let store = store_on(&server);
    let clock = ManualClock::new();
    let mw = actix_typed_session::SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .idle_timeout(Duration::from_secs(24 * 3600)) // refresh step: 2.4 h
        .build();
    let app = users_app!(mw);
    let tied = send(&app, post("/tie/ann", None)).await.id().unwrap();
    let untied = send(&app, post("/set/k/v", None)).await.id().unwrap();
    monitor.reset();
    for _ in 0..18 {
        clock.advance(Duration::from_secs(10));
        send(&app, get("/read", Some(&tied))).await;
    }
    let writes = monitor.take().iter().filter(|c| *c == "EVALSHA").count();
    assert_eq!(writes, 3, "18 reads in 3 minutes, one touch a minute");
    for _ in 0..18 {
        clock.advance(Duration::from_secs(10));
        send(&app, get("/read", Some(&untied))).await;
    }
    let writes = monitor.take().iter().filter(|c| *c == "EVALSHA").count();
    assert_eq!(writes, 0, "a session without a user keeps the refresh step");
}
