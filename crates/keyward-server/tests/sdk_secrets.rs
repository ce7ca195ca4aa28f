//! Integration tests: Secrets Manager on the server in-process, driven by the AWS SDK for
//! Rust (aws-sdk-secretsmanager), asserting what AWS answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::SortOrderType;
use aws_sdk_secretsmanager::Client;
use common::{start, Server};
use keyward_core::{Clock, UnixMillis};

const ACCOUNT: &str = "000000000000";
const MILLIS_PER_DAY: i64 = 86_400_000;

fn client(server: &Server) -> Client {
    Client::new(&server.sdk_config)
}

fn code<E: ProvideErrorMetadata>(err: &SdkError<E>) -> String {
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("not a service error")
        .to_owned()
}

fn message<E: ProvideErrorMetadata>(err: &SdkError<E>) -> String {
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_owned()
}

async fn current_string(sm: &Client, secret_id: &str) -> String {
    sm.get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned()
}

async fn stages(sm: &Client, secret_id: &str) -> HashMap<String, Vec<String>> {
    let mut map = sm
        .describe_secret()
        .secret_id(secret_id)
        .send()
        .await
        .unwrap()
        .version_ids_to_stages()
        .cloned()
        .unwrap_or_default();
    for labels in map.values_mut() {
        labels.sort();
    }
    map
}

fn labels(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// Whether `arn` is `arn:aws:secretsmanager:us-east-1:<account>:secret:<name>-XXXXXX`.
fn is_secret_arn(arn: &str, name: &str) -> bool {
    let prefix = format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-");
    arn.strip_prefix(&prefix)
        .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[tokio::test]
async fn create_get_put_move_current_and_previous() {
    let server = start().await;
    let sm = client(&server);

    let created = sm
        .create_secret()
        .name("student")
        .description("Encrypted password for student user")
        .secret_string(r#"{"Password":"lab_password"}"#)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_owned();
    assert!(is_secret_arn(&arn, "student"), "{arn}");
    assert_eq!(created.name(), Some("student"));
    let v1 = created.version_id().unwrap().to_owned();

    // The seed lab's read, by name, full ARN and partial ARN.
    let partial = format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:student");
    for id in ["student", arn.as_str(), partial.as_str()] {
        let got = sm.get_secret_value().secret_id(id).send().await.unwrap();
        assert_eq!(got.secret_string(), Some(r#"{"Password":"lab_password"}"#));
        assert_eq!(got.arn(), Some(arn.as_str()));
        assert_eq!(got.version_id(), Some(v1.as_str()));
        assert_eq!(got.version_stages(), ["AWSCURRENT"]);
        assert!(got.secret_binary().is_none());
    }
    let described = sm
        .describe_secret()
        .secret_id("student")
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.description(),
        Some("Encrypted password for student user")
    );

    let again = sm
        .create_secret()
        .name("student")
        .secret_string("other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&again), "ResourceExistsException");

    let put2 = sm
        .put_secret_value()
        .secret_id("student")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    let v2 = put2.version_id().unwrap().to_owned();
    assert_ne!(v1, v2);
    assert_eq!(put2.arn(), Some(arn.as_str()));
    assert_eq!(put2.version_stages(), ["AWSCURRENT"]);
    assert_eq!(current_string(&sm, "student").await, "v2");
    let previous = sm
        .get_secret_value()
        .secret_id("student")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(previous.version_id(), Some(v1.as_str()));
    assert_eq!(
        previous.secret_string(),
        Some(r#"{"Password":"lab_password"}"#)
    );
    assert_eq!(previous.version_stages(), ["AWSPREVIOUS"]);

    let v3 = sm
        .put_secret_value()
        .secret_id("student")
        .secret_string("v3")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    // v1 lost its last label: deprecated, shown by neither DescribeSecret nor the default
    // ListSecretVersionIds, but still readable by id until it is pruned.
    assert_eq!(
        stages(&sm, "student").await,
        HashMap::from([
            (v3.clone(), labels(&["AWSCURRENT"])),
            (v2.clone(), labels(&["AWSPREVIOUS"])),
        ])
    );
    let listed = sm
        .list_secret_version_ids()
        .secret_id("student")
        .send()
        .await
        .unwrap();
    let ids: BTreeSet<&str> = listed
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([v2.as_str(), v3.as_str()]));
    let all = sm
        .list_secret_version_ids()
        .secret_id("student")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    let ids: BTreeSet<&str> = all
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([v1.as_str(), v2.as_str(), v3.as_str()]));
    let old = sm
        .get_secret_value()
        .secret_id("student")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(old.secret_string(), Some(r#"{"Password":"lab_password"}"#));
    assert!(old.version_stages().is_empty());

    // A put with other labels leaves AWSCURRENT where it is.
    let pending = sm
        .put_secret_value()
        .secret_id("student")
        .secret_string("v4")
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert_eq!(pending.version_stages(), ["AWSPENDING"]);
    let v4 = pending.version_id().unwrap().to_owned();
    assert_eq!(current_string(&sm, "student").await, "v3");
    let by_stage = sm
        .get_secret_value()
        .secret_id("student")
        .version_stage("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert_eq!(by_stage.version_id(), Some(v4.as_str()));
    assert_eq!(by_stage.secret_string(), Some("v4"));
}

#[tokio::test]
async fn get_secret_value_by_version_id_and_stage() {
    let server = start().await;
    let sm = client(&server);

    // A secret without a value has no AWSCURRENT version to read.
    sm.create_secret().name("app/db").send().await.unwrap();
    let err = sm
        .get_secret_value()
        .secret_id("app/db")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    let v1 = sm
        .put_secret_value()
        .secret_id("app/db")
        .secret_string("one")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    // The first value of a secret is AWSCURRENT.
    assert_eq!(current_string(&sm, "app/db").await, "one");
    let v2 = sm
        .put_secret_value()
        .secret_id("app/db")
        .secret_string("two")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();

    let by_id = sm
        .get_secret_value()
        .secret_id("app/db")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.secret_string(), Some("one"));
    assert_eq!(by_id.version_stages(), ["AWSPREVIOUS"]);

    let both = sm
        .get_secret_value()
        .secret_id("app/db")
        .version_id(&v2)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    assert_eq!(both.secret_string(), Some("two"));

    let mismatch = sm
        .get_secret_value()
        .secret_id("app/db")
        .version_id(&v1)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&mismatch), "InvalidRequestException");

    let no_such_version = sm
        .get_secret_value()
        .secret_id("app/db")
        .version_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_such_version), "ResourceNotFoundException");

    let no_such_stage = sm
        .get_secret_value()
        .secret_id("app/db")
        .version_stage("AWSPENDING")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_such_stage), "ResourceNotFoundException");

    let no_such_secret = sm
        .get_secret_value()
        .secret_id("app/none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&no_such_secret), "ResourceNotFoundException");
    assert_eq!(
        message(&no_such_secret),
        "Secrets Manager can't find the specified secret."
    );
}

#[tokio::test]
async fn client_request_token_makes_retries_idempotent() {
    let server = start().await;
    let sm = client(&server);
    const T1: &str = "11111111-1111-4111-8111-111111111111";
    const T2: &str = "22222222-2222-4222-8222-222222222222";
    const T3: &str = "33333333-3333-4333-8333-333333333333";

    let first = sm
        .create_secret()
        .name("retry")
        .secret_string("alpha")
        .client_request_token(T1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.version_id(), Some(T1));
    // CreateSecret retried with the same token and value: the same answer, nothing new.
    let retried = sm
        .create_secret()
        .name("retry")
        .secret_string("alpha")
        .client_request_token(T1)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.arn(), first.arn());
    assert_eq!(retried.version_id(), Some(T1));

    let put = sm
        .put_secret_value()
        .secret_id("retry")
        .secret_string("beta")
        .client_request_token(T2)
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_id(), Some(T2));
    let before = stages(&sm, "retry").await;
    assert_eq!(
        before,
        HashMap::from([
            (T2.to_owned(), labels(&["AWSCURRENT"])),
            (T1.to_owned(), labels(&["AWSPREVIOUS"])),
        ])
    );

    let repeat = sm
        .put_secret_value()
        .secret_id("retry")
        .secret_string("beta")
        .client_request_token(T2)
        .send()
        .await
        .unwrap();
    assert_eq!(repeat.version_id(), Some(T2));
    assert_eq!(stages(&sm, "retry").await, before);

    // Same token, other value.
    let conflict = sm
        .put_secret_value()
        .secret_id("retry")
        .secret_string("gamma")
        .client_request_token(T2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&conflict), "ResourceExistsException");
    // Same token, same bytes but binary instead of text: another value too.
    let conflict = sm
        .put_secret_value()
        .secret_id("retry")
        .secret_binary(Blob::new("beta"))
        .client_request_token(T2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&conflict), "ResourceExistsException");
    assert_eq!(current_string(&sm, "retry").await, "beta");

    // A late retry of T2 after T3 became current changes nothing either.
    sm.put_secret_value()
        .secret_id("retry")
        .secret_string("delta")
        .client_request_token(T3)
        .send()
        .await
        .unwrap();
    sm.put_secret_value()
        .secret_id("retry")
        .secret_string("beta")
        .client_request_token(T2)
        .send()
        .await
        .unwrap();
    assert_eq!(current_string(&sm, "retry").await, "delta");
    assert_eq!(
        stages(&sm, "retry").await,
        HashMap::from([
            (T3.to_owned(), labels(&["AWSCURRENT"])),
            (T2.to_owned(), labels(&["AWSPREVIOUS"])),
        ])
    );
    let versions = sm
        .list_secret_version_ids()
        .secret_id("retry")
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 3);
}

#[tokio::test]
async fn update_secret_version_stage_follows_the_rules() {
    let server = start().await;
    let sm = client(&server);
    let v1 = sm
        .create_secret()
        .name("staged")
        .secret_string("one")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let v2 = sm
        .put_secret_value()
        .secret_id("staged")
        .secret_string("two")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();

    // A custom label nobody holds: attached without RemoveFromVersionId.
    sm.update_secret_version_stage()
        .secret_id("staged")
        .version_stage("BLUE")
        .move_to_version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stages(&sm, "staged").await,
        HashMap::from([
            (v2.clone(), labels(&["AWSCURRENT"])),
            (v1.clone(), labels(&["AWSPREVIOUS", "BLUE"])),
        ])
    );
    let blue = sm
        .get_secret_value()
        .secret_id("staged")
        .version_stage("BLUE")
        .send()
        .await
        .unwrap();
    assert_eq!(blue.secret_string(), Some("one"));

    // Moving a label attached elsewhere needs RemoveFromVersionId naming its holder.
    let err = sm
        .update_secret_version_stage()
        .secret_id("staged")
        .version_stage("BLUE")
        .move_to_version_id(&v2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .update_secret_version_stage()
        .secret_id("staged")
        .version_stage("BLUE")
        .move_to_version_id(&v2)
        .remove_from_version_id(&v2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    sm.update_secret_version_stage()
        .secret_id("staged")
        .version_stage("BLUE")
        .move_to_version_id(&v2)
        .remove_from_version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stages(&sm, "staged").await,
        HashMap::from([
            (v2.clone(), labels(&["AWSCURRENT", "BLUE"])),
            (v1.clone(), labels(&["AWSPREVIOUS"])),
        ])
    );

    // AWSCURRENT can't be removed, only moved; moving it without RemoveFromVersionId is
    // refused with AWS's message.
    let err = sm
        .update_secret_version_stage()
        .secret_id("staged")
        .version_stage("AWSCURRENT")
        .remove_from_version_id(&v2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = sm
        .update_secret_version_stage()
        .secret_id("staged")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    assert!(
        message(&err).starts_with(&format!(
            "The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version {v2}"
        )),
        "{}",
        message(&err)
    );
    assert_eq!(current_string(&sm, "staged").await, "two");

    // Neither label nor version given.
    let err = sm
        .update_secret_version_stage()
        .secret_id("staged")
        .version_stage("BLUE")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");

    // Rolling back: AWSCURRENT to v1; AWSPREVIOUS follows to v2 on its own.
    sm.update_secret_version_stage()
        .secret_id("staged")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&v1)
        .remove_from_version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(current_string(&sm, "staged").await, "one");
    assert_eq!(
        stages(&sm, "staged").await,
        HashMap::from([
            (v1.clone(), labels(&["AWSCURRENT"])),
            (v2.clone(), labels(&["AWSPREVIOUS", "BLUE"])),
        ])
    );
    let previous = sm
        .get_secret_value()
        .secret_id("staged")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(previous.secret_string(), Some("two"));

    // A custom label can be removed outright.
    sm.update_secret_version_stage()
        .secret_id("staged")
        .version_stage("BLUE")
        .remove_from_version_id(&v2)
        .send()
        .await
        .unwrap();
    let err = sm
        .get_secret_value()
        .secret_id("staged")
        .version_stage("BLUE")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    assert_eq!(
        stages(&sm, "staged").await,
        HashMap::from([
            (v1.clone(), labels(&["AWSCURRENT"])),
            (v2.clone(), labels(&["AWSPREVIOUS"])),
        ])
    );
}

#[tokio::test]
async fn deletion_window_restore_and_job_deletion() {
    let server = start().await;
    let sm = client(&server);
    let arn = sm
        .create_secret()
        .name("doomed")
        .secret_string("keep me")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();

    let err = sm
        .delete_secret()
        .secret_id("doomed")
        .recovery_window_in_days(6)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");

    let now = server.clock.now();
    let scheduled = sm
        .delete_secret()
        .secret_id("doomed")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.arn(), Some(arn.as_str()));
    assert_eq!(
        scheduled.deletion_date().unwrap().secs(),
        (now.0 + 7 * MILLIS_PER_DAY) / 1000
    );

    // Scheduled: described with its DeletedDate, hidden from ListSecrets unless asked,
    // unreadable, and its name taken.
    let described = sm
        .describe_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap();
    assert_eq!(described.deleted_date().unwrap().secs(), now.0 / 1000);
    let err = sm
        .get_secret_value()
        .secret_id("doomed")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");
    assert!(
        message(&err).contains("marked for deletion"),
        "{}",
        message(&err)
    );
    let err = sm
        .put_secret_value()
        .secret_id("doomed")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");
    let err = sm
        .create_secret()
        .name("doomed")
        .secret_string("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");
    let err = sm
        .delete_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidRequestException");
    let listed = sm.list_secrets().send().await.unwrap();
    assert!(listed
        .secret_list()
        .iter()
        .all(|s| s.name() != Some("doomed")));
    let listed = sm
        .list_secrets()
        .include_planned_deletion(true)
        .send()
        .await
        .unwrap();
    assert!(listed
        .secret_list()
        .iter()
        .any(|s| s.name() == Some("doomed")));

    // Six days on, the window is still open.
    server.clock.advance_days(6);
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    server.back_to_real_time();
    assert_eq!(report.secrets_deleted, 0);

    let restored = sm
        .restore_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap();
    assert_eq!(restored.arn(), Some(arn.as_str()));
    assert_eq!(current_string(&sm, "doomed").await, "keep me");
    let described = sm
        .describe_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap();
    assert!(described.deleted_date().is_none());

    // Scheduled again; eight days on, the job deletes it.
    sm.delete_secret()
        .secret_id("doomed")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    server.clock.advance_days(8);
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    server.back_to_real_time();
    assert_eq!(report.secrets_deleted, 1);
    assert_eq!(report.deleted, 0);

    for id in ["doomed", arn.as_str()] {
        let err = sm.describe_secret().secret_id(id).send().await.unwrap_err();
        assert_eq!(code(&err), "ResourceNotFoundException");
    }
    let err = sm
        .get_secret_value()
        .secret_id("doomed")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = sm
        .restore_secret()
        .secret_id("doomed")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let listed = sm
        .list_secrets()
        .include_planned_deletion(true)
        .send()
        .await
        .unwrap();
    assert!(listed.secret_list().is_empty());

    // The name is free again: a new secret, a new ARN.
    let reborn = sm
        .create_secret()
        .name("doomed")
        .secret_string("new life")
        .send()
        .await
        .unwrap();
    assert_ne!(reborn.arn(), Some(arn.as_str()));
    assert_eq!(current_string(&sm, "doomed").await, "new life");
    let report = keyward_server::jobs::run_once(&server.state).await.unwrap();
    assert_eq!(report.secrets_deleted, 0);
}

#[tokio::test]
async fn force_delete_without_recovery_is_immediate() {
    let server = start().await;
    let sm = client(&server);
    sm.create_secret()
        .name("gone")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let err = sm
        .delete_secret()
        .secret_id("gone")
        .force_delete_without_recovery(true)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    sm.delete_secret()
        .secret_id("gone")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let err = sm
        .describe_secret()
        .secret_id("gone")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    sm.create_secret()
        .name("gone")
        .secret_string("y")
        .send()
        .await
        .unwrap();
    assert_eq!(current_string(&sm, "gone").await, "y");
}

#[tokio::test]
async fn disabled_customer_key_refuses_reads_until_enabled() {
    let server = start().await;
    let kms = &server.client;
    let sm = client(&server);
    let key = kms.create_key().send().await.unwrap();
    let key_meta = key.key_metadata().unwrap();
    let (key_id, key_arn) = (
        key_meta.key_id().to_owned(),
        key_meta.arn().unwrap().to_owned(),
    );
    kms.create_alias()
        .alias_name("alias/app-secrets")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();

    sm.create_secret()
        .name("guarded")
        .kms_key_id("alias/app-secrets")
        .secret_string("s3cr3t")
        .send()
        .await
        .unwrap();
    assert_eq!(current_string(&sm, "guarded").await, "s3cr3t");

    kms.disable_key().key_id(&key_id).send().await.unwrap();
    let err = sm
        .get_secret_value()
        .secret_id("guarded")
        .send()
        .await
        .unwrap_err();
    // AWS: "Secrets Manager can't decrypt the secret value: <key ARN> is disabled.
    // (Service: AWSKMS; Status Code: 400; Error Code: DisabledException; …)" (AWS GovCloud
    // (US) User Guide, troubleshooting DecryptionFailure).
    assert_eq!(code(&err), "DecryptionFailure");
    assert!(
        message(&err).contains(&format!("{key_arn} is disabled")),
        "{}",
        message(&err)
    );
    let err = sm
        .put_secret_value()
        .secret_id("guarded")
        .secret_string("new")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "EncryptionFailure");
    // The secret itself is fine: described as before.
    let described = sm
        .describe_secret()
        .secret_id("guarded")
        .send()
        .await
        .unwrap();
    assert_eq!(described.version_ids_to_stages().unwrap().len(), 1);

    kms.enable_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(current_string(&sm, "guarded").await, "s3cr3t");

    // A key pending deletion refuses the same way; cancelling and enabling brings it back.
    kms.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let err = sm
        .get_secret_value()
        .secret_id("guarded")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "DecryptionFailure");
    kms.cancel_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    kms.enable_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(current_string(&sm, "guarded").await, "s3cr3t");
}

#[tokio::test]
async fn list_secrets_pages_with_the_paginator() {
    let server = start().await;
    let sm = client(&server);
    let base = server.clock.now();
    let mut names = Vec::new();
    for i in 0..5i64 {
        // One second apart, so that CreatedDate orders them (well inside SigV4's skew).
        server.clock.set(UnixMillis(base.0 + i * 1000));
        let name = format!("page/secret-{i}");
        sm.create_secret()
            .name(&name)
            .secret_string(format!("value {i}"))
            .send()
            .await
            .unwrap();
        names.push(name);
    }
    sm.create_secret()
        .name("page/deleted")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    sm.delete_secret()
        .secret_id("page/deleted")
        .send()
        .await
        .unwrap();
    server.back_to_real_time();

    let pages: Vec<_> = sm
        .list_secrets()
        .sort_order(SortOrderType::Asc)
        .into_paginator()
        .page_size(2)
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    assert!(pages.iter().all(|p| p.secret_list().len() <= 2));
    assert!(pages.last().unwrap().next_token().is_none());
    let seen: Vec<String> = pages
        .iter()
        .flat_map(|p| p.secret_list())
        .map(|s| s.name().unwrap().to_owned())
        .collect();
    assert_eq!(seen, names);
    for entry in pages.iter().flat_map(|p| p.secret_list()) {
        assert!(is_secret_arn(entry.arn().unwrap(), entry.name().unwrap()));
        assert_eq!(
            entry
                .secret_versions_to_stages()
                .unwrap()
                .values()
                .collect::<Vec<_>>(),
            [&vec!["AWSCURRENT".to_owned()]]
        );
    }

    let desc: Vec<String> = sm
        .list_secrets()
        .sort_order(SortOrderType::Desc)
        .into_paginator()
        .page_size(4)
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .flat_map(|p| p.secret_list())
        .map(|s| s.name().unwrap().to_owned())
        .collect();
    let mut reversed = names.clone();
    reversed.reverse();
    assert_eq!(desc, reversed);

    let with_deleted = sm
        .list_secrets()
        .include_planned_deletion(true)
        .into_paginator()
        .page_size(4)
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(with_deleted.len(), 2);
    let all: BTreeSet<String> = with_deleted
        .iter()
        .flat_map(|p| p.secret_list())
        .map(|s| s.name().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), 6);
    assert!(all.contains("page/deleted"));

    let err = sm
        .list_secrets()
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidNextTokenException");
}

#[tokio::test]
async fn secret_binary_round_trips() {
    let server = start().await;
    let sm = client(&server);
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    let created = sm
        .create_secret()
        .name("cert")
        .secret_binary(Blob::new(bytes.clone()))
        .send()
        .await
        .unwrap();
    let v1 = created.version_id().unwrap().to_owned();
    let got = sm
        .get_secret_value()
        .secret_id("cert")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_binary().unwrap().as_ref(), bytes.as_slice());
    assert!(got.secret_string().is_none());

    let both = sm
        .put_secret_value()
        .secret_id("cert")
        .secret_string("text")
        .secret_binary(Blob::new(vec![1, 2, 3]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&both), "InvalidParameterException");
    let both = sm
        .create_secret()
        .name("cert2")
        .secret_string("text")
        .secret_binary(Blob::new(vec![1, 2, 3]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&both), "InvalidParameterException");

    // A string version on top; the binary one is AWSPREVIOUS, still binary.
    sm.put_secret_value()
        .secret_id("cert")
        .secret_string("now text")
        .send()
        .await
        .unwrap();
    let current = sm
        .get_secret_value()
        .secret_id("cert")
        .send()
        .await
        .unwrap();
    assert_eq!(current.secret_string(), Some("now text"));
    assert!(current.secret_binary().is_none());
    let previous = sm
        .get_secret_value()
        .secret_id("cert")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(previous.version_stages(), ["AWSPREVIOUS"]);
    assert_eq!(previous.secret_binary().unwrap().as_ref(), bytes.as_slice());
    assert!(previous.secret_string().is_none());
}

fn classes(password: &str) -> (bool, bool, bool, bool, bool) {
    let chars = || password.chars();
    (
        chars().any(|c| c.is_ascii_lowercase()),
        chars().any(|c| c.is_ascii_uppercase()),
        chars().any(|c| c.is_ascii_digit()),
        chars().any(|c| c.is_ascii_punctuation()),
        chars().any(|c| c == ' '),
    )
}

#[tokio::test]
async fn get_random_password_honours_its_constraints() {
    let server = start().await;
    let sm = client(&server);

    // Defaults: 32 characters, each of the four types at least once, no space.
    for _ in 0..20 {
        let password = sm
            .get_random_password()
            .send()
            .await
            .unwrap()
            .random_password()
            .unwrap()
            .to_owned();
        assert_eq!(password.chars().count(), 32);
        assert!(password.chars().all(|c| c.is_ascii_graphic()), "{password}");
        assert_eq!(classes(&password), (true, true, true, true, false));
    }

    let excluded = "abcdefABCDEF012345";
    for _ in 0..20 {
        let password = sm
            .get_random_password()
            .password_length(12)
            .exclude_punctuation(true)
            .exclude_characters(excluded)
            .send()
            .await
            .unwrap()
            .random_password()
            .unwrap()
            .to_owned();
        assert_eq!(password.len(), 12);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(
            !password.chars().any(|c| excluded.contains(c)),
            "{password}"
        );
        assert_eq!(classes(&password), (true, true, true, false, false));
    }

    let digits = sm
        .get_random_password()
        .password_length(64)
        .exclude_lowercase(true)
        .exclude_uppercase(true)
        .exclude_punctuation(true)
        .send()
        .await
        .unwrap()
        .random_password()
        .unwrap()
        .to_owned();
    assert_eq!(digits.len(), 64);
    assert!(digits.chars().all(|c| c.is_ascii_digit()), "{digits}");

    let spaced = sm
        .get_random_password()
        .password_length(4096)
        .include_space(true)
        .send()
        .await
        .unwrap()
        .random_password()
        .unwrap()
        .to_owned();
    assert_eq!(spaced.len(), 4096);
    assert!(spaced.chars().all(|c| c == ' ' || c.is_ascii_graphic()));
    assert!(spaced.contains(' '));

    let one = sm
        .get_random_password()
        .password_length(1)
        .require_each_included_type(false)
        .send()
        .await
        .unwrap()
        .random_password()
        .unwrap()
        .to_owned();
    assert_eq!(one.chars().count(), 1);

    // Four required types don't fit in three characters.
    let err = sm
        .get_random_password()
        .password_length(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    for length in [0, 4097] {
        let err = sm
            .get_random_password()
            .password_length(length)
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException", "length {length}");
    }
}
