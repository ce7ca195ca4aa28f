//! A function's execution role: it must trust `lambda.amazonaws.com`, and each worker
//! process gets a session of it, issued by Keyward's own STS logic.

use keyward_core::iam::{new_access_key_id, RoleRecord, TEMPORARY_ACCESS_KEY_PREFIX};
use keyward_core::policy::{
    CallerPrincipal, ConditionKeys, Decision, PolicyDocument, PolicyKind, RequestContext,
};
use keyward_core::UnixMillis;

use super::{LambdaError, LAMBDA};
use crate::auth::session::{self, SessionClaims};
use crate::auth::{Caller, Identity};
use crate::state::AppState;

/// Lambda's answer for a role that is missing, of another account, or does not trust it.
fn cannot_assume() -> LambdaError {
    LambdaError::InvalidParameter(
        "The role defined for the function cannot be assumed by Lambda.".into(),
    )
}

/// A role session for a worker process.
pub(crate) struct RoleSession {
    pub claims: SessionClaims,
    pub token: String,
    /// The session as a caller, for opening the environment.
    pub caller: Caller,
}

impl AppState {
    /// The role named by `role_arn`, when it is the caller's account's and its trust
    /// policy lets Lambda assume it.
    pub(crate) async fn lambda_role(
        &self,
        account: &str,
        role_arn: &str,
    ) -> Result<RoleRecord, LambdaError> {
        let parsed = role_arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(":role/"));
        let Some((role_account, path_and_name)) = parsed else {
            return Err(cannot_assume());
        };
        if role_account != account {
            return Err(cannot_assume());
        }
        let name = path_and_name
            .rsplit('/')
            .next()
            .unwrap_or(path_and_name)
            .to_owned();
        let account_owned = account.to_owned();
        let role = self
            .blocking(move |inner| Ok(inner.store.get_role(&account_owned, &name)?))
            .await?
            .filter(|role| role.arn() == role_arn)
            .ok_or_else(cannot_assume)?;
        let trust = self
            .effective_policy(account, &role.assume_role_policy, &role.trust_principals)
            .await
            .map_err(|e| LambdaError::Internal(e.to_string()))?;
        let document =
            PolicyDocument::parse(&trust, PolicyKind::Trust).map_err(|_| cannot_assume())?;
        let keys = ConditionKeys::new();
        let ctx = RequestContext {
            principal: CallerPrincipal {
                account,
                arn: LAMBDA,
                role_arn: None,
                service: Some(LAMBDA),
                is_root: false,
            },
            action: "sts:AssumeRole",
            resource: role_arn,
            keys: &keys,
        };
        if document.evaluate(&ctx).decision != Decision::Allow {
            return Err(cannot_assume());
        }
        Ok(role)
    }

    /// A session of `role` named after the function, for as long as the role allows.
    pub(crate) fn lambda_session(
        &self,
        role: &RoleRecord,
        function_name: &str,
        region: &keyward_core::Region,
    ) -> Result<RoleSession, LambdaError> {
        let now = self.inner.clock.now();
        let secret = crate::iam::logic::new_secret_access_key()
            .map_err(|e| LambdaError::Internal(e.to_wire().message))?;
        let claims = SessionClaims {
            access_key_id: new_access_key_id(TEMPORARY_ACCESS_KEY_PREFIX)
                .map_err(|e| LambdaError::Internal(e.to_string()))?,
            secret_access_key: secret.to_string(),
            account: role.account.to_string(),
            role_arn: role.arn(),
            role_name: role.name.clone(),
            role_id: role.role_id.clone(),
            session_name: function_name.to_owned(),
            issued: now.0,
            expires: now.0 + i64::from(role.max_session_duration.max(3600)) * 1000,
            source_arn: LAMBDA.to_owned(),
        };
        let token = session::seal(&self.inner.root, &claims).map_err(LambdaError::Internal)?;
        let caller = Caller {
            account: role.account.clone(),
            region: region.clone(),
            principal_arn: claims.session_arn(),
            access_key_id: claims.access_key_id.clone(),
            identity: Identity::AssumedRole {
                role_name: role.name.clone(),
                role_id: role.role_id.clone(),
                role_arn: role.arn(),
                session_name: function_name.to_owned(),
                issued: UnixMillis(claims.issued),
                source_arn: LAMBDA.to_owned(),
            },
            source_ip: LAMBDA.to_owned(),
        };
        Ok(RoleSession {
            claims,
            token,
            caller,
        })
    }
}
