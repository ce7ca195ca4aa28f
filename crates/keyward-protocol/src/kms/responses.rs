//! Response shapes of the supported KMS operations. Absent optional members are left out of
//! the JSON, as AWS does.

use serde::Serialize;

use super::enums::*;
use super::requests::{GrantConstraints, Tag};
use crate::json::{Blob, Timestamp};

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_metadata: Option<KeyMetadata>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId", skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<KeyUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_state: Option<KeyState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<OriginType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_hsm_cluster_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModelType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_manager: Option<KeyManagerType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_master_key_spec: Option<CustomerMasterKeySpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<KeySpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<EncryptionAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<SigningAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<KeyAgreementAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithms: Option<Vec<MacAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_key_configuration: Option<XksKeyConfigurationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_key_type: Option<MultiRegionKeyType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<MultiRegionKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_keys: Option<Vec<MultiRegionKey>>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct XksKeyConfigurationType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct DescribeKeyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_metadata: Option<KeyMetadata>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyListEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_state: Option<KeyState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_window_in_days: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct CancelKeyDeletionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<AliasListEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_date: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_for_recipient: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_for_recipient: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyWithoutPlaintextResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_for_recipient: Option<Blob>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_rotation_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_demand_rotation_start_date: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct RotateKeyOnDemandResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotations: Option<Vec<RotationsListEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_state: Option<ImportState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_state: Option<KeyMaterialState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModelType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<RotationType>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

/// The answer of `ListGrants` and of `ListRetirableGrants`.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<GrantListEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantee_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuing_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<GrantOperation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithm: Option<SigningAlgorithmSpec>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithm: Option<SigningAlgorithmSpec>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_master_key_spec: Option<CustomerMasterKeySpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<KeySpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<KeyUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<EncryptionAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<SigningAlgorithmSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<KeyAgreementAlgorithmSpec>>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithm: Option<MacAlgorithmSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithm: Option<MacAlgorithmSpec>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_plaintext: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_pair_spec: Option<DataKeyPairSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_for_recipient: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairWithoutPlaintextResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_pair_spec: Option<DataKeyPairSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_secret: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_for_recipient: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithm: Option<KeyAgreementAlgorithmSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_origin: Option<OriginType>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_token: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters_valid_to: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteImportedKeyMaterialResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateKeyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_key_metadata: Option<KeyMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_tags: Option<Vec<Tag>>,
}
