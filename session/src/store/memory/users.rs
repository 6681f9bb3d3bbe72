//! The user index of a [`MemoryStore`](super::MemoryStore): the sessions tied to each user,
//! kept exact (an entry goes with its session, however the session ends).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Mutex;

use super::DigestHasher;
use crate::store::UserKey;

/// The user index of a [`MemoryStore`](super::MemoryStore).
#[derive(Default)]
pub(super) struct Users(Mutex<HashMap<UserKey, KeySet>>);

/// The store keys of one user's sessions.
type KeySet = HashSet<[u8; 32], BuildHasherDefault<DigestHasher>>;

impl Users {
    pub(super) fn tie(&self, user: &UserKey, key: [u8; 32]) {
        let mut users = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let sessions = users.entry(*user).or_default();
        if sessions.insert(key) {
            crate::store::user::note_index_size(user, sessions.len());
        }
    }

    pub(super) fn untie(&self, user: &UserKey, key: &[u8; 32]) {
        let mut users = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sessions) = users.get_mut(user) {
            sessions.remove(key);
            if sessions.is_empty() {
                users.remove(user);
            }
        }
    }

    pub(super) fn sessions(&self, user: &UserKey) -> Vec<[u8; 32]> {
        let users = self.0.lock().unwrap_or_else(|p| p.into_inner());
        users
            .get(user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// How many users and index entries it holds (for the leak tests).
    pub(super) fn size(&self) -> (usize, usize) {
        let users = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (users.len(), users.values().map(HashSet::len).sum())
    }
}
