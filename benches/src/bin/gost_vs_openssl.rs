//! GOST speed acceptance: tokenemu-gost / tokenemu-crypto side by side with
//! OpenSSL's gost engine, in one process.
//!
//! ```sh
//! cargo run --release -p tokenemu-benches --bin gost_vs_openssl [-- --rounds 5 --secs 1]
//! ```
//!
//! For every operation the two contenders run alternately, `rounds` times for
//! about `secs` seconds each (the order flips every round, so slow drifts of
//! the machine's load hit both). The table shows the median rate of each and
//! the median of the per-round ratios ours / OpenSSL, checked against the
//! target. Exit status: 0 all targets met, 1 a target missed, 2 OpenSSL or
//! the engine unavailable (`GOST_ENGINE_SO` overrides the engine's path).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokenemu_benches::openssl_gost::{GostEngine, DEFAULT_ENGINE_PATH};
use tokenemu_crypto::{digest, HashAlg};
use tokenemu_gost::{ParamSet, SigningKey, CRYPTOPRO_A, TC26_512_A};

/// Runs `batch(n)` (n operations) repeatedly for about `target`; returns operations per second.
fn rate(target: Duration, mut batch: impl FnMut(u64)) -> f64 {
    // Calibrate a batch size of about target / 20.
    let mut n = 1u64;
    loop {
        let t = Instant::now();
        batch(n);
        let dt = t.elapsed();
        if dt >= target / 20 || n >= 1 << 20 {
            break;
        }
        n *= 2;
    }
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < target {
        batch(n);
        ops += n;
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

struct Row {
    name: &'static str,
    unit: &'static str,
    /// Multiplier from operations/s to the displayed unit.
    scale: f64,
    target: Option<f64>,
    ours: Vec<f64>,
    theirs: Vec<f64>,
    ratios: Vec<f64>,
}

impl Row {
    fn new(name: &'static str, unit: &'static str, scale: f64, target: Option<f64>) -> Row {
        Row {
            name,
            unit,
            scale,
            target,
            ours: Vec::new(),
            theirs: Vec::new(),
            ratios: Vec::new(),
        }
    }

    /// One round: both contenders, `ours_first` deciding the order.
    fn round(
        &mut self,
        secs: Duration,
        ours_first: bool,
        ours: &mut dyn FnMut(u64),
        theirs: &mut dyn FnMut(u64),
    ) {
        let (a, b) = if ours_first {
            let a = rate(secs, ours);
            (a, rate(secs, theirs))
        } else {
            let b = rate(secs, theirs);
            (rate(secs, ours), b)
        };
        self.ours.push(a * self.scale);
        self.theirs.push(b * self.scale);
        self.ratios.push(a / b);
    }
}

struct Args {
    rounds: usize,
    secs: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        rounds: 5,
        secs: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse::<f64>()
                .map_err(|e| format!("{name}: {e}"))
        };
        match arg.as_str() {
            "--rounds" => a.rounds = val("--rounds")?.max(1.0) as usize,
            "--secs" => a.secs = val("--secs")?.max(0.01),
            "-h" | "--help" => return Err(
                "usage: gost_vs_openssl [--rounds N (5)] [--secs S per contender and round (1)]"
                    .into(),
            ),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let so = std::env::var("GOST_ENGINE_SO").unwrap_or_else(|_| DEFAULT_ENGINE_PATH.to_string());
    let engine = match GostEngine::load(&so) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gost_vs_openssl: OpenSSL's gost engine is unavailable: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&engine, &args) {
        Ok(all_met) => {
            if all_met {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("gost_vs_openssl: {e}");
            ExitCode::from(2)
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run(engine: &GostEngine, args: &Args) -> Res<bool> {
    let secs = Duration::from_secs_f64(args.secs);
    println!("tokenemu GOST vs {}", engine.describe());
    println!(
        "{} rounds x {:.1} s per contender and operation, alternating; {} CPUs, load average {}",
        args.rounds,
        args.secs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "?".into())
    );

    let mut rows = Vec::new();
    for (params, paramset, sign_target, verify_target) in [
        (&CRYPTOPRO_A, "A", Some(1.2), Some(1.0)),
        (&TC26_512_A, "A", Some(1.2), None),
    ] {
        let (sign, verify) = bench_sig(engine, params, paramset, args, secs)?;
        let _ = (sign_target, verify_target);
        rows.push(Row {
            target: sign_target,
            ..sign
        });
        rows.push(Row {
            target: verify_target,
            ..verify
        });
    }
    rows.push(bench_streebog(engine, args, secs)?);

    println!();
    println!(
        "| {:<32} | {:>14} | {:>14} | {:>6} | {:>6} | {:<6} |",
        "operation", "tokenemu", "OpenSSL+gost", "ratio", "target", "result"
    );
    println!(
        "|{:-<34}|{:->16}|{:->16}|{:->8}|{:->8}|{:-<8}|",
        "", "", "", "", "", ""
    );
    let mut all_met = true;
    for r in &mut rows {
        let ours = median(&mut r.ours);
        let theirs = median(&mut r.theirs);
        let ratio = median(&mut r.ratios);
        let (target, verdict) = match r.target {
            Some(t) => {
                let ok = ratio >= t;
                all_met &= ok;
                (format!("{t:.1}x"), if ok { "PASS" } else { "FAIL" })
            }
            None => ("-".to_string(), "info"),
        };
        println!(
            "| {:<32} | {:>14} | {:>14} | {:>5.2}x | {:>6} | {:<6} |",
            r.name,
            format!("{ours:.0} {}", r.unit),
            format!("{theirs:.0} {}", r.unit),
            ratio,
            target,
            verdict
        );
    }
    println!();
    println!(
        "ratio = median over rounds of (ours / OpenSSL) in the same round; rates are medians. {}",
        if all_met {
            "All targets met."
        } else {
            "Some target missed."
        }
    );
    Ok(all_met)
}

fn bench_sig(
    engine: &GostEngine,
    params: &'static ParamSet,
    paramset: &str,
    args: &Args,
    secs: Duration,
) -> Res<(Row, Row)> {
    let n = params.coordinate_len();
    let bits = 8 * n;
    let dgst: Vec<u8> = (0..n as u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();

    let key = SigningKey::generate(params);
    let vk = key.verifying_key();
    let sig = key.sign_digest(&dgst)?;
    vk.verify_digest(&dgst, &sig)?;

    let mut ekey = engine.generate_key(bits, paramset)?;
    let esig = ekey.sign(&dgst, 1)?;
    ekey.verify(&dgst, &esig, 1)?;

    let (sign_name, verify_name): (&'static str, &'static str) = if bits == 256 {
        (
            "GOST-256 sign (CryptoPro-A)",
            "GOST-256 verify (CryptoPro-A)",
        )
    } else {
        ("GOST-512 sign (tc26-512-A)", "GOST-512 verify (tc26-512-A)")
    };
    let mut sign_row = Row::new(sign_name, "op/s", 1.0, None);
    let mut verify_row = Row::new(verify_name, "op/s", 1.0, None);
    let mut failed = None;
    for round in 0..args.rounds {
        let first = round % 2 == 0;
        sign_row.round(
            secs,
            first,
            &mut |cnt| {
                for _ in 0..cnt {
                    black_box(key.sign_digest(black_box(&dgst)).expect("sign"));
                }
            },
            &mut |cnt| {
                if let Err(e) = ekey.sign(&dgst, cnt) {
                    failed = Some(e);
                }
            },
        );
        verify_row.round(
            secs,
            first,
            &mut |cnt| {
                for _ in 0..cnt {
                    vk.verify_digest(black_box(&dgst), black_box(&sig))
                        .expect("verify");
                }
            },
            &mut |cnt| {
                if let Err(e) = ekey.verify(&dgst, &esig, cnt) {
                    failed = Some(e);
                }
            },
        );
        if let Some(e) = failed.take() {
            return Err(e.into());
        }
        println!(
            "  round {}: {} {:.2}x, {} {:.2}x",
            round + 1,
            sign_name,
            sign_row.ratios[round],
            verify_name,
            verify_row.ratios[round]
        );
    }
    Ok((sign_row, verify_row))
}

fn bench_streebog(engine: &GostEngine, args: &Args, secs: Duration) -> Res<Row> {
    const MIB: usize = 1 << 20;
    let data: Vec<u8> = (0..MIB)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect();
    let ours = digest(HashAlg::Streebog256, &data);
    let theirs = engine.digest(256, &data, 1)?;
    if ours != theirs {
        return Err("Streebog-256 digests differ between tokenemu and OpenSSL".into());
    }
    let mut row = Row::new(
        "Streebog-256 over 1 MiB",
        "MB/s",
        MIB as f64 / 1e6,
        Some(1.0),
    );
    let mut failed = None;
    for round in 0..args.rounds {
        row.round(
            secs,
            round % 2 == 0,
            &mut |cnt| {
                for _ in 0..cnt {
                    black_box(digest(HashAlg::Streebog256, black_box(&data)));
                }
            },
            &mut |cnt| {
                if let Err(e) = engine.digest(256, &data, cnt) {
                    failed = Some(e);
                }
            },
        );
        if let Some(e) = failed.take() {
            return Err(e.into());
        }
        println!(
            "  round {}: Streebog-256 {:.2}x",
            round + 1,
            row.ratios[round]
        );
    }
    Ok(row)
}
