//! One conformance suite for every store: the commit rules driven over HTTP.
//!
//! [`conformance_suite!`](crate::conformance_suite) `(store_expr)` expands to one `#[actix_web::test]` per behaviour; each test
//! gets a fresh store from the expression. What the store holds is checked through the
//! store's traits themselves, so the suite works for any store.

use actix_web::web;

pub use super::events::*;
pub use super::harness::*;
pub use super::rotation::*;
pub use super::users::*;
use super::*;
use crate::clock::ManualClock;
use std::time::Duration;

macro_rules! app {
    ($store:expr, $clock:expr) => {
        app($store, $clock).await
    };
}

/// Instantiates every conformance test for the store built by `$make` (an expression evaluated
/// afresh in each test; it may `.await`).
#[macro_export]
macro_rules! conformance_suite {
    (sequential without_users let $var:ident = $init:expr; $make:expr) => {
        $crate::conformance_suite!(@core sequential [($var, $init) $make]);
    };
    (sequential let $var:ident = $init:expr; $make:expr) => {
        $crate::conformance_suite!(@names sequential ($var, $init) $make);
    };
    // Only the named cases, for a store where the others do not apply.
    (cases $make:expr; $($name:ident),* $(,)?) => {
        $crate::conformance_suite!(@tests $make; $($name),*);
    };
    // Every case but the user index's, for a store without it.
    (without_users $make:expr) => {
        $crate::conformance_suite!(@core tests [$make]);
    };
    ($make:expr) => {
        $crate::conformance_suite!(@names tests $make);
    };
    (@names $how:ident $($setup:tt)*) => {
        $crate::conformance_suite!(@core $how [$($setup)*]
            users_tie_list_and_revoke,
            users_log_out_others_and_everywhere,
            users_change_id_and_expire_keep_the_index_right,
            users_cap_ends_the_oldest_session,
            users_are_listed_in_sign_in_order,
            users_last_seen_is_kept_fresh,
            users_revocation_beats_a_concurrent_save,
            users_two_apps_on_one_store_share_the_index,
            users_any_user_id_is_hashed,
            users_revoke_all_during_a_rotation_wins,
            users_revoke_during_a_rotation_wins,
            users_cap_during_a_rotation_wins,
            users_revoke_all_while_ids_change,
            users_cap_keeps_exactly_the_newest_under_concurrent_logins,
            users_events_name_the_user_and_who_revoked,
            users_reuse_after_grace_can_end_every_session_of_the_user,
        );
    };
    (@core $how:ident [$($setup:tt)*] $($extra:ident),* $(,)?) => {
        $crate::conformance_suite!(@$how $($setup)*;
            $($extra,)*
            first_write_creates_session,
            new_visitor_storing_nothing_gets_no_cookie,
            data_persists_across_requests,
            unchanged_session_is_not_rewritten,
            unknown_id_is_never_adopted,
            junk_ids_give_fresh_sessions,
            expired_id_is_never_adopted,
            expire_deletes_and_removes_cookie,
            change_id_moves_data_to_new_id,
            change_id_beats_no_store,
            no_store_writes_nothing,
            server_error_commits_nothing,
            server_error_still_expires,
            late_store_saves_streamed_changes,
            without_late_store_streamed_changes_are_lost,
            visitors_are_isolated,
            idle_timeout_slides,
            absolute_timeout_ends_busy_session,
            clear_empties_stored_session,
            concurrent_requests_keep_different_keys,
            logout_elsewhere_beats_a_concurrent_save,
            logout_during_a_save_is_never_undone,
            logout_elsewhere_during_a_rotation_wins,
            events_follow_a_session_from_creation_to_logout,
            rotation_renews_the_id_and_the_old_one_opens_within_grace,
            rotation_concurrent_requests_across_a_renewal_all_succeed,
            rotation_never_gives_change_id_a_grace_window,
        );
    };
    // One test that runs every case in turn, for a backend too costly to start per case.
    (@sequential ($var:ident, $init:expr) $make:expr; $($name:ident),* $(,)?) => {
        #[::actix_web::test]
        async fn conformance_in_sequence() {
            let $var = $init;
            $(
                eprintln!("conformance: {}", stringify!($name));
                $crate::testing::conformance::$name($make).await;
            )*
        }
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[::actix_web::test]
            async fn $name() {
                let store = $make;
                $crate::testing::conformance::$name(store).await;
            }
        )*
    };
}

/// Conformance case: first write creates session.
pub async fn first_write_creates_session<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.body, "1");
    let cookie = res.session().expect("first write sets the cookie");
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(cookie.max_age(), None, "browser-session cookie by default");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("vary"), Some("Cookie"));
    let id = res.id().unwrap();
    assert_eq!(stored_value(&store, &id, "counter").await, Some(1.into()));
}

/// Conformance case: new visitor storing nothing gets no cookie.
pub async fn new_visitor_storing_nothing_gets_no_cookie<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let res = send(&app, get("/read", None)).await;
    assert_eq!(res.body, "none");
    assert!(
        res.cookies.is_empty(),
        "no cookie for a visitor who stores nothing"
    );
    assert_eq!(
        res.header("vary"),
        Some("Cookie"),
        "the response depends on the cookie"
    );
    assert_eq!(res.header("cache-control"), None);
    let res = send(&app, get("/untouched", None)).await;
    assert!(res.cookies.is_empty());
    assert_eq!(
        res.header("vary"),
        None,
        "a route that never reads the session does not vary"
    );
}

/// Conformance case: data persists across requests.
pub async fn data_persists_across_requests<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    for expected in 2..=4 {
        let res = send(&app, get("/incr", Some(&id))).await;
        assert_eq!(res.body, expected.to_string());
        assert!(res.session().is_none(), "a known id is not re-sent");
    }
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "4");
    assert_eq!(stored_value(&store, &id, "counter").await, Some(4.into()));
}

/// Conformance case: unchanged session is not rewritten.
pub async fn unchanged_session_is_not_rewritten<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new();
    let counted = Instrumented::new(store.clone());
    let app = app!(counted.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let saves = counted.calls.save();
    let res = send(&app, get("/read", Some(&id))).await;
    assert_eq!(res.body, "1");
    assert!(res.cookies.is_empty());
    assert_eq!(
        counted.calls.save(),
        saves,
        "an unchanged session is not saved"
    );
    assert_eq!(counted.calls.touch(), 0, "no touch before the refresh step");
}

/// Conformance case: unknown id is never adopted.
pub async fn unknown_id_is_never_adopted<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let chosen = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; // well formed, never issued
    let res = send(&app, get("/incr", Some(chosen))).await;
    assert_eq!(res.body, "1");
    let id = res.id().expect("a new id is issued");
    assert_ne!(id, chosen);
    assert!(
        stored(&store, chosen).await.is_none(),
        "nothing under the client's id"
    );
    assert!(stored(&store, &id).await.is_some());
}

/// Conformance case: junk ids give fresh sessions.
pub async fn junk_ids_give_fresh_sessions<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let long = "A".repeat(33);
    let garbage = "x%00y".repeat(2_000);
    for junk in [
        "../wrong",
        "",
        long.as_str(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        "AAAAAAAAAAAAAAAA AAAAAAAAAAAAAAA",
        garbage.as_str(),
    ] {
        let res = send(&app, get("/incr", Some(junk))).await;
        assert_eq!(res.status, 200, "junk {junk:.20?}");
        assert_eq!(res.body, "1", "junk {junk:.20?} gives a fresh session");
        let id = res.id().unwrap();
        assert_ne!(id, junk);
    }
}

/// Conformance case: expired id is never adopted.
pub async fn expired_id_is_never_adopted<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    clock.advance(IDLE + Duration::from_secs(1));
    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(res.body, "1", "expired: a fresh session");
    assert_ne!(res.id().unwrap(), id, "with a new id");
}

/// Conformance case: expire deletes and removes cookie.
pub async fn expire_deletes_and_removes_cookie<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, post("/logout", Some(&id))).await;
    assert_eq!(res.body, "out");
    let removal = res.removal().expect("removal cookie");
    assert_eq!(removal.path(), Some("/"));
    assert_eq!(removal.max_age(), Some(cookie::time::Duration::ZERO));
    assert!(removal.expires_datetime().unwrap() < cookie::time::OffsetDateTime::now_utc());
    assert_eq!(removal.http_only(), Some(true));
    assert_eq!(removal.secure(), Some(true));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(stored(&store, &id).await.is_none(), "store entry gone");
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "none");
}

/// Conformance case: change id moves data to new id.
pub async fn change_id_moves_data_to_new_id<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let old = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, post("/login", Some(&old))).await;
    let new = res.id().expect("new id sent");
    assert_ne!(new, old);
    assert!(stored(&store, &old).await.is_none(), "old id dead");
    assert_eq!(stored_value(&store, &new, "counter").await, Some(1.into()));
    assert_eq!(
        stored_value(&store, &new, "user").await,
        Some("alice".into())
    );
    assert_eq!(send(&app, get("/read", Some(&old))).await.body, "none");
    assert_eq!(send(&app, get("/read", Some(&new))).await.body, "1");
}

/// Conformance case: change id beats no store.
pub async fn change_id_beats_no_store<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let old = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, post("/login_no_store", Some(&old))).await;
    let new = res.id().expect("new id even with no_store");
    assert!(stored(&store, &old).await.is_none());
    assert_eq!(stored_value(&store, &new, "user").await, Some("bob".into()));
}

/// Conformance case: no store writes nothing.
pub async fn no_store_writes_nothing<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let res = send(&app, post("/preview", None)).await;
    assert_eq!(res.body, "preview");
    assert!(res.cookies.is_empty(), "new session, no_store: no cookie");
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, post("/preview", Some(&id))).await;
    assert!(res.cookies.is_empty());
    assert_eq!(stored_value(&store, &id, "counter").await, Some(1.into()));
}

/// Conformance case: server error commits nothing.
pub async fn server_error_commits_nothing<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let res = send(&app, post("/set_fail", None)).await;
    assert_eq!(res.status, 500);
    assert!(res.cookies.is_empty());
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, post("/set_fail", Some(&id))).await;
    assert!(res.cookies.is_empty(), "no rotation on 5xx");
    assert_eq!(stored_value(&store, &id, "counter").await, Some(1.into()));
}

/// Conformance case: server error still expires.
pub async fn server_error_still_expires<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, post("/logout_fail", Some(&id))).await;
    assert_eq!(res.status, 500);
    assert!(res.removal().is_some(), "logout honoured on 5xx");
    assert!(stored(&store, &id).await.is_none());
}

/// Conformance case: late store saves streamed changes.
pub async fn late_store_saves_streamed_changes<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let res = send(&app, get("/stream_late", None)).await;
    assert_eq!(res.body, "chunk0;chunk1;chunk2;");
    let id = res.id().expect("a new session's id goes out with the head");
    assert_eq!(
        stored_value(&store, &id, "streamed").await,
        Some(2.into()),
        "the value set while the last chunk streamed is saved"
    );
    let id2 = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, get("/stream_late", Some(&id2))).await;
    assert!(res.session().is_none(), "known session: nothing to send");
    assert_eq!(stored_value(&store, &id2, "streamed").await, Some(2.into()));
    assert_eq!(stored_value(&store, &id2, "counter").await, Some(1.into()));
}

/// Conformance case: without late store streamed changes are lost.
pub async fn without_late_store_streamed_changes_are_lost<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let res = send(&app, get("/stream_early", Some(&id))).await;
    assert_eq!(res.body, "chunk0;chunk1;chunk2;");
    assert_eq!(stored_value(&store, &id, "streamed").await, None);
}

/// Conformance case: visitors are isolated.
pub async fn visitors_are_isolated<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let a = send(&app, post("/set/name/ann", None)).await.id().unwrap();
    let b = send(&app, post("/set/name/ben", None)).await.id().unwrap();
    assert_ne!(a, b);
    assert_eq!(send(&app, get("/get/name", Some(&a))).await.body, "ann");
    assert_eq!(send(&app, get("/get/name", Some(&b))).await.body, "ben");
    send(&app, post("/logout", Some(&a))).await;
    assert_eq!(send(&app, get("/get/name", Some(&a))).await.body, "none");
    assert_eq!(send(&app, get("/get/name", Some(&b))).await.body, "ben");
}

/// Conformance case: idle timeout slides.
pub async fn idle_timeout_slides<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new();
    let counted = Instrumented::new(store.clone());
    let app = app!(counted.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    // Read every 0.6 idle periods: alive long past the first idle deadline, thanks to touches.
    for _ in 0..4 {
        clock.advance(IDLE * 6 / 10);
        assert_eq!(send(&app, get("/read", Some(&id))).await.body, "1");
    }
    assert!(
        counted.calls.touch() >= 1,
        "unchanged reads pushed the expiry forward"
    );
    assert!(counted.calls.touch() <= 4);
    clock.advance(IDLE + Duration::from_secs(1));
    assert_eq!(send(&app, get("/read", Some(&id))).await.body, "none");
}

/// Conformance case: absolute timeout ends busy session.
pub async fn absolute_timeout_ends_busy_session<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let step = IDLE / 2;
    let mut elapsed = Duration::ZERO;
    while elapsed + step < ABSOLUTE {
        clock.advance(step);
        elapsed += step;
        let res = send(&app, get("/incr", Some(&id))).await;
        assert_ne!(res.body, "1", "still alive after {elapsed:?}");
    }
    clock.advance(step);
    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(
        res.body, "1",
        "ended at the absolute timeout though used constantly"
    );
    assert_ne!(res.id().unwrap(), id);
}

/// Conformance case: clear empties stored session.
pub async fn clear_empties_stored_session<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, post("/set/a/1", None)).await.id().unwrap();
    send(&app, post("/set/b/2", Some(&id))).await;
    send(&app, post("/clear", Some(&id))).await;
    assert_eq!(send(&app, get("/get/a", Some(&id))).await.body, "none");
    assert_eq!(send(&app, get("/get/b", Some(&id))).await.body, "none");
}

/// Two requests of one session run truly concurrently (both load before either saves) and
/// change different keys: both changes survive where the store saves per key.
pub async fn concurrent_requests_keep_different_keys<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(store.clone(), &clock);
    let id = send(&app, post("/set/base/0", None)).await.id().unwrap();
    let (a, b) = futures_util::future::join(
        send(&app, post("/set_in_step/left/1", Some(&id))),
        send(&app, post("/set_in_step/right/2", Some(&id))),
    )
    .await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (200, 200));
    assert_eq!(stored_value(&store, &id, "left").await, Some("1".into()));
    assert_eq!(stored_value(&store, &id, "right").await, Some("2".into()));
    assert_eq!(stored_value(&store, &id, "base").await, Some("0".into()));
}

/// Request A loads the session and changes it; meanwhile request B logs out. A's save must not
/// bring the session back.
pub async fn logout_elsewhere_beats_a_concurrent_save<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let signal = web::Data::new(tokio::sync::Notify::new());
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(middleware(store.clone(), &clock))
            .configure(routes)
            .app_data(signal.clone()),
    )
    .await;
    let id = send(&app, post("/set/a/1", None)).await.id().unwrap();
    let (held, logout) =
        futures_util::future::join(send(&app, post("/hold/b/2", Some(&id))), async {
            let res = send(&app, post("/logout", Some(&id))).await;
            signal.notify_one();
            res
        })
        .await;
    assert_eq!(held.body, "held");
    assert!(logout.removal().is_some());
    assert!(
        stored(&store, &id).await.is_none(),
        "the held save did not resurrect the session"
    );
    assert_eq!(send(&app, get("/get/a", Some(&id))).await.body, "none");
}

/// A store whose save of an existing session also deletes that session, both at once (joined
/// futures, so a store that works on other threads or connections really runs them together):
/// a logout that lands while a save is in progress.
#[derive(Clone)]
struct LogoutDuringSave<S>(S);

impl<S: SessionStore> SessionStore for LogoutDuringSave<S> {
    async fn load(&self, id: &SessionId, fetch: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        self.0.load(id, fetch).await
    }
    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        if changes.created {
            return self.0.save(id, meta, changes).await;
        }
        // The save starts first: the delete lands while it is under way.
        let (saved, deleted) =
            futures_util::future::join(self.0.save(id, meta, changes), self.0.delete(id)).await;
        saved.and(deleted)
    }
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.0.delete(id).await
    }
    async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        self.0.change_id(old, new, meta, changes).await
    }
    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        self.0.touch(id, meta).await
    }
    fn user_index(&self) -> Option<IndexRef<'_>> {
        self.0.user_index()
    }
}

/// How many sessions [`logout_during_a_save_is_never_undone`] logs out during a save.
pub const RACE_ROUNDS: usize = 200;

/// A request changes a key of a stored session while a logout deletes it, the delete landing
/// during the save ([`RACE_ROUNDS`] times, over HTTP): the session stays deleted every time.
pub async fn logout_during_a_save_is_never_undone<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new();
    let app = app!(LogoutDuringSave(store.clone()), &clock);
    let mut resurrected = 0;
    for _ in 0..RACE_ROUNDS {
        let id = send(&app, post("/set/a/1", None)).await.id().unwrap();
        let res = send(&app, post("/set/b/2", Some(&id))).await;
        assert_eq!(res.status, 200, "{}", res.body);
        if stored(&store, &id).await.is_some() {
            resurrected += 1;
        }
    }
    assert_eq!(
        resurrected, 0,
        "{resurrected} of {RACE_ROUNDS} sessions deleted during a save came back"
    );
}

/// A request loads a stored session and changes its id (a login on a slow handler, or a thief's
/// replay on a route that rotates) while another tab logs out: the rotation finds the session
/// gone, issues no id and removes the cookie; the logout wins.
pub async fn logout_elsewhere_during_a_rotation_wins<S: IntoBackend + Clone>(store: S) {
    let clock = ManualClock::new();
    let held = web::Data::new(Held::default());
    let app = actix_web::test::init_service(
        actix_web::App::new()
            .wrap(middleware(store.clone(), &clock))
            .configure(routes)
            .app_data(held.clone()),
    )
    .await;
    let id = send(&app, post("/set/a/1", None)).await.id().unwrap();
    let res = rotating_while(&app, &held, &id, async {
        let out = send(&app, post("/logout", Some(&id))).await;
        assert!(out.removal().is_some());
    })
    .await;
    assert_rotation_refused(&res, "nobody");
    assert!(stored(&store, &id).await.is_none(), "the logout stands");
    // Without the race, the same request rotates as usual.
    let id = send(&app, post("/set/a/1", None)).await.id().unwrap();
    let res = rotating_while(&app, &held, &id, async {}).await;
    let new = res.id().expect("a new id");
    assert_ne!(new, id);
    assert!(stored(&store, &id).await.is_none(), "the old id is gone");
    assert_eq!(send(&app, get("/get/a", Some(&new))).await.body, "1");
}
