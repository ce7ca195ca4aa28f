//! The behaviour every Store backend must have. Each check takes `&dyn Store`, so the
//! PostgreSQL backend runs the same suite.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use keyward_core::alias::AliasRecord;
use keyward_core::key::{KeyManager, KeyRecord, KeyState};
use keyward_core::secret::{SecretRecord, VersionInfo, AWSCURRENT, AWSPREVIOUS};
use keyward_core::store::{AccessKeyRow, MaterialRow, SecretValueRow};
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

fn secret(account: &str, region: &str, name: &str) -> SecretRecord {
    SecretRecord {
        id: Uuid::new_v4(),
        account: account.into(),
        region: region.into(),
        name: name.into(),
        arn: SecretRecord::arn_for(region, account, name, "AbCdEf"),
        description: Some("d".into()),
        kms_key_id: None,
        created: UnixMillis(1),
        last_changed: UnixMillis(1),
        last_accessed: None,
        deleted: None,
        deletion_date: None,
        tags: vec![("team".into(), "a".into())],
        resource_policy: None,
        versions: vec![version("v1", AWSCURRENT)],
        replicas: vec![],
        primary_region: None,
        revision: 0,
    }
}

fn version(id: &str, stage: &str) -> VersionInfo {
    VersionInfo {
        id: id.into(),
        created: UnixMillis(1),
        stages: vec![stage.into()],
        last_accessed: None,
        kms_key_arn: "arn:aws:kms:us-east-1:000000000000:key/k".into(),
    }
}

fn value(secret_id: Uuid, version_id: &str) -> SecretValueRow {
    SecretValueRow {
        secret_id,
        version_id: version_id.into(),
        encrypted_data_key: format!("dk-{version_id}").into_bytes(),
        ciphertext: format!("ct-{version_id}").into_bytes(),
        binary: version_id.ends_with('b'),
    }
}

fn secrets_round_trip_by_id_and_name(store: &dyn Store) {
    let mut s = secret("600000000000", "us-east-1", "app/db");
    s.versions.push(version("v0b", AWSPREVIOUS));
    let values = [value(s.id, "v1"), value(s.id, "v0b")];
    assert_eq!(store.create_secret(&s, &values).unwrap(), 1);
    s.revision = 1;
    assert_eq!(store.get_secret(&s.id).unwrap(), Some(s.clone()));
    assert_eq!(
        store
            .get_secret_by_name("600000000000", "us-east-1", "app/db")
            .unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.get_secret_value(&s.id, "v1").unwrap(),
        Some(values[0].clone())
    );
    let binary = store.get_secret_value(&s.id, "v0b").unwrap().unwrap();
    assert!(binary.binary);
    assert_eq!(binary, values[1]);
    assert!(store.get_secret_value(&s.id, "v9").unwrap().is_none());
    assert!(store.get_secret(&Uuid::new_v4()).unwrap().is_none());
    assert!(store
        .get_secret_by_name("600000000000", "eu-west-1", "app/db")
        .unwrap()
        .is_none());
    assert!(store
        .get_secret_by_name("600000000001", "us-east-1", "app/db")
        .unwrap()
        .is_none());
}

fn secret_names_are_unique_per_scope(store: &dyn Store) {
    let s = secret("610000000000", "us-east-1", "shared");
    store.create_secret(&s, &[value(s.id, "v1")]).unwrap();
    let twin = secret("610000000000", "us-east-1", "shared");
    assert_eq!(
        store.create_secret(&twin, &[value(twin.id, "v1")]),
        Err(StoreError::AlreadyExists(
            "The operation failed because the secret shared already exists.".into()
        ))
    );
    // The refused secret left nothing behind.
    assert!(store.get_secret(&twin.id).unwrap().is_none());
    assert!(store.get_secret_value(&twin.id, "v1").unwrap().is_none());
    assert_eq!(
        store
            .get_secret_by_name("610000000000", "us-east-1", "shared")
            .unwrap()
            .unwrap()
            .id,
        s.id
    );

    let elsewhere = secret("610000000000", "eu-west-1", "shared");
    store
        .create_secret(&elsewhere, &[value(elsewhere.id, "v1")])
        .unwrap();
    let other_account = secret("610000000001", "us-east-1", "shared");
    store
        .create_secret(&other_account, &[value(other_account.id, "v1")])
        .unwrap();
    assert_eq!(
        store
            .get_secret_by_name("610000000000", "eu-west-1", "shared")
            .unwrap()
            .unwrap()
            .id,
        elsewhere.id
    );
}

fn secret_updates_are_optimistic_and_whole(store: &dyn Store) {
    let s = secret("620000000000", "us-east-1", "rotating");
    store.create_secret(&s, &[value(s.id, "v1")]).unwrap();
    let read = store.get_secret(&s.id).unwrap().unwrap();

    // Add v2 and drop v1 in one update.
    let mut next = read.clone();
    next.versions = vec![version("v2", AWSCURRENT)];
    next.description = Some("second".into());
    assert_eq!(
        store
            .update_secret(&next, &[value(s.id, "v2")], &["v1".into()])
            .unwrap(),
        2
    );
    assert!(store.get_secret_value(&s.id, "v1").unwrap().is_none());
    assert_eq!(
        store.get_secret_value(&s.id, "v2").unwrap(),
        Some(value(s.id, "v2"))
    );
    let after = store.get_secret(&s.id).unwrap().unwrap();
    assert_eq!(after.revision, 2);
    assert_eq!(after.description.as_deref(), Some("second"));

    // A writer still holding revision 1 loses, and changes nothing.
    let mut stale = read;
    stale.description = Some("stale".into());
    assert_eq!(
        store.update_secret(&stale, &[value(s.id, "v3")], &["v2".into()]),
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_secret(&s.id).unwrap(), Some(after.clone()));
    assert!(store.get_secret_value(&s.id, "v3").unwrap().is_none());
    assert!(store.get_secret_value(&s.id, "v2").unwrap().is_some());

    // A version id that already has a value conflicts, and the whole update is undone.
    let mut dup = after.clone();
    dup.description = Some("dup".into());
    let mut taken = value(s.id, "v2");
    taken.ciphertext = b"other".to_vec();
    assert_eq!(
        store.update_secret(&dup, &[value(s.id, "v4"), taken], &[]),
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_secret(&s.id).unwrap(), Some(after.clone()));
    assert!(store.get_secret_value(&s.id, "v4").unwrap().is_none());
    assert_eq!(
        store.get_secret_value(&s.id, "v2").unwrap(),
        Some(value(s.id, "v2"))
    );

    // An update of a secret that does not exist is a conflict too.
    let mut gone = after;
    gone.id = Uuid::new_v4();
    gone.name = "never-created".into();
    assert_eq!(
        store.update_secret(&gone, &[], &[]),
        Err(StoreError::Conflict)
    );
}

fn deleting_a_secret_removes_its_values(store: &dyn Store) {
    let s = secret("630000000000", "us-east-1", "doomed");
    store
        .create_secret(&s, &[value(s.id, "v1"), value(s.id, "v2")])
        .unwrap();
    store.delete_secret(&s.id).unwrap();
    assert!(store.get_secret(&s.id).unwrap().is_none());
    assert!(store.get_secret_value(&s.id, "v1").unwrap().is_none());
    assert!(store.get_secret_value(&s.id, "v2").unwrap().is_none());
    // The name is free again, and no old value shows through under the same version id.
    let again = secret("630000000000", "us-east-1", "doomed");
    store.create_secret(&again, &[]).unwrap();
    assert!(store.get_secret_value(&again.id, "v1").unwrap().is_none());
}

fn secrets_are_due_at_their_deletion_date(store: &dyn Store) {
    let kept = secret("640000000000", "us-east-1", "kept");
    store.create_secret(&kept, &[]).unwrap();
    let mut s = secret("640000000000", "us-east-1", "scheduled");
    s.deleted = Some(UnixMillis(500));
    s.deletion_date = Some(UnixMillis(1_000));
    store.create_secret(&s, &[]).unwrap();
    assert!(!store.secrets_due(UnixMillis(999)).unwrap().contains(&s.id));
    let due = store.secrets_due(UnixMillis(1_000)).unwrap();
    assert!(due.contains(&s.id));
    assert!(!due.contains(&kept.id));
    assert!(!store
        .secrets_due(UnixMillis(i64::MAX))
        .unwrap()
        .contains(&kept.id));

    // Restoring clears the schedule; scheduling an existing secret sets it.
    let mut restored = store.get_secret(&s.id).unwrap().unwrap();
    restored.deleted = None;
    restored.deletion_date = None;
    store.update_secret(&restored, &[], &[]).unwrap();
    assert!(!store
        .secrets_due(UnixMillis(i64::MAX))
        .unwrap()
        .contains(&s.id));
    let mut scheduled = store.get_secret(&kept.id).unwrap().unwrap();
    scheduled.deleted = Some(UnixMillis(10));
    scheduled.deletion_date = Some(UnixMillis(2_000));
    store.update_secret(&scheduled, &[], &[]).unwrap();
    assert!(!store
        .secrets_due(UnixMillis(1_999))
        .unwrap()
        .contains(&kept.id));
    assert!(store
        .secrets_due(UnixMillis(2_000))
        .unwrap()
        .contains(&kept.id));
}

fn secret_listing_is_by_name_within_scope(store: &dyn Store) {
    for name in ["m", "b/x", "z", "a", "B"] {
        store
            .create_secret(&secret("650000000000", "us-east-1", name), &[])
            .unwrap();
    }
    store
        .create_secret(&secret("650000000000", "eu-west-1", "c"), &[])
        .unwrap();
    store
        .create_secret(&secret("650000000001", "us-east-1", "d"), &[])
        .unwrap();
    let listed = store.list_secrets("650000000000", "us-east-1").unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["B", "a", "b/x", "m", "z"]);
    assert!(listed.iter().all(|s| s.revision == 1));
    let names: Vec<String> = store
        .list_secrets("650000000000", "eu-west-1")
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["c"]);
    assert!(store
        .list_secrets("650000000002", "us-east-1")
        .unwrap()
        .is_empty());
}

fn suite(store: &dyn Store) {
    keys_round_trip_with_optimistic_revisions(store);
    listing_pages_by_scope(store);
    due_keys_and_deletion(store);
    aliases_are_unique_per_scope(store);
    meta_and_access_keys(store);
    secrets_round_trip_by_id_and_name(store);
    secret_names_are_unique_per_scope(store);
    secret_updates_are_optimistic_and_whole(store);
    deleting_a_secret_removes_its_values(store);
    secrets_are_due_at_their_deletion_date(store);
    secret_listing_is_by_name_within_scope(store);
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
    let mut s = secret("555555555555", "us-east-1", "kept");
    store.create_secret(&s, &[value(s.id, "v1")]).unwrap();
    s.revision = 1;
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    assert!(reopened.get_key(&k.id).unwrap().is_some());
    assert_eq!(reopened.get_secret(&s.id).unwrap(), Some(s.clone()));
    assert_eq!(
        reopened.get_secret_value(&s.id, "v1").unwrap(),
        Some(value(s.id, "v1"))
    );
}
