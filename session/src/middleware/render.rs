//! The response of a failed or rejected request: a [`SessionError`] answered with the response
//! the builder chose ([`error_response`](crate::SessionMiddlewareBuilder::error_response)), or
//! the error's own.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::{ErrorRenderer, SessionError};

/// Work to do when the response is rendered (a guard's flash message), and only then.
type OnAnswer = Box<dyn FnOnce()>;

/// A [`SessionError`] answered with the response the builder chose.
pub(crate) struct RenderedError {
    error: SessionError,
    render: Option<ErrorRenderer>,
    /// Done when (and only if) the rejection is answered, such as leaving a guard's flash
    /// message: an `Option<T>` extractor that swallows the rejection never renders it.
    on_answer: std::cell::Cell<Option<OnAnswer>>,
}

impl RenderedError {
    pub(crate) fn new(error: SessionError, render: Option<ErrorRenderer>) -> Self {
        RenderedError {
            error,
            render,
            on_answer: std::cell::Cell::new(None),
        }
    }

    /// Runs `f` when the error is answered (once), after what was asked before.
    pub(crate) fn on_answer(self, f: impl FnOnce() + 'static) -> Self {
        let next: OnAnswer = match self.on_answer.take() {
            None => Box::new(f),
            Some(before) => Box::new(move || {
                before();
                f();
            }),
        };
        self.on_answer.set(Some(next));
        self
    }
}

impl std::fmt::Debug for RenderedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.error, f)
    }
}

impl std::fmt::Display for RenderedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl ResponseError for RenderedError {
    fn status_code(&self) -> StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        // Taken, so a second rendering does not do it again.
        if let Some(f) = self.on_answer.take() {
            f();
        }
        match &self.render {
            Some(render) => render(&self.error),
            None => self.error.error_response(),
        }
    }
}
