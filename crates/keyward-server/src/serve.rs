//! The connection loop: accepts at most `max_connections` connections (past that, new ones
//! wait in the kernel's backlog), serves each with hyper's HTTP/1.1 with a deadline for
//! request headers (which also ends idle keep-alive connections), and on shutdown stops
//! accepting, lets requests in flight finish and closes idle connections.
//!
//! axum's own `serve` has no timeouts and no bound on connections, hence this one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// A source of connections, each holding one of the listener's connection permits until it
/// closes.
pub(crate) trait Accept: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(
        &mut self,
    ) -> impl Future<Output = (Self::Io, SocketAddr, OwnedSemaphorePermit)> + Send;
}

/// Plain TCP, bounded: a permit is taken before `accept`, so past the bound the kernel
/// holds new connections in its backlog instead of Keyward accepting and dropping them.
pub(crate) struct PlainAcceptor {
    listener: TcpListener,
    permits: Arc<Semaphore>,
}

impl PlainAcceptor {
    pub(crate) fn new(listener: TcpListener, max_connections: usize) -> Self {
        Self {
            listener,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
        }
    }
}

impl Accept for PlainAcceptor {
    type Io = TcpStream;

    async fn accept(&mut self) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            // The semaphore is never closed.
            return std::future::pending().await;
        };
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => return (stream, peer, permit),
                Err(err) => wait_after_accept_error(&err).await,
            }
        }
    }
}

/// Out of file descriptors and the like: wait rather than spin. A connection that failed
/// before it was accepted is no reason to wait.
pub(crate) async fn wait_after_accept_error(err: &io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %err, "cannot accept a connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Serves connections from `acceptor` until `shutdown` resolves, then drains.
pub(crate) async fn serve_connections<A: Accept>(
    mut acceptor: A,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    // Every connection task holds a receiver; the loop waits for all of them to go.
    let (close_tx, close_rx) = watch::channel(());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    loop {
        let (io, peer, permit) = tokio::select! {
            accepted = acceptor.accept() => accepted,
            _ = signal_tx.closed() => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let builder = builder.clone();
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut connection = pin!(builder.serve_connection(TokioIo::new(io), service));
            let mut shutdown_signal = pin!(signal_tx.closed());
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::debug!(%peer, error = %err, "connection ended");
                        }
                        break;
                    }
                    _ = &mut shutdown_signal, if !shutting_down => {
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(acceptor);
    close_tx.closed().await;
}
