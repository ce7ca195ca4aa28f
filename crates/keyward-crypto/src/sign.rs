//! `Sign` and `Verify`: RSA (PKCS#1 v1.5 and PSS), ECDSA with DER signatures, Ed25519 and
//! ML-DSA, each with the message types KMS allows for the algorithm.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, RsaEncoding, UnparsedPublicKey, VerificationAlgorithm};

use crate::ffi::{self, MU_LEN};
use crate::keys::PrivateKey;
use crate::{CryptoError, KeySpec, MessageType};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Rsa,
    Ecdsa,
    Ed25519,
    Ed25519Ph,
    MlDsa,
}

/// A signing algorithm that a key spec allows, resolved to what aws-lc needs.
#[derive(Clone, Copy)]
struct Algorithm {
    scheme: Scheme,
    /// The hash the algorithm applies to a RAW message, whose output a DIGEST must be.
    digest: Option<&'static digest::Algorithm>,
    rsa_encoding: Option<&'static dyn RsaEncoding>,
    verification: Option<&'static dyn VerificationAlgorithm>,
}

impl Algorithm {
    fn new(
        scheme: Scheme,
        digest: Option<&'static digest::Algorithm>,
        verification: &'static dyn VerificationAlgorithm,
    ) -> Self {
        Self {
            scheme,
            digest,
            rsa_encoding: None,
            verification: Some(verification),
        }
    }

    /// RSA encodings and verifiers use a PSS salt as long as the digest, as KMS does.
    fn rsa(
        digest: &'static digest::Algorithm,
        encoding: &'static dyn RsaEncoding,
        verification: &'static dyn VerificationAlgorithm,
    ) -> Self {
        Self {
            rsa_encoding: Some(encoding),
            ..Self::new(Scheme::Rsa, Some(digest), verification)
        }
    }

    fn resolve(spec: KeySpec, name: &str) -> Result<Self, CryptoError> {
        use digest::{SHA256, SHA384, SHA512};
        use signature as s;
        if !spec.signing_algorithms().contains(&name) {
            return Err(CryptoError::AlgorithmNotForKey);
        }
        Ok(match (name, spec) {
            ("RSASSA_PSS_SHA_256", _) => {
                Self::rsa(&SHA256, &s::RSA_PSS_SHA256, &s::RSA_PSS_2048_8192_SHA256)
            }
            ("RSASSA_PSS_SHA_384", _) => {
                Self::rsa(&SHA384, &s::RSA_PSS_SHA384, &s::RSA_PSS_2048_8192_SHA384)
            }
            ("RSASSA_PSS_SHA_512", _) => {
                Self::rsa(&SHA512, &s::RSA_PSS_SHA512, &s::RSA_PSS_2048_8192_SHA512)
            }
            ("RSASSA_PKCS1_V1_5_SHA_256", _) => Self::rsa(
                &SHA256,
                &s::RSA_PKCS1_SHA256,
                &s::RSA_PKCS1_2048_8192_SHA256,
            ),
            ("RSASSA_PKCS1_V1_5_SHA_384", _) => Self::rsa(
                &SHA384,
                &s::RSA_PKCS1_SHA384,
                &s::RSA_PKCS1_2048_8192_SHA384,
            ),
            ("RSASSA_PKCS1_V1_5_SHA_512", _) => Self::rsa(
                &SHA512,
                &s::RSA_PKCS1_SHA512,
                &s::RSA_PKCS1_2048_8192_SHA512,
            ),
            ("ECDSA_SHA_256", KeySpec::EccNistP256) => {
                Self::new(Scheme::Ecdsa, Some(&SHA256), &s::ECDSA_P256_SHA256_ASN1)
            }
            ("ECDSA_SHA_256", KeySpec::EccSecgP256k1) => {
                Self::new(Scheme::Ecdsa, Some(&SHA256), &s::ECDSA_P256K1_SHA256_ASN1)
            }
            ("ECDSA_SHA_384", KeySpec::EccNistP384) => {
                Self::new(Scheme::Ecdsa, Some(&SHA384), &s::ECDSA_P384_SHA384_ASN1)
            }
            ("ECDSA_SHA_512", KeySpec::EccNistP521) => {
                Self::new(Scheme::Ecdsa, Some(&SHA512), &s::ECDSA_P521_SHA512_ASN1)
            }
            ("ED25519_SHA_512", _) => Self::new(Scheme::Ed25519, None, &s::ED25519),
            // aws-lc-rs has no Ed25519ph: `ffi` signs and verifies it.
            ("ED25519_PH_SHA_512", _) => Self {
                scheme: Scheme::Ed25519Ph,
                digest: Some(&SHA512),
                rsa_encoding: None,
                verification: None,
            },
            ("ML_DSA_SHAKE_256", KeySpec::MlDsa44) => Self::new(Scheme::MlDsa, None, &s::ML_DSA_44),
            ("ML_DSA_SHAKE_256", KeySpec::MlDsa65) => Self::new(Scheme::MlDsa, None, &s::ML_DSA_65),
            ("ML_DSA_SHAKE_256", KeySpec::MlDsa87) => Self::new(Scheme::MlDsa, None, &s::ML_DSA_87),
            _ => return Err(CryptoError::AlgorithmNotForKey),
        })
    }

    /// Checks the message type against what KMS accepts for the algorithm, and the length
    /// of a digest or mu. Runs before the key is parsed, so a bad request is reported as
    /// such whatever the key.
    fn check(self, message_type: MessageType, message: &[u8]) -> Result<(), CryptoError> {
        let allowed = match self.scheme {
            Scheme::Rsa | Scheme::Ecdsa => {
                matches!(message_type, MessageType::Raw | MessageType::Digest)
            }
            Scheme::Ed25519 => message_type == MessageType::Raw,
            Scheme::Ed25519Ph => message_type == MessageType::Digest,
            Scheme::MlDsa => matches!(message_type, MessageType::Raw | MessageType::ExternalMu),
        };
        if !allowed {
            return Err(CryptoError::MessageTypeNotForAlgorithm);
        }
        let expected_len = match message_type {
            MessageType::Raw => None,
            MessageType::Digest => self.digest.map(|d| d.output_len()),
            MessageType::ExternalMu => Some(MU_LEN),
        };
        if expected_len.is_some_and(|len| len != message.len()) {
            return Err(CryptoError::InvalidDigestLength);
        }
        Ok(())
    }

    /// What Ed25519ph signs: KMS takes a SHA-512 digest as the message (DIGEST) and still
    /// applies the SHA-512 prehash of FIPS 186-5 §7.8.1 step 1 to it, so the digest is
    /// hashed once more here.
    fn ed25519ph_prehash(message: &[u8]) -> Result<[u8; ffi::SHA512_LEN], CryptoError> {
        digest::digest(&digest::SHA512, message)
            .as_ref()
            .try_into()
            .map_err(|_| CryptoError::Internal)
    }

    fn imported_digest(self, message: &[u8]) -> Result<Digest, CryptoError> {
        let algorithm = self.digest.ok_or(CryptoError::Internal)?;
        Digest::import_less_safe(message, algorithm).map_err(|_| CryptoError::InvalidDigestLength)
    }
}

/// Signs `message` with the private key in `material`. `algorithm` must be one of
/// `spec.signing_algorithms()` (else `AlgorithmNotForKey`) and accept `message_type`
/// (else `MessageTypeNotForAlgorithm`); a DIGEST must have the algorithm's digest length
/// (else `InvalidDigestLength`). ECDSA signatures are DER, as KMS returns them.
pub fn sign(
    spec: KeySpec,
    material: &[u8],
    algorithm: &str,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let algorithm = Algorithm::resolve(spec, algorithm)?;
    algorithm.check(message_type, message)?;
    let digested = message_type == MessageType::Digest;
    match PrivateKey::load(spec, material)? {
        PrivateKey::Rsa(key) => {
            let encoding = algorithm.rsa_encoding.ok_or(CryptoError::Internal)?;
            let mut signature = vec![0u8; key.public_modulus_len()];
            let signed = if digested {
                key.sign_digest(
                    encoding,
                    &algorithm.imported_digest(message)?,
                    &mut signature,
                )
            } else {
                key.sign(encoding, &SystemRandom::new(), message, &mut signature)
            };
            signed.map_err(|_| CryptoError::Internal)?;
            Ok(signature)
        }
        PrivateKey::Ecdsa(key) => {
            let signature = if digested {
                key.sign_digest(&algorithm.imported_digest(message)?)
            } else {
                key.sign(&SystemRandom::new(), message)
            };
            signature
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| CryptoError::Internal)
        }
        PrivateKey::Ed25519(key) if algorithm.scheme == Scheme::Ed25519Ph => {
            let (seed, public_key) = crate::keys::ed25519_parts(&key)?;
            let prehash = Algorithm::ed25519ph_prehash(message)?;
            Ok(ffi::ed25519ph_sign_digest(&seed, &public_key, &prehash)?.to_vec())
        }
        PrivateKey::Ed25519(key) => key
            .try_sign(message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| CryptoError::Internal),
        PrivateKey::MlDsa(_) if message_type == MessageType::ExternalMu => {
            ffi::ml_dsa_sign_mu(material, &mu(message)?)
        }
        PrivateKey::MlDsa(key) => {
            let mut signature = vec![0u8; key.algorithm().signature_len()];
            let len = key
                .sign(message, &mut signature)
                .map_err(|_| CryptoError::Internal)?;
            signature.truncate(len);
            Ok(signature)
        }
    }
}

/// Verifies `signature` over `message` with the public half of the key in `material`.
/// `Ok(false)` for any signature that does not verify, malformed ones included; errors
/// only for a request KMS would reject (algorithm, message type, digest length) or a key
/// that does not parse.
pub fn verify(
    spec: KeySpec,
    material: &[u8],
    algorithm: &str,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let algorithm = Algorithm::resolve(spec, algorithm)?;
    algorithm.check(message_type, message)?;
    let private_key = PrivateKey::load(spec, material)?;
    if algorithm.scheme == Scheme::Ed25519Ph {
        let PrivateKey::Ed25519(key) = &private_key else {
            return Err(CryptoError::InvalidKey);
        };
        let (_, public_key) = crate::keys::ed25519_parts(key)?;
        let prehash = Algorithm::ed25519ph_prehash(message)?;
        return Ok(ffi::ed25519ph_verify_digest(
            &public_key,
            &prehash,
            signature,
        ));
    }
    if message_type == MessageType::ExternalMu {
        return ffi::ml_dsa_verify_mu(material, &mu(message)?, signature);
    }
    let public_key = private_key.public_key_der()?;
    let verification = algorithm.verification.ok_or(CryptoError::Unsupported)?;
    let key = UnparsedPublicKey::new(verification, &public_key);
    let verified = if message_type == MessageType::Digest {
        key.verify_digest(&algorithm.imported_digest(message)?, signature)
    } else {
        key.verify(message, signature)
    };
    Ok(verified.is_ok())
}

/// A message checked to be mu's length (`check` has done so; this makes it a type).
fn mu(message: &[u8]) -> Result<[u8; MU_LEN], CryptoError> {
    message
        .try_into()
        .map_err(|_| CryptoError::InvalidDigestLength)
}

#[cfg(test)]
mod tests;
