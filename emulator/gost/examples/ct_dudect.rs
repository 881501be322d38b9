//! A dudect-style statistical smoke check of signing time (hand-run, not a test;
//! see `emulator/gost/CONSTANT_TIME.md`).
//!
//! Two classes of inputs are signed in random order:
//! - the fixed class: `d = 1`, `k = 1`, extreme values that expose most data-dependent
//!   shortcuts;
//! - the random class: uniformly random `d` and `k`.
//!
//! Only the signing call is timed. For each class the timings are cropped at several
//! percentiles, as dudect does, and Welch's t statistic is computed between the two classes
//! at each crop. |t| above 4.5 is taken as evidence of a timing difference (dudect's
//! threshold). On a loaded machine the noise makes this a smoke check only: the memcheck audit
//! (`ct_valgrind`) is the decisive one.
//!
//! ```sh
//! cargo run --release -p tokenemu-gost --example ct_dudect [-- SAMPLES_PER_CLASS (20000)]
//! ```

use std::hint::black_box;
use std::time::Instant;

use tokenemu_gost::{ParamSet, SigningKey, CRYPTOPRO_A, CRYPTOPRO_B, TC26_512_A, TC26_512_B};

/// dudect's threshold for "definitely not constant time".
const T_THRESHOLD: f64 = 4.5;

/// Welch's t statistic between two samples.
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let stats = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (n, mean, var)
    };
    let (na, ma, va) = stats(a);
    let (nb, mb, vb) = stats(b);
    (ma - mb) / (va / na + vb / nb).sqrt()
}

/// A small xorshift generator for the class order, seeded from the OS clock.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The largest |t| over the crops, with the crop where it occurs.
fn test_set(params: &'static ParamSet, samples: usize, rng: &mut XorShift) -> (f64, f64) {
    let n = params.coordinate_len();
    let digest: Vec<u8> = (0..n as u8)
        .map(|i| i.wrapping_mul(29).wrapping_add(3))
        .collect();
    let mut one_le = vec![0u8; n];
    one_le[0] = 1;
    let one_be: Vec<u8> = one_le.iter().rev().copied().collect();
    let fixed_key = SigningKey::from_le_bytes(params, &one_le).expect("d = 1");

    // Inputs prepared ahead, so only the signing call is timed.
    let mut inputs = Vec::with_capacity(2 * samples);
    for _ in 0..2 * samples {
        let class = (rng.next() & 1) as usize;
        if class == 0 {
            inputs.push((0usize, fixed_key.clone(), one_be.clone()));
        } else {
            let key = SigningKey::generate(params);
            let k_be: Vec<u8> = SigningKey::generate(params)
                .to_le_bytes()
                .iter()
                .rev()
                .copied()
                .collect();
            inputs.push((1usize, key, k_be));
        }
    }
    // Warm up (base table, caches).
    for (_, key, k) in inputs.iter().take(200) {
        black_box(key.sign_digest_with_k(&digest, k).ok());
    }
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for (class, key, k) in &inputs {
        let t = Instant::now();
        let sig = key.sign_digest_with_k(black_box(&digest), black_box(k));
        let dt = t.elapsed().as_nanos() as f64;
        black_box(sig.ok());
        times[*class].push(dt);
    }
    let mut sorted: Vec<f64> = times[0].iter().chain(times[1].iter()).copied().collect();
    sorted.sort_by(f64::total_cmp);
    let mut worst = (0.0f64, 1.0f64);
    for pct in [1.0, 0.99, 0.9, 0.75, 0.5] {
        let idx = ((sorted.len() - 1) as f64 * pct) as usize;
        let cut = sorted[idx];
        let a: Vec<f64> = times[0].iter().copied().filter(|&v| v <= cut).collect();
        let b: Vec<f64> = times[1].iter().copied().filter(|&v| v <= cut).collect();
        if a.len() < 10 || b.len() < 10 {
            continue;
        }
        let t = welch_t(&a, &b);
        if t.abs() > worst.0.abs() {
            worst = (t, pct);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut f, mut r) = (times[0].clone(), times[1].clone());
    println!(
        "  {:<12} fixed {:>5} samples median {:>8.0} ns, random {:>5} samples median {:>8.0} ns",
        params.name,
        f.len(),
        median(&mut f),
        r.len(),
        median(&mut r)
    );
    worst
}

fn main() -> std::process::ExitCode {
    let samples: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 20_000,
        Some(Ok(n)) if n >= 100 => n,
        Some(_) => {
            eprintln!("usage: ct_dudect [SAMPLES_PER_CLASS >= 100]");
            return std::process::ExitCode::from(2);
        }
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = XorShift(seed);
    println!("fixed (d = k = 1) vs random (d, k), {samples} samples per class on average");
    let mut all_ok = true;
    for params in [&CRYPTOPRO_A, &CRYPTOPRO_B, &TC26_512_A, &TC26_512_B] {
        let (t, pct) = test_set(params, samples, &mut rng);
        let ok = t.abs() < T_THRESHOLD;
        all_ok &= ok;
        println!(
            "  {:<12} largest t = {:+.2} (crop at {:.0}th percentile): {}",
            params.name,
            t,
            pct * 100.0,
            if ok {
                "no evidence of leakage"
            } else {
                "LEAK SUSPECTED"
            }
        );
    }
    if all_ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
