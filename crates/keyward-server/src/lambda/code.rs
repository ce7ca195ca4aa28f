//! Function code: a zip archive, checked when it is uploaded and unpacked under the data
//! directory when a worker first needs it. No entry may leave the directory it is unpacked
//! in, links are refused, and sizes are bounded by what the entries really inflate to, not
//! by what their headers claim.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::LambdaError;

/// AWS's bound on a function's unzipped code.
pub(crate) const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// Bound on the entries of one archive.
const MAX_ENTRIES: usize = 20_000;

fn bad_zip() -> LambdaError {
    LambdaError::InvalidParameter(
        "Could not unzip uploaded file. Please check your file, then try to upload again.".into(),
    )
}

fn too_large() -> LambdaError {
    LambdaError::InvalidParameter(format!(
        "Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
    ))
}

/// The SHA-256 of the zip, base64, as `CodeSha256` shows it.
pub(crate) fn sha256_base64(zip: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(keyward_crypto::sha256(zip))
}

/// Checks an uploaded archive: it opens, every name stays inside, no links, and the sizes
/// its headers declare are within bounds.
pub(crate) fn check(zip: &[u8]) -> Result<(), LambdaError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|_| bad_zip())?;
    if archive.len() > MAX_ENTRIES {
        return Err(bad_zip());
    }
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|_| bad_zip())?;
        if entry.enclosed_name().is_none() || entry.is_symlink() {
            return Err(bad_zip());
        }
        total = total.saturating_add(entry.size());
        if total > MAX_UNZIPPED_BYTES {
            return Err(too_large());
        }
    }
    Ok(())
}

/// Unpacks `zip` into `target` (which must not exist yet), through a temporary directory
/// beside it, so a half-unpacked tree is never used.
pub(crate) fn unpack(zip: &[u8], target: &Path) -> Result<(), LambdaError> {
    let parent = target
        .parent()
        .ok_or_else(|| LambdaError::Internal("code directory has no parent".into()))?;
    std::fs::create_dir_all(parent).map_err(io)?;
    let staging = parent.join(format!(".unpacking-{}", uuid::Uuid::new_v4()));
    let result =
        unpack_into(zip, &staging).and_then(|()| std::fs::rename(&staging, target).map_err(io));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        // Another worker may have unpacked the same code first.
        if target.is_dir() {
            return Ok(());
        }
    }
    result
}

fn io(err: std::io::Error) -> LambdaError {
    LambdaError::Internal(format!("unpacking function code: {err}"))
}

fn unpack_into(zip: &[u8], root: &Path) -> Result<(), LambdaError> {
    std::fs::create_dir_all(root).map_err(io)?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|_| bad_zip())?;
    if archive.len() > MAX_ENTRIES {
        return Err(bad_zip());
    }
    let mut budget = MAX_UNZIPPED_BYTES;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|_| bad_zip())?;
        if entry.is_symlink() {
            return Err(bad_zip());
        }
        let relative: PathBuf = entry.enclosed_name().ok_or_else(bad_zip)?;
        let path = root.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(io)?;
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Executable bits as archived (a `bootstrap` must run); nothing else.
        let executable = entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0);
        let mut file = std::fs::File::create(&path).map_err(io)?;
        let mut limited = (&mut entry).take(budget + 1);
        let mut buffer = vec![0u8; 64 * 1024];
        let mut written: u64 = 0;
        loop {
            let n = limited.read(&mut buffer).map_err(|_| bad_zip())?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > budget {
                return Err(too_large());
            }
            file.write_all(&buffer[..n]).map_err(io)?;
        }
        budget -= written;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = if executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut writer = zip::ZipWriter::new(&mut out);
            for (name, data) in entries {
                writer
                    .start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                writer.write_all(data).unwrap();
            }
            writer.finish().unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn a_plain_archive_unpacks() {
        let zip = archive(&[("app.py", b"print(1)"), ("pkg/mod.py", b"x = 1")]);
        check(&zip).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("code");
        unpack(&zip, &target).unwrap();
        assert_eq!(std::fs::read(target.join("pkg/mod.py")).unwrap(), b"x = 1");
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        let zip = archive(&[("../evil.py", b"x")]);
        assert!(check(&zip).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack(&zip, &dir.path().join("code")).is_err());
        assert!(!dir.path().join("evil.py").exists());
    }

    #[test]
    fn garbage_is_not_a_zip() {
        assert!(matches!(
            check(b"not a zip"),
            Err(LambdaError::InvalidParameter(_))
        ));
    }
}
