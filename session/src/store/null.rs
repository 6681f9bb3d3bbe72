//! [`NullStore`]: keeps nothing.

use super::{Changes, Fetch, Loaded, Meta, SessionStore};
use crate::error::StoreError;
use crate::id::SessionId;

/// A store that keeps nothing: every request starts a new, empty session; writes are accepted
/// and dropped. For apps that want the session API without state (tests, previews, a feature
/// switched off), as Plack's Null store.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullStore;

impl SessionStore for NullStore {
    async fn load(&self, _: &SessionId, _: Fetch<'_>) -> Result<Option<Loaded>, StoreError> {
        Ok(None)
    }

    async fn save(&self, _: &SessionId, _: &Meta, _: &Changes) -> Result<(), StoreError> {
        Ok(())
    }

    async fn delete(&self, _: &SessionId) -> Result<(), StoreError> {
        Ok(())
    }

    async fn touch(&self, _: &SessionId, _: &Meta) -> Result<(), StoreError> {
        Ok(())
    }
}
