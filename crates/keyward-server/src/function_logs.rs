//! Functions' logs on disk: every invocation's log (`START` … `REPORT`) appended to
//! `<data-dir>/function-logs/<account>/<region>/<function>.log` by the server that ran it,
//! for `keyward logs`. A file past [`MAX_LOG_BYTES`] is moved to `<function>.log.1` (the
//! one before is dropped), so a function's logs take at most twice that.
//!
//! Function output is whatever the function prints: the files are the server user's alone
//! (directories 0700, files 0600), like the rest of the data directory.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Size at which a function's log file is rotated.
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;

/// The log file of a function, and the older one beside it.
pub fn log_paths(data_dir: &Path, account: &str, region: &str, function: &str) -> [PathBuf; 2] {
    let dir = data_dir.join("function-logs").join(account).join(region);
    [
        dir.join(format!("{function}.log.1")),
        dir.join(format!("{function}.log")),
    ]
}

/// Appends one invocation's log.
pub fn append(
    data_dir: &Path,
    account: &str,
    region: &str,
    function: &str,
    log: &str,
) -> io::Result<()> {
    let [older, current] = log_paths(data_dir, account, region, function);
    if let Some(dir) = current.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    if fs::metadata(&current).is_ok_and(|m| m.len() >= MAX_LOG_BYTES) {
        fs::rename(&current, &older)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&current)?;
    file.write_all(log.as_bytes())?;
    if !log.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_append_and_rotate() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        append(
            dir.path(),
            "000000000000",
            "us-east-1",
            "f",
            "START a\nEND a",
        )?;
        append(dir.path(), "000000000000", "us-east-1", "f", "START b\n")?;
        let [older, current] = log_paths(dir.path(), "000000000000", "us-east-1", "f");
        assert_eq!(fs::read_to_string(&current)?, "START a\nEND a\nSTART b\n");
        let big = "x".repeat(MAX_LOG_BYTES as usize);
        append(dir.path(), "000000000000", "us-east-1", "f", &big)?;
        append(dir.path(), "000000000000", "us-east-1", "f", "START c\n")?;
        assert_eq!(fs::read_to_string(&current)?, "START c\n");
        assert!(fs::read_to_string(&older)?.starts_with("START a\n"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&current)?.permissions().mode() & 0o777, 0o600);
        Ok(())
    }
}
