//! Imported key material through the AWS SDK for Rust: the material is wrapped in the test
//! with aws-lc-rs, as a client would, and its expiry is driven by the test clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportState, ImportType, IncludeKeyMaterial,
    KeyMaterialState, KeyState, OriginType, WrappingKeySpec,
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

    let report = server.run_jobs_days_later(11).await;
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

/// Imports `material` into `key_id`, expiring at `valid_to` if given; returns its
/// KeyMaterialId.
async fn import_version(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    material: &[u8],
    import_type: Option<ImportType>,
    valid_to: Option<DateTime>,
) -> String {
    let params = kms
        .get_parameters_for_import()
        .key_id(key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let encrypted = wrap(params.public_key().unwrap().as_ref(), material);
    let mut request = kms
        .import_key_material()
        .key_id(key_id)
        .import_token(params.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(encrypted))
        .set_import_type(import_type);
    if let Some(when) = valid_to {
        request = request
            .valid_to(when)
            .expiration_model(ExpirationModelType::KeyMaterialExpires);
    }
    request
        .send()
        .await
        .unwrap()
        .key_material_id()
        .unwrap()
        .to_owned()
}

/// (KeyMaterialState, ImportState, ValidTo) of every material version, in version order.
async fn versions(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
) -> Vec<(String, KeyMaterialState, ImportState, Option<DateTime>)> {
    kms.list_key_rotations()
        .key_id(key_id)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap()
        .rotations()
        .iter()
        .map(|e| {
            (
                e.key_material_id().unwrap().to_owned(),
                e.key_material_state().unwrap().clone(),
                e.import_state().unwrap().clone(),
                e.valid_to().copied(),
            )
        })
        .collect()
}

async fn key_state(kms: &aws_sdk_kms::Client, key_id: &str) -> KeyState {
    kms.describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_state()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn each_material_version_expires_at_its_own_valid_to() {
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
    let now = server.clock.now();
    let days = |n: i64| DateTime::from_secs(now.as_epoch_seconds() as i64 + n * 86_400);
    let (m1, m2, m3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let first = import_version(kms, &key_id, &m1, None, Some(days(10))).await;
    let old = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("one"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let second = import_version(
        kms,
        &key_id,
        &m2,
        Some(ImportType::NewKeyMaterial),
        Some(days(20)),
    )
    .await;
    kms.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let third = import_version(
        kms,
        &key_id,
        &m3,
        Some(ImportType::NewKeyMaterial),
        Some(days(5)),
    )
    .await;
    // DescribeKey: the earliest expiry of the material permanently associated with the key.
    let meta = kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(meta.key_metadata().unwrap().valid_to(), Some(&days(10)));
    assert_eq!(
        versions(kms, &key_id).await,
        vec![
            (
                first.clone(),
                KeyMaterialState::NonCurrent,
                ImportState::Imported,
                Some(days(10))
            ),
            (
                second.clone(),
                KeyMaterialState::Current,
                ImportState::Imported,
                Some(days(20))
            ),
            (
                third.clone(),
                KeyMaterialState::PendingRotation,
                ImportState::Imported,
                Some(days(5))
            ),
        ]
    );

    let pass = |n: u32| {
        let server = &server;
        async move {
            let report = server.run_jobs_days_later(n).await;
            report.expired
        }
    };
    // Material pending rotation expires alone: the key stays usable.
    assert_eq!(pass(6).await, 1);
    assert_eq!(key_state(kms, &key_id).await, KeyState::Enabled);
    let listed = versions(kms, &key_id).await;
    assert_eq!(
        listed[2],
        (
            third.clone(),
            KeyMaterialState::PendingRotation,
            ImportState::PendingImport,
            None
        )
    );
    assert_eq!(listed[0].2, ImportState::Imported);
    assert!(kms
        .decrypt()
        .ciphertext_blob(old.clone())
        .send()
        .await
        .is_ok());
    // Nothing more is due until version 1's ValidTo.
    assert_eq!(pass(9).await, 0);

    // The non-current version 1 expires alone; without it the key waits for its import.
    server.clock.advance_days(11);
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    assert_eq!(report.expired, 1);
    server.clock.set(now);
    let listed = versions(kms, &key_id).await;
    assert_eq!(
        listed[0],
        (
            first.clone(),
            KeyMaterialState::NonCurrent,
            ImportState::PendingImport,
            None
        )
    );
    assert_eq!(
        listed[1],
        (
            second.clone(),
            KeyMaterialState::Current,
            ImportState::Imported,
            Some(days(20))
        )
    );
    assert_eq!(key_state(kms, &key_id).await, KeyState::PendingImport);
    let meta = kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(meta.key_metadata().unwrap().valid_to(), Some(&days(20)));

    // Version 1 back for good; version 2 still expires on its own date.
    import_version(kms, &key_id, &m1, None, None).await;
    assert_eq!(key_state(kms, &key_id).await, KeyState::Enabled);
    let plain = kms
        .decrypt()
        .ciphertext_blob(old.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"one");
    assert_eq!(pass(21).await, 1);
    let listed = versions(kms, &key_id).await;
    assert_eq!(listed[0].2, ImportState::Imported);
    assert_eq!(listed[1].2, ImportState::PendingImport);
    assert_eq!(key_state(kms, &key_id).await, KeyState::PendingImport);
    assert_eq!(pass(400).await, 0);
}
