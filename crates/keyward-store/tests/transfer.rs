//! `keyward export` / `keyward import` at the store level: an installation filled through
//! the `Store` trait comes out of another store (of either kind) the same, audit chain
//! included, and a file that is cut short, damaged or aimed at a store in use changes
//! nothing. The PostgreSQL cases run when `KEYWARD_TEST_POSTGRES` names a server.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;
use support::fresh_postgres_database;

use std::collections::BTreeMap;

use keyward_core::alias::AliasRecord;
use keyward_core::audit::{self, AuditEvent, ChainedEvent, Checkpoint};
use keyward_core::function::{FunctionRecord, SealedEnvironment};
use keyward_core::grant::{new_grant_id, GrantRecord};
use keyward_core::iam::{
    new_principal_id, RoleRecord, UserRecord, DEFAULT_PATH, ROLE_ID_PREFIX, USER_ID_PREFIX,
};
use keyward_core::key::{KeyManager, KeyRecord, KeyState};
use keyward_core::secret::{SecretRecord, VersionInfo, AWSCURRENT, AWSPREVIOUS};
use keyward_core::store::{AccessKeyRow, AuditAttribute, AuditQuery, MaterialRow, SecretValueRow};
use keyward_core::{AccountId, Region, Store, UnixMillis};
use keyward_crypto::sha256;
use keyward_store::transfer::Summary;
use keyward_store::{PostgresStore, SqliteStore, Transfer, TransferError};
use uuid::Uuid;

const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";

fn key(state: KeyState) -> KeyRecord {
    KeyRecord {
        id: Uuid::new_v4(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        description: "d".into(),
        created: UnixMillis(1),
        state,
        deletion_date: (state == KeyState::PendingDeletion).then_some(UnixMillis(9_000)),
        pending_window_days: None,
        key_usage: "ENCRYPT_DECRYPT".into(),
        key_spec: "SYMMETRIC_DEFAULT".into(),
        origin: "AWS_KMS".into(),
        manager: KeyManager::Customer,
        policy: "{}".into(),
        policy_principals: Default::default(),
        tags: BTreeMap::from([("team".into(), "a".into())]),
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
        // Every byte value, so that base64 sees them all.
        wrapped: (0..=255u8).map(|b| b.wrapping_add(version as u8)).collect(),
        created: UnixMillis(i64::from(version)),
    }
}

fn grant(key: &KeyRecord, created: i64, retiring: Option<&str>) -> GrantRecord {
    GrantRecord {
        key_id: key.id,
        grant_id: new_grant_id().unwrap(),
        name: Some("g".into()),
        account: AccountId::parse(ACCOUNT).unwrap(),
        region: Region::parse(REGION).unwrap(),
        grantee_principal: format!("arn:aws:iam::{ACCOUNT}:role/app"),
        retiring_principal: retiring.map(str::to_owned),
        issuing_account: format!("arn:aws:iam::{ACCOUNT}:root"),
        operations: vec!["Decrypt".into()],
        constraints: None,
        created: UnixMillis(created),
    }
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        account: AccountId::parse(ACCOUNT).unwrap(),
        name: name.into(),
        path: DEFAULT_PATH.into(),
        user_id: new_principal_id(USER_ID_PREFIX).unwrap(),
        created: UnixMillis(1),
        tags: vec![],
        policies: BTreeMap::from([("read".into(), r#"{"Version":"2012-10-17"}"#.into())]),
        revision: 0,
    }
}

fn role(name: &str) -> RoleRecord {
    RoleRecord {
        account: AccountId::parse(ACCOUNT).unwrap(),
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

fn access_key(id: &str, user_name: Option<&str>, created: i64) -> AccessKeyRow {
    AccessKeyRow {
        access_key_id: id.into(),
        wrapped_secret: format!("wrapped-{id}").into_bytes(),
        account: ACCOUNT.into(),
        principal_arn: match user_name {
            Some(name) => format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
            None => format!("arn:aws:iam::{ACCOUNT}:root"),
        },
        created: UnixMillis(created),
        active: true,
        user_name: user_name.map(str::to_owned),
    }
}

fn version(id: &str, stage: &str) -> VersionInfo {
    VersionInfo {
        id: id.into(),
        created: UnixMillis(1),
        stages: vec![stage.into()],
        last_accessed: None,
        kms_key_arn: format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/k"),
        earlier_kms_keys: Vec::new(),
        empty: false,
    }
}

fn secret(name: &str, versions: Vec<VersionInfo>, created: i64) -> SecretRecord {
    SecretRecord {
        id: Uuid::new_v4(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        name: name.into(),
        arn: SecretRecord::arn_for(REGION, ACCOUNT, name, "AbCdEf"),
        description: Some("d".into()),
        kms_key_id: None,
        created: UnixMillis(created),
        last_changed: UnixMillis(created),
        last_accessed: None,
        deleted: None,
        deletion_date: None,
        tags: vec![("team".into(), "a".into())],
        resource_policy: None,
        policy_principals: Default::default(),
        versions,
        replicas: vec![],
        primary_region: None,
        rotation: None,
        revision: 0,
    }
}

fn value(secret_id: Uuid, version_id: &str, binary: bool) -> SecretValueRow {
    SecretValueRow {
        secret_id,
        version_id: version_id.into(),
        encrypted_data_key: format!("dk-{version_id}").into_bytes(),
        ciphertext: format!("ct-{version_id}").into_bytes(),
        binary,
    }
}

fn event(name: &str, time: i64, resources: &[(&str, &str)]) -> AuditEvent {
    AuditEvent {
        event_id: Uuid::new_v4().to_string(),
        event_time: UnixMillis(time),
        event_source: "kms.amazonaws.com".into(),
        event_name: name.into(),
        read_only: name.starts_with("Describe"),
        username: Some("root".into()),
        access_key_id: (time % 2 == 0).then(|| "AKIAROOTROOTROOT1".into()),
        resources: resources
            .iter()
            .map(|(kind, name)| ((*kind).into(), (*name).into()))
            .collect(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        record: format!("{{\"eventName\":\"{name}\",\"text\":\"é \\u0000 \\\"q\\\"\"}}"),
    }
}

/// Appends `events` after the head, linked as the audit writer links them.
fn append(store: &dyn Store, events: Vec<AuditEvent>) {
    let mut head = store.audit_head().unwrap();
    let chained: Vec<ChainedEvent> = events
        .into_iter()
        .map(|event| {
            let linked = audit::link(head, event, sha256);
            head = Checkpoint {
                seq: linked.seq,
                hash: linked.hash,
            };
            linked
        })
        .collect();
    store.append_audit(&chained).unwrap();
}

/// Some of everything a store holds.
fn fill(store: &dyn Store) {
    store
        .put_meta_if_absent("account-id", ACCOUNT.as_bytes())
        .unwrap();
    store
        .create_function(&FunctionRecord {
            account: ACCOUNT.into(),
            region: REGION.into(),
            name: "loadtest".into(),
            runtime: "python3.12".into(),
            handler: "app.lambda_handler".into(),
            role: format!("arn:aws:iam::{ACCOUNT}:role/loadtest"),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            kms_key_arn: None,
            environment: Some(SealedEnvironment {
                encrypted_data_key: vec![1, 2],
                ciphertext: vec![3, 4],
            }),
            code_sha256: "c2hh".into(),
            code_size: 4,
            last_modified: UnixMillis(1),
            revision_id: "r1".into(),
            code: b"PK\x03\x04".to_vec(),
        })
        .unwrap();
    store
        .put_meta_if_absent("root-key-check", &[0, 1, 2, 255])
        .unwrap();

    let mut rotated = key(KeyState::Enabled);
    store
        .create_key(&rotated, Some(&material(rotated.id, 1)))
        .unwrap();
    rotated.revision = 1;
    rotated.current_material = 2;
    store
        .update_key(&rotated, Some(&material(rotated.id, 2)))
        .unwrap();
    let doomed = key(KeyState::PendingDeletion);
    store
        .create_key(&doomed, Some(&material(doomed.id, 1)))
        .unwrap();
    let mut pending = key(KeyState::PendingImport);
    pending.origin = "EXTERNAL".into();
    store.create_key(&pending, None).unwrap();

    for (name, target) in [("alias/app", rotated.id), ("alias/old", doomed.id)] {
        store
            .create_alias(&AliasRecord {
                account: ACCOUNT.into(),
                region: REGION.into(),
                name: name.into(),
                target,
                created: UnixMillis(3),
                updated: UnixMillis(4),
            })
            .unwrap();
    }
    store.create_grant(&grant(&rotated, 10, None)).unwrap();
    store
        .create_grant(&grant(
            &rotated,
            11,
            Some("arn:aws:iam::000000000000:user/ops"),
        ))
        .unwrap();

    store.create_user(&user("Alice")).unwrap();
    store.create_role(&role("app")).unwrap();
    store
        .create_access_key(&access_key("AKIAROOTROOTROOT1", None, 1))
        .unwrap();
    store
        .create_access_key(&access_key("AKIAALICEALICE01", Some("Alice"), 2))
        .unwrap();
    store
        .create_access_key(&access_key("AKIAALICEALICE02", Some("Alice"), 3))
        .unwrap();
    store
        .set_access_key_active("AKIAALICEALICE02", false)
        .unwrap();

    let two = secret(
        "db/password",
        vec![version("v1", AWSPREVIOUS), version("v2", AWSCURRENT)],
        5,
    );
    store
        .create_secret(
            &two,
            &[value(two.id, "v1", false), value(two.id, "v2", true)],
        )
        .unwrap();
    let mut deleted = secret("old/token", vec![version("v1", AWSCURRENT)], 6);
    deleted.deleted = Some(UnixMillis(7));
    deleted.deletion_date = Some(UnixMillis(8_000));
    store
        .create_secret(&deleted, &[value(deleted.id, "v1", false)])
        .unwrap();

    let key_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{}", rotated.id);
    append(
        store,
        vec![
            event("CreateKey", 1_000, &[("AWS::KMS::Key", &key_arn)]),
            event("Encrypt", 1_001, &[]),
        ],
    );
    append(
        store,
        vec![event("Decrypt", 1_002, &[("AWS::KMS::Key", "arn:old")])],
    );
    // The checkpoint moves past the first events...
    store.prune_audit(UnixMillis(1_003)).unwrap();
    // ...and the chain goes on: several resources per event, in an order to keep.
    append(
        store,
        vec![
            event(
                "CreateGrant",
                2_000,
                &[
                    ("AWS::KMS::Key", "arn:z"),
                    ("AWS::KMS::Key", "arn:a"),
                    ("AWS::KMS::Grant", "arn:m"),
                ],
            ),
            event("DescribeKey", 2_001, &[("AWS::KMS::Key", &key_arn)]),
            event(
                "ReEncrypt",
                2_002,
                &[("AWS::KMS::Key", "arn:b"), ("AWS::KMS::Key", "arn:a")],
            ),
        ],
    );
}

/// Everything the `Store` trait shows of a filled store.
#[derive(Debug, PartialEq)]
struct Snapshot {
    meta: Vec<Option<Vec<u8>>>,
    keys: Vec<KeyRecord>,
    materials: Vec<Vec<MaterialRow>>,
    keys_due: Vec<Uuid>,
    aliases: Vec<AliasRecord>,
    grants: Vec<GrantRecord>,
    retirable: Vec<GrantRecord>,
    users: Vec<UserRecord>,
    roles: Vec<RoleRecord>,
    access_keys: Vec<Option<AccessKeyRow>>,
    root_keys: Vec<AccessKeyRow>,
    alice_keys: Vec<AccessKeyRow>,
    secrets: Vec<SecretRecord>,
    values: Vec<Option<SecretValueRow>>,
    secrets_due: Vec<Uuid>,
    checkpoint: Checkpoint,
    head: Checkpoint,
    chain: Vec<ChainedEvent>,
    by_resource: Vec<u64>,
    functions: Vec<Option<FunctionRecord>>,
}

fn snapshot(store: &dyn Store) -> Snapshot {
    let keys = store.list_keys(ACCOUNT, REGION, None, 1000).unwrap();
    let secrets = store.list_secrets(ACCOUNT, REGION).unwrap();
    let checkpoint = store.audit_checkpoint().unwrap();
    let chain = store.audit_range(checkpoint.seq, usize::MAX).unwrap();
    let mut values = Vec::new();
    for secret in &secrets {
        for version in &secret.versions {
            values.push(store.get_secret_value(&secret.id, &version.id).unwrap());
        }
    }
    Snapshot {
        meta: [
            "account-id",
            "root-key-check",
            "audit-checkpoint",
            "audit-head",
        ]
        .iter()
        .map(|name| store.get_meta(name).unwrap())
        .collect(),
        materials: keys
            .iter()
            .map(|k| store.materials(&k.id).unwrap())
            .collect(),
        keys_due: store.keys_due(UnixMillis(10_000)).unwrap(),
        keys,
        aliases: store.all_aliases().unwrap(),
        grants: store.all_grants().unwrap(),
        retirable: store
            .list_grants_by_retiring_principal(ACCOUNT, "arn:aws:iam::000000000000:user/ops")
            .unwrap(),
        users: store.list_users(ACCOUNT).unwrap(),
        roles: store.list_roles(ACCOUNT).unwrap(),
        access_keys: ["AKIAROOTROOTROOT1", "AKIAALICEALICE01", "AKIAALICEALICE02"]
            .iter()
            .map(|id| store.get_access_key(id).unwrap())
            .collect(),
        root_keys: store.list_access_keys(ACCOUNT, None).unwrap(),
        alice_keys: store.list_access_keys(ACCOUNT, Some("alice")).unwrap(),
        values,
        secrets_due: store.secrets_due(UnixMillis(10_000)).unwrap(),
        secrets,
        head: store.audit_head().unwrap(),
        by_resource: store
            .lookup_audit(&AuditQuery {
                account: ACCOUNT.into(),
                region: REGION.into(),
                attribute: Some((AuditAttribute::ResourceName, "arn:a".into())),
                start: None,
                end: None,
                before_seq: None,
                limit: 100,
            })
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect(),
        checkpoint,
        chain,
        functions: vec![store.get_function(ACCOUNT, REGION, "loadtest").unwrap()],
    }
}

/// What was filled in is all there, and the chain verifies from its checkpoint.
fn check_filled(snap: &Snapshot) {
    assert_eq!(snap.keys.len(), 3);
    assert_eq!(snap.materials.iter().map(Vec::len).sum::<usize>(), 3);
    assert_eq!(snap.keys_due.len(), 1);
    assert_eq!(snap.aliases.len(), 2);
    assert_eq!(snap.grants.len(), 2);
    assert_eq!(snap.retirable.len(), 1);
    assert_eq!((snap.users.len(), snap.roles.len()), (1, 1));
    assert!(snap.access_keys.iter().all(Option::is_some));
    assert_eq!((snap.root_keys.len(), snap.alice_keys.len()), (1, 2));
    assert!(!snap.alice_keys[1].active);
    assert_eq!(snap.secrets.len(), 2);
    assert!(snap.values.iter().all(Option::is_some));
    assert_eq!(snap.secrets_due.len(), 1);
    assert!(snap.meta.iter().all(Option::is_some));
    assert_ne!(snap.checkpoint, Checkpoint::GENESIS, "the chain was pruned");
    assert_eq!(snap.chain.len(), 3);
    assert!(snap.functions.iter().all(Option::is_some));
    assert_eq!(snap.chain[0].event.resources.len(), 3);
    assert_eq!(snap.by_resource, [snap.chain[2].seq, snap.chain[0].seq]);
    assert_eq!(
        audit::verify(snap.checkpoint, &snap.chain, sha256),
        Ok(snap.head)
    );
}

fn export(store: &dyn Transfer) -> (Vec<u8>, Summary) {
    let mut out = Vec::new();
    let summary = store.export(&mut out).unwrap();
    (out, summary)
}

fn import(store: &dyn Transfer, file: &[u8]) -> Result<Summary, TransferError> {
    let mut input = file;
    store.import(&mut input)
}

fn rows(store: &dyn Transfer) -> u64 {
    export(store).1.rows()
}

fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).unwrap();
    (dir, store)
}

fn postgres() -> Option<PostgresStore> {
    fresh_postgres_database().map(|url| PostgresStore::connect(&url).unwrap())
}

#[test]
fn sqlite_to_sqlite_keeps_everything() {
    let (_dir, source) = sqlite();
    fill(&source);
    let before = snapshot(&source);
    check_filled(&before);
    let (file, exported) = export(&source);
    assert_eq!(exported.tables.len(), 12);
    assert!(
        exported.tables.iter().all(|(_, count)| *count > 0),
        "{exported}"
    );

    let (_target_dir, target) = sqlite();
    assert_eq!(import(&target, &file).unwrap(), exported);
    assert_eq!(snapshot(&target), before);
    // Exporting the copy gives the same file, byte for byte.
    assert_eq!(export(&target).0, file);

    // The copy is a working store: the chain goes on from its head, keys change.
    append(&target, vec![event("Encrypt", 3_000, &[])]);
    let after = snapshot(&target);
    assert_eq!(
        audit::verify(after.checkpoint, &after.chain, sha256),
        Ok(after.head)
    );
    let mut key = after.keys[0].clone();
    key.description = "changed".into();
    target.update_key(&key, None).unwrap();
}

#[test]
fn sqlite_to_postgres_and_back_keeps_everything() {
    let Some(pg) = postgres() else {
        return;
    };
    let (_dir, source) = sqlite();
    fill(&source);
    let before = snapshot(&source);
    let (file, exported) = export(&source);

    assert_eq!(import(&pg, &file).unwrap(), exported);
    assert_eq!(snapshot(&pg), before);
    // The same order and the same values from PostgreSQL: resources numbered in file order.
    let (from_pg, _) = export(&pg);
    assert_eq!(from_pg, file);

    let (_back_dir, back) = sqlite();
    import(&back, &from_pg).unwrap();
    assert_eq!(snapshot(&back), before);

    append(
        &pg,
        vec![event("Encrypt", 3_000, &[("AWS::KMS::Key", "arn:a")])],
    );
    let after = snapshot(&pg);
    assert_eq!(
        audit::verify(after.checkpoint, &after.chain, sha256),
        Ok(after.head)
    );
}

#[test]
fn postgres_to_postgres_keeps_everything() {
    let (Some(source), Some(target)) = (postgres(), postgres()) else {
        return;
    };
    fill(&source);
    let before = snapshot(&source);
    check_filled(&before);
    let (file, exported) = export(&source);
    assert_eq!(import(&target, &file).unwrap(), exported);
    assert_eq!(snapshot(&target), before);
    assert_eq!(export(&target).0, file);
}

#[test]
fn an_empty_store_exports_an_empty_file_that_imports() {
    let (_dir, source) = sqlite();
    let (file, summary) = export(&source);
    assert_eq!(summary.rows(), 0);
    assert_eq!(String::from_utf8(file.clone()).unwrap().lines().count(), 2);
    let (_target_dir, target) = sqlite();
    import(&target, &file).unwrap();
    assert_eq!(rows(&target), 0);
}

/// Every way the target or the file can be wrong, on one target store: each refusal
/// leaves it as it was.
fn refusals(target: &dyn Transfer, store: &dyn Store) {
    let (_dir, source) = sqlite();
    fill(&source);
    let (file, _) = export(&source);
    let text = String::from_utf8(file.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let join = |lines: &[&str]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let format_error = |result: Result<Summary, TransferError>| match result {
        Err(TransferError::Format { message, .. }) => message,
        Err(other) => panic!("not a format error: {other}"),
        Ok(_) => panic!("imported a bad file"),
    };

    // Cut short: without the trailer, without rows before it, in the middle of a line.
    let no_trailer = join(&lines[..lines.len() - 1]);
    assert!(format_error(import(target, no_trailer.as_bytes())).contains("cut short"));
    let mut short = lines.clone();
    short.remove(lines.len() - 3);
    short.remove(lines.len() - 3);
    assert!(format_error(import(target, join(&short).as_bytes())).contains("missing"));
    assert!(format_error(import(target, &file[..file.len() * 2 / 3])).contains("line"));
    assert_eq!(rows(target), 0);

    // A line of garbage, a row of another shape, a row out of order.
    for bad in [
        "garbage",
        r#"{"table":"keys","row":[1]}"#,
        r#"{"table":"meta","row":["x",""]}"#,
    ] {
        let mut damaged = lines.clone();
        damaged.insert(lines.len() - 2, bad);
        format_error(import(target, join(&damaged).as_bytes()));
        assert_eq!(rows(target), 0, "{bad}");
    }

    // Rows that break the schema (a grant of a key the file lacks): the database refuses
    // them, and the rows before went nowhere either.
    let without_keys: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| {
            !l.starts_with(r#"{"table":"keys""#) && !l.starts_with(r#"{"table":"key_material""#)
        })
        .collect();
    assert!(matches!(
        import(target, join(&without_keys).as_bytes()),
        Err(TransferError::Sqlite(_) | TransferError::Postgres(_))
    ));
    assert_eq!(rows(target), 0);

    // A store with rows is never imported into.
    store
        .put_meta_if_absent("account-id", b"111111111111")
        .unwrap();
    assert!(matches!(
        import(target, &file),
        Err(TransferError::NotEmpty("meta"))
    ));
    let (_, summary) = export(target);
    assert_eq!(summary.rows(), 1);
    assert_eq!(
        store.get_meta("account-id").unwrap().as_deref(),
        Some(&b"111111111111"[..])
    );
}

#[test]
fn sqlite_refuses_bad_files_and_stores_in_use() {
    let (_dir, target) = sqlite();
    refusals(&target, &target);
    // A store filled by a server is just as refused.
    let (_dir, used) = sqlite();
    fill(&used);
    let (file, _) = export(&used);
    assert!(matches!(
        import(&used, &file),
        Err(TransferError::NotEmpty("meta"))
    ));
}

#[test]
fn postgres_refuses_bad_files_and_stores_in_use() {
    let Some(target) = postgres() else {
        return;
    };
    refusals(&target, &target);
}
