//! The session keys this crate keeps its own data under: one place, below every feature that
//! uses them (the CSRF token, the flash messages) and everything that must know them (a new
//! id drops the CSRF token; a listing of sessions hides both).

/// The reserved session key under which the CSRF token is kept (URL-safe base64 of 32 random
/// bytes, encoded with the session's codec like any value). Do not use it for your own data.
/// One of the [`RESERVED_KEYS`], which a listing of sessions hides.
pub const CSRF_SESSION_KEY: &str = "__ats_csrf";

/// The session key that holds the flash messages. Reserved: do not use it for other values.
/// One of the [`RESERVED_KEYS`], which a listing of sessions hides.
pub const FLASH_KEY: &str = "_flash";

/// The session key under which [`Session::remember`](crate::Session::remember) keeps the
/// session's own lifetime (seconds). Reserved: do not use it for other values.
pub(crate) const REMEMBER_KEY: &str = "__ats_remember";

/// The session key under which the middleware keeps the device a session signed in from (its
/// user agent and IP; see [`SessionInfo::user_agent`](crate::SessionInfo::user_agent)).
/// Reserved: do not use it for other values.
pub(crate) const DEVICE_KEY: &str = "__ats_device";

/// The session key under which [`Session::mark_authenticated`](crate::Session::mark_authenticated)
/// keeps when the user last proved who they are (Unix milliseconds). Reserved.
pub(crate) const AUTH_KEY: &str = "__ats_auth";

/// The session key under which the middleware keeps when the session's id was last changed
/// (Unix seconds), for [`rotate_every`](crate::SessionMiddlewareBuilder::rotate_every); absent
/// until the first change (the creation time counts). Reserved.
pub(crate) const ROTATED_KEY: &str = "__ats_rot";

/// The session key under which a device-bound session (feature `dbsc`) keeps its binding: the
/// browser's public key, the waiting challenge, the current bound cookie. Reserved.
pub(crate) const DBSC_KEY: &str = "__ats_dbsc";

/// The session keys under which this crate keeps its own data in a session: the CSRF token
/// ([`CSRF_SESSION_KEY`], `"__ats_csrf"`), the flash messages waiting for the next request
/// ([`FLASH_KEY`], `"_flash"`), a "remember me" lifetime (`"__ats_remember"`, see
/// [`Session::remember`](crate::Session::remember)) and the device a session signed in from
/// (`"__ats_device"`, see [`SessionInfo::user_agent`](crate::SessionInfo::user_agent)) and the
/// time of the last step-up (`"__ats_auth"`, see
/// [`Session::mark_authenticated`](crate::Session::mark_authenticated)) and when the id last
/// changed (`"__ats_rot"`, see
/// [`rotate_every`](crate::SessionMiddlewareBuilder::rotate_every)) and a device-bound session's
/// binding (`"__ats_dbsc"`, feature `dbsc`). Do not use them for your own values.
///
/// [`SessionInfo`](crate::SessionInfo) hides them: a devices or admin page that lists another session's values
/// never sees that session's CSRF secret or its waiting messages. The request's own
/// [`Session`](struct@crate::Session) does not: [`Session::keys`](crate::Session::keys) (and [`len`](crate::Session::len)) count
/// them when they hold a value, [`Session::get`](crate::Session::get) reads them, and [`Session::clear`](crate::Session::clear) removes
/// them with everything else. Filter with this list where it matters:
///
/// ```
/// use actix_typed_session::{Session, RESERVED_KEYS};
///
/// fn app_keys(session: &Session) -> Vec<String> {
///     let mut keys = session.keys();
///     keys.retain(|k| !RESERVED_KEYS.contains(&k.as_str()));
///     keys
/// }
/// # let _ = app_keys;
/// ```
pub const RESERVED_KEYS: [&str; 7] = [
    CSRF_SESSION_KEY,
    FLASH_KEY,
    REMEMBER_KEY,
    DEVICE_KEY,
    AUTH_KEY,
    ROTATED_KEY,
    DBSC_KEY,
];
