//! Request shapes of the Secrets Manager operations, member for member as in the model, and
//! the structures nested in them.
//!
//! Required members are plain fields, the others `Option`s. The codec has already checked
//! every constraint of the model when these are built, so a handler need not check them again.
//! Sensitive strings (`SecretString`, `RotationToken`) are [`SecretText`], sensitive bytes
//! (`SecretBinary`) a [`Blob`]: neither shows its value through `Debug`. The member `Type` is
//! `secret_type`, since `type` is a Rust keyword.

use serde::{Deserialize, Serialize};

use super::enums::*;
use crate::json::{Blob, SecretText};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A `ListSecrets` or `BatchGetSecretValue` filter: values starting with `!` negate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<FilterNameStringType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicaRegionType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRulesType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExternalSecretRotationMetadataItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueRequest {
    pub secret_id_list: Option<Vec<String>>,
    pub filters: Option<Vec<Filter>>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CancelRotateSecretRequest {
    pub secret_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecretRequest {
    pub name: String,
    pub client_request_token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub secret_binary: Option<Blob>,
    pub secret_string: Option<SecretText>,
    pub tags: Option<Vec<Tag>>,
    pub add_replica_regions: Option<Vec<ReplicaRegionType>>,
    pub force_overwrite_replica_secret: Option<bool>,
    #[serde(rename = "Type")]
    pub secret_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteResourcePolicyRequest {
    pub secret_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecretRequest {
    pub secret_id: String,
    /// A `long` without bounds in the model: the 7–30 day rule is the service's, not the codec's.
    pub recovery_window_in_days: Option<i64>,
    pub force_delete_without_recovery: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DescribeSecretRequest {
    pub secret_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetRandomPasswordRequest {
    pub password_length: Option<i64>,
    pub exclude_characters: Option<String>,
    pub exclude_numbers: Option<bool>,
    pub exclude_punctuation: Option<bool>,
    pub exclude_uppercase: Option<bool>,
    pub exclude_lowercase: Option<bool>,
    pub include_space: Option<bool>,
    pub require_each_included_type: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetResourcePolicyRequest {
    pub secret_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretValueRequest {
    pub secret_id: String,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsRequest {
    pub secret_id: String,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
    pub include_deprecated: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsRequest {
    pub include_planned_deletion: Option<bool>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
    pub filters: Option<Vec<Filter>>,
    pub sort_order: Option<SortOrderType>,
    pub sort_by: Option<SortByType>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct PutResourcePolicyRequest {
    pub secret_id: String,
    pub resource_policy: String,
    pub block_public_policy: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValueRequest {
    pub secret_id: String,
    pub client_request_token: Option<String>,
    pub secret_binary: Option<Blob>,
    pub secret_string: Option<SecretText>,
    pub version_stages: Option<Vec<String>>,
    pub rotation_token: Option<SecretText>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct RemoveRegionsFromReplicationRequest {
    pub secret_id: String,
    pub remove_replica_regions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateSecretToRegionsRequest {
    pub secret_id: String,
    pub add_replica_regions: Vec<ReplicaRegionType>,
    pub force_overwrite_replica_secret: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct RestoreSecretRequest {
    pub secret_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct RotateSecretRequest {
    pub secret_id: String,
    pub client_request_token: Option<String>,
    #[serde(rename = "RotationLambdaARN")]
    pub rotation_lambda_arn: Option<String>,
    pub rotation_rules: Option<RotationRulesType>,
    pub external_secret_rotation_metadata: Option<Vec<ExternalSecretRotationMetadataItem>>,
    pub external_secret_rotation_role_arn: Option<String>,
    pub rotate_immediately: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct StopReplicationToReplicaRequest {
    pub secret_id: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    pub secret_id: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    pub secret_id: String,
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretRequest {
    pub secret_id: String,
    pub client_request_token: Option<String>,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub secret_binary: Option<Blob>,
    pub secret_string: Option<SecretText>,
    #[serde(rename = "Type")]
    pub secret_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretVersionStageRequest {
    pub secret_id: String,
    pub version_stage: String,
    pub remove_from_version_id: Option<String>,
    pub move_to_version_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ValidateResourcePolicyRequest {
    pub secret_id: Option<String>,
    pub resource_policy: String,
}
