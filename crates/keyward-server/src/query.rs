//! The HTTP edge of the Query services (IAM, STS): a form-encoded `POST` without
//! `X-Amz-Target`, whose service is the one its SigV4 credential scope names.

use axum::http::{HeaderMap, Method};
use keyward_protocol::iam::IamOperation;
use keyward_protocol::query::{QueryRequest, QueryService};
use keyward_protocol::sigv4::{ParsedAuth, RequestParts, SigV4Error};
use keyward_protocol::sts::StsOperation;
use keyward_protocol::WireError;

use crate::audit::{RequestAudit, Service};
use crate::quotas::{Family, QuotaService};
use crate::state::AppState;

const FORM: &str = "application/x-www-form-urlencoded";

/// Whether a request without `X-Amz-Target` is a Query request.
pub(crate) fn is_query(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::POST
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with(FORM))
}

/// The Query form of an error the shared edge produced in JSON 1.1's terms (the
/// authentication errors, mostly): IAM and STS name them differently and answer 403.
pub(crate) fn to_query_error(err: &WireError) -> WireError {
    let (code, status) = match err.code {
        "UnrecognizedClientException" => ("InvalidClientTokenId", 403),
        "InvalidSignatureException" => ("SignatureDoesNotMatch", 403),
        "MissingAuthenticationTokenException" => ("MissingAuthenticationToken", 403),
        "IncompleteSignatureException" => ("IncompleteSignature", 400),
        "ExpiredTokenException" => ("ExpiredToken", 403),
        "AccessDeniedException" => ("AccessDenied", 403),
        "InternalFailure" => ("InternalFailure", 500),
        "ThrottlingException" => ("Throttling", 400),
        _ => return err.clone(),
    };
    WireError {
        code,
        message: err.message.clone(),
        status,
    }
}

pub(crate) async fn dispatch(
    state: &AppState,
    audit: &mut RequestAudit,
    parts: &RequestParts<'_>,
    claimed: Result<ParsedAuth, SigV4Error>,
) -> Result<Vec<u8>, WireError> {
    // The service is the credential scope's; without a signature there is none to name, and
    // IAM's answers are as good as any.
    let signing_name = claimed
        .as_ref()
        .map(|c| c.service.clone())
        .unwrap_or_else(|_| "iam".to_owned());
    let (service, event_source) = match signing_name.as_str() {
        "sts" => (QueryService::sts(), "sts.amazonaws.com"),
        _ => (QueryService::iam(), "iam.amazonaws.com"),
    };
    audit.query = Some(service);
    let request = QueryRequest::parse(parts.body)?;
    audit.operation = request.action().to_owned();
    audit.service = Some(Service {
        model: service.model(),
        event_source,
    });
    claimed.map_err(|e| e.to_wire())?;
    if signing_name != "iam" && signing_name != "sts" {
        return Err(WireError::client(
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'iam'. ",
        ));
    }
    let caller = state
        .authenticate(parts, &signing_name, &audit.source_ip)
        .await?;
    audit.caller = Some(caller.clone());
    let quota_service = if signing_name == "sts" {
        QuotaService::Sts
    } else {
        QuotaService::Iam
    };
    state.within_quota(&caller.account, quota_service, request.action(), || {
        Family::Any
    })?;
    let request_id = audit.request_id.clone();
    let reply = if signing_name == "sts" {
        let (operation, input) = StsOperation::decode_with_input(&request)?;
        audit.request_value = Some(input);
        crate::iam::handle_sts(state, &caller, operation, &request_id).await
    } else {
        let (operation, input) = IamOperation::decode_with_input(&request)?;
        audit.request_value = Some(input);
        crate::iam::handle_iam(state, &caller, operation, &request_id).await
    }
    .map_err(|e| e.to_wire())?;
    audit.response_value = reply.audit;
    Ok(reply.body)
}
