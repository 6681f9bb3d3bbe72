//! CSRF protection tied to the session: a synchronizer token kept in the session, handed to
//! forms masked differently on every use (against BREACH), and checked in constant time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;

use actix_web::http::StatusCode;

use crate::error::SessionError;
use crate::request::{Options, Session};

pub use crate::keys::CSRF_SESSION_KEY;

/// The form field (urlencoded body) that carries the token on `#[session(csrf)]` handlers.
pub const CSRF_FORM_FIELD: &str = "csrf_token";

/// The request header that carries the token (for `fetch` and other scripted clients).
pub const CSRF_HEADER: &str = "X-CSRF-Token";

const LEN: usize = 32;
/// Longest presented token that is worth decoding: base64 of pad and masked token.
const MAX_PRESENTED: usize = (2 * LEN * 4).div_ceil(3);

/// The CSRF token of the current session, for a form field or a request header.
///
/// Take it as a handler argument on the page that shows a form, and put it in the form as the
/// field [`CSRF_FORM_FIELD`] (`csrf_token`) or send it in the header [`CSRF_HEADER`]. The token
/// is created the first time a request asks for it and kept in the session under
/// [`CSRF_SESSION_KEY`]; it changes when the session id does ([`Session::change_id`]), so a
/// token captured before login is useless after it.
///
/// Its [`Display`](fmt::Display) is masked with a fresh random pad on every call (the pad, then
/// the token XOR the pad, URL-safe base64 without padding), so no two responses carry the same
/// bytes (BREACH); every mask of the current token verifies.
///
/// ```
/// use actix_typed_session::CsrfToken;
/// use actix_web::{get, HttpResponse};
///
/// #[get("/form")]
/// async fn form(csrf: CsrfToken) -> HttpResponse {
///     HttpResponse::Ok().content_type("text/html").body(format!(
///         r#"<form method="post"><input type="hidden" name="csrf_token" value="{csrf}"></form>"#
///     ))
/// }
/// ```
#[derive(Clone)]
pub struct CsrfToken {
    raw: [u8; LEN],
}

impl CsrfToken {
    /// The token of `session`, created (and stored in the session) when it has none.
    ///
    /// # Errors
    /// When the OS random source fails.
    pub fn of(session: &Session) -> Result<CsrfToken, getrandom::Error> {
        if let Some(raw) = stored(session) {
            return Ok(CsrfToken { raw });
        }
        let raw = new_raw()?;
        // A value of a type the codec encodes: a string is fine for every codec.
        let _ = session.set(CSRF_SESSION_KEY, stored_text(&raw));
        Ok(CsrfToken { raw })
    }

    /// A freshly masked form of the token, as [`Display`](fmt::Display) gives it.
    ///
    /// # Errors
    /// When the OS random source fails.
    pub fn masked(&self) -> Result<String, getrandom::Error> {
        mask(&self.raw)
    }

    /// Whether `presented` is a masked form of this token, compared in constant time. Malformed
    /// input (wrong length, not base64) is `false`.
    pub fn verify(&self, presented: &[u8]) -> bool {
        matches_raw(&self.raw, presented)
    }
}

impl fmt::Display for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked().map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

impl FromRequest for CsrfToken {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<CsrfToken, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = Session::from_request(req, payload);
        Box::pin(async move {
            let session = session.await?;
            CsrfToken::of(&session).map_err(|e| {
                tracing::error!(error = %e, "OS random source failed: no CSRF token");
                actix_web::error::ErrorInternalServerError("no CSRF token")
            })
        })
    }
}

/// The token stored in the session, after the id rotation that a pending `change_id` implies
/// (which drops the old token, as [`Session::id`] draws the new id early).
fn stored(session: &Session) -> Option<[u8; LEN]> {
    let options = session.options();
    if options.has(Options::CHANGE_ID) && !options.has(Options::EXPIRE) {
        if let Some(mut data) = session.data() {
            data.rotate();
        }
    }
    let text: String = session.get(CSRF_SESSION_KEY).ok().flatten()?;
    raw_from_text(&text)
}

/// A new random token.
pub(crate) fn new_raw() -> Result<[u8; LEN], getrandom::Error> {
    let mut raw = [0u8; LEN];
    getrandom::getrandom(&mut raw)?;
    Ok(raw)
}

/// The token as the session keeps it (a string, which every codec encodes).
pub(crate) fn stored_text(raw: &[u8; LEN]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// The token from its stored text; `None` when the text is not a token.
pub(crate) fn raw_from_text(text: &str) -> Option<[u8; LEN]> {
    decode_exact::<LEN>(text.as_bytes())
}

/// URL-safe base64 of exactly `N` bytes, decoded on the stack; `None` for anything else.
fn decode_exact<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    // The decoder wants room for its estimate (a multiple of 3), which is at most 2 bytes more.
    let mut buf = [0u8; 66];
    if text.len() != (N * 4).div_ceil(3) || N + 2 > buf.len() {
        return None;
    }
    let n = URL_SAFE_NO_PAD.decode_slice(text, &mut buf).ok()?;
    if n != N {
        return None;
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[..N]);
    Some(out)
}

/// A masked form of the token: a fresh random pad, then the token XOR the pad, in URL-safe
/// base64.
pub(crate) fn mask(raw: &[u8; LEN]) -> Result<String, getrandom::Error> {
    let mut buf = [0u8; 2 * LEN];
    getrandom::getrandom(&mut buf[..LEN])?;
    for i in 0..LEN {
        buf[LEN + i] = raw[i] ^ buf[i];
    }
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn matches_raw(raw: &[u8; LEN], presented: &[u8]) -> bool {
    if presented.len() > MAX_PRESENTED {
        return false;
    }
    let Some(bytes) = decode_exact::<{ 2 * LEN }>(presented) else {
        return false;
    };
    let (pad, masked) = bytes.split_at(LEN);
    let mut unmasked = [0u8; LEN];
    for i in 0..LEN {
        unmasked[i] = pad[i] ^ masked[i];
    }
    unmasked.ct_eq(raw).into()
}

/// Whether a request passes the CSRF check on the header alone: the safe methods GET, HEAD,
/// OPTIONS and TRACE pass; every other method (POST, PUT, PATCH, DELETE, WebDAV's `PROPFIND` or
/// `LOCK`, an extension method, a lowercase `post`) needs a masked form of the session's current
/// token in [`CSRF_HEADER`]. A session without a token fails every such request.
///
/// `#[session(csrf)]` does this and also reads the form field [`CSRF_FORM_FIELD`].
pub fn check_csrf(session: &Session, req: &HttpRequest) -> bool {
    if !needs_token(req.method()) {
        return true;
    }
    let Some(header) = req.headers().get(CSRF_HEADER) else {
        return false;
    };
    check_presented(session, header.as_bytes())
}

/// Whether a request with `method` must carry the token: all but the safe methods GET, HEAD,
/// OPTIONS and TRACE (as Django exempts them). The list names what is exempt, never what is
/// checked, so a method nobody thought of is checked too: `PROPFIND`, `PURGE`, an extension
/// method, or `post` in lower case (method names are case-sensitive: it is not `POST`, but a
/// route that takes every method still runs it).
pub(crate) fn needs_token(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether `presented` is a masked form of the session's current token.
pub(crate) fn check_presented(session: &Session, presented: &[u8]) -> bool {
    match stored(session) {
        Some(raw) => matches_raw(&raw, presented),
        None => false,
    }
}

/// Longest urlencoded body the form-field check reads (a larger one is answered 403, as it would
/// be by `web::Form`'s own, smaller, default limit).
const MAX_FORM_BODY: usize = 256 * 1024;

/// The check `#[session(csrf)]` adds to a handler as its first extractor; not part of the API.
///
/// A safe method (GET, HEAD, OPTIONS, TRACE) passes. Any other one passes with a valid token in [`CSRF_HEADER`] or, for an
/// `application/x-www-form-urlencoded` body, in the field [`CSRF_FORM_FIELD`]; the body is read
/// and handed on unchanged, so the handler's `web::Form` still gets it. Anything else is answered
/// `403 Forbidden` before the handler runs, as a [`SessionError::Rejected`] (through the
/// builder's renderer when one is set). A `multipart/form-data` body is not read (an upload can
/// be large): such a form sends the token in the header, or its handler checks the field with
/// [`CsrfToken::verify`].
#[doc(hidden)]
#[derive(Debug)]
pub struct CsrfCheck(());

/// The CSRF check's rejection, answered through the builder's renderer.
fn forbidden(session: &Session) -> actix_web::Error {
    tracing::debug!("CSRF check failed: request rejected with 403");
    let err = SessionError::Rejected {
        key: CSRF_SESSION_KEY,
        status: StatusCode::FORBIDDEN,
        location: None,
    };
    session.rendered(err).into()
}

impl FromRequest for CsrfCheck {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<CsrfCheck, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !needs_token(req.method()) {
            return Box::pin(std::future::ready(Ok(CsrfCheck(()))));
        }
        let session = Session::from_request(req, &mut Payload::None);
        if let Some(header) = req.headers().get(CSRF_HEADER) {
            let presented = header.as_bytes().to_vec();
            return Box::pin(async move {
                let session = session.await?;
                if check_presented(&session, &presented) {
                    Ok(CsrfCheck(()))
                } else {
                    Err(forbidden(&session))
                }
            });
        }
        let is_form = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Box::pin(async move { Err(forbidden(&session.await?)) });
        }
        // Read the body here and hand it on through a one-shot stream that the handler's own
        // extractors (extracted after this one, polled together with it) read instead.
        let mut body = payload.take();
        let (tx, rx) = tokio::sync::oneshot::channel();
        *payload = Payload::Stream {
            payload: Box::pin(Replay(Some(rx))),
        };
        Box::pin(async move {
            let mut buf = actix_web::web::BytesMut::new();
            while let Some(chunk) =
                std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut body), cx))
                    .await
            {
                let chunk = chunk?;
                if buf.len() + chunk.len() > MAX_FORM_BODY {
                    return Err(forbidden(&session.await?));
                }
                buf.extend_from_slice(&chunk);
            }
            let buf = buf.freeze();
            let session = session.await?;
            let ok = form_field(&buf).is_some_and(|token| check_presented(&session, &token));
            if !ok {
                return Err(forbidden(&session));
            }
            let _ = tx.send(buf);
            Ok(CsrfCheck(()))
        })
    }
}

/// The first `csrf_token` field of an urlencoded body, percent-decoded.
fn form_field(body: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    body.split(|b| *b == b'&').find_map(|pair| {
        let value = pair
            .strip_prefix(CSRF_FORM_FIELD.as_bytes())?
            .strip_prefix(b"=")?;
        // Borrowed when nothing is escaped (a token is URL-safe base64, so it never is).
        Some(percent_encoding::percent_decode(value).into())
    })
}

/// The body read by [`CsrfCheck`], played back once to the handler's extractors.
struct Replay(Option<tokio::sync::oneshot::Receiver<actix_web::web::Bytes>>);

impl futures_core::Stream for Replay {
    type Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let Some(rx) = self.0.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let received = std::task::ready!(Pin::new(rx).poll(cx));
        self.0 = None;
        match received {
            Ok(bytes) if !bytes.is_empty() => std::task::Poll::Ready(Some(Ok(bytes))),
            Ok(_) => std::task::Poll::Ready(None),
            // The check failed and the request is being answered 403.
            Err(_) => {
                std::task::Poll::Ready(Some(Err(actix_web::error::PayloadError::Incomplete(None))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_differ_and_verify() {
        let token = CsrfToken { raw: [7; LEN] };
        let (a, b) = (token.to_string(), token.to_string());
        assert_ne!(a, b);
        assert!(token.verify(a.as_bytes()) && token.verify(b.as_bytes()));
        assert!(!token.verify(&a.as_bytes()[1..]));
        assert!(!token.verify(b""));
        assert!(!token.verify(&[0xff; 86]));
        assert!(!token.verify(&vec![b'A'; 10_000]));
        let other = CsrfToken { raw: [8; LEN] };
        assert!(!other.verify(a.as_bytes()));
    }

    #[test]
    fn only_exact_canonical_base64_decodes() {
        let raw = [9u8; LEN];
        let text = stored_text(&raw);
        assert_eq!(raw_from_text(&text), Some(raw));
        assert_eq!(raw_from_text(&format!("{text}=")), None, "padded");
        assert_eq!(raw_from_text(&text[1..]), None, "short");
        assert_eq!(raw_from_text(&format!("{text}A")), None, "long");
        assert_eq!(
            raw_from_text(&format!("{}+", &text[1..])),
            None,
            "not URL-safe"
        );
        // The last character carries 2 unused bits: a non-zero one is not canonical.
        let mut odd = text.clone().into_bytes();
        *odd.last_mut().unwrap() = b'B';
        assert_ne!(text.as_bytes().last(), Some(&b'B'));
        assert_eq!(raw_from_text(std::str::from_utf8(&odd).unwrap()), None);
        let token = CsrfToken { raw };
        let masked = token.masked().unwrap();
        assert!(token.verify(masked.as_bytes()));
        assert!(!token.verify(format!("{masked}==").as_bytes()));
    }

    proptest::proptest! {
        #[test]
        fn random_strings_never_verify_nor_panic(s in ".{0,200}") {
            let token = CsrfToken { raw: [1; LEN] };
            proptest::prop_assert!(!token.verify(s.as_bytes()));
        }

        #[test]
        fn random_bytes_never_verify_nor_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let token = CsrfToken { raw: [1; LEN] };
            proptest::prop_assert!(!token.verify(&b));
        }
    }
}
