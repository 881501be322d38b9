//! `tokenemu run`: loads scenarios, runs them (emulator profiles or one
//! module), shows progress, writes JSON and JUnit reports.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::RunArgs;
use crate::p11::preflight::{self, PinRole};
use crate::p11::SlotChoice;
use crate::report::live::{Live, Observer};
use crate::report::{files, manifest, RunReport};
use crate::scenario::expect::Expectations;
use crate::scenario::runner::{run_scenario_checked, RunConfig};
use crate::scenario::{load_dir, load_file, Scenario};

/// The workspace's `scenarios/` directory: `./scenarios` if present, else
/// the one this binary was built from.
pub fn default_scenarios_dir() -> PathBuf {
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Loads scenario files and directories.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>> {
    let paths = if paths.is_empty() {
        vec![default_scenarios_dir()]
    } else {
        paths.to_vec()
    };
    let mut out = Vec::new();
    for p in &paths {
        if p.is_dir() {
            out.extend(load_dir(p)?);
        } else {
            out.push(load_file(p)?);
        }
    }
    if out.is_empty() {
        bail!(
            "no scenario files found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(out)
}

/// Runs every scenario: on each of its profiles (emulator, filtered by
/// `profiles` if not empty) or once on `cfg.module`. On another module the
/// run stops at the first PIN the token refused unexpectedly (each costs a
/// try on a real token); the second value says where.
pub fn run_all(
    scenarios: &[Scenario],
    profiles: &[String],
    cfg: &RunConfig,
    obs: &mut dyn Observer,
) -> (RunReport, Option<String>) {
    let mut report = RunReport {
        module: cfg.module.as_ref().map_or_else(
            || "tokenemu emulator".to_string(),
            |m| m.display().to_string(),
        ),
        interrupted: false,
        scenarios: Vec::new(),
    };
    for sc in scenarios {
        // Ctrl-C: the scenario in progress skipped its steps left; no other
        // scenario starts (see `interrupt`).
        if crate::interrupt::requested() {
            break;
        }
        if cfg.module.is_some() {
            let (r, pin_refused) = run_scenario_checked(sc, None, cfg, obs);
            report.scenarios.push(r);
            if pin_refused.is_some() {
                return (report, pin_refused);
            }
            continue;
        }
        for p in &sc.header.profiles {
            if crate::interrupt::requested() {
                break;
            }
            if profiles.is_empty() || profiles.contains(p) {
                report
                    .scenarios
                    .push(run_scenario_checked(sc, Some(p), cfg, obs).0);
            }
        }
    }
    report.interrupted = crate::interrupt::requested();
    (report, None)
}

/// The error of a run stopped by Ctrl-C (exit status
/// [`crate::INTERRUPTED_EXIT`]); the reports were written, marked interrupted.
#[derive(Debug)]
pub struct Interrupted {
    /// Scenario runs completed before the interruption (the one it stopped
    /// included).
    pub scenarios: usize,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted (Ctrl-C) after {} scenario run(s); the temporary tokens were removed and the reports are marked interrupted",
            self.scenarios
        )
    }
}

impl std::error::Error for Interrupted {}

/// The pre-flight of a run on another module ([`preflight`]): the PINs
/// read, the slot found, the token flags checked and one log-in with each
/// PIN the run uses, before any scenario starts.
fn module_preflight(module: &Path, args: &RunArgs, slot: &SlotChoice) -> Result<preflight::Ready> {
    let Some(var) = &args.pin_env else {
        bail!("--module needs --pin-env VAR, naming the environment variable that holds the token's user PIN (the scenarios log in)");
    };
    let user_pin = preflight::pin_from_env(var, "--pin-env")?;
    let so_pin = preflight::optional_pin(args.so_pin_env.as_deref(), "--so-pin-env")?;
    preflight::preflight(
        module,
        &preflight::Request {
            choice: slot.clone(),
            user_pin: Some(user_pin),
            // Only destructive steps (unlock, re-initialisation) use the SO
            // PIN: without --allow-destructive it is never tried.
            so_pin: so_pin.filter(|_| args.allow_destructive),
            allow_low_pin_tries: args.allow_low_pin_tries,
            login: true,
        },
    )
}

/// `tokenemu run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let scenarios = load_all(&args.scenarios)?;
    let expectations = match &args.expectations {
        Some(p) => Some(Expectations::load(p).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let slot = match (&args.slot, &args.token_label) {
        (Some(id), _) => SlotChoice::Id(*id),
        (None, Some(l)) => SlotChoice::Label(l.clone()),
        (None, None) => SlotChoice::First,
    };
    if args.module.is_none()
        && (args.slot.is_some() || args.token_label.is_some() || args.pin_env.is_some())
    {
        bail!("--slot, --token-label and --pin-env need --module (the emulator's tokens are set up per scenario)");
    }
    if args.module.is_none() && args.allow_low_pin_tries {
        bail!(
            "--allow-low-pin-tries needs --module (the emulator's tokens are set up per scenario)"
        );
    }
    let checked_slot = match &args.module {
        Some(m) => Some(module_preflight(m, args, &slot)?.slot),
        None => None,
    };
    let slot = checked_slot.map_or(slot, SlotChoice::Id);
    let mut cfg = RunConfig::emulator(&args.out);
    cfg.module = args.module.clone();
    cfg.slot = slot;
    cfg.pin_env = args.pin_env.clone();
    cfg.so_pin_env = args.so_pin_env.clone();
    cfg.expectations = expectations;
    cfg.allow_destructive = args.allow_destructive;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // The emulator's own log (e.g. its warning when a PIN locks, which the
    // scenarios do on purpose) goes to a file, not into the live view.
    let mut named = Vec::new();
    if args.module.is_none() && std::env::var_os("TOKENEMU_LOG_FILE").is_none() {
        std::env::set_var("TOKENEMU_LOG_FILE", args.out.join(EMULATOR_LOG));
        named.push(EMULATOR_LOG.to_owned());
    }
    crate::interrupt::install()?;
    let mut live = Live::default();
    let (report, pin_refused) = run_all(&scenarios, &args.profile, &cfg, &mut live);
    if report.scenarios.is_empty() && !report.interrupted {
        bail!("no scenario targets the profiles {:?}", args.profile);
    }
    let json = args
        .json
        .clone()
        .unwrap_or_else(|| args.out.join("report.json"));
    let junit = args
        .junit
        .clone()
        .unwrap_or_else(|| args.out.join("junit.xml"));
    files::write_json(&report, &json).with_context(|| json.display().to_string())?;
    files::write_junit(&report, &junit).with_context(|| junit.display().to_string())?;
    // What an earlier run in the same --out left and this report does not
    // name goes (only files a run recorded in the manifest; see `manifest`).
    named.extend(
        [&json, &junit]
            .into_iter()
            .filter_map(|p| manifest::relative_to(&args.out, p)),
    );
    for sc in &report.scenarios {
        let dir = sc.dir_name();
        named.extend(sc.files().into_iter().map(|f| format!("{dir}/{f}")));
    }
    let cleaned = manifest::update(&args.out, &named)?;
    if !cleaned.removed.is_empty() {
        tracing::info!(
            "removed {} file(s) of an earlier run from {}",
            cleaned.removed.len(),
            args.out.display()
        );
    }
    let (p, f, s) = report.totals();
    outln!("{p} passed, {f} failed, {s} skipped");
    outln!(
        "reports: {} {}; artifacts under {}",
        json.display(),
        junit.display(),
        display(&args.out)
    );
    if let (Some(why), Some(module), Some(slot)) = (pin_refused, &cfg.module, checked_slot) {
        let roles: &[PinRole] = if cfg.so_pin_env.is_some() && cfg.allow_destructive {
            &[PinRole::User, PinRole::So]
        } else {
            &[PinRole::User]
        };
        bail!(
            "run stopped: {why}; {}. No further scenario ran: each wrong PIN costs a try on a real token",
            preflight::tries_now(module, slot, roles)
        );
    }
    if report.interrupted {
        return Err(Interrupted {
            scenarios: report.scenarios.len(),
        }
        .into());
    }
    if report.failed() {
        bail!("{f} step(s) failed");
    }
    Ok(())
}

/// The emulator's log in the output directory (unless TOKENEMU_LOG_FILE
/// names another file).
const EMULATOR_LOG: &str = "emulator.log";

fn display(p: &Path) -> String {
    p.display().to_string()
}
