//! How a session value becomes bytes and back.
//!
//! Each value in a session is encoded on its own, under its key, so stores can save only the keys
//! that changed. JSON ([`Codec::Json`]) is the default; MessagePack (feature `msgpack`) and CBOR
//! (feature `cbor`) are smaller and faster to parse. Choose one with
//! [`SessionMiddlewareBuilder::codec`](crate::SessionMiddlewareBuilder::codec) (for values) and
//! [`FileStoreBuilder::codec`](crate::store::FileStoreBuilder::codec) (for session files).
//!
//! Changing the codec of a running app makes stored values unreadable: they read as absent.
//! The [`CookieStore`](crate::store::CookieStore)'s own layout carries values of any codec; its
//! [`JsonSerializer`](crate::store::JsonSerializer), if you choose it, needs JSON values.

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

/// What kind of failure a codec error is, without its text: a deserializer's message can quote
/// the value it choked on (`invalid type: string "<a token>"`), and values do not go into logs.
///
/// `"syntax"` (not this format), `"data"` (well-formed, but not the requested type or shape),
/// `"eof"` (truncated), `"io"`, or `"other"` for an error this function does not know.
pub fn error_kind(err: &(dyn std::error::Error + 'static)) -> &'static str {
    if let Some(err) = err.downcast_ref::<serde_json::Error>() {
        return match err.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        };
    }
    #[cfg(feature = "msgpack")]
    if let Some(err) = err.downcast_ref::<rmp_serde::decode::Error>() {
        use rmp_serde::decode::Error as E;
        return match err {
            E::InvalidMarkerRead(_) | E::InvalidDataRead(_) => "eof",
            E::Utf8Error(_) | E::DepthLimitExceeded => "syntax",
            _ => "data",
        };
    }
    #[cfg(feature = "cbor")]
    if let Some(err) = err.downcast_ref::<ciborium::de::Error<std::io::Error>>() {
        use ciborium::de::Error as E;
        return match err {
            E::Io(_) => "eof",
            E::Syntax(_) | E::RecursionLimitExceeded => "syntax",
            E::Semantic(..) => "data",
        };
    }
    "other"
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

    #[test]
    fn error_kinds_name_the_failure_without_the_value() {
        for codec in codecs() {
            let secret = codec.encode(&"TOKEN-s3cr3t").unwrap();
            let err = codec.decode::<u64>(&secret).unwrap_err();
            assert_eq!(error_kind(&*err), "data", "{codec:?}: {err}");
            let err = codec
                .decode::<Cart>(&secret[..secret.len() / 2])
                .unwrap_err();
            assert_ne!(error_kind(&*err), "other", "{codec:?}: truncated: {err}");
        }
        let err = Codec::Json.decode::<u64>(b"oops").unwrap_err();
        assert_eq!(error_kind(&*err), "syntax");
        assert_eq!(error_kind(&std::fmt::Error), "other");
    }
}
