//! Server configuration, validated into types. The binary fills it from flags and
//! `KEYWARD_<FLAG>` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keyward_core::AccountId;

pub use crate::lambda::runtime::FunctionSettings;
pub use crate::limits::Limits;
pub use crate::quotas::QuotaTable;
pub use crate::tls::TlsFiles;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub account_id: AccountId,
    /// Root access key supplied by the operator instead of a generated one.
    pub root_access_key: Option<RootAccessKey>,
    /// Where the data root key comes from: a file, a passphrase, Shamir shares.
    pub root_of_trust: crate::seal::RootOfTrust,
    /// How often the deletion and rotation jobs look for due keys.
    pub job_interval: Duration,
    /// Days to keep audit events; `None` keeps them forever.
    pub audit_retention_days: Option<u32>,
    /// Where keys, secrets, identities and the audit trail are stored.
    pub storage: Storage,
    /// On a store that several nodes share, how often every cache is dropped whatever
    /// the change feed says (the safety net for a missed notification).
    pub cache_refresh: Duration,
    /// Serve HTTPS with this certificate chain and key (reloaded on SIGHUP).
    pub tls: Option<TlsFiles>,
    /// Serve plain HTTP on an address other than loopback; see [`Config::check_listen`].
    pub allow_plaintext: bool,
    /// Connections, requests in flight and timeouts.
    pub limits: Limits,
    /// Request quotas per account; `None` is off.
    pub quotas: Option<QuotaTable>,
    /// Run Lambda functions (`--enable-functions`): code uploaded through the API runs as
    /// local processes under the server's own user. `None` answers Lambda requests with
    /// `AccessDeniedException`.
    pub functions: Option<FunctionSettings>,
}

/// Where the server keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum Storage {
    /// `keyward.db` in the data directory: the embedded default, one node.
    Sqlite,
    /// A PostgreSQL database (`postgres://user:password@host:port/database`) that several
    /// nodes share.
    Postgres(String),
}

impl Storage {
    /// `sqlite`, or a `postgres://` / `postgresql://` URL.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "sqlite" {
            Ok(Self::Sqlite)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Self::Postgres(s.to_owned()))
        } else {
            Err("storage must be 'sqlite' or a postgres:// URL".into())
        }
    }

    /// What logs may say about it: the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite => "SQLite in the data directory".into(),
            Self::Postgres(url) => format!("PostgreSQL at {}", redact_password(url)),
        }
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…`; other text unchanged.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[derive(Clone)]
pub struct RootAccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for RootAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootAccessKey")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
pub const DEFAULT_DATA_DIR: &str = "./keyward-data";

impl Config {
    /// The zero-configuration defaults with the data directory given.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4599)),
            data_dir,
            account_id: AccountId::default(),
            root_access_key: None,
            root_of_trust: Default::default(),
            job_interval: Duration::from_secs(10),
            audit_retention_days: None,
            cache_refresh: crate::changes::DEFAULT_FULL_REFRESH,
            storage: Storage::Sqlite,
            tls: None,
            allow_plaintext: false,
            limits: Limits::default(),
            quotas: None,
            functions: None,
        }
    }

    /// Plain HTTP only on loopback, unless the operator says otherwise: requests carry
    /// plaintexts, secret values and data keys, which must not cross a network in the clear
    /// by accident.
    pub fn check_listen(&self) -> Result<(), String> {
        if self.tls.is_none() && !self.allow_plaintext && !self.listen.ip().is_loopback() {
            return Err(format!(
                "refusing to serve plain HTTP on {}, which is not a loopback address: \
                 give --tls-cert and --tls-key, or --allow-plaintext if something in front \
                 of Keyward encrypts the traffic",
                self.listen
            ));
        }
        Ok(())
    }
}

/// Validates an access key id as IAM shapes them: 16–128 word characters.
pub fn valid_access_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_off_loopback_unless_allowed() {
        let mut config = Config::with_data_dir(PathBuf::from("d"));
        assert!(config.check_listen().is_ok());
        config.listen = "[::1]:4599".parse().unwrap();
        assert!(config.check_listen().is_ok());
        for addr in ["0.0.0.0:4599", "10.1.2.3:4599", "[::]:4599"] {
            config.listen = addr.parse().unwrap();
            let err = config.check_listen().unwrap_err();
            assert!(err.contains("refusing to serve plain HTTP"), "{err}");
        }
        config.allow_plaintext = true;
        assert!(config.check_listen().is_ok());
        config.allow_plaintext = false;
        config.tls = Some(TlsFiles {
            cert: PathBuf::from("c.pem"),
            key: PathBuf::from("k.pem"),
        });
        assert!(config.check_listen().is_ok());
    }

    #[test]
    fn storage_parses_and_never_shows_a_password() {
        assert_eq!(Storage::parse("sqlite").unwrap(), Storage::Sqlite);
        assert!(Storage::parse("mysql://x").is_err());
        assert!(Storage::parse("").is_err());
        let pg = Storage::parse("postgres://keyward:hunter2@db.internal:5432/keyward").unwrap();
        assert_eq!(
            format!("{pg:?}"),
            "PostgreSQL at postgres://keyward:***@db.internal:5432/keyward"
        );
        let no_password = Storage::parse("postgresql://keyward@127.0.0.1/k").unwrap();
        assert_eq!(
            no_password.describe(),
            "PostgreSQL at postgresql://keyward@127.0.0.1/k"
        );
    }
}
