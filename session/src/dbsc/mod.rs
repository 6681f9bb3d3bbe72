//! Device Bound Session Credentials (feature `dbsc`): a signed-in session bound to a key pair
//! that the browser keeps (in the device's TPM, where it has one), proved by short-lived cookies
//! that only that browser can renew. A copied session cookie is then useless without the bound
//! cookie, which expires within minutes and cannot be renewed elsewhere. Browsers without DBSC
//! never register and keep working as before.
//!
//! The protocol is the W3C WebAppSec draft's as Chrome speaks it (the `Secure-Session-*`
//! headers of its second origin trial; every name is in one place, `dbsc/mod.rs`, so a rename is
//! one change):
//!
//! 1. **Offer.** The response that signs a session in (or, with
//!    [`Dbsc::offer_on_every_response`], any response of a signed-in, unbound session) carries
//!    `Secure-Session-Registration: (ES256 RS256);path="<registration path>";challenge="<c>"`; the
//!    one-time challenge is kept with the session.
//! 2. **Registration.** The browser makes a key pair and `POST`s to the registration path with the
//!    session cookie and a `dbsc+jwt` signed with the new key, its public key as the JWT header's
//!    `jwk`, the challenge as `jti`. The middleware answers it (no route of the app's): the
//!    signature verifies, the challenge is the session's, unused and at most five minutes old;
//!    the key is stored with the session, a bound cookie is set for
//!    [`Dbsc::cookie_lifetime`], and the answer is the session instructions (JSON: the DBSC
//!    session's id, the refresh path, the bound cookie's name and attributes).
//! 3. **Requests.** A bound session opens only with its current bound cookie: without it, or
//!    with an expired or stale one, a request that uses the session is refused (`403`, through
//!    the builder's error renderer): never silently unbound.
//! 4. **Refresh.** Before the cookie expires the browser `POST`s to the refresh path with
//!    `Sec-Secure-Session-Id`; the middleware answers `403` with a new challenge
//!    (`Secure-Session-Challenge`), the browser signs it (`Secure-Session-Response`), and a
//!    verified proof gets a new bound cookie. A session that has ended (logout, revocation,
//!    `expire_all`) answers `{"continue": false}`: the browser stops refreshing it.
//!
//! Every failure is a `4xx` with a `tracing` line, never a `500`.

mod proof;

pub(crate) use proof::{verify, verify_registration, Refused, Verified, MAX_PROOF};

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The wire names of the protocol, in one place (the second origin trial renamed them from
/// `Sec-Session-*`).
pub(crate) mod names {
    /// Response header: the offer to register.
    pub(crate) const REGISTRATION: &str = "secure-session-registration";
    /// Response header: a challenge for the browser to sign.
    pub(crate) const CHALLENGE: &str = "secure-session-challenge";
    /// Request header: the browser's signed proof.
    pub(crate) const RESPONSE: &str = "secure-session-response";
    /// Request header of a refresh: the DBSC session's id.
    pub(crate) const SESSION_ID: &str = "sec-secure-session-id";
    /// The JWT `typ` of a proof.
    pub(crate) const JWT_TYPE: &str = "dbsc+jwt";
    /// The algorithms offered, in the registration header's inner list.
    pub(crate) const ALGORITHMS: &str = "(ES256 RS256)";
}

/// How long a challenge may be answered.
pub(crate) const CHALLENGE_LIFETIME: u64 = 300;

/// Device Bound Session Credentials settings, for
/// [`SessionMiddlewareBuilder::device_bound`](crate::SessionMiddlewareBuilder::device_bound).
///
/// ```
/// use std::time::Duration;
/// use actix_typed_session::{dbsc::Dbsc, store::MemoryStore, SessionMiddleware};
///
/// let middleware = SessionMiddleware::builder(MemoryStore::default())
///     .device_bound(Dbsc::new().cookie_lifetime(Duration::from_secs(10 * 60)))
///     .build();
/// ```
#[derive(Debug, Clone)]
pub struct Dbsc {
    pub(crate) registration_path: String,
    pub(crate) refresh_path: String,
    pub(crate) cookie_name: String,
    pub(crate) cookie_lifetime: Duration,
    pub(crate) every_response: bool,
}

impl Default for Dbsc {
    fn default() -> Self {
        Dbsc {
            registration_path: "/.session/dbsc/register".into(),
            refresh_path: "/.session/dbsc/refresh".into(),
            cookie_name: "__Host-bound".into(),
            cookie_lifetime: Duration::from_secs(10 * 60),
            every_response: false,
        }
    }
}

impl Dbsc {
    /// The defaults: endpoints under `/.session/dbsc/`, a bound cookie `__Host-bound` that lives
    /// 10 minutes, offered on the response that signs a session in.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the middleware answers registrations (an absolute path of this site; default
    /// `/.session/dbsc/register`). Requests to it never reach the app.
    pub fn registration_path(mut self, path: impl Into<String>) -> Self {
        self.registration_path = path.into();
        self
    }

    /// Where the middleware answers refreshes (default `/.session/dbsc/refresh`).
    pub fn refresh_path(mut self, path: impl Into<String>) -> Self {
        self.refresh_path = path.into();
        self
    }

    /// The bound cookie's name (default `__Host-bound`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// How long a bound cookie lives (default 10 minutes, at least 1 minute): how long a copied
    /// one is of use.
    pub fn cookie_lifetime(mut self, lifetime: Duration) -> Self {
        self.cookie_lifetime = lifetime;
        self
    }

    /// Offer registration on every response of a signed-in session that is not bound yet (one
    /// challenge at a time), not only on the one that signs it in: sessions that signed in
    /// before DBSC was turned on get bound too.
    pub fn offer_on_every_response(mut self, on: bool) -> Self {
        self.every_response = on;
        self
    }

    /// The settings, checked (by the builder).
    pub(crate) fn checked(self) -> Result<Self, String> {
        for path in [&self.registration_path, &self.refresh_path] {
            if crate::typed::local_path(path).is_none() || path.contains('?') {
                return Err(format!(
                    "DBSC path {path:?} is not an absolute path of this site (e.g. \"/dbsc/refresh\")"
                ));
            }
        }
        if self.registration_path == self.refresh_path {
            return Err("DBSC registration and refresh paths must differ".into());
        }
        if cookie::Cookie::parse(format!("{}=x", self.cookie_name)).is_err()
            || self.cookie_name.is_empty()
        {
            return Err(format!(
                "DBSC cookie name {:?} is not a cookie name",
                self.cookie_name
            ));
        }
        if self.cookie_lifetime < Duration::from_secs(60) {
            return Err("DBSC cookie_lifetime must be at least one minute".into());
        }
        Ok(self)
    }

    /// The bound cookie's attributes, as sent in `Set-Cookie` and in the session instructions.
    pub(crate) fn attributes(&self) -> &'static str {
        "Path=/; Secure; HttpOnly; SameSite=Lax"
    }
}

/// What a session keeps of its binding, under [`DBSC_KEY`](crate::keys::DBSC_KEY).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Binding {
    /// The DBSC session's id (random; never the session id), once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    /// The browser's public key (a JWK), once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) jwk: Option<serde_json::Value>,
    /// The challenge waiting for a proof, and when it was issued (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) challenge: Option<(String, u64)>,
    /// The current bound cookie's value and when it expires (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cookie: Option<(String, u64)>,
}

impl Binding {
    /// Whether the session is bound (a key registered).
    pub(crate) fn bound(&self) -> bool {
        self.jwk.is_some()
    }

    /// Whether `presented` is the current bound cookie at `now`.
    pub(crate) fn admits(&self, presented: Option<&str>, now: u64) -> bool {
        use subtle::ConstantTimeEq as _;
        match (&self.cookie, presented) {
            (Some((value, expires)), Some(presented)) => {
                now < *expires && bool::from(value.as_bytes().ct_eq(presented.as_bytes()))
            }
            _ => false,
        }
    }

    /// Takes the waiting challenge if `jti` is it and it is still fresh at `now` (one use).
    pub(crate) fn take_challenge(&mut self, jti: &str, now: u64) -> bool {
        use subtle::ConstantTimeEq as _;
        let Some((challenge, at)) = self.challenge.take() else {
            return false;
        };
        now.saturating_sub(at) <= CHALLENGE_LIFETIME
            && bool::from(challenge.as_bytes().ct_eq(jti.as_bytes()))
    }

    /// A new challenge, waiting from `now`.
    pub(crate) fn challenge(&mut self, now: u64) -> String {
        let challenge = random_token();
        self.challenge = Some((challenge.clone(), now));
        challenge
    }

    /// A new bound cookie value, valid until `now + lifetime`.
    pub(crate) fn new_cookie(&mut self, now: u64, lifetime: u64) -> String {
        let value = random_token();
        self.cookie = Some((value.clone(), now.saturating_add(lifetime)));
        value
    }
}

/// 32 random bytes as URL-safe base64 (a challenge, a bound cookie, a DBSC session id).
pub(crate) fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// A header value as the browser sends it: an sf-string (quoted) or, as Chrome does, bare.
pub(crate) fn unquote(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Whether `value` can go in an sf-string unescaped (our own tokens always can).
pub(crate) fn sf_safe(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}
