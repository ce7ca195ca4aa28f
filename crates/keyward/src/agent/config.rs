//! The agent's settings: defaults, then the official agent's TOML config file, then flags.
//!
//! The file has the keys of the AWS Secrets Manager Agent's config file, so a file written
//! for it works here; an unknown or misspelled key is an error, as it is there. Numbers may
//! be written as TOML integers or strings (`ttl_seconds = 300` or `"300"`), as there.

use std::num::NonZeroUsize;
use std::time::Duration;

use hyper::header::HeaderName;
use toml_edit::{DocumentMut, Value};

pub const DEFAULT_PORT: u16 = 2773;
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
pub const MAX_TTL_SECONDS: u64 = 3600;
pub const DEFAULT_CACHE_SIZE: usize = 1000;
pub const MAX_CACHE_SIZE: usize = 1000;
pub const DEFAULT_MAX_CONN: usize = 800;
pub const MAX_MAX_CONN: usize = 1000;
pub const DEFAULT_TOKEN_HEADERS: [&str; 2] = ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"];
pub const DEFAULT_TOKEN_ENV: [&str; 3] = [
    "AWS_TOKEN",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];
pub const DEFAULT_PATH_PREFIX: &str = "/v1/";

/// Everything the agent runs with, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub port: u16,
    /// Zero turns caching off: every request goes to Secrets Manager.
    pub ttl: Duration,
    pub cache_size: NonZeroUsize,
    /// The request headers that may carry the token, checked in order.
    pub token_headers: Vec<HeaderName>,
    /// The environment variables the token is read from; the first one set wins.
    pub token_env: Vec<String>,
    /// Path-style requests: `<prefix><secret id>`.
    pub path_prefix: String,
    pub max_conn: usize,
    pub region: Option<String>,
    /// A tracing filter directive (`info`, `off`, ...).
    pub log_level: String,
    /// Serve the expired cached value when Secrets Manager cannot be reached.
    pub ignore_transient_errors: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            ttl: DEFAULT_TTL,
            cache_size: NonZeroUsize::MIN.saturating_add(DEFAULT_CACHE_SIZE - 1),
            token_headers: DEFAULT_TOKEN_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(static_lowercase(h)))
                .collect(),
            token_env: DEFAULT_TOKEN_ENV.iter().map(|s| (*s).to_owned()).collect(),
            path_prefix: DEFAULT_PATH_PREFIX.to_owned(),
            max_conn: DEFAULT_MAX_CONN,
            region: None,
            log_level: "info".to_owned(),
            ignore_transient_errors: true,
        }
    }
}

/// `HeaderName::from_static` wants lowercase; the defaults are written as AWS spells them.
fn static_lowercase(name: &'static str) -> &'static str {
    match name {
        "X-Aws-Parameters-Secrets-Token" => "x-aws-parameters-secrets-token",
        "X-Vault-Token" => "x-vault-token",
        other => other,
    }
}

/// A config file problem, in words a user can act on.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

pub fn check_port(port: u64) -> Result<u16, ConfigError> {
    match u16::try_from(port) {
        Ok(p) if p == 0 || p >= 1024 => Ok(p),
        _ => err("the HTTP port must be 0 (any free port) or in the range 1024 to 65535"),
    }
}

pub fn check_ttl(seconds: u64) -> Result<Duration, ConfigError> {
    if seconds > MAX_TTL_SECONDS {
        return err(format!(
            "the TTL must be in the range 0 to {MAX_TTL_SECONDS} seconds"
        ));
    }
    Ok(Duration::from_secs(seconds))
}

pub fn check_cache_size(size: u64) -> Result<NonZeroUsize, ConfigError> {
    usize::try_from(size)
        .ok()
        .filter(|s| *s <= MAX_CACHE_SIZE)
        .and_then(NonZeroUsize::new)
        .map_or_else(
            || {
                err(format!(
                    "the cache size must be in the range 1 to {MAX_CACHE_SIZE}"
                ))
            },
            Ok,
        )
}

pub fn check_max_conn(max: u64) -> Result<usize, ConfigError> {
    match usize::try_from(max) {
        Ok(m) if (1..=MAX_MAX_CONN).contains(&m) => Ok(m),
        _ => err(format!(
            "the maximum number of connections must be in the range 1 to {MAX_MAX_CONN}"
        )),
    }
}

pub fn check_token_env(names: Vec<String>) -> Result<Vec<String>, ConfigError> {
    if names.is_empty() {
        return err("the list of token environment variables can't be empty");
    }
    if let Some(bad) = names
        .iter()
        .find(|n| n.is_empty() || n.contains('=') || n.contains('\0'))
    {
        return err(format!("'{bad}' is not an environment variable name"));
    }
    Ok(names)
}

/// Parses a TTL flag: seconds, optionally with a unit (`300`, `300s`, `5m`, `1h`).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => {
            return Err(format!(
                "'{text}' is not a duration (use 300, 300s, 5m or 1h)"
            ))
        }
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("'{text}' is not a duration (use 300, 300s, 5m or 1h)"))?;
    check_ttl(seconds).map_err(|e| e.0)
}

/// Applies a config file's text to `settings`.
pub fn apply_file(settings: &mut Settings, text: &str) -> Result<(), ConfigError> {
    let doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| ConfigError(format!("not valid TOML: {e}")))?;
    for (key, item) in doc.as_table().iter() {
        let Some(value) = item.as_value() else {
            return err(format!("'{key}' must be a value, not a table"));
        };
        match key {
            "http_port" => settings.port = check_port(number(key, value)?)?,
            "ttl_seconds" => settings.ttl = check_ttl(number(key, value)?)?,
            "cache_size" => settings.cache_size = check_cache_size(number(key, value)?)?,
            "max_conn" => settings.max_conn = check_max_conn(number(key, value)?)?,
            "ssrf_headers" => {
                let names = strings(key, value)?;
                if names.is_empty() {
                    return err("the list of SSRF headers can't be empty");
                }
                settings.token_headers = names
                    .iter()
                    .map(|n| {
                        HeaderName::from_bytes(n.as_bytes())
                            .map_err(|_| ConfigError(format!("'{n}' is not an HTTP header name")))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "ssrf_env_variables" => settings.token_env = check_token_env(strings(key, value)?)?,
            "path_prefix" => {
                let prefix = string(key, value)?;
                if !prefix.starts_with('/') {
                    return err("the path prefix must begin with /");
                }
                settings.path_prefix = prefix;
            }
            "region" => settings.region = Some(string(key, value)?).filter(|r| !r.is_empty()),
            "log_level" => {
                let level = string(key, value)?.to_ascii_lowercase();
                settings.log_level = match level.as_str() {
                    "debug" | "info" | "warn" | "error" => level,
                    "none" => "off".to_owned(),
                    _ => return err("the log level must be DEBUG, INFO, WARN, ERROR, or NONE"),
                };
            }
            "ignore_transient_errors" => settings.ignore_transient_errors = boolean(key, value)?,
            // The official agent's keys that have no effect here; accepted so that its
            // files load, but a value that asks for something this agent won't do is an error.
            "http_address" => {
                if string(key, value)? != "127.0.0.1" {
                    return err("http_address: keyward agent listens on 127.0.0.1 only");
                }
            }
            "log_to_file" | "validate_credentials" => {
                boolean(key, value)?;
            }
            _ => return err(format!("unknown configuration key '{key}'")),
        }
    }
    Ok(())
}

fn number(key: &str, value: &Value) -> Result<u64, ConfigError> {
    let parsed = match value {
        Value::Integer(i) => u64::try_from(*i.value()).ok(),
        Value::String(s) => s.value().trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| ConfigError(format!("'{key}' must be a whole number")))
}

fn string(key: &str, value: &Value) -> Result<String, ConfigError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ConfigError(format!("'{key}' must be a string")))
}

fn boolean(key: &str, value: &Value) -> Result<bool, ConfigError> {
    value
        .as_bool()
        .ok_or_else(|| ConfigError(format!("'{key}' must be true or false")))
}

fn strings(key: &str, value: &Value) -> Result<Vec<String>, ConfigError> {
    let not_list = || ConfigError(format!("'{key}' must be a list of strings"));
    value
        .as_array()
        .ok_or_else(not_list)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(not_list))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        apply_file(&mut s, text).map(|()| s)
    }

    #[test]
    fn defaults_match_the_official_agent() {
        let s = Settings::default();
        assert_eq!(s.port, 2773);
        assert_eq!(s.ttl, Duration::from_secs(300));
        assert_eq!(s.cache_size.get(), 1000);
        assert_eq!(s.max_conn, 800);
        assert_eq!(s.path_prefix, "/v1/");
        assert_eq!(s.token_headers[0], "x-aws-parameters-secrets-token");
        assert_eq!(s.token_headers[1], "x-vault-token");
        assert_eq!(
            s.token_env,
            [
                "AWS_TOKEN",
                "AWS_SESSION_TOKEN",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN"
            ]
        );
    }

    #[test]
    fn the_official_sample_file_loads() {
        let s = load(
            r#"
log_level = "DEBUG"
http_port = "65535"
ssrf_headers = ["X-Aws-Parameters-Secrets-Token"]
ssrf_env_variables = ["MY_TOKEN"]
path_prefix = "/other"
ttl_seconds = 300
cache_size = '1000'
max_conn = 10
region = "us-west-2"
ignore_transient_errors = false
validate_credentials = false
log_to_file = false
http_address = "127.0.0.1"
"#,
        )
        .unwrap();
        assert_eq!(s.port, 65535);
        assert_eq!(s.log_level, "debug");
        assert_eq!(s.token_env, ["MY_TOKEN"]);
        assert_eq!(s.token_headers.len(), 1);
        assert_eq!(s.path_prefix, "/other");
        assert_eq!(s.max_conn, 10);
        assert_eq!(s.region.as_deref(), Some("us-west-2"));
        assert!(!s.ignore_transient_errors);
    }

    #[test]
    fn every_rule_is_enforced() {
        let bad = [
            "http_port = 80",
            "http_port = 70000",
            "http_port = \"x\"",
            "ttl_seconds = 3601",
            "ttl_seconds = -1",
            "cache_size = 0",
            "cache_size = 1001",
            "max_conn = 0",
            "max_conn = 1001",
            "ssrf_headers = []",
            "ssrf_headers = [\"bad header\"]",
            "ssrf_headers = \"X-Vault-Token\"",
            "ssrf_env_variables = []",
            "ssrf_env_variables = [\"A=B\"]",
            "path_prefix = \"v1\"",
            "log_level = \"loud\"",
            "ignore_transient_errors = \"yes\"",
            "http_address = \"0.0.0.0\"",
            "unknown_key = 1",
            "[table]\nx = 1",
            "this is not toml",
        ];
        for text in bad {
            assert!(load(text).is_err(), "accepted: {text}");
        }
        assert_eq!(load("http_port = 0").unwrap().port, 0);
        assert_eq!(load("ttl_seconds = 0").unwrap().ttl, Duration::ZERO);
        assert_eq!(load("log_level = \"none\"").unwrap().log_level, "off");
    }

    #[test]
    fn ttl_flags() {
        assert_eq!(parse_ttl("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_ttl("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_ttl("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("0s"), Ok(Duration::ZERO));
        for bad in ["", "s", "2h", "1d", "-1", "1.5s", "99999999999999999999h"] {
            assert!(parse_ttl(bad).is_err(), "accepted {bad}");
        }
    }
}
