//! [`HeaderState`]: the id in a request header, for API clients.

use actix_web::http::header::{HeaderMap, HeaderName, AUTHORIZATION};

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
///
/// # Bearer tokens
///
/// [`HeaderState::bearer`] reads the id from `Authorization: Bearer <id>` instead, the way most
/// HTTP clients send a token, and still sends a new id (and the empty value of an ended
/// session) in a response header, `x-session-id` by default ([`bearer_with`](Self::bearer_with)
/// picks another). Anything else in `Authorization` (another scheme such as `Basic`, a
/// malformed value) is no id: the request gets a fresh session, never an error, and a `tracing`
/// event at `debug` level says why. That event names the scheme only when it looks like one (up
/// to 12 ASCII letters followed by a space, as in `Basic dXNl..`); for anything else, such as a
/// bare id sent without `Bearer `, it gives only the value's length, so no part of a credential
/// reaches the log.
#[derive(Debug, Clone)]
#[must_use]
pub struct HeaderState {
    name: HeaderName,
    /// The id is read from `Authorization: Bearer <id>`; `name` is only the response header.
    bearer: bool,
    /// The name given to [`new`](HeaderState::new) when it is not a valid header name: reported
    /// by the middleware's builder, before the server starts.
    invalid: Option<String>,
}

impl Default for HeaderState {
    fn default() -> Self {
        HeaderState {
            name: HeaderName::from_static("x-session-id"),
            bearer: false,
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
                bearer: false,
                invalid: None,
            }),
            Err(_) => Err(invalid_name(name)),
        }
    }

    /// The id is read from `Authorization: Bearer <id>` (the scheme in any case, then one
    /// space or more); a new id, or the empty value of an ended session, is sent in the
    /// response header `x-session-id`. See [above](HeaderState#bearer-tokens).
    pub fn bearer() -> Self {
        HeaderState {
            bearer: true,
            ..HeaderState::default()
        }
    }

    /// As [`bearer`](Self::bearer), with the new id sent in the response header `name`.
    ///
    /// An invalid `name` is reported by the middleware's builder, as with [`new`](Self::new).
    pub fn bearer_with(name: &str) -> Self {
        HeaderState {
            bearer: true,
            ..Self::new(name)
        }
    }

    /// The header's name: the one the id is read from and sent in, or, with
    /// [`bearer`](Self::bearer), only the one it is sent in.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// Whether the id is read from `Authorization: Bearer <id>`.
    pub fn is_bearer(&self) -> bool {
        self.bearer
    }

    /// The request header the id is read from.
    pub(crate) fn request_header(&self) -> &HeaderName {
        if self.bearer {
            &AUTHORIZATION
        } else {
            &self.name
        }
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
        let header = self.request_header();
        let mut values = headers.get_all(header);
        let first = values.next()?;
        if values.any(|other| other.as_bytes().trim_ascii() != first.as_bytes().trim_ascii()) {
            tracing::warn!(
                header = %header,
                "the session header was sent more than once with different values; treated as \
                 no session id (fix the client: it must send the one value it was given last)"
            );
            return None;
        }
        let Ok(value) = first.to_str() else {
            if self.bearer {
                tracing::debug!("Authorization is not visible ASCII; no session id");
            }
            return None;
        };
        let value = value.trim();
        if self.bearer {
            return bearer_token(value).map(std::borrow::Cow::Borrowed);
        }
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

/// The token of `Bearer <token>`: the scheme in any case, one space or more, then a token with
/// no whitespace in it. Anything else is `None`, with a `debug` event that says why.
fn bearer_token(value: &str) -> Option<&str> {
    let split = value.split_once(' ');
    let (scheme, rest) = split.unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Name the scheme only when it is one (`Basic dXNl..`): a client that sends the bare id,
        // or `Bearer:<id>`, would otherwise put part of the id in the log.
        if split.is_some() && looks_like_a_scheme(scheme) {
            tracing::debug!(
                scheme = %scheme,
                "Authorization is not a Bearer credential; no session id"
            );
        } else {
            tracing::debug!(
                len = value.len(),
                "Authorization is not `<scheme> <credentials>` (a bare token?); no session id"
            );
        }
        return None;
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() || token.contains(|c: char| c.is_ascii_whitespace()) {
        tracing::debug!("Authorization: Bearer without a single token; no session id");
        return None;
    }
    Some(token)
}

/// Longest word logged as the scheme of an `Authorization` value (the registered schemes made
/// of letters, `Negotiate` or `PrivateToken`, are shorter).
const MAX_SCHEME_LOGGED: usize = 12;

/// Whether `word`, the part of an `Authorization` value before its first space, is a scheme
/// name worth logging: 1 to [`MAX_SCHEME_LOGGED`] ASCII letters. Anything else (digits, `-`,
/// `:`, a long word) may be a credential, and only its length is logged.
fn looks_like_a_scheme(word: &str) -> bool {
    (1..=MAX_SCHEME_LOGGED).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_alphabetic())
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
    fn bearer_tokens() {
        let state = HeaderState::bearer();
        let read = |value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, HeaderValue::from_static(value));
            state.read(&h).map(|v| v.into_owned())
        };
        assert_eq!(read("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(read("bearer   abc").as_deref(), Some("abc"));
        assert_eq!(read("BEARER abc ").as_deref(), Some("abc"));
        for junk in [
            "Basic dXNlcjpwdw==",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "abc",
            "Bearerabc",
        ] {
            assert_eq!(read(junk), None, "{junk:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-session-id"),
            HeaderValue::from_static("abc"),
        );
        assert_eq!(state.read(&h), None, "the response header is not read");
        assert!(HeaderState::bearer_with("bad header").validate().is_err());
        assert_eq!(HeaderState::bearer_with("x-api").name(), "x-api");
    }

    #[test]
    fn only_a_short_word_of_letters_is_logged_as_a_scheme() {
        for scheme in ["Basic", "Digest", "Negotiate", "PrivateToken", "x"] {
            assert!(looks_like_a_scheme(scheme), "{scheme}");
        }
        for not in [
            "",
            "AWS4-HMAC-SHA256",
            "Bearer:abc",
            "abcdefghijklm",
            "AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "caf\u{e9}",
        ] {
            assert!(!looks_like_a_scheme(not), "{not}");
        }
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
