//! Errors: what a store reports, what a handler sees, and what a client is shown.
//!
//! Clients get a short, fixed text (details stay in the logs): a store that fails answers
//! `503 Service Unavailable` with the body `session store unavailable`; a value that cannot be
//! encoded or decoded answers `500` with `session error`. The builder's
//! [`error_response`](crate::SessionMiddlewareBuilder::error_response) can choose another response.

use std::error::Error as StdError;

use actix_web::{http::StatusCode, HttpResponse, ResponseError};

/// Boxed source error carried by [`StoreError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error reported by a store ([`SessionStore`](crate::store::SessionStore),
/// [`UserIndex`](crate::store::UserIndex), [`ClientStore`](crate::store::ClientStore)): the one
/// error type of store operations.
///
/// Build one with [`StoreError::new`] from any error (connection refused, disk full, …) or
/// [`StoreError::msg`] from a message; [`StoreError::unsupported`] for a capability the store
/// lacks, [`StoreError::encode`] for a session that cannot be encoded.
#[derive(Debug)]
pub struct StoreError {
    kind: Kind,
    source: BoxError,
}

/// What kind of failure a [`StoreError`] is: it decides the response.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// The backend failed (`503`).
    Failed,
    /// A capability the store does not have (`500`: a setup to fix).
    Unsupported(&'static str),
    /// A session that cannot be encoded (`500`).
    Encode,
}

impl StoreError {
    /// Wraps the error a backend returned.
    pub fn new(source: impl Into<BoxError>) -> Self {
        StoreError {
            kind: Kind::Failed,
            source: source.into(),
        }
    }

    /// An error with only a message.
    pub fn msg(message: impl Into<String>) -> Self {
        StoreError::new(message.into())
    }

    /// The store cannot do `what` (an optional capability such as revoking a user's sessions
    /// on a client-side store without revocations). It becomes
    /// [`SessionError::Unsupported`].
    pub fn unsupported(what: &'static str) -> Self {
        StoreError {
            kind: Kind::Unsupported(what),
            source: format!("this store cannot {what}").into(),
        }
    }

    /// The session cannot be encoded for the store (a client-side store's serializer failed).
    /// It becomes [`SessionError::Encode`].
    pub fn encode(source: impl Into<BoxError>) -> Self {
        StoreError {
            kind: Kind::Encode,
            source: source.into(),
        }
    }

    /// What the store cannot do, if this is [`unsupported`](Self::unsupported).
    pub fn unsupported_what(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Unsupported(what) => Some(what),
            _ => None,
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Kind::Failed => write!(f, "session store error: {}", self.source),
            Kind::Unsupported(what) => write!(f, "this session store cannot {what}"),
            Kind::Encode => write!(f, "session cannot be encoded: {}", self.source),
        }
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// Every error the session layer returns to a handler or turns into a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed (unreachable, full, timed out). Answered with 503.
    #[error(transparent)]
    Store(StoreError),
    /// A value could not be serialized for the session.
    #[error("cannot encode session value {key:?}: {source}")]
    Encode {
        /// The session key being written.
        key: String,
        /// What the codec said.
        #[source]
        source: BoxError,
    },
    /// A stored value could not be deserialized into the requested type.
    #[error("cannot decode session value {key:?}: {source}")]
    Decode {
        /// The session key being read.
        key: String,
        /// What the codec said.
        #[source]
        source: BoxError,
    },
    /// The session would not fit in its cookie (browsers keep at most 4096 bytes of name and
    /// value). Nothing is sent, so the client keeps its previous cookie. Answered with 500.
    #[error("session cookie would be {size} bytes, over the limit of {limit}")]
    CookieTooLarge {
        /// Bytes of `name=value` the cookie would have.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A `Session` was requested but no [`SessionMiddleware`](crate::SessionMiddleware) wraps
    /// the route, or the middleware that asked ([`SessionExt`](crate::SessionExt)): a setup
    /// mistake, answered with 500 (in debug builds the body says what to do).
    #[error(
        "this route has no SessionMiddleware: wrap the App or scope with it, e.g. \
         `App::new().wrap(SessionMiddleware::new(store.clone()))`; a middleware that uses the \
         session must be inside it, so wrap the session middleware last (the last `wrap` is \
         the outermost): `.wrap(your_middleware).wrap(session_middleware)`"
    )]
    NotInstalled,
    /// The store cannot do what was asked (an optional capability: listing a user's sessions
    /// on the cookie store, revoking them without a revocation store, a custom store without
    /// the user index). Answered with 500: a setup to fix, never a silent no-op.
    #[error("this session store cannot {0}")]
    Unsupported(&'static str),
    /// Two values of one typed session type were extracted in one request and changed
    /// differently: which one to save cannot be decided, so nothing is saved. A setup mistake,
    /// answered with 500 (in debug builds the body names the type).
    #[error(
        "typed session `{type_name}` (key {key:?}) was extracted more than once in one request \
         and the copies were changed differently; nothing was saved. Extract it once per request \
         (read it elsewhere with `session.typed::<T>()`)"
    )]
    TypedConflict {
        /// The session key of the type.
        key: &'static str,
        /// The type's name.
        type_name: &'static str,
    },
    /// A guard (a typed session without `Default`) found its value absent and rejected the
    /// request before the handler ran. Not a failure: the client is not signed in. The CSRF
    /// check of `#[session(csrf)]` rejects the same way, with `key`
    /// [`CSRF_SESSION_KEY`](crate::CSRF_SESSION_KEY) and `403 Forbidden`.
    ///
    /// Answered by default with `status` and its reason phrase as `text/plain` (`401
    /// Unauthorized`; `CSRF token missing or invalid` for the CSRF check), or, for
    /// `#[session(redirect = ..)]`, with `303 See Other` to `location` and an empty body. The
    /// builder's [`error_response`](crate::SessionMiddlewareBuilder::error_response) can answer
    /// it otherwise (a JSON body, `WWW-Authenticate`).
    #[error("typed session value {key:?} absent: request rejected")]
    Rejected {
        /// The session key of the guard's type; `"__ats_csrf"` for the CSRF check,
        /// `"__ats_auth"` for step-up (`#[session(fresh = "..")]`).
        key: &'static str,
        /// The status of the default answer: the guard's (`401` unless `#[session(reject =
        /// ..)]`), or `303 See Other` for a redirecting guard.
        status: StatusCode,
        /// For a redirecting guard, where it sends the client (with the `next` parameter it
        /// adds); `None` otherwise.
        location: Option<String>,
    },
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        SessionError::from_store(e)
    }
}

impl SessionError {
    /// A store error as a [`SessionError`]: [`SessionError::Unsupported`] when the store lacks
    /// the capability, [`SessionError::Encode`] for a session that cannot be encoded,
    /// [`SessionError::Store`] otherwise.
    pub(crate) fn from_store(e: StoreError) -> Self {
        match e.kind {
            Kind::Unsupported(what) => SessionError::Unsupported(what),
            Kind::Encode => SessionError::Encode {
                key: "<session cookie>".into(),
                source: e.source,
            },
            Kind::Failed => SessionError::Store(e),
        }
    }
}

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        match self {
            SessionError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            SessionError::Rejected { status, .. } => *status,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let SessionError::Rejected {
            key,
            status,
            location,
        } = self
        {
            let body = if *key == crate::keys::CSRF_SESSION_KEY {
                "CSRF token missing or invalid"
            } else if *key == crate::keys::AUTH_KEY {
                "recent authentication required"
            } else if *key == crate::keys::DBSC_KEY {
                "device-bound session: refresh required"
            } else {
                status.canonical_reason().unwrap_or("rejected")
            };
            return match location {
                Some(location) => HttpResponse::build(*status)
                    .insert_header((actix_web::http::header::LOCATION, location.as_str()))
                    .finish(),
                None => HttpResponse::build(*status)
                    .content_type("text/plain; charset=utf-8")
                    .body(body),
            };
        }
        let body = match self {
            SessionError::Store(_) => "session store unavailable".to_owned(),
            // Not a secret, and it tells the developer what to fix.
            SessionError::CookieTooLarge { size, limit } => {
                format!("session too large for its cookie ({size} bytes, limit {limit})")
            }
            // Setup mistakes: a developer running a debug build is told what to fix (the error
            // log says the same in every build).
            SessionError::NotInstalled
            | SessionError::TypedConflict { .. }
            | SessionError::Unsupported(_)
                if cfg!(debug_assertions) =>
            {
                self.to_string()
            }
            _ => "session error".to_owned(),
        };
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(body)
    }
}

/// Renders the response for a session failure (a store that is down, a value that will not
/// encode) and for a guard's rejection ([`SessionError::Rejected`]). See [`SessionMiddlewareBuilder::error_response`](crate::SessionMiddlewareBuilder::error_response).
pub type ErrorRenderer = std::sync::Arc<dyn Fn(&SessionError) -> HttpResponse + Send + Sync>;

/// A misconfiguration found when the middleware is built (before any request is served).
#[derive(Debug, thiserror::Error)]
#[error("invalid session configuration: {0}")]
pub struct ConfigError(pub(crate) String);

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn store_errors_are_opaque_503() {
        let err = SessionError::from(StoreError::msg("redis at 10.0.0.7:6379 refused"));
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = res.into_body().try_into_bytes().unwrap();
        assert_eq!(&body[..], b"session store unavailable");
        assert!(err.to_string().contains("10.0.0.7"), "logs keep the detail");
    }
}
