//! The sweep of a [`FileStore`]: expired session files, temp files a crash
//! left behind and stale index entries, removed in the background every sweep interval.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::disk::{remove_if_present, OnDisk, SUFFIX};
use super::lock::{first_byte, stripe_index};
use super::{FileStore, Inner};

impl FileStore {
    pub(super) fn maybe_sweep(&self) {
        let now = self.inner.clock.now();
        let last = self.inner.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.inner.sweep_interval
            || self
                .inner
                .last_sweep
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match inner.sweep() {
            Ok(n) => tracing::debug!(removed = n, "file store swept"),
            Err(e) => tracing::warn!(error = %e, "file store sweep failed"),
        });
    }
}

impl Inner {
    /// Whether the file at `path` is expired or undecodable (and so to be swept).
    fn sweepable(&self, path: &Path, now: u64) -> bool {
        match fs::read(path) {
            Ok(bytes) => self
                .codec
                .decode::<OnDisk>(&bytes)
                .map_or(true, |d| d.expires_at <= now),
            Err(_) => false,
        }
    }

    pub(super) fn sweep(&self) -> io::Result<usize> {
        let now = self.clock.now();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(key) = name.strip_suffix(SUFFIX) {
                // The stripe comes from the file name, the hex hash of the id; a name that is not
                // one (left there by hand) still gets a lock, the first.
                let stripe = &self.stripes[stripe_index(first_byte(key))];
                // Checked without the lock, then again under it: a save may have refreshed the
                // file in between, and it must not be removed then.
                if !self.sweepable(&path, now) {
                    continue;
                }
                let Ok(_lock) = stripe.lock() else { continue };
                if self.sweepable(&path, now) && self.remove_locked(&path).is_ok() {
                    removed += 1;
                }
            } else if name.ends_with(".tmp") {
                // A temp file left by a crash mid-write; one that is being written now is
                // younger than a minute.
                let stale = entry_age(&path).is_some_and(|age| age > Duration::from_secs(60));
                if stale {
                    let _ = remove_if_present(&path);
                }
            }
        }
        self.sweep_index()?;
        self.users.sweep_markers()?;
        Ok(removed)
    }

    /// Takes out index entries whose session file is gone (left by a crash between removing a
    /// file and its entry); a listing prunes the rest.
    fn sweep_index(&self) -> io::Result<()> {
        for (user, keys) in self.users.all()? {
            for key in keys {
                if !self.file_of(&key).exists() {
                    self.users.untie(&user, &key)?;
                }
            }
        }
        Ok(())
    }
}

fn entry_age(path: &Path) -> Option<Duration> {
    fs::metadata(path).ok()?.modified().ok()?.elapsed().ok()
}
