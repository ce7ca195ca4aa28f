//! The AWS Query protocol codec (IAM, STS): a form-encoded request — `POST /` with
//! `Content-Type: application/x-www-form-urlencoded`, or the same parameters in a GET query
//! string — answered with XML.
//!
//! ```text
//! Action=CreateUser&Version=2010-05-08&UserName=alice&Tags.member.1.Key=team&…
//!   ─ QueryRequest::parse ─→ action, version, parameters
//!   ─ QueryService::decode_input ─→ {"UserName":"alice","Tags":[{"Key":"team",…}]}  (checked)
//!   ─ IamOperation::decode ─→ IamOperation::CreateUser(CreateUserRequest)
//! ```
//!
//! The parameters become the JSON value of the operation's input shape and go through the same
//! model-driven checks as JSON bodies ([`json`](crate::json)); only the wording of the answer is
//! the service's own ([`QueryService`]). A response is a typed shape serialized to JSON, then
//! laid out as XML by the operation's output shape.
//!
//! Answers to requests that cannot be decoded, as AWS gives them:
//! - no `Action`: `MissingAction`;
//! - an `Action` the model does not have, or a `Version` other than the model's:
//!   `InvalidAction`, `Could not find operation <Action> for version <Version>` (with
//!   `NO_VERSION_SPECIFIED` when there is none);
//! - undecodable form encoding: `MalformedQueryString`;
//! - a number or boolean that does not parse: `MalformedInput`;
//! - a required member of a nested structure missing: `MissingParameter`;
//! - any other violated constraint: `ValidationError`, `1 validation error detected: …`.

mod form;
mod params;
#[cfg(test)]
pub(crate) mod tests;
mod xml;

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroize;

pub use form::{malformed_query_string, parse_form};
pub use xml::error_body;

use crate::json::validate::{self, Style};
use crate::json::{ServiceModel, ZeroizeStrings};
use crate::WireError;

/// The namespace AWS's front end answers `InvalidAction` in, whatever the service.
pub const AWS_FAULT_NAMESPACE: &str = "http://webservices.amazon.com/AWSFault/2005-15-09";

/// What a missing `Version` is called in the `InvalidAction` message.
const NO_VERSION: &str = "NO_VERSION_SPECIFIED";

/// A Query request's form, decoded: `Action`, `Version` and every parameter in order.
/// `Debug` shows the action, the version and the parameter names, never the values; the values
/// are cleared from memory on drop.
pub struct QueryRequest {
    action: String,
    version: Option<String>,
    params: Vec<(String, String)>,
}

impl QueryRequest {
    /// Decodes a form-encoded body or query string. A request without an `Action` (or with an
    /// empty one) is `MissingAction`.
    pub fn parse(form: &[u8]) -> Result<Self, WireError> {
        Self::from_params(parse_form(form)?)
    }

    /// A request from pairs already decoded, e.g. a GET query string's and a body's together.
    pub fn from_params(params: Vec<(String, String)>) -> Result<Self, WireError> {
        let first = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let action = first("Action")
            .filter(|action| !action.is_empty())
            .ok_or_else(missing_action)?;
        let version = first("Version");
        Ok(Self {
            action,
            version,
            params,
        })
    }

    /// The `Action` parameter: the operation's name, e.g. `CreateUser`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The `Version` parameter, e.g. `2010-05-08`.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every parameter, `Action` and `Version` included, in the order sent.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }
}

impl fmt::Debug for QueryRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryRequest")
            .field("action", &self.action)
            .field("version", &self.version)
            .field(
                "params",
                &self.params.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Drop for QueryRequest {
    fn drop(&mut self) {
        for (_, value) in &mut self.params {
            value.zeroize();
        }
    }
}

/// The answer to a request without an `Action` parameter.
pub fn missing_action() -> WireError {
    WireError::client("MissingAction", "Missing Action")
}

/// The answer to an action the service does not have, or a version it does not speak.
pub fn invalid_action(action: &str, version: Option<&str>) -> WireError {
    WireError::client(
        "InvalidAction",
        format!(
            "Could not find operation {action} for version {}",
            version.unwrap_or(NO_VERSION)
        ),
    )
}

/// A Query service: its model and the ways its answers differ from other services'.
#[derive(Debug)]
pub struct QueryService {
    model: fn() -> &'static ServiceModel,
    validation: Style,
    /// String shapes the service sends percent-encoded inside the XML (IAM's policy
    /// documents); botocore decodes them again.
    url_encoded_shapes: &'static [&'static str],
}

/// IAM's pattern checks run after the generic ones and answer in its own words, naming the
/// member, as AWS does for these shapes (user, role and policy names, paths, policy documents).
const IAM_NAME_MESSAGE: &str = "The specified value for {member} is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_-";

static IAM: QueryService = QueryService {
    model: ServiceModel::iam,
    validation: Style {
        code: "ValidationError",
        // IAM's messages never quote the value: `Value at 'userName' failed to satisfy …`.
        quotes_values: false,
        own_pattern_messages: &[
            (r"[\w+=,.@-]+", IAM_NAME_MESSAGE),
            (
                r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
                "The specified value for {member} is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
            ),
            (
                r"\u002F[\u0021-\u007F]*",
                "The specified value for {member} is invalid. It must begin with the / character and contain only alphanumeric characters and/or / characters.",
            ),
            (
                r"[\u0009\u000A\u000D\u0020-\u00FF]+",
                "The specified value for {member} is invalid. It must contain only printable ASCII characters.",
            ),
        ],
    },
    url_encoded_shapes: &["policyDocumentType"],
};

static STS: QueryService = QueryService {
    model: ServiceModel::sts,
    // STS quotes values as the JSON services do: `Value 'a:b' at 'roleSessionName' failed …`.
    validation: Style {
        code: "ValidationError",
        quotes_values: true,
        own_pattern_messages: &[],
    },
    url_encoded_shapes: &[],
};

impl QueryService {
    /// AWS Identity and Access Management, `2010-05-08`.
    pub fn iam() -> &'static QueryService {
        &IAM
    }

    /// AWS Security Token Service, `2011-06-15`.
    pub fn sts() -> &'static QueryService {
        &STS
    }

    pub fn model(&self) -> &'static ServiceModel {
        (self.model)()
    }

    /// The namespace of the service's responses and errors.
    pub fn namespace(&self) -> &'static str {
        self.model().xml_namespace()
    }

    /// Checks a request against its operation's input shape and returns the input as JSON,
    /// with only the modelled members left: an unknown action or version is `InvalidAction`,
    /// a violated constraint AWS's `ValidationError` (see the module's documentation).
    pub fn decode_input(&self, request: &QueryRequest) -> Result<Value, WireError> {
        let model = self.model();
        let operation = model
            .operation(request.action())
            .filter(|_| request.version() == Some(model.api_version()))
            .ok_or_else(|| invalid_action(request.action(), request.version()))?;
        let Some(shape) = operation.input else {
            return Ok(Value::Object(serde_json::Map::new()));
        };
        let input = params::input(model, shape, &params::Params::new(request.params()))?;
        validate::check_structure_in_style(model, shape, input, &self.validation)
    }

    /// The XML body of a successful response: `response` is the operation's typed output,
    /// laid out by the output shape; an operation without one answers with the response
    /// metadata alone, whatever `response` is (`&()` will do).
    pub fn encode<T: Serialize>(&self, operation: &str, response: &T, request_id: &str) -> Vec<u8> {
        // Serializing the typed shapes cannot fail (string keys only, infallible leaves); an
        // empty result is the safe answer regardless.
        let mut value = serde_json::to_value(response).unwrap_or(Value::Null);
        let body = xml::response(
            self.model(),
            self.url_encoded_shapes,
            operation,
            &value,
            request_id,
        );
        // The JSON copy may hold secret access keys and session tokens.
        value.zeroize_strings();
        body
    }

    /// The XML body of an error, in the service's namespace (`InvalidAction` in AWS's fault
    /// namespace, as AWS's front end answers it).
    pub fn error_body(&self, error: &WireError, request_id: &str) -> Vec<u8> {
        let namespace = match error.code {
            "InvalidAction" => AWS_FAULT_NAMESPACE,
            _ => self.namespace(),
        };
        error_body(error, namespace, request_id)
    }
}
