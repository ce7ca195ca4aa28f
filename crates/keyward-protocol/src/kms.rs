//! AWS KMS (`TrentService`) on the wire: the typed request and response shapes of the
//! operations Keyward serves, and [`KmsOperation`], the one typed value a request body becomes.
//!
//! ```text
//! X-Amz-Target: TrentService.Encrypt  ─┐
//! body: {"KeyId":…,"Plaintext":…}     ─┴─ KmsOperation::decode ─→ KmsOperation::Encrypt(EncryptRequest)
//! ```

mod enums;
mod requests;
mod responses;

pub use enums::*;
pub use requests::*;
pub use responses::*;

use crate::json::{self, ServiceModel};
use crate::WireError;

macro_rules! kms_operations {
    ($($operation:ident($request:ident),)+) => {
        /// A KMS request, decoded and checked against the model.
        #[derive(Debug)]
        pub enum KmsOperation {
            $($operation($request),)+
        }

        impl KmsOperation {
            /// The names of the operations this server implements, as in `X-Amz-Target`.
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
                    _ => Err(WireError::client(
                        "UnsupportedOperationException",
                        format!("{operation} is not supported by this server yet."),
                    )),
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

kms_operations! {
    CreateKey(CreateKeyRequest),
    DescribeKey(DescribeKeyRequest),
    ListKeys(ListKeysRequest),
    UpdateKeyDescription(UpdateKeyDescriptionRequest),
    EnableKey(EnableKeyRequest),
    DisableKey(DisableKeyRequest),
    ScheduleKeyDeletion(ScheduleKeyDeletionRequest),
    CancelKeyDeletion(CancelKeyDeletionRequest),
    CreateAlias(CreateAliasRequest),
    UpdateAlias(UpdateAliasRequest),
    DeleteAlias(DeleteAliasRequest),
    ListAliases(ListAliasesRequest),
    Encrypt(EncryptRequest),
    Decrypt(DecryptRequest),
    ReEncrypt(ReEncryptRequest),
    GenerateDataKey(GenerateDataKeyRequest),
    GenerateDataKeyWithoutPlaintext(GenerateDataKeyWithoutPlaintextRequest),
    GenerateRandom(GenerateRandomRequest),
    TagResource(TagResourceRequest),
    UntagResource(UntagResourceRequest),
    ListResourceTags(ListResourceTagsRequest),
    EnableKeyRotation(EnableKeyRotationRequest),
    DisableKeyRotation(DisableKeyRotationRequest),
    GetKeyRotationStatus(GetKeyRotationStatusRequest),
    RotateKeyOnDemand(RotateKeyOnDemandRequest),
    ListKeyRotations(ListKeyRotationsRequest),
    GetKeyPolicy(GetKeyPolicyRequest),
    PutKeyPolicy(PutKeyPolicyRequest),
    ListKeyPolicies(ListKeyPoliciesRequest),
    CreateGrant(CreateGrantRequest),
    ListGrants(ListGrantsRequest),
    ListRetirableGrants(ListRetirableGrantsRequest),
    RetireGrant(RetireGrantRequest),
    RevokeGrant(RevokeGrantRequest),
    Sign(SignRequest),
    Verify(VerifyRequest),
    GetPublicKey(GetPublicKeyRequest),
    GenerateMac(GenerateMacRequest),
    VerifyMac(VerifyMacRequest),
    GenerateDataKeyPair(GenerateDataKeyPairRequest),
    GenerateDataKeyPairWithoutPlaintext(GenerateDataKeyPairWithoutPlaintextRequest),
    DeriveSharedSecret(DeriveSharedSecretRequest),
    GetParametersForImport(GetParametersForImportRequest),
    ImportKeyMaterial(ImportKeyMaterialRequest),
    DeleteImportedKeyMaterial(DeleteImportedKeyMaterialRequest),
    ReplicateKey(ReplicateKeyRequest),
    UpdatePrimaryRegion(UpdatePrimaryRegionRequest),
}

impl KmsOperation {
    /// Decodes the body of `TrentService.<operation>`: an operation the model does not know is
    /// `UnknownOperationException`; a body that breaks the model is AWS's
    /// `SerializationException` or `ValidationException`; a valid request for an operation this
    /// server does not implement is `UnsupportedOperationException`.
    pub fn decode(operation: &str, body: &[u8]) -> Result<Self, WireError> {
        let input = ServiceModel::kms().decode_input(operation, body)?;
        Self::from_input(operation, input)
    }
}

#[cfg(test)]
mod tests;
