//! Typed sessions: a plain struct stored under one key of the session.

use serde::{de::DeserializeOwned, Serialize};

/// A struct that lives in the session under one key.
///
/// Implement it (or, soon, derive it) for a `Serialize + Deserialize` type to move it in and out
/// of a [`Session`](crate::Session) with [`put`](crate::Session::put) and
/// [`typed`](crate::Session::typed).
pub trait TypedSession: Serialize + DeserializeOwned {
    /// The session key the value is stored under (by convention the type name in snake_case).
    const KEY: &'static str;
}
