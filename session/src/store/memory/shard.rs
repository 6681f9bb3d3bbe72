//! The shards of a [`MemoryStore`](super::MemoryStore): each an insertion-ordered map from a
//! session's hash to a compact entry, with the cursor that expires and evicts a few entries at
//! a time.

use std::hash::BuildHasherDefault;
use std::sync::{Mutex, MutexGuard};

use indexmap::IndexMap;

use super::users::Users;
use super::values::Values;
use super::DigestHasher;
use crate::store::{Changes, Meta, Record, SessionUser};

pub(super) const SHARDS: usize = 16;
/// Entries looked at for expiry on every save.
const EXPIRY_PROBES: usize = 3;
/// Entries looked at to pick the one to evict.
const EVICTION_SAMPLES: usize = 5;

pub(super) type Map = IndexMap<[u8; 32], Entry, BuildHasherDefault<DigestHasher>>;

/// One stored session.
pub(super) struct Entry {
    pub(super) created_at: u64,
    pub(super) expires_at: u64,
    pub(super) last_seen: u64,
    /// When it was last loaded or saved (seconds, truncated): the eviction order.
    pub(super) used: u32,
    pub(super) user: Option<Box<SessionUser>>,
    pub(super) values: Values,
}

impl Entry {
    pub(super) fn meta(&self) -> Meta {
        Meta::new(self.created_at, self.expires_at)
            .with_last_seen(self.last_seen)
            .with_user(self.user.as_deref().cloned())
    }

    pub(super) fn record(&self) -> Record {
        Record {
            meta: self.meta(),
            data: self.values.to_map(),
        }
    }
}

pub(super) struct Shard {
    pub(super) map: Map,
    pub(super) capacity: usize,
    /// Where the background work goes on (an index into the map's dense storage).
    pub(super) cursor: usize,
}

impl Shard {
    /// The next entry's index (the map must not be empty).
    fn next(&mut self) -> usize {
        self.cursor = (self.cursor + 1) % self.map.len();
        self.cursor
    }

    /// Removes the entry at `i` (and its index entry); the last entry moves there, and the
    /// cursor looks at it next.
    pub(super) fn remove_at(&mut self, i: usize, users: &Users) {
        if let Some((key, entry)) = self.map.swap_remove_index(i) {
            if let Some(user) = &entry.user {
                users.untie(&user.key, &key);
            }
        }
        self.cursor = i.checked_sub(1).unwrap_or(self.map.len().saturating_sub(1));
    }

    /// Removes the session `key`, if there, and its index entry.
    pub(super) fn remove(&mut self, key: &[u8; 32], users: &Users) -> Option<Entry> {
        let entry = self.map.swap_remove(key)?;
        if let Some(user) = &entry.user {
            users.untie(&user.key, key);
        }
        Some(entry)
    }

    /// Takes the live session `key` out (index entry included); an expired one is removed and
    /// `None` answered.
    pub(super) fn take_live(&mut self, key: &[u8; 32], now: u64, users: &Users) -> Option<Entry> {
        let index = self.map.get_index_of(key)?;
        if self.map[index].expires_at <= now {
            self.remove_at(index, users);
            return None;
        }
        self.remove(key, users)
    }

    /// Stores `entry`, with `changes` applied and the metadata of `meta`, under `key` (a new
    /// id), indexing its user; answers whether a live session had to be evicted for room.
    pub(super) fn put(
        &mut self,
        key: [u8; 32],
        mut entry: Entry,
        meta: &Meta,
        changes: &Changes,
        now: u64,
        users: &Users,
    ) -> bool {
        entry.values.apply(changes);
        entry.expires_at = meta.expires_at;
        entry.last_seen = meta.last_seen;
        entry.used = stamp(now);
        entry.user = meta.user.clone().map(Box::new);
        let full = self.map.len() >= self.capacity && !self.map.contains_key(&key);
        let evicted = full && self.make_room(now, users);
        self.remove(&key, users);
        if let Some(user) = &meta.user {
            users.tie(&user.key, key);
        }
        self.map.insert(key, entry);
        evicted
    }

    /// Removes the expired ones among the next few entries.
    pub(super) fn expire_some(&mut self, now: u64, users: &Users) {
        for _ in 0..EXPIRY_PROBES {
            if self.map.is_empty() {
                return;
            }
            let i = self.next();
            if self.map[i].expires_at <= now {
                self.remove_at(i, users);
            }
        }
    }

    /// Makes room for one entry; returns whether a live session had to go.
    fn make_room(&mut self, now: u64, users: &Users) -> bool {
        let mut victim: Option<usize> = None;
        for _ in 0..EVICTION_SAMPLES.min(self.map.len()) {
            let i = self.next();
            if self.map[i].expires_at <= now {
                self.remove_at(i, users);
                return false;
            }
            if victim.is_none_or(|v| self.map[i].used < self.map[v].used) {
                victim = Some(i);
            }
        }
        match victim {
            Some(v) => {
                self.remove_at(v, users);
                true
            }
            None => false,
        }
    }
}

/// The shard of the session whose store key is `key`.
pub(super) fn shard_of(key: &[u8; 32]) -> usize {
    key[0] as usize % SHARDS
}

/// A poisoned lock only means another thread panicked mid-operation; the map itself is still
/// consistent (every mutation is a single call), so keep serving.
pub(super) fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seconds, truncated, for the eviction order.
pub(super) fn stamp(now: u64) -> u32 {
    now as u32
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::id::SessionId;
    use crate::store::memory::tests::{meta, new};
    use crate::store::{Fetch, MemoryStore, SessionStore};

    #[tokio::test]
    async fn expires_and_evicts() {
        let clock = ManualClock::new();
        let store = MemoryStore::builder()
            .max_sessions(16)
            .clock(clock.clone())
            .build();
        let now = clock.now();
        let first = SessionId::generate();
        store.save(&first, &meta(now), &new(&[])).await.unwrap();
        assert!(store.load(&first, Fetch::All).await.unwrap().is_some());
        clock.advance(Duration::from_secs(61));
        assert!(store.load(&first, Fetch::All).await.unwrap().is_none());

        // 16 sessions over 16 shards of one slot each: far more than that evicts.
        for _ in 0..200 {
            let id = SessionId::generate();
            store
                .save(&id, &meta(clock.now()), &new(&[]))
                .await
                .unwrap();
        }
        assert!(store.len() <= 16, "len {}", store.len());
    }

    /// Entries held, live or not.
    fn held(store: &MemoryStore) -> usize {
        store.inner.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    #[tokio::test]
    async fn expired_sessions_go_a_few_at_a_time_as_writes_arrive() {
        let clock = ManualClock::new();
        let store = MemoryStore::builder().clock(clock.clone()).build();
        for _ in 0..1000 {
            let id = SessionId::generate();
            store
                .save(&id, &meta(clock.now()), &new(&[("a", "1")]))
                .await
                .unwrap();
        }
        clock.advance(Duration::from_secs(61));
        assert_eq!(held(&store), 1000, "nothing removed without writes");
        assert_eq!(store.len(), 0, "but none of them is live");
        for _ in 0..1000 {
            let id = SessionId::generate();
            store
                .save(&id, &meta(clock.now()), &new(&[("b", "2")]))
                .await
                .unwrap();
        }
        let expired_left = held(&store) - 1000;
        assert!(
            expired_left < 300,
            "each write probes a few entries: {expired_left} of 1000 expired sessions left"
        );
    }
}
