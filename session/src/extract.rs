//! The extractors of the core: [`Session`] and [`Sessions`], found through the request's scope
//! (features have their own next to them: `CsrfToken`, `Flash`, the typed sessions).

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::error::SessionError;
use crate::request::scope;
use crate::store::Fetch;
use crate::{Session, Sessions};

impl FromRequest for Session {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Session, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(session) = scope::current() else {
            tracing::error!("{}", SessionError::NotInstalled);
            return Box::pin(ready(Err(SessionError::NotInstalled.into())));
        };
        if session.data().is_some_and(|data| !data.needs(Fetch::All)) {
            return Box::pin(ready(Ok(session)));
        }
        let req = req.clone();
        Box::pin(async move {
            // The handle's reads are synchronous: it needs every value up front.
            match session.ensure(&req, Fetch::All).await {
                Ok(()) => Ok(session),
                Err(err) => Err(session.rendered(err).into()),
            }
        })
    }
}

impl FromRequest for Sessions {
    type Error = actix_web::Error;
    type Future = Ready<Result<Sessions, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = scope::with(|scope| {
            let current = (scope.session().clone(), req.clone());
            Sessions::new(scope.ctx().clone(), Some(current))
        });
        ready(found.ok_or_else(|| {
            tracing::error!("Sessions extracted: {}", SessionError::NotInstalled);
            SessionError::NotInstalled.into()
        }))
    }
}
