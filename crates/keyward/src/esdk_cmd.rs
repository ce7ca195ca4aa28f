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
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use indicatif::{ProgressBar, ProgressStyle};
use keyward_esdk::{
    AlgorithmSuite, CommitmentPolicy, DataKey, DataKeyProvider, DecryptOptions, EncryptOptions,
    EncryptPlan, EncryptedDataKey, EncryptionContext, Error as EsdkError, Header, ProviderError,
};
use tokio::runtime::Handle;
use zeroize::Zeroizing;

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

// ---------------------------------------------------------------------------------------
// KMS
// ---------------------------------------------------------------------------------------

/// The region of a KMS ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID` or `...:alias/NAME`).
fn arn_region(id: &str) -> Option<&str> {
    let mut parts = id.splitn(6, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

fn is_key_arn(id: &str) -> bool {
    arn_region(id).is_some()
        && id
            .splitn(6, ':')
            .nth(5)
            .is_some_and(|resource| resource.starts_with("key/"))
}

/// A KMS failure in one line: the service's error code and message, or the chain of
/// causes of a transport failure. Never the raw response, which for a response that could
/// not be parsed might hold a data key.
pub(crate) fn kms_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(context) = err {
        let service = context.err();
        return format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("(no message)")
        );
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One KMS client per region, as the official SDKs keep them.
struct Kms {
    handle: Handle,
    config: aws_config::SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_kms::Client>>,
}

impl Kms {
    fn new(handle: Handle) -> Self {
        let config = handle.block_on(aws_config::defaults(BehaviorVersion::latest()).load());
        Self {
            handle,
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for the region of `key_id` (an ARN), else of the AWS configuration.
    fn client_for(&self, key_id: &str) -> Result<aws_sdk_kms::Client, String> {
        let region = match arn_region(key_id) {
            Some(region) => region.to_owned(),
            None => self.config.region().map(|r| r.to_string()).ok_or_else(|| {
                format!("no AWS region for '{key_id}': use a key ARN or set AWS_REGION")
            })?,
        };
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| "the KMS client cache is unusable".to_owned())?;
        let client = clients.entry(region.clone()).or_insert_with(|| {
            let config = aws_sdk_kms::config::Builder::from(&self.config)
                .region(Region::new(region))
                .build();
            aws_sdk_kms::Client::from_conf(config)
        });
        Ok(client.clone())
    }

    /// The key ARN of any key identifier (DescribeKey unless it already is one).
    fn resolve_key_arn(&self, key_id: &str) -> Result<String, String> {
        if is_key_arn(key_id) {
            return Ok(key_id.to_owned());
        }
        let client = self.client_for(key_id)?;
        let described = self
            .handle
            .block_on(client.describe_key().key_id(key_id).send())
            .map_err(|e| format!("DescribeKey {key_id}: {}", kms_error(&e)))?;
        described
            .key_metadata
            .map(|m| m.arn.unwrap_or_default())
            .filter(|arn| is_key_arn(arn))
            .ok_or_else(|| format!("DescribeKey {key_id} returned no key ARN"))
    }
}

/// Data keys from `GenerateDataKey` under one key, and from `Decrypt` of the message's
/// `aws-kms` encrypted data keys (only those of `decrypt_key` when it is set).
struct KmsKeyring<'k> {
    kms: &'k Kms,
    encrypt_key: Option<String>,
    decrypt_key: Option<String>,
}

impl DataKeyProvider for KmsKeyring<'_> {
    fn generate(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Result<DataKey, ProviderError> {
        let key_id = self
            .encrypt_key
            .as_deref()
            .ok_or("no KMS key to encrypt under")?;
        let client = self.kms.client_for(key_id)?;
        let length = i32::try_from(suite.data_key_len())?;
        let request = client
            .generate_data_key()
            .key_id(key_id)
            .number_of_bytes(length)
            .set_encryption_context(Some(context.as_map().clone().into_iter().collect()));
        let mut output = self
            .kms
            .handle
            .block_on(request.send())
            .map_err(|e| format!("GenerateDataKey {key_id}: {}", kms_error(&e)))?;
        let plaintext = Zeroizing::new(
            output
                .plaintext
                .take()
                .map(|b| b.into_inner())
                .unwrap_or_default(),
        );
        let arn = output.key_id.unwrap_or_default();
        if !is_key_arn(&arn) {
            return Err(format!("GenerateDataKey {key_id} returned no key ARN").into());
        }
        if plaintext.len() != suite.data_key_len() {
            return Err(format!(
                "GenerateDataKey {key_id} returned a data key of the wrong length"
            )
            .into());
        }
        let ciphertext = output
            .ciphertext_blob
            .map(|b| b.into_inner())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("GenerateDataKey {key_id} returned no ciphertext"))?;
        let encrypted = EncryptedDataKey {
            provider_id: KMS_PROVIDER_ID.to_owned(),
            provider_info: arn.into_bytes(),
            ciphertext,
        };
        Ok(DataKey::new(plaintext, vec![encrypted]))
    }

    fn decrypt(
        &self,
        suite: AlgorithmSuite,
        encrypted: &[EncryptedDataKey],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let mut failures = Vec::new();
        let mut other_keys = Vec::new();
        for edk in encrypted
            .iter()
            .filter(|e| e.provider_id == KMS_PROVIDER_ID)
        {
            let Ok(arn) = std::str::from_utf8(&edk.provider_info) else {
                failures.push("an aws-kms data key names no key ARN".to_owned());
                continue;
            };
            if !is_key_arn(arn) {
                failures.push(format!("'{arn}' is not a KMS key ARN"));
                continue;
            }
            if self
                .decrypt_key
                .as_deref()
                .is_some_and(|wanted| wanted != arn)
            {
                other_keys.push(arn.to_owned());
                continue;
            }
            let client = match self.kms.client_for(arn) {
                Ok(client) => client,
                Err(message) => {
                    failures.push(message);
                    continue;
                }
            };
            let request = client
                .decrypt()
                .key_id(arn)
                .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(edk.ciphertext.clone()))
                .set_encryption_context(Some(context.as_map().clone().into_iter().collect()));
            match self.kms.handle.block_on(request.send()) {
                Ok(mut output) => {
                    let plaintext = Zeroizing::new(
                        output
                            .plaintext
                            .take()
                            .map(|b| b.into_inner())
                            .unwrap_or_default(),
                    );
                    if output.key_id.as_deref() != Some(arn) {
                        failures.push(format!("Decrypt with {arn} answered for another key"));
                    } else if plaintext.len() != suite.data_key_len() {
                        failures.push(format!(
                            "Decrypt with {arn} returned a data key of the wrong length"
                        ));
                    } else {
                        return Ok(plaintext);
                    }
                }
                Err(e) => failures.push(format!("Decrypt with {arn}: {}", kms_error(&e))),
            }
        }
        if failures.is_empty() {
            return Err(match (&self.decrypt_key, other_keys.is_empty()) {
                (Some(wanted), false) => format!(
                    "the data key was not encrypted under {wanted} (but under {})",
                    other_keys.join(", ")
                ),
                _ => "the message has no data key encrypted by AWS KMS".to_owned(),
            }
            .into());
        }
        Err(failures.join("; ").into())
    }
}

// ---------------------------------------------------------------------------------------
// Inputs and outputs
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Stdin,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sink {
    Stdout,
    File(PathBuf),
}

fn is_dash(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn with_suffix(dir: &Path, relative: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.join(relative).into_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Every regular file below `dir` (symbolic links to files too; linked directories are not
/// followed), sorted, except under `skip`.
fn walk(dir: &Path, skip: Option<&Path>, found: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            let skipped = skip.is_some_and(|s| fs::canonicalize(&path).is_ok_and(|p| p == s));
            if !skipped {
                walk(&path, skip, found)?;
            }
        } else if meta.is_file() || (meta.file_type().is_symlink() && path.is_file()) {
            found.push(path);
        }
    }
    Ok(())
}

/// Pairs each input with its output, or explains why the arguments do not fit.
fn plan_jobs(common: &CommonArgs, default_suffix: &str) -> Result<Vec<(Source, Sink)>, String> {
    let suffix = common.suffix.as_deref().unwrap_or(default_suffix);
    let output = &common.output;
    let inputs = &common.input;
    if inputs.iter().any(|i| is_dash(i)) {
        if inputs.len() > 1 {
            return Err("standard input (-) cannot be combined with other inputs".into());
        }
        if !is_dash(output) && output.is_dir() {
            return Err("with standard input, --output must be a file or -".into());
        }
        let sink = if is_dash(output) {
            Sink::Stdout
        } else {
            Sink::File(output.clone())
        };
        return Ok(vec![(Source::Stdin, sink)]);
    }
    for input in inputs {
        if !input.exists() {
            return Err(format!("{}: no such file or directory", input.display()));
        }
        if input.is_dir() && !common.recursive {
            return Err(format!(
                "{} is a directory: use --recursive",
                input.display()
            ));
        }
    }
    let single_file = inputs.len() == 1 && inputs[0].is_file();
    if single_file {
        let input = &inputs[0];
        let sink = if is_dash(output) {
            Sink::Stdout
        } else if output.is_dir() {
            let name = input.file_name().ok_or("the input has no file name")?;
            Sink::File(with_suffix(output, Path::new(name), suffix))
        } else {
            Sink::File(output.clone())
        };
        if let Sink::File(path) = &sink {
            refuse_same_file(input, path)?;
        }
        return Ok(vec![(Source::File(input.clone()), sink)]);
    }
    if is_dash(output) {
        return Err("several inputs or a directory need a directory as --output, not -".into());
    }
    if output.exists() && !output.is_dir() {
        return Err(format!(
            "{} is not a directory (several inputs or a directory need one)",
            output.display()
        ));
    }
    fs::create_dir_all(output).map_err(|e| format!("cannot create {}: {e}", output.display()))?;
    let output_canonical = fs::canonicalize(output).ok();
    let mut jobs = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut files = Vec::new();
            walk(input, output_canonical.as_deref(), &mut files)
                .map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            for file in files {
                let relative = file
                    .strip_prefix(input)
                    .map_err(|_| "a path outside its input")?;
                let target = with_suffix(output, relative, suffix);
                refuse_same_file(&file, &target)?;
                jobs.push((Source::File(file), Sink::File(target)));
            }
        } else {
            let name = input.file_name().ok_or("an input has no file name")?;
            let target = with_suffix(output, Path::new(name), suffix);
            refuse_same_file(input, &target)?;
            jobs.push((Source::File(input.clone()), Sink::File(target)));
        }
    }
    Ok(jobs)
}

fn refuse_same_file(input: &Path, output: &Path) -> Result<(), String> {
    if let (Ok(a), Ok(b)) = (fs::canonicalize(input), fs::canonicalize(output)) {
        if a == b {
            return Err(format!(
                "{} would overwrite its own input",
                output.display()
            ));
        }
    }
    Ok(())
}

/// The input as a buffered reader, with a progress bar on a terminal for large files.
fn open_source(source: &Source) -> Result<(Box<dyn Read>, Option<ProgressBar>), String> {
    match source {
        Source::Stdin => Ok((
            Box::new(BufReader::with_capacity(IO_BUFFER, io::stdin())),
            None,
        )),
        Source::File(path) => {
            let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let reader = BufReader::with_capacity(IO_BUFFER, file);
            if len >= PROGRESS_THRESHOLD && io::stderr().is_terminal() {
                let bar = ProgressBar::new(len);
                let style = ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_message(
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
                Ok((Box::new(bar.wrap_read(reader)), Some(bar)))
            } else {
                Ok((Box::new(reader), None))
            }
        }
    }
}

/// Where the output goes while it is written: a temporary file beside the target (renamed
/// over it on success, removed otherwise), an unlinked spool for decrypted standard output,
/// or standard output itself.
enum Staging {
    Beside(tempfile::NamedTempFile, PathBuf),
    Spool(File),
    Stdout(io::Stdout),
}

impl Staging {
    fn new(sink: &Sink, spool_stdout: bool) -> Result<Self, String> {
        match sink {
            Sink::Stdout if spool_stdout => tempfile::tempfile()
                .map(Staging::Spool)
                .map_err(|e| format!("cannot create a temporary file: {e}")),
            Sink::Stdout => Ok(Staging::Stdout(io::stdout())),
            Sink::File(path) => {
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !dir.is_dir() {
                    fs::create_dir_all(&dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                tempfile::Builder::new()
                    .prefix(".keyward-")
                    .suffix(".partial")
                    .tempfile_in(&dir)
                    .map(|t| Staging::Beside(t, path.clone()))
                    .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))
            }
        }
    }

    fn writer(&mut self) -> Result<Box<dyn Write + '_>, String> {
        Ok(match self {
            Staging::Beside(temp, _) => {
                Box::new(BufWriter::with_capacity(IO_BUFFER, temp.as_file_mut()))
            }
            Staging::Spool(file) => Box::new(BufWriter::with_capacity(IO_BUFFER, file)),
            Staging::Stdout(out) => Box::new(BufWriter::with_capacity(IO_BUFFER, out.lock())),
        })
    }

    /// Publishes the verified output.
    fn commit(self) -> Result<(), String> {
        match self {
            Staging::Beside(temp, path) => {
                temp.as_file()
                    .sync_all()
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                temp.persist(&path)
                    .map(|_| ())
                    .map_err(|e| format!("cannot write {}: {}", path.display(), e.error))
            }
            Staging::Spool(mut file) => {
                file.rewind()
                    .map_err(|e| format!("cannot read the spool: {e}"))?;
                let mut out = io::stdout().lock();
                io::copy(&mut file, &mut out)
                    .and_then(|_| out.flush())
                    .map_err(|e| format!("cannot write to standard output: {e}"))
            }
            Staging::Stdout(out) => out
                .lock()
                .flush()
                .map_err(|e| format!("cannot write to standard output: {e}")),
        }
    }
}

fn describe(source: &Source) -> String {
    match source {
        Source::Stdin => "standard input".into(),
        Source::File(path) => path.display().to_string(),
    }
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
