//! actix-session's session state: a JSON object whose values are the JSON text of what the app
//! inserted (`insert("n", 42)` keeps `"42"`), so values are JSON inside JSON.

use std::collections::HashMap;

use crate::codec::Codec;
use crate::keys::RESERVED_KEYS;
use crate::store::Bytes;

/// The values of an actix-session state in `codec`'s format; `None` when `state` is not one.
pub(crate) fn values(state: &str, codec: Codec) -> Option<HashMap<String, Bytes>> {
    let map: HashMap<String, String> = match serde_json::from_str(state) {
        Ok(map) => map,
        Err(e) => {
            tracing::info!(error = %e, "actix-session state is not a JSON object of strings");
            return None;
        }
    };
    let mut values = HashMap::with_capacity(map.len());
    for (key, json) in map {
        if RESERVED_KEYS.contains(&key.as_str()) {
            tracing::warn!(
                key,
                "actix-session value under a key this crate reserves: dropped"
            );
            continue;
        }
        match reencode(&json, codec) {
            Some(bytes) => {
                values.insert(key, bytes);
            }
            None => tracing::warn!(key, "actix-session value is not JSON: dropped"),
        }
    }
    Some(values)
}

/// One value, from JSON text to `codec`'s format (JSON: the same bytes, once checked).
fn reencode(json: &str, codec: Codec) -> Option<Bytes> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    match codec {
        Codec::Json => Some(Bytes::copy_from_slice(json.as_bytes())),
        #[allow(unreachable_patterns)] // only JSON without the msgpack and cbor features
        other => other.encode(&value).ok().map(Bytes::from),
    }
}
