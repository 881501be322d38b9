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

use std::collections::HashMap;
use std::io::Write;
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
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FaultFile::default()),
            Err(e) => return Err(format!("cannot read fault file {}: {e}", path.display())),
        };
        let file: FaultFile = toml::from_str(&text).map_err(|e| {
            format!(
                "fault file {}: {e} (fix or delete that file)",
                path.display()
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

/// The call trace sink.
#[derive(Debug)]
pub(crate) struct Trace {
    file: Mutex<std::fs::File>,
}

impl Trace {
    /// The trace named by `TOKENEMU_TRACE`, if any.
    pub(crate) fn from_env() -> Result<Option<Trace>> {
        let Some(path) = std::env::var_os(TRACE_ENV).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| {
                Error::Config(format!(
                    "cannot open trace file {}: {e}",
                    std::path::Path::new(&path).display()
                ))
            })?;
        Ok(Some(Trace {
            file: Mutex::new(file),
        }))
    }

    pub(crate) fn record(
        &self,
        function: &str,
        args: serde_json::Value,
        rv: CK_RV,
        took: Duration,
    ) {
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
        let mut f = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // One write per line, so lines from several processes do not interleave.
        let _ = f.write_all(format!("{line}\n").as_bytes());
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
