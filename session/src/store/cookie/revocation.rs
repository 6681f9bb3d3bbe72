//! The users' "valid after" records of a `CookieStore`: where a revocation is written, and how
//! a cookie tied to a user is checked against it.

use std::time::Duration;

use sha2::Sha256;

use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::{Bytes, Changes, DynStore, Fetch, Handle, Meta, SessionUser, UserKey};

/// How long a [revocation record] is kept by default: 7 days,
/// the middleware's default absolute timeout (and seven times its default idle timeout). See
/// [`CookieStoreBuilder::revocation_ttl`](super::CookieStoreBuilder::revocation_ttl).
///
/// [revocation record]: super::CookieStoreBuilder::revocations
pub const DEFAULT_REVOCATION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The value of a revocation record that holds the user's "valid after" time (Unix
/// milliseconds, in decimal).
const REVOKED_BEFORE: &str = "valid_after_ms";
/// The value of a revocation record that holds the handle of the session the revocation kept
/// (`expire_others`), if any.
const REVOKED_EXCEPT: &str = "except";
/// Seconds a revocation record outlives its TTL: for the cookies of requests that were in flight
/// when it was written (sealed after it, with an expiry up to the TTL from their seal).
const REVOCATION_MARGIN: u64 = 60;
/// Prefix of the hash that names a user's revocation record.
const REVOCATION_LABEL: &[u8] = b"actix-typed-session/cookie-revocation\0";

/// Where a [`CookieStore`](super::CookieStore) keeps each user's "valid after" time.
pub(super) struct Revocations {
    pub(super) store: Box<dyn DynStore>,
    /// Seconds a record lives (and the longest a user's cookie is sealed to live).
    pub(super) ttl: u64,
}

impl Revocations {
    /// Writes `user`'s record at `now_ms` (the store's clock): the time, and the handle of the
    /// session the revocation keeps, if any. One write.
    pub(super) async fn revoke_all(
        &self,
        now_ms: u64,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<(), StoreError> {
        let now = now_ms / 1000;
        // A cookie of the user sealed until now expires within the TTL from now (the seal
        // caps it), or from the end of a request in flight (re-sealed a little later): a
        // minute more for those.
        let meta = Meta::new(
            now,
            now.saturating_add(self.ttl)
                .saturating_add(REVOCATION_MARGIN),
        );
        let mut data = vec![(
            REVOKED_BEFORE.to_owned(),
            Bytes::from(now_ms.to_string().into_bytes()),
        )];
        if let Some(handle) = except {
            data.push((
                REVOKED_EXCEPT.to_owned(),
                Bytes::copy_from_slice(handle.as_str().as_bytes()),
            ));
        }
        self.store
            .save(&revocation_id(user), &meta, &Changes::full(data))
            .await?;
        tracing::debug!(
            user = %user.log_tag(),
            kept = except.is_some(),
            "cookie sessions of the user revoked"
        );
        Ok(())
    }

    /// Whether a session tied to `user` since `since` (milliseconds) is ended by the user's
    /// record: tied at or before its time, and not the session it kept. One load of the store.
    pub(super) async fn revoked(&self, user: &SessionUser, since: u64) -> Result<bool, StoreError> {
        let Some(loaded) = self
            .store
            .load(
                &revocation_id(&user.key),
                Fetch::Keys(&[REVOKED_BEFORE, REVOKED_EXCEPT]),
            )
            .await?
        else {
            return Ok(false);
        };
        let record = loaded.into_record();
        let valid_after = record
            .data
            .get(REVOKED_BEFORE)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
        let Some(valid_after) = valid_after else {
            // Only a bug or someone with write access to the store makes one: refuse the
            // cookie rather than trust it.
            tracing::error!(user = %user.key.log_tag(), "unreadable revocation record");
            return Ok(true);
        };
        if since > valid_after {
            return Ok(false);
        }
        let kept = record
            .data
            .get(REVOKED_EXCEPT)
            .is_some_and(|h| h[..] == *user.handle.as_str().as_bytes());
        Ok(!kept)
    }
}

/// The id of `user`'s revocation record: `~` and 31 characters of a labelled hash of the user
/// key. `~` is outside the id alphabet, so no client can present it as a session id (the
/// record is never a session of a middleware that shares the store).
fn revocation_id(user: &UserKey) -> SessionId {
    use sha2::Digest as _;
    let digest = Sha256::new()
        .chain_update(REVOCATION_LABEL)
        .chain_update(user.digest())
        .finalize();
    SessionId::internal_digest(b'~', &digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's revocation record has an id no client can present, the same for every store
    /// and process, and its own for each user.
    #[test]
    fn revocation_ids_are_per_user_and_never_a_client_id() {
        let ann = revocation_id(&UserKey::of("ann"));
        assert_eq!(ann, revocation_id(&UserKey::of("ann")));
        assert_ne!(ann, revocation_id(&UserKey::of("bob")));
        assert!(SessionId::parse(ann.as_str()).is_none());
        assert!(!ann.as_str().contains("ann"));
        assert_eq!(ann.store_key().len(), 64);
    }
}
