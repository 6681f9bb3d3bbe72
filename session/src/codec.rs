//! How a session value becomes bytes and back.
//!
//! Each value in a session is encoded on its own, under its key, so stores can save only the keys
//! that changed. JSON ([`Codec::Json`]) is the default and the only codec of this release; the
//! enum is `#[non_exhaustive]` so that MessagePack and CBOR can join behind features.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::BoxError;

/// The serialization format of session values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// `serde_json`: readable, the default.
    #[default]
    Json,
}

impl Codec {
    /// Serializes `value`.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, BoxError> {
        match self {
            Codec::Json => Ok(serde_json::to_vec(value)?),
        }
    }

    /// Deserializes bytes produced by [`encode`](Self::encode).
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, BoxError> {
        match self {
            Codec::Json => Ok(serde_json::from_slice(bytes)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let bytes = Codec::Json.encode(&vec![1, 2, 3]).unwrap();
        assert_eq!(bytes, b"[1,2,3]");
        let back: Vec<i32> = Codec::Json.decode(&bytes).unwrap();
        assert_eq!(back, vec![1, 2, 3]);
        assert!(Codec::Json.decode::<Vec<i32>>(b"{").is_err());
    }
}
