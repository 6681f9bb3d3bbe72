//! A session as row columns, the same in both dialects: its [`Meta`] as [`MetaColumns`], its
//! [`Changes`] as [`KeyChanges`] (shaped for array parameters), Unix times as SQL integers.

use crate::store::{Bytes, Changes, Handle, Meta, SessionUser, UserKey};

/// Unix seconds as a SQL `bigint`/`INTEGER` (saturating: no time fits above).
pub(crate) fn to_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// A SQL integer back as Unix seconds (a negative one is 0).
pub(crate) fn to_u64(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(0)
}

/// A session's metadata as row columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaColumns {
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen: i64,
    /// The [`UserKey`] digest (32 bytes), indexed.
    pub user_key: Option<Vec<u8>>,
    /// The user id as the app gave it.
    pub user_id: Option<Vec<u8>>,
    /// The session's [`Handle`].
    pub handle: Option<String>,
    /// When the session was tied to its user, Unix milliseconds (NULL: unknown).
    pub signed_in_at: Option<i64>,
}

impl MetaColumns {
    /// The columns of `meta`.
    pub fn of(meta: &Meta) -> Self {
        let user = meta.user.as_ref();
        MetaColumns {
            created_at: to_i64(meta.created_at),
            expires_at: to_i64(meta.expires_at),
            last_seen: to_i64(meta.last_seen),
            user_key: user.map(|u| u.key.digest().to_vec()),
            user_id: user.map(|u| u.id.to_vec()),
            handle: user.map(|u| u.handle.as_str().to_owned()),
            signed_in_at: user.map(|u| to_i64(u.signed_in_at)),
        }
    }

    /// The metadata these columns hold. A user whose handle does not parse is dropped (logged
    /// with `tag`, the session's log tag).
    pub fn into_meta(self, tag: &dyn Fn() -> String) -> Meta {
        let user = match (self.user_id, self.handle) {
            (Some(id), Some(handle)) => match Handle::parse(&handle) {
                Some(handle) => Some(
                    SessionUser::stored(Bytes::from(id), handle)
                        .signed_in(self.signed_in_at.map_or(0, to_u64)),
                ),
                None => {
                    tracing::warn!(session = %tag(), "stored session has a malformed handle");
                    None
                }
            },
            _ => None,
        };
        Meta::new(to_u64(self.created_at), to_u64(self.expires_at))
            .with_last_seen(to_u64(self.last_seen))
            .with_user(user)
    }
}

/// The digest of `user` as the `user_key` column holds it.
pub(crate) fn user_key_column(user: &UserKey) -> Vec<u8> {
    user.digest().to_vec()
}

/// What a save does to the values table, shaped for array parameters.
///
/// `set_keys` / `set_values` are parallel (the last value of a key set twice wins); `removed`
/// holds no key of `set_keys`. With `replace_all`, every stored key not in `set_keys` goes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyChanges {
    pub replace_all: bool,
    pub set_keys: Vec<String>,
    pub set_values: Vec<Vec<u8>>,
    pub removed: Vec<String>,
}

impl KeyChanges {
    /// The shape of `changes`.
    pub fn of(changes: &Changes) -> Self {
        let mut latest: std::collections::HashMap<&str, &Bytes> =
            std::collections::HashMap::with_capacity(changes.set.len());
        let mut order = Vec::with_capacity(changes.set.len());
        for (key, value) in &changes.set {
            if latest.insert(key.as_str(), value).is_none() {
                order.push(key.as_str());
            }
        }
        let mut out = KeyChanges {
            replace_all: changes.replace_all,
            set_keys: Vec::with_capacity(order.len()),
            set_values: Vec::with_capacity(order.len()),
            removed: Vec::new(),
        };
        for key in order {
            out.set_keys.push(key.to_owned());
            out.set_values.push(latest[key].to_vec());
        }
        if !changes.replace_all {
            let mut removed: Vec<String> = changes
                .removed
                .iter()
                .filter(|k| !latest.contains_key(k.as_str()))
                .cloned()
                .collect();
            removed.sort();
            removed.dedup();
            out.removed = removed;
        }
        out
    }

    /// Whether the values table is left alone.
    pub fn is_empty(&self) -> bool {
        !self.replace_all && self.set_keys.is_empty() && self.removed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_shaped_per_key() {
        let changes = Changes {
            created: false,
            replace_all: false,
            set: vec![
                ("a".into(), Bytes::from_static(b"1")),
                ("b".into(), Bytes::from_static(b"2")),
                ("a".into(), Bytes::from_static(b"3")),
            ],
            removed: vec!["c".into(), "a".into(), "c".into()],
        };
        let shaped = KeyChanges::of(&changes);
        assert_eq!(shaped.set_keys, ["a", "b"]);
        assert_eq!(shaped.set_values, [b"3".to_vec(), b"2".to_vec()]);
        assert_eq!(shaped.removed, ["c"]);
        assert!(KeyChanges::of(&Changes::default()).is_empty());
    }

    #[test]
    fn meta_round_trips_through_columns() {
        let user = SessionUser::new("42");
        let meta = Meta::new(10, 20)
            .with_last_seen(15)
            .with_user(Some(user.clone()));
        let cols = MetaColumns::of(&meta);
        assert_eq!(cols.user_key.as_deref(), Some(&user.key.digest()[..]));
        assert_eq!(cols.into_meta(&String::new), meta);
        let plain = Meta::new(1, 2);
        assert_eq!(MetaColumns::of(&plain).into_meta(&String::new), plain);
    }
}
