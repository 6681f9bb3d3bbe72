//! Bad input and store failures leave a `tracing` event, and no event ever contains a raw id.

use std::sync::{Arc, Mutex};

use actix_typed_session::store::{CookieStore, EncodeFailure, FileStore, MemoryStore};
use actix_typed_session::{Session, SessionError, SessionId, SessionMiddleware};
use actix_web::{test, web, App};

use actix_typed_session::testing::conformance::incr;
use support::*;

/// Keeps a handle past the response (as a spawned task might) and changes it while streaming.
async fn stream_without_late_store(session: Session) -> actix_web::HttpResponse {
    let body = futures_util::stream::once(async move {
        session.set("late", 1).ok();
        Ok::<_, actix_web::Error>(web::Bytes::from_static(b"done"))
    });
    actix_web::HttpResponse::Ok().streaming(body)
}

#[actix_web::test]
async fn a_change_after_commit_is_reported() {
    let (captured, _guard) = capture_logs();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .route("/s", web::get().to(stream_without_late_store)),
    )
    .await;
    let res = send(&app, get("/s", None)).await;
    assert_eq!(res.body, "done");
    assert!(
        captured.text().contains("after the response was committed"),
        "{}",
        captured.text()
    );
}

#[actix_web::test]
async fn events_explain_and_never_leak_ids() {
    let (captured, _guard) = capture_logs();

    let store = Instrumented::new(MemoryStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/incr", web::get().to(incr)),
    )
    .await;

    // A junk value: a fresh session and an event that says why.
    let junk = "not-an-id-at-all";
    let res = send(&app, get("/incr", Some(junk))).await;
    let first = res.id().unwrap();
    assert!(
        captured.text().contains("session value rejected"),
        "{}",
        captured.text()
    );

    // A well-formed but unknown id.
    let unknown = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    let second = send(&app, get("/incr", Some(unknown))).await.id().unwrap();
    assert!(captured.text().contains("unknown session id"));

    // A store failure is logged with the detail the client never sees.
    store.fail(true);
    let res = send(&app, get("/incr", Some(&first))).await;
    assert_eq!(res.status, 503);
    store.fail(false);
    let log = captured.text();
    assert!(
        log.contains("session load failed") && log.contains("10.9.8.7"),
        "{log}"
    );

    for id in [first.as_str(), second.as_str(), unknown] {
        assert!(!log.contains(id), "raw id {id} leaked into the log:\n{log}");
    }
    // Sessions are named by a short hash tag instead.
    let tag = actix_typed_session::SessionId::parse(&first)
        .unwrap()
        .log_tag();
    assert!(log.contains(&tag), "{log}");
}

async fn store_token(session: Session) -> Result<&'static str, actix_typed_session::SessionError> {
    session.set("api_token", "TOKEN-7f3a9c-secret")?;
    Ok("stored")
}

/// Reads the token as the wrong type, as a type changed between deploys would.
async fn read_token_as_number(
    session: Session,
) -> Result<String, actix_typed_session::SessionError> {
    let n: Option<u64> = session.get("api_token")?;
    Ok(format!("{n:?}"))
}

/// A value that does not decode as the requested type is logged by key, type and kind of
/// failure: never with the codec's message, which quotes the value.
#[actix_web::test]
async fn a_value_read_as_the_wrong_type_never_reaches_the_log() {
    let (captured, _guard) = capture_logs();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .route("/store", web::post().to(store_token))
            .route("/read", web::get().to(read_token_as_number)),
    )
    .await;
    let id = send(&app, post("/store", None)).await.id().unwrap();
    let res = send(&app, get("/read", Some(&id))).await;
    assert_eq!(res.body, "None", "read as absent");
    let log = captured.text();
    assert!(
        log.contains("does not decode as the requested type"),
        "{log}"
    );
    assert!(log.contains("api_token") && log.contains("u64"), "{log}");
    assert!(log.contains("error_kind=\"data\""), "{log}");
    assert!(
        !log.contains("TOKEN-7f3a9c"),
        "the value leaked into the log:\n{log}"
    );
}

/// A session file that does not decode, or has an unknown version, is logged by the session's
/// tag: never by its file name (the full hash of the id) and never with serde's message, which
/// quotes what the file holds.
#[actix_web::test]
async fn a_bad_session_file_is_logged_by_tag_without_its_name_or_content() {
    let (captured, _guard) = capture_logs();
    let dir = TempDir::new("log-file");
    let store = FileStore::builder(&dir.0).fsync(false).build().unwrap();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/incr", web::get().to(incr)),
    )
    .await;
    for (bad, event) in [
        // Well-formed JSON with a field of the wrong type: serde's message quotes the value.
        (
            r#"{"v":1,"created_at":"TOKEN-abc123","expires_at":0,"data":{}}"#,
            "unreadable session file",
        ),
        (
            r#"{"v":9,"created_at":1,"expires_at":99999999999,"data":{"TOKEN-abc123":[]}}"#,
            "unknown session file version",
        ),
    ] {
        let id = send(&app, get("/incr", None)).await.id().unwrap();
        let id = SessionId::parse(&id).unwrap();
        std::fs::write(store.path(&id), bad).unwrap();
        let res = send(&app, get("/incr", Some(id.as_str()))).await;
        assert_eq!(res.body, "1", "a fresh session");
        let log = captured.text();
        assert!(
            !log.contains(&id.store_key()),
            "the file name (the id's full hash) leaked into the log:\n{log}"
        );
        assert!(
            !log.contains("TOKEN-abc123"),
            "the file's content leaked into the log:\n{log}"
        );
        assert!(!log.contains(id.as_str()), "raw id leaked:\n{log}");
        let tagged = format!("session={}", id.log_tag());
        let line = log
            .lines()
            .find(|l| l.contains(event) && l.contains(&tagged))
            .unwrap_or_else(|| panic!("no {event:?} event with {tagged}:\n{log}"));
        if event == "unreadable session file" {
            assert!(line.contains("error_kind=\"data\""), "{line}");
        }
    }
}

/// Every substring of `secret` of 8 characters or more that `log` contains (the log should
/// contain none: 8 characters of an id are 48 of its bits).
fn leaked_parts(log: &str, secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(8)
        .map(|w| w.iter().collect::<String>())
        .filter(|part| log.contains(part.as_str()))
        .collect()
}

/// `HeaderState::bearer()` with an `Authorization` that is not `Bearer <id>`: the `debug` event
/// names the scheme only when it is one (a short word of letters, then a space), otherwise only
/// the value's length. A client that sends the bare id (a common mistake), `Bearer:<id>` or
/// `bearer<id>` never puts a part of the id in the log, nor does `Basic <credentials>` its
/// credentials; `Basic`, `Digest` and `Token` are still named.
#[actix_web::test]
async fn an_authorization_that_is_not_bearer_never_puts_the_credential_in_the_log() {
    use actix_typed_session::state::HeaderState;
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(MemoryStore::default())
                    .state(HeaderState::bearer())
                    .build(),
            )
            .route("/incr", web::get().to(incr)),
    )
    .await;
    let authorized = |auth: &str| {
        test::TestRequest::get()
            .uri("/incr")
            .insert_header(("authorization", auth))
            .to_request()
    };
    // A live id, as a client got it from a login.
    let res = send(&app, test::TestRequest::get().uri("/incr").to_request()).await;
    let id = res.header("x-session-id").unwrap().to_owned();
    assert_eq!(
        send(&app, authorized(&format!("Bearer {id}"))).await.body,
        "2"
    );

    let basic = "dXNlcjpodW50ZXIyLWNvcnJlY3QtaG9yc2U="; // user:hunter2-correct-horse
    let digest = r#"username="ann", response="6629fae49393a05397450978507c4ef1""#;
    // (Authorization, the secret part of it, the scheme the log may name)
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        (id.clone(), &id, None),
        (format!("Bearer:{id}"), &id, None),
        (format!("bearer{id}"), &id, None),
        (format!("Bearer\t{id}"), &id, None),
        (format!("{id} {id}"), &id, None),
        (format!("session={id}"), &id, None),
        (format!("{id}, Bearer x"), &id, None),
        (format!("Basic {basic}"), basic, Some("Basic")),
        (format!("Digest {digest}"), digest, Some("Digest")),
        (format!("Token {id}"), &id, Some("Token")),
        (format!("Bearer {id} extra"), &id, None),
    ];
    for (auth, secret, scheme) in cases {
        let (captured, _guard) = capture_logs();
        let res = send(&app, authorized(&auth)).await;
        assert_eq!(res.body, "1", "{auth:?}: a fresh session");
        let log = captured.text();
        let leaked = leaked_parts(&log, secret);
        assert!(
            leaked.is_empty(),
            "{auth:?}: {leaked:?} reached the log:\n{log}"
        );
        match scheme {
            Some(scheme) => assert!(
                log.contains(&format!("scheme={scheme}"))
                    && log.contains("not a Bearer credential"),
                "{auth:?}: the scheme is named:\n{log}"
            ),
            None => assert!(!log.contains("scheme="), "{auth:?}:\n{log}"),
        }
        if scheme.is_none() && !auth.starts_with("Bearer ") {
            assert!(
                log.contains(&format!("len={}", auth.len())),
                "{auth:?}: the length is logged instead:\n{log}"
            );
        }
    }
}

/// A secret kept in the session by the cookie-store test below.
const MARKER: &str = "s3cr3t-MARKER-4711";

async fn keep_secret(session: Session) -> Result<String, SessionError> {
    session.set("secret", MARKER)?;
    Ok(session.id().to_string())
}

/// The cookie store never logs session values: a sealed cookie that verifies but does not
/// deserialize, and a session the serializer refuses, each with a serializer whose error text
/// quotes the payload. The log names the session by its tag and the error by its kind; the
/// serializer's text reaches the hooks (through `Error::source` for a decode error) and nothing
/// else.
#[actix_web::test]
async fn cookie_store_errors_never_log_session_values() {
    let (captured, _guard) = capture_logs();

    // Decode: signed with the default serializer, read back with one that always fails.
    let hook_saw = Arc::new(Mutex::new(None::<String>));
    let seen = hook_saw.clone();
    let store = CookieStore::signed([0x77; 32])
        .deserialize(|bytes| Err(format!("cannot read {}", String::from_utf8_lossy(bytes)).into()))
        .on_decode_error(move |err| {
            *seen.lock().unwrap() = std::error::Error::source(err).map(|s| s.to_string());
        })
        .build()
        .unwrap();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store))
            .route("/secret", web::get().to(keep_secret))
            .route("/incr", web::get().to(incr)),
    )
    .await;
    let res = send(&app, get("/secret", None)).await;
    let tag = SessionId::parse(&res.body).unwrap().log_tag();
    let value = res.id().unwrap();
    let res = send(&app, get("/incr", Some(&value))).await;
    assert_eq!(res.body, "1", "a fresh session");
    let log = captured.text();
    assert!(log.contains("did not open"), "{log}");
    assert!(
        log.contains(&tag),
        "the session is named by its tag:\n{log}"
    );
    assert!(
        !log.contains(MARKER),
        "a session value reached the log:\n{log}"
    );
    let source = hook_saw.lock().unwrap().clone();
    assert!(
        source.as_deref().is_some_and(|s| s.contains(MARKER)),
        "the hook gets the serializer's error as the source: {source:?}"
    );

    // Encode: a serializer that refuses, quoting the values.
    let hook_saw = Arc::new(Mutex::new(None::<String>));
    let seen = hook_saw.clone();
    let store = CookieStore::signed([0x77; 32])
        .serialize(|data| {
            let values: Vec<_> = data.values().map(|v| String::from_utf8_lossy(v)).collect();
            Err(format!("cannot write {values:?}").into())
        })
        .on_encode_error(move |err| {
            *seen.lock().unwrap() = Some(err.to_string());
            EncodeFailure::KeepPrevious
        })
        .build()
        .unwrap();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store))
            .route("/secret", web::get().to(keep_secret)),
    )
    .await;
    let res = send(&app, get("/secret", None)).await;
    assert!(res.cookies.is_empty(), "nothing sealed, nothing sent");
    let tag = SessionId::parse(&res.body).unwrap().log_tag();
    let log = captured.text();
    assert!(log.contains("cannot be sealed"), "{log}");
    assert!(
        log.contains(&tag),
        "the session is named by its tag:\n{log}"
    );
    assert!(
        !log.contains(MARKER),
        "a session value reached the log:\n{log}"
    );
    let text = hook_saw.lock().unwrap().clone();
    assert!(
        text.as_deref().is_some_and(|s| s.contains(MARKER)),
        "the hook gets the serializer's error: {text:?}"
    );
}
