//! The Lua scripts of [`RedisStore`](super::RedisStore), one file each in `lua/`, with the
//! helpers each one needs put in front of it (`index.lua`: the user index and the revocation
//! markers; `fields.lua`: writing a session's fields). Each file says its `KEYS` and `ARGV`.
//!
//! A script is sent as `EVALSHA`: the store loads them all when it makes a connection, and a
//! server that lost one (a restart, `SCRIPT FLUSH`) gets `EVAL` once, which caches it again.

use std::sync::OnceLock;

use deadpool_redis::redis;

/// One script: its code and, computed once, its SHA-1.
pub(super) struct Lua {
    pub(super) code: &'static str,
    sha: OnceLock<String>,
}

impl Lua {
    const fn new(code: &'static str) -> Self {
        Lua {
            code,
            sha: OnceLock::new(),
        }
    }

    pub(super) fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| redis::Script::new(self.code).get_hash().to_owned())
    }
}

/// A script file with the index helpers in front.
macro_rules! with_index {
    ($file:literal) => {
        Lua::new(concat!(include_str!("lua/index.lua"), include_str!($file)))
    };
}

/// A script file with the index helpers and the field writer in front.
macro_rules! with_fields {
    ($file:literal) => {
        Lua::new(concat!(
            include_str!("lua/index.lua"),
            include_str!("lua/fields.lua"),
            include_str!($file)
        ))
    };
}

/// A whole session, as one MessagePack string.
pub(super) static LOAD_ALL: Lua = Lua::new(include_str!("lua/load_all.lua"));
/// A session's save (and its index entry on one node).
pub(super) static SAVE: Lua = with_fields!("lua/save.lua");
/// `change_id` on one node, in one step.
pub(super) static ROTATE: Lua = with_fields!("lua/rotate.lua");
/// The last step of `change_id` on Cluster.
pub(super) static RETIRE: Lua = Lua::new(include_str!("lua/retire.lua"));
/// A session's expiry pushed forward.
pub(super) static TOUCH: Lua = with_index!("lua/touch.lua");
/// A session's delete (and its index entry on one node).
pub(super) static DROP: Lua = with_index!("lua/drop.lua");
/// One page of a user's listing, one node.
pub(super) static PAGE_LIST: Lua = with_index!("lua/page_list.lua");
/// One page of a revocation, one node.
pub(super) static PAGE_REVOKE: Lua = with_index!("lua/page_revoke.lua");
/// Cluster: an index entry written after its session.
pub(super) static INDEX_ADD: Lua = with_index!("lua/index_add.lua");
/// Cluster: index entries taken out.
pub(super) static INDEX_REMOVE: Lua = with_index!("lua/index_remove.lua");
/// Cluster: a session deleted if it is still that user's under that handle.
pub(super) static DELETE_IF: Lua = Lua::new(include_str!("lua/delete_if.lua"));
/// A revocation's marker raised, refreshed or lowered.
pub(super) static MARK: Lua = with_index!("lua/mark.lua");
/// Cluster: whether a revocation in progress ends a session.
pub(super) static MARKED: Lua = with_index!("lua/marked.lua");

/// Every script, to load on a new connection.
pub(super) static ALL: [&Lua; 13] = [
    &LOAD_ALL,
    &SAVE,
    &ROTATE,
    &RETIRE,
    &TOUCH,
    &DROP,
    &PAGE_LIST,
    &PAGE_REVOKE,
    &INDEX_ADD,
    &INDEX_REMOVE,
    &DELETE_IF,
    &MARK,
    &MARKED,
];
