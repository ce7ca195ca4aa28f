//! Keeps this node's caches right when other nodes share its store: a thread reads the
//! store's change feed (PostgreSQL's LISTEN/NOTIFY) and drops or re-reads what each
//! change makes stale, and every so often (`--cache-refresh-seconds`) drops everything, in
//! case a notification was missed. A store only one process uses (SQLite) has no feed, and no thread runs.
//!
//! Ordering is what makes this correct: the feed is opened before any cache is filled, a
//! notification arrives only after its transaction commits, and every cache refuses to
//! keep a value whose load started before the latest invalidation (the caches' epochs).
//! So once a change's notification is handled, no node serves the state before it.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use keyward_core::store::{Change, ChangeFeed};

use crate::state::Inner;

/// How long one wait on the feed lasts: the thread notices within this that its server
/// is gone.
const WAIT: Duration = Duration::from_millis(500);

/// Every cache is dropped this often, whatever the feed says, unless configured otherwise.
pub(crate) const DEFAULT_FULL_REFRESH: Duration = Duration::from_secs(30);

/// Pause before reopening a broken feed.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the thread that follows `feed` for as long as the server state lives, dropping
/// every cache each `refresh` as well.
pub(crate) fn follow(
    inner: &Arc<Inner>,
    feed: Box<dyn ChangeFeed>,
    refresh: Duration,
) -> std::io::Result<()> {
    let weak = Arc::downgrade(inner);
    std::thread::Builder::new()
        .name("keyward-changes".into())
        .spawn(move || run(&weak, feed, refresh))
        .map(drop)
}

fn run(weak: &Weak<Inner>, mut feed: Box<dyn ChangeFeed>, refresh: Duration) {
    let mut refreshed = Instant::now();
    loop {
        let result = feed.wait(WAIT);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        match result {
            Ok(changes) => {
                if let Err(err) = apply(&inner, &changes) {
                    tracing::warn!(error = %err, "could not apply a change; dropping every cache");
                    drop_everything(&inner);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "lost the change feed; dropping every cache and reconnecting");
                drop(inner);
                match reopen(weak) {
                    Some(fresh) => feed = fresh,
                    None => return,
                }
                refreshed = Instant::now();
                continue;
            }
        }
        if refreshed.elapsed() >= refresh {
            drop_everything(&inner);
            refreshed = Instant::now();
        }
    }
}

/// Opens a new feed, dropping every cache after it is open (changes missed while there
/// was none are then covered). Caches are dropped on every failed attempt too, so that
/// a node cut off from the feed keeps reading the store rather than what it cached.
/// `None` once the server is gone.
fn reopen(weak: &Weak<Inner>) -> Option<Box<dyn ChangeFeed>> {
    loop {
        let inner = weak.upgrade()?;
        let opened = inner.store.changes();
        drop_everything(&inner);
        match opened {
            Ok(Some(feed)) => {
                tracing::info!("change feed reconnected");
                return Some(feed);
            }
            Ok(None) => return None,
            Err(err) => tracing::warn!(error = %err, "cannot reopen the change feed"),
        }
        drop(inner);
        std::thread::sleep(RETRY);
    }
}

/// Drops (or re-reads) what a batch of changes makes stale.
fn apply(inner: &Inner, changes: &[Change]) -> Result<(), keyward_core::KmsError> {
    for change in changes {
        match change {
            Change::Key(id) => inner.keys.invalidate(id),
            Change::Alias {
                account,
                region,
                name,
            } => inner
                .aliases
                .refresh(inner.store.as_ref(), account, region, name)?,
            Change::AccessKey(id) => inner.credentials.forget(id),
            // A key policy names principals by ARN and is stored with their unique ids:
            // creating or deleting one changes what the policies of every key mean.
            Change::User { account, name } => {
                inner.principals.forget_user(account, name);
                inner.keys.clear();
            }
            Change::Role { account, name } => {
                inner.principals.forget_role(account, name);
                inner.keys.clear();
            }
            Change::Secret(_) => inner.secrets.clear(),
            Change::Unknown => drop_everything(inner),
        }
    }
    Ok(())
}

/// Drops every cache and reads every alias again.
fn drop_everything(inner: &Inner) {
    inner.keys.clear();
    inner.credentials.clear();
    inner.principals.clear();
    inner.secrets.clear();
    if let Err(err) = inner.aliases.reload(inner.store.as_ref()) {
        tracing::warn!(error = %err, "cannot reload the aliases");
    }
}
