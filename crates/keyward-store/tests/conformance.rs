//! The behaviour every Store backend must have. Each check takes `&dyn Store`, so the
//! PostgreSQL backend runs the same suite.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use keyward_core::alias::AliasRecord;
use keyward_core::key::{KeyManager, KeyRecord, KeyState};
use keyward_core::store::{AccessKeyRow, MaterialRow};
use keyward_core::{Store, StoreError, UnixMillis};
use keyward_store::SqliteStore;
use uuid::Uuid;

fn key(account: &str) -> KeyRecord {
    KeyRecord {
        id: Uuid::new_v4(),
        account: account.into(),
        region: "us-east-1".into(),
        description: "d".into(),
        created: UnixMillis(1),
        state: KeyState::Enabled,
        deletion_date: None,
        pending_window_days: None,
        key_usage: "ENCRYPT_DECRYPT".into(),
        key_spec: "SYMMETRIC_DEFAULT".into(),
        origin: "AWS_KMS".into(),
        manager: KeyManager::Customer,
        policy: "{}".into(),
        tags: BTreeMap::new(),
        auto_rotation: None,
        rotations: vec![],
        current_material: 1,
        revision: 0,
    }
}

fn material(id: Uuid, version: u32) -> MaterialRow {
    MaterialRow {
        key_id: id,
        version,
        wrapped: vec![version as u8; 8],
        created: UnixMillis(1),
    }
}

fn keys_round_trip_with_optimistic_revisions(store: &dyn Store) {
    let mut k = key("000000000000");
    assert_eq!(store.create_key(&k, &material(k.id, 1)).unwrap(), 1);
    let mut stored = store.get_key(&k.id).unwrap().unwrap();
    assert_eq!(stored.revision, 1);
    k.revision = 1;
    assert_eq!(stored, k);

    stored.description = "changed".into();
    assert_eq!(
        store.update_key(&stored, Some(&material(k.id, 2))).unwrap(),
        2
    );
    // A writer holding the old revision loses.
    assert_eq!(
        store.update_key(&k, None).unwrap_err(),
        StoreError::Conflict
    );
    assert_eq!(
        store.get_key(&k.id).unwrap().unwrap().description,
        "changed"
    );
    let versions: Vec<u32> = store
        .materials(&k.id)
        .unwrap()
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, vec![1, 2]);
    assert!(store.get_key(&Uuid::new_v4()).unwrap().is_none());
}

fn listing_pages_by_scope(store: &dyn Store) {
    let mut ids: Vec<Uuid> = (0..5)
        .map(|_| {
            let k = key("111111111111");
            store.create_key(&k, &material(k.id, 1)).unwrap();
            k.id
        })
        .collect();
    ids.sort();
    let other = key("222222222222");
    store.create_key(&other, &material(other.id, 1)).unwrap();
    let first = store
        .list_keys("111111111111", "us-east-1", None, 2)
        .unwrap();
    assert_eq!(first.iter().map(|k| k.id).collect::<Vec<_>>(), ids[..2]);
    let rest = store
        .list_keys("111111111111", "us-east-1", Some(&ids[1]), 10)
        .unwrap();
    assert_eq!(rest.iter().map(|k| k.id).collect::<Vec<_>>(), ids[2..]);
    assert!(store
        .list_keys("111111111111", "eu-west-1", None, 10)
        .unwrap()
        .is_empty());
}

fn due_keys_and_deletion(store: &dyn Store) {
    let mut k = key("333333333333");
    k.state = KeyState::PendingDeletion;
    k.deletion_date = Some(UnixMillis(1_000));
    store.create_key(&k, &material(k.id, 1)).unwrap();
    let alias = AliasRecord {
        account: k.account.clone(),
        region: k.region.clone(),
        name: "alias/doomed".into(),
        target: k.id,
        created: UnixMillis(1),
        updated: UnixMillis(1),
    };
    store.create_alias(&alias).unwrap();
    assert!(!store.keys_due(UnixMillis(999)).unwrap().contains(&k.id));
    assert!(store.keys_due(UnixMillis(1_000)).unwrap().contains(&k.id));
    store.delete_key(&k.id).unwrap();
    assert!(store.get_key(&k.id).unwrap().is_none());
    assert!(store.materials(&k.id).unwrap().is_empty());
    assert!(!store
        .all_aliases()
        .unwrap()
        .iter()
        .any(|a| a.name == "alias/doomed"));
}

fn aliases_are_unique_per_scope(store: &dyn Store) {
    let k = key("444444444444");
    store.create_key(&k, &material(k.id, 1)).unwrap();
    let mut alias = AliasRecord {
        account: k.account.clone(),
        region: k.region.clone(),
        name: "alias/app".into(),
        target: k.id,
        created: UnixMillis(1),
        updated: UnixMillis(1),
    };
    store.create_alias(&alias).unwrap();
    assert!(matches!(
        store.create_alias(&alias),
        Err(StoreError::AlreadyExists(_))
    ));
    let dangling = AliasRecord {
        name: "alias/dangling".into(),
        target: Uuid::new_v4(),
        ..alias.clone()
    };
    assert!(matches!(
        store.create_alias(&dangling),
        Err(StoreError::NotFound(_))
    ));
    alias.updated = UnixMillis(2);
    store.update_alias(&alias).unwrap();
    assert!(matches!(
        store.update_alias(&AliasRecord {
            name: "alias/none".into(),
            ..alias.clone()
        }),
        Err(StoreError::NotFound(_))
    ));
    store
        .delete_alias(&k.account, &k.region, "alias/app")
        .unwrap();
    assert!(matches!(
        store.delete_alias(&k.account, &k.region, "alias/app"),
        Err(StoreError::NotFound(_))
    ));
}

fn meta_and_access_keys(store: &dyn Store) {
    assert_eq!(store.get_meta("x").unwrap(), None);
    assert_eq!(store.put_meta_if_absent("x", b"first").unwrap(), b"first");
    assert_eq!(store.put_meta_if_absent("x", b"second").unwrap(), b"first");
    let row = AccessKeyRow {
        access_key_id: "AKIAEXAMPLE".into(),
        wrapped_secret: vec![1, 2, 3],
        account: "000000000000".into(),
        principal_arn: "arn:aws:iam::000000000000:root".into(),
        created: UnixMillis(5),
        active: true,
    };
    store.create_access_key(&row).unwrap();
    assert!(matches!(
        store.create_access_key(&row),
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.get_access_key("AKIAEXAMPLE").unwrap(), Some(row));
    assert_eq!(store.get_access_key("AKIAOTHER").unwrap(), None);
}

fn suite(store: &dyn Store) {
    keys_round_trip_with_optimistic_revisions(store);
    listing_pages_by_scope(store);
    due_keys_and_deletion(store);
    aliases_are_unique_per_scope(store);
    meta_and_access_keys(store);
}

#[test]
fn sqlite_in_memory_passes_the_suite() {
    suite(&SqliteStore::in_memory().unwrap());
}

#[test]
fn sqlite_file_passes_the_suite_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).unwrap();
    suite(&store);
    let k = key("555555555555");
    store.create_key(&k, &material(k.id, 1)).unwrap();
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    assert!(reopened.get_key(&k.id).unwrap().is_some());
}
