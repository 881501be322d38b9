//! `tokenemu bench`: the same PKCS#11 workloads on one or two modules in one
//! process — RSA-2048, ECDSA P-256 and GOST signing and verification,
//! digests, C_FindObjects on tokens of 1,000 / 10,000 … objects, and
//! C_Initialize + C_OpenSession + C_Login — with throughput, latency
//! percentiles and the ratio A/B.
//!
//! Both modules are loaded side by side (separate `dlopen` handles) and
//! each round runs A then B (B then A on odd rounds), so load on the
//! machine falls on both alike; the ratio is the median of the per-round
//! ratios. Modules: [`target`]; workloads and timed loops: [`workloads`];
//! raw calls: [`p11`]; figures: [`stats`]; output: [`report`].

pub mod args;
pub mod p11;
pub mod report;
pub mod stats;
pub mod target;
pub mod workloads;

use anyhow::{bail, Context, Result};

pub use args::BenchArgs;
use report::{Outcome, Report, Row};
use stats::Round;

/// Runs `tokenemu bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    if !(args.secs.is_finite() && args.secs > 0.0 && args.secs <= 3600.0) {
        bail!("--secs must be a number of seconds above 0 (at most 3600)");
    }
    let plan = workloads::plan(args)?;
    let mut targets = target::setup_all(args)?;
    out!("{}", report::header(&targets));
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut failures = 0;
    for w in &plan {
        let row = measure(&mut targets, w, args)?;
        failures += row.results.iter().filter(|o| o.status == "failed").count();
        outln!("{}", report::line(&row, &mut notes));
        rows.push(row);
    }
    report::add_scaling(&mut rows);
    outln!();
    for (i, n) in notes.iter().enumerate() {
        outln!("[{}] {n}", i + 1);
    }
    out!("{}", report::extras(&rows));
    outln!();
    out!("{}", report::cpu_lines(&rows));
    let checks = report::targets(&rows);
    if args.targets || args.check_targets {
        outln!();
        out!("{}", report::target_lines(&checks));
    }
    for t in &mut targets {
        if !args.keep {
            t.clean_up()
                .with_context(|| format!("{}: destroying the bench's objects", t.name))?;
        }
    }
    let report = Report {
        rounds: args.rounds,
        secs: args.secs,
        modules: targets.iter().map(report::ModuleInfo::of).collect(),
        workloads: rows,
        targets: checks,
    };
    for t in targets {
        let name = t.name.clone();
        t.close().with_context(|| format!("{name}: closing"))?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if failures > 0 {
        bail!("{failures} workload run(s) failed (see the notes above)");
    }
    if args.check_targets {
        let missed: Vec<&str> = report
            .targets
            .iter()
            .filter(|c| c.met != Some(true))
            .map(|c| c.name.as_str())
            .collect();
        if !missed.is_empty() {
            bail!("targets not met: {}", missed.join("; "));
        }
    }
    Ok(())
}

/// The PIN refusal (`CKR_PIN_INCORRECT` / `CKR_PIN_LOCKED`) in an error
/// chain, if there is one.
fn pin_refusal(e: &anyhow::Error) -> Option<p11::CallError> {
    e.chain()
        .find_map(|c| c.downcast_ref::<p11::CallError>())
        .filter(|c| crate::p11::preflight::is_pin_refusal(c.rv))
        .copied()
}

/// The error that ends the bench when a token refused its PIN in a
/// workload (the pre-flight's log-in had worked: the PIN changed, or the
/// token counts differently): each further log-in would cost a try.
fn pin_stop(t: &target::Target, w: &workloads::Workload, e: &anyhow::Error) -> anyhow::Error {
    use crate::p11::preflight::{tries_text, PinRole};
    let tries = match t.slots.first() {
        Some(s) => match t.module.client().token_info(s.id) {
            (cryptoki_sys::CKR_OK, info) => tries_text(info.flags, PinRole::User),
            (rv, _) => format!(
                "C_GetTokenInfo returned {}",
                tokenemu_core::names::rv_name(rv)
            ),
        },
        None => "no slot".into(),
    };
    anyhow::anyhow!(
        "{}: bench stopped in {}: {}; {tries}. No further workload ran: each wrong PIN costs a try on a real token",
        t.title(),
        w.id,
        crate::one_line(e)
    )
}

/// Prepares and runs one workload on every module, rounds alternating.
fn measure(
    targets: &mut [target::Target],
    w: &workloads::Workload,
    args: &BenchArgs,
) -> Result<Row> {
    let n = targets.len();
    let mut prepared = Vec::with_capacity(n);
    for t in targets.iter_mut() {
        prepared.push(
            workloads::prepare(t, w)
                .with_context(|| format!("{}: preparing {}", t.title(), w.id))?,
        );
    }
    let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); n];
    let mut failed: Vec<Option<String>> = vec![None; n];
    let mut firsts = vec![None; n];
    for r in 0..args.rounds {
        let order: Vec<usize> = if r % 2 == 0 {
            (0..n).collect()
        } else {
            (0..n).rev().collect()
        };
        for i in order {
            let (Ok(p), None) = (&prepared[i], &failed[i]) else {
                continue;
            };
            match workloads::run_round(&mut targets[i], w, p, args.secs, &mut firsts[i]) {
                Ok(round) => rounds[i].push(round),
                Err(e) if pin_refusal(&e).is_some() => return Err(pin_stop(&targets[i], w, &e)),
                Err(e) => {
                    failed[i] = Some(crate::one_line(&e));
                    // A login round that failed half-way leaves the module
                    // finalized; the next workloads need it back.
                    if matches!(w.op, workloads::Op::Login { .. }) {
                        let _ = targets[i].module.finalize();
                        if let Err(e) = targets[i].resume() {
                            if pin_refusal(&e).is_some() {
                                return Err(pin_stop(&targets[i], w, &e));
                            }
                        }
                    }
                }
            }
        }
    }
    let mut row = Row::new(w);
    for (i, t) in targets.iter().enumerate() {
        let outcome = match (&prepared[i], &failed[i]) {
            (Err(reason), _) => Outcome {
                module: t.label,
                status: "skipped",
                reason: Some(reason.clone()),
                summary: None,
                scaling: None,
            },
            (_, Some(reason)) => Outcome {
                module: t.label,
                status: "failed",
                reason: Some(reason.clone()),
                summary: None,
                scaling: None,
            },
            (Ok(_), None) => Outcome {
                module: t.label,
                status: "ok",
                reason: None,
                summary: Some(stats::summarize(&rounds[i], firsts[i])),
                scaling: None,
            },
        };
        row.results.push(outcome);
    }
    if n == 2 && row.results.iter().all(|o| o.status == "ok") {
        row.ratio = stats::ratio(&rounds[0], &rounds[1]);
        row.cpu_ratio = stats::cpu_ratio(&rounds[0], &rounds[1]);
    }
    Ok(row)
}
