//! The live view a load of a [`MemoryStore`](super::MemoryStore) hands the request.

use std::sync::Arc;

use super::shard::{lock, shard_of, Entry};
use super::Inner;
use crate::store::{Bytes, LiveValues};

/// A request's view of one session in a [`MemoryStore`]: each read looks the key up in the
/// store, so a load copies nothing, whatever the session's size.
///
/// [`MemoryStore`]: super::MemoryStore
pub(super) struct View {
    pub(super) inner: Arc<Inner>,
    pub(super) key: [u8; 32],
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

#[cfg(test)]
mod tests {
    use crate::clock::{Clock, SystemClock};
    use crate::id::SessionId;
    use crate::store::memory::tests::{meta, new, set};
    use crate::store::{Fetch, MemoryStore, SessionStore};

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
}
