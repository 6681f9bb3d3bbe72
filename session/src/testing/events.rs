//! The conformance cases of session events ([`on_event`](crate::SessionMiddlewareBuilder::on_event)),
//! driven over HTTP like the rest of the suite: what a session's life reports on every store,
//! and, on a store with the user index, who revoked what.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::harness::{builder, ABSOLUTE};
use super::users::{login, user_app, with_id};
use super::*;
use crate::clock::ManualClock;
use crate::SessionEvent;

/// The events a middleware emitted, in order.
#[derive(Clone, Default)]
pub struct Recorded(Arc<Mutex<Vec<SessionEvent>>>);

impl Recorded {
    /// A hook for [`on_event`](crate::SessionMiddlewareBuilder::on_event) that records here.
    pub fn hook(&self) -> impl Fn(&SessionEvent) + Send + Sync + 'static {
        let events = self.0.clone();
        move |e: &SessionEvent| events.lock().unwrap().push(e.clone())
    }

    /// The events since the last call, each as `kind[:reason] [user] [handle] [xN]` (the
    /// handle as `h` plus its first 6 characters; `xN` for an event about N > 1 sessions).
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .iter()
            .map(describe)
            .collect()
    }

    /// The events since the last call, as they came.
    pub fn take_events(&self) -> Vec<SessionEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// An event in the short form of [`Recorded::take`].
pub fn describe(e: &SessionEvent) -> String {
    let mut out = e.kind.name().to_owned();
    if !e.kind.reason().is_empty() {
        out = format!("{out}:{}", e.kind.reason());
    }
    if let Some(user) = &e.user {
        out = format!("{out} {user}");
    }
    if let Some(handle) = &e.handle {
        out = format!("{out} h{}", &handle.as_str()[..6]);
    }
    if e.sessions != 1 {
        out = format!("{out} x{}", e.sessions);
    }
    out
}

/// `h` plus the first 6 characters of a handle given as text, as [`describe`] writes it.
fn short(handle: &str) -> String {
    format!("h{}", &handle[..6])
}

/// Conformance case: a session's life as events: created at its first save (no user, no
/// handle), nothing for reads and later saves, created again under `change_id` for a session
/// never stored, rotated for a stored one, revoked by the user at logout, expired when a
/// request presents it past the absolute timeout of a stricter middleware; never the id.
pub async fn events_follow_a_session_from_creation_to_logout<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let events = Recorded::default();
    let mw = builder(store.clone(), &clock)
        .on_event(events.hook())
        .build();
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(mw)
            .configure(super::harness::routes),
    )
    .await;
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    assert_eq!(events.take(), ["created"]);
    let res = send(&app, get("/incr", Some(&id))).await;
    let id = res.id().unwrap_or(id);
    send(&app, get("/read", Some(&id))).await;
    send(&app, get("/read", None)).await;
    assert_eq!(events.take(), Vec::<String>::new(), "reads and updates");

    let fresh = send(&app, post("/login", None)).await.id().unwrap();
    assert_eq!(events.take(), ["created"], "change_id of a new session");
    let rotated = send(&app, post("/login", Some(&id))).await.id().unwrap();
    let recorded = events.take_events();
    assert_eq!(recorded.len(), 1);
    assert_eq!(describe(&recorded[0]), "rotated");
    assert!(
        !format!("{:?}", recorded[0]).contains(&rotated)
            && !format!("{:?}", recorded[0]).contains(&id),
        "an event never carries the id"
    );

    send(&app, post("/logout", Some(&rotated))).await;
    assert_eq!(events.take(), ["revoked:user"]);
    send(&app, post("/logout", None)).await;
    assert_eq!(events.take(), Vec::<String>::new(), "nothing to end");

    // A middleware with a shorter absolute timeout on the same store finds the session too
    // old: the store still holds it (its expiry was set by the first middleware).
    let strict = builder(store.clone(), &clock)
        .absolute_timeout(ABSOLUTE / 2)
        .on_event(events.hook())
        .build();
    let strict = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(strict)
            .configure(super::harness::routes),
    )
    .await;
    // Used every 500 s (within the idle timeout) for 2000 s.
    let mut fresh = fresh;
    for _ in 0..4 {
        clock.advance(Duration::from_secs(500));
        fresh = send(&app, get("/incr", Some(&fresh)))
            .await
            .id()
            .unwrap_or(fresh);
    }
    assert!(ABSOLUTE / 2 < Duration::from_secs(2000) && ABSOLUTE > Duration::from_secs(2000));
    assert_eq!(events.take(), Vec::<String>::new());
    assert_eq!(send(&strict, get("/read", Some(&fresh))).await.body, "none");
    assert_eq!(events.take(), ["expired:absolute"]);
}

/// Conformance case: sign-ins and revocations name the user, the handle and who ended the
/// session: the user (a logout, "log out everywhere"), another of their devices, the cap, an
/// admin (a request of no session of the user); a revocation of several sessions says how many.
pub async fn users_events_name_the_user_and_who_revoked<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let events = Recorded::default();
    let mw = builder(store.clone(), &clock)
        .max_sessions_per_user(3)
        .on_event(events.hook())
        .build();
    let app = user_app(mw).await;
    let sign_in = |device: &'static str| {
        clock.advance(Duration::from_secs(1));
        login("cy", device)
    };
    let a = send(&app, sign_in("phone")).await;
    let (a, ha) = (a.id().unwrap(), a.body);
    let b = send(&app, sign_in("laptop")).await;
    let (b, hb) = (b.id().unwrap(), b.body);
    assert_eq!(
        events.take(),
        [
            format!("created cy {}", short(&ha)),
            format!("tied cy {}", short(&ha)),
            format!("created cy {}", short(&hb)),
            format!("tied cy {}", short(&hb)),
        ],
        "a sign-in of a new visitor: created (already tied), then tied"
    );
    let c = send(&app, sign_in("tablet")).await;
    let (c, hc) = (c.id().unwrap(), c.body);
    let d = send(&app, sign_in("watch")).await;
    let (d, hd) = (d.id().unwrap(), d.body);
    assert_eq!(
        events.take(),
        [
            format!("created cy {}", short(&hc)),
            format!("tied cy {}", short(&hc)),
            format!("created cy {}", short(&hd)),
            format!("tied cy {}", short(&hd)),
            format!("revoked:cap cy {}", short(&ha)),
        ],
        "the fourth sign-in ends the oldest"
    );
    let _ = a;

    // From the laptop: end the tablet (another device), then the laptop itself (the user).
    let revoke = |user: &str, handle: &str, id: Option<&str>| {
        let req = actix_web::test::TestRequest::post().uri(&format!("/u/revoke/{user}/{handle}"));
        match id {
            Some(id) => with_id(req, id),
            None => req.to_request(),
        }
    };
    assert_eq!(send(&app, revoke("cy", &hc, Some(&b))).await.body, "true");
    assert_eq!(
        events.take(),
        [format!("revoked:other_device cy {}", short(&hc))]
    );
    assert_eq!(send(&app, revoke("cy", &hb, Some(&b))).await.body, "true");
    assert_eq!(events.take(), [format!("revoked:user cy {}", short(&hb))]);
    // Nothing ended, nothing reported.
    assert_eq!(send(&app, revoke("cy", &hb, Some(&d))).await.body, "false");
    assert_eq!(events.take(), Vec::<String>::new());
    let _ = c;

    // Two more sign-ins; from the watch, sign out every other device (two sessions), then
    // everywhere (the watch alone is left: one session, reported once).
    let e = send(&app, sign_in("tv")).await.id().unwrap();
    let f = send(&app, sign_in("car")).await.id().unwrap();
    events.take();
    let others = actix_web::test::TestRequest::post().uri("/u/logout_others");
    let res = send(&app, with_id(others, &d)).await;
    let d = res.id().unwrap_or(d);
    assert_eq!(events.take(), ["revoked:other_device cy x2"]);
    let all = actix_web::test::TestRequest::post().uri("/u/logout_all");
    assert!(send(&app, with_id(all, &d)).await.removal().is_some());
    assert_eq!(
        events.take(),
        ["revoked:user cy"],
        "one event, the session itself included"
    );
    let _ = (e, f);

    // An admin: a request without a session of the user, one session, then all.
    let g = send(&app, sign_in("desk")).await.body;
    send(&app, sign_in("desk2")).await;
    events.take();
    assert_eq!(send(&app, revoke("cy", &g, None)).await.body, "true");
    assert_eq!(events.take(), [format!("revoked:admin cy {}", short(&g))]);
    let all = actix_web::test::TestRequest::post().uri("/u/revoke_all/cy");
    assert_eq!(send(&app, all.to_request()).await.body, "1");
    assert_eq!(events.take(), ["revoked:admin cy"]);
}
