//! Multi-Region keys and the background jobs: a scheduled rotation of the primary reaches
//! its replicas, and a replica deleted at the end of its window leaves every copy's
//! configuration.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use common::start;

#[tokio::test]
async fn jobs_rotate_replicas_with_their_primary_and_forget_deleted_replicas() {
    let server = start().await;
    let east = &server.client;
    let eu = server.kms_in("eu-west-1");
    let key_id = east
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    assert!(key_id.starts_with("mrk-"));
    east.replicate_key()
        .key_id(&key_id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    east.enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await
        .unwrap();
    let old = eu
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("old"))
        .send()
        .await
        .unwrap();

    let report = server.run_jobs_days_later(91).await;
    // Only the primary rotates on schedule; the replica gets the version from it.
    assert_eq!(report.rotated, 1);

    let new = eu
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("new"))
        .send()
        .await
        .unwrap();
    let mut material_ids = Vec::new();
    for (blob, plain) in [(&old, "old"), (&new, "new")] {
        let opened = east
            .decrypt()
            .ciphertext_blob(blob.ciphertext_blob().unwrap().clone())
            .send()
            .await
            .unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), plain.as_bytes());
        material_ids.push(opened.key_material_id().unwrap().to_owned());
    }
    assert_ne!(material_ids[0], material_ids[1]);
    let described = east.describe_key().key_id(&key_id).send().await.unwrap();
    let current = described.key_metadata().unwrap().current_key_material_id();
    assert_eq!(current, Some(material_ids[1].as_str()));

    eu.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let report = server.run_jobs_days_later(8).await;
    assert_eq!(report.deleted, 1);
    let described = east.describe_key().key_id(&key_id).send().await.unwrap();
    let config = described
        .key_metadata()
        .unwrap()
        .multi_region_configuration()
        .unwrap();
    assert!(config.replica_keys().is_empty());
    // With no replica left, the primary may be deleted.
    east.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
}
