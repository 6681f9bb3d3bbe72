//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): session
//! events counted by kind, store calls timed and their failures counted, per operation. Without
//! the feature every function here is empty (and [`timed`] hands the future back as it is), so
//! the calls cost nothing. With it, every key is a `static` (no allocation per record), and a
//! record with no recorder installed is the facade's no-op.
//!
//! The names are in the crate docs ("Metrics"). A leaf: it knows nothing of the layers that call
//! it.

use std::future::Future;

use crate::error::StoreError;

/// A store operation, as the `op` label names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Load,
    Save,
    Touch,
    Delete,
    ChangeId,
    List,
    Revoke,
    RevokeAll,
    /// A client-side store's revocation check.
    Revoked,
}

#[cfg(feature = "metrics")]
mod keys {
    use metrics::{Key, Label, Level, Metadata};

    pub(super) static META: Metadata<'static> =
        Metadata::new("actix_typed_session", Level::INFO, Some(module_path!()));

    /// The `op` label of each [`Op`](super::Op), in its order.
    static OPS: [[Label; 1]; 9] = [
        [Label::from_static_parts("op", "load")],
        [Label::from_static_parts("op", "save")],
        [Label::from_static_parts("op", "touch")],
        [Label::from_static_parts("op", "delete")],
        [Label::from_static_parts("op", "change_id")],
        [Label::from_static_parts("op", "list")],
        [Label::from_static_parts("op", "revoke")],
        [Label::from_static_parts("op", "revoke_all")],
        [Label::from_static_parts("op", "revoked")],
    ];

    macro_rules! by_op {
        ($name:literal) => {
            [
                Key::from_static_parts($name, &OPS[0]),
                Key::from_static_parts($name, &OPS[1]),
                Key::from_static_parts($name, &OPS[2]),
                Key::from_static_parts($name, &OPS[3]),
                Key::from_static_parts($name, &OPS[4]),
                Key::from_static_parts($name, &OPS[5]),
                Key::from_static_parts($name, &OPS[6]),
                Key::from_static_parts($name, &OPS[7]),
                Key::from_static_parts($name, &OPS[8]),
            ]
        };
    }

    /// `session_store_seconds`, by [`Op`](super::Op).
    pub(super) static SECONDS: [Key; 9] = by_op!("session_store_seconds");
    /// `session_store_errors_total`, by [`Op`](super::Op).
    pub(super) static ERRORS: [Key; 9] = by_op!("session_store_errors_total");

    macro_rules! event_labels {
        ($(($kind:literal, $reason:literal)),* $(,)?) => {
            [$([
                Label::from_static_parts("kind", $kind),
                Label::from_static_parts("reason", $reason),
            ]),*]
        };
    }

    /// The `kind` and `reason` labels of every event.
    static EVENT_LABELS: [[Label; 2]; 15] = event_labels!(
        ("created", ""),
        ("tied", ""),
        ("rotated", ""),
        ("expired", "idle"),
        ("expired", "absolute"),
        ("revoked", "user"),
        ("revoked", "other_device"),
        ("revoked", "cap"),
        ("revoked", "admin"),
        ("revoked", "reuse"),
        ("reused", ""),
        ("rejected", "csrf"),
        ("rejected", "step_up"),
        ("rejected", "guard"),
        ("rejected", "device_bound"),
    );

    /// `session_events_total`, by kind and reason (in the order of `EVENT_LABELS`).
    pub(super) static EVENTS: [Key; 15] = [
        Key::from_static_parts("session_events_total", &EVENT_LABELS[0]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[1]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[2]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[3]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[4]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[5]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[6]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[7]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[8]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[9]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[10]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[11]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[12]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[13]),
        Key::from_static_parts("session_events_total", &EVENT_LABELS[14]),
    ];

    /// The key of `kind` and `reason`, if they are an event's.
    pub(super) fn event(kind: &str, reason: &str) -> Option<&'static Key> {
        let at = EVENT_LABELS
            .iter()
            .position(|l| l[0].value() == kind && l[1].value() == reason)?;
        Some(&EVENTS[at])
    }
}

/// Counts `n` events of `kind` for `reason`.
#[cfg(feature = "metrics")]
pub(crate) fn event(kind: &'static str, reason: &'static str, n: usize) {
    let Some(key) = keys::event(kind, reason) else {
        return;
    };
    metrics::with_recorder(|r| r.register_counter(key, &keys::META).increment(n as u64));
}

/// Counts `n` events of `kind` for `reason` (the `metrics` feature is off: nothing).
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn event(_kind: &'static str, _reason: &'static str, _n: usize) {}

/// The store call `call`, timed as `op`, its failure counted.
#[cfg(feature = "metrics")]
pub(crate) async fn timed<T>(
    op: Op,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let start = std::time::Instant::now();
    let result = call.await;
    let seconds = start.elapsed().as_secs_f64();
    metrics::with_recorder(|r| {
        r.register_histogram(&keys::SECONDS[op as usize], &keys::META)
            .record(seconds);
        if result.is_err() {
            r.register_counter(&keys::ERRORS[op as usize], &keys::META)
                .increment(1);
        }
    });
    result
}

/// The store call `call` as it is (the `metrics` feature is off).
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn timed<T, F>(_op: Op, call: F) -> F
where
    F: Future<Output = Result<T, StoreError>>,
{
    call
}

/// Whether `kind` and `reason` have their key (for the events' tests).
#[cfg(all(test, feature = "metrics"))]
pub(crate) fn counts(kind: &str, reason: &str) -> bool {
    keys::event(kind, reason).is_some()
}
