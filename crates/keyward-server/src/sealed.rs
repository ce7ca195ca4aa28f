//! A server whose root key is sealed by Shamir shares. It listens from the start, answers
//! every AWS request with HTTP 503 and an error the SDKs recognize ("Keyward is sealed"),
//! and takes shares on `POST /keyward/unseal` until the threshold is reached; when the
//! shares open the root key it finishes opening (access keys, caches, background jobs)
//! and from then on hands every request to the full application.
//!
//! Shares travel over the server's own listener, so they get the same protection as
//! plaintexts do: TLS, or loopback (see `Config::check_listen`).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use keyward_core::{Clock, Store};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use crate::config::Config;
use crate::seal::{UnsealStep, Unsealer};

pub(crate) const UNSEAL_PATH: &str = "/keyward/unseal";
pub(crate) const STATUS_PATH: &str = "/keyward/seal-status";
const SEALED_MESSAGE: &str =
    "Keyward is sealed: its root key opens only when enough keyholders run keyward unseal";

/// What `GET /keyward/seal-status` and `POST /keyward/unseal` answer.
#[derive(Serialize)]
pub(crate) struct SealStatus {
    pub(crate) sealed: bool,
    /// Shares held so far (while sealed).
    pub(crate) progress: u8,
    /// Shares needed; 0 where the root of trust takes no shares.
    pub(crate) threshold: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl SealStatus {
    pub(crate) fn unsealed(threshold: u8) -> Self {
        Self {
            sealed: false,
            progress: 0,
            threshold,
            error: None,
        }
    }

    pub(crate) fn reply(self, status: StatusCode) -> Response {
        (status, axum::Json(self)).into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsealRequest {
    share: String,
}

struct Opener {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    job_interval: Duration,
}

pub(crate) struct Gate {
    /// `None` once the root key is open.
    unsealer: tokio::sync::Mutex<Option<Unsealer>>,
    threshold: u8,
    app: OnceLock<Router>,
    opener: Opener,
    jobs: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Where functions reach the server; handed to the state made at unsealing.
    function_endpoint: OnceLock<String>,
    /// The opened server, once unsealed.
    state: OnceLock<crate::AppState>,
}

impl Gate {
    pub(crate) fn new(
        unsealer: Unsealer,
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Arc::new(Self {
            threshold: unsealer.threshold(),
            unsealer: tokio::sync::Mutex::new(Some(unsealer)),
            app: OnceLock::new(),
            opener: Opener {
                job_interval: config.job_interval,
                config,
                store,
                clock,
            },
            jobs: Mutex::new(None),
            function_endpoint: OnceLock::new(),
            state: OnceLock::new(),
        })
    }

    pub(crate) fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(UNSEAL_PATH, post(unseal))
            .route(STATUS_PATH, get(status))
            .fallback(forward)
            .with_state(self.clone())
    }

    /// The address functions reach the server at, known once it listens.
    pub(crate) fn set_function_endpoint(&self, endpoint: String) {
        if let Some(state) = self.state.get() {
            state.set_function_endpoint(endpoint.clone());
        }
        let _ = self.function_endpoint.set(endpoint);
    }

    /// Ends the function processes, if the server was unsealed and ran any.
    pub(crate) async fn stop_functions(&self) {
        if let Some(state) = self.state.get() {
            state.stop_functions().await;
        }
    }

    /// Stops the background jobs, if the server was unsealed and started them.
    pub(crate) fn stop_jobs(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            if let Some(handle) = jobs.take() {
                handle.abort();
            }
        }
    }
}

async fn status(State(gate): State<Arc<Gate>>) -> Response {
    let guard = gate.unsealer.lock().await;
    match guard.as_ref() {
        Some(unsealer) => SealStatus {
            sealed: true,
            progress: unsealer.progress(),
            threshold: gate.threshold,
            error: None,
        }
        .reply(StatusCode::OK),
        None => SealStatus::unsealed(gate.threshold).reply(StatusCode::OK),
    }
}

async fn unseal(State(gate): State<Arc<Gate>>, body: Bytes) -> Response {
    let mut guard = gate.unsealer.lock().await;
    let Some(unsealer) = guard.as_mut() else {
        return SealStatus {
            error: Some("Keyward is not sealed".into()),
            ..SealStatus::unsealed(gate.threshold)
        }
        .reply(StatusCode::BAD_REQUEST);
    };
    let sealed = |unsealer: &Unsealer, error: Option<String>| SealStatus {
        sealed: true,
        progress: unsealer.progress(),
        threshold: gate.threshold,
        error,
    };
    let Ok(request) = serde_json::from_slice::<UnsealRequest>(&body) else {
        return sealed(
            unsealer,
            Some(r#"the body must be JSON: {"share": "kw1-..."}"#.into()),
        )
        .reply(StatusCode::BAD_REQUEST);
    };
    let share = zeroize::Zeroizing::new(request.share);
    let drk = match unsealer.submit(&share) {
        Ok(UnsealStep::Progress(held)) => {
            tracing::info!(
                progress = held,
                threshold = gate.threshold,
                "unseal share accepted"
            );
            return sealed(unsealer, None).reply(StatusCode::OK);
        }
        Ok(UnsealStep::Opened(drk)) => drk,
        Err(err) => {
            tracing::warn!(error = %err, "unseal share refused");
            return sealed(unsealer, Some(err.to_string())).reply(StatusCode::BAD_REQUEST);
        }
    };
    let opener = &gate.opener;
    let (config, store, clock) = (
        opener.config.clone(),
        opener.store.clone(),
        opener.clock.clone(),
    );
    let finished =
        tokio::task::spawn_blocking(move || crate::bootstrap::finish(&config, store, &drk, clock))
            .await;
    let opened = match finished {
        Ok(Ok(opened)) => opened,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "the root key opened, but the installation did not");
            return sealed(unsealer, Some(err.to_string()))
                .reply(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Err(err) => {
            tracing::error!(error = %err, "the opening task failed");
            return sealed(unsealer, Some("internal error".into()))
                .reply(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let jobs = tokio::spawn(crate::jobs::run_periodically(
        opened.state.clone(),
        opener.job_interval,
    ));
    if let Ok(mut slot) = gate.jobs.lock() {
        *slot = Some(jobs);
    }
    if let Some(endpoint) = gate.function_endpoint.get() {
        opened.state.set_function_endpoint(endpoint.clone());
    }
    let _ = gate.state.set(opened.state.clone());
    let _ = gate.app.set(crate::http::app(opened.state));
    *guard = None;
    tracing::info!("unsealed: the root key is open; serving");
    SealStatus::unsealed(gate.threshold).reply(StatusCode::OK)
}

async fn forward(State(gate): State<Arc<Gate>>, request: Request) -> Response {
    match gate.app.get() {
        Some(app) => match app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        None => sealed_response(request.headers()),
    }
}

/// 503 in the shape of the service asked: a JSON error whose type the service model
/// knows (KMS `KMSInternalException`, Secrets Manager `InternalServiceError`), or a Query
/// XML error for IAM and STS.
pub(crate) fn sealed_response(headers: &HeaderMap) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (content_type, body) = if form && target.is_empty() {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>{SEALED_MESSAGE}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                crate::audit::new_id()
            ),
        )
    } else {
        let code = if target.starts_with("TrentService.") {
            "KMSInternalException"
        } else if target.starts_with("secretsmanager.") {
            "InternalServiceError"
        } else {
            "ServiceUnavailableException"
        };
        (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": SEALED_MESSAGE }).to_string(),
        )
    };
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

/// The seal routes of a server that was never sealed (passphrase, file): the status says
/// so, and a share is refused.
pub(crate) fn unsealed_routes<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .route(
            STATUS_PATH,
            get(|| async { SealStatus::unsealed(0).reply(StatusCode::OK) }),
        )
        .route(
            UNSEAL_PATH,
            post(|| async {
                SealStatus {
                    error: Some("Keyward is not sealed".into()),
                    ..SealStatus::unsealed(0)
                }
                .reply(StatusCode::BAD_REQUEST)
            }),
        )
}
