//! The HTTP edge: one route for every JSON 1.1 service. It bounds the body, verifies the
//! signature, picks the service from `X-Amz-Target`, and renders the result.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::{BodyExt, Limited};
use keyward_protocol::cloudtrail::CloudTrailOperation;
use keyward_protocol::json::{parse_target, ServiceModel};
use keyward_protocol::kms::KmsOperation;
use keyward_protocol::query::QueryService;
use keyward_protocol::secretsmanager::SecretsManagerOperation;
use keyward_protocol::sigv4::RequestParts;
use keyward_protocol::WireError;

use zeroize::Zeroizing;

use crate::audit::{RequestAudit, Service};
use crate::quotas::{Family, QuotaService};
use crate::state::AppState;

/// Larger than any valid request (a 32 KiB policy or a 6 KiB blob, base64) by a wide margin.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const JSON_11: &str = "application/x-amz-json-1.1";
const XML: &str = "text/xml";
const KMS_TARGET_PREFIX: &str = "TrentService";
const SECRETS_TARGET_PREFIX: &str = "secretsmanager";
const CLOUDTRAIL_TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

pub fn app(state: AppState) -> Router {
    crate::sealed::unsealed_routes(Router::new())
        .fallback(handle)
        .with_state(state)
}

struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    request_id: String,
    content_type: &'static str,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        // Bodies carry plaintexts, data keys and secret values: the buffer is wiped when
        // hyper drops the last reference to it, after the bytes are written to the socket.
        let body = Bytes::from_owner(Zeroizing::new(self.body));
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if let Ok(id) = HeaderValue::from_str(&self.request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still be on its way: the connection cannot be reused.
            headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

fn error_reply(err: &WireError, request_id: String, query: Option<&QueryService>) -> Reply {
    match query {
        Some(service) => {
            let err = crate::query::to_query_error(err);
            Reply {
                status: StatusCode::from_u16(err.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body: service.error_body(&err, &request_id),
                request_id,
                content_type: XML,
            }
        }
        None => Reply {
            status: StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: err.to_json_body(),
            request_id,
            content_type: JSON_11,
        },
    }
}

async fn read_body(
    headers: &HeaderMap,
    body: Body,
    timeout: std::time::Duration,
) -> Result<Bytes, WireError> {
    let too_large = || WireError {
        code: "RequestEntityTooLargeException",
        message: format!("Request body must be at most {MAX_BODY_BYTES} bytes."),
        status: 413,
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    // A client that trickles its body (or stops sending it) holds a connection and a
    // request slot; it gets until the deadline.
    let collected = tokio::time::timeout(timeout, Limited::new(body, MAX_BODY_BYTES).collect())
        .await
        .map_err(|_| crate::limits::body_timed_out())?;
    match collected {
        // Copied into a buffer of our own that is wiped when its last reference goes (the
        // body may hold a plaintext or a secret value); hyper's connection buffer, which
        // the frames pointed into, is reused for the next bytes read.
        Ok(collected) => Ok(Bytes::from_owner(Zeroizing::new(
            collected.to_bytes().to_vec(),
        ))),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(WireError::serialization(
            "The request body could not be read.",
        )),
    }
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let edge = EdgeProtocol::of(request.method(), request.headers());
    // Load shedding: past the bound, the answer costs nothing and tells SDKs to back off.
    // Before authentication, so it is not audited: an overloaded server writes nothing more.
    let Some(in_flight) = state.enter_request() else {
        return edge.reply(&crate::limits::throttled(edge.quota_service()));
    };
    let timeout = state.inner.limits.request_timeout;
    // A request runs to its end in its own task, even if the client goes away or the
    // deadline passes: what it changed or used is then in the audit trail too (hyper drops
    // the connection's futures when the connection closes).
    let task = tokio::spawn(async move {
        let response = handle_to_end(state, request).await;
        drop(in_flight);
        response
    });
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "request task failed");
            edge.reply(&WireError::internal())
        }
        Err(_) => {
            tracing::warn!(
                seconds = timeout.as_secs(),
                "request took longer than the request timeout; answered with an internal \
                 error, the work goes on to its end"
            );
            edge.reply(&WireError::internal())
        }
    }
}

/// The protocol of a request that is answered before it is read: JSON 1.1 unless it is a
/// Query request (IAM or STS, told by its credential scope).
#[derive(Clone, Copy)]
enum EdgeProtocol {
    Json(crate::quotas::QuotaService),
    Query(&'static QueryService),
}

impl EdgeProtocol {
    fn of(method: &Method, headers: &HeaderMap) -> Self {
        if let Some(target) = headers.get("x-amz-target") {
            let kms = target.as_bytes().starts_with(KMS_TARGET_PREFIX.as_bytes());
            return Self::Json(if kms {
                QuotaService::Kms
            } else {
                QuotaService::SecretsManager
            });
        }
        if !crate::query::is_query(method, headers) {
            return Self::Json(QuotaService::Kms);
        }
        let sts = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("/sts/aws4_request"));
        Self::Query(if sts {
            QueryService::sts()
        } else {
            QueryService::iam()
        })
    }

    fn quota_service(self) -> QuotaService {
        match self {
            Self::Json(service) => service,
            Self::Query(_) => QuotaService::Iam,
        }
    }

    fn reply(self, err: &WireError) -> Response {
        let query = match self {
            Self::Json(_) => None,
            Self::Query(service) => Some(service),
        };
        error_reply(err, crate::audit::new_id(), query).into_response()
    }
}

async fn handle_to_end(state: AppState, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut audit = RequestAudit {
        request_id: crate::audit::new_id(),
        time: state.inner.clock.now(),
        source_ip,
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        service: None,
        operation: parse_target(&target)
            .map(|(_, op)| op.to_owned())
            .unwrap_or_else(|| target.clone()),
        caller: None,
        claimed_access_key: None,
        claimed_region: None,
        request_value: None,
        response_value: None,
        query: None,
    };
    if target.is_empty() && keyward_protocol::lambda::is_lambda_path(parts.uri.path()) {
        return crate::lambda::http::handle_to_end(
            state,
            parts.method,
            parts.uri,
            parts.headers,
            body,
            audit,
        )
        .await;
    }
    let result = crate::audit::request_scope(async {
        let (result, body) = dispatch(
            &state,
            &mut audit,
            &parts.method,
            &parts.uri,
            &parts.headers,
            body,
            &target,
        )
        .await;
        // The event is durable before the caller sees the result; if it cannot be written
        // the request fails, so no key is used unrecorded.
        match state.audit_request(&audit, &body, &result).await {
            Ok(()) => result,
            Err(err) => Err(err),
        }
    })
    .await;
    let request_id = audit.request_id;
    let query = audit.query;
    let reply = match result {
        Ok(body) => Reply {
            status: StatusCode::OK,
            body,
            request_id,
            content_type: if query.is_some() { XML } else { JSON_11 },
        },
        Err(err) => error_reply(&err, request_id, query),
    };
    // Every request is in the audit trail already; this line is for debugging.
    tracing::debug!(
        target_op = %target,
        status = reply.status.as_u16(),
        micros = started.elapsed().as_micros() as u64,
        request_id = %reply.request_id,
        "request"
    );
    reply.into_response()
}

async fn dispatch(
    state: &AppState,
    audit: &mut RequestAudit,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    target: &str,
) -> (Result<Vec<u8>, WireError>, Bytes) {
    let body = match read_body(headers, body, state.inner.limits.body_timeout).await {
        Ok(body) => body,
        Err(err) => return (Err(err), Bytes::new()),
    };
    let result = dispatch_body(state, audit, method, uri, headers, &body, target).await;
    (result, body)
}

async fn dispatch_body(
    state: &AppState,
    audit: &mut RequestAudit,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    target: &str,
) -> Result<Vec<u8>, WireError> {
    if headers
        .get("x-amz-content-sha256")
        .is_some_and(|v| v.as_bytes() == b"UNSIGNED-PAYLOAD")
    {
        // Only S3 signs without the body; here every body must be covered by its signature.
        return Err(WireError::client(
            "InvalidSignatureException",
            "UNSIGNED-PAYLOAD is not accepted by this service; sign the request body.",
        ));
    }
    // HTTP/2 carries the host in the authority, which SigV4 signs as `host`.
    let with_host;
    let headers = match (headers.contains_key(http::header::HOST), uri.authority()) {
        (false, Some(authority)) => {
            let mut copy = headers.clone();
            if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                copy.insert(http::header::HOST, value);
            }
            with_host = copy;
            &with_host
        }
        _ => headers,
    };
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        headers,
        body,
    };
    let claimed = keyward_protocol::sigv4::parse_auth(&parts);
    if let Ok(claimed) = &claimed {
        audit.claimed_access_key = Some(claimed.access_key_id.clone());
        audit.claimed_region = Some(claimed.region.clone());
    }
    if target.is_empty() && crate::query::is_query(method, headers) {
        return crate::query::dispatch(state, audit, &parts, claimed).await;
    }
    let Some((prefix, operation)) = parse_target(target) else {
        // Without a target there is no service to name; authenticate for the error AWS gives
        // unsigned callers, then refuse the operation.
        claimed.map_err(|e| e.to_wire())?;
        return Err(unknown_operation());
    };
    let (service, signing_name) = match prefix {
        KMS_TARGET_PREFIX => (
            Service {
                model: ServiceModel::kms(),
                event_source: "kms.amazonaws.com",
            },
            "kms",
        ),
        SECRETS_TARGET_PREFIX => (
            Service {
                model: ServiceModel::secretsmanager(),
                event_source: "secretsmanager.amazonaws.com",
            },
            "secretsmanager",
        ),
        CLOUDTRAIL_TARGET_PREFIX => (
            Service {
                model: ServiceModel::cloudtrail(),
                event_source: "cloudtrail.amazonaws.com",
            },
            "cloudtrail",
        ),
        _ => {
            claimed.map_err(|e| e.to_wire())?;
            return Err(unknown_operation());
        }
    };
    audit.service = Some(service);
    let caller = state
        .authenticate(&parts, signing_name, &audit.source_ip)
        .await?;
    audit.caller = Some(caller.clone());
    if method != Method::POST {
        return Err(unknown_operation());
    }
    match prefix {
        KMS_TARGET_PREFIX => {
            let operation = KmsOperation::decode(operation, body)?;
            // After decoding: the algorithm a request names tells which key family's
            // quota it counts against.
            state.within_quota(&caller.account, QuotaService::Kms, operation.name(), || {
                crate::quotas::kms_family(&operation)
            })?;
            crate::kms::handle(state, &caller, operation)
                .await
                .map_err(|e| crate::errors::kms_to_wire(&e))
        }
        SECRETS_TARGET_PREFIX => {
            state.within_quota(
                &caller.account,
                QuotaService::SecretsManager,
                operation,
                || Family::Any,
            )?;
            let operation = SecretsManagerOperation::decode(operation, body)?;
            crate::secrets::handle(state, &caller, operation)
                .await
                .map_err(|e| crate::errors::secrets_to_wire(&e))
        }
        _ => {
            state.within_quota(&caller.account, QuotaService::CloudTrail, operation, || {
                Family::Any
            })?;
            let operation = CloudTrailOperation::decode(operation, body)
                .map_err(crate::cloudtrail::refine_decode_error)?;
            crate::cloudtrail::handle(state, &caller, operation).await
        }
    }
}

fn unknown_operation() -> WireError {
    keyward_protocol::json::unknown_operation()
}
