//! The fields of a session's hash (their names are in [`RedisStore`](super::RedisStore)'s docs,
//! under "Key layout"): the arguments a save sends for them, and the replies a load reads them
//! from.

use deadpool_redis::redis;

use crate::id::SessionId;
use std::ops::Range;

use crate::store::{Bytes, Changes, Handle, LiveValues, Loaded, Meta, Record, SessionUser};

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

/// What a load makes of the `LOAD_ALL` script's answer, as a [`Record`].
#[cfg(feature = "fuzzing")]
pub(in crate::store) fn parse_packed(packed: &[u8], id: &SessionId) -> Option<Record> {
    let (meta, values) = Packed::read(packed.to_vec(), id)?;
    Some(values.into_record(meta))
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

/// A session read whole by the `LOAD_ALL` script, kept as the one buffer Redis sent (one
/// MessagePack array of strings, field then value): values are slices of it, and nothing is
/// allocated per key. A lookup scans the keys (a few instructions each, no hashing): a request
/// reads a few keys, while building a map would cost every key an allocation and a hash.
pub(super) struct Packed {
    buf: Bytes,
    /// Each value's key (after `k:`) and value, as ranges of `buf`.
    entries: Vec<(Range<usize>, Range<usize>)>,
}

impl LiveValues for Packed {
    fn get(&self, key: &str) -> Option<Bytes> {
        let key = key.as_bytes();
        self.entries
            .iter()
            .find(|(k, _)| k.len() == key.len() && &self.buf[k.clone()] == key)
            .map(|(_, v)| self.buf.slice(v.clone()))
    }

    fn keys(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|(k, _)| std::str::from_utf8(&self.buf[k.clone()]).ok())
            .map(str::to_owned)
            .collect()
    }
}

impl Packed {
    /// Reads the `LOAD_ALL` script's answer. One that is not such an array (it never is, from
    /// the script), or a hash without its metadata, is treated as absent and logged.
    pub(super) fn read(packed: Vec<u8>, id: &SessionId) -> Option<(Meta, Packed)> {
        let buf = Bytes::from(packed);
        let mut rest: &[u8] = &buf;
        let Ok(elements) = rmp::decode::read_array_len(&mut rest) else {
            tracing::warn!(session = %id.log_tag(), "redis load: not a packed hash; ignored");
            return None;
        };
        let mut entries = Vec::with_capacity((elements as usize / 2).saturating_sub(3));
        let mut found = Found::default();
        let next = |rest: &mut &[u8]| -> Option<Range<usize>> {
            let len = rmp::decode::read_str_len(rest).ok()? as usize;
            let start = buf.len() - rest.len();
            *rest = rest.get(len..)?;
            Some(start..start + len)
        };
        for _ in 0..elements / 2 {
            let (Some(field), Some(value)) = (next(&mut rest), next(&mut rest)) else {
                tracing::warn!(session = %id.log_tag(), "redis load: truncated packed hash; ignored");
                return None;
            };
            let name = &buf[field.clone()];
            if name.starts_with(DATA) {
                let key = field.start + DATA.len()..field.end;
                if std::str::from_utf8(&buf[key.clone()]).is_ok() {
                    entries.push((key, value));
                } else {
                    tracing::warn!(session = %id.log_tag(), "non-UTF-8 field skipped");
                }
            } else if let Ok(name) = std::str::from_utf8(name) {
                found.set(name, buf[value].to_vec());
            }
        }
        let meta = found.meta(&|| id.log_tag())?;
        Some((meta, Packed { buf, entries }))
    }

    /// How many values it holds.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every value, as a map.
    pub(super) fn into_record(self, meta: Meta) -> Record {
        let data = self
            .entries
            .iter()
            .filter_map(|(k, v)| {
                let key = std::str::from_utf8(&self.buf[k.clone()]).ok()?;
                Some((key.to_owned(), self.buf.slice(v.clone())))
            })
            .collect();
        Record { meta, data }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `LOAD_ALL` script sends for these fields (Lua's cmsgpack packs strings as
    /// MessagePack `str`).
    fn pack(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        rmp::encode::write_array_len(&mut out, (fields.len() * 2) as u32).unwrap();
        for (field, value) in fields {
            for part in [field, value] {
                rmp::encode::write_str_len(&mut out, part.len() as u32).unwrap();
                out.extend_from_slice(part);
            }
        }
        out
    }

    fn id() -> SessionId {
        SessionId::generate()
    }

    #[test]
    fn a_packed_session_reads_back_with_its_metadata_and_values() {
        let big = vec![b'x'; 70_000]; // a str32
        let packed = pack(&[
            (b"m:c", b"100"),
            (b"m:e", b"200"),
            (b"m:s", b"150"),
            (b"k:a", b"1"),
            (b"k:", b"empty key"),
            (b"k:big", &big),
        ]);
        let (meta, values) = Packed::read(packed, &id()).unwrap();
        assert_eq!(
            (meta.created_at, meta.expires_at, meta.last_seen),
            (100, 200, 150)
        );
        assert_eq!(values.get("a").as_deref(), Some(&b"1"[..]));
        assert_eq!(values.get("").as_deref(), Some(&b"empty key"[..]));
        assert_eq!(values.get("big").map(|v| v.len()), Some(70_000));
        assert_eq!(values.get("b"), None);
        let mut keys = values.keys();
        keys.sort();
        assert_eq!(keys, ["", "a", "big"]);
        let record = values.into_record(meta);
        assert_eq!(record.data.len(), 3);
    }

    #[test]
    fn junk_truncated_or_incomplete_packs_are_absent_never_a_panic() {
        let whole = pack(&[(b"m:c", b"1"), (b"m:e", b"2"), (b"k:a", b"1")]);
        for cut in 0..whole.len() {
            assert!(
                Packed::read(whole[..cut].to_vec(), &id()).is_none(),
                "cut at {cut}"
            );
        }
        assert!(Packed::read(b"not msgpack".to_vec(), &id()).is_none());
        // Without the timestamps: ignored, as an HGETALL reply without them is.
        assert!(Packed::read(pack(&[(b"k:a", b"1")]), &id()).is_none());
        // A key that is not UTF-8 is skipped, the rest kept.
        let (_, values) = Packed::read(
            pack(&[
                (b"m:c", b"1"),
                (b"m:e", b"2"),
                (b"k:\xff", b"1"),
                (b"k:b", b"2"),
            ]),
            &id(),
        )
        .unwrap();
        assert_eq!(values.keys(), ["b"]);
    }
}
