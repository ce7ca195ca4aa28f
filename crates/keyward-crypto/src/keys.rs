//! Key material for every key spec, and the parsed private keys the other modules use.
//!
//! Stored forms:
//! - `SYMMETRIC_DEFAULT`: 32 random bytes.
//! - `HMAC_*`: the raw HMAC key (28/32/48/64 bytes when generated).
//! - every asymmetric spec: an unencrypted PKCS#8 v1 `PrivateKeyInfo` DER. EC keys use
//!   `id-ecPublicKey` with the named curve, which both `EcdsaKeyPair` and
//!   `agreement::PrivateKey` read, so one stored form serves `SIGN_VERIFY` and
//!   `KEY_AGREEMENT` keys alike. ML-DSA keys hold the 32-byte seed form (FIPS 204), which is
//!   what aws-lc writes.

use aws_lc_rs::encoding::{AsBigEndian, AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, PqdsaKeyPair,
    PqdsaSigningAlgorithm, RsaKeyPair, ECDSA_P256K1_SHA256_ASN1_SIGNING,
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    ML_DSA_44_SIGNING, ML_DSA_65_SIGNING, ML_DSA_87_SIGNING,
};
use zeroize::Zeroizing;

use crate::{random_bytes, CryptoError, DataKeyPairSpec, KeySpec, MATERIAL_LEN};

/// A parsed asymmetric private key.
pub(crate) enum PrivateKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
}

/// An Ed25519 key's 32-byte seed and 32-byte public key, the form AWS-LC's Ed25519ph
/// functions take.
pub(crate) fn ed25519_parts(
    key: &Ed25519KeyPair,
) -> Result<(Zeroizing<[u8; 32]>, [u8; 32]), CryptoError> {
    let seed = key
        .seed()
        .and_then(|seed| seed.as_be_bytes())
        .map_err(|_| CryptoError::Internal)?;
    let mut seed_bytes = Zeroizing::new([0u8; 32]);
    if seed.as_ref().len() != seed_bytes.len() {
        return Err(CryptoError::Internal);
    }
    seed_bytes.copy_from_slice(seed.as_ref());
    let public_key = key
        .public_key()
        .as_ref()
        .try_into()
        .map_err(|_| CryptoError::Internal)?;
    Ok((seed_bytes, public_key))
}

fn ecdsa_algorithm(spec: KeySpec) -> Option<&'static EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Some(&ECDSA_P384_SHA384_ASN1_SIGNING),
        KeySpec::EccNistP521 => Some(&ECDSA_P521_SHA512_ASN1_SIGNING),
        KeySpec::EccSecgP256k1 => Some(&ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => None,
    }
}

fn ml_dsa_algorithm(spec: KeySpec) -> Option<&'static PqdsaSigningAlgorithm> {
    match spec {
        KeySpec::MlDsa44 => Some(&ML_DSA_44_SIGNING),
        KeySpec::MlDsa65 => Some(&ML_DSA_65_SIGNING),
        KeySpec::MlDsa87 => Some(&ML_DSA_87_SIGNING),
        _ => None,
    }
}

fn rsa_key_size(spec: KeySpec) -> Option<KeySize> {
    match spec {
        KeySpec::Rsa2048 => Some(KeySize::Rsa2048),
        KeySpec::Rsa3072 => Some(KeySize::Rsa3072),
        KeySpec::Rsa4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

fn pkcs8(
    der: Result<Pkcs8V1Der<'static>, aws_lc_rs::error::Unspecified>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let der = der.map_err(|_| CryptoError::Internal)?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

fn spki(
    der: Result<PublicKeyX509Der<'static>, aws_lc_rs::error::Unspecified>,
) -> Result<Vec<u8>, CryptoError> {
    der.map(|der| der.as_ref().to_vec())
        .map_err(|_| CryptoError::Internal)
}

impl PrivateKey {
    /// Parses stored material; material that does not parse as a key of `spec`, including
    /// an RSA key of another size or an EC key on another curve, is `InvalidKey`.
    pub(crate) fn load(spec: KeySpec, material: &[u8]) -> Result<Self, CryptoError> {
        if let Some(size) = rsa_key_size(spec) {
            let key = RsaKeyPair::from_pkcs8(material).map_err(|_| CryptoError::InvalidKey)?;
            if key.public_modulus_len() != size.len() {
                return Err(CryptoError::InvalidKey);
            }
            return Ok(PrivateKey::Rsa(key));
        }
        if let Some(algorithm) = ecdsa_algorithm(spec) {
            return EcdsaKeyPair::from_pkcs8(algorithm, material)
                .map(PrivateKey::Ecdsa)
                .map_err(|_| CryptoError::InvalidKey);
        }
        if let Some(algorithm) = ml_dsa_algorithm(spec) {
            return PqdsaKeyPair::from_pkcs8(algorithm, material)
                .map(PrivateKey::MlDsa)
                .map_err(|_| CryptoError::InvalidKey);
        }
        if spec == KeySpec::EccNistEdwards25519 {
            return Ed25519KeyPair::from_pkcs8(material)
                .map(PrivateKey::Ed25519)
                .map_err(|_| CryptoError::InvalidKey);
        }
        Err(CryptoError::Unsupported)
    }

    fn generate(spec: KeySpec) -> Result<Self, CryptoError> {
        let key = if let Some(size) = rsa_key_size(spec) {
            RsaKeyPair::generate(size).map(PrivateKey::Rsa)
        } else if let Some(algorithm) = ecdsa_algorithm(spec) {
            EcdsaKeyPair::generate(algorithm).map(PrivateKey::Ecdsa)
        } else if let Some(algorithm) = ml_dsa_algorithm(spec) {
            PqdsaKeyPair::generate(algorithm).map(PrivateKey::MlDsa)
        } else if spec == KeySpec::EccNistEdwards25519 {
            Ed25519KeyPair::generate().map(PrivateKey::Ed25519)
        } else {
            return Err(CryptoError::Unsupported);
        };
        key.map_err(|_| CryptoError::Internal)
    }

    fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match self {
            PrivateKey::Rsa(key) => pkcs8(key.as_der()),
            PrivateKey::Ed25519(key) => pkcs8(key.as_der()),
            PrivateKey::MlDsa(key) => pkcs8(key.private_key().as_der()),
            PrivateKey::Ecdsa(key) => {
                let document = key.to_pkcs8v1().map_err(|_| CryptoError::Internal)?;
                Ok(Zeroizing::new(document.as_ref().to_vec()))
            }
        }
    }

    /// The public half as DER `SubjectPublicKeyInfo`.
    pub(crate) fn public_key_der(&self) -> Result<Vec<u8>, CryptoError> {
        match self {
            PrivateKey::Rsa(key) => spki(key.public_key().as_der()),
            PrivateKey::Ecdsa(key) => spki(key.public_key().as_der()),
            PrivateKey::Ed25519(key) => spki(key.public_key().as_der()),
            PrivateKey::MlDsa(key) => spki(key.public_key().as_der()),
        }
    }
}

/// New key material for `spec`, in the stored form described in this module's docs.
pub fn generate_material(spec: KeySpec) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if spec == KeySpec::SymmetricDefault {
        return random_bytes(MATERIAL_LEN);
    }
    if let Some(len) = spec.hmac_key_len() {
        return random_bytes(len);
    }
    PrivateKey::generate(spec)?.to_pkcs8()
}

/// DER `SubjectPublicKeyInfo` of an asymmetric key's public half: what KMS `GetPublicKey`
/// returns. Symmetric and HMAC specs have none: `Unsupported`.
pub fn public_key_der(spec: KeySpec, material: &[u8]) -> Result<Vec<u8>, CryptoError> {
    PrivateKey::load(spec, material)?.public_key_der()
}

/// Checks that `material` is usable as key material of `spec`, as imported key material
/// must be: 32 bytes for `SYMMETRIC_DEFAULT`; for HMAC, at least the generated length and
/// at most the digest's block size (64 bytes for SHA-224/256, 128 for SHA-384/512), since
/// longer keys are hashed down and add nothing; for asymmetric specs, a PKCS#8 private
/// key of the spec's algorithm, size or curve. Anything else is `InvalidKey`.
pub fn validate_material(spec: KeySpec, material: &[u8]) -> Result<(), CryptoError> {
    if spec == KeySpec::SymmetricDefault {
        return if material.len() == MATERIAL_LEN {
            Ok(())
        } else {
            Err(CryptoError::InvalidKey)
        };
    }
    if let Some(min) = spec.hmac_key_len() {
        let max = if min <= 32 { 64 } else { 128 };
        return if (min..=max).contains(&material.len()) {
            Ok(())
        } else {
            Err(CryptoError::InvalidKey)
        };
    }
    PrivateKey::load(spec, material).map(|_| ())
}

/// A fresh key pair for `GenerateDataKeyPair`: (PKCS#8 v1 DER private key, DER
/// `SubjectPublicKeyInfo` public key).
pub fn generate_key_pair(
    spec: DataKeyPairSpec,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), CryptoError> {
    let key = PrivateKey::generate(spec.key_spec())?;
    Ok((key.to_pkcs8()?, key.public_key_der()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_keys::material;
    use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

    fn verifier(spec: KeySpec) -> &'static dyn VerificationAlgorithm {
        match spec {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                &signature::RSA_PKCS1_2048_8192_SHA256
            }
            KeySpec::EccNistP256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeySpec::EccNistP384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeySpec::EccNistP521 => &signature::ECDSA_P521_SHA512_ASN1,
            KeySpec::EccSecgP256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
            KeySpec::EccNistEdwards25519 => &signature::ED25519,
            KeySpec::MlDsa44 => &signature::ML_DSA_44,
            KeySpec::MlDsa65 => &signature::ML_DSA_65,
            KeySpec::MlDsa87 => &signature::ML_DSA_87,
            other => panic!("{other:?} is not asymmetric"),
        }
    }

    #[test]
    fn symmetric_and_hmac_material_lengths() {
        assert_eq!(
            generate_material(KeySpec::SymmetricDefault).unwrap().len(),
            32
        );
        for (spec, len) in [
            (KeySpec::Hmac224, 28),
            (KeySpec::Hmac256, 32),
            (KeySpec::Hmac384, 48),
            (KeySpec::Hmac512, 64),
        ] {
            let key = generate_material(spec).unwrap();
            assert_eq!(key.len(), len);
            validate_material(spec, &key).unwrap();
            assert_eq!(
                public_key_der(spec, &key).unwrap_err(),
                CryptoError::Unsupported
            );
        }
        assert_ne!(
            generate_material(KeySpec::Hmac256).unwrap(),
            generate_material(KeySpec::Hmac256).unwrap()
        );
    }

    #[test]
    fn public_keys_are_spki_that_aws_lc_parses() {
        for spec in KeySpec::ALL.into_iter().filter(|s| s.is_asymmetric()) {
            let private = material(spec);
            validate_material(spec, private).unwrap();
            let der = public_key_der(spec, private).unwrap();
            // SEQUENCE { SEQUENCE { algorithm OID ... } BIT STRING }
            assert_eq!(der[0], 0x30, "{spec:?}");
            UnparsedPublicKey::new(verifier(spec), &der)
                .parse()
                .unwrap_or_else(|e| panic!("{spec:?}: {e}"));
        }
    }

    #[test]
    fn rsa_material_has_the_spec_size() {
        let pkcs8 = material(KeySpec::Rsa2048);
        assert_eq!(
            validate_material(KeySpec::Rsa3072, pkcs8).unwrap_err(),
            CryptoError::InvalidKey
        );
        let spki = public_key_der(KeySpec::Rsa4096, material(KeySpec::Rsa4096)).unwrap();
        let parsed = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&spki).unwrap();
        assert_eq!(parsed.key_size_bits(), 4096);
    }

    #[test]
    fn material_of_another_spec_is_rejected() {
        let p256 = material(KeySpec::EccNistP256);
        for other in [
            KeySpec::EccNistP384,
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistEdwards25519,
            KeySpec::Rsa2048,
            KeySpec::MlDsa44,
        ] {
            assert_eq!(
                public_key_der(other, p256).unwrap_err(),
                CryptoError::InvalidKey,
                "{other:?}"
            );
        }
        assert_eq!(
            validate_material(KeySpec::MlDsa65, material(KeySpec::MlDsa44)).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            validate_material(KeySpec::EccNistP256, b"not a key").unwrap_err(),
            CryptoError::InvalidKey
        );
        assert!(validate_material(KeySpec::SymmetricDefault, &[0; 31]).is_err());
        assert!(validate_material(KeySpec::Hmac256, &[0; 31]).is_err());
        assert!(validate_material(KeySpec::Hmac256, &[0; 65]).is_err());
        assert!(validate_material(KeySpec::Hmac512, &[0; 128]).is_ok());
    }

    #[test]
    fn data_key_pairs_match_their_public_half() {
        for spec in DataKeyPairSpec::ALL {
            if matches!(spec, DataKeyPairSpec::Rsa3072 | DataKeyPairSpec::Rsa4096) {
                // Large RSA generation is slow; the 2048-bit case covers the RSA path.
                continue;
            }
            let (private, public) = generate_key_pair(spec).unwrap();
            assert_eq!(
                public_key_der(spec.key_spec(), &private).unwrap(),
                public,
                "{spec:?}"
            );
        }
    }
}
