//! Keyward's HTTP server. A request flows one way: HTTP → SigV4 ([`auth`]) → codec
//! (`keyward_protocol`) → handler ([`kms`]) → store → typed response or typed error →
//! codec → HTTP. [`app`] builds the router so tests drive it in-process; [`run`] owns the
//! listener, the background jobs and shutdown.

mod audit;
mod auth;
mod authz;
mod bindings;
mod bootstrap;
mod cache;
mod changes;
mod cloudtrail;
pub mod config;
mod errors;
mod http;
mod iam;
pub mod jobs;
mod kms;
mod query;
mod secrets;
mod state;

use std::future::Future;

pub use bootstrap::{open, open_blocking, open_store, BootstrapError, Opened};
pub use config::{Config, Storage};
pub use http::app;
pub use keyward_core::AccountId;
pub use state::AppState;

/// Runs the server until `shutdown` resolves: opens the data directory, serves, runs the
/// background jobs, then drains in-flight requests. Every write is committed before its
/// response is sent, so nothing acknowledged is lost on stop.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BootstrapError> {
    let opened = open(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| BootstrapError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| BootstrapError::Io(e.to_string()))?;
    tracing::info!("keyward listening on {local}");
    serve(listener, opened.state, config.job_interval, shutdown).await
}

/// Serves an already-bound listener; used by [`run`] and by tests that pick their port.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    job_interval: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BootstrapError> {
    let jobs = tokio::spawn(jobs::run_periodically(state.clone(), job_interval));
    let router = app(state);
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| BootstrapError::Io(e.to_string()));
    jobs.abort();
    tracing::info!("keyward stopped");
    result
}
