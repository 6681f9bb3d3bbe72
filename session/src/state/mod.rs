//! Where the session id travels: a cookie (the default), a request header, or a query parameter.
//!
//! A *state* reads the client's value from the request and, at commit time, tells the client the
//! new value or that the session ended. Pick one with
//! [`SessionMiddlewareBuilder::state`](crate::SessionMiddlewareBuilder::state).

use std::borrow::Cow;

use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::HttpRequest;

pub(crate) mod cookie;
mod header;
mod query;

pub use self::cookie::CookieState;
pub use self::header::HeaderState;
pub use self::query::QueryState;

use crate::error::ConfigError;
use crate::store::{CarrierKind, SealContext};

/// Values longer than this are junk for every store (browsers cap a cookie at 4096 bytes).
pub(crate) const MAX_VALUE_LEN: usize = 4096;

/// One of the states; the builder takes any of them through `Into<IdCarrier>`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum IdCarrier {
    /// See [`CookieState`].
    Cookie(CookieState),
    /// See [`HeaderState`].
    Header(HeaderState),
    /// See [`QueryState`].
    Query(QueryState),
}

impl IdCarrier {
    /// Whether the id travels in a request header (an API client): guards and step-up answer
    /// it `401` rather than redirect it to a page.
    pub(crate) fn is_header(&self) -> bool {
        matches!(self, IdCarrier::Header(_))
    }
}

impl Default for IdCarrier {
    fn default() -> Self {
        IdCarrier::Cookie(CookieState::default())
    }
}

impl From<CookieState> for IdCarrier {
    fn from(s: CookieState) -> Self {
        IdCarrier::Cookie(s)
    }
}
impl From<HeaderState> for IdCarrier {
    fn from(s: HeaderState) -> Self {
        IdCarrier::Header(s)
    }
}
impl From<QueryState> for IdCarrier {
    fn from(s: QueryState) -> Self {
        IdCarrier::Query(s)
    }
}

impl IdCarrier {
    /// The name the session value travels under: the cookie name, the header name (lower
    /// case) or the query parameter name. A sealing store binds its value to it (see
    /// [`SealContext`]).
    pub fn name(&self) -> &str {
        match self {
            IdCarrier::Cookie(s) => s.name(),
            IdCarrier::Header(s) => s.name().as_str(),
            IdCarrier::Query(s) => s.name(),
        }
    }

    /// Which kind of carrier this is: a cookie, a header or a query parameter. A sealing store
    /// binds its value to it beside the [`name`](Self::name) (see [`SealContext`]), so a cookie
    /// `sid` and a query parameter `sid` on two middlewares with one key never open each
    /// other's values (`tests/stores/cookie_store.rs`
    /// `a_sealed_value_never_opens_under_another_kind_of_carrier_of_the_same_name`).
    pub fn kind(&self) -> CarrierKind {
        match self {
            IdCarrier::Cookie(_) => CarrierKind::Cookie,
            IdCarrier::Header(_) => CarrierKind::Header,
            IdCarrier::Query(_) => CarrierKind::Query,
        }
    }

    /// What a value of this carrier is sealed for: its name and kind, and the request's client
    /// `binding`.
    pub(crate) fn seal_context<'a>(&'a self, binding: Option<&'a [u8]>) -> SealContext<'a> {
        SealContext::new(self.name())
            .with_kind(self.kind())
            .with_binding(binding)
    }

    /// The client's value, unquoted and percent-decoded; `None` when absent or oversized.
    pub(crate) fn read<'a>(&self, req: &'a HttpRequest) -> Option<Cow<'a, str>> {
        let raw = match self {
            IdCarrier::Cookie(s) => s.read(req.headers()),
            IdCarrier::Header(s) => s.read(req.headers()),
            IdCarrier::Query(s) => s.read(req.query_string()),
        }?;
        if raw.is_empty() {
            return None; // a cleared cookie (`id=`) is no session at all
        }
        if raw.len() > MAX_VALUE_LEN {
            tracing::debug!(
                len = raw.len(),
                "session value too long; starting a new session"
            );
            return None;
        }
        Some(raw)
    }

    /// Tells the client its (new) value. Returns whether anything was added.
    pub(crate) fn send(&self, headers: &mut HeaderMap, value: &str) -> bool {
        match self {
            IdCarrier::Cookie(s) => s.send(headers, value),
            IdCarrier::Header(s) => s.send(headers, value),
            IdCarrier::Query(_) => false,
        }
    }

    /// [`send`](Self::send) for a session with a lifetime of its own: a cookie that lasts
    /// `max_age` seconds (its time to expiry); other carriers send as usual.
    pub(crate) fn send_lasting(&self, headers: &mut HeaderMap, value: &str, max_age: u64) -> bool {
        match self {
            IdCarrier::Cookie(s) => s.send_lasting(headers, value, max_age),
            other => other.send(headers, value),
        }
    }

    /// Refuses a value the client could not keep (a cookie over 4096 bytes): it would be
    /// truncated or dropped by the browser, silently losing the session.
    pub(crate) fn check_size(&self, value: &str) -> Result<(), crate::error::SessionError> {
        match self {
            IdCarrier::Cookie(s) => {
                let size = s.name().len() + 1 + value.len();
                if size > MAX_VALUE_LEN {
                    return Err(crate::error::SessionError::CookieTooLarge {
                        size,
                        limit: MAX_VALUE_LEN,
                    });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Tells the client the session ended. Returns whether anything was added.
    pub(crate) fn send_removal(&self, headers: &mut HeaderMap) -> bool {
        match self {
            IdCarrier::Cookie(s) => s.send_removal(headers),
            IdCarrier::Header(s) => s.send(headers, ""),
            IdCarrier::Query(_) => false,
        }
    }

    /// Whether the client value must be re-sent whenever the expiry moves (a persistent cookie:
    /// this state's, or that of a session with a lifetime of its own, `remembered`).
    pub(crate) fn refresh_on_touch(&self, remembered: bool) -> bool {
        matches!(self, IdCarrier::Cookie(s) if s.is_persistent() || remembered)
    }

    /// The request header a response depends on once the session was read.
    pub(crate) fn vary(&self) -> Option<&str> {
        match self {
            IdCarrier::Cookie(_) => Some("Cookie"),
            IdCarrier::Header(s) => Some(s.request_header().as_str()),
            IdCarrier::Query(_) => None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match self {
            IdCarrier::Cookie(s) => s.validate(),
            IdCarrier::Header(s) => s.validate(),
            IdCarrier::Query(_) => Ok(()),
        }
    }
}

/// Strips one pair of surrounding double quotes and decodes `%XX` escapes.
/// Invalid UTF-8 after decoding counts as absent.
pub(crate) fn decode_value(raw: &str) -> Option<Cow<'_, str>> {
    let unquoted = raw
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(raw);
    if !unquoted.contains('%') {
        return Some(Cow::Borrowed(unquoted));
    }
    percent_encoding::percent_decode_str(unquoted)
        .decode_utf8()
        .ok()
}

pub(crate) fn header_value(value: &str) -> Option<HeaderValue> {
    match HeaderValue::from_str(value) {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::error!("session value is not a valid header value; nothing sent");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_quotes_and_percent() {
        assert_eq!(decode_value("\"abc\"").unwrap(), "abc");
        assert_eq!(decode_value("a%2Db").unwrap(), "a-b");
        assert_eq!(decode_value("plain").unwrap(), "plain");
        assert!(decode_value("%FF%FE").is_none());
        assert_eq!(decode_value("\"").unwrap(), "\"");
    }
}
