//! Integration tests: the server in-process, driven by the AWS SDK for Rust.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyState;
use common::start;
use keyward_core::Clock;

fn code<E: ProvideErrorMetadata>(err: &aws_sdk_kms::error::SdkError<E>) -> String {
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("not a service error")
        .to_owned()
}

#[tokio::test]
async fn create_encrypt_decrypt_with_context_and_alias() {
    let server = start().await;
    let kms = &server.client;
    let key = kms
        .create_key()
        .description("Encryption key for the TranscriptionApp.")
        .send()
        .await
        .unwrap();
    let meta = key.key_metadata().unwrap();
    let key_id = meta.key_id().to_owned();
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        meta.arn().unwrap(),
        format!("arn:aws:kms:us-east-1:000000000000:key/{key_id}")
    );

    kms.create_alias()
        .alias_name("alias/UserName")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let encrypted = kms
        .encrypt()
        .key_id("alias/UserName")
        .plaintext(Blob::new("student"))
        .encryption_context("LambdaFunctionName", "loadtest")
        .send()
        .await
        .unwrap();
    let blob = encrypted.ciphertext_blob().unwrap().clone();

    let decrypted = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("LambdaFunctionName", "loadtest")
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext().unwrap().as_ref(), b"student");
    assert_eq!(decrypted.key_id().unwrap(), meta.arn().unwrap());

    let wrong_context = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_context), "InvalidCiphertextException");

    let other = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let wrong_key = kms
        .decrypt()
        .key_id(&other)
        .ciphertext_blob(blob)
        .encryption_context("LambdaFunctionName", "loadtest")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_key), "IncorrectKeyException");
}

#[tokio::test]
async fn rotation_keeps_old_ciphertexts_and_scheduler_rotates_when_due() {
    let server = start().await;
    let kms = &server.client;
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let before = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("old"))
        .send()
        .await
        .unwrap();
    kms.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    kms.enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();

    let report = server.run_jobs_days_later(91).await;
    assert_eq!(report.rotated, 1);

    let rotations = kms
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    let kinds: Vec<String> = rotations
        .rotations()
        .iter()
        .map(|r| r.rotation_type().unwrap().as_str().to_owned())
        .collect();
    assert_eq!(kinds, ["ON_DEMAND", "AUTOMATIC"]);

    let old = kms
        .decrypt()
        .ciphertext_blob(before.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(old.plaintext().unwrap().as_ref(), b"old");
    let after = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("new"))
        .send()
        .await
        .unwrap();
    let new = kms
        .decrypt()
        .ciphertext_blob(after.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(new.plaintext().unwrap().as_ref(), b"new");
    assert_ne!(old.key_material_id(), new.key_material_id());
}

#[tokio::test]
async fn deletion_window_ends_with_the_key_and_its_aliases_gone() {
    let server = start().await;
    let kms = &server.client;
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    kms.create_alias()
        .alias_name("alias/doomed")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let scheduled = kms
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    let err = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "KMSInvalidStateException");

    let real_now = server.clock.now();
    server.clock.advance_days(6);
    assert_eq!(
        keyward_server::jobs::run_once(&server.state)
            .await
            .unwrap()
            .deleted,
        0
    );
    server.clock.advance_days(2);
    assert_eq!(
        keyward_server::jobs::run_once(&server.state)
            .await
            .unwrap()
            .deleted,
        1
    );
    server.clock.set(real_now);

    let err = kms.describe_key().key_id(&key_id).send().await.unwrap_err();
    assert_eq!(code(&err), "NotFoundException");
    let aliases = kms.list_aliases().send().await.unwrap();
    assert!(aliases
        .aliases()
        .iter()
        .all(|a| a.alias_name() != Some("alias/doomed")));
}

#[tokio::test]
async fn disabled_keys_refuse_crypto_until_enabled() {
    let server = start().await;
    let kms = &server.client;
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    kms.disable_key().key_id(&key_id).send().await.unwrap();
    let err = kms
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DisabledException");
    kms.enable_key().key_id(&key_id).send().await.unwrap();
    let data_key = kms
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(data_key.plaintext().unwrap().as_ref().len(), 32);
    let opened = kms
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext(), data_key.plaintext());
}

#[tokio::test]
async fn list_keys_pages_with_markers() {
    let server = start().await;
    let kms = &server.client;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(
            kms.create_key()
                .send()
                .await
                .unwrap()
                .key_metadata()
                .unwrap()
                .key_id()
                .to_owned(),
        );
    }
    created.sort();
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_keys()
            .limit(2)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        seen.extend(page.keys().iter().map(|k| k.key_id().unwrap().to_owned()));
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_owned);
    }
    assert_eq!(seen, created);
}
