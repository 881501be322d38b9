//! Runs a scenario: sets up the module (the emulator with a fresh store, or
//! the module given), provisions the token from `fixtures/provision/`, then
//! runs each step against the token and the simulated back-ends, checking
//! its outputs and recording its result, timing and PKCS#11 calls.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use cryptoki::object::ObjectHandle;

use super::clock::Clock;
use super::expect::Expectations;
use super::model::{Action, Scenario, Step};
use super::provision::{provision, provision_dir, Provision};
use super::{load, vars};
use crate::backend::bs_client::BsClient;
use crate::backend::kisc::{certificate_list, choose, Kisc};
use crate::backend::kzibank::Kzibank;
use crate::backend::vtb::Vtb;
use crate::backend::{
    artifacts, civil, date_ru, days_left, refuse, Env, Outputs, StepError, StepResult,
};
use crate::p11::preflight::is_pin_refusal_name;
use crate::p11::{harness_err, P11Error, SlotChoice, Token};
use crate::report::live::Observer;
use crate::report::{ScenarioReport, Status, StepReport};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// A PKCS#11 module; `None`: the emulator built in this workspace.
    pub module: Option<PathBuf>,
    /// The emulator module to load when `module` is `None` (default:
    /// `libtokenemu.so` next to the executable or `TOKENEMU_MODULE`).
    pub emulator_module: Option<PathBuf>,
    /// Slot choice on another module.
    pub slot: SlotChoice,
    /// Environment variable with the user PIN (another module).
    pub pin_env: Option<String>,
    /// Environment variable with the SO PIN (another module).
    pub so_pin_env: Option<String>,
    /// Artifacts go to `<out_dir>/<scenario>-<profile>/`.
    pub out_dir: PathBuf,
    /// Per-module expectations.
    pub expectations: Option<Expectations>,
    /// Allow destructive steps on a module other than the emulator.
    pub allow_destructive: bool,
    /// Where provisioning files live.
    pub provision_dir: PathBuf,
}

impl RunConfig {
    /// Emulator defaults, artifacts under `out_dir`.
    pub fn emulator(out_dir: &Path) -> RunConfig {
        RunConfig {
            module: None,
            emulator_module: None,
            slot: SlotChoice::First,
            pin_env: None,
            so_pin_env: None,
            out_dir: out_dir.to_path_buf(),
            expectations: None,
            allow_destructive: false,
            provision_dir: provision_dir(),
        }
    }
}

struct Setup {
    token: Token,
    user_pin: String,
    so_pin: String,
    store: Option<PathBuf>,
    /// The emulator's call trace (`TOKENEMU_TRACE`) for this scenario.
    trace: Option<PathBuf>,
    _tmp: Option<tempfile::TempDir>,
}

/// Why a step did not run after Ctrl-C (see `crate::interrupt`).
pub const INTERRUPTED_STEP: &str = "not run: the run was interrupted (Ctrl-C)";

/// The emulator's call trace of a whole scenario, in its output directory.
pub const TRACE_FILE: &str = "pkcs11-trace.jsonl";

/// Now, in the trace's unit (µs since the Unix epoch).
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The trace records this process wrote between `from_us` and `to_us`, saved
/// as `step-NN-<id>.trace.jsonl` next to the scenario's other artifacts.
fn step_trace(
    trace: &Path,
    out_dir: &Path,
    step: &StepReport,
    from_us: u64,
    to_us: u64,
) -> Option<crate::report::StepTrace> {
    let pid = u64::from(std::process::id());
    let records: Vec<serde_json::Value> =
        crate::trace_cmd::read_records(trace, &crate::trace_cmd::Filter::default())
            .map_err(|e| tracing::warn!("step trace: {e:#}"))
            .ok()?
            .into_iter()
            .filter(|r| {
                r["pid"].as_u64() == Some(pid)
                    && r["ts_us"]
                        .as_u64()
                        .is_some_and(|t| (from_us..=to_us).contains(&t))
            })
            .collect();
    let name = format!("step-{:02}-{}.trace.jsonl", step.index, step.id);
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    if let Err(e) = std::fs::write(out_dir.join(&name), text) {
        tracing::warn!("step trace {name}: {e}");
        return None;
    }
    let base = records
        .first()
        .and_then(|r| r["ts_us"].as_u64())
        .unwrap_or(0);
    Some(crate::report::StepTrace {
        file: name,
        calls: records
            .iter()
            .map(|r| crate::trace_cmd::format_record(r, base))
            .collect(),
    })
}

fn env_pin(var: &Option<String>, what: &str) -> Result<String, String> {
    match var {
        Some(v) => {
            std::env::var(v).map_err(|_| format!("{what}: environment variable {v} is not set"))
        }
        None => Err(format!(
            "{what}: pass --pin-env / --so-pin-env naming a variable that holds it"
        )),
    }
}

fn setup(profile: Option<&str>, cfg: &RunConfig, out_dir: &Path) -> Result<Setup, String> {
    match (&cfg.module, profile) {
        (None, Some(profile)) => {
            let p = tokenemu_core::profile::Profile::builtin(profile)
                .ok_or_else(|| format!("unknown profile {profile}"))?;
            let tmp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
            let store = tmp.path().join("slot-0");
            let conf = tmp.path().join("tokenemu.toml");
            let text = format!(
                "[[slot]]\nid = 0\nprofile = \"{profile}\"\nstore = \"{}\"\npresent = true\n",
                store
                    .display()
                    .to_string()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            );
            std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
            // The module reads TOKENEMU_CONF in C_Initialize: set it first.
            std::env::set_var(tokenemu_core::config::CONF_ENV, &conf);
            // And the call trace, so a failed step's report can show the
            // module's own record of its calls.
            std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
            let trace = out_dir.join(TRACE_FILE);
            match std::fs::remove_file(&trace) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("{}: {e}", trace.display()))
                }
                _ => {}
            }
            std::env::set_var(tokenemu_core::hooks::TRACE_ENV, &trace);
            let module = match &cfg.emulator_module {
                Some(m) => m.clone(),
                None => crate::list::module_path(None).map_err(|e| format!("{e:#}"))?,
            };
            let token = Token::open(&module, &SlotChoice::Id(0)).map_err(|e| e.to_string())?;
            Ok(Setup {
                token,
                user_pin: p.pin.default_user_pin.clone(),
                so_pin: p.pin.default_so_pin.clone(),
                store: Some(store),
                trace: Some(trace),
                _tmp: Some(tmp),
            })
        }
        (Some(module), _) => {
            let token = Token::open(module, &cfg.slot).map_err(|e| e.to_string())?;
            let user_pin = env_pin(&cfg.pin_env, "user PIN")?;
            let so_pin = env_pin(&cfg.so_pin_env, "SO PIN").unwrap_or_default();
            Ok(Setup {
                token,
                user_pin,
                so_pin,
                store: None,
                trace: None,
                _tmp: None,
            })
        }
        (None, None) => Err("the emulator needs a profile".into()),
    }
}

/// The back-ends of one run.
struct World {
    kisc: Kisc,
    bs: BsClient,
    kz: Kzibank,
    vtb: Vtb,
    subject: String,
    handles: HashMap<Vec<u8>, ObjectHandle>,
    artifacts: Vec<String>,
}

/// Why a scenario could not start.
#[derive(Debug)]
struct SetupError {
    message: String,
    /// The token refused a PIN (`CKR_PIN_INCORRECT` / `CKR_PIN_LOCKED`).
    pin_refused: bool,
}

impl From<String> for SetupError {
    fn from(message: String) -> SetupError {
        SetupError {
            message,
            pin_refused: false,
        }
    }
}

impl SetupError {
    fn p11(context: &str, e: &P11Error) -> SetupError {
        SetupError {
            message: format!("{context}: {e}"),
            pin_refused: is_pin_refusal_name(&e.code),
        }
    }
}

/// Runs `sc` on `profile` (emulator) or on `cfg.module`.
pub fn run_scenario(
    sc: &Scenario,
    profile: Option<&str>,
    cfg: &RunConfig,
    obs: &mut dyn Observer,
) -> ScenarioReport {
    run_scenario_checked(sc, profile, cfg, obs).0
}

/// [`run_scenario`], also saying where the token refused a PIN that the
/// step (or the set-up) did not expect to be refused: `CKR_PIN_INCORRECT`
/// or `CKR_PIN_LOCKED`. Each wrong PIN costs a try on a real token, so a
/// run on another module stops there (see [`crate::p11::preflight`]).
pub fn run_scenario_checked(
    sc: &Scenario,
    profile: Option<&str>,
    cfg: &RunConfig,
    obs: &mut dyn Observer,
) -> (ScenarioReport, Option<String>) {
    let started = Instant::now();
    let h = &sc.header;
    let mut report = ScenarioReport {
        id: h.id.clone(),
        title: h.title.clone(),
        manual: h.manual.clone(),
        language: h.language.clone(),
        profile: if cfg.module.is_none() {
            profile.map(str::to_string)
        } else {
            None
        },
        provisioning: Vec::new(),
        setup_error: None,
        steps: Vec::new(),
        duration_ms: 0,
        artifacts: Vec::new(),
    };
    obs.scenario_start(&report.name(), &h.title, sc.steps.len());
    let out_dir = cfg.out_dir.join(report.dir_name());
    let mut pin_refused = None;
    let result = run_inner(
        sc,
        profile,
        cfg,
        &out_dir,
        &mut report,
        obs,
        &mut pin_refused,
    );
    if let Err(e) = result {
        if e.pin_refused {
            pin_refused = Some(format!("{}: set-up: {}", report.name(), e.message));
        }
        report.setup_error = Some(e.message);
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    obs.scenario_end(&report);
    (report, pin_refused)
}

fn run_inner(
    sc: &Scenario,
    profile: Option<&str>,
    cfg: &RunConfig,
    out_dir: &Path,
    report: &mut ScenarioReport,
    obs: &mut dyn Observer,
    pin_refused: &mut Option<String>,
) -> Result<(), SetupError> {
    let h = &sc.header;
    let setup = setup(profile, cfg, out_dir)?;
    let mut clock = Clock::new(sc.start);
    let prov = Provision::load(&cfg.provision_dir, &h.provision)?;
    let mut kisc = Kisc::new(h.seed, clock.now).map_err(|e| e.to_string())?;
    let skip = |name: &str| -> Option<String> {
        cfg.expectations.as_ref().and_then(|x| {
            x.skip_reason(&h.id, &format!("provision-{name}"))
                .map(str::to_string)
        })
    };
    clean_leftovers(
        &setup.token,
        &cfg.provision_dir,
        &prov,
        &setup.user_pin,
        cfg.module.is_none() || cfg.allow_destructive,
    )?;
    let provisioned = provision(
        &setup.token,
        &mut kisc,
        &prov,
        &setup.user_pin,
        clock.now,
        &skip,
    )
    .map_err(|e| SetupError::p11(&format!("provisioning {}", h.provision), &e))?;
    setup.token.take_calls();
    // The CA's roots, so the artifacts can be checked (`openssl verify -CAfile`).
    for (alg, name) in [
        (crate::p11::Alg::Gost256, "kisc-ca-gost"),
        (crate::p11::Alg::Rsa2048, "kisc-ca-rsa"),
    ] {
        let (cer, pem) = artifacts::export_certificate(out_dir, name, kisc.ca.root(alg))
            .map_err(|e| e.to_string())?;
        report.artifacts.extend([cer, pem]);
    }
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for p in &provisioned {
        if let Some(id) = &p.id {
            vars.insert(format!("prov_{}_id", p.name), id.clone());
        }
    }
    report.provisioning = provisioned;
    let first_key = report
        .provisioning
        .iter()
        .find_map(|p| p.id.clone())
        .and_then(|id| hex::decode(id).ok())
        .unwrap_or_default();
    let mut world = World {
        kisc,
        bs: BsClient::new(&format!("{}_Абонент", h.seed % 10_000), first_key),
        kz: Kzibank::new(h.seed, clock.now),
        vtb: Vtb::default(),
        subject: prov.subject.clone(),
        handles: HashMap::new(),
        artifacts: Vec::new(),
    };
    let mut failed_at: Option<String> = None;
    for (i, step) in sc.steps.iter().enumerate() {
        obs.step_start(i + 1, &step.def.title);
        clock.tick();
        let t0 = Instant::now();
        let mut r = StepReport {
            index: i + 1,
            id: step.def.id.clone(),
            title: step.def.title.clone(),
            kind: step.def.kind.clone(),
            doc_ref: step.def.doc_ref.clone(),
            status: Status::Passed,
            reason: None,
            clock: clock_text(clock.now),
            duration_ms: 0,
            calls: Vec::new(),
            outputs: BTreeMap::new(),
            error: None,
            trace: None,
        };
        let emulator = cfg.module.is_none();
        let skip_reason = if crate::interrupt::requested() {
            Some(INTERRUPTED_STEP.into())
        } else if let Some(why) = cfg
            .expectations
            .as_ref()
            .and_then(|x| x.skip_reason(&h.id, &step.def.id))
        {
            Some(format!(
                "expected on {}: {why}",
                cfg.expectations.as_ref().map_or("", |x| x.module.as_str())
            ))
        } else if let Some(f) = &failed_at {
            Some(format!("not run: step {f} failed"))
        } else if !emulator && (step.def.emulator_only || decoded_needs_emulator(step)) {
            Some("needs the emulator (hot-plug): not run on another module".into())
        } else if step.def.destructive && !emulator && !cfg.allow_destructive {
            Some("destructive on a real token: pass --allow-destructive to run it".into())
        } else {
            None
        };
        if let Some(why) = skip_reason {
            r.status = Status::Skipped;
            r.reason = Some(why);
        } else {
            let env = Env {
                token: &setup.token,
                now: clock.now,
                user_pin: setup.user_pin.clone(),
                so_pin: setup.so_pin.clone(),
                out_dir: out_dir.to_path_buf(),
                emulator_store: setup.store.clone(),
            };
            let from_us = now_us();
            let outcome = execute(step, &env, &mut world, &mut clock, &vars);
            let to_us = now_us();
            let refusal = match &outcome {
                Err(e) if is_pin_refusal_name(&e.code) => Some(e.to_string()),
                _ => None,
            };
            r.calls = setup.token.take_calls();
            match judge(step, outcome, &vars) {
                Ok(outputs) => {
                    for (var, out) in &step.def.capture {
                        match outputs.get(out) {
                            Some(v) => {
                                vars.insert(var.clone(), v.clone());
                            }
                            None => {
                                r.status = Status::Failed;
                                r.reason = Some(format!(
                                    "capture {var}: the step has no output {out:?} (it has: {})",
                                    outputs.keys().cloned().collect::<Vec<_>>().join(", ")
                                ));
                            }
                        }
                    }
                    r.error = outputs.get("__error").cloned();
                    r.outputs = outputs
                        .into_iter()
                        .filter(|(k, _)| k != "__error")
                        .collect();
                }
                Err((why, outputs, error)) => {
                    r.status = Status::Failed;
                    r.reason = Some(why);
                    r.outputs = outputs;
                    r.error = error;
                }
            }
            if r.status == Status::Failed {
                failed_at = Some(step.def.id.clone());
                // A refusal the step expected passed above; this one was not
                // expected: the later steps are skipped (failed_at) and the
                // caller stops the run.
                if let Some(why) = refusal {
                    *pin_refused = Some(format!("{}: step {}: {why}", report.name(), step.def.id));
                }
                if let Some(trace) = &setup.trace {
                    r.trace = step_trace(trace, out_dir, &r, from_us, to_us);
                }
            }
        }
        r.duration_ms = t0.elapsed().as_millis() as u64;
        obs.step_end(&r);
        report.steps.push(r);
    }
    report.artifacts.extend(world.artifacts);
    Ok(())
}

/// Objects an earlier run of the harness left on a token (the provisioning
/// `CKA_ID`s and the portal's `KI…` ids): removed when allowed, else an error
/// (a scenario needs the token as the manual shows it).
fn known_ids(dir: &Path, prov: &Provision) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = prov
        .keypairs
        .iter()
        .filter_map(|k| hex::decode(&k.id).ok())
        .collect();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".toml")
                .to_string();
            if let Ok(p) = Provision::load(dir, &name) {
                out.extend(p.keypairs.iter().filter_map(|k| hex::decode(&k.id).ok()));
            }
        }
    }
    out
}

fn clean_leftovers(
    token: &Token,
    prov_dir: &Path,
    prov: &Provision,
    pin: &str,
    allowed: bool,
) -> Result<(), SetupError> {
    let s = token
        .user_session(pin)
        .map_err(|e| SetupError::p11("log-in before provisioning", &e))?;
    let known = known_ids(prov_dir, prov);
    let ours = |id: &[u8]| id.starts_with(b"KI") || known.iter().any(|k| k == id);
    let mut ids: Vec<Vec<u8>> = token
        .certificates(&s)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.extend(
        token
            .list_keys(&s)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|k| k.id),
    );
    ids.retain(|id| ours(id));
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    if !allowed {
        return Err(SetupError::from(format!(
            "the token already holds objects with the harness's CKA_IDs ({}); use a fresh token or pass --allow-destructive to delete them",
            ids.iter().map(hex::encode).collect::<Vec<_>>().join(", ")
        )));
    }
    for id in ids {
        token
            .destroy_all_with_id(&s, &id)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn decoded_needs_emulator(step: &Step) -> bool {
    load::decode_action(&step.def).is_ok_and(|a| a.needs_emulator())
}

fn clock_text(now: u64) -> String {
    let (y, m, d) = civil(now);
    let s = now % 86_400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", s / 3600, (s / 60) % 60)
}

type Judged = Result<Outputs, (String, Outputs, Option<String>)>;

/// Compares a step's outcome with its `check` table.
fn judge(step: &Step, outcome: StepResult, vars: &BTreeMap<String, String>) -> Judged {
    let mut check = step.def.check.clone();
    let want = check.remove("result").unwrap_or_else(|| "ok".into());
    let want = vars::substitute(&want, vars).map_err(|m| (m, Outputs::new(), None))?;
    let allowed: Vec<&str> = want.split('|').map(str::trim).collect();
    match outcome {
        Err(e) => {
            let text = format!("{}: {}", e.code, e.message);
            if allowed.contains(&e.code.as_str()) {
                let mut o = Outputs::new();
                o.insert("__error".into(), text);
                Ok(o)
            } else {
                Err((
                    format!("expected {want}, got {text}"),
                    Outputs::new(),
                    Some(text),
                ))
            }
        }
        Ok(outputs) => {
            if !allowed.contains(&"ok") {
                return Err((
                    format!("expected {want}, but the step succeeded"),
                    outputs,
                    None,
                ));
            }
            for (k, v) in &check {
                let v = vars::substitute(v, vars).map_err(|m| (m, outputs.clone(), None))?;
                match outputs.get(k) {
                    Some(got) if *got == v => {}
                    Some(got) => {
                        return Err((
                            format!("{k}: expected {v:?}, got {got:?}"),
                            outputs.clone(),
                            None,
                        ))
                    }
                    None => {
                        return Err((
                            format!("{k}: expected {v:?}, but the step has no such output"),
                            outputs.clone(),
                            None,
                        ))
                    }
                }
            }
            Ok(outputs)
        }
    }
}

fn bad(m: String) -> StepError {
    harness_err("bad_step", m)
}

fn execute(
    step: &Step,
    env: &Env,
    w: &mut World,
    clock: &mut Clock,
    vars: &BTreeMap<String, String>,
) -> StepResult {
    let with =
        match vars::substitute_in(&toml::Value::Table(step.def.with.clone()), vars).map_err(bad)? {
            toml::Value::Table(t) => t,
            _ => unreachable!("a table stays a table"),
        };
    let action = load::decode_with(&step.def.kind, &with).map_err(bad)?;
    let t = env.token;
    match action {
        Action::ClockAdvance { days, hours } => {
            clock.advance(days, hours);
            let mut o = Outputs::new();
            o.insert("date".into(), date_ru(clock.now));
            Ok(o)
        }
        Action::TokenInsert {} => {
            if let Some(store) = &env.emulator_store {
                tokenemu_store::Store::open(store)
                    .and_then(|s| s.set_present(true))
                    .map_err(|e| refuse("store", e.to_string()))?;
            }
            let mut o = Outputs::new();
            o.insert("present".into(), t.present().to_string());
            Ok(o)
        }
        Action::TokenRemove {} => {
            let store = env.emulator_store.as_ref().ok_or_else(|| {
                refuse("needs_emulator", "pulling the token out needs the emulator")
            })?;
            tokenemu_store::Store::open(store)
                .and_then(|s| s.set_present(false))
                .map_err(|e| refuse("store", e.to_string()))?;
            let mut o = Outputs::new();
            o.insert("present".into(), t.present().to_string());
            Ok(o)
        }
        Action::TokenLogin { pin, times } => {
            let pin = env.pin(&pin)?;
            let mut last = Ok(());
            for _ in 0..times.max(1) {
                let s = t.session(false)?;
                last = t.login(&s, cryptoki::session::UserType::User, &pin);
                if matches!(&last, Err(e) if e.code == "CKR_PIN_LOCKED") {
                    break;
                }
            }
            let state = t.user_pin_state()?;
            match last {
                Ok(()) => {
                    let mut o = Outputs::new();
                    o.insert("pin_state".into(), state.into());
                    Ok(o)
                }
                Err(e) => Err(StepError {
                    code: e.code,
                    message: format!("{} (PIN state now: {state})", e.message),
                }),
            }
        }
        Action::TokenStatus { pin } => {
            let mut o = Outputs::new();
            o.insert("present".into(), t.present().to_string());
            o.insert("pin_state".into(), t.user_pin_state()?.into());
            let s = t.session(false)?;
            o.insert("certificates".into(), t.certificates(&s)?.len().to_string());
            if pin != "none" {
                t.login(&s, cryptoki::session::UserType::User, &env.pin(&pin)?)?;
                o.insert("keys".into(), t.list_keys(&s)?.len().to_string());
            }
            Ok(o)
        }
        Action::TokenListKeys { pin } => {
            let s = t.user_session(&env.pin(&pin)?)?;
            let mut keys = Vec::new();
            for k in t.list_keys(&s)? {
                w.handles.insert(k.id.clone(), k.private);
                let nb = k.cert.as_deref().and_then(|c| crate::pki::summary(c).ok());
                keys.push((k, nb));
            }
            keys.sort_by_key(|(k, s)| (s.as_ref().map_or(0, |s| s.not_before), !k.alg.is_gost()));
            let mut o = Outputs::new();
            o.insert("count".into(), keys.len().to_string());
            for (i, (k, s)) in keys.iter().enumerate() {
                let n = i + 1;
                o.insert(format!("key.{n}.id"), hex::encode(&k.id));
                o.insert(format!("key.{n}.algorithm"), k.alg.tumar_name().into());
                o.insert(format!("key.{n}.label"), k.label.clone());
                if let Some(s) = s {
                    o.insert(format!("key.{n}.created"), date_ru(s.not_before));
                    o.insert(
                        format!("key.{n}.days_left"),
                        days_left(env.now, s.not_after).to_string(),
                    );
                }
                // Newest last: the bold ones in Tumar's list.
                o.insert(format!("newest.{}.id", k.alg.name()), hex::encode(&k.id));
                o.entry(format!("oldest.{}.id", k.alg.name()))
                    .or_insert_with(|| hex::encode(&k.id));
            }
            Ok(o)
        }
        Action::TokenDeleteKey { key, pin } => {
            let id = hex::decode(&key).map_err(|e| bad(format!("key {key:?}: {e}")))?;
            let s = t.session(true)?;
            if pin == "none" {
                // Without the PIN the private key is invisible; try the
                // handle the configurator saw when it listed the keys.
                let h = *w
                    .handles
                    .get(&id)
                    .ok_or_else(|| refuse("key_not_found", "list the keys first"))?;
                t.destroy_handle(&s, h)?;
                let mut o = Outputs::new();
                o.insert("deleted".into(), "1".into());
                return Ok(o);
            }
            t.login(&s, cryptoki::session::UserType::User, &env.pin(&pin)?)?;
            let n = t.destroy_key(&s, &id)?;
            w.handles.remove(&id);
            let mut o = Outputs::new();
            o.insert("deleted".into(), n.to_string());
            Ok(o)
        }
        Action::TokenUnlock {} => {
            t.init_user_pin(&env.so_pin, &env.user_pin)?;
            let mut o = Outputs::new();
            o.insert("pin_state".into(), t.user_pin_state()?.into());
            Ok(o)
        }
        Action::TokenExportCertificate { key, file } => {
            let id = hex::decode(&key).map_err(|e| bad(format!("key {key:?}: {e}")))?;
            let s = t.session(false)?;
            let der = t
                .certificates(&s)?
                .into_iter()
                .find(|(i, _)| *i == id)
                .map(|(_, d)| d)
                .ok_or_else(|| {
                    refuse(
                        "no_certificate",
                        format!("no certificate with CKA_ID {key}"),
                    )
                })?;
            let (cer, pem) = artifacts::export_certificate(&env.out_dir, &file, &der)?;
            w.artifacts.push(cer.clone());
            w.artifacts.push(pem.clone());
            let sum = crate::pki::summary(&der).map_err(|e| refuse("ca", e.to_string()))?;
            let mut o = Outputs::new();
            o.insert("der".into(), cer);
            o.insert("pem".into(), pem);
            o.insert("algorithm".into(), sum.alg.name().into());
            o.insert("serial".into(), sum.serial);
            Ok(o)
        }
        Action::CaLogin { select, pin } => {
            let pin = env.pin(&pin)?;
            w.kisc.login(env, &select, &pin)
        }
        Action::CaRequest {
            device,
            algorithm,
            pin,
            days,
            install,
        } => {
            let pin = env.pin(&pin)?;
            let subject = w.subject.clone();
            w.kisc
                .request(env, &device, algorithm, &pin, days, install, Some(&subject))
        }
        Action::CaInstallAll { pin } => {
            let pin = env.pin(&pin)?;
            w.kisc.install_all(env, &pin)
        }
        Action::CaApplication { file } => {
            let mut lines = vec![
                format!("Заявитель: {}", w.subject),
                format!("Дата: {}", date_ru(env.now)),
                "Прошу выпустить регистрационные свидетельства для следующих ключей:".to_string(),
            ];
            for i in &w.kisc.issued {
                let s = crate::pki::summary(&i.der).map_err(|e| refuse("ca", e.to_string()))?;
                lines.push(format!(
                    "{}: серийный номер {}, действителен с {} по {}",
                    i.alg.tumar_name(),
                    s.serial,
                    date_ru(s.not_before),
                    date_ru(s.not_after)
                ));
            }
            lines.push("Подпись клиента: ____________".into());
            let path = artifacts::out_path(&env.out_dir, &file)?;
            artifacts::write_pdf(
                &path,
                "Заявление на выпуск регистрационного свидетельства",
                &lines,
                civil(env.now),
            )?;
            w.artifacts.push(file.clone());
            let mut o = Outputs::new();
            o.insert("file".into(), file);
            o.insert("certificates".into(), w.kisc.issued.len().to_string());
            Ok(o)
        }
        Action::CaMailbox {} => {
            let mut o = Outputs::new();
            o.insert("emails".into(), w.kisc.emails.len().to_string());
            o.insert(
                "last_email".into(),
                w.kisc.emails.last().cloned().unwrap_or_default(),
            );
            o.insert("process_log".into(), w.kisc.process_log.join("; "));
            Ok(o)
        }
        Action::ArtifactZip { file, files } => {
            artifacts::zip_files(&env.out_dir, &file, &files, civil(env.now))?;
            w.artifacts.push(file.clone());
            let mut o = Outputs::new();
            o.insert("file".into(), file);
            o.insert("entries".into(), files.len().to_string());
            Ok(o)
        }
        Action::BankNotice { select } => {
            let s = t.session(false)?;
            let list = certificate_list(t, &s)?;
            let c = choose(&list, &select)?;
            let left = days_left(env.now, c.summary.not_after);
            let notice = if env.now > c.summary.not_after {
                "expired"
            } else if left <= 30 {
                "expiring"
            } else {
                "none"
            };
            let mut o = Outputs::new();
            o.insert("days_left".into(), left.to_string());
            o.insert("notice".into(), notice.into());
            o.insert("not_after".into(), date_ru(c.summary.not_after));
            Ok(o)
        }
        Action::BsLogin { pin } => {
            let pin = env.pin(&pin)?;
            w.bs.login(env, &mut w.kisc, &pin)
        }
        Action::BsProfile {} => w.bs.profile(env),
        Action::BsNewKeySet { algorithm, pin } => {
            let pin = env.pin(&pin)?;
            w.bs.new_key_set(env, &mut w.kisc, algorithm, &pin)
        }
        Action::BsSendRequest { pin } => {
            let pin = env.pin(&pin)?;
            w.bs.send_request(env, &mut w.kisc, &pin)
        }
        Action::BsBankProcess { decision, reason } => {
            w.bs.bank_process(env, &mut w.kisc, &decision, &reason)
        }
        Action::BsBankMarkUnplanned { reason } => w.bs.mark_unplanned(&reason),
        Action::BsReload {} => w.bs.reload(env),
        Action::BsShowRefusal {} => w.bs.show_refusal(),
        Action::BsReceiveCertificate { pin } => {
            let pin = env.pin(&pin)?;
            w.bs.receive_certificate(env, &pin)
        }
        Action::BsContinue {} => w.bs.continue_(env),
        Action::KzLogin { password } => w.kz.login(env, &password),
        Action::KzOtp { code } => w.kz.enter_otp(&code),
        Action::KzInstallPlugin { language } => w.kz.install_plugin(&language),
        Action::KzChangePassword {} => w.kz.change_password(),
        Action::KzConfirmPlugin {} => w.kz.confirm_plugin(),
        Action::KzContactCentre {} => w.kz.contact_centre(env),
        Action::KzSignDocument {
            document,
            algorithm,
            pin,
            pull_token_before_sign,
        } => {
            let pin = env.pin(&pin)?;
            w.kz.sign_document(
                env,
                &w.kisc,
                &document,
                algorithm,
                &pin,
                pull_token_before_sign,
            )
        }
        Action::VtbLogin { pin, select } => {
            let pin = env.pin(&pin)?;
            w.vtb.login(env, &mut w.kisc, &pin, &select)
        }
        Action::VtbNotifySupport {} => w.vtb.notify_support(),
        Action::VtbBranchApplication {} => w.vtb.branch_application(),
        Action::VtbReprovision { algorithms } => {
            let subject = w.subject.clone();
            w.vtb.reprovision(env, &mut w.kisc, &algorithms, &subject)
        }
    }
}
