//! How a session's values become the body of the plaintext: the [`CookieSerializer`] trait and
//! its JSON and binary serializers, the built-in layout as a serializer object, the choice of
//! body (and its compression) at each seal; the hooks an app gives the builder, and the errors
//! of a seal and of an open.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::format::{
    entries_len, entries_to_vec, parse_entries, write_entries, Writer, FLAG_DEFLATE,
};
use super::Inner;
use crate::error::BoxError;
use crate::id::SessionId;
use crate::store::{Bytes, Record};

/// Turns a session's values into bytes and back, for [`CookieStore`](super::CookieStore).
///
/// Values arrive already encoded by the middleware's codec (JSON by default). Without a
/// serializer, the store writes them in its own compact layout (each key and value as it is,
/// after its length), which works with every codec and is the fastest to seal and open;
/// [`JsonSerializer`] writes them as one JSON object (readable, JSON values only), and
/// [`BinarySerializer`] in fixed-width lengths.
pub trait CookieSerializer: Send + Sync + 'static {
    /// The session's values as bytes.
    ///
    /// # Errors
    /// Any error makes the seal fail (see [`CookieStoreBuilder::on_encode_error`]).
    ///
    /// [`CookieStoreBuilder::on_encode_error`]: super::CookieStoreBuilder::on_encode_error
    fn serialize(&self, data: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError>;

    /// The inverse of [`serialize`](Self::serialize).
    ///
    /// # Errors
    /// Any error gives a fresh session (see [`CookieStoreBuilder::on_decode_error`]).
    ///
    /// [`CookieStoreBuilder::on_decode_error`]: super::CookieStoreBuilder::on_decode_error
    fn deserialize(&self, bytes: &[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError>;
}

/// `{"key": <value>, ..}`, each value embedded as the JSON it already is (values must be JSON:
/// the middleware's default codec).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerializer;

impl CookieSerializer for JsonSerializer {
    fn serialize(&self, data: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> {
        let mut map = BTreeMap::new();
        for (key, value) in data {
            let raw: &serde_json::value::RawValue = serde_json::from_slice(value)?;
            map.insert(key.as_str(), raw);
        }
        Ok(serde_json::to_vec(&map)?)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> {
        let map: HashMap<String, Box<serde_json::value::RawValue>> = serde_json::from_slice(bytes)?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k, v.get().as_bytes().to_vec()))
            .collect())
    }
}

/// A codec-independent serializer: each entry as a 2-byte key length, the key, a 4-byte value
/// length and the value (big-endian). The store's own default layout is as codec-independent
/// and shorter; this one is for code that reads or writes the payload itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct BinarySerializer;

impl CookieSerializer for BinarySerializer {
    fn serialize(&self, data: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> {
        let mut out = Vec::new();
        for (key, value) in data {
            let key_len = u16::try_from(key.len()).map_err(|_| "session key over 64 KiB")?;
            let value_len = u32::try_from(value.len()).map_err(|_| "session value over 4 GiB")?;
            out.extend_from_slice(&key_len.to_be_bytes());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&value_len.to_be_bytes());
            out.extend_from_slice(value);
        }
        Ok(out)
    }

    fn deserialize(&self, mut bytes: &[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], BoxError> {
            if bytes.len() < n {
                return Err("truncated session payload".into());
            }
            let (head, rest) = bytes.split_at(n);
            *bytes = rest;
            Ok(head)
        }
        let mut data = HashMap::new();
        while !bytes.is_empty() {
            let key_len = u16::from_be_bytes(take(&mut bytes, 2)?.try_into()?) as usize;
            let key = std::str::from_utf8(take(&mut bytes, key_len)?)?.to_owned();
            let value_len = u32::from_be_bytes(take(&mut bytes, 4)?.try_into()?) as usize;
            let value = take(&mut bytes, value_len)?.to_vec();
            data.insert(key, value);
        }
        Ok(data)
    }
}

/// Why a client's cookie did not open; passed to [`CookieStoreBuilder::on_decode_error`].
///
/// Its `Display` names the kind of failure only, never anything of the payload (it is what the
/// store logs). The serializer's own error, which may quote the payload, is the
/// [`source`](std::error::Error::source) of [`Deserialize`](Self::Deserialize), for the hook.
///
/// [`CookieStoreBuilder::on_decode_error`]: super::CookieStoreBuilder::on_decode_error
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CookieDecodeError {
    /// Not URL-safe base64, or too short to hold a sealed session.
    #[error("malformed sealed cookie")]
    Malformed,
    /// No key verifies (tampered, or sealed with a key no longer configured).
    #[error("sealed cookie does not verify with any configured key")]
    Unverified,
    /// Verified, but of an unknown format version or with a bad header.
    #[error("sealed cookie has an unknown format")]
    Format,
    /// The compressed payload does not inflate (or inflates past 64 KiB).
    #[error("sealed cookie does not decompress")]
    Decompress,
    /// The serializer rejected the payload (e.g. a schema change between deploys); the
    /// serializer's error is the [`source`](std::error::Error::source).
    #[error("sealed cookie payload does not deserialize")]
    Deserialize(#[source] BoxError),
}

/// What to do when a session cannot be sealed; returned by the
/// [`on_encode_error`](super::CookieStoreBuilder::on_encode_error) hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodeFailure {
    /// Send no `Set-Cookie`: the client keeps its previous cookie; the response goes out as the
    /// handler made it. The default.
    #[default]
    KeepPrevious,
    /// Fail the response with `500` (or the middleware's chosen error response).
    Fail,
}

/// Why a session could not be sealed. Only the kind is logged; the hook gets the detail.
#[derive(Debug)]
pub(super) enum SealFailure {
    /// The serializer refused the session (its error may quote values).
    Serialize(BoxError),
    /// The random source failed (no nonce).
    Random(rand::Error),
    /// AES-GCM refused to encrypt (a payload over its limit).
    Encrypt,
}

impl SealFailure {
    /// The kind of failure, for the log.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            SealFailure::Serialize(_) => "serializer failed",
            SealFailure::Random(_) => "random source failed",
            SealFailure::Encrypt => "encryption failed",
        }
    }

    /// The detail, for the `on_encode_error` hook and the handler's error.
    pub(super) fn into_source(self) -> BoxError {
        match self {
            SealFailure::Serialize(err) => err,
            SealFailure::Random(err) => format!("random source: {err}").into(),
            SealFailure::Encrypt => "AES-GCM encryption failed".into(),
        }
    }
}

/// Why a cookie did not open, with the session it names once that is known (for the log tag).
pub(super) struct OpenFailure {
    pub(super) error: CookieDecodeError,
    pub(super) session: Option<SessionId>,
}

impl From<CookieDecodeError> for OpenFailure {
    fn from(error: CookieDecodeError) -> Self {
        OpenFailure {
            error,
            session: None,
        }
    }
}

pub(super) type SerializeFn =
    dyn Fn(&HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> + Send + Sync;
pub(super) type DeserializeFn =
    dyn Fn(&[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> + Send + Sync;
pub(super) type DecodeHook = dyn Fn(&CookieDecodeError) + Send + Sync;
pub(super) type Binder = dyn Fn(&actix_web::HttpRequest) -> Vec<u8> + Send + Sync;
pub(super) type EncodeHook = dyn Fn(&BoxError) -> EncodeFailure + Send + Sync;

/// A serializer the application chose (an object, functions, or both).
pub(super) struct Custom {
    pub(super) serialize: Arc<SerializeFn>,
    pub(super) deserialize: Arc<DeserializeFn>,
}

/// The built-in layout as a serializer object, for a function given without one (and for the
/// compressor's input).
pub(super) struct Entries;

impl CookieSerializer for Entries {
    fn serialize(&self, data: &HashMap<String, Vec<u8>>) -> Result<Vec<u8>, BoxError> {
        Ok(entries_to_vec(data))
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<HashMap<String, Vec<u8>>, BoxError> {
        parse_entries(bytes, <[u8]>::to_vec)
    }
}

/// The session's values as the plaintext carries them: straight from the record (the built-in
/// layout), or the bytes a custom serializer (or the compressor) made.
pub(super) enum Body<'a> {
    Entries(&'a HashMap<String, Bytes>, usize),
    Bytes(Vec<u8>),
}

impl Body<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Body::Entries(_, len) => *len,
            Body::Bytes(bytes) => bytes.len(),
        }
    }

    pub(super) fn write(&self, out: &mut Writer<'_>) {
        match self {
            Body::Entries(data, _) => write_entries(data, out),
            Body::Bytes(bytes) => out.put(bytes),
        }
    }
}

impl Inner {
    /// The body and its flags (compressed or not).
    pub(super) fn body<'r>(&self, record: &'r Record) -> Result<(u8, Body<'r>), SealFailure> {
        let body = match &self.custom {
            None if !self.compress => {
                return Ok((0, Body::Entries(&record.data, entries_len(&record.data))))
            }
            None => Ok(entries_to_vec(&record.data)),
            Some(custom) => {
                // The serializer's public signature keeps owned bytes; a cookie holds a few
                // small values.
                let data: HashMap<String, Vec<u8>> = record
                    .data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_vec()))
                    .collect();
                (custom.serialize)(&data)
            }
        }
        .map_err(SealFailure::Serialize)?;
        if self.compress {
            let packed = miniz_oxide::deflate::compress_to_vec(&body, 6);
            if packed.len() < body.len() {
                return Ok((FLAG_DEFLATE, Body::Bytes(packed)));
            }
        }
        Ok((0, Body::Bytes(body)))
    }
}
