//! `tokenemu conformance`: a catalogue of PKCS#11 conformance checks, each
//! tied to a section of the specification ([`checks`]), run through a raw
//! C caller ([`client`]) against the emulator (every profile, on fresh
//! temporary tokens) or any module, with per-module expectations
//! ([`expect`]) and reports ([`report`]: terminal matrix, JSON, JUnit XML,
//! side-by-side comparison).

pub mod check;
pub mod checks;
pub mod expect;
pub mod report;

use std::io::IsTerminal;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use cryptoki_sys::*;
use indicatif::{ProgressBar, ProgressStyle};
use tokenemu_core::names::{mechanism_name, rv_name};

use crate::p11::client::{Client, InitArgs, Out};
use crate::p11::preflight::{self, is_pin_refusal, PinRole};
use crate::p11::SlotChoice;
use check::{padded, Chapter, Check, Ctx, Stop};
use expect::{Expectations, Expected};
use report::{CheckReport, Report, Status, TargetReport};

/// The emulator profiles the suite runs on without --module.
pub const PROFILES: [&str; 5] = [
    "jacarta-gost",
    "jacarta-pki",
    "etoken",
    "javatoken",
    "softtoken",
];

/// `tokenemu conformance`.
#[derive(Debug, Args, Clone, Default)]
pub struct ConformanceArgs {
    /// A PKCS#11 module to check instead of the emulator.
    #[arg(long, value_name = "PATH")]
    pub module: Option<PathBuf>,
    /// Slot id on --module (default: the first slot with a token).
    #[arg(long, value_name = "N", conflicts_with = "token_label")]
    pub slot: Option<u64>,
    /// Token label on --module.
    #[arg(long, value_name = "L")]
    pub token_label: Option<String>,
    /// Environment variable holding the user PIN (--module; without it the
    /// checks that log in are skipped).
    #[arg(long, value_name = "VAR")]
    pub pin_env: Option<String>,
    /// Environment variable holding the SO PIN (--module; SO checks).
    #[arg(long, value_name = "VAR")]
    pub so_pin_env: Option<String>,
    /// Run the checks that change the token (PIN changes, PIN lock-out and
    /// unlock, C_InitToken) on --module. Always on for the emulator's
    /// throw-away tokens.
    #[arg(long)]
    pub allow_destructive: bool,
    /// Go ahead on a token whose flags show CKF_USER_PIN_COUNT_LOW or
    /// FINAL_TRY (or the SO's, when --so-pin-env is used): without it no PIN
    /// is tried on such a token. A locked PIN is never tried.
    #[arg(long)]
    pub allow_low_pin_tries: bool,
    /// Only these emulator profiles (default: all five).
    #[arg(long, value_name = "NAME")]
    pub profile: Vec<String>,
    /// Expectations file: the checks this module is known to fail (with the
    /// reason and CK_RV) or must skip.
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<PathBuf>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Run only the matching checks: a check id glob (`session.*`,
    /// `*gost*`) or a chapter name; repeatable.
    #[arg(long, value_name = "GLOB|CHAPTER")]
    pub only: Vec<String>,
    /// Leave out the matching checks (same forms as --only); repeatable.
    #[arg(long, value_name = "GLOB|CHAPTER")]
    pub skip: Vec<String>,
    /// Show another module's results or a previous --json report next to
    /// these, marking the checks whose outcome differs. A module runs with
    /// the same --slot/--token-label and PIN options (with the emulator as
    /// the first column, those options are the compared module's) and
    /// without expectations.
    #[arg(long, value_name = "MODULE.so|REPORT.json")]
    pub compare: Option<PathBuf>,
    /// List the checks (id, spec section, title) and exit.
    #[arg(long)]
    pub list: bool,
}

/// Whether `pattern` (a glob or a chapter name) selects check `c`.
fn selects(pattern: &str, c: &Check) -> bool {
    if Chapter::ALL.iter().any(|ch| ch.name() == pattern) {
        return c.chapter.name() == pattern;
    }
    crate::scenario::expect::glob(pattern, c.id)
}

/// The checks `--only` / `--skip` leave.
pub fn selected(args: &ConformanceArgs) -> Vec<Check> {
    checks::catalogue()
        .into_iter()
        .filter(|c| args.only.is_empty() || args.only.iter().any(|p| selects(p, c)))
        .filter(|c| !args.skip.iter().any(|p| selects(p, c)))
        .collect()
}

/// One token to run the checks on.
#[derive(Debug, Clone)]
pub struct Target {
    /// Column name.
    pub name: String,
    /// Slot id.
    pub slot: CK_SLOT_ID,
    /// User PIN.
    pub user_pin: Option<Vec<u8>>,
    /// SO PIN.
    pub so_pin: Option<Vec<u8>>,
    /// Destructive checks allowed.
    pub destructive: bool,
}

/// Why a check cannot run here, from its requirements.
fn unmet(c: &Check, t: &Target, mechanisms: &[CK_MECHANISM_TYPE]) -> Option<String> {
    if let Some(m) = c.needs.mechanisms.iter().find(|m| !mechanisms.contains(m)) {
        return Some(format!("the token does not list {}", mechanism_name(*m)));
    }
    if c.needs.destructive && !t.destructive {
        return Some("changes the token: run with --allow-destructive".into());
    }
    if c.needs.login && t.user_pin.is_none() {
        return Some("needs the user PIN (--pin-env)".into());
    }
    if c.needs.so_pin && t.so_pin.is_none() {
        return Some("needs the SO PIN (--so-pin-env)".into());
    }
    None
}

/// Applies an expectation rule to an outcome.
fn judge(
    outcome: Result<Option<String>, Stop>,
    rule: Option<&expect::Rule>,
    module: &str,
) -> (Status, Option<String>, Option<String>) {
    let (status, message, rv) = match outcome {
        Ok(note) => (Status::Passed, note, None),
        Err(Stop::Skip(why)) => (Status::Skipped, Some(why), None),
        Err(Stop::Fail { message, rv }) => (Status::Failed, Some(message), rv.map(rv_name)),
    };
    let Some(rule) = rule.filter(|r| r.status == Expected::Fail) else {
        return (status, message, rv);
    };
    match status {
        Status::Passed => (Status::UnexpectedlyPassing, message, rv),
        Status::Failed => match (&rule.rv, &rv) {
            (Some(want), got) if Some(want) != got.as_ref() => (
                Status::Failed,
                Some(format!(
                    "{} (the expectations file says {module} fails this with {want}, it returned {})",
                    message.unwrap_or_default(),
                    got.as_deref().unwrap_or("no CK_RV")
                )),
                rv,
            ),
            _ => (Status::ExpectedFailure, message, rv),
        },
        other => (other, message, rv),
    }
}

/// Progress on the terminal (nothing when stderr is not one).
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(name: &str, n: usize) -> Progress {
        if !std::io::stderr().is_terminal() {
            // CI logs: one line per token, failures as they happen.
            eprintln!("conformance: {name}: {n} checks");
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(n as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} {bar:30.cyan/blue} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(name.to_string());
        Progress { bar: Some(bar) }
    }

    fn start(&self, id: &str) {
        if let Some(b) = &self.bar {
            b.set_message(id.to_string());
        }
    }

    fn done(&self, r: &CheckReport) {
        let line = r
            .status
            .is_bad()
            .then(|| format!("  FAIL {}: {}", r.id, r.message.as_deref().unwrap_or("")));
        match (&self.bar, line) {
            (Some(b), line) => {
                if let Some(l) = line {
                    b.println(l);
                }
                b.inc(1);
            }
            (None, Some(l)) => eprintln!("{l}"),
            (None, None) => {}
        }
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

fn token_mechanisms(p11: &Client, slot: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>, String> {
    let q = p11.mechanism_list(slot, Out::Query);
    if q.rv != CKR_OK {
        return Err(format!("C_GetMechanismList returned {}", rv_name(q.rv)));
    }
    let r = p11.mechanism_list(slot, Out::Buf(q.len as usize));
    if r.rv != CKR_OK {
        return Err(format!("C_GetMechanismList returned {}", rv_name(r.rv)));
    }
    Ok(r.data)
}

/// Runs `checks` on one token of an initialised module. The run stops at
/// the first check that failed with `CKR_PIN_INCORRECT` or `CKR_PIN_LOCKED`
/// (each costs a try on a real token; a check that provokes one on purpose
/// passes when it gets it): the other checks are reported as not run, the
/// set-up error and the second value say why.
pub fn run_target(
    p11: &Client,
    target: &Target,
    checks: &[Check],
    expectations: Option<&Expectations>,
) -> (TargetReport, Option<String>) {
    let mut report = TargetReport {
        name: target.name.clone(),
        module: p11.path().display().to_string(),
        slot: target.slot,
        token: String::new(),
        setup_error: None,
        checks: Vec::new(),
    };
    let (rv, info) = p11.token_info(target.slot);
    if rv != CKR_OK {
        report.setup_error = Some(format!(
            "C_GetTokenInfo(slot {}) returned {}",
            target.slot,
            rv_name(rv)
        ));
        return (report, None);
    }
    let label = padded(&info.label);
    report.token = format!(
        "{label} / {} / {}",
        padded(&info.model),
        padded(&info.manufacturerID)
    );
    let mechanisms = match token_mechanisms(p11, target.slot) {
        Ok(m) => m,
        Err(e) => {
            report.setup_error = Some(e);
            return (report, None);
        }
    };
    let module_name = expectations
        .map_or("this module", |e| e.module.as_str())
        .to_string();
    let mut ctx = Ctx {
        p11,
        slot: target.slot,
        user_pin: target.user_pin.clone(),
        so_pin: target.so_pin.clone(),
        mechanisms: mechanisms.clone(),
        label,
    };
    let progress = Progress::new(&target.name, checks.len());
    let mut stopped: Option<String> = None;
    for c in checks {
        progress.start(c.id);
        let started = Instant::now();
        let rule = expectations.and_then(|e| e.rule(c.id));
        let mut refused = false;
        let (status, message, rv) = if let Some(at) = &stopped {
            (
                Status::Skipped,
                Some(format!(
                    "not run: the run stopped at {at} (a PIN was refused)"
                )),
                None,
            )
        } else if let Some(r) = rule.filter(|r| r.status == Expected::Skip) {
            (
                Status::Skipped,
                Some(format!("expected on {module_name}: {}", r.reason)),
                None,
            )
        } else if let Some(why) = unmet(c, target, &mechanisms) {
            (Status::Skipped, Some(why), None)
        } else {
            ctx.cleanup();
            let outcome =
                catch_unwind(AssertUnwindSafe(|| (c.run)(&mut ctx))).unwrap_or_else(|p| {
                    let what = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(check::fail(format!(
                        "the check panicked (harness bug): {what}"
                    )))
                });
            ctx.cleanup();
            refused =
                matches!(&outcome, Err(Stop::Fail { rv: Some(rv), .. }) if is_pin_refusal(*rv));
            judge(outcome, rule, &module_name)
        };
        let r = CheckReport {
            id: c.id.to_string(),
            chapter: c.chapter.name().to_string(),
            title: c.title.to_string(),
            spec: c.spec.to_string(),
            status,
            message,
            rv,
            expectation: rule.map(|r| r.reason.clone()),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if refused {
            stopped = Some(c.id.to_string());
            let (info_rv, info) = p11.token_info(target.slot);
            let tries = if info_rv == CKR_OK {
                let mut t = vec![preflight::tries_text(info.flags, PinRole::User)];
                if target.so_pin.is_some() {
                    t.push(preflight::tries_text(info.flags, PinRole::So));
                }
                t.join("; ")
            } else {
                format!("C_GetTokenInfo returned {}", rv_name(info_rv))
            };
            report.setup_error = Some(format!(
                "stopped at {}: {}; {tries}. No further check ran: each wrong PIN costs a try on a real token",
                c.id,
                r.message.as_deref().unwrap_or("a PIN was refused")
            ));
        }
        progress.done(&r);
        report.checks.push(r);
    }
    progress.finish();
    let stop = stopped.and(report.setup_error.clone());
    (report, stop)
}

/// Loads and initialises a module.
fn open_module(path: &Path) -> Result<Client> {
    let p11 = Client::load(path)?;
    let rv = p11.initialize(InitArgs::OsLocking);
    if rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED {
        bail!("{}: C_Initialize returned {}", path.display(), rv_name(rv));
    }
    Ok(p11)
}

/// What the pre-flight settled for a module: the slot and the PINs the
/// selected checks will use (a PIN no check uses is neither tried nor
/// handed to the checks).
#[derive(Debug)]
struct ModulePlan {
    slot: CK_SLOT_ID,
    user_pin: Option<preflight::SuppliedPin>,
    so_pin: Option<preflight::SuppliedPin>,
}

/// The pre-flight of a module ([`preflight`]): PIN variables read, the slot
/// (--slot, else the token labelled --token-label, else the first slot with
/// a token) found, the token flags checked and one log-in with each PIN the
/// checks will use, before any check runs.
fn preflight_module(path: &Path, args: &ConformanceArgs, checks: &[Check]) -> Result<ModulePlan> {
    let runs = |c: &&Check| !c.needs.destructive || args.allow_destructive;
    let user_used = checks.iter().filter(runs).any(|c| c.needs.login);
    let so_used = checks.iter().filter(runs).any(|c| c.needs.so_pin);
    let user_pin =
        preflight::optional_pin(args.pin_env.as_deref(), "--pin-env")?.filter(|_| user_used);
    let so_pin =
        preflight::optional_pin(args.so_pin_env.as_deref(), "--so-pin-env")?.filter(|_| so_used);
    let choice = match (&args.slot, &args.token_label) {
        (Some(id), _) => SlotChoice::Id(*id),
        (None, Some(l)) => SlotChoice::Label(l.clone()),
        (None, None) => SlotChoice::First,
    };
    let ready = preflight::preflight(
        path,
        &preflight::Request {
            choice,
            user_pin: user_pin.clone(),
            so_pin: so_pin.clone(),
            allow_low_pin_tries: args.allow_low_pin_tries,
            login: true,
        },
    )?;
    Ok(ModulePlan {
        slot: ready.slot,
        user_pin,
        so_pin,
    })
}

/// Runs the suite on a module (one target) after its pre-flight; the second
/// value says where a refused PIN stopped it.
fn run_module(
    path: &Path,
    plan: &ModulePlan,
    args: &ConformanceArgs,
    checks: &[Check],
    exp: Option<&Expectations>,
) -> Result<(Report, Option<String>)> {
    let p11 = open_module(path)?;
    let target = Target {
        name: "module".into(),
        slot: plan.slot,
        user_pin: plan.user_pin.as_ref().map(|p| p.value.to_vec()),
        so_pin: plan.so_pin.as_ref().map(|p| p.value.to_vec()),
        destructive: args.allow_destructive,
    };
    let (t, stop) = run_target(&p11, &target, checks, exp);
    p11.finalize();
    let report = Report {
        tool: "tokenemu conformance".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        targets: vec![t],
    };
    Ok((report, stop.map(|s| format!("{}: {s}", path.display()))))
}

/// Runs the suite on the emulator: one fresh temporary token per profile
/// (one slot each), destructive checks included.
fn run_emulator(
    args: &ConformanceArgs,
    checks: &[Check],
    exp: Option<&Expectations>,
) -> Result<(Report, Option<String>)> {
    let profiles: Vec<&str> = if args.profile.is_empty() {
        PROFILES.to_vec()
    } else {
        args.profile.iter().map(String::as_str).collect()
    };
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let mut conf = String::new();
    let mut targets = Vec::new();
    for (i, name) in profiles.iter().enumerate() {
        let p = tokenemu_core::profile::Profile::builtin(name).with_context(|| {
            format!("unknown profile {name} (built in: {})", PROFILES.join(", "))
        })?;
        let store = tmp.path().join(format!("slot-{i}"));
        let store = store
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        conf.push_str(&format!(
            "[[slot]]\nid = {i}\nprofile = \"{name}\"\nstore = \"{store}\"\npresent = true\n\n"
        ));
        targets.push(Target {
            name: name.to_string(),
            slot: i as CK_SLOT_ID,
            user_pin: Some(p.pin.default_user_pin.clone().into_bytes()),
            so_pin: Some(p.pin.default_so_pin.clone().into_bytes()),
            destructive: true,
        });
    }
    let conf_path = tmp.path().join("tokenemu.toml");
    std::fs::write(&conf_path, conf).with_context(|| conf_path.display().to_string())?;
    // The module reads TOKENEMU_CONF in C_Initialize; its own log (e.g. the
    // warning when a PIN locks, which a check does on purpose) goes to a
    // file, not into the matrix.
    std::env::set_var(tokenemu_core::config::CONF_ENV, &conf_path);
    if std::env::var_os("TOKENEMU_LOG_FILE").is_none() {
        std::env::set_var("TOKENEMU_LOG_FILE", tmp.path().join("emulator.log"));
    }
    let module = crate::list::module_path(None)?;
    let p11 = open_module(&module)?;
    let mut report = Report {
        tool: "tokenemu conformance".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        targets: Vec::new(),
    };
    let mut first_stop = None;
    for t in &targets {
        // A temporary token that stopped on a refused PIN does not stop the
        // other profiles' tokens.
        let (r, stop) = run_target(&p11, t, checks, exp);
        report.targets.push(r);
        first_stop = first_stop.or(stop.map(|s| format!("{}: {s}", t.name)));
    }
    p11.finalize();
    Ok((report, first_stop))
}

/// `tokenemu conformance`.
pub fn run(args: &ConformanceArgs) -> Result<()> {
    let checks = selected(args);
    if args.list {
        for c in &checks {
            outln!("{:44} {}\n{:44} {}", c.id, c.title, "", c.spec);
        }
        outln!("{} checks", checks.len());
        return Ok(());
    }
    if checks.is_empty() {
        bail!("--only/--skip leave no check to run");
    }
    let compare_module = args
        .compare
        .as_ref()
        .filter(|p| p.extension().is_none_or(|e| e != "json"));
    if args.module.is_none()
        && compare_module.is_none()
        && (args.slot.is_some()
            || args.token_label.is_some()
            || args.pin_env.is_some()
            || args.so_pin_env.is_some())
    {
        bail!("--slot, --token-label, --pin-env and --so-pin-env need --module or a --compare module (the emulator's tokens are created for the run)");
    }
    if args.module.is_some() && !args.profile.is_empty() {
        bail!("--profile selects emulator profiles; it does not go with --module");
    }
    if args.module.is_none() && compare_module.is_none() && args.allow_low_pin_tries {
        bail!("--allow-low-pin-tries needs --module or a --compare module (the emulator's tokens are created for the run)");
    }
    let exp = args
        .expectations
        .as_deref()
        .map(Expectations::load)
        .transpose()?;
    let compare_report = match &args.compare {
        Some(p) if p.extension().is_some_and(|e| e == "json") => Some(Report::load(p)?),
        _ => None,
    };
    // Every module's pre-flight before any check runs on any of them.
    let plan = match &args.module {
        Some(m) => Some(preflight_module(m, args, &checks)?),
        None => None,
    };
    let compare_plan = match compare_module {
        Some(p) => Some(
            preflight_module(p, args, &checks)
                .with_context(|| format!("--compare {}", p.display()))?,
        ),
        None => None,
    };
    let (report, stop) = match (&args.module, &plan) {
        (Some(m), Some(plan)) => run_module(m, plan, args, &checks, exp.as_ref())?,
        _ => run_emulator(args, &checks, exp.as_ref())?,
    };
    let (other, compare_stop) = match (compare_module, &compare_plan) {
        (Some(p), Some(plan)) if stop.is_none() => {
            let (r, s) = run_module(p, plan, args, &checks, None)?;
            (Some(r), s)
        }
        _ => (compare_report, None),
    };
    out!("{}", report::matrix(&report, other.as_ref()));
    if let Some(j) = &args.json {
        report.write_json(j)?;
    }
    if let Some(j) = &args.junit {
        report.write_junit(j)?;
    }
    if let Some(stop) = stop.or(compare_stop) {
        bail!("conformance stopped: {stop}");
    }
    if report.failed() {
        let bad: Vec<String> = report
            .targets
            .iter()
            .flat_map(|t| {
                let setup = t
                    .setup_error
                    .as_ref()
                    .map(|_| format!("{}: set-up", t.name));
                setup.into_iter().chain(
                    t.checks
                        .iter()
                        .filter(|c| c.status.is_bad())
                        .map(move |c| format!("{}@{}", c.id, t.name)),
                )
            })
            .collect();
        bail!("{} check(s) failed: {}", bad.len(), bad.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(status: Expected, rv: Option<&str>) -> expect::Rule {
        expect::Rule {
            checks: "x".into(),
            status,
            rv: rv.map(str::to_string),
            reason: "r".into(),
        }
    }

    #[test]
    fn a_wrong_result_fails_the_check() {
        // A check fed a wrong CK_RV fails and names both values.
        let out = check::expect_rv("C_Login", CKR_OK, CKR_PIN_INCORRECT);
        let (status, msg, rv) = judge(out.map(|_| None), None, "m");
        assert_eq!(status, Status::Failed);
        assert_eq!(rv.as_deref(), Some("CKR_OK"));
        assert!(msg.unwrap().contains("expected CKR_PIN_INCORRECT"));
    }

    #[test]
    fn expectations_turn_failures_into_expected_ones_and_flag_passes() {
        let fail = || {
            Err(Stop::Fail {
                message: "m".into(),
                rv: Some(CKR_OK),
            })
        };
        let r = rule(Expected::Fail, Some("CKR_OK"));
        assert_eq!(judge(fail(), Some(&r), "m").0, Status::ExpectedFailure);
        let other = rule(Expected::Fail, Some("CKR_GENERAL_ERROR"));
        assert_eq!(judge(fail(), Some(&other), "m").0, Status::Failed);
        assert_eq!(
            judge(Ok(None), Some(&r), "m").0,
            Status::UnexpectedlyPassing
        );
        assert_eq!(
            judge(Err(Stop::Skip("s".into())), Some(&r), "m").0,
            Status::Skipped
        );
    }

    #[test]
    fn only_and_skip_take_globs_and_chapters() {
        let args = ConformanceArgs {
            only: vec!["session".into(), "*gost*".into()],
            skip: vec!["mechanisms.gost2001*".into()],
            ..Default::default()
        };
        let ids: Vec<&str> = selected(&args).iter().map(|c| c.id).collect();
        assert!(ids.contains(&"session.so-states"));
        assert!(ids.contains(&"mechanisms.gost-a1-verify"));
        assert!(!ids.contains(&"mechanisms.gost2001-roundtrip"));
        assert!(!ids.contains(&"general.get-info"));
    }
}
