//! `examples/devices.rs` over HTTP with two cookie jars (two browsers): both sessions are on
//! the devices page with their device and when each was last seen, one ends the other, then
//! logs out everywhere; every `POST` (login included) needs the CSRF token of the browser's own
//! session. And what a devices page can read of another session: never the crate's own keys
//! (its CSRF secret, its waiting flash messages).

use examples::devices;

use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{
    CsrfToken, Flash, Session, SessionError, SessionMiddleware, Sessions, CSRF_SESSION_KEY,
};
use actix_web::{test, web, App, HttpResponse};

use actix_typed_session::flash::FLASH_KEY;
use support::*;

/// A browser: its user agent, its session cookie and the CSRF token of the last page that had a
/// form.
#[derive(Clone)]
struct Browser {
    agent: &'static str,
    id: Option<String>,
    token: Option<String>,
}

impl Browser {
    fn new(agent: &'static str) -> Self {
        Browser {
            agent,
            id: None,
            token: None,
        }
    }

    /// Follows the response's cookie (a new id, or a removal) and picks up the page's token.
    fn saw(&mut self, res: &Resp) {
        if let Some(id) = res.id() {
            self.id = Some(id);
        } else if res.removal().is_some() {
            self.id = None;
        }
        if let Some(token) = csrf_field(&res.body) {
            self.token = Some(token);
        }
    }

    fn request(&self, req: test::TestRequest) -> actix_http::Request {
        let mut req = req.insert_header(("user-agent", self.agent));
        if let Some(id) = &self.id {
            req = req.insert_header(cookie_header(id));
        }
        req.to_request()
    }

    async fn get(&mut self, app: &impl TestApp, uri: &str) -> Resp {
        let res = send(app, self.request(test::TestRequest::get().uri(uri))).await;
        self.saw(&res);
        res
    }

    /// Posts a form with `fields` and `token` as its `csrf_token` (none when `None`).
    async fn post(
        &mut self,
        app: &impl TestApp,
        uri: &str,
        token: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Resp {
        let mut form: Vec<(&str, &str)> = token.map(|t| ("csrf_token", t)).into_iter().collect();
        form.extend_from_slice(fields);
        let req = test::TestRequest::post().uri(uri).set_form(&form);
        let res = send(app, self.request(req)).await;
        self.saw(&res);
        res
    }

    /// Posts a form with the token of the last page, as a form of that page would.
    async fn submit(&mut self, app: &impl TestApp, uri: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.token.clone().expect("a page with a form came first");
        self.post(app, uri, Some(&token), fields).await
    }

    /// Opens the home page and signs in as `name` with its form.
    async fn sign_in(app: &impl TestApp, name: &str, agent: &'static str) -> Browser {
        let mut browser = Browser::new(agent);
        assert_eq!(browser.get(app, "/").await.status, 200);
        let res = browser.submit(app, "/login", &[("name", name)]).await;
        assert_eq!(res.status, 303, "{}", res.body);
        browser
    }
}

/// The value of the first hidden `csrf_token` field of a page.
fn csrf_field(body: &str) -> Option<String> {
    let start = body.find("name=csrf_token value=")? + "name=csrf_token value=".len();
    let rest = &body[start..];
    let end = rest.find(['>', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
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

/// The list item of the device `device` on a devices page.
fn row<'a>(page: &'a str, device: &str) -> &'a str {
    page.split("<li ")
        .find(|li| li.contains(device))
        .and_then(|li| li.split("</li>").next())
        .unwrap_or_else(|| panic!("no row for {device:?} in {page}"))
}

async fn devices_app(store: MemoryStore) -> impl TestApp<Body = impl actix_web::body::MessageBody> {
    test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(store))
            .configure(devices::routes),
    )
    .await
}

#[actix_web::test]
async fn two_browsers_see_each_other_end_one_then_log_out_everywhere() {
    let store = MemoryStore::default();
    let app = devices_app(store.clone()).await;
    let mut firefox = Browser::sign_in(&app, "ann", "Firefox on a laptop").await;
    let mut phone = Browser::sign_in(&app, "ann", "Safari on a phone").await;
    let mut other_user = Browser::sign_in(&app, "bob", "Edge").await;

    let page = firefox.get(&app, "/devices").await;
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
    let res = firefox
        .submit(&app, "/devices/end", &[("handle", phone_handle.as_str())])
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(
        phone.get(&app, "/devices").await.status,
        303,
        "the phone is signed out"
    );
    let page = firefox.get(&app, "/devices").await;
    assert_eq!(handles(&page.body).len(), 1);

    // Bob's session cannot be ended with ann's form and a forged handle.
    let res = firefox
        .submit(
            &app,
            "/devices/end",
            &[("handle", "AAAAAAAAAAAAAAAAAAAAAA")],
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(other_user.get(&app, "/devices").await.status, 200);

    // Log out everywhere: a new phone session, then both end, the cookie is removed.
    let mut phone = Browser::sign_in(&app, "ann", "Safari on a phone").await;
    firefox.get(&app, "/devices").await;
    let mut old_firefox = firefox.clone();
    let res = firefox.submit(&app, "/logout-everywhere", &[]).await;
    assert_eq!(res.status, 303);
    assert!(res.removal().is_some());
    for browser in [&mut old_firefox, &mut phone] {
        assert_eq!(browser.get(&app, "/devices").await.status, 303);
    }
    assert_eq!(
        store.index_size(),
        (1, 1),
        "only bob's session is left in the index"
    );
}

/// Every `POST` of the example needs the CSRF token of the browser's own session: without it,
/// or with another session's, the answer is 403 and nothing happens. Login CSRF first: a form
/// on another site that posts a name to `/login` signs nobody in.
#[actix_web::test]
async fn login_end_and_logout_everywhere_need_the_csrf_token() {
    let app = devices_app(MemoryStore::default()).await;

    // Login: a cross-site form (no session, no token), then a visitor's session without the
    // token, then with another visitor's token: 403, not signed in.
    let mut visitor = Browser::new("Firefox on a laptop");
    let res = visitor
        .post(&app, "/login", None, &[("name", "mallory")])
        .await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert!(res.id().is_none(), "no session for a refused login");
    let mut stranger = Browser::new("Edge");
    stranger.get(&app, "/").await;
    let strangers_token = stranger.token.clone().unwrap();
    visitor.get(&app, "/").await;
    for token in [None, Some(strangers_token.as_str()), Some("forged")] {
        let res = visitor
            .post(&app, "/login", token, &[("name", "mallory")])
            .await;
        assert_eq!(res.status, 403, "{token:?}");
        assert_eq!(
            visitor.get(&app, "/devices").await.status,
            303,
            "{token:?}: not signed in"
        );
    }
    let res = visitor.submit(&app, "/login", &[("name", "ann")]).await;
    assert_eq!(res.status, 303, "with the page's token");
    let mut laptop = visitor;
    assert_eq!(laptop.get(&app, "/devices").await.status, 200);

    // Ending a session: the phone's handle without the token, or with a token of the phone's
    // own session, ends nothing.
    let mut phone = Browser::sign_in(&app, "ann", "Safari on a phone").await;
    phone.get(&app, "/devices").await;
    let phones_token = phone.token.clone().unwrap();
    let page = laptop.get(&app, "/devices").await;
    let (phone_handle, _) = handles(&page.body)
        .into_iter()
        .find(|(_, can_end)| *can_end)
        .unwrap();
    let fields = [("handle", phone_handle.as_str())];
    for token in [None, Some(phones_token.as_str()), Some("forged")] {
        let res = laptop.post(&app, "/devices/end", token, &fields).await;
        assert_eq!(res.status, 403, "{token:?}");
        assert_eq!(
            phone.get(&app, "/devices").await.status,
            200,
            "{token:?}: the phone is still signed in"
        );
    }
    laptop.get(&app, "/devices").await;
    assert_eq!(
        laptop.submit(&app, "/devices/end", &fields).await.status,
        303
    );
    assert_eq!(phone.get(&app, "/devices").await.status, 303, "ended");

    // Log out everywhere: the same.
    let mut phone = Browser::sign_in(&app, "ann", "Safari on a phone").await;
    phone.get(&app, "/devices").await;
    let phones_token = phone.token.clone().unwrap();
    for token in [None, Some(phones_token.as_str()), Some("forged")] {
        let res = laptop.post(&app, "/logout-everywhere", token, &[]).await;
        assert_eq!(res.status, 403, "{token:?}");
        assert!(res.removal().is_none(), "{token:?}");
        for browser in [&mut laptop, &mut phone] {
            assert_eq!(browser.get(&app, "/devices").await.status, 200, "{token:?}");
        }
    }
    let res = laptop.submit(&app, "/logout-everywhere", &[]).await;
    assert_eq!(res.status, 303);
    assert!(res.removal().is_some());
    assert_eq!(phone.get(&app, "/devices").await.status, 303);
}

/// The devices page says when each session was last seen as a person reads it: "3 minutes
/// ago" and a UTC date and time, never a count of seconds since 1970; measured on the
/// middleware's clock.
#[actix_web::test]
async fn the_devices_page_says_when_each_session_was_last_seen_in_words_and_utc() {
    let clock = ManualClock::new();
    let app = test::init_service(
        App::new()
            .wrap(
                SessionMiddleware::builder(MemoryStore::default())
                    .clock(clock.clone())
                    .build(),
            )
            .configure(devices::routes),
    )
    .await;
    use actix_typed_session::clock::Clock;
    let signed_in_at = clock.now();
    Browser::sign_in(&app, "ann", "Safari on a phone").await;
    clock.advance(Duration::from_secs(3 * 60));
    let mut laptop = Browser::sign_in(&app, "ann", "Firefox on a laptop").await;

    let page = laptop.get(&app, "/devices").await.body;
    let phone = row(&page, "Safari on a phone");
    let when = format!("last seen 3 minutes ago ({})", devices::utc(signed_in_at));
    assert!(phone.contains(&when), "{when:?} in {phone}");
    assert!(
        row(&page, "Firefox on a laptop").contains("last seen just now"),
        "{page}"
    );
    assert!(
        !page.contains(&signed_in_at.to_string()),
        "no Unix seconds on the page: {page}"
    );

    clock.advance(Duration::from_secs(2 * 3600));
    let page = laptop.get(&app, "/devices").await.body;
    assert!(
        row(&page, "Safari on a phone").contains("last seen 2 hours ago"),
        "{page}"
    );

    // The words and the date, on moments whose answers are known.
    for (secs, text) in [
        (0, "1970-01-01 00:00 UTC"),
        (951_782_400, "2000-02-29 00:00 UTC"),
        (1_700_000_000, "2023-11-14 22:13 UTC"),
        (1_709_251_199, "2024-02-29 23:59 UTC"),
        (4_107_542_399, "2100-02-28 23:59 UTC"),
        (4_107_542_400, "2100-03-01 00:00 UTC"),
    ] {
        assert_eq!(devices::utc(secs), text, "{secs}");
    }
    let now = 1_700_000_000;
    for (before, text) in [
        (0, "just now"),
        (59, "just now"),
        (60, "1 minute ago"),
        (3_599, "59 minutes ago"),
        (3_600, "1 hour ago"),
        (86_399, "23 hours ago"),
        (86_400, "1 day ago"),
        (10 * 86_400, "10 days ago"),
    ] {
        assert_eq!(devices::ago(now, now - before), text, "{before}");
    }
    assert_eq!(devices::ago(now, now + 5), "just now", "a clock behind");
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
    // (And the device the sign-in was made from, which the middleware recorded in the response
    // of the login: another reserved key, `__ats_device`.)
    let res = send(&app, get("/keys", Some(&phone))).await;
    assert_eq!(
        res.body,
        format!("{CSRF_SESSION_KEY},__ats_device,{FLASH_KEY},device")
    );
}

/// Signing out every other device is a sensitive action (`#[session(fresh = "5m")]`): right
/// after the sign-in it runs; six minutes later the browser is sent to confirm its password
/// first (a wrong one changes nothing, an off-site `next` is not followed), then it runs.
#[actix_web::test]
async fn signing_out_the_other_devices_asks_for_the_password_after_five_minutes() {
    let clock = ManualClock::new();
    let activity = devices::Activity::default();
    let app = test::init_service(
        App::new()
            .wrap(devices::middleware(
                MemoryStore::default(),
                clock.clone(),
                &activity,
            ))
            .app_data(web::Data::new(activity))
            .configure(devices::routes),
    )
    .await;
    let mut laptop = Browser::sign_in(&app, "ann", "laptop").await;
    let mut phone = Browser::sign_in(&app, "ann", "phone").await;
    let mut tablet = Browser::sign_in(&app, "ann", "tablet").await;

    // Right after its sign-in, the tablet may.
    tablet.get(&app, "/devices").await;
    clock.advance(Duration::from_secs(60));
    let res = tablet.submit(&app, "/devices/end-others", &[]).await;
    assert_eq!(res.header("location"), Some("/devices"));
    assert_eq!(laptop.get(&app, "/devices").await.status, 303, "signed out");
    assert_eq!(phone.get(&app, "/devices").await.status, 303, "signed out");

    let mut laptop = Browser::sign_in(&app, "ann", "laptop").await;
    clock.advance(Duration::from_secs(6 * 60));
    tablet.get(&app, "/devices").await;
    let res = tablet.submit(&app, "/devices/end-others", &[]).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/confirm"), "asked to confirm");
    assert_eq!(
        laptop.get(&app, "/devices").await.status,
        200,
        "nothing ended"
    );

    let page = tablet.get(&app, "/confirm?next=/devices").await;
    assert!(page.body.contains("type=password"), "{}", page.body);
    let res = tablet
        .submit(
            &app,
            "/confirm",
            &[("password", "bob"), ("next", "/devices")],
        )
        .await;
    assert_eq!(res.header("location"), Some("/confirm"), "a wrong password");
    tablet.get(&app, "/devices").await;
    let res = tablet.submit(&app, "/devices/end-others", &[]).await;
    assert_eq!(
        res.header("location"),
        Some("/confirm"),
        "still not confirmed"
    );

    tablet.get(&app, "/confirm").await;
    let res = tablet
        .submit(
            &app,
            "/confirm",
            &[("password", "ann"), ("next", "//evil.example/")],
        )
        .await;
    assert_eq!(res.header("location"), Some("/devices"), "no off-site next");
    tablet.get(&app, "/devices").await;
    let res = tablet.submit(&app, "/devices/end-others", &[]).await;
    assert_eq!(res.header("location"), Some("/devices"));
    assert_eq!(laptop.get(&app, "/devices").await.status, 303, "signed out");
    let page = tablet.get(&app, "/devices").await;
    assert_eq!(page.status, 200);

    // The account's activity, kept from the session events, newest first.
    let activity: Vec<&str> = page
        .body
        .split("<ol class=activity>")
        .nth(1)
        .expect("an activity list")
        .split("<li>")
        .skip(1)
        .map(|li| li.split(" — ").nth(1).unwrap_or_default())
        .map(|what| what.trim_end_matches("</ol>").trim_end_matches("</li>"))
        .collect();
    assert_eq!(
        activity,
        [
            "1 session ended from another device",
            "a request was refused",
            "a request was refused",
            "signed in from laptop (no IP)",
            "2 sessions ended from another device",
            "signed in from tablet (no IP)",
            "signed in from phone (no IP)",
            "signed in from laptop (no IP)",
        ],
        "{}",
        page.body
    );
}
