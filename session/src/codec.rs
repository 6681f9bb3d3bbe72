//! How a session value becomes bytes and back.
//!
//! Each value in a session is encoded on its own, under its key, so stores can save only the keys
//! that changed. JSON ([`Codec::Json`]) is the default; MessagePack (feature `msgpack`) and CBOR
//! (feature `cbor`) are smaller and faster to parse. Choose one with
//! [`SessionMiddlewareBuilder::codec`](crate::SessionMiddlewareBuilder::codec) (for values) and
//! [`FileStoreBuilder::codec`](crate::store::FileStoreBuilder::codec) (for session files).
//!
//! Changing the codec of a running app makes stored values unreadable: they read as absent.
//! With a binary codec, give the [`CookieStore`](crate::store::CookieStore) the
//! [`BinarySerializer`](crate::store::BinarySerializer): its default JSON envelope embeds values
//! that are themselves JSON.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::BoxError;

/// The serialization format of session values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// `serde_json`: readable, the default.
    #[default]
    Json,
    /// MessagePack through `rmp-serde`, structs as maps (field names kept, so fields can be
    /// added with `#[serde(default)]`). Feature `msgpack`.
    #[cfg(feature = "msgpack")]
    MessagePack,
    /// CBOR (RFC 8949) through `ciborium`. Feature `cbor`.
    #[cfg(feature = "cbor")]
    Cbor,
}

impl Codec {
    /// Serializes `value`.
    ///
    /// # Errors
    /// What the format's serializer reports (for example a map with non-string keys in JSON).
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, BoxError> {
        match self {
            Codec::Json => Ok(serde_json::to_vec(value)?),
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => Ok(rmp_serde::to_vec_named(value)?),
            #[cfg(feature = "cbor")]
            Codec::Cbor => {
                let mut out = Vec::new();
                ciborium::into_writer(value, &mut out)?;
                Ok(out)
            }
        }
    }

    /// Deserializes bytes produced by [`encode`](Self::encode).
    ///
    /// # Errors
    /// The bytes are not a `T` in this format.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, BoxError> {
        match self {
            Codec::Json => Ok(serde_json::from_slice(bytes)?),
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => Ok(rmp_serde::from_slice(bytes)?),
            #[cfg(feature = "cbor")]
            Codec::Cbor => Ok(ciborium::from_reader(bytes)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Cart {
        items: Vec<String>,
        total: u64,
    }

    fn codecs() -> Vec<Codec> {
        vec![
            Codec::Json,
            #[cfg(feature = "msgpack")]
            Codec::MessagePack,
            #[cfg(feature = "cbor")]
            Codec::Cbor,
        ]
    }

    #[test]
    fn every_codec_round_trips_and_rejects_junk() {
        let cart = Cart {
            items: vec!["tea".into(), "milk".into()],
            total: 7,
        };
        for codec in codecs() {
            let bytes = codec.encode(&cart).unwrap();
            assert_eq!(codec.decode::<Cart>(&bytes).unwrap(), cart, "{codec:?}");
            assert!(codec.decode::<Cart>(b"\xff\x00junk").is_err(), "{codec:?}");
            assert!(
                codec.decode::<u64>(&bytes).is_err(),
                "{codec:?}: wrong type"
            );
        }
        assert_eq!(Codec::Json.encode(&vec![1, 2, 3]).unwrap(), b"[1,2,3]");
    }
}
