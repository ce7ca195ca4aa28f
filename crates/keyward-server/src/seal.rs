//! The root of trust. The data root key (DRK, a [`RootKey`]) wraps every piece of key
//! material, access-key secret and session token, and keys the stored fingerprints, so its
//! bytes never change. Where it comes from is the seal:
//! - `file`: the DRK itself, base64 in `--root-key-file` or `<data-dir>/root.key`
//!   (the original behaviour; a store without a seal record is of this kind);
//! - `passphrase`: the DRK sealed by a key-encryption key (KEK) derived from a passphrase
//!   with Argon2id, whose salt and costs are kept in the record;
//! - `shamir`: the DRK sealed by a random KEK split into shares, of which a threshold
//!   must be posted to a running, sealed server (`keyward unseal`);
//! - `pkcs11`: the DRK sealed with AES-GCM inside an HSM by a key that never leaves it.
//!
//! The seal record lives in the store's meta table (`root-seal`), so every node of a
//! shared PostgreSQL store reads the same one, and a rekey replaces it with one
//! compare-and-swap: the DRK stays, only the KEK that seals it changes.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use keyward_core::Store;
use keyward_crypto::shamir::{self, Share};
use keyward_crypto::{Argon2Params, Kek, RootKey, ROOT_KEY_LEN, SALT_LEN};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::bootstrap::{io, write_private, BootstrapError};
use crate::pkcs11::{Hsm, Pkcs11Config, DEFAULT_KEY_LABEL};

mod rekey;
mod shares;

pub use rekey::{rekey, NewSeal, RekeyReport};
use shares::deliver_shares;
pub(crate) use shares::{UnsealStep, Unsealer};

pub(crate) const SEAL_META: &str = "root-seal";
pub(crate) const ROOT_KEY_FILE: &str = "root.key";
/// The shortest passphrase a new seal accepts.
pub const MIN_PASSPHRASE_LEN: usize = 12;

/// How the data root key is protected at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealKind {
    File,
    Passphrase,
    Shamir,
    Pkcs11,
}

impl SealKind {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "file" => Ok(Self::File),
            "passphrase" => Ok(Self::Passphrase),
            "shamir" => Ok(Self::Shamir),
            "pkcs11" => Ok(Self::Pkcs11),
            _ => Err("the seal must be file, passphrase, shamir or pkcs11".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Passphrase => "passphrase",
            Self::Shamir => "shamir",
            Self::Pkcs11 => "pkcs11",
        }
    }

    /// The AAD of the sealed DRK: a record cannot be passed off as another kind's.
    fn aad(self) -> &'static [u8] {
        match self {
            Self::File => b"keyward data root key, file",
            Self::Passphrase => b"keyward data root key sealed by a passphrase",
            Self::Shamir => b"keyward data root key sealed by shamir shares",
            Self::Pkcs11 => b"keyward data root key sealed by a PKCS#11 key",
        }
    }
}

impl std::fmt::Display for SealKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string (a passphrase or a share) that prints as `..`.
#[derive(Clone)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// Reads a file, dropping one trailing line break (`echo` and editors add one).
    pub fn from_file(path: &Path) -> Result<Self, BootstrapError> {
        let bytes = Zeroizing::new(fs::read(path).map_err(|e| io("cannot read", path, e))?);
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| BootstrapError::Config(format!("{} is not UTF-8 text", path.display())))?;
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        Ok(Self::new(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

/// How many shares a new Shamir seal makes and where they go.
#[derive(Debug, Clone)]
pub struct ShamirSetup {
    pub shares: u8,
    pub threshold: u8,
    /// Written with mode 0600 (it must not exist); without it the shares go to stdout.
    pub shares_file: Option<PathBuf>,
}

impl Default for ShamirSetup {
    fn default() -> Self {
        Self {
            shares: 5,
            threshold: 3,
            shares_file: None,
        }
    }
}

/// What the operator gives to open the root key, and what a first start creates.
#[derive(Debug, Clone, Default)]
pub struct RootOfTrust {
    /// The kind a first start creates; later starts read it from the store and refuse a
    /// different one. `None`: whatever the store has, `file` for a new one.
    pub kind: Option<SealKind>,
    /// A 32-byte root key file (the `file` kind); without it, `<data-dir>/root.key`.
    pub root_key_file: Option<PathBuf>,
    pub passphrase: Option<SecretText>,
    /// The Argon2id costs of a new passphrase seal.
    pub argon2: Argon2Params,
    pub shamir: ShamirSetup,
    /// Shares given on the command line (`keyward rekey`); the server takes them over HTTP.
    pub shares: Vec<SecretText>,
    /// The HSM of the `pkcs11` kind.
    pub pkcs11: Option<Pkcs11Config>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum SealRecord {
    Passphrase {
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        salt: String,
        sealed: String,
    },
    Shamir {
        shares: u8,
        threshold: u8,
        sealed: String,
    },
    Pkcs11 {
        token: String,
        key: String,
        iv: String,
        sealed: String,
    },
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Result<Vec<u8>, BootstrapError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| damaged())
}

fn damaged() -> BootstrapError {
    BootstrapError::Config(format!(
        "the store's {SEAL_META} record is damaged; restore it from a backup"
    ))
}

impl SealRecord {
    fn kind(&self) -> SealKind {
        match self {
            Self::Passphrase { .. } => SealKind::Passphrase,
            Self::Shamir { .. } => SealKind::Shamir,
            Self::Pkcs11 { .. } => SealKind::Pkcs11,
        }
    }

    fn read(store: &dyn Store) -> Result<Option<(Self, Vec<u8>)>, BootstrapError> {
        let Some(raw) = store.get_meta(SEAL_META)? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&raw).map_err(|_| damaged())?;
        Ok(Some((record, raw)))
    }

    fn encode(&self) -> Result<Vec<u8>, BootstrapError> {
        serde_json::to_vec(self).map_err(|e| BootstrapError::Io(e.to_string()))
    }
}

/// The data root key, opened, or a Shamir seal waiting for its shares.
pub(crate) enum Root {
    Open(Zeroizing<Vec<u8>>),
    Sealed(Unsealer),
}

/// The root key bytes of the `file` kind, checked for length.
fn decode_root_key(text: &[u8], source: &str) -> Result<Zeroizing<Vec<u8>>, BootstrapError> {
    let trimmed = std::str::from_utf8(text).map(str::trim).unwrap_or_default();
    let bad =
        || BootstrapError::Config(format!("{source}: the root key must be 32 bytes in base64"));
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(trimmed)
            .map_err(|_| bad())?,
    );
    if bytes.len() != ROOT_KEY_LEN {
        return Err(bad());
    }
    Ok(bytes)
}

fn read_root_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, BootstrapError> {
    let text =
        Zeroizing::new(fs::read(path).map_err(|e| io("cannot read root key file", path, e))?);
    decode_root_key(&text, &path.display().to_string())
}

/// The `file` kind: `--root-key-file`, or `<data-dir>/root.key`, generated if `create`.
fn load_root_key_file(
    trust: &RootOfTrust,
    data_dir: &Path,
    create: bool,
) -> Result<Zeroizing<Vec<u8>>, BootstrapError> {
    if let Some(file) = &trust.root_key_file {
        return read_root_key_file(file);
    }
    let path = data_dir.join(ROOT_KEY_FILE);
    if !path.exists() {
        if !create {
            return Err(BootstrapError::Config(format!(
                "no root key: give --root-key-file, or put the root key in {}",
                path.display()
            )));
        }
        let bytes = RootKey::generate_bytes()?;
        let encoded = Zeroizing::new(b64(&bytes));
        write_private(&path, encoded.as_bytes())?;
        tracing::warn!(
            path = %path.display(),
            "generated a root key inside the data directory; anyone who copies the directory can read every key. Use --seal passphrase or shamir, or --root-key-file, for real keys"
        );
    }
    read_root_key_file(&path)
}

fn passphrase_kek(
    passphrase: &SecretText,
    salt: &[u8],
    params: Argon2Params,
) -> Result<Kek, BootstrapError> {
    Kek::from_passphrase(passphrase.expose().as_bytes(), salt, params).map_err(|_| {
        BootstrapError::Config(format!(
            "the {SEAL_META} record's Argon2id costs are out of range; it is damaged"
        ))
    })
}

fn need_passphrase(trust: &RootOfTrust) -> Result<&SecretText, BootstrapError> {
    trust.passphrase.as_ref().ok_or_else(|| {
        BootstrapError::Config(
            "the root key is sealed by a passphrase: give it in KEYWARD_PASSPHRASE or a file named by --passphrase-file (KEYWARD_PASSPHRASE_FILE)".into(),
        )
    })
}

/// Opens a record with the material the operator gave (shares for Shamir only through
/// `trust.shares`, i.e. `keyward rekey`).
fn open_record(record: &SealRecord, trust: &RootOfTrust) -> Result<Root, BootstrapError> {
    match record {
        SealRecord::Passphrase {
            memory_kib,
            iterations,
            parallelism,
            salt,
            sealed,
        } => {
            let passphrase = need_passphrase(trust)?;
            let params = Argon2Params {
                memory_kib: *memory_kib,
                iterations: *iterations,
                parallelism: *parallelism,
            };
            let kek = passphrase_kek(passphrase, &unb64(salt)?, params)?;
            let drk = kek
                .open(SealKind::Passphrase.aad(), &unb64(sealed)?)
                .map_err(|_| {
                    BootstrapError::Config(
                        "wrong passphrase: it does not open this installation's root key".into(),
                    )
                })?;
            Ok(Root::Open(drk))
        }
        SealRecord::Shamir {
            threshold, sealed, ..
        } => {
            let mut unsealer = Unsealer::new(*threshold, unb64(sealed)?);
            if trust.shares.is_empty() {
                return Ok(Root::Sealed(unsealer));
            }
            for share in &trust.shares {
                match unsealer.submit(share.expose()) {
                    Ok(UnsealStep::Opened(drk)) => return Ok(Root::Open(drk)),
                    Ok(UnsealStep::Progress(_)) => {}
                    Err(err) => return Err(BootstrapError::Config(err.to_string())),
                }
            }
            Err(BootstrapError::Config(format!(
                "{} shares given; {threshold} are needed",
                unsealer.progress()
            )))
        }
        SealRecord::Pkcs11 {
            token,
            key,
            iv,
            sealed,
        } => {
            let config = need_pkcs11(trust)?;
            for (flag, given, stored) in [
                ("--pkcs11-token-label", &config.token_label, token),
                ("--pkcs11-key-label", &config.key_label, key),
            ] {
                if given.as_ref().is_some_and(|g| g != stored) {
                    return Err(BootstrapError::Config(format!(
                        "{flag} does not match: this installation's root key is sealed by key {key:?} in token {token:?}"
                    )));
                }
            }
            let hsm = Hsm::open(config, token, key, false)?;
            let drk = hsm.open_sealed(SealKind::Pkcs11.aad(), &unb64(iv)?, &unb64(sealed)?)?;
            Ok(Root::Open(drk))
        }
    }
}

fn need_pkcs11(trust: &RootOfTrust) -> Result<&Pkcs11Config, BootstrapError> {
    trust.pkcs11.as_ref().ok_or_else(|| {
        BootstrapError::Config(
            "the root key is sealed by an HSM key: give --pkcs11-module (KEYWARD_PKCS11_MODULE) and the PIN in KEYWARD_PKCS11_PIN".into(),
        )
    })
}

/// A new seal of `drk` of `kind`; for Shamir, also the shares (not yet shown anywhere).
fn new_record(
    kind: SealKind,
    trust: &RootOfTrust,
    drk: &[u8],
) -> Result<(SealRecord, Vec<Share>), BootstrapError> {
    match kind {
        SealKind::File => Err(BootstrapError::Config(
            "internal: the file kind has no seal record".into(),
        )),
        SealKind::Passphrase => {
            let passphrase = need_passphrase(trust)?;
            if passphrase.expose().chars().count() < MIN_PASSPHRASE_LEN {
                return Err(BootstrapError::Config(format!(
                    "the passphrase must be at least {MIN_PASSPHRASE_LEN} characters"
                )));
            }
            trust.argon2.check().map_err(|_| {
                BootstrapError::Config(format!(
                    "Argon2id costs out of range: memory 8×parallelism..{} KiB, iterations 1..{}, parallelism 1..{}",
                    Argon2Params::MAX_MEMORY_KIB,
                    Argon2Params::MAX_ITERATIONS,
                    Argon2Params::MAX_PARALLELISM
                ))
            })?;
            let defaults = Argon2Params::default();
            if trust.argon2.memory_kib < defaults.memory_kib
                || trust.argon2.iterations < defaults.iterations
            {
                tracing::warn!(
                    memory_kib = trust.argon2.memory_kib,
                    iterations = trust.argon2.iterations,
                    "Argon2id costs below the defaults make passphrase guessing cheaper; fine for tests, not for real keys"
                );
            }
            let salt = keyward_crypto::random_bytes(SALT_LEN)?;
            let kek = passphrase_kek(passphrase, &salt, trust.argon2)?;
            let sealed = kek.seal(kind.aad(), drk)?;
            Ok((
                SealRecord::Passphrase {
                    memory_kib: trust.argon2.memory_kib,
                    iterations: trust.argon2.iterations,
                    parallelism: trust.argon2.parallelism,
                    salt: b64(&salt),
                    sealed: b64(&sealed),
                },
                Vec::new(),
            ))
        }
        SealKind::Shamir => {
            let setup = &trust.shamir;
            if setup.threshold < 2 || setup.shares < setup.threshold {
                return Err(BootstrapError::Config(
                    "Shamir needs 2 <= --threshold <= --shares <= 255".into(),
                ));
            }
            let kek_bytes = Kek::generate_bytes()?;
            let kek = Kek::from_bytes(&kek_bytes)?;
            let shares = shamir::split(&kek_bytes, setup.threshold, setup.shares)?;
            let sealed = kek.seal(kind.aad(), drk)?;
            Ok((
                SealRecord::Shamir {
                    shares: setup.shares,
                    threshold: setup.threshold,
                    sealed: b64(&sealed),
                },
                shares,
            ))
        }
        SealKind::Pkcs11 => {
            let config = need_pkcs11(trust)?;
            let token = config.token_label.clone().ok_or_else(|| {
                BootstrapError::Config(
                    "--seal pkcs11 needs --pkcs11-token-label (KEYWARD_PKCS11_TOKEN_LABEL)".into(),
                )
            })?;
            let key = config
                .key_label
                .clone()
                .unwrap_or_else(|| DEFAULT_KEY_LABEL.to_owned());
            let hsm = Hsm::open(config, &token, &key, true)?;
            let (iv, sealed) = hsm.seal(kind.aad(), drk)?;
            Ok((
                SealRecord::Pkcs11 {
                    token,
                    key,
                    iv: b64(&iv),
                    sealed: b64(&sealed),
                },
                Vec::new(),
            ))
        }
    }
}
/// Opens the root key named by the store's seal record, or creates the seal on a first
/// start. `has_data`: the store already holds data sealed by a root key (its check value).
pub(crate) fn open_root(
    trust: &RootOfTrust,
    store: &dyn Store,
    data_dir: &Path,
    has_data: bool,
) -> Result<Root, BootstrapError> {
    let Some((record, _)) = SealRecord::read(store)? else {
        let kind = trust.kind.unwrap_or(SealKind::File);
        if kind == SealKind::File {
            return Ok(Root::Open(load_root_key_file(trust, data_dir, !has_data)?));
        }
        if has_data {
            return Err(BootstrapError::Config(format!(
                "this installation's root key is a file, not a {kind} seal: move it with `keyward rekey --to {kind}`"
            )));
        }
        return create(kind, trust, store);
    };
    if let Some(asked) = trust.kind {
        if asked != record.kind() {
            return Err(BootstrapError::Config(format!(
                "--seal {asked} was given, but this installation's root key is sealed by {}; the kind changes only with keyward rekey",
                record.kind()
            )));
        }
    }
    if trust.root_key_file.is_some() {
        return Err(BootstrapError::Config(format!(
            "--root-key-file is not used: this installation's root key is sealed by {}",
            record.kind()
        )));
    }
    if data_dir.join(ROOT_KEY_FILE).exists() {
        tracing::warn!(
            path = %data_dir.join(ROOT_KEY_FILE).display(),
            "a root key file is still in the data directory, though the root key is sealed; shred it"
        );
    }
    open_record(&record, trust)
}

/// A first start of a sealed kind: a new DRK, sealed; a Shamir seal starts sealed.
fn create(kind: SealKind, trust: &RootOfTrust, store: &dyn Store) -> Result<Root, BootstrapError> {
    let drk = RootKey::generate_bytes()?;
    let (record, shares) = new_record(kind, trust, &drk)?;
    let encoded = record.encode()?;
    if !shares.is_empty() {
        deliver_shares(&trust.shamir, &shares)?;
    }
    let stored = match store.put_meta_if_absent(SEAL_META, &encoded) {
        Ok(stored) => stored,
        Err(err) => {
            // The shares just written open nothing: remove them, so the next start can
            // write its own.
            if let (false, Some(path)) = (shares.is_empty(), &trust.shamir.shares_file) {
                let _ = fs::remove_file(path);
            }
            return Err(err.into());
        }
    };
    if stored != encoded {
        // Another node initialized the store first: its seal stands, ours is void.
        if !shares.is_empty() {
            tracing::warn!("another node sealed this store first; the shares just shown are void");
        }
        let record: SealRecord = serde_json::from_slice(&stored).map_err(|_| damaged())?;
        return open_record(&record, trust);
    }
    tracing::info!(seal = %kind, "sealed a new root key");
    match record {
        SealRecord::Shamir { .. } => {
            // Sealed even now: the first unseal proves the shares just handed out work
            // before anything depends on them.
            open_record(
                &record,
                &RootOfTrust {
                    shares: Vec::new(),
                    ..trust.clone()
                },
            )
        }
        SealRecord::Passphrase { .. } | SealRecord::Pkcs11 { .. } => Ok(Root::Open(drk)),
    }
}
/// The number of shares that open the store's seal, if it is a Shamir seal.
pub fn shamir_threshold(store: &dyn Store) -> Result<Option<u8>, BootstrapError> {
    Ok(match SealRecord::read(store)? {
        Some((SealRecord::Shamir { threshold, .. }, _)) => Some(threshold),
        _ => None,
    })
}
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secret_text_never_prints_and_drops_one_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        fs::write(&path, "correct horse battery\r\n\n").unwrap();
        let text = SecretText::from_file(&path).unwrap();
        assert_eq!(text.expose(), "correct horse battery\r\n");
        fs::write(&path, "correct horse battery\r\n").unwrap();
        assert_eq!(
            SecretText::from_file(&path).unwrap().expose(),
            "correct horse battery"
        );
        assert_eq!(format!("{text:?}"), "..");
    }
}
