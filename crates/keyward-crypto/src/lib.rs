//! Keyward's cryptography over aws-lc-rs: the root key that wraps all key material at rest,
//! symmetric key material, and the ciphertext format of `Encrypt`.
//!
//! Pure: no I/O, no async, no unsafe. Secret bytes live in [`zeroize::Zeroizing`] buffers
//! and the types that hold them implement neither `Display` nor a revealing `Debug`.

mod aead;
mod ciphertext;
mod material;
mod root;

pub use aead::SealingKey;
pub use ciphertext::{
    canonical_context, decrypt, encrypt, parse_header, Header, HEADER_LEN, OVERHEAD,
};
pub use material::{random_bytes, SymmetricMaterial, MATERIAL_LEN};
pub use root::{RootKey, ROOT_KEY_LEN};

/// Every failure looks the same from outside: a bad blob, a wrong context and a wrong key
/// are one error, so that none of them becomes an oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The blob is malformed, was altered, or does not match the context or key.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// Wrapped key material failed to unwrap: wrong root key or damaged storage.
    #[error("key material could not be unwrapped")]
    Unwrap,
    /// A key of the wrong length was supplied.
    #[error("invalid key length")]
    KeyLength,
    /// The system random generator failed.
    #[error("random generator failure")]
    Rng,
    /// aws-lc refused an operation that should not fail.
    #[error("cryptographic operation failed")]
    Internal,
}

/// 16 bytes from aws-lc's random generator, for identifiers such as request and event ids.
/// Unlike `uuid::Uuid::new_v4`, this costs no system call per id.
pub fn random_id_bytes() -> Result<[u8; 16], CryptoError> {
    let mut out = [0u8; 16];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Rng)?;
    Ok(out)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
