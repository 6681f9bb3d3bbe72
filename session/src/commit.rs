//! The commit rules: what happens to the store and to the client when a request ends.
//!
//! This module is the one place that decides. `decide` reads like the table below (the
//! contract of DESIGN §3, in order: the first row that applies wins); `execute` carries the
//! plan out against the store.
//!
//! | options / state            | store                                   | client                         |
//! |----------------------------|-----------------------------------------|--------------------------------|
//! | `expire` (beats all, even a 5xx) | delete the stored record          | removal cookie                 |
//! | response is 5xx            | nothing                                 | nothing                        |
//! | session never loaded       | nothing                                 | nothing                        |
//! | `change_id`                | delete the old id, save all under a new id (even with `no_store`) | the new id |
//! | `no_store`                 | nothing                                 | nothing                        |
//! | data changed               | save the changed keys                   | id when new, or to refresh a persistent cookie |
//! | new and still empty        | nothing                                 | nothing                        |
//! | unchanged, stored          | touch, only when the expiry moves by more than the refresh step | only a persistent cookie, when touched |
//!
//! A client-side store ([`SessionStore::seal`](crate::store::SessionStore::seal) returns a value)
//! gets its value sent after every save or touch, since the data travels with it.

use actix_web::HttpRequest;

use crate::config::{Config, Ctx};
use crate::error::SessionError;
use crate::id::SessionId;
use crate::session::{Data, Options, Session};
use crate::store::{Changes, ClientValue, Fetch, Handle, Unsealed};

/// What to do when the request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing to write, nothing to send.
    Nothing,
    /// Forget the session and remove the client's value.
    Expire,
    /// Move the data to a new id and send it.
    Rotate,
    /// Save the changes; `send` the value to the client.
    Save { send: bool },
    /// Push the expiry forward; `send` the value to the client.
    Touch { send: bool },
}

/// The commit rules, in order. `data` is `None` when no handler loaded the session.
pub(crate) fn decide(
    options: Options,
    server_error: bool,
    data: Option<&Data>,
    now: u64,
    config: &Config,
) -> Plan {
    if options.has(Options::EXPIRE) {
        return Plan::Expire;
    }
    if server_error {
        return Plan::Nothing;
    }
    let Some(data) = data else {
        return Plan::Nothing;
    };
    let empty_and_new = data.empty_and_new();
    if options.has(Options::CHANGE_ID) {
        return if empty_and_new {
            Plan::Nothing
        } else {
            Plan::Rotate
        };
    }
    if options.has(Options::NO_STORE) {
        return Plan::Nothing;
    }
    let refresh_client = config.state.refresh_on_touch();
    if data.changed() {
        return if empty_and_new {
            Plan::Nothing
        } else {
            Plan::Save {
                send: !data.existed || refresh_client,
            }
        };
    }
    if data.existed {
        let next = config.expiry(data.meta.created_at, now);
        if next > data.meta.expires_at.saturating_add(config.refresh_step) {
            return Plan::Touch {
                send: refresh_client,
            };
        }
    }
    Plan::Nothing
}

/// What the client must be told after [`execute`].
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

/// The stored id the client presented, for an `expire` on a request whose handler never loaded
/// the session (no load needed to forget it). The value is opened as a load would open it: under
/// the state's name and with the request's client binding, so a logout from the right client is
/// no decode failure.
pub(crate) fn presented_id(ctx: &Ctx, req: &HttpRequest) -> Option<SessionId> {
    if ctx.store.client_side() {
        // Nothing stored to forget: the removal cookie is the whole logout. Opening the value
        // would only decrypt a record to throw it away.
        return None;
    }
    let value = ctx.config.state.read(req)?;
    let binding = ctx.store.client_binding(req);
    let seal_ctx = ctx.config.state.seal_context(binding.as_deref());
    match ctx.store.unseal(&value, &seal_ctx) {
        Some(Unsealed::Id(id)) => Some(id),
        _ => None,
    }
}

/// `expire_all` / `expire_others`: ends the other sessions of the session's user (all of them
/// with `expire_all`; this one then ends by the `expire` rule).
///
/// With a client-side store, `expire_others` also ends every copy of the cookie this request
/// came with: the session it keeps is re-tied to its user under a new handle, the revocation
/// spares only that handle, and the session is re-sealed (a metadata change), so only the
/// cookie sealed in this response opens. A copy of the cookie presented here has the very
/// bytes the client holds, so nothing but what this response seals can tell the two apart;
/// the old handle, shared by every copy, cannot. (A server-side store ends the copies by
/// `change_id`, which forgets the old id, and keeps the handle.)
pub(crate) async fn revoke_users_sessions(
    session: &Session,
    req: &HttpRequest,
) -> Result<(), SessionError> {
    let ctx: &Ctx = &session.0.ctx;
    session.ensure(req, Fetch::Keys(&[])).await?;
    let Some((user, handle)) = session
        .data()
        .and_then(|d| d.meta.user.as_ref().map(|u| (u.key, u.handle.clone())))
    else {
        return Ok(());
    };
    let all = session.options().has(Options::EXPIRE_ALL);
    let retie = !all && ctx.store.client_side();
    let kept = match (all, retie) {
        (true, _) => None,
        (false, false) => Some(handle),
        (false, true) => Some(Handle::generate()),
    };
    let ended = ctx.store.revoke_all(&user, kept.as_ref()).await.map_err(|e| {
        tracing::error!(user = %user.log_tag(), error = %e, "revoking a user's sessions failed");
        SessionError::from_store(e)
    })?;
    tracing::debug!(user = %user.log_tag(), ended, all, "user's sessions revoked on request");
    if let (true, Some(new)) = (retie, kept) {
        if let Some(mut data) = session.data() {
            if let Some(user) = data.meta.user.as_mut() {
                user.handle = new;
            }
            data.touch_meta();
        }
    }
    Ok(())
}

/// `max_sessions_per_user`: after this request tied its session to a user, the oldest sessions
/// of that user beyond the cap end (never this one).
pub(crate) async fn enforce_cap(session: &Session) -> Result<(), SessionError> {
    let ctx: &Ctx = &session.0.ctx;
    let Some(cap) = ctx.config.max_per_user else {
        return Ok(());
    };
    let Some((user, handle)) = session.data().and_then(|d| {
        d.tied
            .then(|| d.meta.user.as_ref().map(|u| (u.key, u.handle.clone())))
            .flatten()
    }) else {
        return Ok(());
    };
    let failed = |e: crate::error::StoreError| {
        tracing::error!(user = %user.log_tag(), error = %e, "per-user session cap failed");
        SessionError::from_store(e)
    };
    let mut others: Vec<_> = ctx
        .store
        .user_sessions(&user)
        .await
        .map_err(failed)?
        .into_iter()
        .filter_map(|r| r.meta.user.map(|u| (r.meta.created_at, u.handle)))
        .filter(|(_, h)| *h != handle)
        .collect();
    // This session counts as one; the oldest others go.
    let excess = (others.len() + 1).saturating_sub(cap);
    others.sort_by_key(|(created, _)| *created);
    for (_, old) in others.into_iter().take(excess) {
        ctx.store.revoke(&user, &old).await.map_err(failed)?;
    }
    if let Some(mut data) = session.data() {
        data.tied = false;
    }
    Ok(())
}

/// Carries `plan` out against the store. Locks are never held across a store call.
pub(crate) async fn execute(
    session: &Session,
    plan: Plan,
    presented: Option<SessionId>,
    now: u64,
) -> Result<ClientUpdate, SessionError> {
    let ctx: &Ctx = &session.0.ctx;
    match plan {
        Plan::Nothing => Ok(ClientUpdate::Keep),
        Plan::Expire => {
            let stored = match session.data() {
                Some(data) => [data.retired.clone(), data.existed.then(|| data.id.clone())],
                // Not loaded: forget the id the client presented, without loading it.
                None => [presented, None],
            };
            for id in stored.iter().flatten() {
                ctx.store
                    .delete(id)
                    .await
                    .map_err(|e| store_failed(id, e))?;
                tracing::debug!(session = %id.log_tag(), "session expired on request");
            }
            Ok(ClientUpdate::Remove)
        }
        Plan::Rotate => {
            // The data moves whole to the new id: the handle loaded it whole
            // (`ensure(.., Fetch::All)` before the plan).
            let (retired, id, meta, changes) = {
                let Some(mut data) = session.data() else {
                    return Ok(ClientUpdate::Keep);
                };
                data.rotate();
                data.meta.expires_at = ctx.config.expiry(data.meta.created_at, now);
                data.meta.last_seen = now;
                let retired = data.retired.take();
                (
                    retired,
                    data.id.clone(),
                    data.meta.clone(),
                    Changes::full(data.values()),
                )
            };
            if let Some(old) = &retired {
                ctx.store
                    .delete(old)
                    .await
                    .map_err(|e| store_failed(old, e))?;
            }
            ctx.store
                .save(&id, &meta, &changes)
                .await
                .map_err(|e| store_failed(&id, e))?;
            tracing::debug!(session = %id.log_tag(), "session id changed");
            if let Some(mut data) = session.data() {
                data.moved();
            }
            enforce_cap(session).await?;
            client_value(session, true)
        }
        Plan::Save { send } => {
            let (id, meta, changes) = {
                let Some(mut data) = session.data() else {
                    return Ok(ClientUpdate::Keep);
                };
                data.meta.expires_at = ctx.config.expiry(data.meta.created_at, now);
                data.meta.last_seen = now;
                (data.id.clone(), data.meta.clone(), data.take_changes())
            };
            ctx.store
                .save(&id, &meta, &changes)
                .await
                .map_err(|e| store_failed(&id, e))?;
            if let Some(mut data) = session.data() {
                data.apply_saved(changes);
            }
            enforce_cap(session).await?;
            client_value(session, send)
        }
        Plan::Touch { send } => {
            let (id, meta) = {
                let Some(mut data) = session.data() else {
                    return Ok(ClientUpdate::Keep);
                };
                data.meta.expires_at = ctx.config.expiry(data.meta.created_at, now);
                data.meta.last_seen = now;
                (data.id.clone(), data.meta.clone())
            };
            ctx.store
                .touch(&id, &meta)
                .await
                .map_err(|e| store_failed(&id, e))?;
            client_value(session, send)
        }
    }
}

/// The value a client should now hold, if it has to be sent: the id (when `send`), or for a
/// client-side store the whole session sealed.
fn client_value(session: &Session, send: bool) -> Result<ClientUpdate, SessionError> {
    let ctx: &Ctx = &session.0.ctx;
    let Some(data) = session.data() else {
        return Ok(ClientUpdate::Keep);
    };
    if !ctx.store.client_side() {
        return Ok(match send {
            true => ClientUpdate::Send(data.id.as_str().to_owned()),
            false => ClientUpdate::Keep,
        });
    }
    let seal_ctx = ctx.config.state.seal_context(data.binding.as_deref());
    match ctx.store.seal(&data.id, &data.record(), &seal_ctx)? {
        ClientValue::Sealed(sealed) => Ok(ClientUpdate::Send(sealed)),
        ClientValue::Id if send => Ok(ClientUpdate::Send(data.id.as_str().to_owned())),
        ClientValue::Id | ClientValue::Unchanged => Ok(ClientUpdate::Keep),
    }
}

fn store_failed(id: &crate::id::SessionId, e: crate::error::StoreError) -> SessionError {
    tracing::error!(session = %id.log_tag(), error = %e, "session store failed at commit");
    SessionError::Store(e)
}
