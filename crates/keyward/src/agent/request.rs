//! A request to the agent, parsed into what it asks for, and the agent's error responses.
//!
//! Status codes and bodies are the AWS Secrets Manager Agent's: plain-text bodies for the
//! agent's own refusals ("Bad Token", "Forwarded", ...), and the Secrets Manager error
//! JSON (`{"__type":...,"message":...}`) with Secrets Manager's own status when the
//! service said no.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde::Serialize;

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum AgentRequest {
    Ping,
    Get(Get),
}

/// One GetSecretValue, as the cache keys it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretQuery {
    pub secret_id: String,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Get {
    pub query: SecretQuery,
    pub refresh_now: bool,
}

impl AgentRequest {
    /// Routes a request path (the health check, the Lambda extension's query form, or the
    /// path form under `prefix`) and parses its query string.
    pub fn parse(path: &str, query: Option<&str>, prefix: &str) -> Result<Self, AgentError> {
        if path == "/ping" {
            return Ok(Self::Ping);
        }
        let (secret_id, allow_secret_id) = if path == "/secretsmanager/get" {
            (None, true)
        } else if let Some(rest) = path.strip_prefix(prefix) {
            let id = percent_decode(rest)
                .ok_or_else(|| AgentError::BadRequest("invalid secret ID".into()))?;
            if id.is_empty() {
                return Err(AgentError::BadRequest("missing secret ID".into()));
            }
            (Some(id), false)
        } else {
            return Err(AgentError::NotFound);
        };
        parse_query(secret_id, allow_secret_id, query.unwrap_or("")).map(Self::Get)
    }
}

fn parse_query(
    mut secret_id: Option<String>,
    allow_secret_id: bool,
    query: &str,
) -> Result<Get, AgentError> {
    let mut version_id = None;
    let mut version_stage = None;
    let mut refresh_now = false;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "secretId" if allow_secret_id => secret_id = Some(value.into_owned()),
            "versionId" => version_id = Some(value.into_owned()),
            "versionStage" => version_stage = Some(value.into_owned()),
            "refreshNow" => {
                refresh_now = match value.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(AgentError::BadRequest("invalid refreshNow value".into())),
                }
            }
            other => {
                return Err(AgentError::BadRequest(format!(
                    "unknown parameter: {other}"
                )))
            }
        }
    }
    let secret_id = secret_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| AgentError::BadRequest("missing parameter secretId".into()))?;
    Ok(Get {
        query: SecretQuery {
            secret_id,
            version_id,
            version_stage,
        },
        refresh_now,
    })
}

/// `%XX` decoding of a path segment (a `+` stays a `+`); None for bad escapes or UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Every way a request can fail, each with the official agent's status and body.
#[derive(Debug, PartialEq, Eq)]
pub enum AgentError {
    /// Over `max_conn` simultaneous connections.
    TooManyConnections,
    /// An `X-Forwarded-For` header: the request came through a proxy.
    Forwarded,
    /// The token header is missing or wrong.
    BadToken,
    MethodNotAllowed,
    NotFound,
    BadRequest(String),
    /// Secrets Manager's own error, passed through.
    Service {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// Secrets Manager did not answer in time.
    Timeout,
    /// Secrets Manager could not be reached, or its answer could not be read.
    Connection(&'static str),
    Internal,
}

#[derive(Serialize)]
struct WireError<'a> {
    #[serde(rename = "__type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

impl AgentError {
    /// Errors for which a cached (expired) value may be served instead.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Timeout | Self::Connection(_))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
            Self::Forwarded | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::BadToken => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Service { status, .. } => *status,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Connection(_) => StatusCode::BAD_GATEWAY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn into_response(self) -> Response<Full<Bytes>> {
        let status = self.status();
        let text = |s: &str| (false, s.to_owned());
        let json = |kind: &str, message: Option<&str>| {
            let body = serde_json::to_string(&WireError { kind, message })
                .unwrap_or_else(|_| r#"{"__type":"InternalFailure"}"#.to_owned());
            (true, body)
        };
        let (is_json, body) = match &self {
            Self::TooManyConnections => text("Connection limit exceeded"),
            Self::Forwarded => text("Forwarded"),
            Self::BadToken => text("Bad Token"),
            Self::MethodNotAllowed => text("Not allowed"),
            Self::NotFound => text("Not found"),
            Self::BadRequest(message) => text(message),
            Self::Service { code, message, .. } => json(code, Some(message)),
            Self::Timeout => json("TimeoutError", Some("Timeout")),
            Self::Connection(what) => json("ConnectionError", Some(what)),
            Self::Internal => json("InternalFailure", None),
        };
        respond(status, is_json, Bytes::from(body))
    }
}

pub fn respond(status: StatusCode, is_json: bool, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let content_type = if is_json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path_and_query: &str) -> Result<AgentRequest, AgentError> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        AgentRequest::parse(path, query, "/v1/")
    }

    fn get(
        id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
        refresh_now: bool,
    ) -> AgentRequest {
        AgentRequest::Get(Get {
            query: SecretQuery {
                secret_id: id.to_owned(),
                version_id: version_id.map(str::to_owned),
                version_stage: stage.map(str::to_owned),
            },
            refresh_now,
        })
    }

    #[test]
    fn query_form() {
        assert_eq!(
            parse("/secretsmanager/get?secretId=MyTest").unwrap(),
            get("MyTest", None, None, false)
        );
        assert_eq!(
            parse("/secretsmanager/get?secretId=a%2Fb+c&versionStage=AWSPREVIOUS&refreshNow=TRUE")
                .unwrap(),
            get("a/b c", None, Some("AWSPREVIOUS"), true)
        );
        assert_eq!(
            parse("/secretsmanager/get?versionId=v1&secretId=arn:aws:x&refreshNow=0").unwrap(),
            get("arn:aws:x", Some("v1"), None, false)
        );
    }

    #[test]
    fn path_form() {
        assert_eq!(
            parse("/v1/prod/db%20password?versionStage=AWSCURRENT").unwrap(),
            get("prod/db password", None, Some("AWSCURRENT"), false)
        );
        assert_eq!(parse("/ping").unwrap(), AgentRequest::Ping);
    }

    #[test]
    fn refusals_match_the_official_agent() {
        let bad = |s: &str| AgentError::BadRequest(s.to_owned());
        assert_eq!(
            parse("/secretsmanager/get").unwrap_err(),
            bad("missing parameter secretId")
        );
        assert_eq!(
            parse("/secretsmanager/get?secretId=").unwrap_err(),
            bad("missing parameter secretId")
        );
        assert_eq!(
            parse("/secretsmanager/get?secretId=a&abc=123").unwrap_err(),
            bad("unknown parameter: abc")
        );
        assert_eq!(
            parse("/secretsmanager/get?secretId=a&refreshNow=123").unwrap_err(),
            bad("invalid refreshNow value")
        );
        assert_eq!(parse("/v1/").unwrap_err(), bad("missing secret ID"));
        assert_eq!(parse("/v1/%zz").unwrap_err(), bad("invalid secret ID"));
        assert_eq!(parse("/v1/%ff").unwrap_err(), bad("invalid secret ID"));
        assert_eq!(
            parse("/v1/a?secretId=b").unwrap_err(),
            bad("unknown parameter: secretId")
        );
        assert_eq!(parse("/other").unwrap_err(), AgentError::NotFound);
        assert_eq!(parse("/").unwrap_err(), AgentError::NotFound);
    }

    #[test]
    fn error_bodies() {
        let body = |e: AgentError| {
            let status = e.status();
            let resp = e.into_response();
            assert_eq!(resp.status(), status);
            resp.into_body()
        };
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let read = |b: Full<Bytes>| rt.block_on(b.collect()).unwrap().to_bytes();
        assert_eq!(read(body(AgentError::BadToken)), "Bad Token");
        assert_eq!(read(body(AgentError::Forwarded)), "Forwarded");
        assert_eq!(
            read(body(AgentError::Internal)),
            r#"{"__type":"InternalFailure"}"#
        );
        assert_eq!(
            read(body(AgentError::Service {
                status: StatusCode::BAD_REQUEST,
                code: "ResourceNotFoundException".into(),
                message: "Secrets Manager can't find the \"x\" secret.".into(),
            })),
            r#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the \"x\" secret."}"#
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever the bytes of the path and query, an answer and never a panic.
            #[test]
            fn any_request_parses_or_is_refused(path in ".{0,64}", query in proptest::option::of(".{0,64}")) {
                let _ = AgentRequest::parse(&path, query.as_deref(), "/v1/");
            }

            /// Any secret id, encoded as clients encode it, comes back as it was, in
            /// both forms.
            #[test]
            fn secret_ids_round_trip(id in "\\PC{1,40}", stage in proptest::option::of("[A-Za-z_]{1,12}")) {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("secretId", &id);
                if let Some(stage) = &stage {
                    query.append_pair("versionStage", stage);
                }
                let query = query.finish();
                let AgentRequest::Get(get) = AgentRequest::parse("/secretsmanager/get", Some(&query), "/v1/").unwrap() else {
                    panic!("not a get");
                };
                prop_assert_eq!(&get.query.secret_id, &id);
                prop_assert_eq!(&get.query.version_stage, &stage);

                let encoded: String = id.bytes().map(|b| format!("%{b:02X}")).collect();
                let AgentRequest::Get(get) = AgentRequest::parse(&format!("/v1/{encoded}"), None, "/v1/").unwrap() else {
                    panic!("not a get");
                };
                prop_assert_eq!(get.query.secret_id, id);
            }
        }
    }
}
