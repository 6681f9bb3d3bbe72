//! `examples/devices.rs` over HTTP with two cookie jars (two browsers): both sessions are on
//! the devices page with their device, one ends the other, then logs out everywhere.

#[allow(dead_code)] // its `main` runs the server; the tests use its routes
#[path = "../examples/devices.rs"]
mod devices;

mod support;

use actix_typed_session::store::MemoryStore;
use actix_typed_session::SessionMiddleware;
use actix_web::{test, App};

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
