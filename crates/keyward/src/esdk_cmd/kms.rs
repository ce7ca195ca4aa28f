//! Data keys from AWS KMS for the Encryption SDK: one client per region, the region taken
//! from the key's ARN as the official SDKs do.

use super::*;

/// The region of a KMS ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID` or `...:alias/NAME`).
pub(super) fn arn_region(id: &str) -> Option<&str> {
    let mut parts = id.splitn(6, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

pub(super) fn is_key_arn(id: &str) -> bool {
    arn_region(id).is_some()
        && id
            .splitn(6, ':')
            .nth(5)
            .is_some_and(|resource| resource.starts_with("key/"))
}

/// One KMS client per region, as the official SDKs keep them.
pub(super) struct Kms {
    pub(super) handle: Handle,
    pub(super) config: aws_config::SdkConfig,
    pub(super) clients: Mutex<HashMap<String, aws_sdk_kms::Client>>,
}

impl Kms {
    pub(super) fn new(handle: Handle) -> Self {
        let config = handle.block_on(aws_config::defaults(BehaviorVersion::latest()).load());
        Self {
            handle,
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for the region of `key_id` (an ARN), else of the AWS configuration.
    pub(super) fn client_for(&self, key_id: &str) -> Result<aws_sdk_kms::Client, String> {
        let region = match arn_region(key_id) {
            Some(region) => region.to_owned(),
            None => self.config.region().map(|r| r.to_string()).ok_or_else(|| {
                format!("no AWS region for '{key_id}': use a key ARN or set AWS_REGION")
            })?,
        };
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| "the KMS client cache is unusable".to_owned())?;
        let client = clients.entry(region.clone()).or_insert_with(|| {
            let config = aws_sdk_kms::config::Builder::from(&self.config)
                .region(Region::new(region))
                .build();
            aws_sdk_kms::Client::from_conf(config)
        });
        Ok(client.clone())
    }

    /// The key ARN of any key identifier (DescribeKey unless it already is one).
    pub(super) fn resolve_key_arn(&self, key_id: &str) -> Result<String, String> {
        if is_key_arn(key_id) {
            return Ok(key_id.to_owned());
        }
        let client = self.client_for(key_id)?;
        let described = self
            .handle
            .block_on(client.describe_key().key_id(key_id).send())
            .map_err(|e| format!("DescribeKey {key_id}: {}", sdk_error(&e)))?;
        described
            .key_metadata
            .map(|m| m.arn.unwrap_or_default())
            .filter(|arn| is_key_arn(arn))
            .ok_or_else(|| format!("DescribeKey {key_id} returned no key ARN"))
    }
}

/// Data keys from `GenerateDataKey` under one key, and from `Decrypt` of the message's
/// `aws-kms` encrypted data keys (only those of `decrypt_key` when it is set).
pub(super) struct KmsKeyring<'k> {
    pub(super) kms: &'k Kms,
    pub(super) encrypt_key: Option<String>,
    pub(super) decrypt_key: Option<String>,
}

impl DataKeyProvider for KmsKeyring<'_> {
    fn generate(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Result<DataKey, ProviderError> {
        let key_id = self
            .encrypt_key
            .as_deref()
            .ok_or("no KMS key to encrypt under")?;
        let client = self.kms.client_for(key_id)?;
        let length = i32::try_from(suite.data_key_len())?;
        let request = client
            .generate_data_key()
            .key_id(key_id)
            .number_of_bytes(length)
            .set_encryption_context(Some(context.as_map().clone().into_iter().collect()));
        let mut output = self
            .kms
            .handle
            .block_on(request.send())
            .map_err(|e| format!("GenerateDataKey {key_id}: {}", sdk_error(&e)))?;
        let plaintext = Zeroizing::new(
            output
                .plaintext
                .take()
                .map(|b| b.into_inner())
                .unwrap_or_default(),
        );
        let arn = output.key_id.unwrap_or_default();
        if !is_key_arn(&arn) {
            return Err(format!("GenerateDataKey {key_id} returned no key ARN").into());
        }
        if plaintext.len() != suite.data_key_len() {
            return Err(format!(
                "GenerateDataKey {key_id} returned a data key of the wrong length"
            )
            .into());
        }
        let ciphertext = output
            .ciphertext_blob
            .map(|b| b.into_inner())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("GenerateDataKey {key_id} returned no ciphertext"))?;
        let encrypted = EncryptedDataKey {
            provider_id: KMS_PROVIDER_ID.to_owned(),
            provider_info: arn.into_bytes(),
            ciphertext,
        };
        Ok(DataKey::new(plaintext, vec![encrypted]))
    }

    fn decrypt(
        &self,
        suite: AlgorithmSuite,
        encrypted: &[EncryptedDataKey],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let mut failures = Vec::new();
        let mut other_keys = Vec::new();
        for edk in encrypted
            .iter()
            .filter(|e| e.provider_id == KMS_PROVIDER_ID)
        {
            let Ok(arn) = std::str::from_utf8(&edk.provider_info) else {
                failures.push("an aws-kms data key names no key ARN".to_owned());
                continue;
            };
            if !is_key_arn(arn) {
                failures.push(format!("'{arn}' is not a KMS key ARN"));
                continue;
            }
            if self
                .decrypt_key
                .as_deref()
                .is_some_and(|wanted| wanted != arn)
            {
                other_keys.push(arn.to_owned());
                continue;
            }
            let client = match self.kms.client_for(arn) {
                Ok(client) => client,
                Err(message) => {
                    failures.push(message);
                    continue;
                }
            };
            let request = client
                .decrypt()
                .key_id(arn)
                .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(edk.ciphertext.clone()))
                .set_encryption_context(Some(context.as_map().clone().into_iter().collect()));
            match self.kms.handle.block_on(request.send()) {
                Ok(mut output) => {
                    let plaintext = Zeroizing::new(
                        output
                            .plaintext
                            .take()
                            .map(|b| b.into_inner())
                            .unwrap_or_default(),
                    );
                    if output.key_id.as_deref() != Some(arn) {
                        failures.push(format!("Decrypt with {arn} answered for another key"));
                    } else if plaintext.len() != suite.data_key_len() {
                        failures.push(format!(
                            "Decrypt with {arn} returned a data key of the wrong length"
                        ));
                    } else {
                        return Ok(plaintext);
                    }
                }
                Err(e) => failures.push(format!("Decrypt with {arn}: {}", sdk_error(&e))),
            }
        }
        if failures.is_empty() {
            return Err(match (&self.decrypt_key, other_keys.is_empty()) {
                (Some(wanted), false) => format!(
                    "the data key was not encrypted under {wanted} (but under {})",
                    other_keys.join(", ")
                ),
                _ => "the message has no data key encrypted by AWS KMS".to_owned(),
            }
            .into());
        }
        Err(failures.join("; ").into())
    }
}
