//! [`HeaderState`]: the id in a request header, for API clients.

use actix_web::http::header::{HeaderMap, HeaderName};

use super::header_value;

/// Carries the session value in a request header; a new value comes back in the same response
/// header, and an ended session in that header with an empty value.
///
/// Default header: `x-session-id`. Meant for API clients that do not keep cookies. The client
/// must store the value it receives and send it on every request.
#[derive(Debug, Clone)]
#[must_use]
pub struct HeaderState {
    name: HeaderName,
}

impl Default for HeaderState {
    fn default() -> Self {
        HeaderState {
            name: HeaderName::from_static("x-session-id"),
        }
    }
}

impl HeaderState {
    /// The id travels in the header `name`.
    ///
    /// # Panics
    /// When `name` is not a valid header name: a programming error caught at startup.
    pub fn new(name: &str) -> Self {
        HeaderState {
            name: HeaderName::from_bytes(name.as_bytes())
                .unwrap_or_else(|_| panic!("{name:?} is not a valid header name")),
        }
    }

    /// The header's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    pub(crate) fn read<'a>(&self, headers: &'a HeaderMap) -> Option<std::borrow::Cow<'a, str>> {
        let value = headers.get(&self.name)?.to_str().ok()?.trim();
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
