//! `keyward logs`: a function's logs as the server that ran it kept them
//! (`keyward_server::function_logs`), optionally followed as they grow.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use keyward_server::config::DEFAULT_DATA_DIR;

#[derive(Args)]
pub struct LogsArgs {
    /// The function: its name or its ARN (which also gives the account and region).
    function: String,
    /// The data directory of the server that runs the function (each node keeps the logs
    /// of the invocations it ran).
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long, env = "KEYWARD_ACCOUNT_ID", default_value = "000000000000")]
    account_id: String,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Print only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// Go on printing lines as invocations add them, until interrupted.
    #[arg(short, long)]
    follow: bool,
}

/// `arn:aws:lambda:<region>:<account>:function:<name>` → (account, region, name).
fn parse_function(args: &LogsArgs) -> Result<(String, String, String), String> {
    let parts: Vec<&str> = args.function.split(':').collect();
    let (account, region, name) = match parts.as_slice() {
        ["arn", _, "lambda", region, account, "function", name, ..] => (
            (*account).to_owned(),
            (*region).to_owned(),
            (*name).to_owned(),
        ),
        [name] => (
            args.account_id.clone(),
            args.region.clone(),
            (*name).to_owned(),
        ),
        _ => return Err(format!("{} is not a function name or ARN", args.function)),
    };
    let safe = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !safe(&account) || !safe(&region) || !safe(&name) {
        return Err(format!("{} is not a function name or ARN", args.function));
    }
    Ok((account, region, name))
}

pub fn run(args: LogsArgs) -> ExitCode {
    let (account, region, name) = match parse_function(&args) {
        Ok(found) => found,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let [older, current] =
        keyward_server::function_logs::log_paths(&args.data_dir, &account, &region, &name);
    let mut text = String::new();
    let mut current_len = 0;
    for path in [&older, &current] {
        match std::fs::read_to_string(path) {
            Ok(part) => {
                if path == &current {
                    current_len = part.len() as u64;
                }
                text.push_str(&part);
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                eprintln!("error: {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if text.is_empty() && !args.follow && !current.exists() {
        eprintln!(
            "error: no logs of function {name} in account {account}, region {region} under {}",
            args.data_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = args.tail.map_or(0, |n| lines.len().saturating_sub(n));
    let mut out = std::io::stdout().lock();
    for line in &lines[start..] {
        if writeln!(out, "{line}").is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let _ = out.flush();
    drop(out);
    if args.follow {
        follow(&current, current_len);
    }
    ExitCode::SUCCESS
}

/// Prints what is appended to `path` from `offset` on; starts over when the file is
/// rotated (it becomes shorter than what was read).
fn follow(path: &std::path::Path, mut offset: u64) -> ! {
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let Ok(mut file) = std::fs::File::open(path) else {
            continue;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < offset {
            offset = 0;
        }
        if len == offset || file.seek(SeekFrom::Start(offset)).is_err() {
            continue;
        }
        let mut added = Vec::new();
        if file.read_to_end(&mut added).is_ok() {
            offset += added.len() as u64;
            let mut out = std::io::stdout().lock();
            if out.write_all(&added).and_then(|()| out.flush()).is_err() {
                std::process::exit(0);
            }
        }
    }
}
