//! The root of trust on the command line: the server's seal flags, `keyward unseal`
//! (posts a Shamir share to a sealed server) and `keyward rekey` (changes the root of
//! trust of a store while its servers run).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use keyward_server::config::DEFAULT_DATA_DIR;
use keyward_server::{NewSeal, RootOfTrust, SealKind, SecretText};

/// Flags that choose and create the root of trust (read on a first start, and by rekey
/// for the new one).
#[derive(clap::Args, Clone)]
pub struct SealArgs {
    /// How the root key is protected, chosen at the first start: `file` (a root key file),
    /// `passphrase` (Argon2id of KEYWARD_PASSPHRASE or --passphrase-file), `shamir`
    /// (shares for an unseal ceremony) or `pkcs11` (a key in an HSM). Later starts read it from the store.
    #[arg(long, env = "KEYWARD_SEAL", value_parser = SealKind::parse)]
    pub seal: Option<SealKind>,
    /// A file holding the passphrase (one trailing line break is ignored); or set
    /// KEYWARD_PASSPHRASE.
    #[arg(long, env = "KEYWARD_PASSPHRASE_FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// With a new `shamir` seal: how many shares to make.
    #[arg(long, env = "KEYWARD_SHARES", default_value_t = 5, value_parser = clap::value_parser!(u8).range(2..=255))]
    pub shares: u8,
    /// With a new `shamir` seal: how many shares open it.
    #[arg(long, env = "KEYWARD_THRESHOLD", default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=255))]
    pub threshold: u8,
    /// With a new `shamir` seal: write the shares to this file (mode 0600; it must not
    /// exist) instead of standard output.
    #[arg(long, env = "KEYWARD_SHARES_FILE")]
    pub shares_file: Option<PathBuf>,
    #[command(flatten)]
    pub pkcs11: Pkcs11Args,
    /// Argon2id memory cost in KiB of a new passphrase seal (default 65536: 64 MiB).
    #[arg(
        long,
        env = "KEYWARD_ARGON2_MEMORY_KIB",
        default_value_t = 65536,
        hide = true
    )]
    pub argon2_memory_kib: u32,
    /// Argon2id passes of a new passphrase seal.
    #[arg(
        long,
        env = "KEYWARD_ARGON2_ITERATIONS",
        default_value_t = 3,
        hide = true
    )]
    pub argon2_iterations: u32,
}

/// The HSM of the `pkcs11` seal.
#[derive(clap::Args, Clone)]
pub struct Pkcs11Args {
    /// The PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so) that holds the key that
    /// seals the root key.
    #[arg(long, env = "KEYWARD_PKCS11_MODULE")]
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the token; needed when the seal is made, checked afterwards.
    #[arg(long, env = "KEYWARD_PKCS11_TOKEN_LABEL")]
    pub pkcs11_token_label: Option<String>,
    /// The label of the AES key in the token (made on the first start if absent; default
    /// keyward-root-kek).
    #[arg(long, env = "KEYWARD_PKCS11_KEY_LABEL")]
    pub pkcs11_key_label: Option<String>,
    /// A file holding the token's user PIN; or set KEYWARD_PKCS11_PIN.
    #[arg(long, env = "KEYWARD_PKCS11_PIN_FILE")]
    pub pkcs11_pin_file: Option<PathBuf>,
}

impl Pkcs11Args {
    pub fn config(&self) -> Result<Option<keyward_server::pkcs11::Pkcs11Config>, String> {
        let Some(module) = &self.pkcs11_module else {
            return Ok(None);
        };
        Ok(Some(keyward_server::pkcs11::Pkcs11Config {
            module: module.clone(),
            token_label: self.pkcs11_token_label.clone(),
            key_label: self.pkcs11_key_label.clone(),
            pin: passphrase(self.pkcs11_pin_file.as_deref(), "KEYWARD_PKCS11_PIN")?,
        }))
    }
}

fn passphrase(file: Option<&Path>, env: &str) -> Result<Option<SecretText>, String> {
    if let Some(file) = file {
        return SecretText::from_file(file)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    match std::env::var(env) {
        Ok(value) => Ok(Some(SecretText::new(value))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{env} is not UTF-8")),
    }
}

impl SealArgs {
    /// The root of trust these flags describe; `passphrase_env` names the variable the
    /// passphrase may come from instead of the file.
    pub fn root_of_trust(
        &self,
        root_key_file: Option<PathBuf>,
        passphrase_env: &str,
    ) -> Result<RootOfTrust, String> {
        Ok(RootOfTrust {
            kind: self.seal,
            root_key_file,
            passphrase: passphrase(self.passphrase_file.as_deref(), passphrase_env)?,
            argon2: keyward_crypto::Argon2Params {
                memory_kib: self.argon2_memory_kib,
                iterations: self.argon2_iterations,
                parallelism: 1,
            },
            shamir: keyward_server::seal::ShamirSetup {
                shares: self.shares,
                threshold: self.threshold,
                shares_file: self.shares_file.clone(),
            },
            shares: Vec::new(),
            pkcs11: self.pkcs11.config()?,
        })
    }
}

#[derive(clap::Args)]
pub struct UnsealArgs {
    /// The sealed server: http:// (loopback) or https://.
    #[arg(
        long,
        env = "KEYWARD_ENDPOINT",
        default_value = "http://127.0.0.1:4599"
    )]
    endpoint: String,
    /// With https://, the PEM CA certificates to trust instead of the system's.
    #[arg(long, env = "AWS_CA_BUNDLE")]
    ca_bundle: Option<PathBuf>,
    /// The share (kw1-<index>-<hex>); without it, --share-file, or a prompt on a terminal.
    /// A share on the command line is visible to other local users: prefer the prompt.
    share: Option<String>,
    /// A file holding the share.
    #[arg(long, conflicts_with = "share")]
    share_file: Option<PathBuf>,
    /// Only print whether the server is sealed and how many shares it holds.
    #[arg(long, conflicts_with_all = ["share", "share_file"])]
    status: bool,
}

#[derive(clap::Args)]
pub struct RekeyArgs {
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// `sqlite` (keyward.db in the data directory) or the PostgreSQL URL the servers use.
    #[arg(long, env = "KEYWARD_STORAGE", default_value = "sqlite", value_parser = keyward_server::Storage::parse, hide_env_values = true)]
    storage: keyward_server::Storage,
    /// The current root key file, if the root key is a file outside the data directory.
    #[arg(long, env = "KEYWARD_ROOT_KEY_FILE")]
    root_key_file: Option<PathBuf>,
    /// The current passphrase, from a file; or set KEYWARD_PASSPHRASE.
    #[arg(long, env = "KEYWARD_PASSPHRASE_FILE")]
    passphrase_file: Option<PathBuf>,
    /// Files with the current Shamir shares, one share a line (repeat the flag, or put
    /// several lines in one file); on a terminal, missing shares are asked for.
    #[arg(long = "share-file")]
    share_files: Vec<PathBuf>,
    /// The HSM, for a current or a new `pkcs11` seal.
    #[command(flatten)]
    pkcs11: Pkcs11Args,
    /// The new kind of root of trust.
    #[arg(long, value_parser = SealKind::parse)]
    to: SealKind,
    /// The new passphrase, from a file; or set KEYWARD_NEW_PASSPHRASE.
    #[arg(long)]
    new_passphrase_file: Option<PathBuf>,
    /// With --to file: where to write the root key (mode 0600; it must not exist).
    #[arg(long)]
    new_root_key_file: Option<PathBuf>,
    /// With --to shamir: how many shares to make.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(2..=255))]
    shares: u8,
    /// With --to shamir: how many shares open it.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=255))]
    threshold: u8,
    /// With --to shamir: write the new shares to this file (mode 0600) instead of
    /// standard output.
    #[arg(long)]
    shares_file: Option<PathBuf>,
    #[arg(
        long,
        env = "KEYWARD_ARGON2_MEMORY_KIB",
        default_value_t = 65536,
        hide = true
    )]
    argon2_memory_kib: u32,
    #[arg(
        long,
        env = "KEYWARD_ARGON2_ITERATIONS",
        default_value_t = 3,
        hide = true
    )]
    argon2_iterations: u32,
}

/// Reads a line from the terminal without echoing it.
fn prompt_secret(prompt: &str) -> Result<SecretText, String> {
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    #[cfg(unix)]
    let saved = {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let saved = tcgetattr(&stdin).map_err(|e| format!("cannot read the terminal: {e}"))?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        tcsetattr(&stdin, OptionalActions::Now, &quiet)
            .map_err(|e| format!("cannot turn off echo: {e}"))?;
        saved
    };
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = stdin.lock().read_line(&mut line);
    #[cfg(unix)]
    {
        use rustix::termios::{tcsetattr, OptionalActions};
        let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    }
    eprintln!();
    read.map_err(|e| format!("cannot read the terminal: {e}"))?;
    Ok(SecretText::new(line.trim().to_owned()))
}

fn read_share_lines(path: &Path) -> Result<Vec<SecretText>, String> {
    let file = SecretText::from_file(path).map_err(|e| e.to_string())?;
    Ok(file
        .expose()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| SecretText::new(l.to_owned()))
        .collect())
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// A TLS client that trusts `ca_bundle`, or the system's certificates.
fn tls_connector(ca_bundle: Option<&Path>) -> Result<tokio_rustls::TlsConnector, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_bundle {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system certificate rustls cannot use is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// One HTTP/1.1 request; returns the status and the body.
async fn http_call(
    endpoint: &str,
    ca_bundle: Option<&Path>,
    method: hyper::Method,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    use http_body_util::BodyExt;
    let (tls, rest) = if let Some(rest) = endpoint.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = endpoint.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!(
            "the endpoint must start with http:// or https://, not {endpoint}"
        ));
    };
    let authority = rest.trim_end_matches('/');
    let (host, _) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("the endpoint {endpoint} must name a port"))?;
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect to {endpoint}: {e}"))?;
    let stream: Box<dyn Stream> = if tls {
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .map_err(|e| format!("{endpoint}: {e}"))?;
        Box::new(
            tls_connector(ca_bundle)?
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {endpoint} failed: {e}"))?,
        )
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("cannot talk to {endpoint}: {e}"))?;
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request to {endpoint} failed: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("cannot read the answer of {endpoint}: {e}"))?
        .to_bytes()
        .to_vec();
    Ok((status, body))
}

fn describe_status(body: &[u8]) -> (String, bool) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (String::from_utf8_lossy(body).into_owned(), false);
    };
    let sealed = value["sealed"].as_bool().unwrap_or(true);
    let mut text = if sealed {
        format!(
            "sealed: {} of {} shares given",
            value["progress"].as_u64().unwrap_or(0),
            value["threshold"].as_u64().unwrap_or(0)
        )
    } else {
        "unsealed".to_owned()
    };
    if let Some(error) = value["error"].as_str() {
        text = format!("{error}\n{text}");
    }
    (text, sealed)
}

pub async fn unseal(args: UnsealArgs) -> ExitCode {
    let result = async {
        if args.status {
            let (status, body) = http_call(
                &args.endpoint,
                args.ca_bundle.as_deref(),
                hyper::Method::GET,
                "/keyward/seal-status",
                Vec::new(),
            )
            .await?;
            let (text, _) = describe_status(&body);
            return Ok((status, text));
        }
        let share = match (args.share, &args.share_file) {
            (Some(share), _) => SecretText::new(share),
            (None, Some(file)) => {
                let mut lines = read_share_lines(file)?;
                if lines.len() != 1 {
                    return Err(format!("{} must hold exactly one share", file.display()));
                }
                lines.remove(0)
            }
            (None, None) if std::io::stdin().is_terminal() => prompt_secret("Unseal share: ")?,
            (None, None) => {
                return Err(
                    "give the share as an argument, with --share-file, or on a terminal".into(),
                )
            }
        };
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({ "share": share.expose() }))
                .map_err(|e| e.to_string())?,
        );
        let (status, answer) = http_call(
            &args.endpoint,
            args.ca_bundle.as_deref(),
            hyper::Method::POST,
            "/keyward/unseal",
            body.to_vec(),
        )
        .await?;
        let (text, _) = describe_status(&answer);
        Ok((status, text))
    }
    .await;
    match result {
        Ok((status, text)) => {
            println!("{text}");
            if (200..300).contains(&status) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

pub fn rekey(args: RekeyArgs) -> ExitCode {
    match rekey_inner(args) {
        Ok(report) => {
            eprintln!(
                "rekeyed: the root key is now sealed by {} (it was {}); running servers go on serving, and their next start needs the new root of trust",
                report.to, report.from
            );
            if let Some(path) = report.removed_root_key_file {
                eprintln!("removed the old root key file {}", path.display());
            }
            if let Some(path) = report.obsolete_root_key_file {
                eprintln!(
                    "{} is no longer needed, but it still opens the data: destroy it and every copy (shred -u {})",
                    path.display(),
                    path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn rekey_inner(args: RekeyArgs) -> Result<keyward_server::RekeyReport, String> {
    let mut shares = Vec::new();
    for file in &args.share_files {
        shares.extend(read_share_lines(file)?);
    }
    let store = keyward_server::open_store(&args.storage, &args.data_dir)
        .map_err(|e| format!("cannot open {}: {e}", args.storage.describe()))?;
    if shares.is_empty() && args.share_files.is_empty() && std::io::stdin().is_terminal() {
        if let Some(threshold) =
            keyward_server::seal::shamir_threshold(store.as_ref()).map_err(|e| e.to_string())?
        {
            for i in 1..=threshold {
                shares.push(prompt_secret(&format!(
                    "Unseal share {i} of {threshold}: "
                ))?);
            }
        }
    }
    let current = RootOfTrust {
        root_key_file: args.root_key_file,
        passphrase: passphrase(args.passphrase_file.as_deref(), "KEYWARD_PASSPHRASE")?,
        shares,
        pkcs11: args.pkcs11.config()?,
        ..RootOfTrust::default()
    };
    let new = NewSeal {
        kind: args.to,
        trust: RootOfTrust {
            kind: Some(args.to),
            root_key_file: args.new_root_key_file,
            passphrase: passphrase(
                args.new_passphrase_file.as_deref(),
                "KEYWARD_NEW_PASSPHRASE",
            )?,
            argon2: keyward_crypto::Argon2Params {
                memory_kib: args.argon2_memory_kib,
                iterations: args.argon2_iterations,
                parallelism: 1,
            },
            shamir: keyward_server::seal::ShamirSetup {
                shares: args.shares,
                threshold: args.threshold,
                shares_file: args.shares_file,
            },
            shares: Vec::new(),
            pkcs11: args.pkcs11.config()?,
        },
    };
    if new.kind == SealKind::Passphrase && new.trust.passphrase.is_none() {
        return Err("--to passphrase needs the new passphrase: KEYWARD_NEW_PASSPHRASE or --new-passphrase-file".into());
    }
    keyward_server::rekey(store.as_ref(), &args.data_dir, &current, &new).map_err(|e| e.to_string())
}
