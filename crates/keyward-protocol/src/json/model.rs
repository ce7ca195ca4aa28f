//! A service model — botocore's `service-2.json`, trimmed by `scripts/trim-model.py` — compiled
//! into the form the validator walks: shapes by index, members in model order, patterns compiled
//! once. The serialization traits of the Query protocol (`locationName`, `flattened`,
//! `resultWrapper`) are kept too, for the [`query`](crate::query) codec.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::pattern::Pattern;

pub(crate) type ShapeId = usize;

/// An AWS service as its model describes it: operations and the shapes of their inputs.
#[derive(Debug)]
pub struct ServiceModel {
    target_prefix: String,
    service_id: String,
    api_version: String,
    protocol: String,
    xml_namespace: String,
    operations: HashMap<String, Operation>,
    shapes: Vec<Shape>,
}

#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) input: Option<ShapeId>,
    pub(crate) output: Option<ShapeId>,
    /// Query protocol: the element the output is wrapped in, e.g. `CreateUserResult`.
    pub(crate) result_wrapper: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Shape {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// Length of strings (in characters), blobs (in bytes), lists and maps; value of numbers.
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    /// The shape is `sensitive`: neither it nor anything inside it appears in a message.
    pub(crate) sensitive: bool,
    /// This shape, or a shape inside it, is `sensitive`: its value as a whole never appears in
    /// a message (its other members still may).
    pub(crate) conceals: bool,
    /// How a list or map is laid out in the Query protocol and in XML.
    pub(crate) xml: XmlLayout,
}

/// The Query and XML serialization traits of a list or map shape. The defaults are botocore's:
/// `Name.member.N` and `<Name><member>…</member></Name>` for lists, `Name.entry.N.key` and
/// `<entry><key>…</key><value>…</value></entry>` for maps.
#[derive(Debug, Default)]
pub(crate) struct XmlLayout {
    /// Items repeat under the list's own name instead of inside it.
    pub(crate) flattened: bool,
    /// The `locationName` of a list's member (`member` when absent).
    pub(crate) item: Option<String>,
    /// The `locationName` of a map's key and value (`key`, `value` when absent).
    pub(crate) key: Option<String>,
    pub(crate) value: Option<String>,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Structure(Vec<Member>),
    List(ShapeId),
    Map {
        key: ShapeId,
        value: ShapeId,
    },
    String {
        enum_values: Vec<String>,
        pattern: Option<Pattern>,
    },
    Integer,
    Long,
    Float,
    Double,
    Boolean,
    Blob,
    Timestamp,
    /// A type this codec does not check (e.g. a document): any JSON value passes.
    Unchecked,
}

#[derive(Debug)]
pub(crate) struct Member {
    /// The JSON key, e.g. `KeyId`.
    pub(crate) name: String,
    /// The name AWS uses in validation messages: the first letter in lower case, e.g. `keyId`.
    pub(crate) path: String,
    pub(crate) shape: ShapeId,
    pub(crate) required: bool,
    /// The member's `locationName`: its parameter prefix in a Query request and its element
    /// name in XML, when it differs from `name`.
    pub(crate) location_name: Option<String>,
    /// `flattened` set on the member rather than on its list shape.
    pub(crate) flattened: bool,
}

impl Member {
    /// The member's name in a Query request and in XML.
    pub(crate) fn wire_name(&self) -> &str {
        self.location_name.as_deref().unwrap_or(&self.name)
    }
}

impl ServiceModel {
    /// AWS Lambda (REST-JSON), trimmed to the operations Keyward serves.
    pub fn lambda() -> &'static ServiceModel {
        static MODEL: OnceLock<ServiceModel> = OnceLock::new();
        MODEL.get_or_init(|| embedded(include_str!("../../models/lambda.json")))
    }

    /// AWS Key Management Service, `TrentService`.
    pub fn kms() -> &'static ServiceModel {
        static MODEL: OnceLock<ServiceModel> = OnceLock::new();
        MODEL.get_or_init(|| embedded(include_str!("../../models/kms.json")))
    }

    /// AWS Secrets Manager, `secretsmanager`.
    pub fn secretsmanager() -> &'static ServiceModel {
        static MODEL: OnceLock<ServiceModel> = OnceLock::new();
        MODEL.get_or_init(|| embedded(include_str!("../../models/secretsmanager.json")))
    }

    /// AWS CloudTrail, `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101`.
    pub fn cloudtrail() -> &'static ServiceModel {
        static MODEL: OnceLock<ServiceModel> = OnceLock::new();
        MODEL.get_or_init(|| embedded(include_str!("../../models/cloudtrail.json")))
    }

    /// AWS Identity and Access Management, API version `2010-05-08`, Query protocol: only the
    /// operations Keyward serves are in the trimmed model.
    pub fn iam() -> &'static ServiceModel {
        static MODEL: OnceLock<ServiceModel> = OnceLock::new();
        MODEL.get_or_init(|| embedded(include_str!("../../models/iam.json")))
    }

    /// AWS Security Token Service, API version `2011-06-15`, Query protocol: only the
    /// operations Keyward serves are in the trimmed model.
    pub fn sts() -> &'static ServiceModel {
        static MODEL: OnceLock<ServiceModel> = OnceLock::new();
        MODEL.get_or_init(|| embedded(include_str!("../../models/sts.json")))
    }

    /// Compiles a trimmed botocore model.
    pub(crate) fn from_json(source: &str) -> Result<Self, String> {
        let raw: RawModel = serde_json::from_str(source).map_err(|e| e.to_string())?;
        compile(raw)
    }

    /// The `X-Amz-Target` prefix of the service, e.g. `TrentService`.
    pub fn target_prefix(&self) -> &str {
        &self.target_prefix
    }

    /// The model's `serviceId`, e.g. `KMS`.
    pub fn service_id(&self) -> &str {
        &self.service_id
    }

    /// The model's `apiVersion`, e.g. `2010-05-08`: the `Version` a Query request must name.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The model's `protocol`: `json`, `query`, …
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// The model's `xmlNamespace`, e.g. `https://iam.amazonaws.com/doc/2010-05-08/`; empty for
    /// JSON services.
    pub fn xml_namespace(&self) -> &str {
        &self.xml_namespace
    }

    pub fn has_operation(&self, operation: &str) -> bool {
        self.operations.contains_key(operation)
    }

    /// Whether the operation answers with a body: those without an output shape answer with
    /// an empty one.
    pub fn has_output(&self, operation: &str) -> bool {
        self.operations
            .get(operation)
            .is_some_and(|op| op.output.is_some())
    }

    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// Patterns of the model that cannot be checked (Java-only regex syntax), as
    /// `(shape, pattern)`: values of these shapes are accepted whatever their form.
    pub fn unchecked_patterns(&self) -> impl Iterator<Item = (&str, &str)> {
        self.shapes.iter().filter_map(|shape| match &shape.kind {
            Kind::String {
                pattern: Some(pattern),
                ..
            } if !pattern.is_checked() => Some((shape.name.as_str(), pattern.source.as_str())),
            _ => None,
        })
    }

    pub(crate) fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.get(name)
    }

    pub(crate) fn shape(&self, id: ShapeId) -> &Shape {
        &self.shapes[id]
    }

    #[cfg(test)]
    pub(crate) fn shape_id(&self, name: &str) -> Option<ShapeId> {
        self.shapes.iter().position(|shape| shape.name == name)
    }
}

/// The models are compiled into the binary and every one is loaded by the tests, so a model
/// that fails to load can only be a build that skipped them.
#[allow(
    clippy::panic,
    reason = "embedded models are constants checked by the test suite"
)]
fn embedded(source: &str) -> ServiceModel {
    match ServiceModel::from_json(source) {
        Ok(model) => model,
        Err(error) => panic!("embedded service model is invalid: {error}"),
    }
}

fn compile(raw: RawModel) -> Result<ServiceModel, String> {
    let names: Vec<String> = raw.shapes.0.iter().map(|(name, _)| name.clone()).collect();
    let shape_ids: HashMap<String, ShapeId> = names
        .iter()
        .enumerate()
        .map(|(id, name)| (name.clone(), id))
        .collect();
    let resolve = |reference: &RawRef| {
        shape_ids
            .get(&reference.shape)
            .copied()
            .ok_or_else(|| format!("unknown shape {}", reference.shape))
    };

    let mut shapes = Vec::with_capacity(names.len());
    for (name, raw_shape) in raw.shapes.0 {
        let child = |reference: Option<&RawRef>, what: &str| {
            reference
                .ok_or_else(|| format!("{name} has no {what}"))
                .and_then(resolve)
        };
        let kind = match raw_shape.kind.as_str() {
            "structure" => {
                let members = raw_shape.members.map(|m| m.0).unwrap_or_default();
                let mut compiled = Vec::with_capacity(members.len());
                for (member, reference) in members {
                    compiled.push(Member {
                        path: lower_first(&member),
                        required: raw_shape.required.contains(&member),
                        shape: resolve(&reference)?,
                        location_name: reference.location_name.filter(|n| *n != member),
                        flattened: reference.flattened,
                        name: member,
                    });
                }
                Kind::Structure(compiled)
            }
            "list" => Kind::List(child(raw_shape.member.as_ref(), "member")?),
            "map" => Kind::Map {
                key: child(raw_shape.key.as_ref(), "key")?,
                value: child(raw_shape.value.as_ref(), "value")?,
            },
            "string" => Kind::String {
                enum_values: raw_shape.enum_values,
                pattern: raw_shape.pattern.as_deref().map(Pattern::new),
            },
            "integer" => Kind::Integer,
            "long" => Kind::Long,
            "float" => Kind::Float,
            "double" => Kind::Double,
            "boolean" => Kind::Boolean,
            "blob" => Kind::Blob,
            "timestamp" => Kind::Timestamp,
            _ => Kind::Unchecked,
        };
        let location = |reference: &Option<RawRef>| {
            reference
                .as_ref()
                .and_then(|reference| reference.location_name.clone())
        };
        let xml = XmlLayout {
            flattened: raw_shape.flattened,
            item: location(&raw_shape.member),
            key: location(&raw_shape.key),
            value: location(&raw_shape.value),
        };
        shapes.push(Shape {
            name,
            kind,
            min: raw_shape.min.as_ref().and_then(serde_json::Number::as_i64),
            max: raw_shape.max.as_ref().and_then(serde_json::Number::as_i64),
            sensitive: raw_shape.sensitive,
            conceals: raw_shape.sensitive,
            xml,
        });
    }
    mark_concealing(&mut shapes);

    let mut operations = HashMap::with_capacity(raw.operations.len());
    for (name, operation) in raw.operations {
        let input = operation.input.as_ref().map(resolve).transpose()?;
        let output = operation.output.as_ref().map(resolve).transpose()?;
        let result_wrapper = operation.output.and_then(|output| output.result_wrapper);
        operations.insert(
            name,
            Operation {
                input,
                output,
                result_wrapper,
            },
        );
    }

    Ok(ServiceModel {
        target_prefix: raw.metadata.target_prefix.unwrap_or_default(),
        service_id: raw.metadata.service_id.unwrap_or_default(),
        api_version: raw.metadata.api_version.unwrap_or_default(),
        protocol: raw.metadata.protocol.unwrap_or_default(),
        xml_namespace: raw.metadata.xml_namespace.unwrap_or_default(),
        operations,
        shapes,
    })
}

/// A shape conceals its value when it or anything inside it is sensitive: a list of secrets
/// printed as `[a, b]` would leak them. Repeats until nothing changes, so cycles terminate.
fn mark_concealing(shapes: &mut [Shape]) {
    loop {
        let mut changed = false;
        for id in 0..shapes.len() {
            if shapes[id].conceals {
                continue;
            }
            let inner_conceals = match &shapes[id].kind {
                Kind::Structure(members) => members.iter().any(|m| shapes[m.shape].conceals),
                Kind::List(member) => shapes[*member].conceals,
                Kind::Map { key, value } => shapes[*key].conceals || shapes[*value].conceals,
                _ => false,
            };
            if inner_conceals {
                shapes[id].conceals = true;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[derive(Deserialize)]
struct RawModel {
    metadata: RawMetadata,
    operations: HashMap<String, RawOperation>,
    shapes: Ordered<RawShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata {
    target_prefix: Option<String>,
    service_id: Option<String>,
    api_version: Option<String>,
    protocol: Option<String>,
    xml_namespace: Option<String>,
}

#[derive(Deserialize)]
struct RawOperation {
    input: Option<RawRef>,
    output: Option<RawRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRef {
    shape: String,
    location_name: Option<String>,
    #[serde(default)]
    flattened: bool,
    result_wrapper: Option<String>,
}

#[derive(Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    members: Option<Ordered<RawRef>>,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
    #[serde(default)]
    required: Vec<String>,
    min: Option<serde_json::Number>,
    max: Option<serde_json::Number>,
    #[serde(rename = "enum", default)]
    enum_values: Vec<String>,
    pattern: Option<String>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    flattened: bool,
}

/// A JSON object read in document order (serde_json's map would sort it): members are
/// validated, and their errors reported, in the order the model lists them.
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }

        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    /// Every model committed under `models/` loads, and the patterns it cannot check are
    /// exactly the known Java-only ones.
    #[test]
    fn every_committed_model_loads() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
        let mut loaded = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            let model = ServiceModel::from_json(&source)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // JSON services are addressed by their target prefix, Query services by their
            // API version and answer in their XML namespace, REST services by their paths.
            match model.protocol() {
                "rest-json" => assert!(!model.api_version().is_empty(), "{}", path.display()),
                "query" => assert!(
                    !model.api_version().is_empty() && !model.xml_namespace().is_empty(),
                    "{}",
                    path.display()
                ),
                _ => assert!(!model.target_prefix().is_empty(), "{}", path.display()),
            }
            for (shape, pattern) in model.unchecked_patterns() {
                // Surrogate ranges (KMS, Secrets Manager) and Lambda's S3 bucket lookbehind,
                // which the regex crate has no form for; Keyward takes no S3 code anyway.
                assert!(
                    pattern.contains("\\uD8")
                        || pattern.contains("\\uDB")
                        || pattern.contains("(?<!"),
                    "{}: pattern of {shape} does not compile: {pattern}",
                    path.display()
                );
            }
            loaded += 1;
        }
        assert!(loaded >= 1);
    }

    #[test]
    fn kms_model_is_the_kms_wire() {
        let model = ServiceModel::kms();
        assert_eq!(model.target_prefix(), "TrentService");
        assert_eq!(model.service_id(), "KMS");
        assert!(model.has_operation("Encrypt"));
        assert!(!model.has_operation("encrypt"));
        assert_eq!(model.unchecked_patterns().count(), 0);
    }

    #[test]
    fn secretsmanager_model_is_the_secretsmanager_wire() {
        let model = ServiceModel::secretsmanager();
        assert_eq!(model.target_prefix(), "secretsmanager");
        assert_eq!(model.service_id(), "Secrets Manager");
        assert!(model.has_operation("GetSecretValue"));
        assert!(!model.has_output("TagResource"));
        assert!(model.has_output("CreateSecret"));
        assert_eq!(model.unchecked_patterns().count(), 0);
        let secret = model.shape_id("SecretStringType").unwrap();
        assert!(model.shape(secret).sensitive);
        let entry = model.shape_id("SecretValueEntry").unwrap();
        assert!(model.shape(entry).conceals && !model.shape(entry).sensitive);
    }

    #[test]
    fn cloudtrail_model_is_the_cloudtrail_wire() {
        let model = ServiceModel::cloudtrail();
        assert_eq!(
            model.target_prefix(),
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"
        );
        assert_eq!(model.service_id(), "CloudTrail");
        assert!(model.has_operation("LookupEvents"));
        assert!(model.has_output("LookupEvents"));
        // The only patterns the regex crate cannot compile are the two Java surrogate-range
        // ones; values of those shapes are accepted unchecked.
        let mut unchecked: Vec<_> = model.unchecked_patterns().map(|(shape, _)| shape).collect();
        unchecked.sort_unstable();
        assert_eq!(unchecked, ["PartitionKeyName", "PartitionKeyType"]);
        // LookupEvents' timestamps carry no timestampFormat: JSON 1.1's default, epoch seconds.
        let date = model.shape_id("Date").unwrap();
        assert!(matches!(model.shape(date).kind, Kind::Timestamp));
    }

    #[test]
    fn iam_and_sts_models_are_the_query_wire() {
        let iam = ServiceModel::iam();
        assert_eq!(
            (iam.service_id(), iam.protocol(), iam.api_version()),
            ("IAM", "query", "2010-05-08")
        );
        assert_eq!(
            iam.xml_namespace(),
            "https://iam.amazonaws.com/doc/2010-05-08/"
        );
        assert_eq!(iam.operation_names().count(), 27);
        assert!(iam.has_output("CreateUser") && !iam.has_output("DeleteUser"));
        let create_user = iam.operation("CreateUser").unwrap();
        assert_eq!(
            create_user.result_wrapper.as_deref(),
            Some("CreateUserResult")
        );
        assert_eq!(iam.unchecked_patterns().count(), 0);
        let secret = iam.shape_id("accessKeySecretType").unwrap();
        assert!(iam.shape(secret).sensitive);

        let sts = ServiceModel::sts();
        assert_eq!(
            (sts.service_id(), sts.protocol(), sts.api_version()),
            ("STS", "query", "2011-06-15")
        );
        assert_eq!(
            sts.xml_namespace(),
            "https://sts.amazonaws.com/doc/2011-06-15/"
        );
        let mut operations: Vec<_> = sts.operation_names().collect();
        operations.sort_unstable();
        assert_eq!(operations, ["AssumeRole", "GetCallerIdentity"]);
        assert_eq!(sts.unchecked_patterns().count(), 0);
    }

    #[test]
    fn query_traits_are_kept() {
        let source = r#"{"metadata":{"protocol":"query","apiVersion":"1","xmlNamespace":"ns"},
            "operations":{"Op":{"input":{"shape":"In"},"output":{"shape":"Out","resultWrapper":"OpResult"}}},
            "shapes":{
            "In":{"type":"structure","members":{"Items":{"shape":"Items","locationName":"Item"}}},
            "Out":{"type":"structure","members":{"Pairs":{"shape":"Pairs","flattened":true}}},
            "Items":{"type":"list","member":{"shape":"S","locationName":"entry"},"flattened":true},
            "Pairs":{"type":"map","key":{"shape":"S","locationName":"k"},"value":{"shape":"S","locationName":"v"}},
            "S":{"type":"string"}}}"#;
        let model = ServiceModel::from_json(source).unwrap();
        let operation = model.operation("Op").unwrap();
        assert_eq!(operation.result_wrapper.as_deref(), Some("OpResult"));
        let Kind::Structure(members) = &model.shape(operation.input.unwrap()).kind else {
            panic!("not a structure")
        };
        assert_eq!(
            (members[0].name.as_str(), members[0].wire_name()),
            ("Items", "Item")
        );
        let Kind::Structure(members) = &model.shape(operation.output.unwrap()).kind else {
            panic!("not a structure")
        };
        assert!(members[0].flattened && members[0].location_name.is_none());
        let items = &model.shape(model.shape_id("Items").unwrap()).xml;
        assert!(items.flattened);
        assert_eq!(items.item.as_deref(), Some("entry"));
        let pairs = &model.shape(model.shape_id("Pairs").unwrap()).xml;
        assert_eq!(
            (pairs.key.as_deref(), pairs.value.as_deref()),
            (Some("k"), Some("v"))
        );
    }

    #[test]
    fn members_keep_model_order_and_paths() {
        let model = ServiceModel::kms();
        let id = model.shape_id("EncryptRequest").unwrap();
        let Kind::Structure(members) = &model.shape(id).kind else {
            panic!("not a structure")
        };
        let names: Vec<_> = members
            .iter()
            .map(|m| (m.path.as_str(), m.required))
            .collect();
        assert_eq!(names[0], ("keyId", true));
        assert_eq!(names[1], ("plaintext", true));
        assert_eq!(names[2], ("encryptionContext", false));
    }

    #[test]
    fn sensitivity_spreads_to_containers() {
        let source = r#"{"metadata":{"targetPrefix":"T"},"operations":{},"shapes":{
            "Outer":{"type":"structure","members":{"Items":{"shape":"Items"}}},
            "Items":{"type":"list","member":{"shape":"Secret"}},
            "Secret":{"type":"string","sensitive":true},
            "Plain":{"type":"string"}}}"#;
        let model = ServiceModel::from_json(source).unwrap();
        for (name, conceals) in [
            ("Outer", true),
            ("Items", true),
            ("Secret", true),
            ("Plain", false),
        ] {
            assert_eq!(
                model.shape(model.shape_id(name).unwrap()).conceals,
                conceals,
                "{name}"
            );
        }
    }

    #[test]
    fn dangling_references_are_rejected() {
        let source =
            r#"{"metadata":{},"operations":{"Op":{"input":{"shape":"Missing"}}},"shapes":{}}"#;
        assert!(ServiceModel::from_json(source).is_err());
    }
}
