//! Bad input, at scale: headers from hell, and property tests (10 000 cases each) over every
//! decode path: the cookie value → id, the sealed cookie → session, the stored record → session.
//! Whatever arrives, the answer is a fresh session and a 200: never a panic, never a 500.

use actix_typed_session::store::{
    CookieStore, Fetch, FileStore, MemoryStore, RedisStore, SessionStore,
};
use actix_typed_session::{SessionId, SessionMiddleware};
use actix_web::http::header::HeaderValue;
use actix_web::rt::System;
use actix_web::{test, web, App};
use proptest::prelude::*;

use actix_typed_session::testing::conformance::incr;
use support::redis::RedisServer;
use support::*;

const CASES: u32 = 10_000;

/// 10 000 cases; failures are printed (with the shrunk input), not persisted to files.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

macro_rules! app {
    ($store:expr) => {
        test::init_service(
            App::new()
                .wrap(SessionMiddleware::new($store))
                .route("/incr", web::get().to(incr)),
        )
        .await
    };
}

fn with_cookie_bytes(bytes: &[u8]) -> Option<actix_http::Request> {
    let value = HeaderValue::from_bytes(bytes).ok()?;
    Some(
        test::TestRequest::get()
            .uri("/incr")
            .insert_header(("Cookie", value))
            .to_request(),
    )
}

#[actix_web::test]
async fn headers_from_hell() {
    let app = app!(MemoryStore::default());
    let id = send(&app, get("/incr", None)).await.id().unwrap();

    // 100 Cookie headers, the real one last: the first `id` wins, and here none of the others
    // is named `id`, so the session is found.
    let mut req = test::TestRequest::get().uri("/incr");
    for i in 0..99 {
        req = req.append_header(("Cookie", format!("c{i}=v{i}")));
    }
    req = req.append_header(("Cookie", format!("id={id}")));
    let res = send(&app, req.to_request()).await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "2"));

    // A 64 kB Cookie header with junk around the real cookie.
    let filler = "x=".to_owned() + &"y".repeat(32 * 1024);
    let header = format!("{filler}; id={id}; {filler}");
    assert!(header.len() >= 64 * 1024);
    let req = test::TestRequest::get()
        .uri("/incr")
        .insert_header(("Cookie", header))
        .to_request();
    let res = send(&app, req).await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "3"));

    // A 64 kB value for the session cookie itself: junk, a fresh session.
    let req = test::TestRequest::get()
        .uri("/incr")
        .insert_header(("Cookie", format!("id={}", "A".repeat(64 * 1024))))
        .to_request();
    let res = send(&app, req).await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "1"));

    // Non-UTF-8 bytes, in the value and around it.
    for raw in [
        &b"id=\xff\xfe\xfd"[..],
        b"\xc3\x28=1; id=\x80",
        b"id=\"\xe2\x82\"",
    ] {
        let res = send(&app, with_cookie_bytes(raw).unwrap()).await;
        assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "1"));
    }

    // Names that differ only in case are other cookies (cookie names are case-sensitive).
    for name in ["ID", "Id", "iD"] {
        let req = test::TestRequest::get()
            .uri("/incr")
            .insert_header(("Cookie", format!("{name}={id}")))
            .to_request();
        let res = send(&app, req).await;
        assert_eq!(res.body, "1", "{name} is not the session cookie");
    }
    // And a case-twisted name before the real one does not shadow it.
    let req = test::TestRequest::get()
        .uri("/incr")
        .insert_header(("Cookie", format!("ID=junk; id={id}")))
        .to_request();
    assert_eq!(send(&app, req).await.body, "4");
}

fn cookie_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Arbitrary bytes.
        proptest::collection::vec(any::<u8>(), 0..300),
        // Cookie-shaped text with an `id` somewhere.
        "[ -~]{0,40}".prop_map(|s| format!("id={s}").into_bytes()),
        "[A-Za-z0-9_-]{30,34}".prop_map(|s| format!("a=1; id={s}; id=2").into_bytes()),
        "(%[0-9A-Fa-f]{2}){0,40}".prop_map(|s| format!("id={s}").into_bytes()),
        "\"[ -~]{0,40}\"".prop_map(|s| format!("id={s}").into_bytes()),
    ]
}

/// Cookie value → id, through the whole middleware on the memory store.
#[std::prelude::v1::test]
fn property_any_cookie_header_gives_a_fresh_session() {
    let system = System::new();
    let app = system.block_on(async { app!(MemoryStore::default()) });
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&cookie_bytes(), |bytes| {
            let Some(req) = with_cookie_bytes(&bytes) else {
                return Ok(()); // not even a legal header value: the HTTP layer refuses it first
            };
            let res = system.block_on(send(&app, req));
            prop_assert_eq!(res.status.as_u16(), 200);
            prop_assert_eq!(res.body.as_str(), "1");
            Ok(())
        })
        .unwrap();
}

/// Sealed cookie → session: random values (and mutations of a valid one) never open. (Signed
/// and compressed: the mode with the most decode steps; compression is signed-only.)
#[std::prelude::v1::test]
fn property_any_sealed_cookie_gives_a_fresh_session() {
    let system = System::new();
    let store = CookieStore::signed([9u8; 32])
        .compress(true)
        .build()
        .unwrap();
    let app = system.block_on(async { app!(store.clone()) });
    let valid = system.block_on(async { send(&app, get("/incr", None)).await.id().unwrap() });
    let strategy = prop_oneof![
        "[A-Za-z0-9_-]{0,200}",
        (0..valid.len(), any::<u8>()).prop_map({
            let valid = valid.clone();
            move |(i, b)| {
                let mut bytes = valid.clone().into_bytes();
                bytes[i] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                    [b as usize % 64];
                String::from_utf8(bytes).unwrap()
            }
        }),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&strategy, |value| {
            if value == valid {
                return Ok(()); // the mutation happened to restore the original character
            }
            let res = system.block_on(send(&app, get("/incr", Some(&value))));
            prop_assert_eq!(res.status.as_u16(), 200);
            prop_assert_eq!(res.body.as_str(), "1");
            Ok(())
        })
        .unwrap();
}

/// Stored record → session, for the file store: whatever bytes a session file holds, a load
/// gives a session or nothing, and the request a 200.
#[std::prelude::v1::test]
fn property_any_session_file_loads_safely() {
    let system = System::new();
    let dir = TempDir::new("prop-file");
    let store = FileStore::builder(&dir.0).fsync(false).build().unwrap();
    let app = system.block_on(async { app!(store.clone()) });
    let id = system.block_on(async { send(&app, get("/incr", None)).await.id().unwrap() });
    let sid = SessionId::parse(&id).unwrap();
    let path = store.path(&sid);
    let valid = std::fs::read(&path).unwrap();
    let strategy = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        (0..valid.len(), any::<u8>()).prop_map({
            let valid = valid.clone();
            move |(i, b)| {
                let mut v = valid.clone();
                v[i] = b;
                v
            }
        }),
        (0..valid.len()).prop_map({
            let valid = valid.clone();
            move |cut| valid[..cut].to_vec()
        }),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&strategy, |bytes| {
            std::fs::write(&path, &bytes).unwrap();
            let loaded = system.block_on(store.load(&sid, Fetch::All));
            prop_assert!(loaded.is_ok(), "a bad file is no store failure");
            let res = system.block_on(send(&app, get("/incr", Some(&id))));
            prop_assert_eq!(res.status.as_u16(), 200);
            Ok(())
        })
        .unwrap();
}

/// Stored record → session, for Redis: random fields in a session's hash (the metadata, the
/// user fields and values, written behind the store's back) never break a load.
#[std::prelude::v1::test]
fn property_any_redis_hash_loads_safely() {
    let server = RedisServer::start();
    let system = System::new();
    let prefix = format!("ats-prop:{}:", SessionId::generate().log_tag());
    let pool = actix_typed_session::store::deadpool_redis::Config::from_url(&server.url)
        .create_pool(Some(
            actix_typed_session::store::deadpool_redis::Runtime::Tokio1,
        ))
        .unwrap();
    let store = RedisStore::builder(pool).prefix(prefix).build();
    let app = system.block_on(async { app!(store.clone()) });
    let id = system.block_on(async { send(&app, get("/incr", None)).await.id().unwrap() });
    let sid = SessionId::parse(&id).unwrap();
    let key = store.key(&sid);
    let field = prop_oneof![
        Just("m:c".to_owned()),
        Just("m:e".to_owned()),
        Just("m:s".to_owned()),
        Just("m:u".to_owned()),
        Just("m:k".to_owned()),
        Just("m:h".to_owned()),
        Just("k:counter".to_owned()),
        "[ -~]{0,12}",
        "k:[ -~]{0,8}",
    ];
    let value = prop_oneof![
        "[0-9]{0,21}",
        "[A-Za-z0-9_-]{22}", // a well-formed handle
        "[ -~]{0,30}",
        any::<u64>().prop_map(|n| n.to_string()),
    ];
    let strategy = proptest::collection::vec((field, value), 0..6);
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&strategy, |fields| {
            let mut cmd = format!("DEL {key}");
            server.command(&cmd).unwrap();
            for (f, v) in &fields {
                cmd = format!("HSET {key} {} {}", quote(f), quote(v));
                let reply = server.command(&cmd).unwrap();
                prop_assert!(reply.starts_with(':'), "{cmd} -> {reply}");
            }
            let loaded = system.block_on(store.load(&sid, Fetch::All));
            prop_assert!(loaded.is_ok());
            let one = system.block_on(store.load(&sid, Fetch::Keys(&["counter", "k"])));
            prop_assert!(one.is_ok());
            let res = system.block_on(send(&app, get("/incr", Some(&id))));
            prop_assert_eq!(res.status.as_u16(), 200);
            Ok(())
        })
        .unwrap();
}

/// Quotes a value for an inline Redis command.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}
