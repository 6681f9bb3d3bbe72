//! `examples/metrics.rs` on a real `HttpServer` (two workers, real sockets): two browsers sign
//! in, a forged login is refused, and `/metrics`, scraped over HTTP, counts exactly those session
//! events by kind and the store calls they made per operation; a failing store's errors are
//! counted per operation too.
//!
//! Its own test binary (feature `metrics`): it installs the process's global metrics recorder,
//! which would count every other test's sessions too.

#[allow(dead_code)]
#[path = "../examples/metrics.rs"]
mod metrics;

use actix_typed_session::store::MemoryStore;
use actix_typed_session::testing::{post, send, Instrumented};
use actix_typed_session::{Session, SessionError, SessionMiddleware};
use actix_web::{test, web, App};

use support::{http_get, http_post_form, RawReply};

/// The value of the form's hidden `csrf_token` field on a page.
fn token(page: &str) -> String {
    page.split("name=csrf_token value=")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("a form with a CSRF token")
        .to_owned()
}

/// `id=<value>` of the session cookie a reply sets.
fn cookie(reply: &RawReply) -> String {
    format!("id={}", reply.cookie("id").expect("a session cookie"))
}

/// The value of the sample `name` (its labels included, as the exporter writes them), if any.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn sign_in(addr: std::net::SocketAddr, user: &str) -> String {
    let page = http_get(addr, "/", None).await;
    assert_eq!(page.status, 200);
    let visitor = cookie(&page);
    let form = format!("csrf_token={}&name={user}", token(&page.body));
    let reply = http_post_form(addr, "/login", Some(&visitor), &form).await;
    assert_eq!(reply.status, 303, "{reply:?}");
    cookie(&reply)
}

async fn count(session: Session) -> Result<String, SessionError> {
    let n: u32 = session.get("n")?.unwrap_or(0) + 1;
    session.set("n", n)?;
    Ok(n.to_string())
}

#[actix_web::test]
async fn metrics_count_events_by_kind_and_store_calls_by_operation() {
    let (server, addr) = metrics::server("127.0.0.1:0", 2).expect("bind");
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let laptop = sign_in(addr, "ann").await;
    let _phone = sign_in(addr, "ann").await;
    let forged = http_post_form(addr, "/login", None, "name=ann").await;
    assert_eq!(forged.status, 403, "no CSRF token");
    assert_eq!(http_get(addr, "/devices", Some(&laptop)).await.status, 200);

    let scraped = http_get(addr, "/metrics", None).await;
    assert_eq!(scraped.status, 200);
    assert!(scraped.head.contains("text/plain"), "{}", scraped.head);
    let text = scraped.body;
    let events = |kind: &str, reason: &str| {
        sample(
            &text,
            &format!("session_events_total{{kind=\"{kind}\",reason=\"{reason}\"}}"),
        )
    };
    // Each browser: its first page creates a session (the form's CSRF secret); its login moves
    // it to a new id and ties it to the user.
    assert_eq!(events("created", ""), Some(2.0), "{text}");
    assert_eq!(events("rotated", ""), Some(2.0), "{text}");
    assert_eq!(events("tied", ""), Some(2.0), "{text}");
    assert_eq!(events("rejected", "csrf"), Some(1.0), "{text}");
    assert_eq!(events("revoked", "user"), None, "nobody signed out");

    let calls = |op: &str| {
        sample(
            &text,
            &format!("session_store_seconds_count{{op=\"{op}\"}}"),
        )
    };
    // Saves: the two first pages, and the devices page's CSRF secret (a new id drops the old).
    assert_eq!(calls("save"), Some(3.0), "{text}");
    assert_eq!(calls("change_id"), Some(2.0), "the two logins");
    assert_eq!(
        calls("list"),
        Some(3.0),
        "the cap at each login, the devices page"
    );
    assert_eq!(calls("load"), Some(3.0), "the two logins, the devices page");
    assert!(
        !text.contains("session_store_errors_total"),
        "no store failed: {text}"
    );

    // A store that fails: its errors are counted by operation, in the same registry.
    let store = Instrumented::new(MemoryStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .route("/count", web::post().to(count)),
    )
    .await;
    store.fail(true);
    assert_eq!(send(&app, post("/count", None)).await.status, 503);
    let text = http_get(addr, "/metrics", None).await.body;
    assert_eq!(
        sample(&text, "session_store_errors_total{op=\"save\"}"),
        Some(1.0),
        "{text}"
    );
    handle.stop(true).await;
}
