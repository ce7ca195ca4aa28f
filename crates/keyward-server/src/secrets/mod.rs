//! Secrets Manager handlers. Values are envelope-encrypted: a data key from KMS under the
//! secret's key (the account's `aws/secretsmanager` key unless the secret names one), with
//! the secret's ARN and version id as encryption context, as Secrets Manager does.

pub(crate) mod access;
pub(crate) mod cache;
mod envelope;
mod manage;
mod replication;
pub(crate) mod rotation;
mod values;

use keyward_core::secret::{SecretRecord, SecretsError};
use keyward_core::store::SecretValueRow;
use keyward_core::{StoreError, UnixMillis};
use keyward_protocol::json::encode;
use keyward_protocol::secretsmanager::SecretsManagerOperation;
use uuid::Uuid;

use crate::auth::Caller;
use crate::state::{AppState, Inner};
use access::SecretAccess;

pub(crate) async fn handle(
    state: &AppState,
    caller: &Caller,
    operation: SecretsManagerOperation,
) -> Result<Vec<u8>, SecretsError> {
    use SecretsManagerOperation as Op;
    Ok(match operation {
        Op::CreateSecret(r) => encode(&manage::create_secret(state, caller, r).await?),
        Op::DescribeSecret(r) => encode(&manage::describe_secret(state, caller, r).await?),
        Op::UpdateSecret(r) => encode(&manage::update_secret(state, caller, r).await?),
        Op::ListSecrets(r) => encode(&manage::list_secrets(state, caller, r).await?),
        Op::DeleteSecret(r) => encode(&manage::delete_secret(state, caller, r).await?),
        Op::RestoreSecret(r) => encode(&manage::restore_secret(state, caller, r).await?),
        Op::TagResource(r) => {
            manage::tag_resource(state, caller, r).await?;
            Vec::new()
        }
        Op::UntagResource(r) => {
            manage::untag_resource(state, caller, r).await?;
            Vec::new()
        }
        Op::PutResourcePolicy(r) => encode(&manage::put_resource_policy(state, caller, r).await?),
        Op::GetResourcePolicy(r) => encode(&manage::get_resource_policy(state, caller, r).await?),
        Op::DeleteResourcePolicy(r) => {
            encode(&manage::delete_resource_policy(state, caller, r).await?)
        }
        Op::ValidateResourcePolicy(r) => {
            encode(&manage::validate_resource_policy(state, caller, r).await?)
        }
        Op::GetRandomPassword(r) => {
            state
                .authorize_secrets(
                    caller,
                    SecretAccess::new("secretsmanager:GetRandomPassword"),
                    "*",
                )
                .await?;
            encode(&manage::get_random_password(r)?)
        }
        Op::GetSecretValue(r) => encode(&values::get_secret_value(state, caller, r).await?),
        Op::BatchGetSecretValue(r) => {
            encode(&values::batch_get_secret_value(state, caller, r).await?)
        }
        Op::PutSecretValue(r) => encode(&values::put_secret_value(state, caller, r).await?),
        Op::ListSecretVersionIds(r) => {
            encode(&values::list_secret_version_ids(state, caller, r).await?)
        }
        Op::UpdateSecretVersionStage(r) => {
            encode(&values::update_secret_version_stage(state, caller, r).await?)
        }
        Op::ReplicateSecretToRegions(r) => {
            encode(&replication::replicate_secret_to_regions(state, caller, r).await?)
        }
        Op::RemoveRegionsFromReplication(r) => {
            encode(&replication::remove_regions_from_replication(state, caller, r).await?)
        }
        Op::StopReplicationToReplica(r) => {
            encode(&replication::stop_replication_to_replica(state, caller, r).await?)
        }
        Op::RotateSecret(r) => encode(&rotation::rotate_secret(state, caller, r).await?),
        Op::CancelRotateSecret(r) => {
            encode(&rotation::cancel_rotate_secret(state, caller, r).await?)
        }
    })
}

pub(crate) fn not_found() -> SecretsError {
    SecretsError::ResourceNotFound("Secrets Manager can't find the specified secret.".into())
}

/// The name a `SecretId` names in the caller's account and region: the name itself, or
/// the name inside a full or partial ARN. For a full ARN the suffix must match too.
fn parse_secret_id(
    caller: &Caller,
    secret_id: &str,
) -> Result<(String, Option<String>), SecretsError> {
    let Some(rest) = secret_id.strip_prefix("arn:") else {
        return Ok((secret_id.to_owned(), None));
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, region, account, resource] = parts.as_slice() else {
        return Err(not_found());
    };
    let Some(name) = resource.strip_prefix("secret:") else {
        return Err(not_found());
    };
    if !partition.starts_with("aws")
        || *service != "secretsmanager"
        || *region != caller.region.as_str()
        || *account != caller.account.as_str()
    {
        return Err(not_found());
    }
    Ok((name.to_owned(), Some(secret_id.to_owned())))
}

/// A secret's name without the `-XXXXXX` suffix of its ARN, when `name` ends in one.
fn without_suffix(name: &str) -> Option<&str> {
    let (base, suffix) = name.rsplit_once('-')?;
    (suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(base)
}

impl AppState {
    /// Finds a secret by name, full ARN or partial ARN (blocking).
    pub(crate) fn find_secret(
        inner: &Inner,
        caller: &Caller,
        secret_id: &str,
    ) -> Result<SecretRecord, SecretsError> {
        Self::find_secret_with(caller, secret_id, |account, region, name| {
            inner.secret_by_name(account, region, name)
        })?
    }

    /// Finds a secret in the cache alone: `None` when a name it needs is not cached, so
    /// the store must be asked.
    fn find_cached_secret(
        inner: &Inner,
        caller: &Caller,
        secret_id: &str,
    ) -> Option<Result<SecretRecord, SecretsError>> {
        Self::find_secret_with(caller, secret_id, |account, region, name| {
            inner
                .cached_secret_by_name(account, region, name)
                .map(Some)
                .ok_or(())
        })
        .ok()
    }

    /// Finds a secret by name, full ARN or partial ARN, looking names up with `by_name`.
    /// The outer error is `by_name`'s; the inner result is the secret or why none matches.
    fn find_secret_with<E>(
        caller: &Caller,
        secret_id: &str,
        by_name: impl Fn(&str, &str, &str) -> Result<Option<SecretRecord>, E>,
    ) -> Result<Result<SecretRecord, SecretsError>, E> {
        let (name, arn) = match parse_secret_id(caller, secret_id) {
            Ok(parsed) => parsed,
            Err(err) => return Ok(Err(err)),
        };
        let (account, region) = (caller.account.as_str(), caller.region.as_str());
        if let Some(arn) = arn {
            if let Some(base) = without_suffix(&name) {
                if let Some(found) = by_name(account, region, base)? {
                    if found.arn == arn {
                        return Ok(Ok(found));
                    }
                }
            }
        }
        Ok(by_name(account, region, &name)?.ok_or_else(not_found))
    }

    /// The secret `secret_id` names, once `caller` is allowed `access` to it.
    pub(crate) async fn resolve_secret(
        &self,
        caller: &Caller,
        secret_id: &str,
        access: SecretAccess,
    ) -> Result<SecretRecord, SecretsError> {
        let record = self.find_secret_async(caller, secret_id).await?;
        self.authorize_secret(caller, &record, access).await?;
        Ok(record)
    }

    /// Finds a secret without authorizing (for the server's own follow-up work).
    pub(crate) async fn find_secret_async(
        &self,
        caller: &Caller,
        secret_id: &str,
    ) -> Result<SecretRecord, SecretsError> {
        if let Some(found) = Self::find_cached_secret(&self.inner, caller, secret_id) {
            return found;
        }
        let (caller, id) = (caller.clone(), secret_id.to_owned());
        self.blocking_secrets(move |inner| Self::find_secret(inner, &caller, &id))
            .await
    }

    pub(crate) async fn blocking_secrets<T, F>(&self, work: F) -> Result<T, SecretsError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, SecretsError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || work(&state.inner))
            .await
            .map_err(|e| SecretsError::Internal(format!("blocking task failed: {e}")))?
    }

    /// Read-modify-write of one secret by id, retried when another writer got there first.
    /// `change` sees the fresh record and the clock; it returns a value and the versions
    /// whose stored values to remove. `new_values` are stored in the same transaction.
    pub(crate) async fn update_secret<T, F>(
        &self,
        id: Uuid,
        new_values: Vec<SecretValueRow>,
        change: F,
    ) -> Result<(T, SecretRecord), SecretsError>
    where
        T: Send + 'static,
        F: Fn(&mut SecretRecord, UnixMillis) -> Result<(T, Vec<String>), SecretsError>
            + Send
            + 'static,
    {
        self.blocking_secrets(move |inner| {
            // After a first conflict, the writers of one secret on this node take turns,
            // so that further retries race only writers on other nodes: 64 clients putting
            // values into one secret otherwise ran out of retries on PostgreSQL. (Not
            // from the start: where writes rarely conflict, as on SQLite, taking turns
            // would only stop concurrent writes from sharing a commit.)
            let mut turn = None;
            for attempt in 0..MAX_WRITE_ATTEMPTS {
                if attempt == TAKE_TURNS_AFTER {
                    turn = Some(inner.secret_writes.lock(&id));
                } else if attempt > 0 {
                    // A random pause, so that the writers that collided spread out.
                    let jitter = Uuid::new_v4().as_u128() % 1000;
                    let micros = u64::try_from(jitter).unwrap_or(0) * attempt.min(8);
                    std::thread::sleep(std::time::Duration::from_micros(micros));
                }
                let mut record = inner.store.get_secret(&id)?.ok_or_else(not_found)?;
                let (value, removed) = change(&mut record, inner.clock.now())?;
                match inner.update_secret(&record, &new_values, &removed) {
                    Ok(revision) => {
                        record.revision = revision;
                        return Ok((value, record));
                    }
                    Err(StoreError::Conflict) => continue,
                    Err(other) => return Err(other.into()),
                }
            }
            drop(turn);
            Err(SecretsError::Internal(format!(
                "secret {id}: too many concurrent writers"
            )))
        })
        .await
    }
}

/// How many times a write to one secret is tried against concurrent writers on other
/// nodes before it fails.
const MAX_WRITE_ATTEMPTS: u64 = 48;

/// After this many conflicts a writer waits for its turn among this node's writers of the
/// same secret.
const TAKE_TURNS_AFTER: u64 = 4;

/// Locks that let the writers of one secret on this node take turns: a fixed set of
/// mutexes, a secret's id choosing one.
pub(crate) struct WriteTurns {
    stripes: [std::sync::Mutex<()>; 64],
}

impl Default for WriteTurns {
    fn default() -> Self {
        Self {
            stripes: std::array::from_fn(|_| std::sync::Mutex::new(())),
        }
    }
}

impl WriteTurns {
    /// Waits for `id`'s turn. A poisoned stripe is taken anyway: it guards no data.
    pub(crate) fn lock(&self, id: &Uuid) -> std::sync::MutexGuard<'_, ()> {
        // The last byte of a v4 id is random; masked to 0..64 it indexes a stripe.
        let stripe = &self.stripes[usize::from(id.as_bytes()[15] & 63)];
        stripe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Writes to a replica must be made in its primary's region, as in AWS.
pub(crate) fn check_not_replica(record: &SecretRecord) -> Result<(), SecretsError> {
    match &record.primary_region {
        Some(primary) => Err(SecretsError::InvalidRequest(format!(
            "Operation not permitted on a replica secret. Call must be made in primary secret's region ({primary})."
        ))),
        None => Ok(()),
    }
}

/// Midnight UTC of the day `at` falls in: Secrets Manager reports access by the day.
pub(crate) fn day_of(at: UnixMillis) -> UnixMillis {
    UnixMillis(at.0 - at.0.rem_euclid(keyward_core::clock::MILLIS_PER_DAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_six_alphanumerics() {
        assert_eq!(without_suffix("student-AbC123"), Some("student"));
        assert_eq!(without_suffix("my-app-db-xYz789"), Some("my-app-db"));
        assert_eq!(without_suffix("student"), None);
        assert_eq!(without_suffix("student-abc"), None);
    }

    #[test]
    fn days_start_at_midnight() {
        assert_eq!(day_of(UnixMillis(86_400_000 + 5)), UnixMillis(86_400_000));
    }
}
