//! In-memory caches that keep the cryptographic hot path off the database: keys with their
//! unwrapped material, and aliases. Writes go to the store first, then invalidate here.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keyward_core::alias::AliasRecord;
use keyward_core::grant::GrantRecord;
use keyward_core::key::KeyRecord;
use keyward_core::policy::{PolicyDocument, PolicyKind};
use keyward_core::{KmsError, Store};
use keyward_crypto::{KeySpec, RootKey, SymmetricMaterial};
use uuid::Uuid;
use zeroize::Zeroizing;

/// The AAD that binds wrapped material to its key and version.
pub(crate) fn material_aad(key_arn: &str, version: u32) -> Vec<u8> {
    format!("{key_arn}#material-version={version}").into_bytes()
}

/// One version of a key's material, unwrapped: the AES key of a symmetric encryption key,
/// or the bytes of any other kind (an HMAC key, a PKCS#8 private key).
enum Material {
    Symmetric(SymmetricMaterial),
    Other(Zeroizing<Vec<u8>>),
}

/// A key as the hot path needs it: its record, every version of its material, its compiled
/// key policy and its grants.
pub(crate) struct LoadedKey {
    pub record: KeyRecord,
    pub spec: KeySpec,
    materials: BTreeMap<u32, Material>,
    /// `None` when the stored policy does not parse: then the policy allows nothing.
    pub policy: Option<PolicyDocument>,
    /// The policy as in force: principals deleted since it was stored show their unique id.
    pub policy_text: String,
    pub grants: Vec<GrantRecord>,
}

impl LoadedKey {
    /// A version of a symmetric encryption key's material; `None` for other kinds of key.
    pub fn material(&self, version: u32) -> Option<&SymmetricMaterial> {
        match self.materials.get(&version)? {
            Material::Symmetric(material) => Some(material),
            Material::Other(_) => None,
        }
    }

    pub fn current_material(&self) -> Result<&SymmetricMaterial, KmsError> {
        self.material(self.record.current_material)
            .ok_or_else(|| self.lacks_material())
    }

    /// The current material of an asymmetric or HMAC key, as stored: PKCS#8 DER of the
    /// private key, or the HMAC key.
    pub fn private_material(&self) -> Result<&[u8], KmsError> {
        match self.materials.get(&self.record.current_material) {
            Some(Material::Other(bytes)) => Ok(bytes.as_slice()),
            _ => Err(self.lacks_material()),
        }
    }

    fn lacks_material(&self) -> KmsError {
        KmsError::Internal(format!("key {} lacks its current material", self.record.id))
    }
}

#[derive(Default)]
pub(crate) struct KeyCache {
    map: RwLock<HashMap<Uuid, Arc<LoadedKey>>>,
    /// Bumped by every invalidation, so a load that raced with a write never caches the
    /// older record it read.
    epoch: AtomicU64,
}

impl KeyCache {
    pub fn get_cached(&self, id: &Uuid) -> Option<Arc<LoadedKey>> {
        self.map.read().ok().and_then(|map| map.get(id).cloned())
    }

    /// Reads a key and unwraps its material (blocking: call from a blocking task).
    pub fn load(
        &self,
        store: &dyn Store,
        root: &RootKey,
        id: &Uuid,
    ) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        if let Some(hit) = self.get_cached(id) {
            return Ok(Some(hit));
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let Some(record) = store.get_key(id)? else {
            return Ok(None);
        };
        let arn = record.arn();
        let spec = KeySpec::parse(&record.key_spec)
            .ok_or_else(|| KmsError::Internal(format!("key {arn} has an unknown key spec")))?;
        let mut materials = BTreeMap::new();
        for row in store.materials(id)? {
            let bytes = root
                .unwrap_material(&material_aad(&arn, row.version), &row.wrapped)
                .map_err(|e| {
                    KmsError::Internal(format!("material {} of {arn}: {e}", row.version))
                })?;
            let material = match spec {
                KeySpec::SymmetricDefault => {
                    Material::Symmetric(SymmetricMaterial::from_bytes(&bytes)?)
                }
                _ => Material::Other(bytes),
            };
            materials.insert(row.version, material);
        }
        let policy_text = crate::bindings::effective_in(
            store,
            &record.account,
            &record.policy,
            &record.policy_principals,
        )?
        .into_owned();
        let policy = match PolicyDocument::parse(&policy_text, PolicyKind::Resource) {
            Ok(policy) => Some(policy),
            Err(err) => {
                tracing::warn!(key = %arn, error = %err, "stored key policy does not parse; it allows nothing");
                None
            }
        };
        let grants = store.list_grants(id)?;
        let loaded = Arc::new(LoadedKey {
            record,
            spec,
            materials,
            policy,
            policy_text,
            grants,
        });
        if let Ok(mut map) = self.map.write() {
            if self.epoch.load(Ordering::SeqCst) == epoch {
                map.insert(*id, loaded.clone());
            }
        }
        Ok(Some(loaded))
    }

    /// Drops every key (a user or role was created or deleted: policies that name it may
    /// mean another principal now).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.map.write() {
            map.clear();
        }
    }

    pub fn invalidate(&self, id: &Uuid) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.map.write() {
            map.remove(id);
        }
    }
}

type AliasKey = (String, String, String);

/// Every alias, loaded at start and kept in step with the store by the alias handlers.
pub(crate) struct AliasCache {
    map: RwLock<BTreeMap<AliasKey, AliasRecord>>,
}

impl AliasCache {
    pub fn load(store: &dyn Store) -> Result<Self, KmsError> {
        let map = store
            .all_aliases()?
            .into_iter()
            .map(|a| ((a.account.clone(), a.region.clone(), a.name.clone()), a))
            .collect();
        Ok(Self {
            map: RwLock::new(map),
        })
    }

    pub fn get(&self, account: &str, region: &str, name: &str) -> Option<AliasRecord> {
        let key = (account.to_owned(), region.to_owned(), name.to_owned());
        self.map.read().ok().and_then(|map| map.get(&key).cloned())
    }

    /// The names of the aliases that point at `target` (for `kms:ResourceAliases`).
    pub fn names_for_key(&self, account: &str, region: &str, target: &Uuid) -> Vec<String> {
        let Ok(map) = self.map.read() else {
            return Vec::new();
        };
        let start = (account.to_owned(), region.to_owned(), String::new());
        map.range(start..)
            .take_while(|((a, r, _), _)| a == account && r == region)
            .filter(|(_, alias)| &alias.target == target)
            .map(|((_, _, name), _)| name.clone())
            .collect()
    }

    /// Aliases of one account and region, by name.
    pub fn list(&self, account: &str, region: &str) -> Vec<AliasRecord> {
        let Ok(map) = self.map.read() else {
            return Vec::new();
        };
        map.values()
            .filter(|a| a.account == account && a.region == region)
            .cloned()
            .collect()
    }

    pub fn put(&self, alias: AliasRecord) {
        if let Ok(mut map) = self.map.write() {
            map.insert(
                (
                    alias.account.clone(),
                    alias.region.clone(),
                    alias.name.clone(),
                ),
                alias,
            );
        }
    }

    pub fn remove(&self, account: &str, region: &str, name: &str) {
        if let Ok(mut map) = self.map.write() {
            map.remove(&(account.to_owned(), region.to_owned(), name.to_owned()));
        }
    }

    /// Reads one alias again from the store (another node changed it).
    pub fn refresh(
        &self,
        store: &dyn Store,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<(), KmsError> {
        match store.get_alias(account, region, name)? {
            Some(alias) => self.put(alias),
            None => self.remove(account, region, name),
        }
        Ok(())
    }

    /// Reads every alias again from the store.
    pub fn reload(&self, store: &dyn Store) -> Result<(), KmsError> {
        let fresh = Self::load(store)?;
        let map = fresh.map.into_inner().unwrap_or_default();
        if let Ok(mut current) = self.map.write() {
            *current = map;
        }
        Ok(())
    }

    pub fn remove_for_key(&self, target: &Uuid) {
        if let Ok(mut map) = self.map.write() {
            map.retain(|_, a| a.target != *target);
        }
    }
}
