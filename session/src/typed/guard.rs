//! What a guard (a typed session without `Default`) answers when its value is absent, and the
//! `next` parameter a redirecting guard adds.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use crate::error::SessionError;

/// `target` if it is a path on this site, else `None`: for the `next` parameter that a
/// redirecting guard adds (see the [typed docs](crate::typed#absent-values-default-or-a-guard)), before a login
/// handler redirects to it.
///
/// Accepted: an absolute path (`/account`, `/search?q=tea`). Refused: anything that a browser
/// could resolve to another site or scheme (`https://evil.example`, `//evil.example`,
/// `/\evil.example`, `javascript:..`), relative paths, and control characters.
///
/// ```
/// use actix_typed_session::typed::local_path;
///
/// assert_eq!(local_path("/account?tab=orders"), Some("/account?tab=orders"));
/// assert_eq!(local_path("//evil.example/"), None);
/// assert_eq!(local_path("https://evil.example/"), None);
/// assert_eq!(local_path("/\\evil.example"), None);
/// let next = local_path("//evil.example").unwrap_or("/"); // fall back to the home page
/// # assert_eq!(next, "/");
/// ```
pub fn local_path(target: &str) -> Option<&str> {
    let rest = target.strip_prefix('/')?;
    let safe = !rest.starts_with('/')
        && !target.contains('\\')
        && target.bytes().all(|b| (0x21..0x7f).contains(&b));
    safe.then_some(target)
}

/// What of a path-and-query stays as it is in the `next` parameter.
const NEXT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What a guard's answer needs of the request: its method and URI (cheap clones, taken before
/// any load, so that a load holds no request).
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    method: actix_web::http::Method,
    uri: actix_web::http::Uri,
}

impl Target {
    /// The method and URI of `req`.
    pub(crate) fn of(req: &HttpRequest) -> Self {
        Target {
            method: req.method().clone(),
            uri: req.uri().clone(),
        }
    }
}

/// `location` with `next=<the request's path and query>` added, for a `GET` or `HEAD`.
pub(crate) fn with_next(location: &str, req: &Target) -> String {
    let method = &req.method;
    if method != actix_web::http::Method::GET && method != actix_web::http::Method::HEAD {
        return location.to_owned();
    }
    let target = req
        .uri
        .path_and_query()
        .map_or("/", actix_web::http::uri::PathAndQuery::as_str);
    let join = if location.contains('?') { '&' } else { '?' };
    format!(
        "{location}{join}next={}",
        percent_encoding::utf8_percent_encode(target, NEXT)
    )
}

/// The response of a guard whose value is absent.
#[derive(Debug, Clone, Copy)]
pub enum Reject {
    /// Answer with this status.
    Status(u16),
    /// Answer `303 See Other` to this location.
    Redirect(&'static str),
    /// Answer `303 See Other` to this location, with this flash message (at
    /// [`Level::Warning`](crate::Level::Warning)) for the page it leads to.
    RedirectWithFlash(&'static str, &'static str),
}

impl Reject {
    /// The rejection as a [`SessionError::Rejected`], answered through the builder's
    /// renderer.
    pub(crate) fn error(self, key: &'static str, req: &Target) -> SessionError {
        match self {
            Reject::Status(code) => SessionError::Rejected {
                key,
                status: StatusCode::from_u16(code).unwrap_or(StatusCode::UNAUTHORIZED),
                location: None,
            },
            Reject::Redirect(location) | Reject::RedirectWithFlash(location, _) => {
                SessionError::Rejected {
                    key,
                    status: StatusCode::SEE_OTHER,
                    location: Some(with_next(location, req)),
                }
            }
        }
    }

    /// The rejection under an id carried in a header (an API): a redirect becomes `401`.
    pub(crate) fn for_api(self) -> Self {
        match self {
            Reject::Redirect(_) | Reject::RedirectWithFlash(..) => Reject::Status(401),
            status => status,
        }
    }

    /// The flash message that goes with the rejection, if any.
    pub(crate) fn flash(self) -> Option<&'static str> {
        match self {
            Reject::RedirectWithFlash(_, text) => Some(text),
            Reject::Status(_) | Reject::Redirect(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn local_paths_pass_and_everything_else_is_refused() {
        for ok in ["/", "/account", "/search?q=tea&page=2", "/a/b%20c#frag"] {
            assert_eq!(local_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "account",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "/a\\b",
            "https://evil.example/",
            "javascript:alert(1)",
            " /account",
            "/acc ount",
            "/a\r\nSet-Cookie: x=1",
            "/caf\u{e9}",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
