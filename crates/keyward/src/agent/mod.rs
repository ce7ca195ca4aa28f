//! `keyward agent`: a local caching HTTP endpoint for secrets, compatible with the AWS
//! Secrets Manager Agent and the AWS Parameters and Secrets Lambda extension.
//!
//! Applications on the same host ask `http://127.0.0.1:2773/secretsmanager/get?secretId=…`
//! with a token header; the agent answers from its cache or with GetSecretValue through the
//! official SDK for Rust and its usual configuration (AWS_ENDPOINT_URL, AWS_PROFILE,
//! AWS_REGION, ...), so it works against Keyward and against AWS itself.

mod cache;
mod config;
mod request;
mod secret;
mod server;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::config::Region;
use zeroize::Zeroizing;

use config::Settings;

#[derive(clap::Args)]
pub struct AgentArgs {
    /// A config file in the AWS Secrets Manager Agent's TOML format (http_port, ttl_seconds,
    /// cache_size, ssrf_headers, ssrf_env_variables, path_prefix, max_conn, region,
    /// log_level, ignore_transient_errors). Flags override it.
    #[arg(long, short = 'c', env = "KEYWARD_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Port on 127.0.0.1 (the agent never listens elsewhere); 0 picks a free one
    /// [default: 2773].
    #[arg(long, env = "KEYWARD_AGENT_PORT", value_parser = parse_port)]
    port: Option<u16>,
    /// How long a secret is served from the cache: 300, 300s, 5m, 1h; 0 turns caching off
    /// [default: 300s].
    #[arg(long, env = "KEYWARD_AGENT_TTL", value_parser = config::parse_ttl)]
    ttl: Option<Duration>,
    /// The most secret versions cached; the least recently used goes first [default: 1000].
    #[arg(long, env = "KEYWARD_AGENT_CACHE_SIZE", value_parser = clap::value_parser!(u64).range(1..=1000))]
    cache_size: Option<u64>,
    /// The environment variable holding the token requests must carry (repeat for a list:
    /// the first one set wins). A value `file://PATH` means the token is in that file.
    /// [default: AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN]
    #[arg(
        long = "token-env",
        value_name = "VAR",
        env = "KEYWARD_AGENT_TOKEN_ENV",
        value_delimiter = ','
    )]
    token_env: Vec<String>,
    /// The most simultaneous connections; requests beyond get 429 [default: 800].
    #[arg(long, env = "KEYWARD_AGENT_MAX_CONN", value_parser = clap::value_parser!(u64).range(1..=1000))]
    max_conn: Option<u64>,
}

fn parse_port(text: &str) -> Result<u16, String> {
    let port: u64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a port number"))?;
    config::check_port(port).map_err(|e| e.0)
}

/// Defaults, then the config file, then flags.
fn settings(args: AgentArgs) -> Result<Settings, String> {
    let mut settings = Settings::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        config::apply_file(&mut settings, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(port) = args.port {
        settings.port = port;
    }
    if let Some(ttl) = args.ttl {
        settings.ttl = ttl;
    }
    if let Some(size) = args.cache_size {
        settings.cache_size = config::check_cache_size(size).map_err(|e| e.0)?;
    }
    if let Some(max) = args.max_conn {
        settings.max_conn = config::check_max_conn(max).map_err(|e| e.0)?;
    }
    if !args.token_env.is_empty() {
        settings.token_env = config::check_token_env(args.token_env).map_err(|e| e.0)?;
    }
    Ok(settings)
}

/// The token from the first of `names` that is set; a `file://PATH` value names a file
/// that holds it. The error never shows a value.
fn load_token(names: &[String]) -> Result<Zeroizing<String>, String> {
    let Some((name, value)) = names
        .iter()
        .find_map(|name| std::env::var(name).ok().map(|v| (name, Zeroizing::new(v))))
    else {
        return Err(format!(
            "no token: set one of {} (or name another with --token-env)",
            names.join(", ")
        ));
    };
    let token = match value.strip_prefix("file://") {
        Some(path) => {
            let text =
                Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the token file {path} named by {name}: {e}")
                })?);
            Zeroizing::new(text.trim().to_owned())
        }
        None => value,
    };
    if token.is_empty() {
        return Err(format!("the token in {name} is empty"));
    }
    Ok(token)
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The SDK's own start-up chatter (which credentials it found) only when asked for.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},aws_config=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub async fn run(args: AgentArgs) -> ExitCode {
    let settings = match settings(args) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings.log_level);
    let token = match load_token(&settings.token_env) {
        Ok(token) => token,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };

    let sdk_config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let mut builder = aws_sdk_secretsmanager::config::Builder::from(&sdk_config);
    if let Some(region) = &settings.region {
        builder = builder.region(Region::new(region.clone()));
    } else if sdk_config.region().is_none() {
        eprintln!("error: no AWS region: set AWS_REGION, or region in the config file");
        return ExitCode::FAILURE;
    }
    let client = aws_sdk_secretsmanager::Client::from_conf(builder.build());

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, settings.port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let bound = match listener.local_addr() {
        Ok(bound) => bound,
        Err(err) => {
            eprintln!("error: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };

    let agent = Arc::new(server::Agent {
        client,
        cache: cache::Cache::new(settings.ttl, settings.cache_size),
        token: server::Token::new(token),
        token_headers: settings.token_headers,
        path_prefix: settings.path_prefix,
        max_conn: settings.max_conn,
        ignore_transient_errors: settings.ignore_transient_errors,
    });
    let shutdown = crate::shutdown_signal();
    tracing::info!(
        ttl_seconds = settings.ttl.as_secs(),
        cache_size = settings.cache_size.get(),
        "keyward agent listening on http://{bound}"
    );
    // On standard output too, as the official agent prints it, for scripts that wait for it.
    println!("keyward agent listening on http://{bound}");
    server::serve(listener, agent, shutdown).await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_from_the_environment_or_a_file() {
        // Names of this test's own; no other test reads them.
        let direct = "KEYWARD_AGENT_TEST_TOKEN_DIRECT";
        let from_file = "KEYWARD_AGENT_TEST_TOKEN_FILE";
        let unset = "KEYWARD_AGENT_TEST_TOKEN_UNSET";
        let empty = "KEYWARD_AGENT_TEST_TOKEN_EMPTY";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  from-a-file\n").unwrap();
        std::env::set_var(direct, "abc123");
        std::env::set_var(from_file, format!("file://{}", path.display()));
        std::env::set_var(empty, "");
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

        assert_eq!(*load_token(&names(&[unset, direct])).unwrap(), "abc123");
        assert_eq!(
            *load_token(&names(&[from_file, direct])).unwrap(),
            "from-a-file"
        );
        let missing = load_token(&names(&[unset])).unwrap_err();
        assert!(missing.contains(unset), "{missing}");
        assert!(load_token(&names(&[empty, direct])).is_err());
        std::env::set_var(from_file, "file:///no/such/file");
        assert!(load_token(&names(&[from_file])).is_err());
    }
}
