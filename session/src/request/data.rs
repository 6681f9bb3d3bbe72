//! One request's view of its session: what the store gave (possibly only some keys, or a live
//! view), with this request's changes on top.
//!
//! Reads look at the changes first, then at the base. Nothing is copied from the store that the
//! request does not read: a value is a shared [`Bytes`], a live base is read key by key, and a
//! save sends only the changed keys.

use std::collections::HashMap;
use std::sync::Arc;

use crate::id::SessionId;
use crate::store::{Bytes, Changes, Fetch, LiveValues, Loaded, Meta, Record, Values};

/// This request's changes by key. Hashed with foldhash, not the standard SipHash: the keys
/// are the app's own (a handler's `set`), never a client's, so flooding them is not an attack a
/// visitor can make, and a set or a read of one key costs a third of the instructions.
type Dirty = HashMap<String, Option<Bytes>, foldhash::fast::RandomState>;

/// What the store gave.
enum Base {
    /// Values fetched with the load. `known: None`: every value of the session is here;
    /// `Some(keys)`: only these keys were asked for (those with a value are in `data`).
    Fetched {
        data: HashMap<String, Bytes>,
        known: Option<Vec<String>>,
    },
    /// Read from the store on demand.
    Live(Arc<dyn LiveValues>),
}

/// Data of one loaded session.
pub(crate) struct Data {
    id: SessionId,
    /// The session came from the store (or the client, for client-side stores).
    existed: bool,
    meta: Meta,
    base: Base,
    /// Values set (`Some`) or removed (`None`) by this request.
    dirty: Dirty,
    /// `clear()` was called: the base no longer counts, only `dirty`.
    cleared: bool,
    /// The metadata changed (a user was tied): a save is due even without a changed value.
    meta_changed: bool,
    /// This request tied the session to a user (the per-user cap applies).
    tied: bool,
    /// `change_id` already moved the data to a new id; the old id, if it was stored, is here
    /// until the store forgets it.
    retired: Option<SessionId>,
    rotated: bool,
    /// What a client-side store binds this request's session to (see the store's docs).
    binding: Option<Vec<u8>>,
    /// The session was carried over from an old store ([`crate::migrate`]): what to forget
    /// there once it is saved here.
    origin: Option<Box<crate::migrate::Origin>>,
    /// The session's own lifetime in seconds ([`Session::remember`](crate::Session::remember)),
    /// when it has one and this request knows it.
    remember: Option<u64>,
    /// Opened through a replaced id within its grace window: the client gets the current id.
    resend: bool,
}

impl Data {
    /// A new, empty session.
    pub(crate) fn fresh(meta: Meta, binding: Option<Vec<u8>>) -> Self {
        Data::new(
            SessionId::generate(),
            false,
            meta,
            Base::complete(HashMap::new()),
            binding,
        )
    }

    /// The session `id` as a store loaded it for `fetch`.
    pub(crate) fn loaded(
        id: SessionId,
        fetch: Fetch<'_>,
        loaded: Loaded,
        binding: Option<Vec<u8>>,
    ) -> Self {
        Data::new(
            id,
            true,
            loaded.meta,
            Base::new(loaded.values, fetch),
            binding,
        )
    }

    fn new(id: SessionId, existed: bool, meta: Meta, base: Base, binding: Option<Vec<u8>>) -> Self {
        Data {
            id,
            existed,
            meta,
            base,
            dirty: Dirty::default(),
            cleared: false,
            meta_changed: false,
            tied: false,
            retired: None,
            rotated: false,
            binding,
            origin: None,
            remember: None,
            resend: false,
        }
    }

    /// The session's own lifetime in seconds, if it has one.
    pub(crate) fn remember(&self) -> Option<u64> {
        self.remember
    }

    /// Sets what this request knows of the session's own lifetime.
    pub(crate) fn set_remember(&mut self, secs: Option<u64>) {
        self.remember = secs;
    }

    /// A session of an old store, carried over ([`crate::migrate`]): a new id (the old one is
    /// never adopted), its metadata (the user, the creation time), and every value to be
    /// written as new, so the first commit saves it whole.
    pub(crate) fn carried(
        meta: Meta,
        values: HashMap<String, Bytes>,
        binding: Option<Vec<u8>>,
        origin: crate::migrate::Origin,
    ) -> Self {
        let mut data = Data::new(
            SessionId::generate(),
            false,
            meta,
            Base::complete(HashMap::new()),
            binding,
        );
        data.dirty = values.into_iter().map(|(k, v)| (k, Some(v))).collect();
        data.meta_changed = true;
        data.origin = Some(Box::new(origin));
        data
    }

    /// Where the session was carried over from, while the old store still holds it.
    pub(crate) fn origin(&self) -> Option<&crate::migrate::Origin> {
        self.origin.as_deref()
    }

    /// Where the session was carried over from, taken: it is about to be forgotten there.
    pub(crate) fn take_origin(&mut self) -> Option<crate::migrate::Origin> {
        self.origin.take().map(|origin| *origin)
    }

    /// The session's id (after [`rotate`](Self::rotate), the new one).
    pub(crate) fn id(&self) -> &SessionId {
        &self.id
    }

    /// Whether the session came from the store (or the client, for a client-side store).
    pub(crate) fn existed(&self) -> bool {
        self.existed
    }

    /// The session's metadata.
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The user the session is tied to, if any.
    pub(crate) fn user(&self) -> Option<&crate::store::SessionUser> {
        self.meta.user.as_ref()
    }

    /// What a client-side store binds this request's session to.
    pub(crate) fn binding(&self) -> Option<&[u8]> {
        self.binding.as_deref()
    }

    /// Whether this request tied the session to a user (the per-user cap applies).
    pub(crate) fn tied(&self) -> bool {
        self.tied
    }

    /// The per-user work of this tie is done.
    pub(crate) fn untie(&mut self) {
        self.tied = false;
    }

    /// The stored id that `change_id` left behind, if any (for `expire`).
    pub(crate) fn retired(&self) -> Option<&SessionId> {
        self.retired.as_ref()
    }

    /// The stored id that `change_id` left behind, taken: the store is about to forget it.
    pub(crate) fn take_retired(&mut self) -> Option<SessionId> {
        self.retired.take()
    }

    /// Used at `now`: the new expiry (by the middleware's timeouts) and last-seen time, which
    /// the save or touch being prepared writes.
    pub(crate) fn stamp(&mut self, expires_at: u64, now: u64) {
        self.meta.expires_at = expires_at;
        self.meta.last_seen = now;
    }

    /// Gives the session's tie to its user a new handle (a metadata change to save).
    pub(crate) fn new_handle(&mut self, handle: crate::store::Handle) {
        if let Some(user) = self.meta.user.as_mut() {
            user.handle = handle;
        }
        self.meta_changed = true;
    }

    /// Whether answering reads of `fetch` needs another load from the store.
    pub(crate) fn needs(&self, fetch: Fetch<'_>) -> bool {
        if !self.existed || self.cleared {
            return false;
        }
        match (&self.base, fetch) {
            (Base::Live(_), _) | (Base::Fetched { known: None, .. }, _) => false,
            (Base::Fetched { known: Some(_), .. }, Fetch::All) => true,
            (
                Base::Fetched {
                    known: Some(known), ..
                },
                Fetch::Keys(keys),
            ) => keys.iter().any(|k| !known.iter().any(|known| known == k)),
        }
    }

    /// Adds what a later load for `fetch` found (`None`: the session is gone since, so what was
    /// asked for is absent).
    pub(crate) fn merge(&mut self, fetch: Fetch<'_>, loaded: Option<Loaded>) {
        let Base::Fetched {
            data,
            known: Some(known),
        } = &mut self.base
        else {
            return; // complete or live: nothing to add
        };
        match loaded.map(|l| l.values) {
            Some(Values::Fetched {
                data: more,
                complete: false,
            }) => {
                for (key, value) in more {
                    data.entry(key).or_insert(value);
                }
                record_known(known, fetch);
            }
            Some(values) => self.base = Base::new(values, fetch),
            None if fetch == Fetch::All => self.base = Base::complete(std::mem::take(data)),
            None => record_known(known, fetch),
        }
    }

    /// The value under `key`, as this request sees it.
    pub(crate) fn value(&self, key: &str) -> Option<Bytes> {
        if let Some(change) = self.dirty.get(key) {
            return change.clone();
        }
        if self.cleared {
            return None;
        }
        match &self.base {
            Base::Fetched { data, .. } => data.get(key).cloned(),
            Base::Live(view) => view.get(key),
        }
    }

    /// Every key that holds a value (the base must be complete: see [`needs`](Self::needs)).
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = if self.cleared {
            Vec::new()
        } else {
            match &self.base {
                Base::Fetched { data, .. } => data
                    .keys()
                    .filter(|k| !self.dirty.contains_key(*k))
                    .cloned()
                    .collect(),
                Base::Live(view) => view
                    .keys()
                    .into_iter()
                    .filter(|k| !self.dirty.contains_key(k))
                    .collect(),
            }
        };
        keys.extend(
            self.dirty
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| k.clone()),
        );
        keys
    }

    pub(crate) fn set(&mut self, key: String, value: Bytes) -> Option<Bytes> {
        let old = self.value(&key);
        self.dirty.insert(key, Some(value));
        old
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Bytes> {
        let old = self.value(key);
        if old.is_some() {
            self.dirty.insert(key.to_owned(), None);
        }
        old
    }

    pub(crate) fn clear(&mut self) {
        self.dirty.clear();
        self.cleared = true;
        self.remember = None;
    }

    /// Whether this request changed anything.
    pub(crate) fn changed(&self) -> bool {
        (self.cleared && self.existed) || !self.dirty.is_empty() || self.meta_changed
    }

    /// Ties the session to `user`, signed in at `now_ms` (keeping the handle and the sign-in
    /// time when it is the same user).
    pub(crate) fn set_user(&mut self, user: &[u8], now_ms: u64) {
        if self.meta.user.as_ref().is_some_and(|u| u.id == user) {
            return;
        }
        self.meta.user = Some(crate::store::SessionUser::new(user).signed_in(now_ms));
        self.meta_changed = true;
        self.tied = true;
    }

    /// Whether the session holds no value and was not stored: nothing to write.
    pub(crate) fn empty_and_new(&self) -> bool {
        !self.existed && self.dirty.values().all(Option::is_none) && self.meta.user.is_none()
    }

    /// Gives the session a new id (once per request), remembering the stored one to delete;
    /// the CSRF token goes (see [`rotate_keeping_csrf`](Self::rotate_keeping_csrf)).
    pub(crate) fn rotate(&mut self) {
        if !self.rotated {
            self.rotate_keeping_csrf();
            // The CSRF token is tied to the id: a token captured before a login is useless after.
            // Removed whether or not this request fetched it: the store moves the values it
            // holds, and the token must not be among them.
            self.dirty
                .insert(crate::keys::CSRF_SESSION_KEY.to_owned(), None);
        }
    }

    /// A new id (once per request) that keeps the CSRF token: a periodic renewal
    /// (`rotate_every`), not a change of privilege, so forms already on screen still post.
    pub(crate) fn rotate_keeping_csrf(&mut self) {
        if !self.rotated {
            let old = std::mem::replace(&mut self.id, SessionId::generate());
            if self.existed {
                self.retired = Some(old);
            }
            self.rotated = true;
        }
    }

    /// The session was opened through an id that `rotate_every` replaced, within its grace
    /// window: the response must carry the current id.
    pub(crate) fn set_resend(&mut self) {
        self.resend = true;
    }

    /// See [`set_resend`](Self::set_resend).
    pub(crate) fn resend(&self) -> bool {
        self.resend
    }

    /// When the session's id was issued (Unix seconds): its reserved key, or its creation.
    pub(crate) fn id_since(&self, codec: crate::codec::Codec) -> u64 {
        self.value(crate::keys::ROTATED_KEY)
            .and_then(|bytes| codec.decode::<u64>(&bytes).ok())
            .unwrap_or(self.meta.created_at)
    }

    /// The per-key changes since loading, moved out (the values travel to the store without a
    /// copy); [`apply_saved`](Self::apply_saved) takes them back once saved.
    pub(crate) fn take_changes(&mut self) -> Changes {
        let replace_all = self.cleared || !self.existed;
        let mut changes = Changes {
            created: !self.existed,
            replace_all,
            set: Vec::with_capacity(self.dirty.len()),
            removed: Vec::new(),
        };
        for (key, change) in self.dirty.drain() {
            match change {
                Some(value) => changes.set.push((key, value)),
                None if !replace_all => changes.removed.push(key),
                None => {}
            }
        }
        changes
    }

    /// After a save of [`take_changes`](Self::take_changes): the store holds what this request
    /// sees, and later commits start afresh.
    pub(crate) fn apply_saved(&mut self, changes: Changes) {
        if let Base::Fetched { data, known } = &mut self.base {
            if changes.replace_all {
                data.clear();
                *known = None;
            }
            for key in changes.removed {
                data.remove(&key);
            }
            for (key, value) in changes.set {
                if let Some(known) = known {
                    if !known.contains(&key) {
                        known.push(key.clone());
                    }
                }
                data.insert(key, value);
            }
        }
        // A live base reads the store, which now holds the changes.
        self.cleared = false;
        self.meta_changed = false;
        self.existed = true;
    }

    /// Every value, as this request sees it (the base must be complete).
    pub(crate) fn values(&self) -> HashMap<String, Bytes> {
        self.keys()
            .into_iter()
            .filter_map(|k| self.value(&k).map(|v| (k, v)))
            .collect()
    }

    /// The whole session, for a store that seals it into the client's value.
    pub(crate) fn record(&self) -> Record {
        Record {
            meta: self.meta.clone(),
            data: self.values(),
        }
    }

    /// After the store moved the session to the new id with the changes of
    /// [`take_changes`](Self::take_changes): later commits start afresh. A live view read the
    /// old id, which is gone: values the request did not fetch are read from the new id.
    pub(crate) fn moved(&mut self, changes: Changes) {
        if let Base::Live(_) = self.base {
            self.base = Base::Fetched {
                data: HashMap::new(),
                known: Some(Vec::new()),
            };
        }
        self.apply_saved(changes);
    }

    /// The session ended elsewhere while this request ran (its rotation found it gone): nothing
    /// of it is to be written, now or by a later commit.
    pub(crate) fn ended(&mut self) {
        self.base = Base::complete(HashMap::new());
        self.dirty.clear();
        self.cleared = false;
        self.meta_changed = false;
        self.tied = false;
        self.existed = false;
        self.meta.user = None;
    }
}

impl Base {
    fn complete(data: HashMap<String, Bytes>) -> Self {
        Base::Fetched { data, known: None }
    }

    /// What a load for `fetch` gave.
    fn new(values: Values, fetch: Fetch<'_>) -> Self {
        match values {
            Values::Live(view) => Base::Live(view),
            Values::Fetched {
                data,
                complete: true,
            } => Base::complete(data),
            Values::Fetched { data, .. } => {
                let mut known = Vec::new();
                record_known(&mut known, fetch);
                Base::Fetched {
                    data,
                    known: Some(known),
                }
            }
        }
    }
}

fn record_known(known: &mut Vec<String>, fetch: Fetch<'_>) {
    if let Fetch::Keys(keys) = fetch {
        for key in keys {
            if !known.iter().any(|k| k == key) {
                known.push((*key).to_owned());
            }
        }
    }
}
