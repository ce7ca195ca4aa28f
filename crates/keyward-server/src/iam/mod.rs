//! IAM and STS over the AWS Query protocol: typed requests in, IAM's behaviour
//! ([`logic`], [`sts`]), typed responses out.

pub(crate) mod logic;
pub(crate) mod sts;

use keyward_core::iam::{RoleRecord, Tag as CoreTag, UserRecord};
use keyward_core::store::AccessKeyRow;
use keyward_protocol::iam::{self, IamOperation};
use keyward_protocol::json::SecretText;
use keyward_protocol::sts::{self as wire_sts, StsOperation};
use serde::Serialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::state::AppState;
use logic::IamError;

/// A Query response: the XML body, and the response as a JSON value for the audit trail.
pub(crate) struct QueryReply {
    pub body: Vec<u8>,
    pub audit: Option<Value>,
}

fn reply<T: Serialize>(
    encode: fn(&str, &T, &str) -> Vec<u8>,
    operation: &str,
    response: &T,
    request_id: &str,
) -> QueryReply {
    QueryReply {
        body: encode(operation, response, request_id),
        audit: serde_json::to_value(response).ok(),
    }
}

fn core_tags(tags: Option<Vec<iam::Tag>>) -> Vec<CoreTag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| CoreTag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

fn wire_tags(tags: &[CoreTag]) -> Vec<iam::Tag> {
    tags.iter()
        .map(|t| iam::Tag {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

fn wire_user(user: &UserRecord, with_tags: bool) -> iam::User {
    iam::User {
        path: user.path.clone(),
        user_name: user.name.clone(),
        user_id: user.user_id.clone(),
        arn: user.arn(),
        create_date: user.created.as_epoch_seconds(),
        tags: (with_tags && !user.tags.is_empty()).then(|| wire_tags(&user.tags)),
        ..iam::User::default()
    }
}

fn wire_role(role: &RoleRecord, full: bool) -> iam::Role {
    iam::Role {
        path: role.path.clone(),
        role_name: role.name.clone(),
        role_id: role.role_id.clone(),
        arn: role.arn(),
        create_date: role.created.as_epoch_seconds(),
        assume_role_policy_document: Some(role.assume_role_policy.clone()),
        description: role.description.clone(),
        max_session_duration: i32::try_from(role.max_session_duration).ok(),
        tags: (full && !role.tags.is_empty()).then(|| wire_tags(&role.tags)),
        role_last_used: full.then(iam::RoleLastUsed::default),
        ..iam::Role::default()
    }
}

fn key_metadata(user_name: &str, row: &AccessKeyRow) -> iam::AccessKeyMetadata {
    iam::AccessKeyMetadata {
        user_name: Some(user_name.to_owned()),
        access_key_id: Some(row.access_key_id.clone()),
        status: Some(if row.active {
            iam::StatusType::Active
        } else {
            iam::StatusType::Inactive
        }),
        create_date: Some(row.created.as_epoch_seconds()),
    }
}

/// `Marker`/`MaxItems` paging over a list already in order; the marker is the index of the
/// next item.
fn page<T>(
    items: Vec<T>,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<(Vec<T>, bool, Option<String>), IamError> {
    let start = match marker {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| IamError::Validation("Invalid Marker.".into()))?,
    };
    let limit = max_items
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| *m > 0)
        .unwrap_or(100);
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = start + page.len();
    let truncated = next < total;
    Ok((page, truncated, truncated.then(|| next.to_string())))
}

pub(crate) async fn handle_iam(
    state: &AppState,
    caller: &Caller,
    operation: IamOperation,
    request_id: &str,
) -> Result<QueryReply, IamError> {
    use IamOperation as Op;
    let name = operation.name();
    let r = |value: &dyn erased::Reply| value.reply(name, request_id);
    Ok(match operation {
        Op::CreateUser(q) => {
            let user = state
                .iam_create_user(caller, q.user_name, q.path, core_tags(q.tags))
                .await?;
            r(&iam::CreateUserResponse {
                user: Some(wire_user(&user, true)),
            })
        }
        Op::GetUser(q) => {
            let user = match state.iam_get_user(caller, q.user_name).await? {
                Some(user) => wire_user(&user, true),
                None => iam::User {
                    path: "/".into(),
                    user_name: String::new(),
                    user_id: caller.account.to_string(),
                    arn: format!("arn:aws:iam::{}:root", caller.account),
                    ..iam::User::default()
                },
            };
            r(&iam::GetUserResponse { user })
        }
        Op::ListUsers(q) => {
            let users = state.iam_list_users(caller, q.path_prefix).await?;
            let (users, is_truncated, marker) = page(users, q.marker.as_deref(), q.max_items)?;
            r(&iam::ListUsersResponse {
                users: users.iter().map(|u| wire_user(u, false)).collect(),
                is_truncated,
                marker,
            })
        }
        Op::DeleteUser(q) => {
            state.iam_delete_user(caller, q.user_name).await?;
            r(&())
        }
        Op::CreateAccessKey(q) => {
            let created = state.iam_create_access_key(caller, q.user_name).await?;
            let response = iam::CreateAccessKeyResponse {
                access_key: iam::AccessKey {
                    user_name: created.user_name.clone(),
                    access_key_id: created.row.access_key_id.clone(),
                    status: iam::StatusType::Active,
                    secret_access_key: SecretText::from(created.secret),
                    create_date: Some(created.row.created.as_epoch_seconds()),
                },
            };
            // The audit trail keeps the key id, never the secret.
            QueryReply {
                body: iam::encode(name, &response, request_id),
                audit: Some(serde_json::json!({"AccessKey": {
                    "UserName": created.user_name,
                    "AccessKeyId": created.row.access_key_id,
                    "Status": "Active",
                }})),
            }
        }
        Op::ListAccessKeys(q) => {
            let (owner, rows) = state.iam_list_access_keys(caller, q.user_name).await?;
            let (rows, is_truncated, marker) = page(rows, q.marker.as_deref(), q.max_items)?;
            r(&iam::ListAccessKeysResponse {
                access_key_metadata: rows.iter().map(|row| key_metadata(&owner, row)).collect(),
                is_truncated,
                marker,
            })
        }
        Op::UpdateAccessKey(q) => {
            let active = match q.status {
                iam::StatusType::Active => true,
                iam::StatusType::Inactive => false,
                iam::StatusType::Expired => {
                    return Err(IamError::Validation(
                        "1 validation error detected: Value at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]".into(),
                    ))
                }
            };
            state
                .iam_update_access_key(caller, q.user_name, q.access_key_id, active)
                .await?;
            r(&())
        }
        Op::DeleteAccessKey(q) => {
            state
                .iam_delete_access_key(caller, q.user_name, q.access_key_id)
                .await?;
            r(&())
        }
        Op::CreateRole(q) => {
            let role = state
                .iam_create_role(
                    caller,
                    q.role_name,
                    q.path,
                    q.assume_role_policy_document,
                    q.description,
                    q.max_session_duration,
                    core_tags(q.tags),
                )
                .await?;
            let mut wire = wire_role(&role, false);
            wire.tags = (!role.tags.is_empty()).then(|| wire_tags(&role.tags));
            r(&iam::CreateRoleResponse { role: wire })
        }
        Op::GetRole(q) => {
            let mut role = state.iam_get_role(caller, q.role_name).await?;
            role.assume_role_policy = state
                .effective_policy(
                    caller.account.as_str(),
                    &role.assume_role_policy,
                    &role.trust_principals,
                )
                .await?
                .into_owned();
            r(&iam::GetRoleResponse {
                role: wire_role(&role, true),
            })
        }
        Op::ListRoles(q) => {
            let mut roles = state.iam_list_roles(caller, q.path_prefix).await?;
            for role in &mut roles {
                role.assume_role_policy = state
                    .effective_policy(
                        caller.account.as_str(),
                        &role.assume_role_policy,
                        &role.trust_principals,
                    )
                    .await?
                    .into_owned();
            }
            let (roles, is_truncated, marker) = page(roles, q.marker.as_deref(), q.max_items)?;
            r(&iam::ListRolesResponse {
                roles: roles.iter().map(|role| wire_role(role, false)).collect(),
                is_truncated,
                marker,
            })
        }
        Op::DeleteRole(q) => {
            state.iam_delete_role(caller, q.role_name).await?;
            r(&())
        }
        Op::UpdateAssumeRolePolicy(q) => {
            state
                .iam_update_assume_role_policy(caller, q.role_name, q.policy_document)
                .await?;
            r(&())
        }
        Op::PutUserPolicy(q) => {
            state
                .iam_put_policy::<UserRecord>(caller, q.user_name, q.policy_name, q.policy_document)
                .await?;
            r(&())
        }
        Op::GetUserPolicy(q) => {
            let policy_name = q.policy_name.clone();
            let (user, document) = state
                .iam_get_policy::<UserRecord>(caller, q.user_name, q.policy_name)
                .await?;
            r(&iam::GetUserPolicyResponse {
                user_name: user.name,
                policy_name,
                policy_document: document,
            })
        }
        Op::ListUserPolicies(q) => {
            let names = state
                .iam_list_policies::<UserRecord>(caller, q.user_name)
                .await?;
            let (policy_names, is_truncated, marker) =
                page(names, q.marker.as_deref(), q.max_items)?;
            r(&iam::ListPoliciesResponse {
                policy_names,
                is_truncated,
                marker,
            })
        }
        Op::DeleteUserPolicy(q) => {
            state
                .iam_delete_policy::<UserRecord>(caller, q.user_name, q.policy_name)
                .await?;
            r(&())
        }
        Op::PutRolePolicy(q) => {
            state
                .iam_put_policy::<RoleRecord>(caller, q.role_name, q.policy_name, q.policy_document)
                .await?;
            r(&())
        }
        Op::GetRolePolicy(q) => {
            let policy_name = q.policy_name.clone();
            let (role, document) = state
                .iam_get_policy::<RoleRecord>(caller, q.role_name, q.policy_name)
                .await?;
            r(&iam::GetRolePolicyResponse {
                role_name: role.name,
                policy_name,
                policy_document: document,
            })
        }
        Op::ListRolePolicies(q) => {
            let names = state
                .iam_list_policies::<RoleRecord>(caller, q.role_name)
                .await?;
            let (policy_names, is_truncated, marker) =
                page(names, q.marker.as_deref(), q.max_items)?;
            r(&iam::ListPoliciesResponse {
                policy_names,
                is_truncated,
                marker,
            })
        }
        Op::DeleteRolePolicy(q) => {
            state
                .iam_delete_policy::<RoleRecord>(caller, q.role_name, q.policy_name)
                .await?;
            r(&())
        }
        Op::TagUser(q) => {
            state
                .iam_tag::<UserRecord>(caller, q.user_name, core_tags(Some(q.tags)))
                .await?;
            r(&())
        }
        Op::TagRole(q) => {
            state
                .iam_tag::<RoleRecord>(caller, q.role_name, core_tags(Some(q.tags)))
                .await?;
            r(&())
        }
        Op::UntagUser(q) => {
            state
                .iam_untag::<UserRecord>(caller, q.user_name, q.tag_keys)
                .await?;
            r(&())
        }
        Op::UntagRole(q) => {
            state
                .iam_untag::<RoleRecord>(caller, q.role_name, q.tag_keys)
                .await?;
            r(&())
        }
        Op::ListUserTags(q) => {
            let tags = state
                .iam_list_tags::<UserRecord>(caller, q.user_name)
                .await?;
            let (tags, is_truncated, marker) = page(tags, q.marker.as_deref(), q.max_items)?;
            r(&iam::ListTagsResponse {
                tags: wire_tags(&tags),
                is_truncated,
                marker,
            })
        }
        Op::ListRoleTags(q) => {
            let tags = state
                .iam_list_tags::<RoleRecord>(caller, q.role_name)
                .await?;
            let (tags, is_truncated, marker) = page(tags, q.marker.as_deref(), q.max_items)?;
            r(&iam::ListTagsResponse {
                tags: wire_tags(&tags),
                is_truncated,
                marker,
            })
        }
    })
}

pub(crate) async fn handle_sts(
    state: &AppState,
    caller: &Caller,
    operation: StsOperation,
    request_id: &str,
) -> Result<QueryReply, IamError> {
    match operation {
        StsOperation::GetCallerIdentity(_) => Ok(reply(
            wire_sts::encode,
            "GetCallerIdentity",
            &wire_sts::GetCallerIdentityResponse {
                user_id: caller.principal_id(),
                account: caller.account.to_string(),
                arn: caller.principal_arn.clone(),
            },
            request_id,
        )),
        StsOperation::AssumeRole(q) => {
            let issued = state
                .sts_assume_role(
                    caller,
                    q.role_arn,
                    q.role_session_name,
                    q.duration_seconds,
                    q.external_id,
                )
                .await?;
            let claims = &issued.claims;
            let assumed_role_user = wire_sts::AssumedRoleUser {
                assumed_role_id: format!("{}:{}", issued.role_id, claims.session_name),
                arn: claims.session_arn(),
            };
            let expiration = claims.expires().as_epoch_seconds();
            let response = wire_sts::AssumeRoleResponse {
                credentials: wire_sts::Credentials {
                    access_key_id: claims.access_key_id.clone(),
                    secret_access_key: SecretText::from(claims.secret_access_key.clone()),
                    session_token: SecretText::from(issued.token.clone()),
                    expiration,
                },
                assumed_role_user: assumed_role_user.clone(),
                packed_policy_size: None,
                source_identity: None,
                session_token_utilization: None,
                session_token_size: None,
            };
            // CloudTrail shows the credentials' id and expiry, never the secret or token.
            Ok(QueryReply {
                body: wire_sts::encode("AssumeRole", &response, request_id),
                audit: Some(serde_json::json!({
                    "credentials": {
                        "accessKeyId": claims.access_key_id,
                        "expiration": crate::audit::rfc3339(claims.expires()),
                    },
                    "assumedRoleUser": {
                        "assumedRoleId": assumed_role_user.assumed_role_id,
                        "arn": assumed_role_user.arn,
                    },
                })),
            })
        }
    }
}

/// Lets one closure encode every IAM response type.
mod erased {
    use super::QueryReply;

    pub(super) trait Reply {
        fn reply(&self, operation: &str, request_id: &str) -> QueryReply;
    }

    impl<T: serde::Serialize> Reply for T {
        fn reply(&self, operation: &str, request_id: &str) -> QueryReply {
            QueryReply {
                body: keyward_protocol::iam::encode(operation, self, request_id),
                audit: serde_json::to_value(self).ok().filter(|v| !v.is_null()),
            }
        }
    }
}
