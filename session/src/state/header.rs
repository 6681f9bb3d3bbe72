//! [`HeaderState`]: the id in a request header, for API clients.

use actix_web::http::header::{HeaderMap, HeaderName};

use super::header_value;
use crate::error::ConfigError;

/// Carries the session value in a request header; a new value comes back in the same response
/// header, and an ended session in that header with an empty value.
///
/// Default header: `x-session-id`. Meant for API clients that do not keep cookies. The client
/// must store the value it receives and send it on every request.
///
/// A request that carries the header twice with different values is treated as carrying no id
/// (a fresh session, and a `tracing` warning that says why): silently picking one would fork a
/// new session whenever a client's bug sends a stale value next to the right one.
#[derive(Debug, Clone)]
#[must_use]
pub struct HeaderState {
    name: HeaderName,
    /// The name given to [`new`](HeaderState::new) when it is not a valid header name: reported
    /// by the middleware's builder, before the server starts.
    invalid: Option<String>,
}

impl Default for HeaderState {
    fn default() -> Self {
        HeaderState {
            name: HeaderName::from_static("x-session-id"),
            invalid: None,
        }
    }
}

impl HeaderState {
    /// The id travels in the header `name`.
    ///
    /// A `name` that is not a valid header name is not a panic here: the middleware's
    /// [`try_build`](crate::SessionMiddlewareBuilder::try_build) returns it as a
    /// [`ConfigError`] (and [`build`](crate::SessionMiddlewareBuilder::build) panics with that
    /// message). Use [`try_new`](Self::try_new) to check it on the spot.
    pub fn new(name: &str) -> Self {
        Self::try_new(name).unwrap_or_else(|_| HeaderState {
            invalid: Some(name.to_owned()),
            ..HeaderState::default()
        })
    }

    /// The id travels in the header `name`.
    ///
    /// # Errors
    /// `name` is not a valid HTTP header name (empty, spaces, non-token characters).
    pub fn try_new(name: &str) -> Result<Self, ConfigError> {
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(name) => Ok(HeaderState {
                name,
                invalid: None,
            }),
            Err(_) => Err(invalid_name(name)),
        }
    }

    /// The header's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match &self.invalid {
            Some(name) => Err(invalid_name(name)),
            None => Ok(()),
        }
    }

    /// The header's value; `None` when absent, not visible ASCII, or sent twice with different
    /// values.
    pub(crate) fn read<'a>(&self, headers: &'a HeaderMap) -> Option<std::borrow::Cow<'a, str>> {
        let mut values = headers.get_all(&self.name);
        let first = values.next()?;
        if values.any(|other| other.as_bytes().trim_ascii() != first.as_bytes().trim_ascii()) {
            tracing::warn!(
                header = %self.name,
                "the session header was sent more than once with different values; treated as \
                 no session id (fix the client: it must send the one value it was given last)"
            );
            return None;
        }
        let value = first.to_str().ok()?.trim();
        Some(std::borrow::Cow::Borrowed(value))
    }

    pub(crate) fn send(&self, headers: &mut HeaderMap, value: &str) -> bool {
        match header_value(value) {
            Some(v) => {
                headers.insert(self.name.clone(), v);
                true
            }
            None => false,
        }
    }
}

fn invalid_name(name: &str) -> ConfigError {
    ConfigError(format!(
        "HeaderState: {name:?} is not a valid header name (use letters, digits and '-', e.g. \
         \"x-session-id\")"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn bad_names_are_config_errors_not_panics() {
        for bad in ["bad header", "", "x:y", "caf\u{e9}"] {
            let err = HeaderState::try_new(bad).unwrap_err().to_string();
            assert!(err.contains("not a valid header name"), "{err}");
            let state = HeaderState::new(bad);
            assert!(state.validate().is_err(), "{bad:?}");
        }
        assert!(HeaderState::try_new("x-api-session").is_ok());
        assert!(HeaderState::new("x-api-session").validate().is_ok());
    }

    #[test]
    fn two_different_values_are_no_id() {
        let state = HeaderState::default();
        for (a, b) in [("junk", "valid"), ("valid", "junk")] {
            let mut h = HeaderMap::new();
            h.append(
                HeaderName::from_static("x-session-id"),
                HeaderValue::from_static(a),
            );
            h.append(
                HeaderName::from_static("x-session-id"),
                HeaderValue::from_static(b),
            );
            assert_eq!(state.read(&h), None, "{a} then {b}");
        }
        let mut h = HeaderMap::new();
        h.append(
            HeaderName::from_static("x-session-id"),
            HeaderValue::from_static("same"),
        );
        h.append(
            HeaderName::from_static("x-session-id"),
            HeaderValue::from_static(" same"),
        );
        assert_eq!(
            state.read(&h).as_deref(),
            Some("same"),
            "a repeated value is fine"
        );
    }
}
