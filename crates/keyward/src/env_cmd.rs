//! `keyward env encrypt`: a value for a Lambda-style encrypted environment variable, made
//! exactly as the Lambda console's encryption helper makes it: KMS `Encrypt` under the
//! given key with the encryption context `LambdaFunctionName=<function>`, printed as the
//! base64 of the ciphertext blob on one line. Code that decrypts its environment the
//! Lambda way (`kms.decrypt(CiphertextBlob=b64decode(v), EncryptionContext=
//! {'LambdaFunctionName': os.environ['AWS_LAMBDA_FUNCTION_NAME']})`) reads it unchanged,
//! in Lambda or under `keyward exec`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use aws_config::BehaviorVersion;
use aws_sdk_kms::config::Region;
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use tokio::runtime::Handle;
use zeroize::Zeroizing;

use crate::sdk::sdk_error;

/// The encryption context key Lambda binds an environment variable's ciphertext to.
pub const FUNCTION_CONTEXT_KEY: &str = "LambdaFunctionName";

#[derive(clap::Subcommand)]
pub enum EnvCommand {
    /// Encrypt a value for an environment variable the way the Lambda console's
    /// encryption helper does (encryption context LambdaFunctionName=FUNCTION); prints the
    /// base64 ciphertext.
    Encrypt(EncryptArgs),
}

#[derive(clap::Args)]
pub struct EncryptArgs {
    /// The KMS key: key id, key ARN, alias name (alias/NAME) or alias ARN. With an ARN,
    /// the region comes from the ARN, else from the AWS configuration.
    #[arg(long)]
    key: String,
    /// The function whose name becomes the encryption context (LambdaFunctionName).
    #[arg(long, value_parser = parse_function_name)]
    function: String,
    /// The value to encrypt, exactly as given; `-` reads it from standard input (one
    /// trailing newline is dropped, as a value typed into the console has none).
    /// Prefer `-`: a value on the command line is visible to other local users.
    value: String,
}

/// A Lambda function name: letters, digits, hyphens and underscores, 1 to 64 of them.
pub fn parse_function_name(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "'{s}' is not a function name (1-64 letters, digits, hyphens and underscores)"
        ));
    }
    Ok(s.to_owned())
}

/// The encryption context Lambda uses for a function's environment variables.
pub fn function_context(function: &str) -> HashMap<String, String> {
    HashMap::from([(FUNCTION_CONTEXT_KEY.to_owned(), function.to_owned())])
}

/// The region of an ARN of `service` (`arn:PARTITION:SERVICE:REGION:...`), if it is one.
pub fn arn_region<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let mut parts = arn.splitn(5, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some(s), Some(region)) if s == service && !region.is_empty() => {
            Some(region)
        }
        _ => None,
    }
}

/// The value from the command line, or from standard input for `-`, less one trailing
/// newline (`\n` or `\r\n`).
fn read_value(value: String) -> Result<Zeroizing<Vec<u8>>, String> {
    if value != "-" {
        return Ok(Zeroizing::new(value.into_bytes()));
    }
    let mut buffer = Zeroizing::new(Vec::new());
    io::stdin()
        .read_to_end(&mut buffer)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    let newline = if buffer.ends_with(b"\r\n") {
        2
    } else {
        usize::from(buffer.ends_with(b"\n"))
    };
    let keep = buffer.len() - newline;
    buffer.truncate(keep);
    Ok(buffer)
}

pub fn run(handle: &Handle, command: EnvCommand) -> ExitCode {
    match command {
        EnvCommand::Encrypt(args) => match encrypt(handle, args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn encrypt(handle: &Handle, args: EncryptArgs) -> Result<(), String> {
    let plaintext = read_value(args.value)?;
    if plaintext.is_empty() {
        return Err("the value to encrypt is empty (KMS encrypts 1 to 4096 bytes)".to_owned());
    }
    let base = handle.block_on(aws_config::defaults(BehaviorVersion::latest()).load());
    let mut config = aws_sdk_kms::config::Builder::from(&base);
    if let Some(region) = arn_region(&args.key, "kms") {
        config = config.region(Region::new(region.to_owned()));
    } else if base.region().is_none() {
        return Err(format!(
            "no AWS region for '{}': use a key ARN or set AWS_REGION",
            args.key
        ));
    }
    let client = aws_sdk_kms::Client::from_conf(config.build());
    let output = handle
        .block_on(
            client
                .encrypt()
                .key_id(&args.key)
                .plaintext(Blob::new(plaintext.to_vec()))
                .set_encryption_context(Some(function_context(&args.function)))
                .send(),
        )
        .map_err(|e| format!("KMS Encrypt with {}: {}", args.key, sdk_error(&e)))?;
    let blob = output
        .ciphertext_blob()
        .ok_or_else(|| "KMS Encrypt returned no CiphertextBlob".to_owned())?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(blob.as_ref());
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{encoded}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write standard output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        assert!(parse_function_name("loadtest").is_ok());
        assert!(parse_function_name("load_test-2").is_ok());
        assert!(parse_function_name(&"a".repeat(64)).is_ok());
        assert!(parse_function_name(&"a".repeat(65)).is_err());
        assert!(parse_function_name("").is_err());
        assert!(parse_function_name("a:b").is_err());
        assert!(parse_function_name("a b").is_err());
    }

    #[test]
    fn regions_of_arns() {
        assert_eq!(
            arn_region("arn:aws:kms:eu-west-1:000000000000:key/x", "kms"),
            Some("eu-west-1")
        );
        assert_eq!(
            arn_region(
                "arn:aws:secretsmanager:us-west-2:000000000000:secret:a-AbCdEf",
                "secretsmanager"
            ),
            Some("us-west-2")
        );
        assert_eq!(arn_region("arn:aws:kms:eu-west-1:0:key/x", "sts"), None);
        assert_eq!(arn_region("alias/UserName", "kms"), None);
        assert_eq!(arn_region("arn:aws:kms::0:key/x", "kms"), None);
    }
}
