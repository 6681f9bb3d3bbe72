//! The commit rules: what happens to the store and to the client when a request ends. The one
//! place that decides; [`commit`](super::commit) carries the plan out.
//!
//! [`decide`] reads like this table, in order (the first row that applies wins):
//!
//! | options / state            | store                                   | client                         |
//! |----------------------------|-----------------------------------------|--------------------------------|
//! | `expire` (beats all, even a 5xx) | delete the stored record          | removal cookie                 |
//! | response is 5xx            | nothing                                 | nothing                        |
//! | session never loaded       | nothing                                 | nothing                        |
//! | `change_id`                | move the stored session to a new id with this request's changes, if it still lives (even with `no_store`) | the new id; a removal if it ended meanwhile |
//! | `no_store`                 | nothing                                 | nothing                        |
//! | id older than `rotate_every` (not under `late_store`) | move the session to a new id, and leave a tombstone for the old one (its grace window) | the new id |
//! | data changed               | save the changed keys                   | id when new, or to refresh a persistent cookie |
//! | new and still empty        | nothing                                 | nothing                        |
//! | unchanged, stored          | touch, only when the expiry moves by more than the refresh step | only a persistent cookie, when touched |
//!
//! A client-side store (the session sealed in the client's value) gets its value sent after
//! every save or touch, since the data travels with it.
//!
//! With `late_store` ([`defers`]), the store work waits for the end of a streamed body, when
//! [`decide`] runs on the data as the body left it; the response head carries only what the
//! client must learn at once ([`head_of_deferred`]).

use super::data::Data;
use super::Options;
use crate::config::Config;

/// What to do when the request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing to write, nothing to send.
    Nothing,
    /// Forget the session and remove the client's value.
    Expire,
    /// Move the data to a new id and send it (`change_id`: the old id dies at once).
    Rotate,
    /// Move the data to a new id and send it, leaving a tombstone for the old id that keeps it
    /// opening the session for the grace window (`rotate_every`).
    Renew,
    /// Save the changes; `send` the value to the client.
    Save { send: bool },
    /// Push the expiry forward; `send` the value to the client.
    Touch { send: bool },
}

impl Plan {
    /// Whether the session's expiry moves (and the client may be told it).
    pub(crate) fn announces(self) -> bool {
        matches!(
            self,
            Plan::Rotate | Plan::Renew | Plan::Save { .. } | Plan::Touch { .. }
        )
    }
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
    // A renewal's new id must leave with the head: not under late_store (the next request
    // renews).
    if let Some(rotation) = config.rotation {
        if data.existed()
            && !options.has(Options::LATE_STORE)
            && now >= data.id_since(config.codec).saturating_add(rotation.every)
        {
            return Plan::Renew;
        }
    }
    let refresh_client = config.state.refresh_on_touch(data.remember().is_some()) || data.resend();
    if data.changed() {
        return if empty_and_new {
            Plan::Nothing
        } else {
            Plan::Save {
                send: !data.existed() || refresh_client,
            }
        };
    }
    if data.existed() {
        let meta = data.meta();
        let next = config.expiry_with(meta.created_at, now, data.remember());
        // A signed-in session's last-seen time is kept fresh for its devices page.
        let seen_stale = meta.user.is_some()
            && config
                .seen_step
                .is_some_and(|step| now >= meta.last_seen.saturating_add(step.max(1)));
        if next > meta.expires_at.saturating_add(config.refresh_step) || seen_stale || data.resend()
        {
            return Plan::Touch {
                send: refresh_client,
            };
        }
    }
    Plan::Nothing
}

/// Whether the store work waits for the end of the response body (`late_store`): only for a
/// loaded session of a server-side store, without `expire`, on a response that is not a 5xx.
/// A client-side store's value must leave with the head, so it commits at once.
pub(crate) fn defers(
    options: Options,
    server_error: bool,
    loaded: bool,
    client_side: bool,
) -> bool {
    options.has(Options::LATE_STORE)
        && !options.has(Options::EXPIRE)
        && !server_error
        && loaded
        && !client_side
}

/// What a deferred commit's response head tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Head {
    /// Nothing.
    Keep,
    /// The session's id (new, or a persistent cookie's refresh).
    SendId,
    /// A new id, drawn now (`change_id`); the store moves the session when the body ends.
    RotateAndSend,
}

/// With `late_store`, what the client must learn with the response head.
pub(crate) fn head_of_deferred(options: Options, data: &Data, config: &Config) -> Head {
    if options.has(Options::CHANGE_ID) {
        return Head::RotateAndSend;
    }
    if options.has(Options::NO_STORE) {
        return Head::Keep;
    }
    if !data.existed() || config.state.refresh_on_touch(data.remember().is_some()) {
        return Head::SendId;
    }
    Head::Keep
}
