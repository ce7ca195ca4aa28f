//! Opening a data directory: the root key, the store, the account's root access key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyward_core::store::AccessKeyRow;
use keyward_core::{Clock, Store, StoreError, SystemClock};
use keyward_crypto::RootKey;
use keyward_store::{PostgresStore, SqliteStore};

use crate::auth::secret_aad;
use crate::config::{valid_access_key_id, Config, Storage};
use crate::seal::{open_root, Root};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Config(String),
    #[error("storage: {0}")]
    Store(#[from] keyward_core::StoreError),
    #[error("{0}")]
    Kms(#[from] keyward_core::KmsError),
    #[error("cryptography: {0}")]
    Crypto(#[from] keyward_crypto::CryptoError),
}

pub struct Opened {
    pub state: AppState,
    /// Where the generated root credentials were written, on a first start.
    pub credentials_file: Option<PathBuf>,
}

const DATABASE_FILE: &str = "keyward.db";
const CREDENTIALS_FILE: &str = "credentials";
const ROOT_CHECK: &str = "root-key-check";
const ACCOUNT_META: &str = "account-id";
const ROOT_CHECK_AAD: &[u8] = b"keyward root key check";
const ROOT_CHECK_VALUE: &[u8] = b"keyward";

pub(crate) fn io(context: &str, path: &Path, err: std::io::Error) -> BootstrapError {
    BootstrapError::Io(format!("{context} {}: {err}", path.display()))
}

/// Writes a file readable by its owner only, refusing to replace an existing one.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), BootstrapError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| io("cannot create", path, e))?;
    file.write_all(contents)
        .map_err(|e| io("cannot write", path, e))?;
    file.sync_all().map_err(|e| io("cannot sync", path, e))
}

fn create_data_dir(dir: &Path) -> Result<(), BootstrapError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| io("cannot create data directory", dir, e))
}

/// Refuses, with the reason, a data directory the server cannot write (a read-only mount,
/// wrong owner): SQLite would only say "unable to open database file".
fn check_data_dir_writable(dir: &Path) -> Result<(), BootstrapError> {
    let probe = dir.join(".keyward-write-check");
    let created = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe);
    match created {
        Ok(_) => fs::remove_file(&probe).map_err(|e| io("cannot write in", dir, e)),
        Err(e) => Err(BootstrapError::Io(format!(
            "the data directory {} is not writable: {e}{}",
            dir.display(),
            if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem {
                " (a read-only file system; remount it read-write)"
            } else {
                ""
            }
        ))),
    }
}

/// Refuses a data directory that other users may enter or list: it holds the database and,
/// by default, the root key.
fn check_data_dir_private(dir: &Path) -> Result<(), BootstrapError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir)
            .map_err(|e| io("cannot read", dir, e))?
            .permissions()
            .mode();
        if mode & 0o007 != 0 {
            return Err(BootstrapError::Config(format!(
                "the data directory {} is open to other users (mode {:04o}); make it private with: chmod 700 {}",
                dir.display(),
                mode & 0o7777,
                dir.display()
            )));
        }
    }
    Ok(())
}

fn random_token(alphabet: &[u8], len: usize) -> Result<String, BootstrapError> {
    let bytes = keyward_crypto::random_bytes(len)?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect())
}

fn ensure_root_access_key(
    config: &Config,
    store: &dyn Store,
    root: &RootKey,
    clock: &dyn Clock,
) -> Result<Option<PathBuf>, BootstrapError> {
    let principal_arn = format!("arn:aws:iam::{}:root", config.account_id);
    let store_key = |id: &str, secret: &str| -> Result<(), BootstrapError> {
        let row = AccessKeyRow {
            access_key_id: id.to_owned(),
            wrapped_secret: root.wrap(&secret_aad(id), secret.as_bytes())?,
            account: config.account_id.to_string(),
            principal_arn: principal_arn.clone(),
            created: clock.now(),
            active: true,
            user_name: None,
        };
        store.create_access_key(&row)?;
        Ok(())
    };
    if let Some(given) = &config.root_access_key {
        if !valid_access_key_id(&given.access_key_id) || given.secret_access_key.len() < 16 {
            return Err(BootstrapError::Config(
                "KEYWARD_ROOT_ACCESS_KEY_ID must be 16-128 letters and digits and KEYWARD_ROOT_SECRET_ACCESS_KEY at least 16 characters".into(),
            ));
        }
        match store.get_access_key(&given.access_key_id)? {
            None => store_key(&given.access_key_id, &given.secret_access_key)?,
            Some(row) => {
                let stored =
                    root.unwrap_material(&secret_aad(&row.access_key_id), &row.wrapped_secret)?;
                if stored.as_slice() != given.secret_access_key.as_bytes() {
                    return Err(BootstrapError::Config(format!(
                        "access key {} already exists with another secret",
                        given.access_key_id
                    )));
                }
            }
        }
        store.put_meta_if_absent("root-access-key", given.access_key_id.as_bytes())?;
        return Ok(None);
    }
    if store.get_meta("root-access-key")?.is_some() {
        return Ok(None);
    }
    let id = format!(
        "AKIA{}",
        random_token(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)?
    );
    let secret = zeroize::Zeroizing::new(random_token(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    )?);
    store_key(&id, &secret)?;
    store.put_meta_if_absent("root-access-key", id.as_bytes())?;
    let path = config.data_dir.join(CREDENTIALS_FILE);
    let contents = zeroize::Zeroizing::new(format!(
        "[default]\naws_access_key_id = {id}\naws_secret_access_key = {}\n",
        secret.as_str()
    ));
    if path.exists() {
        fs::remove_file(&path).map_err(|e| io("cannot replace", &path, e))?;
    }
    write_private(&path, contents.as_bytes())?;
    Ok(Some(path))
}

/// Opens the store `storage` names (SQLite's file lives in `data_dir`), bringing its
/// schema up to date.
pub fn open_store(storage: &Storage, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    tracing::info!(storage = %storage.describe(), "opening the store");
    Ok(match storage {
        Storage::Sqlite => Arc::new(SqliteStore::open(&data_dir.join(DATABASE_FILE))?),
        Storage::Postgres(url) => Arc::new(PostgresStore::connect(url)?),
    })
}

/// Opens (or initializes) the data directory and builds the server state.
pub async fn open(config: &Config) -> Result<Opened, BootstrapError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || open_blocking(&config, Arc::new(SystemClock)))
        .await
        .map_err(|e| BootstrapError::Io(e.to_string()))?
}

/// As [`open`], with the clock injected (tests move time by hand). A Shamir seal cannot
/// open here: use [`prepare`] and the sealed server of [`crate::run`].
pub fn open_blocking(config: &Config, clock: Arc<dyn Clock>) -> Result<Opened, BootstrapError> {
    let prepared = prepare(config)?;
    match prepared.root {
        Root::Open(drk) => finish(config, prepared.store, &drk, clock),
        Root::Sealed(_) => Err(BootstrapError::Config(
            "the root key is sealed by Shamir shares; only a running server can be unsealed".into(),
        )),
    }
}

/// The store, opened, and the root key, opened or still sealed.
pub(crate) struct Prepared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) root: Root,
}

/// Opens the data directory and the store, and the root key as far as the root of trust
/// given allows.
pub(crate) fn prepare(config: &Config) -> Result<Prepared, BootstrapError> {
    create_data_dir(&config.data_dir)?;
    check_data_dir_private(&config.data_dir)?;
    if matches!(config.storage, Storage::Sqlite) {
        check_data_dir_writable(&config.data_dir)?;
    }
    let store = open_store(&config.storage, &config.data_dir)?;
    let has_data = has_root_check(store.as_ref())?;
    let root = open_root(
        &config.root_of_trust,
        store.as_ref(),
        &config.data_dir,
        has_data,
    )?;
    Ok(Prepared { store, root })
}

/// Whether the store already holds data under some root key.
pub(crate) fn has_root_check(store: &dyn Store) -> Result<bool, BootstrapError> {
    Ok(store.get_meta(ROOT_CHECK)?.is_some())
}

/// Refuses a root key that is not the one the store's data is wrapped under (and records
/// the check value on a first start).
pub(crate) fn verify_root(
    store: &dyn Store,
    root: &RootKey,
    data_dir: &Path,
) -> Result<(), BootstrapError> {
    let check = root.wrap(ROOT_CHECK_AAD, ROOT_CHECK_VALUE)?;
    let stored_check = store.put_meta_if_absent(ROOT_CHECK, &check)?;
    if root.unwrap_material(ROOT_CHECK_AAD, &stored_check).is_err() {
        return Err(BootstrapError::Config(format!(
            "the root key does not open the data in {}: wrong root key for this data directory",
            data_dir.display()
        )));
    }
    Ok(())
}

/// With the data root key open: checks it and the account, creates the root access key on
/// a first start, and builds the server state.
pub(crate) fn finish(
    config: &Config,
    store: Arc<dyn Store>,
    drk: &[u8],
    clock: Arc<dyn Clock>,
) -> Result<Opened, BootstrapError> {
    let root = RootKey::from_bytes(drk)?;
    verify_root(store.as_ref(), &root, &config.data_dir)?;
    let account = store.put_meta_if_absent(ACCOUNT_META, config.account_id.as_str().as_bytes())?;
    if account != config.account_id.as_str().as_bytes() {
        return Err(BootstrapError::Config(format!(
            "{} belongs to account {}, not {}",
            config.data_dir.display(),
            String::from_utf8_lossy(&account),
            config.account_id
        )));
    }
    let credentials_file = ensure_root_access_key(config, store.as_ref(), &root, clock.as_ref())?;
    if let Some(path) = &credentials_file {
        tracing::info!(path = %path.display(), "created the account's root access key; credentials written");
    }
    let state = AppState::new(store, root, clock, config)?;
    if let Some(settings) = &config.functions {
        state.enable_functions(settings.clone(), &config.data_dir);
        tracing::warn!(
            python = %settings.python,
            "functions are enabled: code uploaded through the Lambda API runs as this server's user"
        );
    }
    Ok(Opened {
        state,
        credentials_file,
    })
}
