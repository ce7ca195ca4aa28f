//! What every handler shares: the store, the root key, the caches and the clock.

use std::sync::Arc;

use keyward_core::{AccountId, Clock, KmsError, Store};
use keyward_crypto::RootKey;

use crate::auth::CredentialCache;
use crate::cache::{AliasCache, KeyCache};

#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub root: RootKey,
    pub account: AccountId,
    pub clock: Arc<dyn Clock>,
    pub keys: KeyCache,
    pub aliases: AliasCache,
    pub credentials: CredentialCache,
    pub principals: crate::authz::PrincipalCache,
    pub secrets: crate::secrets::cache::SecretCache,
    /// Turns for the writers of each secret on this node.
    pub secret_writes: crate::secrets::WriteTurns,
    pub audit: crate::audit::writer::AuditWriter,
    /// Days to keep audit events; `None` keeps them forever.
    pub audit_retention_days: Option<u32>,
    /// Serializes the first-use creation of AWS managed keys.
    pub managed_keys: tokio::sync::Mutex<()>,
    pub limits: crate::limits::Limits,
    pub in_flight: crate::limits::InFlight,
    /// `None` when quotas are off: the request path then checks nothing.
    pub quotas: Option<crate::quotas::Quotas>,
    /// The function runtime, when the server runs functions.
    pub functions: std::sync::OnceLock<Arc<crate::lambda::runtime::Runtime>>,
}

impl AppState {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<dyn Clock>,
        config: &crate::Config,
    ) -> Result<Self, KmsError> {
        // Opened before any cache is filled, so that no change slips between the two.
        let feed = store.changes()?;
        let aliases = AliasCache::load(store.as_ref())?;
        let audit = crate::audit::writer::AuditWriter::start(store.clone())?;
        let state = Self {
            inner: Arc::new(Inner {
                store,
                root,
                account: config.account_id.clone(),
                clock,
                keys: KeyCache::default(),
                aliases,
                credentials: CredentialCache::default(),
                principals: Default::default(),
                secrets: Default::default(),
                secret_writes: Default::default(),
                audit,
                audit_retention_days: config.audit_retention_days,
                managed_keys: tokio::sync::Mutex::new(()),
                limits: config.limits,
                in_flight: Default::default(),
                quotas: config.quotas.as_ref().map(crate::quotas::Quotas::new),
                functions: std::sync::OnceLock::new(),
            }),
        };
        if let Some(feed) = feed {
            crate::changes::follow(&state.inner, feed, config.cache_refresh).map_err(|e| {
                KmsError::Internal(format!("cannot start following the store's changes: {e}"))
            })?;
        }
        Ok(state)
    }

    pub fn limits(&self) -> &crate::limits::Limits {
        &self.inner.limits
    }

    /// Runs functions from now on, with code unpacked under `data_dir`.
    pub fn enable_functions(
        &self,
        settings: crate::lambda::runtime::FunctionSettings,
        data_dir: &std::path::Path,
    ) {
        let runtime = crate::lambda::runtime::Runtime::new(settings, data_dir);
        let _ = self.inner.functions.set(Arc::new(runtime));
    }

    pub(crate) fn functions(&self) -> Option<&Arc<crate::lambda::runtime::Runtime>> {
        self.inner.functions.get()
    }

    /// Where functions reach this server (`http://127.0.0.1:<port>`).
    pub fn set_function_endpoint(&self, endpoint: String) {
        if let Some(runtime) = self.functions() {
            runtime.set_endpoint(endpoint);
            tokio::spawn(runtime.clone().reap_periodically(self.inner.clock.clone()));
        }
    }

    /// Ends every function process.
    pub async fn stop_functions(&self) {
        if let Some(runtime) = self.functions() {
            runtime.shutdown().await;
        }
    }

    pub fn account(&self) -> &AccountId {
        &self.inner.account
    }

    /// Runs blocking store work off the async executor.
    pub(crate) async fn blocking<T, F>(&self, work: F) -> Result<T, KmsError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, KmsError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || work(&state.inner))
            .await
            .map_err(|e| KmsError::Internal(format!("blocking task failed: {e}")))?
    }
}
