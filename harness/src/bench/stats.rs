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
    /// Time the measuring threads spent on a CPU during the timed part
    /// (Linux schedstat), nanoseconds; None where it cannot be read.
    pub cpu_ns: Option<u64>,
}

/// Nanoseconds the calling thread has run on a CPU (first field of
/// `/proc/thread-self/schedstat`). Unlike wall time it does not grow while
/// the thread waits for a CPU that other processes hold.
pub fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
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
    /// On-CPU time per operation, microseconds (all rounds): what an
    /// operation costs, whatever the load on the machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_op: Option<f64>,
    /// CPUs the measuring threads actually got: on-CPU time / wall time,
    /// median over the rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_used: Option<f64>,
}

/// On-CPU nanoseconds per operation over `rounds`, if every round has it.
fn cpu_per_op_ns(rounds: &[Round]) -> Option<f64> {
    let cpu: Option<u64> = rounds.iter().map(|r| r.cpu_ns).sum();
    let ops: u64 = rounds.iter().map(|r| r.ops).sum();
    (ops > 0).then_some(())?;
    Some(cpu? as f64 / ops as f64)
}

/// On-CPU time per operation of B over that of A (how many times less CPU
/// A spends on one operation); None unless both were measured.
pub fn cpu_ratio(a: &[Round], b: &[Round]) -> Option<f64> {
    let (a, b) = (cpu_per_op_ns(a)?, cpu_per_op_ns(b)?);
    (a > 0.0).then(|| b / a)
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
        cpu_us_per_op: cpu_per_op_ns(rounds).map(|ns| ns / 1000.0),
        cpus_used: {
            let used: Option<Vec<f64>> = rounds
                .iter()
                .map(|r| Some(r.cpu_ns? as f64 / r.wall.as_nanos().max(1) as f64))
                .collect();
            used.map(|u| median(&u))
        },
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
            cpu_ns: Some(ops * 1000),
        };
        let a = [r(200), r(300), r(100)];
        let b = [r(100), r(100), r(100)];
        assert_eq!(ratio(&a, &b), Some(2.0));
        assert_eq!(ratio(&a, &[]), None);
        let s = summarize(&a, Some(Duration::from_millis(2)));
        assert_eq!(s.rate, 200.0);
        assert_eq!(s.ops, 600);
        assert_eq!(s.first_us, Some(2000.0));
        assert_eq!(s.cpu_us_per_op, Some(1.0));
        assert_eq!(s.cpus_used, Some(200_000.0 / 1e9));
        let cheap: Vec<Round> = b
            .iter()
            .map(|r| Round {
                cpu_ns: r.cpu_ns.map(|c| c / 4),
                ..r.clone()
            })
            .collect();
        assert_eq!(cpu_ratio(&cheap, &b), Some(4.0));
        // The kernel updates the figure at scheduling events: run a while.
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_millis(30) {
            std::thread::yield_now();
        }
        assert!(thread_cpu_ns().is_some_and(|ns| ns > 0));
    }
}
