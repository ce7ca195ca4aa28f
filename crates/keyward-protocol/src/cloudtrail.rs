//! AWS CloudTrail (`com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101`) on the wire: the
//! typed shapes of `LookupEvents`, the one operation Keyward serves, and [`CloudTrailOperation`],
//! the typed value a request body becomes.
//!
//! ```text
//! X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents  ─┐
//! body: {"LookupAttributes":[…],"StartTime":1704164645,"MaxResults":50}              ─┴─
//!     CloudTrailOperation::decode ─→ CloudTrailOperation::LookupEvents(LookupEventsRequest)
//! ```
//!
//! Every other operation of the model (trails, event data stores, Lake queries, …) is checked
//! against the model like any request and then answered with CloudTrail's own
//! `UnsupportedOperationException`.
//!
//! Timestamps carry no `timestampFormat` in this model, so they are JSON 1.1's default: seconds
//! since the Unix epoch as JSON numbers. botocore sends whole seconds (`1704164645`), other SDKs
//! may send fractions; both are a [`Timestamp`].

use serde::{Deserialize, Serialize};

use crate::json::{self, wire_enums, ServiceModel, Timestamp};
use crate::WireError;

wire_enums! {
    LookupAttributeKey {
        EventId = "EventId",
        EventName = "EventName",
        ReadOnly = "ReadOnly",
        Username = "Username",
        ResourceType = "ResourceType",
        ResourceName = "ResourceName",
        EventSource = "EventSource",
        AccessKeyId = "AccessKeyId",
    }
    EventCategory {
        Insight = "insight",
    }
}

/// One `LookupEvents` filter. The model allows a list of them; AWS documents that the list may
/// hold a single attribute. `AttributeValue` is 1 to 2000 characters, already checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupAttribute {
    pub attribute_key: LookupAttributeKey,
    pub attribute_value: String,
}

/// The input of `LookupEvents`: every member is optional. `MaxResults` is 1 to 50, already
/// checked; the time range and the token are for the server to judge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupEventsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_attributes: Option<Vec<LookupAttribute>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_category: Option<EventCategory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// The output of `LookupEvents`. Absent members are left out of the JSON, as AWS does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupEventsResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One event as `LookupEvents` lists it. `ReadOnly` is a string in the model (`"true"` or
/// `"false"`), and `CloudTrailEvent` is the whole event record as a JSON document in a string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<Resource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_trail_event: Option<String>,
}

/// A resource an event refers to, e.g. `AWS::KMS::Key` and its ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// A CloudTrail request, decoded and checked against the model.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudTrailOperation {
    LookupEvents(LookupEventsRequest),
}

impl CloudTrailOperation {
    /// The names of the operations this server implements, as in `X-Amz-Target`.
    pub const SUPPORTED: &'static [&'static str] = &["LookupEvents"];

    /// The operation's name, as in `X-Amz-Target` and in CloudTrail's `eventName`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::LookupEvents(_) => "LookupEvents",
        }
    }

    /// Decodes the body of `<CloudTrail prefix>.<operation>`: an operation the model does not
    /// know is `UnknownOperationException`; a body that breaks the model is AWS's
    /// `SerializationException` or `ValidationException`; a valid request for any other
    /// operation of the model is `UnsupportedOperationException`.
    pub fn decode(operation: &str, body: &[u8]) -> Result<Self, WireError> {
        let input = ServiceModel::cloudtrail().decode_input(operation, body)?;
        Self::from_input(operation, input)
    }

    fn from_input(operation: &str, input: serde_json::Value) -> Result<Self, WireError> {
        match operation {
            "LookupEvents" => json::into_request(input).map(Self::LookupEvents),
            _ if ServiceModel::cloudtrail().has_operation(operation) => Err(WireError::client(
                "UnsupportedOperationException",
                format!("{operation} is not supported by this server."),
            )),
            _ => Err(json::unknown_operation()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    //! The typed shapes against the model: every member survives a round trip under its wire
    //! name and every enum has exactly the model's values.

    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    use super::*;
    use crate::json::examples::{self, example, without_nulls};

    fn model() -> &'static ServiceModel {
        ServiceModel::cloudtrail()
    }

    #[test]
    fn supported_operations_are_in_the_model() {
        for operation in CloudTrailOperation::SUPPORTED {
            assert!(model().has_operation(operation), "{operation}");
        }
    }

    #[test]
    fn every_request_member_round_trips_under_its_wire_name() {
        for operation in CloudTrailOperation::SUPPORTED {
            let input_shape = model().operation(operation).unwrap().input.unwrap();
            let input = example(model(), input_shape, 0);
            let decoded = CloudTrailOperation::from_input(operation, input.clone())
                .unwrap_or_else(|e| panic!("{operation}: {e}"));
            assert_eq!(decoded.name(), *operation);
            let CloudTrailOperation::LookupEvents(request) = decoded;
            assert_eq!(
                without_nulls(serde_json::to_value(request).unwrap()),
                input,
                "{operation}"
            );
        }
    }

    /// Deserializes a shape's JSON into its type and serializes it back.
    type RoundTrip = fn(Value) -> Value;

    fn round_trip<T: DeserializeOwned + Serialize>(value: Value) -> Value {
        serde_json::to_value(serde_json::from_value::<T>(value).unwrap()).unwrap()
    }

    #[test]
    fn every_response_member_round_trips_under_its_wire_name() {
        let cases: &[(&str, RoundTrip)] = &[
            ("LookupEventsResponse", round_trip::<LookupEventsResponse>),
            ("Event", round_trip::<Event>),
            ("Resource", round_trip::<Resource>),
            ("LookupAttribute", round_trip::<LookupAttribute>),
            ("LookupEventsRequest", round_trip::<LookupEventsRequest>),
        ];
        for (shape, round_trip) in cases {
            let value = examples::example_of(model(), shape);
            assert_eq!(round_trip(value.clone()), value, "{shape}");
        }
    }

    #[test]
    fn every_enum_has_exactly_the_model_values() {
        fn wire<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
            all: &[T],
            as_str: fn(&T) -> &'static str,
            from_wire: fn(&str) -> Option<T>,
        ) -> Vec<&'static str> {
            all.iter()
                .map(|v| {
                    let value = serde_json::to_value(v).unwrap();
                    assert_eq!(value, json!(as_str(v)));
                    assert_eq!(&serde_json::from_value::<T>(value).unwrap(), v);
                    assert_eq!(from_wire(as_str(v)).as_ref(), Some(v));
                    as_str(v)
                })
                .collect()
        }
        assert_eq!(
            wire(
                LookupAttributeKey::ALL,
                |v| v.as_str(),
                LookupAttributeKey::from_wire
            ),
            examples::enum_values(model(), "LookupAttributeKey")
        );
        assert_eq!(
            wire(EventCategory::ALL, |v| v.as_str(), EventCategory::from_wire),
            examples::enum_values(model(), "EventCategory")
        );
        assert_eq!(LookupAttributeKey::AccessKeyId.to_string(), "AccessKeyId");
        assert_eq!(EventCategory::Insight.to_string(), "insight");
    }

    #[test]
    fn every_other_operation_of_the_model_is_unsupported() {
        let mut others = 0;
        for operation in model().operation_names() {
            if CloudTrailOperation::SUPPORTED.contains(&operation) {
                continue;
            }
            let error = CloudTrailOperation::from_input(operation, json!({})).unwrap_err();
            assert_eq!(
                (error.code, error.message, error.status),
                (
                    "UnsupportedOperationException",
                    format!("{operation} is not supported by this server."),
                    400
                )
            );
            others += 1;
        }
        assert!(others > 50, "{others}");
        let error = CloudTrailOperation::from_input("NoSuchOperation", json!({})).unwrap_err();
        assert_eq!(error.code, "UnknownOperationException");
    }

    #[test]
    fn a_mistyped_member_is_not_silently_defaulted() {
        let error = CloudTrailOperation::from_input("LookupEvents", json!({"MaxResults": "5"}))
            .unwrap_err();
        assert_eq!(error.code, "SerializationException");
    }

    #[test]
    fn absent_response_members_are_left_out() {
        for encoded in [
            json::encode(&LookupEventsResponse::default()),
            json::encode(&Event::default()),
            json::encode(&Resource::default()),
            json::encode(&LookupEventsRequest::default()),
        ] {
            assert_eq!(encoded, b"{}");
        }
    }
}
