//! `keyward encrypt` and `keyward decrypt`: files in the AWS Encryption SDK message format,
//! with data keys from AWS KMS (Keyward or AWS itself, through the official SDK for Rust
//! and its usual configuration: AWS_ENDPOINT_URL, AWS_PROFILE, AWS_REGION, ...).
//!
//! The data key is fetched (async, on the runtime) before a message's stream starts; the
//! streaming itself is synchronous on this thread, so memory stays at a few frames.
//! No output is left behind unless the whole message verified: files are written to a
//! temporary file beside the output and renamed; decrypted standard output is held in an
//! unlinked temporary file until the message has verified, then copied out.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use aws_config::BehaviorVersion;
use aws_sdk_kms::config::Region;
use indicatif::{ProgressBar, ProgressStyle};
use keyward_esdk::{
    AlgorithmSuite, CommitmentPolicy, DataKey, DataKeyProvider, DecryptOptions, EncryptOptions,
    EncryptPlan, EncryptedDataKey, EncryptionContext, Error as EsdkError, Header, ProviderError,
};
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use crate::sdk::sdk_error;

mod files;
mod kms;

use files::*;
use kms::*;

/// The provider id of AWS KMS encrypted data keys.
const KMS_PROVIDER_ID: &str = "aws-kms";
/// Inputs at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 16 << 20;
const IO_BUFFER: usize = 64 << 10;

#[derive(clap::Args)]
pub struct EncryptArgs {
    /// The KMS key that makes the data key: key ARN, key id, alias name (alias/x) or alias
    /// ARN. Its region comes from the ARN, else from the AWS configuration.
    #[arg(long)]
    key: String,
    /// An encryption context pair, key=value (repeat for more). Bound to the message and
    /// to the data key, and recorded by KMS in the audit trail; not secret.
    #[arg(long = "context", short = 'c', value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// Algorithm suite, by the official name (AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    /// the default) or id (0x0578).
    #[arg(long, value_parser = parse_suite)]
    algorithm: Option<AlgorithmSuite>,
    /// Plaintext bytes per frame.
    #[arg(long, default_value_t = keyward_esdk::DEFAULT_FRAME_LENGTH, value_parser = clap::value_parser!(u32).range(1..=i64::from(keyward_esdk::MAX_FRAME_LENGTH)))]
    frame_length: u32,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
pub struct DecryptArgs {
    /// Require that the data key was encrypted under this KMS key (key ARN, key id, alias
    /// name or alias ARN; anything but an ARN is resolved with DescribeKey). Without it,
    /// any KMS key the caller may use for Decrypt will do.
    #[arg(long)]
    key: Option<String>,
    /// A pair the message's encryption context must hold, key=value (repeat for more).
    #[arg(long = "context", short = 'c', value_name = "KEY=VALUE", value_parser = parse_pair)]
    context: Vec<(String, String)>,
    /// The largest frame (or non-framed body) accepted, in bytes: each is held in memory
    /// until it authenticates.
    #[arg(long, default_value_t = 64 << 20, value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX)))]
    max_length: u64,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
struct CommonArgs {
    /// Input file, directory (with --recursive) or - for standard input; repeat for
    /// several.
    #[arg(short, long = "input", required = true, num_args = 1)]
    input: Vec<PathBuf>,
    /// Output file, - for standard output, or a directory (for several inputs or a
    /// directory; created if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// Accept directories as input and process every file below them.
    #[arg(short, long)]
    recursive: bool,
    /// Appended to each input's name when the output is a directory (default .encrypted
    /// or .decrypted).
    #[arg(long)]
    suffix: Option<String>,
    /// forbid-encrypt-allow-decrypt (message format 1), require-encrypt-allow-decrypt or
    /// require-encrypt-require-decrypt (the default: key commitment both ways).
    #[arg(long, default_value = "require-encrypt-require-decrypt", value_parser = parse_policy)]
    commitment_policy: CommitmentPolicy,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("'{s}' is not key=value")),
    }
}

fn parse_suite(s: &str) -> Result<AlgorithmSuite, String> {
    s.parse()
}

fn parse_policy(s: &str) -> Result<CommitmentPolicy, String> {
    s.parse()
}

fn esdk_error(err: EsdkError) -> String {
    err.to_string()
}

fn expected_context(pairs: &[(String, String)]) -> Result<EncryptionContext, String> {
    EncryptionContext::from_pairs(pairs.iter().cloned()).map_err(esdk_error)
}

/// Runs every job, reporting each failure; exit status 1 if any failed.
fn run_all(
    jobs: Vec<(Source, Sink)>,
    mut one: impl FnMut(&Source, &Sink) -> Result<(), String>,
) -> ExitCode {
    let mut failed = false;
    for (source, sink) in &jobs {
        if let Err(message) = one(source, sink) {
            eprintln!("error: {}: {message}", describe(source));
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

// ---------------------------------------------------------------------------------------
// The commands
// ---------------------------------------------------------------------------------------

pub fn encrypt(handle: &Handle, args: EncryptArgs) -> ExitCode {
    let context = match expected_context(&args.context) {
        Ok(context) => context,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let options = EncryptOptions {
        suite: args.algorithm,
        frame_length: args.frame_length,
        commitment_policy: args.common.commitment_policy,
    };
    let suite = args
        .algorithm
        .unwrap_or(options.commitment_policy.default_suite());
    if !options.commitment_policy.allows_encrypt(suite) {
        eprintln!(
            "error: {} is not allowed by --commitment-policy {}",
            suite, options.commitment_policy
        );
        return ExitCode::from(2);
    }
    let jobs = match plan_jobs(&args.common, ".encrypted") {
        Ok(jobs) => jobs,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let kms = Kms::new(handle.clone());
    let keyring = KmsKeyring {
        kms: &kms,
        encrypt_key: Some(args.key),
        decrypt_key: None,
    };
    run_all(jobs, |source, sink| {
        encrypt_one(&keyring, &options, &context, source, sink)
    })
}

fn encrypt_one(
    keyring: &KmsKeyring<'_>,
    options: &EncryptOptions,
    context: &EncryptionContext,
    source: &Source,
    sink: &Sink,
) -> Result<(), String> {
    let (mut input, bar) = open_source(source)?;
    let plan = EncryptPlan::new(options, context.clone()).map_err(esdk_error)?;
    let data_key = keyring
        .generate(plan.suite(), plan.encryption_context())
        .map_err(|e| e.to_string())?;
    let mut staging = Staging::new(sink, false)?;
    {
        let writer = staging.writer()?;
        let mut encryptor = plan.start(data_key, writer).map_err(esdk_error)?;
        io::copy(&mut input, &mut encryptor).map_err(|e| esdk_error(EsdkError::from_io(e)))?;
        let mut writer = encryptor.finish().map_err(esdk_error)?;
        writer.flush().map_err(|e| format!("cannot write: {e}"))?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    staging.commit()
}

pub fn decrypt(handle: &Handle, args: DecryptArgs) -> ExitCode {
    let expected = match expected_context(&args.context) {
        Ok(context) => context,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let options = DecryptOptions {
        commitment_policy: args.common.commitment_policy,
        max_frame_len: args.max_length,
        ..DecryptOptions::default()
    };
    let jobs = match plan_jobs(&args.common, ".decrypted") {
        Ok(jobs) => jobs,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let kms = Kms::new(handle.clone());
    let decrypt_key = match args
        .key
        .as_deref()
        .map(|k| kms.resolve_key_arn(k))
        .transpose()
    {
        Ok(arn) => arn,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let keyring = KmsKeyring {
        kms: &kms,
        encrypt_key: None,
        decrypt_key,
    };
    run_all(jobs, |source, sink| {
        decrypt_one(&keyring, &options, &expected, source, sink)
    })
}

fn decrypt_one(
    keyring: &KmsKeyring<'_>,
    options: &DecryptOptions,
    expected: &EncryptionContext,
    source: &Source,
    sink: &Sink,
) -> Result<(), String> {
    let (mut input, bar) = open_source(source)?;
    let header = Header::read(&mut input, options).map_err(esdk_error)?;
    header
        .encryption_context()
        .require(expected)
        .map_err(esdk_error)?;
    let data_key = keyring
        .decrypt(
            header.suite(),
            header.encrypted_data_keys(),
            header.encryption_context(),
        )
        .map_err(|e| e.to_string())?;
    let mut decryptor = header.open(&data_key, input, options).map_err(esdk_error)?;
    drop(data_key);
    let mut staging = Staging::new(sink, true)?;
    {
        let mut writer = staging.writer()?;
        io::copy(&mut decryptor, &mut writer).map_err(|e| esdk_error(EsdkError::from_io(e)))?;
        writer.flush().map_err(|e| format!("cannot write: {e}"))?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    staging.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_arns() {
        assert_eq!(
            arn_region("arn:aws:kms:eu-west-1:000000000000:key/1234"),
            Some("eu-west-1")
        );
        assert_eq!(
            arn_region("arn:aws:kms:us-east-2:000000000000:alias/x"),
            Some("us-east-2")
        );
        assert_eq!(arn_region("alias/x"), None);
        assert_eq!(arn_region("1234abcd-12ab-34cd-56ef-1234567890ab"), None);
        assert!(is_key_arn("arn:aws:kms:eu-west-1:000000000000:key/1234"));
        assert!(!is_key_arn("arn:aws:kms:eu-west-1:000000000000:alias/x"));
        assert!(!is_key_arn("arn:aws:s3:::bucket"));
    }

    #[test]
    fn pairs_parse() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_pair("a="), Ok(("a".into(), String::new())));
        assert!(parse_pair("=b").is_err());
        assert!(parse_pair("ab").is_err());
    }
}
