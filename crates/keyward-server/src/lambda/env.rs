//! Environment variables at rest: a JSON object sealed under a fresh data key from KMS (the
//! account's `aws/lambda` key, or the function's `KMSKeyArn`), bound to the function's ARN.

use std::collections::BTreeMap;

use keyward_core::function::SealedEnvironment;
use keyward_core::KmsError;
use keyward_crypto::SealingKey;
use zeroize::Zeroizing;

use super::{LambdaError, LAMBDA};
use crate::auth::Caller;
use crate::kms::internal;
use crate::state::AppState;

/// Variables by name; values are wiped when dropped.
pub(crate) type Variables = BTreeMap<String, Zeroizing<String>>;

fn context(function_arn: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("aws:lambda:FunctionArn".to_owned(), function_arn.to_owned())])
}

/// Lambda's exceptions for KMS failures while it handles the environment.
fn kms_failure(err: KmsError, doing: &str) -> LambdaError {
    let (code, why) = match &err {
        KmsError::Internal(detail) => return LambdaError::Internal(detail.clone()),
        KmsError::NotFound(_) => ("KMSNotFoundException", "the KMS key was not found"),
        KmsError::Disabled(_) => ("KMSDisabledException", "the KMS key is disabled"),
        KmsError::AccessDenied(_) | KmsError::NotAuthorized(_) => (
            "KMSAccessDeniedException",
            "access to the KMS key was denied",
        ),
        _ => (
            "KMSInvalidStateException",
            "the KMS key is not in a state that allows it",
        ),
    };
    LambdaError::Kms(
        code,
        format!("Lambda was unable to {doing} the environment variables because {why}. Check the function's KMS key settings."),
    )
}

/// Seals `variables`; `None` when there are none.
pub(crate) async fn seal(
    state: &AppState,
    caller: &Caller,
    kms_key_arn: Option<&str>,
    function_arn: &str,
    variables: &Variables,
) -> Result<Option<SealedEnvironment>, LambdaError> {
    if variables.is_empty() {
        return Ok(None);
    }
    let key = match kms_key_arn {
        Some(key) => key.to_owned(),
        None => internal::managed_key_arn(state, caller, "lambda")
            .await
            .map_err(|e| kms_failure(e, "encrypt"))?,
    };
    let (data_key, encrypted_data_key, _) =
        internal::generate_data_key(state, caller, LAMBDA, &key, 32, &context(function_arn))
            .await
            .map_err(|e| kms_failure(e, "encrypt"))?;
    let sealing =
        SealingKey::from_bytes(&data_key).map_err(|e| LambdaError::Internal(e.to_string()))?;
    let plain: BTreeMap<&str, &str> = variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let json = Zeroizing::new(
        serde_json::to_vec(&plain).map_err(|e| LambdaError::Internal(e.to_string()))?,
    );
    let ciphertext = sealing
        .seal(function_arn.as_bytes(), &json)
        .map_err(|e| LambdaError::Internal(e.to_string()))?;
    Ok(Some(SealedEnvironment {
        encrypted_data_key,
        ciphertext,
    }))
}

/// Opens a function's variables, as `caller` through Lambda.
pub(crate) async fn open(
    state: &AppState,
    caller: &Caller,
    function_arn: &str,
    sealed: Option<&SealedEnvironment>,
) -> Result<Variables, LambdaError> {
    let Some(sealed) = sealed else {
        return Ok(Variables::new());
    };
    let data_key = internal::decrypt(
        state,
        caller,
        LAMBDA,
        &sealed.encrypted_data_key,
        &context(function_arn),
    )
    .await
    .map_err(|e| kms_failure(e, "decrypt"))?;
    let sealing =
        SealingKey::from_bytes(&data_key).map_err(|e| LambdaError::Internal(e.to_string()))?;
    let json = sealing
        .open(function_arn.as_bytes(), &sealed.ciphertext)
        .map_err(|e| LambdaError::Internal(e.to_string()))?;
    let parsed: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|e| LambdaError::Internal(e.to_string()))?;
    Ok(parsed
        .into_iter()
        .map(|(k, v)| (k, Zeroizing::new(v)))
        .collect())
}
