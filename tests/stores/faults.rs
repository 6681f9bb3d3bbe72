//! Failing dependencies: Redis killed while requests are in flight and restarted; a file store
//! on a full disk and on a read-only one. Every request either succeeds with its change saved or
//! answers 503; nothing is reported saved that was not. The counts are printed (run with
//! `--nocapture` to see them).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_typed_session::store::{deadpool_redis, FileStore, RedisStore};
use actix_typed_session::{Session, SessionError, SessionId, SessionMiddleware};
use actix_web::{test, web, App};
use futures_util::future::join_all;

use support::redis::RedisServer;
use support::*;

/// Requests answered so far (the kill below waits for a number of them).
static ANSWERED: AtomicUsize = AtomicUsize::new(0);

/// Sets its own key (per-key merge keeps every request's key apart).
async fn mark(session: Session, key: web::Path<String>) -> Result<&'static str, SessionError> {
    session.set(key.into_inner(), true)?;
    Ok("ok")
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<u64>("n")?.unwrap_or(0).to_string())
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let n: u64 = session.get("n")?.unwrap_or(0) + 1;
    session.set("n", n)?;
    Ok(n.to_string())
}

macro_rules! app {
    ($store:expr) => {
        test::init_service(
            App::new()
                .wrap(SessionMiddleware::new($store))
                .route("/mark/{k}", web::post().to(mark))
                .route("/incr", web::get().to(incr))
                .route("/read", web::get().to(read)),
        )
        .await
    };
}

#[actix_web::test]
async fn redis_killed_mid_flight_then_restarted() {
    let mut server = RedisServer::spawn_persistent();
    let pool = deadpool_redis::Config::from_url(&server.url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let store = RedisStore::builder(pool)
        .timeout(Duration::from_millis(500))
        .build();
    let app = app!(store.clone());

    let mut sessions = Vec::new();
    for _ in 0..16 {
        sessions.push(send(&app, post("/mark/start", None)).await.id().unwrap());
    }

    let mut outcomes: Vec<(String, String, u16)> = Vec::new(); // (session, key, status)
    let run_wave = |wave: usize| {
        let reqs: Vec<_> = (0..256)
            .map(|i| {
                let sid = sessions[i % sessions.len()].clone();
                let key = format!("w{wave}r{i}");
                (sid, key)
            })
            .collect();
        reqs
    };
    for wave in 0..4 {
        let reqs = run_wave(wave);
        // Wave 1 has Redis killed while its requests are in flight; wave 2 runs against a dead
        // Redis; Redis is restarted before wave 3.
        let killer = (wave == 1).then(|| {
            // Kill once a third of this wave is answered: the rest are in flight.
            let threshold = ANSWERED.load(Ordering::SeqCst) + 85;
            server.kill_when(move || ANSWERED.load(Ordering::SeqCst) >= threshold)
        });
        let app = &app;
        let results = join_all(reqs.iter().map(|(sid, key)| async move {
            let res = send(app, post(&format!("/mark/{key}"), Some(sid))).await;
            ANSWERED.fetch_add(1, Ordering::SeqCst);
            // Let the killer thread act between answers.
            std::thread::yield_now();
            res
        }))
        .await;
        if let Some(killer) = killer {
            killer.join().unwrap();
        }
        for ((sid, key), res) in reqs.into_iter().zip(results) {
            assert!(
                res.status == 200 || res.status == 503,
                "only success or 503, got {}",
                res.status
            );
            outcomes.push((sid, key, res.status.as_u16()));
        }
        if wave == 2 {
            server.restart();
        }
    }

    // Every success is in Redis after the restart (the server fsyncs each write it acknowledges).
    let (mut ok, mut unavailable, mut unavailable_but_saved) = (0, 0, 0);
    for (sid, key, status) in &outcomes {
        let id = SessionId::parse(sid).unwrap();
        let saved = server
            .command(&format!("HEXISTS {} k:{key}", store.key(&id)))
            .unwrap()
            == ":1\r\n";
        match status {
            200 => {
                ok += 1;
                assert!(
                    saved,
                    "request {key} answered 200 but its change is not in Redis"
                );
            }
            _ => {
                unavailable += 1;
                unavailable_but_saved += usize::from(saved);
            }
        }
    }
    eprintln!(
        "redis kill/restart: {} requests, {ok} saved (200), {unavailable} answered 503 \
         ({unavailable_but_saved} of those were in fact saved: the write landed but its reply \
         was lost), 0 reported saved that were not",
        outcomes.len()
    );
    assert!(ok >= 512, "waves 0 and 3 succeed in full: {ok}");
    assert!(
        unavailable >= 256,
        "wave 2 (Redis down) fails in full: {unavailable}"
    );
}

/// Mounts a small tmpfs at `dir` (root only), private (mode 0700: a tmpfs root is 1777 by
/// default, which the file store refuses); `None` when this machine does not allow it.
fn mount_tmpfs(dir: &std::path::Path, size: &str) -> Option<Mount> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(dir.to_owned()))
}

struct Mount(std::path::PathBuf);

impl Mount {
    fn remount_read_only(&self) {
        let status = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[actix_web::test]
async fn file_store_on_a_full_disk() {
    let dir = TempDir::new("full");
    let Some(_mount) = mount_tmpfs(&dir.0, "256k") else {
        panic!("this test needs to mount a tmpfs (run as root, as CI does)");
    };
    let store = FileStore::builder(&dir.0).fsync(true).build().unwrap();
    let app = app!(store.clone());
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    let path = store.path(&SessionId::parse(&id).unwrap());
    let before = std::fs::read(&path).unwrap();

    // Fill the disk.
    let filler = dir.0.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 512 * 1024]);

    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(res.status, 503, "a write that cannot land answers 503");
    let res = send(&app, get("/incr", None)).await;
    assert_eq!(res.status, 503);
    assert!(res.cookies.is_empty());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the old record is intact"
    );
    let temps = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(temps, 0, "no partial file left behind");
    assert_eq!(
        send(&app, get("/read", Some(&id))).await.body,
        "1",
        "reads still work"
    );

    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        send(&app, get("/incr", Some(&id))).await.body,
        "2",
        "space again: works again"
    );
}

#[actix_web::test]
async fn file_store_on_a_read_only_disk() {
    let dir = TempDir::new("ro");
    let Some(mount) = mount_tmpfs(&dir.0, "1m") else {
        panic!("this test needs to mount a tmpfs (run as root, as CI does)");
    };
    let store = FileStore::builder(&dir.0).fsync(false).build().unwrap();
    let app = app!(store.clone());
    let id = send(&app, get("/incr", None)).await.id().unwrap();
    mount.remount_read_only();
    let res = send(&app, get("/incr", Some(&id))).await;
    assert_eq!(res.status, 503);
    assert_eq!(
        send(&app, get("/read", Some(&id))).await.body,
        "1",
        "no corrupt record"
    );
    assert!(
        FileStore::new(dir.0.join("sub")).is_err(),
        "and a new store there fails to build"
    );
}
