//! `tokenemu list`: load a PKCS#11 module through `cryptoki` (the way an
//! application does) and print what it reports.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::MechanismInfo;
use cryptoki::slot::{Limit, Slot, TokenInfo};
use serde::Serialize;
use tokenemu_core::ck::CK_MECHANISM_TYPE;
use tokenemu_core::names;

use crate::cli::ListArgs;
use crate::p11::raw::Raw;

/// The environment variable naming the module when none sits next to the
/// executable.
pub const MODULE_ENV: &str = "TOKENEMU_MODULE";

/// The module file name the cdylib builds to.
pub const MODULE_FILE: &str = "libtokenemu.so";

/// Finds the module: `--module`, else `libtokenemu.so` next to this
/// executable, else `$TOKENEMU_MODULE`.
pub fn module_path(explicit: Option<&Path>) -> Result<PathBuf> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    resolve_module(explicit, exe_dir, std::env::var_os(MODULE_ENV))
}

fn resolve_module(
    explicit: Option<&Path>,
    exe_dir: Option<PathBuf>,
    from_env: Option<std::ffi::OsString>,
) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.exists() {
            bail!("PKCS#11 module {} does not exist", p.display());
        }
        return Ok(p.to_path_buf());
    }
    if let Some(p) = from_env.filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        if !p.exists() {
            bail!(
                "PKCS#11 module {} (from {MODULE_ENV}) does not exist",
                p.display()
            );
        }
        return Ok(p);
    }
    if let Some(p) = exe_dir.as_ref().map(|d| d.join(MODULE_FILE)) {
        if p.exists() {
            return Ok(p);
        }
    }
    Err(anyhow!(
        "no PKCS#11 module found: {MODULE_FILE} is not in {} and {MODULE_ENV} is not set; \
         run `cargo build -p tokenemu-pkcs11` (or pass --module PATH)",
        exe_dir.map_or_else(
            || "the executable's directory".into(),
            |d| d.display().to_string()
        )
    ))
}

#[derive(Debug, Serialize)]
struct Report {
    module: String,
    library: Library,
    slots: Vec<SlotReport>,
}

#[derive(Debug, Serialize)]
struct Library {
    cryptoki_version: String,
    manufacturer: String,
    description: String,
    version: String,
}

#[derive(Debug, Serialize)]
struct SlotReport {
    id: u64,
    description: String,
    manufacturer: String,
    present: bool,
    removable: bool,
    hardware: bool,
    hardware_version: String,
    firmware_version: String,
    token: Option<TokenReport>,
    /// Why the token info could not be read, if it could not.
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct TokenReport {
    label: String,
    manufacturer: String,
    model: String,
    serial: String,
    flags: Vec<&'static str>,
    min_pin_len: usize,
    max_pin_len: usize,
    sessions: String,
    max_sessions: String,
    rw_sessions: String,
    max_rw_sessions: String,
    public_memory: String,
    private_memory: String,
    hardware_version: String,
    firmware_version: String,
    mechanisms: Vec<MechReport>,
}

#[derive(Debug, Serialize)]
struct MechReport {
    name: String,
    value: CK_MECHANISM_TYPE,
    min_key: usize,
    max_key: usize,
    flags: Vec<&'static str>,
}

fn token_flags(t: &TokenInfo) -> Vec<&'static str> {
    [
        (t.rng(), "CKF_RNG"),
        (t.write_protected(), "CKF_WRITE_PROTECTED"),
        (t.login_required(), "CKF_LOGIN_REQUIRED"),
        (t.user_pin_initialized(), "CKF_USER_PIN_INITIALIZED"),
        (t.restore_key_not_needed(), "CKF_RESTORE_KEY_NOT_NEEDED"),
        (t.clock_on_token(), "CKF_CLOCK_ON_TOKEN"),
        (
            t.protected_authentication_path(),
            "CKF_PROTECTED_AUTHENTICATION_PATH",
        ),
        (t.dual_crypto_operations(), "CKF_DUAL_CRYPTO_OPERATIONS"),
        (t.token_initialized(), "CKF_TOKEN_INITIALIZED"),
        (t.secondary_authentication(), "CKF_SECONDARY_AUTHENTICATION"),
        (t.user_pin_count_low(), "CKF_USER_PIN_COUNT_LOW"),
        (t.user_pin_final_try(), "CKF_USER_PIN_FINAL_TRY"),
        (t.user_pin_locked(), "CKF_USER_PIN_LOCKED"),
        (t.user_pin_to_be_changed(), "CKF_USER_PIN_TO_BE_CHANGED"),
        (t.so_pin_count_low(), "CKF_SO_PIN_COUNT_LOW"),
        (t.so_pin_final_try(), "CKF_SO_PIN_FINAL_TRY"),
        (t.so_pin_locked(), "CKF_SO_PIN_LOCKED"),
        (t.so_pin_to_be_changed(), "CKF_SO_PIN_TO_BE_CHANGED"),
        (t.error_state(), "CKF_ERROR_STATE"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

fn mech_flags(m: &MechanismInfo) -> Vec<&'static str> {
    [
        (m.hardware(), "CKF_HW"),
        (m.encrypt(), "CKF_ENCRYPT"),
        (m.decrypt(), "CKF_DECRYPT"),
        (m.digest(), "CKF_DIGEST"),
        (m.sign(), "CKF_SIGN"),
        (m.sign_recover(), "CKF_SIGN_RECOVER"),
        (m.verify(), "CKF_VERIFY"),
        (m.verify_recover(), "CKF_VERIFY_RECOVER"),
        (m.generate(), "CKF_GENERATE"),
        (m.generate_key_pair(), "CKF_GENERATE_KEY_PAIR"),
        (m.wrap(), "CKF_WRAP"),
        (m.unwrap(), "CKF_UNWRAP"),
        (m.derive(), "CKF_DERIVE"),
        (m.ec_f_p(), "CKF_EC_F_P"),
        (m.ec_from_oid(), "CKF_EC_OID"), /* = CKF_EC_NAMEDCURVE */
        (m.ec_uncompressed(), "CKF_EC_UNCOMPRESS"),
        (m.ec_compressed(), "CKF_EC_COMPRESS"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

fn limit(l: Limit) -> String {
    match l {
        Limit::Max(n) => n.to_string(),
        Limit::Unavailable => "unavailable".into(),
        Limit::Infinite => "unlimited".into(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "unavailable".into(), |v| v.to_string())
}

fn memory(free: Option<usize>, total: Option<usize>) -> String {
    format!("{} free of {}", opt(free), opt(total))
}

fn token_report(p: &Pkcs11, raw: &Raw, slot: Slot) -> Result<TokenReport> {
    let t = p.get_token_info(slot).context("C_GetTokenInfo")?;
    // cryptoki drops mechanisms it has no name for (the GOST ones), so the
    // list and the info come through the raw C API of the same library.
    let mut mechanisms = Vec::new();
    let slot_id = slot.id();
    for value in raw.mechanisms(slot_id).map_err(|e| anyhow!("{e}"))? {
        let name = names::mechanism_name(value);
        let info = MechanismInfo::from(
            raw.mechanism_info(slot_id, value)
                .map_err(|e| anyhow!("C_GetMechanismInfo({name}): {e}"))?,
        );
        mechanisms.push(MechReport {
            name,
            value,
            min_key: info.min_key_size(),
            max_key: info.max_key_size(),
            flags: mech_flags(&info),
        });
    }
    Ok(TokenReport {
        label: t.label().to_owned(),
        manufacturer: t.manufacturer_id().to_owned(),
        model: t.model().to_owned(),
        serial: t.serial_number().to_owned(),
        flags: token_flags(&t),
        min_pin_len: t.min_pin_length(),
        max_pin_len: t.max_pin_length(),
        sessions: opt(t.session_count()),
        max_sessions: limit(t.max_session_count()),
        rw_sessions: opt(t.rw_session_count()),
        max_rw_sessions: limit(t.max_rw_session_count()),
        public_memory: memory(t.free_public_memory(), t.total_public_memory()),
        private_memory: memory(t.free_private_memory(), t.total_private_memory()),
        hardware_version: t.hardware_version().to_string(),
        firmware_version: t.firmware_version().to_string(),
        mechanisms,
    })
}

fn collect(module: &Path) -> Result<Report> {
    let shown = module.display();
    let p = Pkcs11::new(module).with_context(|| format!("loading PKCS#11 module {shown}"))?;
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .with_context(|| format!("{shown}: C_Initialize"))?;
    let raw = Raw::load(module).map_err(|e| anyhow!("{shown}: {e}"))?;
    let info = p
        .get_library_info()
        .with_context(|| format!("{shown}: C_GetInfo"))?;
    let library = Library {
        cryptoki_version: info.cryptoki_version().to_string(),
        manufacturer: info.manufacturer_id().to_owned(),
        description: info.library_description().to_owned(),
        version: info.library_version().to_string(),
    };
    let mut slots = Vec::new();
    for slot in p
        .get_all_slots()
        .with_context(|| format!("{shown}: C_GetSlotList"))?
    {
        let si = p
            .get_slot_info(slot)
            .with_context(|| format!("{shown}: C_GetSlotInfo({})", slot.id()))?;
        let (token, error) = if si.token_present() {
            match token_report(&p, &raw, slot) {
                Ok(t) => (Some(t), None),
                Err(e) => (None, Some(format!("{e:#}"))),
            }
        } else {
            (None, None)
        };
        slots.push(SlotReport {
            id: slot.id(),
            description: si.slot_description().to_owned(),
            manufacturer: si.manufacturer_id().to_owned(),
            present: si.token_present(),
            removable: si.removable_device(),
            hardware: si.hardware_slot(),
            hardware_version: si.hardware_version().to_string(),
            firmware_version: si.firmware_version().to_string(),
            token,
            error,
        });
    }
    p.finalize()
        .with_context(|| format!("{shown}: C_Finalize"))?;
    Ok(Report {
        module: shown.to_string(),
        library,
        slots,
    })
}

/// Runs `tokenemu list`.
pub fn run(args: &ListArgs) -> Result<()> {
    let module = module_path(args.module.as_deref())?;
    let r = collect(&module)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    outln!("module       {}", r.module);
    outln!(
        "library      {} {} ({}), Cryptoki {}",
        r.library.description,
        r.library.version,
        r.library.manufacturer,
        r.library.cryptoki_version
    );
    outln!("slots        {}", r.slots.len());
    for s in &r.slots {
        outln!();
        let mut kind = Vec::new();
        if s.removable {
            kind.push("removable");
        }
        if s.hardware {
            kind.push("hardware");
        }
        outln!(
            "slot {}: {} ({}) [{}]",
            s.id,
            s.description,
            s.manufacturer,
            kind.join(", ")
        );
        outln!("  token present  {}", if s.present { "yes" } else { "no" });
        if let Some(e) = &s.error {
            outln!("  error          {e}");
        }
        let Some(t) = &s.token else { continue };
        outln!("  label          {}", t.label);
        outln!("  manufacturer   {}", t.manufacturer);
        outln!("  model          {}", t.model);
        outln!("  serial         {}", t.serial);
        outln!(
            "  hw/fw version  {} / {}",
            t.hardware_version,
            t.firmware_version
        );
        outln!("  flags          {}", t.flags.join(" "));
        outln!("  PIN length     {}..{}", t.min_pin_len, t.max_pin_len);
        outln!(
            "  sessions       {} open (max {}), {} read-write (max {})",
            t.sessions,
            t.max_sessions,
            t.rw_sessions,
            t.max_rw_sessions
        );
        outln!("  public memory  {} bytes", t.public_memory);
        outln!("  private memory {} bytes", t.private_memory);
        outln!("  mechanisms     {}", t.mechanisms.len());
        let width = t.mechanisms.iter().map(|m| m.name.len()).max().unwrap_or(0);
        for m in &t.mechanisms {
            let keys = if m.min_key == 0 && m.max_key == 0 {
                String::new()
            } else {
                format!("keys {}..{}", m.min_key, m.max_key)
            };
            outln!("    {:<width$}  {keys:<16} {}", m.name, m.flags.join(" "));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_comes_from_the_option_then_the_environment_then_next_to_the_executable() {
        let dir = tempfile::tempdir().unwrap();
        let exe_dir = dir.path().join("bin");
        std::fs::create_dir(&exe_dir).unwrap();
        let e = resolve_module(None, Some(exe_dir.clone()), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cargo build -p tokenemu-pkcs11"), "{e}");
        assert!(e.contains(MODULE_ENV), "{e}");
        let other = dir.path().join("other.so");
        std::fs::write(&other, b"").unwrap();
        let got = resolve_module(None, Some(exe_dir.clone()), Some(other.clone().into())).unwrap();
        assert_eq!(got, other);
        let e = resolve_module(None, Some(exe_dir.clone()), Some("/no/such.so".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such.so") && e.contains(MODULE_ENV), "{e}");
        let sibling = exe_dir.join(MODULE_FILE);
        std::fs::write(&sibling, b"").unwrap();
        // An explicit TOKENEMU_MODULE wins over the module next to the binary.
        let got = resolve_module(None, Some(exe_dir.clone()), Some(other.clone().into())).unwrap();
        assert_eq!(got, other);
        let got = resolve_module(None, Some(exe_dir.clone()), None).unwrap();
        assert_eq!(got, sibling);
        let got = resolve_module(Some(&other), Some(exe_dir), None).unwrap();
        assert_eq!(got, other);
        let e = resolve_module(Some(Path::new("/no/such.so")), None, None).unwrap_err();
        assert!(e.to_string().contains("/no/such.so"));
    }
}
