//! The audit trail in-process: durable before the response, one chain under concurrent
//! writers, and retention that keeps the chain verifiable.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use keyward_core::audit::{verify, ChainedEvent, Checkpoint};
use keyward_core::Store;
use keyward_store::SqliteStore;

fn all_events(store: &SqliteStore) -> (Checkpoint, Vec<ChainedEvent>) {
    let checkpoint = store.audit_checkpoint().unwrap();
    let mut events = Vec::new();
    let mut after = checkpoint.seq;
    loop {
        let page = store.audit_range(after, 500).unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        events.extend(page);
    }
    (checkpoint, events)
}

#[tokio::test]
async fn every_acknowledged_request_is_in_one_verifiable_chain() {
    let server = common::start().await;
    let kms = server.client.clone();
    let key = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (kms, key) = (kms.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            kms.encrypt()
                .key_id(key)
                .plaintext(Blob::new(format!("value-{i}")))
                .send()
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Every response above was sent after its event was committed: read them back now.
    let store = SqliteStore::open(&server.data_dir.join("keyward.db")).unwrap();
    let (checkpoint, events) = all_events(&store);
    let encrypts = events
        .iter()
        .filter(|e| e.event.event_name == "Encrypt")
        .count();
    assert_eq!(encrypts, 40);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event.event_name == "CreateKey")
            .count(),
        1
    );
    verify(checkpoint, &events, keyward_crypto::sha256).unwrap();
    for event in &events {
        assert!(
            !event.event.record.contains("value-"),
            "a plaintext reached the audit trail"
        );
    }
}

#[tokio::test]
async fn retention_prunes_a_prefix_and_the_rest_still_verifies() {
    let server = common::start_with(|config| config.audit_retention_days = Some(1)).await;
    let kms = server.client.clone();
    for _ in 0..5 {
        kms.create_key().send().await.unwrap();
    }
    server.clock.advance_days(2);
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    server.back_to_real_time();
    assert_eq!(report.audit_pruned, 5);
    kms.list_keys().send().await.unwrap();

    let store = SqliteStore::open(&server.data_dir.join("keyward.db")).unwrap();
    let (checkpoint, events) = all_events(&store);
    assert_eq!(checkpoint.seq, 5);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.event_name, "ListKeys");
    verify(checkpoint, &events, keyward_crypto::sha256).unwrap();
}
