//! The devices example (`examples/devices.rs`) with its metrics: with the library's `metrics`
//! feature, the session layer counts its events by kind and reason
//! (`session_events_total`) and times every store call (`session_store_seconds`, failures in
//! `session_store_errors_total`), per operation, through the `metrics` facade; here the
//! Prometheus exporter renders them as text at `/metrics`, for Prometheus to scrape.
//!
//! ```text
//! cargo run --example metrics --features metrics
//! ```
//! then sign in at <http://127.0.0.1:8080/> and read <http://127.0.0.1:8080/metrics>.
//! `tests/metrics.rs` runs this app on a real server and scrapes it.

use std::sync::OnceLock;

use actix_typed_session::clock::SystemClock;
use actix_typed_session::store::MemoryStore;
use actix_web::{web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

#[allow(dead_code)] // its `main` runs only as its own example
#[path = "devices.rs"]
mod devices;

/// The process's Prometheus recorder, installed on the first call (a process has one global
/// recorder: every later call gets the same handle).
///
/// # Panics
/// If another recorder was installed first.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder in this process")
        })
        .clone()
}

/// `GET /metrics`: everything recorded so far, in Prometheus's text format.
async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// The devices example's routes and data, and `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig, activity: &devices::Activity) {
    cfg.app_data(web::Data::new(activity.clone()))
        .app_data(web::Data::new(prometheus()))
        .route("/metrics", web::get().to(metrics))
        .configure(devices::routes);
}

/// The example's server on `addr`, with `workers` workers, sharing one memory store and one
/// activity log; and the address it listens on (port 0 picks a free one).
pub fn server(
    addr: &str,
    workers: usize,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    // The recorder first: what is recorded before it is installed is lost.
    prometheus();
    let activity = devices::Activity::default();
    let sessions = devices::middleware(MemoryStore::default(), SystemClock, &activity);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .configure(|cfg| configure(cfg, &activity))
    })
    .workers(workers)
    .bind(addr)?;
    let bound = server.addrs()[0];
    Ok((server.run(), bound))
}

#[allow(dead_code)] // not when `tests/metrics.rs` includes this file
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let (server, bound) = server(&addr, 2)?;
    println!("metrics example listening on http://{bound}/ (metrics at /metrics)");
    server.await
}
