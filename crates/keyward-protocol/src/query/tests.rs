//! The Query codec against a small model that has every layout the protocol knows (lists,
//! flattened lists, maps, nested structures, `locationName`), and the shared fixture helpers of
//! the IAM and STS tests.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Value};

use super::*;

fn test_model() -> &'static ServiceModel {
    static MODEL: OnceLock<ServiceModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        ServiceModel::from_json(
            r#"{"metadata":{"protocol":"query","apiVersion":"2020-01-01",
                "xmlNamespace":"https://example.com/doc/2020-01-01/"},
            "operations":{
              "Put":{"input":{"shape":"PutInput"},
                     "output":{"shape":"PutOutput","resultWrapper":"PutResult"}},
              "Bare":{"input":{"shape":"BareInput"},"output":{"shape":"BareOutput"}},
              "Drop":{"input":{"shape":"BareInput"}}},
            "shapes":{
              "PutInput":{"type":"structure","required":["Name"],"members":{
                "Name":{"shape":"Name"},
                "Count":{"shape":"Count"},
                "Enabled":{"shape":"Flag"},
                "At":{"shape":"When"},
                "Ratio":{"shape":"Ratio"},
                "Items":{"shape":"Items"},
                "Flat":{"shape":"FlatItems"},
                "Renamed":{"shape":"Text","locationName":"OtherName"},
                "Pairs":{"shape":"Pairs"},
                "Nested":{"shape":"Nested"},
                "Entries":{"shape":"Entries"},
                "Secret":{"shape":"Secret"}}},
              "PutOutput":{"type":"structure","members":{
                "Name":{"shape":"Name"},
                "At":{"shape":"When"},
                "Enabled":{"shape":"Flag"},
                "Count":{"shape":"Count"},
                "Ratio":{"shape":"Ratio"},
                "Items":{"shape":"Items"},
                "Flat":{"shape":"FlatItems"},
                "Renamed":{"shape":"Text","locationName":"OtherName"},
                "Pairs":{"shape":"Pairs"},
                "Nested":{"shape":"Nested"},
                "Doc":{"shape":"Doc"}}},
              "BareInput":{"type":"structure","members":{}},
              "BareOutput":{"type":"structure","members":{"Name":{"shape":"Name"}}},
              "Name":{"type":"string","min":1,"max":8,"pattern":"[a-z]+"},
              "Count":{"type":"integer","min":1,"max":10},
              "Flag":{"type":"boolean"},
              "When":{"type":"timestamp"},
              "Ratio":{"type":"double"},
              "Items":{"type":"list","member":{"shape":"Name"},"max":3},
              "FlatItems":{"type":"list","member":{"shape":"Text"},"flattened":true},
              "Pairs":{"type":"map","key":{"shape":"Name"},"value":{"shape":"Count"}},
              "Nested":{"type":"structure","required":["Id"],"members":{
                "Id":{"shape":"Name"},"Note":{"shape":"Text"}}},
              "Entries":{"type":"list","member":{"shape":"Nested"}},
              "Text":{"type":"string"},
              "Doc":{"type":"string"},
              "Secret":{"type":"string","min":4,"sensitive":true}}}"#,
        )
        .unwrap()
    })
}

static QUOTING: QueryService = QueryService {
    model: test_model,
    validation: Style {
        code: "ValidationError",
        quotes_values: true,
        own_pattern_messages: &[],
    },
    url_encoded_shapes: &["Doc"],
};

static NOT_QUOTING: QueryService = QueryService {
    model: test_model,
    validation: Style {
        code: "ValidationError",
        quotes_values: false,
        own_pattern_messages: &[("[a-z]+", "{member} must be lower case")],
    },
    url_encoded_shapes: &[],
};

fn decode_with(service: &QueryService, form: &str) -> Result<Value, WireError> {
    service.decode_input(&QueryRequest::parse(form.as_bytes())?)
}

fn decode(form: &str) -> Result<Value, WireError> {
    decode_with(&QUOTING, form)
}

fn error(result: Result<Value, WireError>) -> (&'static str, String, u16) {
    let error = result.unwrap_err();
    (error.code, error.message, error.status)
}

const PUT: &str = "Action=Put&Version=2020-01-01";

#[test]
fn every_layout_becomes_the_input_shape() {
    let form = format!(
        "{PUT}&Name=abc&Count=3&Enabled=TRUE&At=2026-11-23T16%3A29%3A00.5Z&Ratio=0.25\
         &Items.member.2=second&Items.member.1=first&Items.member.10=tenth\
         &Flat.1=x&Flat.2=y&OtherName=renamed&Renamed=ignored\
         &Pairs.entry.1.key=one&Pairs.entry.1.value=1&Pairs.entry.2.key=two&Pairs.entry.2.value=2\
         &Nested.Id=nid&Entries.member.1.Id=e&Entries.member.1.Note=n&Entries.member.2.Id=f\
         &Unknown=1&Nested.Unknown=2"
    );
    assert_eq!(
        decode(&form).unwrap(),
        json!({
            "Name": "abc",
            "Count": 3,
            "Enabled": true,
            "At": 1_795_451_340.5,
            "Ratio": 0.25,
            "Items": ["first", "second", "tenth"],
            "Flat": ["x", "y"],
            "Renamed": "renamed",
            "Pairs": {"one": 1, "two": 2},
            "Nested": {"Id": "nid"},
            "Entries": [{"Id": "e", "Note": "n"}, {"Id": "f"}],
        })
    );
}

#[test]
fn scalars_are_read_by_their_type() {
    let at = |text: &str| decode(&format!("{PUT}&Name=a&At={text}")).unwrap()["At"].clone();
    assert_eq!(at("2026-11-23T16:29:00Z"), json!(1_795_451_340.0));
    assert_eq!(at("2026-11-23T17:29:00%2B01:00"), json!(1_795_451_340.0));
    assert_eq!(at("1795451340"), json!(1_795_451_340.0));
    for bad in [
        "Count=three",
        "Count=1.5",
        "Count=",
        "Count=2150000000",
        "Enabled=yes",
        "Ratio=NaN",
        "At=tomorrow",
    ] {
        assert_eq!(
            error(decode(&format!("{PUT}&Name=a&{bad}"))),
            ("MalformedInput", String::new(), 400),
            "{bad}"
        );
    }
}

#[test]
fn the_first_of_a_repeated_parameter_counts() {
    let input = decode(&format!("{PUT}&Name=first&Name=second")).unwrap();
    assert_eq!(input["Name"], "first");
}

#[test]
fn empty_and_absent_lists() {
    let input = decode(&format!("{PUT}&Name=a&Items=&Entries=")).unwrap();
    assert_eq!(input["Items"], json!([]));
    assert_eq!(input["Entries"], json!([]));
    let input = decode(&format!("{PUT}&Name=a&Items=x")).unwrap();
    assert!(
        input.get("Items").is_none(),
        "a bare name with a value is no list"
    );
    // Item numbers are decimal and start at 1; other spellings are not items.
    let input = decode(&format!(
        "{PUT}&Name=a&Items.member.0=z&Items.member.01=y&Items.member.x=w"
    ))
    .unwrap();
    assert!(input.get("Items").is_none(), "{input}");
}

#[test]
fn nested_structures_need_their_required_members() {
    assert_eq!(
        error(decode(&format!("{PUT}&Name=a&Entries.member.1.Note=n"))),
        (
            "MissingParameter",
            "The request must contain the parameter Entries.member.1.Id.".into(),
            400
        )
    );
    assert_eq!(
        error(decode(&format!("{PUT}&Name=a&Nested.Note=n"))),
        (
            "MissingParameter",
            "The request must contain the parameter Nested.Id.".into(),
            400
        )
    );
    assert_eq!(
        error(decode(&format!("{PUT}&Name=a&Pairs.entry.1.value=1"))),
        (
            "MissingParameter",
            "The request must contain the parameter Pairs.entry.1.key.".into(),
            400
        )
    );
    // A structure with none of its members given is absent, not incomplete.
    assert!(decode(&format!("{PUT}&Name=a&Nested.Other=x"))
        .unwrap()
        .get("Nested")
        .is_none());
}

#[test]
fn violations_are_validation_errors_in_the_service_style() {
    let form = format!("{PUT}&Count=11&Items.member.1=UP&Secret=abc");
    assert_eq!(
        error(decode(&form)),
        (
            "ValidationError",
            "4 validation errors detected: \
             Value null at 'name' failed to satisfy constraint: Member must not be null; \
             Value '11' at 'count' failed to satisfy constraint: Member must have value less than or equal to 10; \
             Value 'UP' at 'items.1.member' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]+; \
             Value at 'secret' failed to satisfy constraint: Member must have length greater than or equal to 4"
                .into(),
            400
        )
    );
    assert_eq!(
        error(decode_with(&NOT_QUOTING, &form)),
        (
            "ValidationError",
            "3 validation errors detected: \
             Value at 'name' failed to satisfy constraint: Member must not be null; \
             Value at 'count' failed to satisfy constraint: Member must have value less than or equal to 10; \
             Value at 'secret' failed to satisfy constraint: Member must have length greater than or equal to 4"
                .into(),
            400
        )
    );
    // The service's own pattern message comes alone, once nothing else is wrong.
    assert_eq!(
        error(decode_with(
            &NOT_QUOTING,
            &format!("{PUT}&Name=UPPER&Items.member.1=UP")
        )),
        ("ValidationError", "name must be lower case".into(), 400)
    );
}

#[test]
fn actions_and_versions() {
    assert_eq!(
        error(decode("Version=2020-01-01&Name=a")),
        ("MissingAction", "Missing Action".into(), 400)
    );
    assert_eq!(
        error(decode("Action=&Version=2020-01-01")),
        ("MissingAction", "Missing Action".into(), 400)
    );
    assert_eq!(
        error(decode("Action=Get&Version=2020-01-01")),
        (
            "InvalidAction",
            "Could not find operation Get for version 2020-01-01".into(),
            400
        )
    );
    assert_eq!(
        error(decode("Action=Put&Version=2019-01-01&Name=a")),
        (
            "InvalidAction",
            "Could not find operation Put for version 2019-01-01".into(),
            400
        )
    );
    assert_eq!(
        error(decode("Action=Put&Name=a")),
        (
            "InvalidAction",
            "Could not find operation Put for version NO_VERSION_SPECIFIED".into(),
            400
        )
    );
    assert_eq!(decode("Action=Drop&Version=2020-01-01").unwrap(), json!({}));
}

#[test]
fn request_debug_names_parameters_but_not_values() {
    let request = QueryRequest::parse(b"Action=Put&Version=2020-01-01&Secret=hunter2").unwrap();
    assert_eq!(request.action(), "Put");
    assert_eq!(request.version(), Some("2020-01-01"));
    assert_eq!(request.param("Secret"), Some("hunter2"));
    assert_eq!(request.params().len(), 3);
    let debug = format!("{request:?}");
    assert!(
        debug.contains("Secret") && !debug.contains("hunter2"),
        "{debug}"
    );
}

#[test]
fn responses_follow_the_output_shape() {
    let value = json!({
        "Doc": "{\"a\": \"b c\"}",
        "Nested": {"Note": "<&>\"'\r\n", "Id": "n"},
        "Pairs": {"one": 1},
        "Renamed": "r",
        "Flat": ["x", "y"],
        "Items": [],
        "Ratio": 0.5,
        "Count": 2,
        "Enabled": false,
        "At": 1_795_451_340.25,
        "Name": "abc",
        "Unmodelled": "dropped",
    });
    assert_eq!(
        String::from_utf8(QUOTING.encode("Put", &value, "req-1")).unwrap(),
        "<PutResponse xmlns=\"https://example.com/doc/2020-01-01/\"><PutResult>\
         <Name>abc</Name><At>2026-11-23T16:29:00.250Z</At><Enabled>false</Enabled>\
         <Count>2</Count><Ratio>0.5</Ratio><Items></Items><Flat>x</Flat><Flat>y</Flat>\
         <OtherName>r</OtherName>\
         <Pairs><entry><key>one</key><value>1</value></entry></Pairs>\
         <Nested><Id>n</Id><Note>&lt;&amp;&gt;&quot;'&#13;\n</Note></Nested>\
         <Doc>%7B%22a%22%3A%20%22b%20c%22%7D</Doc>\
         </PutResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>\
         </PutResponse>"
    );
}

#[test]
fn responses_without_wrapper_or_output() {
    assert_eq!(
        String::from_utf8(QUOTING.encode("Bare", &json!({"Name": "a"}), "r")).unwrap(),
        "<BareResponse xmlns=\"https://example.com/doc/2020-01-01/\"><Name>a</Name>\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></BareResponse>"
    );
    assert_eq!(
        String::from_utf8(QUOTING.encode("Drop", &(), "r")).unwrap(),
        "<DropResponse xmlns=\"https://example.com/doc/2020-01-01/\">\
         <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DropResponse>"
    );
}

#[test]
fn timestamps_are_iso_8601_in_utc() {
    assert_eq!(xml::iso8601(0.0).unwrap(), "1970-01-01T00:00:00Z");
    assert_eq!(
        xml::iso8601(1_795_451_340.0).unwrap(),
        "2026-11-23T16:29:00Z"
    );
    assert_eq!(
        xml::iso8601(1_795_451_340.359).unwrap(),
        "2026-11-23T16:29:00.359Z"
    );
    assert_eq!(xml::iso8601(f64::NAN), None);
    assert_eq!(xml::iso8601(1e30), None);
}

#[test]
fn error_bodies() {
    let error = WireError {
        code: "NoSuchEntity",
        message: "The user with name <a&b> cannot be found.".into(),
        status: 404,
    };
    assert_eq!(
        String::from_utf8(error_body(
            &error,
            "https://iam.amazonaws.com/doc/2010-05-08/",
            "r-1"
        ))
        .unwrap(),
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
         <Type>Sender</Type><Code>NoSuchEntity</Code>\
         <Message>The user with name &lt;a&amp;b&gt; cannot be found.</Message>\
         </Error><RequestId>r-1</RequestId></ErrorResponse>"
    );
    assert_eq!(
        String::from_utf8(error_body(&WireError::internal(), "ns", "r-2")).unwrap(),
        "<ErrorResponse xmlns=\"ns\"><Error><Type>Receiver</Type><Code>InternalFailure</Code>\
         <Message>An internal error occurred.</Message></Error>\
         <RequestId>r-2</RequestId></ErrorResponse>"
    );
    assert_eq!(
        String::from_utf8(error_body(&params::malformed_input(), "ns", "r-3")).unwrap(),
        "<ErrorResponse xmlns=\"ns\"><Error><Type>Sender</Type><Code>MalformedInput</Code>\
         </Error><RequestId>r-3</RequestId></ErrorResponse>"
    );
}

/// A file under `tests/query_fixtures/`.
pub(crate) fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/query_fixtures")
        .join(name)
}

/// Compares a rendered body with its fixture; with `UPDATE_QUERY_FIXTURES` set, rewrites the
/// fixture instead. `tests/query_botocore_check.py` checks what botocore makes of each one.
pub(crate) fn assert_fixture(name: &str, actual: &[u8]) {
    let path = fixture_path(name);
    if std::env::var_os("UPDATE_QUERY_FIXTURES").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        String::from_utf8_lossy(actual),
        String::from_utf8_lossy(&expected),
        "{name}"
    );
}

/// One request of `tests/query_fixtures/requests.json`: a form body exactly as botocore sent it
/// and the parameters it was made from.
#[derive(serde::Deserialize)]
pub(crate) struct BotocoreRequest {
    pub(crate) service: String,
    pub(crate) operation: String,
    pub(crate) params: Value,
    pub(crate) body: String,
}

pub(crate) fn botocore_requests(service: &str) -> Vec<BotocoreRequest> {
    let text = std::fs::read_to_string(fixture_path("requests.json")).unwrap();
    let all: Vec<BotocoreRequest> = serde_json::from_str(&text).unwrap();
    all.into_iter()
        .filter(|request| request.service == service)
        .collect()
}

/// botocore's parse of a response fixture (`<name>.json`, written by the check script).
pub(crate) fn botocore_parse(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(&format!("{name}.json")))
        .unwrap_or_else(|e| panic!("{name}.json: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// What botocore should make of a typed response: the response's JSON with timestamps as
/// Python's `isoformat()` of a UTC datetime, and (IAM) policy documents parsed, as botocore's
/// `json_decode_policies` hands them to boto3 users.
pub(crate) fn botocore_view(model: &ServiceModel, operation: &str, response: &Value) -> Value {
    use crate::json::model::Kind;

    fn view(model: &ServiceModel, id: crate::json::model::ShapeId, value: &Value) -> Value {
        let shape = model.shape(id);
        match (&shape.kind, value) {
            (Kind::Structure(members), Value::Object(fields)) => Value::Object(
                members
                    .iter()
                    .filter_map(|member| {
                        let field = fields.get(&member.name).filter(|v| !v.is_null())?;
                        Some((member.name.clone(), view(model, member.shape, field)))
                    })
                    .collect(),
            ),
            (Kind::List(item), Value::Array(items)) => {
                Value::Array(items.iter().map(|v| view(model, *item, v)).collect())
            }
            (Kind::Timestamp, Value::Number(seconds)) => {
                let seconds = seconds.as_f64().unwrap();
                let iso = xml::iso8601(seconds).unwrap();
                let (whole, fraction) = iso.trim_end_matches('Z').split_at(19);
                let micros = match fraction.strip_prefix('.') {
                    Some(millis) => format!(".{millis}000"),
                    None => String::new(),
                };
                json!(format!("{whole}{micros}+00:00"))
            }
            (_, Value::String(text)) if shape.name == "policyDocumentType" => {
                serde_json::from_str(text).unwrap()
            }
            (_, other) => other.clone(),
        }
    }

    match model.operation(operation).and_then(|op| op.output) {
        Some(output) => view(model, output, response),
        None => json!({}),
    }
}

/// Checks a response fixture both ways: the encoder renders it byte for byte, and botocore's
/// recorded parse of it is the typed response, timestamps and policy documents included.
pub(crate) fn assert_response_fixture<T: serde::Serialize>(
    service: &QueryService,
    name: &str,
    operation: &str,
    response: &T,
) {
    let request_id = format!("{name}-request-id");
    assert_fixture(
        &format!("{name}.xml"),
        &service.encode(operation, response, &request_id),
    );
    if std::env::var_os("UPDATE_QUERY_FIXTURES").is_some() {
        return;
    }
    let mut parsed = botocore_parse(name);
    let metadata = parsed.as_object_mut().unwrap().remove("ResponseMetadata");
    assert_eq!(
        metadata,
        Some(json!({"RequestId": request_id, "HTTPStatusCode": 200})),
        "{name}"
    );
    let expected = botocore_view(
        service.model(),
        operation,
        &serde_json::to_value(response).unwrap(),
    );
    assert_eq!(parsed, expected, "{name}");
}

/// Checks an error fixture both ways, as [`assert_response_fixture`] does.
pub(crate) fn assert_error_fixture(service: &QueryService, name: &str, error: &WireError) {
    let request_id = format!("{name}-request-id");
    assert_fixture(
        &format!("{name}.xml"),
        &service.error_body(error, &request_id),
    );
    if std::env::var_os("UPDATE_QUERY_FIXTURES").is_some() {
        return;
    }
    let kind = if error.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    assert_eq!(
        botocore_parse(name),
        json!({
            "Error": {"Type": kind, "Code": error.code, "Message": error.message},
            "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": error.status},
        }),
        "{name}"
    );
}

#[test]
fn wire_errors_render_themselves_as_query_bodies() {
    let error = WireError::client(
        "EntityAlreadyExists",
        "User with name alice already exists.",
    );
    assert_eq!(
        error.to_query_body("ns", "id"),
        error_body(&error, "ns", "id")
    );
}
