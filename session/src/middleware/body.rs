//! The response body through the middleware: as it is, or, with `late_store`, committing the
//! session when the stream ends.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;

use crate::error::SessionError;
use crate::request::commit;
use crate::request::Session;

/// The late commit of one request, when its body has ended.
async fn late_commit(session: Session) -> Result<(), SessionError> {
    commit::at_body_end(&session).await
}

type SaveFuture = Pin<Box<dyn Future<Output = Result<(), SessionError>> + Send>>;

/// Where a `late_store` commit stands.
enum Late {
    /// Not a late commit, or already done.
    Idle,
    /// Waiting for the body to end.
    Pending(Session),
    /// The body ended; the save is running.
    Saving(SaveFuture),
}

/// Owns the [`Late`] state; a body dropped before its end (client gone) still commits what the
/// handler changed.
struct LateGuard(Late);

impl Drop for LateGuard {
    fn drop(&mut self) {
        let fut: SaveFuture = match std::mem::replace(&mut self.0, Late::Idle) {
            Late::Idle => return,
            Late::Pending(session) => Box::pin(late_commit(session)),
            Late::Saving(fut) => fut,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if let Err(err) = fut.await {
                        tracing::error!(error = %err, "late session save failed");
                    }
                });
            }
            Err(_) => tracing::error!("late session save lost: no runtime to finish it on"),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response body of a `late_store` request: it commits the session when the stream
    /// ends.
    pub struct SessionBody<B> {
        #[pin]
        body: B,
        late: LateGuard,
    }
}

impl<B> SessionBody<B> {
    /// The body; `session`'s late commit runs when the stream ends.
    pub(crate) fn new(body: B, session: Session) -> Self {
        SessionBody {
            body,
            late: LateGuard(Late::Pending(session)),
        }
    }
}

impl<B: MessageBody> MessageBody for SessionBody<B> {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let late = &mut this.late.0;
        if let Late::Idle | Late::Pending(_) = late {
            match this.body.poll_next(cx) {
                Poll::Ready(None) => {}
                Poll::Ready(Some(chunk)) => return Poll::Ready(Some(chunk.map_err(Into::into))),
                Poll::Pending => return Poll::Pending,
            }
        }
        // The stream has ended. A late commit saves now, before the response counts as
        // complete, so a keep-alive client cannot race its next request against the save.
        if let Late::Pending(_) = late {
            if let Late::Pending(session) = std::mem::replace(late, Late::Idle) {
                *late = Late::Saving(Box::pin(late_commit(session)));
            }
        }
        if let Late::Saving(fut) = late {
            let result = std::task::ready!(fut.as_mut().poll(cx));
            *late = Late::Idle;
            if let Err(err) = result {
                // Fail the body: the client sees a broken response, never a false success.
                return Poll::Ready(Some(Err(err.into())));
            }
        }
        Poll::Ready(None)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        if !matches!(self.late.0, Late::Idle) {
            return Err(self);
        }
        let SessionBody { body, late } = self;
        body.try_into_bytes()
            .map_err(|body| SessionBody { body, late })
    }
}
