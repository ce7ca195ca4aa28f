//! The OpenBao / Vault transit API: the key workloads as plain JSON calls under
//! `/v1/<mount>/`, authenticated by an `X-Vault-Token` header instead of SigV4.

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;

use crate::client::send_once;
use crate::request::Endpoint;
use crate::workload::{random_b64, Fixtures, Workload};

/// The workloads transit has an equivalent for.
pub const SUPPORTED: [Workload; 4] = [
    Workload::Encrypt32,
    Workload::Encrypt4k,
    Workload::Decrypt,
    Workload::GenerateDataKey,
];

/// A Vault token; `Debug` hides it so it cannot reach a log.
#[derive(Clone)]
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Everything that stays the same from one transit request to the next.
#[derive(Debug)]
pub struct Transit {
    pub endpoint: Endpoint,
    pub token: Token,
    /// Where the transit engine is mounted, without slashes (`transit`).
    pub mount: String,
}

impl Transit {
    pub fn new(endpoint: Endpoint, token: Token, mount: &str) -> Result<Self, String> {
        let mount = mount.trim_matches('/');
        if mount.is_empty() {
            return Err("--transit-mount must not be empty".to_owned());
        }
        Ok(Transit {
            endpoint,
            token,
            mount: mount.to_owned(),
        })
    }

    /// Builds `POST /v1/<path>` with a JSON body and the token header.
    pub fn build(&self, path: &str, body: Bytes) -> Result<http::Request<Full<Bytes>>, String> {
        let mut token = http::HeaderValue::from_str(&self.token.0)
            .map_err(|_| "the Vault token is not a valid header value".to_owned())?;
        token.set_sensitive(true);
        http::Request::builder()
            .method(http::Method::POST)
            .uri(format!("/v1/{path}"))
            .header(http::header::HOST, &self.endpoint.authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::CONTENT_LENGTH, body.len())
            .header("x-vault-token", token)
            .body(Full::new(body))
            .map_err(|e| format!("building request: {e}"))
    }

    /// One setup call: the parsed JSON (`null` for an empty body) or a readable error.
    async fn call(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
        let request = self.build(path, Bytes::from(body.to_string()))?;
        let (status, body) = send_once(&self.endpoint.authority, request).await?;
        if !status.is_success() {
            return Err(format!(
                "POST /v1/{path} failed: {}",
                error_code(status, &body)
            ));
        }
        if body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&body)
            .map_err(|e| format!("POST /v1/{path}: response is not JSON: {e}"))
    }

    /// Mounts the engine if it is not mounted yet, creates a fresh key and encrypts one
    /// plaintext with it for the decrypt workload.
    pub async fn setup(&self, workload: Workload) -> Result<Fixtures, String> {
        if !SUPPORTED.contains(&workload) {
            return Err(unsupported(workload));
        }
        match self
            .call(
                &format!("sys/mounts/{}", self.mount),
                json!({"type": "transit"}),
            )
            .await
        {
            Err(e) if !e.contains("path is already in use") => return Err(e),
            _ => {}
        }
        let mut rng = fastrand::Rng::new();
        let key = format!("keyward-bench-{:016x}", rng.u64(..));
        self.call(
            &format!("{}/keys/{key}", self.mount),
            json!({"type": "aes256-gcm96"}),
        )
        .await?;
        let encrypted = self
            .call(
                &format!("{}/encrypt/{key}", self.mount),
                json!({"plaintext": random_b64(&mut rng, 32)}),
            )
            .await?;
        let ciphertext = encrypted["data"]["ciphertext"]
            .as_str()
            .ok_or("transit encrypt response lacks data.ciphertext")?
            .to_owned();
        Ok(Fixtures {
            key_id: key,
            ciphertext,
            ..Fixtures::default()
        })
    }

    /// The next request of `workload`.
    pub fn next_request(
        &self,
        workload: Workload,
        fixtures: &Fixtures,
        rng: &mut fastrand::Rng,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        let (operation, body) = match workload {
            Workload::Encrypt32 => ("encrypt", json!({"plaintext": random_b64(rng, 32)})),
            Workload::Encrypt4k => ("encrypt", json!({"plaintext": random_b64(rng, 4096)})),
            Workload::Decrypt => ("decrypt", json!({"ciphertext": fixtures.ciphertext})),
            Workload::GenerateDataKey => ("datakey/plaintext", json!({"bits": 256})),
            other => return Err(unsupported(other)),
        };
        let path = format!("{}/{operation}/{}", self.mount, fixtures.key_id);
        self.build(&path, Bytes::from(body.to_string()))
    }
}

pub fn unsupported(workload: Workload) -> String {
    let names: Vec<&str> = SUPPORTED.iter().map(|w| w.name()).collect();
    format!(
        "workload {} has no transit equivalent; with --protocol openbao use one of: {}",
        workload.name(),
        names.join(", ")
    )
}

/// A failed transit response as `HTTP <status>: <first message>`; Vault puts its messages
/// in `{"errors": [...]}`.
pub fn error_code(status: http::StatusCode, body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errors"][0].as_str().map(str::to_owned));
    match message {
        Some(m) => {
            let m: String = m.chars().take(80).collect();
            format!("HTTP {}: {}", status.as_u16(), m.replace('\n', " "))
        }
        None => format!("HTTP {}", status.as_u16()),
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;

    use super::*;

    fn transit() -> Transit {
        Transit::new(
            Endpoint::parse("http://127.0.0.1:8200").unwrap(),
            Token("root".into()),
            "/transit/",
        )
        .unwrap()
    }

    fn fixtures() -> Fixtures {
        Fixtures {
            key_id: "k".into(),
            ciphertext: "vault:v1:abc".into(),
            ..Fixtures::default()
        }
    }

    async fn body(r: http::Request<Full<Bytes>>) -> serde_json::Value {
        use http_body_util::BodyExt as _;
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn workloads_map_to_transit_paths_and_bodies() {
        let t = transit();
        let mut rng = fastrand::Rng::with_seed(1);
        let cases = [
            (Workload::Encrypt32, "/v1/transit/encrypt/k"),
            (Workload::Encrypt4k, "/v1/transit/encrypt/k"),
            (Workload::Decrypt, "/v1/transit/decrypt/k"),
            (Workload::GenerateDataKey, "/v1/transit/datakey/plaintext/k"),
        ];
        for (workload, path) in cases {
            let r = t.next_request(workload, &fixtures(), &mut rng).unwrap();
            assert_eq!(r.method(), http::Method::POST);
            assert_eq!(r.uri(), path);
            assert_eq!(r.headers()["x-vault-token"], "root");
            assert!(r.headers()["x-vault-token"].is_sensitive());
            assert_eq!(r.headers()["host"], "127.0.0.1:8200");
            assert_eq!(r.headers()["content-type"], "application/json");
            let v = body(r).await;
            match workload {
                Workload::Encrypt32 | Workload::Encrypt4k => {
                    let plain = B64.decode(v["plaintext"].as_str().unwrap()).unwrap();
                    let want = if workload == Workload::Encrypt32 {
                        32
                    } else {
                        4096
                    };
                    assert_eq!(plain.len(), want);
                }
                Workload::Decrypt => assert_eq!(v["ciphertext"], "vault:v1:abc"),
                _ => assert_eq!(v["bits"], 256),
            }
        }
    }

    #[test]
    fn secrets_key_creation_and_lists_are_refused() {
        let mut rng = fastrand::Rng::with_seed(1);
        for w in [
            Workload::GetSecretValue,
            Workload::PutSecretValue,
            Workload::CreateKey,
            Workload::CreateSecret,
            Workload::ListKeys,
            Workload::ListSecrets,
            Workload::Mix,
        ] {
            let e = transit()
                .next_request(w, &fixtures(), &mut rng)
                .unwrap_err();
            assert!(e.contains("no transit equivalent"), "{e}");
            assert!(e.contains("encrypt-32, encrypt-4k, decrypt, generate-data-key"));
        }
    }

    #[test]
    fn mount_is_validated_and_errors_read_vault_messages() {
        let endpoint = Endpoint::parse("http://127.0.0.1:8200").unwrap();
        assert!(Transit::new(endpoint, Token("t".into()), "//").is_err());
        assert_eq!(format!("{:?}", Token("secret".into())), "Token(..)");
        let s = http::StatusCode::FORBIDDEN;
        assert_eq!(
            error_code(s, br#"{"errors":["permission denied"]}"#),
            "HTTP 403: permission denied"
        );
        assert_eq!(error_code(s, b""), "HTTP 403");
    }
}
