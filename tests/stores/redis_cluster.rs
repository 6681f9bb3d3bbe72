//! RedisStore on a real three-node Redis Cluster (feature `redis-cluster`): the whole conformance
//! suite, run in sequence on one cluster that the test starts and stops.

use std::sync::Arc;

use actix_typed_session::store::{deadpool_redis, RedisStore};
use actix_typed_session::SessionId;

use support::redis::RedisCluster;
use support::*;

/// A store with its own prefix on `cluster` (a fresh pool per case: each case runs its own app).
fn store_on(cluster: &Arc<RedisCluster>) -> Guarded<RedisStore> {
    let pool = deadpool_redis::cluster::Config::from_urls(cluster.urls())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let prefix = format!("ats-cluster:{}:", SessionId::generate().log_tag());
    Guarded {
        store: RedisStore::cluster(pool).prefix(prefix).build(),
        guard: cluster.clone(),
    }
}

actix_typed_session::conformance_suite!(sequential let cluster = Arc::new(RedisCluster::spawn()); store_on(&cluster));

/// Ties the session to the user of the path and writes a value.
async fn tie(
    session: actix_typed_session::Session,
    user: actix_web::web::Path<String>,
) -> Result<&'static str, actix_typed_session::SessionError> {
    session.set_user(user.as_str());
    session.set("device", "d")?;
    Ok("tied")
}

/// The number of a `:<n>` reply.
fn integer(reply: &str) -> i64 {
    reply.trim().trim_start_matches(':').parse().unwrap()
}

/// The leak measurement on Cluster, where a session and its user's index live in different
/// slots: 10 000 sessions of 100 users with a 2 s idle timeout expire; each user is listed once;
/// no key is left on any node (each index carries the expiry of its latest session).
#[actix_web::test]
async fn ten_thousand_expired_sessions_of_a_hundred_users_leave_no_key() {
    const USERS: usize = 100;
    const PER_USER: usize = 100;
    let cluster = Arc::new(RedisCluster::spawn());
    let store = store_on(&cluster);
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(
                actix_typed_session::SessionMiddleware::builder(store.clone())
                    .idle_timeout(std::time::Duration::from_secs(2))
                    .build(),
            )
            .configure(actix_typed_session::testing::users::user_routes)
            .route("/tie/{user}", actix_web::web::post().to(tie)),
    )
    .await;
    let dbsize = || -> i64 {
        cluster
            .nodes
            .iter()
            .map(|n| integer(&n.command("DBSIZE").unwrap()))
            .sum()
    };

    let started = std::time::Instant::now();
    for _ in 0..PER_USER {
        let logins = (0..USERS).map(|u| send(&app, post(&format!("/tie/user{u}"), None)));
        for res in futures_util::future::join_all(logins).await {
            assert_eq!(res.status, 200, "{}", res.body);
        }
    }
    let after_creating = dbsize();
    eprintln!(
        "cluster: created {} sessions in {:?}; keys on the nodes then {after_creating}",
        USERS * PER_USER,
        started.elapsed()
    );
    assert!(after_creating > 0);

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let listed_at = std::time::Instant::now();
    for u in 0..USERS {
        let res = send(&app, get(&format!("/u/devices/user{u}"), None)).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.body, "", "user{u} has no live session");
    }
    eprintln!(
        "cluster: listed {USERS} users in {:?}; keys then {}",
        listed_at.elapsed(),
        dbsize()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut left = dbsize();
    while left > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = dbsize();
    }
    eprintln!("cluster: {left} keys after {:?} in all", started.elapsed());
    assert_eq!(left, 0, "keys left behind");
}

/// Round trips on Cluster, counted with MONITOR on every node: a tied session's index lives in
/// another slot, so a tied write is the session's script plus one on the index; listing is one
/// read of the index plus one `HGETALL` per session; `revoke_all` is one read of the index, one
/// script per session and one update of the index. An untied session costs what it does on one
/// node.
#[actix_web::test]
async fn round_trips_on_cluster() {
    let cluster = Arc::new(RedisCluster::spawn());
    let monitors: Vec<_> = cluster.nodes.iter().map(|n| n.monitor()).collect();
    let store = store_on(&cluster);
    let clock = actix_typed_session::clock::ManualClock::new();
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(conformance::middleware(store.clone(), &clock))
            .configure(conformance::routes)
            .configure(actix_typed_session::testing::users::user_routes)
            .route("/tie/{user}", actix_web::web::post().to(tie)),
    )
    .await;
    let untied = send(&app, get("/incr", None)).await.id().unwrap(); // warm
    let mut tied = Vec::new();
    for _ in 0..3 {
        tied.push(send(&app, post("/tie/ann", None)).await.id().unwrap());
    }
    let take = || {
        let mut all: Vec<String> = monitors.iter().flat_map(|m| m.take()).collect();
        all.sort();
        all
    };
    take();

    send(&app, get("/incr", Some(&untied))).await;
    assert_eq!(
        take(),
        ["EVALSHA", "HGETALL"],
        "an untied write: load + one write"
    );
    send(&app, get("/incr", Some(&tied[0]))).await;
    assert_eq!(
        take(),
        ["EVALSHA", "EVALSHA", "HGETALL"],
        "a tied write: load, the session's script, the index's"
    );
    send(&app, get("/u/devices/ann", None)).await;
    assert_eq!(
        take(),
        ["HGETALL", "HGETALL", "HGETALL", "ZSCAN"],
        "listing 3: a page of the index, then each session"
    );
    let res = send(&app, post("/u/revoke_all/ann", None)).await;
    assert_eq!(res.body, "3");
    assert_eq!(
        take(),
        ["EVALSHA", "EVALSHA", "EVALSHA", "EVALSHA", "EVALSHA", "EVALSHA", "ZSCAN"],
        "revoke_all of 3: the marker raised, a page of the index, each session, the page's \
         members taken out, the marker lowered"
    );
}

/// The reply of the node that holds `key` (the others answer `MOVED`).
fn on_owner(cluster: &RedisCluster, command: &str, key: &str) -> String {
    cluster
        .nodes
        .iter()
        .map(|n| n.command(&format!("{command} {key}")).unwrap())
        .find(|r| !r.starts_with("-MOVED"))
        .unwrap()
}

/// On Cluster too, a user's index carries the expiry of its latest session, is pruned of the
/// expired entries when it is read, and goes with the last session's logout.
#[actix_web::test]
async fn the_index_expires_with_its_latest_session_and_is_pruned_on_read() {
    let cluster = Arc::new(RedisCluster::spawn());
    let store = store_on(&cluster);
    let app = |idle: u64| {
        actix_web::test::init_service(
            actix_web::App::new()
                .wrap(
                    actix_typed_session::SessionMiddleware::builder(store.clone())
                        .idle_timeout(std::time::Duration::from_secs(idle))
                        .build(),
                )
                .configure(conformance::routes)
                .configure(actix_typed_session::testing::users::user_routes)
                .route("/tie/{user}", actix_web::web::post().to(tie)),
        )
    };
    let (short, long) = (app(2).await, app(600).await);
    let kept = send(&long, post("/tie/ann", None)).await.id().unwrap();
    for _ in 0..20 {
        send(&short, post("/tie/ann", None)).await;
    }
    let index = store
        .store
        .user_index_key(&actix_typed_session::store::UserKey::of("ann"));
    let kept_key = store.store.key(&SessionId::parse(&kept).unwrap());
    assert_eq!(integer(&on_owner(&cluster, "ZCARD", &index)), 21);
    assert_eq!(
        on_owner(&cluster, "EXPIRETIME", &index),
        on_owner(&cluster, "EXPIRETIME", &kept_key),
        "the index expires with its latest session"
    );

    tokio::time::sleep(std::time::Duration::from_secs(3)).await; // the short ones expire
    let listed = send(&long, get("/u/devices/ann", None)).await;
    assert_eq!(listed.body.lines().count(), 1, "{}", listed.body);
    assert_eq!(
        integer(&on_owner(&cluster, "ZCARD", &index)),
        1,
        "expired entries pruned on read"
    );
    send(&long, post("/logout", Some(&kept))).await;
    assert_eq!(on_owner(&cluster, "EXISTS", &index), ":0\r\n");
}
