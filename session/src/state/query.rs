//! [`QueryState`]: the id in a query parameter.

use std::borrow::Cow;

/// Reads the session value from a query parameter (default `sid`) and never sends anything back,
/// not even on expire, as Plack's parameter state: the app puts
/// [`Session::id`](crate::Session::id) into its links itself.
///
/// Ids in URLs leak through logs and `Referer` headers; prefer [`CookieState`](super::CookieState)
/// unless clients cannot keep cookies.
#[derive(Debug, Clone)]
#[must_use]
pub struct QueryState {
    name: String,
}

impl Default for QueryState {
    fn default() -> Self {
        QueryState::new("sid")
    }
}

impl QueryState {
    /// The id travels in the query parameter `name`.
    pub fn new(name: impl Into<String>) -> Self {
        QueryState { name: name.into() }
    }

    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// First `name=value` of the query string, decoded.
    pub(crate) fn read<'a>(&self, query: &'a str) -> Option<Cow<'a, str>> {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == self.name)
            .and_then(|(_, v)| super::decode_value(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_parameter_wins() {
        let s = QueryState::new("sid");
        assert_eq!(s.read("a=1&sid=x%2Dy&sid=z").unwrap(), "x-y");
        assert!(s.read("a=1").is_none());
    }
}
