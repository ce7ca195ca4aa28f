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
pub mod function_logs;
mod http;
mod iam;
pub mod jobs;
mod kms;
mod lambda;
mod limits;
pub mod pkcs11;
mod query;
mod quotas;
pub mod seal;
mod sealed;
mod secrets;
mod serve;
mod state;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use bootstrap::{open, open_blocking, open_store, BootstrapError, Opened};
pub use config::{Config, FunctionSettings, Storage};
pub use http::app;
pub use keyward_core::AccountId;
pub use seal::{rekey, NewSeal, RekeyReport, RootOfTrust, SealKind, SecretText};
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
    let prepared = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || bootstrap::prepare(&config))
            .await
            .map_err(|e| BootstrapError::Io(e.to_string()))??
    };
    // Either the full application with its jobs, or the gate of a sealed server, which
    // starts them when it is unsealed.
    let (router, jobs, gate, open_state) = match prepared.root {
        seal::Root::Open(drk) => {
            let finish_config = config.clone();
            let store = prepared.store;
            let opened = tokio::task::spawn_blocking(move || {
                bootstrap::finish(
                    &finish_config,
                    store,
                    &drk,
                    Arc::new(keyward_core::SystemClock),
                )
            })
            .await
            .map_err(|e| BootstrapError::Io(e.to_string()))??;
            let jobs = tokio::spawn(jobs::run_periodically(
                opened.state.clone(),
                config.job_interval,
            ));
            (
                app(opened.state.clone()),
                Some(jobs),
                None,
                Some(opened.state),
            )
        }
        seal::Root::Sealed(unsealer) => {
            let threshold = unsealer.threshold();
            let gate = sealed::Gate::new(
                unsealer,
                config.clone(),
                prepared.store,
                Arc::new(keyward_core::SystemClock),
            );
            tracing::warn!(
                threshold,
                "Keyward is sealed: it answers every request with an error until {threshold} keyholders run keyward unseal"
            );
            (gate.router(), None, Some(gate), None)
        }
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| BootstrapError::Io(format!("cannot listen on {}: {e}", config.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| BootstrapError::Io(e.to_string()))?;
    // Functions call back into this server, on the address it listens on.
    let scheme = if cert.is_some() { "https" } else { "http" };
    let endpoint = function_endpoint(scheme, local);
    if let Some(state) = &open_state {
        state.set_function_endpoint(endpoint.clone());
    }
    if let Some(gate) = &gate {
        gate.set_function_endpoint(endpoint);
    }
    let limits = config.limits;
    match cert {
        None => {
            tracing::info!("keyward listening on {local}");
            let acceptor = serve::PlainAcceptor::new(listener, limits.max_connections);
            serve::serve_connections(acceptor, router, limits.header_timeout, shutdown).await;
        }
        Some(cert) => {
            let server_config = tls::server_config(cert.clone())
                .map_err(|e| BootstrapError::Config(format!("TLS: {e}")))?;
            // Installed before the "listening" line: SIGHUP's default action would end the
            // process.
            let reloader = reload_on_hangup(cert)?;
            let listener = tls::TlsListener::new(listener, server_config, limits.max_connections)
                .map_err(|e| BootstrapError::Io(e.to_string()))?;
            tracing::info!("keyward listening on https://{local}");
            serve::serve_connections(listener, router, limits.header_timeout, shutdown).await;
            reloader.abort();
        }
    }
    if let Some(jobs) = jobs {
        jobs.abort();
    }
    if let Some(state) = open_state {
        state.stop_functions().await;
    }
    if let Some(gate) = gate {
        gate.stop_jobs();
        gate.stop_functions().await;
    }
    tracing::info!("keyward stopped");
    Ok(())
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
/// The limits (connections, timeouts) are the state's.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    job_interval: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BootstrapError> {
    if let Ok(local) = listener.local_addr() {
        state.set_function_endpoint(function_endpoint("http", local));
    }
    let acceptor = serve::PlainAcceptor::new(listener, state.limits().max_connections);
    serve_with(acceptor, state, job_interval, shutdown).await
}

/// [`serve`] over TLS: the same router, jobs and graceful shutdown.
pub async fn serve_tls(
    listener: tls::TlsListener,
    state: AppState,
    job_interval: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BootstrapError> {
    state.set_function_endpoint(function_endpoint("https", listener.local_addr()));
    serve_with(listener, state, job_interval, shutdown).await
}

async fn serve_with(
    acceptor: impl serve::Accept,
    state: AppState,
    job_interval: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BootstrapError> {
    let jobs = tokio::spawn(jobs::run_periodically(state.clone(), job_interval));
    let header_timeout = state.limits().header_timeout;
    serve::serve_connections(acceptor, app(state.clone()), header_timeout, shutdown).await;
    jobs.abort();
    state.stop_functions().await;
    tracing::info!("keyward stopped");
    Ok(())
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
