//! The fields of a session's hash (their names are in [`RedisStore`](super::RedisStore)'s docs,
//! under "Key layout"): the arguments a save sends for them, and the replies a load reads them
//! from.

use deadpool_redis::redis;

use crate::id::SessionId;
use crate::store::{Bytes, Changes, Handle, Loaded, Meta, Record, SessionUser};

const DATA: &[u8] = b"k:";
const CREATED: &str = "m:c";
const EXPIRES: &str = "m:e";
const LAST_SEEN: &str = "m:s";
/// The user id as the app gave it (what `Session::user` returns).
const USER_ID: &str = "m:u";
/// The hex of the user's [`UserKey`](crate::store::UserKey): names the user's index (scripts
/// cannot hash).
const USER_KEY: &str = "m:k";
const HANDLE: &str = "m:h";
/// When the session was tied to its user, Unix milliseconds.
const SIGNED_IN: &str = "m:t";
/// The metadata fields a per-key load (`HMGET`) asks for, in this order.
pub(super) const META_FIELDS: [&str; 6] = [CREATED, EXPIRES, LAST_SEEN, USER_ID, HANDLE, SIGNED_IN];

/// Parses an `HGETALL` reply; a hash without its metadata is treated as absent.
pub(in crate::store) fn parse(fields: Vec<(Vec<u8>, Vec<u8>)>, id: &SessionId) -> Option<Record> {
    parse_tagged(fields, &|| id.log_tag())
}

/// [`parse`], naming the session in logs with `tag` (called only to log).
pub(super) fn parse_tagged(
    fields: Vec<(Vec<u8>, Vec<u8>)>,
    tag: &dyn Fn() -> String,
) -> Option<Record> {
    if fields.is_empty() {
        return None;
    }
    let mut data = std::collections::HashMap::with_capacity(fields.len().saturating_sub(2));
    let mut found = Found::default();
    for (mut field, value) in fields {
        if field.starts_with(DATA) {
            // The key and the value are the reply's own buffers: no copy.
            field.drain(..DATA.len());
            match String::from_utf8(field) {
                Ok(key) => {
                    data.insert(key, Bytes::from(value));
                }
                Err(_) => tracing::warn!(session = %tag(), "non-UTF-8 field skipped"),
            }
        } else if let Ok(name) = std::str::from_utf8(&field) {
            found.set(name, value);
        }
    }
    Some(Record {
        meta: found.meta(tag)?,
        data,
    })
}

/// Parses an `HMGET <META_FIELDS> k:<key>..` reply for `keys`.
pub(super) fn parse_keys(
    mut values: Vec<Option<Vec<u8>>>,
    keys: &[&str],
    id: &SessionId,
) -> Option<Loaded> {
    let n = META_FIELDS.len();
    if values.len() != keys.len() + n || values.iter().all(Option::is_none) {
        return None;
    }
    let mut found = Found::default();
    for (name, value) in META_FIELDS.iter().zip(values.drain(..n)) {
        if let Some(value) = value {
            found.set(name, value);
        }
    }
    let meta = found.meta(&|| id.log_tag())?;
    let data = keys
        .iter()
        .zip(values)
        .filter_map(|(key, value)| Some(((*key).to_owned(), Bytes::from(value?))))
        .collect();
    Some(Loaded::partial(meta, data))
}

/// The metadata fields of a session hash, as read.
#[derive(Default)]
struct Found {
    created: Option<u64>,
    expires: Option<u64>,
    last_seen: Option<u64>,
    user: Option<Vec<u8>>,
    handle: Option<Vec<u8>>,
    signed_in: Option<u64>,
}

impl Found {
    fn set(&mut self, field: &str, value: Vec<u8>) {
        match field {
            CREATED => self.created = number(&value),
            EXPIRES => self.expires = number(&value),
            LAST_SEEN => self.last_seen = number(&value),
            USER_ID => self.user = Some(value),
            HANDLE => self.handle = Some(value),
            SIGNED_IN => self.signed_in = number(&value),
            _ => {}
        }
    }

    /// The metadata; `None` (the hash is ignored) without the timestamps.
    fn meta(self, tag: &dyn Fn() -> String) -> Option<Meta> {
        let (Some(created), Some(expires)) = (self.created, self.expires) else {
            tracing::warn!(session = %tag(), "redis session hash lacks metadata; ignored");
            return None;
        };
        let user = match (self.user, self.handle) {
            (Some(user), Some(handle)) => {
                let handle = std::str::from_utf8(&handle).ok().and_then(Handle::parse);
                if handle.is_none() {
                    tracing::warn!(session = %tag(), "redis session hash has a malformed handle");
                }
                let signed_in = self.signed_in.unwrap_or(0);
                handle.map(|h| SessionUser::stored(Bytes::from(user), h).signed_in(signed_in))
            }
            _ => None,
        };
        Some(
            Meta::new(created, expires)
                .with_last_seen(self.last_seen.unwrap_or(created))
                .with_user(user),
        )
    }
}

/// What the scripts' `apply` reads: the removed keys (none with `replace_all`), then the
/// metadata fields and the set keys, as field / value pairs.
pub(super) fn field_args(cmd: &mut redis::Cmd, meta: &Meta, changes: &Changes) {
    if changes.replace_all {
        cmd.arg(0);
    } else {
        cmd.arg(changes.removed.len());
        for key in &changes.removed {
            cmd.arg(field(key));
        }
    }
    cmd.arg(CREATED)
        .arg(meta.created_at)
        .arg(EXPIRES)
        .arg(meta.expires_at)
        .arg(LAST_SEEN)
        .arg(meta.last_seen);
    if let Some(user) = &meta.user {
        cmd.arg(USER_ID)
            .arg(&user.id[..])
            .arg(USER_KEY)
            .arg(user.key.hex())
            .arg(HANDLE)
            .arg(user.handle.as_str())
            .arg(SIGNED_IN)
            .arg(user.signed_in_at);
    }
    for (key, value) in &changes.set {
        cmd.arg(field(key)).arg(&value[..]);
    }
}

/// The hash field of a session key.
pub(super) fn field(key: &str) -> Vec<u8> {
    [DATA, key.as_bytes()].concat()
}

fn number(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}
