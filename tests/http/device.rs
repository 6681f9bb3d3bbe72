//! The device a session signs in from (`record_device`, `client_ip`): its user agent and client
//! IP recorded in the response of the sign-in, shown by `SessionInfo::user_agent` / `ip`, never
//! a forwarding header unless the app trusts its proxy, never on later requests, and not at all
//! when turned off.

use actix_typed_session::store::{CookieStore, Fetch, MemoryStore, SessionStore};
use actix_typed_session::{
    ClientIp, Session, SessionError, SessionId, SessionMiddleware, Sessions,
};
use actix_web::{test, web, App};

use support::*;

async fn login(session: Session) -> Result<&'static str, SessionError> {
    session.set_user("ann");
    session.set("theme", "dark")?;
    Ok("in")
}

async fn touch(session: Session) -> Result<&'static str, SessionError> {
    session.set("seen", 1)?;
    Ok("ok")
}

/// `user_agent ip keys` of each of ann's sessions, one line each.
async fn devices(sessions: Sessions) -> Result<String, SessionError> {
    let mut out = String::new();
    for s in sessions.of_user("ann").await? {
        let mut keys = s.keys();
        keys.sort();
        out += &format!(
            "{} {} {}\n",
            s.user_agent().unwrap_or("-"),
            s.ip().unwrap_or("-"),
            keys.join(",")
        );
    }
    Ok(out)
}

macro_rules! app {
    ($mw:expr) => {
        test::init_service(
            App::new()
                .wrap($mw)
                .route("/login", web::post().to(login))
                .route("/touch", web::post().to(touch))
                .route("/devices", web::get().to(devices)),
        )
        .await
    };
}

fn sign_in(agent: &str, forwarded_for: Option<&str>) -> actix_http::Request {
    let mut req = test::TestRequest::post()
        .uri("/login")
        .peer_addr("192.0.2.10:50000".parse().unwrap())
        .insert_header(("user-agent", agent.to_owned()));
    if let Some(ip) = forwarded_for {
        req = req.insert_header(("x-forwarded-for", ip.to_owned()));
    }
    req.to_request()
}

#[actix_web::test]
async fn a_sign_in_records_its_user_agent_and_the_peer_never_a_forwarded_header() {
    let app = app!(SessionMiddleware::new(MemoryStore::default()));
    let id = send(&app, sign_in("Firefox/140", Some("203.0.113.66")))
        .await
        .id()
        .unwrap();
    let listed = send(&app, get("/devices", None)).await.body;
    assert_eq!(
        listed, "Firefox/140 192.0.2.10 theme\n",
        "the reserved key is hidden"
    );

    // Later requests, from elsewhere, do not change what the sign-in recorded.
    let req = test::TestRequest::post()
        .uri("/touch")
        .peer_addr("198.51.100.1:1".parse().unwrap())
        .insert_header(("user-agent", "curl/8"))
        .insert_header(cookie_header(&id))
        .to_request();
    send(&app, req).await;
    let listed = send(&app, get("/devices", None)).await.body;
    assert_eq!(listed, "Firefox/140 192.0.2.10 seen,theme\n");
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_recorded() {
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .client_ip(ClientIp::Forwarded)
        .build();
    let app = app!(mw);
    send(&app, sign_in("Safari", Some("203.0.113.66"))).await;
    send(&app, sign_in("Edge", Some("[2001:db8::7]:443"))).await;
    send(&app, sign_in("Opera", Some("not an address"))).await;
    let mut listed: Vec<String> = send(&app, get("/devices", None))
        .await
        .body
        .lines()
        .map(str::to_owned)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "Edge 2001:db8::7 theme",
            "Opera - theme",
            "Safari 203.0.113.66 theme"
        ]
    );
}

#[actix_web::test]
async fn turned_off_nothing_is_stored() {
    let store = MemoryStore::default();
    let mw = SessionMiddleware::builder(store.clone())
        .record_device(false)
        .build();
    let app = app!(mw);
    let id = send(&app, sign_in("Firefox/140", None)).await.id().unwrap();
    assert_eq!(send(&app, get("/devices", None)).await.body, "- - theme\n");
    let stored = store
        .load(&SessionId::parse(&id).unwrap(), Fetch::All)
        .await
        .unwrap()
        .unwrap()
        .into_record();
    let mut keys: Vec<&str> = stored.data.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["theme"], "no device key in the store");

    // The IP alone can be left out.
    let mw = SessionMiddleware::builder(MemoryStore::default())
        .client_ip(ClientIp::Off)
        .build();
    let app = app!(mw);
    send(&app, sign_in("Firefox/140", None)).await;
    assert_eq!(
        send(&app, get("/devices", None)).await.body,
        "Firefox/140 - theme\n"
    );
}

/// The cookie store cannot list its sessions, so it records no device: its cookie stays as long
/// as the session's own values make it.
#[actix_web::test]
async fn the_cookie_store_records_no_device() {
    let store = CookieStore::encrypted([7; 32]).build().unwrap();
    let app = app!(SessionMiddleware::new(store.clone()));
    let res = test::call_service(&app, sign_in("Firefox/140", None)).await;
    let after = TestSession::new(&store).read(&res).await.unwrap();
    assert_eq!(after.user().as_deref(), Some("ann"));
    assert_eq!(after.keys(), ["theme"]);
}
