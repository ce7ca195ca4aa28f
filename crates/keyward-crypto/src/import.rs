//! Imported key material (KMS keys with origin `EXTERNAL`): the RSA wrapping key pair that
//! `GetParametersForImport` hands out, and the unwrapping of the `EncryptedKeyMaterial` that
//! `ImportKeyMaterial` receives.
//!
//! Two wrapping schemes exist:
//! - `RSAES_OAEP_SHA_*`: the material is RSA-OAEP encrypted directly (MGF1 over the same
//!   hash, empty label). OAEP's plaintext limit (key bytes − 2·hash − 2) keeps this to small
//!   material: symmetric and HMAC keys, EC private keys with a large enough wrapping key.
//! - `RSA_AES_KEY_WRAP_SHA_*` (PKCS #11 `CKM_RSA_AES_KEY_WRAP`): the caller wraps the
//!   material under an ephemeral 256-bit AES key with AES key wrap with padding (RFC 5649)
//!   and RSA-OAEP encrypts that AES key; `EncryptedKeyMaterial` is the RSA ciphertext (one
//!   modulus long) followed by the key-wrapped material. This is what AWS's OpenSSL example
//!   builds with `openssl pkeyutl` and `openssl enc -id-aes256-wrap-pad`, and the only way
//!   to import an RSA private key.

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::PrivateDecryptingKey;
use zeroize::Zeroizing;

use crate::{generate_material, public_key_der, rsa_decrypt, CryptoError, KeySpec};

/// A KMS `WrappingKeySpec` this server offers. SM2 (China Regions only) is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrappingKeySpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl WrappingKeySpec {
    pub const ALL: [WrappingKeySpec; 3] = [
        WrappingKeySpec::Rsa2048,
        WrappingKeySpec::Rsa3072,
        WrappingKeySpec::Rsa4096,
    ];

    pub fn parse(wire: &str) -> Option<WrappingKeySpec> {
        WrappingKeySpec::ALL
            .into_iter()
            .find(|spec| spec.as_str() == wire)
    }

    pub fn as_str(self) -> &'static str {
        self.key_spec().as_str()
    }

    /// The wrapping key is an ordinary RSA key of the same size, so key generation and
    /// public-key export are shared with KMS keys.
    fn key_spec(self) -> KeySpec {
        match self {
            WrappingKeySpec::Rsa2048 => KeySpec::Rsa2048,
            WrappingKeySpec::Rsa3072 => KeySpec::Rsa3072,
            WrappingKeySpec::Rsa4096 => KeySpec::Rsa4096,
        }
    }
}

/// A KMS `AlgorithmSpec`: how `EncryptedKeyMaterial` is wrapped. `SM2PKE` (China Regions
/// only) is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrappingAlgorithm {
    /// Still a valid wire value, but AWS stopped accepting it on 10 October 2023; see
    /// [`WrappingAlgorithm::is_supported`].
    RsaesPkcs1V15,
    RsaesOaepSha1,
    RsaesOaepSha256,
    RsaAesKeyWrapSha1,
    RsaAesKeyWrapSha256,
}

impl WrappingAlgorithm {
    pub const ALL: [WrappingAlgorithm; 5] = [
        WrappingAlgorithm::RsaesPkcs1V15,
        WrappingAlgorithm::RsaesOaepSha1,
        WrappingAlgorithm::RsaesOaepSha256,
        WrappingAlgorithm::RsaAesKeyWrapSha1,
        WrappingAlgorithm::RsaAesKeyWrapSha256,
    ];

    pub fn parse(wire: &str) -> Option<WrappingAlgorithm> {
        WrappingAlgorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str() == wire)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WrappingAlgorithm::RsaesPkcs1V15 => "RSAES_PKCS1_V1_5",
            WrappingAlgorithm::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            WrappingAlgorithm::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            WrappingAlgorithm::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            WrappingAlgorithm::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    /// False for `RSAES_PKCS1_V1_5`, which [`unwrap_import`] refuses with `Unsupported`:
    /// PKCS #1 v1.5 encryption invites padding-oracle attacks and AWS no longer accepts it.
    /// Callers can use this to refuse it up front, in `GetParametersForImport`.
    pub fn is_supported(self) -> bool {
        self.rsa_oaep().is_some()
    }

    /// The `rsa_decrypt` name of the RSA-OAEP variant this algorithm uses, for the material
    /// or for the ephemeral AES key.
    fn rsa_oaep(self) -> Option<&'static str> {
        match self {
            WrappingAlgorithm::RsaesPkcs1V15 => None,
            WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
                Some("RSAES_OAEP_SHA_1")
            }
            WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
                Some("RSAES_OAEP_SHA_256")
            }
        }
    }

    fn is_key_wrap(self) -> bool {
        matches!(
            self,
            WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256
        )
    }
}

/// A fresh RSA wrapping key pair for `GetParametersForImport`: (PKCS#8 v1 DER private key,
/// DER `SubjectPublicKeyInfo` public key, the `PublicKey` KMS returns).
pub fn generate_wrapping_key(
    spec: WrappingKeySpec,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError> {
    let private = generate_material(spec.key_spec())?;
    let public = public_key_der(spec.key_spec(), &private)?;
    Ok((private, public))
}

/// Unwraps `EncryptedKeyMaterial` with the wrapping private key (PKCS#8, as
/// [`generate_wrapping_key`] made it). See the module documentation for the two formats.
///
/// Every failure to unwrap — another wrapping key, altered or truncated bytes, the other
/// hash, an ephemeral AES key that is not 256 bits — is the same `InvalidCiphertext`, so
/// that none becomes an oracle. `RSAES_PKCS1_V1_5` is `Unsupported`; a wrapping private key
/// that does not parse as RSA is `InvalidKey` (a fault of the server's store, not of the
/// request). The unwrapped material is not checked against any key spec: that is
/// `validate_material`'s job.
pub fn unwrap_import(
    wrapping_private_key: &[u8],
    algorithm: WrappingAlgorithm,
    encrypted: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let oaep = algorithm.rsa_oaep().ok_or(CryptoError::Unsupported)?;
    if !algorithm.is_key_wrap() {
        return rsa_decrypt(wrapping_private_key, oaep, encrypted);
    }
    // The RSA ciphertext is exactly one modulus long; that length is the only boundary
    // between the two parts.
    let modulus_len = PrivateDecryptingKey::from_pkcs8(wrapping_private_key)
        .map_err(|_| CryptoError::InvalidKey)?
        .key_size_bytes();
    if encrypted.len() <= modulus_len {
        return Err(CryptoError::InvalidCiphertext);
    }
    let (wrapped_aes_key, wrapped_material) = encrypted.split_at(modulus_len);
    let aes_key = rsa_decrypt(wrapping_private_key, oaep, wrapped_aes_key)?;
    // `AES_256` only: AWS specifies a 256-bit ephemeral key, and `AesKek::new` refuses any
    // other length.
    let kek = AesKek::new(&AES_256, &aes_key).map_err(|_| CryptoError::InvalidCiphertext)?;
    // RFC 5649 unwrapping yields at most the wrapped length minus the 8-byte integrity block;
    // aws-lc wants room for that much.
    let mut material = Zeroizing::new(vec![0u8; wrapped_material.len()]);
    let len = kek
        .unwrap_with_padding(wrapped_material, material.as_mut_slice())
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    material.truncate(len);
    Ok(material)
}

#[cfg(test)]
mod tests;
