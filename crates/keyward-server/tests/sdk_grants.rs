//! KMS grants through the AWS SDK for Rust, against the server in-process. Keys whose
//! policy leaves out `kms:Decrypt` show that a grant, and only the grant, lets its grantee
//! decrypt: the account root, a role (for all its sessions), one session, or the account
//! as a whole (delegating to identity policies). Grants to IAM users are in the e2e suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use common::start;

const ROOT: &str = "arn:aws:iam::000000000000:root";

fn code<E: ProvideErrorMetadata>(err: &aws_sdk_kms::error::SdkError<E>) -> String {
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("not a service error")
        .to_owned()
}

fn message<E: ProvideErrorMetadata>(err: &aws_sdk_kms::error::SdkError<E>) -> String {
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_owned()
}

/// A key policy that lets the root manage the key and its grants and encrypt, but not
/// decrypt.
fn policy_without_decrypt() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ManageAndEncrypt",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": [
                "kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant", "kms:PutKeyPolicy",
                "kms:GetKeyPolicy", "kms:DescribeKey", "kms:Encrypt", "kms:ScheduleKeyDeletion"
            ],
            "Resource": "*"
        }]
    })
    .to_string()
}

async fn new_key(kms: &aws_sdk_kms::Client, policy: Option<String>) -> String {
    kms.create_key()
        .set_policy(policy)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned()
}

async fn encrypt(kms: &aws_sdk_kms::Client, key_id: &str, department: &str) -> Blob {
    kms.encrypt()
        .key_id(key_id)
        .plaintext(Blob::new("payroll"))
        .encryption_context("Department", department)
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_grant_alone_lets_the_grantee_decrypt_within_its_constraint() {
    let server = start().await;
    let kms = &server.client;
    let key_id = new_key(kms, Some(policy_without_decrypt())).await;
    let it = encrypt(kms, &key_id, "IT").await;
    let hr = encrypt(kms, &key_id, "HR").await;
    let decrypt = |blob: &Blob, department: &str| {
        kms.decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("Department", department)
            .send()
    };

    let denied = decrypt(&it, "IT").await.unwrap_err();
    assert_eq!(code(&denied), "AccessDeniedException");

    let created = kms
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(ROOT)
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("Department", "IT")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let grant_id = created.grant_id().unwrap().to_owned();
    assert_eq!(grant_id.len(), 64);
    assert!(grant_id.bytes().all(|b| b.is_ascii_hexdigit()));
    let token = created.grant_token().unwrap().to_owned();

    let plain = decrypt(&it, "IT").await.unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"payroll");
    // The constraint binds: another department's ciphertext stays closed.
    let mismatch = decrypt(&hr, "HR").await.unwrap_err();
    assert_eq!(code(&mismatch), "AccessDeniedException");
    assert!(
        message(&mismatch).contains("kms:Decrypt"),
        "{}",
        message(&mismatch)
    );

    // Retired by its token, the grant stops working on the next request.
    kms.retire_grant().grant_token(&token).send().await.unwrap();
    let after = decrypt(&it, "IT").await.unwrap_err();
    assert_eq!(code(&after), "AccessDeniedException");
    let listed = kms.list_grants().key_id(&key_id).send().await.unwrap();
    assert!(listed.grants().is_empty());
    let again = kms
        .retire_grant()
        .grant_token(&token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "NotFoundException");
}

#[tokio::test]
async fn list_grants_shows_every_field_and_pages() {
    let server = start().await;
    let kms = &server.client;
    let key_id = new_key(kms, None).await;
    let key_arn = format!("arn:aws:kms:us-east-1:000000000000:key/{key_id}");

    let first = kms
        .create_grant()
        .key_id(&key_arn)
        .name("app-decrypt")
        .grantee_principal(ROOT)
        .retiring_principal(ROOT)
        .operations(GrantOperation::Decrypt)
        .operations(GrantOperation::DescribeKey)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_equals("Department", "IT")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let first_id = first.grant_id().unwrap().to_owned();
    let second = kms
        .create_grant()
        .key_id(&key_id)
        .grantee_principal("ec2.amazonaws.com")
        .operations(GrantOperation::GenerateDataKeyWithoutPlaintext)
        .send()
        .await
        .unwrap();
    let second_id = second.grant_id().unwrap().to_owned();

    let listed = kms.list_grants().key_id(&key_id).send().await.unwrap();
    assert!(!listed.truncated());
    assert_eq!(listed.grants().len(), 2);
    let entry = listed
        .grants()
        .iter()
        .find(|g| g.grant_id() == Some(first_id.as_str()))
        .unwrap();
    assert_eq!(entry.key_id(), Some(key_arn.as_str()));
    assert_eq!(entry.name(), Some("app-decrypt"));
    assert_eq!(entry.grantee_principal(), Some(ROOT));
    assert_eq!(entry.retiring_principal(), Some(ROOT));
    assert_eq!(entry.issuing_account(), Some(ROOT));
    assert_eq!(
        entry.operations(),
        &[GrantOperation::Decrypt, GrantOperation::DescribeKey]
    );
    let equals = entry
        .constraints()
        .unwrap()
        .encryption_context_equals()
        .unwrap();
    assert_eq!(equals.get("Department").map(String::as_str), Some("IT"));
    assert!(entry.creation_date().is_some());

    // A named CreateGrant retried with the same parameters returns the same grant.
    let retried = kms
        .create_grant()
        .key_id(&key_id)
        .name("app-decrypt")
        .grantee_principal(ROOT)
        .retiring_principal(ROOT)
        .operations(GrantOperation::DescribeKey)
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_equals("Department", "IT")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(retried.grant_id(), Some(first_id.as_str()));
    assert_ne!(retried.grant_token(), first.grant_token());

    let page = kms
        .list_grants()
        .key_id(&key_id)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert!(page.truncated());
    assert_eq!(page.grants().len(), 1);
    let rest = kms
        .list_grants()
        .key_id(&key_id)
        .limit(1)
        .marker(page.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert!(!rest.truncated());
    assert_eq!(rest.grants().len(), 1);
    assert_ne!(rest.grants()[0].grant_id(), page.grants()[0].grant_id());

    let by_id = kms
        .list_grants()
        .key_id(&key_id)
        .grant_id(&second_id)
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.grants().len(), 1);
    assert_eq!(
        by_id.grants()[0].grantee_principal(),
        Some("ec2.amazonaws.com")
    );
    assert_eq!(by_id.grants()[0].name(), Some(""));
    let by_grantee = kms
        .list_grants()
        .key_id(&key_id)
        .grantee_principal("ec2.amazonaws.com")
        .send()
        .await
        .unwrap();
    assert_eq!(by_grantee.grants().len(), 1);

    let retirable = kms
        .list_retirable_grants()
        .retiring_principal(ROOT)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = retirable
        .grants()
        .iter()
        .filter_map(|g| g.grant_id())
        .collect();
    assert_eq!(ids, vec![first_id.as_str()]);

    let bad_marker = kms
        .list_grants()
        .key_id(&key_id)
        .marker("nonsense")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad_marker), "InvalidMarkerException");
}

#[tokio::test]
async fn revoke_grant_removes_it_and_then_it_is_not_found() {
    let server = start().await;
    let kms = &server.client;
    let key_id = new_key(kms, Some(policy_without_decrypt())).await;
    let blob = encrypt(kms, &key_id, "IT").await;
    let grant_id = kms
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(ROOT)
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .unwrap()
        .grant_id()
        .unwrap()
        .to_owned();
    let decrypt = || {
        kms.decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("Department", "IT")
            .send()
    };
    decrypt().await.unwrap();

    let dry = kms
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(&grant_id)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&dry), "DryRunOperationException");
    decrypt().await.unwrap();

    kms.revoke_grant()
        .key_id(&key_id)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap();
    assert_eq!(code(&decrypt().await.unwrap_err()), "AccessDeniedException");
    let again = kms
        .revoke_grant()
        .key_id(&key_id)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "NotFoundException");
    let malformed = kms
        .revoke_grant()
        .key_id(&key_id)
        .grant_id("not-a-grant")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&malformed), "InvalidGrantIdException");
    let retire_by_ids = kms
        .retire_grant()
        .key_id(&key_id)
        .grant_id(&grant_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&retire_by_ids), "NotFoundException");
}

#[tokio::test]
async fn create_grant_refuses_what_aws_refuses() {
    let server = start().await;
    let kms = &server.client;
    let key_id = new_key(kms, None).await;
    kms.create_alias()
        .alias_name("alias/granted")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let grant = |key: &str, grantee: &str, ops: &[GrantOperation]| {
        kms.create_grant()
            .key_id(key)
            .grantee_principal(grantee)
            .set_operations(Some(ops.to_vec()))
    };
    let decrypt = [GrantOperation::Decrypt];

    let alias = grant("alias/granted", ROOT, &decrypt)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&alias), "NotFoundException");
    let only_create = grant(&key_id, ROOT, &[GrantOperation::CreateGrant])
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&only_create), "ValidationException");
    assert_eq!(
        message(&only_create),
        "Grants must not contain only the CreateGrant operation."
    );
    let sign = grant(&key_id, ROOT, &[GrantOperation::Sign])
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&sign), "ValidationException");
    let constrained_sign = grant(&key_id, ROOT, &[GrantOperation::Verify])
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("a", "b")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&constrained_sign), "ValidationException");

    for principal in [
        "alice",
        "arn:aws:iam::000000000000:user/nobody",
        "arn:aws:iam::000000000000:role/none",
        "arn:aws:iam::000000000000:group/admins",
    ] {
        let invalid = grant(&key_id, principal, &decrypt)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&invalid), "InvalidArnException", "{principal}");
    }
    let retiring = grant(&key_id, ROOT, &decrypt)
        .retiring_principal("arn:aws:iam::000000000000:user/nobody")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&retiring), "InvalidArnException");

    let dry = grant(&key_id, ROOT, &decrypt)
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&dry), "DryRunOperationException");
    let none = kms.list_grants().key_id(&key_id).send().await.unwrap();
    assert!(none.grants().is_empty());

    let garbled = kms
        .retire_grant()
        .grant_token("this-is-not-a-grant-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&garbled), "InvalidGrantTokenException");
    let nothing = kms.retire_grant().send().await.unwrap_err();
    assert_eq!(code(&nothing), "ValidationException");

    kms.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let pending = grant(&key_id, ROOT, &decrypt).send().await.unwrap_err();
    assert_eq!(code(&pending), "KMSInvalidStateException");
}

const TRUST_ROOT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;
const ROLE_ARN: &str = "arn:aws:iam::000000000000:role/app";

/// A KMS client signed with a new session of the role `app` (made here, with `policy` as its
/// identity policy when given).
async fn role_session(server: &common::Server, policy: Option<&str>) -> aws_sdk_kms::Client {
    let (status, body) = server
        .query(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", "app"),
                ("AssumeRolePolicyDocument", TRUST_ROOT),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    if let Some(policy) = policy {
        let (status, body) = server
            .query(
                "iam",
                &[
                    ("Action", "PutRolePolicy"),
                    ("Version", "2010-05-08"),
                    ("RoleName", "app"),
                    ("PolicyName", "kms"),
                    ("PolicyDocument", policy),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let credentials = server.assume_role(ROLE_ARN, "worker-1").await;
    let session = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_owned()),
        None,
        "sts",
    );
    let config = aws_sdk_kms::config::Builder::from(&server.sdk_config)
        .credentials_provider(session)
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[tokio::test]
async fn a_grant_to_a_role_serves_its_sessions() {
    let server = start().await;
    let kms = &server.client;
    let session = role_session(&server, None).await;
    let key_id = new_key(kms, None).await;
    let blob = encrypt(kms, &key_id, "IT").await;
    let decrypt = || {
        session
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("Department", "IT")
            .send()
    };
    assert_eq!(code(&decrypt().await.unwrap_err()), "AccessDeniedException");

    let by_role = kms
        .create_grant()
        .key_id(&key_id)
        .grantee_principal(ROLE_ARN)
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    assert_eq!(
        decrypt().await.unwrap().plaintext().unwrap().as_ref(),
        b"payroll"
    );
    kms.revoke_grant()
        .key_id(&key_id)
        .grant_id(by_role.grant_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(code(&decrypt().await.unwrap_err()), "AccessDeniedException");

    // A grant can name one session; it then serves that session only.
    kms.create_grant()
        .key_id(&key_id)
        .grantee_principal("arn:aws:sts::000000000000:assumed-role/app/worker-1")
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    decrypt().await.unwrap();
    let listed = kms
        .list_grants()
        .key_id(&key_id)
        .grantee_principal("arn:aws:sts::000000000000:assumed-role/app/worker-1")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.grants().len(), 1);
}

#[tokio::test]
async fn a_grant_to_the_account_delegates_to_identity_policies() {
    let server = start().await;
    let kms = &server.client;
    let session = role_session(
        &server,
        Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#),
    )
    .await;
    // The key policy names the root for management only: IAM policies alone cannot let
    // the role decrypt.
    let key_id = new_key(kms, Some(policy_without_decrypt())).await;
    let blob = encrypt(kms, &key_id, "IT").await;
    let decrypt = || {
        session
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("Department", "IT")
            .send()
    };
    assert_eq!(code(&decrypt().await.unwrap_err()), "AccessDeniedException");
    kms.create_grant()
        .key_id(&key_id)
        .grantee_principal(ROOT)
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    decrypt().await.unwrap();
    // The grant gives Decrypt only, whatever the identity policy would allow.
    let encrypt_denied = session
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&encrypt_denied), "AccessDeniedException");
}
