//! What happens around every call, for QA: a structured call trace, injected
//! faults, and a latency model that makes the emulator as slow as the token
//! it plays.
//!
//! - **Trace**: with `TOKENEMU_TRACE=/path/file.jsonl` every call is appended
//!   as one JSON line: time, process, function, arguments and return value.
//!   PINs, data, signatures and secret attribute values never appear: only
//!   their lengths. `tokenemu trace FILE` prints it readably.
//! - **Faults** (per slot, from the configuration's `[[slot.fault]]` tables):
//!   return a chosen `CK_RV`, or pull the token out, on the Nth call of a
//!   function, on every Nth call, or at random with a seeded generator, so a
//!   run is reproducible.
//! - **Latency** (per slot, `latency = true`): each call sleeps as long as the
//!   profile's `[latency]` table says the real token takes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ck::*;
use crate::error::{Error, Result};

/// The environment variable naming the trace file.
pub const TRACE_ENV: &str = "TOKENEMU_TRACE";

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Return the rule's `rv`.
    #[default]
    Fail,
    /// Pull the token out of its slot (as `tokenemu token unplug` does), then
    /// return `CKR_DEVICE_REMOVED`.
    Unplug,
}

/// One fault rule of a slot (`[[slot.fault]]`, or `[[fault]]` in a slot's fault file).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The C function (`"C_Sign"`), or `"*"` for every function.
    pub function: String,
    /// The return value, by name (`"CKR_DEVICE_ERROR"`); default `CKR_DEVICE_ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rv: Option<String>,
    /// What to do.
    #[serde(default)]
    pub action: FaultAction,
    /// Fire on this call of the function (1 = the first), once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// Fire on every Nth call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Fire with this probability (0..=1), drawn from the slot's seeded generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

/// The name of a slot's fault file, in its store directory.
pub const FAULT_FILE: &str = "faults.toml";

/// A slot's fault file (`<store>/faults.toml`), written by `tokenemu token
/// fault`: the same rules as the configuration's `[[slot.fault]]` tables, and
/// optionally a seed. The module reads it when it starts (`C_Initialize`) and
/// adds its rules after the configuration's; its seed, if given, replaces the
/// configuration's `fault_seed`.
///
/// ```toml
/// seed = 42
/// [[fault]]
/// function = "C_Sign"
/// rv = "CKR_DEVICE_ERROR"
/// nth = 3
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    /// Seed of the random (`probability`) faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The rules, in the order they are tried.
    #[serde(default)]
    pub fault: Vec<FaultRule>,
}

impl FaultFile {
    /// Where the fault file of the store in `store_dir` lives.
    pub fn path(store_dir: &std::path::Path) -> std::path::PathBuf {
        store_dir.join(FAULT_FILE)
    }

    /// Reads and checks the fault file of a store; no file means no faults.
    pub fn load(store_dir: &std::path::Path) -> std::result::Result<FaultFile, String> {
        let path = Self::path(store_dir);
        if !path.exists() {
            return Ok(FaultFile::default());
        }
        let text = crate::util::read_toml_text(&path, "fault file")
            .map_err(|e| format!("{e} (fix or delete that file)"))?;
        let file: FaultFile = toml::from_str(&text).map_err(|e| {
            format!(
                "fault file {}: {} (fix or delete that file)",
                path.display(),
                crate::util::toml_error(&text, &e)
            )
        })?;
        for r in &file.fault {
            r.validate()
                .map_err(|e| format!("fault file {}: {e}", path.display()))?;
        }
        Ok(file)
    }

    /// Writes the file atomically (a reader sees the old or the new rules,
    /// never half a file); no rules and no seed removes it.
    pub fn save(&self, store_dir: &std::path::Path) -> std::result::Result<(), String> {
        let path = Self::path(store_dir);
        if *self == FaultFile::default() {
            return match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
            };
        }
        for r in &self.fault {
            r.validate()?;
        }
        let text = toml::to_string(self).map_err(|e| format!("fault file: {e}"))?;
        std::fs::create_dir_all(store_dir)
            .map_err(|e| format!("cannot create {}: {e}", store_dir.display()))?;
        let tmp = store_dir.join(format!(".{FAULT_FILE}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

impl FaultRule {
    /// Checks the rule and resolves its return value.
    pub fn validate(&self) -> std::result::Result<CK_RV, String> {
        let rv = match &self.rv {
            None => CKR_DEVICE_ERROR,
            Some(name) => crate::names::value_of(name)
                .filter(|_| name.starts_with("CKR_") || name.starts_with("0x"))
                .ok_or_else(|| format!("fault rv {name} is not a CKR_ name"))?,
        };
        let triggers = [
            self.nth.is_some(),
            self.every.is_some(),
            self.probability.is_some(),
        ];
        if triggers.iter().filter(|t| **t).count() != 1 {
            return Err(format!(
                "fault on {}: give exactly one of nth, every, probability",
                self.function
            ));
        }
        if self.nth == Some(0) || self.every == Some(0) {
            return Err(format!(
                "fault on {}: nth and every count from 1",
                self.function
            ));
        }
        if self.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
            return Err(format!(
                "fault on {}: probability must be within 0..=1",
                self.function
            ));
        }
        if !(self.function == "*" || self.function.starts_with("C_")) {
            return Err(format!(
                "fault function {} is not a C_ function name or *",
                self.function
            ));
        }
        Ok(rv)
    }
}

/// The milliseconds a real token takes, per kind of call (profile `[latency]`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyProfile {
    /// Any call not listed below.
    pub default_ms: u64,
    /// `C_Login`.
    pub login_ms: u64,
    /// Private-key operations: `C_Sign`, `C_SignFinal`, `C_Decrypt`.
    pub private_key_ms: u64,
    /// `C_GenerateKeyPair`.
    pub keygen_ms: u64,
    /// Writes: `C_CreateObject`, `C_DestroyObject`, `C_SetAttributeValue`, `C_CopyObject`.
    pub write_ms: u64,
}

impl LatencyProfile {
    fn for_function(&self, f: &str) -> u64 {
        match f {
            "C_Login" => self.login_ms,
            "C_Sign" | "C_SignFinal" | "C_Decrypt" | "C_DecryptFinal" => self.private_key_ms,
            "C_GenerateKeyPair" => self.keygen_ms,
            "C_CreateObject" | "C_DestroyObject" | "C_SetAttributeValue" | "C_CopyObject" => {
                self.write_ms
            }
            _ => self.default_ms,
        }
    }
}

/// A slot's faults and counters.
#[derive(Debug)]
pub(crate) struct SlotFaults {
    rules: Vec<(FaultRule, CK_RV)>,
    state: Mutex<FaultState>,
}

#[derive(Debug)]
struct FaultState {
    calls: HashMap<String, u64>,
    rng: u64,
}

/// What a fired fault asks the caller to do.
pub(crate) enum Fired {
    Fail(CK_RV),
    Unplug,
}

impl SlotFaults {
    pub(crate) fn new(rules: Vec<FaultRule>, seed: u64) -> std::result::Result<Self, String> {
        let rules = rules
            .into_iter()
            .map(|r| r.validate().map(|rv| (r, rv)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(SlotFaults {
            rules,
            state: Mutex::new(FaultState {
                calls: HashMap::new(),
                rng: seed | 1,
            }),
        })
    }

    /// Counts the call and returns the first rule that fires.
    pub(crate) fn check(&self, function: &str) -> Option<Fired> {
        if self.rules.is_empty() {
            return None;
        }
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = {
            let c = st.calls.entry(function.to_owned()).or_insert(0);
            *c += 1;
            *c
        };
        for (rule, rv) in &self.rules {
            if rule.function != "*" && rule.function != function {
                continue;
            }
            let fire = match (rule.nth, rule.every, rule.probability) {
                (Some(k), _, _) => n == k,
                (_, Some(k), _) => n % k == 0,
                (_, _, Some(p)) => next_unit(&mut st.rng) < p,
                _ => false,
            };
            if fire {
                return Some(match rule.action {
                    FaultAction::Fail => Fired::Fail(*rv),
                    FaultAction::Unplug => Fired::Unplug,
                });
            }
        }
        None
    }
}

/// xorshift64*: a small, seedable generator; fault draws must be reproducible,
/// not unpredictable.
fn next_unit(state: &mut u64) -> f64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

// ---- the call trace ------------------------------------------------------------
//
// One sink per process, not per module: calls made before `C_Initialize` or
// after `C_Finalize` are traced too. `TOKENEMU_TRACE` is looked up at the first
// traced call and again whenever a module is built (`C_Initialize`, or a
// direct `Module::new`), so a process may point it at a new file between runs.
// With no trace, the cost per call is one atomic load and a branch.

const TRACE_UNRESOLVED: u8 = 0;
const TRACE_OFF: u8 = 1;
const TRACE_ON: u8 = 2;
static TRACE_STATE: AtomicU8 = AtomicU8::new(TRACE_UNRESOLVED);
static TRACE_FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Whether calls are being traced.
#[inline]
pub fn tracing() -> bool {
    match TRACE_STATE.load(Ordering::Acquire) {
        TRACE_OFF => false,
        TRACE_ON => true,
        _ => resolve_trace_lazily(),
    }
}

#[cold]
fn resolve_trace_lazily() -> bool {
    // A file that cannot be opened here is not reported here: building the
    // module (`C_Initialize`) opens it again and fails with the reason, once.
    let _ = reopen_trace();
    TRACE_STATE.load(Ordering::Acquire) == TRACE_ON
}

fn trace_file() -> std::sync::MutexGuard<'static, Option<std::fs::File>> {
    TRACE_FILE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// (Re)opens the trace file `TOKENEMU_TRACE` names now, or stops tracing if
/// it is unset. The file is opened anew even when the name is unchanged: a
/// run that deleted the old file gets a new one, not writes into the
/// unlinked inode.
pub fn reopen_trace() -> Result<()> {
    let mut file = trace_file();
    let Some(path) = std::env::var_os(TRACE_ENV).filter(|p| !p.is_empty()) else {
        *file = None;
        TRACE_STATE.store(TRACE_OFF, Ordering::Release);
        return Ok(());
    };
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(f) => {
            *file = Some(f);
            TRACE_STATE.store(TRACE_ON, Ordering::Release);
            Ok(())
        }
        Err(e) => {
            *file = None;
            TRACE_STATE.store(TRACE_OFF, Ordering::Release);
            Err(Error::Config(format!(
                "cannot open trace file {} ({TRACE_ENV}): {e}",
                std::path::Path::new(&path).display()
            )))
        }
    }
}

/// Appends one call to the trace, if there is one.
fn record(function: &str, args: serde_json::Value, rv: CK_RV, took: Duration) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let line = serde_json::json!({
        "ts_us": ts,
        "pid": std::process::id(),
        "thread": format!("{:?}", std::thread::current().id()),
        "function": function,
        "args": args,
        "rv": crate::names::rv_name(rv),
        "us": took.as_micros(),
    });
    if let Some(f) = trace_file().as_mut() {
        // One write per line, so lines from several processes do not interleave.
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

thread_local! {
    /// The arguments the core decoded (templates, mechanism names, PIN
    /// lengths) for the C call this thread is in, if the C boundary is
    /// tracing one.
    static CALL_ARGS: RefCell<Option<serde_json::Map<String, serde_json::Value>>> =
        const { RefCell::new(None) };
}

/// One C call being traced. The C boundary begins it before the call and
/// finishes it after, with the `CK_RV` the caller gets, so every exported
/// function writes exactly one line, whether or not it reached the core.
#[derive(Debug)]
pub struct TracedCall {
    start: Instant,
}

impl TracedCall {
    /// Starts a traced call, if calls are traced.
    #[inline]
    pub fn begin() -> Option<TracedCall> {
        tracing().then(Self::begin_always)
    }

    /// Starts the clock whether or not calls are traced yet: for
    /// `C_Initialize`, which may open the trace file itself.
    pub fn begin_always() -> TracedCall {
        CALL_ARGS.with(|a| *a.borrow_mut() = Some(serde_json::Map::new()));
        TracedCall {
            start: Instant::now(),
        }
    }

    /// Writes the call's line: `args` are the raw arguments the boundary saw
    /// (an object; built only now), joined by what the core decoded.
    pub fn finish(self, function: &str, args: impl FnOnce() -> serde_json::Value, rv: CK_RV) {
        let decoded = CALL_ARGS.with(|a| a.borrow_mut().take());
        if !tracing() {
            return;
        }
        let mut all = match args() {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        // The raw value wins where both name one (C_GenerateRandom's core
        // calls see 64 KiB chunks, the caller asked for the whole length).
        for (k, v) in decoded.unwrap_or_default() {
            all.entry(k).or_insert(v);
        }
        record(
            function,
            serde_json::Value::Object(all),
            rv,
            self.start.elapsed(),
        );
    }
}

/// A core call is done (`ModuleState::hooked`): inside a traced C call its
/// arguments join that call's line; a direct user of `Module` (the `tokenemu
/// token` commands) gets a line of its own.
pub(crate) fn core_call_traced(function: &str, args: serde_json::Value, rv: CK_RV, took: Duration) {
    let args = CALL_ARGS.with(|a| match (a.borrow_mut().as_mut(), args) {
        (Some(call), serde_json::Value::Object(m)) => {
            call.extend(m);
            None
        }
        (_, args) => Some(args),
    });
    if let Some(args) = args {
        record(function, args, rv, took);
    }
}

/// When a call started, for the trace and the latency model.
pub(crate) struct CallClock(Instant);

impl CallClock {
    pub(crate) fn start() -> Self {
        CallClock(Instant::now())
    }
    pub(crate) fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Sleeps until the call has taken as long as the token would.
pub(crate) fn apply_latency(lat: &LatencyProfile, function: &str, clock: &CallClock) {
    let want = Duration::from_millis(lat.for_function(function));
    if let Some(rest) = want.checked_sub(clock.elapsed()) {
        std::thread::sleep(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(f: &str, nth: Option<u64>, every: Option<u64>, p: Option<f64>) -> FaultRule {
        FaultRule {
            function: f.into(),
            rv: Some("CKR_DEVICE_MEMORY".into()),
            action: FaultAction::Fail,
            nth,
            every,
            probability: p,
        }
    }

    #[test]
    fn nth_every_and_seeded_probability() {
        let f = SlotFaults::new(vec![rule("C_Sign", Some(3), None, None)], 1).unwrap();
        let fired: Vec<bool> = (0..5).map(|_| f.check("C_Sign").is_some()).collect();
        assert_eq!(fired, [false, false, true, false, false]);
        assert!(f.check("C_Login").is_none());
        let f = SlotFaults::new(vec![rule("*", None, Some(2), None)], 1).unwrap();
        assert!(f.check("C_Login").is_none() && f.check("C_Login").is_some());
        let draws = |seed| {
            let f = SlotFaults::new(vec![rule("C_Sign", None, None, Some(0.5))], seed).unwrap();
            (0..64)
                .map(|_| f.check("C_Sign").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7), "same seed, same faults");
        assert_ne!(draws(7), draws(8));
        let hits = draws(7).iter().filter(|b| **b).count();
        assert!((16..=48).contains(&hits), "{hits}");
    }

    #[test]
    fn fault_file_round_trips_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(FaultFile::load(dir.path()).unwrap(), FaultFile::default());
        let file = FaultFile {
            seed: Some(9),
            fault: vec![
                rule("C_Sign", Some(3), None, None),
                rule("*", None, None, Some(0.25)),
            ],
        };
        file.save(dir.path()).unwrap();
        assert_eq!(FaultFile::load(dir.path()).unwrap(), file);
        // Emptied, the file goes away.
        FaultFile::default().save(dir.path()).unwrap();
        assert!(!FaultFile::path(dir.path()).exists());
        std::fs::write(
            FaultFile::path(dir.path()),
            "[[fault]]\nfunction = \"C_Sign\"\n",
        )
        .unwrap();
        let e = FaultFile::load(dir.path()).unwrap_err();
        assert!(
            e.contains("faults.toml") && e.contains("exactly one"),
            "{e}"
        );
        std::fs::write(FaultFile::path(dir.path()), "[[fault]]\nfunktion = 1\n").unwrap();
        let e = FaultFile::load(dir.path()).unwrap_err();
        assert!(e.contains("faults.toml") && e.contains("funktion"), "{e}");
        let mut bad = file.clone();
        bad.fault[0].rv = Some("CKR_NO_SUCH".into());
        assert!(bad.save(dir.path()).unwrap_err().contains("CKR_NO_SUCH"));
    }

    #[test]
    fn bad_rules_are_named() {
        assert!(SlotFaults::new(vec![rule("C_Sign", None, None, None)], 1)
            .unwrap_err()
            .contains("exactly one"));
        assert!(SlotFaults::new(vec![rule("Sign", Some(1), None, None)], 1)
            .unwrap_err()
            .contains("not a C_"));
        let mut r = rule("C_Sign", Some(1), None, None);
        r.rv = Some("CKA_LABEL".into());
        assert!(SlotFaults::new(vec![r], 1)
            .unwrap_err()
            .contains("CKA_LABEL"));
    }
}

/// What a call is about, so the hooks can find its slot.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A slot id.
    Slot(CK_SLOT_ID),
    /// A session handle.
    Session(CK_SESSION_HANDLE),
    /// A call that runs the session's operation of this kind (a single-part,
    /// update or final call, not its `*Init`): an injected failure ends that
    /// operation, as a real failure of the call would.
    Operation(CK_SESSION_HANDLE, crate::api::OpKind),
    /// `C_FindObjects`: an injected failure ends the search.
    Find(CK_SESSION_HANDLE),
}

/// The phase of a cryptographic operation, to name its C function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `C_*Init`.
    Init,
    /// Single-part call.
    Single,
    /// `C_*Update`.
    Update,
    /// `C_*Final`.
    Final,
}

/// The C function an operation call stands for.
pub fn op_name(kind: crate::api::OpKind, phase: Phase) -> &'static str {
    use crate::api::OpKind::*;
    use Phase::*;
    match (kind, phase) {
        (Encrypt, Init) => "C_EncryptInit",
        (Encrypt, Single) => "C_Encrypt",
        (Encrypt, Update) => "C_EncryptUpdate",
        (Encrypt, Final) => "C_EncryptFinal",
        (Decrypt, Init) => "C_DecryptInit",
        (Decrypt, Single) => "C_Decrypt",
        (Decrypt, Update) => "C_DecryptUpdate",
        (Decrypt, Final) => "C_DecryptFinal",
        (Digest, Init) => "C_DigestInit",
        (Digest, Single) => "C_Digest",
        (Digest, Update) => "C_DigestUpdate",
        (Digest, Final) => "C_DigestFinal",
        (Sign, Init) => "C_SignInit",
        (Sign, Single) => "C_Sign",
        (Sign, Update) => "C_SignUpdate",
        (Sign, Final) => "C_SignFinal",
        (Verify, Init) => "C_VerifyInit",
        (Verify, Single) => "C_Verify",
        (Verify, Update) => "C_VerifyUpdate",
        (Verify, Final) => "C_VerifyFinal",
        (SignRecover, Init) => "C_SignRecoverInit",
        (SignRecover, _) => "C_SignRecover",
        (VerifyRecover, Init) => "C_VerifyRecoverInit",
        (VerifyRecover, _) => "C_VerifyRecover",
    }
}

/// A PIN in the trace: its length only.
pub fn secret(v: &[u8]) -> serde_json::Value {
    serde_json::json!({ "redacted_len": v.len() })
}

/// An output buffer in the trace.
pub fn out_json(out: crate::api::OutSpec) -> serde_json::Value {
    match out {
        crate::api::OutSpec::Query => serde_json::json!("length query"),
        crate::api::OutSpec::Capacity(n) => serde_json::json!(n),
    }
}

/// Attributes whose values are safe and useful to show in a trace.
fn shown(ty: CK_ATTRIBUTE_TYPE) -> bool {
    use crate::object::attribute::{kind_of, AttrKind};
    matches!(kind_of(ty), AttrKind::Bool | AttrKind::Ulong)
        || matches!(
            ty,
            CKA_LABEL
                | CKA_ID
                | CKA_EC_PARAMS
                | CKA_GOSTR3410_PARAMS
                | CKA_GOSTR3411_PARAMS
                | CKA_APPLICATION
        )
}

/// A template in the trace: every attribute by name; values only for the
/// harmless ones (flags, classes, labels, ids, curve parameters), lengths
/// for the rest, so key material never reaches the trace.
pub fn template_json(t: &[crate::object::attribute::Attribute]) -> serde_json::Value {
    t.iter()
        .map(|a| {
            let name = crate::names::attribute_name(a.ty);
            if shown(a.ty) && a.value.len() <= 64 {
                serde_json::json!({ "type": name, "value": hex::encode(&a.value) })
            } else {
                serde_json::json!({ "type": name, "len": a.value.len() })
            }
        })
        .collect()
}
