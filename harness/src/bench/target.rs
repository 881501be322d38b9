//! One module under measurement: loading it, choosing its slots, logging
//! in, generating the keys the workloads sign with (session objects), and
//! filling its token with the data objects the FindObjects and login
//! workloads need.
//!
//! `emulator` means libtokenemu.so next to this executable with a temporary
//! `TOKENEMU_CONF`: slot 0 an eToken (RSA, ECDSA, SHA-256), slot 1 a JaCarta
//! GOST (GOST R 34.10-2012, Streebog), both fresh tokens in a temporary
//! directory (under `TMPDIR`) with the profiles' default PINs and no memory
//! or object limit. Any other module is used on
//! the one token chosen by --slot / --token-label, with the PIN from
//! --pin-env; it must already be initialised. Such a token goes through the
//! PIN pre-flight ([`crate::p11::preflight`]) first, and the bench's first
//! log-in (timed as the cold login) is the one try of its PIN: when the
//! token refuses it, nothing else runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use cryptoki_sys::*;
use serde::Serialize;
use zeroize::Zeroizing;

use super::args::{BenchArgs, EMULATOR};
use super::p11::{CallResult, Module};
use crate::p11::client::Template;
use crate::p11::preflight::{self, PinRole, SuppliedPin};
use crate::p11::SlotChoice;

/// A key the workloads sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA 2048, e = 65537.
    Rsa2048,
    /// ECDSA on P-256.
    P256,
    /// GOST R 34.10-2012 256-bit, CryptoPro-A.
    Gost256,
    /// GOST R 34.10-2012 512-bit, tc26-512-A.
    Gost512,
}

/// DER of the P-256 OID 1.2.840.10045.3.1.7.
const P256_DER: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

impl KeyKind {
    /// The key pair generation mechanism.
    pub fn keygen_mechanism(self) -> CK_MECHANISM_TYPE {
        match self {
            KeyKind::Rsa2048 => CKM_RSA_PKCS_KEY_PAIR_GEN,
            KeyKind::P256 => CKM_EC_KEY_PAIR_GEN,
            KeyKind::Gost256 => CKM_GOSTR3410_KEY_PAIR_GEN,
            KeyKind::Gost512 => crate::p11::tc26::CKM_GOSTR3410_512_KEY_PAIR_GEN,
        }
    }

    fn public_template(self) -> Template {
        let t = Template::new()
            .bool(CKA_TOKEN, false)
            .bool(CKA_VERIFY, true)
            .text(CKA_LABEL, "tokenemu-bench");
        match self {
            KeyKind::Rsa2048 => t
                .ulong(CKA_MODULUS_BITS, 2048)
                .bytes(CKA_PUBLIC_EXPONENT, &[1, 0, 1]),
            KeyKind::P256 => t.bytes(CKA_EC_PARAMS, P256_DER),
            KeyKind::Gost256 => t.bytes(CKA_GOSTR3410_PARAMS, crate::p11::CRYPTOPRO_A_DER),
            KeyKind::Gost512 => t.bytes(CKA_GOSTR3410_PARAMS, crate::p11::TC26_512_A_DER),
        }
    }

    fn private_template(self) -> Template {
        Template::new()
            .bool(CKA_TOKEN, false)
            .bool(CKA_PRIVATE, true)
            .bool(CKA_SENSITIVE, true)
            .bool(CKA_SIGN, true)
            .text(CKA_LABEL, "tokenemu-bench")
    }
}

/// A generated key pair.
#[derive(Debug, Clone, Copy)]
pub struct KeyPair {
    /// The slot it lives in.
    pub slot: CK_SLOT_ID,
    /// Public key handle.
    pub public: CK_OBJECT_HANDLE,
    /// Private key handle.
    pub private: CK_OBJECT_HANDLE,
}

/// One slot's token and what it offers.
#[derive(Debug, Clone, Serialize)]
pub struct SlotCaps {
    /// Slot id.
    pub id: CK_SLOT_ID,
    /// Token label.
    pub token_label: String,
    /// Mechanisms listed.
    #[serde(skip)]
    pub mechanisms: Vec<CK_MECHANISM_TYPE>,
}

/// How long filling the token took.
#[derive(Debug, Clone, Serialize)]
pub struct Fill {
    /// Objects on the token (created by the bench) after this fill.
    pub objects: usize,
    /// Objects created in this fill.
    pub created: usize,
    /// Seconds the C_CreateObject calls took.
    pub secs: f64,
}

/// A module under measurement.
pub struct Target {
    /// "A" or "B".
    pub label: &'static str,
    /// `emulator` or the module's file name.
    pub name: String,
    /// The loaded module.
    pub module: Module,
    /// C_GetInfo's library description and version.
    pub description: String,
    /// The slots used, in preference order.
    pub slots: Vec<SlotCaps>,
    pins: HashMap<CK_SLOT_ID, Zeroizing<Vec<u8>>>,
    sessions: HashMap<CK_SLOT_ID, CK_SESSION_HANDLE>,
    keys: HashMap<KeyKind, std::result::Result<KeyPair, String>>,
    /// The slot holding the data objects.
    pub objects_slot: CK_SLOT_ID,
    /// Data objects created so far.
    pub objects: usize,
    /// Each fill of the token.
    pub fills: Vec<Fill>,
    /// The first C_Initialize + C_OpenSession + C_Login of the process
    /// (cold: nothing cached), microseconds.
    pub cold_login_us: f64,
    /// CKA_APPLICATION of every data object this run creates.
    pub tag: String,
    /// Whether the tokens are temporary (the emulator's): nothing to clean up.
    pub temporary: bool,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({} {})", self.label, self.name)
    }
}

/// Profiles of the emulator's temporary slots: (slot id, profile).
const EMULATOR_SLOTS: &[(CK_SLOT_ID, &str)] = &[(0, "etoken"), (1, "jacarta-gost")];

/// Sets up every `--module` (A, then B). Must run before any other thread
/// starts: it sets `TOKENEMU_CONF` for the emulator.
pub fn setup_all(args: &BenchArgs) -> Result<Vec<Target>> {
    let specs: Vec<String> = if args.module.is_empty() {
        vec![EMULATOR.to_string()]
    } else {
        args.module.clone()
    };
    if specs.len() > 2 {
        bail!("at most two --module (A and B), got {}", specs.len());
    }
    if specs.iter().filter(|s| *s == EMULATOR).count() > 1 {
        bail!("`--module emulator` can be given once (both would share one TOKENEMU_CONF)");
    }
    let externals = specs.iter().filter(|s| *s != EMULATOR).count();
    for (opt, n) in [
        ("--slot", args.slot.len()),
        ("--token-label", args.token_label.len()),
        ("--pin-env", args.pin_env.len()),
    ] {
        if n > externals {
            bail!("{opt} given {n} times for {externals} non-emulator --module");
        }
    }
    if !args.slot.is_empty() && !args.token_label.is_empty() {
        bail!("give either --slot or --token-label, not both");
    }
    if externals == 0 && args.allow_low_pin_tries {
        bail!("--allow-low-pin-tries applies to a non-emulator --module (the emulator's tokens are temporary)");
    }
    // Set-up mistakes (a missing module, a PIN variable not set) are
    // reported before any module is loaded.
    let mut pins = Vec::new();
    for (k, spec) in specs.iter().filter(|s| *s != EMULATOR).enumerate() {
        if !PathBuf::from(spec).exists() {
            bail!("PKCS#11 module {spec} does not exist");
        }
        let var = args.pin_env.get(k).ok_or_else(|| {
            anyhow!(
                "{spec}: --pin-env VAR is needed (the environment variable holding the user PIN)"
            )
        })?;
        pins.push(preflight::pin_from_env(var, "--pin-env").with_context(|| spec.clone())?);
    }
    let tag = format!(
        "tokenemu-bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    let mut out = Vec::new();
    let mut ext_index = 0;
    for (i, spec) in specs.iter().enumerate() {
        let label = if i == 0 { "A" } else { "B" };
        let t = if spec == EMULATOR {
            emulator(label, &tag)?
        } else {
            let k = ext_index;
            ext_index += 1;
            external(label, spec, args, k, pins[k].clone(), &tag)?
        };
        out.push(t);
    }
    Ok(out)
}

fn emulator(label: &'static str, tag: &str) -> Result<Target> {
    let path = crate::list::module_path(None)?;
    let dir = tempfile::Builder::new()
        .prefix("tokenemu-bench-")
        .tempdir()
        .context("creating the emulator's temporary token directory")?;
    let mut conf = String::new();
    let mut pins = HashMap::new();
    for (id, profile) in EMULATOR_SLOTS {
        conf.push_str(&format!(
            // No memory or object limit: the bench fills the token far
            // beyond a real eToken's 72 KiB.
            "[[slot]]\nid = {id}\nprofile = \"{profile}\"\nstore = \"{}\"\n\
             memory = \"unlimited\"\nmax_objects = 0\n\n",
            dir.path().join(profile).display()
        ));
        let p = tokenemu_core::profile::Profile::builtin(profile)
            .ok_or_else(|| anyhow!("the emulator has no built-in profile {profile}"))?;
        pins.insert(*id, Zeroizing::new(p.pin.default_user_pin.into_bytes()));
    }
    let conf_path = dir.path().join("tokenemu.toml");
    std::fs::write(&conf_path, conf).with_context(|| format!("writing {}", conf_path.display()))?;
    // The module reads TOKENEMU_CONF in C_Initialize. This runs before the
    // bench starts any thread, so no other thread reads the environment.
    std::env::set_var(tokenemu_core::config::CONF_ENV, &conf_path);
    let module = Module::load(&path)?;
    let slots = EMULATOR_SLOTS.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    finish(
        label,
        "emulator".into(),
        module,
        slots,
        pins,
        None,
        tag,
        true,
        Some(dir),
    )
}

fn external(
    label: &'static str,
    spec: &str,
    args: &BenchArgs,
    k: usize,
    pin: SuppliedPin,
    tag: &str,
) -> Result<Target> {
    let path = PathBuf::from(spec);
    let name = path
        .file_stem()
        .map_or_else(|| spec.to_string(), |s| s.to_string_lossy().into_owned());
    let module = Module::load(&path)?;
    module
        .initialize()
        .with_context(|| format!("{spec}: initialising"))?;
    let choice = match (args.slot.get(k), args.token_label.get(k)) {
        (Some(&s), _) => SlotChoice::Id(s),
        (None, Some(l)) => SlotChoice::Label(l.clone()),
        (None, None) => SlotChoice::First,
    };
    // Slot and token flags; no log-in yet: the cold login below is the try.
    let ready = preflight::check(
        module.client(),
        &preflight::Request {
            choice,
            user_pin: Some(pin.clone()),
            so_pin: None,
            allow_low_pin_tries: args.allow_low_pin_tries,
            login: false,
        },
    )
    .with_context(|| spec.to_string())?;
    // The cold login is measured from a finalized module.
    module.finalize()?;
    let slot = ready.slot;
    let pins = HashMap::from([(slot, pin.value.clone())]);
    finish(
        label,
        name,
        module,
        vec![slot],
        pins,
        Some(pin),
        tag,
        false,
        None,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    label: &'static str,
    name: String,
    module: Module,
    slot_ids: Vec<CK_SLOT_ID>,
    pins: HashMap<CK_SLOT_ID, Zeroizing<Vec<u8>>>,
    supplied: Option<SuppliedPin>,
    tag: &str,
    temporary: bool,
    dir: Option<tempfile::TempDir>,
) -> Result<Target> {
    let first = slot_ids[0];
    // The first C_Initialize + C_OpenSession + C_Login of the process.
    let t0 = Instant::now();
    module.initialize()?;
    let s = module.open_session(first)?;
    if let Err(e) = module.login_user(s, &pins[&first]) {
        return Err(match &supplied {
            Some(pin) if preflight::is_pin_refusal(e.rv) => {
                let label = module.token_label(first).unwrap_or_default();
                preflight::refused(module.client(), first, &label, PinRole::User, pin, e.rv)
                    .context(name)
            }
            _ => anyhow::Error::new(e).context(format!("{name}: logging in")),
        });
    }
    let cold = t0.elapsed();
    module.close_session(s)?;
    let description = module.library_description()?;
    let mut slots = Vec::new();
    for id in slot_ids {
        slots.push(SlotCaps {
            id,
            token_label: module.token_label(id)?,
            mechanisms: module.mechanisms(id)?,
        });
    }
    let mut t = Target {
        label,
        name,
        module,
        description,
        slots,
        pins,
        sessions: HashMap::new(),
        keys: HashMap::new(),
        objects_slot: first,
        objects: 0,
        fills: Vec::new(),
        cold_login_us: cold.as_secs_f64() * 1e6,
        tag: tag.to_string(),
        temporary,
        _dir: dir,
    };
    t.open_sessions()
        .with_context(|| format!("{}: logging in", t.name))?;
    Ok(t)
}

impl Target {
    /// "A (emulator)".
    pub fn title(&self) -> String {
        format!("{} ({})", self.label, self.name)
    }

    fn open_sessions(&mut self) -> CallResult<()> {
        for s in &self.slots {
            let h = self.module.open_session(s.id)?;
            self.module.login_user(h, &self.pins[&s.id])?;
            self.sessions.insert(s.id, h);
        }
        Ok(())
    }

    /// The logged-in setup session of `slot`.
    pub fn session(&self, slot: CK_SLOT_ID) -> Result<CK_SESSION_HANDLE> {
        self.sessions
            .get(&slot)
            .copied()
            .ok_or_else(|| anyhow!("{}: no open session on slot {slot}", self.name))
    }

    /// The user PIN of `slot`.
    pub fn pin(&self, slot: CK_SLOT_ID) -> &[u8] {
        self.pins.get(&slot).map_or(&[], |p| p.as_slice())
    }

    /// Closes the setup sessions and finalizes the module (before a login
    /// workload). The session keys are gone afterwards.
    pub fn suspend(&mut self) -> Result<()> {
        for (_, h) in self.sessions.drain() {
            self.module.close_session(h)?;
        }
        self.keys.clear();
        self.module.finalize()?;
        Ok(())
    }

    /// Initialises the module again and logs the setup sessions in.
    pub fn resume(&mut self) -> Result<()> {
        self.module.initialize()?;
        self.open_sessions()?;
        Ok(())
    }

    /// The first slot that lists every mechanism in `mechs`, or why none does.
    pub fn slot_for(&self, mechs: &[CK_MECHANISM_TYPE]) -> std::result::Result<CK_SLOT_ID, String> {
        self.slots
            .iter()
            .find(|s| mechs.iter().all(|m| s.mechanisms.contains(m)))
            .map(|s| s.id)
            .ok_or_else(|| {
                let missing: Vec<String> = mechs
                    .iter()
                    .filter(|m| !self.slots.iter().any(|s| s.mechanisms.contains(m)))
                    .map(|m| tokenemu_core::names::mechanism_name(*m))
                    .collect();
                if missing.is_empty() {
                    format!(
                        "no one slot lists all of {}",
                        mechs
                            .iter()
                            .map(|m| tokenemu_core::names::mechanism_name(*m))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    format!("the module does not list {}", missing.join(", "))
                }
            })
    }

    /// The key pair of `kind` that can also do `mech`, generated on first
    /// use (session objects), or why there is none.
    pub fn key(
        &mut self,
        kind: KeyKind,
        mech: CK_MECHANISM_TYPE,
    ) -> std::result::Result<KeyPair, String> {
        if let Some(k) = self.keys.get(&kind) {
            return k.clone();
        }
        let made = self.generate(kind, mech);
        self.keys.insert(kind, made.clone());
        made
    }

    fn generate(
        &self,
        kind: KeyKind,
        mech: CK_MECHANISM_TYPE,
    ) -> std::result::Result<KeyPair, String> {
        let slot = self.slot_for(&[kind.keygen_mechanism(), mech])?;
        let session = self.session(slot).map_err(|e| e.to_string())?;
        let (public, private) = self
            .module
            .generate_key_pair(
                session,
                kind.keygen_mechanism(),
                &kind.public_template(),
                &kind.private_template(),
            )
            .map_err(|e| format!("generating the key: {e}"))?;
        Ok(KeyPair {
            slot,
            public,
            private,
        })
    }

    /// The CKA_LABEL of data object `i`.
    pub fn object_label(&self, i: usize) -> String {
        format!("{}-{i:07}", self.tag)
    }

    /// Creates data objects on the token until it holds `n` of this run's.
    pub fn fill_to(&mut self, n: usize) -> Result<()> {
        if n <= self.objects {
            return Ok(());
        }
        let session = self.session(self.objects_slot)?;
        let created = n - self.objects;
        eprintln!(
            "{}: creating {created} data objects (token objects) on slot {}…",
            self.title(),
            self.objects_slot
        );
        let t0 = Instant::now();
        let mut last = Instant::now();
        for i in self.objects..n {
            let template = Template::new()
                .ulong(CKA_CLASS, CKO_DATA)
                .bool(CKA_TOKEN, true)
                .bool(CKA_PRIVATE, false)
                .text(CKA_LABEL, &self.object_label(i))
                .text(CKA_APPLICATION, &self.tag)
                .bytes(CKA_VALUE, &(i as u64).to_be_bytes());
            self.module
                .create_object(session, &template)
                .with_context(|| format!("{}: creating data object {i}", self.name))?;
            self.objects = i + 1;
            if last.elapsed() > Duration::from_secs(10) {
                eprintln!("{}: {} of {n} objects", self.title(), self.objects);
                last = Instant::now();
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        eprintln!(
            "{}: {created} objects created in {secs:.1} s ({:.0}/s)",
            self.title(),
            created as f64 / secs.max(1e-9)
        );
        self.fills.push(Fill {
            objects: n,
            created,
            secs,
        });
        Ok(())
    }

    /// Destroys this run's data objects (non-temporary tokens only).
    pub fn clean_up(&mut self) -> Result<()> {
        if self.temporary || self.objects == 0 {
            return Ok(());
        }
        let session = self.session(self.objects_slot)?;
        let mut handles = Vec::new();
        self.module.find(
            session,
            &Template::new()
                .ulong(CKA_CLASS, CKO_DATA)
                .text(CKA_APPLICATION, &self.tag),
            &mut handles,
        )?;
        eprintln!(
            "{}: destroying the {} data objects of this run (--keep keeps them)…",
            self.title(),
            handles.len()
        );
        for h in handles {
            self.module.destroy_object(session, h)?;
        }
        self.objects = 0;
        Ok(())
    }

    /// Logs out, closes the sessions and finalizes the module.
    pub fn close(mut self) -> Result<()> {
        if let Some((_, h)) = self.sessions.iter().next() {
            let _ = self.module.logout(*h);
        }
        self.suspend()
    }
}
