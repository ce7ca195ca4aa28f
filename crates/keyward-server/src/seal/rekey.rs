//! `keyward rekey`: a new root of trust for the same data root key.

use std::fs;
use std::path::{Path, PathBuf};

use keyward_core::Store;
use keyward_crypto::RootKey;
use zeroize::Zeroizing;

use super::{
    b64, deliver_shares, load_root_key_file, new_record, open_record, Root, RootOfTrust, SealKind,
    SealRecord, ROOT_KEY_FILE, SEAL_META,
};
use crate::bootstrap::{io, write_private, BootstrapError};

/// What `keyward rekey` is to make.
#[derive(Debug, Clone)]
pub struct NewSeal {
    pub kind: SealKind,
    /// The new passphrase, the new Shamir setup, or (for `file`) where to write the root
    /// key (`root_key_file`, which must not exist).
    pub trust: RootOfTrust,
}

/// What a rekey did, for the operator.
#[derive(Debug)]
pub struct RekeyReport {
    pub from: SealKind,
    pub to: SealKind,
    /// The root key file in the data directory, deleted once the new seal was committed.
    pub removed_root_key_file: Option<PathBuf>,
    /// A root key file outside the data directory that the installation no longer needs.
    pub obsolete_root_key_file: Option<PathBuf>,
}

/// Replaces the KEK that seals the data root key; the DRK, and so every wrapped blob,
/// stays. Running servers keep working (they hold the DRK); their next start needs the
/// new root of trust. The seal record is replaced by compare-and-swap, so of two rekeys
/// that race, one fails and changes nothing.
pub fn rekey(
    store: &dyn Store,
    data_dir: &Path,
    current: &RootOfTrust,
    new: &NewSeal,
) -> Result<RekeyReport, BootstrapError> {
    if !crate::bootstrap::has_root_check(store)? {
        return Err(BootstrapError::Config(
            "this store holds no installation yet: start the server once first".into(),
        ));
    }
    let old = SealRecord::read(store)?;
    let from = old.as_ref().map_or(SealKind::File, |(r, _)| r.kind());
    let drk = match &old {
        None => load_root_key_file(current, data_dir, false)?,
        Some((record, _)) => match open_record(record, current)? {
            Root::Open(drk) => drk,
            Root::Sealed(unsealer) => {
                return Err(BootstrapError::Config(format!(
                    "the root key is sealed by Shamir shares: give {} of them with --share-file",
                    unsealer.threshold()
                )))
            }
        },
    };
    crate::bootstrap::verify_root(store, &RootKey::from_bytes(&drk)?, data_dir)?;
    let old_raw = old.as_ref().map(|(_, raw)| raw.as_slice());
    let committed = if new.kind == SealKind::File {
        let Some(path) = &new.trust.root_key_file else {
            return Err(BootstrapError::Config(
                "--to file needs --new-root-key-file, where the root key is written".into(),
            ));
        };
        let Some(old_raw) = old_raw else {
            return Err(BootstrapError::Config(
                "the root key is already a file".into(),
            ));
        };
        let encoded = Zeroizing::new(b64(&drk));
        write_private(path, encoded.as_bytes())?;
        let swapped = store.replace_meta_if_equals(SEAL_META, old_raw, None);
        if !matches!(swapped, Ok(true)) {
            let _ = fs::remove_file(path);
        }
        swapped?
    } else {
        let (record, shares) = new_record(new.kind, &new.trust, &drk)?;
        let encoded = record.encode()?;
        if !shares.is_empty() {
            deliver_shares(&new.trust.shamir, &shares)?;
        }
        let swapped = match old_raw {
            Some(old_raw) => store.replace_meta_if_equals(SEAL_META, old_raw, Some(&encoded)),
            None => store
                .put_meta_if_absent(SEAL_META, &encoded)
                .map(|stored| stored == encoded),
        };
        // New shares that did not become the seal open nothing: remove them.
        if !matches!(swapped, Ok(true)) && !shares.is_empty() {
            if let Some(path) = &new.trust.shamir.shares_file {
                let _ = fs::remove_file(path);
            }
        }
        swapped?
    };
    if !committed {
        return Err(BootstrapError::Config(
            "the seal changed while this rekey ran (another rekey?); nothing was changed: run it again".into(),
        ));
    }
    let mut report = RekeyReport {
        from,
        to: new.kind,
        removed_root_key_file: None,
        obsolete_root_key_file: None,
    };
    if from == SealKind::File {
        match &current.root_key_file {
            Some(path) => report.obsolete_root_key_file = Some(path.clone()),
            None => {
                let path = data_dir.join(ROOT_KEY_FILE);
                fs::remove_file(&path).map_err(|e| {
                    io(
                        "the new seal is committed, but remove the old root key by hand: cannot remove",
                        &path,
                        e,
                    )
                })?;
                report.removed_root_key_file = Some(path);
            }
        }
    }
    Ok(report)
}
