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
//!
//! This file: the store, its builder and its [`SessionStore`] impl. `shard`: the shards, their
//! entries, expiry and eviction; `users`: the user index; `view`: the live view
//! a load hands out; `values`: how an entry keeps its values.

mod shard;
mod users;
mod values;
mod view;

use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use self::shard::{lock, shard_of, stamp, Entry, Map, Shard, SHARDS};
use self::users::Users;
use self::values::Values;
use self::view::View;
use super::{
    Changes, Fetch, Handle, IndexRef, Loaded, Meta, Record, SessionStore, UserIndex, UserKey,
};
use crate::clock::{SharedClock, SystemClock};
use crate::error::StoreError;
use crate::id::SessionId;

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

    /// It keeps the user index ([`UserIndex`] below).
    fn user_index(&self) -> Option<IndexRef<'_>> {
        Some(IndexRef::of(self))
    }
}

impl UserIndex for MemoryStore {
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
    use super::super::{Bytes, SessionUser};
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::time::Duration;

    pub(super) fn meta(now: u64) -> Meta {
        Meta::new(now, now + 60)
    }

    pub(super) fn set(pairs: &[(&str, &str)]) -> Changes {
        Changes {
            set: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Bytes::copy_from_slice(v.as_bytes())))
                .collect(),
            ..Changes::default()
        }
    }

    pub(super) fn new(pairs: &[(&str, &str)]) -> Changes {
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
}
