//! CookieStore over HTTP: round trips, tampering, key rotation, serializers, hooks, compression,
//! timeouts, size limit, and the per-request options.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::state::{CookieState, HeaderState, QueryState};
use actix_typed_session::store::{
    CookieDecodeError, CookieStore, CookieStoreBuilder, EncodeFailure, FileStore, JsonSerializer,
    MemoryStore,
};
use actix_typed_session::{session, Session, SessionError, SessionMiddleware};
use actix_web::http::StatusCode;
use actix_web::{test, web, App};
use base64::Engine as _;

use actix_typed_session::testing::conformance::{self, incr, read};
use actix_typed_session::testing::users::user_routes;
use support::*;

// The conformance cases that apply to a client-side store (the others assert that the server
// forgot something, or save after a streamed body: neither exists without server storage).
actix_typed_session::conformance_suite!(cases CookieStore::encrypted([0x42; 32]).build().unwrap();
    first_write_creates_session,
    new_visitor_storing_nothing_gets_no_cookie,
    unknown_id_is_never_adopted,
    junk_ids_give_fresh_sessions,
    expired_id_is_never_adopted,
    no_store_writes_nothing,
    server_error_commits_nothing,
    events_follow_a_session_from_creation_to_logout,
);

const KEY_A: [u8; 32] = [0xA5; 32];
const KEY_B: [u8; 32] = [0x5B; 32];
const IDLE: Duration = Duration::from_secs(600);
const ABSOLUTE: Duration = Duration::from_secs(3600);

async fn big(session: Session, n: web::Path<usize>) -> Result<String, SessionError> {
    // Hard to compress: distinct numbers.
    let data: Vec<u64> = (0..*n as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    session.set("big", data)?;
    Ok("big".into())
}

async fn repetitive(session: Session) -> Result<String, SessionError> {
    session.set("text", "abcabcabc".repeat(100))?;
    Ok("rep".into())
}

async fn logout(session: Session) -> &'static str {
    session.expire();
    "out"
}

async fn login(session: Session) -> Result<String, SessionError> {
    session.set("user", "ann")?;
    session.change_id();
    Ok(session.id().to_string())
}

async fn whoami(session: Session) -> String {
    session.id().to_string()
}

async fn user(session: Session) -> Result<String, SessionError> {
    Ok(session
        .get::<String>("user")?
        .unwrap_or_else(|| "none".into()))
}

/// A logout that never reads the session: the middleware expires it without loading it.
#[session(expire)]
async fn logout_unread() -> &'static str {
    "out"
}

async fn preview(session: Session) -> Result<&'static str, SessionError> {
    session.set("counter", 100)?;
    session.no_store();
    Ok("preview")
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/incr", web::get().to(incr))
        .route("/read", web::get().to(read))
        .route("/big/{n}", web::get().to(big))
        .route("/rep", web::get().to(repetitive))
        .route("/logout", web::post().to(logout))
        .route("/login", web::post().to(login))
        .route("/whoami", web::get().to(whoami))
        .route("/user", web::get().to(user))
        .route("/bye", web::post().to(logout_unread))
        .route("/preview", web::post().to(preview));
}

fn mw(store: CookieStoreBuilder, clock: &ManualClock) -> SessionMiddleware {
    SessionMiddleware::builder(store.build().unwrap())
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .absolute_timeout(ABSOLUTE)
        .build()
}

macro_rules! app {
    ($store:expr, $clock:expr) => {
        test::init_service(App::new().wrap(mw($store, $clock)).configure(routes)).await
    };
}

#[actix_web::test]
async fn signed_round_trip_is_readable_but_tamper_proof() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::signed(KEY_A), &clock);
    let mut value = send(&app, get("/incr", None)).await.id().unwrap();
    for n in 2..=3 {
        let res = send(&app, get("/incr", Some(&value))).await;
        assert_eq!(res.body, n.to_string());
        value = res.id().expect("every change re-seals the cookie");
    }
    assert_eq!(send(&app, get("/read", Some(&value))).await.body, "3");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&value)
        .unwrap();
    // The built-in layout: the key and the value as they are, each after its length.
    assert!(
        raw.windows(10).any(|w| w == b"\x07counter\x013"),
        "signed data is readable: {}",
        String::from_utf8_lossy(&raw)
    );
}

#[actix_web::test]
async fn encrypted_round_trip_hides_the_data() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::encrypted(KEY_A), &clock);
    let first = send(&app, get("/incr", None)).await;
    let cookie = first.session().unwrap().clone();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    let value = cookie.value().to_owned();
    let res = send(&app, get("/incr", Some(&value))).await;
    assert_eq!(res.body, "2");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&value)
        .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("counter"));
    // Unchanged: nothing re-sent.
    let res = send(&app, get("/read", Some(&res.id().unwrap()))).await;
    assert_eq!(res.body, "2");
    assert!(res.cookies.is_empty());
}

/// Every tampering gives a fresh session: never a 500, never a panic.
#[actix_web::test]
async fn tampered_cookies_give_fresh_sessions() {
    for builder in [CookieStore::signed(KEY_A), CookieStore::encrypted(KEY_A)] {
        let decode_errors = Arc::new(AtomicUsize::new(0));
        let counter = decode_errors.clone();
        let builder = builder.on_decode_error(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let clock = ManualClock::new();
        let app = app!(builder, &clock);
        let value = send(&app, get("/incr", None)).await.id().unwrap();
        assert_eq!(send(&app, get("/read", Some(&value))).await.body, "1");

        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut tampered = Vec::new();
        for i in 0..value.len() {
            let mut bytes = value.clone().into_bytes();
            let pos = alphabet.iter().position(|c| *c == bytes[i]).unwrap();
            bytes[i] = alphabet[(pos + 17) % 64];
            tampered.push(String::from_utf8(bytes).unwrap());
        }
        for cut in [1, 10, value.len() / 2, value.len() - 1] {
            tampered.push(value[..cut].to_owned());
        }
        // Re-encoded with the standard alphabet and padding (unless that gives the same text: a
        // length that needs no padding and no `-` or `_` in the value).
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&value)
            .unwrap();
        let standard = base64::engine::general_purpose::STANDARD.encode(raw);
        if standard != value {
            tampered.push(standard);
        }
        tampered.push("J".repeat(10 * 1024));
        tampered.push(String::new());

        let cases = tampered.len();
        for bad in tampered {
            let res = send(&app, get("/read", Some(&bad))).await;
            assert_eq!(res.status, StatusCode::OK);
            assert_eq!(res.body, "none", "tampered value opened: {bad:.40}");
        }
        // The 10 kB value and the empty one never reach the store; the rest fail to open.
        assert_eq!(decode_errors.load(Ordering::SeqCst), cases - 2);
    }
}

#[actix_web::test]
async fn wrong_key_and_expired_replays_are_refused() {
    let clock = ManualClock::new();
    let app_a = app!(CookieStore::encrypted(KEY_A), &clock);
    let app_b = app!(CookieStore::encrypted(KEY_B), &clock);
    let value = send(&app_a, get("/incr", None)).await.id().unwrap();
    assert_eq!(send(&app_b, get("/read", Some(&value))).await.body, "none");

    // The browser keeps the cookie forever; the server does not.
    clock.advance(IDLE + Duration::from_secs(1));
    assert_eq!(send(&app_a, get("/read", Some(&value))).await.body, "none");
}

#[actix_web::test]
async fn absolute_timeout_holds_for_a_busy_cookie() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::signed(KEY_A), &clock);
    let mut value = send(&app, get("/incr", None)).await.id().unwrap();
    let mut elapsed = Duration::ZERO;
    while elapsed + IDLE / 2 < ABSOLUTE {
        clock.advance(IDLE / 2);
        elapsed += IDLE / 2;
        let res = send(&app, get("/incr", Some(&value))).await;
        assert_ne!(res.body, "1", "alive at {elapsed:?}");
        value = res.id().unwrap();
    }
    clock.advance(IDLE / 2);
    assert_eq!(send(&app, get("/incr", Some(&value))).await.body, "1");
}

#[actix_web::test]
async fn idle_refresh_re_seals_an_unchanged_session() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::signed(KEY_A), &clock);
    let value = send(&app, get("/incr", None)).await.id().unwrap();
    clock.advance(IDLE / 2);
    let res = send(&app, get("/read", Some(&value))).await;
    let refreshed = res.id().expect("expiry moved: new seal sent");
    assert_ne!(refreshed, value);
    clock.advance(IDLE * 3 / 4); // past the first deadline, within the refreshed one
    assert_eq!(send(&app, get("/read", Some(&refreshed))).await.body, "1");
    assert_eq!(send(&app, get("/read", Some(&value))).await.body, "none");
}

#[actix_web::test]
async fn key_rotation_current_seals_all_open() {
    let clock = ManualClock::new();
    let old_only = app!(CookieStore::encrypted(KEY_A), &clock);
    let rotated = app!(CookieStore::encrypted(KEY_B).fallback_keys([KEY_A]), &clock);
    let new_only = app!(CookieStore::encrypted(KEY_B), &clock);
    let unknown = app!(
        CookieStore::encrypted([0x11; 32]).fallback_keys([[0x22; 32]]),
        &clock
    );

    let sealed_old = send(&old_only, get("/incr", None)).await.id().unwrap();
    assert_eq!(
        send(&rotated, get("/read", Some(&sealed_old))).await.body,
        "1",
        "old key opens"
    );
    let res = send(&rotated, get("/incr", Some(&sealed_old))).await;
    assert_eq!(res.body, "2");
    let resealed = res.id().unwrap();
    assert_eq!(
        send(&new_only, get("/read", Some(&resealed))).await.body,
        "2",
        "re-sealed with the current key"
    );
    assert_eq!(
        send(&old_only, get("/read", Some(&resealed))).await.body,
        "none",
        "not with the old one"
    );
    assert_eq!(
        send(&unknown, get("/read", Some(&sealed_old))).await.body,
        "none"
    );
}

/// A line format: `key=hexvalue` per line.
fn lines_serialize(
    data: &HashMap<String, Vec<u8>>,
) -> Result<Vec<u8>, actix_typed_session::BoxError> {
    let mut keys: Vec<_> = data.keys().collect();
    keys.sort();
    let mut out = String::new();
    for k in keys {
        let hex: String = data[k].iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("{k}={hex}\n"));
    }
    Ok(out.into_bytes())
}

fn lines_deserialize(
    bytes: &[u8],
) -> Result<HashMap<String, Vec<u8>>, actix_typed_session::BoxError> {
    let text = std::str::from_utf8(bytes)?;
    let mut map = HashMap::new();
    for line in text.lines() {
        let (k, hex) = line.split_once('=').ok_or("no =")?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()?;
        map.insert(k.to_owned(), bytes);
    }
    Ok(map)
}

#[actix_web::test]
async fn custom_serialize_and_deserialize_functions() {
    let clock = ManualClock::new();
    let app = app!(
        CookieStore::signed(KEY_A)
            .serialize(lines_serialize)
            .deserialize(lines_deserialize),
        &clock
    );
    let value = send(&app, get("/incr", None)).await.id().unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&value)
        .unwrap();
    assert!(
        String::from_utf8_lossy(&raw).contains("counter=31\n"),
        "the functions' format"
    );
    assert_eq!(send(&app, get("/incr", Some(&value))).await.body, "2");
}

/// SerializedCookie's mixed case: a serializer object with one function overridden.
#[actix_web::test]
async fn a_function_overrides_the_serializer_object() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let clock = ManualClock::new();
    let app = app!(
        CookieStore::signed(KEY_A)
            .serializer(JsonSerializer)
            .serialize(move |data| {
                seen.fetch_add(1, Ordering::SeqCst);
                actix_typed_session::store::CookieSerializer::serialize(&JsonSerializer, data)
            }),
        &clock
    );
    let value = send(&app, get("/incr", None)).await.id().unwrap();
    assert_eq!(
        send(&app, get("/incr", Some(&value))).await.body,
        "2",
        "object's deserialize"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the function serialized");
}

#[actix_web::test]
async fn encode_failure_sends_nothing_unless_the_hook_fails_it() {
    let clock = ManualClock::new();
    let failing = |_: &HashMap<String, Vec<u8>>| -> Result<Vec<u8>, actix_typed_session::BoxError> {
        Err("serializer refuses".into())
    };
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let seen = hook_calls.clone();
    let app = app!(
        CookieStore::signed(KEY_A)
            .serialize(failing)
            .on_encode_error(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
                EncodeFailure::KeepPrevious
            }),
        &clock
    );
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.cookies.is_empty(), "no Set-Cookie when sealing fails");
    assert_eq!(hook_calls.load(Ordering::SeqCst), 1);

    let app = app!(
        CookieStore::signed(KEY_A)
            .serialize(failing)
            .on_encode_error(|_| EncodeFailure::Fail),
        &clock
    );
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.cookies.is_empty());
}

/// Compression is for signed cookies only: compressing before encrypting lets the cookie's
/// length tell an attacker who controls part of the session whether a guess matches a secret
/// beside it (CRIME). The combination fails when the store is built, and says why.
#[actix_web::test]
async fn compression_with_encryption_is_refused_at_build_time() {
    let err = CookieStore::encrypted(KEY_A)
        .compress(true)
        .build()
        .err()
        .expect("encrypted + compress must not build");
    let text = err.to_string();
    for word in ["compress", "encrypt", "length", "signed"] {
        assert!(
            text.contains(word),
            "the error should mention {word:?}: {text}"
        );
    }
    assert!(CookieStore::encrypted(KEY_A)
        .compress(false)
        .build()
        .is_ok());
    assert!(CookieStore::signed(KEY_A).compress(true).build().is_ok());
}

/// Signed cookies compress when that makes them shorter (`compress(true)`).
#[actix_web::test]
async fn compression_only_when_shorter() {
    let clock = ManualClock::new();
    let plain = app!(CookieStore::signed(KEY_A), &clock);
    let packed = app!(CookieStore::signed(KEY_A).compress(true), &clock);
    let long = send(&plain, get("/rep", None)).await.id().unwrap();
    let short = send(&packed, get("/rep", None)).await.id().unwrap();
    assert!(
        short.len() * 3 < long.len(),
        "{} vs {}",
        short.len(),
        long.len()
    );
    // Tiny data does not compress: the flag stays off and the size stays that of plain sealing.
    let tiny_plain = send(&plain, get("/incr", None)).await.id().unwrap();
    let tiny_packed = send(&packed, get("/incr", None)).await.id().unwrap();
    assert_eq!(tiny_plain.len(), tiny_packed.len());
    assert_eq!(
        send(&packed, get("/incr", Some(&tiny_packed))).await.body,
        "2"
    );
}

#[actix_web::test]
async fn oversized_session_is_refused_and_the_old_cookie_stays_valid() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::encrypted(KEY_A), &clock);
    let value = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, get("/big/400", Some(&value))).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.body.contains("limit 4096"), "{}", res.body);
    assert!(res.body.contains("bytes"), "names the size: {}", res.body);
    assert!(res.cookies.is_empty(), "never sent truncated");
    assert_eq!(
        send(&app, get("/read", Some(&value))).await.body,
        "1",
        "old cookie still valid"
    );
    // A smaller payload fits.
    let res = send(&app, get("/big/50", Some(&value))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.id().unwrap().len() < 4096);
}

#[actix_web::test]
async fn options_expire_change_id_no_store() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::encrypted(KEY_A), &clock);
    let value = send(&app, get("/incr", None)).await.id().unwrap();
    let old_id = send(&app, get("/whoami", Some(&value))).await.body;

    let res = send(&app, post("/login", Some(&value))).await;
    let after_login = res.id().unwrap();
    let new_id = send(&app, get("/whoami", Some(&after_login))).await.body;
    assert_ne!(new_id, old_id, "change_id: a fresh id in a fresh seal");
    assert_eq!(
        send(&app, get("/read", Some(&after_login))).await.body,
        "1",
        "data kept"
    );

    let res = send(&app, post("/preview", Some(&after_login))).await;
    assert!(res.cookies.is_empty(), "no_store: no new cookie");

    let res = send(&app, post("/logout", Some(&after_login))).await;
    let removal = res.removal().expect("removal cookie");
    assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
}

#[actix_web::test]
async fn new_visitor_who_stores_nothing_gets_no_cookie() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::signed(KEY_A), &clock);
    let res = send(&app, get("/read", None)).await;
    assert!(res.cookies.is_empty());
}

#[actix_web::test]
async fn short_key_fails_before_the_server_starts() {
    let err = CookieStore::encrypted(b"too short").build().err().unwrap();
    assert!(err.to_string().contains("at least 32"), "{err}");
}

#[actix_web::test]
async fn binding_to_the_user_agent() {
    let clock = ManualClock::new();
    for builder in [CookieStore::signed(KEY_A), CookieStore::encrypted(KEY_A)] {
        let app = app!(builder.bind_to_user_agent(), &clock);
        let with_ua = |uri: &str, value: Option<&str>, ua: &str| {
            let mut req = test::TestRequest::get()
                .uri(uri)
                .insert_header(("User-Agent", ua.to_owned()));
            if let Some(v) = value {
                req = req.insert_header(("Cookie", format!("id={v}")));
            }
            req.to_request()
        };
        let value = send(&app, with_ua("/incr", None, "Firefox/140"))
            .await
            .id()
            .unwrap();
        let same = send(&app, with_ua("/read", Some(&value), "Firefox/140")).await;
        assert_eq!(same.body, "1", "the same client opens its cookie");
        let other = send(&app, with_ua("/read", Some(&value), "curl/8")).await;
        assert_eq!(other.body, "none", "a replay from another client does not");
        let none = send(&app, get("/read", Some(&value))).await;
        assert_eq!(none.body, "none", "nor one without the header");
    }
    // An unbound store does not open a bound cookie either (the binding is part of the seal).
    let bound = app!(CookieStore::signed(KEY_A).bind_to_user_agent(), &clock);
    let unbound = app!(CookieStore::signed(KEY_A), &clock);
    let value = send(&bound, get("/incr", None)).await.id().unwrap();
    assert_eq!(
        send(&unbound, get("/read", Some(&value))).await.body,
        "none"
    );
}

/// `late_store` cannot apply to a sealed cookie (it leaves with the response head): the commit
/// happens at once, with the data as it stands when the handler returns.
#[actix_web::test]
async fn late_store_commits_at_the_head_with_a_client_side_store() {
    async fn stream(session: Session) -> Result<actix_web::HttpResponse, SessionError> {
        session.set("before", 1)?;
        session.late_store();
        let body = futures_util::stream::once(async {
            Ok::<_, actix_web::Error>(web::Bytes::from_static(b"body"))
        });
        Ok(actix_web::HttpResponse::Ok().streaming(body))
    }
    let clock = ManualClock::new();
    let app = test::init_service(
        App::new()
            .wrap(mw(CookieStore::signed(KEY_A), &clock))
            .route("/s", web::get().to(stream))
            .route("/read", web::get().to(read)),
    )
    .await;
    let res = send(&app, get("/s", None)).await;
    assert_eq!(res.body, "body");
    let value = res.id().expect("the sealed cookie goes out with the head");
    let record = stored(&CookieStore::signed(KEY_A).build().unwrap(), &value)
        .await
        .unwrap();
    assert_eq!(record.data["before"], &b"1"[..]);
}

/// The value of the cookie `name` a response sets.
fn set_value(res: &Resp, name: &str) -> String {
    res.cookies
        .iter()
        .find(|c| c.name() == name && !c.value().is_empty())
        .unwrap_or_else(|| panic!("no {name} cookie set"))
        .value()
        .to_owned()
}

/// A GET to `uri` with the cookie `name=value`.
fn get_with(uri: &str, name: &str, value: &str) -> actix_http::Request {
    test::TestRequest::get()
        .uri(uri)
        .insert_header(("Cookie", format!("{name}={value}")))
        .to_request()
}

/// A sealed value is bound to the name it travels under: two middlewares on one key (a user area
/// with the cookie `user_sid` and an admin area with `admin_sid`, whose idle timeout is shorter)
/// never open each other's cookies, in both modes, whether they hold two stores built from the
/// same key (two apps on one secret) or clones of one store.
#[actix_web::test]
async fn a_sealed_cookie_never_opens_under_another_cookie_name() {
    let clock = ManualClock::new();
    for mode in ["signed", "encrypted"] {
        let build = || {
            match mode {
                "signed" => CookieStore::signed(KEY_A),
                _ => CookieStore::encrypted(KEY_A),
            }
            .build()
            .unwrap()
        };
        let shared = build();
        for (how, user_store, admin_store) in [
            ("two stores on one key", build(), build()),
            ("one store cloned into both", shared.clone(), shared),
        ] {
            let area = |store: CookieStore, name: &str, idle: Duration| {
                SessionMiddleware::builder(store)
                    .state(CookieState::new(name))
                    .clock(clock.clone())
                    .idle_timeout(idle)
                    .absolute_timeout(ABSOLUTE)
                    .build()
            };
            let app = test::init_service(
                App::new()
                    .service(
                        web::scope("/user")
                            .wrap(area(user_store, "user_sid", IDLE))
                            .configure(routes),
                    )
                    .service(
                        web::scope("/admin")
                            .wrap(area(admin_store, "admin_sid", IDLE / 10))
                            .configure(routes),
                    ),
            )
            .await;
            let user = set_value(&send(&app, get("/user/incr", None)).await, "user_sid");
            let admin = set_value(&send(&app, get("/admin/incr", None)).await, "admin_sid");
            // Each area opens its own cookie...
            let res = send(&app, get_with("/user/read", "user_sid", &user)).await;
            assert_eq!(
                res.body, "1",
                "{mode}, {how}: the user area opens its cookie"
            );
            let res = send(&app, get_with("/admin/read", "admin_sid", &admin)).await;
            assert_eq!(
                res.body, "1",
                "{mode}, {how}: the admin area opens its cookie"
            );
            // ...and neither opens the other's, presented under its own cookie name.
            let res = send(&app, get_with("/admin/read", "admin_sid", &user)).await;
            assert_eq!(
                res.body, "none",
                "{mode}, {how}: a user_sid value opened as admin_sid"
            );
            let res = send(&app, get_with("/user/read", "user_sid", &admin)).await;
            assert_eq!(
                res.body, "none",
                "{mode}, {how}: an admin_sid value opened as user_sid"
            );
        }
    }
}

/// The same holds for the header a value travels in: a value issued in `x-user-session` does not
/// open in `x-admin-session`, with one store cloned into both middlewares.
#[actix_web::test]
async fn a_sealed_header_value_never_opens_under_another_header_name() {
    let clock = ManualClock::new();
    let store = CookieStore::encrypted(KEY_A).build().unwrap();
    let area = |header: &str| {
        SessionMiddleware::builder(store.clone())
            .state(HeaderState::new(header))
            .clock(clock.clone())
            .build()
    };
    let app = test::init_service(
        App::new()
            .service(
                web::scope("/user")
                    .wrap(area("x-user-session"))
                    .configure(routes),
            )
            .service(
                web::scope("/admin")
                    .wrap(area("x-admin-session"))
                    .configure(routes),
            ),
    )
    .await;
    let res = send(&app, get("/user/incr", None)).await;
    let value = res.header("x-user-session").expect("value sent").to_owned();
    let with = |uri: &str, header: &str| {
        test::TestRequest::get()
            .uri(uri)
            .insert_header((header.to_owned(), value.clone()))
            .to_request()
    };
    assert_eq!(
        send(&app, with("/user/read", "x-user-session")).await.body,
        "1"
    );
    assert_eq!(
        send(&app, with("/admin/read", "x-admin-session"))
            .await
            .body,
        "none",
        "a value issued in x-user-session opened in x-admin-session"
    );
}

/// The seal binds the kind of carrier beside the name: on one key (one store cloned into three
/// middlewares), a value issued in the cookie `sid` does not open as the query parameter `sid`
/// nor as the header `sid`, and a value issued in the header `sid` does not open as the cookie or
/// the query parameter `sid`; each opens where it was issued. In both modes.
#[actix_web::test]
async fn a_sealed_value_never_opens_under_another_kind_of_carrier_of_the_same_name() {
    let clock = ManualClock::new();
    for builder in [CookieStore::signed(KEY_A), CookieStore::encrypted(KEY_A)] {
        let store = builder.build().unwrap();
        let area = |state: actix_typed_session::state::IdCarrier| {
            SessionMiddleware::builder(store.clone())
                .state(state)
                .clock(clock.clone())
                .build()
        };
        let app = test::init_service(
            App::new()
                .service(
                    web::scope("/cookie")
                        .wrap(area(CookieState::new("sid").into()))
                        .configure(routes),
                )
                .service(
                    web::scope("/header")
                        .wrap(area(HeaderState::new("sid").into()))
                        .configure(routes),
                )
                .service(
                    web::scope("/query")
                        .wrap(area(QueryState::new("sid").into()))
                        .configure(routes),
                ),
        )
        .await;
        let in_cookie = |uri: &str, value: &str| get_with(uri, "sid", value);
        let in_header = |uri: &str, value: &str| {
            test::TestRequest::get()
                .uri(uri)
                .insert_header(("sid", value.to_owned()))
                .to_request()
        };
        let in_query = |uri: &str, value: &str| {
            test::TestRequest::get()
                .uri(&format!("{uri}?sid={value}"))
                .to_request()
        };
        let cookie = set_value(&send(&app, get("/cookie/incr", None)).await, "sid");
        let res = send(&app, get("/header/incr", None)).await;
        let header = res
            .header("sid")
            .expect("the value in the header")
            .to_owned();

        for (what, req, expected) in [
            ("cookie as cookie", in_cookie("/cookie/read", &cookie), "1"),
            ("header as header", in_header("/header/read", &header), "1"),
            ("cookie as query", in_query("/query/read", &cookie), "none"),
            (
                "cookie as header",
                in_header("/header/read", &cookie),
                "none",
            ),
            ("header as query", in_query("/query/read", &header), "none"),
            (
                "header as cookie",
                in_cookie("/cookie/read", &header),
                "none",
            ),
        ] {
            let res = send(&app, req).await;
            assert_eq!(res.status, StatusCode::OK, "{what}");
            assert_eq!(res.body, expected, "{what}");
        }
    }
}

/// Limit of a client-side store (SECURITY.md): `change_id` gives a new id in a new seal, but
/// nothing on the server remembers that the pre-login cookie was replaced, so a copy of it still
/// opens, with the pre-login data and the pre-login id, until its own idle deadline.
#[actix_web::test]
async fn pre_login_cookie_still_opens_after_change_id() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::encrypted(KEY_A), &clock);
    let before = send(&app, get("/incr", None)).await.id().unwrap();
    let old_id = send(&app, get("/whoami", Some(&before))).await.body;
    let after = send(&app, post("/login", Some(&before)))
        .await
        .id()
        .unwrap();
    assert_ne!(send(&app, get("/whoami", Some(&after))).await.body, old_id);
    assert_eq!(send(&app, get("/user", Some(&after))).await.body, "ann");

    assert_eq!(
        send(&app, get("/whoami", Some(&before))).await.body,
        old_id,
        "the pre-login cookie still opens, under the old id"
    );
    assert_eq!(send(&app, get("/read", Some(&before))).await.body, "1");
    assert_eq!(
        send(&app, get("/user", Some(&before))).await.body,
        "none",
        "with the pre-login data: the login is only in the new cookie"
    );
    clock.advance(IDLE);
    assert_eq!(
        send(&app, get("/read", Some(&before))).await.body,
        "none",
        "dead at its own idle deadline"
    );
}

/// Limit of a client-side store (SECURITY.md): every use re-seals the cookie with a later idle
/// deadline, so a stolen copy used within the idle timeout stays valid, whatever its owner does
/// (even a logout), until the absolute timeout counted from the session's creation, and no longer.
#[actix_web::test]
async fn a_copy_kept_alive_within_the_idle_timeout_lives_until_the_absolute_timeout_and_no_longer()
{
    let clock = ManualClock::new();
    let app = app!(CookieStore::encrypted(KEY_A), &clock);
    let stolen = send(&app, get("/incr", None)).await.id().unwrap();
    // The owner logs out: the browser drops its cookie, the thief's copy is not revoked.
    let res = send(&app, post("/logout", Some(&stolen))).await;
    assert!(res.removal().is_some());

    let step = IDLE * 9 / 10;
    let mut copy = stolen;
    let mut elapsed = Duration::ZERO;
    while elapsed + step < ABSOLUTE {
        clock.advance(step);
        elapsed += step;
        let res = send(&app, get("/read", Some(&copy))).await;
        assert_eq!(res.body, "1", "the copy is alive after {elapsed:?}");
        copy = res
            .id()
            .expect("each use re-seals it with a later deadline");
    }
    assert!(elapsed > IDLE * 5, "long past the idle timeout");
    clock.advance(ABSOLUTE - elapsed - Duration::from_secs(1));
    assert_eq!(
        send(&app, get("/read", Some(&copy))).await.body,
        "1",
        "alive one second before the absolute timeout"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        send(&app, get("/read", Some(&copy))).await.body,
        "none",
        "dead at the absolute timeout"
    );
}

/// What holds for a copy that is not re-sealed: it dies at the idle deadline sealed in it, even
/// while a later copy of the same session (its owner's, in use) lives on.
#[actix_web::test]
async fn an_unused_copy_dies_at_its_idle_deadline() {
    let clock = ManualClock::new();
    let app = app!(CookieStore::signed(KEY_A), &clock);
    let copy = send(&app, get("/incr", None)).await.id().unwrap();
    clock.advance(IDLE / 2);
    let in_use = send(&app, get("/read", Some(&copy)))
        .await
        .id()
        .expect("re-sealed with a later deadline");
    clock.advance(IDLE / 2 - Duration::from_secs(1));
    assert_eq!(
        send(&app, get("/read", Some(&copy))).await.body,
        "1",
        "alive one second before its deadline"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        send(&app, get("/read", Some(&copy))).await.body,
        "none",
        "dead at its idle deadline"
    );
    assert_eq!(
        send(&app, get("/read", Some(&in_use))).await.body,
        "1",
        "the copy in use lives on"
    );
}

/// A deploy that lowers the timeouts applies them to the cookies sealed before it: the store
/// keeps the sealed deadline, and the middleware also holds a cookie to its own idle timeout
/// from the last-seen time sealed in it, and to its own absolute timeout from the creation time.
/// Two middlewares on one store and one key play the deploy before (idle 600 s, absolute
/// 3600 s) and the one after (idle 60 s, absolute 1200 s), on one clock.
#[actix_web::test]
async fn a_lowered_timeout_applies_to_cookies_sealed_before_it() {
    for builder in [CookieStore::signed(KEY_A), CookieStore::encrypted(KEY_A)] {
        let clock = ManualClock::new();
        let store = builder.build().unwrap();
        let deploy = |idle: Duration, absolute: Duration| {
            SessionMiddleware::builder(store.clone())
                .clock(clock.clone())
                .idle_timeout(idle)
                .absolute_timeout(absolute)
                .build()
        };
        let before =
            test::init_service(App::new().wrap(deploy(IDLE, ABSOLUTE)).configure(routes)).await;
        let after = test::init_service(
            App::new()
                .wrap(deploy(IDLE / 10, ABSOLUTE / 3))
                .configure(routes),
        )
        .await;

        // The idle timeout: sealed before, last seen at 0 s.
        let cookie = send(&before, get("/incr", None)).await.id().unwrap();
        clock.advance(Duration::from_secs(59));
        assert_eq!(
            send(&after, get("/read", Some(&cookie))).await.body,
            "1",
            "59 s after it was last seen: within the new idle timeout"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            send(&after, get("/read", Some(&cookie))).await.body,
            "none",
            "60 s after it was last seen: past the new idle timeout (sealed deadline: 600 s)"
        );
        assert_eq!(
            send(&before, get("/read", Some(&cookie))).await.body,
            "1",
            "the deadline sealed in it is still ahead"
        );

        // The absolute timeout: a cookie kept in use under the old deploy, re-sealed 10 s ago,
        // created 1260 s ago.
        let mut cookie = send(&before, get("/incr", None)).await.id().unwrap();
        for step in [500, 500, 250] {
            clock.advance(Duration::from_secs(step));
            let res = send(&before, get("/read", Some(&cookie))).await;
            assert_eq!(res.body, "1");
            cookie = res.id().expect("re-sealed");
        }
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            send(&after, get("/read", Some(&cookie))).await.body,
            "none",
            "1260 s after its creation: past the new absolute timeout"
        );
        assert_eq!(send(&before, get("/read", Some(&cookie))).await.body, "1");
    }
}

/// A logout with a client binding (`bind_to_user_agent`) on a handler that never reads the
/// session opens the cookie with the binding: no decode hook call, no "did not open" event, and
/// the removal cookie is sent.
#[actix_web::test]
async fn logout_of_a_bound_cookie_raises_no_decode_alarm() {
    let (captured, _guard) = capture_logs();
    for builder in [CookieStore::signed(KEY_A), CookieStore::encrypted(KEY_A)] {
        let decode_errors = Arc::new(AtomicUsize::new(0));
        let counter = decode_errors.clone();
        let builder = builder.bind_to_user_agent().on_decode_error(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let clock = ManualClock::new();
        let app = app!(builder, &clock);
        let ua = ("User-Agent", "Firefox/140");
        let req = test::TestRequest::get().uri("/incr").insert_header(ua);
        let value = send(&app, req.to_request()).await.id().unwrap();
        let req = test::TestRequest::post()
            .uri("/bye")
            .insert_header(ua)
            .insert_header(("Cookie", format!("id={value}")));
        let res = send(&app, req.to_request()).await;
        assert_eq!(res.body, "out");
        let removal = res.removal().expect("removal cookie");
        assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
        assert_eq!(
            decode_errors.load(Ordering::SeqCst),
            0,
            "a logout from the same client is no tampering"
        );
    }
    let log = captured.text();
    assert!(!log.contains("did not open"), "{log}");
}

/// Cookies of earlier seal formats do not open: the visitor gets a fresh session, never an
/// error, and the hook sees `Unverified`. Version 1: before the name binding and this crate's own
/// key derivation; version 2: a JSON body and a longer context. Each pair was sealed with `KEY_A`
/// under the cookie `id` by that release.
#[actix_web::test]
async fn cookies_of_earlier_format_versions_open_as_fresh_sessions() {
    const V1_SIGNED: &str = "AQAAAAAAaxBRkQAAAABrEaMRX2RfckFRQzJicUpidURUTThoa3hiclNYWTFiU2xqMW57ImNvdW50ZXIiOjF9EzouTrilrw4U4x5e8H2jQ-gH1VFsioEaJwAuWtot6MQ";
    const V1_ENCRYPTED: &str = "F8ncUl8Z8RYTXMWGAy4xC-KPO4xYxLB0gnJwonn0neB0PKskVKPoz1OLmol64gnbC3LVqt_7q7ylvxc0SJTxYLs6mk5Y3jl-n0os3nrxwguAb6tNcOPlV-Aecg";
    // Version 2: the JSON body and the long, 8-byte-length-prefixed context.
    const V2_SIGNED: &str = "AgAAAAAAaxBbpQAAAABrEa0la0JYclNNb2NaaThDR3dQTkhqZ2dDZV9ZbF9iZ09CSDR7ImNvdW50ZXIiOjF9Fx9Yowaet4u62vJ2PbMD8crGMTt_RVefSB1wKaFlzGg";
    const V2_ENCRYPTED: &str = "iak6OsvdkjDlM3-zIPyQZ31RHmQCdCZfmAYPChnmLC6gGuTwns4QU7vCO-gvP51AxuE0f4iyy9dI1o4Z1ude2oTyt6MTZQTNwg7MSawRihCvxyC1nJtdFpK27g";
    for (builder, old) in [
        (CookieStore::signed(KEY_A), V1_SIGNED),
        (CookieStore::encrypted(KEY_A), V1_ENCRYPTED),
        (CookieStore::signed(KEY_A), V2_SIGNED),
        (CookieStore::encrypted(KEY_A), V2_ENCRYPTED),
    ] {
        let unverified = Arc::new(AtomicUsize::new(0));
        let other = Arc::new(AtomicUsize::new(0));
        let (u, o) = (unverified.clone(), other.clone());
        let builder = builder.on_decode_error(move |err| {
            let counter = match err {
                CookieDecodeError::Unverified => &u,
                _ => &o,
            };
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let clock = ManualClock::new();
        let app = app!(builder, &clock);
        let res = send(&app, get("/read", Some(old))).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body, "none", "a fresh session");
        assert_eq!(
            unverified.load(Ordering::SeqCst),
            1,
            "{old:.20}: unverified"
        );
        assert_eq!(other.load(Ordering::SeqCst), 0);
    }
}

/// Cookies sealed before the carrier kind joined the seal's context and the last-seen time
/// joined its plaintext still open: nobody is logged out by the upgrade. Each value was sealed
/// with `KEY_A` under the cookie `id` by the release before (an anonymous session and one tied
/// to `ann`, holding `counter = 1`, created at 1 796 000 000 and expiring at 4 000 000 000);
/// they carry no last-seen time, so the idle timeout of today's middleware does not apply to
/// them (the deadline sealed in them does).
#[actix_web::test]
async fn cookies_sealed_by_the_release_before_still_open() {
    const SIGNED: &str = "AwCAkrPYBoDQrPMOa0JYclNNb2NaaThDR3dQTkhqZ2dDZV9ZbF9iZ09CSDQBB2NvdW50ZXIBMZYASC5gZY8avujzFM8mLubkO0IslvbDZxKFZlgo-mcD";
    const SIGNED_TIED: &str = "AwKAkrPYBoDQrPMOa0JYclNNb2NaaThDR3dQTkhqZ2dDZV9ZbF9iZ09CSDTQ1sfPojQDYW5uUW05dmEzTm9aV3htTFdoaGJtUnNaUQEHY291bnRlcgExBSDZoHSjMrCCBEfhn-_SzRtl1SHmUJQB3BVTDkqnGoY";
    const ENCRYPTED: &str = "5cO0tl8lASF4CrSgGVIhuiZfhmpMyLAukld2e62YbT8MsLZfGNUjhi7qq0Au9zVsDyCo6W79Gk3uMiLGYKNN4MuWIcUjEmpe3nBIvp7Ajn07JKY";
    const ENCRYPTED_TIED: &str = "qD3_RSu1M77X7DRsvE0kaZUzS7eu7vYVrgOOZn3yJwPXfUYdytjB-0Xc2YSNBPSmtACo69IlKosXn0FMPuV9NegX_WJy1RmQqv2YRleabdzcr8B5Eh9UcDqF8jCL4ebf9Fn3nr_qolQI737fi_a8LIXDqA";
    for (builder, old, user) in [
        (CookieStore::signed(KEY_A), SIGNED, "nobody"),
        (CookieStore::signed(KEY_A), SIGNED_TIED, "ann"),
        (CookieStore::encrypted(KEY_A), ENCRYPTED, "nobody"),
        (CookieStore::encrypted(KEY_A), ENCRYPTED_TIED, "ann"),
    ] {
        let failures = Arc::new(AtomicUsize::new(0));
        let counter = failures.clone();
        let store = builder
            .on_decode_error(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let clock = ManualClock::new();
        let app = test::init_service(
            App::new()
                .wrap(
                    SessionMiddleware::builder(store)
                        .clock(clock.clone())
                        .idle_timeout(IDLE)
                        .no_absolute_timeout()
                        .build(),
                )
                .configure(routes)
                .configure(user_routes),
        )
        .await;
        let res = send(&app, get("/read", Some(old))).await;
        assert_eq!(
            (res.status, res.body.as_str()),
            (StatusCode::OK, "1"),
            "{old:.20}"
        );
        assert_eq!(send(&app, get("/u/whoami", Some(old))).await.body, user);
        // In use, it is re-sealed in today's format, and that opens too.
        let res = send(&app, get("/incr", Some(old))).await;
        assert_eq!(res.body, "2");
        let resealed = res.id().expect("re-sealed");
        assert_eq!(send(&app, get("/read", Some(&resealed))).await.body, "2");
        assert_eq!(
            send(&app, get("/u/whoami", Some(&resealed))).await.body,
            user
        );
        assert_eq!(failures.load(Ordering::SeqCst), 0, "{old:.20}");
    }
}

// ---------------------------------------------------------------------------------------------
// Users: revocations through a server-side store (`.revocations(store)`).

/// The user cases of the conformance suite that apply to a store that cannot list (the others
/// list a user's sessions, revoke one by its handle, or cap them).
mod users_conformance {
    use actix_typed_session::store::{CookieStore, MemoryStore};

    actix_typed_session::conformance_suite!(cases
        CookieStore::encrypted([0x42; 32]).revocations(MemoryStore::default()).build().unwrap();
        users_log_out_others_and_everywhere,
    );
}

/// A cookie store on `KEY_A` whose revocations live in `revocations`, on `clock`.
fn revocable(
    revocations: impl actix_typed_session::store::SessionStore,
    clock: &ManualClock,
) -> CookieStore {
    CookieStore::encrypted(KEY_A)
        .clock(clock.clone())
        .revocations(revocations)
        .build()
        .unwrap()
}

/// A memory store on `clock`, for revocations.
fn revocation_memory(clock: &ManualClock) -> MemoryStore {
    MemoryStore::builder().clock(clock.clone()).build()
}

fn user_mw(store: CookieStore, clock: &ManualClock) -> SessionMiddleware {
    SessionMiddleware::builder(store)
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .absolute_timeout(ABSOLUTE)
        .build()
}

macro_rules! user_app {
    ($mw:expr) => {
        test::init_service(
            App::new()
                .wrap($mw)
                .configure(conformance::routes)
                .configure(user_routes),
        )
        .await
    };
}

/// Logs `user` in from `device`: (the cookie, the session's handle).
async fn log_in<S, B>(app: &S, user: &str, device: &str) -> (String, String)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = send(
        app,
        test::TestRequest::post()
            .uri(&format!("/u/login/{user}"))
            .insert_header(("user-agent", device))
            .to_request(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    (res.id().expect("a sealed cookie"), res.body)
}

async fn user_of<S, B>(app: &S, cookie: &str) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = send(app, get("/u/whoami", Some(cookie))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body
}

/// An admin's `revoke_all` (from the middleware's `Sessions`, outside any request) ends every
/// cookie of the user on two middlewares (two app processes) that share one revocation store,
/// including a copy replayed much later; another user is untouched; the user can log in again.
#[actix_web::test]
async fn revoke_all_ends_every_cookie_of_the_user_on_every_app_sharing_the_revocations() {
    let clock = ManualClock::new();
    let revocations = revocation_memory(&clock);
    let admin = user_mw(revocable(revocations.clone(), &clock), &clock);
    let sessions = admin.sessions();
    let one = user_app!(admin);
    let two = user_app!(user_mw(revocable(revocations.clone(), &clock), &clock));

    let (phone, _) = log_in(&one, "ann", "phone").await;
    let (laptop, _) = log_in(&two, "ann", "laptop").await;
    let (bob, _) = log_in(&one, "bob", "tablet").await;
    // A cookie kept in use is re-sealed; the copy from before is kept aside, to replay later.
    clock.advance(Duration::from_secs(120));
    let res = send(&one, post("/set/k/v", Some(&phone))).await;
    let stale_phone = phone;
    let phone = res.id().unwrap();
    assert_ne!(stale_phone, phone);
    // Cookies of one app open on the other (shared key and name): two processes of one app.
    assert_eq!(user_of(&two, &phone).await, "ann");
    assert_eq!(user_of(&one, &laptop).await, "ann");

    clock.advance(Duration::from_secs(1));
    assert_eq!(sessions.revoke_all("ann").await.unwrap(), 0, "cannot count");

    for app_cookie in [&phone, &laptop, &stale_phone] {
        assert_eq!(user_of(&one, app_cookie).await, "nobody");
        assert_eq!(user_of(&two, app_cookie).await, "nobody");
    }
    assert_eq!(
        user_of(&one, &bob).await,
        "bob",
        "another user is untouched"
    );
    assert_eq!(user_of(&two, &bob).await, "bob");

    // Replayed much later (still within its idle deadline): still a fresh session, and the
    // fresh session is not the user's.
    clock.advance(Duration::from_secs(IDLE.as_secs() - 200));
    let res = send(&two, get("/u/whoami", Some(&stale_phone))).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "nobody"));

    // A login after the revocation holds.
    clock.advance(Duration::from_secs(1));
    let (again, _) = log_in(&two, "ann", "phone").await;
    assert_eq!(user_of(&one, &again).await, "ann");
    assert_eq!(user_of(&two, &again).await, "ann");
}

/// `expire_others` in the very second of the logins (a `ManualClock` counts whole seconds, so
/// the revocation and every seal share one millisecond): the session that asked stays, with the
/// value the response sends (a copy of the cookie it presented ends, see
/// `after_a_password_change_only_the_cookie_sealed_in_its_response_opens`); the user's other
/// sessions end, also a copy re-sealed in that second after the revocation. A login in that same
/// second, after it, ends too (the documented cautious side); one a second later stays.
/// `expire_all` then ends all of them and removes the cookie.
#[actix_web::test]
async fn expire_others_keeps_this_session_and_ends_the_others_within_one_second() {
    let clock = ManualClock::new();
    let app = user_app!(user_mw(
        revocable(revocation_memory(&clock), &clock),
        &clock
    ));
    let (a, _) = log_in(&app, "cy", "a").await;
    let (b, _) = log_in(&app, "cy", "b").await;
    let (c, _) = log_in(&app, "cy", "c").await;
    let (dan, _) = log_in(&app, "dan", "d").await;

    let res = send(&app, post("/u/logout_others", Some(&b))).await;
    assert_eq!(res.status, StatusCode::OK);
    let b_new = res.id().expect("the kept session is re-sealed");
    assert_eq!(user_of(&app, &b_new).await, "cy", "this one stays");
    assert_eq!(
        user_of(&app, &b).await,
        "nobody",
        "a copy of its cookie from before ends: only the re-sealed value opens"
    );
    for other in [&a, &c] {
        assert_eq!(user_of(&app, other).await, "nobody");
    }
    assert_eq!(user_of(&app, &dan).await, "dan");

    // Same second, the cautious side: a new login of the user counts as before the cut-off.
    let (same_second, _) = log_in(&app, "cy", "e").await;
    assert_eq!(user_of(&app, &same_second).await, "nobody");
    clock.advance(Duration::from_secs(1));
    let (later, _) = log_in(&app, "cy", "f").await;
    assert_eq!(user_of(&app, &later).await, "cy");
    assert_eq!(user_of(&app, &b_new).await, "cy");

    clock.advance(Duration::from_secs(1));
    let res = send(&app, post("/u/logout_all", Some(&later))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.removal().is_some(), "this one ends too, cookie removed");
    for gone in [&later, &b_new, &b] {
        assert_eq!(user_of(&app, gone).await, "nobody");
    }
    assert_eq!(user_of(&app, &dan).await, "dan");
}

/// A password change, as OWASP has it: a new id, and the user's other sessions end.
async fn change_password(session: Session) -> &'static str {
    session.change_id();
    session.expire_others();
    "changed"
}

/// A password change whose page then fails.
async fn change_password_then_fail(session: Session) -> actix_web::HttpResponse {
    session.change_id();
    session.expire_others();
    actix_web::HttpResponse::InternalServerError().body("failed")
}

/// The password change recipe on `app`, for a user logged in on two devices: the session that
/// changes the password keeps going with the value its response sends (the cookie, re-sealed
/// later, too), and nothing else opens as the user: not the other device, and not a copy of the
/// cookie this session held before (a thief's). Done twice: in the very second of the logins
/// (a `ManualClock` counts whole seconds, so the revocation and every seal share one
/// millisecond), then a minute later from the cookie that the first change sent.
async fn password_change_ends_every_other_copy<S, B>(app: &S, clock: &ManualClock)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let (phone, _) = log_in(app, "ann", "phone").await;
    let (laptop, _) = log_in(app, "ann", "laptop").await;
    let (bob, _) = log_in(app, "bob", "tablet").await;
    let stolen = phone.clone();

    let res = send(app, post("/u/change_password", Some(&phone))).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "changed"));
    let phone = res.id().expect("the kept session gets a new value");
    assert_eq!(user_of(app, &phone).await, "ann", "this one stays");
    assert_eq!(
        user_of(app, &laptop).await,
        "nobody",
        "the other device ends"
    );
    assert_eq!(
        user_of(app, &stolen).await,
        "nobody",
        "a copy taken before the change ends"
    );
    assert_eq!(user_of(app, &bob).await, "bob");

    // A minute later: re-sealed in use, then changed again from the value the change sent.
    clock.advance(Duration::from_secs(60));
    let res = send(app, post("/set/k/v", Some(&phone))).await;
    let stolen = phone.clone();
    // The cookie store re-seals; a server-side store keeps the id.
    let phone = res.id().unwrap_or(phone);
    assert_eq!(user_of(app, &phone).await, "ann");
    let res = send(app, post("/u/change_password", Some(&phone))).await;
    let phone = res.id().expect("the kept session gets a new value");
    assert_eq!(user_of(app, &phone).await, "ann");
    assert_eq!(user_of(app, &stolen).await, "nobody");
    let res = send(app, get("/get/k", Some(&phone))).await;
    assert_eq!(res.body, "v", "the data moved with the session");
}

/// `change_id` with `expire_others` (a password change) on the cookie store ends a copy of this
/// session's cookie taken before the change, as it does on a server-side store (whose
/// `change_id` forgets the old id): only the value sealed in the change's response opens. The
/// same recipe on a `MemoryStore` for comparison. A change whose response fails (5xx) seals
/// nothing, so on the cookie store the session that asked ends too.
#[actix_web::test]
async fn after_a_password_change_only_the_cookie_sealed_in_its_response_opens() {
    for builder in [CookieStore::signed(KEY_A), CookieStore::encrypted(KEY_A)] {
        let clock = ManualClock::new();
        let store = builder
            .clock(clock.clone())
            .revocations(revocation_memory(&clock))
            .build()
            .unwrap();
        let app = test::init_service(
            App::new()
                .wrap(user_mw(store, &clock))
                .configure(conformance::routes)
                .configure(user_routes)
                .route("/u/change_password", web::post().to(change_password))
                .route(
                    "/u/change_password_fail",
                    web::post().to(change_password_then_fail),
                ),
        )
        .await;
        password_change_ends_every_other_copy(&app, &clock).await;

        // A change whose response fails seals nothing: the cookie the browser holds is a
        // copy of the old one like any other, and ends with them.
        clock.advance(Duration::from_secs(60));
        let (tab, _) = log_in(&app, "cy", "tab").await;
        let res = send(&app, post("/u/change_password_fail", Some(&tab))).await;
        assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.id().is_none(), "nothing sealed");
        assert_eq!(user_of(&app, &tab).await, "nobody");
    }
    let clock = ManualClock::new();
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(revocation_memory(&clock))
                    .clock(clock.clone())
                    .build(),
            )
            .configure(conformance::routes)
            .configure(user_routes)
            .route("/u/change_password", web::post().to(change_password)),
    )
    .await;
    password_change_ends_every_other_copy(&app, &clock).await;
}

/// A request of the user that is in flight while the user's sessions are revoked re-seals its
/// cookie after the revocation: that cookie does not open either (the seal keeps the time the
/// session was tied to the user, not the time of the seal).
#[actix_web::test]
async fn a_request_in_flight_cannot_bring_a_revoked_session_back() {
    let clock = ManualClock::new();
    let signal = web::Data::new(tokio::sync::Notify::new());
    let app = test::init_service(
        App::new()
            .wrap(user_mw(
                revocable(revocation_memory(&clock), &clock),
                &clock,
            ))
            .configure(conformance::routes)
            .configure(user_routes)
            .app_data(signal.clone()),
    )
    .await;
    let (fay, _) = log_in(&app, "fay", "d").await;
    clock.advance(Duration::from_secs(1));
    let (held, revoked) =
        futures_util::future::join(send(&app, post("/hold/k/v", Some(&fay))), async {
            let res = send(&app, post("/u/revoke_all/fay", None)).await;
            clock.advance(Duration::from_secs(1));
            signal.notify_one();
            res
        })
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(held.body, "held");
    let resealed = held.id().expect("the held request re-sealed its cookie");
    assert_eq!(user_of(&app, &resealed).await, "nobody", "not resurrected");
    assert_eq!(user_of(&app, &fay).await, "nobody");
}

/// The revocation check reads the store once per request of a session with a user, and never
/// for an anonymous session; a revocation is one write.
#[actix_web::test]
async fn the_revocation_check_is_one_load_for_a_user_and_none_for_an_anonymous_session() {
    let clock = ManualClock::new();
    let counted = Instrumented::new(revocation_memory(&clock));
    let app = user_app!(user_mw(revocable(counted.clone(), &clock), &clock));

    let mut anon = send(&app, get("/incr", None)).await.id().unwrap();
    for _ in 0..3 {
        anon = send(&app, get("/incr", Some(&anon))).await.id().unwrap();
    }
    assert_eq!(counted.calls.total(), 0, "anonymous: no store call");

    let (ann, _) = log_in(&app, "ann", "x").await;
    assert_eq!(counted.calls.total(), 0, "a login presents no user cookie");
    for n in 1..=3 {
        assert_eq!(user_of(&app, &ann).await, "ann");
        assert_eq!(counted.calls.load(), n, "one load per request");
    }
    assert_eq!(counted.calls.save(), 0);
    clock.advance(Duration::from_secs(1));
    send(&app, post("/u/revoke_all/ann", None)).await;
    assert_eq!(counted.calls.save(), 1, "a revocation is one write");
    assert_eq!(counted.calls.load(), 3, "and reads nothing");
    assert_eq!(user_of(&app, &ann).await, "nobody");
    assert_eq!(counted.calls.load(), 4);
}

/// A revocation store that fails (a `FileStore` whose directory became a plain file) fails the
/// requests that need it with 503: the check of a user's cookie, `revoke_all`, `expire_all`.
/// Never a silent pass. Anonymous sessions do not need it and go on.
#[actix_web::test]
async fn a_failing_revocation_store_is_a_503_never_a_silent_pass() {
    let clock = ManualClock::new();
    let dir = TempDir::new("cookie-revocations");
    let files = FileStore::builder(&dir.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = user_app!(user_mw(revocable(files, &clock), &clock));
    let (ann, _) = log_in(&app, "ann", "x").await;
    assert_eq!(user_of(&app, &ann).await, "ann");
    let anon = send(&app, get("/incr", None)).await.id().unwrap();

    std::fs::remove_dir_all(&dir.0).unwrap();
    std::fs::write(&dir.0, b"not a directory").unwrap();

    let res = send(&app, get("/u/whoami", Some(&ann))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.body);
    assert_eq!(res.body, "session store unavailable");
    for uri in ["/u/revoke_all/ann", "/u/logout_all", "/u/logout_others"] {
        let res = send(&app, post(uri, Some(&ann))).await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert!(res.removal().is_none() && res.id().is_none(), "{uri}");
    }
    let res = send(&app, get("/incr", Some(&anon))).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "2"));

    // Back: the check passes again, and a revocation goes through.
    std::fs::remove_file(&dir.0).unwrap();
    std::fs::create_dir(&dir.0).unwrap();
    assert_eq!(user_of(&app, &ann).await, "ann");
    clock.advance(Duration::from_secs(1));
    let res = send(&app, post("/u/revoke_all/ann", None)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(user_of(&app, &ann).await, "nobody");
}

/// Without a revocation store, "log out everywhere" (`expire_all`), `expire_others` and
/// `Sessions::revoke_all` answer `Unsupported` (500, the message in debug builds), never a
/// silent no-op: the session is not ended as if it had worked. Listing and revoking one session
/// by its handle are unsupported with or without one (nothing on the server knows the cookies).
#[actix_web::test]
async fn without_a_revocation_store_revoking_is_unsupported_never_a_silent_no_op() {
    let clock = ManualClock::new();
    let plain = CookieStore::encrypted(KEY_A).build().unwrap();
    let app = user_app!(user_mw(plain, &clock));
    let (ann, handle) = log_in(&app, "ann", "x").await;
    assert_eq!(
        user_of(&app, &ann).await,
        "ann",
        "the user travels in the cookie"
    );
    for (uri, cookie) in [
        ("/u/logout_all", Some(&ann)),
        ("/u/logout_others", Some(&ann)),
        ("/u/revoke_all/ann", None),
    ] {
        let res = send(&app, post(uri, cookie.map(String::as_str))).await;
        assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert!(
            res.body.contains(
                "this session store cannot revoke a user's sessions without a revocation store"
            ),
            "{uri}: {}",
            res.body
        );
        assert!(
            res.removal().is_none(),
            "{uri}: not logged out as if it worked"
        );
    }
    assert_eq!(user_of(&app, &ann).await, "ann");

    let with = user_app!(user_mw(
        revocable(revocation_memory(&clock), &clock),
        &clock
    ));
    for app_under_test in [&app, &with] {
        let res = send(app_under_test, get("/u/devices/ann", None)).await;
        assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            res.body.contains("cannot list a user's sessions"),
            "{}",
            res.body
        );
        let res = send(
            app_under_test,
            post(&format!("/u/revoke/ann/{handle}"), None),
        )
        .await;
        assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            res.body.contains("cannot revoke a session by its handle"),
            "{}",
            res.body
        );
    }

    // The per-user cap needs a list of the user's sessions: building the middleware with it
    // fails at start-up, and says why, instead of a login failing later.
    let err = SessionMiddleware::builder(revocable(revocation_memory(&clock), &clock))
        .clock(clock.clone())
        .max_sessions_per_user(2)
        .try_build()
        .err()
        .expect("a ConfigError");
    assert!(
        err.to_string()
            .contains("max_sessions_per_user needs a store that keeps the user index"),
        "{err}"
    );
    let err = SessionMiddleware::builder(actix_typed_session::store::NullStore)
        .max_sessions_per_user(1)
        .try_build()
        .err()
        .expect("a ConfigError");
    assert!(err.to_string().contains("NullStore"), "{err}");
}

/// A revocation record never holds the user id: a `FileStore` used for revocations holds no
/// file whose name or content has it, only a hash-named record with the time and the handle.
#[actix_web::test]
async fn a_revocation_record_never_holds_the_user_id() {
    let clock = ManualClock::new();
    let dir = TempDir::new("cookie-revocation-names");
    let files = FileStore::builder(&dir.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mw = user_mw(revocable(files, &clock), &clock);
    let sessions = mw.sessions();
    let app = user_app!(mw);
    const USER: &str = "ann.secret-user-id";
    let (ann, _) = log_in(&app, USER, "x").await;
    clock.advance(Duration::from_secs(1));
    let res = send(&app, post("/u/logout_others", Some(&ann))).await;
    assert_eq!(res.status, StatusCode::OK);
    sessions.revoke_all(USER).await.unwrap();

    let mut seen = 0;
    let mut stack = vec![dir.0.clone()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.contains("secret-user"), "{name}");
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let bytes = std::fs::read(entry.path()).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("secret-user"),
                    "{name}"
                );
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "the record is there");
}

/// With a revocation TTL shorter than the idle timeout, a user's cookie ends at the TTL from its
/// seal (so it never outlives a revocation record) unless it is re-sealed; anonymous cookies
/// keep the idle timeout.
#[actix_web::test]
async fn a_users_cookie_ends_at_the_revocation_ttl_unless_re_sealed() {
    let clock = ManualClock::new();
    let store = CookieStore::encrypted(KEY_A)
        .clock(clock.clone())
        .revocations(revocation_memory(&clock))
        .revocation_ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let app = user_app!(user_mw(store, &clock));
    let (ann, _) = log_in(&app, "ann", "x").await;
    let anon = send(&app, get("/incr", None)).await.id().unwrap();
    clock.advance(Duration::from_secs(50));
    let res = send(&app, get("/u/whoami", Some(&ann))).await;
    assert_eq!(res.body, "ann");
    let resealed = res.id().expect("re-sealed: its expiry moves past the cap");
    clock.advance(Duration::from_secs(20));
    assert_eq!(user_of(&app, &ann).await, "nobody", "70 s after its seal");
    assert_eq!(user_of(&app, &resealed).await, "ann", "20 s after its seal");
    let res = send(&app, get("/read", Some(&anon))).await;
    assert_eq!(res.body, "1", "anonymous: the idle timeout (600 s)");
}

/// Two app processes, each with its own `FileStore` on one shared directory for revocations: a
/// revocation made by one ends the user's cookies on the other.
#[actix_web::test]
async fn two_processes_share_revocations_through_a_file_store() {
    let clock = ManualClock::new();
    let dir = TempDir::new("cookie-revocations-shared");
    let files = || {
        FileStore::builder(&dir.0)
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let one = user_app!(user_mw(revocable(files(), &clock), &clock));
    let two_mw = user_mw(revocable(files(), &clock), &clock);
    let admin = two_mw.sessions();
    let two = user_app!(two_mw);
    let (ann, _) = log_in(&one, "ann", "x").await;
    let (bob, _) = log_in(&two, "bob", "y").await;
    assert_eq!(user_of(&two, &ann).await, "ann");
    clock.advance(Duration::from_secs(1));
    admin.revoke_all("ann").await.unwrap();
    assert_eq!(user_of(&one, &ann).await, "nobody");
    assert_eq!(user_of(&one, &bob).await, "bob");
}
