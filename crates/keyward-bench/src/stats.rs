//! Latency percentiles and the final report.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Nearest-rank percentile of an ascending slice of samples: the smallest sample such
/// that at least `p` percent of all samples are less than or equal to it.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    // Integer arithmetic in thousandths of a percent, so that 99.9% of 1000 samples is
    // rank 999 and not 1000 through floating-point rounding.
    let milli_percent = (p.clamp(0.0, 100.0) * 1000.0).round() as u128;
    let n = sorted.len() as u128;
    let rank = (milli_percent * n).div_ceil(100_000) as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied()
}

/// Latency figures in microseconds.
#[derive(Debug, Serialize, PartialEq)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: u64,
}

impl Latency {
    /// Sorts `samples` in place and summarises them.
    pub fn from_samples(samples: &mut [u64]) -> Option<Self> {
        samples.sort_unstable();
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Some(Latency {
            p50_us: percentile(samples, 50.0)?,
            p90_us: percentile(samples, 90.0)?,
            p99_us: percentile(samples, 99.0)?,
            p999_us: percentile(samples, 99.9)?,
            max_us: *samples.last()?,
            mean_us: (sum / samples.len() as u128) as u64,
        })
    }
}

/// What the workers measured.
#[derive(Debug, Default)]
pub struct Tally {
    pub samples_us: Vec<u64>,
    pub errors: BTreeMap<String, u64>,
    pub connections_opened: u64,
}

impl Tally {
    pub fn error(&mut self, code: String) {
        *self.errors.entry(code).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        self.samples_us.extend(other.samples_us);
        for (code, n) in other.errors {
            *self.errors.entry(code).or_insert(0) += n;
        }
        self.connections_opened += other.connections_opened;
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub workload: String,
    /// `aws` or `openbao`.
    pub protocol: String,
    pub endpoint: String,
    pub connections: usize,
    pub elapsed_s: f64,
    pub requests: u64,
    pub errors: u64,
    /// Error code (`__type` or a transport failure) to count, most frequent first.
    pub error_codes: Vec<(String, u64)>,
    pub requests_per_s: f64,
    /// Connections opened while measuring: about one per request against a server that
    /// closes its connections after each response.
    pub connections_opened: u64,
    /// Latency of every request, successful or not, from send to the end of the body.
    pub latency: Option<Latency>,
}

impl Report {
    pub fn new(
        workload: String,
        protocol: String,
        endpoint: String,
        connections: usize,
        elapsed: Duration,
        tally: Tally,
    ) -> Self {
        let Tally {
            mut samples_us,
            errors,
            connections_opened,
        } = tally;
        let requests = samples_us.len() as u64;
        let elapsed_s = elapsed.as_secs_f64();
        let mut error_codes: Vec<(String, u64)> = errors.into_iter().collect();
        error_codes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Report {
            workload,
            protocol,
            endpoint,
            connections,
            elapsed_s,
            requests,
            errors: error_codes.iter().map(|(_, n)| n).sum(),
            error_codes,
            requests_per_s: if elapsed_s > 0.0 {
                requests as f64 / elapsed_s
            } else {
                0.0
            },
            connections_opened,
            latency: Latency::from_samples(&mut samples_us),
        }
    }

    /// The aligned human-readable table printed on stdout.
    pub fn table(&self) -> String {
        let ms = |us: u64| format!("{:.3} ms", us as f64 / 1000.0);
        let mut rows: Vec<(&str, String)> = vec![
            ("workload", self.workload.clone()),
            ("protocol", self.protocol.clone()),
            ("endpoint", self.endpoint.clone()),
            ("connections", self.connections.to_string()),
            ("elapsed", format!("{:.2} s", self.elapsed_s)),
            ("requests", self.requests.to_string()),
            ("errors", self.errors.to_string()),
            ("req/s", format!("{:.1}", self.requests_per_s)),
            ("connects", self.connections_opened.to_string()),
        ];
        if let Some(l) = &self.latency {
            rows.extend([
                ("p50", ms(l.p50_us)),
                ("p90", ms(l.p90_us)),
                ("p99", ms(l.p99_us)),
                ("p99.9", ms(l.p999_us)),
                ("max", ms(l.max_us)),
                ("mean", ms(l.mean_us)),
            ]);
        }
        let width = rows.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (name, value) in rows {
            out.push_str(&format!("{name:<12} {value:>width$}\n"));
        }
        for (code, count) in self.error_codes.iter().take(5) {
            out.push_str(&format!("  error {code}: {count}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 90.0), Some(90));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 99.9), Some(100));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&samples, 0.0), Some(1));
    }

    #[test]
    fn percentile_edge_cases() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.9), Some(7));
        assert_eq!(percentile(&[1, 2], 50.0), Some(1));
        assert_eq!(percentile(&[1, 2], 50.1), Some(2));
        let thousand: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&thousand, 99.9), Some(999));
    }

    #[test]
    fn latency_sorts_and_summarises() {
        let mut samples = vec![5, 1, 4, 2, 3];
        let l = Latency::from_samples(&mut samples).unwrap();
        assert_eq!(l.p50_us, 3);
        assert_eq!(l.max_us, 5);
        assert_eq!(l.mean_us, 3);
        assert!(Latency::from_samples(&mut []).is_none());
    }

    #[test]
    fn report_counts_errors_and_rate() {
        let mut tally = Tally {
            samples_us: vec![10; 6],
            errors: BTreeMap::from([("A".to_owned(), 1)]),
            connections_opened: 1,
        };
        tally.merge(Tally {
            samples_us: vec![10; 4],
            errors: BTreeMap::from([("A".to_owned(), 2), ("B".to_owned(), 1)]),
            connections_opened: 2,
        });
        tally.error("B".to_owned());
        let r = Report::new(
            "w".into(),
            "aws".into(),
            "e".into(),
            2,
            Duration::from_secs(2),
            tally,
        );
        assert_eq!(r.requests, 10);
        assert_eq!(r.errors, 5);
        assert_eq!(r.error_codes[0], ("A".to_owned(), 3));
        assert_eq!(r.connections_opened, 3);
        assert!((r.requests_per_s - 5.0).abs() < 1e-9);
        assert!(r.table().contains("p99.9"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["latency"]["p50_us"], 10);
    }
}
