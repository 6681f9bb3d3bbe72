//! Device Bound Session Credentials (feature `dbsc`) over HTTP, with a test client that plays the
//! browser's side with a real P-256 key pair: the offer at sign-in, registration, requests with
//! and without the bound cookie, a refresh (challenge, proof, new cookie), a replayed proof, a
//! proof signed by another key, a stolen bound cookie used after it expired, a challenge used
//! twice, a logout telling the browser to stop, a browser that never registers, and junk, which
//! is a 4xx and never a 500.

use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::dbsc::Dbsc;
use actix_typed_session::store::MemoryStore;
use actix_typed_session::{session, Session, SessionMiddleware};
use actix_web::{get, post, test, App};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use serde_json::{json, Value};

use support::*;

const REGISTER: &str = "/.session/dbsc/register";
const REFRESH: &str = "/.session/dbsc/refresh";

#[post("/login")]
#[session(change_id)]
async fn login(session: Session) -> &'static str {
    session.set_user("ann");
    "in"
}

#[get("/me")]
async fn me(session: Session) -> String {
    session.user().unwrap_or_else(|| "nobody".into())
}

#[post("/logout")]
#[session(expire)]
async fn logout() -> &'static str {
    "bye"
}

/// The browser's side: its key pair, its session cookie, its bound cookie, its DBSC session id.
struct Browser {
    key: p256::ecdsa::SigningKey,
    id: Option<String>,
    bound: Option<String>,
    sid: Option<String>,
}

impl Browser {
    fn new() -> Self {
        Browser {
            key: p256::ecdsa::SigningKey::random(&mut rand::thread_rng()),
            id: None,
            bound: None,
            sid: None,
        }
    }

    /// A `dbsc+jwt` of `jti`, signed by this browser's key (its public key in the header when
    /// `with_key`: a registration).
    fn proof(&self, jti: &str, with_key: bool) -> String {
        let mut header = json!({"alg": "ES256", "typ": "dbsc+jwt"});
        if with_key {
            let public = p256::PublicKey::from(self.key.verifying_key());
            header["jwk"] = serde_json::from_str(&public.to_jwk_string()).unwrap();
        }
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(json!({ "jti": jti }).to_string())
        );
        let signature: p256::ecdsa::Signature = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn cookies(&self) -> String {
        let mut out = Vec::new();
        if let Some(id) = &self.id {
            out.push(format!("id={id}"));
        }
        if let Some(bound) = &self.bound {
            out.push(format!("__Host-bound={bound}"));
        }
        out.join("; ")
    }

    fn request(&self, req: test::TestRequest) -> actix_http::Request {
        let cookies = self.cookies();
        let req = if cookies.is_empty() {
            req
        } else {
            req.insert_header(("cookie", cookies))
        };
        req.to_request()
    }

    /// Follows the response's cookies.
    fn saw(&mut self, res: &Resp) {
        if let Some(id) = res.id() {
            self.id = Some(id);
        }
        if let Some(bound) = res.cookies.iter().find(|c| c.name() == "__Host-bound") {
            self.bound = Some(bound.value().to_owned());
        }
    }
}

/// The challenge of an offer: `(ES256 RS256);path="..";challenge=".."`.
fn offered_challenge(res: &Resp) -> String {
    let offer = res
        .header("secure-session-registration")
        .expect("an offer to register");
    assert!(
        offer.starts_with("(ES256 RS256);path=\"/.session/dbsc/register\""),
        "{offer}"
    );
    offer
        .split("challenge=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}

/// The challenge of a `Secure-Session-Challenge: "c";id="sid"`.
fn challenge_of(res: &Resp) -> String {
    let value = res.header("secure-session-challenge").expect("a challenge");
    value.split('"').nth(1).unwrap().to_owned()
}

macro_rules! app {
    ($clock:expr) => {
        test::init_service(
            App::new()
                .wrap(
                    SessionMiddleware::builder(MemoryStore::default())
                        .clock($clock.clone())
                        .device_bound(Dbsc::new())
                        .build(),
                )
                .service(login)
                .service(me)
                .service(logout),
        )
        .await
    };
}

async fn register(app: &impl TestApp, browser: &mut Browser, jwt: &str) -> Resp {
    let req = test::TestRequest::post()
        .uri(REGISTER)
        .insert_header(("secure-session-response", jwt.to_owned()));
    let res = send(app, browser.request(req)).await;
    browser.saw(&res);
    res
}

async fn refresh(app: &impl TestApp, browser: &mut Browser, jwt: Option<&str>) -> Resp {
    let mut req = test::TestRequest::post().uri(REFRESH).insert_header((
        "sec-secure-session-id",
        browser.sid.clone().unwrap_or_default(),
    ));
    if let Some(jwt) = jwt {
        req = req.insert_header(("secure-session-response", jwt.to_owned()));
    }
    let res = send(app, browser.request(req)).await;
    browser.saw(&res);
    res
}

/// A new browser signed in, and the challenge its sign-in offered.
async fn sign_in(app: &impl TestApp) -> (Browser, String) {
    let mut browser = Browser::new();
    let res = send(
        app,
        browser.request(test::TestRequest::post().uri("/login")),
    )
    .await;
    browser.saw(&res);
    let challenge = offered_challenge(&res);
    (browser, challenge)
}

async fn signed_in_and_bound(app: &impl TestApp) -> Browser {
    let (mut browser, challenge) = sign_in(app).await;
    let jwt = browser.proof(&challenge, true);
    let res = register(app, &mut browser, &jwt).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let instructions: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(instructions["refresh_url"], REFRESH);
    assert_eq!(instructions["continue"], true);
    assert_eq!(instructions["credentials"][0]["type"], "cookie");
    assert_eq!(instructions["credentials"][0]["name"], "__Host-bound");
    let bound = res
        .cookies
        .iter()
        .find(|c| c.name() == "__Host-bound")
        .unwrap();
    assert_eq!(bound.max_age(), Some(cookie::time::Duration::seconds(600)));
    assert_eq!(bound.http_only(), Some(true));
    assert_eq!(bound.secure(), Some(true));
    browser.sid = Some(
        instructions["session_identifier"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    assert!(!browser
        .sid
        .as_ref()
        .unwrap()
        .contains(browser.id.as_ref().unwrap()));
    browser
}

#[actix_web::test]
async fn a_browser_registers_and_refreshes_and_a_copied_session_cookie_is_refused() {
    let clock = ManualClock::new();
    let app = app!(clock);
    let mut browser = signed_in_and_bound(&app).await;
    let get_me = |b: &Browser| b.request(test::TestRequest::get().uri("/me"));
    assert_eq!(send(&app, get_me(&browser)).await.body, "ann");

    // A thief with the session cookie alone.
    let thief = Browser {
        bound: None,
        ..Browser::new()
    };
    let thief = Browser {
        id: browser.id.clone(),
        ..thief
    };
    let res = send(&app, get_me(&thief)).await;
    assert_eq!(res.status, 403, "never opened unbound");
    assert_eq!(res.body, "device-bound session: refresh required");

    // The bound cookie expires: even the real one is refused until a refresh.
    clock.advance(Duration::from_secs(601));
    assert_eq!(send(&app, get_me(&browser)).await.status, 403);
    let stolen_bound = browser.bound.clone();

    let res = refresh(&app, &mut browser, None).await;
    assert_eq!(res.status, 403, "a challenge first");
    let challenge = challenge_of(&res);
    let sid = browser.sid.clone().unwrap();
    assert!(res
        .header("secure-session-challenge")
        .unwrap()
        .ends_with(&format!(";id=\"{sid}\"")));
    let jwt = browser.proof(&challenge, false);
    let res = refresh(&app, &mut browser, Some(&jwt)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_ne!(browser.bound, stolen_bound, "a new bound cookie");
    assert_eq!(send(&app, get_me(&browser)).await.body, "ann");

    // A bound cookie stolen earlier, used after it expired, with the session cookie.
    let late = Browser {
        id: browser.id.clone(),
        bound: stolen_bound,
        ..Browser::new()
    };
    assert_eq!(send(&app, get_me(&late)).await.status, 403);

    // The same proof again (its challenge was used): refused.
    let res = refresh(&app, &mut browser, Some(&jwt)).await;
    assert_eq!(res.status, 400, "{}", res.body);
    // A proof of a fresh challenge signed by another key: refused.
    let challenge = challenge_of(&refresh(&app, &mut browser, None).await);
    let other = Browser::new().proof(&challenge, false);
    assert_eq!(refresh(&app, &mut browser, Some(&other)).await.status, 400);
    // That challenge is spent too: the right key cannot use it now.
    let jwt = browser.proof(&challenge, false);
    assert_eq!(refresh(&app, &mut browser, Some(&jwt)).await.status, 400);
}

#[actix_web::test]
async fn registration_needs_the_sessions_own_fresh_challenge_once() {
    let clock = ManualClock::new();
    let app = app!(clock);
    let (mut browser, challenge) = sign_in(&app).await;

    let wrong = browser.proof("not-the-challenge", true);
    assert_eq!(register(&app, &mut browser, &wrong).await.status, 403);
    // A failed attempt spends the challenge: the right proof comes too late.
    let right = browser.proof(&challenge, true);
    assert_eq!(register(&app, &mut browser, &right).await.status, 403);

    // A new sign-in, a new challenge, used after five minutes.
    let (mut browser, challenge) = sign_in(&app).await;
    clock.advance(Duration::from_secs(301));
    let late = browser.proof(&challenge, true);
    assert_eq!(register(&app, &mut browser, &late).await.status, 403);

    // Without a signed-in session there is nothing to bind.
    let mut visitor = Browser::new();
    let jwt = visitor.proof("anything", true);
    assert_eq!(register(&app, &mut visitor, &jwt).await.status, 403);

    // Junk: a 4xx, never a 500.
    for junk in ["", "a.b.c", "\"x\"", &"y".repeat(9000), "e30.e30.e30"] {
        let res = register(&app, &mut browser, junk).await;
        assert!(res.status.is_client_error(), "{junk:.12}: {}", res.status);
    }
    let res = send(
        &app,
        browser.request(test::TestRequest::post().uri(REGISTER)),
    )
    .await;
    assert_eq!(res.status, 400, "no proof at all");
}

#[actix_web::test]
async fn a_logout_tells_the_browser_to_stop_and_a_browser_without_dbsc_works_as_before() {
    let clock = ManualClock::new();
    let app = app!(clock);
    let mut browser = signed_in_and_bound(&app).await;
    let res = send(
        &app,
        browser.request(test::TestRequest::post().uri("/logout")),
    )
    .await;
    assert!(res.removal().is_some());
    let res = refresh(&app, &mut browser, None).await;
    assert_eq!(res.status, 200);
    let answer: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(answer["continue"], false);
    assert_eq!(answer["session_identifier"], browser.sid.clone().unwrap());

    // A browser that never registers: signed in as today, offered again on its next sign-in.
    let mut plain = Browser::new();
    let res = send(&app, plain.request(test::TestRequest::post().uri("/login"))).await;
    plain.saw(&res);
    assert!(res.header("secure-session-registration").is_some());
    let res = send(&app, plain.request(test::TestRequest::get().uri("/me"))).await;
    assert_eq!((res.status.as_u16(), res.body.as_str()), (200, "ann"));
    assert!(
        res.header("secure-session-registration").is_none(),
        "offered at sign-in only"
    );
}

/// `examples/dbsc.rs` as a browser meets it: its sign-in and its pages offer registration, the
/// test client registers, and the page then says the session is bound.
#[actix_web::test]
async fn the_example_binds_a_browser_that_registers() {
    let app = test::init_service(
        App::new()
            .wrap(examples::dbsc::middleware(MemoryStore::default()))
            .configure(examples::dbsc::routes),
    )
    .await;
    let mut browser = Browser::new();
    let res = send(&app, browser.request(test::TestRequest::get().uri("/"))).await;
    browser.saw(&res);
    assert!(
        res.header("secure-session-registration").is_none(),
        "nobody to bind yet"
    );
    let token = res.body.split("csrf_token value=").nth(1).unwrap();
    let token = token.split('>').next().unwrap().to_owned();
    let form = test::TestRequest::post()
        .uri("/login")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(format!("csrf_token={token}&name=ann"));
    let res = send(&app, browser.request(form)).await;
    assert_eq!(res.status, 303);
    browser.saw(&res);
    let page = send(&app, browser.request(test::TestRequest::get().uri("/"))).await;
    assert!(page.body.contains("bound: no"), "{}", page.body);
    let challenge = offered_challenge(&page);
    let jwt = browser.proof(&challenge, true);
    assert_eq!(register(&app, &mut browser, &jwt).await.status, 200);
    let page = send(&app, browser.request(test::TestRequest::get().uri("/"))).await;
    assert!(page.body.contains("Signed in as ann") && page.body.contains("bound: yes"));
    assert!(
        page.header("secure-session-registration").is_none(),
        "bound: no more offers"
    );
}
