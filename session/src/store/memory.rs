//! [`MemoryStore`]: the embedded default, sessions in this process's memory.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use super::{Changes, Record, SessionStore};
use crate::clock::{SharedClock, SystemClock};
use crate::error::StoreError;
use crate::id::SessionId;

const SHARDS: usize = 16;
const SWEEP_EVERY: u32 = 1024;

/// Sessions kept in memory: fast, concurrent, bounded, and gone when the process exits.
///
/// - **Shared:** clones share the same sessions. Build one store *outside* the `HttpServer`
///   factory closure and clone it in, or every worker thread gets a store of its own and a
///   visitor's session is lost whenever their next connection lands on another worker. When
///   workers of one server set up different memory stores under the same cookie name, a
///   warning says so (`tests/workers.rs`).
/// - **Expiring:** a record past its `expires_at` is never returned, and expired records are
///   swept now and then as writes arrive.
/// - **Bounded:** at most [`max_sessions`](MemoryStoreBuilder::max_sessions) sessions
///   (default 100 000); past that the least recently used is evicted, and the first eviction
///   is logged at `warn`. Eviction does not tell real users from a flood: see
///   [`max_sessions`](MemoryStoreBuilder::max_sessions).
/// - **Per-key saves:** a save applies only the keys that changed, so concurrent requests that
///   change different keys of one session both survive.
///
/// Values handed to the app are copies: changing one does nothing until it is set back.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Mutex<Shard>>,
    clock: SharedClock,
    /// An eviction has happened (and was logged).
    evicted: AtomicBool,
}

struct Shard {
    map: LruCache<[u8; 32], Record>,
    writes: u32,
}

/// Configures a [`MemoryStore`]; from [`MemoryStore::builder`].
#[must_use]
pub struct MemoryStoreBuilder {
    max_sessions: usize,
    clock: SharedClock,
}

impl MemoryStoreBuilder {
    /// Most sessions kept at once; the least recently used goes first. Default: 100 000.
    /// Values below 16 are raised to 16 (one per internal shard).
    ///
    /// **An anonymous flood evicts real users.** Eviction is least-recently-used, whoever the
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
        let per_shard = NonZeroUsize::new(self.max_sessions.div_ceil(SHARDS).max(1))
            .unwrap_or(NonZeroUsize::MIN);
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: LruCache::new(per_shard),
                    writes: 0,
                })
            })
            .collect();
        MemoryStore {
            inner: Arc::new(Inner {
                shards,
                clock: self.clock,
                evicted: AtomicBool::new(false),
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
            .map(|s| {
                lock(s)
                    .map
                    .iter()
                    .filter(|(_, r)| r.expires_at > now)
                    .count()
            })
            .sum()
    }

    /// Whether the store holds no live session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the live record stored for `id`, without touching its recency: for tests and
    /// admin tools.
    pub fn peek(&self, id: &SessionId) -> Option<Record> {
        let key = id.digest();
        let now = self.inner.clock.now();
        lock(self.shard(&key))
            .map
            .peek(&key)
            .filter(|r| r.expires_at > now)
            .cloned()
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
        &self.inner.shards[key[0] as usize % SHARDS]
    }
}

/// A poisoned lock only means another thread panicked mid-operation; the map itself is still
/// consistent (every mutation is a single call), so keep serving.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let key = id.digest();
        let now = self.inner.clock.now();
        let mut shard = lock(self.shard(&key));
        match shard.map.get(&key) {
            Some(record) if record.expires_at > now => Ok(Some(record.clone())),
            Some(_) => {
                shard.map.pop(&key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        changes: &Changes,
    ) -> Result<(), StoreError> {
        let key = id.digest();
        let now = self.inner.clock.now();
        let mut shard = lock(self.shard(&key));
        shard.writes = shard.writes.wrapping_add(1);
        if shard.writes.is_multiple_of(SWEEP_EVERY) {
            sweep(&mut shard.map, now);
        }
        let existing = shard.map.get_mut(&key).filter(|r| r.expires_at > now);
        match existing {
            Some(stored) if !changes.replace_all => {
                for k in &changes.removed {
                    stored.data.remove(k);
                }
                for k in &changes.set {
                    if let Some(v) = record.data.get(k) {
                        stored.data.insert(k.clone(), v.clone());
                    }
                }
                stored.expires_at = record.expires_at;
            }
            Some(stored) => *stored = record.clone(),
            // Gone since it was loaded: deleted by a concurrent request, which wins.
            None if !changes.created => {}
            None => {
                let pushed_out = shard.map.push(key, record.clone());
                drop(shard);
                // An expired entry pushed out is no loss; a live one logs its user out.
                if pushed_out.is_some_and(|(old, r)| old != key && r.expires_at > now) {
                    self.evicted();
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        let key = id.digest();
        lock(self.shard(&key)).map.pop(&key);
        Ok(())
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        let key = id.digest();
        if let Some(stored) = lock(self.shard(&key)).map.get_mut(&key) {
            stored.expires_at = record.expires_at;
        }
        Ok(())
    }
}

fn sweep(map: &mut LruCache<[u8; 32], Record>, now: u64) {
    let expired: Vec<[u8; 32]> = map
        .iter()
        .filter(|(_, r)| r.expires_at <= now)
        .map(|(k, _)| *k)
        .collect();
    for k in expired {
        map.pop(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::time::Duration;

    fn record(now: u64, pairs: &[(&str, &str)]) -> Record {
        Record {
            data: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            created_at: now,
            expires_at: now + 60,
        }
    }

    #[tokio::test]
    async fn per_key_merge_keeps_concurrent_keys() {
        let store = MemoryStore::default();
        let id = SessionId::generate();
        let now = SystemClock.now();
        store
            .save(&id, &record(now, &[("a", "1")]), &Changes::full())
            .await
            .unwrap();
        // Two requests loaded {a}; one sets b, the other sets c.
        for key in ["b", "c"] {
            let changes = Changes {
                set: vec![key.into()],
                ..Changes::default()
            };
            store
                .save(&id, &record(now, &[("a", "1"), (key, "x")]), &changes)
                .await
                .unwrap();
        }
        let stored = store.load(&id).await.unwrap().unwrap();
        let mut keys: Vec<_> = stored.data.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn update_does_not_resurrect_a_deleted_session() {
        let store = MemoryStore::default();
        let id = SessionId::generate();
        let now = SystemClock.now();
        store
            .save(&id, &record(now, &[("a", "1")]), &Changes::full())
            .await
            .unwrap();
        store.delete(&id).await.unwrap();
        let changes = Changes {
            set: vec!["a".into()],
            ..Changes::default()
        };
        store
            .save(&id, &record(now, &[("a", "2")]), &changes)
            .await
            .unwrap();
        assert!(store.load(&id).await.unwrap().is_none());
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
        store
            .save(&first, &record(now, &[]), &Changes::full())
            .await
            .unwrap();
        assert!(store.load(&first).await.unwrap().is_some());
        clock.advance(Duration::from_secs(61));
        assert!(store.load(&first).await.unwrap().is_none());

        // 16 sessions over 16 shards of one slot each: far more than that evicts.
        for _ in 0..200 {
            store
                .save(
                    &SessionId::generate(),
                    &record(clock.now(), &[]),
                    &Changes::full(),
                )
                .await
                .unwrap();
        }
        assert!(store.len() <= 16, "len {}", store.len());
    }
}
