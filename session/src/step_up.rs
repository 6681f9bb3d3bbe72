//! Step-up ("sudo mode"): `#[session(fresh = "10m")]` on a handler runs it only when the
//! session's user proved who they are within that time (signed in, or
//! [`Session::mark_authenticated`](crate::Session::mark_authenticated) after the app checked
//! the password again); otherwise the request is answered like a guard: `303` to the
//! builder's [`confirm_path`](crate::SessionMiddlewareBuilder::confirm_path) with `?next=`, or
//! `401` without one, through the builder's error renderer.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};

use crate::error::SessionError;
use crate::request::Session;
use crate::typed::guard::{with_next, Target};

/// The check `#[session(fresh = "..")]` adds as the handler's first extractor: authenticated
/// within `SECS` seconds. Generated code names it; not for direct use.
#[derive(Debug)]
pub struct Fresh<const SECS: u64>(());

impl<const SECS: u64> FromRequest for Fresh<SECS> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = Session::from_request(req, &mut Payload::None);
        let target = Target::of(req);
        Box::pin(async move {
            let session = session.await?;
            let now = session.ctx().config.clock.now_millis();
            let at = session.authenticated_millis();
            if at.is_some_and(|at| now.saturating_sub(at) <= SECS.saturating_mul(1000)) {
                return Ok(Fresh(()));
            }
            tracing::debug!(
                fresh_within_secs = SECS,
                signed_in = at.is_some(),
                "step-up: authentication too old or absent; request rejected"
            );
            let config = &session.ctx().config;
            // An API (the id in a header) does not follow a redirect to a confirm page.
            let confirm = config
                .confirm_path
                .as_ref()
                .filter(|_| !config.state.is_header());
            let err = match confirm {
                Some(path) => SessionError::Rejected {
                    key: crate::keys::AUTH_KEY,
                    status: StatusCode::SEE_OTHER,
                    location: Some(with_next(path, &target)),
                },
                None => SessionError::Rejected {
                    key: crate::keys::AUTH_KEY,
                    status: StatusCode::UNAUTHORIZED,
                    location: None,
                },
            };
            Err(session.rendered(err).into())
        })
    }
}
