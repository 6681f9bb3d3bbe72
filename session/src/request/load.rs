//! Loading: the client's value read and opened, the session loaded from the store, and its
//! timeouts checked; anything unusable gives a fresh session with a new id.

use actix_web::HttpRequest;

use super::data::Data;
use crate::config::Ctx;
use crate::error::SessionError;
use crate::id::SessionId;
use crate::store::backend::Backend;
use crate::store::{Fetch, Loaded, Meta};

/// What a request presents for its session, read from it synchronously: the client's value
/// and, for a client-side store, the client binding.
///
/// A load holds this, never the `HttpRequest`: actix-web's router needs the request's `Rc` to
/// be unshared when the inner service is called (`Rc::get_mut`, a panic otherwise), so a load
/// started in a middleware before it calls the inner service must not keep a clone alive.
pub(crate) struct Presented {
    raw: Option<String>,
    binding: Option<Vec<u8>>,
}

impl Presented {
    /// Reads what `req` presents to the middleware of `ctx`.
    pub(crate) fn read(ctx: &Ctx, req: &HttpRequest) -> Self {
        let binding = match &ctx.backend {
            Backend::Client(store) => store.binding(req),
            Backend::Server(_) => None,
        };
        Presented {
            raw: ctx.config.state.read(req).map(|raw| raw.into_owned()),
            binding,
        }
    }
}

/// Opens the client's value that `presented` carries and loads the session with the values
/// `fetch` asks for; anything unusable gives a fresh session with a new id (an id offered by a
/// client is never adopted).
pub(crate) async fn load(
    ctx: &Ctx,
    presented: Presented,
    fetch: Fetch<'_>,
) -> Result<Data, SessionError> {
    let config = &ctx.config;
    let now = config.clock.now();
    let Presented { raw, binding } = presented;
    let fresh = |binding| Data::fresh(Meta::new(now, config.expiry(now, now)), binding);
    let Some(raw) = raw else {
        return Ok(fresh(binding));
    };
    let rejected = |binding| {
        tracing::info!(
            len = raw.len(),
            "session value rejected (malformed or tampered); starting a new session"
        );
        Ok(fresh(binding))
    };
    let (id, loaded) = match &ctx.backend {
        // A server-side store gets only an id of the generated shape: anything else never
        // reaches it.
        Backend::Server(_) => {
            let Some(id) = SessionId::parse(&raw) else {
                return rejected(binding);
            };
            let loaded = ctx.backend.load(&id, fetch).await.map_err(|e| {
                tracing::error!(session = %id.log_tag(), error = %e, "session load failed");
                SessionError::Store(e)
            })?;
            (id, loaded)
        }
        Backend::Client(store) => {
            let seal_ctx = config.state.seal_context(binding.as_deref());
            let Some((id, record)) = store.open(&raw, &seal_ctx) else {
                return rejected(binding);
            };
            // The client carried the record, and with it the deadline its issuer sealed, under
            // the idle timeout of that deploy: hold it to this middleware's idle timeout too,
            // from the last-seen time sealed beside it (0, unknown: the deadline alone). A
            // server-side record is not: a store that does not keep the last-seen time reports
            // its creation time there (`Meta::new`), which would end sessions in use.
            if !config.seen_recently(record.meta.last_seen, now) {
                tracing::debug!(
                    session = %id.log_tag(),
                    "session idle past the idle timeout; starting a new session"
                );
                return Ok(fresh(binding));
            }
            // A client-side session of a user: it may have been revoked since it was sealed.
            if record.meta.user.is_some() {
                let revoked = store.revoked(&record.meta).await.map_err(|e| {
                    tracing::error!(session = %id.log_tag(), error = %e, "revocation check failed");
                    SessionError::Store(e)
                })?;
                if revoked {
                    tracing::info!(
                        session = %id.log_tag(),
                        "revoked session; starting a new session"
                    );
                    return Ok(fresh(binding));
                }
            }
            (id, Some(Loaded::whole(record)))
        }
    };
    match loaded {
        Some(loaded) if config.alive(loaded.meta.created_at, loaded.meta.expires_at, now) => {
            Ok(Data::loaded(id, fetch, loaded, binding))
        }
        Some(_) => {
            tracing::debug!(session = %id.log_tag(), "session expired; starting a new session");
            Ok(fresh(binding))
        }
        None => {
            tracing::debug!(session = %id.log_tag(), "unknown session id; starting a new session");
            Ok(fresh(binding))
        }
    }
}
