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

/// A connection ready for the next request, and whether it had to be opened: the one in
/// `sender` if the server kept it open, else a new one, which is stored in `sender`.
pub async fn ready_connection<'a>(
    sender: &'a mut Option<Sender>,
    authority: &str,
) -> Result<(&'a mut Sender, bool), String> {
    let kept = match sender.take() {
        Some(mut conn) => conn.ready().await.ok().map(|()| conn),
        None => None,
    };
    let (conn, opened) = match kept {
        Some(conn) => (conn, false),
        None => {
            let mut conn = connect(authority).await?;
            conn.ready()
                .await
                .map_err(|e| format!("new connection not ready: {e}"))?;
            (conn, true)
        }
    };
    Ok((sender.insert(conn), opened))
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

/// Sends one request on a fresh connection (for setup calls, outside any measurement).
pub async fn send_once(
    authority: &str,
    request: http::Request<Full<Bytes>>,
) -> Result<(http::StatusCode, Bytes), String> {
    let mut sender = connect(authority).await?;
    round_trip(&mut sender, request).await
}

/// One AWS setup call: returns the parsed JSON or a readable error.
pub async fn call(
    signer: &Signer,
    service: Service,
    operation: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let request = signer.build(
        service,
        operation,
        Bytes::from(body.to_string()),
        SystemTime::now(),
    )?;
    let (status, body) = send_once(&signer.endpoint.authority, request).await?;
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

    /// A server answering every request with `{}`, closing the connection after each
    /// response when `close` is set (as moto does).
    async fn server(close: bool) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let response: &[u8] = if close {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
        };
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {
                        if socket.write_all(response).await.is_err() || close {
                            break;
                        }
                    }
                });
            }
        });
        authority
    }

    async fn opened_per_request(close: bool) -> Vec<bool> {
        let authority = server(close).await;
        let mut sender = None;
        let mut opened = Vec::new();
        for _ in 0..3 {
            let (conn, new) = ready_connection(&mut sender, &authority).await.unwrap();
            opened.push(new);
            let request = http::Request::post("/")
                .header("host", &authority)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let (status, body) = round_trip(conn, request).await.unwrap();
            assert_eq!((status, &body[..]), (http::StatusCode::OK, &b"{}"[..]));
        }
        opened
    }

    #[tokio::test]
    async fn keep_alive_connections_are_reused() {
        assert_eq!(opened_per_request(false).await, [true, false, false]);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_before_the_next_request() {
        assert_eq!(opened_per_request(true).await, [true, true, true]);
    }
}
