//! [`MemoryStore`]: the embedded default, sessions in this process's memory.
//!
//! Each of 16 shards (by the first byte of the id's hash) is an insertion-ordered map
//! ([`indexmap`]) from the hash to a compact entry. Its dense storage lets a cursor walk the
//! entries in memory order, a few at a time, for the two kinds of background work, which are
//! therefore bounded per write, never pause a request, and read neighbouring memory rather than
//! random cache lines:
//!
//! - **expiry**, like Redis's active expiry but sequential: every save looks at the next few
//!   entries of its shard and removes the expired ones (a load of an expired entry removes it
//!   too); the cursor goes round the whole shard every few thousand writes;
//! - **eviction** when the shard is full, like the CLOCK approximation of LRU: of the next few
//!   entries, an expired one, else the least recently used, makes room.

mod values;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use indexmap::IndexMap;

use self::values::Values;
use super::{
    Bytes, Changes, Fetch, Handle, LiveValues, Loaded, Meta, Record, SessionStore, SessionUser,
    UserKey,
};
use crate::clock::{SharedClock, SystemClock};
use crate::error::StoreError;
use crate::id::SessionId;

const SHARDS: usize = 16;
/// Entries looked at for expiry on every save.
const EXPIRY_PROBES: usize = 3;
/// Entries looked at to pick the one to evict.
const EVICTION_SAMPLES: usize = 5;

/// Sessions kept in memory: fast, concurrent, bounded, and gone when the process exits.
///
/// - **Shared:** clones share the same sessions. Build one store *outside* the `HttpServer`
///   factory closure and clone it in, or every worker thread gets a store of its own and a
///   visitor's session is lost whenever their next connection lands on another worker. When
///   workers of one server set up different memory stores under the same cookie name, a
///   warning says so (`tests/workers.rs`).
/// - **Expiring:** a session past its `expires_at` is never returned; expired sessions are
///   removed a few at a time as writes arrive (bounded work per write, no sweep pauses).
/// - **Bounded:** at most [`max_sessions`](MemoryStoreBuilder::max_sessions) sessions
///   (default 100 000); past that an approximately least recently used one is evicted (an
///   expired one first), and the first eviction is logged at `warn`. Eviction does not tell real
///   users from a flood: see [`max_sessions`](MemoryStoreBuilder::max_sessions).
/// - **Per-key saves:** a save applies only the keys that changed, so concurrent requests that
///   change different keys of one session both survive; in a large session it costs the changed
///   keys only.
/// - **No copies:** a load hands the request a live view; a value read is the stored bytes,
///   shared. A small session (up to 16 keys and 512 bytes) is kept as one packed buffer, a few
///   hundred bytes of memory in all (`benches/sessions.rs` measures it).
///
/// Values handed to the app are decoded copies: changing one does nothing until it is set back.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Mutex<Shard>>,
    clock: SharedClock,
    /// An eviction has happened (and was logged).
    evicted: AtomicBool,
    /// The user index: the sessions tied to each user. Kept exact (an entry goes with its
    /// session, however the session ends), so it cannot leak. Locked after a shard, never
    /// before one.
    users: Users,
    /// Orders revocations and id changes: `change_id` holds it shared, a revocation
    /// exclusively (both before any shard). A revocation reads the index and then ends each
    /// listed session; without the gate a session could move to a new key in between and slip
    /// out. Plain saves and loads never take it.
    gate: RwLock<()>,
}

/// The user index of a [`MemoryStore`].
#[derive(Default)]
struct Users(Mutex<HashMap<UserKey, KeySet>>);

/// The store keys of one user's sessions.
type KeySet = HashSet<[u8; 32], BuildHasherDefault<DigestHasher>>;

impl Users {
    fn tie(&self, user: &UserKey, key: [u8; 32]) {
        let mut users = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let sessions = users.entry(*user).or_default();
        if sessions.insert(key) {
            super::user::note_index_size(user, sessions.len());
        }
    }

    fn untie(&self, user: &UserKey, key: &[u8; 32]) {
        let mut users = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sessions) = users.get_mut(user) {
            sessions.remove(key);
            if sessions.is_empty() {
                users.remove(user);
            }
        }
    }

    fn sessions(&self, user: &UserKey) -> Vec<[u8; 32]> {
        let users = self.0.lock().unwrap_or_else(|p| p.into_inner());
        users
            .get(user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// How many users and index entries it holds (for the leak tests).
    fn size(&self) -> (usize, usize) {
        let users = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (users.len(), users.values().map(HashSet::len).sum())
    }
}

/// The first eight bytes of a key, which is already a SHA-256: no need to hash it again.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        if let Some(head) = bytes.get(..8) {
            self.0 = u64::from_le_bytes(head.try_into().unwrap_or_default());
        }
    }
    fn write_usize(&mut self, _: usize) {} // the array's length prefix
}

type Map = IndexMap<[u8; 32], Entry, BuildHasherDefault<DigestHasher>>;

/// One stored session.
struct Entry {
    created_at: u64,
    expires_at: u64,
    last_seen: u64,
    /// When it was last loaded or saved (seconds, truncated): the eviction order.
    used: u32,
    user: Option<Box<SessionUser>>,
    values: Values,
}

impl Entry {
    fn meta(&self) -> Meta {
        Meta::new(self.created_at, self.expires_at)
            .with_last_seen(self.last_seen)
            .with_user(self.user.as_deref().cloned())
    }

    fn record(&self) -> Record {
        Record {
            meta: self.meta(),
            data: self.values.to_map(),
        }
    }
}

struct Shard {
    map: Map,
    capacity: usize,
    /// Where the background work goes on (an index into the map's dense storage).
    cursor: usize,
}

impl Shard {
    /// The next entry's index (the map must not be empty).
    fn next(&mut self) -> usize {
        self.cursor = (self.cursor + 1) % self.map.len();
        self.cursor
    }

    /// Removes the entry at `i` (and its index entry); the last entry moves there, and the
    /// cursor looks at it next.
    fn remove_at(&mut self, i: usize, users: &Users) {
        if let Some((key, entry)) = self.map.swap_remove_index(i) {
            if let Some(user) = &entry.user {
                users.untie(&user.key, &key);
            }
        }
        self.cursor = i.checked_sub(1).unwrap_or(self.map.len().saturating_sub(1));
    }

    /// Removes the session `key`, if there, and its index entry.
    fn remove(&mut self, key: &[u8; 32], users: &Users) -> Option<Entry> {
        let entry = self.map.swap_remove(key)?;
        if let Some(user) = &entry.user {
            users.untie(&user.key, key);
        }
        Some(entry)
    }

    /// Takes the live session `key` out (index entry included); an expired one is removed and
    /// `None` answered.
    fn take_live(&mut self, key: &[u8; 32], now: u64, users: &Users) -> Option<Entry> {
        let index = self.map.get_index_of(key)?;
        if self.map[index].expires_at <= now {
            self.remove_at(index, users);
            return None;
        }
        self.remove(key, users)
    }

    /// Stores `entry`, with `changes` applied and the metadata of `meta`, under `key` (a new
    /// id), indexing its user; answers whether a live session had to be evicted for room.
    fn put(
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
    fn expire_some(&mut self, now: u64, users: &Users) {
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

/// Configures a [`MemoryStore`]; from [`MemoryStore::builder`].
#[must_use]
pub struct MemoryStoreBuilder {
    max_sessions: usize,
    clock: SharedClock,
}

impl MemoryStoreBuilder {
    /// Most sessions kept at once; then an approximately least recently used one goes (an
    /// expired one first). Default: 100 000. Values below 16 are raised to 16 (one per internal
    /// shard).
    ///
    /// **An anonymous flood evicts real users.** Eviction goes by recent use, whoever the
    /// session belongs to: a client that makes many requests to a route that *writes* to the
    /// session (each one starts a new session) pushes out the sessions of signed-in users, who
    /// are then logged out. The first eviction of a store is logged at `warn`. To keep it from
    /// mattering:
    ///
    /// - size `max_sessions` for your peak of real sessions with room to spare (a small session
    ///   costs a few hundred bytes);
    /// - write to the session of an anonymous visitor only when needed: a visitor whose session
    ///   stays empty gets no cookie and takes no slot (routes that only read are free);
    /// - rate-limit the routes that create sessions, or use a store whose capacity is not one
    ///   process's memory (`RedisStore`, [`FileStore`](super::FileStore)).
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// The clock that decides expiry. Default: the system clock.
    pub fn clock(mut self, clock: impl crate::clock::Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let capacity = self.max_sessions.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: Map::default(),
                    capacity,
                    cursor: 0,
                })
            })
            .collect();
        MemoryStore {
            inner: Arc::new(Inner {
                shards,
                clock: self.clock,
                evicted: AtomicBool::new(false),
                users: Users::default(),
                gate: RwLock::new(()),
            }),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::builder().build()
    }
}

impl MemoryStore {
    /// A builder with the defaults: 100 000 sessions, system clock.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            max_sessions: 100_000,
            clock: Arc::new(SystemClock),
        }
    }

    /// How many live (unexpired) sessions the store holds.
    pub fn len(&self) -> usize {
        let now = self.inner.clock.now();
        self.inner
            .shards
            .iter()
            .map(|s| lock(s).map.values().filter(|e| e.expires_at > now).count())
            .sum()
    }

    /// Whether the store holds no live session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the live session stored for `id`, without touching its recency: for tests and
    /// admin tools.
    pub fn peek(&self, id: &SessionId) -> Option<Record> {
        let key = id.digest();
        let now = self.inner.clock.now();
        lock(self.shard(&key))
            .map
            .get(&key)
            .filter(|e| e.expires_at > now)
            .map(Entry::record)
    }

    /// How many users the user index holds, and how many session entries (for tests that
    /// check it never leaks).
    pub fn index_size(&self) -> (usize, usize) {
        self.inner.users.size()
    }

    /// Tells stores apart: clones share one number, separately built stores have different
    /// ones (for the check that every worker holds the same store).
    pub(crate) fn instance(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Reports the first eviction of this store.
    fn evicted(&self) {
        if !self.inner.evicted.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "MemoryStore is full: the least recently used session was evicted to make room \
                 (its user is logged out). Raise max_sessions, write to anonymous sessions only \
                 when needed, or use a shared store; this is logged once per store"
            );
        }
    }

    fn shard(&self, key: &[u8; 32]) -> &Mutex<Shard> {
        &self.inner.shards[shard_of(key)]
    }
}

/// The shard of the session whose store key is `key`.
fn shard_of(key: &[u8; 32]) -> usize {
    key[0] as usize % SHARDS
}

/// A poisoned lock only means another thread panicked mid-operation; the map itself is still
/// consistent (every mutation is a single call), so keep serving.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A request's view of one session in a [`MemoryStore`]: each read looks the key up in the
/// store, so a load copies nothing, whatever the session's size.
struct View {
    inner: Arc<Inner>,
    key: [u8; 32],
}

impl View {
    fn with<T>(&self, f: impl FnOnce(&Entry) -> T) -> Option<T> {
        let shard = lock(&self.inner.shards[shard_of(&self.key)]);
        shard.map.get(&self.key).map(f)
    }
}

impl LiveValues for View {
    fn get(&self, key: &str) -> Option<Bytes> {
        self.with(|e| e.values.get(key)).flatten()
    }

    fn keys(&self) -> Vec<String> {
        self.with(|e| e.values.keys()).unwrap_or_default()
    }
}

/// Seconds, truncated, for the eviction order.
fn stamp(now: u64) -> u32 {
    now as u32
}

impl SessionStore for MemoryStore {
    /// The metadata, and a live view of the values: nothing is copied.
    async fn load(&self, id: &SessionId, _: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        let key = id.digest();
        let now = self.inner.clock.now();
        let mut shard = lock(self.shard(&key));
        let Some(index) = shard.map.get_index_of(&key) else {
            return Ok(None);
        };
        let entry = &mut shard.map[index];
        if entry.expires_at <= now {
            shard.remove_at(index, &self.inner.users);
            return Ok(None);
        }
        entry.used = stamp(now);
        let meta = entry.meta();
        drop(shard);
        let view = View {
            inner: self.inner.clone(),
            key,
        };
        Ok(Some(Loaded::live(meta, Arc::new(view))))
    }

    async fn save(&self, id: &SessionId, meta: &Meta, changes: &Changes) -> Result<(), StoreError> {
        let key = id.digest();
        let now = self.inner.clock.now();
        let users = &self.inner.users;
        let mut shard = lock(self.shard(&key));
        shard.expire_some(now, users);
        match shard.map.get_mut(&key).filter(|e| e.expires_at > now) {
            Some(entry) if !changes.created => {
                entry.values.apply(changes);
                entry.expires_at = meta.expires_at;
                entry.last_seen = meta.last_seen;
                entry.used = stamp(now);
                if entry.user.as_deref().map(|u| &u.key) != meta.user.as_ref().map(|u| &u.key) {
                    if let Some(old) = &entry.user {
                        users.untie(&old.key, &key);
                    }
                    if let Some(new) = &meta.user {
                        users.tie(&new.key, key);
                    }
                }
                entry.user = meta.user.clone().map(Box::new);
            }
            // Gone since it was loaded: deleted by a concurrent request, which wins.
            None if !changes.created => {}
            _ => {
                let entry = Entry {
                    created_at: meta.created_at,
                    expires_at: meta.expires_at,
                    last_seen: meta.last_seen,
                    used: stamp(now),
                    user: None,
                    values: Values::empty(),
                };
                let evicted = shard.put(key, entry, meta, changes, now, users);
                drop(shard);
                if evicted {
                    self.evicted();
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = id.digest();
        lock(self.shard(&key)).remove(&key, &self.inner.users);
        Ok(())
    }

    /// Under the locks of both shards (one if they are the same), taken in shard order: the
    /// entry leaves the old key and, changed, takes the new one, or nothing happens when the
    /// old one is gone or expired.
    async fn change_id(
        &self,
        old: &SessionId,
        new: &SessionId,
        meta: &Meta,
        changes: &Changes,
    ) -> Result<bool, StoreError> {
        let (from, to) = (old.digest(), new.digest());
        let now = self.inner.clock.now();
        let users = &self.inner.users;
        let _gate = self
            .inner
            .gate
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let (i, j) = (shard_of(&from), shard_of(&to));
        let shards = &self.inner.shards;
        let (moved, evicted) = if i == j {
            let mut shard = lock(&shards[i]);
            match shard.take_live(&from, now, users) {
                Some(entry) => (true, shard.put(to, entry, meta, changes, now, users)),
                None => (false, false),
            }
        } else {
            let (first, second) = (lock(&shards[i.min(j)]), lock(&shards[i.max(j)]));
            let (mut src, mut dst) = if i < j {
                (first, second)
            } else {
                (second, first)
            };
            match src.take_live(&from, now, users) {
                Some(entry) => (true, dst.put(to, entry, meta, changes, now, users)),
                None => (false, false),
            }
        };
        if evicted {
            self.evicted();
        }
        Ok(moved)
    }

    async fn touch(&self, id: &SessionId, meta: &Meta) -> Result<(), StoreError> {
        let key = id.digest();
        let now = self.inner.clock.now();
        if let Some(entry) = lock(self.shard(&key)).map.get_mut(&key) {
            entry.expires_at = meta.expires_at;
            entry.last_seen = meta.last_seen;
            entry.used = stamp(now);
        }
        Ok(())
    }

    fn lists_users(&self) -> bool {
        true
    }

    async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        let now = self.inner.clock.now();
        let mut found = Vec::new();
        for key in self.inner.users.sessions(user) {
            let mut shard = lock(self.shard(&key));
            match shard.map.get(&key) {
                Some(e) if e.expires_at <= now => {
                    // Expired: it goes now, index entry included.
                    shard.remove(&key, &self.inner.users);
                }
                Some(e) if e.user.as_ref().is_some_and(|u| u.key == *user) => {
                    found.push(e.record());
                }
                _ => {}
            }
        }
        Ok(found)
    }

    async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        Ok(self.revoke_where(user, true, |h| h == handle) > 0)
    }

    async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        Ok(self.revoke_where(user, false, |h| Some(h) != except))
    }
}

impl MemoryStore {
    /// Ends the sessions of `user` whose handle `pick` chooses (the first one only, when
    /// `one`); answers how many ended.
    ///
    /// It reads the index, then ends each listed session under its shard's lock, holding the
    /// gate exclusively all along: no session can move to a new key (which the listing would
    /// not hold) in between, so none slips out of a revocation by changing its id.
    fn revoke_where(&self, user: &UserKey, one: bool, pick: impl Fn(&Handle) -> bool) -> usize {
        let users = &self.inner.users;
        let _gate = self
            .inner
            .gate
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut ended = 0;
        for key in users.sessions(user) {
            let mut shard = lock(self.shard(&key));
            let chosen = shard.map.get(&key).is_some_and(|e| {
                e.user
                    .as_ref()
                    .is_some_and(|u| u.key == *user && pick(&u.handle))
            });
            if chosen {
                shard.remove(&key, users);
                ended += 1;
                if one {
                    break;
                }
            }
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::super::SessionUser;
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::time::Duration;

    fn meta(now: u64) -> Meta {
        Meta::new(now, now + 60)
    }

    fn set(pairs: &[(&str, &str)]) -> Changes {
        Changes {
            set: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Bytes::copy_from_slice(v.as_bytes())))
                .collect(),
            ..Changes::default()
        }
    }

    fn new(pairs: &[(&str, &str)]) -> Changes {
        Changes::full(set(pairs).set)
    }

    #[tokio::test]
    async fn per_key_merge_keeps_concurrent_keys() {
        let store = MemoryStore::default();
        let id = SessionId::generate();
        let now = SystemClock.now();
        store
            .save(&id, &meta(now), &new(&[("a", "1")]))
            .await
            .unwrap();
        // Two requests loaded {a}; one sets b, the other sets c.
        for key in ["b", "c"] {
            store
                .save(&id, &meta(now), &set(&[(key, "x")]))
                .await
                .unwrap();
        }
        let stored = store.load(&id, Fetch::All).await.unwrap().unwrap();
        let mut keys: Vec<_> = stored.into_record().data.into_keys().collect();
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_load_is_a_live_view_that_copies_nothing() {
        let store = MemoryStore::default();
        let id = SessionId::generate();
        let now = SystemClock.now();
        store
            .save(&id, &meta(now), &new(&[("a", "1")]))
            .await
            .unwrap();
        let loaded = store.load(&id, Fetch::All).await.unwrap().unwrap();
        let crate::store::Values::Live(view) = &loaded.values else {
            panic!("a live view");
        };
        let stored = store.peek(&id).unwrap().data["a"].clone();
        assert_eq!(
            view.get("a").unwrap().as_ptr(),
            stored.as_ptr(),
            "the value read is the stored bytes, shared"
        );
        store
            .save(&id, &meta(now), &set(&[("b", "2")]))
            .await
            .unwrap();
        assert_eq!(
            view.get("b").as_deref(),
            Some(&b"2"[..]),
            "reads see the store"
        );
        store.delete(&id).await.unwrap();
        assert_eq!(view.get("a"), None);
    }

    #[tokio::test]
    async fn update_does_not_resurrect_a_deleted_session() {
        let store = MemoryStore::default();
        let id = SessionId::generate();
        let now = SystemClock.now();
        store
            .save(&id, &meta(now), &new(&[("a", "1")]))
            .await
            .unwrap();
        store.delete(&id).await.unwrap();
        store
            .save(&id, &meta(now), &set(&[("a", "2")]))
            .await
            .unwrap();
        assert!(store.load(&id, Fetch::All).await.unwrap().is_none());
    }

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

    #[tokio::test]
    async fn change_id_moves_a_live_session_only() {
        let clock = ManualClock::new();
        let store = MemoryStore::builder().clock(clock.clone()).build();
        let now = clock.now();
        let user = SessionUser::new("ann");
        let tied = meta(now).with_user(Some(user.clone()));
        let (first, second) = (SessionId::generate(), SessionId::generate());
        store
            .save(&first, &tied, &new(&[("a", "1")]))
            .await
            .unwrap();
        // Another request changed a key meanwhile: the move keeps it.
        store
            .save(&first, &tied, &set(&[("b", "2")]))
            .await
            .unwrap();
        let moved = store
            .change_id(&first, &second, &tied, &set(&[("c", "3")]))
            .await
            .unwrap();
        assert!(moved);
        assert!(store.peek(&first).is_none());
        let mut keys: Vec<_> = store.peek(&second).unwrap().data.into_keys().collect();
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(
            store.index_size(),
            (1, 1),
            "the index names the new key only"
        );
        assert_eq!(store.user_sessions(&user.key).await.unwrap().len(), 1);

        // Gone: nothing is written under the next id.
        let next = SessionId::generate();
        store.delete(&second).await.unwrap();
        assert!(!store
            .change_id(&second, &next, &tied, &set(&[]))
            .await
            .unwrap());
        assert!(store.peek(&next).is_none());
        // Expired: the same.
        store
            .save(&first, &tied, &new(&[("a", "1")]))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(61));
        assert!(!store
            .change_id(&first, &next, &tied, &set(&[]))
            .await
            .unwrap());
        assert!(store.peek(&next).is_none());
        assert_eq!(store.index_size(), (0, 0));
    }

    /// Threads change the ids of a user's sessions over and over while `revoke_all` runs on
    /// another: no session slips out of the revocation by moving to a key its listing did not
    /// hold.
    #[test]
    fn revoke_all_catches_sessions_whose_id_changes_meanwhile() {
        fn block_on<F: std::future::Future>(f: F) -> F::Output {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(f)
        }
        for _ in 0..20 {
            let store = MemoryStore::default();
            let now = SystemClock.now();
            let user = SessionUser::new("rhea");
            let tied = meta(now).with_user(Some(user.clone()));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let id = SessionId::generate();
                    block_on(store.save(&id, &tied, &new(&[("a", "1")]))).unwrap();
                    let (store, tied) = (store.clone(), tied.clone());
                    std::thread::spawn(move || {
                        let mut id = id;
                        for _ in 0..5000 {
                            let next = SessionId::generate();
                            if !block_on(store.change_id(&id, &next, &tied, &set(&[]))).unwrap() {
                                return;
                            }
                            id = next;
                        }
                    })
                })
                .collect();
            block_on(store.revoke_all(&user.key, None)).unwrap();
            for thread in threads {
                thread.join().unwrap();
            }
            let left = block_on(store.user_sessions(&user.key)).unwrap();
            assert!(left.is_empty(), "{} sessions slipped out", left.len());
        }
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
