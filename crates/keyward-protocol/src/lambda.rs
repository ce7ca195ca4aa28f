//! AWS Lambda (`lambda`, REST-JSON) on the wire: the route a method and path name, the
//! typed requests of the operations Keyward serves, and Lambda's error body.
//!
//! ```text
//! PUT /2015-03-31/functions/loadtest/configuration  {"Timeout":5}
//!   ─→ LambdaRoute { operation: UpdateFunctionConfiguration, function: Some("loadtest") }
//!   ─→ LambdaRoute::decode: {"FunctionName":"loadtest","Timeout":5} checked against the
//!      model, then UpdateFunctionConfigurationRequest
//! ```
//!
//! The path parameters are put into the input before it is checked, so the model's rules
//! for `FunctionName` apply wherever the name is sent. `Invoke`'s body is the payload, not
//! JSON: only its path is decoded here.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::json::{self, Blob, ServiceModel};
use crate::WireError;

/// Every Lambda path starts with the API version.
pub const PATH_PREFIX: &str = "/2015-03-31/functions";

/// The operations Keyward serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaOperation {
    CreateFunction,
    ListFunctions,
    GetFunction,
    DeleteFunction,
    GetFunctionConfiguration,
    UpdateFunctionConfiguration,
    UpdateFunctionCode,
    Invoke,
}

impl LambdaOperation {
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateFunction => "CreateFunction",
            Self::ListFunctions => "ListFunctions",
            Self::GetFunction => "GetFunction",
            Self::DeleteFunction => "DeleteFunction",
            Self::GetFunctionConfiguration => "GetFunctionConfiguration",
            Self::UpdateFunctionConfiguration => "UpdateFunctionConfiguration",
            Self::UpdateFunctionCode => "UpdateFunctionCode",
            Self::Invoke => "Invoke",
        }
    }

    /// Whether the body may carry function code (and so needs the larger body bound).
    pub fn carries_code(self) -> bool {
        matches!(self, Self::CreateFunction | Self::UpdateFunctionCode)
    }
}

/// A request's operation and the function its path names (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaRoute {
    pub operation: LambdaOperation,
    pub function: Option<String>,
}

/// Whether a path is Lambda's.
pub fn is_lambda_path(path: &str) -> bool {
    path == PATH_PREFIX || path.starts_with("/2015-03-31/functions/")
}

/// Lambda's answer to a path or method it does not serve.
pub fn unknown_route() -> WireError {
    WireError {
        code: "UnknownOperationException",
        message: "Unknown operation".into(),
        status: 404,
    }
}

impl LambdaRoute {
    /// The route of a method and a Lambda path.
    pub fn parse(method: &str, path: &str) -> Result<Self, WireError> {
        let rest = path.strip_prefix(PATH_PREFIX).ok_or_else(unknown_route)?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let segments: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        use LambdaOperation::*;
        let (operation, name) = match (method, segments.as_slice()) {
            ("POST", []) => (CreateFunction, None),
            ("GET", []) => (ListFunctions, None),
            ("GET", [name]) => (GetFunction, Some(*name)),
            ("DELETE", [name]) => (DeleteFunction, Some(*name)),
            ("GET", [name, "configuration"]) => (GetFunctionConfiguration, Some(*name)),
            ("PUT", [name, "configuration"]) => (UpdateFunctionConfiguration, Some(*name)),
            ("PUT", [name, "code"]) => (UpdateFunctionCode, Some(*name)),
            ("POST", [name, "invocations"]) => (Invoke, Some(*name)),
            _ => return Err(unknown_route()),
        };
        let function = match name {
            Some(name) => Some(percent_decode(name).ok_or_else(unknown_route)?),
            None => None,
        };
        Ok(Self {
            operation,
            function,
        })
    }

    /// The operation's input: the JSON body (none for `Invoke`, whose body is the payload),
    /// the path's function name and the query string's members, checked against the model.
    fn input(&self, body: &[u8], query: Option<&str>) -> Result<Value, WireError> {
        let mut input = if self.operation == LambdaOperation::Invoke || body.is_empty() {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => map,
                _ => return Err(WireError::serialization("")),
            }
        };
        if let Some(name) = &self.function {
            input.insert("FunctionName".into(), Value::String(name.clone()));
        }
        if let Some(query) = query {
            for (name, value) in crate::query::parse_form(query.as_bytes())? {
                match name.as_str() {
                    "MaxItems" => {
                        let items = value.parse::<i64>().map_err(|_| {
                            WireError::validation(format!(
                                "1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: Member must be a number"
                            ))
                        })?;
                        input.insert(name, Value::from(items));
                    }
                    "Marker" | "Qualifier" | "FunctionVersion" | "MasterRegion" => {
                        input.insert(name, Value::String(value));
                    }
                    _ => {}
                }
            }
        }
        let body = serde_json::to_vec(&Value::Object(input)).map_err(|_| WireError::internal())?;
        ServiceModel::lambda().decode_input(self.operation.name(), &body)
    }

    /// The request, checked and typed.
    pub fn decode<T: DeserializeOwned>(
        &self,
        body: &[u8],
        query: Option<&str>,
    ) -> Result<T, WireError> {
        let input = self.input(body, query)?;
        serde_json::from_value(input).map_err(|_| WireError::serialization(""))
    }
}

/// `%XX` escapes of a path segment decoded; `None` for a bad escape or bytes that are not
/// UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(segment.len());
    let mut rest = segment.bytes();
    while let Some(byte) = rest.next() {
        if byte == b'%' {
            let high = rest.next().and_then(|d| (d as char).to_digit(16))?;
            let low = rest.next().and_then(|d| (d as char).to_digit(16))?;
            bytes.push(u8::try_from(high << 4 | low).ok()?);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok()
}

/// Lambda's error body: `{"Type":"User","message":…}`, the exception named by the
/// `X-Amzn-ErrorType` header (botocore reads the code from there for REST-JSON).
pub fn error_body(err: &WireError) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "Type")]
        kind: &'a str,
        message: &'a str,
    }
    serde_json::to_vec(&Body {
        kind: if err.status >= 500 { "Service" } else { "User" },
        message: &err.message,
    })
    .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCode {
    pub zip_file: Option<Blob>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub image_uri: Option<String>,
}

/// Environment variables as sent; the values are cleared from memory when dropped.
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    pub variables: Option<BTreeMap<String, json::SecretText>>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment").finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionRequest {
    pub function_name: String,
    pub runtime: Option<String>,
    pub role: String,
    pub handler: Option<String>,
    pub code: FunctionCode,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub package_type: Option<String>,
    pub environment: Option<Environment>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub publish: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionNameRequest {
    pub function_name: String,
    pub qualifier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsRequest {
    pub marker: Option<String>,
    pub max_items: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfigurationRequest {
    pub function_name: String,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<Environment>,
    pub runtime: Option<String>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub revision_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionCodeRequest {
    pub function_name: String,
    pub zip_file: Option<Blob>,
    pub s3_bucket: Option<String>,
    pub image_uri: Option<String>,
    pub revision_id: Option<String>,
    pub dry_run: Option<bool>,
}

/// `FunctionConfiguration` as Lambda returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    pub code_size: u64,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    pub last_modified: String,
    pub code_sha256: String,
    pub version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentResponse>,
    #[serde(rename = "KMSKeyArn", skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    pub tracing_config: TracingConfig,
    pub revision_id: String,
    pub state: &'static str,
    pub last_update_status: &'static str,
    pub package_type: &'static str,
    pub architectures: [&'static str; 1],
    pub ephemeral_storage: EphemeralStorage,
    pub logging_config: LoggingConfig,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentResponse {
    pub variables: BTreeMap<String, json::SecretText>,
}

impl std::fmt::Debug for EnvironmentResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvironmentResponse")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    pub mode: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    pub size: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    pub log_format: &'static str,
    pub log_group: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionResponse {
    pub configuration: FunctionConfiguration,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsResponse {
    pub functions: Vec<FunctionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_model() {
        let route = LambdaRoute::parse("POST", "/2015-03-31/functions").unwrap();
        assert_eq!(route.operation, LambdaOperation::CreateFunction);
        let route = LambdaRoute::parse(
            "POST",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aloadtest/invocations",
        )
        .unwrap();
        assert_eq!(route.operation, LambdaOperation::Invoke);
        assert_eq!(
            route.function.as_deref(),
            Some("arn:aws:lambda:us-east-1:000000000000:function:loadtest")
        );
        let route = LambdaRoute::parse("PUT", "/2015-03-31/functions/f/configuration").unwrap();
        assert_eq!(
            route.operation,
            LambdaOperation::UpdateFunctionConfiguration
        );
        assert!(LambdaRoute::parse("PATCH", "/2015-03-31/functions/f").is_err());
        assert!(LambdaRoute::parse("GET", "/2015-03-31/functions/f/x/y").is_err());
        assert!(LambdaRoute::parse("GET", "/2015-03-31/functions/%zz").is_err());
    }

    #[test]
    fn path_names_are_checked_by_the_model() {
        let route = LambdaRoute::parse("GET", "/2015-03-31/functions/bad%20name").unwrap();
        let err = route.decode::<FunctionNameRequest>(b"", None).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        let route = LambdaRoute::parse("GET", "/2015-03-31/functions/good").unwrap();
        let request: FunctionNameRequest = route.decode(b"", Some("Qualifier=%24LATEST")).unwrap();
        assert_eq!(request.function_name, "good");
        assert_eq!(request.qualifier.as_deref(), Some("$LATEST"));
    }

    #[test]
    fn errors_have_lambdas_shape() {
        let err = WireError::client("InvalidParameterValueException", "nope");
        let body: Value = serde_json::from_slice(&error_body(&err)).unwrap();
        assert_eq!(body, serde_json::json!({"Type": "User", "message": "nope"}));
    }
}
