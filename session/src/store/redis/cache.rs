//! The read cache of a [`RedisStore`](super::RedisStore) made with
//! [`RedisStore::cached`](super::RedisStore::cached): sessions this app server read, kept in
//! memory and dropped the moment Redis says they changed (server-assisted client-side caching,
//! RESP3 `CLIENT TRACKING`).
//!
//! # Why a cached session is never stale
//!
//! Every command of a cached store goes over **one** RESP3 connection on which tracking is on,
//! so Redis remembers each key this connection read and pushes an `invalidate` message on it
//! when anyone (another app server, a script, an expiry) changes or deletes that key. The rules
//! that make the cache agree with Redis:
//!
//! 1. **A read fills only what it was the last to ask for.** Before an `HGETALL` goes out, the
//!    key's slot is set to `Pending(ticket)`; the reply is kept only if the slot still holds
//!    that ticket. Anything that invalidates the key meanwhile (a push, a write of this server,
//!    a lost connection) empties the slot, so a reply that may predate the change is used for
//!    its own request and never kept.
//! 2. **A write of this server empties the key's slot before it is sent and again after its
//!    reply** ([`Cache::writing`]). A read that was in flight across the write loses its
//!    ticket; a read that starts after the write's reply was sent after it on the same
//!    connection, so it reads the written state. Redis sends no push about the server's own
//!    writes (tracking is on with `NOLOOP`): this rule alone keeps them right.
//! 3. **Operations that end sessions by a script that finds them itself** (revocations) empty
//!    the whole cache before and after ([`Cache::clear`]), for the same reason.
//! 4. **A lost connection empties the cache**: pushes that were in flight are gone with it.
//!    redis-rs reports the loss to the push handler (`Disconnection`), and the store empties the
//!    cache whenever it drops its connection (an error, a timeout) and when it makes a new one.
//! 5. **An entry lives at most [`ReadCache::max_age`]** even if no push came: the bound on how
//!    stale a read can be if the network drops pushes without closing the connection (a
//!    half-open TCP connection, until the kernel notices).
//!
//! A change made by another app server reaches this one as a push that Redis writes to this
//! connection while it runs the change, before it answers the writer; this server reads it as
//! soon as its connection task next runs (the time a reply takes to arrive).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use deadpool_redis::redis::{PushInfo, PushKind, Value};
use indexmap::IndexMap;

use crate::store::{Bytes, LiveValues, Loaded, Meta, Record};

/// Settings of the read cache of [`RedisStore::cached`](super::RedisStore::cached).
///
/// ```
/// use std::time::Duration;
/// use actix_typed_session::store::ReadCache;
///
/// let cache = ReadCache::default()
///     .sessions(50_000)
///     .max_age(Duration::from_secs(60));
/// # let _ = cache;
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct ReadCache {
    sessions: NonZeroUsize,
    max_age: Duration,
}

impl Default for ReadCache {
    /// 10 000 sessions, kept at most 5 minutes each.
    fn default() -> Self {
        ReadCache {
            sessions: NonZeroUsize::new(10_000).expect("non-zero"),
            max_age: Duration::from_secs(300),
        }
    }
}

impl ReadCache {
    /// How many sessions the cache holds at most (default 10 000); when full, an arbitrary
    /// one makes room. Each costs what the session holds, plus about 100 bytes. `0` counts as 1.
    pub fn sessions(mut self, sessions: usize) -> Self {
        self.sessions = NonZeroUsize::new(sessions).unwrap_or(NonZeroUsize::MIN);
        self
    }

    /// How long a cached session is used at most before it is read again (default 5 minutes):
    /// the bound on staleness should the network lose Redis's pushes without closing the
    /// connection. Pushes make entries go at once in every other case.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }
}

/// The cache itself, shared by the store and its connection's push handler.
pub(super) struct Cache {
    settings: ReadCache,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By Redis key.
    slots: IndexMap<String, Slot>,
    next_ticket: u64,
}

enum Slot {
    /// A read is under way; its reply is kept only if this is still here (rule 1).
    Pending(u64),
    Ready {
        at: Instant,
        meta: Meta,
        values: Arc<Snapshot>,
    },
}

/// What a [`Cache::lookup`] found.
// Matched at once by the one caller, never stored: boxing the hit would cost an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Lookup {
    Hit(Loaded),
    /// Not cached: read it, then [`Cache::fill`] with this ticket.
    Miss(u64),
}

/// A cached session's values, read in place by the request (shared, never copied).
struct Snapshot(HashMap<String, Bytes>);

impl LiveValues for Snapshot {
    fn get(&self, key: &str) -> Option<Bytes> {
        self.0.get(key).cloned()
    }

    fn keys(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

impl Cache {
    pub(super) fn new(settings: ReadCache) -> Self {
        Cache {
            settings,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session under `key` if cached and young enough; else a ticket for the read.
    pub(super) fn lookup(&self, key: &str) -> Lookup {
        let mut state = self.state();
        if let Some(Slot::Ready { at, meta, values }) = state.slots.get(key) {
            if at.elapsed() <= self.settings.max_age {
                let values: Arc<dyn LiveValues> = values.clone();
                return Lookup::Hit(Loaded::live(meta.clone(), values));
            }
        }
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        if let Some(slot) = state.slots.get_mut(key) {
            *slot = Slot::Pending(ticket);
        } else {
            self.make_room(&mut state, ticket);
            state.slots.insert(key.to_owned(), Slot::Pending(ticket));
        }
        Lookup::Miss(ticket)
    }

    /// What a read under `ticket` found: kept if nothing invalidated the key since the ticket
    /// was given (rule 1); the request gets it either way.
    pub(super) fn fill(&self, key: &str, ticket: u64, record: Option<Record>) -> Option<Loaded> {
        let mut state = self.state();
        let Some(record) = record else {
            if let Some(Slot::Pending(t)) = state.slots.get(key) {
                if *t == ticket {
                    state.slots.swap_remove(key);
                }
            }
            return None;
        };
        let values = Arc::new(Snapshot(record.data));
        let loaded = Loaded::live(record.meta.clone(), values.clone());
        if let Some(slot) = state.slots.get_mut(key) {
            if matches!(slot, Slot::Pending(t) if *t == ticket) {
                *slot = Slot::Ready {
                    at: Instant::now(),
                    meta: record.meta,
                    values,
                };
            }
        }
        Some(loaded)
    }

    /// Empties `key`'s slot now and again when the returned guard drops, after the write
    /// (rule 2).
    pub(super) fn writing<'a>(&'a self, key: &'a str) -> Writing<'a> {
        self.forget(key);
        Writing { cache: self, key }
    }

    fn forget(&self, key: &str) {
        self.state().slots.swap_remove(key);
    }

    /// Empties the whole cache now and again when the returned guard drops (rule 3).
    pub(super) fn clearing(&self) -> Clearing<'_> {
        self.clear();
        Clearing(self)
    }

    /// Empties the whole cache (rules 3 and 4).
    pub(super) fn clear(&self) {
        let mut state = self.state();
        state.slots.clear();
        if state.slots.capacity() > self.settings.sessions.get() {
            state.slots.shrink_to_fit();
        }
    }

    /// How many sessions are cached (ready or being read).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().slots.len()
    }

    fn make_room(&self, state: &mut State, ticket: u64) {
        let len = state.slots.len();
        if len >= self.settings.sessions.get() {
            // Any entry: the ticket counter spreads the choice over the map.
            state.slots.swap_remove_index(ticket as usize % len);
        }
    }

    /// A message Redis pushed on the tracked connection, or redis-rs's report that it closed.
    pub(super) fn on_push(&self, push: &PushInfo) {
        match push.kind {
            PushKind::Invalidate => {
                let mut keys = Vec::new();
                let mut all = push.data.is_empty();
                for value in &push.data {
                    match value {
                        Value::Array(items) => keys.extend(items.iter().filter_map(key_of)),
                        Value::Nil => all = true,
                        other => keys.extend(key_of(other)),
                    }
                }
                if all {
                    // A FLUSHALL / FLUSHDB, or Redis's own tracking table overflowing.
                    self.clear();
                } else {
                    let mut state = self.state();
                    for key in keys {
                        state.slots.swap_remove(key);
                    }
                }
            }
            PushKind::Disconnection => {
                tracing::debug!("redis read cache: connection lost; cache emptied");
                self.clear();
            }
            _ => {}
        }
    }
}

fn key_of(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// From [`Cache::writing`]: empties the key's slot again when dropped (the write done, failed
/// or cancelled).
pub(super) struct Writing<'a> {
    cache: &'a Cache,
    key: &'a str,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.cache.forget(self.key);
    }
}

/// From [`Cache::clearing`]: empties the cache again when dropped.
pub(super) struct Clearing<'a>(&'a Cache);

impl Drop for Clearing<'_> {
    fn drop(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Meta;

    fn record(value: &str) -> Record {
        let mut data = HashMap::new();
        data.insert("k".to_owned(), Bytes::from(value.as_bytes().to_vec()));
        Record {
            meta: Meta::new(1, u64::MAX),
            data,
        }
    }

    fn value(loaded: &Loaded) -> Option<Bytes> {
        loaded.known("k").flatten()
    }

    fn hit(cache: &Cache, key: &str) -> Option<Loaded> {
        match cache.lookup(key) {
            Lookup::Hit(l) => Some(l),
            Lookup::Miss(_) => None,
        }
    }

    fn ticket(lookup: Lookup) -> u64 {
        match lookup {
            Lookup::Miss(t) => t,
            Lookup::Hit(_) => panic!("expected a miss"),
        }
    }

    fn push(kind: PushKind, data: Vec<Value>) -> PushInfo {
        PushInfo { kind, data }
    }

    #[test]
    fn a_read_fills_the_cache_and_the_next_is_a_hit() {
        let cache = Cache::new(ReadCache::default());
        let t = ticket(cache.lookup("a"));
        let loaded = cache.fill("a", t, Some(record("1"))).unwrap();
        assert_eq!(value(&loaded).as_deref(), Some(&b"1"[..]));
        let again = hit(&cache, "a").expect("cached");
        assert_eq!(value(&again).as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn a_reply_that_an_invalidation_overtook_is_not_kept() {
        let cache = Cache::new(ReadCache::default());
        let t = ticket(cache.lookup("a"));
        cache.on_push(&push(
            PushKind::Invalidate,
            vec![Value::Array(vec![Value::BulkString(b"a".to_vec())])],
        ));
        // The request still gets what it read; the cache does not keep it.
        assert!(cache.fill("a", t, Some(record("old"))).is_some());
        assert!(hit(&cache, "a").is_none());
    }

    #[test]
    fn a_write_empties_the_slot_before_and_after() {
        let cache = Cache::new(ReadCache::default());
        let t = ticket(cache.lookup("a"));
        cache.fill("a", t, Some(record("1")));
        let read_during = {
            let _w = cache.writing("a");
            assert!(hit(&cache, "a").is_none(), "emptied before the write");
            // A read that starts while the write is under way ...
            ticket(cache.lookup("a"))
        };
        // ... may have read the old state: its reply is not kept.
        cache.fill("a", read_during, Some(record("1")));
        assert!(hit(&cache, "a").is_none());
    }

    #[test]
    fn a_newer_read_wins_over_an_older_one() {
        let cache = Cache::new(ReadCache::default());
        let old = ticket(cache.lookup("a"));
        let new = ticket(cache.lookup("a"));
        cache.fill("a", new, Some(record("new")));
        cache.fill("a", old, Some(record("old")));
        let got = hit(&cache, "a").unwrap();
        assert_eq!(value(&got).as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn a_lost_connection_or_a_flush_empties_everything() {
        let cache = Cache::new(ReadCache::default());
        for key in ["a", "b"] {
            let t = ticket(cache.lookup(key));
            cache.fill(key, t, Some(record("1")));
        }
        cache.on_push(&push(PushKind::Disconnection, vec![]));
        assert_eq!(cache.len(), 0);
        let t = ticket(cache.lookup("a"));
        cache.fill("a", t, Some(record("1")));
        cache.on_push(&push(PushKind::Invalidate, vec![Value::Nil]));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn entries_older_than_max_age_are_read_again() {
        let cache = Cache::new(ReadCache::default().max_age(Duration::ZERO));
        let t = ticket(cache.lookup("a"));
        cache.fill("a", t, Some(record("1")));
        std::thread::sleep(Duration::from_millis(2));
        assert!(hit(&cache, "a").is_none());
    }

    #[test]
    fn the_cache_stays_within_its_size() {
        let cache = Cache::new(ReadCache::default().sessions(3));
        for i in 0..10 {
            let key = format!("k{i}");
            let t = ticket(cache.lookup(&key));
            cache.fill(&key, t, Some(record("1")));
            assert!(cache.len() <= 3);
        }
        assert!(hit(&cache, "k9").is_some(), "the newest is kept");
    }

    #[test]
    fn an_absent_session_is_not_cached() {
        let cache = Cache::new(ReadCache::default());
        let t = ticket(cache.lookup("a"));
        assert!(cache.fill("a", t, None).is_none());
        assert_eq!(cache.len(), 0);
    }
}
