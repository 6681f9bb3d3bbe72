//! FileStore: the conformance suite, plus file names, modes, atomicity, corruption and sweeping.

use std::sync::Arc;
use std::time::Duration;

use actix_typed_session::clock::{Clock, ManualClock, SystemClock};
use actix_typed_session::store::{
    Bytes, Changes, Fetch, FileStore, Meta, SessionStore, SessionUser, UserIndex, UserKey,
};
use actix_typed_session::SessionId;
use actix_web::http::StatusCode;

use actix_typed_session::testing::users::expire_tied_sessions;
use support::*;

fn file_store() -> Guarded<FileStore> {
    let dir = TempDir::new("file");
    let store = FileStore::builder(dir.0.join("sessions"))
        .fsync(false)
        .build()
        .unwrap();
    Guarded {
        store,
        guard: Arc::new(dir),
    }
}

actix_typed_session::conformance_suite!(file_store());

/// The store's lock files, as every store on a directory makes them.
fn lock_file_names() -> Vec<String> {
    (0..32).map(|i| format!(".lock-{i:02x}")).collect()
}

/// The names in `dir`, sorted, split into the store's lock files and everything else.
fn names_in(dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let locks = lock_file_names();
    names.into_iter().partition(|n| locks.contains(n))
}

#[actix_web::test]
async fn files_are_named_by_hash_private_and_complete() {
    let dir = TempDir::new("file-names");
    let store = FileStore::new(dir.0.join("s")).unwrap(); // fsync on: the default
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let (locks, names) = names_in(&dir.0.join("s"));
    let expected = format!("{}.session", SessionId::parse(&id).unwrap().store_key());
    assert_eq!(
        names,
        [expected],
        "one session file, named by the hash, no temp file left"
    );
    assert!(!names[0].contains(&id));
    assert_eq!(locks, lock_file_names(), "and the store's lock files");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = store.path(&SessionId::parse(&id).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        for lock in &locks {
            let meta = std::fs::metadata(dir.0.join("s").join(lock)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{lock}");
            assert_eq!(meta.len(), 0, "{lock} holds nothing");
        }
        let dir_mode = std::fs::metadata(dir.0.join("s"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
}

#[test]
fn unusable_directory_fails_at_build_time() {
    let dir = TempDir::new("file-bad");
    std::fs::create_dir_all(&dir.0).unwrap();
    let not_a_dir = dir.0.join("plain-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let err = FileStore::new(not_a_dir.join("sessions"))
        .err()
        .expect("rejected");
    assert!(err.to_string().contains("file store"), "{err}");
}

#[actix_web::test]
async fn corrupt_file_is_treated_as_absent() {
    let dir = TempDir::new("file-corrupt");
    let store = FileStore::builder(&dir.0).fsync(false).build().unwrap();
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let path = store.path(&SessionId::parse(&id).unwrap());
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..full.len() / 2]).unwrap(); // truncated
    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.body, "1", "a fresh session, not a 500");
    assert_ne!(res.id().unwrap(), id);
}

#[actix_web::test]
async fn failing_disk_answers_503_and_leaves_no_partial_file() {
    let dir = TempDir::new("file-fail");
    let sessions = dir.0.join("s");
    let store = FileStore::builder(&sessions).fsync(false).build().unwrap();
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    // The directory vanishes and a plain file takes its place: every write now fails (as on a
    // full or read-only disk, which root can write through in a test).
    std::fs::remove_dir_all(&sessions).unwrap();
    std::fs::write(&sessions, b"").unwrap();
    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a failed save is not a success"
    );
    assert!(res.cookies.is_empty());
    // Put the directory back: the store works again, and no temp file was left behind.
    std::fs::remove_file(&sessions).unwrap();
    std::fs::create_dir(&sessions).unwrap();
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.status, StatusCode::OK);
    let (_locks, names) = names_in(&sessions);
    assert_eq!(names.len(), 1, "one session file, no temp file: {names:?}");
}

/// A store on a new directory, on a manual clock, that sweeps only when asked.
fn clocked_store(tag: &str) -> (TempDir, ManualClock, FileStore) {
    let dir = TempDir::new(tag);
    let clock = ManualClock::new();
    let store = FileStore::builder(&dir.0)
        .fsync(false)
        .clock(clock.clone())
        .sweep_interval(Duration::from_secs(3600 * 24))
        .build()
        .unwrap();
    (dir, clock, store)
}

#[actix_web::test]
async fn expired_files_are_swept() {
    let (dir, clock, store) = clocked_store("file-sweep");
    let app = suite_app!(store.clone(), &clock);
    for _ in 0..3 {
        send(&app, get("/incr", None)).await;
    }
    assert_eq!(store.sweep().unwrap(), 0, "nothing expired yet");
    clock.advance(conformance::IDLE + Duration::from_secs(1));
    assert_eq!(store.sweep().unwrap(), 3);
    let (locks, names) = names_in(&dir.0);
    assert_eq!(names, Vec::<String>::new(), "every session file swept");
    assert_eq!(locks, lock_file_names(), "the lock files stay");
}

#[actix_web::test]
async fn sweeping_runs_in_the_background() {
    let dir = TempDir::new("file-bg");
    let clock = ManualClock::new();
    let store = FileStore::builder(&dir.0)
        .fsync(false)
        .clock(clock.clone())
        .sweep_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let app = suite_app!(store.clone(), &clock);
    let stale = send(&app, get("/incr", None)).await.id().unwrap();
    clock.advance(conformance::IDLE + Duration::from_secs(1));
    // Any request past the interval starts a sweep on the blocking pool.
    send(&app, get("/incr", None)).await;
    let stale_path = store.path(&SessionId::parse(&stale).unwrap());
    for _ in 0..500 {
        if !stale_path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the expired file was not swept");
}

/// Two stores on one directory, built independently: their own in-process locks and their own
/// lock-file descriptors, as two processes sharing the directory have.
fn two_stores_on_one_dir(tag: &str) -> (TempDir, FileStore, FileStore) {
    let dir = TempDir::new(tag);
    let a = FileStore::builder(&dir.0).fsync(false).build().unwrap();
    let b = FileStore::builder(&dir.0).fsync(false).build().unwrap();
    (dir, a, b)
}

/// Live metadata: created now, expiring in ten minutes.
fn meta() -> Meta {
    let now = SystemClock.now();
    Meta::new(now, now + 600)
}

/// A new session holding `key = value` (JSON-encoded, as the middleware stores values).
fn full(pairs: &[(&str, &str)]) -> Changes {
    Changes::full(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Bytes::from(serde_json::to_vec(v).unwrap()))),
    )
}

/// A save of an existing session that changes only `key`.
fn set_only(key: &str, value: &str) -> Changes {
    Changes {
        set: full(&[(key, value)]).set,
        ..Changes::default()
    }
}

const CROSS_ROUNDS: usize = 200;

#[actix_web::test]
async fn logout_in_one_process_beats_a_save_in_another() {
    let (_dir, a, b) = two_stores_on_one_dir("file-xproc-delete");
    let mut resurrected = 0;
    for _ in 0..CROSS_ROUNDS {
        let id = SessionId::generate();
        a.save(&id, &meta(), &full(&[("a", "1")])).await.unwrap();
        let (saved, deleted) =
            futures_util::future::join(b.save(&id, &meta(), &set_only("b", "2")), a.delete(&id))
                .await;
        saved.unwrap();
        deleted.unwrap();
        if a.load(&id, Fetch::All).await.unwrap().is_some() || b.path(&id).exists() {
            resurrected += 1;
        }
    }
    assert_eq!(
        resurrected, 0,
        "{resurrected} of {CROSS_ROUNDS} sessions deleted by one process came back through \
         another's save"
    );
}

#[actix_web::test]
async fn saves_from_two_processes_keep_different_keys() {
    let (_dir, a, b) = two_stores_on_one_dir("file-xproc-merge");
    let mut lost = 0;
    for _ in 0..CROSS_ROUNDS {
        let id = SessionId::generate();
        a.save(&id, &meta(), &full(&[("base", "0")])).await.unwrap();
        let (left, right) = futures_util::future::join(
            a.save(&id, &meta(), &set_only("left", "1")),
            b.save(&id, &meta(), &set_only("right", "2")),
        )
        .await;
        left.unwrap();
        right.unwrap();
        let stored = b
            .load(&id, Fetch::All)
            .await
            .unwrap()
            .expect("the session is still there")
            .into_record();
        let keys = ["base", "left", "right"];
        if !keys.iter().all(|k| stored.data.contains_key(*k)) {
            lost += 1;
        }
    }
    assert_eq!(
        lost, 0,
        "in {lost} of {CROSS_ROUNDS} rounds one process's save erased the other's key"
    );
}

/// Another process holds every lock of the directory while the sweep runs: the sweep waits, and
/// a file that process refreshed meanwhile is not removed.
#[actix_web::test]
async fn the_sweep_waits_for_the_lock_and_spares_a_refreshed_file() {
    let dir = TempDir::new("file-sweep-lock");
    let clock = ManualClock::new();
    let store = FileStore::builder(&dir.0)
        .fsync(false)
        .clock(clock.clone())
        .build()
        .unwrap();
    let id = SessionId::generate();
    let short = Meta::new(clock.now(), clock.now() + 10);
    store.save(&id, &short, &full(&[("a", "1")])).await.unwrap();
    clock.advance(Duration::from_secs(20)); // expired, for this store
    let path = store.path(&id);

    // The other process: its own descriptors on the lock files, every one locked.
    let held: Vec<std::fs::File> = lock_file_names()
        .iter()
        .map(|name| {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.0.join(name))
                .unwrap();
            file.lock().unwrap();
            file
        })
        .collect();
    let sweeper = {
        let store = store.clone();
        std::thread::spawn(move || store.sweep().unwrap())
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        path.exists() && !sweeper.is_finished(),
        "the sweep removed a file whose lock another process held"
    );
    // That process refreshes the session (a new expiry, renamed over the file) and lets go.
    let mut disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    disk["expires_at"] = (clock.now() + 600).into();
    let tmp = dir.0.join(".refresh.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&disk).unwrap()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    for file in &held {
        file.unlock().unwrap();
    }
    assert_eq!(sweeper.join().unwrap(), 0, "nothing expired any more");
    let kept = store.load(&id, Fetch::All).await.unwrap();
    assert_eq!(
        kept.map(|r| r.meta().expires_at),
        Some(clock.now() + 600),
        "the refreshed file was kept"
    );
}

/// A directory made by hand at `mode` (as a deploy script or an admin would make it).
#[cfg(unix)]
fn dir_with_mode(tag: &str, mode: u32) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new(tag);
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

#[cfg(unix)]
#[test]
fn a_directory_others_can_write_is_refused() {
    for (mode, shown) in [
        (0o777, "0777"),
        (0o770, "0770"),
        (0o720, "0720"),
        (0o1777, "1777"),
    ] {
        let dir = dir_with_mode("file-shared", mode);
        let err = FileStore::new(&dir.0)
            .err()
            .unwrap_or_else(|| panic!("a directory of mode {shown} was accepted"));
        let message = err.to_string();
        assert!(
            message.contains(&dir.0.display().to_string())
                && message.contains(shown)
                && message.contains("chmod 700")
                && message.contains("chmod go-w"),
            "the error names the directory, its mode and the fix: {message}"
        );
        let (locks, names) = names_in(&dir.0);
        assert!(
            locks.is_empty() && names.is_empty(),
            "refused before anything was written there: {locks:?} {names:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_directory_only_its_owner_can_write_is_accepted() {
    for mode in [0o700, 0o750, 0o755] {
        let dir = dir_with_mode("file-private", mode);
        FileStore::new(&dir.0).unwrap_or_else(|e| panic!("mode {mode:04o} refused: {e}"));
    }
}

#[cfg(unix)]
#[test]
fn a_directory_owned_by_another_user_is_refused() {
    let dir = dir_with_mode("file-foreign", 0o700);
    // Root can give it away (and still write it, so only the owner check can refuse it).
    std::os::unix::fs::chown(&dir.0, Some(65534), None)
        .expect("this test needs to chown a directory (run as root, as CI does)");
    let message = FileStore::new(&dir.0)
        .err()
        .expect("a directory owned by uid 65534 was accepted")
        .to_string();
    assert!(
        message.contains(&dir.0.display().to_string()) && message.contains("uid 65534"),
        "{message}"
    );
}

/// The reviewer's attack: another user of the machine plants a record in a world-writable
/// directory under an id of their choosing, then sends that id.
#[cfg(unix)]
#[actix_web::test]
async fn a_record_planted_in_a_shared_directory_is_never_served() {
    let dir = dir_with_mode("file-planted", 0o777);
    let clock = ManualClock::new();
    let chosen = "PLANTEDPLANTEDPLANTEDPLANTED0000";
    let key = SessionId::parse(chosen).unwrap().store_key();
    let planted = serde_json::json!({
        "v": 1,
        "created_at": clock.now(),
        "expires_at": clock.now() + 600,
        "data": { "user": serde_json::to_vec("admin").unwrap() },
    });
    std::fs::write(
        dir.0.join(format!("{key}.session")),
        serde_json::to_vec(&planted).unwrap(),
    )
    .unwrap();
    match FileStore::builder(&dir.0)
        .fsync(false)
        .clock(clock.clone())
        .build()
    {
        Err(err) => assert!(err.to_string().contains("0777"), "{err}"),
        Ok(store) => {
            let app = suite_app!(store, &clock);
            let res = send(&app, get("/get/user", Some(chosen))).await;
            panic!(
                "a store was built on a world-writable directory, and it served the planted \
                 record: user = {:?}, the chosen id kept: {}",
                res.body,
                res.id().is_none()
            );
        }
    }
}

/// Every entry of the user index under `dir`: (user folder, session key).
fn index_entries(dir: &std::path::Path) -> Vec<(String, String)> {
    let Ok(users) = std::fs::read_dir(dir.join("users")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for user in users {
        let user = user.unwrap();
        let name = user.file_name().into_string().unwrap();
        for entry in std::fs::read_dir(user.path()).unwrap() {
            out.push((
                name.clone(),
                entry.unwrap().file_name().into_string().unwrap(),
            ));
        }
    }
    out
}

/// The user folders left under `dir`.
fn user_folders(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("users")).map_or(0, |d| d.count())
}

/// The user index cannot leak: 10 000 sessions of 100 users expire; listing each user once (as
/// a devices page would) leaves no index entry, no user folder and no session file behind.
#[actix_web::test]
async fn the_user_index_is_empty_once_its_sessions_expired() {
    let (dir, clock, store) = clocked_store("file-leak");
    expire_tied_sessions(&store, &clock, 10_000, 100).await;
    assert_eq!(
        index_entries(&dir.0),
        [],
        "no index entry outlives its session"
    );
    assert_eq!(user_folders(&dir.0), 0, "nor a user's folder");
    let (_, names) = names_in(&dir.0);
    assert_eq!(names, ["users"], "and no session file is left");
}

/// The sweep takes expired sessions out of the index too, and entries whose file is gone
/// (a crash between removing a file and its entry); the index names only hashes.
#[actix_web::test]
async fn the_sweep_cleans_the_user_index() {
    let (dir, clock, store) = clocked_store("file-index-sweep");
    let now = clock.now();
    let (short, long) = (SessionId::generate(), SessionId::generate());
    for (id, ttl) in [(&short, 60), (&long, 600)] {
        let meta = Meta::new(now, now + ttl).with_user(Some(SessionUser::new("ann")));
        store.save(id, &meta, &full(&[("k", "v")])).await.unwrap();
    }
    let entries = index_entries(&dir.0);
    assert_eq!(entries.len(), 2);
    assert!(entries
        .iter()
        .all(|(user, _)| *user == UserKey::of("ann").hex()));
    // A crash left an entry without its file.
    std::fs::remove_file(store.path(&long)).unwrap();
    clock.advance(Duration::from_secs(61));
    assert_eq!(store.sweep().unwrap(), 1);
    assert_eq!(
        index_entries(&dir.0),
        [],
        "expired and orphaned entries swept"
    );
    assert_eq!(user_folders(&dir.0), 0);
}

/// Two processes on one directory share the index: a session tied in one is listed and
/// revoked by the other, and the revoked session's save in the first does not bring it back.
#[actix_web::test]
async fn two_processes_share_the_user_index() {
    let (dir, a, b) = two_stores_on_one_dir("file-index-two");
    let id = SessionId::generate();
    let user = SessionUser::new("gus");
    let tied = meta().with_user(Some(user.clone()));
    a.save(&id, &tied, &full(&[("k", "1")])).await.unwrap();
    let listed = b.user_sessions(&user.key).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].meta.user.as_ref().unwrap().handle, user.handle);
    assert!(b.revoke(&user.key, &user.handle).await.unwrap());
    a.save(&id, &tied, &set_only("k", "2")).await.unwrap();
    assert!(
        a.load(&id, Fetch::All).await.unwrap().is_none(),
        "not resurrected"
    );
    assert_eq!(index_entries(&dir.0), []);
}
