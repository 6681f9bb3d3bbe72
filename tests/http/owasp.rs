//! The OWASP Session Management checklist, one test per item, on every store where it applies.
//! SECURITY.md lists what is promised and points here.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::state::CookieState;
use actix_typed_session::store::{CookieStore, FileStore, MemoryStore, RedisStore};
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::{test, web, App};

use actix_typed_session::testing::conformance::incr;
use support::redis::RedisServer;
use support::*;

const IDLE: Duration = Duration::from_secs(900);
const ABSOLUTE: Duration = Duration::from_secs(4 * 3600);

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.set("user", "ann")?;
    session.change_id();
    Ok("in")
}

async fn logout(session: Session) -> &'static str {
    session.expire();
    "out"
}

fn middleware<S: actix_typed_session::store::IntoBackend>(
    store: S,
    clock: &ManualClock,
) -> SessionMiddleware {
    SessionMiddleware::builder(store)
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .absolute_timeout(ABSOLUTE)
        .build()
}

macro_rules! app {
    ($store:expr, $clock:expr) => {
        test::init_service(
            App::new()
                .wrap(middleware($store, $clock))
                .route("/incr", web::get().to(incr))
                .route("/login", web::post().to(login))
                .route("/logout", web::post().to(logout)),
        )
        .await
    };
}

/// Runs `$body` once per store, with `$app` bound to an app on that store and `$server_side`
/// telling whether the store keeps data on the server. The Redis server lives for the call.
macro_rules! for_each_store {
    (|$app:ident, $clock:ident, $server_side:ident| $body:block) => {{
        let redis = RedisServer::start();
        let dir = TempDir::new("owasp");
        let pool = actix_typed_session::store::deadpool_redis::Config::from_url(&redis.url)
            .create_pool(Some(
                actix_typed_session::store::deadpool_redis::Runtime::Tokio1,
            ))
            .unwrap();
        let prefix = format!(
            "owasp:{}:",
            actix_typed_session::SessionId::generate().log_tag()
        );
        {
            let $clock = ManualClock::new();
            let $app = app!(
                MemoryStore::builder().clock($clock.clone()).build(),
                &$clock
            );
            let $server_side = true;
            $body
        }
        {
            let $clock = ManualClock::new();
            let store = FileStore::builder(&dir.0)
                .fsync(false)
                .clock($clock.clone())
                .build()
                .unwrap();
            let $app = app!(store, &$clock);
            let $server_side = true;
            $body
        }
        {
            let $clock = ManualClock::new();
            let $app = app!(RedisStore::builder(pool).prefix(prefix).build(), &$clock);
            let $server_side = true;
            $body
        }
        {
            let $clock = ManualClock::new();
            let $app = app!(CookieStore::encrypted([0x33; 32]).build().unwrap(), &$clock);
            let $server_side = false;
            $body
        }
    }};
}

/// Session ids have at least 128 bits of entropy: 32 characters, each uniform over 64 symbols
/// (192 bits), drawn from the OS CSPRNG (`getrandom`). Checked here: no repeats, and the symbol
/// frequencies of 64 000 characters within ±30 % of uniform (about ±9.5 standard deviations, so
/// the test cannot fail by chance but does fail for a biased or fixed-position generator).
#[actix_web::test]
async fn id_entropy() {
    let ids: Vec<String> = (0..2000)
        .map(|_| actix_typed_session::SessionId::generate().to_string())
        .collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    let mut freq: HashMap<char, usize> = HashMap::new();
    for c in ids.iter().flat_map(|id| id.chars()) {
        *freq.entry(c).or_default() += 1;
    }
    assert_eq!(freq.len(), 64);
    for (c, n) in freq {
        assert!(
            (700..=1300).contains(&n),
            "{c:?} seen {n} times, expected ~1000"
        );
    }
    // Every position varies (no constant prefix, version or counter).
    for pos in 0..32 {
        let at: HashSet<char> = ids.iter().map(|id| id.as_bytes()[pos] as char).collect();
        assert!(
            at.len() > 40,
            "position {pos} takes only {} values",
            at.len()
        );
    }
}

/// Ids carry no data: equal sessions get unrelated ids; nothing of the data is in the id.
#[actix_web::test]
async fn ids_carry_no_data() {
    let clock = ManualClock::new();
    let app = app!(MemoryStore::default(), &clock);
    let a = send(&app, post("/login", None)).await.id().unwrap();
    let b = send(&app, post("/login", None)).await.id().unwrap();
    assert_ne!(a, b);
    let common = a.chars().zip(b.chars()).filter(|(x, y)| x == y).count();
    assert!(common < 8, "ids share {common} positions");
    assert!(!a.contains("ann") && !a.contains("user"));
}

/// The cookie name is generic: it does not name the framework.
#[actix_web::test]
async fn generic_cookie_name() {
    let clock = ManualClock::new();
    let app = app!(MemoryStore::default(), &clock);
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.session().unwrap().name(), "id");
}

/// Ids the server did not issue are never adopted, on every store.
#[actix_web::test]
async fn foreign_ids_are_never_adopted() {
    for_each_store!(|app, clock, server_side| {
        let _ = (&clock, server_side);
        let chosen = "attackerChosenIdAAAAAAAAAAAAAAAA";
        let res = send(&app, get("/incr", Some(chosen))).await;
        assert_eq!(res.body, "1");
        let issued = res.id().unwrap();
        assert_ne!(issued, chosen);
        assert_eq!(
            send(&app, get("/incr", Some(chosen))).await.body,
            "1",
            "still unknown"
        );
    });
}

/// The id rotates on `change_id` (login), on every store; on the server-side stores the old id
/// is dead. The cookie store cannot kill it: the pre-login cookie still opens, with the
/// pre-login data, until its own idle deadline (SECURITY.md, Limits; `tests/stores/cookie_store.rs`
/// `pre_login_cookie_still_opens_after_change_id`).
#[actix_web::test]
async fn id_rotates_on_login_and_the_old_one_dies() {
    for_each_store!(|app, clock, server_side| {
        let _ = &clock;
        let before = send(&app, get("/incr", None)).await.id().unwrap();
        let after = send(&app, post("/login", Some(&before)))
            .await
            .id()
            .unwrap();
        assert_ne!(after, before);
        assert_eq!(
            send(&app, get("/incr", Some(&after))).await.body,
            "2",
            "data kept"
        );
        let replay = send(&app, get("/incr", Some(&before))).await.body;
        if server_side {
            assert_eq!(replay, "1", "old id dead");
        } else {
            assert_eq!(
                replay, "2",
                "cookie store: the pre-login cookie still opens with the pre-login data"
            );
        }
    });
}

/// Secure, HttpOnly and SameSite are set by default.
#[actix_web::test]
async fn secure_cookie_flags_by_default() {
    for_each_store!(|app, clock, server_side| {
        let _ = (&clock, server_side);
        let res = send(&app, get("/incr", None)).await;
        let raw = res.header("set-cookie").unwrap();
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(raw.contains(attr), "{attr} missing: {raw}");
        }
        assert!(!raw.contains("Domain"), "host-only by default: {raw}");
    });
}

/// The `__Host-` prefix rules are enforced when the middleware is built.
#[actix_web::test]
async fn host_prefix_rules() {
    let build = |state: CookieState| {
        SessionMiddleware::builder(MemoryStore::default())
            .state(state)
            .try_build()
            .is_ok()
    };
    assert!(build(CookieState::new("__Host-id")));
    assert!(!build(CookieState::new("__Host-id").domain("example.com")));
    assert!(!build(CookieState::new("__Host-id").path("/app")));
    assert!(!build(CookieState::new("__Host-id").secure(false)));
}

/// Idle and absolute timeouts are enforced by the server, for every store including the cookie
/// store (whose cookie a browser may keep forever).
#[actix_web::test]
async fn timeouts_are_enforced_server_side() {
    for_each_store!(|app, clock, server_side| {
        let _ = server_side;
        // Idle.
        let id = send(&app, get("/incr", None)).await.id().unwrap();
        clock.advance(IDLE + Duration::from_secs(1));
        assert_eq!(
            send(&app, get("/incr", Some(&id))).await.body,
            "1",
            "idle timeout"
        );
        // Absolute, with constant use.
        let mut value = send(&app, get("/incr", None)).await.id().unwrap();
        let mut used = Duration::ZERO;
        while used + IDLE / 2 < ABSOLUTE {
            clock.advance(IDLE / 2);
            used += IDLE / 2;
            let res = send(&app, get("/incr", Some(&value))).await;
            assert_ne!(res.body, "1");
            value = res.id().unwrap_or(value);
        }
        clock.advance(IDLE / 2);
        assert_eq!(
            send(&app, get("/incr", Some(&value))).await.body,
            "1",
            "absolute timeout"
        );
    });
}

/// Logout (`expire`) removes the cookie on every store and invalidates the session on the
/// server-side stores. The cookie store cannot revoke a copy: it opens until its own deadline
/// (SECURITY.md, Limits; `tests/stores/cookie_store.rs`
/// `a_copy_kept_alive_within_the_idle_timeout_lives_until_the_absolute_timeout_and_no_longer`).
#[actix_web::test]
async fn logout_invalidates_and_removes_the_cookie() {
    for_each_store!(|app, clock, server_side| {
        let _ = &clock;
        let id = send(&app, get("/incr", None)).await.id().unwrap();
        let res = send(&app, post("/logout", Some(&id))).await;
        let removal = res.removal().expect("removal cookie");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        let replay = send(&app, get("/incr", Some(&id))).await.body;
        if server_side {
            assert_eq!(replay, "1", "replay after logout");
        } else {
            assert_eq!(replay, "2", "cookie store: a copy still opens after logout");
        }
    });
}

/// Responses that set (or remove) the id are not cached.
#[actix_web::test]
async fn responses_that_set_the_id_are_not_cached() {
    for_each_store!(|app, clock, server_side| {
        let _ = (&clock, server_side);
        let res = send(&app, get("/incr", None)).await;
        assert_eq!(res.header("cache-control"), Some("no-store"));
        let id = res.id().unwrap();
        let res = send(&app, post("/login", Some(&id))).await;
        assert_eq!(res.header("cache-control"), Some("no-store"));
        let res = send(&app, post("/logout", Some(&res.id().unwrap()))).await;
        assert_eq!(res.header("cache-control"), Some("no-store"));
    });
}

/// Logs never contain a raw id: every event of a busy scenario on every store, at TRACE level,
/// is captured and searched for every id the clients saw.
#[actix_web::test]
async fn logs_never_contain_raw_ids() {
    let (captured, _guard) = capture_logs();
    let mut seen = Vec::new();
    for_each_store!(|app, clock, server_side| {
        let _ = server_side;
        let a = send(&app, get("/incr", None)).await.id().unwrap();
        let b = send(&app, post("/login", Some(&a))).await.id().unwrap();
        send(&app, get("/incr", Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))).await;
        send(&app, get("/incr", Some("junk-value"))).await;
        clock.advance(IDLE * 2);
        send(&app, get("/incr", Some(&b))).await; // expired
        let c = send(&app, get("/incr", None)).await.id().unwrap();
        send(&app, post("/logout", Some(&c))).await;
        seen.extend([a, b, c]);
    });
    let log = captured.text();
    assert!(!log.is_empty());
    for id in &seen {
        // Server-side ids are 32 characters; sealed cookies are longer and contain an id: check
        // any 32-character window that is a real session id never shows.
        assert!(
            !log.contains(id.as_str()),
            "a client value leaked into the log"
        );
    }
    assert!(
        !log.contains("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "a client-chosen id leaked"
    );
}
