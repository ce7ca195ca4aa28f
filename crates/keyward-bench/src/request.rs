//! Building one SigV4-signed AWS JSON 1.1 request.

use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use bytes::Bytes;
use http_body_util::Full;

use crate::creds::Credentials;

pub const JSON_1_1: &str = "application/x-amz-json-1.1";

/// The two services a workload talks to; each has its own target prefix and signing name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Kms,
    SecretsManager,
}

impl Service {
    pub fn target_prefix(self) -> &'static str {
        match self {
            Service::Kms => "TrentService",
            Service::SecretsManager => "secretsmanager",
        }
    }

    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Kms => "kms",
            Service::SecretsManager => "secretsmanager",
        }
    }
}

/// A validated plain-HTTP endpoint: where to connect and what to send as `Host`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, used both for `TcpStream::connect` and as the `Host` header.
    pub authority: String,
    /// The URL that is signed (always path `/`).
    pub url: String,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Self, String> {
        let uri: http::Uri = text
            .parse()
            .map_err(|e| format!("bad endpoint {text:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                "endpoint scheme {other:?} unsupported: only http:// (put TLS in front separately)"
            ))
            }
            None => return Err(format!("endpoint {text:?} needs http://")),
        }
        let host = uri
            .host()
            .ok_or_else(|| format!("endpoint {text:?} has no host"))?;
        let authority = match uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => format!("{host}:80"),
        };
        Ok(Endpoint {
            url: format!("http://{authority}/"),
            authority,
        })
    }
}

/// Everything that stays the same from one request to the next.
pub struct Signer {
    pub endpoint: Endpoint,
    pub credentials: Credentials,
    pub region: String,
}

impl Signer {
    /// Builds `POST /` with the JSON 1.1 headers and signs it at `time`.
    pub fn build(
        &self,
        service: Service,
        operation: &str,
        body: Bytes,
        time: SystemTime,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        let target = format!("{}.{operation}", service.target_prefix());
        let headers = [
            ("host", self.endpoint.authority.as_str()),
            ("content-type", JSON_1_1),
            ("x-amz-target", target.as_str()),
        ];
        let identity = aws_credential_types::Credentials::new(
            self.credentials.access_key_id.clone(),
            self.credentials.secret_access_key.clone(),
            self.credentials.session_token.clone(),
            None,
            "keyward-bench",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.signing_name())
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing parameters: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint.url,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| format!("signable request: {e}"))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();

        let mut builder = http::Request::builder()
            .method(http::Method::POST)
            .uri("/")
            .header(http::header::CONTENT_LENGTH, body.len());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        for (name, value) in instructions.headers() {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(body))
            .map_err(|e| format!("building request: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer {
            endpoint: Endpoint::parse("http://127.0.0.1:4599").unwrap(),
            credentials: Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            },
            region: "eu-west-3".into(),
        }
    }

    fn header<'a>(r: &'a http::Request<Full<Bytes>>, name: &str) -> &'a str {
        r.headers().get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn kms_request_has_target_content_type_host_and_signature() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let r = signer()
            .build(Service::Kms, "Encrypt", Bytes::from_static(b"{}"), time)
            .unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "/");
        assert_eq!(header(&r, "x-amz-target"), "TrentService.Encrypt");
        assert_eq!(header(&r, "content-type"), "application/x-amz-json-1.1");
        assert_eq!(header(&r, "host"), "127.0.0.1:4599");
        assert_eq!(header(&r, "content-length"), "2");
        assert_eq!(header(&r, "x-amz-date"), "20231114T221320Z");
        let auth = header(&r, "authorization");
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-3/kms/aws4_request"
        ));
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target"));
    }

    #[test]
    fn secrets_manager_uses_its_own_prefix_and_signing_name() {
        let r = signer()
            .build(
                Service::SecretsManager,
                "GetSecretValue",
                Bytes::from_static(b"{\"SecretId\":\"s\"}"),
                SystemTime::now(),
            )
            .unwrap();
        assert_eq!(header(&r, "x-amz-target"), "secretsmanager.GetSecretValue");
        assert!(header(&r, "authorization").contains("/eu-west-3/secretsmanager/aws4_request"));
    }

    #[test]
    fn signing_is_fresh_for_each_time() {
        let s = signer();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let a = s.build(Service::Kms, "Decrypt", Bytes::new(), t).unwrap();
        let b = s
            .build(
                Service::Kms,
                "Decrypt",
                Bytes::new(),
                t + std::time::Duration::from_secs(1),
            )
            .unwrap();
        assert_ne!(header(&a, "authorization"), header(&b, "authorization"));
    }

    #[test]
    fn endpoint_parsing() {
        assert_eq!(
            Endpoint::parse("http://localhost").unwrap().authority,
            "localhost:80"
        );
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:4620/").unwrap().url,
            "http://127.0.0.1:4620/"
        );
        assert!(Endpoint::parse("https://kms.example").is_err());
        assert!(Endpoint::parse("127.0.0.1:4620").is_err());
    }
}
