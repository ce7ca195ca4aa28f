//! AWS Security Token Service on the wire (Query protocol, API version `2011-06-15`): the typed
//! shapes of `GetCallerIdentity` and `AssumeRole`, and [`StsOperation`], the typed value a
//! request becomes.
//!
//! ```text
//! Action=AssumeRole&Version=2011-06-15&RoleArn=…&RoleSessionName=ci  ─ QueryRequest::parse ─┐
//!     StsOperation::decode ─→ StsOperation::AssumeRole(AssumeRoleRequest)                ←─┘
//! AssumeRoleResponse ─ sts::encode("AssumeRole", &response, request_id) ─→ XML
//! ```
//!
//! STS words its validation errors as the JSON services do, quoting the value
//! (`Value 'a:b' at 'roleSessionName' failed to satisfy constraint: …`), under the Query
//! protocol's code `ValidationError`.

use serde::{Deserialize, Serialize};

use crate::iam::Tag;
use crate::json::{self, SecretText, Timestamp};
use crate::query::{self, QueryRequest, QueryService};
use crate::WireError;

/// The input of `GetCallerIdentity`: nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetCallerIdentityRequest {}

/// The input of `AssumeRole`. `Policy` is a session policy's JSON text; `DurationSeconds` is
/// 900 to 43200 (the role's own maximum is for the server to apply); every constraint of the
/// model has been checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleRequest {
    pub role_arn: String,
    pub role_session_name: String,
    pub policy_arns: Option<Vec<PolicyDescriptorType>>,
    pub policy: Option<String>,
    pub duration_seconds: Option<i32>,
    pub tags: Option<Vec<Tag>>,
    pub transitive_tag_keys: Option<Vec<String>>,
    pub external_id: Option<String>,
    pub serial_number: Option<String>,
    pub token_code: Option<String>,
    pub source_identity: Option<String>,
    pub provided_contexts: Option<Vec<ProvidedContext>>,
    pub minimum_session_token_size: Option<i32>,
}

/// A managed policy to use as a session policy. The member is `arn` in lower case on the wire
/// (`PolicyArns.member.1.arn`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDescriptorType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// A context assertion signed by a trusted context provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvidedContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_assertion: Option<String>,
}

/// Who is calling: the user id (`AIDA…`, or `AROA…:<session>` for an assumed role), the
/// account and the ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct GetCallerIdentityResponse {
    pub user_id: String,
    pub account: String,
    pub arn: String,
}

/// Temporary credentials. The secret access key and the session token are never shown by
/// `Debug` and are zeroized on drop.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: SecretText,
    pub session_token: SecretText,
    /// When the credentials expire, seconds since the Unix epoch (ISO 8601 on the wire).
    pub expiration: Timestamp,
}

/// The assumed-role session: `AssumedRoleId` is `<role id>:<session name>`, `Arn` is
/// `arn:aws:sts::<account>:assumed-role/<role name>/<session name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    pub assumed_role_id: String,
    pub arn: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(Deserialize))]
#[serde(rename_all = "PascalCase")]
pub struct AssumeRoleResponse {
    pub credentials: Credentials,
    pub assumed_role_user: AssumedRoleUser,
    /// Deprecated by AWS in favour of `SessionTokenUtilization`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packed_policy_size: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token_utilization: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token_size: Option<i32>,
}

/// An STS request, decoded and checked against the model.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per request, moved to its handler; a box would buy nothing"
)]
pub enum StsOperation {
    GetCallerIdentity(GetCallerIdentityRequest),
    AssumeRole(AssumeRoleRequest),
}

impl StsOperation {
    /// The names of the operations this server implements, as in `Action`.
    pub const SUPPORTED: &'static [&'static str] = &["GetCallerIdentity", "AssumeRole"];

    /// The operation's name, as in `Action` and in CloudTrail's `eventName`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GetCallerIdentity(_) => "GetCallerIdentity",
            Self::AssumeRole(_) => "AssumeRole",
        }
    }

    /// Decodes a parsed Query request: an unknown `Action` or a `Version` other than
    /// `2011-06-15` is `InvalidAction`; parameters that break the model are AWS's
    /// `ValidationError`, `MissingParameter` or `MalformedInput`.
    pub fn decode(request: &QueryRequest) -> Result<Self, WireError> {
        Self::decode_with_input(request).map(|(operation, _)| operation)
    }

    /// [`StsOperation::decode`], also returning the checked input as JSON (for the audit
    /// trail), so a request is decoded once.
    pub fn decode_with_input(
        request: &QueryRequest,
    ) -> Result<(Self, serde_json::Value), WireError> {
        let input = QueryService::sts().decode_input(request)?;
        let operation = match request.action() {
            "GetCallerIdentity" => json::into_request(input.clone()).map(Self::GetCallerIdentity),
            "AssumeRole" => json::into_request(input.clone()).map(Self::AssumeRole),
            // The trimmed model holds exactly the supported operations.
            other => Err(query::invalid_action(other, request.version())),
        }?;
        Ok((operation, input))
    }
}

/// The XML body of a successful STS response: `response` is the operation's typed output.
pub fn encode<T: Serialize>(operation: &str, response: &T, request_id: &str) -> Vec<u8> {
    QueryService::sts().encode(operation, response, request_id)
}

/// The XML body of an STS error.
pub fn error_body(error: &WireError, request_id: &str) -> Vec<u8> {
    QueryService::sts().error_body(error, request_id)
}

#[cfg(test)]
mod tests;
