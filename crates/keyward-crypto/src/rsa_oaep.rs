//! Public-key `Encrypt`/`Decrypt` with RSA keys: RSAES-OAEP with MGF1 over the same hash
//! and an empty label, as KMS and OpenSSL's defaults use.

use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use zeroize::Zeroizing;

use crate::CryptoError;

fn oaep_algorithm(name: &str) -> Result<&'static OaepAlgorithm, CryptoError> {
    match name {
        "RSAES_OAEP_SHA_1" => Ok(&OAEP_SHA1_MGF1SHA1),
        "RSAES_OAEP_SHA_256" => Ok(&OAEP_SHA256_MGF1SHA256),
        _ => Err(CryptoError::AlgorithmNotForKey),
    }
}

fn private_key(material: &[u8]) -> Result<PrivateDecryptingKey, CryptoError> {
    PrivateDecryptingKey::from_pkcs8(material).map_err(|_| CryptoError::InvalidKey)
}

/// Encrypts under the public half of the RSA key in `material` (PKCS#8). A plaintext over
/// the OAEP limit (key bytes − 2·hash − 2: 214 bytes for RSA_2048 with SHA-1, 190 with
/// SHA-256) is `PlaintextTooLong`.
pub fn rsa_encrypt(
    material: &[u8],
    algorithm: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let algorithm = oaep_algorithm(algorithm)?;
    let public_key = OaepPublicEncryptingKey::new(private_key(material)?.public_key())
        .map_err(|_| CryptoError::Internal)?;
    if plaintext.len() > public_key.max_plaintext_size(algorithm) {
        return Err(CryptoError::PlaintextTooLong);
    }
    let mut ciphertext = vec![0u8; public_key.ciphertext_size()];
    let len = public_key
        .encrypt(algorithm, plaintext, &mut ciphertext, None)
        .map_err(|_| CryptoError::Internal)?
        .len();
    ciphertext.truncate(len);
    Ok(ciphertext)
}

/// Encrypts under an RSA public key given as DER SubjectPublicKeyInfo, as
/// GetParametersForImport returns it: how a client wraps key material for
/// ImportKeyMaterial with `RSAES_OAEP_SHA_1` or `RSAES_OAEP_SHA_256`.
pub fn rsa_encrypt_to_public_key(
    public_key_der: &[u8],
    algorithm: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let algorithm = oaep_algorithm(algorithm)?;
    let public_key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(public_key_der)
        .map_err(|_| CryptoError::InvalidKey)?;
    let public_key =
        OaepPublicEncryptingKey::new(public_key).map_err(|_| CryptoError::InvalidKey)?;
    if plaintext.len() > public_key.max_plaintext_size(algorithm) {
        return Err(CryptoError::PlaintextTooLong);
    }
    let mut ciphertext = vec![0u8; public_key.ciphertext_size()];
    let len = public_key
        .encrypt(algorithm, plaintext, &mut ciphertext, None)
        .map_err(|_| CryptoError::Internal)?
        .len();
    ciphertext.truncate(len);
    Ok(ciphertext)
}

/// Decrypts with the RSA key in `material`. Every decryption failure is the same
/// `InvalidCiphertext`, so that none becomes a padding oracle.
pub fn rsa_decrypt(
    material: &[u8],
    algorithm: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let algorithm = oaep_algorithm(algorithm)?;
    let key =
        OaepPrivateDecryptingKey::new(private_key(material)?).map_err(|_| CryptoError::Internal)?;
    let mut plaintext = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let len = key
        .decrypt(algorithm, ciphertext, plaintext.as_mut_slice(), None)
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    plaintext.truncate(len);
    Ok(plaintext)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_keys::material;
    use crate::KeySpec;

    const ALGORITHMS: [&str; 2] = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"];

    #[test]
    fn round_trip_both_algorithms_every_size() {
        for (spec, bits) in [
            (KeySpec::Rsa2048, 2048),
            (KeySpec::Rsa3072, 3072),
            (KeySpec::Rsa4096, 4096),
        ] {
            let key = material(spec);
            for algorithm in ALGORITHMS {
                let ciphertext = rsa_encrypt(key, algorithm, b"attack at dawn").unwrap();
                assert_eq!(ciphertext.len() * 8, bits);
                assert_eq!(
                    rsa_decrypt(key, algorithm, &ciphertext).unwrap().as_slice(),
                    b"attack at dawn"
                );
                // OAEP is randomised.
                assert_ne!(
                    ciphertext,
                    rsa_encrypt(key, algorithm, b"attack at dawn").unwrap()
                );
            }
        }
        let empty = rsa_encrypt(material(KeySpec::Rsa2048), ALGORITHMS[1], b"").unwrap();
        assert!(
            rsa_decrypt(material(KeySpec::Rsa2048), ALGORITHMS[1], &empty)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn plaintext_limits_match_kms() {
        let key = material(KeySpec::Rsa2048);
        for (algorithm, limit) in [("RSAES_OAEP_SHA_1", 214), ("RSAES_OAEP_SHA_256", 190)] {
            let at_limit = vec![7u8; limit];
            let ciphertext = rsa_encrypt(key, algorithm, &at_limit).unwrap();
            assert_eq!(
                rsa_decrypt(key, algorithm, &ciphertext).unwrap().as_slice(),
                at_limit
            );
            assert_eq!(
                rsa_encrypt(key, algorithm, &vec![7u8; limit + 1]).unwrap_err(),
                CryptoError::PlaintextTooLong
            );
        }
        // RSA_4096 with SHA-256: 512 - 66.
        let big = material(KeySpec::Rsa4096);
        assert!(rsa_encrypt(big, "RSAES_OAEP_SHA_256", &[1u8; 446]).is_ok());
        assert_eq!(
            rsa_encrypt(big, "RSAES_OAEP_SHA_256", &[1u8; 447]).unwrap_err(),
            CryptoError::PlaintextTooLong
        );
    }

    #[test]
    fn damaged_or_mismatched_ciphertext_is_invalid() {
        let key = material(KeySpec::Rsa2048);
        let ciphertext = rsa_encrypt(key, "RSAES_OAEP_SHA_256", b"secret").unwrap();
        for index in [0, 100, ciphertext.len() - 1] {
            let mut tampered = ciphertext.clone();
            tampered[index] ^= 0x01;
            assert_eq!(
                rsa_decrypt(key, "RSAES_OAEP_SHA_256", &tampered).unwrap_err(),
                CryptoError::InvalidCiphertext
            );
        }
        assert_eq!(
            rsa_decrypt(key, "RSAES_OAEP_SHA_1", &ciphertext).unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        assert_eq!(
            rsa_decrypt(
                material(KeySpec::Rsa3072),
                "RSAES_OAEP_SHA_256",
                &ciphertext
            )
            .unwrap_err(),
            CryptoError::InvalidCiphertext
        );
        for short in [&ciphertext[..10], &[][..]] {
            assert_eq!(
                rsa_decrypt(key, "RSAES_OAEP_SHA_256", short).unwrap_err(),
                CryptoError::InvalidCiphertext
            );
        }
    }

    #[test]
    fn wrong_algorithm_or_key() {
        let key = material(KeySpec::Rsa2048);
        assert_eq!(
            rsa_encrypt(key, "SYMMETRIC_DEFAULT", b"x").unwrap_err(),
            CryptoError::AlgorithmNotForKey
        );
        assert_eq!(
            rsa_decrypt(key, "RSAES_OAEP_SHA_512", b"x").unwrap_err(),
            CryptoError::AlgorithmNotForKey
        );
        assert_eq!(
            rsa_encrypt(material(KeySpec::EccNistP256), "RSAES_OAEP_SHA_1", b"x").unwrap_err(),
            CryptoError::InvalidKey
        );
    }
}
