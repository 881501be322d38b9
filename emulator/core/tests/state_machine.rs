//! Model-based state-machine test of sessions, login and objects.
//!
//! A reference model (slots, sessions R/O and R/W, who is logged in to each
//! token, PIN retry counters and lock-out, session objects vs token objects,
//! private objects visible only to the logged-in user) and the real
//! [`Module`] run the same random sequence of PKCS#11 calls; every `CK_RV`
//! and every observable result (session state, token flags and counts,
//! object labels, what `C_FindObjects` returns) must agree. On a mismatch
//! proptest shrinks the sequence to a minimal failing one, which the panic
//! message prints as the list of calls with the expected and actual answer.
//!
//! Cost: a wrong PIN, a new PIN and the first use of a token each derive a
//! key (PBKDF2, 100,000 iterations), so the PINs come from a small fixed set
//! (right PINs are cached per process) and the profiles are copies of the
//! built-in ones with 3 tries per PIN, so lock-out is reached in a few calls.
//! `STATE_MACHINE_CASES` overrides the number of cases (default 48).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestCaseError, TestRunner};

use tokenemu_core::api::AttrLookup;
use tokenemu_core::ck::*;
use tokenemu_core::config::Config;
use tokenemu_core::object::attribute::Attribute as A;
use tokenemu_core::profile::Profile;
use tokenemu_core::{Error, Module};

/// Tries per PIN in the test profiles.
const TRIES: u32 = 3;
/// The slot id that no slot has.
const BAD_SLOT: CK_SLOT_ID = 99;
/// A session / object handle the module never hands out.
const BAD_HANDLE: CK_ULONG = 0;
const WRONG_PIN: &[u8] = b"99999999";
const PIN_A: &[u8] = b"55555555";
const PIN_B: &[u8] = b"66666666";
const SHORT_PIN: &[u8] = b"12";

// ---- operations -----------------------------------------------------------------

/// Which PIN a call presents.
#[derive(Clone, Copy, Debug)]
enum Pin {
    /// The role's current PIN.
    Right,
    /// A PIN of the right length that is not the current one.
    Wrong,
}

/// A new PIN for C_SetPIN / C_InitPIN.
#[derive(Clone, Copy, Debug)]
enum NewPin {
    A,
    B,
    TooShort,
}

impl NewPin {
    fn bytes(self) -> &'static [u8] {
        match self {
            NewPin::A => PIN_A,
            NewPin::B => PIN_B,
            NewPin::TooShort => SHORT_PIN,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum UserType {
    User,
    So,
    ContextSpecific,
    Bogus,
}

impl UserType {
    fn ck(self) -> CK_USER_TYPE {
        match self {
            UserType::User => CKU_USER,
            UserType::So => CKU_SO,
            UserType::ContextSpecific => CKU_CONTEXT_SPECIFIC,
            UserType::Bogus => 7,
        }
    }
}

/// One call. Slots, sessions and objects are picked by index into what the
/// model has seen so far (wrapping around), with one extra index meaning a
/// handle that was never valid, so shrinking keeps every step meaningful.
#[derive(Clone, Copy, Debug)]
enum Op {
    OpenSession { slot: u8, rw: bool },
    CloseSession { s: u8 },
    CloseAllSessions { slot: u8 },
    SessionInfo { s: u8 },
    TokenInfo { slot: u8 },
    Login { s: u8, user: UserType, pin: Pin },
    Logout { s: u8 },
    SetPin { s: u8, old: Pin, new: NewPin },
    InitPin { s: u8, new: NewPin },
    InitToken { slot: u8, pin: Pin },
    CreateObject { s: u8, token: bool, private: bool },
    DestroyObject { s: u8, o: u8 },
    GetLabel { s: u8, o: u8 },
    FindAll { s: u8 },
}

fn pin() -> impl Strategy<Value = Pin> {
    prop_oneof![4 => Just(Pin::Right), 1 => Just(Pin::Wrong)]
}

fn new_pin() -> impl Strategy<Value = NewPin> {
    prop_oneof![3 => Just(NewPin::A), 2 => Just(NewPin::B), 1 => Just(NewPin::TooShort)]
}

fn user_type() -> impl Strategy<Value = UserType> {
    prop_oneof![
        6 => Just(UserType::User),
        3 => Just(UserType::So),
        1 => Just(UserType::ContextSpecific),
        1 => Just(UserType::Bogus),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let i = any::<u8>;
    prop_oneof![
        6 => (i(), any::<bool>()).prop_map(|(slot, rw)| Op::OpenSession { slot, rw }),
        2 => i().prop_map(|s| Op::CloseSession { s }),
        1 => i().prop_map(|slot| Op::CloseAllSessions { slot }),
        2 => i().prop_map(|s| Op::SessionInfo { s }),
        2 => i().prop_map(|slot| Op::TokenInfo { slot }),
        6 => (i(), user_type(), pin()).prop_map(|(s, user, pin)| Op::Login { s, user, pin }),
        3 => i().prop_map(|s| Op::Logout { s }),
        1 => (i(), pin(), new_pin()).prop_map(|(s, old, new)| Op::SetPin { s, old, new }),
        1 => (i(), new_pin()).prop_map(|(s, new)| Op::InitPin { s, new }),
        1 => (i(), pin()).prop_map(|(slot, pin)| Op::InitToken { slot, pin }),
        6 => (i(), any::<bool>(), any::<bool>())
            .prop_map(|(s, token, private)| Op::CreateObject { s, token, private }),
        2 => (i(), i()).prop_map(|(s, o)| Op::DestroyObject { s, o }),
        3 => (i(), i()).prop_map(|(s, o)| Op::GetLabel { s, o }),
        3 => i().prop_map(|s| Op::FindAll { s }),
    ]
}

// ---- observations ----------------------------------------------------------------

/// What a call answered, in a form both sides produce.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Done,
    /// A new handle (its value is checked to be fresh, then adopted by the model).
    NewHandle,
    Session {
        slot: CK_SLOT_ID,
        state: CK_STATE,
        flags: CK_FLAGS,
    },
    Token {
        /// The PIN-related flags only.
        flags: CK_FLAGS,
        sessions: CK_ULONG,
        rw_sessions: CK_ULONG,
    },
    Label(Vec<u8>),
    Found(BTreeSet<CK_OBJECT_HANDLE>),
}

type Outcome = Result<Seen, CK_RV>;

const PIN_FLAGS: CK_FLAGS = CKF_USER_PIN_INITIALIZED
    | CKF_USER_PIN_COUNT_LOW
    | CKF_USER_PIN_FINAL_TRY
    | CKF_USER_PIN_LOCKED
    | CKF_USER_PIN_TO_BE_CHANGED
    | CKF_SO_PIN_COUNT_LOW
    | CKF_SO_PIN_FINAL_TRY
    | CKF_SO_PIN_LOCKED
    | CKF_SO_PIN_TO_BE_CHANGED;

// ---- the model --------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Login {
    Public,
    User,
    So,
}

#[derive(Clone, Debug)]
struct PinModel {
    /// `None` while not initialised (after C_InitToken, until C_InitPIN).
    current: Option<Vec<u8>>,
    tries_left: u32,
    to_be_changed: bool,
}

impl PinModel {
    fn new(pin: &str) -> Self {
        PinModel {
            current: Some(pin.as_bytes().to_vec()),
            tries_left: TRIES,
            to_be_changed: true,
        }
    }

    /// The PIN a call presents.
    fn presented(&self, p: Pin) -> Vec<u8> {
        match (p, &self.current) {
            (Pin::Right, Some(c)) => c.clone(),
            _ => WRONG_PIN.to_vec(),
        }
    }

    /// C_Login / C_SetPIN / C_InitToken's PIN check, with the retry counter.
    fn verify(&mut self, pin: &[u8]) -> Result<(), CK_RV> {
        let Some(cur) = &self.current else {
            return Err(CKR_USER_PIN_NOT_INITIALIZED);
        };
        if self.tries_left == 0 {
            return Err(CKR_PIN_LOCKED);
        }
        if pin == cur.as_slice() {
            self.tries_left = TRIES;
            Ok(())
        } else {
            self.tries_left -= 1;
            Err(if self.tries_left == 0 {
                CKR_PIN_LOCKED
            } else {
                CKR_PIN_INCORRECT
            })
        }
    }

    fn flags(&self, low: CK_FLAGS, final_try: CK_FLAGS, locked: CK_FLAGS) -> CK_FLAGS {
        match self.tries_left {
            0 => locked | low,
            1 => final_try | low,
            n if n < TRIES => low,
            _ => 0,
        }
    }
}

#[derive(Clone, Debug)]
struct ObjModel {
    label: Vec<u8>,
    private: bool,
    /// The owning session for a session object.
    session: Option<CK_SESSION_HANDLE>,
}

#[derive(Clone, Debug)]
struct TokenModel {
    id: CK_SLOT_ID,
    min_pin: usize,
    max_pin: usize,
    max_objects: usize,
    max_sessions: usize,
    max_rw_sessions: usize,
    login: Login,
    user: PinModel,
    so: PinModel,
    /// Open sessions: handle → read-write.
    sessions: BTreeMap<CK_SESSION_HANDLE, bool>,
    objects: BTreeMap<CK_OBJECT_HANDLE, ObjModel>,
}

impl TokenModel {
    fn new(id: CK_SLOT_ID, p: &Profile) -> Self {
        TokenModel {
            id,
            min_pin: p.pin.min_len as usize,
            max_pin: p.pin.max_len as usize,
            max_objects: p.token.max_objects,
            max_sessions: p.token.max_sessions as usize,
            max_rw_sessions: p.token.max_rw_sessions as usize,
            login: Login::Public,
            user: PinModel::new(&p.pin.default_user_pin),
            so: PinModel::new(&p.pin.default_so_pin),
            sessions: BTreeMap::new(),
            objects: BTreeMap::new(),
        }
    }

    fn visible(&self, o: CK_OBJECT_HANDLE) -> Option<&ObjModel> {
        self.objects
            .get(&o)
            .filter(|m| !m.private || self.login == Login::User)
    }

    fn pin_len_ok(&self, pin: &[u8]) -> bool {
        (self.min_pin..=self.max_pin).contains(&pin.len())
    }

    fn close(&mut self, h: CK_SESSION_HANDLE) {
        self.sessions.remove(&h);
        self.objects.retain(|_, o| o.session != Some(h));
        if self.sessions.is_empty() {
            // The last session closing logs the application out.
            self.login = Login::Public;
        }
    }

    fn flags(&self) -> CK_FLAGS {
        let mut f = 0;
        if self.user.current.is_some() {
            f |= CKF_USER_PIN_INITIALIZED;
            if self.user.to_be_changed {
                f |= CKF_USER_PIN_TO_BE_CHANGED;
            }
        }
        if self.so.to_be_changed {
            f |= CKF_SO_PIN_TO_BE_CHANGED;
        }
        f | self.user.flags(
            CKF_USER_PIN_COUNT_LOW,
            CKF_USER_PIN_FINAL_TRY,
            CKF_USER_PIN_LOCKED,
        ) | self.so.flags(
            CKF_SO_PIN_COUNT_LOW,
            CKF_SO_PIN_FINAL_TRY,
            CKF_SO_PIN_LOCKED,
        )
    }
}

#[derive(Clone, Debug)]
struct Model {
    tokens: Vec<TokenModel>,
    /// Every session handle seen, open or closed, in order.
    sessions_seen: Vec<CK_SESSION_HANDLE>,
    /// Every object handle seen, alive or destroyed, in order.
    objects_seen: Vec<CK_OBJECT_HANDLE>,
    /// Which token each session handle belongs to.
    session_token: BTreeMap<CK_SESSION_HANDLE, usize>,
    next_label: u32,
}

/// How a step refers to things, resolved once and used by both sides.
#[derive(Clone, Debug)]
struct Resolved {
    slot: CK_SLOT_ID,
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    label: Vec<u8>,
}

impl Model {
    fn pick(seen: &[CK_ULONG], i: u8) -> CK_ULONG {
        // One index past the end is the never-valid handle.
        let n = seen.len() + 1;
        seen.get(usize::from(i) % n).copied().unwrap_or(BAD_HANDLE)
    }

    fn resolve(&self, op: &Op) -> Resolved {
        let (slot, s, o) = match *op {
            Op::OpenSession { slot, .. }
            | Op::CloseAllSessions { slot }
            | Op::TokenInfo { slot }
            | Op::InitToken { slot, .. } => (slot, 0, 0),
            Op::DestroyObject { s, o } | Op::GetLabel { s, o } => (0, s, o),
            Op::CloseSession { s }
            | Op::SessionInfo { s }
            | Op::Login { s, .. }
            | Op::Logout { s }
            | Op::SetPin { s, .. }
            | Op::InitPin { s, .. }
            | Op::CreateObject { s, .. }
            | Op::FindAll { s } => (0, s, 0),
        };
        let n = self.tokens.len() + 1;
        let slot = self
            .tokens
            .get(usize::from(slot) % n)
            .map_or(BAD_SLOT, |t| t.id);
        Resolved {
            slot,
            session: Self::pick(&self.sessions_seen, s),
            object: Self::pick(&self.objects_seen, o),
            label: format!("obj-{}", self.next_label).into_bytes(),
        }
    }

    fn token_of_slot(&mut self, slot: CK_SLOT_ID) -> Result<&mut TokenModel, CK_RV> {
        self.tokens
            .iter_mut()
            .find(|t| t.id == slot)
            .ok_or(CKR_SLOT_ID_INVALID)
    }

    /// The token of an open session.
    fn token_of_session(&mut self, h: CK_SESSION_HANDLE) -> Result<&mut TokenModel, CK_RV> {
        let i = *self
            .session_token
            .get(&h)
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let t = &mut self.tokens[i];
        if t.sessions.contains_key(&h) {
            Ok(t)
        } else {
            Err(CKR_SESSION_HANDLE_INVALID)
        }
    }

    /// What the model expects `op` to answer; applies its effects.
    /// `new_handle` is the handle the module returned, for calls that create one.
    fn step(&mut self, op: &Op, r: &Resolved, new_handle: Option<CK_ULONG>) -> Outcome {
        match *op {
            Op::OpenSession { rw, .. } => {
                let t = self.token_of_slot(r.slot)?;
                if !rw && t.login == Login::So {
                    return Err(CKR_SESSION_READ_WRITE_SO_EXISTS);
                }
                if t.max_sessions != 0 && t.sessions.len() >= t.max_sessions {
                    return Err(CKR_SESSION_COUNT);
                }
                let rw_open = t.sessions.values().filter(|rw| **rw).count();
                if rw && t.max_rw_sessions != 0 && rw_open >= t.max_rw_sessions {
                    return Err(CKR_SESSION_COUNT);
                }
                let h = new_handle.expect("a handle for a successful C_OpenSession");
                t.sessions.insert(h, rw);
                let i = self.tokens.iter().position(|t| t.id == r.slot).unwrap();
                self.session_token.insert(h, i);
                self.sessions_seen.push(h);
                Ok(Seen::NewHandle)
            }
            Op::CloseSession { .. } => {
                let t = self.token_of_session(r.session)?;
                t.close(r.session);
                Ok(Seen::Done)
            }
            Op::CloseAllSessions { .. } => {
                let t = self.token_of_slot(r.slot)?;
                for h in t.sessions.keys().copied().collect::<Vec<_>>() {
                    t.close(h);
                }
                t.login = Login::Public;
                Ok(Seen::Done)
            }
            Op::SessionInfo { .. } => {
                let t = self.token_of_session(r.session)?;
                let rw = t.sessions[&r.session];
                let state = match (t.login, rw) {
                    (Login::Public, false) => CKS_RO_PUBLIC_SESSION,
                    (Login::Public, true) => CKS_RW_PUBLIC_SESSION,
                    (Login::User, false) => CKS_RO_USER_FUNCTIONS,
                    (Login::User, true) => CKS_RW_USER_FUNCTIONS,
                    (Login::So, _) => CKS_RW_SO_FUNCTIONS,
                };
                let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
                Ok(Seen::Session {
                    slot: t.id,
                    state,
                    flags,
                })
            }
            Op::TokenInfo { .. } => {
                let t = self.token_of_slot(r.slot)?;
                Ok(Seen::Token {
                    flags: t.flags(),
                    sessions: t.sessions.len() as CK_ULONG,
                    rw_sessions: t.sessions.values().filter(|rw| **rw).count() as CK_ULONG,
                })
            }
            Op::Login { user, pin, .. } => {
                let t = self.token_of_session(r.session)?;
                match user {
                    UserType::So => {
                        match t.login {
                            Login::So => return Err(CKR_USER_ALREADY_LOGGED_IN),
                            Login::User => return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
                            Login::Public => {}
                        }
                        if t.sessions.values().any(|rw| !rw) {
                            return Err(CKR_SESSION_READ_ONLY_EXISTS);
                        }
                        let p = t.so.presented(pin);
                        t.so.verify(&p)?;
                        t.login = Login::So;
                    }
                    UserType::User => {
                        match t.login {
                            Login::User => return Err(CKR_USER_ALREADY_LOGGED_IN),
                            Login::So => return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
                            Login::Public => {}
                        }
                        let p = t.user.presented(pin);
                        t.user.verify(&p)?;
                        t.login = Login::User;
                    }
                    UserType::ContextSpecific => {
                        // No operation that needs it is ever active here.
                        return Err(if t.login == Login::User {
                            CKR_OPERATION_NOT_INITIALIZED
                        } else {
                            CKR_USER_NOT_LOGGED_IN
                        });
                    }
                    UserType::Bogus => return Err(CKR_USER_TYPE_INVALID),
                }
                Ok(Seen::Done)
            }
            Op::Logout { .. } => {
                let t = self.token_of_session(r.session)?;
                if t.login == Login::Public {
                    return Err(CKR_USER_NOT_LOGGED_IN);
                }
                t.login = Login::Public;
                Ok(Seen::Done)
            }
            Op::SetPin { old, new, .. } => {
                let h = r.session;
                let t = self.token_of_session(h)?;
                if !t.sessions[&h] {
                    return Err(CKR_SESSION_READ_ONLY);
                }
                let len_ok = t.pin_len_ok(new.bytes());
                let role = if t.login == Login::So {
                    &mut t.so
                } else {
                    &mut t.user
                };
                let p = role.presented(old);
                role.verify(&p)?;
                if !len_ok {
                    return Err(CKR_PIN_LEN_RANGE);
                }
                role.current = Some(new.bytes().to_vec());
                role.to_be_changed = false;
                Ok(Seen::Done)
            }
            Op::InitPin { new, .. } => {
                let h = r.session;
                let t = self.token_of_session(h)?;
                if t.login != Login::So {
                    return Err(CKR_USER_NOT_LOGGED_IN);
                }
                if !t.sessions[&h] {
                    return Err(CKR_SESSION_READ_ONLY);
                }
                if !t.pin_len_ok(new.bytes()) {
                    return Err(CKR_PIN_LEN_RANGE);
                }
                t.user = PinModel {
                    current: Some(new.bytes().to_vec()),
                    tries_left: TRIES,
                    to_be_changed: false,
                };
                Ok(Seen::Done)
            }
            Op::InitToken { pin, .. } => {
                let t = self.token_of_slot(r.slot)?;
                if !t.sessions.is_empty() {
                    return Err(CKR_SESSION_EXISTS);
                }
                let p = t.so.presented(pin);
                t.so.verify(&p).map_err(|rv| {
                    if rv == CKR_USER_PIN_NOT_INITIALIZED {
                        CKR_PIN_INCORRECT
                    } else {
                        rv
                    }
                })?;
                // Every object goes; the user PIN is unset until C_InitPIN.
                t.objects.clear();
                t.user = PinModel {
                    current: None,
                    tries_left: TRIES,
                    to_be_changed: false,
                };
                t.so.tries_left = TRIES;
                t.login = Login::Public;
                Ok(Seen::Done)
            }
            Op::CreateObject { token, private, .. } => {
                let h = r.session;
                let t = self.token_of_session(h)?;
                if token && !t.sessions[&h] {
                    return Err(CKR_SESSION_READ_ONLY);
                }
                if private && t.login != Login::User {
                    return Err(CKR_USER_NOT_LOGGED_IN);
                }
                let token_objects = t.objects.values().filter(|o| o.session.is_none()).count();
                if token && t.max_objects != 0 && token_objects >= t.max_objects {
                    return Err(CKR_DEVICE_MEMORY);
                }
                let o = new_handle.expect("a handle for a successful C_CreateObject");
                t.objects.insert(
                    o,
                    ObjModel {
                        label: r.label.clone(),
                        private,
                        session: (!token).then_some(h),
                    },
                );
                self.objects_seen.push(o);
                self.next_label += 1;
                Ok(Seen::NewHandle)
            }
            Op::DestroyObject { .. } => {
                let h = r.session;
                let t = self.token_of_session(h)?;
                let is_token = t
                    .visible(r.object)
                    .ok_or(CKR_OBJECT_HANDLE_INVALID)?
                    .session
                    .is_none();
                if is_token && !t.sessions[&h] {
                    return Err(CKR_SESSION_READ_ONLY);
                }
                t.objects.remove(&r.object);
                Ok(Seen::Done)
            }
            Op::GetLabel { .. } => {
                let t = self.token_of_session(r.session)?;
                let o = t.visible(r.object).ok_or(CKR_OBJECT_HANDLE_INVALID)?;
                Ok(Seen::Label(o.label.clone()))
            }
            Op::FindAll { .. } => {
                let t = self.token_of_session(r.session)?;
                let found = t
                    .objects
                    .keys()
                    .copied()
                    .filter(|o| t.visible(*o).is_some())
                    .collect();
                Ok(Seen::Found(found))
            }
        }
    }
}

// ---- the real module ---------------------------------------------------------------

fn rv<T>(r: Result<T, Error>) -> Result<T, CK_RV> {
    r.map_err(|e| e.rv())
}

/// Runs `op` on the module; returns its answer and any new handle.
fn run_real(m: &Module, model: &Model, op: &Op, r: &Resolved) -> (Outcome, Option<CK_ULONG>) {
    let s = r.session;
    let current = |slot: CK_SLOT_ID, so: bool, p: Pin| -> Vec<u8> {
        let t = model.tokens.iter().find(|t| t.id == slot);
        t.map_or_else(
            || WRONG_PIN.to_vec(),
            |t| if so { &t.so } else { &t.user }.presented(p),
        )
    };
    // The PIN a session-based call presents: the model only chooses "right"
    // or "wrong", the bytes come from the model's idea of the current PIN.
    let session_slot = model
        .session_token
        .get(&s)
        .map_or(BAD_SLOT, |i| model.tokens[*i].id);
    let so_logged_in = model
        .session_token
        .get(&s)
        .is_some_and(|i| model.tokens[*i].login == Login::So);
    match *op {
        Op::OpenSession { rw, .. } => {
            let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
            match rv(m.open_session(r.slot, flags)) {
                Ok(h) => (Ok(Seen::NewHandle), Some(h)),
                Err(e) => (Err(e), None),
            }
        }
        Op::CloseSession { .. } => (rv(m.close_session(s)).map(|()| Seen::Done), None),
        Op::CloseAllSessions { .. } => {
            (rv(m.close_all_sessions(r.slot)).map(|()| Seen::Done), None)
        }
        Op::SessionInfo { .. } => (
            rv(m.session_info(s)).map(|i| Seen::Session {
                slot: i.slotID,
                state: i.state,
                flags: i.flags,
            }),
            None,
        ),
        Op::TokenInfo { .. } => (
            rv(m.token_info(r.slot)).map(|i| Seen::Token {
                flags: i.flags & PIN_FLAGS,
                sessions: i.ulSessionCount,
                rw_sessions: i.ulRwSessionCount,
            }),
            None,
        ),
        Op::Login { user, pin, .. } => {
            let so = matches!(user, UserType::So);
            let p = current(session_slot, so, pin);
            (rv(m.login(s, user.ck(), &p)).map(|()| Seen::Done), None)
        }
        Op::Logout { .. } => (rv(m.logout(s)).map(|()| Seen::Done), None),
        Op::SetPin { old, new, .. } => {
            let p = current(session_slot, so_logged_in, old);
            (rv(m.set_pin(s, &p, new.bytes())).map(|()| Seen::Done), None)
        }
        Op::InitPin { new, .. } => (rv(m.init_pin(s, new.bytes())).map(|()| Seen::Done), None),
        Op::InitToken { pin, .. } => {
            let p = current(r.slot, true, pin);
            let label = tokenemu_core::util::padded::<32>("state machine");
            (
                rv(m.init_token(r.slot, &p, &label)).map(|()| Seen::Done),
                None,
            )
        }
        Op::CreateObject { token, private, .. } => {
            let template = vec![
                A::ulong(CKA_CLASS, CKO_DATA),
                A::bool(CKA_TOKEN, token),
                A::bool(CKA_PRIVATE, private),
                A::bytes(CKA_LABEL, r.label.clone()),
                A::bytes(CKA_VALUE, b"value".to_vec()),
            ];
            match rv(m.create_object(s, template)) {
                Ok(h) => (Ok(Seen::NewHandle), Some(h)),
                Err(e) => (Err(e), None),
            }
        }
        Op::DestroyObject { .. } => (rv(m.destroy_object(s, r.object)).map(|()| Seen::Done), None),
        Op::GetLabel { .. } => (
            rv(m.get_attributes(s, r.object, &[CKA_LABEL])).map(|v| match v.as_slice() {
                [AttrLookup::Value(l)] => Seen::Label(l.clone()),
                other => panic!("CKA_LABEL lookup answered {other:?}"),
            }),
            None,
        ),
        Op::FindAll { .. } => {
            let found = rv(m.find_init(s, vec![])).and_then(|()| {
                let found = rv(m.find_next(s, 10_000))?;
                rv(m.find_final(s))?;
                Ok(Seen::Found(found.into_iter().collect()))
            });
            (found, None)
        }
    }
}

// ---- the test ----------------------------------------------------------------------

/// A copy of a built-in profile with `TRIES` tries per PIN.
fn test_profile(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let src = std::fs::read_to_string(format!(
        "{}/profiles/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let text: String = src
        .lines()
        .map(|l| {
            if l.starts_with("user_retries") {
                format!("user_retries = {TRIES}")
            } else if l.starts_with("so_retries") {
                format!("so_retries = {TRIES}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.join(format!("{name}-{TRIES}-tries.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The two slots every case uses: (slot id, profile).
const SLOTS: [(CK_SLOT_ID, &str); 2] = [(3, "etoken"), (5, "jacarta-pki")];

struct Case {
    _dir: tempfile::TempDir,
    module: Arc<Module>,
    model: Model,
}

fn new_case(profiles: &[(CK_SLOT_ID, std::path::PathBuf)]) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let mut conf = String::new();
    let mut tokens = Vec::new();
    for (id, path) in profiles {
        conf += &format!(
            "[[slot]]\nid = {id}\nprofile = \"{}\"\nstore = \"{}\"\n",
            path.display(),
            dir.path().join(format!("slot-{id}")).display()
        );
        let p = Profile::resolve(&path.display().to_string(), None).unwrap();
        assert_eq!(p.pin.user_retries, TRIES);
        tokens.push(TokenModel::new(*id, &p));
    }
    let module = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
    Case {
        _dir: dir,
        module,
        model: Model {
            tokens,
            sessions_seen: vec![],
            objects_seen: vec![],
            session_token: BTreeMap::new(),
            next_label: 0,
        },
    }
}

/// Runs one sequence; the error names the first step where module and model differ.
fn run_sequence(
    profiles: &[(CK_SLOT_ID, std::path::PathBuf)],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut case = new_case(profiles);
    let mut log = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let r = case.model.resolve(op);
        let (real, handle) = run_real(&case.module, &case.model, op, &r);
        if let Some(h) = handle {
            let reused =
                case.model.sessions_seen.contains(&h) || case.model.objects_seen.contains(&h);
            prop_assert!(
                !reused && h != BAD_HANDLE,
                "step {n} {op:?}: handle {h} was handed out before\n{}",
                log.join("\n")
            );
        }
        let expected = case.model.step(op, &r, handle);
        log.push(format!("  {n}: {op:?} -> {}", show(&real)));
        prop_assert!(
            real == expected,
            "step {n}: {op:?} (session {}, object {}, slot {})\n  module: {}\n  model:  {}\nsequence:\n{}",
            r.session,
            r.object,
            r.slot,
            show(&real),
            show(&expected),
            log.join("\n")
        );
    }
    Ok(())
}

fn show(o: &Outcome) -> String {
    match o {
        Ok(s) => format!("{s:?}"),
        Err(rv) => tokenemu_core::names::rv_name(*rv),
    }
}

#[test]
fn sessions_login_and_objects_follow_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let profiles: Vec<_> = SLOTS
        .iter()
        .map(|(id, name)| (*id, test_profile(dir.path(), name)))
        .collect();
    let cases = std::env::var("STATE_MACHINE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(PtConfig {
        cases,
        // Shrinking re-runs sequences; bound it so a failure still reports quickly.
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..PtConfig::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..40), |ops| {
        run_sequence(&profiles, &ops)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
