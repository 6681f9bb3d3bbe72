//! A user's sessions in a [`FileStore`](super::FileStore): listed from the user index (each
//! listed file read, stale entries pruned) and ended by a revocation, under each session's lock
//! and a marker that keeps a session from slipping out by changing its id.

use std::io;

use super::disk::Found;
use super::Inner;
use crate::store::user::Choice;
use crate::store::{Handle, Record, UserKey};

/// How many times a revocation lists a user's sessions again after a listed one moved.
const REVOKE_ROUNDS: usize = 32;

impl Inner {
    /// The live sessions of `user` with their store keys. Entries whose session is gone,
    /// expired (removed now) or tied to another user since are taken out of the index.
    pub(super) fn user_sessions(&self, user: &UserKey) -> io::Result<Vec<(String, Record)>> {
        let mut live = Vec::new();
        for key in self.users.sessions(user)? {
            let path = self.file_of(&key);
            let found = match self.find(&key[..8], &path)? {
                Found::Expired => {
                    let _lock = self.lock_key(&key)?;
                    self.read_locked(&key[..8], &path)?
                }
                Found::Live(record) => Some(record),
                Found::Absent => None,
            };
            match found {
                Some(record) if record.meta.user.as_ref().is_some_and(|u| u.key == *user) => {
                    live.push((key, record));
                }
                _ => self.users.untie(user, &key)?,
            }
        }
        Ok(live)
    }

    /// Ends the session `key` if, under its lock, it is still `user`'s and `ends` its handle:
    /// `Some(true)` when it ended, `Some(false)` when it is there but not chosen, `None` when
    /// it is gone (ended, expired, or moved to a new id by `change_id` since it was listed).
    fn revoke_if(
        &self,
        user: &UserKey,
        key: &str,
        ends: impl Fn(&Handle) -> bool,
    ) -> io::Result<Option<bool>> {
        let _lock = self.lock_key(key)?;
        let path = self.file_of(key);
        let Some(record) = self.read_locked(&key[..8], &path)? else {
            return Ok(None);
        };
        let ours = record
            .meta
            .user
            .as_ref()
            .is_some_and(|u| u.key == *user && ends(&u.handle));
        if ours {
            self.remove_locked(&path)?;
        }
        Ok(Some(ours))
    }

    /// Ends the sessions of `user` whose handle `ends` chooses (the first only, when `one`);
    /// answers how many ended.
    ///
    /// First a marker is raised (see `UserFolders::mark`): from then on an id change of a
    /// chosen session gives up, and one that did not meet the marker had indexed its new id
    /// before the listing began. So no session slips out of the revocation by changing its id
    /// meanwhile. A listed session found gone under its lock is listed again (it may have
    /// moved just before the marker); one that keeps moving through [`REVOKE_ROUNDS`] listings
    /// fails the revocation rather than leave it unsure.
    pub(super) fn revoke_where(&self, user: &UserKey, choice: Choice) -> io::Result<usize> {
        let one = matches!(choice, Choice::One(_));
        let ends = |h: &Handle| choice.ends(h);
        // Raised before the listing, removed when this returns (see `UserFolders::mark`).
        let _marker = self.users.mark(user, &choice)?;
        let mut ended = 0;
        for _ in 0..REVOKE_ROUNDS {
            let mut moved = false;
            for (key, record) in self.user_sessions(user)? {
                if !record.meta.user.as_ref().is_some_and(|u| ends(&u.handle)) {
                    continue;
                }
                match self.revoke_if(user, &key, ends)? {
                    Some(true) if one => return Ok(1),
                    Some(true) => ended += 1,
                    Some(false) => {}
                    None => moved = true,
                }
            }
            if !moved {
                return Ok(ended);
            }
        }
        Err(io::Error::other(
            "revocation not finished: the user's sessions kept changing their ids",
        ))
    }
}
