//! Switching without logging anyone out (`migrate_from`): sessions made by actix-session 0.11
//! itself (its private and signed cookie store, its Redis store) and by this crate's own stores
//! carried over on first use; junk, tampered and expired old values give a fresh session.

use actix_session::config::CookieContentSecurity;
use actix_session::storage::{CookieSessionStore, RedisSessionStore};
use actix_typed_session::migrate::{ActixSessionCookie, ActixSessionRedis};
use actix_typed_session::store::{
    deadpool_redis, CookieStore, FileStore, MemoryStore, PostgresStore, RedisStore,
};
use actix_typed_session::{session, Session, SessionError, SessionId, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use serde::{Deserialize, Serialize};
use support::postgres::PgServer;
use support::redis::RedisServer;
use support::*;

const MASTER: [u8; 64] = [0x5a; 64];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    tags: Vec<String>,
    age: u32,
}

fn profile() -> Profile {
    Profile {
        name: "Ann".into(),
        tags: vec!["admin".into(), "beta".into()],
        age: 37,
    }
}

// ---- the old app: actix-session 0.11 -------------------------------------------------------

/// What an actix-session app keeps: numbers, strings, a struct, a float, a bool, an option, a
/// list, and a value that depends on the visitor (`n`).
async fn theirs_login(
    session: actix_session::Session,
    n: web::Path<u64>,
) -> actix_web::Result<&'static str> {
    session.insert("user_id", *n)?;
    session.insert("name", "ann \"the\" admin ✓")?;
    session.insert("profile", profile())?;
    session.insert("ratio", 0.25f64)?;
    session.insert("flag", true)?;
    session.insert("nothing", Option::<u32>::None)?;
    session.insert("list", vec![1i64, -2, 3])?;
    Ok("signed in")
}

fn theirs<St: actix_session::storage::SessionStore + 'static>(
    store: St,
    security: CookieContentSecurity,
    name: &str,
) -> actix_session::SessionMiddleware<St> {
    actix_session::SessionMiddleware::builder(store, Key::from(&MASTER))
        .cookie_content_security(security)
        .cookie_name(name.to_owned())
        .cookie_secure(false)
        .build()
}

/// An actix-session 0.11 app on `store`, that signs visitor `n` in at `/login/{n}`.
macro_rules! theirs_app {
    ($store:expr, $security:expr, $name:expr) => {
        test::init_service(
            App::new()
                .wrap(theirs($store, $security, $name))
                .route("/login/{n}", web::get().to(theirs_login)),
        )
        .await
    };
}

/// Signs visitor `n` in on an actix-session app and returns its cookie value.
async fn theirs_cookie<S, B>(app: &S, n: u64, name: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let res = test::call_service(
        app,
        test::TestRequest::get()
            .uri(&format!("/login/{n}"))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    cookie_named(&res, name)
        .expect("actix-session sets its cookie")
        .value()
        .to_owned()
}

// ---- the new app: this crate ---------------------------------------------------------------

/// Everything the old app kept, read back through this crate's `Session`.
async fn ours_read(session: Session) -> Result<String, SessionError> {
    let values = (
        session.get::<u64>("user_id")?,
        session.get::<String>("name")?,
        session.get::<Profile>("profile")?,
        session.get::<f64>("ratio")?,
        session.get::<bool>("flag")?,
        session.get::<Option<u32>>("nothing")?,
        session.get::<Vec<i64>>("list")?,
    );
    Ok(format!("{values:?}"))
}

fn expected(n: u64) -> String {
    let values = (
        Some(n),
        Some("ann \"the\" admin ✓".to_owned()),
        Some(profile()),
        Some(0.25f64),
        Some(true),
        Some(Option::<u32>::None),
        Some(vec![1i64, -2, 3]),
    );
    format!("{values:?}")
}

const NOTHING: &str = "(None, None, None, None, None, None, None)";

async fn ours_write(session: Session) -> Result<String, SessionError> {
    let n = session.get::<u64>("user_id")?.unwrap_or(0) + 1000;
    session.set("user_id", n)?;
    Ok(n.to_string())
}

async fn logout(session: Session) -> &'static str {
    session.expire();
    "bye"
}

/// A logout that never loads the session.
#[session(expire)]
async fn logout_unloaded() -> &'static str {
    "bye"
}

async fn fails(session: Session) -> Result<HttpResponse, SessionError> {
    session.set("lost", 1)?;
    Ok(HttpResponse::InternalServerError().finish())
}

async fn sign_in(session: Session) -> Result<&'static str, SessionError> {
    session.set_user("ann");
    session.set("user_id", 7u64)?;
    Ok("in")
}

fn ours_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/read", web::get().to(ours_read))
        .route("/write", web::get().to(ours_write))
        .route("/logout", web::get().to(logout))
        .route("/logout-unloaded", web::get().to(logout_unloaded))
        .route("/fails", web::get().to(fails))
        .route("/sign-in", web::get().to(sign_in));
}

fn cookie_with(name: &str, value: &str) -> (&'static str, String) {
    ("Cookie", format!("{name}={value}"))
}

fn get_with(uri: &str, name: &str, value: &str) -> actix_http::Request {
    test::TestRequest::get()
        .uri(uri)
        .insert_header(cookie_with(name, value))
        .to_request()
}

// ---- actix-session's cookie store ----------------------------------------------------------

async fn cookie_carries_over(security: CookieContentSecurity, source: ActixSessionCookie) {
    let old = test::init_service(
        App::new()
            .wrap(theirs(CookieSessionStore::default(), security, "id"))
            .route("/login/{n}", web::get().to(theirs_login)),
    )
    .await;
    let old_value = theirs_cookie(&old, 41, "id").await;

    let store = MemoryStore::default();
    let mw = SessionMiddleware::builder(store.clone())
        .migrate_from(source)
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;

    let res = send(&app, get("/read", Some(&old_value))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, expected(41), "every value type reads back");
    let new_id = res
        .id()
        .expect("the carried session gets a cookie of this crate");
    assert!(
        SessionId::parse(&new_id).is_some(),
        "a new id of this crate"
    );
    assert_ne!(new_id, old_value);
    assert_eq!(
        stored_value(&store, &new_id, "user_id").await,
        Some(41.into())
    );
    assert_eq!(
        stored_value(&store, &new_id, "profile").await,
        Some(serde_json::to_value(profile()).unwrap())
    );
    assert_eq!(mw.carried_over(), 1);

    // From now on the new cookie is the session; nothing is carried again.
    let res = send(&app, get("/write", Some(&new_id))).await;
    assert_eq!(res.body, "1041");
    let res = send(&app, get("/read", Some(&new_id))).await;
    assert!(res.body.starts_with("(Some(1041)"), "{}", res.body);
    assert!(res.id().is_none(), "an unchanged session sends no cookie");
    assert_eq!(mw.carried_over(), 1);

    // A copy of the old cookie (nothing on a server to delete) never carries over again: the
    // new store keeps a "spent" marker for it.
    let res = send(&app, get("/read", Some(&old_value))).await;
    assert_eq!(res.body, NOTHING);
    assert!(res.cookies.is_empty());
    assert_eq!(mw.carried_over(), 1);
}

#[actix_web::test]
async fn an_actix_session_private_cookie_carries_over_with_every_value_type() {
    cookie_carries_over(
        CookieContentSecurity::Private,
        ActixSessionCookie::private(&MASTER),
    )
    .await;
}

#[actix_web::test]
async fn an_actix_session_signed_cookie_carries_over_with_every_value_type() {
    cookie_carries_over(
        CookieContentSecurity::Signed,
        ActixSessionCookie::signed(&MASTER),
    )
    .await;
}

#[actix_web::test]
async fn an_old_cookie_of_another_name_is_removed_when_its_session_carries_over() {
    let old = theirs_app!(
        CookieSessionStore::default(),
        CookieContentSecurity::Private,
        "legacy"
    );
    let old_value = theirs_cookie(&old, 5, "legacy").await;
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .migrate_from(ActixSessionCookie::private(&MASTER).cookie_name("legacy"))
        .build();
    let app = test::init_service(App::new().wrap(mw).configure(ours_routes)).await;
    let res = send(&app, get_with("/read", "legacy", &old_value)).await;
    assert_eq!(res.body, expected(5));
    assert!(res.id().is_some());
    let removal = res
        .cookies
        .iter()
        .find(|c| c.name() == "legacy")
        .expect("the old cookie is removed");
    assert_eq!(removal.value(), "");
    assert_eq!(
        removal.max_age(),
        Some(actix_web::cookie::time::Duration::ZERO)
    );
    assert_eq!(removal.path(), Some("/"));
}

#[actix_web::test]
async fn junk_tampered_and_foreign_old_cookies_give_a_fresh_session_and_a_log_event() {
    let old = theirs_app!(
        CookieSessionStore::default(),
        CookieContentSecurity::Private,
        "id"
    );
    let good = theirs_cookie(&old, 1, "id").await;
    let other_key = test::init_service(
        App::new()
            .wrap(
                actix_session::SessionMiddleware::builder(
                    CookieSessionStore::default(),
                    Key::from(&[0x11; 64]),
                )
                .cookie_secure(false)
                .build(),
            )
            .route("/login/{n}", web::get().to(theirs_login)),
    )
    .await;
    let foreign = theirs_cookie(&other_key, 1, "id").await;
    let signed = theirs_app!(
        CookieSessionStore::default(),
        CookieContentSecurity::Signed,
        "id"
    );
    let signed = theirs_cookie(&signed, 1, "id").await;

    let mut flipped = good.clone().into_bytes();
    let mid = flipped.len() / 2;
    flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let cases = [
        ("junk", "junk".to_owned()),
        ("truncated", good[..good.len() - 7].to_owned()),
        ("flipped", flipped),
        ("another key", foreign),
        ("signed, read as private", signed),
        ("oversized", "A".repeat(6000)),
        ("not base64", "%%%%".to_owned()),
    ];
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .migrate_from(ActixSessionCookie::private(&MASTER))
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;
    for (what, value) in cases {
        let (logs, _guard) = capture_logs();
        let res = send(&app, get("/read", Some(&value))).await;
        assert_eq!(res.status, StatusCode::OK, "{what}");
        assert_eq!(res.body, NOTHING, "{what}: a fresh session");
        assert!(res.id().is_none(), "{what}: nothing to save, no cookie");
        let text = logs.text();
        assert!(
            text.contains("does not open as an actix-session cookie")
                || text.contains("does not decode"),
            "{what}: a log event says why: {text}"
        );
    }
    assert_eq!(mw.carried_over(), 0);
}

// ---- actix-session's Redis store -----------------------------------------------------------

fn pool(server: &RedisServer) -> deadpool_redis::Pool {
    RedisStore::pool(&server.url).unwrap()
}

async fn redis_keys(pool: &deadpool_redis::Pool) -> Vec<String> {
    let mut conn = pool.get().await.unwrap();
    let mut keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut *conn)
        .await
        .unwrap();
    keys.retain(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_alphanumeric()));
    keys.sort();
    keys
}

#[actix_web::test]
async fn actix_session_redis_sessions_carry_over_and_their_records_go() {
    let server = RedisServer::start();
    let their_store = RedisSessionStore::new(server.url.clone()).await.unwrap();
    let old = test::init_service(
        App::new()
            .wrap(theirs(their_store, CookieContentSecurity::Private, "id"))
            .route("/login/{n}", web::get().to(theirs_login)),
    )
    .await;
    let first = theirs_cookie(&old, 1, "id").await;
    let second = theirs_cookie(&old, 2, "id").await;
    let gone = theirs_cookie(&old, 3, "id").await;
    let old_pool = pool(&server);
    let before = redis_keys(&old_pool).await;
    assert_eq!(before.len(), 3, "actix-session keeps one key per session");

    let prefix = format!("ats-migrate:{}:", SessionId::generate().log_tag());
    let store = RedisStore::builder(pool(&server)).prefix(prefix).build();
    let mw = SessionMiddleware::builder(store.clone())
        .migrate_from(ActixSessionRedis::new(old_pool.clone()).key(&MASTER))
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;

    let res = send(&app, get("/read", Some(&first))).await;
    assert_eq!(res.body, expected(1));
    let new_id = res.id().unwrap();
    assert_eq!(
        stored_value(&store, &new_id, "user_id").await,
        Some(1.into())
    );
    assert_eq!(
        redis_keys(&old_pool).await.len(),
        2,
        "the old record is deleted"
    );

    // A change on the first request is kept with the carried values.
    let res = send(&app, get("/write", Some(&second))).await;
    assert_eq!(res.body, "1002");
    let res = send(&app, get("/read", Some(&res.id().unwrap()))).await;
    assert!(
        res.body.starts_with("(Some(1002), Some(\"ann"),
        "{}",
        res.body
    );

    // An old session that expired in Redis meanwhile: a fresh session, never a 500.
    let mut conn = old_pool.get().await.unwrap();
    for key in redis_keys(&old_pool).await {
        let _: () = deadpool_redis::redis::cmd("DEL")
            .arg(key)
            .query_async(&mut *conn)
            .await
            .unwrap();
    }
    let res = send(&app, get("/read", Some(&gone))).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, NOTHING));

    // The old cookie again, after its session moved: nothing to carry (the record is gone),
    // and no cookie that would replace the carried one.
    let res = send(&app, get("/read", Some(&first))).await;
    assert_eq!(res.body, NOTHING);
    assert!(res.cookies.is_empty(), "{:?}", res.cookies);
    assert_eq!(mw.carried_over(), 2);
}

#[actix_web::test]
async fn building_with_an_actix_session_source_without_a_usable_key_fails() {
    let server = RedisServer::start();
    let err = SessionMiddleware::builder(MemoryStore::default())
        .migrate_from(ActixSessionRedis::new(pool(&server)))
        .try_build()
        .err()
        .expect("no key");
    assert!(err.to_string().contains(".key(key.master())"), "{err}");
    let err = SessionMiddleware::builder(MemoryStore::default())
        .migrate_from(ActixSessionCookie::private(&[1; 32]))
        .try_build()
        .err()
        .expect("a short key");
    assert!(err.to_string().contains("64"), "{err}");
}

/// The measurement of the issue: every live session of an actix-session app survives the
/// switch, cookie and Redis alike.
#[actix_web::test]
async fn every_live_actix_session_survives_the_switch() {
    const N: u64 = 100;
    let server = RedisServer::start();
    let cookie_app = theirs_app!(
        CookieSessionStore::default(),
        CookieContentSecurity::Private,
        "id"
    );
    let redis_app = theirs_app!(
        RedisSessionStore::new(server.url.clone()).await.unwrap(),
        CookieContentSecurity::Private,
        "id"
    );
    let mut old = Vec::new();
    for n in 0..N {
        old.push((n, theirs_cookie(&cookie_app, n, "id").await));
        old.push((N + n, theirs_cookie(&redis_app, N + n, "id").await));
    }
    let store = MemoryStore::default();
    let mw = SessionMiddleware::builder(store.clone())
        .migrate_from(ActixSessionCookie::private(&MASTER))
        .migrate_from(ActixSessionRedis::new(pool(&server)).key(&MASTER))
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;
    let mut survived = 0;
    for (n, value) in &old {
        let res = send(&app, get("/read", Some(value))).await;
        let new_id = res.id().expect("carried over");
        let again = send(&app, get("/read", Some(&new_id))).await;
        if res.body == expected(*n) && again.body == expected(*n) {
            survived += 1;
        }
    }
    assert_eq!(survived, 2 * N);
    assert_eq!(mw.carried_over(), 2 * N);
    assert!(redis_keys(&pool(&server)).await.is_empty());
}

// ---- between this crate's own stores ---------------------------------------------------------

fn old_app_mw<S: actix_typed_session::store::IntoBackend>(store: S) -> SessionMiddleware {
    SessionMiddleware::builder(store).build()
}

/// Memory → file: values, the user and the user index carry over; the old record goes.
#[actix_web::test]
async fn a_session_of_the_memory_store_moves_to_the_file_store_with_its_user() {
    let old_store = MemoryStore::default();
    let old = test::init_service(
        App::new()
            .wrap(old_app_mw(old_store.clone()))
            .configure(ours_routes),
    )
    .await;
    let moved = send(&old, get("/sign-in", None)).await.id().unwrap();
    let waiting = send(&old, get("/sign-in", None)).await.id().unwrap();
    let old_handle = stored(&old_store, &moved)
        .await
        .unwrap()
        .meta
        .user
        .unwrap()
        .handle;

    let dir = TempDir::new("migrate-file");
    let store = FileStore::new(&dir.0).unwrap();
    let mw = SessionMiddleware::builder(store.clone())
        .migrate_from(old_store.clone())
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;
    let res = send(&app, get("/read", Some(&moved))).await;
    assert!(res.body.starts_with("(Some(7)"), "{}", res.body);
    let new_id = res.id().unwrap();
    assert_ne!(new_id, moved, "the old id is never adopted");
    let record = stored(&store, &new_id)
        .await
        .expect("saved in the new store");
    let user = record.meta.user.expect("still tied to its user");
    assert_eq!(&user.id[..], b"ann");
    assert_eq!(
        user.handle, old_handle,
        "the devices page sees the same device"
    );
    assert!(
        stored(&old_store, &moved).await.is_none(),
        "the old record is deleted"
    );

    // The user's sessions are listed across both stores, once each, and end in both.
    let sessions = mw.sessions();
    assert_eq!(sessions.of_user("ann").await.unwrap().len(), 2);
    assert_eq!(sessions.revoke_all("ann").await.unwrap(), 2);
    assert!(stored(&old_store, &waiting).await.is_none());
    assert!(stored(&store, &new_id).await.is_none());
    assert_eq!(send(&app, get("/read", Some(&waiting))).await.body, NOTHING);
    assert_eq!(send(&app, get("/read", Some(&new_id))).await.body, NOTHING);
}

#[actix_web::test]
async fn a_logout_on_the_first_request_ends_the_old_session_too() {
    let old_store = MemoryStore::default();
    let old = test::init_service(
        App::new()
            .wrap(old_app_mw(old_store.clone()))
            .configure(ours_routes),
    )
    .await;
    let loaded = send(&old, get("/sign-in", None)).await.id().unwrap();
    let unloaded = send(&old, get("/sign-in", None)).await.id().unwrap();
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .migrate_from(old_store.clone())
        .build();
    let app = test::init_service(App::new().wrap(mw).configure(ours_routes)).await;
    for (id, path) in [(&loaded, "/logout"), (&unloaded, "/logout-unloaded")] {
        let res = send(&app, get(path, Some(id))).await;
        assert!(res.removal().is_some(), "{path}");
        assert!(
            stored(&old_store, id).await.is_none(),
            "{path}: gone from the old store"
        );
        assert_eq!(send(&app, get("/read", Some(id))).await.body, NOTHING);
    }
}

#[actix_web::test]
async fn nothing_is_lost_when_the_first_request_fails_or_the_new_store_is_down() {
    let old_store = MemoryStore::default();
    let old = test::init_service(
        App::new()
            .wrap(old_app_mw(old_store.clone()))
            .configure(ours_routes),
    )
    .await;
    let id = send(&old, get("/sign-in", None)).await.id().unwrap();
    let store = Instrumented::new(MemoryStore::default());
    let mw = SessionMiddleware::builder(store.clone())
        .migrate_from(old_store.clone())
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;

    // A 5xx saves nothing: the session stays where it was.
    let res = send(&app, get("/fails", Some(&id))).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.cookies.is_empty());
    assert!(stored(&old_store, &id).await.is_some());

    // The new store fails at the commit: 503, and the session stays where it was.
    store.fail(true);
    let res = send(&app, get("/write", Some(&id))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(stored(&old_store, &id).await.is_some());
    store.fail(false);

    let res = send(&app, get("/write", Some(&id))).await;
    assert_eq!(res.body, "1007");
    assert!(stored(&old_store, &id).await.is_none());
    assert_eq!(mw.carried_over(), 1);
}

/// The cookie store → a server-side store: the sealed session moves into the store.
#[actix_web::test]
async fn a_cookie_store_session_moves_into_the_memory_store() {
    let cookies = CookieStore::encrypted([0x42; 32]).build().unwrap();
    let old = test::init_service(
        App::new()
            .wrap(old_app_mw(cookies.clone()))
            .configure(ours_routes),
    )
    .await;
    let sealed = send(&old, get("/sign-in", None)).await.id().unwrap();
    let store = MemoryStore::default();
    let mw = SessionMiddleware::builder(store.clone())
        .migrate_from(cookies)
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;
    let res = send(&app, get("/read", Some(&sealed))).await;
    assert!(res.body.starts_with("(Some(7)"), "{}", res.body);
    let new_id = res.id().unwrap();
    let record = stored(&store, &new_id).await.unwrap();
    assert_eq!(&record.meta.user.unwrap().id[..], b"ann");
    assert_eq!(mw.carried_over(), 1);
    // A copy of the sealed cookie does not carry over a second time.
    assert_eq!(send(&app, get("/read", Some(&sealed))).await.body, NOTHING);
    assert_eq!(mw.carried_over(), 1);
}

/// A logout on the first request after the switch ends the actix-session cookie's session for
/// good: a copy of that cookie opens as a fresh session.
#[actix_web::test]
async fn a_copy_of_an_actix_session_cookie_whose_session_logged_out_stays_out() {
    let old = theirs_app!(
        CookieSessionStore::default(),
        CookieContentSecurity::Private,
        "id"
    );
    let old_value = theirs_cookie(&old, 9, "id").await;
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .migrate_from(ActixSessionCookie::private(&MASTER))
        .build();
    let app = test::init_service(App::new().wrap(mw).configure(ours_routes)).await;
    for path in ["/logout", "/logout-unloaded"] {
        let copy = old_value.clone();
        let res = send(&app, get(path, Some(&copy))).await;
        assert!(res.removal().is_some(), "{path}");
        assert_eq!(
            send(&app, get("/read", Some(&copy))).await.body,
            NOTHING,
            "{path}"
        );
    }
}

/// Redis → PostgreSQL, the move the issue names.
#[actix_web::test]
async fn a_redis_session_moves_to_postgres() {
    let redis = RedisServer::start();
    let prefix = format!("ats-migrate:{}:", SessionId::generate().log_tag());
    let old_store = RedisStore::builder(pool(&redis)).prefix(prefix).build();
    let old = test::init_service(
        App::new()
            .wrap(old_app_mw(old_store.clone()))
            .configure(ours_routes),
    )
    .await;
    let id = send(&old, get("/sign-in", None)).await.id().unwrap();

    let pg = PgServer::start();
    let table = pg.fresh_table().await;
    let pg_pool = PostgresStore::pool_for(&pg.url, std::time::Duration::from_secs(5)).unwrap();
    let store = PostgresStore::builder(pg_pool)
        .table(&table)
        .build()
        .unwrap();
    store.migrate().await.unwrap();
    let mw = SessionMiddleware::builder(store.clone())
        .migrate_from(old_store.clone())
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;
    let res = send(&app, get("/write", Some(&id))).await;
    assert_eq!(res.body, "1007");
    let new_id = res.id().unwrap();
    assert_eq!(
        stored_value(&store, &new_id, "user_id").await,
        Some(1007.into())
    );
    assert!(stored(&old_store, &id).await.is_none());
    assert_eq!(mw.sessions().of_user("ann").await.unwrap().len(), 1);
}

/// The old Redis stops answering: a request with an old cookie answers 503 within the source's
/// timeout (never hangs), and once Redis answers again the session carries over, nothing lost.
#[actix_web::test]
async fn a_paused_old_redis_answers_503_within_the_timeout_and_loses_nothing() {
    let server = RedisServer::spawn();
    let old = theirs_app!(
        RedisSessionStore::new(server.url.clone()).await.unwrap(),
        CookieContentSecurity::Private,
        "id"
    );
    let old_value = theirs_cookie(&old, 12, "id").await;
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .migrate_from(
            ActixSessionRedis::new(pool(&server))
                .key(&MASTER)
                .timeout(std::time::Duration::from_millis(200)),
        )
        .build();
    let app = test::init_service(App::new().wrap(mw.clone()).configure(ours_routes)).await;
    // Redis stops answering clients for 1.5 s: had the request waited, it would have carried
    // the session over once the pause ended; a 503 shows the timeout cut it short.
    assert_eq!(server.command("CLIENT PAUSE 1500 ALL").unwrap(), "+OK\r\n");
    let res = send(&app, get("/read", Some(&old_value))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    server.command("CLIENT UNPAUSE").unwrap();
    let res = send(&app, get("/read", Some(&old_value))).await;
    assert_eq!(res.body, expected(12), "nothing lost");
    assert_eq!(mw.carried_over(), 1);
}
