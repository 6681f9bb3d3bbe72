//! The extractors of the core: [`Session`] and [`Sessions`], found through the request's scope
//! (features have their own next to them: `CsrfToken`, `Flash`, the typed sessions).

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::error::SessionError;
use crate::request::{scope, Pending};
use crate::store::Fetch;
use crate::{Session, Sessions};

impl FromRequest for Session {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Session, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (session, pending) = match start(req) {
            Ok(started) => started,
            Err(err) => return Box::pin(ready(Err(err.into()))),
        };
        let Some(pending) = pending else {
            return Box::pin(ready(Ok(session)));
        };
        Box::pin(async move {
            match session.load_pending(pending, Fetch::All).await {
                Ok(()) => Ok(session),
                Err(err) => Err(session.rendered(err).into()),
            }
        })
    }
}

/// The synchronous half of getting the request's [`Session`] with every value (the handle's
/// reads are synchronous: it needs every value up front), for the extractor and
/// [`SessionExt`](crate::SessionExt): the handle, and the load still to do (`None`: loaded
/// already). `req` is read here, so that the load holds no clone of it.
///
/// # Errors
/// [`SessionError::NotInstalled`] (logged) when no session middleware serves this request on
/// this task.
pub(crate) fn start(req: &HttpRequest) -> Result<(Session, Option<Pending>), SessionError> {
    let Some(session) = scope::current() else {
        tracing::error!("{}", SessionError::NotInstalled);
        return Err(SessionError::NotInstalled);
    };
    let pending = session.pending(req, Fetch::All);
    Ok((session, pending))
}

impl FromRequest for Sessions {
    type Error = actix_web::Error;
    type Future = Ready<Result<Sessions, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = scope::with(|scope| {
            let current = (scope.session().clone(), req);
            Sessions::new(scope.ctx().clone(), Some(current))
        });
        ready(found.ok_or_else(|| {
            tracing::error!("Sessions extracted: {}", SessionError::NotInstalled);
            SessionError::NotInstalled.into()
        }))
    }
}
