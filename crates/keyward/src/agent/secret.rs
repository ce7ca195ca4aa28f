//! GetSecretValue through the AWS SDK, rendered as the official agent renders it, and the
//! SDK's failures mapped to the agent's responses.

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use base64::Engine as _;
use hyper::StatusCode;
use serde::Serialize;
use zeroize::Zeroizing;

use super::request::{AgentError, SecretQuery};

/// A rendered GetSecretValue response: it holds the secret, so it has no `Debug` and is
/// wiped when the last copy (cache entry or in-flight response) is dropped.
pub struct SecretJson(Zeroizing<String>);

impl SecretJson {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The official agent's JSON: these fields in this order, `CreatedDate` as a string of
/// epoch seconds with their fraction (`"1569534789.046"`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Rendered<'a> {
    #[serde(rename = "ARN")]
    arn: Option<&'a str>,
    name: Option<&'a str>,
    version_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_string: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_binary: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_stages: Option<&'a [String]>,
    created_date: Option<String>,
}

pub fn render(output: &GetSecretValueOutput) -> Result<SecretJson, AgentError> {
    let binary = output.secret_binary().map(|blob| {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(blob.as_ref()))
    });
    let rendered = Rendered {
        arn: output.arn(),
        name: output.name(),
        version_id: output.version_id(),
        secret_string: output.secret_string(),
        secret_binary: binary.as_deref().map(String::as_str),
        version_stages: output.version_stages.as_deref(),
        created_date: output
            .created_date()
            .map(|d| epoch_seconds(d.secs(), d.subsec_nanos())),
    };
    serde_json::to_string(&rendered)
        .map(|json| SecretJson(Zeroizing::new(json)))
        .map_err(|_| AgentError::Internal)
}

/// Seconds with their fraction, trailing zeros dropped: `1569534789.046`, `1569534789`.
fn epoch_seconds(secs: i64, nanos: u32) -> String {
    if nanos == 0 {
        return secs.to_string();
    }
    let fraction = format!("{nanos:09}");
    format!("{secs}.{}", fraction.trim_end_matches('0'))
}

pub async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    query: &SecretQuery,
) -> Result<SecretJson, AgentError> {
    let result = client
        .get_secret_value()
        .secret_id(&query.secret_id)
        .set_version_id(query.version_id.clone())
        .set_version_stage(query.version_stage.clone())
        .send()
        .await;
    match result {
        Ok(output) => render(&output),
        Err(err) => {
            let mapped = map_sdk_error(&err);
            // The secret id and the error code only: never the raw response.
            tracing::warn!(
                secret_id = %query.secret_id,
                status = mapped.status().as_u16(),
                error = ?error_kind(&mapped),
                "GetSecretValue failed"
            );
            Err(mapped)
        }
    }
}

fn error_kind(err: &AgentError) -> &str {
    match err {
        AgentError::Service { code, .. } => code,
        AgentError::Timeout => "TimeoutError",
        AgentError::Connection(_) => "ConnectionError",
        _ => "InternalFailure",
    }
}

/// Secrets Manager's own errors pass through with their status, code and message; a
/// timeout is 504, an unreachable or unreadable service 502, anything else (a request the
/// SDK could not build, say) 500.
fn map_sdk_error<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> AgentError {
    match err {
        SdkError::ServiceError(context) => {
            let service = context.err();
            match (service.code(), service.message()) {
                (Some(code), Some(message)) => AgentError::Service {
                    status: StatusCode::from_u16(context.raw().status().as_u16())
                        .unwrap_or(StatusCode::BAD_REQUEST),
                    code: code.to_owned(),
                    message: message.to_owned(),
                },
                _ => AgentError::Internal,
            }
        }
        SdkError::TimeoutError(_) => AgentError::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => AgentError::Timeout,
        // Refused, reset, or closed before the answer: the service is out of reach. (The
        // official agent answers 500 for the last two; they are as transient as the first.)
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_other() => {
            AgentError::Connection("Read Error")
        }
        SdkError::ResponseError(_) => AgentError::Connection("Response Error"),
        _ => AgentError::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::primitives::{Blob, DateTime};

    #[test]
    fn created_date_like_the_official_agent() {
        assert_eq!(epoch_seconds(1_569_534_789, 46_000_000), "1569534789.046");
        assert_eq!(epoch_seconds(1_569_534_789, 0), "1569534789");
        assert_eq!(epoch_seconds(1, 500_000_000), "1.5");
    }

    #[test]
    fn renders_string_and_binary_secrets() {
        let output = GetSecretValueOutput::builder()
            .arn("arn:aws:secretsmanager:us-east-1:000000000000:secret:s-AbCdEf")
            .name("s")
            .version_id("v1")
            .secret_string("hunter2")
            .version_stages("AWSCURRENT")
            .created_date(DateTime::from_millis(1_569_534_789_046))
            .build();
        let json = render(&output).unwrap();
        assert_eq!(
            std::str::from_utf8(json.as_bytes()).unwrap(),
            r#"{"ARN":"arn:aws:secretsmanager:us-east-1:000000000000:secret:s-AbCdEf","Name":"s","VersionId":"v1","SecretString":"hunter2","VersionStages":["AWSCURRENT"],"CreatedDate":"1569534789.046"}"#
        );
        let output = GetSecretValueOutput::builder()
            .name("b")
            .secret_binary(Blob::new(vec![0, 1, 2, 255]))
            .build();
        let json = render(&output).unwrap();
        assert_eq!(
            std::str::from_utf8(json.as_bytes()).unwrap(),
            r#"{"ARN":null,"Name":"b","VersionId":null,"SecretBinary":"AAEC/w==","CreatedDate":null}"#
        );
    }
}
