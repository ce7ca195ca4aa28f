//! `keyward-bench`: a load generator for KMS / Secrets Manager compatible endpoints.
//!
//! Every request is a SigV4-signed AWS JSON 1.1 call (or, with `--protocol openbao`, an
//! OpenBao / Vault transit call; with `--protocol agent`, a secrets agent's GET) sent over one of `--connections` keep-alive HTTP/1.1
//! connections. A request is built and signed just before it is sent; the latency
//! measured is the round trip from send to the last byte of the response.

mod agent;
mod client;
mod creds;
mod protocol;
mod request;
mod stats;
mod transit;
mod workload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;

use crate::creds::Credentials;
use crate::protocol::{Api, Protocol};
use crate::request::{Endpoint, Signer};
use crate::stats::{Report, Tally};
use crate::transit::{Token, Transit};
use crate::workload::{Fixtures, Workload};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Load generator for Keyward and other KMS / Secrets Manager endpoints"
)]
struct Cli {
    /// Base URL of the server (plain http).
    #[arg(
        long,
        env = "KEYWARD_BENCH_ENDPOINT",
        default_value = "http://127.0.0.1:4599"
    )]
    endpoint: String,
    /// Wire protocol: AWS JSON 1.1 with SigV4, or the OpenBao / Vault transit API (which
    /// offers encrypt-32, encrypt-4k, decrypt and generate-data-key only).
    #[arg(
        long,
        env = "KEYWARD_BENCH_PROTOCOL",
        value_enum,
        default_value = "aws"
    )]
    protocol: Protocol,
    /// Token for --protocol openbao; VAULT_TOKEN or BAO_TOKEN is read when not given.
    #[arg(long, env = "KEYWARD_BENCH_VAULT_TOKEN", hide_env_values = true)]
    vault_token: Option<String>,
    /// Token for --protocol agent (its X-Aws-Parameters-Secrets-Token); AWS_TOKEN is read
    /// when not given.
    #[arg(long, env = "KEYWARD_BENCH_AGENT_TOKEN", hide_env_values = true)]
    agent_token: Option<String>,
    /// The existing secret --protocol agent asks for (name or ARN).
    #[arg(long, env = "KEYWARD_BENCH_SECRET_ID")]
    secret_id: Option<String>,
    /// Path of the transit engine for --protocol openbao; mounted at setup if absent.
    #[arg(long, env = "KEYWARD_BENCH_TRANSIT_MOUNT", default_value = "transit")]
    transit_mount: String,
    /// SigV4 region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Access key id (with --secret-access-key); otherwise --credentials-file is read.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", requires = "secret_access_key")]
    access_key_id: Option<String>,
    /// Secret access key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: Option<String>,
    /// AWS shared-credentials file (INI) to read when no keys are given.
    #[arg(long, env = "AWS_SHARED_CREDENTIALS_FILE")]
    credentials_file: Option<PathBuf>,
    /// Profile to read from --credentials-file.
    #[arg(long, env = "AWS_PROFILE", default_value = "default")]
    profile: String,
    /// What to send.
    #[arg(
        long,
        env = "KEYWARD_BENCH_WORKLOAD",
        value_enum,
        default_value = "encrypt-32"
    )]
    workload: Workload,
    /// Number of persistent connections, one worker each.
    #[arg(long, env = "KEYWARD_BENCH_CONNECTIONS", default_value_t = 64)]
    connections: usize,
    /// How long to measure (e.g. 10s, 500ms, 2m); ignored when --requests is given.
    #[arg(long, env = "KEYWARD_BENCH_DURATION", default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Stop after this many measured requests instead of after --duration. Requests sent
    /// during --warmup come on top: with --warmup 0, exactly this many are sent.
    #[arg(long, env = "KEYWARD_BENCH_REQUESTS")]
    requests: Option<u64>,
    /// Unmeasured warm-up before measuring starts.
    #[arg(long, env = "KEYWARD_BENCH_WARMUP", default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Also write the report as JSON to this file.
    #[arg(long, env = "KEYWARD_BENCH_JSON")]
    json: Option<PathBuf>,
}

/// Accepts `10s`, `250ms`, `2m`, `1.5s` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("bad duration unit in {text:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("bad duration {text:?}: {e}"))
}

impl Cli {
    /// The client of the chosen protocol, or why this combination of flags cannot run.
    fn api(&self) -> Result<Api, String> {
        let endpoint = Endpoint::parse(&self.endpoint)?;
        match self.protocol {
            Protocol::Aws => Ok(Api::Aws(Signer {
                endpoint,
                credentials: self.credentials()?,
                region: self.region.clone(),
            })),
            Protocol::OpenBao => {
                if !transit::SUPPORTED.contains(&self.workload) {
                    return Err(transit::unsupported(self.workload));
                }
                let token = self
                    .vault_token
                    .clone()
                    .or_else(|| std::env::var("VAULT_TOKEN").ok())
                    .or_else(|| std::env::var("BAO_TOKEN").ok())
                    .filter(|t| !t.is_empty())
                    .ok_or("--protocol openbao needs --vault-token (or VAULT_TOKEN)")?;
                Ok(Api::OpenBao(Transit::new(
                    endpoint,
                    Token(token),
                    &self.transit_mount,
                )?))
            }
            Protocol::Agent => {
                if !agent::SUPPORTED.contains(&self.workload) {
                    return Err(agent::unsupported(self.workload));
                }
                let token = self
                    .agent_token
                    .clone()
                    .or_else(|| std::env::var("AWS_TOKEN").ok())
                    .filter(|t| !t.is_empty())
                    .ok_or("--protocol agent needs --agent-token (or AWS_TOKEN)")?;
                Ok(Api::Agent(agent::Agent::new(
                    endpoint,
                    agent::AgentToken(token),
                    self.secret_id.as_deref().unwrap_or_default(),
                )?))
            }
        }
    }

    fn credentials(&self) -> Result<Credentials, String> {
        match (
            &self.access_key_id,
            &self.secret_access_key,
            &self.credentials_file,
        ) {
            (Some(id), Some(secret), _) => Ok(Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: None,
            }),
            (_, _, Some(path)) => Credentials::load(path, &self.profile),
            _ => Err(
                "give --access-key-id and --secret-access-key, or --credentials-file".to_owned(),
            ),
        }
    }
}

struct Plan {
    workload: Workload,
    fixtures: Fixtures,
    api: Api,
    measure_from: Instant,
    stop_at: Option<Instant>,
    /// With --requests: measured requests still to hand out.
    budget: Option<AtomicU64>,
}

impl Plan {
    /// Whether the request about to start is measured, or `None` when it is time to stop.
    fn next(&self, now: Instant) -> Option<bool> {
        if self.stop_at.is_some_and(|stop| now >= stop) {
            return None;
        }
        let measured = now >= self.measure_from;
        if measured {
            if let Some(budget) = &self.budget {
                budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .ok()?;
            }
        }
        Some(measured)
    }
}

async fn worker(plan: Arc<Plan>, seed: u64) -> Tally {
    let mut tally = Tally::default();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut sender = None;
    while let Some(measured) = plan.next(Instant::now()) {
        // Outside the timed span: a server that closes its connections (moto does, after
        // every response) costs a reconnect here, which is counted but is not an error.
        let conn = match client::ready_connection(&mut sender, &plan.api.endpoint().authority).await
        {
            Ok((conn, opened)) => {
                if opened && measured {
                    tally.connections_opened += 1;
                }
                conn
            }
            Err(e) => {
                if measured {
                    tally.error(e);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let request =
            match plan
                .api
                .next_request(plan.workload, &plan.fixtures, &mut rng, SystemTime::now())
            {
                Ok(request) => request,
                Err(e) => {
                    tally.error(e);
                    return tally;
                }
            };
        let start = Instant::now();
        let outcome = client::round_trip(conn, request).await;
        let elapsed_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let error = match outcome {
            Ok((status, _)) if status.is_success() => None,
            Ok((status, body)) => Some(plan.api.error_code(status, &body)),
            Err(e) => {
                sender = None;
                Some(format!("transport: {e}"))
            }
        };
        if measured {
            tally.samples_us.push(elapsed_us);
            if let Some(code) = error {
                tally.error(code);
            }
        }
    }
    tally
}

async fn run(cli: Cli) -> Result<Report, String> {
    if cli.connections == 0 {
        return Err("--connections must be at least 1".to_owned());
    }
    let api = cli.api()?;
    let fixtures = api.setup(cli.workload).await?;
    let start = Instant::now();
    let measure_from = start + cli.warmup;
    let plan = Arc::new(Plan {
        workload: cli.workload,
        fixtures,
        api,
        measure_from,
        stop_at: match cli.requests {
            Some(_) => None,
            None => Some(measure_from + cli.duration),
        },
        budget: cli.requests.map(AtomicU64::new),
    });
    let seed = fastrand::u64(..);
    let handles: Vec<_> = (0..cli.connections as u64)
        .map(|i| tokio::spawn(worker(Arc::clone(&plan), seed.wrapping_add(i))))
        .collect();
    let mut tally = Tally::default();
    for handle in handles {
        tally.merge(handle.await.map_err(|e| format!("worker failed: {e}"))?);
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    Ok(Report::new(
        cli.workload.name().to_owned(),
        plan.api.protocol().name().to_owned(),
        cli.endpoint.clone(),
        cli.connections,
        elapsed,
        tally,
    ))
}

/// The load generator shares the machine with the server it measures: the less CPU it
/// spends on allocation, the more the server has.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let json_path = cli.json.clone();
    let report = match run(cli).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("keyward-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    print!("{}", report.table());
    if let Some(path) = json_path {
        let written = serde_json::to_string_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|text| std::fs::write(&path, text + "\n").map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("keyward-bench: cannot write {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn cli_parses_and_picks_credentials() {
        let cli = Cli::try_parse_from([
            "keyward-bench",
            "--access-key-id",
            "a",
            "--secret-access-key",
            "b",
            "--workload",
            "mix",
            "--requests",
            "5",
        ])
        .unwrap();
        assert_eq!(cli.workload, Workload::Mix);
        assert_eq!(cli.connections, 64);
        assert_eq!(cli.credentials().unwrap().access_key_id, "a");
        assert_eq!(cli.api().unwrap().protocol(), Protocol::Aws);
    }

    #[test]
    fn openbao_takes_a_token_and_refuses_workloads_without_a_transit_twin() {
        let parse = |workload: &str| {
            Cli::try_parse_from([
                "keyward-bench",
                "--protocol",
                "openbao",
                "--vault-token",
                "root",
                "--endpoint",
                "http://127.0.0.1:8200",
                "--workload",
                workload,
            ])
            .unwrap()
        };
        let api = parse("decrypt").api().unwrap();
        assert_eq!(api.protocol(), Protocol::OpenBao);
        assert_eq!(api.endpoint().authority, "127.0.0.1:8200");
        for workload in [
            "get-secret-value",
            "create-secret",
            "list-keys",
            "list-secrets",
        ] {
            let e = parse(workload).api().err().unwrap();
            assert!(
                e.contains(&format!("{workload} has no transit equivalent")),
                "{e}"
            );
        }
    }

    #[test]
    fn agent_needs_a_secret_and_serves_get_secret_value_only() {
        let parse = |extra: &[&str]| {
            let mut args = vec![
                "keyward-bench",
                "--protocol",
                "agent",
                "--endpoint",
                "http://127.0.0.1:2773",
                "--agent-token",
                "t",
            ];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).unwrap()
        };
        let api = parse(&["--workload", "get-secret-value", "--secret-id", "db"])
            .api()
            .unwrap();
        assert_eq!(api.protocol(), Protocol::Agent);
        assert_eq!(api.endpoint().authority, "127.0.0.1:2773");
        let e = parse(&["--workload", "get-secret-value"])
            .api()
            .err()
            .unwrap();
        assert!(e.contains("--secret-id"), "{e}");
        let e = parse(&["--workload", "decrypt", "--secret-id", "db"])
            .api()
            .err()
            .unwrap();
        assert!(e.contains("not served by the agent"), "{e}");
    }

    fn budget_plan(measure_from: Instant, budget: u64) -> Plan {
        Plan {
            workload: Workload::Decrypt,
            fixtures: Fixtures::default(),
            api: Api::Aws(Signer {
                endpoint: Endpoint::parse("http://127.0.0.1:1").unwrap(),
                credentials: Credentials {
                    access_key_id: "a".into(),
                    secret_access_key: "b".into(),
                    session_token: None,
                },
                region: "us-east-1".into(),
            }),
            measure_from,
            stop_at: None,
            budget: Some(AtomicU64::new(budget)),
        }
    }

    #[test]
    fn request_budget_stops_workers() {
        let now = Instant::now();
        let plan = budget_plan(now, 2);
        assert_eq!(plan.next(now), Some(true));
        assert_eq!(plan.next(now), Some(true));
        assert_eq!(plan.next(now), None);
    }

    #[test]
    fn warmup_requests_come_on_top_of_the_budget() {
        // bench/scale.sh relies on this: --requests N --warmup 0 sends exactly N.
        let now = Instant::now();
        let plan = budget_plan(now + Duration::from_secs(1), 1);
        assert_eq!(plan.next(now), Some(false));
        assert_eq!(plan.next(now), Some(false));
        let later = now + Duration::from_secs(1);
        assert_eq!(plan.next(later), Some(true));
        assert_eq!(plan.next(later), None);
    }
}
