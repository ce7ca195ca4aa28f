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
mod lambda;
mod query;
mod secrets;
mod state;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;

pub use bootstrap::{open, open_blocking, open_store, BootstrapError, Opened};
pub use config::{Config, FunctionSettings, Storage};
pub use http::app;
pub use keyward_core::AccountId;
pub use state::AppState;

/// Runs the server until `shutdown` resolves: opens the data directory, serves, runs the
/// background jobs, then drains in-flight requests. Every write is committed before its
/// response is sent, so nothing acknowledged is lost on stop. With TLS, SIGHUP reloads the
/// certificate and key.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BootstrapError> {
    config.check_listen().map_err(BootstrapError::Config)?;
    // Before the store is opened, so a wrong path fails at once and changes nothing.
    let cert = match &config.tls {
        Some(files) => Some(Arc::new(
            tls::ReloadableCert::load(files.clone())
                .map_err(|e| BootstrapError::Config(format!("TLS: {e}")))?,
        )),
        None => None,
    };
    let opened = open(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| BootstrapError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| BootstrapError::Io(e.to_string()))?;
    let Some(cert) = cert else {
        tracing::info!("keyward listening on {local}");
        return serve(listener, opened.state, config.job_interval, shutdown).await;
    };
    let server_config = tls::server_config(cert.clone())
        .map_err(|e| BootstrapError::Config(format!("TLS: {e}")))?;
    // Installed before the "listening" line: SIGHUP's default action would end the process.
    let reloader = reload_on_hangup(cert)?;
    let listener = tls::TlsListener::new(listener, server_config)
        .map_err(|e| BootstrapError::Io(e.to_string()))?;
    tracing::info!("keyward listening on https://{local}");
    let result = serve_tls(listener, opened.state, config.job_interval, shutdown).await;
    reloader.abort();
    result
}

/// Reloads the certificate on every SIGHUP; a file that does not load leaves the current
/// certificate in place and is logged.
fn reload_on_hangup(
    cert: Arc<tls::ReloadableCert>,
) -> Result<tokio::task::JoinHandle<()>, BootstrapError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = signal(SignalKind::hangup())
            .map_err(|e| BootstrapError::Io(format!("cannot handle SIGHUP: {e}")))?;
        Ok(tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let reloaded = {
                    let cert = cert.clone();
                    tokio::task::spawn_blocking(move || cert.reload()).await
                };
                match reloaded {
                    Ok(Ok(())) => tracing::info!("TLS certificate and key reloaded"),
                    Ok(Err(err)) => tracing::error!(
                        error = %err,
                        "TLS certificate not reloaded; still serving the previous one"
                    ),
                    Err(err) => tracing::error!(error = %err, "TLS reload task failed"),
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        drop(cert);
        Ok(tokio::spawn(std::future::pending()))
    }
}

/// Serves an already-bound listener; used by [`run`] and by tests that pick their port.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    job_interval: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BootstrapError> {
    if let Ok(local) = listener.local_addr() {
        state.set_function_endpoint(function_endpoint("http", local));
    }
    let jobs = tokio::spawn(jobs::run_periodically(state.clone(), job_interval));
    let router = app(state.clone());
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| BootstrapError::Io(e.to_string()));
    jobs.abort();
    state.stop_functions().await;
    tracing::info!("keyward stopped");
    result
}

/// [`serve`] over TLS: the same router, jobs and graceful shutdown.
pub async fn serve_tls(
    listener: tls::TlsListener,
    state: AppState,
    job_interval: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BootstrapError> {
    if let Ok(local) = axum::serve::Listener::local_addr(&listener) {
        state.set_function_endpoint(function_endpoint("https", local));
    }
    let jobs = tokio::spawn(jobs::run_periodically(state.clone(), job_interval));
    let router = app(state.clone());
    // `tap_io` does nothing to the stream; axum gives `ConnectInfo<SocketAddr>` to any
    // tapped listener whose address is a `SocketAddr`, which audit events need.
    let result = axum::serve(
        listener.tap_io(|_| {}),
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| BootstrapError::Io(e.to_string()));
    jobs.abort();
    state.stop_functions().await;
    tracing::info!("keyward stopped");
    result
}

/// The URL functions reach the server at: loopback when it listens on every address.
fn function_endpoint(scheme: &str, local: SocketAddr) -> String {
    let host = match local.ip() {
        ip if ip.is_unspecified() && local.is_ipv6() => "[::1]".to_owned(),
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{host}:{}", local.port())
}
