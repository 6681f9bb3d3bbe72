//! The commit: the [plan](super::plan) carried out against the store, and what the client must
//! be told, at the response and, with `late_store`, when the body ends.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use super::plan::{decide, defers, head_of_deferred, Head, Plan};
use super::users::{enforce_cap, revoke_users_sessions};
use super::{Options, Session};
use crate::ctx::Ctx;
use crate::device::Device;
use crate::error::{SessionError, StoreError};
use crate::events::{RevokedBy, SessionEvent, SessionEventKind};
use crate::id::SessionId;
use crate::migrate::Env;
use crate::store::backend::Backend;
use crate::store::Fetch;

/// What the client must be told.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) enum ClientUpdate {
    /// Nothing to send.
    #[default]
    Keep,
    /// Send this value (the id, or a client-side store's sealed record).
    Send(String),
    /// Tell the client to drop its value.
    Remove,
}

/// What the commit at the response leaves for the response's head.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// What the client must be told.
    pub(crate) update: ClientUpdate,
    /// The expiry to announce (Unix seconds), when the builder asks for it and the session was
    /// saved, touched or rotated.
    pub(crate) expiry: Option<u64>,
    /// The store work waits for the end of the body (`late_store`).
    pub(crate) deferred: bool,
    /// The session has a lifetime of its own (`remember`): the value goes out in a cookie
    /// that lasts this many seconds.
    pub(crate) lasting: Option<u64>,
    /// A `Set-Cookie` that removes the cookie of an old store of another name, once the
    /// session it carried is saved here ([`crate::migrate`]).
    pub(crate) remove_old: Option<String>,
}

/// The commit at the response, its head not sent yet: the per-user work, then the plan, carried
/// out now or (with `late_store`) only as far as the head must tell the client.
pub(crate) async fn at_response(
    session: &Session,
    req: &HttpRequest,
    status: StatusCode,
) -> Result<Outcome, SessionError> {
    let options = session.options();
    // A session handle that nobody loaded and no option: nothing to do.
    if options == Options::default() && !session.is_loaded() {
        session.mark_committed();
        return Ok(Outcome::default());
    }
    let ctx = session.ctx().clone();
    let config = &ctx.config;
    let server_error = status.is_server_error();
    let expire = options.has(Options::EXPIRE);

    // change_id moves the stored session, even when no handler read it: the store moves the
    // values itself, so only the metadata is needed here (a handler that read the session
    // has it already).
    if options.has(Options::CHANGE_ID) && !expire && !server_error {
        session.ensure(req, Fetch::Keys(&[])).await?;
    }
    // A logout reported as an event names the session that ended: its metadata is read (only
    // when something listens; a server-side store's, a client-side one has it in the value).
    if expire && !session.is_loaded() && config.events.listening() {
        session.ensure(req, Fetch::Keys(&[])).await?;
    }
    // Log out everywhere / everywhere else: the other sessions end before this one commits
    // (a logout is honoured even when the page after it fails).
    if options.has(Options::EXPIRE_ALL) || options.has(Options::EXPIRE_OTHERS) {
        revoke_users_sessions(session, req).await?;
    }

    let client_side = ctx.backend.client_side();
    if defers(options, server_error, session.is_loaded(), client_side) {
        return Ok(deferred_head(session, &ctx));
    }
    if options.has(Options::LATE_STORE) && client_side && session.is_loaded() {
        tracing::warn!("late_store has no effect with a client-side store; committing now");
    }
    let now = config.clock.now();
    let plan = {
        let data = session.data();
        decide(options, server_error, data.as_deref(), now, config)
    };
    let presented = (plan == Plan::Expire && !session.is_loaded())
        .then(|| presented_id(&ctx, req))
        .flatten();
    if plan == Plan::Expire && !session.is_loaded() && !ctx.migrations.is_empty() {
        // A logout that never loaded the session: the old session the client presents ends
        // in the old store too.
        let env = Env {
            config: &ctx.config,
            backend: &ctx.backend,
        };
        Box::pin(ctx.migrations.forget_presented(env, req)).await?;
    }
    let remove_old = match plan {
        Plan::Nothing | Plan::Touch { .. } => None,
        _ => session.data().and_then(|data| {
            let origin = data.origin()?;
            ctx.migrations.removal(origin, &config.state)
        }),
    };
    let update = execute(session, plan, presented, now).await?;
    if let ClientUpdate::Send(value) = &update {
        config.state.check_size(value)?;
    }
    let expiry = (plan.announces() && config.expiry_header.is_some())
        .then(|| session.data().map(|data| data.meta().expires_at))
        .flatten();
    let lasting = lasting(session, &update, now);
    session.mark_committed();
    Ok(Outcome {
        update,
        expiry,
        deferred: false,
        lasting,
        remove_old,
    })
}

/// With `late_store`: what the head tells the client now; the store work waits for the body.
fn deferred_head(session: &Session, ctx: &Ctx) -> Outcome {
    let config = &ctx.config;
    let Some(mut data) = session.data() else {
        return Outcome::default();
    };
    let update = match head_of_deferred(session.options(), &data, config) {
        Head::Keep => ClientUpdate::Keep,
        Head::SendId => ClientUpdate::Send(data.id().as_str().to_owned()),
        Head::RotateAndSend => {
            data.rotate();
            ClientUpdate::Send(data.id().as_str().to_owned())
        }
    };
    let expiry =
        (matches!(update, ClientUpdate::Send(_)) && config.expiry_header.is_some()).then(|| {
            let meta = data.meta();
            config.expiry_with(meta.created_at, config.clock.now(), data.remember())
        });
    drop(data);
    let lasting = lasting(session, &update, config.clock.now());
    Outcome {
        update,
        expiry,
        deferred: true,
        lasting,
        remove_old: None,
    }
}

/// A deferred commit, when the body has ended: the plan, decided on the data as the streaming
/// body left it, carried out (the head has gone: what the client learns now is lost).
pub(crate) async fn at_body_end(session: &Session) -> Result<(), SessionError> {
    let config = &session.ctx().config;
    let now = config.clock.now();
    let plan = {
        let data = session.data();
        decide(session.options(), false, data.as_deref(), now, config)
    };
    session.mark_committed();
    execute(session, plan, None, now).await.map(drop)
}

/// An error escaped the app without a response (another middleware's): no response to put a
/// cookie on, but a logout still ends the stored session.
pub(crate) async fn after_app_error(session: &Session) {
    if session.options().has(Options::EXPIRE) {
        let now = session.ctx().config.clock.now();
        if let Err(e) = execute(session, Plan::Expire, None, now).await {
            tracing::error!(error = %e, "expire after an app error failed");
        }
    }
}

/// The stored id the client presented, for an `expire` on a request whose handler never loaded
/// the session (no load needed to forget it). A client-side store has nothing stored to forget:
/// the removal cookie is the whole logout (opening its value would only decrypt a record to
/// throw it away).
fn presented_id(ctx: &Ctx, req: &HttpRequest) -> Option<SessionId> {
    match &ctx.backend {
        Backend::Client(_) => None,
        Backend::Server(_) => SessionId::parse(&ctx.config.state.read(req)?),
    }
}

/// Carries `plan` out against the store. Locks are never held across a store call.
async fn execute(
    session: &Session,
    plan: Plan,
    presented: Option<SessionId>,
    now: u64,
) -> Result<ClientUpdate, SessionError> {
    let ctx = session.ctx().clone();
    let backend = &ctx.backend;
    let events = &ctx.config.events;
    let expiry = |data: &super::data::Data| {
        ctx.config
            .expiry_with(data.meta().created_at, now, data.remember())
    };
    match plan {
        Plan::Nothing => Ok(ClientUpdate::Keep),
        Plan::Expire => {
            let (stored, user) = match session.data() {
                Some(data) => (
                    [
                        data.retired().cloned(),
                        data.existed().then(|| data.id().clone()),
                    ],
                    events.listening().then(|| data.user().cloned()).flatten(),
                ),
                // Not loaded: forget the id the client presented, without loading it.
                None => ([presented, None], None),
            };
            for id in stored.iter().flatten() {
                backend.delete(id).await.map_err(|e| store_failed(id, e))?;
                tracing::debug!(session = %id.log_tag(), "session expired on request");
            }
            // "Log out everywhere" reported this session with the others; a session never
            // loaded (nothing listens) is not reported: the store cannot tell whether it ended.
            let known = session.is_loaded() && stored.iter().any(Option::is_some);
            if known && !session.options().has(Options::EXPIRE_ALL) {
                let by = SessionEventKind::Revoked(RevokedBy::User);
                events.emit(by, 1, || SessionEvent::new(by, ms(&ctx)).of(user.as_ref()));
            }
            forget_origin(session).await;
            Ok(ClientUpdate::Remove)
        }
        Plan::Rotate | Plan::Renew => {
            // The store moves the stored session to the new id and applies this request's
            // changes in one step, and only if the old id still holds a live session: a
            // logout, revocation or expiry that landed while this request ran wins.
            let renew = plan == Plan::Renew;
            let (retired, id, meta, changes, rotation) = {
                let Some(mut data) = session.data() else {
                    return Ok(ClientUpdate::Keep);
                };
                // The id the session had, stored or not: a first save under a new id is a
                // creation, not a rotation.
                let stored = data.existed() || data.retired().is_some();
                let rotation = if stored {
                    SessionEventKind::Rotated
                } else {
                    SessionEventKind::Created
                };
                match renew {
                    true => data.rotate_keeping_csrf(),
                    false => data.rotate(),
                }
                // The renewal clock restarts with every new id.
                stamp_id(&mut data, &ctx, now);
                let expires_at = expiry(&data);
                data.stamp(expires_at, now);
                let retired = data.take_retired();
                let id = data.id().clone();
                let meta = data.meta().clone();
                (retired, id, meta, data.take_changes(), rotation)
            };
            let moved = match &retired {
                Some(old) => backend
                    .change_id(old, &id, &meta, &changes)
                    .await
                    .map_err(|e| store_failed(old, e))?,
                // Never stored: nothing to move, and nothing can have ended it.
                None => {
                    backend
                        .save(&id, &meta, &changes)
                        .await
                        .map_err(|e| store_failed(&id, e))?;
                    true
                }
            };
            if !moved && renew {
                // Another request renewed the id first (or the session ended): follow it.
                let current =
                    super::renew::lost_the_race(session, retired.as_ref(), &meta, changes).await;
                return Ok(match current {
                    Some(current) => ClientUpdate::Send(current.as_str().to_owned()),
                    None => ClientUpdate::Keep,
                });
            }
            if !moved {
                let old = retired.as_ref().unwrap_or(&id);
                tracing::info!(
                    session = %old.log_tag(),
                    "session ended (logout, revocation or expiry) while this request ran: \
                     its id is not renewed, nothing is saved, and the client's cookie is removed"
                );
                if let Some(mut data) = session.data() {
                    data.ended();
                }
                return Ok(ClientUpdate::Remove);
            }
            tracing::debug!(session = %id.log_tag(), renew, "session id changed");
            if let (true, Some(old)) = (renew, &retired) {
                super::renew::leave_tombstone(session, old, &id, now).await;
            }
            if let Some(mut data) = session.data() {
                data.moved(changes);
            }
            saved_events(session, Some(rotation));
            forget_origin(session).await;
            if !enforce_cap(session).await? {
                return Ok(beyond_the_cap(session, &id));
            }
            client_value(session, true)
        }
        Plan::Save { send } => {
            let (id, meta, changes, created) = {
                let Some(mut data) = session.data() else {
                    return Ok(ClientUpdate::Keep);
                };
                let expires_at = expiry(&data);
                data.stamp(expires_at, now);
                let (id, meta) = (data.id().clone(), data.meta().clone());
                (id, meta, data.take_changes(), !data.existed())
            };
            backend
                .save(&id, &meta, &changes)
                .await
                .map_err(|e| store_failed(&id, e))?;
            if let Some(mut data) = session.data() {
                data.apply_saved(changes);
            }
            saved_events(session, created.then_some(SessionEventKind::Created));
            forget_origin(session).await;
            if !enforce_cap(session).await? {
                return Ok(beyond_the_cap(session, &id));
            }
            client_value(session, send)
        }
        Plan::Touch { send } => {
            let (id, meta) = {
                let Some(mut data) = session.data() else {
                    return Ok(ClientUpdate::Keep);
                };
                let expires_at = expiry(&data);
                data.stamp(expires_at, now);
                (data.id().clone(), data.meta().clone())
            };
            backend
                .touch(&id, &meta)
                .await
                .map_err(|e| store_failed(&id, e))?;
            client_value(session, send)
        }
    }
}

/// The events of a save or an id change the store confirmed: `first` (the session created, or
/// its id changed), then the sign-in, if this request tied the session to a user.
fn saved_events(session: &Session, first: Option<SessionEventKind>) {
    let ctx = session.ctx();
    let events = &ctx.config.events;
    if !events.listening() {
        return;
    }
    let Some(data) = session.data() else {
        return;
    };
    let at = ms(ctx);
    if let Some(first) = first {
        events.emit(first, 1, || SessionEvent::new(first, at).of(data.user()));
    }
    if data.tied() {
        events.emit(SessionEventKind::Tied, 1, || {
            let mut event = SessionEvent::new(SessionEventKind::Tied, at).of(data.user());
            if let Some(device) = data
                .value(crate::keys::DEVICE_KEY)
                .and_then(|bytes| ctx.config.codec.decode::<Device>(&bytes).ok())
            {
                event.user_agent = device.user_agent;
                event.ip = device.ip;
            }
            event
        });
    }
}

/// With `rotate_every`: when the id was issued (`now`), under its reserved key.
fn stamp_id(data: &mut super::data::Data, ctx: &Ctx, now: u64) {
    if ctx.config.rotation.is_none() {
        return;
    }
    match ctx.config.codec.encode(&now) {
        Ok(bytes) => {
            data.set(crate::keys::ROTATED_KEY.to_owned(), bytes.into());
        }
        Err(e) => tracing::warn!(error = %e, "renewal stamp not encoded"),
    }
}

/// Now by the middleware's clock, in Unix milliseconds (an event's time).
fn ms(ctx: &Ctx) -> u64 {
    ctx.config.clock.now_millis()
}

/// For a value sent to the client of a session with a lifetime of its own: the seconds left
/// to its expiry, the cookie's `Max-Age`.
fn lasting(session: &Session, update: &ClientUpdate, now: u64) -> Option<u64> {
    if !matches!(update, ClientUpdate::Send(_)) {
        return None;
    }
    let data = session.data()?;
    data.remember()?;
    let config = &session.ctx().config;
    // A deferred commit has not stamped the new expiry yet: the one it will write.
    let meta = data.meta();
    let expires_at = config
        .expiry_with(meta.created_at, now, data.remember())
        .max(meta.expires_at);
    Some(expires_at.saturating_sub(now))
}

/// A session carried over from an old store is saved here (or ended): the old record goes
/// ([`crate::migrate`]).
async fn forget_origin(session: &Session) {
    let origin = session.data().and_then(|mut data| data.take_origin());
    if let Some(origin) = origin {
        // Boxed: a rare path, kept out of the size of every commit's future.
        let ctx = session.ctx();
        let env = Env {
            config: &ctx.config,
            backend: &ctx.backend,
        };
        Box::pin(ctx.migrations.forget(env, origin)).await;
    }
}

/// This request's own session was beyond the per-user cap (newer sign-ins of the user landed at
/// the same moment), and ended with the others: the client's cookie goes.
fn beyond_the_cap(session: &Session, id: &SessionId) -> ClientUpdate {
    tracing::info!(
        session = %id.log_tag(),
        "session ended at sign-in: newer sign-ins of the same user fill max_sessions_per_user"
    );
    if let Some(mut data) = session.data() {
        data.ended();
    }
    ClientUpdate::Remove
}

/// The value a client should now hold, if it has to be sent: the id (when `send`), or for a
/// client-side store the whole session sealed.
fn client_value(session: &Session, send: bool) -> Result<ClientUpdate, SessionError> {
    let ctx = session.ctx();
    let Some(data) = session.data() else {
        return Ok(ClientUpdate::Keep);
    };
    match &ctx.backend {
        Backend::Server(_) => Ok(match send {
            true => ClientUpdate::Send(data.id().as_str().to_owned()),
            false => ClientUpdate::Keep,
        }),
        Backend::Client(store) => {
            let seal_ctx = ctx.config.state.seal_context(data.binding());
            match store.seal(data.id(), &data.record(), &seal_ctx) {
                Ok(Some(sealed)) => Ok(ClientUpdate::Send(sealed)),
                // The client keeps its previous value (the store's choice for a session that
                // cannot be encoded).
                Ok(None) => Ok(ClientUpdate::Keep),
                Err(e) => Err(SessionError::from_store(e)),
            }
        }
    }
}

fn store_failed(id: &SessionId, e: StoreError) -> SessionError {
    tracing::error!(session = %id.log_tag(), error = %e, "session store failed at commit");
    SessionError::Store(e)
}
