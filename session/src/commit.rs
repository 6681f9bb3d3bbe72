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
//! | `change_id`                | move the stored session to a new id with this request's changes, if it still lives (even with `no_store`) | the new id; a removal if it ended meanwhile |
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
use crate::store::{ClientValue, Fetch, Handle, Unsealed};

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

/// `max_sessions_per_user`: after this request tied its session to a user, the user's sessions
/// beyond the cap end. Answers whether this request's session survives.
///
/// Sessions are ranked by [`SessionUser::sign_in_order`](crate::store::SessionUser::sign_in_order)
/// (sign-in time in milliseconds, then the handle): a total order, so every login of the user,
/// however many run at once, agrees on which are the newest `cap`. Each login ends what its
/// listing ranks beyond the cap, this session too if it is not among the newest (it then ends
/// like the others: concurrent logins in the same millisecond are ordered by handle). The
/// last listing sees every login saved before it, so exactly the newest `cap` survive.
pub(crate) async fn enforce_cap(session: &Session) -> Result<bool, SessionError> {
    let ctx: &Ctx = &session.0.ctx;
    let Some(cap) = ctx.config.max_per_user else {
        return Ok(true);
    };
    let Some((user, me, created_at)) = session.data().and_then(|d| {
        d.tied
            .then(|| d.meta.user.clone().map(|u| (u, d.meta.created_at)))
            .flatten()
            .map(|(u, created)| (u.key, u, created))
    }) else {
        return Ok(true);
    };
    let failed = |e: crate::error::StoreError| {
        tracing::error!(user = %user.log_tag(), error = %e, "per-user session cap failed");
        SessionError::from_store(e)
    };
    let listed = ctx.store.user_sessions(&user).await.map_err(failed)?;
    let mut ranked: Vec<((u64, &crate::store::Handle), &crate::store::Handle)> = listed
        .iter()
        .filter_map(|r| {
            let u = r.meta.user.as_ref()?;
            Some((u.sign_in_order(r.meta.created_at), &u.handle))
        })
        .collect();
    // This session counts, listed or not (a store may list it a moment late).
    if !ranked.iter().any(|(_, h)| **h == me.handle) {
        ranked.push((me.sign_in_order(created_at), &me.handle));
    }
    // Newest first.
    ranked.sort_by(|a, b| b.0.cmp(&a.0));
    let mut survives = true;
    for (_, handle) in ranked.into_iter().skip(cap) {
        ctx.store.revoke(&user, handle).await.map_err(failed)?;
        if *handle == me.handle {
            survives = false;
        }
    }
    if let Some(mut data) = session.data() {
        data.tied = false;
    }
    Ok(survives)
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
            // The store moves the stored session to the new id and applies this request's
            // changes in one step, and only if the old id still holds a live session: a
            // logout, revocation or expiry that landed while this request ran wins.
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
                    data.take_changes(),
                )
            };
            let moved = match &retired {
                Some(old) => ctx
                    .store
                    .change_id(old, &id, &meta, &changes)
                    .await
                    .map_err(|e| store_failed(old, e))?,
                // Never stored: nothing to move, and nothing can have ended it.
                None => {
                    ctx.store
                        .save(&id, &meta, &changes)
                        .await
                        .map_err(|e| store_failed(&id, e))?;
                    true
                }
            };
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
            tracing::debug!(session = %id.log_tag(), "session id changed");
            if let Some(mut data) = session.data() {
                data.moved(changes);
            }
            if !enforce_cap(session).await? {
                return Ok(beyond_the_cap(session, &id));
            }
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
