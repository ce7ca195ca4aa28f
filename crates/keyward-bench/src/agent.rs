//! `keyward agent` (or the AWS Secrets Manager Agent): `GET /secretsmanager/get?secretId=`
//! with the token header, no SigV4. It measures the agent's cache hits: the secret must
//! exist already (the agent cannot create one), and setup makes one request so that the
//! measured ones find it cached.

use bytes::Bytes;
use http_body_util::Full;

use crate::client::send_once;
use crate::request::Endpoint;
use crate::workload::{Fixtures, Workload};

/// The one workload the agent serves.
pub const SUPPORTED: [Workload; 1] = [Workload::GetSecretValue];

/// The agent's token; `Debug` hides it so it cannot reach a log.
#[derive(Clone)]
pub struct AgentToken(pub String);

impl std::fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentToken(..)")
    }
}

#[derive(Debug)]
pub struct Agent {
    pub endpoint: Endpoint,
    pub token: AgentToken,
    /// The request path and query, built once: `/secretsmanager/get?secretId=...`.
    path: String,
}

impl Agent {
    pub fn new(endpoint: Endpoint, token: AgentToken, secret_id: &str) -> Result<Self, String> {
        if secret_id.is_empty() {
            return Err("--protocol agent needs --secret-id (an existing secret)".to_owned());
        }
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("secretId", secret_id)
            .finish();
        Ok(Agent {
            endpoint,
            token,
            path: format!("/secretsmanager/get?{query}"),
        })
    }

    pub fn build(&self) -> Result<http::Request<Full<Bytes>>, String> {
        let mut token = http::HeaderValue::from_str(&self.token.0)
            .map_err(|_| "the agent token is not a valid header value".to_owned())?;
        token.set_sensitive(true);
        http::Request::builder()
            .method(http::Method::GET)
            .uri(&self.path)
            .header(http::header::HOST, &self.endpoint.authority)
            .header("x-aws-parameters-secrets-token", token)
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("building request: {e}"))
    }

    /// One request, so that the secret is cached before measuring starts.
    pub async fn setup(&self) -> Result<Fixtures, String> {
        let (status, body) = send_once(&self.endpoint.authority, self.build()?).await?;
        if !status.is_success() {
            return Err(format!(
                "GET {} failed: {}",
                self.path,
                error_code(status, &body)
            ));
        }
        Ok(Fixtures::default())
    }
}

pub fn unsupported(workload: Workload) -> String {
    format!(
        "workload {} is not served by the agent; with --protocol agent use get-secret-value",
        workload.name()
    )
}

/// The Secrets Manager error type the agent passed through, or the agent's own
/// plain-text refusal (`Bad Token`, ...).
pub fn error_code(status: http::StatusCode, body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(kind) = value.get("__type").and_then(|t| t.as_str()) {
            return kind.to_owned();
        }
    }
    let text: String = String::from_utf8_lossy(body).chars().take(80).collect();
    if text.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {}", status.as_u16(), text.replace('\n', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_token_and_an_encoded_secret_id() {
        let endpoint = Endpoint::parse("http://127.0.0.1:2773").unwrap();
        let agent = Agent::new(endpoint, AgentToken("t0ken".into()), "app/db pass").unwrap();
        let r = agent.build().unwrap();
        assert_eq!(r.method(), http::Method::GET);
        assert_eq!(r.uri(), "/secretsmanager/get?secretId=app%2Fdb+pass");
        assert_eq!(r.headers()["x-aws-parameters-secrets-token"], "t0ken");
        assert_eq!(r.headers()["host"], "127.0.0.1:2773");
        assert!(format!("{:?}", agent.token) == "AgentToken(..)");
    }

    #[test]
    fn errors_name_the_service_error_or_the_refusal() {
        let s = http::StatusCode::BAD_REQUEST;
        assert_eq!(
            error_code(
                s,
                br#"{"__type":"ResourceNotFoundException","message":"x"}"#
            ),
            "ResourceNotFoundException"
        );
        assert_eq!(
            error_code(http::StatusCode::FORBIDDEN, b"Bad Token"),
            "HTTP 403: Bad Token"
        );
        assert_eq!(error_code(s, b""), "HTTP 400");
    }
}
