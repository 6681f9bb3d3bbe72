//! FileStore: the conformance suite, plus file names, modes, atomicity, corruption and sweeping.

mod support;

use std::sync::Arc;
use std::time::Duration;

use actix_typed_session::clock::ManualClock;
use actix_typed_session::store::FileStore;
use actix_typed_session::SessionId;
use actix_web::http::StatusCode;

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

#[actix_web::test]
async fn files_are_named_by_hash_private_and_complete() {
    let dir = TempDir::new("file-names");
    let store = FileStore::new(dir.0.join("s")).unwrap(); // fsync on: the default
    let clock = ManualClock::new();
    let app = suite_app!(store.clone(), &clock);
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.0.join("s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let expected = format!("{}.session", SessionId::parse(&id).unwrap().store_key());
    assert_eq!(
        names,
        [expected],
        "one file, named by the hash, no temp file left"
    );
    assert!(!names[0].contains(&id));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = store.path(&SessionId::parse(&id).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
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
    let names: Vec<_> = std::fs::read_dir(&sessions).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[actix_web::test]
async fn expired_files_are_swept() {
    let dir = TempDir::new("file-sweep");
    let clock = ManualClock::new();
    let store = FileStore::builder(&dir.0)
        .fsync(false)
        .clock(clock.clone())
        .sweep_interval(Duration::from_secs(3600 * 24))
        .build()
        .unwrap();
    let app = suite_app!(store.clone(), &clock);
    for _ in 0..3 {
        send(&app, get("/incr", None)).await;
    }
    assert_eq!(store.sweep().unwrap(), 0, "nothing expired yet");
    clock.advance(conformance::IDLE + Duration::from_secs(1));
    assert_eq!(store.sweep().unwrap(), 3);
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
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
