//! AWS Identity and Access Management on the wire (Query protocol, API version `2010-05-08`):
//! the typed request and response shapes of the operations Keyward serves, and
//! [`IamOperation`], the one typed value a request becomes.
//!
//! ```text
//! Action=CreateUser&Version=2010-05-08&UserName=alice  ─ QueryRequest::parse ─┐
//!     IamOperation::decode ─→ IamOperation::CreateUser(CreateUserRequest)  ←─┘
//! CreateUserResponse ─ iam::encode("CreateUser", &response, request_id) ─→ XML
//! ```
//!
//! Policy documents travel as plain JSON text in both directions of these types: requests
//! carry the text the client sent, and the responses take the text to return —
//! [`encode`] percent-encodes `PolicyDocument` and `AssumeRolePolicyDocument` (RFC 3986) inside
//! the XML, as IAM does and as botocore expects before it decodes and parses them.

mod requests;
mod responses;

pub use requests::*;
pub use responses::*;

use serde::Serialize;

use crate::json::{self, wire_enums};
use crate::query::{self, QueryRequest, QueryService};
use crate::WireError;

wire_enums! {
    StatusType {
        Active = "Active",
        Inactive = "Inactive",
        Expired = "Expired",
    }
    PermissionsBoundaryAttachmentType {
        PermissionsBoundaryPolicy = "PermissionsBoundaryPolicy",
    }
}

impl Default for StatusType {
    /// A new access key is active.
    fn default() -> Self {
        Self::Active
    }
}

macro_rules! iam_operations {
    ($($operation:ident($request:ident),)+) => {
        /// An IAM request, decoded and checked against the model.
        #[derive(Debug, Clone, PartialEq)]
        pub enum IamOperation {
            $($operation($request),)+
        }

        impl IamOperation {
            /// The names of the operations this server implements, as in `Action`.
            pub const SUPPORTED: &'static [&'static str] = &[$(stringify!($operation)),+];

            /// The operation's name, as in `Action` and in CloudTrail's `eventName`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$operation(_) => stringify!($operation),)+
                }
            }

            /// The typed request from checked input. The trimmed model holds exactly the
            /// supported operations, so any other action has been refused already.
            fn from_input(action: &str, input: serde_json::Value) -> Result<Self, WireError> {
                match action {
                    $(stringify!($operation) => json::into_request(input).map(Self::$operation),)+
                    other => Err(query::invalid_action(
                        other,
                        Some(QueryService::iam().model().api_version()),
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

iam_operations! {
    CreateUser(CreateUserRequest),
    GetUser(GetUserRequest),
    ListUsers(ListUsersRequest),
    DeleteUser(DeleteUserRequest),
    CreateAccessKey(CreateAccessKeyRequest),
    ListAccessKeys(ListAccessKeysRequest),
    UpdateAccessKey(UpdateAccessKeyRequest),
    DeleteAccessKey(DeleteAccessKeyRequest),
    CreateRole(CreateRoleRequest),
    GetRole(GetRoleRequest),
    ListRoles(ListRolesRequest),
    DeleteRole(DeleteRoleRequest),
    UpdateAssumeRolePolicy(UpdateAssumeRolePolicyRequest),
    PutUserPolicy(PutUserPolicyRequest),
    GetUserPolicy(GetUserPolicyRequest),
    ListUserPolicies(ListUserPoliciesRequest),
    DeleteUserPolicy(DeleteUserPolicyRequest),
    PutRolePolicy(PutRolePolicyRequest),
    GetRolePolicy(GetRolePolicyRequest),
    ListRolePolicies(ListRolePoliciesRequest),
    DeleteRolePolicy(DeleteRolePolicyRequest),
    TagUser(TagUserRequest),
    TagRole(TagRoleRequest),
    UntagUser(UntagUserRequest),
    UntagRole(UntagRoleRequest),
    ListUserTags(ListUserTagsRequest),
    ListRoleTags(ListRoleTagsRequest),
}

impl IamOperation {
    /// Decodes a parsed Query request: an unknown `Action` or a `Version` other than
    /// `2010-05-08` is `InvalidAction`; parameters that break the model are AWS's
    /// `ValidationError`, `MissingParameter` or `MalformedInput`.
    pub fn decode(request: &QueryRequest) -> Result<Self, WireError> {
        Self::decode_with_input(request).map(|(operation, _)| operation)
    }

    /// [`IamOperation::decode`], also returning the checked input as JSON (for the audit
    /// trail), so a request is decoded once.
    pub fn decode_with_input(
        request: &QueryRequest,
    ) -> Result<(Self, serde_json::Value), WireError> {
        let input = QueryService::iam().decode_input(request)?;
        let operation = Self::from_input(request.action(), input.clone())?;
        Ok((operation, input))
    }
}

/// The XML body of a successful IAM response. `response` is the operation's typed output
/// (`CreateUserResponse` for `CreateUser`, …); operations without one (`DeleteUser`, `TagRole`,
/// …) answer with the response metadata alone, so any value will do (`&()`).
pub fn encode<T: Serialize>(operation: &str, response: &T, request_id: &str) -> Vec<u8> {
    QueryService::iam().encode(operation, response, request_id)
}

/// The XML body of an IAM error.
pub fn error_body(error: &WireError, request_id: &str) -> Vec<u8> {
    QueryService::iam().error_body(error, request_id)
}

#[cfg(test)]
mod tests;
