//! `keyward exec`: run a program the way Lambda runs a function. The program gets
//! AWS_LAMBDA_FUNCTION_NAME (so code that decrypts its environment with the function's
//! encryption context runs unchanged), optionally the temporary credentials of a role
//! (and only those), variables from env files, chosen variables KMS-decrypted, and
//! `{{resolve:secretsmanager:…}}` references replaced by secret values.
//!
//! Everything is resolved before the program starts; any failure stops `keyward exec`
//! with a message naming the variable (never its value) and the program never runs. On
//! Unix the program then replaces this process (exec(2)), so it gets every signal sent to
//! this pid and its exit status is the one the caller sees.

mod dotenv;
mod reference;

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kms::config::Region;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use base64::Engine as _;
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use crate::env_cmd::{arn_region, function_context, parse_function_name};
use crate::sdk::sdk_error;
use reference::{Piece, Reference};

/// The exit status when `keyward exec` itself fails, before the program runs (as `env`).
const EXIT_FAILED: u8 = 125;
/// The program was found but could not be run.
const EXIT_CANNOT_RUN: u8 = 126;
/// The program was not found.
const EXIT_NOT_FOUND: u8 = 127;

/// Variables that carry credentials or say where to find them: the program must not see
/// any of them next to a role's session, or an SDK might pick the caller's identity.
const CREDENTIAL_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

#[derive(clap::Args)]
pub struct ExecArgs {
    /// The function name the program runs as: AWS_LAMBDA_FUNCTION_NAME, and the
    /// encryption context (LambdaFunctionName) of every decryption.
    #[arg(long, value_parser = parse_function_name)]
    function: String,
    /// Assume this IAM role (STS AssumeRole, session keyward-exec-FUNCTION); the program
    /// gets the session's credentials and no others, and decryption and secret look-ups
    /// use them too.
    #[arg(long, value_name = "ARN")]
    role_arn: Option<String>,
    /// How long the role's session lasts, in seconds (900 to the role's maximum; STS's
    /// default is 3600). The program's credentials are not renewed.
    #[arg(long, requires = "role_arn", value_parser = clap::value_parser!(i32).range(900..=43_200))]
    duration_seconds: Option<i32>,
    /// A file of NAME=VALUE lines (dotenv style) to add to the program's environment;
    /// may be repeated, later files win.
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// KMS-decrypt this variable (base64 ciphertext, encryption context
    /// LambdaFunctionName=FUNCTION) before the program starts; may be repeated.
    #[arg(long = "decrypt", value_name = "NAME")]
    decrypt: Vec<String>,
    /// KMS-decrypt every variable (except AWS_*) whose value is the base64 of a Keyward
    /// ciphertext blob.
    #[arg(long)]
    decrypt_all: bool,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// The program's environment. Values are bytes kept in zeroizing buffers, so decrypted
/// values are wiped if the program never starts.
type Environment = BTreeMap<OsString, Zeroizing<Vec<u8>>>;

pub fn run(handle: &Handle, args: ExecArgs) -> ExitCode {
    let environment = match prepare(handle, &args) {
        Ok(environment) => environment,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    launch(&args.command, environment)
}

fn bytes(value: impl AsRef<OsStr>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(value.as_ref().as_encoded_bytes().to_vec())
}

fn set(environment: &mut Environment, name: &str, value: &str) {
    environment.insert(OsString::from(name), bytes(value));
}

fn prepare(handle: &Handle, args: &ExecArgs) -> Result<Environment, String> {
    let mut environment: Environment = std::env::vars_os()
        .map(|(name, value)| (name, bytes(value)))
        .collect();
    for path in &args.env_file {
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (name, value) in dotenv::parse(&text).map_err(|e| format!("{}: {e}", path.display()))? {
            environment.insert(OsString::from(name), Zeroizing::new(value.into_bytes()));
        }
    }
    for name in &args.decrypt {
        if !environment.contains_key(OsStr::new(name)) {
            return Err(format!("--decrypt {name}: no such variable"));
        }
    }

    let mut config = handle.block_on(aws_config::defaults(BehaviorVersion::latest()).load());
    if let Some(role_arn) = &args.role_arn {
        let credentials = assume_role(handle, &config, role_arn, args)?;
        become_role(&mut environment, &credentials);
        config = config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
    }
    set(&mut environment, "AWS_LAMBDA_FUNCTION_NAME", &args.function);
    set(&mut environment, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    if let Some(region) = config.region() {
        set(&mut environment, "AWS_REGION", region.as_ref());
        set(&mut environment, "AWS_DEFAULT_REGION", region.as_ref());
    }

    let mut resolver = Resolver {
        handle,
        config: &config,
        function: &args.function,
        kms: None,
        secrets: HashMap::new(),
        values: HashMap::new(),
    };
    let names: Vec<OsString> = environment.keys().cloned().collect();
    for name in names {
        let Some(value) = environment.get(&name) else {
            continue;
        };
        let label = name.to_string_lossy().into_owned();
        let explicit = args.decrypt.iter().any(|n| OsStr::new(n) == name);
        let automatic = !label.starts_with("AWS_");
        let new_value = if explicit || (args.decrypt_all && automatic && is_ciphertext(value)) {
            Some(resolver.decrypt(&label, value)?)
        } else if automatic {
            match std::str::from_utf8(value) {
                Ok(text) if reference::mentions_reference(text) => {
                    Some(resolver.resolve(&label, text)?)
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(new_value) = new_value {
            if new_value.contains(&0) {
                return Err(format!("{label}: the value holds a NUL byte"));
            }
            environment.insert(name, new_value);
        }
    }
    Ok(environment)
}

/// The program acts as the role's session and nothing else.
fn become_role(environment: &mut Environment, credentials: &Credentials) {
    for name in CREDENTIAL_VARS {
        environment.remove(OsStr::new(name));
    }
    set(
        environment,
        "AWS_ACCESS_KEY_ID",
        credentials.access_key_id(),
    );
    set(
        environment,
        "AWS_SECRET_ACCESS_KEY",
        credentials.secret_access_key(),
    );
    if let Some(token) = credentials.session_token() {
        set(environment, "AWS_SESSION_TOKEN", token);
    }
}

/// Is `value` the base64 of something shaped like a Keyward `Encrypt` ciphertext blob?
/// Only a shape check (version byte, length): a false match fails to decrypt and stops
/// `keyward exec`, never passes a value through unchecked.
fn is_ciphertext(value: &[u8]) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim_ascii())
        .is_ok_and(|blob| keyward_crypto::parse_header(&blob).is_ok())
}

fn assume_role(
    handle: &Handle,
    config: &SdkConfig,
    role_arn: &str,
    args: &ExecArgs,
) -> Result<Credentials, String> {
    let mut session_name = format!("keyward-exec-{}", args.function);
    session_name.truncate(64);
    let client = aws_sdk_sts::Client::new(config);
    let output = handle
        .block_on(
            client
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(&session_name)
                .set_duration_seconds(args.duration_seconds)
                .send(),
        )
        .map_err(|e| format!("--role-arn {role_arn}: AssumeRole: {}", sdk_error(&e)))?;
    let issued = output
        .credentials()
        .ok_or_else(|| format!("--role-arn {role_arn}: AssumeRole returned no credentials"))?;
    let expiry = std::time::SystemTime::try_from(*issued.expiration()).ok();
    Ok(Credentials::new(
        issued.access_key_id(),
        issued.secret_access_key(),
        Some(issued.session_token().to_owned()),
        expiry,
        "keyward-exec-assume-role",
    ))
}

/// Decrypts and resolves values with one set of credentials, fetching each secret version
/// once.
struct Resolver<'a> {
    handle: &'a Handle,
    config: &'a SdkConfig,
    function: &'a str,
    kms: Option<aws_sdk_kms::Client>,
    secrets: HashMap<String, aws_sdk_secretsmanager::Client>,
    values: HashMap<(String, Option<String>, Option<String>), Zeroizing<String>>,
}

impl Resolver<'_> {
    fn decrypt(&mut self, name: &str, value: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        let blob = base64::engine::general_purpose::STANDARD
            .decode(value.trim_ascii())
            .map_err(|_| format!("{name}: the value is not base64 ciphertext"))?;
        if self.kms.is_none() {
            if self.config.region().is_none() {
                return Err(format!(
                    "{name}: no AWS region to decrypt in: set AWS_REGION"
                ));
            }
            self.kms = Some(aws_sdk_kms::Client::new(self.config));
        }
        let Some(kms) = &self.kms else {
            return Err(format!("{name}: no KMS client"));
        };
        let output = self
            .handle
            .block_on(
                kms.decrypt()
                    .ciphertext_blob(Blob::new(blob))
                    .set_encryption_context(Some(function_context(self.function)))
                    .send(),
            )
            .map_err(|e| format!("{name}: KMS Decrypt failed: {}", sdk_error(&e)))?;
        let plaintext = output
            .plaintext
            .ok_or_else(|| format!("{name}: KMS Decrypt returned no plaintext"))?;
        Ok(Zeroizing::new(plaintext.into_inner()))
    }

    fn resolve(&mut self, name: &str, value: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let pieces = reference::parse(value).map_err(|e| format!("{name}: {e}"))?;
        let mut out = Zeroizing::new(Vec::with_capacity(value.len()));
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text.as_bytes()),
                Piece::Reference(reference) => {
                    let resolved = self
                        .secret_value(&reference)
                        .map_err(|e| format!("{name}: secret {}: {e}", reference.secret_id))?;
                    out.extend_from_slice(resolved.as_bytes());
                }
            }
        }
        Ok(out)
    }

    fn secret_value(&mut self, reference: &Reference) -> Result<Zeroizing<String>, String> {
        let version_key = (
            reference.secret_id.clone(),
            reference.version_stage.clone(),
            reference.version_id.clone(),
        );
        if !self.values.contains_key(&version_key) {
            let string = self.fetch(reference)?;
            self.values.insert(version_key.clone(), string);
        }
        let Some(string) = self.values.get(&version_key) else {
            return Err("not fetched".to_owned());
        };
        let Some(key) = &reference.json_key else {
            return Ok(string.clone());
        };
        let parsed: serde_json::Value = serde_json::from_str(string)
            .map_err(|_| "the SecretString is not a JSON object".to_owned())?;
        let serde_json::Value::Object(mut object) = parsed else {
            return Err("the SecretString is not a JSON object".to_owned());
        };
        let field = object
            .remove(key)
            .ok_or_else(|| format!("the SecretString has no key '{key}'"))?;
        let text = match field {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        Ok(Zeroizing::new(text))
    }

    fn fetch(&mut self, reference: &Reference) -> Result<Zeroizing<String>, String> {
        let region =
            match arn_region(&reference.secret_id, "secretsmanager") {
                Some(region) => region.to_owned(),
                None => self.config.region().map(|r| r.to_string()).ok_or_else(|| {
                    "no AWS region: use a secret ARN or set AWS_REGION".to_owned()
                })?,
            };
        let config = self.config;
        let client = self.secrets.entry(region.clone()).or_insert_with(|| {
            aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(config)
                    .region(Region::new(region))
                    .build(),
            )
        });
        let output = self
            .handle
            .block_on(
                client
                    .get_secret_value()
                    .secret_id(&reference.secret_id)
                    .set_version_stage(reference.version_stage.clone())
                    .set_version_id(reference.version_id.clone())
                    .send(),
            )
            .map_err(|e| format!("GetSecretValue failed: {}", sdk_error(&e)))?;
        output
            .secret_string
            .map(Zeroizing::new)
            .ok_or_else(|| "the secret version has no SecretString".to_owned())
    }
}

#[cfg(unix)]
fn launch(command: &[OsString], environment: Environment) -> ExitCode {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;

    let Some((program, arguments)) = command.split_first() else {
        eprintln!("error: no command to run");
        return ExitCode::from(EXIT_FAILED);
    };
    let mut child = std::process::Command::new(program);
    child.args(arguments).env_clear();
    for (name, value) in &environment {
        child.env(name, OsStr::from_bytes(value));
    }
    drop(environment);
    let err = child.exec();
    eprintln!("error: cannot run {}: {err}", program.to_string_lossy());
    ExitCode::from(if err.kind() == std::io::ErrorKind::NotFound {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_RUN
    })
}

#[cfg(not(unix))]
fn launch(_command: &[OsString], _environment: Environment) -> ExitCode {
    eprintln!("error: keyward exec needs a Unix system");
    ExitCode::from(EXIT_FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertext_shape() {
        let mut blob = vec![1u8];
        blob.extend_from_slice(&[7u8; 16 + 4 + 32 + 12 + 5 + 16]);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&blob);
        assert!(is_ciphertext(encoded.as_bytes()));
        blob[0] = 2;
        let other_version = base64::engine::general_purpose::STANDARD.encode(&blob);
        assert!(!is_ciphertext(other_version.as_bytes()));
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 20]);
        assert!(!is_ciphertext(short.as_bytes()));
        assert!(!is_ciphertext(b"student"));
        assert!(!is_ciphertext(b"/usr/bin:/bin"));
        assert!(!is_ciphertext(b""));
    }
}
