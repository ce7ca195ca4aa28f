//! The files of `keyward encrypt`/`decrypt`: what to read and write, directories walked,
//! and output staged in a temporary file until the whole message has verified.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    Stdin,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sink {
    Stdout,
    File(PathBuf),
}

pub(super) fn is_dash(path: &Path) -> bool {
    path.as_os_str() == "-"
}

pub(super) fn with_suffix(dir: &Path, relative: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.join(relative).into_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Every regular file below `dir` (symbolic links to files too; linked directories are not
/// followed), sorted, except under `skip`.
pub(super) fn walk(dir: &Path, skip: Option<&Path>, found: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            let skipped = skip.is_some_and(|s| fs::canonicalize(&path).is_ok_and(|p| p == s));
            if !skipped {
                walk(&path, skip, found)?;
            }
        } else if meta.is_file() || (meta.file_type().is_symlink() && path.is_file()) {
            found.push(path);
        }
    }
    Ok(())
}

/// Pairs each input with its output, or explains why the arguments do not fit.
pub(super) fn plan_jobs(
    common: &CommonArgs,
    default_suffix: &str,
) -> Result<Vec<(Source, Sink)>, String> {
    let suffix = common.suffix.as_deref().unwrap_or(default_suffix);
    let output = &common.output;
    let inputs = &common.input;
    if inputs.iter().any(|i| is_dash(i)) {
        if inputs.len() > 1 {
            return Err("standard input (-) cannot be combined with other inputs".into());
        }
        if !is_dash(output) && output.is_dir() {
            return Err("with standard input, --output must be a file or -".into());
        }
        let sink = if is_dash(output) {
            Sink::Stdout
        } else {
            Sink::File(output.clone())
        };
        return Ok(vec![(Source::Stdin, sink)]);
    }
    for input in inputs {
        if !input.exists() {
            return Err(format!("{}: no such file or directory", input.display()));
        }
        if input.is_dir() && !common.recursive {
            return Err(format!(
                "{} is a directory: use --recursive",
                input.display()
            ));
        }
    }
    let single_file = inputs.len() == 1 && inputs[0].is_file();
    if single_file {
        let input = &inputs[0];
        let sink = if is_dash(output) {
            Sink::Stdout
        } else if output.is_dir() {
            let name = input.file_name().ok_or("the input has no file name")?;
            Sink::File(with_suffix(output, Path::new(name), suffix))
        } else {
            Sink::File(output.clone())
        };
        if let Sink::File(path) = &sink {
            refuse_same_file(input, path)?;
        }
        return Ok(vec![(Source::File(input.clone()), sink)]);
    }
    if is_dash(output) {
        return Err("several inputs or a directory need a directory as --output, not -".into());
    }
    if output.exists() && !output.is_dir() {
        return Err(format!(
            "{} is not a directory (several inputs or a directory need one)",
            output.display()
        ));
    }
    fs::create_dir_all(output).map_err(|e| format!("cannot create {}: {e}", output.display()))?;
    let output_canonical = fs::canonicalize(output).ok();
    let mut jobs = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut files = Vec::new();
            walk(input, output_canonical.as_deref(), &mut files)
                .map_err(|e| format!("cannot read {}: {e}", input.display()))?;
            for file in files {
                let relative = file
                    .strip_prefix(input)
                    .map_err(|_| "a path outside its input")?;
                let target = with_suffix(output, relative, suffix);
                refuse_same_file(&file, &target)?;
                jobs.push((Source::File(file), Sink::File(target)));
            }
        } else {
            let name = input.file_name().ok_or("an input has no file name")?;
            let target = with_suffix(output, Path::new(name), suffix);
            refuse_same_file(input, &target)?;
            jobs.push((Source::File(input.clone()), Sink::File(target)));
        }
    }
    Ok(jobs)
}

pub(super) fn refuse_same_file(input: &Path, output: &Path) -> Result<(), String> {
    if let (Ok(a), Ok(b)) = (fs::canonicalize(input), fs::canonicalize(output)) {
        if a == b {
            return Err(format!(
                "{} would overwrite its own input",
                output.display()
            ));
        }
    }
    Ok(())
}

/// The input as a buffered reader, with a progress bar on a terminal for large files.
pub(super) fn open_source(source: &Source) -> Result<(Box<dyn Read>, Option<ProgressBar>), String> {
    match source {
        Source::Stdin => Ok((
            Box::new(BufReader::with_capacity(IO_BUFFER, io::stdin())),
            None,
        )),
        Source::File(path) => {
            let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let reader = BufReader::with_capacity(IO_BUFFER, file);
            if len >= PROGRESS_THRESHOLD && io::stderr().is_terminal() {
                let bar = ProgressBar::new(len);
                let style = ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_message(
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
                Ok((Box::new(bar.wrap_read(reader)), Some(bar)))
            } else {
                Ok((Box::new(reader), None))
            }
        }
    }
}

/// Where the output goes while it is written: a temporary file beside the target (renamed
/// over it on success, removed otherwise), an unlinked spool for decrypted standard output,
/// or standard output itself.
pub(super) enum Staging {
    Beside(tempfile::NamedTempFile, PathBuf),
    Spool(File),
    Stdout(io::Stdout),
}

impl Staging {
    pub(super) fn new(sink: &Sink, spool_stdout: bool) -> Result<Self, String> {
        match sink {
            Sink::Stdout if spool_stdout => tempfile::tempfile()
                .map(Staging::Spool)
                .map_err(|e| format!("cannot create a temporary file: {e}")),
            Sink::Stdout => Ok(Staging::Stdout(io::stdout())),
            Sink::File(path) => {
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if !dir.is_dir() {
                    fs::create_dir_all(&dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                tempfile::Builder::new()
                    .prefix(".keyward-")
                    .suffix(".partial")
                    .tempfile_in(&dir)
                    .map(|t| Staging::Beside(t, path.clone()))
                    .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))
            }
        }
    }

    pub(super) fn writer(&mut self) -> Result<Box<dyn Write + '_>, String> {
        Ok(match self {
            Staging::Beside(temp, _) => {
                Box::new(BufWriter::with_capacity(IO_BUFFER, temp.as_file_mut()))
            }
            Staging::Spool(file) => Box::new(BufWriter::with_capacity(IO_BUFFER, file)),
            Staging::Stdout(out) => Box::new(BufWriter::with_capacity(IO_BUFFER, out.lock())),
        })
    }

    /// Publishes the verified output.
    pub(super) fn commit(self) -> Result<(), String> {
        match self {
            Staging::Beside(temp, path) => {
                temp.as_file()
                    .sync_all()
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                temp.persist(&path)
                    .map(|_| ())
                    .map_err(|e| format!("cannot write {}: {}", path.display(), e.error))
            }
            Staging::Spool(mut file) => {
                file.rewind()
                    .map_err(|e| format!("cannot read the spool: {e}"))?;
                let mut out = io::stdout().lock();
                io::copy(&mut file, &mut out)
                    .and_then(|_| out.flush())
                    .map_err(|e| format!("cannot write to standard output: {e}"))
            }
            Staging::Stdout(out) => out
                .lock()
                .flush()
                .map_err(|e| format!("cannot write to standard output: {e}")),
        }
    }
}

pub(super) fn describe(source: &Source) -> String {
    match source {
        Source::Stdin => "standard input".into(),
        Source::File(path) => path.display().to_string(),
    }
}
