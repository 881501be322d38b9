//! The module's state and the implementation of every `Module` method.
//!
//! Locking: the session table is an `RwLock` held only long enough to clone a
//! session's `Arc`; each token has a `Mutex`; each session has a `Mutex`. When
//! both are needed the token is locked first. Signing and other operations on a
//! running session lock only that session, so sessions work in parallel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokenemu_store::{Presence, Store};

use crate::api::{AttrLookup, OpKind, OutSpec, Output};
use crate::ck::*;
use crate::config::{Config, SlotConfig};
use crate::error::{Error, Result};
use crate::hooks::{apply_latency, CallClock, Fired, SlotFaults, Target};
use crate::mechanism::params::Mechanism;
use crate::mechanism::registry;
use crate::object::attribute::{AttrMap, AttrMapExt, Attribute, Template};
use crate::object::{build_attrs, Object, Origin};
use crate::profile::parse_version;
use crate::session::{Active, FindState, Operation, Session, Stage};
use crate::token::{Login, Token, Who};
use crate::util::padded;

/// How often a blocking `C_WaitForSlotEvent` looks at the tokens.
const EVENT_POLL: Duration = Duration::from_millis(50);

/// How old a store generation check the running-operation calls (`C_*Init`
/// with a key, `C_Sign`, `C_Encrypt` …) accept: re-reading the generation
/// costs an `open`+`read`, a large part of an ECDSA signature, and another
/// process's change to the objects is still seen within this time. Whether
/// the token is plugged in is looked at on every call (one `stat` of the
/// `unplugged` marker), as a real token's next command fails at once once it
/// is pulled out. Object searches, reads and writes always see the store as
/// it is.
const HOT_PATH_STALENESS: Duration = Duration::from_millis(10);

/// The most bytes `C_GenerateRandom` hands out in one call.
const MAX_RANDOM: usize = 1 << 20;

#[derive(Debug)]
struct Slot {
    config: SlotConfig,
    faults: Option<SlotFaults>,
    /// The profile's mechanisms this emulator implements, with their info,
    /// in numeric order (resolved once: names are looked up in tables).
    mechs: Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>,
    /// The store's hot-plug flag, read without the token lock; `None` when
    /// the store could not be opened (the slot then shows no token).
    presence: Option<Presence>,
    /// `None` when the store could not be opened.
    token: Option<Mutex<Token>>,
    /// Presence as last reported by `C_WaitForSlotEvent`.
    reported_present: AtomicBool,
}

/// Opens a slot's store and its token. A store that cannot be opened or
/// created — a missing parent, no permission, a read-only file system, a
/// damaged or foreign directory, or a read-only one without a token in it —
/// disables only its own slot (the caller logs why): the slot then reports
/// no token, as a reader without a card does, and the other slots work.
fn open_token(sc: &SlotConfig, handles: &Arc<AtomicU64>) -> Result<(Presence, Token, bool)> {
    let store_error = |e| Error::slot_store(sc.id, &sc.store, e);
    let store = Store::open(&sc.store).map_err(store_error)?;
    if store.is_read_only() {
        // A read-only store cannot become a token: it must hold one already.
        let has_token = store.view(|v| v.meta.is_some()).map_err(store_error)?;
        if !has_token {
            return Err(store_error(tokenemu_store::StoreError::ReadOnly {
                path: sc.store.clone(),
                reason: "it holds no token yet, and one cannot be created there".to_owned(),
            }));
        }
    }
    if let Some(p) = sc.present {
        match store.set_present(p) {
            Err(e @ tokenemu_store::StoreError::ReadOnly { .. }) => tracing::warn!(
                slot = sc.id,
                error = %e,
                "the configured presence cannot be set on a write-protected token; it keeps the stored one"
            ),
            r => r.map_err(store_error)?,
        }
    }
    let present = store.is_present().map_err(store_error)?;
    let presence = store.presence();
    let token = Token::new(sc.id, sc.profile.clone(), store, handles.clone());
    Ok((presence, token, present))
}

impl Slot {
    /// The slot's token, locked; `CKR_TOKEN_NOT_PRESENT` for a slot whose
    /// store could not be opened.
    fn token(&self) -> Result<MutexGuard<'_, Token>> {
        self.token
            .as_ref()
            .map(lock)
            .ok_or(Error::TokenNotPresent(self.config.id))
    }
}

#[derive(Debug)]
struct SessionCell {
    slot: usize,
    state: Mutex<Session>,
}

/// Everything an initialised module holds.
#[derive(Debug)]
pub struct ModuleState {
    slots: Vec<Slot>,
    /// Some slot injects faults or emulates latency.
    hooks_active: bool,
    sessions: RwLock<HashMap<CK_SESSION_HANDLE, Arc<SessionCell>>>,
    handles: Arc<AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock was already turned into CKR_GENERAL_ERROR
    // at the boundary; the data is still consistent enough to carry on.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ModuleState {
    pub(crate) fn new(config: Config) -> Result<Self> {
        // One counter for the whole process: objects a token keeps cached
        // across C_Finalize/C_Initialize (see `token`) keep their handles, so
        // no later module may hand the same numbers out again.
        static HANDLES: std::sync::OnceLock<Arc<AtomicU64>> = std::sync::OnceLock::new();
        let handles = HANDLES.get_or_init(|| Arc::new(AtomicU64::new(1))).clone();
        let mut slots = Vec::new();
        for sc in config.slots {
            let (presence, token, present) = match open_token(&sc, &handles) {
                Ok((presence, token, present)) => {
                    (Some(presence), Some(Mutex::new(token)), present)
                }
                Err(e) => {
                    tracing::error!(
                        slot = sc.id,
                        store = %sc.store.display(),
                        error = %e,
                        "the slot's token store cannot be used: the slot shows no token, the other slots work"
                    );
                    (None, None, false)
                }
            };
            let faults = if sc.faults.is_empty() {
                None
            } else {
                Some(
                    SlotFaults::new(sc.faults.clone(), sc.fault_seed)
                        .map_err(|e| Error::Config(format!("slot {}: {e}", sc.id)))?,
                )
            };
            let mechs = sc
                .profile
                .mechanism_table()
                .into_iter()
                .filter(|(m, _)| registry().contains(*m))
                .collect();
            slots.push(Slot {
                config: sc,
                faults,
                mechs,
                presence,
                token,
                reported_present: AtomicBool::new(present),
            });
        }
        let hooks_active = slots.iter().any(|s| s.faults.is_some() || s.config.latency);
        // Each new module looks at TOKENEMU_TRACE again (see `hooks`).
        crate::hooks::reopen_trace()?;
        Ok(ModuleState {
            slots,
            hooks_active,
            sessions: RwLock::new(HashMap::new()),
            handles,
        })
    }

    // ---- hooks (trace, faults, latency) ----------------------------------------

    fn slot_for(&self, target: Target) -> Option<usize> {
        match target {
            Target::Slot(id) => self.slot_index(id).ok(),
            Target::Session(h) => self.cell(h).ok().map(|c| c.slot),
        }
    }

    pub(crate) fn hooked<R>(
        &self,
        function: &'static str,
        target: Target,
        args: Option<serde_json::Value>,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        if !self.hooks_active && !crate::hooks::tracing() {
            return f();
        }
        let clock = CallClock::start();
        let slot = if self.hooks_active {
            self.slot_for(target)
        } else {
            None
        };
        let fired = slot.and_then(|i| self.slots[i].faults.as_ref()?.check(function));
        let r = match (fired, slot) {
            (Some(Fired::Fail(rv)), _) => {
                tracing::info!(function, rv = %crate::names::rv_name(rv), "injected fault");
                if let Target::Session(h) = target {
                    self.end_failed_operation(function, h);
                }
                Err(Error::Injected(rv))
            }
            (Some(Fired::Unplug), Some(i)) => {
                tracing::info!(
                    function,
                    slot = self.slots[i].config.id,
                    "injected token removal"
                );
                self.slots[i].token()?.store().set_present(false)?;
                self.token_removed(i);
                Err(Error::DeviceRemoved)
            }
            _ => f(),
        };
        if let Some(i) = slot.filter(|i| self.slots[*i].config.latency) {
            apply_latency(&self.slots[i].config.profile.latency, function, &clock);
        }
        if let Some(args) = args {
            let rv = r.as_ref().map_or_else(Error::rv, |_| CKR_OK);
            crate::hooks::core_call_traced(function, args, rv, clock.elapsed());
        }
        r
    }

    /// Ends the session's active operation of `kind` (see `Module::op_abort`).
    pub(crate) fn op_abort(&self, h: CK_SESSION_HANDLE, kind: OpKind) {
        self.end_failed_operation(crate::hooks::op_name(kind, crate::hooks::Phase::Single), h);
    }

    /// An injected failure ends the operation the call belongs to, as a real
    /// failure of that call would (the `*Init` calls start nothing).
    fn end_failed_operation(&self, function: &str, h: CK_SESSION_HANDLE) {
        let Ok(cell) = self.cell(h) else { return };
        let mut s = lock(&cell.state);
        let f = function.trim_start_matches("C_");
        if f.ends_with("Init") {
            return;
        }
        let kind = if f.starts_with("Sign") {
            Some(OpKind::Sign)
        } else if f.starts_with("Verify") {
            Some(OpKind::Verify)
        } else if f.starts_with("Encrypt") {
            Some(OpKind::Encrypt)
        } else if f.starts_with("Decrypt") {
            Some(OpKind::Decrypt)
        } else if f.starts_with("Digest") {
            Some(OpKind::Digest)
        } else {
            None
        };
        if let Some(kind) = kind {
            s.end(kind);
        } else if f == "FindObjects" {
            s.find = None;
        }
    }

    // ---- lookups ------------------------------------------------------------

    fn slot_index(&self, id: CK_SLOT_ID) -> Result<usize> {
        self.slots
            .iter()
            .position(|s| s.config.id == id)
            .ok_or(Error::SlotIdInvalid(id))
    }

    /// Whether the token is plugged in, from a reading at most `max_age`
    /// old (`Duration::ZERO`: look now).
    fn is_plugged(&self, slot: usize) -> Result<bool> {
        match &self.slots[slot].presence {
            Some(presence) => Ok(presence.is_present()?),
            None => Ok(false),
        }
    }

    /// Looks at the token now; a pulled token's sessions are marked removed.
    fn present(&self, slot: usize) -> bool {
        let present = self.is_plugged(slot).unwrap_or(false);
        if !present {
            self.token_removed(slot);
        }
        present
    }

    /// The token of a slot, refreshed, if present.
    fn token(&self, slot: usize) -> Result<MutexGuard<'_, Token>> {
        self.token_within(slot, Duration::ZERO)
    }

    /// The token of a slot if present, its presence and store state checked
    /// no longer than `max_age` ago.
    fn token_within(&self, slot: usize, max_age: Duration) -> Result<MutexGuard<'_, Token>> {
        if !self.is_plugged(slot)? {
            self.token_removed(slot);
            return Err(Error::TokenNotPresent(self.slots[slot].config.id));
        }
        let mut t = self.slots[slot].token()?;
        t.refresh_within(max_age)?;
        Ok(t)
    }

    /// The token was found pulled: log out and mark its sessions dead.
    fn token_removed(&self, slot: usize) {
        let Ok(mut t) = self.slots[slot].token() else {
            return;
        };
        t.logout();
        let handles: Vec<_> = std::mem::take(&mut t.sessions).into_keys().collect();
        t.drop_session_objects(None);
        let table = self
            .sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for h in handles {
            if let Some(cell) = table.get(&h) {
                let mut s = lock(&cell.state);
                s.removed = true;
                s.end_all();
            }
        }
    }

    fn cell(&self, h: CK_SESSION_HANDLE) -> Result<Arc<SessionCell>> {
        self.sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&h)
            .cloned()
            .ok_or(Error::SessionHandleInvalid(h))
    }

    /// Runs `f` with the session's token and the session, both locked.
    fn with_token<R>(
        &self,
        h: CK_SESSION_HANDLE,
        f: impl FnOnce(&mut Token, &mut Session) -> Result<R>,
    ) -> Result<R> {
        self.with_token_within(h, Duration::ZERO, f)
    }

    /// [`with_token`](Self::with_token) accepting a presence reading and
    /// store check up to `max_age` old.
    fn with_token_within<R>(
        &self,
        h: CK_SESSION_HANDLE,
        max_age: Duration,
        f: impl FnOnce(&mut Token, &mut Session) -> Result<R>,
    ) -> Result<R> {
        let cell = self.cell(h)?;
        let mut t = match self.token_within(cell.slot, max_age) {
            Ok(t) => t,
            Err(Error::TokenNotPresent(_)) => return Err(Error::DeviceRemoved),
            Err(e) => return Err(e),
        };
        let mut s = lock(&cell.state);
        if s.removed {
            return Err(Error::DeviceRemoved);
        }
        f(&mut t, &mut s)
    }

    /// Runs `f` with only the session locked (the hot path of running operations).
    fn with_session<R>(
        &self,
        h: CK_SESSION_HANDLE,
        f: impl FnOnce(&mut Session) -> Result<R>,
    ) -> Result<R> {
        let cell = self.cell(h)?;
        if !self.is_plugged(cell.slot).unwrap_or(false) {
            self.token_removed(cell.slot);
            return Err(Error::DeviceRemoved);
        }
        let mut s = lock(&cell.state);
        if s.removed {
            return Err(Error::DeviceRemoved);
        }
        f(&mut s)
    }

    pub(crate) fn check_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        self.with_session(h, |_| Ok(()))
    }

    // ---- slots and tokens ----------------------------------------------------

    pub(crate) fn slot_list(&self, token_present: bool) -> Vec<CK_SLOT_ID> {
        (0..self.slots.len())
            .filter(|&i| !token_present || self.present(i))
            .map(|i| self.slots[i].config.id)
            .collect()
    }

    pub(crate) fn slot_info(&self, id: CK_SLOT_ID) -> Result<CK_SLOT_INFO> {
        let i = self.slot_index(id)?;
        let slot = &self.slots[i];
        let p = &slot.config.profile.slot;
        let mut flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
        if self.present(i) {
            flags |= CKF_TOKEN_PRESENT;
        }
        let desc = slot.config.description.as_deref().unwrap_or(&p.description);
        Ok(CK_SLOT_INFO {
            slotDescription: padded(desc),
            manufacturerID: padded(&p.manufacturer),
            flags,
            hardwareVersion: parse_version(&p.hardware_version).map_err(Error::Config)?,
            firmwareVersion: parse_version(&p.firmware_version).map_err(Error::Config)?,
        })
    }

    pub(crate) fn token_info(&self, id: CK_SLOT_ID) -> Result<CK_TOKEN_INFO> {
        let i = self.slot_index(id)?;
        let t = self.token(i)?;
        let p = &t.profile.token;
        let meta = t.meta()?;
        let (used_pub, used_priv) = t.memory_used();
        let rw = t.sessions.values().filter(|rw| **rw).count();
        let limit = |v: CK_ULONG| if v == 0 { CK_EFFECTIVELY_INFINITE } else { v };
        // Public and private objects share the chip's memory.
        let used = (used_pub as CK_ULONG).saturating_add(used_priv as CK_ULONG);
        let free = |total: CK_ULONG| {
            if total == CK_UNAVAILABLE_INFORMATION {
                CK_UNAVAILABLE_INFORMATION
            } else {
                total.saturating_sub(used)
            }
        };
        Ok(CK_TOKEN_INFO {
            label: padded(&meta.label),
            manufacturerID: padded(&p.manufacturer),
            model: padded(&p.model),
            serialNumber: padded(&meta.serial),
            flags: t.flags()?,
            ulMaxSessionCount: limit(p.max_sessions),
            ulSessionCount: t.sessions.len() as CK_ULONG,
            ulMaxRwSessionCount: limit(p.max_rw_sessions),
            ulRwSessionCount: rw as CK_ULONG,
            ulMaxPinLen: t.profile.pin.max_len,
            ulMinPinLen: t.profile.pin.min_len,
            ulTotalPublicMemory: p.total_public_memory,
            ulFreePublicMemory: free(p.total_public_memory),
            ulTotalPrivateMemory: p.total_private_memory,
            ulFreePrivateMemory: free(p.total_private_memory),
            hardwareVersion: parse_version(&p.hardware_version).map_err(Error::Config)?,
            firmwareVersion: parse_version(&p.firmware_version).map_err(Error::Config)?,
            utcTime: [b' '; 16],
        })
    }

    pub(crate) fn wait_for_slot_event(
        &self,
        block: bool,
        cancel: &AtomicBool,
    ) -> Result<CK_SLOT_ID> {
        loop {
            for (i, slot) in self.slots.iter().enumerate() {
                let now = self.present(i);
                if slot.reported_present.swap(now, Ordering::SeqCst) != now {
                    return Ok(slot.config.id);
                }
            }
            if !block {
                return Err(Error::NoEvent);
            }
            if cancel.load(Ordering::SeqCst) {
                return Err(Error::NotInitialized);
            }
            std::thread::sleep(EVENT_POLL);
        }
    }

    fn profile_mechs(&self, slot: usize) -> &[(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)] {
        &self.slots[slot].mechs
    }

    pub(crate) fn mechanism_list(&self, id: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        let i = self.slot_index(id)?;
        if !self.present(i) {
            return Err(Error::TokenNotPresent(id));
        }
        Ok(self.profile_mechs(i).iter().map(|(m, _)| *m).collect())
    }

    pub(crate) fn mechanism_info(
        &self,
        id: CK_SLOT_ID,
        mech: CK_MECHANISM_TYPE,
    ) -> Result<CK_MECHANISM_INFO> {
        let i = self.slot_index(id)?;
        if !self.present(i) {
            return Err(Error::TokenNotPresent(id));
        }
        self.profile_mechs(i)
            .iter()
            .find(|(m, _)| *m == mech)
            .map(|(_, info)| *info)
            .ok_or(Error::MechanismInvalid(mech))
    }

    /// The token's info for `mech` if it lists it with `flag`.
    fn mech_for(
        &self,
        slot: usize,
        mech: CK_MECHANISM_TYPE,
        flag: CK_FLAGS,
    ) -> Result<CK_MECHANISM_INFO> {
        let info = self
            .profile_mechs(slot)
            .iter()
            .find(|(m, _)| *m == mech)
            .map(|(_, info)| *info)
            .ok_or(Error::MechanismInvalid(mech))?;
        if info.flags & flag == 0 {
            return Err(Error::MechanismInvalid(mech));
        }
        Ok(info)
    }

    pub(crate) fn init_token(&self, id: CK_SLOT_ID, so_pin: &[u8], label: &[u8; 32]) -> Result<()> {
        let i = self.slot_index(id)?;
        let mut t = self.token(i)?;
        if t.write_protected() {
            return Err(Error::TokenWriteProtected);
        }
        if !t.sessions.is_empty() {
            return Err(Error::SessionExists);
        }
        t.drop_session_objects(None);
        t.init_token(so_pin, label)
    }

    pub(crate) fn init_pin(&self, h: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        self.with_token(h, |t, s| {
            if t.login != Login::So {
                return Err(Error::UserNotLoggedIn);
            }
            if !s.rw {
                return Err(t.read_only_session_error());
            }
            t.init_user_pin(pin)
        })
    }

    pub(crate) fn set_pin(&self, h: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        self.with_token(h, |t, s| {
            if !s.rw {
                return Err(t.read_only_session_error());
            }
            let who = if t.login == Login::So {
                Who::So
            } else {
                Who::User
            };
            t.set_pin(who, old, new)
        })
    }

    // ---- sessions --------------------------------------------------------------

    pub(crate) fn open_session(
        &self,
        id: CK_SLOT_ID,
        flags: CK_FLAGS,
    ) -> Result<CK_SESSION_HANDLE> {
        let i = self.slot_index(id)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::SessionParallelNotSupported);
        }
        let rw = flags & CKF_RW_SESSION != 0;
        let mut t = self.token(i)?;
        if rw && t.write_protected() {
            return Err(Error::TokenWriteProtected);
        }
        if !rw && t.login == Login::So {
            return Err(Error::SessionReadWriteSoExists);
        }
        let p = &t.profile.token;
        if p.max_sessions != 0 && t.sessions.len() as CK_ULONG >= p.max_sessions {
            return Err(Error::SessionCount);
        }
        let rw_count = t.sessions.values().filter(|r| **r).count() as CK_ULONG;
        if rw && p.max_rw_sessions != 0 && rw_count >= p.max_rw_sessions {
            return Err(Error::SessionCount);
        }
        let h = self.handles.fetch_add(1, Ordering::Relaxed);
        t.sessions.insert(h, rw);
        let cell = Arc::new(SessionCell {
            slot: i,
            state: Mutex::new(Session::new(h, id, rw)),
        });
        self.sessions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(h, cell);
        Ok(h)
    }

    fn forget_session(&self, t: &mut Token, h: CK_SESSION_HANDLE) {
        self.sessions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&h);
        t.sessions.remove(&h);
        t.drop_session_objects(Some(h));
        if t.sessions.is_empty() {
            // The spec logs the application out when its last session closes.
            t.logout();
        }
    }

    pub(crate) fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let cell = self.cell(h)?;
        let mut t = self.slots[cell.slot].token()?;
        self.forget_session(&mut t, h);
        Ok(())
    }

    pub(crate) fn close_all_sessions(&self, id: CK_SLOT_ID) -> Result<()> {
        let i = self.slot_index(id)?;
        let mut t = self.slots[i].token()?;
        let mine: Vec<_> = self
            .sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, c)| c.slot == i)
            .map(|(h, _)| *h)
            .collect();
        for h in mine {
            self.forget_session(&mut t, h);
        }
        t.logout();
        Ok(())
    }

    pub(crate) fn session_info(&self, h: CK_SESSION_HANDLE) -> Result<CK_SESSION_INFO> {
        self.with_token(h, |t, s| {
            let state = match (t.login, s.rw) {
                (Login::Public, false) => CKS_RO_PUBLIC_SESSION,
                (Login::Public, true) => CKS_RW_PUBLIC_SESSION,
                (Login::User, false) => CKS_RO_USER_FUNCTIONS,
                (Login::User, true) => CKS_RW_USER_FUNCTIONS,
                (Login::So, _) => CKS_RW_SO_FUNCTIONS,
            };
            let mut flags = CKF_SERIAL_SESSION;
            if s.rw {
                flags |= CKF_RW_SESSION;
            }
            Ok(CK_SESSION_INFO {
                slotID: s.slot_id,
                state,
                flags,
                ulDeviceError: 0,
            })
        })
    }

    pub(crate) fn login(&self, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        self.with_token(h, |t, s| match user {
            CKU_SO => {
                match t.login {
                    Login::So => return Err(Error::UserAlreadyLoggedIn),
                    Login::User => return Err(Error::UserAnotherAlreadyLoggedIn),
                    Login::Public => {}
                }
                if t.sessions.values().any(|rw| !rw) {
                    return Err(Error::SessionReadOnlyExists);
                }
                t.verify_pin(Who::So, pin)?;
                t.login = Login::So;
                Ok(())
            }
            CKU_USER => {
                match t.login {
                    Login::User => return Err(Error::UserAlreadyLoggedIn),
                    Login::So => return Err(Error::UserAnotherAlreadyLoggedIn),
                    Login::Public => {}
                }
                t.verify_pin(Who::User, pin)?;
                t.login = Login::User;
                Ok(())
            }
            CKU_CONTEXT_SPECIFIC => {
                if t.login != Login::User {
                    return Err(Error::UserNotLoggedIn);
                }
                if !s.needs_context_login() {
                    return Err(Error::OperationNotInitialized);
                }
                t.verify_pin(Who::User, pin)?;
                s.context_login = true;
                Ok(())
            }
            other => Err(Error::UserTypeInvalid(other)),
        })
    }

    pub(crate) fn logout(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, _| {
            if t.login == Login::Public {
                return Err(Error::UserNotLoggedIn);
            }
            t.logout();
            Ok(())
        })?;
        // Operations that used private keys end with the login.
        let table = self
            .sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for cell in table.values().filter(|c| c.slot == slot) {
            lock(&cell.state).end_all();
        }
        Ok(())
    }

    // ---- objects ---------------------------------------------------------------

    /// Checks that the session may create or change an object with these flags.
    /// Checks that the session may create an object with these attributes.
    fn check_write(t: &Token, s: &Session, attrs: &AttrMap) -> Result<()> {
        if attrs.get_bool(CKA_TOKEN) == Some(true) && !s.rw {
            return Err(t.read_only_session_error());
        }
        if attrs.get_bool(CKA_PRIVATE) == Some(true) && t.login != Login::User {
            return Err(Error::UserNotLoggedIn);
        }
        Ok(())
    }

    /// v3.0 §4.x (tables of certificate, public and secret key attributes):
    /// `CKA_TRUSTED` "can only be set to CK_TRUE by the SO user". The spec
    /// names no return value; SoftHSM and kryoptic answer
    /// `CKR_ATTRIBUTE_READ_ONLY`, as here.
    fn check_trusted(t: &Token, attrs: &AttrMap) -> Result<()> {
        if attrs.get_bool(CKA_TRUSTED) == Some(true) && t.login != Login::So {
            return Err(Error::AttributeReadOnly(CKA_TRUSTED));
        }
        Ok(())
    }

    /// A new object owned by session `h` unless it is a token object.
    fn new_object(h: CK_SESSION_HANDLE, attrs: AttrMap) -> Object {
        let session = (attrs.get_bool(CKA_TOKEN) != Some(true)).then_some(h);
        Object::new(0, session, attrs)
    }

    pub(crate) fn create_object(
        &self,
        h: CK_SESSION_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.with_token(h, |t, s| {
            let mut attrs = build_attrs(&template, Origin::Create)?;
            Self::check_write(t, s, &attrs)?;
            Self::check_trusted(t, &attrs)?;
            crate::mechanism::keys::complete_import(&mut attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    pub(crate) fn copy_object(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.with_token(h, |t, s| {
            let src = t.object(o)?;
            let attrs = src.copy_with(&template)?;
            Self::check_write(t, s, &attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    pub(crate) fn destroy_object(&self, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> Result<()> {
        self.with_token(h, |t, s| {
            let obj = t.object(o)?;
            if obj.is_token() && !s.rw {
                return Err(t.read_only_session_error());
            }
            if !obj.attrs.get_bool(CKA_DESTROYABLE).unwrap_or(true) {
                return Err(Error::ActionProhibited);
            }
            t.remove(o)
        })
    }

    pub(crate) fn object_size(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
    ) -> Result<CK_ULONG> {
        self.with_token(h, |t, _| Ok(t.object(o)?.size() as CK_ULONG))
    }

    pub(crate) fn get_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<AttrLookup>> {
        self.with_token(h, |t, _| Ok(t.object(o)?.lookup(types)))
    }

    pub(crate) fn set_attributes(
        &self,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<()> {
        self.with_token(h, |t, s| {
            let obj = t.object(o)?;
            if obj.is_token() && !s.rw {
                return Err(t.read_only_session_error());
            }
            let attrs = obj.with_changes(&template).map_err(|e| match e {
                Error::ActionProhibited => {
                    Error::AttributeReadOnly(template.first().map_or(CKA_MODIFIABLE, |a| a.ty))
                }
                e => e,
            })?;
            t.replace(o, attrs)
        })
    }

    pub(crate) fn find_init(&self, h: CK_SESSION_HANDLE, template: Template) -> Result<()> {
        self.with_token(h, |t, s| {
            if s.find.is_some() {
                return Err(Error::OperationActive);
            }
            for a in &template {
                if a.ty != CKA_UNIQUE_ID {
                    a.validate().map_err(|_| {
                        Error::AttributeValueInvalid(a.ty, "wrong length for its type")
                    })?;
                }
            }
            s.find = Some(FindState {
                results: t.find(&template),
                pos: 0,
            });
            Ok(())
        })
    }

    pub(crate) fn find_next(
        &self,
        h: CK_SESSION_HANDLE,
        max: usize,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        self.with_session(h, |s| {
            let f = s.find.as_mut().ok_or(Error::OperationNotInitialized)?;
            let end = f.results.len().min(f.pos.saturating_add(max));
            let out = f.results[f.pos..end].to_vec();
            f.pos = end;
            Ok(out)
        })
    }

    pub(crate) fn find_final(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        self.with_session(h, |s| {
            s.find
                .take()
                .map(|_| ())
                .ok_or(Error::OperationNotInitialized)
        })
    }

    // ---- cryptographic operations ------------------------------------------------

    pub(crate) fn op_init(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        m: Mechanism,
        key: Option<CK_OBJECT_HANDLE>,
    ) -> Result<()> {
        let slot = self.cell(h)?.slot;
        // Uses an existing key by handle: a store state up to
        // HOT_PATH_STALENESS old will do.
        self.with_token_within(h, HOT_PATH_STALENESS, |t, s| {
            s.ensure_idle(kind)?;
            let (flag, usage_needs_key) = match kind {
                OpKind::Digest => (CKF_DIGEST, false),
                OpKind::Sign => (CKF_SIGN, true),
                OpKind::Verify => (CKF_VERIFY, true),
                OpKind::Encrypt => (CKF_ENCRYPT, true),
                OpKind::Decrypt => (CKF_DECRYPT, true),
                OpKind::SignRecover => (CKF_SIGN_RECOVER, true),
                OpKind::VerifyRecover => (CKF_VERIFY_RECOVER, true),
            };
            let info = self.mech_for(slot, m.mech, flag)?;
            let imp = registry().get(m.mech)?;
            let key = match (usage_needs_key, key) {
                (true, Some(k)) => Some(t.object(k).map_err(|_| Error::KeyHandleInvalid(k))?),
                (true, None) => return Err(Error::ArgumentsBad("a key is required")),
                (false, _) => None,
            };
            let op = match kind {
                OpKind::Digest => Operation::Digest(imp.digest(&m)?),
                OpKind::Sign => Operation::Sign(imp.sign(&m, key_ref(&key)?)?),
                OpKind::Verify => Operation::Verify(imp.verify(&m, key_ref(&key)?)?),
                OpKind::Encrypt => Operation::Cipher(imp.encrypt(&m, key_ref(&key)?)?),
                OpKind::Decrypt => Operation::Cipher(imp.decrypt(&m, key_ref(&key)?)?),
                OpKind::SignRecover | OpKind::VerifyRecover => {
                    return Err(Error::MechanismInvalid(m.mech))
                }
            };
            // Checked once the mechanism accepted the key, so a wrong kind of key
            // reports CKR_KEY_TYPE_INCONSISTENT rather than a size error.
            if let Some(k) = &key {
                check_key_size(imp, &m, k, &info)?;
            }
            // Private-key operations may need the PIN again (CKA_ALWAYS_AUTHENTICATE).
            let ctx = matches!(kind, OpKind::Sign | OpKind::Decrypt)
                && key
                    .as_ref()
                    .is_some_and(|k| k.flag(CKA_ALWAYS_AUTHENTICATE));
            *s.op_entry(kind) = Some(Active::new(op, ctx));
            s.context_login = false;
            Ok(())
        })
    }

    /// `C_Encrypt`, `C_Decrypt`, `C_Digest`, `C_Sign`.
    pub(crate) fn op_single(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: OutSpec,
    ) -> Result<Output> {
        self.with_session(h, |s| {
            if matches!(
                kind,
                OpKind::Verify | OpKind::SignRecover | OpKind::VerifyRecover
            ) {
                return Err(Error::OperationNotInitialized);
            }
            if matches!(kind, OpKind::Sign | OpKind::Decrypt) {
                check_context(s.op(kind), s.context_login)?;
            }
            run_to_end(s.op_entry(kind), out, Stage::SinglePart, input)
        })
    }

    /// `C_EncryptUpdate`, `C_DecryptUpdate`, `C_DigestUpdate`, `C_SignUpdate`,
    /// `C_VerifyUpdate`.
    pub(crate) fn op_update(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        input: &[u8],
        out: OutSpec,
    ) -> Result<Output> {
        self.with_session(h, |s| {
            if matches!(kind, OpKind::SignRecover | OpKind::VerifyRecover) {
                return Err(Error::OperationNotInitialized);
            }
            run_update(s.op_entry(kind), out, input)
        })
    }

    /// `C_EncryptFinal`, `C_DecryptFinal`, `C_DigestFinal`, `C_SignFinal`.
    pub(crate) fn op_final(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        out: OutSpec,
    ) -> Result<Output> {
        self.with_session(h, |s| {
            if !matches!(
                kind,
                OpKind::Digest | OpKind::Sign | OpKind::Encrypt | OpKind::Decrypt
            ) {
                return Err(Error::OperationNotInitialized);
            }
            if kind == OpKind::Sign {
                check_context(s.op(kind), s.context_login)?;
            }
            run_to_end(s.op_entry(kind), out, Stage::MultiPart, &[])
        })
    }

    pub(crate) fn verify(&self, h: CK_SESSION_HANDLE, data: &[u8], signature: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            finish_verify(
                s.op_entry(OpKind::Verify),
                Stage::SinglePart,
                data,
                signature,
            )
        })
    }

    pub(crate) fn verify_final(&self, h: CK_SESSION_HANDLE, signature: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            finish_verify(s.op_entry(OpKind::Verify), Stage::MultiPart, &[], signature)
        })
    }

    pub(crate) fn digest_key(&self, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        self.with_token(h, |t, s| {
            let entry = s.op_entry(OpKind::Digest);
            let a = entry.as_mut().ok_or(Error::OperationNotInitialized)?;
            let r = t
                .object(key)
                .map_err(|_| Error::KeyHandleInvalid(key))
                .and_then(|k| {
                    if k.class() != CKO_SECRET_KEY {
                        return Err(Error::KeyIndigestible);
                    }
                    let v = k.attrs.get_bytes(CKA_VALUE).ok_or(Error::KeyIndigestible)?;
                    a.enter(Stage::MultiPart)?;
                    a.op.update(v).map(drop)
                });
            if r.is_err() {
                *entry = None;
            }
            r
        })
    }

    pub(crate) fn generate_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, s| {
            let info = self.mech_for(slot, m.mech, CKF_GENERATE)?;
            let imp = registry().get(m.mech)?;
            let kt = imp
                .generated_key_type(m.mech)
                .ok_or(Error::MechanismInvalid(m.mech))?;
            let template = with_class(template, CKO_SECRET_KEY, kt)?;
            let mut attrs = build_attrs(&template, Origin::Generate(m.mech))?;
            Self::check_write(t, s, &attrs)?;
            Self::check_trusted(t, &attrs)?;
            imp.generate_key(&m, &mut attrs, (info.ulMinKeySize, info.ulMaxKeySize))?;
            crate::mechanism::symmetric::complete_secret_key(&mut attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    pub(crate) fn generate_key_pair(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        public: Template,
        private: Template,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, s| {
            let info = self.mech_for(slot, m.mech, CKF_GENERATE_KEY_PAIR)?;
            let imp = registry().get(m.mech)?;
            let kt = imp
                .generated_key_type(m.mech)
                .ok_or(Error::MechanismInvalid(m.mech))?;
            let public = with_class(public, CKO_PUBLIC_KEY, kt)?;
            let private = with_class(private, CKO_PRIVATE_KEY, kt)?;
            let mut pub_attrs = build_attrs(&public, Origin::Generate(m.mech))?;
            let mut priv_attrs = build_attrs(&private, Origin::Generate(m.mech))?;
            for attrs in [&pub_attrs, &priv_attrs] {
                Self::check_write(t, s, attrs)?;
                Self::check_trusted(t, attrs)?;
            }
            imp.generate_key_pair(
                &m,
                &mut pub_attrs,
                &mut priv_attrs,
                (info.ulMinKeySize, info.ulMaxKeySize),
            )?;
            t.insert_pair(
                Self::new_object(h, pub_attrs),
                Self::new_object(h, priv_attrs),
            )
        })
    }

    /// `C_WrapKey`: secret keys only (a private key would need PKCS#8).
    pub(crate) fn wrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        wrapping_key: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        out: OutSpec,
    ) -> Result<Output> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, _| {
            let info = self.mech_for(slot, m.mech, CKF_WRAP)?;
            let imp = registry().get(m.mech)?;
            let wk = t
                .object(wrapping_key)
                .map_err(|_| Error::WrappingKeyHandleInvalid(wrapping_key))?;
            let k = t.object(key).map_err(|_| Error::KeyHandleInvalid(key))?;
            if k.class() != CKO_SECRET_KEY {
                return Err(Error::KeyNotWrappable(
                    "only secret keys are wrapped by this token",
                ));
            }
            if !k.flag(CKA_EXTRACTABLE) {
                return Err(Error::KeyUnextractable);
            }
            if k.flag(CKA_WRAP_WITH_TRUSTED) && !wk.flag(CKA_TRUSTED) {
                return Err(Error::KeyNotWrappable(
                    "CKA_WRAP_WITH_TRUSTED needs a CKA_TRUSTED wrapping key",
                ));
            }
            let value = k
                .attrs
                .get_bytes(CKA_VALUE)
                .ok_or(Error::KeyNotWrappable("the key has no value"))?;
            let wrapped = imp.wrap(&m, &wk, value).map_err(|e| match e {
                Error::KeyTypeInconsistent => Error::WrappingKeyTypeInconsistent,
                e => e,
            })?;
            check_key_size(imp, &m, &wk, &info).map_err(|e| match e {
                Error::KeySizeRange => Error::WrappingKeySizeRange,
                e => e,
            })?;
            match out {
                OutSpec::Query => Ok(Output::Len(wrapped.len())),
                OutSpec::Capacity(c) if c < wrapped.len() => {
                    Err(Error::BufferTooSmall(wrapped.len()))
                }
                OutSpec::Capacity(_) => Ok(Output::Data(wrapped)),
            }
        })
    }

    /// `C_UnwrapKey`: into a secret key of the template's class and type.
    pub(crate) fn unwrap_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        unwrapping_key: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, s| {
            let info = self.mech_for(slot, m.mech, CKF_UNWRAP)?;
            let imp = registry().get(m.mech)?;
            let uk = t
                .object(unwrapping_key)
                .map_err(|_| Error::UnwrappingKeyHandleInvalid(unwrapping_key))?;
            let mut attrs = build_attrs(&template, Origin::Unwrap)?;
            if attrs.get_ulong(CKA_CLASS) != Some(CKO_SECRET_KEY) {
                return Err(Error::TemplateInconsistent(
                    "only secret keys are unwrapped by this token",
                ));
            }
            Self::check_write(t, s, &attrs)?;
            Self::check_trusted(t, &attrs)?;
            let mut value = imp.unwrap(&m, &uk, wrapped).map_err(|e| match e {
                Error::KeyTypeInconsistent => Error::UnwrappingKeyTypeInconsistent,
                Error::EncryptedDataInvalid | Error::DataInvalid => Error::WrappedKeyInvalid,
                Error::EncryptedDataLenRange | Error::DataLenRange => Error::WrappedKeyLenRange,
                e => e,
            })?;
            check_key_size(imp, &m, &uk, &info).map_err(|e| match e {
                Error::KeySizeRange => Error::UnwrappingKeySizeRange,
                e => e,
            })?;
            // RFC 3394 carries whole 8-byte blocks: a key whose length is not
            // a multiple of 8 arrives zero-padded, and CKA_VALUE_LEN says how
            // much of it is the key. Other mechanisms restore the exact length.
            if let Some(len) = attrs.get_ulong(CKA_VALUE_LEN) {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if m.mech == CKM_AES_KEY_WRAP && len < value.len() && value.len() - len < 8 {
                    value.truncate(len);
                }
            }
            attrs.insert(CKA_VALUE, value.to_vec());
            crate::mechanism::symmetric::complete_secret_key(&mut attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    /// `C_DeriveKey`: a secret key from a base key.
    pub(crate) fn derive_key(
        &self,
        h: CK_SESSION_HANDLE,
        m: Mechanism,
        base_key: CK_OBJECT_HANDLE,
        template: Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.cell(h)?.slot;
        self.with_token(h, |t, s| {
            let info = self.mech_for(slot, m.mech, CKF_DERIVE)?;
            let imp = registry().get(m.mech)?;
            let base = t
                .object(base_key)
                .map_err(|_| Error::KeyHandleInvalid(base_key))?;
            // A derived key is a secret key; its type defaults to generic
            // secret, as in SoftHSM and kryoptic.
            let mut template = template;
            for (ty, default) in [
                (CKA_CLASS, CKO_SECRET_KEY),
                (CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            ] {
                if !template.iter().any(|a| a.ty == ty) {
                    template.push(Attribute::ulong(ty, default));
                }
            }
            let origin = Origin::Derive {
                always_sensitive: base.flag(CKA_ALWAYS_SENSITIVE),
                never_extractable: base.flag(CKA_NEVER_EXTRACTABLE),
            };
            let mut attrs = build_attrs(&template, origin)?;
            if attrs.get_ulong(CKA_CLASS) != Some(CKO_SECRET_KEY) {
                return Err(Error::TemplateInconsistent("a derived key is a secret key"));
            }
            Self::check_write(t, s, &attrs)?;
            Self::check_trusted(t, &attrs)?;
            imp.derive(&m, &base, &mut attrs)?;
            check_key_size(imp, &m, &base, &info)?;
            crate::mechanism::symmetric::complete_secret_key(&mut attrs)?;
            t.insert(Self::new_object(h, attrs))
        })
    }

    pub(crate) fn seed_random(&self, h: CK_SESSION_HANDLE, _seed: &[u8]) -> Result<()> {
        // The token draws from the OS generator, which cannot be seeded from here.
        self.with_session(h, |_| Err(Error::RandomSeedNotSupported))
    }

    pub(crate) fn generate_random(&self, h: CK_SESSION_HANDLE, len: usize) -> Result<Vec<u8>> {
        self.with_session(h, |_| {
            if len > MAX_RANDOM {
                return Err(Error::DataLenRange);
            }
            let mut v = vec![0u8; len];
            crate::crypto::random_fill(&mut v)?;
            Ok(v)
        })
    }
}

/// Checks a key against the `CK_MECHANISM_INFO` size range, in the unit the
/// mechanism counts (`CKR_KEY_SIZE_RANGE`; callers name the key's role).
fn check_key_size(
    imp: &dyn crate::mechanism::MechanismImpl,
    m: &Mechanism,
    key: &Object,
    info: &CK_MECHANISM_INFO,
) -> Result<()> {
    let bits = key.key_material()?.bits() as CK_ULONG;
    let size = if imp.key_size_in_bytes(m.mech) {
        bits / 8
    } else {
        bits
    };
    if size < info.ulMinKeySize || (info.ulMaxKeySize != 0 && size > info.ulMaxKeySize) {
        return Err(Error::KeySizeRange);
    }
    Ok(())
}

fn key_ref(key: &Option<Arc<Object>>) -> Result<&Object> {
    key.as_deref()
        .ok_or(Error::ArgumentsBad("a key is required"))
}

/// Adds `CKA_CLASS`/`CKA_KEY_TYPE` to a generation template, or checks them.
fn with_class(mut t: Template, class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE) -> Result<Template> {
    for (ty, want) in [(CKA_CLASS, class), (CKA_KEY_TYPE, kt)] {
        match t.iter().find(|a| a.ty == ty) {
            Some(a) if a.as_ulong()? != want => {
                return Err(Error::TemplateInconsistent(
                    "class or key type does not fit the mechanism",
                ))
            }
            Some(_) => {}
            None => t.push(Attribute::ulong(ty, want)),
        }
    }
    Ok(t)
}

fn check_context(a: Option<&Active>, context_login: bool) -> Result<()> {
    match a {
        Some(a) if a.needs_context_login && !context_login => Err(Error::UserNotLoggedIn),
        _ => Ok(()),
    }
}

/// The spec's size protocol for calls that finish an operation (the
/// single-part call, or `*Final` after updates): a length query or a
/// too-small buffer keeps it (and any computed output) alive; anything else
/// ends it. Mixing single- and multi-part calls ends it with
/// `CKR_OPERATION_ACTIVE`.
fn run_to_end(
    entry: &mut Option<Active>,
    out: OutSpec,
    stage: Stage,
    input: &[u8],
) -> Result<Output> {
    let a = entry.as_mut().ok_or(Error::OperationNotInitialized)?;
    if let Err(e) = a.enter(stage) {
        *entry = None;
        return Err(e);
    }
    let cap = match (out, &a.pending) {
        (OutSpec::Query, Some(p)) => return Ok(Output::Len(p.len())),
        (OutSpec::Query, None) => {
            let n = if stage == Stage::SinglePart {
                a.op.single_len(input)
            } else {
                a.op.final_len()
            };
            // A query that already shows the input is wrong ends the operation.
            return n.map(Output::Len).inspect_err(|_| *entry = None);
        }
        (OutSpec::Capacity(c), _) => c,
    };
    let result = match a.pending.take() {
        Some(p) => Ok(p),
        None if stage == Stage::SinglePart => a.op.single(input),
        None => a.op.finish(),
    };
    match result {
        Ok(v) if v.len() > cap => {
            let n = v.len();
            a.pending = Some(v);
            Err(Error::BufferTooSmall(n))
        }
        Ok(v) => {
            *entry = None;
            Ok(Output::Data(v))
        }
        Err(e) => {
            *entry = None;
            Err(e)
        }
    }
}

/// An update: a cipher's output length is known exactly before it runs, so a
/// length query or a too-small buffer consumes no input and keeps the
/// operation; an error ends it.
fn run_update(entry: &mut Option<Active>, out: OutSpec, input: &[u8]) -> Result<Output> {
    let a = entry.as_mut().ok_or(Error::OperationNotInitialized)?;
    if let Err(e) = a.enter(Stage::MultiPart) {
        *entry = None;
        return Err(e);
    }
    let n = a.op.update_len(input.len());
    match out {
        OutSpec::Query => return Ok(Output::Len(n)),
        OutSpec::Capacity(c) if c < n => return Err(Error::BufferTooSmall(n)),
        OutSpec::Capacity(_) => {}
    }
    match a.op.update(input) {
        Ok(v) => Ok(Output::Data(v)),
        Err(e) => {
            *entry = None;
            Err(e)
        }
    }
}

/// `C_Verify` (with the data) or `C_VerifyFinal`: always ends the operation.
fn finish_verify(
    entry: &mut Option<Active>,
    stage: Stage,
    data: &[u8],
    signature: &[u8],
) -> Result<()> {
    let mut a = entry.take().ok_or(Error::OperationNotInitialized)?;
    a.enter(stage)?;
    let Operation::Verify(op) = &mut a.op else {
        return Err(Error::OperationNotInitialized);
    };
    if stage == Stage::SinglePart {
        op.update(data)?;
    }
    op.finish(signature)
}
