//! `keyward-bench`: a load generator for KMS / Secrets Manager compatible endpoints.
//!
//! Every request is a SigV4-signed AWS JSON 1.1 call sent over one of `--connections`
//! keep-alive HTTP/1.1 connections. A request is signed just before it is sent; the
//! latency measured is the round trip from send to the last byte of the response.

mod client;
mod creds;
mod request;
mod stats;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;

use crate::creds::Credentials;
use crate::request::{Endpoint, Signer};
use crate::stats::Report;
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
    /// Stop after this many measured requests instead of after --duration.
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

/// What one worker measured.
#[derive(Default)]
struct WorkerResult {
    samples_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

struct Plan {
    workload: Workload,
    fixtures: Fixtures,
    signer: Signer,
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

async fn worker(plan: Arc<Plan>, seed: u64) -> WorkerResult {
    let mut result = WorkerResult::default();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut sender = None;
    while let Some(measured) = plan.next(Instant::now()) {
        let conn = match sender.as_mut() {
            Some(conn) => conn,
            None => match client::connect(&plan.signer.endpoint.authority).await {
                Ok(conn) => sender.insert(conn),
                Err(e) => {
                    if measured {
                        *result.errors.entry(e).or_insert(0) += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (service, operation, body) =
            workload::next_call(plan.workload, &plan.fixtures, &mut rng);
        let request = match plan
            .signer
            .build(service, operation, body, SystemTime::now())
        {
            Ok(request) => request,
            Err(e) => {
                *result.errors.entry(e).or_insert(0) += 1;
                return result;
            }
        };
        let start = Instant::now();
        let outcome = client::round_trip(conn, request).await;
        let elapsed_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let error = match outcome {
            Ok((status, _)) if status.is_success() => None,
            Ok((status, body)) => Some(client::error_code(status, &body)),
            Err(e) => {
                sender = None;
                Some(format!("transport: {e}"))
            }
        };
        if measured {
            result.samples_us.push(elapsed_us);
            if let Some(code) = error {
                *result.errors.entry(code).or_insert(0) += 1;
            }
        }
    }
    result
}

async fn run(cli: Cli) -> Result<Report, String> {
    if cli.connections == 0 {
        return Err("--connections must be at least 1".to_owned());
    }
    let signer = Signer {
        endpoint: Endpoint::parse(&cli.endpoint)?,
        credentials: cli.credentials()?,
        region: cli.region.clone(),
    };
    let fixtures = workload::setup(cli.workload, &signer).await?;
    let start = Instant::now();
    let measure_from = start + cli.warmup;
    let plan = Arc::new(Plan {
        workload: cli.workload,
        fixtures,
        signer,
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
    let mut samples = Vec::new();
    let mut errors = BTreeMap::new();
    for handle in handles {
        let result = handle.await.map_err(|e| format!("worker failed: {e}"))?;
        samples.extend(result.samples_us);
        for (code, n) in result.errors {
            *errors.entry(code).or_insert(0) += n;
        }
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    Ok(Report::new(
        cli.workload.name().to_owned(),
        cli.endpoint.clone(),
        cli.connections,
        elapsed,
        samples,
        errors,
    ))
}

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
    }

    #[test]
    fn request_budget_stops_workers() {
        let now = Instant::now();
        let plan = Plan {
            workload: Workload::Decrypt,
            fixtures: Fixtures::default(),
            signer: Signer {
                endpoint: Endpoint::parse("http://127.0.0.1:1").unwrap(),
                credentials: Credentials {
                    access_key_id: "a".into(),
                    secret_access_key: "b".into(),
                    session_token: None,
                },
                region: "us-east-1".into(),
            },
            measure_from: now,
            stop_at: None,
            budget: Some(AtomicU64::new(2)),
        };
        assert_eq!(plan.next(now), Some(true));
        assert_eq!(plan.next(now), Some(true));
        assert_eq!(plan.next(now), None);
    }
}
