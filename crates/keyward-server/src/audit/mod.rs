//! Every request becomes one audit event in CloudTrail's record format, durable before the
//! response leaves. Nothing in an event is a plaintext, a ciphertext, a secret value or
//! key material: requests and responses are shown through the model's audit view, which
//! drops blobs and everything marked sensitive.

pub(crate) mod writer;

use keyward_core::audit::AuditEvent;
use keyward_core::UnixMillis;
use keyward_protocol::json::{Direction, ServiceModel};
use keyward_protocol::WireError;
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::{Caller, Identity};
use crate::state::AppState;

tokio::task_local! {
    /// The events of calls a service made on the caller's behalf while one request was
    /// handled (Secrets Manager's KMS calls), handed to the writer but not yet confirmed:
    /// the request's own event follows them into the chain, and the request answers only
    /// once all are durable. Waiting for them together saves a group commit per request.
    static ON_BEHALF: std::cell::RefCell<Vec<writer::Pending>>;
}

/// Runs one request's handling and auditing, with room for the events of the calls
/// services make on the caller's behalf.
pub(crate) async fn request_scope<F: std::future::Future>(work: F) -> F::Output {
    ON_BEHALF
        .scope(std::cell::RefCell::new(Vec::new()), work)
        .await
}

/// Random bytes for request and event ids. Ids are unique, not secret: they come from a
/// per-thread generator seeded from the operating system's randomness, not from the
/// cryptographic generator, whose every call read the CPU's hardware generator and cost a
/// fortieth of the server's time under load. Nonces and key material still come from
/// aws-lc.
fn id_bytes() -> [u8; 16] {
    fastrand::u128(..).to_le_bytes()
}

/// A fresh random (version 4) UUID as text, for request ids.
pub(crate) fn new_id() -> String {
    uuid::Builder::from_random_bytes(id_bytes())
        .into_uuid()
        .to_string()
}

/// An event id: a time-ordered (version 7) UUID from the event's time. CloudTrail's ids are
/// random UUIDs; these look the same to a client, but consecutive events' ids sort
/// together, so the index that finds an event by id grows at its end instead of dirtying a
/// random page of it for every event written.
fn new_event_id(time: UnixMillis) -> String {
    let bytes = id_bytes();
    let mut random = [0u8; 10];
    random.copy_from_slice(&bytes[..10]);
    let millis = u64::try_from(time.0).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

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

/// `userIdentity` as CloudTrail lays it out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<SessionContext<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoked_by: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    session_issuer: SessionIssuer<'a>,
    attributes: SessionAttributes,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: &'a str,
    arn: &'a str,
    account_id: &'a str,
    user_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes {
    creation_date: String,
    mfa_authenticated: &'static str,
}

/// The caller as CloudTrail shows it, and the user name lookups match.
fn user_identity<'a>(
    caller: Option<&'a Caller>,
    claimed_access_key: Option<&'a str>,
    invoked_by: Option<&'a str>,
) -> (UserIdentity<'a>, Option<String>) {
    let Some(caller) = caller else {
        let identity = UserIdentity {
            kind: "Unknown",
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: claimed_access_key,
            user_name: None,
            session_context: None,
            invoked_by: None,
        };
        return (identity, None);
    };
    let account = caller.account.as_str();
    let (kind, username, user_name, session_context) = match &caller.identity {
        Identity::Root => ("Root", "root".to_owned(), None, None),
        Identity::User { name, .. } => ("IAMUser", name.clone(), Some(name.as_str()), None),
        Identity::AssumedRole {
            role_name,
            role_id,
            role_arn,
            issued,
            session_name,
            ..
        } => (
            "AssumedRole",
            session_name.clone(),
            None,
            Some(SessionContext {
                session_issuer: SessionIssuer {
                    kind: "Role",
                    principal_id: role_id,
                    arn: role_arn,
                    account_id: account,
                    user_name: role_name,
                },
                attributes: SessionAttributes {
                    creation_date: rfc3339(*issued),
                    mfa_authenticated: "false",
                },
            }),
        ),
    };
    let identity = UserIdentity {
        kind,
        principal_id: Some(caller.principal_id()),
        arn: Some(&caller.principal_arn),
        account_id: Some(account),
        access_key_id: Some(&caller.access_key_id),
        user_name,
        session_context,
        invoked_by,
    };
    (identity, Some(username))
}

/// A CloudTrail record, its members in CloudTrail's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: &'a UserIdentity<'a>,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: &'a Value,
    response_elements: &'a Value,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    resources: Vec<RecordResource<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    event_category: &'static str,
}

#[derive(Serialize)]
struct RecordResource<'a> {
    #[serde(rename = "accountId")]
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(rename = "ARN")]
    arn: &'a str,
}

/// Everything one event says; [`Draft::into_event`] lays it out as a CloudTrail record.
struct Draft<'a> {
    identity: UserIdentity<'a>,
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
        let event_id = new_event_id(self.time);
        let record = Record {
            event_version: "1.08",
            user_identity: &self.identity,
            event_time: rfc3339(self.time),
            event_source: self.event_source,
            event_name: self.event_name,
            aws_region: &self.region,
            source_ip_address: self.source_ip,
            user_agent: self.user_agent,
            error_code: self.error.map(|err| err.code),
            error_message: self
                .error
                .map(|err| err.message.as_str())
                .filter(|message| !message.is_empty()),
            request_parameters: &self.request_parameters,
            response_elements: &self.response_elements,
            request_id: &self.request_id,
            event_id: &event_id,
            read_only: self.read_only,
            resources: self
                .resources
                .iter()
                .map(|(kind, arn)| RecordResource {
                    account_id: &self.account,
                    kind,
                    arn,
                })
                .collect(),
            event_type: "AwsApiCall",
            management_event: true,
            recipient_account_id: &self.account,
            event_category: "Management",
        };
        // Serializing these types cannot fail: every map key is a string.
        let record = serde_json::to_string(&record).unwrap_or_default();
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
            record,
        }
    }
}

fn audit_write_failed(detail: String) -> WireError {
    tracing::error!(error = %detail, "audit write failed");
    WireError::internal()
}

impl AppState {
    async fn write_event(&self, draft: Draft<'_>) -> Result<(), WireError> {
        self.inner
            .audit
            .record(draft.into_event())
            .await
            .map_err(audit_write_failed)
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
        let written = self
            .write_event(Draft {
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
            .await;
        // The events of calls made on the caller's behalf went to the writer first: by now
        // they are written, or they failed and so must the request.
        let on_behalf = ON_BEHALF
            .try_with(|pending| pending.take())
            .unwrap_or_default();
        for pending in on_behalf {
            pending.wait().await.map_err(audit_write_failed)?;
        }
        written
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
        let event = ServiceEvent {
            event_source: "kms.amazonaws.com",
            operation,
            request_parameters,
            resource_arn: key_arn,
            error,
            read_only: true,
        };
        self.audit_service_event(caller, invoked_by, event).await
    }

    /// The event of work a service did for the caller's account (a KMS call on the
    /// caller's behalf, a secret's rotation), marked as invoked by that service.
    pub(crate) async fn audit_service_event(
        &self,
        caller: &Caller,
        invoked_by: &str,
        service_event: ServiceEvent<'_>,
    ) -> Result<(), WireError> {
        let (identity, username) = user_identity(Some(caller), None, Some(invoked_by));
        let event = Draft {
            identity,
            username,
            access_key_id: Some(caller.access_key_id.clone()).filter(|k| !k.is_empty()),
            time: self.inner.clock.now(),
            event_source: service_event.event_source,
            event_name: service_event.operation,
            account: caller.account.to_string(),
            region: caller.region.to_string(),
            source_ip: invoked_by,
            user_agent: invoked_by,
            request_parameters: service_event.request_parameters,
            response_elements: Value::Null,
            request_id: new_id(),
            read_only: service_event.read_only,
            resources: service_event
                .resource_arn
                .and_then(|arn| resource_type(arn).map(|kind| (kind.to_owned(), arn.to_owned())))
                .into_iter()
                .collect(),
            error: service_event.error,
        }
        .into_event();
        let pending = self
            .inner
            .audit
            .enqueue(event)
            .await
            .map_err(audit_write_failed)?;
        let mut pending = Some(pending);
        let _ = ON_BEHALF.try_with(|list| list.borrow_mut().extend(pending.take()));
        match pending {
            // The request this call is part of waits for it.
            None => Ok(()),
            // Outside a request (a background job): wait here.
            Some(pending) => pending.wait().await.map_err(audit_write_failed),
        }
    }
}

/// What a service did, for [`AppState::audit_service_event`].
pub(crate) struct ServiceEvent<'a> {
    pub event_source: &'static str,
    pub operation: &'a str,
    pub request_parameters: Value,
    pub resource_arn: Option<&'a str>,
    pub error: Option<&'a WireError>,
    pub read_only: bool,
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
