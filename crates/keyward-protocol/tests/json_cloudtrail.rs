//! CloudTrail `LookupEvents` bodies exactly as botocore serializes them (`botocore.serialize`
//! for the `cloudtrail` 2013-11-01 model) become typed requests, bodies that break the model get
//! AWS's errors, and typed responses become the JSON the SDKs expect.

// Test helpers outside #[test] functions fail loudly by design.
#![allow(clippy::unwrap_used, clippy::panic)]

use keyward_protocol::cloudtrail::*;
use keyward_protocol::json::{self, ServiceModel};
use keyward_protocol::WireError;
use serde_json::{json, Value};

const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

fn lookup(body: &str) -> LookupEventsRequest {
    match CloudTrailOperation::decode("LookupEvents", body.as_bytes()) {
        Ok(CloudTrailOperation::LookupEvents(request)) => request,
        Err(e) => panic!("{body}: {e}"),
    }
}

fn decode_error(operation: &str, body: &str) -> WireError {
    match CloudTrailOperation::decode(operation, body.as_bytes()) {
        Ok(request) => panic!("{operation} {body} was accepted as {request:?}"),
        Err(error) => error,
    }
}

fn validation(body: &str) -> String {
    let WireError {
        code,
        message,
        status,
    } = decode_error("LookupEvents", body);
    assert_eq!((code, status), ("ValidationException", 400), "{message}");
    message
}

#[test]
fn the_model_is_cloudtrails_wire() {
    let model = ServiceModel::cloudtrail();
    assert_eq!(model.target_prefix(), TARGET_PREFIX);
    assert_eq!(model.service_id(), "CloudTrail");
    assert_eq!(
        json::parse_target(&format!("{TARGET_PREFIX}.LookupEvents")),
        Some((TARGET_PREFIX, "LookupEvents"))
    );
    // The two patterns Rust's regex cannot compile are Java surrogate ranges, left unchecked.
    let mut unchecked: Vec<_> = model.unchecked_patterns().collect();
    unchecked.sort_unstable();
    let surrogates = "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*";
    assert_eq!(
        unchecked,
        [
            ("PartitionKeyName", surrogates),
            ("PartitionKeyType", surrogates)
        ]
    );
}

#[test]
fn lookup_events_as_botocore_sends_it() {
    // lookup_events(LookupAttributes=[{EventName: Encrypt}], StartTime=datetime(2024,1,2,3,4,5),
    // EndTime=datetime(2024,1,3,0,0,0,500000), MaxResults=50, NextToken="tok==")
    let body = r#"{"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}], "StartTime": 1704164645, "EndTime": 1704240000, "MaxResults": 50, "NextToken": "tok=="}"#;
    let operation = CloudTrailOperation::decode("LookupEvents", body.as_bytes()).unwrap();
    assert_eq!(operation.name(), "LookupEvents");
    let CloudTrailOperation::LookupEvents(request) = operation;
    assert_eq!(
        request,
        LookupEventsRequest {
            lookup_attributes: Some(vec![LookupAttribute {
                attribute_key: LookupAttributeKey::EventName,
                attribute_value: "Encrypt".into(),
            }]),
            start_time: Some(1_704_164_645.0),
            end_time: Some(1_704_240_000.0),
            event_category: None,
            max_results: Some(50),
            next_token: Some("tok==".into()),
        }
    );
}

#[test]
fn every_attribute_key_decodes() {
    for key in LookupAttributeKey::ALL {
        let body =
            json!({"LookupAttributes": [{"AttributeKey": key.as_str(), "AttributeValue": "v"}]})
                .to_string();
        let request = lookup(&body);
        assert_eq!(
            request.lookup_attributes.unwrap()[0].attribute_key,
            *key,
            "{body}"
        );
    }
    let request = lookup(
        r#"{"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}, {"AttributeKey": "ResourceName", "AttributeValue": "arn:aws:kms:us-east-1:000000000000:key/1234"}]}"#,
    );
    let attributes = request.lookup_attributes.unwrap();
    assert_eq!(attributes.len(), 2);
    assert_eq!(
        attributes[1].attribute_key,
        LookupAttributeKey::ResourceName
    );
}

#[test]
fn an_empty_lookup_is_all_defaults() {
    // `aws cloudtrail lookup-events` with no options sends `{}`.
    for body in ["{}", "", "  \n"] {
        assert_eq!(lookup(body), LookupEventsRequest::default(), "{body:?}");
    }
    // null members count as absent, unknown members are dropped.
    assert_eq!(
        lookup(r#"{"MaxResults": null, "LookupAttributes": null, "Unknown": 1}"#),
        LookupEventsRequest::default()
    );
}

#[test]
fn insight_category_and_whole_seconds() {
    // lookup_events(EventCategory="insight", StartTime=1700000000)
    let request = lookup(r#"{"EventCategory": "insight", "StartTime": 1700000000}"#);
    assert_eq!(request.event_category, Some(EventCategory::Insight));
    assert_eq!(request.start_time, Some(1_700_000_000.0));
    assert_eq!(request.end_time, None);
}

#[test]
fn fractional_and_exponent_timestamps_are_accepted() {
    // Other SDKs send milliseconds as fractions, and Java-based ones may write exponents.
    let request = lookup(r#"{"StartTime": 1704164645.123, "EndTime": 1.7042400005E9}"#);
    assert_eq!(request.start_time, Some(1_704_164_645.123));
    assert_eq!(request.end_time, Some(1_704_240_000.5));
}

/// Found by the `json` fuzz target: without serde_json's `float_roundtrip` feature some
/// numbers were read one unit in the last place off (this one as ...825e-75), so a value did
/// not survive being written out and read back.
#[test]
fn timestamps_are_read_correctly_rounded_and_round_trip() {
    for text in [
        "1.0715660391465826e-75",
        "-1.81996730402717e-179",
        "1733356800.123456",
    ] {
        let exact: f64 = text.parse().unwrap();
        let request = lookup(&format!(r#"{{"StartTime": {text}}}"#));
        assert_eq!(request.start_time, Some(exact), "{text}");
        let model = ServiceModel::cloudtrail();
        let input = model
            .decode_input(
                "LookupEvents",
                format!(r#"{{"StartTime": {text}}}"#).as_bytes(),
            )
            .unwrap();
        let again = model
            .decode_input("LookupEvents", &serde_json::to_vec(&input).unwrap())
            .unwrap();
        assert_eq!(again, input, "{text}");
    }
}

#[test]
fn a_timestamp_that_is_not_a_number_is_a_serialization_error() {
    let error = decode_error("LookupEvents", r#"{"StartTime": "2024-01-02T03:04:05Z"}"#);
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            "SerializationException",
            "STRING_VALUE can not be converted to a Timestamp"
        )
    );
    let error = decode_error("LookupEvents", r#"{"MaxResults": "50"}"#);
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            "SerializationException",
            "STRING_VALUE can not be converted to an Integer"
        )
    );
    let error = decode_error(
        "LookupEvents",
        r#"{"LookupAttributes": {"AttributeKey": "EventName"}}"#,
    );
    assert_eq!(
        (error.code, error.message.as_str()),
        (
            "SerializationException",
            "Start of structure or map found where not expected."
        )
    );
}

#[test]
fn max_results_outside_one_to_fifty_is_a_validation_error() {
    assert_eq!(lookup(r#"{"MaxResults": 1}"#).max_results, Some(1));
    assert_eq!(lookup(r#"{"MaxResults": 50}"#).max_results, Some(50));
    assert_eq!(
        validation(r#"{"MaxResults": 51}"#),
        "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: \
         Member must have value less than or equal to 50"
    );
    assert_eq!(
        validation(r#"{"MaxResults": 0}"#),
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: \
         Member must have value greater than or equal to 1"
    );
}

#[test]
fn an_unknown_attribute_key_lists_the_allowed_values() {
    assert_eq!(
        validation(
            r#"{"LookupAttributes": [{"AttributeKey": "EventTime", "AttributeValue": "x"}]}"#
        ),
        "1 validation error detected: Value 'EventTime' at \
         'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: Member must \
         satisfy enum value set: [EventId, EventName, ReadOnly, Username, ResourceType, \
         ResourceName, EventSource, AccessKeyId]"
    );
    // Enum values are case-sensitive, as on AWS.
    assert!(validation(
        r#"{"LookupAttributes": [{"AttributeKey": "eventname", "AttributeValue": "x"}]}"#
    )
    .contains("Value 'eventname' at 'lookupAttributes.1.member.attributeKey'"));
}

#[test]
fn an_unknown_event_category_lists_the_allowed_value() {
    assert_eq!(
        validation(r#"{"EventCategory": "management"}"#),
        "1 validation error detected: Value 'management' at 'eventCategory' failed to satisfy \
         constraint: Member must satisfy enum value set: [insight]"
    );
}

#[test]
fn attribute_members_are_required_and_values_bounded() {
    assert_eq!(
        validation(r#"{"LookupAttributes": [{"AttributeKey": "Username"}]}"#),
        "1 validation error detected: Value null at 'lookupAttributes.1.member.attributeValue' \
         failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        validation(
            r#"{"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "alice"}, {"AttributeKey": "Username", "AttributeValue": ""}]}"#
        ),
        "1 validation error detected: Value '' at 'lookupAttributes.2.member.attributeValue' \
         failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    let long = "a".repeat(2001);
    let message = validation(
        &json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": long}]})
            .to_string(),
    );
    assert!(
        message.ends_with("Member must have length less than or equal to 2000"),
        "{message}"
    );
    assert_eq!(
        lookup(
            &json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "a".repeat(2000)}]})
                .to_string()
        )
        .lookup_attributes
        .unwrap()[0]
            .attribute_value
            .len(),
        2000
    );
}

#[test]
fn all_violations_are_reported_together() {
    assert_eq!(
        validation(
            r#"{"LookupAttributes": [{"AttributeKey": "Nope"}], "EventCategory": "x", "MaxResults": 100}"#
        ),
        "4 validation errors detected: \
         Value 'Nope' at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: \
         Member must satisfy enum value set: [EventId, EventName, ReadOnly, Username, \
         ResourceType, ResourceName, EventSource, AccessKeyId]; \
         Value null at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: \
         Member must not be null; \
         Value 'x' at 'eventCategory' failed to satisfy constraint: Member must satisfy enum \
         value set: [insight]; \
         Value '100' at 'maxResults' failed to satisfy constraint: Member must have value less \
         than or equal to 50"
    );
}

#[test]
fn other_operations_of_the_model_are_unsupported() {
    for (operation, body) in [
        ("DescribeTrails", "{}"),
        ("ListTrails", ""),
        (
            "CreateTrail",
            r#"{"Name": "audit", "S3BucketName": "bucket"}"#,
        ),
        ("GetTrailStatus", r#"{"Name": "audit"}"#),
        ("StartQuery", r#"{"QueryStatement": "SELECT 1"}"#),
    ] {
        let error = decode_error(operation, body);
        assert_eq!(
            (error.code, error.message.as_str(), error.status),
            (
                "UnsupportedOperationException",
                format!("{operation} is not supported by this server.").as_str(),
                400
            ),
            "{operation}"
        );
        assert_eq!(
            String::from_utf8(error.to_json_body()).unwrap(),
            format!(
                r#"{{"__type":"UnsupportedOperationException","message":"{operation} is not supported by this server."}}"#
            )
        );
    }
    // The body is still checked against the model first, as for any request.
    let error = decode_error("CreateTrail", r#"{"Name": "audit"}"#);
    assert_eq!(error.code, "ValidationException", "{}", error.message);
    assert!(
        error.message.contains("'s3BucketName'"),
        "{}",
        error.message
    );
}

#[test]
fn operations_outside_the_model_are_unknown() {
    for operation in [
        "lookupEvents",
        "LookupEvent",
        "Encrypt",
        "GetSecretValue",
        "",
    ] {
        let error = decode_error(operation, "{}");
        assert_eq!(
            (error.code, error.message.as_str(), error.status),
            ("UnknownOperationException", "", 400),
            "{operation:?}"
        );
    }
}

#[test]
fn bodies_that_are_not_objects_are_serialization_errors() {
    for body in ["[]", "null", "42", "{", r#""x""#] {
        assert_eq!(
            decode_error("LookupEvents", body).code,
            "SerializationException",
            "{body}"
        );
    }
}

#[test]
fn requests_serialize_back_to_the_wire_form() {
    // What a server records as `requestParameters` when it audits its own LookupEvents.
    let body = r#"{"LookupAttributes":[{"AttributeKey":"AccessKeyId","AttributeValue":"AKIAEXAMPLE"}],"StartTime":1704164645.0,"EventCategory":"insight","MaxResults":5}"#;
    let request = lookup(body);
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        serde_json::from_str::<Value>(body).unwrap()
    );
}

#[test]
fn events_serialize_as_the_sdks_read_them() {
    let record = json!({
        "eventVersion": "1.08",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Encrypt",
        "requestParameters": {"keyId": "alias/app"},
    })
    .to_string();
    let response = LookupEventsResponse {
        events: Some(vec![
            Event {
                event_id: Some("0b5c7b62-1b2e-4f5a-9f0e-0d3f1a2b3c4d".into()),
                event_name: Some("Encrypt".into()),
                read_only: Some("true".into()),
                access_key_id: Some("AKIAEXAMPLE".into()),
                event_time: Some(1_704_164_645.0),
                event_source: Some("kms.amazonaws.com".into()),
                username: Some("alice".into()),
                resources: Some(vec![
                    Resource {
                        resource_type: Some("AWS::KMS::Key".into()),
                        resource_name: Some("arn:aws:kms:us-east-1:000000000000:key/1234".into()),
                    },
                    Resource::default(),
                ]),
                cloud_trail_event: Some(record.clone()),
            },
            Event {
                event_id: Some("e2".into()),
                event_time: Some(1_704_164_645.25),
                ..Event::default()
            },
        ]),
        next_token: Some("next".into()),
    };
    let encoded: Value = serde_json::from_slice(&json::encode(&response)).unwrap();
    assert_eq!(
        encoded,
        json!({
            "Events": [
                {
                    "EventId": "0b5c7b62-1b2e-4f5a-9f0e-0d3f1a2b3c4d",
                    "EventName": "Encrypt",
                    "ReadOnly": "true",
                    "AccessKeyId": "AKIAEXAMPLE",
                    "EventTime": 1_704_164_645.0,
                    "EventSource": "kms.amazonaws.com",
                    "Username": "alice",
                    "Resources": [
                        {
                            "ResourceType": "AWS::KMS::Key",
                            "ResourceName": "arn:aws:kms:us-east-1:000000000000:key/1234"
                        },
                        {}
                    ],
                    "CloudTrailEvent": record,
                },
                {"EventId": "e2", "EventTime": 1_704_164_645.25}
            ],
            "NextToken": "next"
        })
    );
    // CloudTrailEvent is a string holding the record's JSON, not a nested object.
    let embedded = encoded["Events"][0]["CloudTrailEvent"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(embedded).unwrap()["requestParameters"]["keyId"],
        "alias/app"
    );
    // Timestamps are epoch-second numbers, which botocore parses for this service.
    assert!(encoded["Events"][0]["EventTime"].is_number());
    // And the wire form reads back into the same typed response.
    assert_eq!(
        serde_json::from_value::<LookupEventsResponse>(encoded).unwrap(),
        response
    );
}

#[test]
fn an_empty_page_is_an_empty_object_or_empty_list() {
    assert_eq!(json::encode(&LookupEventsResponse::default()), b"{}");
    assert_eq!(
        json::encode(&LookupEventsResponse {
            events: Some(Vec::new()),
            next_token: None,
        }),
        br#"{"Events":[]}"#
    );
}
