//! Response shapes of the supported IAM operations. Absent optional members are left out of the
//! XML; lists the model requires (`Users`, `Tags`, …) are always there, empty or not.
//!
//! Timestamps are seconds since the Unix epoch ([`Timestamp`]), rendered as ISO 8601 by the
//! encoder. Policy documents are plain JSON text: the encoder percent-encodes them, as IAM
//! sends them.

use serde::Serialize;

use super::requests::Tag;
use super::{PermissionsBoundaryAttachmentType, StatusType};
use crate::json::{SecretText, Timestamp};

/// An IAM user, as `CreateUser`, `GetUser` and `ListUsers` describe it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub path: String,
    pub user_name: String,
    /// The unique id, e.g. `AIDACKCEVSQ6C2EXAMPLE`.
    pub user_id: String,
    pub arn: String,
    pub create_date: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_last_used: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<AttachedPermissionsBoundary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// The permissions boundary of a user or role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct AttachedPermissionsBoundary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary_type: Option<PermissionsBoundaryAttachmentType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary_arn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateUserResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetUserResponse {
    pub user: User,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersResponse {
    pub users: Vec<User>,
    pub is_truncated: bool,
    /// Where the next page starts, when `IsTruncated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// A new access key, the only answer that ever carries its secret.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct AccessKey {
    pub user_name: String,
    pub access_key_id: String,
    pub status: StatusType,
    /// Never shown by `Debug`; zeroized on drop.
    pub secret_access_key: SecretText,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_date: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateAccessKeyResponse {
    pub access_key: AccessKey,
}

/// An access key as `ListAccessKeys` lists it: without the secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_date: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListAccessKeysResponse {
    pub access_key_metadata: Vec<AccessKeyMetadata>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// An IAM role, as `CreateRole`, `GetRole` and `ListRoles` describe it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    pub path: String,
    pub role_name: String,
    /// The unique id, e.g. `AROADBQP57FF2AEXAMPLE`.
    pub role_id: String,
    pub arn: String,
    pub create_date: Timestamp,
    /// The trust policy as plain JSON text; percent-encoded on the wire by the encoder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assume_role_policy_document: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seconds, 3600 to 43200.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<AttachedPermissionsBoundary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// `GetRole` always has it (`Some(RoleLastUsed::default())` renders an empty element, as
    /// IAM sends for a role never used); `ListRoles` leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_last_used: Option<RoleLastUsed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_role_template: Option<SourceRoleTemplate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct RoleLastUsed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_date: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct SourceRoleTemplate {
    pub template_arn: String,
    pub template_minor_version: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateRoleResponse {
    pub role: Role,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetRoleResponse {
    pub role: Role,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListRolesResponse {
    pub roles: Vec<Role>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `GetUserPolicy`'s answer; `PolicyDocument` is plain JSON text, percent-encoded on the wire by
/// the encoder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetUserPolicyResponse {
    pub user_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

/// `GetRolePolicy`'s answer; `PolicyDocument` is plain JSON text, percent-encoded on the wire by
/// the encoder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetRolePolicyResponse {
    pub role_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

/// The answer of `ListUserPolicies` and `ListRolePolicies`: inline policy names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListPoliciesResponse {
    pub policy_names: Vec<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

pub type ListUserPoliciesResponse = ListPoliciesResponse;
pub type ListRolePoliciesResponse = ListPoliciesResponse;

/// The answer of `ListUserTags` and `ListRoleTags`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsResponse {
    pub tags: Vec<Tag>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

pub type ListUserTagsResponse = ListTagsResponse;
pub type ListRoleTagsResponse = ListTagsResponse;
