//! `keyward export` and `keyward import`: a whole installation to a file and back, between
//! backends of either kind (see `keyward_store::transfer` for the file). Values never
//! reach the terminal: the summary on stderr names tables and counts rows.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use keyward_server::Storage;
use keyward_store::{PostgresStore, SqliteStore, Transfer};

/// SQLite's file in the data directory (as the server names it).
const DATABASE_FILE: &str = "keyward.db";

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The store to export from, which must exist (an export of nothing is a mistake).
fn open_source(storage: &Storage, data_dir: &Path) -> Result<Box<dyn Transfer>, String> {
    let cannot = |e| format!("cannot open {}: {e}", storage.describe());
    Ok(match storage {
        Storage::Sqlite => {
            let path = data_dir.join(DATABASE_FILE);
            if !path.exists() {
                return Err(format!("no Keyward database at {}", path.display()));
            }
            Box::new(SqliteStore::open(&path).map_err(cannot)?)
        }
        Storage::Postgres(url) => Box::new(PostgresStore::connect(url).map_err(cannot)?),
    })
}

/// The store to import into, created (with its data directory) if need be.
fn open_target(storage: &Storage, data_dir: &Path) -> Result<Box<dyn Transfer>, String> {
    let cannot = |e| format!("cannot open {}: {e}", storage.describe());
    Ok(match storage {
        Storage::Sqlite => {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder
                .create(data_dir)
                .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            Box::new(SqliteStore::open(&data_dir.join(DATABASE_FILE)).map_err(cannot)?)
        }
        Storage::Postgres(url) => Box::new(PostgresStore::connect(url).map_err(cannot)?),
    })
}

/// A file being written beside `target` and renamed over it once complete, so that a
/// failed export never leaves a partial file under the name asked for. Readable by its
/// owner only: the export holds every wrapped key and secret.
struct PendingFile {
    temp: PathBuf,
    target: PathBuf,
    file: Option<fs::File>,
}

impl PendingFile {
    fn create(target: &Path) -> Result<Self, String> {
        let name = target
            .file_name()
            .ok_or_else(|| format!("{} is not a file name", target.display()))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp = target.with_file_name(temp_name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&temp)
            .map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
        Ok(Self {
            temp,
            target: target.to_owned(),
            file: Some(file),
        })
    }

    fn file(&mut self) -> Result<&mut fs::File, String> {
        self.file
            .as_mut()
            .ok_or_else(|| "the export file is closed".to_owned())
    }

    fn commit(mut self) -> Result<(), String> {
        let file = self.file()?;
        file.sync_all()
            .map_err(|e| format!("cannot write {}: {e}", self.temp.display()))?;
        self.file = None;
        fs::rename(&self.temp, &self.target)
            .map_err(|e| format!("cannot rename to {}: {e}", self.target.display()))
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // Still here: the export failed (or the rename did); nothing is left behind.
        let _ = fs::remove_file(&self.temp);
    }
}

fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `keyward export`: every row of the store to `output` (`-`: standard output).
pub fn export(storage: &Storage, data_dir: &Path, output: &Path) -> ExitCode {
    report(export_inner(storage, data_dir, output))
}

fn export_inner(storage: &Storage, data_dir: &Path, output: &Path) -> Result<String, String> {
    let store = open_source(storage, data_dir)?;
    let failed = |e: keyward_store::TransferError| format!("export failed: {e}");
    let summary = if is_stdio(output) {
        let mut stdout = std::io::stdout().lock();
        let summary = store.export(&mut stdout).map_err(failed)?;
        stdout
            .flush()
            .map_err(|e| format!("cannot write the export: {e}"))?;
        summary
    } else {
        let mut pending = PendingFile::create(output)?;
        let summary = store.export(pending.file()?).map_err(failed)?;
        pending.commit()?;
        summary
    };
    Ok(format!("exported {} from {}", summary, storage.describe()))
}

/// `keyward import`: an export (`-`: standard input) into an empty store.
pub fn import(storage: &Storage, data_dir: &Path, input: &Path) -> ExitCode {
    report(import_inner(storage, data_dir, input))
}

fn import_inner(storage: &Storage, data_dir: &Path, input: &Path) -> Result<String, String> {
    // The file first: a name mistyped creates no store.
    let mut reader: Box<dyn BufRead> = if is_stdio(input) {
        Box::new(std::io::stdin().lock())
    } else {
        let file =
            fs::File::open(input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let store = open_target(storage, data_dir)?;
    let summary = store
        .import(&mut reader)
        .map_err(|e| format!("import failed, nothing was imported: {e}"))?;
    Ok(format!("imported {} into {}", summary, storage.describe()))
}
