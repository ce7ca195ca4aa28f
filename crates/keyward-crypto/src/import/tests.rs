#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256,
};

use super::*;
use crate::test_keys::material;
use crate::{random_bytes, validate_material};

const SUPPORTED: [WrappingAlgorithm; 4] = [
    WrappingAlgorithm::RsaesOaepSha1,
    WrappingAlgorithm::RsaesOaepSha256,
    WrappingAlgorithm::RsaAesKeyWrapSha1,
    WrappingAlgorithm::RsaAesKeyWrapSha256,
];

const KEY_WRAP: [WrappingAlgorithm; 2] = [
    WrappingAlgorithm::RsaAesKeyWrapSha1,
    WrappingAlgorithm::RsaAesKeyWrapSha256,
];

/// Written out here rather than taken from `rsa_oaep()`, so that a wrong mapping there
/// fails the tests instead of being mirrored by them.
fn oaep(algorithm: WrappingAlgorithm) -> &'static OaepAlgorithm {
    match algorithm {
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
            &OAEP_SHA1_MGF1SHA1
        }
        WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
            &OAEP_SHA256_MGF1SHA256
        }
        WrappingAlgorithm::RsaesPkcs1V15 => panic!("no OAEP for PKCS #1 v1.5"),
    }
}

fn kwp(aes_key: &[u8], material: &[u8]) -> Vec<u8> {
    let mut wrapped = vec![0u8; material.len() + 15];
    AesKek::new(&AES_256, aes_key)
        .unwrap()
        .wrap_with_padding(material, &mut wrapped)
        .unwrap()
        .to_vec()
}

/// RSA-OAEP encryption under the SPKI public key alone, as an importing client does it.
/// `None` where the plaintext is over the OAEP limit.
fn oaep_encrypt(
    public_key: &[u8],
    algorithm: WrappingAlgorithm,
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let key =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_key).unwrap()).unwrap();
    if plaintext.len() > key.max_plaintext_size(oaep(algorithm)) {
        return None;
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(oaep(algorithm), plaintext, &mut out, None)
        .unwrap()
        .len();
    out.truncate(len);
    Some(out)
}

/// `EncryptedKeyMaterial` for `material`. `None` where RSA-OAEP cannot hold the material
/// (the direct OAEP algorithms with large material).
fn wrap(public_key: &[u8], algorithm: WrappingAlgorithm, material: &[u8]) -> Option<Vec<u8>> {
    if !algorithm.is_key_wrap() {
        return oaep_encrypt(public_key, algorithm, material);
    }
    let aes_key = random_bytes(32).unwrap();
    let mut out = oaep_encrypt(public_key, algorithm, &aes_key)?;
    out.extend_from_slice(&kwp(&aes_key, material));
    Some(out)
}

fn assert_invalid(key: &[u8], algorithm: WrappingAlgorithm, encrypted: &[u8], case: &str) {
    assert_eq!(
        unwrap_import(key, algorithm, encrypted).unwrap_err(),
        CryptoError::InvalidCiphertext,
        "{algorithm:?} {case}"
    );
}

fn public_of(spec: KeySpec) -> Vec<u8> {
    public_key_der(spec, material(spec)).unwrap()
}

#[test]
fn wire_names_match_the_kms_model() {
    for (spec, wire) in [
        (WrappingKeySpec::Rsa2048, "RSA_2048"),
        (WrappingKeySpec::Rsa3072, "RSA_3072"),
        (WrappingKeySpec::Rsa4096, "RSA_4096"),
    ] {
        assert_eq!(spec.as_str(), wire);
        assert_eq!(WrappingKeySpec::parse(wire), Some(spec));
    }
    for (algorithm, wire) in [
        (WrappingAlgorithm::RsaesPkcs1V15, "RSAES_PKCS1_V1_5"),
        (WrappingAlgorithm::RsaesOaepSha1, "RSAES_OAEP_SHA_1"),
        (WrappingAlgorithm::RsaesOaepSha256, "RSAES_OAEP_SHA_256"),
        (
            WrappingAlgorithm::RsaAesKeyWrapSha1,
            "RSA_AES_KEY_WRAP_SHA_1",
        ),
        (
            WrappingAlgorithm::RsaAesKeyWrapSha256,
            "RSA_AES_KEY_WRAP_SHA_256",
        ),
    ] {
        assert_eq!(algorithm.as_str(), wire);
        assert_eq!(WrappingAlgorithm::parse(wire), Some(algorithm));
        assert_eq!(
            algorithm.is_supported(),
            algorithm != WrappingAlgorithm::RsaesPkcs1V15
        );
    }
    // China-only values, other key specs, and case variants are not ours.
    for wire in ["SM2", "RSA_1024", "ECC_NIST_P256", "rsa_2048", ""] {
        assert_eq!(WrappingKeySpec::parse(wire), None, "{wire}");
    }
    for wire in ["SM2PKE", "RSAES_OAEP_SHA_384", "rsaes_oaep_sha_1", ""] {
        assert_eq!(WrappingAlgorithm::parse(wire), None, "{wire}");
    }
}

#[test]
fn round_trip_every_spec_and_algorithm() {
    let symmetric = random_bytes(32).unwrap();
    // An RSA private key is far beyond any OAEP limit; only the key-wrap algorithms take it.
    let rsa_private = material(KeySpec::Rsa2048);
    for (spec, bits) in [
        (WrappingKeySpec::Rsa2048, 2048),
        (WrappingKeySpec::Rsa3072, 3072),
        (WrappingKeySpec::Rsa4096, 4096),
    ] {
        let (private, public) = generate_wrapping_key(spec).unwrap();
        validate_material(spec.key_spec(), &private).unwrap();
        assert_eq!(
            PublicEncryptingKey::from_der(&public)
                .unwrap()
                .key_size_bits(),
            bits
        );
        for algorithm in SUPPORTED {
            let wrapped = wrap(&public, algorithm, &symmetric).unwrap();
            assert_eq!(
                unwrap_import(&private, algorithm, &wrapped)
                    .unwrap()
                    .as_slice(),
                symmetric.as_slice(),
                "{spec:?} {algorithm:?}"
            );
            match wrap(&public, algorithm, rsa_private) {
                Some(wrapped) => {
                    assert!(algorithm.is_key_wrap(), "{spec:?} {algorithm:?}");
                    assert_eq!(
                        unwrap_import(&private, algorithm, &wrapped)
                            .unwrap()
                            .as_slice(),
                        rsa_private,
                        "{spec:?} {algorithm:?}"
                    );
                }
                None => assert!(!algorithm.is_key_wrap(), "{spec:?} {algorithm:?}"),
            }
        }
    }
}

#[test]
fn oaep_limits_fall_out_as_aws_documents() {
    // AWS: "You cannot directly wrap ECC_NIST_P521 key material with a RSA_2048 public
    // wrapping key"; a larger wrapping key or key wrap does it.
    let p521 = material(KeySpec::EccNistP521);
    let rsa_2048 = public_of(KeySpec::Rsa2048);
    for algorithm in [
        WrappingAlgorithm::RsaesOaepSha1,
        WrappingAlgorithm::RsaesOaepSha256,
    ] {
        assert!(wrap(&rsa_2048, algorithm, p521).is_none());
        let wrapped = wrap(&public_of(KeySpec::Rsa3072), algorithm, p521).unwrap();
        assert_eq!(
            unwrap_import(material(KeySpec::Rsa3072), algorithm, &wrapped)
                .unwrap()
                .as_slice(),
            p521
        );
    }
    for algorithm in KEY_WRAP {
        let wrapped = wrap(&rsa_2048, algorithm, p521).unwrap();
        assert_eq!(
            unwrap_import(material(KeySpec::Rsa2048), algorithm, &wrapped)
                .unwrap()
                .as_slice(),
            p521
        );
    }
}

#[test]
fn altered_byte_anywhere_is_invalid() {
    let private = material(KeySpec::Rsa2048);
    let public = public_of(KeySpec::Rsa2048);
    for algorithm in SUPPORTED {
        let wrapped = wrap(&public, algorithm, &[0x5a; 32]).unwrap();
        for index in 0..wrapped.len() {
            let mut altered = wrapped.clone();
            altered[index] ^= 0x01;
            assert_invalid(private, algorithm, &altered, &format!("byte {index}"));
        }
    }
}

#[test]
fn truncated_or_extended_is_invalid() {
    let private = material(KeySpec::Rsa2048);
    let public = public_of(KeySpec::Rsa2048);
    for algorithm in SUPPORTED {
        let wrapped = wrap(&public, algorithm, &[0x5a; 32]).unwrap();
        for len in 0..wrapped.len() {
            assert_invalid(
                private,
                algorithm,
                &wrapped[..len],
                &format!("length {len}"),
            );
        }
        for extra in [&[0u8][..], &[0u8; 8][..]] {
            let mut extended = wrapped.clone();
            extended.extend_from_slice(extra);
            assert_invalid(private, algorithm, &extended, &format!("+{}", extra.len()));
        }
    }
}

#[test]
fn wrong_wrapping_key_or_algorithm_is_invalid() {
    let public = public_of(KeySpec::Rsa2048);
    let (other_2048, _) = generate_wrapping_key(WrappingKeySpec::Rsa2048).unwrap();
    for algorithm in SUPPORTED {
        let wrapped = wrap(&public, algorithm, &[0x5a; 32]).unwrap();
        for key in [&other_2048[..], material(KeySpec::Rsa3072)] {
            assert_invalid(key, algorithm, &wrapped, "under another key");
        }
        // Every other algorithm: the other hash, or the other scheme.
        for other in SUPPORTED.into_iter().filter(|other| *other != algorithm) {
            let case = format!("wrapped with {algorithm:?}");
            assert_invalid(material(KeySpec::Rsa2048), other, &wrapped, &case);
        }
    }
}

#[test]
fn ephemeral_key_must_be_aes_256() {
    let public = public_of(KeySpec::Rsa2048);
    for algorithm in KEY_WRAP {
        // An AES-128 key wrapping the material, RSA-encrypted as usual.
        let aes_128 = random_bytes(16).unwrap();
        let mut wrapped = oaep_encrypt(&public, algorithm, &aes_128).unwrap();
        let mut kwp_128 = vec![0u8; 32 + 15];
        let kwp_128 = AesKek::new(&aws_lc_rs::key_wrap::AES_128, &aes_128)
            .unwrap()
            .wrap_with_padding(&[0x5a; 32], &mut kwp_128)
            .unwrap();
        wrapped.extend_from_slice(kwp_128);
        assert_invalid(material(KeySpec::Rsa2048), algorithm, &wrapped, "AES-128");
    }
}

#[test]
fn pkcs1_v1_5_is_unsupported_and_non_rsa_wrapping_key_is_invalid() {
    let wrapped = wrap(
        &public_of(KeySpec::Rsa2048),
        WrappingAlgorithm::RsaesOaepSha256,
        &[1; 32],
    )
    .unwrap();
    assert_eq!(
        unwrap_import(
            material(KeySpec::Rsa2048),
            WrappingAlgorithm::RsaesPkcs1V15,
            &wrapped
        )
        .unwrap_err(),
        CryptoError::Unsupported
    );
    for algorithm in SUPPORTED {
        for key in [material(KeySpec::EccNistP256), b"not a key"] {
            assert_eq!(
                unwrap_import(key, algorithm, &wrapped).unwrap_err(),
                CryptoError::InvalidKey,
                "{algorithm:?}"
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A scratch directory, removed again when the test ends.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        let id = hex(&random_bytes(16).unwrap());
        let path = std::env::temp_dir().join(format!("keyward-import-{id}"));
        std::fs::create_dir(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `EncryptedKeyMaterial` made by the OpenSSL command line exactly as AWS's "Encrypt the
/// key material" guide shows, for both key-wrap hashes and the direct OAEP algorithms.
#[test]
fn openssl_made_encrypted_key_material_unwraps() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: no `openssl` on PATH");
        return;
    }
    let private = material(KeySpec::Rsa2048);
    let dir = ScratchDir::new();
    dir.write("WrappingPublicKey.der", &public_of(KeySpec::Rsa2048));
    let symmetric = random_bytes(32).unwrap();
    let materials: [(&str, &[u8]); 2] = [
        ("symmetric", &symmetric),
        ("rsa-private", material(KeySpec::Rsa3072)),
    ];
    let pkeyutl = |hash: &str, input: &str, output: &str| {
        openssl(
            &[
                "pkeyutl",
                "-encrypt",
                "-in",
                input,
                "-inkey",
                "WrappingPublicKey.der",
                "-keyform",
                "DER",
                "-pubin",
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &format!("rsa_oaep_md:{hash}"),
                "-pkeyopt",
                &format!("rsa_mgf1_md:{hash}"),
                "-out",
                output,
            ],
            &dir.0,
        )
    };
    for (algorithm, hash) in [
        (WrappingAlgorithm::RsaAesKeyWrapSha1, "sha1"),
        (WrappingAlgorithm::RsaAesKeyWrapSha256, "sha256"),
    ] {
        for (name, plaintext) in materials {
            dir.write(name, plaintext);
            openssl(&["rand", "-out", "aes-key.bin", "32"], &dir.0);
            let aes_key = std::fs::read(dir.0.join("aes-key.bin")).unwrap();
            openssl(
                &[
                    "enc",
                    "-id-aes256-wrap-pad",
                    "-K",
                    &hex(&aes_key),
                    "-iv",
                    "A65959A6",
                    "-in",
                    name,
                    "-out",
                    "wrapped-material",
                ],
                &dir.0,
            );
            pkeyutl(hash, "aes-key.bin", "wrapped-aes");
            // cat wrapped-aes wrapped-material > EncryptedKeyMaterial.bin
            let mut encrypted = std::fs::read(dir.0.join("wrapped-aes")).unwrap();
            let wrapped_material = std::fs::read(dir.0.join("wrapped-material")).unwrap();
            // OpenSSL's KWP is RFC 5649 as aws-lc's is: same key, same material, same bytes.
            assert_eq!(wrapped_material, kwp(&aes_key, plaintext), "{name}");
            encrypted.extend_from_slice(&wrapped_material);
            assert_eq!(
                unwrap_import(private, algorithm, &encrypted)
                    .unwrap()
                    .as_slice(),
                plaintext,
                "{algorithm:?} {name}"
            );
        }
    }
    for (algorithm, hash) in [
        (WrappingAlgorithm::RsaesOaepSha1, "sha1"),
        (WrappingAlgorithm::RsaesOaepSha256, "sha256"),
    ] {
        dir.write("PlaintextKeyMaterial.bin", &symmetric);
        pkeyutl(hash, "PlaintextKeyMaterial.bin", "EncryptedKeyMaterial.bin");
        let encrypted = std::fs::read(dir.0.join("EncryptedKeyMaterial.bin")).unwrap();
        assert_eq!(
            unwrap_import(private, algorithm, &encrypted)
                .unwrap()
                .as_slice(),
            symmetric.as_slice(),
            "{algorithm:?}"
        );
    }
}
