//! The module's state and the implementation of every `Module` method, one
//! file per chapter of the PKCS#11 spec so that one function's logic lives in
//! one place: `slot_token.rs` (slot and token management), `session_mgmt.rs`
//! (sessions and login), `object_mgmt.rs` (objects and searches),
//! `crypto_ops.rs` (encryption, decryption, digests, signatures and their
//! single-/multi-part rules), `key_mgmt.rs` (generation, wrapping,
//! derivation) and `random.rs`. This file holds the state itself, its
//! lookups and the hooks around every call.
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

mod crypto_ops;
mod key_mgmt;
mod object_mgmt;
mod random;
mod session_mgmt;
mod slot_token;

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
            Target::Session(h) | Target::Operation(h, _) | Target::Find(h) => {
                self.cell(h).ok().map(|c| c.slot)
            }
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
                self.end_failed_operation(target);
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
        if let Ok(cell) = self.cell(h) {
            lock(&cell.state).end(kind);
        }
    }

    /// An injected failure ends the operation the call belongs to, as a real
    /// failure of that call would (an `*Init` call starts nothing and names
    /// only its session).
    fn end_failed_operation(&self, target: Target) {
        match target {
            Target::Operation(h, kind) => self.op_abort(h, kind),
            Target::Find(h) => {
                if let Ok(cell) = self.cell(h) {
                    lock(&cell.state).find = None;
                }
            }
            Target::Slot(_) | Target::Session(_) => {}
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
}

/// Checks a key against the `CK_MECHANISM_INFO` size range, in the unit the
/// mechanism counts (`CKR_KEY_SIZE_RANGE`; callers name the key's role).
pub(super) fn check_key_size(
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
