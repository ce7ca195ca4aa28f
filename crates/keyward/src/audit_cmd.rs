//! `keyward audit verify` and `keyward audit export`: read the audit trail straight from
//! the store (the server may be running: SQLite's WAL lets readers in, and PostgreSQL
//! serves any number of readers).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use keyward_core::audit::{verify, Checkpoint};
use keyward_core::{Store, UnixMillis};
use keyward_server::Storage;

const PAGE: usize = 1000;

fn open(storage: &Storage, data_dir: &Path) -> Result<Arc<dyn Store>, String> {
    if *storage == Storage::Sqlite {
        let path = data_dir.join("keyward.db");
        if !path.exists() {
            return Err(format!("no Keyward database at {}", path.display()));
        }
    }
    keyward_server::open_store(storage, data_dir)
        .map_err(|e| format!("cannot open {}: {e}", storage.describe()))
}

/// Walks the whole chain from its checkpoint; exit status 1 at the first break.
pub fn verify_chain(storage: &Storage, data_dir: &Path) -> ExitCode {
    let store = match open(storage, data_dir) {
        Ok(store) => store,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let start = match store.audit_checkpoint() {
        Ok(checkpoint) => checkpoint,
        Err(err) => {
            eprintln!("error: cannot read the audit checkpoint: {err}");
            return ExitCode::from(2);
        }
    };
    let mut at = start;
    let mut count: u64 = 0;
    loop {
        let page = match store.audit_range(at.seq, PAGE) {
            Ok(page) => page,
            Err(err) => {
                eprintln!("error: cannot read the audit trail: {err}");
                return ExitCode::from(2);
            }
        };
        if page.is_empty() {
            break;
        }
        match verify(at, &page, keyward_crypto::sha256) {
            Ok(reached) => {
                count += page.len() as u64;
                at = reached;
            }
            Err(broken) => {
                println!("audit chain BROKEN: {broken}");
                return ExitCode::from(1);
            }
        }
    }
    // The head recorded with every append: a chain that stops before it lost its newest
    // events.
    match store.audit_head() {
        Ok(head) if head.seq > at.seq => {
            println!(
                "audit chain BROKEN: events {} to {} are missing (the chain ends at {})",
                at.seq + 1,
                head.seq,
                at.seq
            );
            return ExitCode::from(1);
        }
        Ok(head) if head.seq == at.seq && head.hash != at.hash => {
            println!(
                "audit chain BROKEN: event {} does not match the recorded head",
                at.seq
            );
            return ExitCode::from(1);
        }
        Ok(_) => {}
        Err(err) => {
            eprintln!("error: cannot read the audit head: {err}");
            return ExitCode::from(2);
        }
    }
    if start == Checkpoint::GENESIS {
        println!("audit chain verified: {count} events, 1 to {}", at.seq);
    } else {
        println!(
            "audit chain verified: {count} events, {} to {} (events up to {} were pruned)",
            start.seq + 1,
            at.seq,
            start.seq
        );
    }
    ExitCode::SUCCESS
}

/// Parses an RFC 3339 time or epoch seconds.
pub fn parse_time(text: &str) -> Result<UnixMillis, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Ok(UnixMillis((seconds * 1000.0) as i64));
    }
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("'{text}' is neither RFC 3339 nor epoch seconds: {e}"))?;
    Ok(UnixMillis(
        i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
    ))
}

/// Writes CloudTrail log files' form, `{"Records":[…]}` gzipped, for events in a range.
pub fn export(
    storage: &Storage,
    data_dir: &Path,
    start: Option<UnixMillis>,
    end: Option<UnixMillis>,
    output: &PathBuf,
) -> ExitCode {
    match export_inner(storage, data_dir, start, end, output) {
        Ok(count) => {
            eprintln!("exported {count} events");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn export_inner(
    storage: &Storage,
    data_dir: &Path,
    start: Option<UnixMillis>,
    end: Option<UnixMillis>,
    output: &PathBuf,
) -> Result<u64, String> {
    let store = open(storage, data_dir)?;
    let sink: Box<dyn Write> = if output.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(output)
                .map_err(|e| format!("cannot create {}: {e}", output.display()))?,
        )
    };
    let mut gz = flate2::write::GzEncoder::new(sink, flate2::Compression::default());
    let io = |e: std::io::Error| format!("cannot write the export: {e}");
    gz.write_all(b"{\"Records\":[").map_err(io)?;
    let mut after = store.audit_checkpoint().map_err(|e| e.to_string())?.seq;
    let mut count: u64 = 0;
    loop {
        let page = store.audit_range(after, PAGE).map_err(|e| e.to_string())?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            let time = event.event.event_time;
            if start.is_some_and(|s| time < s) || end.is_some_and(|e| time > e) {
                continue;
            }
            if count > 0 {
                gz.write_all(b",").map_err(io)?;
            }
            gz.write_all(event.event.record.as_bytes()).map_err(io)?;
            count += 1;
        }
    }
    gz.write_all(b"]}").map_err(io)?;
    gz.finish().map_err(io)?.flush().map_err(io)?;
    Ok(count)
}
