//! A small Lambda: functions stored with their code and sealed environment, and run as
//! local processes speaking the Lambda Runtime API ([`runtime`]). Off unless the server is
//! started with `--enable-functions`.

mod api;
mod child;
mod code;
mod env;
pub(crate) mod http;
mod manage;
pub(crate) mod runtime;
mod trust;

use keyward_core::KmsError;
use keyward_protocol::WireError;

/// How Lambda appears in the KMS events it causes and in `kms:ViaService`.
pub(crate) const LAMBDA: &str = "lambda.amazonaws.com";

/// What can go wrong in a Lambda request, each one of Lambda's exceptions.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LambdaError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    PreconditionFailed(String),
    /// A KMS failure while sealing or opening the environment: the exception and message.
    #[error("{1}")]
    Kms(&'static str, String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Wire(WireError),
}

impl From<WireError> for LambdaError {
    fn from(err: WireError) -> Self {
        LambdaError::Wire(err)
    }
}

impl From<keyward_core::StoreError> for LambdaError {
    fn from(err: keyward_core::StoreError) -> Self {
        use keyward_core::StoreError;
        match err {
            StoreError::NotFound(message) => LambdaError::NotFound(message),
            StoreError::AlreadyExists(message) => LambdaError::Conflict(message),
            StoreError::Conflict => LambdaError::PreconditionFailed(
                "The function was changed by another request; read it again and retry.".into(),
            ),
            other => LambdaError::Internal(other.to_string()),
        }
    }
}

impl From<KmsError> for LambdaError {
    fn from(err: KmsError) -> Self {
        match err {
            KmsError::Internal(detail) => LambdaError::Internal(detail),
            other => LambdaError::Internal(other.to_string()),
        }
    }
}

impl From<crate::authz::Denied> for LambdaError {
    fn from(denied: crate::authz::Denied) -> Self {
        match denied {
            crate::authz::Denied::Policy(message) => LambdaError::AccessDenied(message),
            crate::authz::Denied::Internal(err) => LambdaError::Internal(err.to_string()),
        }
    }
}

impl LambdaError {
    /// The one mapping to Lambda's exceptions and statuses.
    pub(crate) fn to_wire(&self) -> WireError {
        let (code, status) = match self {
            LambdaError::NotFound(_) => ("ResourceNotFoundException", 404),
            LambdaError::Conflict(_) => ("ResourceConflictException", 409),
            LambdaError::InvalidParameter(_) => ("InvalidParameterValueException", 400),
            LambdaError::Validation(_) => ("ValidationException", 400),
            LambdaError::AccessDenied(_) => ("AccessDeniedException", 403),
            LambdaError::TooManyRequests(_) => ("TooManyRequestsException", 429),
            LambdaError::PreconditionFailed(_) => ("PreconditionFailedException", 412),
            LambdaError::Kms(code, _) => (*code, 502),
            LambdaError::Internal(detail) => {
                tracing::error!(error = %detail, "lambda request failed");
                return WireError {
                    code: "ServiceException",
                    message: "An internal error occurred.".into(),
                    status: 500,
                };
            }
            LambdaError::Wire(err) => return err.clone(),
        };
        WireError {
            code,
            message: self.to_string(),
            status,
        }
    }
}

/// The function `given` names (a name or an ARN), once `caller` is allowed to invoke it.
pub(crate) async fn invokable(
    state: &crate::state::AppState,
    caller: &crate::auth::Caller,
    given: &str,
) -> Result<keyward_core::function::FunctionRecord, LambdaError> {
    let name = manage::resolve_name(caller, given)?;
    let arn = keyward_core::function::function_arn(
        caller.region.as_str(),
        caller.account.as_str(),
        &name,
    );
    state
        .authorize_lambda(caller, "lambda:InvokeFunction", &arn)
        .await?;
    state.lambda_function(caller, &name).await
}

/// The function a secret's rotation names, once `caller` may invoke it and it exists: its
/// ARN.
pub(crate) async fn rotation_function(
    state: &crate::state::AppState,
    caller: &crate::auth::Caller,
    given: &str,
) -> Result<String, LambdaError> {
    Ok(invokable(state, caller, given).await?.arn())
}

/// Invokes `function` for a service (a secret's rotation) with `event` as the payload, and
/// waits for the result.
pub(crate) async fn invoke_for_service(
    state: &crate::state::AppState,
    caller: &crate::auth::Caller,
    function: &str,
    event: serde_json::Value,
) -> Result<runtime::Invocation, LambdaError> {
    let runtime = state
        .functions()
        .cloned()
        .ok_or_else(|| LambdaError::Internal("functions are not enabled".into()))?;
    let name = manage::resolve_name(caller, function)?;
    let record = state.lambda_function(caller, &name).await?;
    let payload = serde_json::to_vec(&event).map_err(|e| LambdaError::Internal(e.to_string()))?;
    runtime
        .invoke(state, &record, axum::body::Bytes::from(payload))
        .await
}
