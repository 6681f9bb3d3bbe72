//! The values of one session in a [`MemoryStore`](super::MemoryStore), in as few bytes as the
//! session allows.
//!
//! A small session (the common case: a counter, a user id, a cart of a few items) is one packed
//! buffer: `[key length u16][key][value length u32][value]`, repeated. It costs one allocation
//! and no per-key overhead; a value handed out is a slice of it (shared, not copied), and a
//! change rewrites the buffer, which is small by definition. A session past [`PACKED_MAX`]
//! bytes or [`PACKED_KEYS`] keys becomes a map, where a change costs the changed keys only.

use std::collections::HashMap;

use crate::store::{Bytes, Changes};

/// Largest packed buffer, in bytes.
pub(super) const PACKED_MAX: usize = 512;
/// Most keys in a packed buffer.
pub(super) const PACKED_KEYS: usize = 16;

/// One session's values.
pub(super) enum Values {
    /// The packed buffer (already shared, so slicing it does not allocate).
    Packed(Bytes),
    /// A large session. Boxed so that every entry stays as small as a `Bytes` (a map is 48
    /// bytes; a large session can afford the extra allocation, a million small ones cannot).
    #[allow(clippy::box_collection)]
    Map(Box<HashMap<Box<str>, Bytes>>),
}

impl Values {
    pub(super) fn empty() -> Self {
        Values::Packed(Bytes::new())
    }

    pub(super) fn get(&self, key: &str) -> Option<Bytes> {
        match self {
            Values::Packed(buf) => entries(buf)
                .find(|(k, _)| *k == key)
                .map(|(_, range)| buf.slice(range)),
            Values::Map(map) => map.get(key).cloned(),
        }
    }

    pub(super) fn keys(&self) -> Vec<String> {
        match self {
            Values::Packed(buf) => entries(buf).map(|(k, _)| k.to_owned()).collect(),
            Values::Map(map) => map.keys().map(|k| k.to_string()).collect(),
        }
    }

    /// Every value, as shared `Bytes`.
    pub(super) fn to_map(&self) -> HashMap<String, Bytes> {
        match self {
            Values::Packed(buf) => entries(buf)
                .map(|(k, range)| (k.to_owned(), buf.slice(range)))
                .collect(),
            Values::Map(map) => map
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    /// Applies a save's changes.
    pub(super) fn apply(&mut self, changes: &Changes) {
        match self {
            Values::Map(map) => {
                if changes.replace_all {
                    map.clear();
                }
                for key in &changes.removed {
                    map.remove(key.as_str());
                }
                for (key, value) in &changes.set {
                    match map.get_mut(key.as_str()) {
                        Some(old) => *old = value.clone(),
                        None => {
                            map.insert(key.as_str().into(), value.clone());
                        }
                    }
                }
            }
            Values::Packed(buf) => {
                let kept = |k: &str| {
                    !changes.replace_all
                        && !changes.removed.iter().any(|r| r == k)
                        && !changes.set.iter().any(|(s, _)| s == k)
                };
                let old = entries(buf)
                    .filter(|(k, _)| kept(k))
                    .map(|(k, r)| (k, &buf[r]));
                let new = changes.set.iter().map(|(k, v)| (k.as_str(), &v[..]));
                let packed = Values::pack(old.chain(new));
                *self = packed;
            }
        }
    }

    /// The pairs as one packed buffer, or as a map when they do not fit.
    fn pack<'a>(pairs: impl Iterator<Item = (&'a str, &'a [u8])> + Clone) -> Self {
        let (mut count, mut size) = (0, 0);
        for (key, value) in pairs.clone() {
            count += 1;
            size += 6 + key.len() + value.len();
            if count > PACKED_KEYS || size > PACKED_MAX || key.len() > usize::from(u16::MAX) {
                let map = pairs
                    .map(|(k, v)| (k.into(), Bytes::copy_from_slice(v)))
                    .collect();
                return Values::Map(Box::new(map));
            }
        }
        if count == 0 {
            return Values::empty();
        }
        let mut out = Vec::with_capacity(size);
        for (key, value) in pairs {
            out.extend_from_slice(&(key.len() as u16).to_be_bytes());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&(value.len() as u32).to_be_bytes());
            out.extend_from_slice(value);
        }
        let buf = Bytes::from(out);
        // Make it shared now (one small allocation), so that every later slice is a
        // reference-count increment.
        drop(buf.clone());
        Values::Packed(buf)
    }
}

/// The (key, value range) pairs of a packed buffer.
fn entries(buf: &[u8]) -> impl Iterator<Item = (&str, std::ops::Range<usize>)> + Clone {
    let mut at = 0;
    std::iter::from_fn(move || {
        let key_len = u16::from_be_bytes(buf.get(at..at + 2)?.try_into().ok()?) as usize;
        let key = std::str::from_utf8(buf.get(at + 2..at + 2 + key_len)?).ok()?;
        let len_at = at + 2 + key_len;
        let value_len = u32::from_be_bytes(buf.get(len_at..len_at + 4)?.try_into().ok()?) as usize;
        let start = len_at + 4;
        let end = start
            .checked_add(value_len)
            .filter(|end| *end <= buf.len())?;
        at = end;
        Some((key, start..end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> Changes {
        Changes {
            set: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Bytes::copy_from_slice(v.as_bytes())))
                .collect(),
            ..Changes::default()
        }
    }

    #[test]
    fn small_sessions_pack_and_large_ones_become_maps() {
        let mut values = Values::empty();
        values.apply(&set(&[("a", "1"), ("b", "22")]));
        assert!(matches!(values, Values::Packed(_)));
        assert_eq!(values.get("b").as_deref(), Some(&b"22"[..]));
        values.apply(&Changes {
            removed: vec!["a".into()],
            ..set(&[("b", "3"), ("c", "4")])
        });
        let mut keys = values.keys();
        keys.sort();
        assert_eq!(keys, ["b", "c"]);
        assert_eq!(values.get("b").as_deref(), Some(&b"3"[..]));
        assert_eq!(values.get("a"), None);

        let big = "x".repeat(PACKED_MAX);
        values.apply(&set(&[("big", &big)]));
        assert!(matches!(values, Values::Map(_)));
        assert_eq!(values.get("c").as_deref(), Some(&b"4"[..]));
        assert_eq!(values.to_map().len(), 3);
        values.apply(&Changes {
            replace_all: true,
            ..set(&[("only", "1")])
        });
        assert_eq!(values.keys(), ["only"]);
    }

    #[test]
    fn a_value_read_from_a_packed_session_shares_its_buffer() {
        let mut values = Values::empty();
        values.apply(&set(&[("n", "42")]));
        let (Values::Packed(buf), Some(value)) = (&values, values.get("n")) else {
            panic!("packed");
        };
        assert!(buf.as_ptr_range().contains(&value.as_ptr()));
    }
}
