//! `GenerateMac`/`VerifyMac`: HMAC (RFC 2104) with SHA-224/256/384/512.

use aws_lc_rs::hmac;

use crate::{CryptoError, KeySpec};

fn algorithm(spec: KeySpec, name: &str) -> Result<hmac::Algorithm, CryptoError> {
    if !spec.mac_algorithms().contains(&name) {
        return Err(CryptoError::AlgorithmNotForKey);
    }
    match name {
        "HMAC_SHA_224" => Ok(hmac::HMAC_SHA224),
        "HMAC_SHA_256" => Ok(hmac::HMAC_SHA256),
        "HMAC_SHA_384" => Ok(hmac::HMAC_SHA384),
        "HMAC_SHA_512" => Ok(hmac::HMAC_SHA512),
        _ => Err(CryptoError::AlgorithmNotForKey),
    }
}

/// The HMAC tag of `message` under `key`. `algorithm` must be the one `spec` allows.
/// Any key length works: imported keys need not have the generated length.
pub fn generate_mac(
    spec: KeySpec,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = hmac::Key::new(self::algorithm(spec, algorithm)?, key);
    Ok(hmac::sign(&key, message).as_ref().to_vec())
}

/// Whether `mac` is the HMAC tag of `message` under `key`, compared in constant time. A
/// truncated or overlong tag is `false`.
pub fn verify_mac(
    spec: KeySpec,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
    mac: &[u8],
) -> Result<bool, CryptoError> {
    let key = hmac::Key::new(self::algorithm(spec, algorithm)?, key);
    Ok(hmac::verify(&key, message, mac).is_ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::generate_material;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn rfc_4231_test_case_2() {
        let data = b"what do ya want for nothing?";
        for (spec, algorithm, expected) in [
            (
                KeySpec::Hmac224,
                "HMAC_SHA_224",
                "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
            ),
            (
                KeySpec::Hmac256,
                "HMAC_SHA_256",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                KeySpec::Hmac384,
                "HMAC_SHA_384",
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
                 8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                KeySpec::Hmac512,
                "HMAC_SHA_512",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ] {
            let expected = unhex(&expected.replace(char::is_whitespace, ""));
            let mac = generate_mac(spec, b"Jefe", algorithm, data).unwrap();
            assert_eq!(mac, expected, "{algorithm}");
            assert!(verify_mac(spec, b"Jefe", algorithm, data, &expected).unwrap());
            assert!(!verify_mac(
                spec,
                b"Jefe",
                algorithm,
                b"what do ya want for something?",
                &expected
            )
            .unwrap());
            assert!(!verify_mac(spec, b"jefe", algorithm, data, &expected).unwrap());
            assert!(!verify_mac(
                spec,
                b"Jefe",
                algorithm,
                data,
                &expected[..expected.len() - 1]
            )
            .unwrap());
            assert!(!verify_mac(spec, b"Jefe", algorithm, data, &[]).unwrap());
        }
    }

    #[test]
    fn algorithm_must_match_spec() {
        let key = generate_material(KeySpec::Hmac256).unwrap();
        for (spec, algorithm) in [
            (KeySpec::Hmac256, "HMAC_SHA_384"),
            (KeySpec::Hmac512, "HMAC_SHA_256"),
            (KeySpec::SymmetricDefault, "HMAC_SHA_256"),
            (KeySpec::Hmac256, "HMAC_SHA_1"),
        ] {
            assert_eq!(
                generate_mac(spec, &key, algorithm, b"m").unwrap_err(),
                CryptoError::AlgorithmNotForKey
            );
            assert_eq!(
                verify_mac(spec, &key, algorithm, b"m", &[0; 32]).unwrap_err(),
                CryptoError::AlgorithmNotForKey
            );
        }
        let mac = generate_mac(KeySpec::Hmac256, &key, "HMAC_SHA_256", b"").unwrap();
        assert_eq!(mac.len(), 32);
        assert!(verify_mac(KeySpec::Hmac256, &key, "HMAC_SHA_256", b"", &mac).unwrap());
    }
}
