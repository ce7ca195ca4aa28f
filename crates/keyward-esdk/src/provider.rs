//! Where data keys come from: the keyring seen by the format.
//!
//! A message needs its data key once, before its first byte (encryption) or right after
//! its header (decryption), so the streaming core never waits on a key service mid-stream.
//! A caller with an async key service either implements [`DataKeyProvider`] by blocking on
//! it, or drives the two steps itself: [`crate::EncryptPlan`] then [`crate::EncryptPlan::start`],
//! [`crate::Header::read`] then [`crate::Header::open`].

use std::fmt;

use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::suite::AlgorithmSuite;

/// A data key encrypted by one key provider, as stored in the header.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    /// `aws-kms` for AWS KMS, the key namespace for raw keyrings.
    pub provider_id: String,
    /// For AWS KMS the key ARN (UTF-8); opaque otherwise.
    pub provider_info: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for EncryptedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedDataKey")
            .field("provider_id", &self.provider_id)
            .field(
                "provider_info",
                &String::from_utf8_lossy(&self.provider_info),
            )
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// A new data key and its encrypted copies (at least one).
pub struct DataKey {
    plaintext: Zeroizing<Vec<u8>>,
    encrypted: Vec<EncryptedDataKey>,
}

impl DataKey {
    pub fn new(plaintext: Zeroizing<Vec<u8>>, encrypted: Vec<EncryptedDataKey>) -> Self {
        Self {
            plaintext,
            encrypted,
        }
    }

    pub(crate) fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    pub fn encrypted(&self) -> &[EncryptedDataKey] {
        &self.encrypted
    }

    pub(crate) fn into_encrypted(self) -> Vec<EncryptedDataKey> {
        self.encrypted
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"<redacted>")
            .field("encrypted", &self.encrypted)
            .finish()
    }
}

/// A key provider's failure (a KMS error, no usable encrypted data key, ...).
pub type ProviderError = Box<dyn std::error::Error + Send + Sync>;

/// A keyring: makes data keys for encryption and recovers them for decryption. The
/// context given is the message's whole encryption context (with the signing suites'
/// public key), which the provider binds to the data key (KMS: as its encryption context).
pub trait DataKeyProvider {
    /// A new data key of `suite.data_key_len()` bytes and at least one encrypted copy.
    fn generate(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Result<DataKey, ProviderError>;

    /// The data key from any one of the encrypted copies this provider can open.
    fn decrypt(
        &self,
        suite: AlgorithmSuite,
        encrypted: &[EncryptedDataKey],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError>;
}
