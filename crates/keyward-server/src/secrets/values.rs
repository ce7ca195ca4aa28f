//! Reading and writing secret values: versions and their staging labels.

use keyward_core::secret::{SecretRecord, SecretsError, VersionInfo, AWSCURRENT};
use keyward_protocol::json::{Blob, SecretText};
use keyward_protocol::secretsmanager::*;

use super::access::SecretAccess;
use super::envelope::{self, SecretValue};
use super::{check_not_replica, day_of, not_found};
use crate::auth::Caller;
use crate::state::AppState;

/// The value of a request: exactly one of `SecretString` and `SecretBinary`.
pub(super) fn request_value(
    string: Option<SecretText>,
    binary: Option<Blob>,
) -> Result<Option<SecretValue>, SecretsError> {
    match (string, binary) {
        (Some(_), Some(_)) => Err(SecretsError::InvalidParameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.".into(),
        )),
        (Some(text), None) => Ok(Some(SecretValue::Text(text.into_inner()))),
        (None, Some(bytes)) => Ok(Some(SecretValue::Binary(bytes.into_inner()))),
        (None, None) => Ok(None),
    }
}

/// The version id for a new value: the caller's `ClientRequestToken` or a fresh UUID (the
/// SDKs always send one, so retries are idempotent).
pub(super) fn version_id(token: Option<String>) -> String {
    token.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The outcome of adding a value as a new version.
pub(super) enum Added {
    New(SecretRecord),
    /// The same token and the same value were sent before: nothing changed.
    Repeated(SecretRecord),
}

/// Adds `value` to a secret as version `version_id` carrying `stages`. A retry with the
/// same token and value succeeds without a new version; the same token with another value
/// is `ResourceExistsException`, as Secrets Manager does. The empty version a rotation
/// started (its token is `version_id`: the rotation function's `createSecret` step) gets
/// the value and `stages`.
pub(super) async fn add_value(
    state: &AppState,
    caller: &Caller,
    record: &SecretRecord,
    kms_key_id: Option<String>,
    version_id: String,
    value: SecretValue,
    stages: Vec<String>,
) -> Result<Added, SecretsError> {
    if record.version(&version_id).is_some_and(|v| !v.empty) {
        let (secret, vid) = (record.id, version_id.clone());
        let row = state
            .blocking_secrets(move |inner| Ok(inner.secret_value(&secret, &vid)?))
            .await?
            .ok_or_else(not_found)?;
        let existing = envelope::open(state, caller, record, &row).await?;
        if existing.same_as(&value) {
            return Ok(Added::Repeated(record.clone()));
        }
        return Err(SecretsError::ResourceExists(
            "You can't modify an existing version, you can only create new versions.".into(),
        ));
    }
    let (row, key_arn) = envelope::seal(
        state,
        caller,
        record,
        kms_key_id.as_deref(),
        &version_id,
        &value,
    )
    .await?;
    let (_, updated) = state
        .update_secret(record.id, vec![row], move |secret, now| {
            secret.check_not_deleted()?;
            let change = if secret.version(&version_id).is_some_and(|v| v.empty) {
                secret.fill_version(&version_id, key_arn.clone(), &stages)?
            } else {
                let version = VersionInfo {
                    id: version_id.clone(),
                    created: now,
                    stages: Vec::new(),
                    last_accessed: None,
                    kms_key_arn: key_arn.clone(),
                    earlier_kms_keys: Vec::new(),
                    empty: false,
                };
                secret.add_version(version, &stages)?
            };
            secret.last_changed = now;
            Ok(((), change.pruned))
        })
        .await?;
    Ok(Added::New(updated))
}

pub(super) async fn put_secret_value(
    state: &AppState,
    caller: &Caller,
    r: PutSecretValueRequest,
) -> Result<PutSecretValueResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:PutSecretValue"),
        )
        .await?;
    record.check_not_deleted()?;
    check_not_replica(&record)?;
    let value = request_value(r.secret_string, r.secret_binary)?.ok_or_else(|| {
        SecretsError::InvalidParameter(
            "You must provide either SecretString or SecretBinary.".into(),
        )
    })?;
    let version_id = version_id(r.client_request_token);
    let stages = r
        .version_stages
        .unwrap_or_else(|| vec![AWSCURRENT.to_owned()]);
    let kms_key_id = record.kms_key_id.clone();
    let record = match add_value(
        state,
        caller,
        &record,
        kms_key_id,
        version_id.clone(),
        value,
        stages,
    )
    .await?
    {
        Added::New(record) | Added::Repeated(record) => record,
    };
    super::replication::sync_replicas(state, caller, &record).await?;
    Ok(PutSecretValueResponse {
        arn: Some(record.arn.clone()),
        name: Some(record.name.clone()),
        version_stages: record.version(&version_id).map(|v| v.stages.clone()),
        version_id: Some(version_id),
    })
}

/// Which version a read names: by id, by stage, or both (which must agree).
fn pick_version<'a>(
    record: &'a SecretRecord,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'a VersionInfo, SecretsError> {
    match (version_id, stage) {
        (Some(id), stage) => {
            let version = record.version(id).ok_or_else(|| {
                SecretsError::ResourceNotFound(format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {id}"
                ))
            })?;
            if let Some(stage) = stage {
                if !version.stages.iter().any(|s| s == stage) {
                    return Err(SecretsError::InvalidRequest(format!(
                        "You provided a VersionStage that is not associated to the provided VersionId: {stage}"
                    )));
                }
            }
            Ok(version)
        }
        (None, stage) => {
            let stage = stage.unwrap_or(AWSCURRENT);
            record.version_with_stage(stage).ok_or_else(|| {
                SecretsError::ResourceNotFound(format!(
                    "Secrets Manager can't find the specified secret value for staging label: {stage}"
                ))
            })
        }
    }
}

/// Decrypts the named version and records the access (by the day, so at most one write a
/// day per secret).
async fn read_value(
    state: &AppState,
    caller: &Caller,
    record: &SecretRecord,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<(VersionInfo, SecretValue), SecretsError> {
    record.check_not_deleted()?;
    let version = pick_version(record, version_id, stage)?.clone();
    if version.empty {
        // A rotation's version before its function put the value.
        return Err(SecretsError::ResourceNotFound(match (version_id, stage) {
            (Some(id), _) => {
                format!("Secrets Manager can't find the specified secret value for VersionId: {id}")
            }
            (None, stage) => format!(
                "Secrets Manager can't find the specified secret value for staging label: {}",
                stage.unwrap_or(AWSCURRENT)
            ),
        }));
    }
    let (secret, vid) = (record.id, version.id.clone());
    // A cached value needs no blocking task: the common read stays on the executor.
    let row = match state.inner.cached_secret_value(&secret, &vid) {
        Some(row) => Some(row),
        None => {
            state
                .blocking_secrets(move |inner| Ok(inner.secret_value(&secret, &vid)?))
                .await?
        }
    };
    let row = row.ok_or_else(|| {
        SecretsError::Internal(format!("value of version {} is missing", version.id))
    })?;
    let value = envelope::open(state, caller, record, &row).await?;
    let today = day_of(state.inner.clock.now());
    if record.last_accessed != Some(today) || version.last_accessed != Some(today) {
        let vid = version.id.clone();
        state
            .update_secret(record.id, Vec::new(), move |secret, _| {
                secret.last_accessed = Some(today);
                if let Some(v) = secret.versions.iter_mut().find(|v| v.id == vid) {
                    v.last_accessed = Some(today);
                }
                Ok(((), Vec::new()))
            })
            .await?;
    }
    Ok((version, value))
}

fn value_members(value: SecretValue) -> (Option<SecretText>, Option<Blob>) {
    match value {
        SecretValue::Text(text) => (Some(SecretText::from(text)), None),
        SecretValue::Binary(bytes) => (None, Some(Blob::from(bytes))),
    }
}

pub(super) async fn get_secret_value(
    state: &AppState,
    caller: &Caller,
    r: GetSecretValueRequest,
) -> Result<GetSecretValueResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:GetSecretValue")
                .version(r.version_id.as_deref(), r.version_stage.as_deref()),
        )
        .await?;
    let (version, value) = read_value(
        state,
        caller,
        &record,
        r.version_id.as_deref(),
        r.version_stage.as_deref(),
    )
    .await?;
    let (secret_string, secret_binary) = value_members(value);
    Ok(GetSecretValueResponse {
        arn: Some(record.arn.clone()),
        name: Some(record.name.clone()),
        version_id: Some(version.id.clone()),
        secret_string,
        secret_binary,
        version_stages: Some(version.stages.clone()),
        created_date: Some(version.created.as_epoch_seconds()),
    })
}

pub(super) async fn batch_get_secret_value(
    state: &AppState,
    caller: &Caller,
    r: BatchGetSecretValueRequest,
) -> Result<BatchGetSecretValueResponse, SecretsError> {
    state
        .authorize_secrets(
            caller,
            SecretAccess::new("secretsmanager:BatchGetSecretValue"),
            "*",
        )
        .await?;
    let ids: Vec<String> = match (r.secret_id_list, r.filters) {
        (Some(_), Some(_)) => {
            return Err(SecretsError::InvalidParameter(
                "Either 'SecretIdList' or 'Filters' must be provided, but not both.".into(),
            ))
        }
        (None, None) => {
            return Err(SecretsError::InvalidParameter(
                "Either 'SecretIdList' or 'Filters' must be provided.".into(),
            ))
        }
        (Some(list), None) => {
            if r.max_results.is_some() {
                return Err(SecretsError::InvalidParameter(
                    "'MaxResults' is valid only with 'Filters'.".into(),
                ));
            }
            list
        }
        (None, Some(filters)) => {
            let listed = super::manage::list_secrets(
                state,
                caller,
                ListSecretsRequest {
                    filters: Some(filters),
                    max_results: r.max_results,
                    next_token: r.next_token.clone(),
                    include_planned_deletion: None,
                    sort_order: None,
                    sort_by: None,
                },
            )
            .await?;
            let names = listed
                .secret_list
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| s.arn)
                .collect();
            let batch = batch_read(state, caller, names).await;
            return Ok(BatchGetSecretValueResponse {
                next_token: listed.next_token,
                ..batch
            });
        }
    };
    Ok(batch_read(state, caller, ids).await)
}

async fn batch_read(
    state: &AppState,
    caller: &Caller,
    ids: Vec<String>,
) -> BatchGetSecretValueResponse {
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        let read = async {
            let record = state
                .resolve_secret(
                    caller,
                    &id,
                    SecretAccess::new("secretsmanager:GetSecretValue"),
                )
                .await?;
            let (version, value) = read_value(state, caller, &record, None, None).await?;
            Ok::<_, SecretsError>((record, version, value))
        };
        match read.await {
            Ok((record, version, value)) => {
                let (secret_string, secret_binary) = value_members(value);
                values.push(SecretValueEntry {
                    arn: Some(record.arn.clone()),
                    name: Some(record.name.clone()),
                    version_id: Some(version.id.clone()),
                    secret_string,
                    secret_binary,
                    version_stages: Some(version.stages.clone()),
                    created_date: Some(version.created.as_epoch_seconds()),
                });
            }
            Err(err) => {
                let wire = crate::errors::secrets_to_wire(&err);
                errors.push(ApiErrorType {
                    secret_id: Some(id),
                    error_code: Some(wire.code.to_owned()),
                    message: Some(wire.message),
                });
            }
        }
    }
    BatchGetSecretValueResponse {
        secret_values: Some(values),
        errors: Some(errors),
        next_token: None,
    }
}

pub(super) async fn list_secret_version_ids(
    state: &AppState,
    caller: &Caller,
    r: ListSecretVersionIdsRequest,
) -> Result<ListSecretVersionIdsResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:ListSecretVersionIds"),
        )
        .await?;
    let include_deprecated = r.include_deprecated.unwrap_or(false);
    let mut versions: Vec<&VersionInfo> = record
        .versions
        .iter()
        .filter(|v| include_deprecated || !v.stages.is_empty())
        .collect();
    versions.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    let (page, next_token) =
        super::manage::paginate(&versions, r.max_results, r.next_token.as_deref())?;
    Ok(ListSecretVersionIdsResponse {
        versions: Some(
            page.iter()
                .map(|v| SecretVersionsListEntry {
                    version_id: Some(v.id.clone()),
                    version_stages: Some(v.stages.clone()),
                    last_accessed_date: v.last_accessed.map(|d| d.as_epoch_seconds()),
                    created_date: Some(v.created.as_epoch_seconds()),
                    kms_key_ids: Some(
                        std::iter::once(v.kms_key_arn.clone())
                            .chain(v.earlier_kms_keys.iter().cloned())
                            .filter(|k| !k.is_empty())
                            .collect(),
                    ),
                })
                .collect(),
        ),
        next_token,
        arn: Some(record.arn.clone()),
        name: Some(record.name.clone()),
    })
}

pub(super) async fn update_secret_version_stage(
    state: &AppState,
    caller: &Caller,
    r: UpdateSecretVersionStageRequest,
) -> Result<UpdateSecretVersionStageResponse, SecretsError> {
    let record = state
        .resolve_secret(
            caller,
            &r.secret_id,
            SecretAccess::new("secretsmanager:UpdateSecretVersionStage"),
        )
        .await?;
    record.check_not_deleted()?;
    check_not_replica(&record)?;
    let (stage, move_to, remove_from) = (
        r.version_stage,
        r.move_to_version_id,
        r.remove_from_version_id,
    );
    let (_, updated) = state
        .update_secret(record.id, Vec::new(), move |secret, now| {
            let change =
                secret.update_version_stage(&stage, move_to.as_deref(), remove_from.as_deref())?;
            secret.last_changed = now;
            Ok(((), change.pruned))
        })
        .await?;
    super::replication::sync_replicas(state, caller, &updated).await?;
    Ok(UpdateSecretVersionStageResponse {
        arn: Some(updated.arn.clone()),
        name: Some(updated.name.clone()),
    })
}
