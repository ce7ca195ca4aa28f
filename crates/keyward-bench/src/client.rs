//! One persistent HTTP/1.1 connection and the call/response plumbing around it.

use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::request::{Service, Signer};

pub type Sender = SendRequest<Full<Bytes>>;

/// Opens a keep-alive connection; the connection driver runs on its own task.
pub async fn connect(authority: &str) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server closes it;
        // the next send_request then fails and the worker reconnects.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends `request` and reads the whole body.
pub async fn round_trip(
    sender: &mut Sender,
    request: http::Request<Full<Bytes>>,
) -> Result<(http::StatusCode, Bytes), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection not ready: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("read body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// The AWS error code of a failed JSON 1.1 response: `__type` without any namespace
/// prefix (`com.amazonaws.kms#NotFoundException` becomes `NotFoundException`).
pub fn error_code(status: http::StatusCode, body: &[u8]) -> String {
    let typed = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("__type").and_then(|t| t.as_str()).map(str::to_owned));
    match typed {
        Some(t) => t.rsplit('#').next().unwrap_or(&t).to_owned(),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// One setup call on a fresh connection: returns the parsed JSON or a readable error.
pub async fn call(
    signer: &Signer,
    service: Service,
    operation: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut sender = connect(&signer.endpoint.authority).await?;
    let request = signer.build(
        service,
        operation,
        Bytes::from(body.to_string()),
        SystemTime::now(),
    )?;
    let (status, body) = round_trip(&mut sender, request).await?;
    if !status.is_success() {
        return Err(format!(
            "{operation} failed: {} {}",
            error_code(status, &body),
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{operation}: response is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_strips_namespace_and_falls_back_to_status() {
        let s = http::StatusCode::BAD_REQUEST;
        assert_eq!(
            error_code(s, br#"{"__type":"com.amazonaws.kms#NotFoundException"}"#),
            "NotFoundException"
        );
        assert_eq!(
            error_code(s, br#"{"__type":"ThrottlingException","message":"x"}"#),
            "ThrottlingException"
        );
        assert_eq!(error_code(s, b"<html>"), "HTTP 400");
    }
}
