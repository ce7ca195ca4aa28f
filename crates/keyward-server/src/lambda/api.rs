//! The Lambda Runtime API one worker process talks to, on its own loopback port: it asks
//! for the next event (`GET …/invocation/next`, answered when there is one), and posts the
//! result (`…/invocation/{id}/response`), the handler's error (`…/invocation/{id}/error`)
//! or its failure to start (`…/init/error`).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, Limited};
use tokio::sync::{oneshot, Notify};

/// AWS's bound on a synchronous response payload.
pub(crate) const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// An event waiting to be handed to the process.
pub(crate) struct Event {
    pub request_id: String,
    pub payload: Bytes,
    pub function_arn: String,
    pub timeout_ms: u64,
}

/// What the process said about an invocation.
#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Bytes),
    /// The handler failed; the error document as the runtime posted it.
    Error(Bytes),
    /// The runtime could not start the function.
    InitError(Bytes),
}

/// The invocation in progress: where its pick-up and its outcome go.
struct Current {
    request_id: String,
    picked: Option<oneshot::Sender<u64>>,
    outcome: Option<oneshot::Sender<Outcome>>,
}

#[derive(Default)]
pub(crate) struct ApiState {
    pending: Mutex<Option<Event>>,
    wake: Notify,
    current: Mutex<Option<Current>>,
    /// An `/init/error` posted while no invocation was waiting.
    init_error: Mutex<Option<Bytes>>,
    /// When the process first asked for an event: the end of its initialization.
    pub first_next: OnceLock<Instant>,
}

impl ApiState {
    /// Queues `event`; `picked` hears the deadline (epoch ms) when the process takes it,
    /// `outcome` what it answers.
    pub(crate) fn submit(
        &self,
        event: Event,
        picked: oneshot::Sender<u64>,
        outcome: oneshot::Sender<Outcome>,
    ) {
        let early_init_error = self.init_error.lock().ok().and_then(|mut e| e.take());
        if let Some(error) = early_init_error {
            let _ = outcome.send(Outcome::InitError(error));
            return;
        }
        if let Ok(mut current) = self.current.lock() {
            *current = Some(Current {
                request_id: event.request_id.clone(),
                picked: Some(picked),
                outcome: Some(outcome),
            });
        }
        if let Ok(mut pending) = self.pending.lock() {
            *pending = Some(event);
        }
        self.wake.notify_one();
    }

    fn finish(&self, request_id: Option<&str>, outcome: Outcome) -> bool {
        let Ok(mut current) = self.current.lock() else {
            return false;
        };
        let matches = match (current.as_ref(), request_id) {
            (Some(c), Some(id)) => c.request_id == id,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !matches {
            return false;
        }
        if let Some(sender) = current.take().and_then(|mut c| c.outcome.take()) {
            let _ = sender.send(outcome);
        }
        true
    }
}

pub(crate) fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(state)
}

fn epoch_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

async fn next(State(api): State<Arc<ApiState>>) -> Response {
    api.first_next.get_or_init(Instant::now);
    // Waits as long as the process is idle; the worker's end stops this server.
    loop {
        let event = api.pending.lock().ok().and_then(|mut p| p.take());
        if let Some(event) = event {
            let deadline = epoch_millis().saturating_add(event.timeout_ms);
            if let Ok(mut current) = api.current.lock() {
                if let Some(picked) = current.as_mut().and_then(|c| c.picked.take()) {
                    let _ = picked.send(deadline);
                }
            }
            let mut response = (StatusCode::OK, event.payload).into_response();
            let headers = response.headers_mut();
            let pairs = [
                ("lambda-runtime-aws-request-id", event.request_id),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                ("lambda-runtime-invoked-function-arn", event.function_arn),
                ("lambda-runtime-trace-id", String::new()),
            ];
            for (name, value) in pairs {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return response;
        }
        api.wake.notified().await;
    }
}

async fn read(body: Body) -> Result<Bytes, ()> {
    Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| ())
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [(http::header::CONTENT_TYPE, "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

fn unknown_request() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(http::header::CONTENT_TYPE, "application/json")],
        r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
    )
        .into_response()
}

async fn response(
    State(api): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let outcome = match read(body).await {
        Ok(bytes) => Outcome::Response(bytes),
        Err(()) => Outcome::Error(Bytes::from(format!(
            r#"{{"errorMessage":"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).","errorType":"Function.ResponseSizeTooLarge"}}"#
        ))),
    };
    if api.finish(Some(&id), outcome) {
        accepted()
    } else {
        unknown_request()
    }
}

async fn error(
    State(api): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = read(body).await.unwrap_or_default();
    let body = normalized_error(body, &headers);
    if api.finish(Some(&id), Outcome::Error(body)) {
        accepted()
    } else {
        unknown_request()
    }
}

async fn init_error(State(api): State<Arc<ApiState>>, headers: HeaderMap, body: Body) -> Response {
    let body = read(body).await.unwrap_or_default();
    let body = normalized_error(body, &headers);
    if !api.finish(None, Outcome::InitError(body.clone())) {
        if let Ok(mut early) = api.init_error.lock() {
            *early = Some(body);
        }
    }
    accepted()
}

/// The error document as Lambda returns it: the runtime's JSON when it is an object, else
/// one made from the `Lambda-Runtime-Function-Error-Type` header.
fn normalized_error(body: Bytes, headers: &HeaderMap) -> Bytes {
    if matches!(
        serde_json::from_slice::<serde_json::Value>(&body),
        Ok(serde_json::Value::Object(_))
    ) {
        return body;
    }
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled");
    let document = serde_json::json!({
        "errorMessage": String::from_utf8_lossy(&body),
        "errorType": kind,
    });
    Bytes::from(serde_json::to_vec(&document).unwrap_or_default())
}
