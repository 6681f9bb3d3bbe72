//! Renewal (`rotate_every`) in a request's life: the tombstone a renewed id leaves
//! ([`leave_tombstone`]), a renewal that another request made first ([`lost_the_race`]), and a
//! request that presents a replaced id ([`replaced`]): within the grace window the current
//! session, after it a reuse. The settings, the tombstone's format and why it holds no usable id
//! are in `rotation.rs`.

use super::Session;
use crate::ctx::Ctx;
use crate::error::{SessionError, StoreError};
use crate::events::{RevokedBy, SessionEvent, SessionEventKind};
use crate::id::SessionId;
use crate::rotation::{open_next, tombstone_id, Moved, Reuse, MAX_HOPS, MOVED_KEY};
use crate::store::{Changes, Fetch, Loaded, Meta, UserKey};

/// After the store moved the session from `old` to `new` at `now`: the tombstone of `old`,
/// kept as long as the idle timeout. A failure is logged: the renewal stands, and requests
/// still in flight with the old id start afresh.
pub(super) async fn leave_tombstone(session: &Session, old: &SessionId, new: &SessionId, now: u64) {
    let ctx = session.ctx();
    let user = session.data().and_then(|d| d.user().cloned());
    let moved = Moved::new(old, new, now, user.as_ref());
    let meta = Meta::new(now, now.saturating_add(ctx.config.idle));
    let changes = Changes::full([(MOVED_KEY.to_owned(), moved.encode())]);
    if let Err(e) = ctx.backend.save(&tombstone_id(old), &meta, &changes).await {
        tracing::error!(
            session = %new.log_tag(),
            error = %e,
            "the record of a renewed id could not be saved: requests still in flight with the \
             old id start afresh"
        );
    }
}

/// A renewal whose `change_id` found the old id gone: another request of the same client
/// renewed it first (or the session ended). This request's changes go to the current id, which
/// the client is to be told (the answer); with no tombstone to follow after about 100 ms (the
/// session ended, or the winner could not write it), the client keeps its cookie and its next
/// request decides.
pub(super) async fn lost_the_race(
    session: &Session,
    old: Option<&SessionId>,
    meta: &Meta,
    changes: Changes,
) -> Option<SessionId> {
    let ctx = session.ctx();
    let old = old?;
    // The winner writes the tombstone right after its move: give it a moment.
    let mut found = tombstone(ctx, old).await;
    for _ in 0..5 {
        if !matches!(found, Ok(None)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        found = tombstone(ctx, old).await;
    }
    let current = match found {
        Ok(Some(moved)) => follow(ctx, old, moved, Fetch::Keys(&[])).await,
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let current = match current {
        Ok(Some((id, _))) => id,
        Ok(None) => {
            tracing::debug!(
                session = %old.log_tag(),
                "renewal: the id was renewed by another request or ended; cookie kept"
            );
            return None;
        }
        Err(e) => {
            tracing::error!(session = %old.log_tag(), error = %e, "renewal: lookup failed");
            return None;
        }
    };
    join(session, &current, meta, changes).await;
    Some(current)
}

/// This request's changes saved to `current`, the id another request renewed the session to:
/// the values only (the id change and its stamp are the winner's); nothing if it is gone.
async fn join(session: &Session, current: &SessionId, meta: &Meta, mut changes: Changes) {
    changes.created = false;
    changes.replace_all = false;
    changes.set.retain(|(k, _)| k != crate::keys::ROTATED_KEY);
    if !changes.set.is_empty() || !changes.removed.is_empty() {
        let saved = session.ctx().backend.save(current, meta, &changes).await;
        if let Err(e) = saved {
            tracing::error!(session = %current.log_tag(), error = %e, "renewal: save failed");
        }
    }
    if let Some(mut data) = session.data() {
        data.ended();
    }
}

/// How long a request that presents an unknown id waits before it looks for a renewal's
/// tombstone again (with `rotate_every` only).
const RETRY_MS: u64 = 25;

/// What a presented id that the store does not know turned out to be.
pub(crate) enum Replaced {
    /// Not a renewed id (or renewal is off).
    Unknown,
    /// A renewed id within its grace window: the current session.
    Current(Box<(SessionId, Loaded)>),
    /// A renewed id whose session has ended since, or one reused after its grace window (the
    /// policy applied): a fresh session, and no old store may bring it back.
    Ended,
}

/// `old`, which the store does not know: a renewed id? Within its grace window, the current
/// session loaded for `fetch`; after it, a reuse: reported, and the policy applied.
pub(crate) async fn replaced(
    ctx: &Ctx,
    old: &SessionId,
    fetch: Fetch<'_>,
    now: u64,
) -> Result<Replaced, SessionError> {
    let Some(rotation) = ctx.config.rotation else {
        return Ok(Replaced::Unknown);
    };
    let failed = |e: StoreError| {
        tracing::error!(session = %old.log_tag(), error = %e, "renewed id lookup failed");
        SessionError::from_store(e)
    };
    let mut moved = tombstone(ctx, old).await.map_err(failed)?;
    if moved.is_none() {
        // A renewal writes its tombstone right after it moved the session: a request that read
        // the old id in between looks once more, a moment later.
        tokio::time::sleep(std::time::Duration::from_millis(RETRY_MS)).await;
        moved = tombstone(ctx, old).await.map_err(failed)?;
    }
    let Some(moved) = moved else {
        return Ok(Replaced::Unknown);
    };
    if now <= moved.at.saturating_add(rotation.grace) {
        return Ok(
            match follow(ctx, old, moved, fetch).await.map_err(failed)? {
                Some(found) => Replaced::Current(Box::new(found)),
                None => Replaced::Ended,
            },
        );
    }
    reused(ctx, old, moved, rotation.on_reuse)
        .await
        .map_err(failed)?;
    Ok(Replaced::Ended)
}

/// A renewed id came back after its grace window: reported, then `policy`.
async fn reused(ctx: &Ctx, old: &SessionId, moved: Moved, policy: Reuse) -> Result<(), StoreError> {
    let user = moved.user().map(|(id, handle)| (id.to_vec(), handle));
    tracing::warn!(
        session = %old.log_tag(),
        user = user.as_ref().map(|(id, _)| UserKey::of(id).log_tag()),
        ?policy,
        "a renewed session id was presented after its grace window: two parties hold (or held) \
         this session's cookie"
    );
    let config = &ctx.config;
    let at = config.clock.now_millis();
    let describe = |kind, sessions: usize, whole_user: bool| {
        let mut event = SessionEvent::new(kind, at);
        if let Some((id, handle)) = &user {
            event.user = Some(String::from_utf8_lossy(id).into_owned());
            event.handle = (!whole_user).then(|| handle.clone());
        }
        event.sessions = sessions;
        event
    };
    config.events.emit(SessionEventKind::Reused, 1, || {
        describe(SessionEventKind::Reused, 1, false)
    });
    let revoked = SessionEventKind::Revoked(RevokedBy::Reuse);
    match (policy, &user) {
        (Reuse::Log, _) => {}
        (Reuse::RevokeUser, Some((id, _))) => {
            let ended = ctx.revoke_all(&UserKey::of(id), None).await?;
            if ended > 0 {
                config
                    .events
                    .emit(revoked, ended, || describe(revoked, ended, true));
            }
        }
        (_, Some((id, handle))) => {
            if ctx.revoke(&UserKey::of(id), handle).await? {
                config
                    .events
                    .emit(revoked, 1, || describe(revoked, 1, false));
            }
        }
        // An anonymous session: found by following its tombstones.
        (_, None) => {
            if let Some((current, _)) = follow(ctx, old, moved, Fetch::Keys(&[])).await? {
                ctx.backend.delete(&current).await?;
                config
                    .events
                    .emit(revoked, 1, || describe(revoked, 1, false));
            }
        }
    }
    Ok(())
}

/// The tombstone of `old`, if the store holds one.
async fn tombstone(ctx: &Ctx, old: &SessionId) -> Result<Option<Moved>, StoreError> {
    let loaded = ctx
        .backend
        .load(&tombstone_id(old), Fetch::Keys(&[MOVED_KEY]))
        .await?;
    Ok(loaded
        .and_then(|l| l.known(MOVED_KEY).flatten())
        .and_then(|bytes| Moved::decode(&bytes)))
}

/// The live session `moved` leads to from `old` (through at most [`MAX_HOPS`] tombstones, for
/// an id renewed again since), loaded for `fetch`.
async fn follow(
    ctx: &Ctx,
    old: &SessionId,
    mut moved: Moved,
    fetch: Fetch<'_>,
) -> Result<Option<(SessionId, Loaded)>, StoreError> {
    let mut from = old.clone();
    for _ in 0..MAX_HOPS {
        let Some(next) = open_next(&from, &moved.next) else {
            return Ok(None);
        };
        if let Some(loaded) = ctx.backend.load(&next, fetch).await? {
            return Ok(Some((next, loaded)));
        }
        match tombstone(ctx, &next).await? {
            Some(further) => (from, moved) = (next, further),
            None => return Ok(None),
        }
    }
    Ok(None)
}
