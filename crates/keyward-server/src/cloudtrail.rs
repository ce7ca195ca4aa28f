//! CloudTrail's `LookupEvents` over the audit trail: newest first, one lookup attribute,
//! a time range, pages of at most 50.

use keyward_core::store::{AuditAttribute, AuditQuery};
use keyward_core::UnixMillis;
use keyward_protocol::cloudtrail::{
    CloudTrailOperation, Event, LookupAttributeKey, LookupEventsRequest, LookupEventsResponse,
    Resource,
};
use keyward_protocol::json::encode;
use keyward_protocol::WireError;

use crate::auth::Caller;
use crate::state::AppState;

const DEFAULT_RESULTS: usize = 50;
const TOKEN_PREFIX: &str = "kw1:";

/// CloudTrail answers a bad `MaxResults` or lookup attribute with its own exceptions
/// rather than the generic `ValidationException` of the codec.
pub(crate) fn refine_decode_error(err: WireError) -> WireError {
    if err.code != "ValidationException" {
        return err;
    }
    if err.message.contains("at 'maxResults'") {
        return WireError::client(
            "InvalidMaxResultsException",
            "MaxResults must be between 1 and 50.",
        );
    }
    if err.message.contains("at 'eventCategory'") {
        return WireError::client(
            "InvalidEventCategoryException",
            "The only valid EventCategory is insight.",
        );
    }
    if err.message.contains("at 'lookupAttributes.") {
        return WireError::client("InvalidLookupAttributesException", err.message);
    }
    err
}

pub(crate) async fn handle(
    state: &AppState,
    caller: &Caller,
    operation: CloudTrailOperation,
) -> Result<Vec<u8>, WireError> {
    match operation {
        CloudTrailOperation::LookupEvents(request) => {
            state
                .authorize(
                    caller,
                    "cloudtrail:LookupEvents",
                    "*",
                    None,
                    keyward_core::policy::ResourceMode::Optional,
                    keyward_core::policy::ConditionKeys::new(),
                )
                .await
                .map_err(|denied| match denied {
                    crate::authz::Denied::Policy(message) => {
                        WireError::client("AccessDeniedException", message)
                    }
                    crate::authz::Denied::Internal(err) => crate::errors::kms_to_wire(&err),
                })?;
            Ok(encode(&lookup_events(state, caller, request).await?))
        }
    }
}

fn attribute(key: LookupAttributeKey) -> AuditAttribute {
    match key {
        LookupAttributeKey::EventId => AuditAttribute::EventId,
        LookupAttributeKey::EventName => AuditAttribute::EventName,
        LookupAttributeKey::ReadOnly => AuditAttribute::ReadOnly,
        LookupAttributeKey::Username => AuditAttribute::Username,
        LookupAttributeKey::ResourceType => AuditAttribute::ResourceType,
        LookupAttributeKey::ResourceName => AuditAttribute::ResourceName,
        LookupAttributeKey::EventSource => AuditAttribute::EventSource,
        LookupAttributeKey::AccessKeyId => AuditAttribute::AccessKeyId,
    }
}

fn millis(seconds: f64) -> UnixMillis {
    UnixMillis((seconds * 1000.0).round() as i64)
}

async fn lookup_events(
    state: &AppState,
    caller: &Caller,
    r: LookupEventsRequest,
) -> Result<LookupEventsResponse, WireError> {
    if r.event_category.is_some() {
        // `insight` is the only category; this server records no Insights events.
        return Ok(LookupEventsResponse {
            events: Some(Vec::new()),
            next_token: None,
        });
    }
    let attributes = r.lookup_attributes.unwrap_or_default();
    if attributes.len() > 1 {
        return Err(WireError::client(
            "InvalidLookupAttributesException",
            "You can specify only one lookup attribute.",
        ));
    }
    let attribute = attributes
        .into_iter()
        .next()
        .map(|a| (attribute(a.attribute_key), a.attribute_value));
    let (start, end) = (r.start_time.map(millis), r.end_time.map(millis));
    if let (Some(start), Some(end)) = (start, end) {
        if start > end {
            return Err(WireError::client(
                "InvalidTimeRangeException",
                "Start time must be earlier than end time.",
            ));
        }
    }
    let before_seq = match r.next_token.as_deref() {
        Some(token) => Some(
            token
                .strip_prefix(TOKEN_PREFIX)
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| {
                    WireError::client("InvalidNextTokenException", "Invalid NextToken.")
                })?,
        ),
        None => None,
    };
    let limit = r
        .max_results
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_RESULTS);
    let query = AuditQuery {
        account: caller.account.to_string(),
        region: caller.region.to_string(),
        attribute,
        start,
        end,
        before_seq,
        limit: limit + 1,
    };
    let mut events = state
        .blocking(move |inner| Ok(inner.store.lookup_audit(&query)?))
        .await
        .map_err(|e| crate::errors::kms_to_wire(&e))?;
    let next_token = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| format!("{TOKEN_PREFIX}{}", e.seq))
    } else {
        None
    };
    Ok(LookupEventsResponse {
        events: Some(
            events
                .into_iter()
                .map(|chained| {
                    let e = chained.event;
                    Event {
                        event_id: Some(e.event_id),
                        event_name: Some(e.event_name),
                        read_only: Some(e.read_only.to_string()),
                        access_key_id: e.access_key_id,
                        event_time: Some(e.event_time.as_epoch_seconds()),
                        event_source: Some(e.event_source),
                        username: e.username,
                        resources: Some(
                            e.resources
                                .into_iter()
                                .map(|(kind, name)| Resource {
                                    resource_type: Some(kind),
                                    resource_name: Some(name),
                                })
                                .collect(),
                        ),
                        cloud_trail_event: Some(e.record),
                    }
                })
                .collect(),
        ),
        next_token,
    })
}
