//! Background jobs: delete keys whose deletion window has ended and rotate keys whose
//! automatic rotation is due.

use std::time::Duration;

use keyward_core::key::{KeyState, RotationType};
use keyward_core::{KmsError, StoreError};
use uuid::Uuid;

use crate::kms::new_material;
use crate::state::AppState;

/// What one pass of the jobs did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JobReport {
    pub deleted: usize,
    pub rotated: usize,
    /// Keys whose imported material expired.
    pub expired: usize,
    /// Secrets whose recovery window ended.
    pub secrets_deleted: usize,
    /// Secret rotations started (they run on in the background).
    pub secret_rotations: usize,
    /// Audit events pruned by the retention policy.
    pub audit_pruned: u64,
}

pub(crate) async fn run_periodically(state: AppState, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match run_once(&state).await {
            Ok(report) if report != JobReport::default() => {
                tracing::info!(
                    deleted = report.deleted,
                    rotated = report.rotated,
                    expired = report.expired,
                    "background jobs ran"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "background jobs failed"),
        }
    }
}

/// One pass over every key that is due at the clock's current time, on the node that
/// holds the store's jobs lock (any other node does nothing and reports nothing).
pub async fn run_once(state: &AppState) -> Result<JobReport, KmsError> {
    let (mut report, rotations) = state
        .blocking(|inner| {
            let mut rotations = Vec::new();
            if !inner.store.hold_job_lock()? {
                return Ok((JobReport::default(), rotations));
            }
            let now = inner.clock.now();
            let mut report = JobReport::default();
            for id in inner.store.keys_due(now)? {
                match act_on(inner, &id, now) {
                    Ok(Some(Acted::Deleted)) => {
                        inner.aliases.remove_for_key(&id);
                        report.deleted += 1;
                    }
                    Ok(Some(Acted::Rotated)) => report.rotated += 1,
                    Ok(Some(Acted::Expired)) => report.expired += 1,
                    Ok(None) => {}
                    Err(err) => return Err(err),
                }
                inner.keys.invalidate(&id);
            }
            for id in inner.store.secrets_due(now)? {
                let Some(secret) = inner.store.get_secret(&id)? else { continue };
                if secret.deletion_date.is_some_and(|d| d <= now) {
                    inner.delete_secret(&id)?;
                    tracing::info!(secret = %secret.arn, "deleted secret at the end of its recovery window");
                    report.secrets_deleted += 1;
                } else if secret.due_at().is_some_and(|d| d <= now) {
                    rotations.push(id);
                }
            }
            if let Some(days) = inner.audit_retention_days {
                let before = now.plus_days(0).plus_millis(-i64::from(days) * keyward_core::clock::MILLIS_PER_DAY);
                let was = inner.store.audit_checkpoint()?.seq;
                let checkpoint = inner.store.prune_audit(before)?;
                report.audit_pruned = checkpoint.seq.saturating_sub(was);
            }
            Ok((report, rotations))
        })
        .await?;
    // Rotations run functions, which takes time: each starts here and runs on in its own
    // task.
    for id in rotations {
        match crate::secrets::rotation::start_due(state, id).await {
            Ok(true) => report.secret_rotations += 1,
            Ok(false) => {}
            Err(err) => {
                tracing::error!(secret = %id, error = %err, "could not start a secret rotation")
            }
        }
    }
    Ok(report)
}

enum Acted {
    Deleted,
    Rotated,
    /// Imported key material reached its `ValidTo` and was deleted.
    Expired,
}

fn act_on(
    inner: &crate::state::Inner,
    id: &Uuid,
    now: keyward_core::UnixMillis,
) -> Result<Option<Acted>, KmsError> {
    let Some(mut key) = inner.store.get_key(id)? else {
        return Ok(None);
    };
    // Each version of imported material expires at its own ValidTo.
    if key.next_expiry().is_some_and(|t| t <= now) && key.state != KeyState::PendingDeletion {
        return Ok(crate::kms::import::expire_material(inner, key, now)?.then_some(Acted::Expired));
    }
    match key.state {
        KeyState::PendingDeletion if key.deletion_date.is_some_and(|d| d <= now) => {
            inner.store.delete_key(id)?;
            crate::kms::multi_region::forget_copy(inner, &key)?;
            tracing::info!(key = %key.arn(), "deleted key at the end of its deletion window");
            Ok(Some(Acted::Deleted))
        }
        KeyState::Enabled
            if key
                .auto_rotation
                .as_ref()
                .is_some_and(|r| r.next_rotation <= now) =>
        {
            let version = key.rotate(now, RotationType::Automatic)?;
            let material = new_material(inner, &key, version, now)?;
            match inner.store.update_key(&key, Some(&material)) {
                Ok(_) => {
                    crate::kms::multi_region::sync_replicas(inner, &key)?;
                    tracing::info!(key = %key.arn(), version, "rotated key on schedule");
                    Ok(Some(Acted::Rotated))
                }
                // Another writer changed the key; the next pass sees its new state.
                Err(StoreError::Conflict) => Ok(None),
                Err(other) => Err(other.into()),
            }
        }
        _ => Ok(None),
    }
}
