//! PIN safety: the one pre-flight that `tokenemu run`, `conformance` and
//! `bench` go through before they use a PIN on a module's token, and the
//! words every PIN failure is reported in (the `token` commands use them
//! too).
//!
//! A real token locks after a few wrong PINs, and only the bank's branch can
//! unlock it, so a wrong PIN the user supplied must cost at most one try per
//! run. The pre-flight therefore, before any scenario, check or workload:
//! resolves the slot (unknown slot or label: an error), reads the token
//! flags and refuses PIN-using work on a token that already shows
//! `CKF_*_PIN_COUNT_LOW` / `FINAL_TRY` (unless `--allow-low-pin-tries`) or
//! `LOCKED` (always), and then logs in once with each PIN that the run will
//! use. A refused PIN ends the command there with one error that says what
//! the flags now show. After the pre-flight, the callers stop at the first
//! `CKR_PIN_INCORRECT` / `CKR_PIN_LOCKED` a scenario step, check or
//! workload did not expect ([`is_pin_refusal`]).

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use cryptoki_sys::*;
use tokenemu_core::names::rv_name;
use zeroize::Zeroizing;

use super::client::{Client, InitArgs};
use super::SlotChoice;

/// The option that lets PIN-using work go ahead on a token whose flags say
/// some tries are already spent.
pub const ALLOW_LOW_OPTION: &str = "--allow-low-pin-tries";

/// Which PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRole {
    /// The normal user's PIN.
    User,
    /// The security officer's PIN.
    So,
}

impl PinRole {
    /// "user" or "SO".
    pub fn name(self) -> &'static str {
        match self {
            PinRole::User => "user",
            PinRole::So => "SO",
        }
    }

    /// `CKU_USER` or `CKU_SO`.
    pub fn user_type(self) -> CK_USER_TYPE {
        match self {
            PinRole::User => CKU_USER,
            PinRole::So => CKU_SO,
        }
    }

    /// (COUNT_LOW, FINAL_TRY, LOCKED, TO_BE_CHANGED) flags of this PIN.
    fn flags(self) -> [(CK_FLAGS, &'static str); 4] {
        match self {
            PinRole::User => [
                (CKF_USER_PIN_COUNT_LOW, "CKF_USER_PIN_COUNT_LOW"),
                (CKF_USER_PIN_FINAL_TRY, "CKF_USER_PIN_FINAL_TRY"),
                (CKF_USER_PIN_LOCKED, "CKF_USER_PIN_LOCKED"),
                (CKF_USER_PIN_TO_BE_CHANGED, "CKF_USER_PIN_TO_BE_CHANGED"),
            ],
            PinRole::So => [
                (CKF_SO_PIN_COUNT_LOW, "CKF_SO_PIN_COUNT_LOW"),
                (CKF_SO_PIN_FINAL_TRY, "CKF_SO_PIN_FINAL_TRY"),
                (CKF_SO_PIN_LOCKED, "CKF_SO_PIN_LOCKED"),
                (CKF_SO_PIN_TO_BE_CHANGED, "CKF_SO_PIN_TO_BE_CHANGED"),
            ],
        }
    }

    /// The `*_PIN_TO_BE_CHANGED` flag: the PIN is still the default set at
    /// manufacture or initialisation (base spec v3.0 §3.2).
    pub fn to_be_changed(self) -> (CK_FLAGS, &'static str) {
        self.flags()[3]
    }
}

/// How many tries are left, as the token's flags tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tries {
    /// None of COUNT_LOW / FINAL_TRY / LOCKED.
    Unknown,
    /// `*_PIN_COUNT_LOW`: a wrong PIN was entered since the last good login.
    Low,
    /// `*_PIN_FINAL_TRY`: the next wrong PIN locks it.
    FinalTry,
    /// `*_PIN_LOCKED`.
    Locked,
}

/// What `flags` say about `role`'s tries, the worst flag first.
pub fn tries(flags: CK_FLAGS, role: PinRole) -> Tries {
    let [low, last, locked, _] = role.flags();
    if flags & locked.0 != 0 {
        Tries::Locked
    } else if flags & last.0 != 0 {
        Tries::FinalTry
    } else if flags & low.0 != 0 {
        Tries::Low
    } else {
        Tries::Unknown
    }
}

/// "the token reports CKF_USER_PIN_COUNT_LOW (tries left: fewer than the
/// maximum)" and the like: what the flags show about the tries left.
pub fn tries_text(flags: CK_FLAGS, role: PinRole) -> String {
    let [low, last, locked, _] = role.flags();
    match tries(flags, role) {
        Tries::Locked => format!(
            "the token reports {} (no tries left: only the SO can set a new {} PIN{})",
            locked.1,
            role.name(),
            if role == PinRole::User {
                ", C_InitPIN; `tokenemu token unlock` on the emulator"
            } else {
                ""
            }
        ),
        Tries::FinalTry => format!(
            "the token reports {} (one try left: the next wrong {} PIN locks it)",
            last.1,
            role.name()
        ),
        Tries::Low => format!(
            "the token reports {} (tries left: fewer than the maximum)",
            low.1
        ),
        Tries::Unknown => format!(
            "the token reports none of {}, {}, {} (it does not say how many tries are left)",
            low.1, last.1, locked.1
        ),
    }
}

/// Whether `rv` is the token refusing a PIN: every wrong PIN costs a try.
pub fn is_pin_refusal(rv: CK_RV) -> bool {
    rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED
}

/// [`is_pin_refusal`] by spec name (the scenario layer keeps `CKR_*` names).
pub fn is_pin_refusal_name(code: &str) -> bool {
    code == "CKR_PIN_INCORRECT" || code == "CKR_PIN_LOCKED"
}

/// A PIN the user supplied and where it came from (for messages; the PIN
/// itself is never shown).
#[derive(Clone)]
pub struct SuppliedPin {
    /// The PIN.
    pub value: Zeroizing<Vec<u8>>,
    /// "environment variable X (--pin-env)".
    pub source: String,
}

impl std::fmt::Debug for SuppliedPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SuppliedPin(from {})", self.source)
    }
}

/// Reads a PIN from the environment variable `var`, named by `option`; an
/// unset variable is a set-up mistake reported before anything runs.
pub fn pin_from_env(var: &str, option: &str) -> Result<SuppliedPin> {
    match std::env::var_os(var) {
        Some(v) => Ok(SuppliedPin {
            value: Zeroizing::new(v.into_encoded_bytes()),
            source: format!("environment variable {var} ({option})"),
        }),
        None => bail!("environment variable {var} (named by {option}) is not set"),
    }
}

/// [`pin_from_env`] for an optional option.
pub fn optional_pin(var: Option<&str>, option: &str) -> Result<Option<SuppliedPin>> {
    var.map(|v| pin_from_env(v, option)).transpose()
}

/// What the pre-flight checks and with which PINs.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The slot.
    pub choice: SlotChoice,
    /// The user PIN the work will use (`None`: no user login).
    pub user_pin: Option<SuppliedPin>,
    /// The SO PIN the work will use.
    pub so_pin: Option<SuppliedPin>,
    /// Go ahead on a token showing COUNT_LOW or FINAL_TRY.
    pub allow_low_pin_tries: bool,
    /// Log in once with each PIN (the verifying try). `false` when the
    /// caller's own first login is that try (`tokenemu bench` times it as
    /// its cold login) and it reports a refusal through [`refused`].
    pub login: bool,
}

/// What the pre-flight found.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The slot id.
    pub slot: CK_SLOT_ID,
    /// The token label.
    pub label: String,
    /// The token flags after the pre-flight.
    pub flags: CK_FLAGS,
}

/// The pre-flight on the module at `path`: loads and initialises it, runs
/// [`check`], finalizes it again. A missing module, an unknown slot or
/// label, a refused token or PIN: an error, before anything else ran.
pub fn preflight(path: &Path, req: &Request) -> Result<Ready> {
    if !path.exists() {
        bail!("PKCS#11 module {} does not exist", path.display());
    }
    let client = Client::load(path)?;
    let rv = client.initialize(InitArgs::OsLocking);
    if rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED {
        bail!("{}: C_Initialize returned {}", path.display(), rv_name(rv));
    }
    let out = check(&client, req);
    if rv == CKR_OK {
        client.finalize();
    }
    out.map_err(|e| anyhow!("{}: {e:#}", path.display()))
}

/// The pre-flight on an initialised module.
pub fn check(client: &Client, req: &Request) -> Result<Ready> {
    let slot = resolve_slot(client, &req.choice)?;
    let info = token_info(client, slot)?;
    let label = crate::show::padded_str(&info.label);
    let mut roles = Vec::new();
    if req.user_pin.is_some() {
        roles.push(PinRole::User);
    }
    if req.so_pin.is_some() {
        roles.push(PinRole::So);
    }
    for role in &roles {
        refuse_low_tries(slot, &label, info.flags, *role, req.allow_low_pin_tries)?;
    }
    if req.login {
        if let Some(pin) = &req.user_pin {
            verify(client, slot, &label, PinRole::User, pin)?;
        }
        if let Some(pin) = &req.so_pin {
            verify(client, slot, &label, PinRole::So, pin)?;
        }
    }
    let flags = token_info(client, slot)?.flags;
    Ok(Ready { slot, label, flags })
}

fn token_info(client: &Client, slot: CK_SLOT_ID) -> Result<CK_TOKEN_INFO> {
    let (rv, info) = client.token_info(slot);
    if rv != CKR_OK {
        bail!("slot {slot}: C_GetTokenInfo returned {}", rv_name(rv));
    }
    Ok(info)
}

/// The slot `choice` names; an error naming what exists when there is none.
pub fn resolve_slot(client: &Client, choice: &SlotChoice) -> Result<CK_SLOT_ID> {
    let present = client.slot_list_all(true);
    if present.rv != CKR_OK {
        bail!("C_GetSlotList returned {}", rv_name(present.rv));
    }
    match choice {
        SlotChoice::First => present
            .data
            .first()
            .copied()
            .ok_or_else(|| anyhow!("the module has no slot with a token")),
        SlotChoice::Id(id) => {
            if present.data.contains(id) {
                return Ok(*id);
            }
            let all = client.slot_list_all(false);
            if all.rv == CKR_OK && all.data.contains(id) {
                bail!(
                    "slot {id} holds no token (slots with a token: {:?})",
                    present.data
                );
            }
            bail!(
                "the module has no slot {id} (slots with a token: {:?})",
                present.data
            )
        }
        SlotChoice::Label(l) => {
            let mut labels = Vec::new();
            for s in &present.data {
                let (rv, info) = client.token_info(*s);
                if rv != CKR_OK {
                    continue;
                }
                let label = crate::show::padded_str(&info.label);
                if label == *l {
                    return Ok(*s);
                }
                labels.push(format!("{label:?}"));
            }
            bail!(
                "no token labelled {l:?} (tokens: {})",
                if labels.is_empty() {
                    "none".to_string()
                } else {
                    labels.join(", ")
                }
            )
        }
    }
}

/// Refuses PIN-using work for `role` on a token whose flags say tries are
/// already spent: LOCKED always, COUNT_LOW / FINAL_TRY unless allowed.
pub fn refuse_low_tries(
    slot: CK_SLOT_ID,
    label: &str,
    flags: CK_FLAGS,
    role: PinRole,
    allow_low: bool,
) -> Result<()> {
    let what = tries_text(flags, role);
    match tries(flags, role) {
        Tries::Unknown => Ok(()),
        Tries::Locked => bail!(
            "slot {slot} ({label:?}): {what}; no {} PIN is tried on a locked token",
            role.name()
        ),
        Tries::Low | Tries::FinalTry if allow_low => {
            tracing::warn!(slot, "{what}; going ahead ({ALLOW_LOW_OPTION})");
            Ok(())
        }
        Tries::Low | Tries::FinalTry => bail!(
            "slot {slot} ({label:?}): {what}: wrong {role} PINs were entered since its last good login, \
             so no {role} PIN is tried (a wrong one would bring the token closer to locking). \
             Check the PIN and pass {ALLOW_LOW_OPTION} to go ahead (a right PIN resets the counter; \
             a wrong one costs one more try)",
            role = role.name()
        ),
    }
}

/// Logs in once as `role` on a fresh session and out again.
fn verify(
    client: &Client,
    slot: CK_SLOT_ID,
    label: &str,
    role: PinRole,
    pin: &SuppliedPin,
) -> Result<()> {
    // The SO needs a read-write session; the user logs in on a read-only
    // one, which a write-protected token also opens.
    let flags = CKF_SERIAL_SESSION
        | if role == PinRole::So {
            CKF_RW_SESSION
        } else {
            0
        };
    let (rv, session) = client.open_session(slot, flags);
    if rv != CKR_OK {
        bail!("slot {slot}: C_OpenSession returned {}", rv_name(rv));
    }
    let rv = client.login(session, role.user_type(), Some(&pin.value));
    let out = match rv {
        CKR_OK => {
            client.logout(session);
            Ok(())
        }
        CKR_USER_ALREADY_LOGGED_IN => Ok(()),
        rv if is_pin_refusal(rv) => Err(refused(client, slot, label, role, pin, rv)),
        rv => Err(anyhow!(
            "slot {slot} ({label:?}): C_Login({}) with the {} PIN from {} returned {}",
            if role == PinRole::So {
                "CKU_SO"
            } else {
                "CKU_USER"
            },
            role.name(),
            pin.source,
            rv_name(rv)
        )),
    };
    client.close_session(session);
    out
}

/// The one error for a PIN the token refused: the return value, what the
/// flags now show, and that nothing else ran.
pub fn refused(
    client: &Client,
    slot: CK_SLOT_ID,
    label: &str,
    role: PinRole,
    pin: &SuppliedPin,
    rv: CK_RV,
) -> anyhow::Error {
    let (info_rv, info) = client.token_info(slot);
    let flags = if info_rv == CKR_OK {
        tries_text(info.flags, role)
    } else {
        format!("C_GetTokenInfo returned {}", rv_name(info_rv))
    };
    anyhow!(
        "slot {slot} ({label:?}): the {} PIN from {} was refused: C_Login returned {}: {flags}. \
         Nothing else ran: this run cost one try. Check the PIN before running again",
        role.name(),
        pin.source,
        rv_name(rv)
    )
}

/// What the token in `slot` of the module at `path` now shows about the
/// tries left of each of `roles` (for the message of a run that stopped).
pub fn tries_now(path: &Path, slot: CK_SLOT_ID, roles: &[PinRole]) -> String {
    let client = match Client::load(path) {
        Ok(c) => c,
        Err(e) => return format!("the token's flags cannot be read: {e:#}"),
    };
    let init = client.initialize(InitArgs::OsLocking);
    let (rv, info) = client.token_info(slot);
    if init == CKR_OK {
        client.finalize();
    }
    if rv != CKR_OK {
        return format!(
            "the token's flags cannot be read: C_GetTokenInfo returned {}",
            rv_name(rv)
        );
    }
    roles
        .iter()
        .map(|r| tries_text(info.flags, *r))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_say_how_many_tries_are_left() {
        assert_eq!(tries(0, PinRole::User), Tries::Unknown);
        assert_eq!(tries(CKF_USER_PIN_COUNT_LOW, PinRole::User), Tries::Low);
        assert_eq!(
            tries(
                CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY,
                PinRole::User
            ),
            Tries::FinalTry
        );
        assert_eq!(
            tries(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED, PinRole::User),
            Tries::Locked
        );
        // The SO's flags do not count for the user and the other way round.
        assert_eq!(tries(CKF_SO_PIN_LOCKED, PinRole::User), Tries::Unknown);
        assert_eq!(tries(CKF_USER_PIN_LOCKED, PinRole::So), Tries::Unknown);
        assert!(tries_text(CKF_USER_PIN_COUNT_LOW, PinRole::User)
            .contains("CKF_USER_PIN_COUNT_LOW (tries left: fewer than the maximum)"));
        assert!(tries_text(CKF_SO_PIN_FINAL_TRY, PinRole::So).contains("one try left"));
    }

    #[test]
    fn low_tries_are_refused_unless_allowed_and_locked_always() {
        let low = CKF_USER_PIN_COUNT_LOW;
        let e = refuse_low_tries(0, "t", low, PinRole::User, false).unwrap_err();
        assert!(e.to_string().contains(ALLOW_LOW_OPTION), "{e}");
        refuse_low_tries(0, "t", low, PinRole::User, true).unwrap();
        refuse_low_tries(0, "t", low, PinRole::So, false).unwrap();
        let locked = CKF_USER_PIN_LOCKED;
        assert!(refuse_low_tries(0, "t", locked, PinRole::User, true).is_err());
    }
}
