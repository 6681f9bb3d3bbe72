//! Helpers shared by the HTTP-level tests: cookie parsing, a store that counts its calls, a store
//! that fails on demand.
#![allow(dead_code)]

pub mod redis;

use std::sync::Arc;

use actix_typed_session::store::{Changes, Record, SealContext, SessionStore, Unsealed};
use actix_typed_session::{SessionId, StoreError};

#[allow(unused_imports)] // not every test binary uses every helper
pub use actix_typed_session::testing::*;

/// The conformance suite's app on `$store` with `$clock` (see `testing::conformance::app`).
#[macro_export]
macro_rules! suite_app {
    ($store:expr, $clock:expr) => {
        actix_typed_session::testing::conformance::app($store, $clock).await
    };
}

/// A store that keeps something alive (a redis-server, a temp dir) as long as any clone of it.
#[derive(Clone)]
pub struct Guarded<S> {
    pub store: S,
    pub guard: Arc<dyn std::any::Any + Send + Sync>,
}

impl<S: SessionStore> SessionStore for Guarded<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.store.load(id).await
    }
    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        changes: &Changes,
    ) -> Result<(), StoreError> {
        self.store.save(id, record, changes).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.store.delete(id).await
    }
    async fn touch(&self, id: &SessionId, record: &Record) -> Result<(), StoreError> {
        self.store.touch(id, record).await
    }
    fn unseal(&self, value: &str, ctx: &SealContext<'_>) -> Option<Unsealed> {
        self.store.unseal(value, ctx)
    }
    fn client_binding(&self, req: &actix_web::HttpRequest) -> Option<Vec<u8>> {
        self.store.client_binding(req)
    }
    fn client_side(&self) -> bool {
        self.store.client_side()
    }
    fn seal(
        &self,
        id: &SessionId,
        record: &Record,
        ctx: &SealContext<'_>,
    ) -> Result<actix_typed_session::store::ClientValue, actix_typed_session::SessionError> {
        self.store.seal(id, record, ctx)
    }
}

/// A unique temp directory, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ats-{tag}-{}-{}",
            std::process::id(),
            SessionId::generate().log_tag()
        ));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything `tracing` writes while the returned guard lives (all levels, no colours).
pub fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// The text a [`capture_logs`] subscriber wrote.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
