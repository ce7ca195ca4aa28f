//! Request shapes of the supported IAM operations, member for member as in the model.
//!
//! Required members are plain fields, the others `Option`s. The codec has already checked
//! every constraint of the model when these are built (lengths, patterns, `MaxItems` 1 to
//! 1000, at most 50 tags, …), so a handler need not check them again. Policy documents are the
//! JSON text the client sent, not yet parsed.

use serde::{Deserialize, Serialize};

use super::StatusType;

/// A tag of a user or role (and of an STS session): `Key` 1 to 128 characters, `Value` 0 to
/// 256, both of letters, digits, spaces and `_.:/=+-@`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// The input of `CreateUser`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateUserRequest {
    pub path: Option<String>,
    pub user_name: String,
    pub permissions_boundary: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

/// The input of `GetUser`: without `UserName`, the caller's own user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetUserRequest {
    pub user_name: Option<String>,
}

/// The input of `ListUsers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListUsersRequest {
    pub path_prefix: Option<String>,
    pub marker: Option<String>,
    pub max_items: Option<i32>,
}

/// The input of `DeleteUser`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteUserRequest {
    pub user_name: String,
}

/// The input of `CreateAccessKey`: without `UserName`, for the caller's own user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateAccessKeyRequest {
    pub user_name: Option<String>,
}

/// The input of `ListAccessKeys`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListAccessKeysRequest {
    pub user_name: Option<String>,
    pub marker: Option<String>,
    pub max_items: Option<i32>,
}

/// The input of `UpdateAccessKey`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAccessKeyRequest {
    pub user_name: Option<String>,
    pub access_key_id: String,
    pub status: StatusType,
}

/// The input of `DeleteAccessKey`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteAccessKeyRequest {
    pub user_name: Option<String>,
    pub access_key_id: String,
}

/// The input of `CreateRole`: `AssumeRolePolicyDocument` is the trust policy's JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct CreateRoleRequest {
    pub path: Option<String>,
    pub role_name: String,
    pub assume_role_policy_document: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i32>,
    pub permissions_boundary: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

/// The input of `GetRole`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetRoleRequest {
    pub role_name: String,
}

/// The input of `ListRoles`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListRolesRequest {
    pub path_prefix: Option<String>,
    pub marker: Option<String>,
    pub max_items: Option<i32>,
}

/// The input of `DeleteRole`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRoleRequest {
    pub role_name: String,
}

/// The input of `UpdateAssumeRolePolicy`: `PolicyDocument` is the new trust policy's JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAssumeRolePolicyRequest {
    pub role_name: String,
    pub policy_document: String,
}

/// The input of `PutUserPolicy`: `PolicyDocument` is the inline policy's JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct PutUserPolicyRequest {
    pub user_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

/// The input of `GetUserPolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetUserPolicyRequest {
    pub user_name: String,
    pub policy_name: String,
}

/// The input of `ListUserPolicies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListUserPoliciesRequest {
    pub user_name: String,
    pub marker: Option<String>,
    pub max_items: Option<i32>,
}

/// The input of `DeleteUserPolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteUserPolicyRequest {
    pub user_name: String,
    pub policy_name: String,
}

/// The input of `PutRolePolicy`: `PolicyDocument` is the inline policy's JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct PutRolePolicyRequest {
    pub role_name: String,
    pub policy_name: String,
    pub policy_document: String,
}

/// The input of `GetRolePolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetRolePolicyRequest {
    pub role_name: String,
    pub policy_name: String,
}

/// The input of `ListRolePolicies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListRolePoliciesRequest {
    pub role_name: String,
    pub marker: Option<String>,
    pub max_items: Option<i32>,
}

/// The input of `DeleteRolePolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRolePolicyRequest {
    pub role_name: String,
    pub policy_name: String,
}

/// The input of `TagUser`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct TagUserRequest {
    pub user_name: String,
    pub tags: Vec<Tag>,
}

/// The input of `TagRole`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct TagRoleRequest {
    pub role_name: String,
    pub tags: Vec<Tag>,
}

/// The input of `UntagUser`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UntagUserRequest {
    pub user_name: String,
    pub tag_keys: Vec<String>,
}

/// The input of `UntagRole`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct UntagRoleRequest {
    pub role_name: String,
    pub tag_keys: Vec<String>,
}

/// The input of `ListUserTags`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListUserTagsRequest {
    pub user_name: String,
    pub marker: Option<String>,
    pub max_items: Option<i32>,
}

/// The input of `ListRoleTags`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct ListRoleTagsRequest {
    pub role_name: String,
    pub marker: Option<String>,
    pub max_items: Option<i32>,
}
