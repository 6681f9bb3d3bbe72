//! `examples/devices.rs` over HTTP with two cookie jars (two browsers): both sessions are on
//! the devices page with their device, one ends the other, then logs out everywhere. And what a
//! devices page can read of another session: never the crate's own keys (its CSRF secret, its
//! waiting flash messages).

#[allow(dead_code)] // its `main` runs the server; the tests use its routes
#[path = "../examples/devices.rs"]
mod devices;

mod support;

use actix_typed_session::flash::FLASH_KEY;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{
    CsrfToken, Flash, Session, SessionError, SessionMiddleware, Sessions, CSRF_SESSION_KEY,
};
use actix_web::{test, web, App, HttpResponse};

use support::*;

fn login(name: &str, device: &str) -> actix_http::Request {
    test::TestRequest::post()
        .uri("/login")
        .insert_header(("user-agent", device))
        .set_form([("name", name)])
        .to_request()
}

/// The handles on a devices page, in order, with whether each can be ended from here.
fn handles(page: &str) -> Vec<(String, bool)> {
    page.split("<li data-handle=")
        .skip(1)
        .map(|li| {
            let handle = li.split('>').next().unwrap_or_default().to_owned();
            (handle, li.contains("<button>end</button>"))
        })
        .collect()
}

#[actix_web::test]
async fn two_browsers_see_each_other_end_one_then_log_out_everywhere() {
    let store = MemoryStore::default();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store.clone()))
            .configure(devices::routes),
    )
    .await;
    let firefox = send(&app, login("ann", "Firefox on a laptop"))
        .await
        .id()
        .unwrap();
    let phone = send(&app, login("ann", "Safari on a phone"))
        .await
        .id()
        .unwrap();
    let other_user = send(&app, login("bob", "Edge")).await.id().unwrap();

    let page = send(&app, get("/devices", Some(&firefox))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Firefox on a laptop") && page.body.contains("Safari on a phone"));
    assert!(
        !page.body.contains("Edge"),
        "another user's device is not listed"
    );
    let listed = handles(&page.body);
    assert_eq!(listed.len(), 2);
    let (phone_handle, _) = listed.iter().find(|(_, can_end)| *can_end).unwrap();
    assert_eq!(
        listed.iter().filter(|(_, can_end)| !can_end).count(),
        1,
        "this device"
    );

    // Firefox ends the phone's session.
    let end = test::TestRequest::post()
        .uri("/devices/end")
        .insert_header(cookie_header(&firefox))
        .set_form([("handle", phone_handle.as_str())])
        .to_request();
    assert_eq!(send(&app, end).await.status, 303);
    let res = send(&app, get("/devices", Some(&phone))).await;
    assert_eq!(res.status, 303, "the phone is signed out");
    assert_eq!(
        handles(&send(&app, get("/devices", Some(&firefox))).await.body).len(),
        1
    );

    // Bob's session cannot be ended with ann's form and a forged handle.
    let forged = test::TestRequest::post()
        .uri("/devices/end")
        .insert_header(cookie_header(&firefox))
        .set_form([("handle", "AAAAAAAAAAAAAAAAAAAAAA")])
        .to_request();
    send(&app, forged).await;
    assert_eq!(
        send(&app, get("/devices", Some(&other_user))).await.status,
        200
    );

    // Log out everywhere: a new phone session, then both end, the cookie is removed.
    let phone = send(&app, login("ann", "Safari on a phone"))
        .await
        .id()
        .unwrap();
    let res = send(&app, post("/logout-everywhere", Some(&firefox))).await;
    assert!(res.removal().is_some());
    for gone in [&firefox, &phone] {
        assert_eq!(send(&app, get("/devices", Some(gone))).await.status, 303);
    }
    assert_eq!(
        store.index_size(),
        (1, 1),
        "only bob's session is left in the index"
    );
}

/// Ties the session to `user`, keeps a device name, a CSRF token, and a flash message for the
/// next request: what a real session holds after a login form.
async fn login_with_token_and_flash(
    session: Session,
    flash: Flash,
    _csrf: CsrfToken,
    user: web::Path<String>,
) -> Result<HttpResponse, SessionError> {
    session.set_user(user.as_str());
    session.set("device", "phone")?;
    flash.success("Welcome back.");
    own_keys(session).await
}

/// The keys of the request's own session, as `Session::keys` lists them.
async fn own_keys(session: Session) -> Result<HttpResponse, SessionError> {
    let mut keys = session.keys();
    keys.sort();
    Ok(HttpResponse::Ok().body(keys.join(",")))
}

/// What a devices or admin page reads of each session of `user`.
async fn list(sessions: Sessions, user: web::Path<String>) -> Result<String, SessionError> {
    let mut out = String::new();
    for s in sessions.of_user(user.as_str()).await? {
        let mut keys = s.keys();
        keys.sort();
        let csrf: Option<serde_json::Value> = s.get(CSRF_SESSION_KEY)?;
        let flash: Option<serde_json::Value> = s.get(FLASH_KEY)?;
        let device: Option<String> = s.get("device")?;
        out += &format!("keys={keys:?} csrf={csrf:?} flash={flash:?} device={device:?}\n");
    }
    Ok(out)
}

/// A listing through `Sessions::of_user` (`SessionInfo::keys`, `SessionInfo::get`) never shows
/// another session's CSRF secret (`__ats_csrf`) or its waiting flash messages (`_flash`); the
/// session itself holds both (`Session::keys` lists them), and its own values are listed.
#[actix_web::test]
async fn a_listing_never_shows_the_csrf_secret_or_the_waiting_flash_messages() {
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(MemoryStore::default()))
            .route("/login/{user}", web::post().to(login_with_token_and_flash))
            .route("/list/{user}", web::get().to(list))
            .route("/keys", web::get().to(own_keys)),
    )
    .await;
    let res = send(&app, post("/login/ann", None)).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.body,
        format!("{CSRF_SESSION_KEY},{FLASH_KEY},device"),
        "the session holds a token and a waiting message"
    );
    let phone = res.id().unwrap();

    // Another browser of ann's (and an admin tool) lists the phone's session.
    let listing = send(&app, get("/list/ann", None)).await;
    assert_eq!(listing.status, 200);
    assert_eq!(
        listing.body,
        "keys=[\"device\"] csrf=None flash=None device=Some(\"phone\")\n"
    );

    // The phone lists the same, and its own session still holds the token and the message
    // (the listing hides them, it does not remove them).
    let res = send(&app, get("/list/ann", Some(&phone))).await;
    assert_eq!(res.body, listing.body);
    let res = send(&app, get("/keys", Some(&phone))).await;
    assert_eq!(res.body, format!("{CSRF_SESSION_KEY},{FLASH_KEY},device"));
}
