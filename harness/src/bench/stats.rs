//! Measurements of one workload on one module: per-round throughput,
//! per-operation latencies, and the summaries the report prints (median
//! throughput over the rounds, p50/p90/p99 latency over every operation).

use std::time::Duration;

use serde::Serialize;

/// One timed round: how many operations ran in how much wall time, and how
/// long each took (nanoseconds, all threads together).
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// Operations completed.
    pub ops: u64,
    /// Wall time of the round.
    pub wall: Duration,
    /// Latency of each operation in nanoseconds.
    pub latencies_ns: Vec<u64>,
}

impl Round {
    /// Operations per second of wall time.
    pub fn rate(&self) -> f64 {
        let s = self.wall.as_secs_f64();
        if s > 0.0 {
            self.ops as f64 / s
        } else {
            0.0
        }
    }
}

/// What the report shows for one workload on one module.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Median over the rounds of operations per second.
    pub rate: f64,
    /// Each round's operations per second.
    pub round_rates: Vec<f64>,
    /// Operations timed, all rounds.
    pub ops: u64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 90th percentile latency, microseconds.
    pub p90_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// The very first operation of this workload in the process, in
    /// microseconds, when it is reported apart (C_Initialize + C_Login: the
    /// emulator's PIN key derivation is cached after it). Not part of the
    /// other figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_us: Option<f64>,
}

/// The median of `v` (mean of the middle two for an even count); 0 if empty.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises the rounds of one workload on one module.
pub fn summarize(rounds: &[Round], first: Option<Duration>) -> Summary {
    let round_rates: Vec<f64> = rounds.iter().map(Round::rate).collect();
    let mut all: Vec<u64> = rounds
        .iter()
        .flat_map(|r| r.latencies_ns.iter().copied())
        .collect();
    all.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    Summary {
        rate: median(&round_rates),
        ops: rounds.iter().map(|r| r.ops).sum(),
        p50_us: us(quantile(&all, 0.50)),
        p90_us: us(quantile(&all, 0.90)),
        p99_us: us(quantile(&all, 0.99)),
        first_us: first.map(|d| d.as_secs_f64() * 1e6),
        round_rates,
    }
}

/// The ratio A/B of two modules' throughput: the median of the per-round
/// ratios (round i of A against round i of B, run back to back, so load on
/// the machine affects both alike). None when B has no rate.
pub fn ratio(a: &[Round], b: &[Round]) -> Option<f64> {
    let per_round: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, b)| b.rate() > 0.0)
        .map(|(a, b)| a.rate() / b.rate())
        .collect();
    (!per_round.is_empty()).then(|| median(&per_round))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.9), 90);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&[7], 0.99), 7);
    }

    #[test]
    fn ratio_is_the_median_of_per_round_ratios() {
        let r = |ops: u64| Round {
            ops,
            wall: Duration::from_secs(1),
            latencies_ns: vec![1],
        };
        let a = [r(200), r(300), r(100)];
        let b = [r(100), r(100), r(100)];
        assert_eq!(ratio(&a, &b), Some(2.0));
        assert_eq!(ratio(&a, &[]), None);
        let s = summarize(&a, Some(Duration::from_millis(2)));
        assert_eq!(s.rate, 200.0);
        assert_eq!(s.ops, 600);
        assert_eq!(s.first_us, Some(2000.0));
    }
}
