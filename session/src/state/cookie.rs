//! [`CookieState`]: the id in a cookie.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use cookie::{time, Cookie, SameSite};

use super::{decode_value, header_value};
use crate::error::ConfigError;

/// Carries the session value in a cookie. The default state.
///
/// Defaults: name `id`, path `/`, no domain, `Secure`, `HttpOnly`, `SameSite=Lax`, and a
/// browser-session cookie (no `Max-Age`/`Expires`: the server-side idle timeout is what ends the
/// session). Browsers accept `Secure` cookies from `http://localhost`, so the default works in
/// development too.
///
/// Rules enforced when the middleware is built (misconfiguration is an error then, never at the
/// first request): a `__Host-` name needs `Secure`, path `/` and no domain; a `__Secure-` name
/// needs `Secure`; `SameSite=None` and `Partitioned` need `Secure` (their setters turn it on).
///
/// When the name appears more than once in the `Cookie` header, the first one wins. Quoted and
/// percent-encoded values are decoded. The removal cookie repeats name, path, domain, `Secure`,
/// `HttpOnly` and `SameSite`, with `Max-Age=0` and an `Expires` in the past.
#[derive(Debug, Clone)]
#[must_use]
pub struct CookieState {
    name: String,
    path: String,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    max_age: Option<Duration>,
    partitioned: bool,
    /// `; HttpOnly; SameSite=Lax; Secure; Path=/…`: the attributes of the cookie [`send`] builds,
    /// which do not depend on the value, formatted on the first send. Only the middleware sends,
    /// after the builder is done with the setters, so the cache cannot go stale.
    ///
    /// [`send`]: CookieState::send
    attributes: OnceLock<String>,
}

impl Default for CookieState {
    fn default() -> Self {
        CookieState::new("id")
    }
}

impl CookieState {
    /// A cookie named `name` with the defaults above.
    pub fn new(name: impl Into<String>) -> Self {
        CookieState {
            name: name.into(),
            path: "/".into(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            max_age: None,
            partitioned: false,
            attributes: OnceLock::new(),
        }
    }

    /// The cookie's `Path`. Default: `/`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The cookie's `Domain`. Default: none (host-only cookie).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The `Secure` flag. Default: on. Turn it off only for plain-HTTP setups other than localhost.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The `HttpOnly` flag. Default: on.
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// The `SameSite` attribute. Default: `Lax`. `None` turns `Secure` on, as browsers require.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        if same_site == SameSite::None {
            self.secure = true;
        }
        self
    }

    /// A persistent cookie that lives `max_age` (re-sent whenever the session's expiry moves),
    /// instead of the default browser-session cookie.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// A browser-session cookie (the default): no `Max-Age` or `Expires`.
    pub fn browser_session(mut self) -> Self {
        self.max_age = None;
        self
    }

    /// The `Partitioned` attribute (CHIPS). Turning it on also sets `Secure` and `SameSite=None`.
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        if partitioned {
            self.secure = true;
            self.same_site = SameSite::None;
        }
        self
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn is_persistent(&self) -> bool {
        self.max_age.is_some()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |why: &str| Err(ConfigError(format!("cookie {:?}: {why}", self.name)));
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        {
            return bad("the name must be a non-empty HTTP token");
        }
        if self.name.starts_with("__Host-") {
            if !self.secure {
                return bad("a __Host- cookie must be Secure");
            }
            if self.path != "/" {
                return bad("a __Host- cookie must have path \"/\"");
            }
            if self.domain.is_some() {
                return bad("a __Host- cookie must not have a domain");
            }
        }
        if self.name.starts_with("__Secure-") && !self.secure {
            return bad("a __Secure- cookie must be Secure");
        }
        if (self.same_site == SameSite::None || self.partitioned) && !self.secure {
            return bad("SameSite=None and Partitioned need Secure");
        }
        if self.partitioned && self.same_site != SameSite::None {
            return bad("a Partitioned cookie needs SameSite=None");
        }
        Ok(())
    }

    /// First `name=value` pair of the `Cookie` header(s) for this state's cookie, decoded.
    pub(crate) fn read<'a>(&self, headers: &'a HeaderMap) -> Option<std::borrow::Cow<'a, str>> {
        read_cookie(headers, &self.name)
    }

    fn base<'c>(&'c self, value: &'c str) -> cookie::CookieBuilder<'c> {
        let mut b = Cookie::build((self.name.as_str(), value))
            .path(self.path.as_str())
            .secure(self.secure)
            .http_only(self.http_only)
            .same_site(self.same_site)
            .partitioned(self.partitioned);
        if let Some(domain) = &self.domain {
            b = b.domain(domain.as_str());
        }
        b
    }

    /// The cookie `send` builds for `value`, as the `cookie` crate formats it.
    fn cookie<'c>(&'c self, value: &'c str) -> Cookie<'c> {
        let mut b = self.base(value);
        if let Some(max_age) = self.max_age {
            b = b.max_age(time::Duration::seconds(
                i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
            ));
        }
        b.build()
    }

    /// Appends `Set-Cookie: name=value; <attributes>; Max-Age=<max_age>`: a persistent cookie
    /// for a session with a lifetime of its own (`Session::remember`), whatever this state's
    /// own `max_age`.
    pub(crate) fn send_lasting(&self, headers: &mut HeaderMap, value: &str, max_age: u64) -> bool {
        let cookie = self
            .base(value)
            .max_age(time::Duration::seconds(
                i64::try_from(max_age).unwrap_or(i64::MAX),
            ))
            .build();
        match HeaderValue::try_from(cookie.to_string()) {
            Ok(v) => {
                headers.append(SET_COOKIE, v);
                true
            }
            Err(_) => {
                tracing::error!("session value is not a valid header value; nothing sent");
                false
            }
        }
    }

    /// Appends `Set-Cookie: name=value; <attributes>`. The attributes are formatted once (see
    /// `attributes`); per request this is one `String` that becomes the header value without a copy.
    pub(crate) fn send(&self, headers: &mut HeaderMap, value: &str) -> bool {
        let attributes = self.attributes.get_or_init(|| {
            let empty = self.cookie("").to_string();
            empty[self.name.len() + 1..].to_owned()
        });
        let mut text = String::with_capacity(self.name.len() + 1 + value.len() + attributes.len());
        text.push_str(&self.name);
        text.push('=');
        text.push_str(value);
        text.push_str(attributes);
        match HeaderValue::try_from(text) {
            Ok(v) => {
                headers.append(SET_COOKIE, v);
                true
            }
            Err(_) => {
                tracing::error!("session value is not a valid header value; nothing sent");
                false
            }
        }
    }

    pub(crate) fn send_removal(&self, headers: &mut HeaderMap) -> bool {
        let b = self
            .base("")
            .max_age(time::Duration::ZERO)
            .expires(time::OffsetDateTime::UNIX_EPOCH);
        self.append(headers, b.build())
    }

    fn append(&self, headers: &mut HeaderMap, cookie: Cookie<'_>) -> bool {
        match header_value(&cookie.to_string()) {
            Some(v) => {
                headers.append(SET_COOKIE, v);
                true
            }
            None => false,
        }
    }
}

/// First `name=value` pair of the `Cookie` header(s), decoded.
///
/// Each pair is read on its own from the raw bytes, as actix-web's own cookie parsing does:
/// another cookie with non-ASCII bytes (`name=Zoë`) does not hide the one asked for.
pub(crate) fn read_cookie<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Option<std::borrow::Cow<'a, str>> {
    read_cookie_in(headers.get_all(COOKIE), name)
}

/// [`read_cookie`] over `Cookie` header values.
pub(crate) fn read_cookie_in<'a>(
    values: impl Iterator<Item = &'a HeaderValue>,
    name: &str,
) -> Option<std::borrow::Cow<'a, str>> {
    let wanted = name.as_bytes();
    for header in values {
        for pair in header.as_bytes().split(|b| *b == b';') {
            let Some(eq) = pair.iter().position(|b| *b == b'=') else {
                continue;
            };
            if pair[..eq].trim_ascii() != wanted {
                continue;
            }
            let decoded = std::str::from_utf8(pair[eq + 1..].trim_ascii())
                .ok()
                .and_then(decode_value);
            if decoded.is_none() {
                tracing::debug!(cookie = name, "cookie does not decode");
            }
            return decoded;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn host_prefix_rules() {
        assert!(CookieState::new("__Host-id").validate().is_ok());
        assert!(CookieState::new("__Host-id")
            .secure(false)
            .validate()
            .is_err());
        assert!(CookieState::new("__Host-id")
            .path("/app")
            .validate()
            .is_err());
        assert!(CookieState::new("__Host-id")
            .domain("a.example")
            .validate()
            .is_err());
        assert!(CookieState::new("__Secure-id")
            .secure(false)
            .validate()
            .is_err());
        assert!(CookieState::new("bad name").validate().is_err());
        assert!(CookieState::new("").validate().is_err());
        assert!(CookieState::new("id")
            .partitioned(true)
            .secure(false)
            .validate()
            .is_err());
    }

    #[test]
    fn partitioned_forces_secure_and_none() {
        let s = CookieState::new("id").secure(false).partitioned(true);
        let mut h = HeaderMap::new();
        s.send(&mut h, "v");
        let text = h.get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
        assert!(text.contains("Secure") && text.contains("SameSite=None"));
        assert!(text.contains("Partitioned"), "{text}");
    }

    #[test]
    fn send_matches_the_cookie_crate() {
        let states = [
            CookieState::new("id"),
            CookieState::new("__Host-sid").same_site(SameSite::Strict),
            CookieState::new("s")
                .path("/app")
                .domain("example.com")
                .secure(false)
                .http_only(false)
                .max_age(Duration::from_secs(3600)),
            CookieState::new("p").partitioned(true),
        ];
        for state in states {
            for value in ["abcDEF0123456789-_abcDEF01234567", "x"] {
                let mut h = HeaderMap::new();
                assert!(state.send(&mut h, value));
                assert!(state.send(&mut h, value), "second send, cached attributes");
                let expected = state.cookie(value).to_string();
                for sent in h.get_all(SET_COOKIE) {
                    assert_eq!(sent.to_str().unwrap(), expected);
                }
            }
        }
    }

    #[test]
    fn first_cookie_wins() {
        let s = CookieState::new("id");
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("other=1; id=first; id=second"),
        );
        h.append(COOKIE, HeaderValue::from_static("id=third"));
        assert_eq!(s.read(&h).unwrap(), "first");
    }

    #[test]
    fn a_non_ascii_neighbour_does_not_hide_the_cookie() {
        let s = CookieState::new("id");
        for raw in [
            "id=abc; name=Zo\u{eb}".as_bytes(),
            "name=Zo\u{eb}; id=abc".as_bytes(),
            b"x=\xff\xfe;id=abc",
        ] {
            let mut h = HeaderMap::new();
            h.append(COOKIE, HeaderValue::from_bytes(raw).unwrap());
            assert_eq!(s.read(&h).as_deref(), Some("abc"), "{raw:?}");
        }
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_bytes(b"id=\xff\xfe").unwrap());
        assert_eq!(s.read(&h), None, "a non-UTF-8 session value is no id");
    }
}
