//! What each workload sends, and the resources it needs created beforehand.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::json;

use crate::client::call;
use crate::request::{Service, Signer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Encrypt 32 random bytes.
    #[value(name = "encrypt-32")]
    Encrypt32,
    /// Encrypt 4 KiB of random bytes.
    #[value(name = "encrypt-4k")]
    Encrypt4k,
    /// Decrypt a ciphertext made at setup.
    Decrypt,
    /// GenerateDataKey with KeySpec AES_256.
    GenerateDataKey,
    /// GetSecretValue of a secret made at setup.
    GetSecretValue,
    /// CreateKey (each call creates a key that stays).
    CreateKey,
    /// CreateKey of an RSA_4096 signing key: slow work (a key generation takes about a
    /// second of CPU) that must not stall the requests around it.
    #[value(name = "create-key-rsa4096")]
    CreateKeyRsa4096,
    /// Sign 32 bytes (RAW) with an ECC_NIST_P256 key made at setup.
    SignEcdsa,
    /// PutSecretValue on a secret made at setup (each call adds a version).
    PutSecretValue,
    /// CreateSecret with a new name each call (the secrets stay).
    CreateSecret,
    /// ListKeys, first page of 100.
    ListKeys,
    /// ListSecrets, first page of 100 in the default order.
    ListSecrets,
    /// 40% decrypt, 20% encrypt-32, 20% generate-data-key, 20% get-secret-value.
    Mix,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Encrypt32 => "encrypt-32",
            Workload::Encrypt4k => "encrypt-4k",
            Workload::Decrypt => "decrypt",
            Workload::GenerateDataKey => "generate-data-key",
            Workload::GetSecretValue => "get-secret-value",
            Workload::CreateKey => "create-key",
            Workload::CreateKeyRsa4096 => "create-key-rsa4096",
            Workload::SignEcdsa => "sign-ecdsa",
            Workload::PutSecretValue => "put-secret-value",
            Workload::CreateSecret => "create-secret",
            Workload::ListKeys => "list-keys",
            Workload::ListSecrets => "list-secrets",
            Workload::Mix => "mix",
        }
    }

    fn needs_key(self) -> bool {
        matches!(
            self,
            Workload::Encrypt32
                | Workload::Encrypt4k
                | Workload::Decrypt
                | Workload::GenerateDataKey
                | Workload::Mix
        )
    }

    fn needs_secret(self) -> bool {
        matches!(
            self,
            Workload::GetSecretValue | Workload::PutSecretValue | Workload::Mix
        )
    }

    /// Picks the concrete operation of one request (only `Mix` draws at random).
    fn pick(self, rng: &mut fastrand::Rng) -> Workload {
        match self {
            Workload::Mix => match rng.u32(0..10) {
                0..=3 => Workload::Decrypt,
                4..=5 => Workload::Encrypt32,
                6..=7 => Workload::GenerateDataKey,
                _ => Workload::GetSecretValue,
            },
            other => other,
        }
    }
}

/// Page size of `list-keys` and `list-secrets` (the most both APIs allow is 100).
pub const LIST_PAGE: u32 = 100;

/// Resources made at setup and shared by every worker.
#[derive(Debug, Default)]
pub struct Fixtures {
    /// A KMS key id, or the name of a transit key.
    pub key_id: String,
    /// A `CiphertextBlob` in base64, or a transit `vault:v1:...` ciphertext.
    pub ciphertext: String,
    pub secret_id: String,
    /// An ECC_NIST_P256 signing key id (`sign-ecdsa`).
    pub signing_key_id: String,
    /// Prefix of the secrets `create-secret` makes (`keyward-bench-<random>`), so that
    /// runs against one server never reuse a name.
    pub secret_prefix: String,
    /// Number of the next secret `create-secret` makes, shared by the workers.
    pub next_secret: AtomicU64,
}

impl Fixtures {
    /// A secret name no other request of this run (or, with high odds, of another) uses.
    fn new_secret_name(&self) -> String {
        let n = self.next_secret.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.secret_prefix)
    }
}

pub async fn setup(workload: Workload, signer: &Signer) -> Result<Fixtures, String> {
    let mut rng = fastrand::Rng::new();
    let mut fixtures = Fixtures {
        secret_prefix: format!("keyward-bench-{:016x}", rng.u64(..)),
        ..Fixtures::default()
    };
    if workload.needs_key() {
        let created = call(
            signer,
            Service::Kms,
            "CreateKey",
            json!({"Description": "keyward-bench"}),
        )
        .await?;
        fixtures.key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .ok_or("CreateKey response lacks KeyMetadata.KeyId")?
            .to_owned();
        let encrypted = call(
            signer,
            Service::Kms,
            "Encrypt",
            json!({"KeyId": fixtures.key_id, "Plaintext": random_b64(&mut rng, 32)}),
        )
        .await?;
        fixtures.ciphertext = encrypted["CiphertextBlob"]
            .as_str()
            .ok_or("Encrypt response lacks CiphertextBlob")?
            .to_owned();
    }
    if workload == Workload::SignEcdsa {
        let created = call(
            signer,
            Service::Kms,
            "CreateKey",
            json!({"Description": "keyward-bench", "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
        )
        .await?;
        fixtures.signing_key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .ok_or("CreateKey response lacks KeyMetadata.KeyId")?
            .to_owned();
    }
    if workload.needs_secret() {
        let name = format!("keyward-bench-{:016x}", rng.u64(..));
        call(
            signer,
            Service::SecretsManager,
            "CreateSecret",
            json!({"Name": name, "SecretString": random_b64(&mut rng, 48)}),
        )
        .await?;
        fixtures.secret_id = name;
    }
    Ok(fixtures)
}

pub fn random_b64(rng: &mut fastrand::Rng, len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes);
    B64.encode(bytes)
}

/// The service, operation and JSON body of the next request of `workload`.
pub fn next_call(
    workload: Workload,
    fixtures: &Fixtures,
    rng: &mut fastrand::Rng,
) -> (Service, &'static str, Bytes) {
    let (service, operation, body) = match workload.pick(rng) {
        Workload::Encrypt32 => (
            Service::Kms,
            "Encrypt",
            json!({"KeyId": fixtures.key_id, "Plaintext": random_b64(rng, 32)}),
        ),
        Workload::Encrypt4k => (
            Service::Kms,
            "Encrypt",
            json!({"KeyId": fixtures.key_id, "Plaintext": random_b64(rng, 4096)}),
        ),
        Workload::Decrypt => (
            Service::Kms,
            "Decrypt",
            json!({"CiphertextBlob": fixtures.ciphertext}),
        ),
        Workload::GenerateDataKey => (
            Service::Kms,
            "GenerateDataKey",
            json!({"KeyId": fixtures.key_id, "KeySpec": "AES_256"}),
        ),
        Workload::GetSecretValue => (
            Service::SecretsManager,
            "GetSecretValue",
            json!({"SecretId": fixtures.secret_id}),
        ),
        Workload::CreateKey => (
            Service::Kms,
            "CreateKey",
            json!({"Description": "keyward-bench"}),
        ),
        Workload::CreateKeyRsa4096 => (
            Service::Kms,
            "CreateKey",
            json!({"Description": "keyward-bench", "KeySpec": "RSA_4096", "KeyUsage": "SIGN_VERIFY"}),
        ),
        Workload::SignEcdsa => (
            Service::Kms,
            "Sign",
            json!({
                "KeyId": fixtures.signing_key_id,
                "Message": random_b64(rng, 32),
                "SigningAlgorithm": "ECDSA_SHA_256",
            }),
        ),
        Workload::PutSecretValue => (
            Service::SecretsManager,
            "PutSecretValue",
            json!({"SecretId": fixtures.secret_id, "SecretString": random_b64(rng, 48)}),
        ),
        Workload::CreateSecret => (
            Service::SecretsManager,
            "CreateSecret",
            json!({"Name": fixtures.new_secret_name(), "SecretString": random_b64(rng, 48)}),
        ),
        Workload::ListKeys => (Service::Kms, "ListKeys", json!({"Limit": LIST_PAGE})),
        Workload::ListSecrets => (
            Service::SecretsManager,
            "ListSecrets",
            json!({"MaxResults": LIST_PAGE}),
        ),
        // `pick` never returns Mix; answering with a decrypt keeps this total.
        Workload::Mix => (
            Service::Kms,
            "Decrypt",
            json!({"CiphertextBlob": fixtures.ciphertext}),
        ),
    };
    (service, operation, Bytes::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> Fixtures {
        Fixtures {
            key_id: "k".into(),
            ciphertext: "AAAA".into(),
            secret_id: "s".into(),
            signing_key_id: String::new(),
            secret_prefix: "keyward-bench-0123456789abcdef".into(),
            next_secret: AtomicU64::new(0),
        }
    }

    #[test]
    fn encrypt_sends_the_right_plaintext_size() {
        let mut rng = fastrand::Rng::with_seed(1);
        for (w, len) in [(Workload::Encrypt32, 32), (Workload::Encrypt4k, 4096)] {
            let (service, op, body) = next_call(w, &fixtures(), &mut rng);
            assert_eq!((service, op), (Service::Kms, "Encrypt"));
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let plain = B64.decode(v["Plaintext"].as_str().unwrap()).unwrap();
            assert_eq!(plain.len(), len);
            assert_eq!(v["KeyId"], "k");
        }
    }

    #[test]
    fn asymmetric_workloads_name_their_key_spec_and_algorithm() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut f = fixtures();
        f.signing_key_id = "signer".into();
        let (_, op, body) = next_call(Workload::CreateKeyRsa4096, &f, &mut rng);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((op, v["KeySpec"].as_str()), ("CreateKey", Some("RSA_4096")));
        let (_, op, body) = next_call(Workload::SignEcdsa, &f, &mut rng);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!((op, v["KeyId"].as_str()), ("Sign", Some("signer")));
        assert_eq!(
            B64.decode(v["Message"].as_str().unwrap()).unwrap().len(),
            32
        );
    }

    #[test]
    fn secrets_go_to_secrets_manager() {
        let mut rng = fastrand::Rng::with_seed(1);
        let (service, op, _) = next_call(Workload::GetSecretValue, &fixtures(), &mut rng);
        assert_eq!((service, op), (Service::SecretsManager, "GetSecretValue"));
        let (service, op, _) = next_call(Workload::PutSecretValue, &fixtures(), &mut rng);
        assert_eq!((service, op), (Service::SecretsManager, "PutSecretValue"));
    }

    #[test]
    fn create_secret_names_every_secret_once() {
        let fixtures = fixtures();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let (service, op, body) = next_call(Workload::CreateSecret, &fixtures, &mut rng);
            assert_eq!((service, op), (Service::SecretsManager, "CreateSecret"));
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let name = v["Name"].as_str().unwrap().to_owned();
            assert!(
                name.starts_with("keyward-bench-0123456789abcdef-"),
                "{name}"
            );
            assert!(!v["SecretString"].as_str().unwrap().is_empty());
            assert!(names.insert(name));
        }
        assert_eq!(names.len(), 100);
    }

    #[test]
    fn lists_ask_for_the_first_page_of_100() {
        let mut rng = fastrand::Rng::with_seed(1);
        let (service, op, body) = next_call(Workload::ListKeys, &fixtures(), &mut rng);
        assert_eq!((service, op), (Service::Kms, "ListKeys"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"Limit": 100}));
        let (service, op, body) = next_call(Workload::ListSecrets, &fixtures(), &mut rng);
        assert_eq!((service, op), (Service::SecretsManager, "ListSecrets"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"MaxResults": 100}));
    }

    #[test]
    fn new_workloads_need_no_fixtures() {
        for w in [
            Workload::CreateSecret,
            Workload::ListKeys,
            Workload::ListSecrets,
        ] {
            assert!(!w.needs_key() && !w.needs_secret(), "{}", w.name());
        }
    }

    #[test]
    fn mix_follows_its_weights() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..10_000 {
            *counts
                .entry(Workload::Mix.pick(&mut rng).name())
                .or_insert(0) += 1;
        }
        let share = |n: &str| f64::from(counts[n]) / 10_000.0;
        assert!((share("decrypt") - 0.4).abs() < 0.03);
        assert!((share("encrypt-32") - 0.2).abs() < 0.03);
        assert!((share("generate-data-key") - 0.2).abs() < 0.03);
        assert!((share("get-secret-value") - 0.2).abs() < 0.03);
    }
}
