//! The per-user work of a commit: ending a user's other sessions (`expire_all`,
//! `expire_others`) and the per-user cap (`max_sessions_per_user`).

use actix_web::HttpRequest;

use super::{Options, Session};
use crate::error::{SessionError, StoreError};
use crate::events::{RevokedBy, SessionEvent, SessionEventKind};
use crate::store::{Fetch, Handle};

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
    let ctx = session.ctx().clone();
    session.ensure(req, Fetch::Keys(&[])).await?;
    let Some(me) = session.data().and_then(|d| d.user().cloned()) else {
        return Ok(());
    };
    let (user, handle) = (me.key, me.handle.clone());
    let all = session.options().has(Options::EXPIRE_ALL);
    let retie = !all && ctx.backend.client_side();
    let kept = match (all, retie) {
        (true, _) => None,
        (false, false) => Some(handle),
        (false, true) => Some(Handle::generate()),
    };
    let ended = ctx.revoke_all(&user, kept.as_ref()).await.map_err(|e| {
        tracing::error!(user = %user.log_tag(), error = %e, "revoking a user's sessions failed");
        SessionError::from_store(e)
    })?;
    tracing::debug!(user = %user.log_tag(), ended, all, "user's sessions revoked on request");
    if ended > 0 {
        let by = match all {
            true => RevokedBy::User,
            false => RevokedBy::OtherDevice,
        };
        let at = ctx.config.clock.now_millis();
        let kind = SessionEventKind::Revoked(by);
        ctx.config.events.emit(kind, ended, || {
            let mut event = SessionEvent::new(kind, at).of(Some(&me));
            // Several sessions: named by their count, not one handle.
            event.handle = None;
            event.sessions = ended;
            event
        });
    }
    if let (true, Some(new)) = (retie, kept) {
        if let Some(mut data) = session.data() {
            data.new_handle(new);
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
    let ctx = session.ctx().clone();
    let Some(cap) = ctx.config.max_per_user else {
        return Ok(true);
    };
    let Some((me, created_at)) = session.data().and_then(|d| {
        d.tied()
            .then(|| d.user().cloned().map(|u| (u, d.meta().created_at)))
            .flatten()
    }) else {
        return Ok(true);
    };
    let user = me.key;
    let failed = |e: StoreError| {
        tracing::error!(user = %user.log_tag(), error = %e, "per-user session cap failed");
        SessionError::from_store(e)
    };
    let listed = ctx.user_sessions(&user).await.map_err(failed)?;
    let mut ranked: Vec<((u64, &Handle), &Handle)> = listed
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
    let events = &ctx.config.events;
    for (_, handle) in ranked.into_iter().skip(cap) {
        let ended = ctx.revoke(&user, handle).await.map_err(failed)?;
        if *handle == me.handle {
            survives = false;
        }
        if ended {
            let at = ctx.config.clock.now_millis();
            let kind = SessionEventKind::Revoked(RevokedBy::Cap);
            events.emit(kind, 1, || {
                let mut event = SessionEvent::new(kind, at).of(Some(&me));
                event.handle = Some(handle.clone());
                event
            });
        }
    }
    if let Some(mut data) = session.data() {
        data.untie();
    }
    Ok(survives)
}
