//! NullStore: the session API works, nothing is kept.

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::NullStore;

use support::*;

#[actix_web::test]
async fn every_request_starts_afresh() {
    let clock = ManualClock::new();
    let app = suite_app!(NullStore, &clock);
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.body, "1");
    let id = res.id().expect("a write still issues an id");
    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(res.body, "1", "nothing was kept");
    assert_ne!(res.id().unwrap(), id, "and the old id is not adopted");
    assert!(stored(&NullStore, &id).await.is_none());
}

#[actix_web::test]
async fn options_and_junk_behave() {
    let clock = ManualClock::new();
    let app = suite_app!(NullStore, &clock);
    let res = send(&app, post("/logout", Some("../junk"))).await;
    assert_eq!(res.status, 200);
    assert!(res.removal().is_some(), "expire still removes the cookie");
    let res = send(&app, post("/login", None)).await;
    assert!(res.id().is_some(), "change_id issues an id");
    let res = send(&app, post("/preview", None)).await;
    assert!(res.cookies.is_empty(), "no_store sends nothing");
    let res = send(&app, get("/read", None)).await;
    assert!(res.cookies.is_empty(), "empty new session: nothing sent");
    let res = send(&app, get("/stream_late", None)).await;
    assert_eq!(res.body, "chunk0;chunk1;chunk2;");
}
