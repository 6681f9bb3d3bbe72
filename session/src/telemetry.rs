//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): session
//! events counted by kind, store calls timed and their failures counted, per operation. Without
//! the feature every function here is empty (and [`timed`] hands the future back as it is), so
//! the calls cost nothing.
//!
//! The names, as an exporter shows them (the crate docs list them too, "Metrics"):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `session_events_total` | counter | `kind` (`created`, `tied`, `rotated`, `expired`, `revoked`, `rejected`), `reason` (see [`SessionEventKind::reason`](crate::SessionEventKind::reason)) |
//! | `session_store_seconds` | histogram | `op`: `load`, `save`, `touch`, `delete`, `change_id`, `list`, `revoke`, `revoke_all`, `revoked` (a client-side store's revocation check) |
//! | `session_store_errors_total` | counter | `op`, as above |
//!
//! A leaf: it knows nothing of the layers that call it.

use std::future::Future;

use crate::error::StoreError;

/// Counts `n` events of `kind` for `reason`.
#[cfg(feature = "metrics")]
pub(crate) fn event(kind: &'static str, reason: &'static str, n: usize) {
    metrics::counter!("session_events_total", "kind" => kind, "reason" => reason)
        .increment(n as u64);
}

/// Counts `n` events of `kind` for `reason` (the `metrics` feature is off: nothing).
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn event(_kind: &'static str, _reason: &'static str, _n: usize) {}

/// The store call `call`, timed as `op`, its failure counted.
#[cfg(feature = "metrics")]
pub(crate) async fn timed<T>(
    op: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let start = std::time::Instant::now();
    let result = call.await;
    metrics::histogram!("session_store_seconds", "op" => op).record(start.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!("session_store_errors_total", "op" => op).increment(1);
    }
    result
}

/// The store call `call` as it is (the `metrics` feature is off).
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn timed<T, F>(_op: &'static str, call: F) -> F
where
    F: Future<Output = Result<T, StoreError>>,
{
    call
}
