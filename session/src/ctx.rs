//! One middleware's context: its store, its settings, and the old stores sessions may still be
//! carried over from; shared by every request of that middleware.

use crate::config::Config;
use crate::error::StoreError;
use crate::migrate::Migrations;
use crate::store::backend::Backend;
use crate::store::{Handle, Record, UserKey};

/// Per-middleware context: the store and the settings.
pub(crate) struct Ctx {
    pub(crate) backend: Backend,
    pub(crate) config: Config,
    /// Which [`MemoryStore`](crate::store::MemoryStore) this is, when it is one: its sessions
    /// live in this value, so every worker must hold a clone of the same one.
    pub(crate) process_local: Option<usize>,
    /// Old stores whose sessions are carried over on first use ([`crate::migrate`]).
    pub(crate) migrations: Migrations,
}

/// The user index, across the store and the old stores sessions are still carried over from
/// ([`crate::migrate`]): a user's sessions are wherever they are, and end in both.
impl Ctx {
    /// `user`'s live sessions.
    pub(crate) async fn user_sessions(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        let mut listed = self.backend.user_sessions(user).await?;
        if !self.migrations.is_empty() {
            self.migrations.user_sessions(user, &mut listed).await?;
        }
        Ok(listed)
    }

    /// Ends `user`'s session `handle`.
    pub(crate) async fn revoke(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        let ended = self.backend.revoke(user, handle).await?;
        if self.migrations.is_empty() {
            return Ok(ended);
        }
        Ok(self.migrations.revoke(user, handle).await? || ended)
    }

    /// Ends `user`'s sessions but `except`.
    pub(crate) async fn revoke_all(
        &self,
        user: &UserKey,
        except: Option<&Handle>,
    ) -> Result<usize, StoreError> {
        let ended = self.backend.revoke_all(user, except).await?;
        if self.migrations.is_empty() {
            return Ok(ended);
        }
        Ok(ended + self.migrations.revoke_all(user, except).await?)
    }
}
