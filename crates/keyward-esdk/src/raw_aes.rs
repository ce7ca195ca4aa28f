//! The Raw AES keyring of the AWS Encryption SDK: data keys wrapped under a local AES key
//! with AES-GCM, the serialized encryption context as AAD. Keyward's tools use KMS; this
//! keyring exists so that messages from the official SDKs can be checked without a server
//! (and for tests).
//!
//! Provider id: the key namespace. Provider info: the key name, the tag length in bits
//! (u32, 128), the IV length (u32, 12) and the IV. Ciphertext: the wrapped key and tag.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::keys::{IV_LEN, TAG_LEN};
use crate::provider::{DataKey, DataKeyProvider, EncryptedDataKey, ProviderError};
use crate::suite::AlgorithmSuite;

pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: LessSafeKey,
}

impl RawAesKeyring {
    /// `wrapping_key`: 16, 24 or 32 bytes.
    pub fn new(namespace: &str, name: &str, wrapping_key: &[u8]) -> Result<Self, ProviderError> {
        let algorithm = match wrapping_key.len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            32 => &aead::AES_256_GCM,
            _ => return Err("a raw AES wrapping key has 16, 24 or 32 bytes".into()),
        };
        let key = UnboundKey::new(algorithm, wrapping_key).map_err(|_| "invalid wrapping key")?;
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: LessSafeKey::new(key),
        })
    }

    fn provider_info(&self, iv: &[u8; IV_LEN]) -> Vec<u8> {
        let mut info = self.name.as_bytes().to_vec();
        info.extend_from_slice(&((TAG_LEN * 8) as u32).to_be_bytes());
        info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
        info.extend_from_slice(iv);
        info
    }

    fn unwrap_one(
        &self,
        edk: &EncryptedDataKey,
        aad: &[u8],
        expected_len: usize,
    ) -> Option<Zeroizing<Vec<u8>>> {
        if edk.provider_id != self.namespace {
            return None;
        }
        let rest = edk.provider_info.strip_prefix(self.name.as_bytes())?;
        if rest.len() != 8 + IV_LEN
            || rest[..4] != ((TAG_LEN * 8) as u32).to_be_bytes()
            || rest[4..8] != (IV_LEN as u32).to_be_bytes()
        {
            return None;
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&rest[8..]);
        let mut in_out = Zeroizing::new(edk.ciphertext.clone());
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad),
                &mut in_out,
            )
            .ok()?
            .len();
        if plain_len != expected_len {
            return None;
        }
        in_out.truncate(plain_len);
        Some(in_out)
    }
}

impl DataKeyProvider for RawAesKeyring {
    fn generate(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Result<DataKey, ProviderError> {
        let mut data_key = Zeroizing::new(vec![0u8; suite.data_key_len()]);
        aws_lc_rs::rand::fill(&mut data_key).map_err(|_| "random generator failure")?;
        let mut iv = [0u8; IV_LEN];
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| "random generator failure")?;
        let aad = context.serialize()?;
        let mut wrapped = data_key.to_vec();
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad),
                &mut wrapped,
            )
            .map_err(|_| "wrapping failed")?;
        wrapped.extend_from_slice(tag.as_ref());
        let edk = EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.provider_info(&iv),
            ciphertext: wrapped,
        };
        Ok(DataKey::new(data_key, vec![edk]))
    }

    fn decrypt(
        &self,
        suite: AlgorithmSuite,
        encrypted: &[EncryptedDataKey],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let aad = context.serialize()?;
        encrypted
            .iter()
            .find_map(|edk| self.unwrap_one(edk, &aad, suite.data_key_len()))
            .ok_or_else(|| "no encrypted data key opens with this raw AES key".into())
    }
}
