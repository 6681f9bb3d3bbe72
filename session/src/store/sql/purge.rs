//! The background purge of a SQL store: the loop that runs a dialect's [`Purge`] every
//! interval (with jitter, surviving failures, ending with the store) and the indexed column it
//! walks ([`purge_mark`]).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::columns::to_i64;
use super::PURGE_STEP;
use crate::error::StoreError;

/// One round of the background purge of a SQL store.
pub(crate) trait Purge: Send + Sync + 'static {
    /// Deletes expired sessions (in batches); answers how many went.
    fn purge(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Starts the background purge of `store` once (the first call that finds a Tokio runtime);
/// later calls do nothing.
///
/// The task sleeps `interval` ± 10 % (jitter: app servers started together do not purge in
/// step), then runs [`Purge::purge`]; a failed round is logged at `warn` and tried again after
/// the next interval, never ending the task. It holds only a weak reference: once every clone of
/// the store is dropped, the task ends at its next wake-up.
pub(crate) fn start_purge<P: Purge>(store: &Arc<P>, started: &AtomicBool, interval: Duration) {
    if started.load(Ordering::Relaxed) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if started.swap(true, Ordering::AcqRel) {
        return;
    }
    let weak: Weak<P> = Arc::downgrade(store);
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(jittered(interval)).await;
            let Some(store) = weak.upgrade() else {
                break;
            };
            match store.purge().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(sessions = n, "expired sessions purged"),
                Err(err) => {
                    tracing::warn!(error = %err, "purge of expired sessions failed; retried next interval")
                }
            }
        }
    });
}

/// `interval` ± 10 %, at random.
pub(crate) fn jittered(interval: Duration) -> Duration {
    use rand::Rng;
    let tenth = interval / 10;
    if tenth.is_zero() {
        return interval;
    }
    let spread = rand::thread_rng().gen_range(Duration::ZERO..=tenth * 2);
    interval - tenth + spread
}

/// The value of the indexed purge column for a session expiring at `expires_at`: the expiry
/// rounded up to a multiple of [`PURGE_STEP`]. A save sets the column to this only when the
/// stored value is below `expires_at` (`CASE WHEN purge_at < $expires THEN $mark ELSE purge_at`),
/// so a session whose idle deadline slides forward moves it once every `PURGE_STEP` seconds,
/// not on every save. A row is purged once `purge_at` is past, never before its expiry.
pub(crate) fn purge_mark(expires_at: u64) -> i64 {
    let mark = expires_at.div_ceil(PURGE_STEP).saturating_mul(PURGE_STEP);
    to_i64(mark)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_marks_move_in_steps_and_never_precede_the_expiry() {
        assert_eq!(purge_mark(0), 0);
        assert_eq!(purge_mark(1), 300);
        assert_eq!(purge_mark(300), 300);
        assert_eq!(purge_mark(301), 600);
        for e in [1_700_000_001u64, 1_700_000_299] {
            assert!(purge_mark(e) >= to_i64(e));
            assert!(purge_mark(e) < to_i64(e + PURGE_STEP));
        }
        assert_eq!(purge_mark(u64::MAX), i64::MAX);
    }

    #[test]
    fn jitter_stays_within_a_tenth() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(100));
            assert!(d >= Duration::from_secs(90) && d <= Duration::from_secs(110));
        }
    }

    /// A purge that fails its first rounds, then counts.
    struct Flaky(Arc<std::sync::atomic::AtomicU64>);

    impl Purge for Flaky {
        async fn purge(&self) -> Result<u64, StoreError> {
            match self.0.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(StoreError::msg("database down")),
                _ => Ok(1),
            }
        }
    }

    #[tokio::test]
    async fn the_purge_loop_survives_failures_starts_once_and_ends_with_the_store() {
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let store = Arc::new(Flaky(count.clone()));
        let started = AtomicBool::new(false);
        let interval = Duration::from_millis(10);
        start_purge(&store, &started, interval);
        start_purge(&store, &started, interval); // no second task
        let rounds = || count.load(Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while rounds() < 5 {
            assert!(std::time::Instant::now() < deadline, "the loop stopped");
            tokio::time::sleep(interval).await;
        }
        drop(store);
        tokio::time::sleep(interval * 3).await;
        let at_drop = rounds();
        tokio::time::sleep(interval * 10).await;
        assert_eq!(rounds(), at_drop, "the task ended with the store");
    }
}
