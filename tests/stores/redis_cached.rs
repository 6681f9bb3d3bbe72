//! RedisStore with its read cache (`RedisStore::cached`): the conformance suite, round trips
//! counted with MONITOR (a session read again costs none), and two app servers on one Redis:
//! a change, a revocation or a lost connection on one is seen by the other.

use std::sync::Arc;
use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::{ReadCache, RedisStore, UserIndex, UserKey};
use actix_typed_session::SessionId;
use actix_web::{test, App};

use support::conformance::{middleware, routes, user_routes};
use support::redis::RedisServer;
use support::*;

fn cached(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::cached(&server.url, ReadCache::default())
        .unwrap()
        .prefix(prefix)
        .build()
}

/// An uncached store on the same keys: another app server that does not cache.
fn plain(server: &RedisServer, prefix: &str) -> RedisStore {
    RedisStore::builder(RedisStore::pool(&server.url).unwrap())
        .prefix(prefix)
        .build()
}

fn prefix() -> String {
    format!("ats-test:{}:", SessionId::generate().log_tag())
}

fn cached_store() -> Guarded<RedisStore> {
    let server = RedisServer::start();
    Guarded {
        store: cached(&server, &prefix()),
        guard: Arc::new(server),
    }
}

actix_typed_session::conformance_suite!(cached_store());

macro_rules! app {
    ($store:expr, $clock:expr) => {
        test::init_service(
            App::new()
                .wrap(middleware($store, $clock))
                .configure(routes)
                .configure(user_routes),
        )
        .await
    };
}

/// Two app servers on `$server`'s keys, `one` with the cache and `two` without, and a session
/// of `one`'s that it has cached (counter 1): `(prefix, one, two, id)`.
macro_rules! two_servers {
    ($server:expr, $clock:expr) => {{
        let prefix = prefix();
        let one = app!(cached($server, &prefix), $clock);
        let two = app!(plain($server, &prefix), $clock);
        let id = send(&one, get("/incr", None)).await.id().unwrap();
        assert_eq!(send(&one, get("/read", Some(&id))).await.body, "1");
        (prefix, one, two, id)
    }};
}

/// Polls `read` until it answers `want` (the other server's push arrives as fast as a reply,
/// but on its own connection task); fails after 2 s, long before the cache's 5-minute
/// `max_age` would hide a missing invalidation.
async fn eventually<F, Fut>(what: &str, want: &str, mut read: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let mut seen = String::new();
    for attempt in 1..=400 {
        seen = read().await;
        if seen == want {
            return attempt;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: still {seen:?} after 2 s, expected {want:?}");
}

#[actix_web::test]
async fn a_session_read_again_costs_no_round_trip() {
    let server = RedisServer::spawn();
    let store = cached(&server, &prefix());
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let monitor = server.monitor();
    monitor.reset();

    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "1");
    assert_eq!(monitor.take(), ["HGETALL"], "the first read after a write");
    for _ in 0..3 {
        assert_eq!(send(&app, get("/read", Some(&id))).await.body, "1");
    }
    assert_eq!(
        monitor.take(),
        Vec::<String>::new(),
        "read again: no round trip"
    );

    assert_eq!(send(&app, get("/incr", Some(&id))).await.body, "2");
    assert_eq!(monitor.take(), ["EVALSHA"], "a write: its load from memory");
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "2");
    assert_eq!(
        monitor.take(),
        ["HGETALL"],
        "this server's own write made it read again"
    );

    send(&app, post("/logout", Some(&id))).await;
    assert_eq!(monitor.take(), ["EVALSHA"], "logout: the delete only");
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "none");
}

#[actix_web::test]
async fn a_change_on_another_app_server_is_seen() {
    let server = RedisServer::start();
    let clock = ManualClock::new();
    let (prefix, one, two, id) = two_servers!(&server, &clock);

    assert_eq!(send(&two, get("/incr", Some(&id))).await.body, "2");
    eventually("a change on the other server", "2", || async {
        send(&one, get("/read", Some(&id))).await.body
    })
    .await;

    // And both ways, with a cache on each side.
    let three = app!(cached(&server, &prefix), &clock);
    assert_eq!(send(&three, get("/read", Some(&id))).await.body, "2");
    assert_eq!(send(&one, get("/incr", Some(&id))).await.body, "3");
    eventually("a change on a cached server", "3", || async {
        send(&three, get("/read", Some(&id))).await.body
    })
    .await;
}

#[actix_web::test]
async fn a_revocation_on_another_app_server_is_seen() {
    let server = RedisServer::start();
    let prefix = prefix();
    let clock = ManualClock::new();
    let one = app!(cached(&server, &prefix), &clock);
    let other = plain(&server, &prefix);
    let id = send(&one, post("/u/login/ann", None)).await.id().unwrap();
    assert_eq!(send(&one, get("/u/whoami", Some(&id))).await.body, "ann");
    assert_eq!(send(&one, get("/u/whoami", Some(&id))).await.body, "ann");

    let ended = other.revoke_all(&UserKey::of("ann"), None).await.unwrap();
    assert_eq!(ended, 1);
    eventually("a revocation on the other server", "nobody", || async {
        send(&one, get("/u/whoami", Some(&id))).await.body
    })
    .await;
}

#[actix_web::test]
async fn a_revocation_on_this_server_is_seen_at_once() {
    let server = RedisServer::start();
    let store = cached(&server, &prefix());
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, post("/u/login/bea", None)).await.id().unwrap();
    assert_eq!(send(&app, get("/u/whoami", Some(&id))).await.body, "bea");
    store.revoke_all(&UserKey::of("bea"), None).await.unwrap();
    // No waiting: this server's own revocation empties its cache before it returns.
    assert_eq!(send(&app, get("/u/whoami", Some(&id))).await.body, "nobody");
}

#[actix_web::test]
async fn a_lost_connection_empties_the_cache() {
    let server = RedisServer::spawn();
    let clock = ManualClock::new();
    let (_, one, two, id) = two_servers!(&server, &clock);

    // Redis drops the cached store's connection (the one with tracking on) ...
    let clients = server.bulk("CLIENT LIST").unwrap();
    let tracked: Vec<&str> = clients
        .lines()
        .filter(|l| {
            l.split(' ')
                .any(|f| f.strip_prefix("flags=").is_some_and(|f| f.contains('t')))
        })
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(tracked.len(), 1, "{clients}");
    server
        .command(&format!("CLIENT KILL ID {}", tracked[0]))
        .unwrap();
    // ... and the session changes while it is gone: no push can tell this server.
    assert_eq!(send(&two, get("/incr", Some(&id))).await.body, "2");
    eventually(
        "a change made while the connection was lost",
        "2",
        || async { send(&one, get("/read", Some(&id))).await.body },
    )
    .await;
    // The new connection tracks again.
    assert_eq!(send(&two, get("/incr", Some(&id))).await.body, "3");
    eventually("a change after the reconnection", "3", || async {
        send(&one, get("/read", Some(&id))).await.body
    })
    .await;
}

/// Large sessions are loaded by a script once the sessions read lately are large (see
/// `store/redis/whole.rs`): Redis tracks the keys a script reads for the client that ran it, so
/// a change on another server is seen as with `HGETALL`.
#[actix_web::test]
async fn a_change_to_a_large_session_on_another_app_server_is_seen() {
    use super::redis::{bump, check_all, fill};
    let server = RedisServer::spawn();
    let prefix = prefix();
    let clock = ManualClock::new();
    macro_rules! large_app {
        ($store:expr) => {
            test::init_service(
                App::new()
                    .wrap(middleware($store, &clock))
                    .route("/fill/{n}", actix_web::web::post().to(fill))
                    .route("/all", actix_web::web::get().to(check_all))
                    .route("/bump", actix_web::web::post().to(bump)),
            )
            .await
        };
    }
    let one = large_app!(cached(&server, &prefix));
    let two = large_app!(plain(&server, &prefix));
    let monitor = server.monitor();
    let mut seen = Vec::new();
    // Three large sessions read once each: the store now loads with the script.
    for _ in 0..3 {
        let id = send(&one, post("/fill/150", None)).await.id().unwrap();
        monitor.reset();
        let res = send(&one, get("/all", Some(&id))).await;
        assert_eq!(res.body, "150 values, v0 Some(0)");
        seen.extend(monitor.take());
    }
    assert_eq!(
        seen,
        ["HGETALL", "HGETALL", "EVALSHA"],
        "the third by the script"
    );
    let id = send(&one, post("/fill/150", None)).await.id().unwrap();
    monitor.reset();
    assert_eq!(
        send(&one, get("/all", Some(&id))).await.body,
        "150 values, v0 Some(0)"
    );
    assert_eq!(monitor.take(), ["EVALSHA"], "read by the script ...");
    send(&one, get("/all", Some(&id))).await;
    assert_eq!(monitor.take(), Vec::<String>::new(), "... and cached");

    assert_eq!(send(&two, post("/bump", Some(&id))).await.body, "bumped");
    eventually(
        "a change on the other server",
        "150 values, v0 Some(1000)",
        || async { send(&one, get("/all", Some(&id))).await.body },
    )
    .await;
}
