#![allow(clippy::unwrap_used)]

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::signature::Ed25519KeyPair;
use proptest::prelude::*;

use super::*;
use crate::public_key_der;
use crate::test_keys::material;

const SIGNING_SPECS: [KeySpec; 11] = [
    KeySpec::Rsa2048,
    KeySpec::Rsa3072,
    KeySpec::Rsa4096,
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::EccSecgP256k1,
    KeySpec::EccNistEdwards25519,
    KeySpec::MlDsa44,
    KeySpec::MlDsa65,
    KeySpec::MlDsa87,
];

/// The hash a DIGEST must be for `algorithm`, or `None` when it takes no DIGEST.
fn digest_for(algorithm: &str) -> Option<&'static digest::Algorithm> {
    if algorithm.starts_with("ED25519") || algorithm.starts_with("ML_DSA") {
        None
    } else if algorithm.ends_with("_256") {
        Some(&digest::SHA256)
    } else if algorithm.ends_with("_384") {
        Some(&digest::SHA384)
    } else {
        Some(&digest::SHA512)
    }
}

/// Every (spec, algorithm) pair that can sign RAW messages.
fn raw_pairs() -> Vec<(KeySpec, &'static str)> {
    SIGNING_SPECS
        .into_iter()
        .flat_map(|spec| spec.signing_algorithms().iter().map(move |a| (spec, *a)))
        .filter(|(_, algorithm)| *algorithm != "ED25519_PH_SHA_512")
        .collect()
}

#[test]
fn every_signing_spec_has_algorithms_and_others_have_none() {
    for spec in KeySpec::ALL {
        assert_eq!(
            spec.signing_algorithms().is_empty(),
            !SIGNING_SPECS.contains(&spec),
            "{spec:?}"
        );
    }
    assert_eq!(raw_pairs().len(), 3 * 6 + 4 + 1 + 3);
}

#[test]
fn raw_and_digest_signatures_verify_both_ways() {
    let message = b"The quick brown fox jumps over the lazy dog";
    for (spec, algorithm) in raw_pairs() {
        let key = material(spec);
        let raw = sign(spec, key, algorithm, MessageType::Raw, message).unwrap();
        assert!(
            verify(spec, key, algorithm, MessageType::Raw, message, &raw).unwrap(),
            "{spec:?} {algorithm}"
        );
        assert!(!verify(
            spec,
            key,
            algorithm,
            MessageType::Raw,
            b"the quick brown fox",
            &raw
        )
        .unwrap());
        let mut flipped = raw.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        assert!(!verify(spec, key, algorithm, MessageType::Raw, message, &flipped).unwrap());
        assert!(!verify(spec, key, algorithm, MessageType::Raw, message, &[]).unwrap());
        assert!(!verify(spec, key, algorithm, MessageType::Raw, message, &raw[1..]).unwrap());

        let Some(hash) = digest_for(algorithm) else {
            continue;
        };
        let hashed = digest::digest(hash, message);
        let from_digest = sign(spec, key, algorithm, MessageType::Digest, hashed.as_ref()).unwrap();
        // A signature over a digest is a signature over the message, and the reverse.
        assert!(
            verify(
                spec,
                key,
                algorithm,
                MessageType::Raw,
                message,
                &from_digest
            )
            .unwrap(),
            "{spec:?} {algorithm}"
        );
        assert!(verify(
            spec,
            key,
            algorithm,
            MessageType::Digest,
            hashed.as_ref(),
            &from_digest
        )
        .unwrap());
        assert!(verify(
            spec,
            key,
            algorithm,
            MessageType::Digest,
            hashed.as_ref(),
            &raw
        )
        .unwrap());
        let other = digest::digest(hash, b"another message");
        assert!(!verify(
            spec,
            key,
            algorithm,
            MessageType::Digest,
            other.as_ref(),
            &raw
        )
        .unwrap());
    }
}

#[test]
fn signature_shapes_match_kms() {
    let m = b"shape";
    for (spec, len) in [
        (KeySpec::Rsa2048, 256),
        (KeySpec::Rsa3072, 384),
        (KeySpec::Rsa4096, 512),
    ] {
        let signature = sign(
            spec,
            material(spec),
            "RSASSA_PSS_SHA_384",
            MessageType::Raw,
            m,
        );
        assert_eq!(signature.unwrap().len(), len);
    }
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
    ] {
        let algorithm = spec.signing_algorithms()[0];
        let signature = sign(spec, material(spec), algorithm, MessageType::Raw, m).unwrap();
        // DER: SEQUENCE { INTEGER r, INTEGER s }; P-521's needs a long-form length.
        assert_eq!(signature[0], 0x30, "{spec:?}");
        let (header, body) = match signature[1] {
            0x81 => (3, usize::from(signature[2])),
            short => (2, usize::from(short)),
        };
        assert_eq!(header + body, signature.len(), "{spec:?}");
        assert_eq!(signature[header], 0x02, "{spec:?}");
    }
    let ed = sign(
        KeySpec::EccNistEdwards25519,
        material(KeySpec::EccNistEdwards25519),
        "ED25519_SHA_512",
        MessageType::Raw,
        m,
    );
    assert_eq!(ed.unwrap().len(), 64);
    for (spec, len) in [
        (KeySpec::MlDsa44, 2420),
        (KeySpec::MlDsa65, 3309),
        (KeySpec::MlDsa87, 4627),
    ] {
        let signature = sign(
            spec,
            material(spec),
            "ML_DSA_SHAKE_256",
            MessageType::Raw,
            m,
        );
        assert_eq!(signature.unwrap().len(), len, "{spec:?}");
    }
    // PKCS#1 v1.5 is deterministic; PSS is salted.
    let key = material(KeySpec::Rsa2048);
    let pkcs1 = |_| {
        sign(
            KeySpec::Rsa2048,
            key,
            "RSASSA_PKCS1_V1_5_SHA_256",
            MessageType::Raw,
            m,
        )
    };
    assert_eq!(pkcs1(0).unwrap(), pkcs1(1).unwrap());
    let pss = |_| {
        sign(
            KeySpec::Rsa2048,
            key,
            "RSASSA_PSS_SHA_256",
            MessageType::Raw,
            m,
        )
    };
    assert_ne!(pss(0).unwrap(), pss(1).unwrap());
}

/// RFC 8032 section 7.1, TEST 1, through the stored PKCS#8 form.
#[test]
fn ed25519_known_answer() {
    let seed: Vec<u8> = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let pkcs8: Pkcs8V1Der = Ed25519KeyPair::from_seed_unchecked(&seed)
        .unwrap()
        .as_der()
        .unwrap();
    let spec = KeySpec::EccNistEdwards25519;
    let signature = sign(
        spec,
        pkcs8.as_ref(),
        "ED25519_SHA_512",
        MessageType::Raw,
        b"",
    )
    .unwrap();
    assert_eq!(
        signature,
        hex(concat!(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555",
            "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ))
    );
    let spki = public_key_der(spec, pkcs8.as_ref()).unwrap();
    assert!(spki.ends_with(&hex(
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )));
}

/// RFC 8032 section 7.3, the Ed25519ph test vector ("abc"), through the FFI entry point
/// with the SHA-512 prehash made here.
#[test]
fn ed25519ph_known_answer() {
    let seed: [u8; 32] = hex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
        .try_into()
        .unwrap();
    let public_key: [u8; 32] =
        hex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
            .try_into()
            .unwrap();
    let prehash: [u8; 64] = digest::digest(&digest::SHA512, b"abc")
        .as_ref()
        .try_into()
        .unwrap();
    let signature = crate::ffi::ed25519ph_sign_digest(&seed, &public_key, &prehash).unwrap();
    assert_eq!(
        signature.to_vec(),
        hex(concat!(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41",
            "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
        ))
    );
    assert!(crate::ffi::ed25519ph_verify_digest(
        &public_key,
        &prehash,
        &signature
    ));
    assert!(!crate::ffi::ed25519ph_verify_digest(
        &public_key,
        &prehash,
        &signature[..63]
    ));
}

/// KMS's ED25519_PH_SHA_512 takes a SHA-512 digest and prehashes it once more: its
/// signature is the RFC 8032 Ed25519ph signature of the digest bytes taken as the message.
#[test]
fn ed25519ph_through_kms_hashes_the_digest_again() {
    let seed = hex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
    let pkcs8: Pkcs8V1Der = Ed25519KeyPair::from_seed_unchecked(&seed)
        .unwrap()
        .as_der()
        .unwrap();
    let spec = KeySpec::EccNistEdwards25519;
    let message_digest = digest::digest(&digest::SHA512, b"abc");
    let signature = sign(
        spec,
        pkcs8.as_ref(),
        "ED25519_PH_SHA_512",
        MessageType::Digest,
        message_digest.as_ref(),
    )
    .unwrap();
    let public_key: [u8; 32] =
        hex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
            .try_into()
            .unwrap();
    let twice: [u8; 64] = digest::digest(&digest::SHA512, message_digest.as_ref())
        .as_ref()
        .try_into()
        .unwrap();
    assert!(crate::ffi::ed25519ph_verify_digest(
        &public_key,
        &twice,
        &signature
    ));
    // Ed25519ph is not Ed25519: the pure algorithm does not accept its signature.
    assert!(!verify(
        spec,
        pkcs8.as_ref(),
        "ED25519_SHA_512",
        MessageType::Raw,
        message_digest.as_ref(),
        &signature
    )
    .unwrap());
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn algorithm_not_for_key() {
    let cases = [
        (KeySpec::EccNistP256, "ECDSA_SHA_384"),
        (KeySpec::EccNistP384, "ECDSA_SHA_256"),
        (KeySpec::EccSecgP256k1, "ECDSA_SHA_512"),
        (KeySpec::EccNistP256, "RSASSA_PSS_SHA_256"),
        (KeySpec::Rsa2048, "ECDSA_SHA_256"),
        (KeySpec::Rsa2048, "ML_DSA_SHAKE_256"),
        (KeySpec::MlDsa44, "ED25519_SHA_512"),
        (KeySpec::EccNistEdwards25519, "ECDSA_SHA_512"),
        (KeySpec::SymmetricDefault, "RSASSA_PSS_SHA_256"),
        (KeySpec::Hmac256, "HMAC_SHA_256"),
        (KeySpec::Rsa2048, "rsassa_pss_sha_256"),
        (KeySpec::Rsa2048, "SM2DSA"),
    ];
    for (spec, algorithm) in cases {
        assert_eq!(
            sign(spec, b"", algorithm, MessageType::Raw, b"m").unwrap_err(),
            CryptoError::AlgorithmNotForKey,
            "{spec:?} {algorithm}"
        );
        assert_eq!(
            verify(spec, b"", algorithm, MessageType::Raw, b"m", b"s").unwrap_err(),
            CryptoError::AlgorithmNotForKey
        );
    }
}

#[test]
fn digest_length_must_match_the_algorithm() {
    for (spec, algorithm) in raw_pairs() {
        let Some(hash) = digest_for(algorithm) else {
            continue;
        };
        let key = material(spec);
        for len in [0, 20, 28, 32, 48, 64, 65] {
            if len == hash.output_len() {
                continue;
            }
            let message = vec![1u8; len];
            assert_eq!(
                sign(spec, key, algorithm, MessageType::Digest, &message).unwrap_err(),
                CryptoError::InvalidDigestLength,
                "{spec:?} {algorithm} {len}"
            );
            assert_eq!(
                verify(
                    spec,
                    key,
                    algorithm,
                    MessageType::Digest,
                    &message,
                    &[0; 64]
                )
                .unwrap_err(),
                CryptoError::InvalidDigestLength
            );
        }
    }
}

#[test]
fn message_types_follow_the_algorithm() {
    let ed = KeySpec::EccNistEdwards25519;
    let ed_key = material(ed);
    let sha512 = [0u8; 64];
    let mismatch = CryptoError::MessageTypeNotForAlgorithm;
    assert_eq!(
        sign(ed, ed_key, "ED25519_SHA_512", MessageType::Digest, &sha512).unwrap_err(),
        mismatch
    );
    assert_eq!(
        sign(ed, ed_key, "ED25519_PH_SHA_512", MessageType::Raw, b"m").unwrap_err(),
        mismatch
    );
    assert_eq!(
        sign(
            ed,
            ed_key,
            "ED25519_PH_SHA_512",
            MessageType::Digest,
            &[0; 32]
        )
        .unwrap_err(),
        CryptoError::InvalidDigestLength
    );
    for spec in [
        KeySpec::Rsa2048,
        KeySpec::EccNistP256,
        KeySpec::EccNistEdwards25519,
    ] {
        let algorithm = spec.signing_algorithms()[0];
        assert_eq!(
            sign(
                spec,
                material(spec),
                algorithm,
                MessageType::ExternalMu,
                &[0; 64]
            )
            .unwrap_err(),
            mismatch,
            "{spec:?}"
        );
    }
    let ml = KeySpec::MlDsa65;
    let ml_key = material(ml);
    assert_eq!(
        sign(
            ml,
            ml_key,
            "ML_DSA_SHAKE_256",
            MessageType::Digest,
            &[0; 64]
        )
        .unwrap_err(),
        mismatch
    );
    assert_eq!(
        verify(
            ml,
            ml_key,
            "ML_DSA_SHAKE_256",
            MessageType::Digest,
            &[0; 64],
            &[0; 8]
        )
        .unwrap_err(),
        mismatch
    );
    assert_eq!(
        sign(
            ml,
            ml_key,
            "ML_DSA_SHAKE_256",
            MessageType::ExternalMu,
            &[0; 32]
        )
        .unwrap_err(),
        CryptoError::InvalidDigestLength
    );
}

#[test]
fn key_that_does_not_parse_is_invalid_key() {
    for (spec, algorithm) in [
        (KeySpec::Rsa2048, "RSASSA_PSS_SHA_256"),
        (KeySpec::EccNistP256, "ECDSA_SHA_256"),
        (KeySpec::EccNistEdwards25519, "ED25519_SHA_512"),
        (KeySpec::MlDsa44, "ML_DSA_SHAKE_256"),
    ] {
        assert_eq!(
            sign(spec, b"garbage", algorithm, MessageType::Raw, b"m").unwrap_err(),
            CryptoError::InvalidKey
        );
        assert_eq!(
            verify(spec, b"garbage", algorithm, MessageType::Raw, b"m", b"s").unwrap_err(),
            CryptoError::InvalidKey
        );
    }
    // A P-256 key stored under the P-384 spec.
    assert_eq!(
        sign(
            KeySpec::EccNistP384,
            material(KeySpec::EccNistP256),
            "ECDSA_SHA_384",
            MessageType::Raw,
            b"m"
        )
        .unwrap_err(),
        CryptoError::InvalidKey
    );
}

#[test]
fn a_signature_by_another_key_does_not_verify() {
    let spec = KeySpec::EccNistP256;
    let other = crate::generate_material(spec).unwrap();
    let signature = sign(spec, &other, "ECDSA_SHA_256", MessageType::Raw, b"m").unwrap();
    assert!(!verify(
        spec,
        material(spec),
        "ECDSA_SHA_256",
        MessageType::Raw,
        b"m",
        &signature
    )
    .unwrap());
}

/// Every (spec, algorithm, message type) that signs a fixed-length representative rather
/// than a message: Ed25519ph over a SHA-512 digest, and ML-DSA over an external mu.
fn representative_pairs() -> Vec<(KeySpec, &'static str, MessageType)> {
    vec![
        (
            KeySpec::EccNistEdwards25519,
            "ED25519_PH_SHA_512",
            MessageType::Digest,
        ),
        (
            KeySpec::MlDsa44,
            "ML_DSA_SHAKE_256",
            MessageType::ExternalMu,
        ),
        (
            KeySpec::MlDsa65,
            "ML_DSA_SHAKE_256",
            MessageType::ExternalMu,
        ),
        (
            KeySpec::MlDsa87,
            "ML_DSA_SHAKE_256",
            MessageType::ExternalMu,
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn representative_sign_verify_round_trip(
        pair in proptest::sample::select(representative_pairs()),
        representative in proptest::collection::vec(any::<u8>(), 64),
        flip in 0usize..64,
    ) {
        let (spec, algorithm, message_type) = pair;
        let key = material(spec);
        let signature = sign(spec, key, algorithm, message_type, &representative).unwrap();
        prop_assert!(verify(spec, key, algorithm, message_type, &representative, &signature).unwrap());
        let mut tampered = representative.clone();
        tampered[flip] ^= 1;
        prop_assert!(!verify(spec, key, algorithm, message_type, &tampered, &signature).unwrap());
        let other = crate::generate_material(spec).unwrap();
        prop_assert!(!verify(spec, &other, algorithm, message_type, &representative, &signature).unwrap());
    }

    #[test]
    fn sign_verify_round_trip(
        pair in proptest::sample::select(raw_pairs()),
        message in proptest::collection::vec(any::<u8>(), 0..512),
        use_digest in any::<bool>(),
    ) {
        let (spec, algorithm) = pair;
        let key = material(spec);
        let (message_type, signed) = match digest_for(algorithm) {
            Some(hash) if use_digest => {
                (MessageType::Digest, digest::digest(hash, &message).as_ref().to_vec())
            }
            _ => (MessageType::Raw, message.clone()),
        };
        let signature = sign(spec, key, algorithm, message_type, &signed).unwrap();
        prop_assert!(verify(spec, key, algorithm, message_type, &signed, &signature).unwrap());
        prop_assert!(verify(spec, key, algorithm, MessageType::Raw, &message, &signature).unwrap());
        let mut tampered = message.clone();
        tampered.push(0);
        prop_assert!(!verify(spec, key, algorithm, MessageType::Raw, &tampered, &signature).unwrap());
    }
}
