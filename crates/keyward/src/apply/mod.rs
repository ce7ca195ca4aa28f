//! `keyward apply stack.yaml`: creates or brings up to date the keys, aliases, key
//! policies, secrets, IAM users and roles a stack file declares, through the official AWS
//! SDK for Rust with its usual configuration (AWS_ENDPOINT_URL, AWS_PROFILE, AWS_REGION,
//! ...), so it works against Keyward and against AWS alike.
//!
//! The file is read and checked whole before the first request (a bad file changes
//! nothing). Then, in an order that lets later items name earlier ones: users, roles,
//! keys, secrets, and last the inline policies of users and roles. Each item is looked up
//! and only what differs is changed; the report says per item `created`, `updated (what)`
//! or `unchanged`, and "no changes" when nothing changed (`--dry-run`: what would be done,
//! with nothing written). Secret values and key material are never printed.

mod iam;
mod kms;
mod refs;
mod report;
mod secrets;
mod spec;

use std::path::PathBuf;
use std::process::ExitCode;

use aws_config::BehaviorVersion;
use clap::ValueEnum;
use tokio::runtime::Handle;

pub(crate) use crate::sdk::{error_code, sdk_error};
use refs::Values;
use report::Report;

#[derive(Clone, Copy, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct ApplyArgs {
    /// The stack file (YAML; the format is in docs/apply.md).
    file: PathBuf,
    /// How to print the result: a line per item, or one JSON document.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Only read and check the file; send nothing.
    #[arg(long)]
    check: bool,
    /// Look everything up and report what would change, changing nothing.
    #[arg(long, conflicts_with = "check")]
    dry_run: bool,
}

/// The SDK clients, all from one resolution of the AWS configuration.
pub(crate) struct Clients {
    pub kms: aws_sdk_kms::Client,
    pub sm: aws_sdk_secretsmanager::Client,
    pub iam: aws_sdk_iam::Client,
    /// Read, never write: report what would change.
    pub dry_run: bool,
}

/// The id that stands for a key a dry run would create.
pub(crate) const NEW_KEY_ID: &str = "(new)";

/// Two policy documents are the same if they are the same JSON value: key order and
/// white space do not count.
pub(crate) fn same_json(current: &str, desired: &serde_json::Value) -> bool {
    parse_document(current).is_some_and(|current| &current == desired)
}

/// A policy document as a service returns it: JSON text, or (IAM) URL-encoded JSON text.
pub(crate) fn parse_document(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(text)?).ok())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub fn apply(handle: &Handle, args: ApplyArgs) -> ExitCode {
    let stack = match spec::load(&args.file) {
        Ok(stack) => stack,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        eprintln!("{}: ok", args.file.display());
        return ExitCode::SUCCESS;
    }
    let base = args
        .file
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let mut report = Report::new(args.dry_run);
    let result = handle.block_on(run(&stack, &base, &mut report, args.dry_run));
    let (account, region) = match &result {
        Ok(values) => (values.account_id.clone(), values.region.clone()),
        Err(_) => (String::new(), String::new()),
    };
    match args.output {
        Output::Text => report.print_text(),
        Output::Json => report.print_json(&account, &region, result.is_ok()),
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            if report.changed() {
                eprintln!("error: the changes listed above were made before the error; apply again once it is fixed");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(
    stack: &spec::Stack,
    base: &std::path::Path,
    report: &mut Report,
    dry_run: bool,
) -> Result<Values, String> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or("no AWS region: set AWS_REGION (or a region in the AWS config file)")?;
    let identity = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("GetCallerIdentity: {}", sdk_error(&e)))?;
    let account_id = identity
        .account
        .ok_or("GetCallerIdentity returned no account")?;
    let clients = Clients {
        kms: aws_sdk_kms::Client::new(&config),
        sm: aws_sdk_secretsmanager::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        dry_run,
    };
    let mut values = Values::new(account_id, region);
    for (logical, user) in &stack.users {
        iam::apply_user(&clients, &mut values, report, logical, user).await?;
    }
    for (logical, role) in &stack.roles {
        iam::apply_role(&clients, &mut values, report, logical, role).await?;
    }
    for (logical, key) in &stack.keys {
        kms::apply_key(&clients, &mut values, report, base, logical, key).await?;
    }
    for (logical, secret) in &stack.secrets {
        secrets::apply_secret(&clients, &mut values, report, stack, logical, secret).await?;
    }
    for (logical, user) in &stack.users {
        iam::apply_user_policies(&clients, &values, report, logical, user).await?;
    }
    for (logical, role) in &stack.roles {
        iam::apply_role_policies(&clients, &values, report, logical, role).await?;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_compare_as_json_url_encoded_or_not() {
        let desired = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        assert!(same_json(
            r#"{"Statement":[],"Version":"2012-10-17"}"#,
            &desired
        ));
        assert!(same_json(
            "%7B%22Version%22%3A%20%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D",
            &desired
        ));
        assert!(!same_json(r#"{"Version":"2012-10-17"}"#, &desired));
    }
}
