//! `DeriveSharedSecret`: ECDH on the NIST curves.
//!
//! The private key is the same PKCS#8 document stored for signing keys:
//! `agreement::PrivateKey::from_private_key_der` reads PKCS#8 as well as RFC 5915, so no
//! conversion is needed.

use aws_lc_rs::agreement::{
    self, ParsedPublicKey, ParsedPublicKeyFormat, UnparsedPublicKey, ECDH_P256, ECDH_P384,
    ECDH_P521,
};
use zeroize::Zeroizing;

use crate::{CryptoError, KeySpec};

/// The raw ECDH shared secret (the x coordinate of the shared point, as KMS returns it)
/// between the private key in `material` and `peer_public_key`, a DER
/// `SubjectPublicKeyInfo`. A peer key that does not parse, is a bare point rather than
/// SPKI, or lies on another curve is `InvalidKey`; a spec without `ECDH` is
/// `AlgorithmNotForKey`.
pub fn derive_shared_secret(
    spec: KeySpec,
    material: &[u8],
    peer_public_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let algorithm = match spec {
        KeySpec::EccNistP256 => &ECDH_P256,
        KeySpec::EccNistP384 => &ECDH_P384,
        KeySpec::EccNistP521 => &ECDH_P521,
        _ => return Err(CryptoError::AlgorithmNotForKey),
    };
    let private_key = agreement::PrivateKey::from_private_key_der(algorithm, material)
        .map_err(|_| CryptoError::InvalidKey)?;
    let peer = ParsedPublicKey::try_from(&UnparsedPublicKey::new(algorithm, peer_public_key))
        .map_err(|_| CryptoError::InvalidKey)?;
    // aws-lc also takes SEC1 points, but KMS's PublicKey is documented as SPKI only.
    if peer.format() != ParsedPublicKeyFormat::X509 {
        return Err(CryptoError::InvalidKey);
    }
    agreement::agree(&private_key, peer, CryptoError::InvalidKey, |secret| {
        Ok(Zeroizing::new(secret.to_vec()))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{generate_material, public_key_der, test_keys::material};
    use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyUncompressedBin};
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    const CURVES: [(KeySpec, usize); 3] = [
        (KeySpec::EccNistP256, 32),
        (KeySpec::EccNistP384, 48),
        (KeySpec::EccNistP521, 66),
    ];

    #[test]
    fn both_sides_derive_the_same_secret() {
        for (spec, len) in CURVES {
            let alice = generate_material(spec).unwrap();
            let bob = generate_material(spec).unwrap();
            let alice_public = public_key_der(spec, &alice).unwrap();
            let bob_public = public_key_der(spec, &bob).unwrap();
            let ab = derive_shared_secret(spec, &alice, &bob_public).unwrap();
            let ba = derive_shared_secret(spec, &bob, &alice_public).unwrap();
            assert_eq!(ab, ba, "{spec:?}");
            assert_eq!(ab.len(), len, "{spec:?}");
            let carol = generate_material(spec).unwrap();
            let ac =
                derive_shared_secret(spec, &alice, &public_key_der(spec, &carol).unwrap()).unwrap();
            assert_ne!(ab, ac);
        }
    }

    #[test]
    fn peer_on_another_curve_or_malformed_is_invalid_key() {
        let p256 = material(KeySpec::EccNistP256);
        for other in [
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistEdwards25519,
            KeySpec::Rsa2048,
        ] {
            let peer = public_key_der(other, material(other)).unwrap();
            assert_eq!(
                derive_shared_secret(KeySpec::EccNistP256, p256, &peer).unwrap_err(),
                CryptoError::InvalidKey,
                "{other:?}"
            );
        }
        let mut spki = public_key_der(KeySpec::EccNistP256, p256).unwrap();
        assert_eq!(
            derive_shared_secret(KeySpec::EccNistP256, p256, &spki[..spki.len() - 1]).unwrap_err(),
            CryptoError::InvalidKey
        );
        // A point off the curve.
        let last = spki.len() - 1;
        spki[last] ^= 1;
        assert_eq!(
            derive_shared_secret(KeySpec::EccNistP256, p256, &spki).unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            derive_shared_secret(KeySpec::EccNistP256, p256, b"").unwrap_err(),
            CryptoError::InvalidKey
        );
        // A bare SEC1 point is a valid key for aws-lc but not what KMS accepts.
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, p256).unwrap();
        let point: EcPublicKeyUncompressedBin = pair.public_key().as_be_bytes().unwrap();
        assert_eq!(
            derive_shared_secret(KeySpec::EccNistP256, p256, point.as_ref()).unwrap_err(),
            CryptoError::InvalidKey
        );
    }

    #[test]
    fn only_nist_curves_agree() {
        for spec in [
            KeySpec::EccSecgP256k1,
            KeySpec::EccNistEdwards25519,
            KeySpec::Rsa2048,
            KeySpec::SymmetricDefault,
        ] {
            assert_eq!(
                derive_shared_secret(spec, b"", b"").unwrap_err(),
                CryptoError::AlgorithmNotForKey
            );
        }
        assert_eq!(
            derive_shared_secret(KeySpec::EccNistP384, material(KeySpec::EccNistP256), b"")
                .unwrap_err(),
            CryptoError::InvalidKey
        );
    }
}
