//! What a store keeps and exchanges with the middleware: [`Meta`], values, [`Record`], what a
//! load asks for ([`Fetch`]) and returns ([`Loaded`]), and what a save changes ([`Changes`]).

use std::collections::HashMap;
use std::sync::Arc;

pub use actix_web::web::Bytes;

use super::SessionUser;

/// A session's metadata: what every load returns, whatever values it fetches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Meta {
    /// When the session was created, in Unix seconds: the base of the absolute timeout.
    pub created_at: u64,
    /// When the session stops being valid, in Unix seconds: the earlier of the idle and absolute
    /// deadlines. Stores use it as their TTL; the middleware checks it again after a load.
    pub expires_at: u64,
    /// When the session was last saved or touched, in Unix seconds ("last seen" on a devices
    /// page; as precise as the refresh step). 0 when unknown.
    pub last_seen: u64,
    /// The user the session is tied to, if any: a store that keeps a user index indexes the
    /// session under [`SessionUser::key`] when it saves it.
    pub user: Option<SessionUser>,
    /// When the session was tied to its user, in Unix milliseconds by a client-side store's
    /// clock, with the handle it was given then: what the cookie store's
    /// [`revoked`](super::SessionStore::revoked) check compares with the user's "valid after"
    /// time. Crate-internal: only the cookie store reads and sets it (a session tied to another
    /// user since has another handle, so the time no longer applies to it).
    pub(crate) user_since: Option<(super::Handle, u64)>,
}

impl Meta {
    /// Metadata with these timestamps (Unix seconds), no user.
    pub fn new(created_at: u64, expires_at: u64) -> Self {
        Meta {
            created_at,
            expires_at,
            last_seen: created_at,
            user: None,
            user_since: None,
        }
    }

    /// The same metadata tied to `user`.
    pub fn with_user(mut self, user: Option<SessionUser>) -> Self {
        self.user = user;
        self
    }

    /// The same metadata, last seen at `at`.
    pub fn with_last_seen(mut self, at: u64) -> Self {
        self.last_seen = at;
        self
    }

    /// Seconds left before [`expires_at`](Self::expires_at), counted from `now` (0 when past).
    pub fn ttl(&self, now: u64) -> u64 {
        self.expires_at.saturating_sub(now)
    }
}

/// A whole session: its metadata and every value (encoded by the middleware's codec, see
/// [`crate::codec`]), by key.
///
/// Values are [`Bytes`]: shared, so handing one from a store to a request and back is a
/// reference-count increment, never a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Timestamps.
    pub meta: Meta,
    /// Encoded values by key.
    pub data: HashMap<String, Bytes>,
}

impl Record {
    /// An empty session with this metadata.
    pub fn new(meta: Meta) -> Self {
        Record {
            meta,
            data: HashMap::new(),
        }
    }
}

/// Which values a [`load`](crate::store::SessionStore::load) needs besides the metadata.
///
/// A request asks only for what its handlers use: a typed session extractor asks for its one
/// key, the untyped [`Session`](struct@crate::Session) handle (whose reads are synchronous) for every
/// value. A store that cannot fetch single keys returns everything ([`Loaded::whole`]): that is
/// always correct, only slower for large sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch<'a> {
    /// Every value of the session.
    All,
    /// Only these keys (a key without a value is simply absent from the answer).
    Keys(&'a [&'a str]),
}

/// A live, synchronous view of one stored session's values, for stores that keep them in this
/// process (see [`Loaded::live`]). Reads see what the store holds at the time of the read.
pub trait LiveValues: Send + Sync + 'static {
    /// The value under `key`, or `None` (absent, or the session is gone).
    fn get(&self, key: &str) -> Option<Bytes>;
    /// Every key that holds a value.
    fn keys(&self) -> Vec<String>;
}

/// What a load found: the metadata and the values it was asked for.
pub struct Loaded {
    pub(crate) meta: Meta,
    pub(crate) values: Values,
}

/// The values part of [`Loaded`].
pub(crate) enum Values {
    /// Values fetched with the load; `complete`: every value of the session is among them,
    /// else only the asked keys are known.
    Fetched {
        data: HashMap<String, Bytes>,
        complete: bool,
    },
    /// Read on demand from the store.
    Live(Arc<dyn LiveValues>),
}

impl Loaded {
    /// The whole session: the answer of a store that does not fetch single keys, and always a
    /// correct answer to any [`Fetch`].
    pub fn whole(record: Record) -> Self {
        Loaded {
            meta: record.meta,
            values: Values::Fetched {
                data: record.data,
                complete: true,
            },
        }
    }

    /// The metadata and the values of the keys a [`Fetch::Keys`] asked for (those that hold one;
    /// the others are absent). Answering [`Fetch::All`] with this loses data: use
    /// [`whole`](Self::whole).
    pub fn partial(meta: Meta, data: HashMap<String, Bytes>) -> Self {
        Loaded {
            meta,
            values: Values::Fetched {
                data,
                complete: false,
            },
        }
    }

    /// The metadata and a live view that the session reads each value from when it is asked
    /// for (an in-process store: no value is copied or fetched up front).
    pub fn live(meta: Meta, values: Arc<dyn LiveValues>) -> Self {
        Loaded {
            meta,
            values: Values::Live(values),
        }
    }

    /// The metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The value under `key` when this load tells it (`Some(None)`: the session has none),
    /// `None` when it does not (a load of other keys).
    pub(crate) fn known(&self, key: &str) -> Option<Option<Bytes>> {
        match &self.values {
            Values::Fetched {
                data,
                complete: true,
            } => Some(data.get(key).cloned()),
            Values::Fetched { data, .. } => data.get(key).map(|v| Some(v.clone())),
            Values::Live(view) => Some(view.get(key)),
        }
    }

    /// Every value it holds or can read, as a [`Record`] (for tests and tools; a load through a
    /// [`Fetch::Keys`] gives only those keys).
    pub fn into_record(self) -> Record {
        let data = match self.values {
            Values::Fetched { data, .. } => data,
            Values::Live(view) => view
                .keys()
                .into_iter()
                .filter_map(|k| view.get(&k).map(|v| (k, v)))
                .collect(),
        };
        Record {
            meta: self.meta,
            data,
        }
    }
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Loaded");
        s.field("meta", &self.meta);
        match &self.values {
            Values::Fetched { data, complete } => s
                .field("keys", &data.len())
                .field("complete", complete)
                .finish(),
            Values::Live(_) => s.field("values", &"live").finish(),
        }
    }
}

/// What a save changes relative to what the store holds. The values travel with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The session did not exist in the store before this save (a new session, or one under a
    /// new id after `change_id`). A store must not *update* a record that is gone when this is
    /// `false`: the session was deleted meanwhile (logout elsewhere wins).
    pub created: bool,
    /// `set` is every value the session has: it replaces what the store holds (a new session,
    /// a new id, or after `clear()`).
    pub replace_all: bool,
    /// Keys whose value was set, with the value.
    pub set: Vec<(String, Bytes)>,
    /// Keys that were removed.
    pub removed: Vec<String>,
}

impl Changes {
    /// A change that writes `data` as a new record.
    pub fn full(data: impl IntoIterator<Item = (String, Bytes)>) -> Self {
        Changes {
            created: true,
            replace_all: true,
            set: data.into_iter().collect(),
            removed: Vec::new(),
        }
    }

    /// Applies the changes to the values a store holds: the helper for a store that keeps whole
    /// records (`examples/custom_store.rs`).
    pub fn apply(&self, data: &mut HashMap<String, Bytes>) {
        if self.replace_all {
            data.clear();
        }
        for key in &self.removed {
            data.remove(key);
        }
        for (key, value) in &self.set {
            data.insert(key.clone(), value.clone());
        }
    }
}
