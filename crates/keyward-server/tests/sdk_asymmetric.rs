//! Asymmetric and HMAC keys through the AWS SDK for Rust; signatures are checked outside
//! Keyward with aws-lc-rs and the public key GetPublicKey hands out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_ASN1, RSA_PSS_2048_8192_SHA384};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use common::start;

#[tokio::test]
async fn signatures_verify_outside_keyward() {
    let server = start().await;
    let kms = &server.client;
    for (spec, algorithm, checker) in [
        (
            KeySpec::EccNistP256,
            SigningAlgorithmSpec::EcdsaSha256,
            &ECDSA_P256_SHA256_ASN1 as &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
        ),
        (
            KeySpec::Rsa2048,
            SigningAlgorithmSpec::RsassaPssSha384,
            &RSA_PSS_2048_8192_SHA384,
        ),
    ] {
        let key = kms
            .create_key()
            .key_spec(spec.clone())
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .unwrap();
        let key_id = key.key_metadata().unwrap().key_id().to_owned();
        let public = kms.get_public_key().key_id(&key_id).send().await.unwrap();
        assert_eq!(public.key_spec(), Some(&spec));
        assert!(public.signing_algorithms().contains(&algorithm));
        let der = public.public_key().unwrap().as_ref().to_vec();
        let signed = kms
            .sign()
            .key_id(&key_id)
            .message(Blob::new("release 1.0"))
            .message_type(MessageType::Raw)
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        let signature = signed.signature().unwrap().as_ref();
        let parsed = ParsedPublicKey::new(checker, &der).unwrap();
        parsed.verify_sig(b"release 1.0", signature).unwrap();
        assert!(parsed.verify_sig(b"release 1.1", signature).is_err());
        let refused = kms
            .verify()
            .key_id(&key_id)
            .message(Blob::new("release 1.1"))
            .signature(Blob::new(signature))
            .signing_algorithm(algorithm)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            refused.as_service_error().and_then(|e| e.code()),
            Some("KMSInvalidSignatureException")
        );
    }
}

#[tokio::test]
async fn macs_verify_and_a_wrong_one_is_refused() {
    let server = start().await;
    let kms = &server.client;
    let key = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let mac = kms
        .generate_mac()
        .key_id(&key_id)
        .message(Blob::new("token"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac()
        .unwrap()
        .clone();
    assert_eq!(mac.as_ref().len(), 32);
    let ok = kms
        .verify_mac()
        .key_id(&key_id)
        .message(Blob::new("token"))
        .mac(mac.clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert!(ok.mac_valid());
    let refused = kms
        .verify_mac()
        .key_id(&key_id)
        .message(Blob::new("tokens"))
        .mac(mac)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_service_error().and_then(|e| e.code()),
        Some("KMSInvalidMacException")
    );
}
