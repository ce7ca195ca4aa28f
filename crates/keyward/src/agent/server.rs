//! The agent's HTTP server: one accept loop on 127.0.0.1, HTTP/1.1 connections with bounded
//! header size, header read time and lifetime, and a count of live connections that the
//! request check turns into 429s, as the official agent does.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderName;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use super::cache::Cache;
use super::request::{respond, AgentError, AgentRequest, SecretQuery};
use super::secret::{self, SecretJson};

/// The official agent's limit on one request's whole connection (MAX_REQ_TIME_SEC).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(61);
/// How long before the end of its lifetime a connection is asked to close.
const CLOSING_GRACE: Duration = Duration::from_secs(10);
/// A client has this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Request line and headers; the official agent allows (65 + 256) KiB.
const MAX_HEADER_BYTES: usize = 321 * 1024;
/// Connections beyond `max_conn` + this are closed as soon as they are accepted (the
/// official agent answers them 429; a few more are let through to get that answer).
const CONNECTION_HEADROOM: usize = 16;
/// Health checks are still answered this many connections past `max_conn`.
const PING_HEADROOM: usize = 2;

/// The token requests must carry. No `Debug`, wiped on drop.
pub struct Token(Zeroizing<String>);

impl Token {
    pub fn new(value: Zeroizing<String>) -> Self {
        Self(value)
    }

    fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

pub struct Agent {
    pub client: aws_sdk_secretsmanager::Client,
    pub cache: Cache<SecretQuery, SecretJson>,
    pub token: Token,
    pub token_headers: Vec<HeaderName>,
    pub path_prefix: String,
    pub max_conn: usize,
    pub ignore_transient_errors: bool,
}

impl Agent {
    async fn respond(&self, req: &Request<Incoming>, live: usize) -> Response<Full<Bytes>> {
        match self.answer(req, live).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        }
    }

    /// The official agent's order of checks: connection limit, then forwarding and token
    /// (not for /ping), then method, then the route.
    async fn answer(
        &self,
        req: &Request<Incoming>,
        live: usize,
    ) -> Result<Response<Full<Bytes>>, AgentError> {
        let path = req.uri().path();
        let is_ping = path == "/ping";
        let limit = if is_ping {
            self.max_conn + PING_HEADROOM
        } else {
            self.max_conn
        };
        if live > limit {
            return Err(AgentError::TooManyConnections);
        }
        if !is_ping {
            self.authorize(req)?;
        }
        if req.method() != Method::GET {
            return Err(AgentError::MethodNotAllowed);
        }
        match AgentRequest::parse(path, req.uri().query(), &self.path_prefix)? {
            AgentRequest::Ping => Ok(respond(
                StatusCode::OK,
                false,
                Bytes::from_static(b"healthy"),
            )),
            AgentRequest::Get(get) => {
                let fetch = || secret::fetch(&self.client, &get.query);
                let serve_stale =
                    |err: &AgentError| self.ignore_transient_errors && err.is_transient();
                let fetched = tokio::time::timeout(
                    CONNECTION_LIFETIME - HEADER_READ_TIMEOUT,
                    self.cache
                        .get(&get.query, get.refresh_now, fetch, serve_stale),
                )
                .await
                .map_err(|_| AgentError::Timeout)??;
                Ok(respond(
                    StatusCode::OK,
                    true,
                    Bytes::copy_from_slice(fetched.as_bytes()),
                ))
            }
        }
    }

    fn authorize(&self, req: &Request<Incoming>) -> Result<(), AgentError> {
        let headers = req.headers();
        if headers.contains_key("x-forwarded-for") {
            tracing::warn!("rejecting a request with an X-Forwarded-For header");
            return Err(AgentError::Forwarded);
        }
        let presented = self
            .token_headers
            .iter()
            .flat_map(|name| headers.get_all(name))
            .any(|value| self.token.matches(value.as_bytes()));
        if presented {
            Ok(())
        } else {
            tracing::warn!("rejecting a request without the right token");
            Err(AgentError::BadToken)
        }
    }
}

/// Counts a live connection until dropped.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn enter(count: &Arc<AtomicUsize>) -> (Self, usize) {
        let now = count.fetch_add(1, Ordering::SeqCst) + 1;
        (Self(Arc::clone(count)), now)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(listener: TcpListener, agent: Arc<Agent>, shutdown: impl Future<Output = ()>) {
    let live = Arc::new(AtomicUsize::new(0));
    let hard_cap = agent.max_conn + CONNECTION_HEADROOM;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // As the official agent: packets to and from this socket cannot leave the host.
        let _ = stream.set_ttl(1);
        let (guard, now) = Live::enter(&live);
        if now > hard_cap {
            continue; // dropping the stream closes it
        }
        let agent = Arc::clone(&agent);
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let agent = Arc::clone(&agent);
                let live = live.load(Ordering::SeqCst);
                async move { Ok::<_, Infallible>(agent.respond(&req, live).await) }
            });
            let mut builder = http1::Builder::new();
            builder
                .max_buf_size(MAX_HEADER_BYTES)
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            // Near the end of its lifetime a connection is asked to finish the request in
            // hand and close (idle keep-alive connections close at once); at the end it
            // is dropped, whatever it was doing.
            let ended = tokio::select! {
                ended = connection.as_mut() => Some(ended),
                () = tokio::time::sleep(CONNECTION_LIFETIME - CLOSING_GRACE) => None,
            };
            let ended = match ended {
                Some(ended) => Some(ended),
                None => {
                    connection.as_mut().graceful_shutdown();
                    tokio::time::timeout(CLOSING_GRACE, connection).await.ok()
                }
            };
            if let Some(Err(err)) = ended {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(guard);
        });
    }
}
