//! Every error a KMS caller can meet, one variant per AWS exception. The server maps each
//! to its wire form in one exhaustive match; messages follow AWS's wording and never carry
//! plaintext, secret values or key material.

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    NotAuthorized(String),
    /// A policy refused the request: AWS's `AccessDeniedException`.
    #[error("{0}")]
    AccessDenied(String),
    #[error("The key ID in the request does not identify a CMK that can perform this operation.")]
    IncorrectKey,
    #[error("")]
    InvalidCiphertext,
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    InvalidMarker(String),
    /// Verify found the signature wrong: AWS answers with an error, never `SignatureValid: false`.
    #[error("")]
    InvalidSignature,
    /// Imported key material that is not the key's material, or not valid for its spec.
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    #[error("{0}")]
    ExpiredImportToken(String),
    #[error("{0}")]
    InvalidImportToken(String),
    /// VerifyMac found the MAC wrong.
    #[error("")]
    InvalidMac,
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    Tag(String),
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    /// An ARN, such as a grant's principal, names nothing valid.
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    InvalidGrantToken(String),
    #[error("{0}")]
    InvalidGrantId(String),
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    /// Storage or cryptographic failure inside the server: a 500 with no detail.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for KmsError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::AlreadyExists(what) => KmsError::AlreadyExists(what),
            StoreError::NotFound(what) => KmsError::NotFound(what),
            other => KmsError::Internal(other.to_string()),
        }
    }
}

impl From<keyward_crypto::CryptoError> for KmsError {
    fn from(err: keyward_crypto::CryptoError) -> Self {
        match err {
            keyward_crypto::CryptoError::InvalidCiphertext => KmsError::InvalidCiphertext,
            other => KmsError::Internal(other.to_string()),
        }
    }
}

/// AWS's shape for a single validation failure: `1 validation error detected: Value '7'
/// at 'pendingWindowInDays' failed to satisfy constraint: Member must have value …`.
pub fn validation_error(value: &str, member: &str, constraint: &str) -> KmsError {
    KmsError::Validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}
