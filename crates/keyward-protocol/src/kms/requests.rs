//! Request shapes of the supported KMS operations, member for member as in the model.
//!
//! Required members are plain fields, the others `Option`s. The codec has already checked
//! every constraint of the model when these are built, so a handler need not check them again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::enums::*;
use crate::json::{Blob, Timestamp};

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyRequest {
    pub policy: Option<String>,
    pub description: Option<String>,
    pub key_usage: Option<KeyUsage>,
    pub customer_master_key_spec: Option<CustomerMasterKeySpec>,
    pub key_spec: Option<KeySpec>,
    pub origin: Option<OriginType>,
    pub custom_key_store_id: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
    pub tags: Option<Vec<Tag>>,
    pub multi_region: Option<bool>,
    pub xks_key_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub tag_key: String,
    pub tag_value: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DescribeKeyRequest {
    pub key_id: String,
    pub grant_tokens: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysRequest {
    pub limit: Option<i32>,
    pub marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UpdateKeyDescriptionRequest {
    pub key_id: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct EnableKeyRequest {
    pub key_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DisableKeyRequest {
    pub key_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionRequest {
    pub key_id: String,
    pub pending_window_in_days: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CancelKeyDeletionRequest {
    pub key_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateAliasRequest {
    pub alias_name: String,
    pub target_key_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAliasRequest {
    pub alias_name: String,
    pub target_key_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteAliasRequest {
    pub alias_name: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesRequest {
    pub key_id: Option<String>,
    pub limit: Option<i32>,
    pub marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct EncryptRequest {
    pub key_id: String,
    pub plaintext: Blob,
    pub encryption_context: Option<BTreeMap<String, String>>,
    pub grant_tokens: Option<Vec<String>>,
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DecryptRequest {
    pub ciphertext_blob: Option<Blob>,
    pub encryption_context: Option<BTreeMap<String, String>>,
    pub grant_tokens: Option<Vec<String>>,
    pub key_id: Option<String>,
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    pub recipient: Option<RecipientInfo>,
    pub dry_run: Option<bool>,
    pub dry_run_modifiers: Option<Vec<DryRunModifierType>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct RecipientInfo {
    pub key_encryption_algorithm: Option<KeyEncryptionMechanism>,
    pub attestation_document: Option<Blob>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptRequest {
    pub ciphertext_blob: Option<Blob>,
    pub source_encryption_context: Option<BTreeMap<String, String>>,
    pub source_key_id: Option<String>,
    pub destination_key_id: String,
    pub destination_encryption_context: Option<BTreeMap<String, String>>,
    pub source_encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    pub destination_encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
    pub dry_run_modifiers: Option<Vec<DryRunModifierType>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyRequest {
    pub key_id: String,
    pub encryption_context: Option<BTreeMap<String, String>>,
    pub number_of_bytes: Option<i32>,
    pub key_spec: Option<DataKeySpec>,
    pub grant_tokens: Option<Vec<String>>,
    pub recipient: Option<RecipientInfo>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyWithoutPlaintextRequest {
    pub key_id: String,
    pub encryption_context: Option<BTreeMap<String, String>>,
    pub key_spec: Option<DataKeySpec>,
    pub number_of_bytes: Option<i32>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomRequest {
    pub number_of_bytes: Option<i32>,
    pub custom_key_store_id: Option<String>,
    pub recipient: Option<RecipientInfo>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    pub key_id: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    pub key_id: String,
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsRequest {
    pub key_id: String,
    pub limit: Option<i32>,
    pub marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct EnableKeyRotationRequest {
    pub key_id: String,
    pub rotation_period_in_days: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DisableKeyRotationRequest {
    pub key_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusRequest {
    pub key_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct RotateKeyOnDemandRequest {
    pub key_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsRequest {
    pub key_id: String,
    pub include_key_material: Option<IncludeKeyMaterial>,
    pub limit: Option<i32>,
    pub marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyRequest {
    pub key_id: String,
    pub policy_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct PutKeyPolicyRequest {
    pub key_id: String,
    pub policy_name: Option<String>,
    pub policy: String,
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesRequest {
    pub key_id: String,
    pub limit: Option<i32>,
    pub marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantRequest {
    pub key_id: String,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub operations: Vec<GrantOperation>,
    pub constraints: Option<GrantConstraints>,
    pub grant_tokens: Option<Vec<String>>,
    pub name: Option<String>,
    pub dry_run: Option<bool>,
}

/// The encryption context a request must carry for a grant to allow it. Shared by
/// `CreateGrant` and the grant list entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsRequest {
    pub limit: Option<i32>,
    pub marker: Option<String>,
    pub key_id: String,
    pub grant_id: Option<String>,
    pub grantee_principal: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListRetirableGrantsRequest {
    pub limit: Option<i32>,
    pub marker: Option<String>,
    pub retiring_principal: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct RetireGrantRequest {
    pub grant_token: Option<String>,
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct RevokeGrantRequest {
    pub key_id: String,
    pub grant_id: String,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct SignRequest {
    pub key_id: String,
    pub message: Blob,
    pub message_type: Option<MessageType>,
    pub grant_tokens: Option<Vec<String>>,
    pub signing_algorithm: SigningAlgorithmSpec,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct VerifyRequest {
    pub key_id: String,
    pub message: Blob,
    pub message_type: Option<MessageType>,
    pub signature: Blob,
    pub signing_algorithm: SigningAlgorithmSpec,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyRequest {
    pub key_id: String,
    pub grant_tokens: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacRequest {
    pub message: Blob,
    pub key_id: String,
    pub mac_algorithm: MacAlgorithmSpec,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacRequest {
    pub message: Blob,
    pub key_id: String,
    pub mac_algorithm: MacAlgorithmSpec,
    pub mac: Blob,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairRequest {
    pub encryption_context: Option<BTreeMap<String, String>>,
    pub key_id: String,
    pub key_pair_spec: DataKeyPairSpec,
    pub grant_tokens: Option<Vec<String>>,
    pub recipient: Option<RecipientInfo>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairWithoutPlaintextRequest {
    pub encryption_context: Option<BTreeMap<String, String>>,
    pub key_id: String,
    pub key_pair_spec: DataKeyPairSpec,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretRequest {
    pub key_id: String,
    pub key_agreement_algorithm: KeyAgreementAlgorithmSpec,
    pub public_key: Blob,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
    pub recipient: Option<RecipientInfo>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportRequest {
    pub key_id: String,
    pub wrapping_algorithm: AlgorithmSpec,
    pub wrapping_key_spec: WrappingKeySpec,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialRequest {
    pub key_id: String,
    pub import_token: Blob,
    pub encrypted_key_material: Blob,
    pub valid_to: Option<Timestamp>,
    pub expiration_model: Option<ExpirationModelType>,
    pub import_type: Option<ImportType>,
    pub key_material_description: Option<String>,
    pub key_material_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteImportedKeyMaterialRequest {
    pub key_id: String,
    pub key_material_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateKeyRequest {
    pub key_id: String,
    pub replica_region: String,
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
    pub description: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UpdatePrimaryRegionRequest {
    pub key_id: String,
    pub primary_region: String,
}
