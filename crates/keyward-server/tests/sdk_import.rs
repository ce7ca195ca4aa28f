//! Imported key material through the AWS SDK for Rust: the material is wrapped in the test
//! with aws-lc-rs, as a client would, and its expiry is driven by the test clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, KeyState, OriginType, WrappingKeySpec,
};
use common::start;
use keyward_core::Clock;

fn wrap(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    let key =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).unwrap()).unwrap();
    let mut out = vec![0u8; key.ciphertext_size()];
    let n = key
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .unwrap()
        .len();
    out.truncate(n);
    out
}

#[tokio::test]
async fn imported_material_works_until_it_expires_and_comes_back_on_reimport() {
    let server = start().await;
    let kms = &server.client;
    let key_id = kms
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let material = [7u8; 32];
    let key_ref = key_id.as_str();
    let import = |valid_to: Option<DateTime>| async move {
        let key_id = key_ref;
        let params = kms
            .get_parameters_for_import()
            .key_id(key_id)
            .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await
            .unwrap();
        let encrypted = wrap(params.public_key().unwrap().as_ref(), &material);
        let mut request = kms
            .import_key_material()
            .key_id(key_id)
            .import_token(params.import_token().unwrap().clone())
            .encrypted_key_material(Blob::new(encrypted));
        request = match valid_to {
            Some(when) => request
                .valid_to(when)
                .expiration_model(ExpirationModelType::KeyMaterialExpires),
            None => request.expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire),
        };
        request.send().await.unwrap();
    };
    let now = server.clock.now();
    let ten_days = DateTime::from_secs(now.as_epoch_seconds() as i64 + 10 * 86_400);
    import(Some(ten_days)).await;
    let described = kms.describe_key().key_id(&key_id).send().await.unwrap();
    let meta = described.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(meta.valid_to(), Some(&ten_days));
    let blob = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("imported"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();

    server.clock.advance_days(11);
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    server.clock.set(now);
    assert_eq!(report.expired, 1);
    let meta = kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        meta.key_metadata().unwrap().key_state(),
        Some(&KeyState::PendingImport)
    );
    assert!(kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .is_err());

    import(None).await;
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"imported");
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    assert_eq!(report.expired, 0);
}
