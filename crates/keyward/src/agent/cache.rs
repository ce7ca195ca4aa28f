//! A TTL cache with a size bound (least recently used goes first) that lets one fetch run
//! per key: concurrent misses for the same key wait for the first one's result.
//!
//! Each key has a slot behind an async mutex; the fetch runs while that slot is held, so a
//! second caller of the same key finds the fresh value when it gets the slot. The map of
//! slots itself is behind a short synchronous lock, never held across an await.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where the cache reads the time: the system's, or a test's hand-moved clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

struct Fresh<V> {
    value: Arc<V>,
    fetched: Instant,
}

type Slot<V> = Arc<tokio::sync::Mutex<Option<Fresh<V>>>>;

struct Entry<V> {
    slot: Slot<V>,
    last_used: u64,
}

struct Slots<K, V> {
    map: HashMap<K, Entry<V>>,
    tick: u64,
}

pub struct Cache<K, V> {
    clock: Box<dyn Clock>,
    ttl: Duration,
    capacity: NonZeroUsize,
    slots: Mutex<Slots<K, V>>,
}

impl<K: Hash + Eq + Clone, V> Cache<K, V> {
    pub fn new(ttl: Duration, capacity: NonZeroUsize) -> Self {
        Self::with_clock(ttl, capacity, Box::new(SystemClock))
    }

    pub fn with_clock(ttl: Duration, capacity: NonZeroUsize, clock: Box<dyn Clock>) -> Self {
        Self {
            clock,
            ttl,
            capacity,
            slots: Mutex::new(Slots {
                map: HashMap::new(),
                tick: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots<K, V>> {
        // A panic while holding this lock cannot leave the map inconsistent (every change
        // is one insert or remove), so a poisoned lock is still usable.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The slot of `key`, made most recently used; created (evicting the least recently
    /// used slot when full) if absent.
    fn slot(&self, key: &K) -> Slot<V> {
        let mut slots = self.lock();
        slots.tick += 1;
        let tick = slots.tick;
        if let Some(entry) = slots.map.get_mut(key) {
            entry.last_used = tick;
            return Arc::clone(&entry.slot);
        }
        if slots.map.len() >= self.capacity.get() {
            let oldest = slots
                .map
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                slots.map.remove(&oldest);
            }
        }
        let slot: Slot<V> = Arc::new(tokio::sync::Mutex::new(None));
        slots.map.insert(
            key.clone(),
            Entry {
                slot: Arc::clone(&slot),
                last_used: tick,
            },
        );
        slot
    }

    /// The cached value of `key` if younger than the TTL, else what `fetch` returns (which
    /// is then cached). `refresh` fetches even when a fresh value is cached. When a fetch
    /// of an expired key fails with an error `serve_stale` accepts, the expired value is
    /// served instead (and kept, so the next request tries again).
    pub async fn get<E, Fut>(
        &self,
        key: &K,
        refresh: bool,
        fetch: impl FnOnce() -> Fut,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> Result<Arc<V>, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        if self.ttl.is_zero() {
            return fetch().await.map(Arc::new);
        }
        let slot = self.slot(key);
        let mut held = slot.lock().await;
        if let Some(fresh) = held.as_ref() {
            let age = self.clock.now().saturating_duration_since(fresh.fetched);
            if !refresh && age < self.ttl {
                return Ok(Arc::clone(&fresh.value));
            }
        }
        match fetch().await {
            Ok(value) => {
                let value = Arc::new(value);
                *held = Some(Fresh {
                    value: Arc::clone(&value),
                    fetched: self.clock.now(),
                });
                Ok(value)
            }
            Err(err) => match held.as_ref() {
                Some(stale) if serve_stale(&err) => Ok(Arc::clone(&stale.value)),
                _ => Err(err),
            },
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// A clock that moves only when told to.
    #[derive(Clone)]
    struct ManualClock {
        start: Instant,
        offset_ms: Arc<AtomicU64>,
    }

    impl ManualClock {
        fn advance(&self, by: Duration) {
            self.offset_ms
                .fetch_add(u64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            self.start + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
        }
    }

    fn cache_and_clock(ttl_secs: u64, size: usize) -> (Cache<&'static str, String>, ManualClock) {
        let clock = ManualClock {
            start: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        };
        let cache = Cache::with_clock(
            Duration::from_secs(ttl_secs),
            NonZeroUsize::new(size).unwrap(),
            Box::new(clock.clone()),
        );
        (cache, clock)
    }

    fn cache(ttl_secs: u64, size: usize) -> Cache<&'static str, String> {
        cache_and_clock(ttl_secs, size).0
    }

    /// Fetches count in `calls`; the value names the key and the fetch's number.
    async fn get(
        c: &Cache<&'static str, String>,
        key: &'static str,
        calls: &AtomicUsize,
    ) -> String {
        let fetch = || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, ()>(format!("{key}@{n}"))
        };
        c.get(&key, false, fetch, |_| false)
            .await
            .unwrap()
            .as_ref()
            .clone()
    }

    #[tokio::test]
    async fn serves_from_cache_until_the_ttl_then_refetches() {
        let (c, clock) = cache_and_clock(10, 10);
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(format!("v{n}"))
        };
        assert_eq!(*c.get(&"a", false, fetch, |_| false).await.unwrap(), "v0");
        clock.advance(Duration::from_secs(9));
        assert_eq!(*c.get(&"a", false, fetch, |_| false).await.unwrap(), "v0");
        clock.advance(Duration::from_secs(2));
        assert_eq!(*c.get(&"a", false, fetch, |_| false).await.unwrap(), "v1");
        assert_eq!(*c.get(&"a", true, fetch, |_| false).await.unwrap(), "v2");
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn zero_ttl_never_caches() {
        let c = cache(0, 10);
        let calls = AtomicUsize::new(0);
        assert_eq!(get(&c, "a", &calls).await, "a@1");
        assert_eq!(get(&c, "a", &calls).await, "a@2");
        assert_eq!(c.len(), 0);
    }

    #[tokio::test]
    async fn the_least_recently_used_key_is_evicted() {
        let c = cache(100, 2);
        let calls = AtomicUsize::new(0);
        assert_eq!(get(&c, "a", &calls).await, "a@1");
        assert_eq!(get(&c, "b", &calls).await, "b@2");
        assert_eq!(get(&c, "a", &calls).await, "a@1"); // a is now newer than b
        assert_eq!(get(&c, "c", &calls).await, "c@3"); // evicts b
        assert_eq!(c.len(), 2);
        assert_eq!(get(&c, "a", &calls).await, "a@1");
        assert_eq!(get(&c, "b", &calls).await, "b@4"); // refetched; evicts c
        assert_eq!(get(&c, "c", &calls).await, "c@5");
    }

    #[tokio::test]
    async fn errors_are_not_cached_and_stale_values_cover_transient_ones() {
        let (c, clock) = cache_and_clock(10, 10);
        let err = c
            .get(&"a", false, || async { Err::<String, _>("down") }, |_| true)
            .await;
        assert_eq!(err.unwrap_err(), "down"); // nothing to fall back on
        let v = c
            .get(
                &"a",
                false,
                || async { Ok::<_, &str>("v0".to_owned()) },
                |_| true,
            )
            .await;
        assert_eq!(*v.unwrap(), "v0");
        clock.advance(Duration::from_secs(11));
        let stale = c
            .get(
                &"a",
                false,
                || async { Err("timeout") },
                |e| *e == "timeout",
            )
            .await;
        assert_eq!(*stale.unwrap(), "v0");
        let fatal = c
            .get(&"a", false, || async { Err("gone") }, |e| *e == "timeout")
            .await;
        assert_eq!(fatal.unwrap_err(), "gone");
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch() {
        let c = Arc::new(cache(10, 10));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let c = Arc::clone(&c);
            let fetches = Arc::clone(&fetches);
            tasks.push(tokio::spawn(async move {
                c.get(
                    &"a",
                    false,
                    || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, ()>("v".to_owned())
                    },
                    |_| false,
                )
                .await
                .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(*t.await.unwrap(), "v");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }
}
