//! How [`RedisStore`](super::RedisStore) reads a whole session (what the untyped `Session`
//! handle and the read cache need): `HGETALL`, or the `LOAD_ALL` script that answers the hash
//! packed as one MessagePack string, chosen by the sizes of the sessions read lately.
//!
//! # The trade-off
//!
//! The two cost the same round trip; they split the work differently between Redis and the
//! app server (measured on this project's 2-core machine, Redis 7.0):
//!
//! | | Redis CPU per load | app server per load |
//! |---|---:|---:|
//! | `HGETALL`, 4 fields | 0.7 µs | the client parses 8 replies |
//! | `LOAD_ALL`, 4 fields | 4.4 µs (the script's own cost) | one buffer |
//! | `HGETALL`, 1000 fields | 94 µs | ≈ 3.5 M instructions: redis-rs parses 2000 replies |
//! | `LOAD_ALL`, 1000 fields | 390 µs | ≈ 0.3 M instructions in all for the request |
//!
//! Redis is the one resource every app server shares, and a script costs it a few
//! microseconds more per load, so small sessions are read with `HGETALL` (over real HTTP,
//! `benches/wrk.sh` with Redis on the same 2 cores, one-key sessions always loaded by the script
//! served 47–49 k reads/s against 54–57 k with `HGETALL`). Past about a
//! hundred values, the client's parse of `HGETALL` costs the request more than the script
//! costs Redis (a 1000-key session: 511 µs per read against 715 µs, `cargo bench --bench
//! sessions -- keys/ours/redis`), so once the sessions read lately are that large, loads use
//! the script. The choice follows a small score: each load of a large session raises it by
//! two, each of a small one lowers it by one, and the script is used while it is at half or
//! more; so an app whose sessions are mostly large uses the script after two loads, and one
//! whose sessions are mostly small keeps `HGETALL`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use deadpool_redis::redis;

use super::fields::{parse, Packed};
use super::scripts::LOAD_ALL;
use super::RedisStore;
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::{Loaded, Meta, Record};

/// A session of this many values or more counts as large.
pub(super) const LARGE: usize = 100;
const TOP: u8 = 8;
const PACKED_FROM: u8 = TOP / 2;

/// The score of the sizes of the sessions read lately (see the module docs).
#[derive(Default)]
pub(super) struct Sizes(AtomicU8);

impl Sizes {
    fn packed(&self) -> bool {
        self.0.load(Ordering::Relaxed) >= PACKED_FROM
    }

    fn saw(&self, values: usize) {
        let score = self.0.load(Ordering::Relaxed);
        let next = if values >= LARGE {
            (score + 2).min(TOP)
        } else {
            score.saturating_sub(1)
        };
        if next != score {
            // Racing loads may each write their own: the score is a hint, not a count.
            self.0.store(next, Ordering::Relaxed);
        }
    }
}

/// A whole session as read.
pub(super) enum Whole {
    /// From `HGETALL`.
    Map(Record),
    /// From `LOAD_ALL`: the values stay in the buffer Redis sent.
    Packed(Meta, Packed),
}

impl Whole {
    fn values(&self) -> usize {
        match self {
            Whole::Map(record) => record.data.len(),
            Whole::Packed(_, packed) => packed.len(),
        }
    }

    /// As a load's answer.
    pub(super) fn into_loaded(self) -> Loaded {
        match self {
            Whole::Map(record) => Loaded::whole(record),
            Whole::Packed(meta, packed) => Loaded::live(meta, Arc::new(packed)),
        }
    }

    /// As a map of every value (what the read cache keeps: it is read again and again).
    pub(super) fn into_record(self) -> Record {
        match self {
            Whole::Map(record) => record,
            Whole::Packed(meta, packed) => packed.into_record(meta),
        }
    }
}

impl RedisStore {
    /// The whole session under `key` (the key of `id`), in one round trip.
    pub(super) async fn load_whole(
        &self,
        key: &str,
        id: &SessionId,
    ) -> Result<Option<Whole>, StoreError> {
        let whole = if self.inner.sizes.packed() {
            let packed: Option<Vec<u8>> = self.eval(&LOAD_ALL, &[key], |_| {}).await?;
            packed
                .and_then(|packed| Packed::read(packed, id))
                .map(|(meta, packed)| Whole::Packed(meta, packed))
        } else {
            let mut cmd = redis::cmd("HGETALL");
            cmd.arg(key);
            let fields: Vec<(Vec<u8>, Vec<u8>)> = self.run(cmd).await?;
            parse(fields, id).map(Whole::Map)
        };
        if let Some(whole) = &whole {
            self.inner.sizes.saw(whole.values());
        }
        Ok(whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mostly_large_sessions_switch_to_the_script_and_mostly_small_ones_back() {
        let sizes = Sizes::default();
        assert!(!sizes.packed(), "HGETALL to begin with");
        sizes.saw(LARGE);
        assert!(!sizes.packed());
        sizes.saw(LARGE);
        assert!(sizes.packed(), "after two large loads");
        for _ in 0..20 {
            sizes.saw(LARGE);
            sizes.saw(1);
        }
        assert!(sizes.packed(), "half large: still the script");
        for _ in 0..5 {
            sizes.saw(1);
        }
        assert!(!sizes.packed(), "small ones bring HGETALL back");
        for _ in 0..20 {
            sizes.saw(LARGE);
            for _ in 0..9 {
                sizes.saw(1);
            }
        }
        assert!(!sizes.packed(), "one large in ten: HGETALL");
    }
}
