//! The user index of a [`FileStore`](super::FileStore): a folder per user, one empty file per
//! session tied to that user.
//!
//! ```text
//! <dir>/users/<hex of the UserKey>/<hex of the session's store key>
//! ```
//!
//! Both names are hashes: neither a user id nor a session id reaches the file system. An entry
//! is made when a save ties a session to the user and removed when the session ends (delete,
//! revocation, expiry met by a read, a listing or the sweep); a user's folder goes with its
//! last entry. Creating and removing a file are atomic, so the index needs no lock of its own:
//! an entry is only ever made after its session file was written, under the session's lock.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::disk::{create_private_dir, remove_if_present, write_atomically};
use crate::store::user::Choice;
use crate::store::{Handle, UserKey};

/// The folder of the index in the store's directory.
const USERS: &str = "users";

/// The index under one store directory.
pub(super) struct UserFolders {
    root: PathBuf,
    fsync: bool,
}

impl UserFolders {
    pub(super) fn new(dir: &Path, fsync: bool) -> Self {
        UserFolders {
            root: dir.join(USERS),
            fsync,
        }
    }

    fn folder(&self, user: &UserKey) -> PathBuf {
        self.root.join(user.hex())
    }

    /// Indexes the session `key` (the hex store key) under `user`.
    pub(super) fn tie(&self, user: &UserKey, key: &str) -> io::Result<()> {
        let folder = self.folder(user);
        let entry = folder.join(key);
        // A concurrent `untie` of the user's last entry may remove the folder between its
        // creation and the entry's: make it again.
        let mut attempts = 0;
        loop {
            match create_entry(&entry) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                    create_private_dir(&folder)?;
                }
                Err(e) => return Err(e),
            }
        }
        if self.fsync {
            // A lost entry would hide a session from "log out everywhere": sync the folder.
            fs::File::open(&folder)?.sync_all()?;
        }
        Ok(())
    }

    /// Takes the session `key` out of `user`'s entries; the user's folder goes with the last.
    pub(super) fn untie(&self, user: &UserKey, key: &str) -> io::Result<()> {
        let folder = self.folder(user);
        remove_if_present(&folder.join(key))?;
        // Fails, harmlessly, while the folder still holds entries (or is gone already).
        let _ = fs::remove_dir(&folder);
        Ok(())
    }

    /// The store keys of `user`'s entries (none when the user has no folder).
    pub(super) fn sessions(&self, user: &UserKey) -> io::Result<Vec<String>> {
        names(&self.folder(user))
    }

    /// Every user with a folder, and their entries (for the sweep).
    pub(super) fn all(&self) -> io::Result<Vec<(UserKey, Vec<String>)>> {
        let mut out = Vec::new();
        for folder in read_dir(&self.root)? {
            let name = folder.file_name();
            let Some(user) = name.to_str().and_then(UserKey::from_hex) else {
                continue;
            };
            let entries = names(&folder.path())?;
            if entries.is_empty() {
                let _ = fs::remove_dir(folder.path());
            }
            out.push((user, entries));
        }
        Ok(out)
    }
}

/// A revocation's choice as its marker file holds it.
fn encode(choice: &Choice) -> String {
    match choice {
        Choice::One(h) => format!("o {h}"),
        Choice::AllBut(Some(h)) => format!("a {h}"),
        Choice::AllBut(None) => "a".to_owned(),
    }
}

/// A marker file's choice; `None` for one this store did not write.
fn decode(text: &str) -> Option<Choice> {
    let mut parts = text.split(' ');
    let mode = parts.next()?;
    let handle = parts.next().map(Handle::parse);
    match (mode, handle) {
        ("o", Some(Some(h))) => Some(Choice::One(h)),
        ("a", Some(Some(h))) => Some(Choice::AllBut(Some(h))),
        ("a", None) => Some(Choice::AllBut(None)),
        _ => None,
    }
}

/// A revocation in progress: its marker file, removed when dropped.
pub(super) struct Marker(PathBuf);

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = remove_if_present(&self.0);
    }
}

/// The folder of the revocation markers, under the index's root.
const MARKERS: &str = ".revoking";
/// A marker older than this is left over by a crash: ignored, and removed by the sweep.
const MARKER_TTL: std::time::Duration = std::time::Duration::from_secs(600);

impl UserFolders {
    fn markers(&self) -> PathBuf {
        self.root.join(MARKERS)
    }

    /// Raises the marker of a revocation of `user`'s sessions that `choice` picks, before the
    /// revocation lists them. A `change_id` of one of those sessions that meets the marker
    /// gives up (the session ends), so the session cannot move to a new id behind the
    /// revocation's listing: one that did not meet it had indexed its new id already, before
    /// the listing began.
    pub(super) fn mark(&self, user: &UserKey, choice: &Choice) -> io::Result<Marker> {
        let folder = self.markers();
        create_private_dir(&folder)?;
        let token = crate::id::SessionId::generate().log_tag();
        let path = folder.join(format!("{}.{token}", user.hex()));
        // Written whole, then renamed into place: a reader never sees half a marker.
        write_atomically(&folder, &path, encode(choice).as_bytes(), self.fsync)?;
        Ok(Marker(path))
    }

    /// Whether a revocation in progress (a live marker) ends `user`'s session with `handle`.
    pub(super) fn revoking(&self, user: &UserKey, handle: &Handle) -> io::Result<bool> {
        let prefix = format!("{}.", user.hex());
        for entry in read_dir(&self.markers())? {
            let name = entry.file_name();
            if !name.to_str().is_some_and(|n| n.starts_with(&prefix)) {
                continue;
            }
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > MARKER_TTL);
            if stale {
                continue;
            }
            let text = match fs::read_to_string(entry.path()) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // A marker that does not read (never written by this store) counts as ending all.
            if decode(&text).is_none_or(|choice| choice.ends(handle)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Removes markers left by a crash (for the sweep).
    pub(super) fn sweep_markers(&self) -> io::Result<()> {
        for entry in read_dir(&self.markers())? {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > MARKER_TTL);
            if old {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    }
}

/// The entries of a folder that are store keys (64 hex digits); nothing when it is missing.
fn names(folder: &Path) -> io::Result<Vec<String>> {
    Ok(read_dir(folder)?
        .into_iter()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect())
}

fn read_dir(folder: &Path) -> io::Result<Vec<fs::DirEntry>> {
    match fs::read_dir(folder) {
        Ok(entries) => entries.collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Creates an empty entry (mode 0600); one that exists already is kept.
fn create_entry(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}
