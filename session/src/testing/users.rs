//! The conformance cases of the user index ([`Sessions`]), driven over HTTP
//! like the rest of the suite: tie, list, revoke one / all / all but the current, `change_id`, expire, the per-user
//! cap, a revocation racing a save, and two middlewares (two app processes) on one store.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{web, HttpRequest};

use super::harness::{assert_rotation_refused, middleware, rotating_while, routes, Held, IDLE};
use super::*;
use crate::clock::ManualClock;
use crate::{Session, SessionError, Sessions};

/// Login: ties the session to the user of the path, keeps the device (the `User-Agent`), and
/// moves the session to a new id.
async fn user_login(
    session: Session,
    user: web::Path<String>,
    req: HttpRequest,
) -> Result<String, SessionError> {
    session.set_user(user.as_str());
    let device = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_owned();
    session.set("device", device)?;
    session.change_id();
    Ok(session.handle().map(|h| h.to_string()).unwrap_or_default())
}

/// The user's sessions, one line each: `handle device current`.
async fn user_devices(sessions: Sessions, user: web::Path<String>) -> Result<String, SessionError> {
    let mut out = String::new();
    for s in sessions.of_user(user.as_str()).await? {
        let device: Option<String> = s.get("device")?;
        out.push_str(&format!(
            "{} {} {}\n",
            s.handle(),
            device.unwrap_or_default(),
            if s.is_current() { "current" } else { "-" }
        ));
    }
    Ok(out)
}

async fn user_revoke(
    sessions: Sessions,
    path: web::Path<(String, String)>,
) -> Result<String, SessionError> {
    let (user, handle) = path.into_inner();
    match crate::store::Handle::parse(&handle) {
        Some(handle) => Ok(sessions.revoke(&user, &handle).await?.to_string()),
        None => Ok("false".into()),
    }
}

async fn user_revoke_all(
    sessions: Sessions,
    user: web::Path<String>,
) -> Result<String, SessionError> {
    Ok(sessions.revoke_all(user.as_str()).await?.to_string())
}

async fn user_whoami(session: Session) -> String {
    session.user().unwrap_or_else(|| "nobody".into())
}

async fn user_logout_all(session: Session) -> &'static str {
    session.expire_all();
    "bye"
}

async fn user_logout_others(session: Session) -> &'static str {
    session.expire_others();
    "others gone"
}

/// The routes of the user cases, on top of [`routes`].
pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/u/login/{user}", web::post().to(user_login))
        .route("/u/devices/{user}", web::get().to(user_devices))
        .route("/u/revoke/{user}/{handle}", web::post().to(user_revoke))
        .route("/u/revoke_all/{user}", web::post().to(user_revoke_all))
        .route("/u/whoami", web::get().to(user_whoami))
        .route("/u/logout_all", web::post().to(user_logout_all))
        .route("/u/logout_others", web::post().to(user_logout_others))
        .route("/u/seen/{user}", web::get().to(user_seen));
}

/// The user's sessions, one line each: `device last_seen`.
async fn user_seen(sessions: Sessions, user: web::Path<String>) -> Result<String, SessionError> {
    let mut out = String::new();
    for s in sessions.of_user(user.as_str()).await? {
        let device: Option<String> = s.get("device")?;
        out.push_str(&format!(
            "{} {}\n",
            device.unwrap_or_default(),
            s.last_seen()
        ));
    }
    Ok(out)
}

/// The suite's app with the user routes, on `mw`.
pub(super) async fn user_app(
    mw: crate::SessionMiddleware,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    held_user_app(mw, &web::Data::new(Held::default())).await
}

pub(super) fn login(user: &str, device: &str) -> actix_http::Request {
    actix_web::test::TestRequest::post()
        .uri(&format!("/u/login/{user}"))
        .insert_header(("user-agent", device))
        .to_request()
}

pub(super) fn with_id(mut req: actix_web::test::TestRequest, id: &str) -> actix_http::Request {
    req = req.insert_header(cookie_header(id));
    req.to_request()
}

/// Lines of a devices page: (handle, device, current).
fn devices(body: &str) -> Vec<(String, String, bool)> {
    body.lines()
        .map(|l| {
            let mut parts = l.split(' ');
            let handle = parts.next().unwrap_or_default().to_owned();
            let device = parts.next().unwrap_or_default().to_owned();
            (handle, device, parts.next() == Some("current"))
        })
        .collect()
}

/// Conformance case: sessions tied to a user are listed with their device and the current one
/// marked; other users' are not; one is revoked by its handle, a foreign handle revokes
/// nothing, and `revoke_all` ends the rest.
pub async fn users_tie_list_and_revoke<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = user_app(middleware(store.clone(), &clock)).await;
    let phone = send(&app, login("ann", "phone")).await;
    let laptop = send(&app, login("ann", "laptop")).await;
    let bob = send(&app, login("bob", "tablet")).await;
    let (phone_id, laptop_id, bob_id) =
        (phone.id().unwrap(), laptop.id().unwrap(), bob.id().unwrap());
    assert_eq!(
        send(&app, get("/u/whoami", Some(&phone_id))).await.body,
        "ann"
    );

    let listed = send(
        &app,
        with_id(
            actix_web::test::TestRequest::get().uri("/u/devices/ann"),
            &laptop_id,
        ),
    )
    .await;
    let mut ann = devices(&listed.body);
    ann.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(ann.len(), 2, "{}", listed.body);
    assert_eq!(
        (ann[0].1.as_str(), ann[0].2),
        ("laptop", true),
        "the asking session is current"
    );
    assert_eq!((ann[1].1.as_str(), ann[1].2), ("phone", false));
    assert_eq!(ann[1].0, phone.body, "the handle the login saw");
    for (handle, _, _) in &ann {
        assert!(!handle.contains(&phone_id) && !phone_id.contains(handle.as_str()));
    }

    // Bob's handle, under ann: nothing happens to bob's session.
    let foreign = send(&app, post(&format!("/u/revoke/ann/{}", bob.body), None)).await;
    assert_eq!(foreign.body, "false");
    assert_eq!(
        send(&app, get("/u/whoami", Some(&bob_id))).await.body,
        "bob"
    );

    let revoked = send(&app, post(&format!("/u/revoke/ann/{}", phone.body), None)).await;
    assert_eq!(revoked.body, "true");
    assert_eq!(
        send(&app, get("/u/whoami", Some(&phone_id))).await.body,
        "nobody",
        "the phone is logged out"
    );
    assert_eq!(
        send(&app, get("/u/whoami", Some(&laptop_id))).await.body,
        "ann"
    );
    assert_eq!(
        devices(&send(&app, get("/u/devices/ann", None)).await.body).len(),
        1
    );

    let all = send(&app, post("/u/revoke_all/ann", None)).await;
    assert_eq!(all.status, 200);
    assert_eq!(
        send(&app, get("/u/whoami", Some(&laptop_id))).await.body,
        "nobody"
    );
    assert_eq!(send(&app, get("/u/devices/ann", None)).await.body, "");
    assert_eq!(
        devices(&send(&app, get("/u/devices/bob", None)).await.body).len(),
        1,
        "bob keeps his"
    );
}

/// Conformance case: `expire_others` (after a password change) ends the user's other sessions
/// and keeps this one; `expire_all` ends every one, this one with a removal cookie.
pub async fn users_log_out_others_and_everywhere<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = user_app(middleware(store.clone(), &clock)).await;
    let a = send(&app, login("cy", "a")).await.id().unwrap();
    let b = send(&app, login("cy", "b")).await.id().unwrap();
    let c = send(&app, login("cy", "c")).await.id().unwrap();

    let res = send(
        &app,
        with_id(
            actix_web::test::TestRequest::post().uri("/u/logout_others"),
            &b,
        ),
    )
    .await;
    assert_eq!(res.status, 200);
    // A client-side store re-seals the kept session: use the new value if one was sent.
    let b = res.id().unwrap_or(b);
    assert_eq!(
        send(&app, get("/u/whoami", Some(&b))).await.body,
        "cy",
        "this one stays"
    );
    for other in [&a, &c] {
        assert_eq!(
            send(&app, get("/u/whoami", Some(other))).await.body,
            "nobody"
        );
    }
    let c2 = send(&app, login("cy", "c2")).await.id().unwrap();
    let res = send(
        &app,
        with_id(
            actix_web::test::TestRequest::post().uri("/u/logout_all"),
            &b,
        ),
    )
    .await;
    assert!(res.removal().is_some(), "this one ends too, cookie removed");
    for gone in [&b, &c2] {
        assert_eq!(
            send(&app, get("/u/whoami", Some(gone))).await.body,
            "nobody"
        );
    }
}

/// Conformance case: `change_id` keeps the user and the handle, and the index follows the
/// session to its new id; `expire` takes the session out of the index.
pub async fn users_change_id_and_expire_keep_the_index_right<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = user_app(middleware(store.clone(), &clock)).await;
    let first = send(&app, login("dee", "x")).await;
    let old = first.id().unwrap();
    let again = send(
        &app,
        with_id(
            actix_web::test::TestRequest::post()
                .uri("/u/login/dee")
                .insert_header(("user-agent", "x")),
            &old,
        ),
    )
    .await;
    let new = again.id().unwrap();
    assert_ne!(new, old);
    assert_eq!(
        again.body, first.body,
        "same user, same handle across change_id"
    );
    assert_eq!(send(&app, get("/u/whoami", Some(&new))).await.body, "dee");
    let listed = devices(&send(&app, get("/u/devices/dee", None)).await.body);
    assert_eq!(listed.len(), 1, "one session, under its new id");
    assert_eq!(listed[0].0, first.body);

    send(&app, post("/logout", Some(&new))).await;
    assert_eq!(
        send(&app, get("/u/devices/dee", None)).await.body,
        "",
        "expire leaves the index"
    );
    // A session that expires leaves it too.
    send(&app, login("dee", "y")).await;
    clock.advance(IDLE + std::time::Duration::from_secs(1));
    assert_eq!(send(&app, get("/u/devices/dee", None)).await.body, "");
}

/// The suite's middleware on `store` with `max_sessions_per_user(cap)`.
fn capped<S: IntoBackend>(store: S, clock: &ManualClock, cap: usize) -> crate::SessionMiddleware {
    crate::SessionMiddleware::builder(store)
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .max_sessions_per_user(cap)
        .build()
}

/// Conformance case: with `max_sessions_per_user(2)`, a third login ends the oldest session.
pub async fn users_cap_ends_the_oldest_session<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = user_app(capped(store.clone(), &clock, 2)).await;
    let first = send(&app, login("eve", "1")).await.id().unwrap();
    clock.advance(std::time::Duration::from_secs(1));
    let second = send(&app, login("eve", "2")).await.id().unwrap();
    clock.advance(std::time::Duration::from_secs(1));
    let third = send(&app, login("eve", "3")).await.id().unwrap();
    assert_eq!(
        send(&app, get("/u/whoami", Some(&first))).await.body,
        "nobody",
        "the oldest ended"
    );
    for kept in [&second, &third] {
        assert_eq!(send(&app, get("/u/whoami", Some(kept))).await.body, "eve");
    }
    let mut listed: Vec<String> = devices(&send(&app, get("/u/devices/eve", None)).await.body)
        .into_iter()
        .map(|d| d.1)
        .collect();
    listed.sort();
    assert_eq!(listed, ["2", "3"]);
}

/// Conformance case: a user's sessions are listed in the order they signed in, not the order
/// they were created: a session made early (a login page's visit) that signs in last is listed
/// last, and is the one a cap keeps.
pub async fn users_are_listed_in_sign_in_order<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = user_app(capped(store.clone(), &clock, 2)).await;
    // The login page, opened first: a session with a value, not signed in.
    let early = send(&app, post("/set/page/login", None))
        .await
        .id()
        .unwrap();
    clock.advance(std::time::Duration::from_secs(2));
    send(&app, login("fay", "first")).await;
    clock.advance(std::time::Duration::from_secs(1));
    send(&app, login("fay", "second")).await;
    clock.advance(std::time::Duration::from_secs(180));
    // The login page submitted: created first, signed in last.
    let req = with_id(
        actix_web::test::TestRequest::post()
            .uri("/u/login/fay")
            .insert_header(("user-agent", "page")),
        &early,
    );
    let page = send(&app, req).await;
    assert!(page.id().is_some(), "signed in");
    let listed: Vec<String> = devices(&send(&app, get("/u/devices/fay", None)).await.body)
        .into_iter()
        .map(|d| d.1)
        .collect();
    assert_eq!(
        listed,
        ["second", "page"],
        "the cap of 2 ended the oldest sign-in (first), not the oldest session (page)"
    );
}

/// Conformance case: a signed-in session's last-seen time is kept within a minute (the default
/// `last_seen_step`) even with a refresh step of hours, without a write for every request; and
/// the session of the request that lists shows as seen now.
pub async fn users_last_seen_is_kept_fresh<S: IntoBackend + Clone>(store: S) {
    use crate::clock::Clock;
    let clock = ManualClock::new();
    let mw = crate::SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .idle_timeout(std::time::Duration::from_secs(24 * 3600)) // refresh step: 2.4 h
        .build();
    let app = user_app(mw).await;
    let t0 = clock.now();
    let phone = send(&app, login("gil", "phone")).await.id().unwrap();
    send(&app, login("gil", "laptop")).await;
    let seen = |body: String| -> Vec<(String, u64)> {
        let mut lines: Vec<(String, u64)> = body
            .lines()
            .filter_map(|l| {
                let (device, at) = l.split_once(' ')?;
                Some((device.to_owned(), at.parse().ok()?))
            })
            .collect();
        lines.sort();
        lines
    };
    clock.advance(std::time::Duration::from_secs(30));
    send(&app, get("/u/whoami", Some(&phone))).await;
    let listed = seen(send(&app, get("/u/seen/gil", None)).await.body);
    assert_eq!(
        listed,
        [("laptop".to_owned(), t0), ("phone".to_owned(), t0)],
        "30 s behind: not written yet"
    );
    clock.advance(std::time::Duration::from_secs(40));
    send(&app, get("/u/whoami", Some(&phone))).await;
    let listed = seen(send(&app, get("/u/seen/gil", None)).await.body);
    assert_eq!(
        listed,
        [("laptop".to_owned(), t0), ("phone".to_owned(), t0 + 70)],
        "70 s behind: moved to the request's time"
    );
    clock.advance(std::time::Duration::from_secs(5));
    let listed = seen(send(&app, get("/u/seen/gil", Some(&phone))).await.body);
    assert_eq!(
        listed,
        [("laptop".to_owned(), t0), ("phone".to_owned(), t0 + 75)],
        "the listing session shows as seen now"
    );
}

/// The user app of the rotation races: [`user_app`] with the [`Held`] of the test.
async fn held_user_app(
    mw: crate::SessionMiddleware,
    held: &web::Data<Held>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    actix_web::test::init_service(
        actix_web::App::new()
            .wrap(mw)
            .configure(routes)
            .configure(user_routes)
            .app_data(held.clone()),
    )
    .await
}

/// Conformance case: a signed-in session's request that changes its id (a slow "change
/// password" handler) is in flight when `revoke_all` ("log out everywhere", an admin's lock)
/// ends the user's sessions: the rotation brings nothing back under a new id.
pub async fn users_revoke_all_during_a_rotation_wins<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let held = web::Data::new(Held::default());
    let app = held_user_app(middleware(store.clone(), &clock), &held).await;
    let id = send(&app, login("ann", "phone")).await.id().unwrap();
    let res = rotating_while(&app, &held, &id, async {
        let ended = send(&app, post("/u/revoke_all/ann", None)).await;
        assert_eq!(ended.status, 200);
    })
    .await;
    assert_rotation_refused(&res, "ann");
    assert_eq!(send(&app, get("/u/whoami", Some(&id))).await.body, "nobody");
    assert_eq!(
        send(&app, get("/u/devices/ann", None)).await.body,
        "",
        "no session of the user came back"
    );
}

/// Conformance case: the same race with one session revoked by its handle (a devices page's
/// "end this session").
pub async fn users_revoke_during_a_rotation_wins<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let held = web::Data::new(Held::default());
    let app = held_user_app(middleware(store.clone(), &clock), &held).await;
    let phone = send(&app, login("ann", "phone")).await;
    let laptop = send(&app, login("ann", "laptop")).await.id().unwrap();
    let id = phone.id().unwrap();
    let res = rotating_while(&app, &held, &id, async {
        let ended = send(&app, post(&format!("/u/revoke/ann/{}", phone.body), None)).await;
        assert_eq!(ended.body, "true");
    })
    .await;
    assert_rotation_refused(&res, "ann");
    let listed = devices(&send(&app, get("/u/devices/ann", None)).await.body);
    assert_eq!(listed.len(), 1, "only the laptop is left: {listed:?}");
    assert_eq!(listed[0].1, "laptop");
    assert_eq!(
        send(&app, get("/u/whoami", Some(&laptop))).await.body,
        "ann"
    );
}

/// Conformance case: with `max_sessions_per_user(2)`, a third login ends the oldest session
/// while a request of that session is rotating its id: the oldest stays ended.
pub async fn users_cap_during_a_rotation_wins<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let held = web::Data::new(Held::default());
    let mw = crate::SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .max_sessions_per_user(2)
        .build();
    let app = held_user_app(mw, &held).await;
    let oldest = send(&app, login("cy", "1")).await.id().unwrap();
    clock.advance(std::time::Duration::from_secs(1));
    send(&app, login("cy", "2")).await;
    clock.advance(std::time::Duration::from_secs(1));
    let res = rotating_while(&app, &held, &oldest, async {
        send(&app, login("cy", "3")).await;
    })
    .await;
    assert_rotation_refused(&res, "cy");
    let mut listed: Vec<String> = devices(&send(&app, get("/u/devices/cy", None)).await.body)
        .into_iter()
        .map(|d| d.1)
        .collect();
    listed.sort();
    assert_eq!(listed, ["2", "3"], "the cap's choice stands");
}

/// Conformance case, on the store itself: a user's sessions change their ids over and over
/// (chains of `change_id`, as logins and privilege changes do) while `revoke_all` runs. Once
/// everything is done, no session of the user is left: a rotation either ran before the
/// revocation, which then ended the session under its new id, or found the session ended.
/// (A store that lists the index and then ends each listed session must look again when a
/// listed session moved meanwhile.)
pub async fn users_revoke_all_while_ids_change<S: SessionStore + Clone>(store: S) {
    use crate::clock::{Clock, SystemClock};
    use crate::store::{Bytes, Changes, Meta, SessionUser};
    let now = SystemClock.now();
    let user = SessionUser::new("rhea");
    let meta = Meta::new(now, now + 600).with_user(Some(user.clone()));
    let mut ids = Vec::new();
    for _ in 0..16 {
        let id = SessionId::generate();
        let values = Changes::full([("n".to_owned(), Bytes::from_static(b"1"))]);
        store.save(&id, &meta, &values).await.expect("save");
        ids.push(id);
    }
    let chains = ids.into_iter().map(|mut id| {
        let (store, meta) = (store.clone(), meta.clone());
        async move {
            for _ in 0..20 {
                let new = SessionId::generate();
                let moved = store
                    .change_id(&id, &new, &meta, &Changes::default())
                    .await
                    .expect("change_id");
                if !moved {
                    return;
                }
                id = new;
                tokio::task::yield_now().await;
            }
        }
    });
    let revoke = async {
        tokio::task::yield_now().await;
        let index = store.user_index().expect("a store with the user index");
        index.revoke_all(&user.key, None).await.expect("revoke_all")
    };
    futures_util::future::join(futures_util::future::join_all(chains), revoke).await;
    let index = store.user_index().expect("a store with the user index");
    let left = index.user_sessions(&user.key).await.expect("list");
    assert!(
        left.is_empty(),
        "{} sessions slipped out of revoke_all by changing their id",
        left.len()
    );
}

/// Conformance case: ten logins of one user at once with `max_sessions_per_user(3)`: every
/// login answers 200, and afterwards exactly three sessions are signed in, the three newest
/// sign-ins (all in one second of the suite's clock here, so the order is the handles'),
/// whatever order the logins' listings and revocations ran in.
pub async fn users_cap_keeps_exactly_the_newest_under_concurrent_logins<S: IntoBackend + Clone>(
    store: S,
) {
    let clock = ManualClock::new();
    let mw = crate::SessionMiddleware::builder(store.clone())
        .clock(clock.clone())
        .idle_timeout(IDLE)
        .max_sessions_per_user(3)
        .build();
    let app = user_app(mw).await;
    let answers =
        futures_util::future::join_all((0..10).map(|i| send(&app, login("ivy", &i.to_string()))))
            .await;
    let mut signed_in = Vec::new();
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        if let Some(id) = answer.id() {
            if send(&app, get("/u/whoami", Some(&id))).await.body == "ivy" {
                signed_in.push(answer.body.clone());
            }
        }
    }
    signed_in.sort();
    let mut handles: Vec<String> = answers.iter().map(|a| a.body.clone()).collect();
    handles.sort();
    assert_eq!(
        signed_in,
        handles[7..],
        "exactly the three newest sign-ins (same time: the greatest handles) survive"
    );
    assert_eq!(
        devices(&send(&app, get("/u/devices/ivy", None)).await.body).len(),
        3
    );
}

/// Conformance case: a request of a revoked session that saves while the revocation runs
/// does not bring the session back (the same race as a logout during a save).
pub async fn users_revocation_beats_a_concurrent_save<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let signal = web::Data::new(tokio::sync::Notify::new());
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(middleware(store.clone(), &clock))
            .configure(routes)
            .configure(user_routes)
            .app_data(signal.clone()),
    )
    .await;
    let id = send(&app, login("fay", "d")).await.id().unwrap();
    let (held, revoked) =
        futures_util::future::join(send(&app, post("/hold/k/v", Some(&id))), async {
            let res = send(&app, post("/u/revoke_all/fay", None)).await;
            signal.notify_one();
            res
        })
        .await;
    assert_eq!(held.body, "held");
    assert_eq!(revoked.status, 200);
    assert_eq!(
        send(&app, get("/u/whoami", Some(&id))).await.body,
        "nobody",
        "not resurrected"
    );
    assert_eq!(send(&app, get("/u/devices/fay", None)).await.body, "");
}

/// Conformance case: two middlewares on one store (two app processes sharing it) see and end
/// each other's sessions of a user.
pub async fn users_two_apps_on_one_store_share_the_index<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let one = user_app(middleware(store.clone(), &clock)).await;
    let two = user_app(middleware(store.clone(), &clock)).await;
    let a = send(&one, login("gus", "one")).await.id().unwrap();
    send(&two, login("gus", "two")).await;
    let listed = devices(&send(&one, get("/u/devices/gus", None)).await.body);
    assert_eq!(listed.len(), 2, "{listed:?}");
    send(&two, post("/u/revoke_all/gus", None)).await;
    assert_eq!(send(&one, get("/u/whoami", Some(&a))).await.body, "nobody");
}

/// Conformance case: user ids of any content (a space, 10 kB, non-ASCII, a slash and a NUL)
/// work, each on its own (bytes that are not UTF-8 are covered by `UserKey`'s unit tests).
pub async fn users_any_user_id_is_hashed<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = user_app(middleware(store.clone(), &clock)).await;
    let long = "x".repeat(10_000);
    for user in ["%20", long.as_str(), "caf%C3%A9", "a%2Fb%00"] {
        let id = send(&app, login(user, "d")).await.id().unwrap();
        assert_eq!(
            send(&app, get(&format!("/u/devices/{user}"), None))
                .await
                .body
                .lines()
                .count(),
            1,
            "{user:.20}"
        );
        assert_ne!(send(&app, get("/u/whoami", Some(&id))).await.body, "nobody");
    }
}

/// For the leak tests of a store's user index: saves `sessions` sessions spread over `users`
/// users (`user0`, `user1`, ..) that expire in 60 s on `clock`, moves the clock past that,
/// and lists each user once, as a devices page would (every listing must be empty). What the
/// index still holds afterwards is the store's leak.
pub async fn expire_tied_sessions<S: SessionStore>(
    store: &S,
    clock: &ManualClock,
    sessions: usize,
    users: usize,
) {
    use crate::clock::Clock;
    use crate::store::{Bytes, Changes, Meta, SessionUser, UserKey};
    let now = clock.now();
    for i in 0..sessions {
        let user = SessionUser::new(format!("user{}", i % users));
        let meta = Meta::new(now, now + 60).with_user(Some(user));
        let changes = Changes::full([("n".to_owned(), Bytes::from_static(b"1"))]);
        store
            .save(&crate::SessionId::generate(), &meta, &changes)
            .await
            .expect("save");
    }
    clock.advance(std::time::Duration::from_secs(61));
    for u in 0..users {
        let listed = store
            .user_index()
            .expect("a store with the user index")
            .user_sessions(&UserKey::of(format!("user{u}")))
            .await
            .expect("list");
        assert!(listed.is_empty(), "user{u}: expired sessions listed");
    }
}
