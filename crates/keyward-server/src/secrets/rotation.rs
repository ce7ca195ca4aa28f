//! Rotation with a rotation function, as Secrets Manager does it: `RotateSecret` records
//! the configuration and an empty `AWSPENDING` version whose id is the rotation's token,
//! then the function is invoked four times (`createSecret`, `setSecret`, `testSecret`,
//! `finishSecret`). The rotation succeeded when `AWSCURRENT` is on the token's version;
//! otherwise `AWSPENDING` stays and the whole rotation is retried later. The background
//! jobs start rotations that are due, on one node at a time.

use keyward_core::rotation::{RotationConfig, Schedule};
use keyward_core::secret::{SecretRecord, SecretsError, AWSCURRENT, AWSPENDING};
use keyward_protocol::secretsmanager::*;
use serde_json::json;
use uuid::Uuid;

use super::access::SecretAccess;
use super::check_not_replica;
use crate::auth::Caller;
use crate::state::AppState;

/// The four steps, in order.
pub(crate) const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];
/// Failed rotations are retried this many times, at growing intervals, before they wait
/// for the next rotation window.
const MAX_RETRIES: u32 = 5;
const SECRETS_MANAGER: &str = "secretsmanager.amazonaws.com";

/// The rotation members of `DescribeSecret`, once rotation was configured.
pub(super) fn describe_rotation(record: &SecretRecord) -> DescribeSecretResponse {
    let Some(rotation) = &record.rotation else {
        return DescribeSecretResponse::default();
    };
    let has_rules =
        rotation.automatically_after_days.is_some() || rotation.schedule_expression.is_some();
    DescribeSecretResponse {
        rotation_enabled: Some(rotation.enabled),
        rotation_lambda_arn: rotation.lambda_arn.clone(),
        rotation_rules: has_rules.then(|| RotationRulesType {
            automatically_after_days: rotation.automatically_after_days,
            duration: rotation.duration.clone(),
            schedule_expression: rotation.schedule_expression.clone(),
        }),
        last_rotated_date: rotation.last_rotated.map(|d| d.as_epoch_seconds()),
        next_rotation_date: rotation
            .next_window
            .filter(|_| rotation.enabled)
            .map(|d| d.as_epoch_seconds()),
        ..DescribeSecretResponse::default()
    }
}

fn functions_off() -> SecretsError {
    SecretsError::InvalidRequest(
        "Rotation runs a rotation function, and functions are not enabled on this server: start it with --enable-functions.".into(),
    )
}

fn cannot_invoke() -> SecretsError {
    SecretsError::AccessDenied(
        "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.".into(),
    )
}

pub(super) async fn rotate_secret(
    state: &AppState,
    caller: &Caller,
    r: RotateSecretRequest,
) -> Result<RotateSecretResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:RotateSecret"),
        )
        .await?;
    record.check_not_deleted()?;
    check_not_replica(&record)?;
    if r.external_secret_rotation_metadata.is_some()
        || r.external_secret_rotation_role_arn.is_some()
    {
        return Err(SecretsError::InvalidParameter(
            "Keyward rotates secrets with rotation functions only: managed external secrets are not supported.".into(),
        ));
    }
    if state.functions().is_none() {
        return Err(functions_off());
    }
    let previous = record.rotation.clone().unwrap_or_default();
    let lambda_arn = r
        .rotation_lambda_arn
        .clone()
        .or_else(|| previous.lambda_arn.clone())
        .ok_or_else(|| {
            SecretsError::InvalidRequest(
                "No Lambda rotation function ARN is associated with this secret.".into(),
            )
        })?;
    // The caller must be allowed to invoke the function, and the function must exist.
    let function_arn = crate::lambda::rotation_function(state, caller, &lambda_arn)
        .await
        .map_err(|err| match err {
            crate::lambda::LambdaError::AccessDenied(_)
            | crate::lambda::LambdaError::NotFound(_) => cannot_invoke(),
            other => SecretsError::Internal(other.to_string()),
        })?;
    let mut config = RotationConfig {
        enabled: true,
        lambda_arn: Some(function_arn),
        ..previous
    };
    if let Some(rules) = r.rotation_rules {
        Schedule::parse(
            rules.automatically_after_days,
            rules.schedule_expression.as_deref(),
            rules.duration.as_deref(),
        )?;
        config.automatically_after_days = rules.automatically_after_days;
        config.schedule_expression = rules.schedule_expression;
        config.duration = rules.duration;
    }
    let token = super::values::version_id(r.client_request_token);
    let immediately = r.rotate_immediately.unwrap_or(true);
    if let Some(pending) = record.pending_rotation() {
        if pending.id == token && immediately {
            // A retry of the same request: the rotation is under way.
            return Ok(response(&record, Some(token)));
        }
        return Err(SecretsError::InvalidRequest(
            "A previous rotation isn't complete. That rotation will be reattempted.".into(),
        ));
    }
    if immediately && record.version_with_stage(AWSCURRENT).is_none() {
        return Err(SecretsError::InvalidRequest(
            "You can't rotate a secret that has no AWSCURRENT value.".into(),
        ));
    }
    let retry = retry_after(state, 1);
    let pending_token = immediately.then(|| token.clone());
    let (_, updated) = state
        .update_secret(record.id, Vec::new(), move |secret, now| {
            secret.check_not_deleted()?;
            let mut config = config.clone();
            config.retries = 0;
            config.next_window = config.schedule()?.and_then(|s| s.next_after(now));
            let mut pruned = Vec::new();
            match &pending_token {
                Some(token) => {
                    if secret.pending_rotation().is_some() {
                        return Err(SecretsError::InvalidRequest(
                            "A previous rotation isn't complete. That rotation will be reattempted.".into(),
                        ));
                    }
                    pruned = secret.add_pending(token, now, String::new())?.pruned;
                    // If this node stops before the rotation ends, the scheduler retries it.
                    config.next = Some(now.plus_millis(retry));
                }
                None => config.next = config.next_window,
            }
            secret.rotation = Some(config);
            secret.last_changed = now;
            Ok(((), pruned))
        })
        .await?;
    if immediately {
        let (state, caller, token) = (state.clone(), caller.clone(), token.clone());
        let (id, arn) = (updated.id, updated.arn.clone());
        tokio::spawn(async move { run(&state, &caller, id, &arn, &token).await });
    }
    Ok(response(&updated, immediately.then_some(token)))
}

fn response(record: &SecretRecord, version_id: Option<String>) -> RotateSecretResponse {
    RotateSecretResponse {
        arn: Some(record.arn.clone()),
        name: Some(record.name.clone()),
        version_id,
    }
}

pub(super) async fn cancel_rotate_secret(
    state: &AppState,
    caller: &Caller,
    r: CancelRotateSecretRequest,
) -> Result<CancelRotateSecretResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:CancelRotateSecret"),
        )
        .await?;
    record.check_not_deleted()?;
    check_not_replica(&record)?;
    if !record.rotation.as_ref().is_some_and(|r| r.enabled) {
        return Err(SecretsError::InvalidRequest(
            "Rotation is not enabled for this secret.".into(),
        ));
    }
    let (version_id, updated) = state
        .update_secret(record.id, Vec::new(), move |secret, now| {
            let pending = secret.pending_rotation().map(|v| v.id.clone());
            if let Some(rotation) = &mut secret.rotation {
                rotation.enabled = false;
                rotation.next = None;
                rotation.retries = 0;
            }
            secret.last_changed = now;
            Ok((pending, Vec::new()))
        })
        .await?;
    Ok(CancelRotateSecretResponse {
        arn: Some(updated.arn.clone()),
        name: Some(updated.name.clone()),
        version_id,
    })
}

/// How long after the `attempt`th failure (1-based) a rotation is retried: the configured
/// base, doubling each time.
fn retry_after(state: &AppState, attempt: u32) -> i64 {
    let base = state
        .functions()
        .map(|f| f.rotation_retry())
        .unwrap_or(std::time::Duration::from_secs(300));
    let millis = i64::try_from(base.as_millis()).unwrap_or(i64::MAX / 64);
    millis.saturating_mul(1 << attempt.saturating_sub(1).min(10))
}

/// The account's view of a secret for work nobody asked for in a request: the scheduler's.
fn service_caller(record: &SecretRecord) -> Option<Caller> {
    Some(Caller {
        account: keyward_core::AccountId::parse(&record.account)?,
        region: keyward_core::Region::parse(&record.region)?,
        principal_arn: format!("arn:aws:iam::{}:root", record.account),
        access_key_id: String::new(),
        identity: crate::auth::Identity::Root,
        source_ip: SECRETS_MANAGER.to_owned(),
    })
}

/// Starts the rotation of a secret the scheduler found due, with its pending version's
/// token or a new one. Returns whether a rotation started.
pub(crate) async fn start_due(state: &AppState, id: Uuid) -> Result<bool, SecretsError> {
    let Some(runtime) = state.functions().cloned() else {
        return Ok(false);
    };
    let new_token = Uuid::new_v4().to_string();
    let retry = retry_after(state, 1);
    let claimed = state
        .update_secret(id, Vec::new(), move |secret, now| {
            let due = secret.rotation.as_ref().is_some_and(|r| {
                r.enabled && r.next.is_some_and(|next| next <= now) && r.lambda_arn.is_some()
            });
            if !due || secret.is_scheduled_for_deletion() || secret.primary_region.is_some() {
                return Ok((None, Vec::new()));
            }
            let mut pruned = Vec::new();
            let token = match secret.pending_rotation() {
                Some(pending) => pending.id.clone(),
                None => {
                    if secret.version_with_stage(AWSCURRENT).is_none() {
                        return Ok((None, Vec::new()));
                    }
                    pruned = secret.add_pending(&new_token, now, String::new())?.pruned;
                    new_token.clone()
                }
            };
            if let Some(rotation) = &mut secret.rotation {
                // Claimed: nobody starts it again before this rotation could have ended.
                rotation.next = Some(now.plus_millis(retry));
            }
            Ok((Some(token), pruned))
        })
        .await;
    let (token, record) = match claimed {
        Ok((Some(token), record)) => (token, record),
        Ok((None, _)) => return Ok(false),
        Err(SecretsError::ResourceNotFound(_)) => return Ok(false),
        Err(err) => return Err(err),
    };
    let Some(caller) = service_caller(&record) else {
        return Ok(false);
    };
    drop(runtime);
    let state = state.clone();
    tokio::spawn(async move { run(&state, &caller, record.id, &record.arn, &token).await });
    Ok(true)
}

/// Runs the four steps of one rotation and records how it ended.
async fn run(state: &AppState, caller: &Caller, id: Uuid, arn: &str, token: &str) {
    let Some(runtime) = state.functions().cloned() else {
        return;
    };
    // One rotation of a secret at a time on this node.
    let Some(_running) = runtime.start_rotation(id) else {
        return;
    };
    audit(state, caller, "RotationStarted", arn, token, None).await;
    let outcome = steps(state, caller, id, arn, token).await;
    let failure = match outcome {
        Ok(()) => finish(state, id, token).await.err(),
        Err(why) => Some(why),
    };
    match failure {
        None => {
            tracing::info!(secret = %arn, version = %token, "rotation succeeded");
            audit(state, caller, "RotationSucceeded", arn, token, None).await;
        }
        Some(why) => {
            tracing::warn!(secret = %arn, version = %token, reason = %why, "rotation failed");
            audit(state, caller, "RotationFailed", arn, token, Some(&why)).await;
            if let Err(err) = schedule_retry(state, id).await {
                tracing::error!(secret = %arn, error = %err, "could not schedule the rotation's retry");
            }
        }
    }
}

/// Invokes the function for each step; the first failure ends the rotation.
async fn steps(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    arn: &str,
    token: &str,
) -> Result<(), String> {
    let rotation_token = Uuid::new_v4().to_string();
    for step in STEPS {
        // Read afresh each step: rotation may have been cancelled or the function changed.
        let record = state
            .blocking_secrets(move |inner| Ok(inner.store.get_secret(&id)?))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the secret no longer exists")?;
        let Some(function) = record
            .rotation
            .as_ref()
            .filter(|r| r.enabled)
            .and_then(|r| r.lambda_arn.clone())
        else {
            return Err("rotation was cancelled".into());
        };
        let event = json!({
            "Step": step,
            "SecretId": arn,
            "ClientRequestToken": token,
            "RotationToken": rotation_token,
        });
        let invocation = crate::lambda::invoke_for_service(state, caller, &function, event)
            .await
            .map_err(|err| format!("{step}: {}", err.to_wire().message))?;
        if invocation.function_error.is_some() {
            let message = serde_json::from_slice::<serde_json::Value>(&invocation.payload)
                .ok()
                .and_then(|v| {
                    v.get("errorMessage")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "the function failed".into());
            return Err(format!("{step}: {message}"));
        }
    }
    Ok(())
}

/// After `finishSecret`: `AWSCURRENT` must be on the token's version; `AWSPENDING` comes off
/// it and the next rotation is scheduled.
async fn finish(state: &AppState, id: Uuid, token: &str) -> Result<(), String> {
    let token = token.to_owned();
    state
        .update_secret(id, Vec::new(), move |secret, now| {
            let current = secret
                .version(&token)
                .is_some_and(|v| v.stages.iter().any(|s| s == AWSCURRENT));
            if !current {
                return Err(SecretsError::InvalidRequest(
                    "finishSecret did not move AWSCURRENT to the new version".into(),
                ));
            }
            let change = secret.update_version_stage(AWSPENDING, None, Some(&token));
            if let Some(rotation) = &mut secret.rotation {
                rotation.last_rotated = Some(now);
                rotation.retries = 0;
                rotation.next_window = rotation.schedule()?.and_then(|s| s.next_after(now));
                rotation.next = rotation.next_window.filter(|_| rotation.enabled);
            }
            secret.last_changed = now;
            Ok(((), change.map(|c| c.pruned).unwrap_or_default()))
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// After a failure: retried at growing intervals, then at the next window.
async fn schedule_retry(state: &AppState, id: Uuid) -> Result<(), SecretsError> {
    let delays: Vec<i64> = (1..=MAX_RETRIES).map(|n| retry_after(state, n)).collect();
    state
        .update_secret(id, Vec::new(), move |secret, now| {
            if let Some(rotation) = &mut secret.rotation {
                rotation.retries += 1;
                let delay = usize::try_from(rotation.retries - 1)
                    .ok()
                    .and_then(|i| delays.get(i));
                rotation.next = match delay {
                    Some(delay) if rotation.enabled => Some(now.plus_millis(*delay)),
                    _ => rotation
                        .next_window
                        .filter(|w| rotation.enabled && *w > now)
                        .or_else(|| {
                            rotation
                                .schedule()
                                .ok()
                                .flatten()
                                .and_then(|s| s.next_after(now))
                        }),
                };
            }
            Ok(((), Vec::new()))
        })
        .await
        .map(|_| ())
}

async fn audit(
    state: &AppState,
    caller: &Caller,
    event: &'static str,
    arn: &str,
    token: &str,
    failure: Option<&str>,
) {
    let parameters = json!({ "secretId": arn, "clientRequestToken": token });
    let error = failure.map(|why| keyward_protocol::WireError {
        code: "RotationFailed",
        message: why.to_owned(),
        status: 400,
    });
    if let Err(err) = state
        .audit_service_event(
            caller,
            SECRETS_MANAGER,
            crate::audit::ServiceEvent {
                event_source: SECRETS_MANAGER,
                operation: event,
                request_parameters: parameters,
                resource_arn: Some(arn),
                error: error.as_ref(),
                read_only: false,
            },
        )
        .await
    {
        tracing::error!(secret = %arn, error = %err.code, "could not record a rotation event");
    }
}
