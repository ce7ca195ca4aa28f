//! AWS Secrets Manager (`secretsmanager`) on the wire: the typed request and response shapes of
//! every operation of the model, and [`SecretsManagerOperation`], the one typed value a request
//! body becomes.
//!
//! ```text
//! X-Amz-Target: secretsmanager.GetSecretValue  ─┐
//! body: {"SecretId":…,"VersionStage":…}        ─┴─ SecretsManagerOperation::decode
//!                                                   ─→ SecretsManagerOperation::GetSecretValue(GetSecretValueRequest)
//! ```
//!
//! Secret values are [`SecretText`](crate::json::SecretText) and [`Blob`](crate::json::Blob):
//! zeroized on drop and never shown by `Debug`; the codec never quotes them in an error either.

mod enums;
mod requests;
mod responses;

pub use enums::*;
pub use requests::*;
pub use responses::*;

use crate::json::{self, ServiceModel};
use crate::WireError;

macro_rules! secretsmanager_operations {
    ($($operation:ident($request:ident),)+) => {
        /// A Secrets Manager request, decoded and checked against the model.
        #[derive(Debug)]
        pub enum SecretsManagerOperation {
            $($operation($request),)+
        }

        impl SecretsManagerOperation {
            /// The names of the operations, as in `X-Amz-Target`: every operation of the model.
            pub const SUPPORTED: &'static [&'static str] = &[$(stringify!($operation)),+];

            /// The operation's name, as in `X-Amz-Target` and in CloudTrail's `eventName`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$operation(_) => stringify!($operation),)+
                }
            }

            fn from_input(operation: &str, input: serde_json::Value) -> Result<Self, WireError> {
                match operation {
                    $(stringify!($operation) => json::into_request(input).map(Self::$operation),)+
                    _ => Err(json::unknown_operation()),
                }
            }

            /// The request as JSON again, to prove in tests that every member survives.
            #[cfg(test)]
            fn request_json(&self) -> serde_json::Value {
                match self {
                    $(Self::$operation(request) => serde_json::to_value(request).unwrap_or_default(),)+
                }
            }
        }
    };
}

secretsmanager_operations! {
    CreateSecret(CreateSecretRequest),
    GetSecretValue(GetSecretValueRequest),
    BatchGetSecretValue(BatchGetSecretValueRequest),
    PutSecretValue(PutSecretValueRequest),
    UpdateSecret(UpdateSecretRequest),
    DescribeSecret(DescribeSecretRequest),
    ListSecrets(ListSecretsRequest),
    ListSecretVersionIds(ListSecretVersionIdsRequest),
    UpdateSecretVersionStage(UpdateSecretVersionStageRequest),
    DeleteSecret(DeleteSecretRequest),
    RestoreSecret(RestoreSecretRequest),
    GetRandomPassword(GetRandomPasswordRequest),
    TagResource(TagResourceRequest),
    UntagResource(UntagResourceRequest),
    PutResourcePolicy(PutResourcePolicyRequest),
    GetResourcePolicy(GetResourcePolicyRequest),
    DeleteResourcePolicy(DeleteResourcePolicyRequest),
    ValidateResourcePolicy(ValidateResourcePolicyRequest),
    ReplicateSecretToRegions(ReplicateSecretToRegionsRequest),
    RemoveRegionsFromReplication(RemoveRegionsFromReplicationRequest),
    StopReplicationToReplica(StopReplicationToReplicaRequest),
    RotateSecret(RotateSecretRequest),
    CancelRotateSecret(CancelRotateSecretRequest),
}

impl SecretsManagerOperation {
    /// Decodes the body of `secretsmanager.<operation>`: an operation the model does not know
    /// is `UnknownOperationException`; a body that breaks the model is AWS's
    /// `SerializationException` or `ValidationException`.
    pub fn decode(operation: &str, body: &[u8]) -> Result<Self, WireError> {
        let input = ServiceModel::secretsmanager().decode_input(operation, body)?;
        Self::from_input(operation, input)
    }
}

#[cfg(test)]
mod tests;
