//! A multi-Region primary key scheduled for deletion while it has replicas waits in
//! `PendingReplicaDeletion`; the deletion job that deletes its last replica starts its
//! window, and deletes it at the end of that window.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kms::types::KeyState;
use common::start;
use keyward_core::Clock;

async fn state_of(kms: &aws_sdk_kms::Client, key_id: &str) -> Option<KeyState> {
    let out = kms.describe_key().key_id(key_id).send().await.ok()?;
    out.key_metadata().unwrap().key_state().cloned()
}

#[tokio::test]
async fn the_last_replica_deleted_starts_the_primary_window() {
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
    east.replicate_key()
        .key_id(&key_id)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    let scheduled = east
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(10)
        .send()
        .await
        .unwrap();
    assert_eq!(
        scheduled.key_state(),
        Some(&KeyState::PendingReplicaDeletion)
    );
    assert_eq!(scheduled.pending_window_in_days(), Some(10));
    assert!(scheduled.deletion_date().is_none());
    eu.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();

    // Indefinitely: long after its own window would have ended, nothing happens to it.
    let real_now = server.clock.now();
    server.clock.advance_days(6);
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    assert_eq!(report.deleted, 0);
    server.clock.advance_days(2);
    let replica_deleted_at = server.clock.now();
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    assert_eq!(report.deleted, 1);
    server.clock.set(real_now);

    assert_eq!(state_of(&eu, &key_id).await, None);
    let described = east.describe_key().key_id(&key_id).send().await.unwrap();
    let meta = described.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(meta.pending_deletion_window_in_days(), Some(10));
    let expected = replica_deleted_at.plus_days(10).as_epoch_seconds();
    let deletion = meta.deletion_date().unwrap().as_secs_f64();
    assert!(
        (deletion - expected).abs() < 1.0,
        "{deletion} vs {expected}"
    );
    assert!(meta
        .multi_region_configuration()
        .unwrap()
        .replica_keys()
        .is_empty());

    // The window runs from the replica's deletion, not from the scheduling.
    server.clock.set(replica_deleted_at.plus_days(9));
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    assert_eq!(report.deleted, 0);
    server.clock.set(replica_deleted_at.plus_days(11));
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    assert_eq!(report.deleted, 1);
    server.back_to_real_time();
    assert_eq!(state_of(east, &key_id).await, None);
}
