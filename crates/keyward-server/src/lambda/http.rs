//! Lambda's REST-JSON edge on the shared port: the route from the method and path, SigV4
//! scoped to `lambda`, a body bound that fits function code, Lambda's status codes and
//! headers, and its error shape (`X-Amzn-ErrorType` and `{"Type":"User","message":…}`).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keyward_protocol::json::ServiceModel;
use keyward_protocol::lambda::{LambdaOperation, LambdaRoute};
use keyward_protocol::sigv4::RequestParts;
use keyward_protocol::WireError;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::LambdaError;
use crate::audit::{RequestAudit, Service};
use crate::auth::Caller;
use crate::state::AppState;

/// AWS's bound on a `CreateFunction` or `UpdateFunctionCode` request: a 50 MB zip, base64
/// in JSON.
pub(crate) const MAX_CODE_REQUEST_BYTES: usize = 69_905_067;
/// AWS's bound on a synchronous invocation's payload.
pub(crate) const MAX_INVOKE_REQUEST_BYTES: usize = 6_291_456;
/// Every other Lambda request.
const MAX_OTHER_REQUEST_BYTES: usize = 1024 * 1024;

/// A Lambda answer before it is rendered.
pub(crate) struct LambdaReply {
    status: StatusCode,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
}

impl LambdaReply {
    fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Self {
        Self {
            status,
            body: keyward_protocol::json::encode(value),
            headers: Vec::new(),
            content_type: "application/json",
        }
    }
}

pub(crate) fn error_response(err: &WireError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, keyward_protocol::lambda::error_body(err)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", HeaderValue::from_static(err.code));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn render(reply: LambdaReply, request_id: &str) -> Response {
    let body = Bytes::from_owner(Zeroizing::new(reply.body));
    let mut response = (reply.status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    operation: &str,
    timeout: std::time::Duration,
) -> Result<Bytes, WireError> {
    let too_large = || WireError {
        code: "RequestEntityTooLargeException",
        message: format!(
            "Request must be smaller than {limit} bytes for the {operation} operation"
        ),
        status: 413,
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    use http_body_util::BodyExt;
    // As for every request: a body that trickles in is cut off at the deadline.
    let collected =
        tokio::time::timeout(timeout, http_body_util::Limited::new(body, limit).collect())
            .await
            .map_err(|_| crate::limits::body_timed_out())?;
    match collected {
        Ok(collected) => Ok(Bytes::from_owner(Zeroizing::new(
            collected.to_bytes().to_vec(),
        ))),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(WireError::serialization(
            "The request body could not be read.",
        )),
    }
}

/// Handles one Lambda request to its end, audit event included.
pub(crate) async fn handle_to_end(
    state: AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    mut audit: RequestAudit,
) -> Response {
    let result = crate::audit::request_scope(async {
        let result = dispatch(&state, &mut audit, &method, &uri, &headers, body).await;
        let for_audit: Result<Vec<u8>, WireError> = match &result {
            Ok(_) => Ok(Vec::new()),
            Err(err) => Err(err.clone()),
        };
        // The event is durable before the caller sees the result.
        match state.audit_request(&audit, &[], &for_audit).await {
            Ok(()) => result,
            Err(err) => Err(err),
        }
    })
    .await;
    match result {
        Ok(reply) => render(reply, &audit.request_id),
        Err(err) => error_response(&err, &audit.request_id),
    }
}

async fn dispatch(
    state: &AppState,
    audit: &mut RequestAudit,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<LambdaReply, WireError> {
    audit.service = Some(Service {
        model: ServiceModel::lambda(),
        event_source: "lambda.amazonaws.com",
    });
    let route = LambdaRoute::parse(method.as_str(), uri.path());
    if let Ok(route) = &route {
        audit.operation = route.operation.name().to_owned();
    }
    // A server that runs no functions never reads more than any other request's bound.
    let enabled = state.functions().is_some();
    let limit = match route.as_ref().map(|r| r.operation) {
        _ if !enabled => MAX_OTHER_REQUEST_BYTES,
        Ok(op) if op.carries_code() => MAX_CODE_REQUEST_BYTES,
        Ok(LambdaOperation::Invoke) => MAX_INVOKE_REQUEST_BYTES,
        _ => MAX_OTHER_REQUEST_BYTES,
    };
    let body = read_body(
        headers,
        body,
        limit,
        &audit.operation,
        state.limits().body_timeout,
    )
    .await?;
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        headers,
        body: &body,
    };
    if let Ok(claimed) = keyward_protocol::sigv4::parse_auth(&parts) {
        audit.claimed_access_key = Some(claimed.access_key_id.clone());
        audit.claimed_region = Some(claimed.region.clone());
    }
    let caller = state
        .authenticate(&parts, "lambda", &audit.source_ip)
        .await?;
    audit.caller = Some(caller.clone());
    let route = route?;
    if state.functions().is_none() {
        return Err(WireError {
            code: "AccessDeniedException",
            message: "Functions are not enabled on this server: start it with --enable-functions (KEYWARD_ENABLE_FUNCTIONS=true) to use Lambda.".into(),
            status: 403,
        });
    }
    operate(state, audit, &caller, &route, headers, uri.query(), body)
        .await
        .map_err(|e| e.to_wire())
}

/// What the audit trail shows of a request: the members the model does not mark sensitive,
/// never the code, the variables or a payload.
fn audit_input(route: &LambdaRoute, body: &[u8]) -> Value {
    let mut value = match route.operation {
        LambdaOperation::Invoke => json!({}),
        _ => serde_json::from_slice(body).unwrap_or_else(|_| json!({})),
    };
    if let (Some(name), Value::Object(map)) = (&route.function, &mut value) {
        map.insert("FunctionName".into(), Value::String(name.clone()));
    }
    value
}

/// The configuration as the audit trail sees it: without the variables.
fn audit_output(config: &keyward_protocol::lambda::FunctionConfiguration) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or_default();
    if let Value::Object(map) = &mut value {
        map.remove("Environment");
    }
    value
}

async fn operate(
    state: &AppState,
    audit: &mut RequestAudit,
    caller: &Caller,
    route: &LambdaRoute,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Bytes,
) -> Result<LambdaReply, LambdaError> {
    audit.request_value = Some(audit_input(route, &body));
    use LambdaOperation::*;
    let reply = match route.operation {
        CreateFunction => {
            let request = route.decode(&body, query)?;
            drop(body);
            let config = state.lambda_create(caller, request).await?;
            audit.response_value = Some(audit_output(&config));
            LambdaReply::json(StatusCode::CREATED, &config)
        }
        GetFunction => {
            let request: keyward_protocol::lambda::FunctionNameRequest =
                route.decode(&body, query)?;
            check_qualifier(request.qualifier.as_deref(), caller, &request.function_name)?;
            LambdaReply::json(
                StatusCode::OK,
                &state.lambda_get(caller, &request.function_name).await?,
            )
        }
        GetFunctionConfiguration => {
            let request: keyward_protocol::lambda::FunctionNameRequest =
                route.decode(&body, query)?;
            check_qualifier(request.qualifier.as_deref(), caller, &request.function_name)?;
            LambdaReply::json(
                StatusCode::OK,
                &state
                    .lambda_get_configuration(
                        caller,
                        &request.function_name,
                        "lambda:GetFunctionConfiguration",
                    )
                    .await?,
            )
        }
        ListFunctions => {
            let request = route.decode(&body, query)?;
            LambdaReply::json(StatusCode::OK, &state.lambda_list(caller, request).await?)
        }
        DeleteFunction => {
            let request: keyward_protocol::lambda::FunctionNameRequest =
                route.decode(&body, query)?;
            check_qualifier(request.qualifier.as_deref(), caller, &request.function_name)?;
            state.lambda_delete(caller, &request.function_name).await?;
            LambdaReply {
                status: StatusCode::NO_CONTENT,
                body: Vec::new(),
                headers: Vec::new(),
                content_type: "application/json",
            }
        }
        UpdateFunctionConfiguration => {
            let request = route.decode(&body, query)?;
            let config = state.lambda_update_configuration(caller, request).await?;
            audit.response_value = Some(audit_output(&config));
            LambdaReply::json(StatusCode::OK, &config)
        }
        UpdateFunctionCode => {
            let request = route.decode(&body, query)?;
            drop(body);
            let config = state.lambda_update_code(caller, request).await?;
            audit.response_value = Some(audit_output(&config));
            LambdaReply::json(StatusCode::OK, &config)
        }
        Invoke => {
            let request: keyward_protocol::lambda::FunctionNameRequest =
                route.decode(&[], query)?;
            check_qualifier(request.qualifier.as_deref(), caller, &request.function_name)?;
            invoke(state, caller, &request.function_name, headers, body).await?
        }
    };
    Ok(reply)
}

fn check_qualifier(
    qualifier: Option<&str>,
    caller: &Caller,
    name: &str,
) -> Result<(), LambdaError> {
    match qualifier {
        Some(q) if q != keyward_core::function::LATEST => Err(LambdaError::NotFound(format!(
            "Function not found: {}:{q}",
            keyward_core::function::function_arn(
                caller.region.as_str(),
                caller.account.as_str(),
                &super::manage::resolve_name(caller, name).unwrap_or_else(|_| name.to_owned()),
            )
        ))),
        _ => Ok(()),
    }
}

async fn invoke(
    state: &AppState,
    caller: &Caller,
    name: &str,
    headers: &HeaderMap,
    payload: Bytes,
) -> Result<LambdaReply, LambdaError> {
    let invocation_type = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    let log_type = headers
        .get("x-amz-log-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("None");
    if !matches!(invocation_type, "RequestResponse" | "Event" | "DryRun") {
        return Err(LambdaError::Validation(format!(
            "1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        )));
    }
    if !matches!(log_type, "None" | "Tail") {
        return Err(LambdaError::Validation(format!(
            "1 validation error detected: Value '{log_type}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]"
        )));
    }
    let record = super::invokable(state, caller, name).await?;
    if !payload.is_empty() && serde_json::from_slice::<Value>(&payload).is_err() {
        return Err(LambdaError::Wire(WireError {
            code: "InvalidRequestContentException",
            message: "Could not parse request body into json: Could not parse payload into json"
                .into(),
            status: 400,
        }));
    }
    let payload = if payload.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        payload
    };
    let runtime = state
        .functions()
        .cloned()
        .ok_or_else(|| LambdaError::Internal("functions are not enabled".into()))?;
    let executed = vec![(
        "x-amz-executed-version",
        keyward_core::function::LATEST.to_owned(),
    )];
    match invocation_type {
        "DryRun" => Ok(LambdaReply {
            status: StatusCode::NO_CONTENT,
            body: Vec::new(),
            headers: executed,
            content_type: "application/json",
        }),
        "Event" => {
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(err) = runtime.invoke(&state, &record, payload).await {
                    tracing::warn!(function = %record.arn(), error = %err.to_wire().code, "asynchronous invocation failed");
                }
            });
            Ok(LambdaReply {
                status: StatusCode::ACCEPTED,
                body: Vec::new(),
                headers: Vec::new(),
                content_type: "application/json",
            })
        }
        _ => {
            let invocation = runtime.invoke(state, &record, payload).await?;
            let mut headers = executed;
            if let Some(error) = invocation.function_error {
                headers.push(("x-amz-function-error", error.to_owned()));
            }
            if log_type == "Tail" {
                headers.push(("x-amz-log-result", invocation.tail()));
            }
            Ok(LambdaReply {
                status: StatusCode::OK,
                body: invocation.payload,
                headers,
                content_type: "application/json",
            })
        }
    }
}
