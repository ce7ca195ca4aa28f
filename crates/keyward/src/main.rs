//! `keyward`: the server and, later, the client tools.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

mod agent;
mod apply;
mod audit_cmd;
mod env_cmd;
mod esdk_cmd;
mod exec_cmd;
mod logs_cmd;
mod sdk;
mod seal_cmd;
mod transfer_cmd;
use keyward_server::config::{Config, RootAccessKey, DEFAULT_DATA_DIR, DEFAULT_LISTEN};

/// mimalloc instead of glibc's malloc: under load, every request allocates and frees many
/// small buffers across worker threads, where glibc's allocator spent a fifth of the
/// server's CPU. Buffers that held secrets are wiped (`Zeroizing`) before they are freed,
/// whatever the allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "A self-hosted key management service and secrets manager that speaks AWS KMS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Server(Box<ServerArgs>),
    /// Check or export the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create or bring up to date the store's schema, then exit (the server also does this
    /// on start; several processes may do it at once).
    Migrate {
        #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// `sqlite` (keyward.db in the data directory) or a PostgreSQL URL.
        #[arg(long, env = "KEYWARD_STORAGE", default_value = "sqlite", value_parser = keyward_server::Storage::parse, hide_env_values = true)]
        storage: keyward_server::Storage,
    },
    /// Write a whole installation to a file, for `keyward import` into another store.
    ///
    /// Every key, secret, identity and audit event, from one consistent snapshot. All of it
    /// stays wrapped under the root key, which is not in the file: bring the root key along,
    /// and keep the file as safe as the data directory.
    Export {
        #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// `sqlite` (keyward.db in the data directory) or a PostgreSQL URL.
        #[arg(long, env = "KEYWARD_STORAGE", default_value = "sqlite", value_parser = keyward_server::Storage::parse, hide_env_values = true)]
        storage: keyward_server::Storage,
        /// Output file (created with mode 0600), or - for standard output.
        #[arg(short, long, default_value = "-")]
        output: PathBuf,
    },
    /// Load a `keyward export` file into an empty store, all of it or nothing.
    ///
    /// Then start the server on the store with the same root key and account id as the
    /// exported installation.
    Import {
        #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// `sqlite` (keyward.db in the data directory) or a PostgreSQL URL.
        #[arg(long, env = "KEYWARD_STORAGE", default_value = "sqlite", value_parser = keyward_server::Storage::parse, hide_env_values = true)]
        storage: keyward_server::Storage,
        /// The export file, or - for standard input.
        #[arg(short, long)]
        input: PathBuf,
    },
    /// Encrypt files in the AWS Encryption SDK message format, with a data key from KMS.
    Encrypt(esdk_cmd::EncryptArgs),
    /// Decrypt AWS Encryption SDK messages, checking their encryption context and key.
    Decrypt(esdk_cmd::DecryptArgs),
    /// Encrypt values for Lambda-style encrypted environment variables.
    #[command(subcommand)]
    Env(env_cmd::EnvCommand),
    /// Run a program the way Lambda runs a function: its name, a role's credentials,
    /// decrypted variables and resolved Secrets Manager references in its environment.
    Exec(exec_cmd::ExecArgs),
    /// Serve secrets to local applications, cached, the way the AWS Secrets Manager Agent
    /// does (GET /secretsmanager/get?secretId=... with a token header, on 127.0.0.1).
    Agent(agent::AgentArgs),
    /// Create or bring up to date the keys, aliases, secrets, users and roles of a stack
    /// file, and print their ARNs (docs/apply.md).
    Apply(apply::ApplyArgs),
    /// Give a sealed server (`--seal shamir`) one unseal share.
    Unseal(seal_cmd::UnsealArgs),
    /// Change the root of trust (passphrase, shares, root key file) while servers run.
    ///
    /// The data root key that wraps every key stays; only what seals it changes. Running
    /// servers go on serving; their next start needs the new root of trust, and the old
    /// one no longer opens the store.
    Rekey(seal_cmd::RekeyArgs),
    /// Print a function's logs (START … REPORT of every invocation), as kept by the server
    /// that ran them in its data directory.
    Logs(logs_cmd::LogsArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and report the first gap, edit or reorder (exit status 1).
    Verify {
        #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// `sqlite` (keyward.db in the data directory) or the PostgreSQL URL the server uses.
        #[arg(long, env = "KEYWARD_STORAGE", default_value = "sqlite", value_parser = keyward_server::Storage::parse, hide_env_values = true)]
        storage: keyward_server::Storage,
    },
    /// Write CloudTrail log file JSON (`{"Records":[…]}`, gzip) for a time range.
    Export {
        #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// `sqlite` (keyward.db in the data directory) or the PostgreSQL URL the server uses.
        #[arg(long, env = "KEYWARD_STORAGE", default_value = "sqlite", value_parser = keyward_server::Storage::parse, hide_env_values = true)]
        storage: keyward_server::Storage,
        /// Earliest event time (RFC 3339 or epoch seconds).
        #[arg(long, value_parser = audit_cmd::parse_time)]
        start: Option<keyward_core::UnixMillis>,
        /// Latest event time (RFC 3339 or epoch seconds).
        #[arg(long, value_parser = audit_cmd::parse_time)]
        end: Option<keyward_core::UnixMillis>,
        /// Output file, or - for standard output.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Address to listen on (loopback by default). Any other address needs --tls-cert and
    /// --tls-key, or --allow-plaintext.
    #[arg(long, env = "KEYWARD_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (server certificate first). SIGHUP
    /// reloads it and the key from the same files.
    #[arg(long, env = "KEYWARD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, RSA or EC) of --tls-cert.
    #[arg(long, env = "KEYWARD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback (for a TLS-terminating proxy in
    /// front on a trusted network).
    #[arg(long, env = "KEYWARD_ALLOW_PLAINTEXT", conflicts_with = "tls_cert")]
    allow_plaintext: bool,
    /// Run Lambda functions: code uploaded through the Lambda API runs as local processes
    /// under this server's user (see SECURITY.md). Off by default.
    #[arg(long, env = "KEYWARD_ENABLE_FUNCTIONS")]
    enable_functions: bool,
    /// The Python interpreter that runs python3.x functions; it needs the awslambdaric
    /// package (pip install awslambdaric).
    #[arg(long, env = "KEYWARD_PYTHON", default_value = "python3")]
    python: String,
    /// How many processes each function may run at once.
    #[arg(long, env = "KEYWARD_FUNCTION_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    function_concurrency: u16,
    /// Seconds after a failed secret rotation before it is retried; each further failure
    /// doubles the wait, and after five the rotation waits for its next window.
    #[arg(long, env = "KEYWARD_ROTATION_RETRY_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    rotation_retry_seconds: u64,
    /// Directory that holds the database, the generated root key and the credentials file.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Where data is stored: `sqlite` (the file keyward.db in the data directory) or a
    /// PostgreSQL URL (postgres://user:password@host:port/database) that several nodes
    /// share. With PostgreSQL, give every node the same --root-key-file.
    #[arg(long, env = "KEYWARD_STORAGE", default_value = "sqlite", value_parser = keyward_server::Storage::parse, hide_env_values = true)]
    storage: keyward_server::Storage,
    /// The 12-digit account id that owns this installation's resources.
    #[arg(long, env = "KEYWARD_ACCOUNT_ID", default_value = "000000000000", value_parser = parse_account)]
    account_id: keyward_server::AccountId,
    /// Log format on stderr.
    #[arg(long, env = "KEYWARD_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// With `--seal file` (the default): a file holding the 32-byte root key in base64;
    /// without it a key is generated in the data directory (for trying Keyward out, not
    /// for real keys).
    #[arg(long, env = "KEYWARD_ROOT_KEY_FILE")]
    root_key_file: Option<PathBuf>,
    #[command(flatten)]
    seal: seal_cmd::SealArgs,
    /// How often, in seconds, the deletion and rotation jobs run.
    #[arg(long, env = "KEYWARD_JOB_INTERVAL_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    job_interval_seconds: u64,
    /// Days to keep audit events; older ones are pruned (a checkpoint keeps the chain
    /// verifiable). 0 keeps them forever.
    #[arg(long, env = "KEYWARD_AUDIT_RETENTION_DAYS", default_value_t = 0)]
    audit_retention_days: u32,
    /// With PostgreSQL storage, how often, in seconds, every cache is dropped even if no
    /// change notification said so (a safety net: notifications keep caches current).
    #[arg(long, env = "KEYWARD_CACHE_REFRESH_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    cache_refresh_seconds: u64,
    /// Request quotas per account, like AWS's: `off`, `aws` (AWS's default quotas), or a JSON
    /// file of quotas (docs/server.md, "Limits and throttling"). Throttled requests get
    /// ThrottlingException, which SDKs retry with backoff.
    #[arg(long, env = "KEYWARD_QUOTAS", default_value = "off", value_parser = parse_quotas)]
    quotas: QuotaSetting,
    /// Connections open at once; past it new connections wait in the kernel's backlog.
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Requests handled at once; past it requests are answered with ThrottlingException.
    #[arg(long, env = "KEYWARD_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_in_flight: u64,
    /// Seconds a client has to send a request's headers; also how long a keep-alive
    /// connection may stay idle.
    #[arg(long, env = "KEYWARD_HEADER_TIMEOUT_SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_seconds: u64,
    /// Seconds a client has to send a request's body once its headers are in.
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout_seconds: u64,
    /// Seconds before a request still being handled is answered with InternalFailure (the
    /// work goes on to its end, and what it commits stays committed).
    #[arg(long, env = "KEYWARD_REQUEST_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_seconds: u64,
    /// The root access key id to use instead of a generated one (with the secret below).
    #[arg(
        long = "root-access-key-id",
        env = "KEYWARD_ROOT_ACCESS_KEY_ID",
        hide = true
    )]
    root_access_key_id: Option<String>,
    #[arg(
        long = "root-secret-access-key",
        env = "KEYWARD_ROOT_SECRET_ACCESS_KEY",
        hide = true,
        hide_env_values = true
    )]
    root_secret_access_key: Option<String>,
}

/// `--quotas`, loaded and checked when the flags are read, so a bad file stops the start.
#[derive(Clone)]
struct QuotaSetting(Option<keyward_server::config::QuotaTable>);

fn parse_quotas(s: &str) -> Result<QuotaSetting, String> {
    keyward_server::config::QuotaTable::from_setting(s).map(QuotaSetting)
}

fn parse_account(s: &str) -> Result<keyward_server::AccountId, String> {
    keyward_server::AccountId::parse(s).ok_or_else(|| format!("'{s}' is not a 12-digit account id"))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, before
/// the server says it is listening, so a signal that arrives at once still stops it cleanly.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutdown requested; draining requests");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested; draining requests");
    }
}

fn migrate(storage: &keyward_server::Storage, data_dir: &std::path::Path) -> ExitCode {
    if *storage == keyward_server::Storage::Sqlite {
        if let Err(err) = std::fs::create_dir_all(data_dir) {
            eprintln!("error: cannot create {}: {err}", data_dir.display());
            return ExitCode::FAILURE;
        }
    }
    match keyward_server::open_store(storage, data_dir) {
        Ok(_) => {
            eprintln!("{}: schema up to date", storage.describe());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: cannot migrate {}: {err}", storage.describe());
            ExitCode::FAILURE
        }
    }
}

/// No core dumps of the server: a core file would hold the root key and every key in use.
/// On Linux the process is also made non-dumpable, which keeps other processes of the same
/// user from attaching to it or reading its memory through /proc.
fn forbid_core_dumps() -> Result<(), String> {
    #[cfg(unix)]
    {
        use rustix::process::{setrlimit, Resource, Rlimit};
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        setrlimit(Resource::Core, none).map_err(|e| format!("cannot disable core dumps: {e}"))?;
    }
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| format!("cannot make the process non-dumpable: {e}"))?;
    Ok(())
}

async fn server(args: ServerArgs) -> ExitCode {
    init_logging(args.log_format);
    if let Err(err) = forbid_core_dumps() {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    let root_access_key = match (args.root_access_key_id, args.root_secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => Some(RootAccessKey {
            access_key_id,
            secret_access_key,
        }),
        (None, None) => None,
        _ => {
            eprintln!("error: KEYWARD_ROOT_ACCESS_KEY_ID and KEYWARD_ROOT_SECRET_ACCESS_KEY must be set together");
            return ExitCode::from(2);
        }
    };
    let root_of_trust = match args
        .seal
        .root_of_trust(args.root_key_file, "KEYWARD_PASSPHRASE")
    {
        Ok(trust) => trust,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let config = Config {
        listen: args.listen,
        data_dir: args.data_dir,
        account_id: args.account_id,
        root_access_key,
        root_of_trust,
        job_interval: Duration::from_secs(args.job_interval_seconds),
        audit_retention_days: (args.audit_retention_days > 0).then_some(args.audit_retention_days),
        storage: args.storage,
        cache_refresh: Duration::from_secs(args.cache_refresh_seconds),
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(keyward_server::tls::TlsFiles { cert, key }),
            // clap requires the two together.
            _ => None,
        },
        allow_plaintext: args.allow_plaintext,
        limits: keyward_server::config::Limits {
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            max_in_flight: usize::try_from(args.max_in_flight).unwrap_or(usize::MAX),
            header_timeout: Duration::from_secs(args.header_timeout_seconds),
            body_timeout: Duration::from_secs(args.body_timeout_seconds),
            request_timeout: Duration::from_secs(args.request_timeout_seconds),
        },
        quotas: args.quotas.0,
        functions: args
            .enable_functions
            .then(|| keyward_server::FunctionSettings {
                python: args.python.clone(),
                concurrency: usize::from(args.function_concurrency),
                rotation_retry: Duration::from_secs(args.rotation_retry_seconds),
            }),
    };
    match &config.quotas {
        Some(table) => tracing::info!(limited_groups = table.limited_groups(), "request quotas on"),
        None => tracing::info!("request quotas off"),
    }
    if let Err(err) = config.check_listen() {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    match keyward_server::run(config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "keyward could not run");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Server(args) => runtime.block_on(server(*args)),
        Command::Migrate { data_dir, storage } => migrate(&storage, &data_dir),
        Command::Export {
            data_dir,
            storage,
            output,
        } => transfer_cmd::export(&storage, &data_dir, &output),
        Command::Import {
            data_dir,
            storage,
            input,
        } => transfer_cmd::import(&storage, &data_dir, &input),
        Command::Audit(AuditCommand::Verify { data_dir, storage }) => {
            audit_cmd::verify_chain(&storage, &data_dir)
        }
        Command::Audit(AuditCommand::Export {
            data_dir,
            storage,
            start,
            end,
            output,
        }) => audit_cmd::export(&storage, &data_dir, start, end, &output),
        Command::Encrypt(args) => esdk_cmd::encrypt(runtime.handle(), args),
        Command::Decrypt(args) => esdk_cmd::decrypt(runtime.handle(), args),
        Command::Env(command) => env_cmd::run(runtime.handle(), command),
        Command::Exec(args) => exec_cmd::run(runtime.handle(), args),
        Command::Agent(args) => runtime.block_on(agent::run(args)),
        Command::Apply(args) => apply::apply(runtime.handle(), args),
        Command::Unseal(args) => runtime.block_on(seal_cmd::unseal(args)),
        Command::Rekey(args) => seal_cmd::rekey(args),
        Command::Logs(args) => logs_cmd::run(args),
    }
}
