//! The behaviour every Store backend must have. Each check takes `&dyn Store`, so the
//! PostgreSQL backend runs the same suite.
#![allow(clippy::unwrap_used)]

mod support;
use support::fresh_postgres_database;

use std::collections::BTreeMap;

use keyward_core::alias::AliasRecord;
use keyward_core::audit::{self, AuditEvent, ChainedEvent, Checkpoint};
use keyward_core::function::{FunctionRecord, SealedEnvironment};
use keyward_core::grant::{new_grant_id, GrantConstraints, GrantRecord};
use keyward_core::iam::{
    new_principal_id, RoleRecord, Tag, UserRecord, DEFAULT_PATH, ROLE_ID_PREFIX, USER_ID_PREFIX,
};
use keyward_core::key::{KeyManager, KeyRecord, KeyState};
use keyward_core::secret::{SecretRecord, VersionInfo, AWSCURRENT, AWSPREVIOUS};
use keyward_core::store::{
    AccessKeyRow, AuditAttribute, AuditQuery, MaterialRow, SecretCursor, SecretOrder,
    SecretValueRow,
};
use keyward_core::{AccountId, Region, Store, StoreError, UnixMillis};
use keyward_crypto::sha256;
use keyward_store::{PostgresStore, SqliteStore};
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
        policy_principals: Default::default(),
        tags: BTreeMap::new(),
        auto_rotation: None,
        rotations: vec![],
        current_material: 1,
        valid_to: None,
        material_valid_to: BTreeMap::new(),
        material_fingerprint: None,
        material_fingerprints: Default::default(),
        pending_material: None,
        multi_region: None,
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
    assert_eq!(store.create_key(&k, Some(&material(k.id, 1))).unwrap(), 1);
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
            store.create_key(&k, Some(&material(k.id, 1))).unwrap();
            k.id
        })
        .collect();
    ids.sort();
    let other = key("222222222222");
    store
        .create_key(&other, Some(&material(other.id, 1)))
        .unwrap();
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

fn imported_material_comes_and_goes(store: &dyn Store) {
    let versions = |id: &Uuid| -> Vec<u32> {
        store
            .materials(id)
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect()
    };
    let mut k = key("444444444444");
    k.origin = "EXTERNAL".into();
    k.state = KeyState::PendingImport;
    assert_eq!(store.create_key(&k, None).unwrap(), 1);
    assert!(store.materials(&k.id).unwrap().is_empty());
    let mut stored = store.get_key(&k.id).unwrap().unwrap();
    stored.state = KeyState::Enabled;
    stored.set_valid_to(1, Some(UnixMillis(5_000)));
    stored.revision = store.update_key(&stored, Some(&material(k.id, 1))).unwrap();
    assert_eq!(versions(&k.id), vec![1]);
    // Expiry is due like a rotation.
    assert!(store.keys_due(UnixMillis(5_000)).unwrap().contains(&k.id));
    // A second and a third version, each expiring on its own date.
    stored.current_material = 2;
    stored.set_valid_to(2, Some(UnixMillis(7_000)));
    stored.revision = store.update_key(&stored, Some(&material(k.id, 2))).unwrap();
    stored.pending_material = Some(3);
    stored.revision = store.update_key(&stored, Some(&material(k.id, 3))).unwrap();
    assert_eq!(versions(&k.id), vec![1, 2, 3]);
    let read = store.get_key(&k.id).unwrap().unwrap();
    assert_eq!(read.valid_to_of(1), Some(UnixMillis(5_000)));
    assert_eq!(read.valid_to_of(2), Some(UnixMillis(7_000)));
    assert_eq!(read.valid_to_of(3), None);
    // A stale writer cannot delete material.
    assert_eq!(
        store.delete_key_material(&k, &[1]).unwrap_err(),
        StoreError::Conflict
    );
    assert_eq!(versions(&k.id), vec![1, 2, 3]);
    // Deleting one version leaves the others; its expiry goes with it, the next is due.
    stored.state = KeyState::PendingImport;
    stored.set_valid_to(1, None);
    stored.revision = store.delete_key_material(&stored, &[1]).unwrap();
    assert_eq!(stored.revision, 5);
    assert_eq!(versions(&k.id), vec![2, 3]);
    let after = store.get_key(&k.id).unwrap().unwrap();
    assert_eq!(after.state, KeyState::PendingImport);
    assert_eq!(after.valid_to_of(1), None);
    assert!(!store.keys_due(UnixMillis(6_999)).unwrap().contains(&k.id));
    assert!(store.keys_due(UnixMillis(7_000)).unwrap().contains(&k.id));
    // Deleting a version the store lacks, with another, removes the other only.
    stored.set_valid_to(2, None);
    stored.revision = store.delete_key_material(&stored, &[1, 3]).unwrap();
    assert_eq!(versions(&k.id), vec![2]);
    assert!(!store.keys_due(UnixMillis(10_000)).unwrap().contains(&k.id));
    // Reimport stores version 1 again, beside version 2.
    stored.revision = store.update_key(&stored, Some(&material(k.id, 1))).unwrap();
    assert_eq!(versions(&k.id), vec![1, 2]);
    // A record stored before expiry was kept per version: its single `valid_to` is the
    // current version's.
    let mut legacy = stored.clone();
    legacy.material_valid_to.clear();
    legacy.valid_to = Some(UnixMillis(9_000));
    legacy.revision = store.update_key(&legacy, None).unwrap();
    let read = store.get_key(&k.id).unwrap().unwrap();
    assert_eq!(read.valid_to_of(2), Some(UnixMillis(9_000)));
    assert_eq!(read.valid_to_of(1), None);
    assert_eq!(read.expired_materials(UnixMillis(9_000)), vec![2]);
    assert!(store.keys_due(UnixMillis(9_000)).unwrap().contains(&k.id));
    legacy.state = KeyState::PendingDeletion;
    legacy.valid_to = None;
    store.delete_key_material(&legacy, &[1, 2]).unwrap();
    assert!(store.materials(&k.id).unwrap().is_empty());
}

fn due_keys_and_deletion(store: &dyn Store) {
    let mut k = key("333333333333");
    k.state = KeyState::PendingDeletion;
    k.deletion_date = Some(UnixMillis(1_000));
    store.create_key(&k, Some(&material(k.id, 1))).unwrap();
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
    store.create_key(&k, Some(&material(k.id, 1))).unwrap();
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
    assert_eq!(
        store.get_alias(&k.account, &k.region, "alias/app").unwrap(),
        Some(alias.clone())
    );
    assert_eq!(
        store.get_alias(&k.account, &k.region, "alias/APP").unwrap(),
        None,
        "alias names are compared exactly"
    );
    assert_eq!(
        store
            .get_alias(&k.account, "eu-west-1", "alias/app")
            .unwrap(),
        None
    );
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
    assert_eq!(
        store
            .get_alias(&k.account, &k.region, "alias/app")
            .unwrap()
            .map(|a| a.updated),
        Some(UnixMillis(2))
    );
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
    assert_eq!(
        store.get_alias(&k.account, &k.region, "alias/app").unwrap(),
        None
    );
}

fn meta_and_access_keys(store: &dyn Store) {
    assert_eq!(store.get_meta("x").unwrap(), None);
    assert_eq!(store.put_meta_if_absent("x", b"first").unwrap(), b"first");
    assert_eq!(store.put_meta_if_absent("x", b"second").unwrap(), b"first");
    // Compare-and-swap: a stale expectation changes nothing; the current one replaces,
    // and only once; None removes.
    assert!(!store
        .replace_meta_if_equals("x", b"stale", Some(b"third"))
        .unwrap());
    assert!(store
        .replace_meta_if_equals("x", b"first", Some(b"third"))
        .unwrap());
    assert!(!store
        .replace_meta_if_equals("x", b"first", Some(b"fourth"))
        .unwrap());
    assert_eq!(store.get_meta("x").unwrap().unwrap(), b"third");
    assert!(!store
        .replace_meta_if_equals("absent", b"", Some(b"v"))
        .unwrap());
    assert_eq!(store.get_meta("absent").unwrap(), None);
    assert!(!store.replace_meta_if_equals("x", b"first", None).unwrap());
    assert!(store.replace_meta_if_equals("x", b"third", None).unwrap());
    assert_eq!(store.get_meta("x").unwrap(), None);
    assert_eq!(store.put_meta_if_absent("x", b"first").unwrap(), b"first");
    let row = AccessKeyRow {
        access_key_id: "AKIAEXAMPLE".into(),
        wrapped_secret: vec![1, 2, 3],
        account: "000000000000".into(),
        principal_arn: "arn:aws:iam::000000000000:root".into(),
        created: UnixMillis(5),
        active: true,
        user_name: None,
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
        policy_principals: Default::default(),
        versions: vec![version("v1", AWSCURRENT)],
        replicas: vec![],
        primary_region: None,
        rotation: None,
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
        earlier_kms_keys: Vec::new(),
        empty: false,
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

fn secret_pages_follow_their_order_and_cursor(store: &dyn Store) {
    let (account, region) = ("650000000009", "us-east-1");
    // Two secrets share a creation time: the id breaks the tie.
    for (name, created) in [("c", 30), ("a", 10), ("d", 20), ("b", 20), ("e", 40)] {
        let mut s = secret(account, region, name);
        s.created = UnixMillis(created);
        store.create_secret(&s, &[]).unwrap();
    }
    store
        .create_secret(&secret("650000000009", "eu-west-1", "x"), &[])
        .unwrap();
    let all = |order: SecretOrder, chunk: usize| -> Vec<String> {
        let mut names = Vec::new();
        let mut after: Option<SecretCursor> = None;
        loop {
            let page = store
                .list_secrets_page(account, region, order, after.as_ref(), chunk)
                .unwrap();
            names.extend(page.iter().map(|s| s.name.clone()));
            match page.last() {
                Some(last) if page.len() == chunk => after = Some(SecretCursor::of(last, order)),
                _ => return names,
            }
        }
    };
    let mut tied: Vec<(Uuid, &str)> = ["b", "d"]
        .iter()
        .map(|n| {
            (
                store
                    .get_secret_by_name(account, region, n)
                    .unwrap()
                    .unwrap()
                    .id,
                *n,
            )
        })
        .collect();
    tied.sort();
    let (first, second) = (tied[0].1, tied[1].1);
    for chunk in [1, 2, 100] {
        assert_eq!(
            all(SecretOrder::Created { descending: false }, chunk),
            ["a", first, second, "c", "e"]
        );
        assert_eq!(
            all(SecretOrder::Created { descending: true }, chunk),
            ["e", "c", second, first, "a"]
        );
        assert_eq!(
            all(SecretOrder::Name { descending: false }, chunk),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(
            all(SecretOrder::Name { descending: true }, chunk),
            ["e", "d", "c", "b", "a"]
        );
    }
    // A cursor of one order does not page another.
    assert!(store
        .list_secrets_page(
            account,
            region,
            SecretOrder::Name { descending: false },
            Some(&SecretCursor::Created {
                created: UnixMillis(1),
                id: Uuid::nil()
            }),
            10
        )
        .is_err());
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

const KMS: &str = "kms.amazonaws.com";
const SM: &str = "secretsmanager.amazonaws.com";
const KEY_TYPE: &str = "AWS::KMS::Key";
const SECRET_TYPE: &str = "AWS::SecretsManager::Secret";

fn audit_event(account: &str, region: &str, name: &str, time: i64) -> AuditEvent {
    AuditEvent {
        event_id: Uuid::new_v4().to_string(),
        event_time: UnixMillis(time),
        event_source: KMS.into(),
        event_name: name.into(),
        read_only: false,
        username: None,
        access_key_id: None,
        resources: vec![],
        account: account.into(),
        region: region.into(),
        record: format!("{{\"eventName\":\"{name}\"}}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn detailed_event(
    account: &str,
    region: &str,
    name: &str,
    time: i64,
    source: &str,
    read_only: bool,
    user: Option<&str>,
    access_key: Option<&str>,
    resources: &[(&str, &str)],
) -> AuditEvent {
    AuditEvent {
        event_source: source.into(),
        read_only,
        username: user.map(Into::into),
        access_key_id: access_key.map(Into::into),
        resources: resources
            .iter()
            .map(|(kind, name)| ((*kind).into(), (*name).into()))
            .collect(),
        ..audit_event(account, region, name, time)
    }
}

fn at(event: &ChainedEvent) -> Checkpoint {
    Checkpoint {
        seq: event.seq,
        hash: event.hash,
    }
}

/// Links `events` after `prev`, as the audit writer does.
fn chain(prev: Checkpoint, events: Vec<AuditEvent>) -> Vec<ChainedEvent> {
    let mut head = prev;
    events
        .into_iter()
        .map(|event| {
            let chained = audit::link(head, event, sha256);
            head = at(&chained);
            chained
        })
        .collect()
}

/// Appends `events` after the current head, in one batch.
fn append(store: &dyn Store, events: Vec<AuditEvent>) -> Vec<ChainedEvent> {
    let chained = chain(store.audit_head().unwrap(), events);
    store.append_audit(&chained).unwrap();
    chained
}

fn all_audit(store: &dyn Store) -> Vec<ChainedEvent> {
    store.audit_range(0, usize::MAX).unwrap()
}

fn scope_query(account: &str, region: &str) -> AuditQuery {
    AuditQuery {
        account: account.into(),
        region: region.into(),
        attribute: None,
        start: None,
        end: None,
        before_seq: None,
        limit: 100,
    }
}

fn seqs(events: &[ChainedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn audit_appends_follow_the_head(store: &dyn Store) {
    // Nothing in the suite writes the audit trail before this check.
    assert_eq!(store.audit_head().unwrap(), Checkpoint::GENESIS);
    assert_eq!(store.audit_checkpoint().unwrap(), Checkpoint::GENESIS);
    assert!(all_audit(store).is_empty());
    store.append_audit(&[]).unwrap();
    assert_eq!(store.audit_head().unwrap(), Checkpoint::GENESIS);

    let account = "700000000000";
    let first = append(
        store,
        vec![
            detailed_event(
                account,
                "us-east-1",
                "CreateKey",
                1_000,
                KMS,
                false,
                Some("alice"),
                Some("AKIA1"),
                &[(KEY_TYPE, "arn:k1")],
            ),
            audit_event(account, "us-east-1", "ListKeys", 1_001),
            detailed_event(
                account,
                "us-east-1",
                "GetSecretValue",
                1_002,
                SM,
                true,
                Some(""),
                None,
                &[(SECRET_TYPE, "arn:s1"), (KEY_TYPE, "arn:k1")],
            ),
        ],
    );
    assert_eq!(seqs(&first), [1, 2, 3]);
    assert_eq!(first[0].prev_hash, audit::GENESIS);
    assert_eq!(store.audit_head().unwrap(), at(&first[2]));
    // Stored whole: every field, `Some("")` apart from `None`, resources in order.
    assert_eq!(all_audit(store), first);
    let second = append(
        store,
        vec![audit_event(account, "us-east-1", "Encrypt", 1_003)],
    );
    assert_eq!(seqs(&second), [4]);
    assert_eq!(second[0].prev_hash, first[2].hash);
    let head = store.audit_head().unwrap();
    assert_eq!(head, at(&second[0]));
    let stored = all_audit(store);

    // Each refused batch carries resources, so a leftover resource row would show on the
    // event appended at the end.
    let refused = |name: &str| {
        detailed_event(
            account,
            "us-east-1",
            name,
            1_004,
            KMS,
            false,
            Some("mallory"),
            None,
            &[(KEY_TYPE, "arn:refused")],
        )
    };
    let unchanged = || {
        assert_eq!(store.audit_head().unwrap(), head);
        assert_eq!(all_audit(store), stored);
        assert!(store.audit_range(head.seq, 10).unwrap().is_empty());
    };
    // A sequence number skipped.
    let skipping = chain(
        Checkpoint {
            seq: head.seq + 1,
            hash: head.hash,
        },
        vec![refused("Skip")],
    );
    assert_eq!(store.append_audit(&skipping), Err(StoreError::Conflict));
    unchanged();
    // The right sequence number, the wrong previous hash.
    let unlinked = chain(
        Checkpoint {
            seq: head.seq,
            hash: [7; 32],
        },
        vec![refused("Unlinked")],
    );
    assert_eq!(store.append_audit(&unlinked), Err(StoreError::Conflict));
    unchanged();
    // A writer behind the head, and one starting over from the genesis.
    let stale = chain(at(&first[2]), vec![refused("Stale")]);
    assert_eq!(store.append_audit(&stale), Err(StoreError::Conflict));
    let restart = chain(Checkpoint::GENESIS, vec![refused("Restart")]);
    assert_eq!(store.append_audit(&restart), Err(StoreError::Conflict));
    unchanged();
    // A batch that starts right but breaks later is refused whole.
    let mut gap = chain(head, vec![refused("Good")]);
    gap.extend(chain(
        Checkpoint {
            seq: gap[0].seq + 1,
            hash: gap[0].hash,
        },
        vec![refused("Gap")],
    ));
    assert_eq!(store.append_audit(&gap), Err(StoreError::Conflict));
    unchanged();
    let mut relinked = chain(head, vec![refused("Good")]);
    relinked.extend(chain(
        Checkpoint {
            seq: relinked[0].seq,
            hash: [7; 32],
        },
        vec![refused("Relinked")],
    ));
    assert_eq!(store.append_audit(&relinked), Err(StoreError::Conflict));
    unchanged();
    // An event id already stored, after a valid event in the same batch.
    let mut twin = refused("Twin");
    twin.event_id = first[1].event.event_id.clone();
    let duplicate = chain(head, vec![refused("Good"), twin]);
    assert!(matches!(
        store.append_audit(&duplicate),
        Err(StoreError::AlreadyExists(_))
    ));
    unchanged();

    let next = append(
        store,
        vec![audit_event(account, "us-east-1", "Decrypt", 1_005)],
    );
    assert_eq!(next[0].seq, head.seq + 1);
    assert_eq!(store.audit_range(head.seq, 10).unwrap(), next);
}

fn audit_lookups_filter_and_page(store: &dyn Store) {
    let (account, other_account) = ("710000000000", "710000000001");
    let (region, other_region) = ("us-east-1", "eu-west-1");
    let (arn_a, arn_b, secret_arn) = ("arn:key-a", "arn:key-b", "arn:secret");
    let events = append(
        store,
        vec![
            detailed_event(
                other_account,
                region,
                "CreateKey",
                10_000,
                KMS,
                false,
                Some("alice"),
                Some("AKIA1"),
                &[(KEY_TYPE, arn_a)],
            ),
            detailed_event(
                account,
                region,
                "CreateKey",
                10_000,
                KMS,
                false,
                Some("alice"),
                Some("AKIA1"),
                &[(KEY_TYPE, arn_a)],
            ),
            detailed_event(
                account,
                other_region,
                "Encrypt",
                10_050,
                KMS,
                false,
                Some("alice"),
                Some("AKIA1"),
                &[(KEY_TYPE, arn_a)],
            ),
            detailed_event(
                account,
                region,
                "Encrypt",
                10_100,
                KMS,
                false,
                Some("alice"),
                Some("AKIA1"),
                &[(KEY_TYPE, arn_a)],
            ),
            detailed_event(
                account,
                region,
                "DescribeKey",
                10_200,
                KMS,
                true,
                Some("bob"),
                Some("AKIA2"),
                &[(KEY_TYPE, arn_b)],
            ),
            // Names the same key twice, and not in sorted order.
            detailed_event(
                account,
                region,
                "GetSecretValue",
                10_300,
                SM,
                true,
                Some("bob"),
                Some("AKIA2"),
                &[
                    (KEY_TYPE, arn_a),
                    (SECRET_TYPE, secret_arn),
                    (KEY_TYPE, arn_a),
                ],
            ),
            detailed_event(
                account,
                region,
                "ListKeys",
                10_400,
                KMS,
                true,
                Some("alice"),
                None,
                &[],
            ),
            detailed_event(
                other_account,
                region,
                "GetSecretValue",
                10_400,
                SM,
                true,
                Some("bob"),
                Some("AKIA2"),
                &[(SECRET_TYPE, secret_arn)],
            ),
        ],
    );
    let (n0, e1, n1, e2, e3, e4, e5, n2) = (
        &events[0], &events[1], &events[2], &events[3], &events[4], &events[5], &events[6],
        &events[7],
    );
    let ids = |list: &[&ChainedEvent]| list.iter().map(|e| e.seq).collect::<Vec<_>>();
    let query = |attribute: Option<(AuditAttribute, &str)>| AuditQuery {
        attribute: attribute.map(|(a, v)| (a, v.to_owned())),
        ..scope_query(account, region)
    };
    let found = |q: &AuditQuery| seqs(&store.lookup_audit(q).unwrap());
    let by = |attribute: AuditAttribute, value: &str| found(&query(Some((attribute, value))));

    // Whole events, newest first, resources in stored order.
    let newest_first: Vec<ChainedEvent> = [e5, e4, e3, e2, e1].into_iter().cloned().collect();
    assert_eq!(store.lookup_audit(&query(None)).unwrap(), newest_first);
    assert_eq!(
        store
            .lookup_audit(&query(Some((AuditAttribute::ResourceName, arn_a))))
            .unwrap(),
        [e4, e2, e1].into_iter().cloned().collect::<Vec<_>>()
    );

    use AuditAttribute::*;
    assert_eq!(by(EventId, &e3.event.event_id), ids(&[e3]));
    assert_eq!(by(EventId, &n0.event.event_id), ids(&[]));
    assert_eq!(by(EventId, "no-such-event"), ids(&[]));
    assert_eq!(by(EventName, "Encrypt"), ids(&[e2]));
    assert_eq!(by(EventName, "GetSecretValue"), ids(&[e4]));
    assert_eq!(by(EventName, "Decrypt"), ids(&[]));
    assert_eq!(by(ReadOnly, "true"), ids(&[e5, e4, e3]));
    assert_eq!(by(ReadOnly, "false"), ids(&[e2, e1]));
    assert_eq!(by(ReadOnly, "maybe"), ids(&[]));
    assert_eq!(by(Username, "alice"), ids(&[e5, e2, e1]));
    assert_eq!(by(Username, "bob"), ids(&[e4, e3]));
    assert_eq!(by(ResourceType, KEY_TYPE), ids(&[e4, e3, e2, e1]));
    assert_eq!(by(ResourceType, SECRET_TYPE), ids(&[e4]));
    assert_eq!(by(ResourceName, arn_b), ids(&[e3]));
    assert_eq!(by(ResourceName, secret_arn), ids(&[e4]));
    assert_eq!(by(ResourceName, KEY_TYPE), ids(&[]));
    assert_eq!(by(EventSource, SM), ids(&[e4]));
    assert_eq!(by(EventSource, KMS), ids(&[e5, e3, e2, e1]));
    assert_eq!(by(AccessKeyId, "AKIA2"), ids(&[e4, e3]));
    assert_eq!(by(AccessKeyId, "AKIA1"), ids(&[e2, e1]));

    // Time ranges include both ends.
    let timed = |start: Option<i64>, end: Option<i64>| AuditQuery {
        start: start.map(UnixMillis),
        end: end.map(UnixMillis),
        ..query(None)
    };
    assert_eq!(
        found(&timed(Some(10_100), Some(10_300))),
        ids(&[e4, e3, e2])
    );
    assert_eq!(found(&timed(Some(10_101), None)), ids(&[e5, e4, e3]));
    assert_eq!(found(&timed(None, Some(10_099))), ids(&[e1]));
    assert_eq!(found(&timed(Some(10_401), None)), ids(&[]));
    assert_eq!(
        found(&AuditQuery {
            start: Some(UnixMillis(10_100)),
            ..query(Some((Username, "alice")))
        }),
        ids(&[e5, e2])
    );

    // Pages, newest first, each before the last one seen.
    let page = |attribute: Option<(AuditAttribute, &str)>, before: Option<&ChainedEvent>, limit| {
        found(&AuditQuery {
            before_seq: before.map(|e| e.seq),
            limit,
            ..query(attribute)
        })
    };
    assert_eq!(page(None, None, 2), ids(&[e5, e4]));
    assert_eq!(page(None, Some(e4), 2), ids(&[e3, e2]));
    assert_eq!(page(None, Some(e2), 2), ids(&[e1]));
    assert_eq!(page(None, Some(e1), 2), ids(&[]));
    assert_eq!(page(None, None, 0), ids(&[]));
    assert_eq!(
        found(&AuditQuery {
            before_seq: Some(0),
            ..query(None)
        }),
        ids(&[])
    );
    // An event naming a resource twice counts once toward the limit.
    assert_eq!(page(Some((ResourceName, arn_a)), None, 2), ids(&[e4, e2]));
    assert_eq!(page(Some((ResourceName, arn_a)), Some(e2), 2), ids(&[e1]));
    assert_eq!(page(Some((ResourceType, KEY_TYPE)), None, 1), ids(&[e4]));
    assert_eq!(
        page(Some((ResourceType, KEY_TYPE)), Some(e4), 2),
        ids(&[e3, e2])
    );
    assert_eq!(page(Some((Username, "alice")), Some(e5), 1), ids(&[e2]));

    // Scoped by account and region.
    assert_eq!(found(&scope_query(account, other_region)), ids(&[n1]));
    assert_eq!(found(&scope_query(other_account, region)), ids(&[n2, n0]));
    assert_eq!(
        found(&AuditQuery {
            attribute: Some((ResourceName, secret_arn.into())),
            ..scope_query(other_account, region)
        }),
        ids(&[n2])
    );
    assert_eq!(found(&scope_query(account, "ap-south-1")), ids(&[]));
}

fn audit_range_pages_in_chain_order(store: &dyn Store) {
    let start = store.audit_head().unwrap();
    let account = "720000000000";
    let mut events = append(
        store,
        vec![
            audit_event(account, "us-east-1", "Encrypt", 20_000),
            audit_event(account, "us-east-1", "Decrypt", 20_001),
        ],
    );
    events.extend(append(
        store,
        (0..3)
            .map(|i| {
                detailed_event(
                    account,
                    "us-east-1",
                    "GenerateDataKey",
                    20_002 + i,
                    KMS,
                    false,
                    None,
                    None,
                    &[(KEY_TYPE, "arn:k"), (KEY_TYPE, &format!("arn:k{i}"))],
                )
            })
            .collect(),
    ));
    assert_eq!(store.audit_range(start.seq, 2).unwrap(), events[..2]);
    assert_eq!(store.audit_range(events[1].seq, 2).unwrap(), events[2..4]);
    assert_eq!(store.audit_range(events[3].seq, 2).unwrap(), events[4..]);
    assert!(store.audit_range(events[4].seq, 2).unwrap().is_empty());
    assert!(store.audit_range(start.seq, 0).unwrap().is_empty());
    assert!(store.audit_range(u64::MAX, 10).unwrap().is_empty());

    // The whole stored chain verifies from its checkpoint.
    let checkpoint = store.audit_checkpoint().unwrap();
    let chain = store.audit_range(checkpoint.seq, usize::MAX).unwrap();
    assert_eq!(
        audit::verify(checkpoint, &chain, sha256),
        Ok(store.audit_head().unwrap())
    );
}

fn audit_pruning_keeps_a_verifiable_suffix(store: &dyn Store) {
    // Every event the checks before this one appended is older than 1_000_000.
    let account = "730000000000";
    let pruned_resource = [(KEY_TYPE, "arn:pruned")];
    let old = |name: &str, time: i64| {
        detailed_event(
            account,
            "us-east-1",
            name,
            time,
            KMS,
            false,
            None,
            None,
            &pruned_resource,
        )
    };
    let events = append(
        store,
        vec![
            old("A", 1_000_000),
            old("B", 1_000_100),
            audit_event(account, "us-east-1", "C", 3_000_000),
            // Older than the event before it: it stays, as the chain can only lose a prefix.
            audit_event(account, "us-east-1", "D", 1_000_200),
            audit_event(account, "us-east-1", "E", 1_000_300),
        ],
    );
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| events[i].clone());

    let checkpoint = store.prune_audit(UnixMillis(2_000_000)).unwrap();
    assert_eq!(checkpoint, at(&b));
    assert_eq!(store.audit_checkpoint().unwrap(), checkpoint);
    assert_eq!(store.audit_head().unwrap(), at(&e));
    let kept = vec![c.clone(), d.clone(), e.clone()];
    assert_eq!(all_audit(store), kept);
    assert_eq!(store.audit_range(checkpoint.seq, usize::MAX).unwrap(), kept);
    assert_eq!(audit::verify(checkpoint, &kept, sha256), Ok(at(&e)));
    let by_id = |event: &ChainedEvent| {
        seqs(
            &store
                .lookup_audit(&AuditQuery {
                    attribute: Some((AuditAttribute::EventId, event.event.event_id.clone())),
                    ..scope_query(account, "us-east-1")
                })
                .unwrap(),
        )
    };
    assert!(by_id(&a).is_empty());
    assert!(by_id(&b).is_empty());
    assert_eq!(by_id(&d), [d.seq]);
    assert_eq!(
        seqs(
            &store
                .lookup_audit(&scope_query(account, "us-east-1"))
                .unwrap()
        ),
        [e.seq, d.seq, c.seq]
    );
    assert!(store
        .lookup_audit(&AuditQuery {
            attribute: Some((AuditAttribute::ResourceName, "arn:pruned".into())),
            ..scope_query(account, "us-east-1")
        })
        .unwrap()
        .is_empty());

    // Nothing more to prune: the checkpoint stays, and so does every event. An event at
    // exactly `before` is not older than it.
    for before in [2_000_000, 0, 3_000_000] {
        assert_eq!(store.prune_audit(UnixMillis(before)).unwrap(), checkpoint);
        assert_eq!(all_audit(store), kept);
    }

    // The chain goes on from the head after pruning.
    let f = append(
        store,
        vec![audit_event(account, "us-east-1", "F", 4_000_000)],
    );
    assert_eq!(f[0].seq, e.seq + 1);
    let checkpoint = store.prune_audit(UnixMillis(3_500_000)).unwrap();
    assert_eq!(checkpoint, at(&e));
    assert_eq!(all_audit(store), f);
    assert_eq!(audit::verify(checkpoint, &f, sha256), Ok(at(&f[0])));

    // Pruning everything leaves the head at the checkpoint.
    let checkpoint = store.prune_audit(UnixMillis(i64::MAX)).unwrap();
    assert_eq!(checkpoint, at(&f[0]));
    assert_eq!(store.audit_checkpoint().unwrap(), checkpoint);
    assert_eq!(store.audit_head().unwrap(), checkpoint);
    assert!(all_audit(store).is_empty());
    assert_eq!(store.prune_audit(UnixMillis(i64::MAX)).unwrap(), checkpoint);
    let restart = chain(
        Checkpoint::GENESIS,
        vec![audit_event(account, "us-east-1", "G", 5)],
    );
    assert_eq!(store.append_audit(&restart), Err(StoreError::Conflict));
    let skipping = chain(
        Checkpoint {
            seq: checkpoint.seq + 1,
            hash: checkpoint.hash,
        },
        vec![audit_event(account, "us-east-1", "G", 5)],
    );
    assert_eq!(store.append_audit(&skipping), Err(StoreError::Conflict));
    let g = append(
        store,
        vec![audit_event(account, "us-east-1", "G", 5_000_000)],
    );
    assert_eq!(g[0].seq, checkpoint.seq + 1);
    assert_eq!(g[0].prev_hash, checkpoint.hash);
    assert_eq!(
        audit::verify(
            store.audit_checkpoint().unwrap(),
            &store.audit_range(checkpoint.seq, usize::MAX).unwrap(),
            sha256
        ),
        Ok(at(&g[0]))
    );
}

fn account(id: &str) -> AccountId {
    AccountId::parse(id).unwrap()
}

fn user(account_id: &str, name: &str) -> UserRecord {
    UserRecord {
        account: account(account_id),
        name: name.into(),
        path: DEFAULT_PATH.into(),
        user_id: new_principal_id(USER_ID_PREFIX).unwrap(),
        created: UnixMillis(1),
        tags: vec![
            Tag {
                key: "z".into(),
                value: "1".into(),
            },
            Tag {
                key: "a".into(),
                value: "2".into(),
            },
        ],
        policies: BTreeMap::from([("read".into(), r#"{"Version":"2012-10-17"}"#.into())]),
        revision: 0,
    }
}

fn role(account_id: &str, name: &str) -> RoleRecord {
    RoleRecord {
        account: account(account_id),
        name: name.into(),
        path: "/service-role/".into(),
        role_id: new_principal_id(ROLE_ID_PREFIX).unwrap(),
        created: UnixMillis(1),
        assume_role_policy: r#"{"Statement":[]}"#.into(),
        trust_principals: Default::default(),
        description: Some("d".into()),
        max_session_duration: 3600,
        tags: vec![],
        policies: BTreeMap::new(),
        revision: 0,
    }
}

fn access_key(id: &str, account: &str, user_name: Option<&str>, created: i64) -> AccessKeyRow {
    AccessKeyRow {
        access_key_id: id.into(),
        wrapped_secret: id.as_bytes().to_vec(),
        account: account.into(),
        principal_arn: match user_name {
            Some(name) => format!("arn:aws:iam::{account}:user/{name}"),
            None => format!("arn:aws:iam::{account}:root"),
        },
        created: UnixMillis(created),
        active: true,
        user_name: user_name.map(str::to_owned),
    }
}

fn key_ids(rows: &[AccessKeyRow]) -> Vec<&str> {
    rows.iter().map(|r| r.access_key_id.as_str()).collect()
}

fn users_round_trip_with_optimistic_revisions(store: &dyn Store) {
    let acct = "810000000000";
    let mut alice = user(acct, "Alice");
    assert_eq!(store.create_user(&alice).unwrap(), 1);
    alice.revision = 1;
    assert_eq!(store.get_user(acct, "Alice").unwrap(), Some(alice.clone()));
    // Looked up without regard to case; the stored case is kept.
    assert_eq!(store.get_user(acct, "aLICE").unwrap(), Some(alice.clone()));
    assert_eq!(store.get_user(acct, "bob").unwrap(), None);
    assert_eq!(store.get_user("819999999999", "Alice").unwrap(), None);

    let mut changed = alice.clone();
    changed.tags.push(Tag {
        key: "m".into(),
        value: "3".into(),
    });
    changed.policies.remove("read");
    assert_eq!(store.update_user(&changed).unwrap(), 2);
    changed.revision = 2;
    assert_eq!(
        store.get_user(acct, "alice").unwrap(),
        Some(changed.clone())
    );
    // A writer holding the old revision loses.
    assert_eq!(store.update_user(&alice).unwrap_err(), StoreError::Conflict);
    assert_eq!(
        store.get_user(acct, "alice").unwrap(),
        Some(changed.clone())
    );

    // A user deleted and created again under the same name is another user: a writer
    // holding the old one finds it gone.
    store.delete_user(acct, "ALICE").unwrap();
    assert_eq!(store.get_user(acct, "Alice").unwrap(), None);
    assert!(matches!(
        store.update_user(&changed),
        Err(StoreError::NotFound(name)) if name == "Alice"
    ));
    assert!(matches!(
        store.delete_user(acct, "Alice"),
        Err(StoreError::NotFound(name)) if name == "Alice"
    ));
    let again = user(acct, "alice");
    store.create_user(&again).unwrap();
    assert!(matches!(
        store.update_user(&changed),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.get_user(acct, "ALICE").unwrap().unwrap().user_id,
        again.user_id
    );
}

fn iam_names_are_unique_per_account_without_regard_to_case(store: &dyn Store) {
    let acct = "820000000000";
    store.create_user(&user(acct, "Alice")).unwrap();
    assert!(matches!(
        store.create_user(&user(acct, "alice")),
        Err(StoreError::AlreadyExists(name)) if name == "alice"
    ));
    assert!(matches!(
        store.create_user(&user(acct, "ALICE")),
        Err(StoreError::AlreadyExists(_))
    ));
    // Another account, and roles, are other namespaces.
    store.create_user(&user("829999999999", "alice")).unwrap();
    store.create_role(&role(acct, "alice")).unwrap();
    assert!(matches!(
        store.create_role(&role(acct, "Alice")),
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store.get_user(acct, "alice").unwrap().unwrap().name,
        "Alice"
    );
    assert_eq!(
        store.get_role(acct, "ALICE").unwrap().unwrap().name,
        "alice"
    );

    // A rename onto a taken name (in another case) is refused and changes nothing.
    let mut bob = user(acct, "bob");
    store.create_user(&bob).unwrap();
    bob.revision = 1;
    let renamed = UserRecord {
        name: "aLiCe".into(),
        ..bob.clone()
    };
    assert!(matches!(
        store.update_user(&renamed),
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.get_user(acct, "bob").unwrap(), Some(bob.clone()));
    // Renaming to another case of its own name is fine.
    let recased = UserRecord {
        name: "Bob".into(),
        ..bob
    };
    assert_eq!(store.update_user(&recased).unwrap(), 2);
    assert_eq!(store.get_user(acct, "BOB").unwrap().unwrap().name, "Bob");
}

fn iam_listing_is_by_name_within_an_account(store: &dyn Store) {
    let acct = "830000000000";
    for name in ["carol", "Bob", "alice", "Dave"] {
        store.create_user(&user(acct, name)).unwrap();
        store
            .create_role(&role(acct, &format!("{name}-role")))
            .unwrap();
    }
    store.create_user(&user("839999999999", "eve")).unwrap();
    let names: Vec<String> = store
        .list_users(acct)
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "Bob", "carol", "Dave"]);
    let roles = store.list_roles(acct).unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["alice-role", "Bob-role", "carol-role", "Dave-role"]);
    assert!(roles.iter().all(|r| r.revision == 1));
    assert!(store.list_users("838888888888").unwrap().is_empty());
    assert!(store.list_roles("839999999999").unwrap().is_empty());
}

fn roles_round_trip_with_optimistic_revisions(store: &dyn Store) {
    let acct = "840000000000";
    let mut deployer = role(acct, "Deployer");
    assert_eq!(store.create_role(&deployer).unwrap(), 1);
    deployer.revision = 1;
    assert_eq!(
        store.get_role(acct, "deployer").unwrap(),
        Some(deployer.clone())
    );
    assert_eq!(store.get_user(acct, "deployer").unwrap(), None);

    let mut changed = deployer.clone();
    changed.max_session_duration = 7200;
    changed.description = None;
    changed
        .policies
        .insert("kms".into(), r#"{"Statement":[]}"#.into());
    assert_eq!(store.update_role(&changed).unwrap(), 2);
    changed.revision = 2;
    assert_eq!(
        store.get_role(acct, "DEPLOYER").unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        store.update_role(&deployer).unwrap_err(),
        StoreError::Conflict
    );

    store.delete_role(acct, "deployer").unwrap();
    assert_eq!(store.get_role(acct, "Deployer").unwrap(), None);
    assert!(matches!(
        store.update_role(&changed),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_role(acct, "Deployer"),
        Err(StoreError::NotFound(name)) if name == "Deployer"
    ));
}

fn access_keys_belong_to_a_user_or_the_root(store: &dyn Store) {
    let acct = "850000000000";
    store.create_user(&user(acct, "Alice")).unwrap();
    store.create_user(&user(acct, "bob")).unwrap();
    store
        .create_access_key(&access_key("AKIA850ROOT2", acct, None, 20))
        .unwrap();
    store
        .create_access_key(&access_key("AKIA850ROOT1", acct, None, 20))
        .unwrap();
    store
        .create_access_key(&access_key("AKIA850ALICE2", acct, Some("Alice"), 30))
        .unwrap();
    // Named in another case, stored under the user's own spelling.
    store
        .create_access_key(&access_key("AKIA850ALICE1", acct, Some("alice"), 10))
        .unwrap();
    store
        .create_access_key(&access_key("AKIA850BOB", acct, Some("bob"), 10))
        .unwrap();
    store
        .create_access_key(&access_key("AKIA859ROOT", "859999999999", None, 1))
        .unwrap();
    assert_eq!(
        store
            .get_access_key("AKIA850ALICE1")
            .unwrap()
            .unwrap()
            .user_name
            .as_deref(),
        Some("Alice")
    );
    assert!(matches!(
        store.create_access_key(&access_key("AKIA850NOBODY", acct, Some("carol"), 1)),
        Err(StoreError::NotFound(name)) if name == "carol"
    ));
    assert!(matches!(
        store.create_access_key(&access_key("AKIA850WRONG", "859999999999", Some("bob"), 1)),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.get_access_key("AKIA850NOBODY").unwrap(), None);

    assert_eq!(
        key_ids(&store.list_access_keys(acct, None).unwrap()),
        ["AKIA850ROOT1", "AKIA850ROOT2"]
    );
    assert_eq!(
        key_ids(&store.list_access_keys(acct, Some("ALICE")).unwrap()),
        ["AKIA850ALICE1", "AKIA850ALICE2"]
    );
    assert_eq!(
        store.list_access_keys(acct, Some("bob")).unwrap(),
        vec![access_key("AKIA850BOB", acct, Some("bob"), 10)]
    );
    assert!(store
        .list_access_keys(acct, Some("carol"))
        .unwrap()
        .is_empty());

    store.set_access_key_active("AKIA850ALICE2", false).unwrap();
    assert!(
        !store
            .get_access_key("AKIA850ALICE2")
            .unwrap()
            .unwrap()
            .active
    );
    store.set_access_key_active("AKIA850ALICE2", true).unwrap();
    assert!(
        store
            .get_access_key("AKIA850ALICE2")
            .unwrap()
            .unwrap()
            .active
    );
    assert!(matches!(
        store.set_access_key_active("AKIA850NONE", false),
        Err(StoreError::NotFound(id)) if id == "AKIA850NONE"
    ));
    store.delete_access_key("AKIA850ROOT2").unwrap();
    assert_eq!(store.get_access_key("AKIA850ROOT2").unwrap(), None);
    assert!(matches!(
        store.delete_access_key("AKIA850ROOT2"),
        Err(StoreError::NotFound(id)) if id == "AKIA850ROOT2"
    ));
    assert_eq!(
        key_ids(&store.list_access_keys(acct, None).unwrap()),
        ["AKIA850ROOT1"]
    );
}

fn a_users_access_keys_follow_it(store: &dyn Store) {
    let acct = "860000000000";
    let mut dave = user(acct, "dave");
    store.create_user(&dave).unwrap();
    dave.revision = 1;
    store.create_user(&user(acct, "erin")).unwrap();
    for (id, owner) in [
        ("AKIA860DAVE1", Some("dave")),
        ("AKIA860DAVE2", Some("dave")),
        ("AKIA860ERIN", Some("erin")),
        ("AKIA860ROOT", None),
    ] {
        store
            .create_access_key(&access_key(id, acct, owner, 1))
            .unwrap();
    }

    // Renamed and moved: the keys name the user by its new name and ARN.
    let moved = UserRecord {
        name: "David".into(),
        path: "/ops/".into(),
        ..dave
    };
    store.update_user(&moved).unwrap();
    assert!(store
        .list_access_keys(acct, Some("dave"))
        .unwrap()
        .is_empty());
    let keys = store.list_access_keys(acct, Some("david")).unwrap();
    assert_eq!(key_ids(&keys), ["AKIA860DAVE1", "AKIA860DAVE2"]);
    assert!(keys.iter().all(|k| k.user_name.as_deref() == Some("David")
        && k.principal_arn == "arn:aws:iam::860000000000:user/ops/David"));

    // Deleting the user deletes its keys and only its keys.
    store.delete_user(acct, "DAVID").unwrap();
    assert_eq!(store.get_access_key("AKIA860DAVE1").unwrap(), None);
    assert_eq!(store.get_access_key("AKIA860DAVE2").unwrap(), None);
    assert!(store
        .list_access_keys(acct, Some("David"))
        .unwrap()
        .is_empty());
    assert!(store.get_access_key("AKIA860ERIN").unwrap().is_some());
    assert!(store.get_access_key("AKIA860ROOT").unwrap().is_some());
    // A namesake created later does not inherit them.
    store.create_user(&user(acct, "David")).unwrap();
    assert!(store
        .list_access_keys(acct, Some("David"))
        .unwrap()
        .is_empty());
}

fn grant(key: &KeyRecord, created: i64, retiring: Option<&str>) -> GrantRecord {
    GrantRecord {
        key_id: key.id,
        grant_id: new_grant_id().unwrap(),
        name: None,
        account: account(&key.account),
        region: Region::parse(&key.region).unwrap(),
        grantee_principal: format!("arn:aws:iam::{}:role/app", key.account),
        retiring_principal: retiring.map(str::to_owned),
        issuing_account: format!("arn:aws:iam::{}:root", key.account),
        operations: vec!["Decrypt".into(), "GenerateDataKey".into()],
        constraints: None,
        created: UnixMillis(created),
    }
}

fn grants_live_and_die_with_their_key(store: &dyn Store) {
    let k = key("870000000000");
    store.create_key(&k, Some(&material(k.id, 1))).unwrap();
    let other = key("870000000000");
    store
        .create_key(&other, Some(&material(other.id, 1)))
        .unwrap();
    let retiree = "arn:aws:iam::870000000000:user/ops";

    let mut first = grant(&k, 10, Some(retiree));
    first.name = Some("first".into());
    first.constraints = Some(GrantConstraints {
        encryption_context_subset: Some(BTreeMap::from([("app".into(), "x".into())])),
        encryption_context_equals: None,
    });
    let mut second = grant(&k, 20, None);
    second.grant_id = format!("{:0>64}", "2");
    let mut third = grant(&k, 20, Some(retiree));
    third.grant_id = format!("{:0>64}", "1");
    let elsewhere = grant(&other, 5, Some(retiree));
    for g in [&second, &first, &third, &elsewhere] {
        store.create_grant(g).unwrap();
    }
    assert!(matches!(
        store.create_grant(&first),
        Err(StoreError::AlreadyExists(id)) if id == first.grant_id
    ));
    let dangling = GrantRecord {
        key_id: Uuid::new_v4(),
        ..grant(&k, 1, None)
    };
    assert!(matches!(
        store.create_grant(&dangling),
        Err(StoreError::NotFound(id)) if id == dangling.key_id.to_string()
    ));

    // By creation, then grant id.
    assert_eq!(
        store.list_grants(&k.id).unwrap(),
        vec![first.clone(), third.clone(), second.clone()]
    );
    assert_eq!(
        store.get_grant(&k.id, &first.grant_id).unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_grant(&other.id, &first.grant_id).unwrap(), None);
    assert_eq!(
        store
            .list_grants_by_retiring_principal("870000000000", retiree)
            .unwrap(),
        vec![elsewhere.clone(), first.clone(), third.clone()]
    );
    assert!(store
        .list_grants_by_retiring_principal("879999999999", retiree)
        .unwrap()
        .is_empty());
    let all = store.all_grants().unwrap();
    for g in [&first, &second, &third, &elsewhere] {
        assert!(all.contains(g));
    }

    store.delete_grant(&k.id, &third.grant_id).unwrap();
    assert!(matches!(
        store.delete_grant(&k.id, &third.grant_id),
        Err(StoreError::NotFound(id)) if id == third.grant_id
    ));
    assert!(matches!(
        store.delete_grant(&other.id, &first.grant_id),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.list_grants(&k.id).unwrap(),
        vec![first.clone(), second.clone()]
    );

    store.delete_key(&k.id).unwrap();
    assert!(store.list_grants(&k.id).unwrap().is_empty());
    assert_eq!(store.get_grant(&k.id, &first.grant_id).unwrap(), None);
    assert_eq!(
        store
            .list_grants_by_retiring_principal("870000000000", retiree)
            .unwrap(),
        vec![elsewhere.clone()]
    );
    let all = store.all_grants().unwrap();
    assert!(!all.iter().any(|g| g.key_id == k.id));
    assert!(all.contains(&elsewhere));
}

fn suite(store: &dyn Store) {
    keys_round_trip_with_optimistic_revisions(store);
    listing_pages_by_scope(store);
    due_keys_and_deletion(store);
    imported_material_comes_and_goes(store);
    aliases_are_unique_per_scope(store);
    meta_and_access_keys(store);
    secrets_round_trip_by_id_and_name(store);
    secret_names_are_unique_per_scope(store);
    secret_updates_are_optimistic_and_whole(store);
    deleting_a_secret_removes_its_values(store);
    secrets_are_due_at_their_deletion_date(store);
    secret_listing_is_by_name_within_scope(store);
    secret_pages_follow_their_order_and_cursor(store);
    audit_appends_follow_the_head(store);
    audit_lookups_filter_and_page(store);
    audit_range_pages_in_chain_order(store);
    audit_pruning_keeps_a_verifiable_suffix(store);
    users_round_trip_with_optimistic_revisions(store);
    iam_names_are_unique_per_account_without_regard_to_case(store);
    iam_listing_is_by_name_within_an_account(store);
    roles_round_trip_with_optimistic_revisions(store);
    access_keys_belong_to_a_user_or_the_root(store);
    a_users_access_keys_follow_it(store);
    grants_live_and_die_with_their_key(store);
    functions_round_trip_with_their_code(store);
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
    store.create_key(&k, Some(&material(k.id, 1))).unwrap();
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

#[test]
fn sqlite_iam_and_grants_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).unwrap();
    let acct = "880000000000";
    let mut u = user(acct, "Kept");
    store.create_user(&u).unwrap();
    u.revision = 1;
    let mut r = role(acct, "KeptRole");
    store.create_role(&r).unwrap();
    r.revision = 1;
    let ak = access_key("AKIA880KEPT", acct, Some("Kept"), 3);
    store.create_access_key(&ak).unwrap();
    let k = key(acct);
    store.create_key(&k, Some(&material(k.id, 1))).unwrap();
    let g = grant(&k, 4, Some("arn:aws:iam::880000000000:user/Kept"));
    store.create_grant(&g).unwrap();
    drop(store);

    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.get_user(acct, "kept").unwrap(), Some(u.clone()));
    assert_eq!(reopened.get_role(acct, "keptrole").unwrap(), Some(r));
    assert_eq!(
        reopened.list_access_keys(acct, Some("KEPT")).unwrap(),
        vec![ak]
    );
    assert_eq!(
        reopened.get_grant(&k.id, &g.grant_id).unwrap(),
        Some(g.clone())
    );
    assert_eq!(reopened.all_grants().unwrap(), vec![g]);
    // Uniqueness without regard to case holds in the reopened file too.
    assert!(matches!(
        reopened.create_user(&user(acct, "KEPT")),
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(reopened.update_user(&u).unwrap(), 2);
}

#[test]
fn sqlite_audit_trail_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.db");
    let store = SqliteStore::open(&path).unwrap();
    suite(&store);
    // The suite pruned, so the checkpoint is not the genesis.
    let checkpoint = store.audit_checkpoint().unwrap();
    assert_ne!(checkpoint, Checkpoint::GENESIS);
    let appended = append(
        &store,
        vec![detailed_event(
            "740000000000",
            "us-east-1",
            "Decrypt",
            6_000_000,
            KMS,
            true,
            Some("carol"),
            Some("AKIA3"),
            &[(KEY_TYPE, "arn:kept")],
        )],
    );
    let stored = store.audit_range(checkpoint.seq, usize::MAX).unwrap();
    drop(store);

    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.audit_checkpoint().unwrap(), checkpoint);
    assert_eq!(reopened.audit_head().unwrap(), at(&appended[0]));
    let chain = reopened.audit_range(checkpoint.seq, usize::MAX).unwrap();
    assert_eq!(chain, stored);
    assert_eq!(
        audit::verify(checkpoint, &chain, sha256),
        Ok(at(&appended[0]))
    );
    assert_eq!(
        reopened
            .lookup_audit(&AuditQuery {
                attribute: Some((AuditAttribute::ResourceName, "arn:kept".into())),
                ..scope_query("740000000000", "us-east-1")
            })
            .unwrap(),
        appended
    );
    // After pruning everything, the head comes from the stored checkpoint alone.
    let last = reopened.prune_audit(UnixMillis(i64::MAX)).unwrap();
    drop(reopened);
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.audit_checkpoint().unwrap(), last);
    assert_eq!(reopened.audit_head().unwrap(), at(&appended[0]));
}

#[test]
fn postgres_passes_the_suite() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    suite(&PostgresStore::connect(&url).unwrap());
}

#[test]
fn postgres_data_survives_reconnect_and_migrations_run_once() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let store = PostgresStore::connect(&url).unwrap();
    let k = key("555555555555");
    store.create_key(&k, Some(&material(k.id, 1))).unwrap();
    let mut s = secret("555555555555", "us-east-1", "kept");
    store.create_secret(&s, &[value(s.id, "v1")]).unwrap();
    s.revision = 1;
    drop(store);
    let reopened = PostgresStore::connect(&url).unwrap();
    assert_eq!(reopened.migrate().unwrap(), 0);
    assert!(reopened.get_key(&k.id).unwrap().is_some());
    assert_eq!(reopened.get_secret(&s.id).unwrap(), Some(s.clone()));
    assert_eq!(
        reopened.get_secret_value(&s.id, "v1").unwrap(),
        Some(value(s.id, "v1"))
    );
}

/// Several nodes starting at once on an empty database: the schema is created once and
/// every node gets a working store.
#[test]
fn postgres_nodes_starting_at_once_migrate_once() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let stores: Vec<PostgresStore> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PostgresStore::connect(&url).unwrap()))
            .collect();
        starting.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for store in &stores {
        assert_eq!(store.migrate().unwrap(), 0);
    }
    let k = key("666666666666");
    stores[0].create_key(&k, None).unwrap();
    assert!(stores[3].get_key(&k.id).unwrap().is_some());
}

/// Two nodes creating the same alias or secret name at once: exactly one succeeds, the
/// other is told it exists.
#[test]
fn postgres_concurrent_creates_of_one_name_let_exactly_one_win() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let a = PostgresStore::connect(&url).unwrap();
    let b = PostgresStore::connect(&url).unwrap();
    let acct = "777777777777";
    let k = key(acct);
    a.create_key(&k, None).unwrap();
    for round in 0..20 {
        let name = format!("alias/race-{round}");
        let alias = |store: &PostgresStore| {
            store.create_alias(&AliasRecord {
                account: acct.into(),
                region: "us-east-1".into(),
                name: name.clone(),
                target: k.id,
                created: UnixMillis(1),
                updated: UnixMillis(1),
            })
        };
        let secret_name = format!("race-{round}");
        let create_secret = |store: &PostgresStore| {
            let s = secret(acct, "us-east-1", &secret_name);
            store.create_secret(&s, &[value(s.id, "v1")])
        };
        let (x, y, sx, sy) = std::thread::scope(|scope| {
            let x = scope.spawn(|| alias(&a));
            let y = scope.spawn(|| alias(&b));
            let sx = scope.spawn(|| create_secret(&a));
            let sy = scope.spawn(|| create_secret(&b));
            (
                x.join().unwrap(),
                y.join().unwrap(),
                sx.join().unwrap(),
                sy.join().unwrap(),
            )
        });
        for (first, second) in [
            (x.map(|_| ()), y.map(|_| ())),
            (sx.map(|_| ()), sy.map(|_| ())),
        ] {
            let won = [&first, &second].iter().filter(|r| r.is_ok()).count();
            assert_eq!(won, 1, "round {round}: {first:?} {second:?}");
            let lost = if first.is_err() { first } else { second };
            assert!(
                matches!(lost, Err(StoreError::AlreadyExists(_))),
                "{lost:?}"
            );
        }
    }
}

/// Several nodes appending to the one audit chain at once, each linking its batches after
/// the head it reads and linking them again on `Conflict`, as the audit writer does: the
/// chain ends up holding every event exactly once, and verifies.
#[test]
fn postgres_concurrent_audit_appends_make_one_chain() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let nodes = [
        PostgresStore::connect(&url).unwrap(),
        PostgresStore::connect(&url).unwrap(),
    ];
    let account = "880000000000";
    let writers = 6;
    let batches = 15;
    let start = std::sync::Barrier::new(writers);
    let written: Vec<(Vec<String>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (node, start) = (&nodes[w % nodes.len()], &start);
                scope.spawn(move || {
                    start.wait();
                    let (mut ids, mut conflicts) = (Vec::new(), 0);
                    for b in 0..batches {
                        let own = format!("arn:key-{w}");
                        let events: Vec<AuditEvent> = (0..1 + (w + b) % 3)
                            .map(|i| {
                                detailed_event(
                                    account,
                                    "us-east-1",
                                    &format!("W{w}B{b}E{i}"),
                                    1_000,
                                    KMS,
                                    i % 2 == 0,
                                    Some("writer"),
                                    None,
                                    &[
                                        (KEY_TYPE, &own),
                                        (SECRET_TYPE, "arn:s"),
                                        (KEY_TYPE, "arn:a"),
                                    ],
                                )
                            })
                            .collect();
                        ids.extend(events.iter().map(|e| e.event_id.clone()));
                        loop {
                            let linked = chain(node.audit_head().unwrap(), events.clone());
                            match node.append_audit(&linked) {
                                Ok(()) => break,
                                Err(StoreError::Conflict) => conflicts += 1,
                                Err(err) => panic!("writer {w}, batch {b}: {err}"),
                            }
                        }
                    }
                    (ids, conflicts)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let conflicts: usize = written.iter().map(|(_, c)| c).sum();
    let expected: std::collections::BTreeSet<String> =
        written.into_iter().flat_map(|(ids, _)| ids).collect();
    eprintln!("{} events, {conflicts} conflicts retried", expected.len());

    for node in &nodes {
        let stored = node.audit_range(0, usize::MAX).unwrap();
        assert_eq!(node.audit_checkpoint().unwrap(), Checkpoint::GENESIS);
        assert_eq!(
            audit::verify(Checkpoint::GENESIS, &stored, sha256),
            Ok(node.audit_head().unwrap())
        );
        assert_eq!(stored.len(), expected.len());
        let ids: std::collections::BTreeSet<String> =
            stored.iter().map(|e| e.event.event_id.clone()).collect();
        assert_eq!(ids, expected);
        assert_eq!(seqs(&stored), (1..=stored.len() as u64).collect::<Vec<_>>());
    }
}

/// One store at a time holds the jobs lock; it passes to another once the holder is gone.
#[test]
fn postgres_one_job_runner_per_database() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let first = PostgresStore::connect(&url).unwrap();
    assert!(first.hold_job_lock().unwrap());
    assert!(first.hold_job_lock().unwrap(), "the holder keeps it");
    let second = PostgresStore::connect(&url).unwrap();
    assert!(!second.hold_job_lock().unwrap());
    assert!(!second.hold_job_lock().unwrap());
    drop(first);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !second.hold_job_lock().unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock outlived its store"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let third = PostgresStore::connect(&url).unwrap();
    assert!(!third.hold_job_lock().unwrap());
}

/// A single-process backend always runs its jobs.
#[test]
fn sqlite_always_holds_the_job_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("k.db")).unwrap();
    assert!(store.hold_job_lock().unwrap());
}

// Change feeds.

use keyward_core::store::{Change, ChangeFeed};

#[test]
fn sqlite_has_no_change_feed() {
    assert!(SqliteStore::in_memory()
        .unwrap()
        .changes()
        .unwrap()
        .is_none());
}

/// How long a change may take to reach another node's feed after its write returns.
const CHANGE_LATENCY_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads `feed` until every change in `expected` has arrived (at most 5 s after `since`)
/// and returns what arrived, once each, and how long after `since` the last of it came.
fn await_changes(
    feed: &mut dyn ChangeFeed,
    expected: &[Change],
    since: std::time::Instant,
) -> (std::collections::HashSet<Change>, std::time::Duration) {
    let deadline = since + std::time::Duration::from_secs(5);
    let mut seen = std::collections::HashSet::new();
    let mut latency = std::time::Duration::ZERO;
    while !expected.iter().all(|c| seen.contains(c)) {
        assert!(
            std::time::Instant::now() < deadline,
            "expected {expected:?}, saw {seen:?}"
        );
        let arrived = feed.wait(std::time::Duration::from_millis(200)).unwrap();
        if !arrived.is_empty() {
            latency = since.elapsed();
        }
        seen.extend(arrived);
    }
    (seen, latency)
}

/// Runs `write` (on one node) and checks that `feed` (another node's) reports exactly
/// `expected`, within the latency bound of the write's start (which bounds the time from
/// its commit).
fn announces<T>(
    feed: &mut dyn ChangeFeed,
    what: &str,
    write: impl FnOnce() -> T,
    expected: &[Change],
) -> T {
    let started = std::time::Instant::now();
    let result = write();
    let (seen, latency) = await_changes(feed, expected, started);
    let expected: std::collections::HashSet<Change> = expected.iter().cloned().collect();
    eprintln!("{what}: announced after {latency:?}");
    assert_eq!(seen, expected, "{what}");
    assert!(latency < CHANGE_LATENCY_BOUND, "{what}: took {latency:?}");
    result
}

fn alias_change(alias: &AliasRecord) -> Change {
    Change::Alias {
        account: alias.account.clone(),
        region: alias.region.clone(),
        name: alias.name.clone(),
    }
}

/// Every write that changes what a node caches reaches another node's feed as the change
/// it is, within a second or so of its commit; a write that fails announces nothing.
#[test]
fn postgres_changes_reach_the_other_nodes_feed() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let a = PostgresStore::connect(&url).unwrap();
    let b = PostgresStore::connect(&url).unwrap();
    let mut feed = b.changes().unwrap().unwrap();
    let feed = feed.as_mut();
    let acct = "890000000000";
    // A failed write is followed by this one: its change alone must arrive (notifications
    // come in commit order, so a stray one from the failure would arrive first).
    let marker = |feed: &mut dyn ChangeFeed, what: &str| {
        let k = key(acct);
        announces(
            feed,
            what,
            || a.create_key(&k, None).unwrap(),
            &[Change::Key(k.id)],
        );
    };

    // Keys, their material and grants.
    let mut k = key(acct);
    let key_change = Change::Key(k.id);
    k.revision = announces(
        feed,
        "create key",
        || a.create_key(&k, Some(&material(k.id, 1))).unwrap(),
        std::slice::from_ref(&key_change),
    );
    let stale = k.clone();
    k.description = "changed".into();
    k.revision = announces(
        feed,
        "update key with material",
        || a.update_key(&k, Some(&material(k.id, 2))).unwrap(),
        std::slice::from_ref(&key_change),
    );
    k.revision = announces(
        feed,
        "delete material",
        || a.delete_key_material(&k, &[1]).unwrap(),
        std::slice::from_ref(&key_change),
    );
    assert_eq!(a.update_key(&stale, None), Err(StoreError::Conflict));
    marker(feed, "stale key update");
    assert!(matches!(
        a.create_key(&k, None),
        Err(StoreError::AlreadyExists(_))
    ));
    marker(feed, "duplicate key");
    let g = grant(&k, 1, None);
    announces(
        feed,
        "create grant",
        || a.create_grant(&g).unwrap(),
        std::slice::from_ref(&key_change),
    );
    assert!(matches!(
        a.create_grant(&g),
        Err(StoreError::AlreadyExists(_))
    ));
    marker(feed, "duplicate grant");
    announces(
        feed,
        "delete grant",
        || a.delete_grant(&k.id, &g.grant_id).unwrap(),
        std::slice::from_ref(&key_change),
    );

    // Aliases, whose names hold `/`.
    let other = key(acct);
    announces(
        feed,
        "create other key",
        || a.create_key(&other, None).unwrap(),
        &[Change::Key(other.id)],
    );
    let mut alias = AliasRecord {
        account: acct.into(),
        region: "us-east-1".into(),
        name: "alias/team/app\"1".into(),
        target: k.id,
        created: UnixMillis(1),
        updated: UnixMillis(1),
    };
    announces(
        feed,
        "create alias",
        || a.create_alias(&alias).unwrap(),
        &[alias_change(&alias)],
    );
    assert!(matches!(
        a.create_alias(&alias),
        Err(StoreError::AlreadyExists(_))
    ));
    marker(feed, "duplicate alias");
    alias.target = other.id;
    announces(
        feed,
        "update alias",
        || a.update_alias(&alias).unwrap(),
        &[alias_change(&alias)],
    );
    announces(
        feed,
        "delete alias",
        || a.delete_alias(acct, "us-east-1", &alias.name).unwrap(),
        &[alias_change(&alias)],
    );
    assert!(matches!(
        a.delete_alias(acct, "us-east-1", &alias.name),
        Err(StoreError::NotFound(_))
    ));
    marker(feed, "missing alias");
    // Deleting a key announces the aliases that go with it.
    let doomed = AliasRecord {
        name: "alias/doomed".into(),
        target: k.id,
        ..alias.clone()
    };
    announces(
        feed,
        "create doomed alias",
        || a.create_alias(&doomed).unwrap(),
        &[alias_change(&doomed)],
    );
    let g = grant(&k, 2, None);
    announces(
        feed,
        "create doomed grant",
        || a.create_grant(&g).unwrap(),
        std::slice::from_ref(&key_change),
    );
    announces(
        feed,
        "delete key",
        || a.delete_key(&k.id).unwrap(),
        &[key_change.clone(), alias_change(&doomed)],
    );

    // Users and their access keys; names are folded to lower case.
    let alice_change = Change::User {
        account: acct.into(),
        name: "alice".into(),
    };
    let mut alice = user(acct, "Alice");
    alice.revision = announces(
        feed,
        "create user",
        || a.create_user(&alice).unwrap(),
        std::slice::from_ref(&alice_change),
    );
    assert_eq!(
        a.create_user(&user(acct, "ALICE")),
        Err(StoreError::AlreadyExists("ALICE".into()))
    );
    marker(feed, "duplicate user");
    let alice_key = access_key("AKIAALICE0000001", acct, Some("alice"), 5);
    let alice_key_change = Change::AccessKey(alice_key.access_key_id.clone());
    announces(
        feed,
        "create access key",
        || a.create_access_key(&alice_key).unwrap(),
        std::slice::from_ref(&alice_key_change),
    );
    assert_eq!(
        a.create_access_key(&alice_key),
        Err(StoreError::AlreadyExists(alice_key.access_key_id.clone()))
    );
    marker(feed, "duplicate access key");
    announces(
        feed,
        "deactivate access key",
        || {
            a.set_access_key_active(&alice_key.access_key_id, false)
                .unwrap()
        },
        std::slice::from_ref(&alice_key_change),
    );
    let root_key = access_key("AKIAROOT00000001", acct, None, 6);
    let root_key_change = Change::AccessKey(root_key.access_key_id.clone());
    announces(
        feed,
        "create root access key",
        || a.create_access_key(&root_key).unwrap(),
        std::slice::from_ref(&root_key_change),
    );
    announces(
        feed,
        "delete root access key",
        || a.delete_access_key(&root_key.access_key_id).unwrap(),
        &[root_key_change],
    );
    assert_eq!(
        a.delete_access_key(&root_key.access_key_id),
        Err(StoreError::NotFound(root_key.access_key_id.clone()))
    );
    marker(feed, "missing access key");
    let stale = alice.clone();
    alice.name = "Alicia".into();
    let alicia_change = Change::User {
        account: acct.into(),
        name: "alicia".into(),
    };
    alice.revision = announces(
        feed,
        "rename user",
        || a.update_user(&alice).unwrap(),
        &[
            alice_change.clone(),
            alicia_change.clone(),
            alice_key_change.clone(),
        ],
    );
    assert_eq!(a.update_user(&stale), Err(StoreError::Conflict));
    marker(feed, "stale user update");
    announces(
        feed,
        "delete user",
        || a.delete_user(acct, "ALICIA").unwrap(),
        &[alicia_change, alice_key_change],
    );

    // Roles.
    let app_change = Change::Role {
        account: acct.into(),
        name: "app".into(),
    };
    let mut app = role(acct, "App");
    app.revision = announces(
        feed,
        "create role",
        || a.create_role(&app).unwrap(),
        std::slice::from_ref(&app_change),
    );
    assert!(matches!(
        a.create_role(&role(acct, "app")),
        Err(StoreError::AlreadyExists(_))
    ));
    marker(feed, "duplicate role");
    let stale = app.clone();
    app.description = Some("changed".into());
    app.revision = announces(
        feed,
        "update role",
        || a.update_role(&app).unwrap(),
        std::slice::from_ref(&app_change),
    );
    assert_eq!(a.update_role(&stale), Err(StoreError::Conflict));
    marker(feed, "stale role update");
    announces(
        feed,
        "delete role",
        || a.delete_role(acct, "APP").unwrap(),
        &[app_change],
    );

    // Secrets.
    let mut s = secret(acct, "us-east-1", "db/password");
    let secret_change = Change::Secret(s.id);
    s.revision = announces(
        feed,
        "create secret",
        || a.create_secret(&s, &[value(s.id, "v1")]).unwrap(),
        std::slice::from_ref(&secret_change),
    );
    assert!(matches!(
        a.create_secret(&secret(acct, "us-east-1", "db/password"), &[]),
        Err(StoreError::AlreadyExists(_))
    ));
    marker(feed, "duplicate secret name");
    let stale = s.clone();
    s.description = Some("changed".into());
    s.revision = announces(
        feed,
        "update secret",
        || {
            a.update_secret(&s, &[value(s.id, "v2")], &["v1".into()])
                .unwrap()
        },
        std::slice::from_ref(&secret_change),
    );
    assert_eq!(a.update_secret(&stale, &[], &[]), Err(StoreError::Conflict));
    marker(feed, "stale secret update");
    announces(
        feed,
        "delete secret",
        || a.delete_secret(&s.id).unwrap(),
        &[secret_change],
    );

    // The audit chain and meta values announce nothing.
    append(&a, vec![audit_event(acct, "us-east-1", "Encrypt", 1)]);
    a.put_meta_if_absent("feed-test", b"x").unwrap();
    marker(feed, "audit and meta");
    // Nothing else is pending.
    assert_eq!(
        feed.wait(std::time::Duration::from_millis(300)).unwrap(),
        vec![]
    );
}

/// A node sees its own writes too, a feed that waits in vain returns empty after its
/// timeout, and a payload the feed cannot read is `Unknown`.
#[test]
fn postgres_feed_times_out_and_reports_what_it_cannot_read() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let store = PostgresStore::connect(&url).unwrap();
    let mut feed = store.changes().unwrap().unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        feed.wait(std::time::Duration::from_millis(300)).unwrap(),
        vec![]
    );
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(300) && waited < CHANGE_LATENCY_BOUND,
        "{waited:?}"
    );
    let k = key("891000000000");
    announces(
        feed.as_mut(),
        "own write",
        || store.create_key(&k, None).unwrap(),
        &[Change::Key(k.id)],
    );
    let mut other = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    announces(
        feed.as_mut(),
        "garbage",
        || {
            other
                .batch_execute("NOTIFY keyward_changes, 'k:not json'")
                .unwrap()
        },
        &[Change::Unknown],
    );
    // A rolled-back transaction announces nothing.
    let mut tx = other.transaction().unwrap();
    tx.batch_execute("NOTIFY keyward_changes, '[\"*\"]'")
        .unwrap();
    tx.rollback().unwrap();
    assert_eq!(
        feed.wait(std::time::Duration::from_millis(300)).unwrap(),
        vec![]
    );
    // The changes of several writes in a row all arrive, each once.
    let (x, y) = (key("891000000000"), key("891000000000"));
    store.create_key(&x, None).unwrap();
    store.create_key(&y, None).unwrap();
    let (seen, _) = await_changes(
        feed.as_mut(),
        &[Change::Key(x.id), Change::Key(y.id)],
        std::time::Instant::now(),
    );
    assert_eq!(seen.len(), 2);
}

/// A feed whose connection dies says so, and stays broken; a new feed works.
#[test]
fn postgres_a_broken_feed_says_so() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let store = PostgresStore::connect(&url).unwrap();
    let mut feed = store.changes().unwrap().unwrap();
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND query LIKE 'LISTEN%'",
            &[],
        )
        .unwrap();
    assert_eq!(killed.len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match feed.wait(std::time::Duration::from_millis(200)) {
            Err(StoreError::Backend(message)) => {
                assert!(message.contains("change feed"), "{message}");
                break;
            }
            Err(other) => panic!("{other:?}"),
            Ok(changes) => {
                assert!(changes.is_empty(), "{changes:?}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "the feed did not notice"
                );
            }
        }
    }
    assert!(feed.wait(std::time::Duration::from_millis(10)).is_err());
    let mut feed = store.changes().unwrap().unwrap();
    let k = key("892000000000");
    announces(
        feed.as_mut(),
        "after reopening",
        || store.create_key(&k, None).unwrap(),
        &[Change::Key(k.id)],
    );
}

fn function(account: &str, region: &str, name: &str) -> FunctionRecord {
    FunctionRecord {
        account: account.into(),
        region: region.into(),
        name: name.into(),
        runtime: "python3.12".into(),
        handler: "app.lambda_handler".into(),
        role: format!("arn:aws:iam::{account}:role/runner"),
        description: String::new(),
        timeout: 3,
        memory_size: 128,
        kms_key_arn: None,
        environment: Some(SealedEnvironment {
            encrypted_data_key: vec![1, 2, 3],
            ciphertext: vec![4, 5, 6],
        }),
        code_sha256: "c2hh".into(),
        code_size: 4,
        last_modified: UnixMillis(1_700_000_000_000),
        revision_id: Uuid::new_v4().to_string(),
        code: b"PK\x03\x04".to_vec(),
    }
}

fn functions_round_trip_with_their_code(store: &dyn Store) {
    let (account, region) = ("970000000000", "us-east-1");
    let f = function(account, region, "loadtest");
    store.create_function(&f).unwrap();
    assert!(matches!(
        store.create_function(&f),
        Err(StoreError::AlreadyExists(m)) if m == "Function already exist: loadtest"
    ));
    // Another region or account may use the name.
    store
        .create_function(&function(account, "eu-west-1", "loadtest"))
        .unwrap();
    assert_eq!(
        store.get_function(account, region, "loadtest").unwrap(),
        Some(f.clone())
    );
    assert_eq!(
        store.get_function(account, region, "LOADTEST").unwrap(),
        None
    );

    let mut changed = f.clone();
    changed.timeout = 9;
    changed.code = b"PK\x05\x06".to_vec();
    changed.revision_id = Uuid::new_v4().to_string();
    store.update_function(&changed, &f.revision_id).unwrap();
    // A write based on what was read before the change is refused.
    assert_eq!(
        store.update_function(&changed, &f.revision_id),
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.get_function(account, region, "loadtest").unwrap(),
        Some(changed.clone())
    );

    store
        .create_function(&function(account, region, "alpha"))
        .unwrap();
    let listed = store.list_functions(account, region).unwrap();
    assert_eq!(
        listed.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["alpha", "loadtest"]
    );
    assert!(listed.iter().all(|f| f.code.is_empty()));

    store.delete_function(account, region, "loadtest").unwrap();
    assert!(matches!(
        store.delete_function(account, region, "loadtest"),
        Err(StoreError::NotFound(m)) if m == "Function not found: arn:aws:lambda:us-east-1:970000000000:function:loadtest"
    ));
    assert!(matches!(
        store.update_function(&changed, &changed.revision_id),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.get_function(account, region, "loadtest").unwrap(),
        None
    );
}
