//! Keeps `GetSecretValue` off the database: secrets by name and their stored (still
//! encrypted) values, in memory. Every secret write goes through the methods here, which
//! write the store first and then drop the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keyward_core::secret::SecretRecord;
use keyward_core::store::SecretValueRow;
use keyward_core::StoreError;
use uuid::Uuid;

use crate::state::Inner;

type NameKey = (String, String, String);

#[derive(Default)]
pub(crate) struct SecretCache {
    by_name: RwLock<HashMap<NameKey, Arc<SecretRecord>>>,
    values: RwLock<HashMap<(Uuid, String), Arc<SecretValueRow>>>,
    /// Bumped by every write, so a read that raced with a write never caches what it read.
    epoch: AtomicU64,
}

impl SecretCache {
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.by_name.write() {
            map.clear();
        }
        if let Ok(mut map) = self.values.write() {
            map.clear();
        }
    }
}

impl Inner {
    /// The cached secret by name, without touching the store.
    pub(crate) fn cached_secret_by_name(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Option<SecretRecord> {
        let key = (account.to_owned(), region.to_owned(), name.to_owned());
        let map = self.secrets.by_name.read().ok()?;
        map.get(&key).map(|hit| (**hit).clone())
    }

    /// The cached stored value of a version, without touching the store.
    pub(crate) fn cached_secret_value(
        &self,
        secret_id: &Uuid,
        version_id: &str,
    ) -> Option<SecretValueRow> {
        let map = self.secrets.values.read().ok()?;
        map.get(&(*secret_id, version_id.to_owned()))
            .map(|hit| (**hit).clone())
    }

    pub(crate) fn secret_by_name(
        &self,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<Option<SecretRecord>, StoreError> {
        if let Some(hit) = self.cached_secret_by_name(account, region, name) {
            return Ok(Some(hit));
        }
        let key = (account.to_owned(), region.to_owned(), name.to_owned());
        let epoch = self.secrets.epoch.load(Ordering::SeqCst);
        let found = self.store.get_secret_by_name(account, region, name)?;
        if let (Some(record), Ok(mut map)) = (&found, self.secrets.by_name.write()) {
            if self.secrets.epoch.load(Ordering::SeqCst) == epoch {
                map.insert(key, Arc::new(record.clone()));
            }
        }
        Ok(found)
    }

    pub(crate) fn secret_value(
        &self,
        secret_id: &Uuid,
        version_id: &str,
    ) -> Result<Option<SecretValueRow>, StoreError> {
        if let Some(hit) = self.cached_secret_value(secret_id, version_id) {
            return Ok(Some(hit));
        }
        let key = (*secret_id, version_id.to_owned());
        let epoch = self.secrets.epoch.load(Ordering::SeqCst);
        let found = self.store.get_secret_value(secret_id, version_id)?;
        if let (Some(row), Ok(mut map)) = (&found, self.secrets.values.write()) {
            if self.secrets.epoch.load(Ordering::SeqCst) == epoch {
                map.insert(key, Arc::new(row.clone()));
            }
        }
        Ok(found)
    }

    pub(crate) fn create_secret(
        &self,
        secret: &SecretRecord,
        values: &[SecretValueRow],
    ) -> Result<u64, StoreError> {
        let result = self.store.create_secret(secret, values);
        self.secrets.clear();
        result
    }

    pub(crate) fn update_secret(
        &self,
        secret: &SecretRecord,
        new_values: &[SecretValueRow],
        removed_versions: &[String],
    ) -> Result<u64, StoreError> {
        let result = self
            .store
            .update_secret(secret, new_values, removed_versions);
        self.secrets.clear();
        result
    }

    pub(crate) fn delete_secret(&self, id: &Uuid) -> Result<(), StoreError> {
        let result = self.store.delete_secret(id);
        self.secrets.clear();
        result
    }
}
