//! The wire form of an error, as AWS JSON 1.1 renders it:
//! HTTP 400 (500 for internal failures) and `{"__type":"<Exception>","message":"…"}`; the
//! Query protocol (IAM, STS) renders the same error as XML ([`WireError::to_query_body`]).

use serde::Serialize;

/// An error as the client sees it. Built only from typed errors; rendered in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct WireError {
    /// The exception name of the service model, e.g. `NotFoundException`.
    pub code: &'static str,
    /// AWS's message for it. Never contains plaintext, secret values or key material.
    pub message: String,
    /// HTTP status: 400 for client errors, 500 for `InternalFailure`.
    pub status: u16,
}

impl WireError {
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: 400,
        }
    }

    /// A 5xx that says nothing more than `InternalFailure`; details belong in the log.
    pub fn internal() -> Self {
        Self {
            code: "InternalFailure",
            message: "An internal error occurred.".into(),
            status: 500,
        }
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::client("SerializationException", message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::client("ValidationException", message)
    }

    /// The JSON 1.1 error body; an empty message is left out, as AWS leaves it out.
    pub fn to_json_body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "__type")]
            kind: &'a str,
            #[serde(skip_serializing_if = "str::is_empty")]
            message: &'a str,
        }
        serde_json::to_vec(&Body {
            kind: self.code,
            message: &self.message,
        })
        .unwrap_or_default()
    }

    /// The Query protocol's XML error body in `namespace`, as [`crate::query::error_body`]
    /// renders it: `<ErrorResponse>` holding `<Error>` (`Type` `Sender`, or `Receiver` for a
    /// 5xx; `Code`; `Message`) and `<RequestId>`.
    pub fn to_query_body(&self, namespace: &str, request_id: &str) -> Vec<u8> {
        crate::query::error_body(self, namespace, request_id)
    }
}
