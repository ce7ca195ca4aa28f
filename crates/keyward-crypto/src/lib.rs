//! Keyward's cryptography over aws-lc-rs: the root key that wraps all key material at rest,
//! symmetric key material, the ciphertext format of `Encrypt`, and the asymmetric, HMAC and
//! key-agreement operations of KMS keys (`Sign`/`Verify`, RSA `Encrypt`/`Decrypt`,
//! `GenerateMac`/`VerifyMac`, `DeriveSharedSecret`, `GetPublicKey`, `GenerateDataKeyPair`)
//! and the unwrapping of imported key material (`GetParametersForImport`/`ImportKeyMaterial`).
//!
//! Pure: no I/O, no async, and no unsafe outside `ffi`, the one module of the workspace
//! that calls AWS-LC directly (Ed25519ph and ML-DSA external mu), each call proven sound
//! where it is made. Secret bytes live in [`zeroize::Zeroizing`] buffers
//! and the types that hold them implement neither `Display` nor a revealing `Debug`.

mod aead;
mod ciphertext;
mod ffi;
mod hmac;
mod import;
mod kek;
mod keyagree;
mod keys;
mod material;
mod root;
mod rsa_oaep;
pub mod shamir;
mod sign;
mod spec;
#[cfg(test)]
mod test_keys;

pub use aead::SealingKey;
pub use ciphertext::{
    canonical_context, decrypt, encrypt, parse_header, Header, HEADER_LEN, OVERHEAD,
};
pub use hmac::{generate_mac, verify_mac};
pub use import::{generate_wrapping_key, unwrap_import, WrappingAlgorithm, WrappingKeySpec};
pub use kek::{Argon2Params, Kek, KEK_LEN, SALT_LEN};
pub use keyagree::derive_shared_secret;
pub use keys::{generate_key_pair, generate_material, public_key_der, validate_material};
pub use material::{random_bytes, SymmetricMaterial, MATERIAL_LEN};
pub use root::{RootKey, ROOT_KEY_LEN};
pub use rsa_oaep::{rsa_decrypt, rsa_encrypt, rsa_encrypt_to_public_key};
pub use sign::{sign, verify};
pub use spec::{DataKeyPairSpec, KeySpec, MessageType};

/// Decryption failures look the same from outside: a bad blob, a wrong context and a wrong
/// key are one error, so that none of them becomes an oracle. The other variants describe
/// requests KMS rejects with distinct exceptions.
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
    /// Key material (stored, imported, or a peer's public key) does not parse as a key of
    /// the expected spec, size or curve.
    #[error("invalid key")]
    InvalidKey,
    /// The algorithm is not one the key spec allows (KMS: `InvalidKeyUsageException`).
    #[error("algorithm not valid for this key")]
    AlgorithmNotForKey,
    /// The message type is not one the signing algorithm accepts, e.g. DIGEST with
    /// `ED25519_SHA_512` or with ML-DSA, EXTERNAL_MU with anything but ML-DSA.
    #[error("message type not valid for this signing algorithm")]
    MessageTypeNotForAlgorithm,
    /// A DIGEST (or EXTERNAL_MU) message whose length is not the algorithm's digest length.
    #[error("digest length does not match the signing algorithm")]
    InvalidDigestLength,
    /// The plaintext is longer than RSA-OAEP allows for this key and algorithm.
    #[error("plaintext too long for this key and algorithm")]
    PlaintextTooLong,
    /// A valid request that aws-lc-rs cannot serve (Ed25519ph, ML-DSA external mu), or an
    /// operation that does not apply to the key spec (the public key of a symmetric key).
    #[error("operation not supported")]
    Unsupported,
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
