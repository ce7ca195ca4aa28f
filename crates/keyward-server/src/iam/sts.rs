//! STS: who am I, and role sessions with temporary credentials.

use keyward_core::iam::{new_access_key_id, TEMPORARY_ACCESS_KEY_PREFIX};
use keyward_core::policy::{ConditionKeys, Outcome, PolicyKind, ResourceMode};

use super::logic::{check_policy, new_secret_access_key, IamError};
use crate::auth::session::{self, SessionClaims};
use crate::auth::{Caller, Identity};
use crate::authz::denial_message;
use crate::state::AppState;

/// AWS's default and chained-session limits, in seconds.
const DEFAULT_DURATION: u32 = 3600;
const CHAINED_MAX_DURATION: u32 = 3600;

/// A new role session.
pub(crate) struct IssuedSession {
    pub claims: SessionClaims,
    pub token: String,
    pub role_id: String,
}

fn not_authorized(caller: &Caller, role_arn: &str) -> IamError {
    IamError::AccessDenied(format!(
        "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
        caller.principal_arn
    ))
}

impl AppState {
    pub(crate) async fn sts_assume_role(
        &self,
        caller: &Caller,
        role_arn: String,
        session_name: String,
        duration_seconds: Option<i32>,
        external_id: Option<String>,
    ) -> Result<IssuedSession, IamError> {
        // arn:aws:iam::<account>:role/<path>/<name>
        let parsed = role_arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(":role/"));
        let Some((account, path_and_name)) = parsed else {
            return Err(IamError::Validation(format!("{role_arn} is invalid")));
        };
        if account != caller.account.as_str() {
            return Err(not_authorized(caller, &role_arn));
        }
        if caller.is_root() {
            return Err(IamError::AccessDenied(
                "Roles may not be assumed by root accounts.".into(),
            ));
        }
        let name = path_and_name.rsplit('/').next().unwrap_or(path_and_name);
        let role = match self.iam_get_role_record(caller, name).await {
            Ok(role) if role.arn() == role_arn => role,
            Ok(_) | Err(IamError::NoSuchEntity(_)) => {
                return Err(not_authorized(caller, &role_arn))
            }
            Err(other) => return Err(other),
        };
        let duration = match duration_seconds {
            None => DEFAULT_DURATION.min(role.max_session_duration.max(DEFAULT_DURATION)),
            Some(d) => d.unsigned_abs(),
        };
        if matches!(caller.identity, Identity::AssumedRole { .. })
            && duration > CHAINED_MAX_DURATION
        {
            return Err(IamError::Validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".into(),
            ));
        }
        if duration > role.max_session_duration {
            return Err(IamError::Validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .into(),
            ));
        }
        let trust_text = self
            .effective_policy(
                caller.account.as_str(),
                &role.assume_role_policy,
                &role.trust_principals,
            )
            .await?;
        let trust = check_policy(&trust_text, PolicyKind::Trust)?;
        let mut keys = ConditionKeys::new();
        keys.insert("sts:RoleSessionName", &session_name);
        if let Some(external) = &external_id {
            keys.insert("sts:ExternalId", external);
        }
        let outcome = self
            .evaluate(
                caller,
                "sts:AssumeRole",
                &role_arn,
                Some(&trust),
                ResourceMode::Required,
                keys,
            )
            .await?;
        if outcome != Outcome::Allow {
            return Err(IamError::AccessDenied(denial_message(
                &caller.principal_arn,
                "sts:AssumeRole",
                &role_arn,
                outcome,
            )));
        }
        let now = self.inner.clock.now();
        let claims = SessionClaims {
            access_key_id: new_access_key_id(TEMPORARY_ACCESS_KEY_PREFIX)?,
            secret_access_key: new_secret_access_key()?.to_string(),
            account: caller.account.to_string(),
            role_arn: role.arn(),
            role_name: role.name.clone(),
            role_id: role.role_id.clone(),
            session_name,
            issued: now.0,
            expires: now.0 + i64::from(duration) * 1000,
            source_arn: caller.principal_arn.clone(),
        };
        let token = session::seal(&self.inner.root, &claims).map_err(IamError::Internal)?;
        Ok(IssuedSession {
            claims,
            token,
            role_id: role.role_id,
        })
    }
}
