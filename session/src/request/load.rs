//! Loading: the client's value read and opened, the session loaded from the store, and its
//! timeouts checked; anything unusable gives a fresh session with a new id.

use actix_web::HttpRequest;

use super::data::Data;
use super::renew::Replaced;
use crate::ctx::Ctx;
use crate::error::SessionError;
use crate::events::{SessionEvent, SessionEventKind, Timeout};
use crate::id::SessionId;
use crate::keys::{REMEMBER_KEY, ROTATED_KEY};
use crate::migrate::Env;
use crate::store::backend::Backend;
use crate::store::{Fetch, Loaded, Meta};

/// What a request presents for its session, read from it synchronously: the client's value,
/// for a client-side store the client binding, and what the old stores of `migrate_from` would
/// read.
///
/// A load holds this, never the `HttpRequest`: actix-web's router needs the request's `Rc` to
/// be unshared when the inner service is called (`Rc::get_mut`, a panic otherwise), so a load
/// started in a middleware before it calls the inner service must not keep a clone alive.
#[derive(Clone)]
pub(crate) struct Presented {
    raw: Option<Raw>,
    binding: Option<Vec<u8>>,
    /// What the old stores would read (boxed: most middlewares have none).
    old: Option<Box<crate::migrate::Presented>>,
    /// The bound cookie (feature `dbsc`), and whether this is a request to the DBSC endpoints
    /// (where it is missing by design).
    #[cfg(feature = "dbsc")]
    bound: Option<Box<(Option<String>, bool)>>,
}

impl Presented {
    /// Reads what `req` presents to the middleware of `ctx`.
    pub(crate) fn read(ctx: &Ctx, req: &HttpRequest) -> Self {
        let binding = match &ctx.backend {
            Backend::Client(store) => store.binding(req),
            Backend::Server(_) => None,
        };
        let raw = ctx.config.state.read(req).map(|raw| match &ctx.backend {
            // A server-side store's value is an id or nothing: parsed now, kept without an
            // allocation.
            Backend::Server(_) => match SessionId::parse(&raw) {
                Some(id) => Raw::Id(id),
                None => Raw::Other(raw.into_owned()),
            },
            Backend::Client(_) => Raw::Other(raw.into_owned()),
        });
        let old = match ctx.migrations.is_empty() {
            true => None,
            false => ctx.migrations.presented(req, raw.is_some()).map(Box::new),
        };
        #[cfg(feature = "dbsc")]
        let bound = ctx.config.dbsc.as_ref().map(|dbsc| {
            let cookie = crate::state::cookie::read_cookie(req.headers(), &dbsc.cookie_name)
                .map(std::borrow::Cow::into_owned);
            let path = req.path();
            Box::new((
                cookie,
                path == dbsc.registration_path || path == dbsc.refresh_path,
            ))
        });
        Presented {
            raw,
            binding,
            old,
            #[cfg(feature = "dbsc")]
            bound,
        }
    }
}

/// The client's value, as read.
#[derive(Clone)]
enum Raw {
    /// A well-formed id (for a server-side store).
    Id(SessionId),
    /// Anything else: a client-side store's sealed value, or what no id looks like.
    Other(String),
}

impl Raw {
    fn as_str(&self) -> &str {
        match self {
            Raw::Id(id) => id.as_str(),
            Raw::Other(text) => text,
        }
    }
}

/// Opens the client's value that `presented` carries and loads the session with the values
/// `fetch` asks for; anything unusable gives a fresh session with a new id (an id offered by a
/// client is never adopted), unless an old store of `migrate_from` holds the session.
pub(crate) async fn load(
    ctx: &Ctx,
    presented: Presented,
    fetch: Fetch<'_>,
) -> Result<Data, SessionError> {
    let now = ctx.config.clock.now();
    let Presented {
        raw,
        binding,
        old,
        #[cfg(feature = "dbsc")]
        bound,
    } = presented;
    // With rotate_every, the commit needs when the id last changed; with DBSC, the binding:
    // more keys in this load, no more round trips.
    let mut wider: Vec<&str> = Vec::new();
    let fetch = match fetch {
        Fetch::Keys(keys) => {
            let mut extra = Vec::new();
            if ctx.config.rotation.is_some() && !keys.contains(&ROTATED_KEY) {
                extra.push(ROTATED_KEY);
            }
            #[cfg(feature = "dbsc")]
            if bound.is_some() && !keys.contains(&crate::keys::DBSC_KEY) {
                extra.push(crate::keys::DBSC_KEY);
            }
            if extra.is_empty() {
                fetch
            } else {
                wider.extend_from_slice(keys);
                wider.extend(extra);
                Fetch::Keys(&wider)
            }
        }
        Fetch::All => Fetch::All,
    };
    let miss = match own(ctx, raw.as_ref(), fetch, binding.as_deref(), now).await? {
        // `Data` is built here, after the last await: it is never part of a load's future.
        Ok(found) => {
            let mut data = Data::loaded(found.id, fetch, found.loaded, binding);
            if let Some(more) = found.lifetime {
                data.merge(Fetch::Keys(&[REMEMBER_KEY]), more);
            }
            data.set_remember(found.remember);
            if found.resend {
                data.set_resend();
            }
            // A device-bound session opens only with its current bound cookie.
            #[cfg(feature = "dbsc")]
            if let Some(bound) = bound.as_deref() {
                if !bound.1 {
                    device_bound(ctx, &data, bound.0.as_deref(), now)?;
                }
            }
            return Ok(data);
        }
        Err(miss) => miss,
    };
    // The store does not know the value: an old store may (`migrate_from`).
    if let (true, Some(old)) = (miss != Miss::Ended, old) {
        // Boxed: a rare path, kept out of the size of every load's future.
        let env = Env {
            config: &ctx.config,
            backend: &ctx.backend,
        };
        let carried = Box::pin(
            ctx.migrations
                .carry(env, *old, raw.as_ref().map(Raw::as_str), now),
        );
        if let Some(carried) = carried.await? {
            let mut data = Data::carried(carried.meta, carried.values, binding, carried.origin);
            data.set_remember(carried.remember);
            return Ok(data);
        }
    }
    if let Miss::Rejected(len) = miss {
        tracing::info!(
            len,
            "session value rejected (malformed or tampered); starting a new session"
        );
    }
    Ok(Data::fresh(
        Meta::new(now, ctx.config.expiry(now, now)),
        binding,
    ))
}

/// Why the store gave no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// The client sent no value.
    Absent,
    /// A value of the wrong shape, or one that does not open (its length, for the log).
    Rejected(usize),
    /// A well-formed id the store does not know.
    Unknown,
    /// A session that expired, idled out or was revoked: it ended here, and no old store may
    /// bring it back.
    Ended,
}

/// A live session as the middleware's own store has it.
struct Found {
    id: SessionId,
    loaded: Loaded,
    /// The answer of the extra load of the lifetime key, when the load did not bring it.
    lifetime: Option<Option<Loaded>>,
    /// The session's own lifetime (`Session::remember`), when it has one.
    remember: Option<u64>,
    /// Found through an id that `rotate_every` replaced, within its grace window: the client
    /// must be sent the current id.
    resend: bool,
}

/// The session as the middleware's own store has it, or why not.
async fn own(
    ctx: &Ctx,
    raw: Option<&Raw>,
    fetch: Fetch<'_>,
    binding: Option<&[u8]>,
    now: u64,
) -> Result<Result<Found, Miss>, SessionError> {
    let config = &ctx.config;
    let Some(raw) = raw else {
        return Ok(Err(Miss::Absent));
    };
    let (id, loaded) = match &ctx.backend {
        // A server-side store gets only an id of the generated shape: anything else never
        // reaches it.
        Backend::Server(_) => {
            let id = match raw {
                Raw::Id(id) => id.clone(),
                Raw::Other(text) => return Ok(Err(Miss::Rejected(text.len()))),
            };
            let loaded = ctx.backend.load(&id, fetch).await.map_err(|e| {
                tracing::error!(session = %id.log_tag(), error = %e, "session load failed");
                SessionError::Store(e)
            })?;
            (id, loaded)
        }
        Backend::Client(store) => {
            let seal_ctx = config.state.seal_context(binding);
            let raw = raw.as_str();
            let Some((id, record)) = store.open(raw, &seal_ctx) else {
                return Ok(Err(Miss::Rejected(raw.len())));
            };
            // The client carried the record, and with it the deadline its issuer sealed, under
            // the idle timeout of that deploy: hold it to this middleware's idle timeout too,
            // from the last-seen time sealed beside it (0, unknown: the deadline alone). A
            // server-side record is not: a store that does not keep the last-seen time reports
            // its creation time there (`Meta::new`), which would end sessions in use.
            let remember = config.remembered(record.data.get(REMEMBER_KEY));
            if !config.seen_recently(record.meta.last_seen, now, remember) {
                tracing::debug!(
                    session = %id.log_tag(),
                    "session idle past the idle timeout; starting a new session"
                );
                expired(ctx, &record.meta, Timeout::Idle);
                return Ok(Err(Miss::Ended));
            }
            // A client-side session of a user: it may have been revoked since it was sealed.
            if record.meta.user.is_some() {
                let check = store.revoked(&record.meta);
                let revoked = crate::telemetry::timed(crate::telemetry::Op::Revoked, check).await.map_err(|e| {
                    tracing::error!(session = %id.log_tag(), error = %e, "revocation check failed");
                    SessionError::Store(e)
                })?;
                if revoked {
                    tracing::info!(
                        session = %id.log_tag(),
                        "revoked session; starting a new session"
                    );
                    return Ok(Err(Miss::Ended));
                }
            }
            (id, Some(Loaded::whole(record)))
        }
    };
    // A server-side id the store does not know may be one that rotate_every replaced.
    let (id, loaded, resend) = match loaded {
        None if ctx.config.rotation.is_some() => {
            // Boxed: only with rotate_every, kept out of the size of every load's future.
            match Box::pin(super::renew::replaced(ctx, &id, fetch, now)).await? {
                Replaced::Current(found) => {
                    let (current, loaded) = *found;
                    (current, Some(loaded), true)
                }
                Replaced::Ended => return Ok(Err(Miss::Ended)),
                Replaced::Unknown => (id, None, false),
            }
        }
        loaded => (id, loaded, false),
    };
    match loaded {
        Some(loaded) => {
            // A stored expiry later than this middleware's timeouts give: the session may have
            // a lifetime of its own. Read it (one key, if the load did not bring it) before the
            // timeouts apply.
            let (remember, lifetime) = match config.beyond_timeouts(&loaded.meta, now) {
                // Boxed: a rare path, kept out of the size of every load's future.
                true => Box::pin(own_lifetime(ctx, &id, &loaded)).await?,
                false => (None, None),
            };
            let meta = &loaded.meta;
            if config.alive_with(meta.created_at, meta.expires_at, now, remember) {
                return Ok(Ok(Found {
                    id,
                    loaded,
                    lifetime,
                    remember,
                    resend,
                }));
            }
            tracing::debug!(session = %id.log_tag(), "session expired; starting a new session");
            expired(ctx, meta, config.ended_by(meta.created_at, now, remember));
            Ok(Err(Miss::Ended))
        }
        None => {
            tracing::debug!(session = %id.log_tag(), "unknown session id; starting a new session");
            Ok(Err(Miss::Unknown))
        }
    }
}

/// A device-bound session (feature `dbsc`) without its current bound cookie is refused (403,
/// through the builder's renderer): never opened unbound.
#[cfg(feature = "dbsc")]
fn device_bound(
    ctx: &Ctx,
    data: &Data,
    cookie: Option<&str>,
    now: u64,
) -> Result<(), SessionError> {
    let Some(binding) = data
        .value(crate::keys::DBSC_KEY)
        .and_then(|bytes| ctx.config.codec.decode::<crate::dbsc::Binding>(&bytes).ok())
    else {
        return Ok(());
    };
    if !binding.bound() || binding.admits(cookie, now) {
        return Ok(());
    }
    tracing::info!(
        session = %data.id().log_tag(),
        cookie = cookie.is_some(),
        "device-bound session without its current bound cookie: request refused"
    );
    Err(SessionError::Rejected {
        key: crate::keys::DBSC_KEY,
        status: actix_web::http::StatusCode::FORBIDDEN,
        location: None,
    })
}

/// Reports that a presented session had timed out.
fn expired(ctx: &Ctx, meta: &Meta, by: Timeout) {
    let at = ctx.config.clock.now_millis();
    let kind = SessionEventKind::Expired(by);
    ctx.config.events.emit(kind, 1, || {
        SessionEvent::new(kind, at).of(meta.user.as_ref())
    });
}

/// The loaded session's own lifetime, fetched if the load did not bring it (with what that
/// extra load answered, for the request's data).
async fn own_lifetime(
    ctx: &Ctx,
    id: &SessionId,
    loaded: &Loaded,
) -> Result<(Option<u64>, Option<Option<Loaded>>), SessionError> {
    if let Some(value) = loaded.known(REMEMBER_KEY) {
        return Ok((ctx.config.remembered(value.as_ref()), None));
    }
    let fetch = Fetch::Keys(&[REMEMBER_KEY]);
    let more = ctx.backend.load(id, fetch).await.map_err(|e| {
        tracing::error!(session = %id.log_tag(), error = %e, "session load failed");
        SessionError::Store(e)
    })?;
    let value = more.as_ref().and_then(|l| l.known(REMEMBER_KEY)).flatten();
    Ok((ctx.config.remembered(value.as_ref()), Some(more)))
}
