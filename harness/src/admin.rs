//! `tokenemu token …`: token administration through `tokenemu_core::Module`
//! directly (same store, same rules as applications get through the C ABI).

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use tokenemu_core::api::AttrLookup;
use tokenemu_core::ck::*;
use tokenemu_core::config::{Config, SlotConfig};
use tokenemu_core::object::attribute::{find, kind_of, AttrKind, Attribute, Template};
use tokenemu_core::object::policy::rules_for;
use tokenemu_core::{names, Module};
use zeroize::Zeroizing;

use crate::cli::{DeleteWhich, TokenCommand};
use crate::keyfile;
use crate::p11::preflight::{self, is_pin_refusal, tries, tries_text, PinRole, Tries};
use crate::show::{self, ValueStyle};

type Pin = Zeroizing<Vec<u8>>;

/// The configuration named by `TOKENEMU_CONF` (or the embedded default).
pub fn load_config() -> Result<Config> {
    Config::from_env().context("loading the slot configuration (TOKENEMU_CONF)")
}

fn slot_config(cfg: &Config, slot: CK_SLOT_ID) -> Result<SlotConfig> {
    let sc = cfg.slots.iter().find(|s| s.id == slot).ok_or_else(|| {
        let ids: Vec<String> = cfg.slots.iter().map(|s| s.id.to_string()).collect();
        anyhow!(
            "slot {slot} is not configured in {} (configured slots: {})",
            cfg.source,
            ids.join(", ")
        )
    })?;
    let mut sc = sc.clone();
    // The `present` setting only applies when a module starts; an admin
    // command must not plug a token back in behind the user's back.
    sc.present = None;
    Ok(sc)
}

/// A module holding just one slot (so another slot's broken store cannot
/// get in the way).
fn module_for(cfg: &Config, sc: &SlotConfig) -> Result<Arc<Module>> {
    Module::new(Config {
        slots: vec![sc.clone()],
        source: cfg.source.clone(),
    })
    .with_context(|| {
        format!(
            "slot {}: opening the token store {}",
            sc.id,
            sc.store.display()
        )
    })
}

/// A PIN a command will try, and where it came from (for messages).
struct PinToTry {
    value: Pin,
    /// "the PIN from environment variable X (--pin-env)" or "the
    /// profile's default user PIN".
    source: String,
}

/// The `CK_TOKEN_INFO.flags` of the slot's token.
fn token_flags(module: &Module, slot: CK_SLOT_ID) -> Result<CK_FLAGS> {
    Ok(module
        .token_info(slot)
        .with_context(|| format!("slot {slot}: C_GetTokenInfo"))?
        .flags)
}

/// The `role` PIN a command tries: the one the user supplied (through the
/// option `option`) when given; else the profile's documented default,
/// but only while the token reports `CKF_USER_PIN_TO_BE_CHANGED` (resp.
/// `CKF_SO_PIN_TO_BE_CHANGED`), i.e. while the default is still in use.
/// Otherwise nothing is tried (a wrong guess costs a try): an error asking
/// for the option. A locked PIN is never tried.
fn pin_to_try(
    module: &Module,
    sc: &SlotConfig,
    role: PinRole,
    supplied: Option<preflight::SuppliedPin>,
    option: &str,
) -> Result<PinToTry> {
    let slot = sc.id;
    let flags = token_flags(module, slot)?;
    if tries(flags, role) == Tries::Locked {
        bail!(
            "slot {slot}: {}; no {} PIN is tried on a locked token{}",
            tries_text(flags, role),
            role.name(),
            if role == PinRole::User {
                format!(" (`tokenemu token unlock --slot {slot}` sets a new one with the SO PIN)")
            } else {
                String::new()
            }
        );
    }
    if let Some(pin) = supplied {
        return Ok(PinToTry {
            value: pin.value,
            source: format!("the PIN from {}", pin.source),
        });
    }
    let (to_be_changed, flag_name) = role.to_be_changed();
    if flags & to_be_changed == 0 {
        bail!(
            "slot {slot}: no {option} given, and the token does not report {flag_name}, so its {} PIN \
             is no longer the profile's default; the default is not tried (a wrong PIN costs a try). \
             Pass {option} VAR naming an environment variable that holds the {} PIN",
            role.name(),
            role.name()
        );
    }
    let default = match role {
        PinRole::User => &sc.profile.pin.default_user_pin,
        PinRole::So => &sc.profile.pin.default_so_pin,
    };
    Ok(PinToTry {
        value: Zeroizing::new(default.as_bytes().to_vec()),
        source: format!("the profile's default {} PIN", role.name()),
    })
}

/// The error of a call that tried a PIN: for a refused PIN
/// (`CKR_PIN_INCORRECT` / `CKR_PIN_LOCKED`) it also says what the token
/// flags now show about the tries left.
fn pin_error(
    module: &Module,
    slot: CK_SLOT_ID,
    role: PinRole,
    e: tokenemu_core::Error,
    what: String,
) -> anyhow::Error {
    let rv = e.rv();
    if !is_pin_refusal(rv) {
        return anyhow::Error::new(e).context(what);
    }
    let now = match module.token_info(slot) {
        Ok(ti) => tries_text(ti.flags, role),
        Err(e) => format!("the token flags cannot be read ({e})"),
    };
    anyhow!("{what}: {} ({e}); {now}", names::rv_name(rv))
}

/// An open read-write session on one slot, closed on drop.
struct Admin {
    module: Arc<Module>,
    slot: SlotConfig,
    session: CK_SESSION_HANDLE,
}

impl Drop for Admin {
    fn drop(&mut self) {
        let _ = self.module.close_session(self.session);
    }
}

impl Admin {
    fn open(cfg: &Config, slot: CK_SLOT_ID) -> Result<Admin> {
        let sc = slot_config(cfg, slot)?;
        let module = module_for(cfg, &sc)?;
        let session = module
            .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
            .with_context(|| format!("slot {slot}: C_OpenSession"))?;
        Ok(Admin {
            module,
            slot: sc,
            session,
        })
    }

    /// Opens a session and logs in as the user (with the PIN from
    /// `pin_env`, or the default while the token flags it to be changed:
    /// [`pin_to_try`]).
    fn user(cfg: &Config, slot: CK_SLOT_ID, pin_env: Option<&str>) -> Result<Admin> {
        let supplied = preflight::optional_pin(pin_env, "--pin-env")?;
        let a = Admin::open(cfg, slot)?;
        let pin = pin_to_try(&a.module, &a.slot, PinRole::User, supplied, "--pin-env")?;
        a.login(PinRole::User, &pin)?;
        Ok(a)
    }

    /// `C_Login`; a refused PIN's error says what the flags show.
    fn login(&self, role: PinRole, pin: &PinToTry) -> Result<()> {
        self.module
            .login(self.session, role.user_type(), &pin.value)
            .map_err(|e| {
                pin_error(
                    &self.module,
                    self.slot.id,
                    role,
                    e,
                    format!(
                        "slot {}: C_Login as {} with {}",
                        self.slot.id,
                        role.name(),
                        pin.source
                    ),
                )
            })
    }

    fn ctx(&self, what: &str) -> String {
        format!("slot {}: {what}", self.slot.id)
    }

    fn find(&self, template: Template) -> Result<Vec<CK_OBJECT_HANDLE>> {
        self.module
            .find_init(self.session, template)
            .with_context(|| self.ctx("C_FindObjectsInit"))?;
        let mut all = Vec::new();
        loop {
            let batch = self
                .module
                .find_next(self.session, 64)
                .with_context(|| self.ctx("C_FindObjects"))?;
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
        }
        self.module
            .find_final(self.session)
            .with_context(|| self.ctx("C_FindObjectsFinal"))?;
        Ok(all)
    }

    fn attr(&self, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Option<Vec<u8>> {
        match self
            .module
            .get_attributes(self.session, h, &[ty])
            .ok()?
            .pop()?
        {
            AttrLookup::Value(v) => Some(v),
            _ => None,
        }
    }

    fn ulong_attr(&self, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        Some(CK_ULONG::from_ne_bytes(
            self.attr(h, ty)?.as_slice().try_into().ok()?,
        ))
    }

    /// "CKO_PRIVATE_KEY CKK_RSA "label"".
    fn describe(&self, h: CK_OBJECT_HANDLE) -> String {
        let class = self.ulong_attr(h, CKA_CLASS);
        let mut s = class.map_or_else(|| "?".to_owned(), |c| show::ulong_text(CKA_CLASS, c));
        if let Some(k) = self.ulong_attr(h, CKA_KEY_TYPE) {
            s.push(' ');
            s.push_str(&show::ulong_text(CKA_KEY_TYPE, k));
        }
        if let Some(c) = self.ulong_attr(h, CKA_CERTIFICATE_TYPE) {
            s.push(' ');
            s.push_str(&show::ulong_text(CKA_CERTIFICATE_TYPE, c));
        }
        if let Some(l) = self.attr(h, CKA_LABEL).filter(|l| !l.is_empty()) {
            s.push_str(&format!(
                " \"{}\"",
                String::from_utf8_lossy(&l).escape_default()
            ));
        }
        s
    }

    /// Creates all templates, or none: on failure the objects already
    /// created are destroyed again.
    fn create_all(&self, templates: Vec<(String, Template)>) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let mut made = Vec::new();
        for (what, t) in templates {
            match self.module.create_object(self.session, t) {
                Ok(h) => made.push(h),
                Err(e) => {
                    for h in made.iter().rev() {
                        let _ = self.module.destroy_object(self.session, *h);
                    }
                    return Err(anyhow::Error::new(e)
                        .context(self.ctx(&format!("C_CreateObject for {what}"))));
                }
            }
        }
        Ok(made)
    }

    /// Refuses to import a key the token already holds (the same public
    /// value) or a key under a `CKA_ID` another key pair already uses
    /// (applications pair keys and certificates by it): importing twice
    /// makes twins no application can tell apart.
    fn refuse_key_twice(&self, key: &keyfile::KeyPair, id: &[u8]) -> Result<()> {
        let slot = self.slot.id;
        let mut same_key = Vec::new();
        let class_and_type = |class| {
            vec![
                Attribute::ulong(CKA_CLASS, class),
                Attribute::ulong(CKA_KEY_TYPE, key.key_type),
            ]
        };
        for (class, template) in [
            (CKO_PUBLIC_KEY, &key.public),
            (CKO_PRIVATE_KEY, &key.private),
        ] {
            // The public value each object carries readably (an EC private
            // key has no CKA_EC_POINT; its public key object is searched).
            for ty in [CKA_MODULUS, CKA_EC_POINT] {
                if let Some(v) = find(template, ty) {
                    let mut t = class_and_type(class);
                    t.push(Attribute::bytes(ty, v.value.clone()));
                    same_key.extend(self.find(t)?);
                }
            }
        }
        if let Some(h) = same_key.first() {
            let held_id = self.attr(*h, CKA_ID).unwrap_or_default();
            bail!(
                "slot {slot}: the token already holds this key (handle {h}: {}, CKA_ID {}); it is not imported twice. \
                 To replace it, delete it first: tokenemu token delete --slot {slot} --id {}",
                self.describe(*h),
                hex::encode(&held_id),
                hex::encode(&held_id)
            );
        }
        let mut same_id = Vec::new();
        for class in [CKO_PRIVATE_KEY, CKO_PUBLIC_KEY] {
            same_id.extend(self.find(vec![
                Attribute::ulong(CKA_CLASS, class),
                Attribute::bytes(CKA_ID, id),
            ])?);
        }
        if let Some(h) = same_id.first() {
            bail!(
                "slot {slot}: CKA_ID {} is already used by another key (handle {h}: {}); \
                 pass another --id, or delete that key first: tokenemu token delete --slot {slot} --id {}",
                hex::encode(id),
                self.describe(*h),
                hex::encode(id)
            );
        }
        Ok(())
    }

    /// Refuses to import a certificate the token already holds (the same
    /// DER bytes).
    fn refuse_certificate_twice(&self, cert: &keyfile::Cert) -> Result<()> {
        let slot = self.slot.id;
        let held = self.find(vec![
            Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
            Attribute::bytes(CKA_VALUE, cert.der.clone()),
        ])?;
        if let Some(h) = held.first() {
            let held_id = self.attr(*h, CKA_ID).unwrap_or_default();
            bail!(
                "slot {slot}: the token already holds this certificate (handle {h}: {}, CKA_ID {}); \
                 it is not imported twice, and nothing was imported",
                self.describe(*h),
                hex::encode(held_id)
            );
        }
        Ok(())
    }
}

fn parse_hex_id(s: &str) -> Result<Vec<u8>> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let clean = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
        .unwrap_or(&clean);
    hex::decode(clean).map_err(|e| anyhow!("--id \"{s}\" is not hex: {e}"))
}

/// Checks a new token label (`CK_TOKEN_INFO.label`: 32 bytes of UTF-8,
/// padded with blanks).
fn check_label(label: &str) -> Result<()> {
    let shown = label.escape_default();
    if label.len() > 32 {
        bail!(
            "label \"{shown}\" is {} bytes long; a token label holds at most 32",
            label.len()
        );
    }
    if label.chars().any(char::is_control) {
        bail!("label \"{shown}\" holds a control character; a token label is printable text");
    }
    if label.ends_with(' ') {
        bail!(
            "label \"{shown}\" ends with a blank; blanks are the label's padding and would be lost"
        );
    }
    Ok(())
}

/// Checks a PIN that `token init` will set or try against the slot
/// profile's PIN policy (its length range; the profiles set no character
/// rules), before anything on the token changes: C_InitToken erases the
/// token first, and a user PIN that C_InitPIN then refuses would leave it
/// without one. An SO PIN outside the range cannot be the token's, and
/// trying it would cost one of the SO's tries.
fn check_pin_policy(sc: &SlotConfig, what: &str, pin: &[u8]) -> Result<()> {
    let policy = &sc.profile.pin;
    let len = pin.len() as CK_ULONG;
    if len < policy.min_len || len > policy.max_len {
        bail!(
            "slot {}: the {what} is {len} bytes long, but profile {} takes PINs of {} to {} bytes; nothing was changed",
            sc.id,
            sc.profile.name,
            policy.min_len,
            policy.max_len
        );
    }
    Ok(())
}

fn file_stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs a `tokenemu token …` command.
pub fn run(cmd: TokenCommand) -> Result<()> {
    let cfg = load_config()?;
    match cmd {
        TokenCommand::List { json } => list(&cfg, json),
        TokenCommand::Init {
            slot,
            label,
            so_pin_env,
            user_pin_env,
        } => init(
            &cfg,
            slot.slot,
            label.as_deref(),
            so_pin_env.as_deref(),
            user_pin_env.as_deref(),
        ),
        TokenCommand::SetPin {
            slot,
            so,
            old_pin_env,
            new_pin_env,
        } => set_pin(&cfg, slot.slot, so, &old_pin_env, &new_pin_env),
        TokenCommand::Unlock {
            slot,
            so_pin_env,
            new_pin_env,
        } => unlock(&cfg, slot.slot, so_pin_env.as_deref(), &new_pin_env),
        TokenCommand::ImportKey {
            slot,
            file,
            id,
            label,
            cert,
            pin,
        } => import_key(
            &cfg,
            slot.slot,
            &file,
            id.as_deref(),
            label.as_deref(),
            cert.as_deref(),
            pin.pin_env.as_deref(),
        ),
        TokenCommand::ImportCert {
            slot,
            file,
            id,
            label,
            pin,
        } => import_cert(
            &cfg,
            slot.slot,
            &file,
            id.as_deref(),
            label.as_deref(),
            pin.pin_env.as_deref(),
        ),
        TokenCommand::ImportFixture { slot, file, pin } => {
            import_fixture(&cfg, slot.slot, &file, pin.pin_env.as_deref())
        }
        TokenCommand::Delete { slot, which, pin } => {
            delete(&cfg, slot.slot, &which, pin.pin_env.as_deref())
        }
        TokenCommand::Dump {
            slot,
            show_sensitive_names,
            full,
            pin,
        } => dump(
            &cfg,
            slot.slot,
            show_sensitive_names,
            ValueStyle { full },
            pin.pin_env.as_deref(),
        ),
        TokenCommand::Unplug { slot } => set_present(&cfg, slot.slot, false),
        TokenCommand::Plug { slot } => set_present(&cfg, slot.slot, true),
        TokenCommand::Fault(args) => fault(&cfg, &args),
    }
}

// ---- token list ------------------------------------------------------------

/// One row of `token list`.
#[derive(Debug, Serialize)]
struct SlotRow {
    slot: CK_SLOT_ID,
    profile: String,
    store: String,
    present: Option<bool>,
    label: Option<String>,
    serial: Option<String>,
    flags: Vec<String>,
    objects: Option<usize>,
    /// What could not be read, if anything.
    error: Option<String>,
}

fn slot_row(cfg: &Config, sc: &SlotConfig) -> SlotRow {
    let mut row = SlotRow {
        slot: sc.id,
        profile: sc.profile.name.clone(),
        store: sc.store.display().to_string(),
        present: None,
        label: None,
        serial: None,
        flags: Vec::new(),
        objects: None,
        error: None,
    };
    let module = match slot_config(cfg, sc.id).and_then(|sc| module_for(cfg, &sc)) {
        Ok(m) => m,
        Err(e) => {
            row.error = Some(crate::one_line(&e));
            return row;
        }
    };
    let present = module.slot_list(true).contains(&sc.id);
    row.present = Some(present);
    if present {
        match module.token_info(sc.id) {
            Ok(ti) => {
                row.label = Some(show::padded_str(&ti.label));
                row.serial = Some(show::padded_str(&ti.serialNumber));
                row.flags = show::flag_names(ti.flags, show::TOKEN_FLAGS);
            }
            Err(e) => row.error = Some(format!("C_GetTokenInfo: {e}")),
        }
    }
    drop(module);
    // The object count comes from the store itself: it needs no PIN and
    // counts private objects too.
    match tokenemu_store::Store::open(&sc.store).and_then(|s| s.load()) {
        Ok(snap) => row.objects = Some(snap.objects.len()),
        Err(e) => {
            row.error.get_or_insert(format!("reading the store: {e}"));
        }
    }
    row
}

fn list(cfg: &Config, json: bool) -> Result<()> {
    let rows: Vec<SlotRow> = cfg.slots.iter().map(|sc| slot_row(cfg, sc)).collect();
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return slots_with_errors(&rows);
    }
    outln!("configuration: {}", cfg.source);
    outln!(
        "{:<5} {:<13} {:<8} {:<8} {:<17} LABEL",
        "SLOT",
        "PROFILE",
        "PRESENT",
        "OBJECTS",
        "SERIAL"
    );
    for r in &rows {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        outln!(
            "{:<5} {:<13} {:<8} {:<8} {:<17} {}",
            r.slot,
            r.profile,
            match r.present {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            },
            r.objects.map_or_else(|| "-".into(), |n| n.to_string()),
            opt(&r.serial),
            opt(&r.label),
        );
        outln!("      store: {}", r.store);
        if !r.flags.is_empty() {
            outln!("      flags: {}", r.flags.join(" "));
        }
        if let Some(e) = &r.error {
            outln!("      error: {e}");
        }
    }
    slots_with_errors(&rows)
}

/// `token list` fails (after printing every slot) when a slot shows an
/// error, so scripts and CI notice a token they cannot use.
fn slots_with_errors(rows: &[SlotRow]) -> Result<()> {
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| r.slot.to_string())
        .collect();
    if !bad.is_empty() {
        bail!(
            "{} of {} slot(s) show an error (slot {}); see the listing above",
            bad.len(),
            rows.len(),
            bad.join(", ")
        );
    }
    Ok(())
}

// ---- init / set-pin ----------------------------------------------------------

fn init(
    cfg: &Config,
    slot: CK_SLOT_ID,
    label: Option<&str>,
    so_pin_env: Option<&str>,
    user_pin_env: Option<&str>,
) -> Result<()> {
    let sc = slot_config(cfg, slot)?;
    // The user PIN is set, not tried: the profile's default is fine here.
    let user_pin = match preflight::optional_pin(user_pin_env, "--user-pin-env")? {
        Some(p) => p.value,
        None => Zeroizing::new(sc.profile.pin.default_user_pin.as_bytes().to_vec()),
    };
    let so_supplied = preflight::optional_pin(so_pin_env, "--so-pin-env")?;
    let module = module_for(cfg, &sc)?;
    // The SO PIN is tried: the default only while the token flags it.
    let so = pin_to_try(&module, &sc, PinRole::So, so_supplied, "--so-pin-env")?;
    let so_pin = &so.value;
    let label = label.map_or_else(|| sc.profile.token.label.clone(), str::to_owned);
    check_label(&label)?;
    check_pin_policy(&sc, "SO PIN", so_pin)?;
    check_pin_policy(&sc, "new user PIN", &user_pin)?;
    module
        .init_token(slot, so_pin, &tokenemu_core::util::padded(&label))
        .map_err(|e| {
            pin_error(
                &module,
                slot,
                PinRole::So,
                e,
                format!("slot {slot}: C_InitToken with {}", so.source),
            )
        })?;
    let admin = Admin {
        session: module
            .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
            .with_context(|| format!("slot {slot}: C_OpenSession"))?,
        module,
        slot: sc,
    };
    admin.login(PinRole::So, &so)?;
    admin
        .module
        .init_pin(admin.session, &user_pin)
        .with_context(|| admin.ctx("C_InitPIN"))?;
    admin
        .module
        .logout(admin.session)
        .with_context(|| admin.ctx("C_Logout"))?;
    outln!("slot {slot}: token initialised, label \"{label}\", user PIN set");
    let flags = token_flags(&admin.module, slot)?;
    if user_pin_env.is_none() && flags & CKF_USER_PIN_TO_BE_CHANGED == 0 {
        // The token does not flag a PIN the SO set as the default one, so
        // the commands that log in will not try the default by themselves.
        outln!(
            "slot {slot}: the user PIN is the profile's default, but the token does not report \
             CKF_USER_PIN_TO_BE_CHANGED: pass --pin-env to the commands that log in"
        );
    }
    Ok(())
}

fn set_pin(cfg: &Config, slot: CK_SLOT_ID, so: bool, old_env: &str, new_env: &str) -> Result<()> {
    let role = if so { PinRole::So } else { PinRole::User };
    let old = preflight::pin_from_env(old_env, "--old-pin-env")?;
    let new = preflight::pin_from_env(new_env, "--new-pin-env")?.value;
    let a = Admin::open(cfg, slot)?;
    // The old PIN is always given (--old-pin-env is required): this only
    // refuses a locked PIN.
    let old = pin_to_try(&a.module, &a.slot, role, Some(old), "--old-pin-env")?;
    // C_SetPIN changes the SO PIN in an SO session and the user PIN
    // otherwise; either way it checks the old PIN, a wrong one costs a try.
    if so {
        a.login(PinRole::So, &old)?;
    }
    a.module.set_pin(a.session, &old.value, &new).map_err(|e| {
        pin_error(
            &a.module,
            slot,
            role,
            e,
            a.ctx(&format!(
                "C_SetPIN ({} PIN) with {}",
                role.name(),
                old.source
            )),
        )
    })?;
    if so {
        let _ = a.module.logout(a.session);
    }
    outln!("slot {slot}: {} PIN changed", role.name());
    Ok(())
}

/// `token unlock`: the SO sets a new user PIN (C_InitPIN), which also
/// resets the user PIN's retry counter.
fn unlock(
    cfg: &Config,
    slot: CK_SLOT_ID,
    so_pin_env: Option<&str>,
    new_pin_env: &str,
) -> Result<()> {
    let so_supplied = preflight::optional_pin(so_pin_env, "--so-pin-env")?;
    let new = preflight::pin_from_env(new_pin_env, "--new-pin-env")?.value;
    let a = Admin::open(cfg, slot)?;
    let so = pin_to_try(&a.module, &a.slot, PinRole::So, so_supplied, "--so-pin-env")?;
    a.login(PinRole::So, &so)?;
    let set = a
        .module
        .init_pin(a.session, &new)
        .with_context(|| a.ctx("C_InitPIN"));
    let _ = a.module.logout(a.session);
    set?;
    let flags = token_flags(&a.module, slot)?;
    outln!(
        "slot {slot}: new user PIN set by the SO; {}",
        tries_text(flags, PinRole::User)
    );
    Ok(())
}

// ---- imports -----------------------------------------------------------------

fn with_id_label(mut t: Template, id: &[u8], label: &str, private: bool) -> Template {
    t.push(Attribute::bool(CKA_TOKEN, true));
    t.push(Attribute::bool(CKA_PRIVATE, private));
    t.push(Attribute::bytes(CKA_ID, id));
    t.push(Attribute::bytes(CKA_LABEL, label.as_bytes()));
    t
}

/// The mechanisms whose `CK_MECHANISM_INFO` key sizes an imported key of
/// `key_type` must fit, in order of preference: the signing mechanism (what
/// the token will use the key for; a token may take bigger keys than it
/// generates), else the key-pair generation. Both count RSA and EC sizes in
/// bits (GOST R 34.10 too, were GOST keys importable).
fn key_size_mechanisms(key_type: CK_KEY_TYPE) -> &'static [CK_MECHANISM_TYPE] {
    match key_type {
        CKK_RSA => &[CKM_RSA_PKCS, CKM_RSA_PKCS_KEY_PAIR_GEN],
        CKK_EC => &[CKM_ECDSA, CKM_EC_KEY_PAIR_GEN],
        _ => &[],
    }
}

/// Refuses, before any log-in, a key the slot's profile could not use:
/// one whose size is outside its mechanism's `ulMinKeySize..ulMaxKeySize`,
/// or of a type the profile has no mechanism for.
fn check_key_size(sc: &SlotConfig, key: &keyfile::KeyPair, file: &Path) -> Result<()> {
    let table = sc.profile.mechanism_table();
    let wanted = key_size_mechanisms(key.key_type);
    let found = wanted
        .iter()
        .find_map(|m| table.iter().find(|(t, _)| t == m));
    let Some((mech, info)) = found else {
        bail!(
            "slot {}: profile {} has no mechanism for {} keys ({}), so the token could not use {}; nothing was imported",
            sc.id,
            sc.profile.name,
            key.description,
            wanted
                .iter()
                .map(|m| names::mechanism_name(*m))
                .collect::<Vec<_>>()
                .join(", "),
            file.display()
        );
    };
    // ulMaxKeySize 0 means no upper limit (as the module itself reads it).
    let too_big = info.ulMaxKeySize != 0 && key.bits > info.ulMaxKeySize;
    if key.bits < info.ulMinKeySize || too_big {
        bail!(
            "slot {}: {} holds a {} key ({} bits), but profile {} takes {} keys of {} to {} bits; nothing was imported",
            sc.id,
            file.display(),
            key.description,
            key.bits,
            sc.profile.name,
            names::mechanism_name(*mech),
            info.ulMinKeySize,
            info.ulMaxKeySize
        );
    }
    Ok(())
}

fn import_key(
    cfg: &Config,
    slot: CK_SLOT_ID,
    file: &Path,
    id: Option<&str>,
    label: Option<&str>,
    cert_file: Option<&Path>,
    pin_env: Option<&str>,
) -> Result<()> {
    let sc = slot_config(cfg, slot)?;
    let key = keyfile::read_private_key(file)?;
    check_key_size(&sc, &key, file)?;
    let cert = cert_file.map(keyfile::read_certificate).transpose()?;
    if let (Some(c), Some(path)) = (&cert, cert_file) {
        if c.public_key_bits != key.public_key_bits {
            bail!(
                "certificate {} does not hold the public key of {}",
                path.display(),
                file.display()
            );
        }
    }
    let id = match id {
        Some(h) => parse_hex_id(h)?,
        None => keyfile::default_id(&key.public_key_bits),
    };
    let label = label.map_or_else(|| file_stem(file), str::to_owned);
    let a = Admin::user(cfg, slot, pin_env)?;
    a.refuse_key_twice(&key, &id)?;
    if let Some(c) = &cert {
        a.refuse_certificate_twice(c)?;
    }
    let mut private = with_id_label(key.private, &id, &label, true);
    private.push(Attribute::bool(CKA_SENSITIVE, true));
    private.push(Attribute::bool(CKA_EXTRACTABLE, false));
    let mut public = with_id_label(key.public, &id, &label, false);
    if let Some(c) = &cert {
        private.push(Attribute::bytes(CKA_SUBJECT, c.subject.clone()));
        public.push(Attribute::bytes(CKA_SUBJECT, c.subject.clone()));
    }
    let mut templates = vec![
        ("the private key".to_owned(), private),
        ("the public key".to_owned(), public),
    ];
    if let Some(c) = &cert {
        templates.push((
            "the certificate".to_owned(),
            with_id_label(c.template(), &id, &label, false),
        ));
    }
    let with_cert = cert.is_some();
    a.create_all(templates)?;
    outln!(
        "slot {slot}: imported {} key \"{label}\" with CKA_ID {}: a private and a public key object{}",
        key.description,
        hex::encode(&id),
        if with_cert { " and the certificate" } else { "" }
    );
    Ok(())
}

fn import_cert(
    cfg: &Config,
    slot: CK_SLOT_ID,
    file: &Path,
    id: Option<&str>,
    label: Option<&str>,
    pin_env: Option<&str>,
) -> Result<()> {
    slot_config(cfg, slot)?;
    let cert = keyfile::read_certificate(file)?;
    let id = match id {
        Some(h) => parse_hex_id(h)?,
        None => keyfile::default_id(&cert.public_key_bits),
    };
    let label = label
        .map(str::to_owned)
        .or_else(|| cert.common_name.clone())
        .unwrap_or_else(|| file_stem(file));
    let t = with_id_label(cert.template(), &id, &label, false);
    let a = Admin::user(cfg, slot, pin_env)?;
    a.refuse_certificate_twice(&cert)?;
    a.create_all(vec![("the certificate".to_owned(), t)])?;
    outln!(
        "slot {slot}: imported certificate \"{label}\" ({}) with CKA_ID {}",
        cert.subject_text,
        hex::encode(&id),
    );
    Ok(())
}

fn import_fixture(
    cfg: &Config,
    slot: CK_SLOT_ID,
    file: &Path,
    pin_env: Option<&str>,
) -> Result<()> {
    slot_config(cfg, slot)?;
    let objects = tokenemu_fixtures::parse_fixture(file)?;
    let templates: Vec<(String, Template)> = objects
        .into_iter()
        .enumerate()
        .map(|(i, mut t)| {
            if find(&t, CKA_TOKEN).is_none() {
                t.push(Attribute::bool(CKA_TOKEN, true));
            }
            (format!("object #{} of {}", i + 1, file.display()), t)
        })
        .collect();
    let a = Admin::user(cfg, slot, pin_env)?;
    let n = templates.len();
    let handles = a.create_all(templates)?;
    outln!("slot {slot}: created {n} object(s) from {}", file.display());
    for h in handles {
        outln!("  {}", a.describe(h));
    }
    Ok(())
}

// ---- delete ------------------------------------------------------------------

fn delete(
    cfg: &Config,
    slot: CK_SLOT_ID,
    which: &DeleteWhich,
    pin_env: Option<&str>,
) -> Result<()> {
    let id = which.id.as_deref().map(parse_hex_id).transpose()?;
    let a = Admin::user(cfg, slot, pin_env)?;
    let (handles, what) = if let Some(h) = which.handle {
        if !a.find(Vec::new())?.contains(&h) {
            bail!("slot {slot}: there is no object with handle {h} (see `tokenemu token dump --slot {slot}`)");
        }
        (vec![h], format!("handle {h}"))
    } else if let Some(id) = id {
        (
            a.find(vec![Attribute::bytes(CKA_ID, id.clone())])?,
            format!("CKA_ID {}", hex::encode(&id)),
        )
    } else if let Some(label) = &which.label {
        (
            a.find(vec![Attribute::bytes(CKA_LABEL, label.as_bytes())])?,
            format!("CKA_LABEL \"{label}\""),
        )
    } else {
        (a.find(Vec::new())?, "every object".to_owned())
    };
    if handles.is_empty() && !which.all {
        bail!("slot {slot}: no object with {what}");
    }
    for h in &handles {
        let desc = a.describe(*h);
        a.module
            .destroy_object(a.session, *h)
            .with_context(|| a.ctx(&format!("C_DestroyObject of handle {h} ({desc})")))?;
        outln!("slot {slot}: deleted handle {h}: {desc}");
    }
    outln!("slot {slot}: {} object(s) deleted", handles.len());
    Ok(())
}

// ---- dump ----------------------------------------------------------------------

/// The attribute types an object of this class/key type may carry.
fn candidate_types(class: Option<CK_ULONG>, key_type: Option<CK_ULONG>) -> Vec<CK_ATTRIBUTE_TYPE> {
    let mut v = vec![CKA_CLASS];
    let tables = class
        .and_then(|c| rules_for(c, key_type))
        .or_else(|| rules_for(CKO_DATA, None))
        .unwrap_or_default();
    for table in tables {
        for r in table {
            if !v.contains(&r.ty) {
                v.push(r.ty);
            }
        }
    }
    // Attributes the token derives or that any key may have.
    for extra in [CKA_MODULUS_BITS, CKA_VALUE_LEN, CKA_UNIQUE_ID] {
        if !v.contains(&extra) {
            v.push(extra);
        }
    }
    v.retain(|t| kind_of(*t) != AttrKind::AttrArray);
    v
}

fn dump(
    cfg: &Config,
    slot: CK_SLOT_ID,
    show_sensitive_names: bool,
    style: ValueStyle,
    pin_env: Option<&str>,
) -> Result<()> {
    let a = Admin::user(cfg, slot, pin_env)?;
    let handles = a.find(Vec::new())?;
    outln!("slot {slot}: {} object(s)", handles.len());
    for h in handles {
        outln!();
        outln!("handle {h}: {}", a.describe(h));
        let class = a.ulong_attr(h, CKA_CLASS);
        let key_type = a.ulong_attr(h, CKA_KEY_TYPE);
        let types = candidate_types(class, key_type);
        let answers = a
            .module
            .get_attributes(a.session, h, &types)
            .with_context(|| a.ctx(&format!("C_GetAttributeValue of handle {h}")))?;
        let mut hidden = Vec::new();
        let width = types
            .iter()
            .map(|t| names::attribute_name(*t).len())
            .max()
            .unwrap_or(0);
        for (ty, ans) in types.iter().zip(answers) {
            let name = names::attribute_name(*ty);
            match ans {
                AttrLookup::Value(v) => {
                    outln!("  {name:<width$}  {}", show::value_text(*ty, &v, style));
                }
                AttrLookup::Sensitive => hidden.push(name),
                AttrLookup::Invalid => {}
            }
        }
        if show_sensitive_names {
            for name in &hidden {
                outln!("  {name:<width$}  <sensitive>");
            }
        } else if !hidden.is_empty() {
            outln!(
                "  ({} sensitive attribute(s) not shown; --show-sensitive-names lists them)",
                hidden.len()
            );
        }
    }
    Ok(())
}

// ---- plug / unplug -------------------------------------------------------------

fn set_present(cfg: &Config, slot: CK_SLOT_ID, present: bool) -> Result<()> {
    let sc = slot_config(cfg, slot)?;
    let store = tokenemu_store::Store::open(&sc.store)
        .with_context(|| format!("slot {slot}: opening the token store"))?;
    let was = store
        .is_present()
        .with_context(|| format!("slot {slot}: reading the presence flag"))?;
    store
        .set_present(present)
        .with_context(|| format!("slot {slot}: setting the presence flag"))?;
    let verb = if present { "plugged in" } else { "unplugged" };
    if was == present {
        outln!("slot {slot}: token was already {verb}");
    } else {
        outln!("slot {slot}: token {verb}");
    }
    Ok(())
}

// ---- fault injection -------------------------------------------------------------

/// `tokenemu token fault`.
#[derive(Debug, clap::Args)]
pub struct FaultArgs {
    #[command(flatten)]
    pub slot: crate::cli::SlotArg,
    /// List the slot's fault rules (the configuration's and the fault file's).
    #[arg(long, conflicts_with_all = ["clear", "function", "seed"])]
    pub list: bool,
    /// Remove the slot's fault file (rules set with this command); the
    /// configuration's [[slot.fault]] rules stay.
    #[arg(long, conflicts_with_all = ["function", "seed"])]
    pub clear: bool,
    /// The C function the new rule fails, by its spec name (C_Sign), or *
    /// for every function; another name is refused with the closest ones.
    #[arg(long, value_name = "NAME", required_unless_present_any = ["list", "clear", "seed"])]
    pub function: Option<String>,
    /// What the call returns, by name (default CKR_DEVICE_ERROR).
    #[arg(
        long,
        value_name = "CKR_NAME",
        conflicts_with = "unplug",
        requires = "function"
    )]
    pub rv: Option<String>,
    /// Pull the token out of its slot instead (the call returns
    /// CKR_DEVICE_REMOVED; `tokenemu token plug` puts it back).
    #[arg(long, requires = "function")]
    pub unplug: bool,
    /// Fire on the Nth call of the function (counted from C_Initialize), once.
    #[arg(long, value_name = "N", group = "trigger", requires = "function")]
    pub nth: Option<u64>,
    /// Fire on every Nth call.
    #[arg(long, value_name = "N", group = "trigger", requires = "function")]
    pub every: Option<u64>,
    /// Fire at random with this probability (0..=1), drawn from a generator
    /// seeded with --seed, so a run is reproducible.
    #[arg(long, value_name = "P", group = "trigger", requires = "function")]
    pub probability: Option<f64>,
    /// Seed of the slot's random faults (stored in the fault file; replaces
    /// the configuration's fault_seed).
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
}

/// Adds a rule to, lists or clears a slot's fault file (`<store>/faults.toml`,
/// read by the module at `C_Initialize`).
pub fn fault(cfg: &Config, args: &FaultArgs) -> Result<()> {
    use tokenemu_core::hooks::{FaultAction, FaultFile, FaultRule};
    let sc = slot_config(cfg, args.slot.slot)?;
    let slot = sc.id;
    let path = FaultFile::path(&sc.store);
    let mut file = FaultFile::load(&sc.store).map_err(|e| anyhow!("slot {slot}: {e}"))?;
    if args.list {
        // The configuration's own rules come first, as the module tries them.
        let from_config = sc.faults.len().saturating_sub(file.fault.len());
        if sc.faults.is_empty() {
            outln!("slot {slot}: no fault rules");
        }
        for (i, r) in sc.faults.iter().enumerate() {
            let origin = if i < from_config {
                cfg.source.clone()
            } else {
                path.display().to_string()
            };
            outln!("slot {slot}: {}  ({origin})", describe_rule(r));
        }
        outln!("slot {slot}: seed {}", sc.fault_seed);
        return Ok(());
    }
    if args.clear {
        let n = file.fault.len();
        FaultFile::default()
            .save(&sc.store)
            .map_err(|e| anyhow!("slot {slot}: {e}"))?;
        outln!(
            "slot {slot}: {n} fault rule(s) removed ({})",
            path.display()
        );
        let left = sc.faults.len().saturating_sub(n);
        if left > 0 {
            outln!("slot {slot}: {left} rule(s) from {} stay", cfg.source);
        }
        return Ok(());
    }
    if let Some(seed) = args.seed {
        file.seed = Some(seed);
    }
    if let Some(function) = &args.function {
        check_function_name(function).map_err(|e| anyhow!("slot {slot}: {e}"))?;
        let rule = FaultRule {
            function: function.clone(),
            rv: args.rv.clone(),
            action: if args.unplug {
                FaultAction::Unplug
            } else {
                FaultAction::Fail
            },
            nth: args.nth,
            every: args.every,
            probability: args.probability,
        };
        rule.validate().map_err(|e| anyhow!("slot {slot}: {e}"))?;
        outln!("slot {slot}: added {}", describe_rule(&rule));
        file.fault.push(rule);
    }
    file.save(&sc.store)
        .map_err(|e| anyhow!("slot {slot}: {e}"))?;
    if let Some(seed) = file.seed {
        outln!("slot {slot}: seed {seed}");
    }
    outln!(
        "slot {slot}: {} rule(s) in {}; programs that initialise the module from now on get them",
        file.fault.len(),
        path.display()
    );
    Ok(())
}

/// Accepts `*` and the spec's PKCS#11 function names; anything else (a
/// typo, a lower-case name) would make a rule that never fires, so it is
/// refused with the names closest to it.
fn check_function_name(function: &str) -> std::result::Result<(), String> {
    if function == "*" || names::FUNCTION_NAMES.contains(&function) {
        return Ok(());
    }
    let close = close_function_names(function);
    let hint = if close.is_empty() {
        "give a function by its spec name (C_Sign, C_Login, C_FindObjects, …) or * for every function"
            .to_owned()
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    Err(format!(
        "--function {function} is not a PKCS#11 function name; {hint}"
    ))
}

/// Up to five spec function names close to `typed` (case ignored): the
/// names it is a case-insensitive part of, then those a few edits away.
fn close_function_names(typed: &str) -> Vec<&'static str> {
    let lower = typed.to_ascii_lowercase();
    let bare = lower.strip_prefix("c_").unwrap_or(&lower);
    let mut scored: Vec<(f64, &'static str)> = names::FUNCTION_NAMES
        .iter()
        .filter_map(|name| {
            let candidate = name.to_ascii_lowercase();
            let score = if candidate == lower || candidate[2..] == *bare {
                2.0
            } else if !bare.is_empty() && candidate.contains(bare) {
                // Shorter names that hold it first: "sign" → C_Sign before C_SignMessageBegin.
                1.0 + 1.0 / candidate.len() as f64
            } else {
                strsim::jaro_winkler(&candidate, &lower)
            };
            (score >= 0.9).then_some((score, *name))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

/// A rule in words: `C_Sign → CKR_DEVICE_ERROR on call 3`.
fn describe_rule(r: &tokenemu_core::hooks::FaultRule) -> String {
    use tokenemu_core::hooks::FaultAction;
    let what = match r.action {
        FaultAction::Unplug => "unplug the token".to_owned(),
        FaultAction::Fail => r.rv.clone().unwrap_or_else(|| "CKR_DEVICE_ERROR".into()),
    };
    let when = match (r.nth, r.every, r.probability) {
        (Some(n), _, _) => format!("on call {n}"),
        (_, Some(n), _) => format!("on every call {n}"),
        (_, _, Some(p)) => format!("with probability {p}"),
        _ => "never".into(),
    };
    format!("{} → {what} {when}", r.function)
}
