//! A token bucket that costs one atomic compare-and-swap per request, kept as the generic
//! cell rate algorithm (GCRA): the only state is the "theoretical arrival time" of the next
//! request, in nanoseconds since the quotas were built.

use std::sync::atomic::{AtomicU64, Ordering};

/// A rate and the burst it allows, as GCRA's two numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    /// Nanoseconds one request uses up.
    interval_ns: u64,
    /// How far ahead of now the bucket may run: room for `burst - 1` more requests.
    tolerance_ns: u64,
}

impl Rate {
    /// `per_second` requests per second (a fraction allowed), with a burst of one second's
    /// worth (at least one request), as AWS's quotas behave.
    pub(crate) fn per_second(per_second: f64) -> Self {
        let interval_ns = (1e9 / per_second).clamp(1.0, u64::MAX as f64 / 4.0) as u64;
        let burst = per_second.ceil().max(1.0);
        let tolerance_ns = (interval_ns as f64 * (burst - 1.0)).min(u64::MAX as f64 / 4.0) as u64;
        Self {
            interval_ns,
            tolerance_ns,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Bucket {
    theoretical_arrival_ns: AtomicU64,
}

impl Bucket {
    /// Takes one token at `now_ns` if there is one.
    pub(crate) fn try_take(&self, rate: Rate, now_ns: u64) -> bool {
        let mut current = self.theoretical_arrival_ns.load(Ordering::Relaxed);
        loop {
            let arrival = current.max(now_ns);
            if arrival - now_ns > rate.tolerance_ns {
                return false;
            }
            let next = arrival.saturating_add(rate.interval_ns);
            match self.theoretical_arrival_ns.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn taken(bucket: &Bucket, rate: Rate, now_ns: u64, attempts: usize) -> usize {
        (0..attempts)
            .filter(|_| bucket.try_take(rate, now_ns))
            .count()
    }

    #[test]
    fn a_full_bucket_allows_one_seconds_worth_then_refuses() {
        let rate = Rate::per_second(5.0);
        let bucket = Bucket::default();
        assert_eq!(taken(&bucket, rate, 10 * SECOND, 20), 5);
        assert!(!bucket.try_take(rate, 10 * SECOND));
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let rate = Rate::per_second(5.0);
        let bucket = Bucket::default();
        let start = 100 * SECOND;
        assert_eq!(taken(&bucket, rate, start, 5), 5);
        // One token every 200 ms.
        assert!(!bucket.try_take(rate, start + 199_000_000));
        assert!(bucket.try_take(rate, start + 200_000_000));
        assert!(!bucket.try_take(rate, start + 200_000_000));
        // A whole second refills the whole burst, and no more.
        assert_eq!(taken(&bucket, rate, start + 2 * SECOND, 20), 5);
    }

    #[test]
    fn an_idle_bucket_does_not_save_up_more_than_its_burst() {
        let rate = Rate::per_second(3.0);
        let bucket = Bucket::default();
        assert_eq!(taken(&bucket, rate, 3600 * SECOND, 100), 3);
    }

    #[test]
    fn fractional_rates_allow_one_request_per_period() {
        // AWS's 0.25 per second: one request every four seconds.
        let rate = Rate::per_second(0.25);
        let bucket = Bucket::default();
        let start = 50 * SECOND;
        assert_eq!(taken(&bucket, rate, start, 5), 1);
        assert!(!bucket.try_take(rate, start + 3 * SECOND));
        assert!(bucket.try_take(rate, start + 4 * SECOND));
    }

    #[test]
    fn sustained_traffic_gets_exactly_the_rate() {
        let rate = Rate::per_second(100.0);
        let bucket = Bucket::default();
        // 1000 attempts per second for 10 seconds, one every millisecond.
        let allowed = (0..10_000u64)
            .filter(|i| bucket.try_take(rate, 1000 * SECOND + i * 1_000_000))
            .count();
        // The first second's burst plus the rate over the rest.
        assert!((1000..=1100).contains(&allowed), "{allowed}");
    }

    #[test]
    fn concurrent_takers_never_exceed_the_burst() {
        let rate = Rate::per_second(1000.0);
        let bucket = std::sync::Arc::new(Bucket::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let bucket = bucket.clone();
                std::thread::spawn(move || taken(&bucket, rate, 5 * SECOND, 1000))
            })
            .collect();
        let total: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(total, 1000);
    }
}
