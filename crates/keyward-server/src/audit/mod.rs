//! Every request becomes one audit event in CloudTrail's record format, durable before the
//! response leaves. Nothing in an event is a plaintext, a ciphertext, a secret value or
//! key material: requests and responses are shown through the model's audit view, which
//! drops blobs and everything marked sensitive.

pub(crate) mod writer;

use keyward_core::audit::AuditEvent;
use keyward_core::UnixMillis;
use keyward_protocol::json::{Direction, ServiceModel};
use keyward_protocol::WireError;
use serde_json::{json, Map, Value};

use crate::auth::{Caller, Identity};
use crate::state::AppState;

/// A service as the audit trail names it.
#[derive(Clone, Copy)]
pub(crate) struct Service {
    pub model: &'static ServiceModel,
    pub event_source: &'static str,
}

/// What the HTTP edge knows of a request, gathered as it is handled.
pub(crate) struct RequestAudit {
    pub request_id: String,
    pub time: UnixMillis,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub service: Option<Service>,
    pub operation: String,
    /// The caller once authenticated; else what the signature claimed.
    pub caller: Option<Caller>,
    pub claimed_access_key: Option<String>,
    pub claimed_region: Option<String>,
    /// Query requests (IAM, STS): the decoded input and the response as JSON values, for
    /// the audit view; JSON requests are read from their bodies.
    pub request_value: Option<Value>,
    pub response_value: Option<Value>,
    /// The Query service answering, when the request is a Query request.
    pub query: Option<&'static keyward_protocol::query::QueryService>,
}

/// Operations CloudTrail marks `readOnly` although their names do not say so.
const READ_ONLY_OPERATIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "GenerateMac",
    "VerifyMac",
    "Sign",
    "Verify",
    "DeriveSharedSecret",
];

/// Cryptographic operations: CloudTrail shows no response elements for them.
fn is_cryptographic(operation: &str) -> bool {
    READ_ONLY_OPERATIONS.contains(&operation)
}

pub(crate) fn is_read_only(operation: &str) -> bool {
    ["Describe", "List", "Get", "Lookup", "Validate", "BatchGet"]
        .iter()
        .any(|p| operation.starts_with(p))
        || is_cryptographic(operation)
}

fn event_source_is_kms(audit: &RequestAudit) -> bool {
    audit
        .service
        .is_some_and(|s| s.event_source == "kms.amazonaws.com")
}

fn resource_type(arn: &str) -> Option<&'static str> {
    if arn.starts_with("arn:aws:kms:") && arn.contains(":key/") {
        Some("AWS::KMS::Key")
    } else if arn.starts_with("arn:aws:secretsmanager:") && arn.contains(":secret:") {
        Some("AWS::SecretsManager::Secret")
    } else {
        None
    }
}

/// The resources an event is about, from the request's key or secret members and the
/// response's ARNs.
fn resources(
    request: Option<&Value>,
    response: Option<&Value>,
    account: &str,
    region: &str,
) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut add = |candidate: &str| {
        let arn = if uuid::Uuid::parse_str(candidate).is_ok() {
            format!("arn:aws:kms:{region}:{account}:key/{candidate}")
        } else {
            candidate.to_owned()
        };
        if let Some(kind) = resource_type(&arn) {
            if !found.iter().any(|(_, name)| *name == arn) {
                found.push((kind.to_owned(), arn));
            }
        }
    };
    // A ciphertext names its key: a refused Decrypt still shows which key it was for.
    if let Some(Value::String(blob)) = request.and_then(|r| r.get("CiphertextBlob")) {
        use base64::Engine;
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(blob) {
            if let Ok(header) = keyward_crypto::parse_header(&bytes) {
                add(&uuid::Uuid::from_bytes(header.key_id).to_string());
            }
        }
    }
    for (value, members) in [
        (
            request,
            &[
                "KeyId",
                "TargetKeyId",
                "SourceKeyId",
                "DestinationKeyId",
                "SecretId",
            ][..],
        ),
        (response, &["KeyId", "SourceKeyId", "ARN"][..]),
    ] {
        let Some(Value::Object(object)) = value else {
            continue;
        };
        for member in members {
            if let Some(Value::String(candidate)) = object.get(*member) {
                add(candidate);
            }
        }
        if let Some(Value::String(arn)) = object.get("KeyMetadata").and_then(|m| m.get("Arn")) {
            add(arn);
        }
    }
    found
}

pub(crate) fn rfc3339(at: UnixMillis) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp(at.0.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time.format(&format).unwrap_or_default()
}

fn user_identity(
    caller: Option<&Caller>,
    claimed_access_key: Option<&str>,
    invoked_by: Option<&str>,
) -> (Value, Option<String>) {
    let Some(caller) = caller else {
        let mut identity = Map::new();
        identity.insert("type".into(), json!("Unknown"));
        if let Some(key) = claimed_access_key {
            identity.insert("accessKeyId".into(), json!(key));
        }
        return (Value::Object(identity), None);
    };
    let (kind, username) = match &caller.identity {
        Identity::Root => ("Root", "root".to_owned()),
        Identity::User { name, .. } => ("IAMUser", name.clone()),
        Identity::AssumedRole { session_name, .. } => ("AssumedRole", session_name.clone()),
    };
    let mut identity = json!({
        "type": kind,
        "principalId": caller.principal_id(),
        "arn": caller.principal_arn,
        "accountId": caller.account.as_str(),
        "accessKeyId": caller.access_key_id,
    });
    if let Value::Object(map) = &mut identity {
        match &caller.identity {
            Identity::Root => {}
            Identity::User { name, .. } => {
                map.insert("userName".into(), json!(name));
            }
            Identity::AssumedRole {
                role_name,
                role_id,
                role_arn,
                issued,
                ..
            } => {
                map.insert(
                    "sessionContext".into(),
                    json!({
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": role_id,
                            "arn": role_arn,
                            "accountId": caller.account.as_str(),
                            "userName": role_name,
                        },
                        "attributes": {
                            "creationDate": rfc3339(*issued),
                            "mfaAuthenticated": "false",
                        },
                    }),
                );
            }
        }
        if let Some(service) = invoked_by {
            map.insert("invokedBy".into(), json!(service));
        }
    }
    (identity, Some(username))
}

/// Everything one event says; [`Draft::into_event`] lays it out as a CloudTrail record.
struct Draft<'a> {
    identity: Value,
    username: Option<String>,
    access_key_id: Option<String>,
    time: UnixMillis,
    event_source: &'a str,
    event_name: &'a str,
    account: String,
    region: String,
    source_ip: &'a str,
    user_agent: &'a str,
    request_parameters: Value,
    response_elements: Value,
    request_id: String,
    read_only: bool,
    resources: Vec<(String, String)>,
    error: Option<&'a WireError>,
}

impl Draft<'_> {
    fn into_event(self) -> AuditEvent {
        let event_id = uuid::Uuid::new_v4().to_string();
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|(kind, arn)| json!({"accountId": self.account, "type": kind, "ARN": arn}))
            .collect();
        let mut record = json!({
            "eventVersion": "1.08",
            "userIdentity": self.identity,
            "eventTime": rfc3339(self.time),
            "eventSource": self.event_source,
            "eventName": self.event_name,
            "awsRegion": self.region,
            "sourceIPAddress": self.source_ip,
            "userAgent": self.user_agent,
            "requestParameters": self.request_parameters,
            "responseElements": self.response_elements,
            "requestID": self.request_id,
            "eventID": event_id,
            "readOnly": self.read_only,
            "resources": resources,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
        });
        if let (Some(err), Value::Object(map)) = (self.error, &mut record) {
            map.insert("errorCode".into(), json!(err.code));
            if !err.message.is_empty() {
                map.insert("errorMessage".into(), json!(err.message));
            }
        }
        AuditEvent {
            event_id,
            event_time: self.time,
            event_source: self.event_source.to_owned(),
            event_name: self.event_name.to_owned(),
            read_only: self.read_only,
            username: self.username,
            access_key_id: self.access_key_id,
            resources: self.resources,
            account: self.account,
            region: self.region,
            record: record.to_string(),
        }
    }
}

impl AppState {
    async fn write_event(&self, draft: Draft<'_>) -> Result<(), WireError> {
        self.inner
            .audit
            .record(draft.into_event())
            .await
            .map_err(|detail| {
                tracing::error!(error = %detail, "audit write failed");
                WireError::internal()
            })
    }

    /// Writes the event for a request that is about to be answered. An error means the
    /// event could not be made durable: the request must fail.
    pub(crate) async fn audit_request(
        &self,
        audit: &RequestAudit,
        request_body: &[u8],
        result: &Result<Vec<u8>, WireError>,
    ) -> Result<(), WireError> {
        let (account, region) = match &audit.caller {
            Some(caller) => (caller.account.to_string(), caller.region.to_string()),
            None => (
                self.account().to_string(),
                audit
                    .claimed_region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".to_owned()),
            ),
        };
        let request: Option<Value> = match &audit.request_value {
            Some(value) => Some(value.clone()),
            None => serde_json::from_slice(request_body).ok(),
        };
        let response: Option<Value> = match (&audit.response_value, result) {
            (Some(value), Ok(_)) => Some(value.clone()),
            (None, Ok(body)) if !body.is_empty() && audit.query.is_none() => {
                serde_json::from_slice(body).ok()
            }
            _ => None,
        };
        let read_only = is_read_only(&audit.operation);
        let view = |value: &Option<Value>, direction| {
            audit
                .service
                .zip(value.as_ref())
                .and_then(|(s, v)| s.model.audit_view(&audit.operation, direction, v))
        };
        let mut request_parameters = view(&request, Direction::Request).unwrap_or(Value::Null);
        // CloudTrail always names the algorithm of symmetric cryptography, sent or not.
        let names_algorithm =
            matches!(audit.operation.as_str(), "Encrypt" | "Decrypt") && event_source_is_kms(audit);
        if let (true, Value::Object(map)) = (names_algorithm, &mut request_parameters) {
            map.entry("encryptionAlgorithm")
                .or_insert_with(|| json!("SYMMETRIC_DEFAULT"));
        }
        let response_elements = match result {
            Ok(_) if !read_only => view(&response, Direction::Response).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let (identity, username) = user_identity(
            audit.caller.as_ref(),
            audit.claimed_access_key.as_deref(),
            None,
        );
        let resources = resources(request.as_ref(), response.as_ref(), &account, &region);
        self.write_event(Draft {
            identity,
            username,
            access_key_id: audit
                .caller
                .as_ref()
                .map(|c| c.access_key_id.clone())
                .or_else(|| audit.claimed_access_key.clone()),
            // The time the request completes: events then come in time order, also after
            // the calls a service made on the caller's behalf while handling it.
            time: self.inner.clock.now().max(audit.time),
            event_source: audit
                .service
                .map(|s| s.event_source)
                .unwrap_or("unknown.amazonaws.com"),
            event_name: &audit.operation,
            account,
            region,
            source_ip: &audit.source_ip,
            user_agent: audit.user_agent.as_deref().unwrap_or_default(),
            request_parameters,
            response_elements,
            request_id: audit.request_id.clone(),
            read_only,
            resources,
            error: result.as_ref().err(),
        })
        .await
    }

    /// The event of a KMS call another service made on the caller's behalf, marked as
    /// invoked by that service, as CloudTrail shows it.
    pub(crate) async fn audit_service_call(
        &self,
        caller: &Caller,
        invoked_by: &str,
        operation: &str,
        request_parameters: Value,
        key_arn: Option<&str>,
        error: Option<&WireError>,
    ) -> Result<(), WireError> {
        let (identity, username) = user_identity(Some(caller), None, Some(invoked_by));
        self.write_event(Draft {
            identity,
            username,
            access_key_id: Some(caller.access_key_id.clone()),
            time: self.inner.clock.now(),
            event_source: "kms.amazonaws.com",
            event_name: operation,
            account: caller.account.to_string(),
            region: caller.region.to_string(),
            source_ip: invoked_by,
            user_agent: invoked_by,
            request_parameters,
            response_elements: Value::Null,
            request_id: uuid::Uuid::new_v4().to_string(),
            read_only: true,
            resources: key_arn
                .and_then(|arn| resource_type(arn).map(|kind| (kind.to_owned(), arn.to_owned())))
                .into_iter()
                .collect(),
            error,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_follows_cloudtrail() {
        assert!(is_read_only("Decrypt"));
        assert!(is_read_only("GetSecretValue"));
        assert!(is_read_only("ListAliases"));
        assert!(!is_read_only("CreateKey"));
        assert!(!is_read_only("PutSecretValue"));
    }

    #[test]
    fn resources_come_from_key_and_secret_members() {
        let request =
            json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "SecretId": "student"});
        let response =
            json!({"ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:student-AbCdEf"});
        let found = resources(Some(&request), Some(&response), "000000000000", "us-east-1");
        assert_eq!(
            found,
            vec![
                (
                    "AWS::KMS::Key".to_owned(),
                    "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                        .to_owned()
                ),
                (
                    "AWS::SecretsManager::Secret".to_owned(),
                    "arn:aws:secretsmanager:us-east-1:000000000000:secret:student-AbCdEf"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(
            rfc3339(UnixMillis(1_440_938_160_000)),
            "2015-08-30T12:36:00Z"
        );
    }
}
