//! Credentials: given on the command line or read from an AWS shared-credentials file.

/// An access key pair; `Debug` shows only the key id so the secret cannot reach a log.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn load(path: &std::path::Path, profile: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
        parse_shared_credentials(&text, profile)
            .map_err(|e| format!("credentials file {}: {e}", path.display()))
    }
}

/// Parses the INI dialect of `~/.aws/credentials` and returns the keys of `profile`.
/// Comments start with `#` or `;`; keys are case-insensitive; later duplicates win.
pub fn parse_shared_credentials(text: &str, profile: &str) -> Result<Credentials, String> {
    let mut in_profile = false;
    let mut found_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            // The config-file spelling `[profile name]` is accepted too.
            let name = section.strip_prefix("profile ").unwrap_or(section).trim();
            in_profile = name == profile;
            found_profile |= in_profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => id = Some(value),
            "aws_secret_access_key" => secret = Some(value),
            "aws_session_token" => token = Some(value),
            _ => {}
        }
    }
    if !found_profile {
        return Err(format!("no profile [{profile}]"));
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: token,
        }),
        _ => Err(format!(
            "profile [{profile}] lacks aws_access_key_id or aws_secret_access_key"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# written by keyward\n[default]\naws_access_key_id = AKIADEFAULT\n\
        aws_secret_access_key=secret/default+1\n\n[other]\n; comment\n\
        AWS_ACCESS_KEY_ID = AKIAOTHER\naws_secret_access_key = s2\naws_session_token = tok\n";

    #[test]
    fn reads_the_default_profile() {
        let c = parse_shared_credentials(FILE, "default").unwrap();
        assert_eq!(c.access_key_id, "AKIADEFAULT");
        assert_eq!(c.secret_access_key, "secret/default+1");
        assert!(c.session_token.is_none());
    }

    #[test]
    fn reads_a_named_profile_with_token_and_any_key_case() {
        let c = parse_shared_credentials(FILE, "other").unwrap();
        assert_eq!(c.access_key_id, "AKIAOTHER");
        assert_eq!(c.secret_access_key, "s2");
        assert_eq!(c.session_token.as_deref(), Some("tok"));
    }

    #[test]
    fn accepts_the_config_file_profile_spelling() {
        let text = "[profile bench]\naws_access_key_id=a\naws_secret_access_key=b\n";
        assert_eq!(
            parse_shared_credentials(text, "bench")
                .unwrap()
                .access_key_id,
            "a"
        );
    }

    #[test]
    fn missing_profile_or_key_is_an_error() {
        assert!(parse_shared_credentials(FILE, "absent")
            .unwrap_err()
            .contains("no profile"));
        let text = "[default]\naws_access_key_id = a\n";
        assert!(parse_shared_credentials(text, "default")
            .unwrap_err()
            .contains("lacks"));
    }

    #[test]
    fn keys_outside_the_profile_are_ignored() {
        let text = "aws_access_key_id = stray\n[default]\naws_secret_access_key = s\n";
        assert!(parse_shared_credentials(text, "default").is_err());
    }
}
