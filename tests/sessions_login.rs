//! The session and login state machine (PKCS#11 3.0 §5.6, §2.6 session
//! states) and every error it documents; PIN management and PIN counters,
//! including their persistence across `C_Finalize`/`C_Initialize`.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use std::ptr::null_mut;

use common::{assert_rv, Ctx, SlotSpec, ETOKEN};
use cryptoki::error::RvError;
use cryptoki::session::{SessionState, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use serial_test::serial;

const PKI: CK_SLOT_ID = 2;

fn pin(s: &str) -> AuthPin {
    AuthPin::from(s.to_owned())
}

#[test]
#[serial]
fn session_states_follow_login() {
    let ctx = Ctx::new();
    let ro = ctx.ro(ETOKEN);
    let rw = ctx.rw(ETOKEN);
    assert_eq!(
        ro.get_session_info().unwrap().session_state(),
        SessionState::RoPublic
    );
    assert_eq!(
        rw.get_session_info().unwrap().session_state(),
        SessionState::RwPublic
    );
    assert!(!ro.get_session_info().unwrap().read_write());
    assert_eq!(rw.get_session_info().unwrap().slot_id().id(), ETOKEN);

    rw.login(UserType::User, Some(&ctx.env.user_pin(ETOKEN)))
        .unwrap();
    // Login state belongs to the token: every session on it changes.
    assert_eq!(
        ro.get_session_info().unwrap().session_state(),
        SessionState::RoUser
    );
    assert_eq!(
        rw.get_session_info().unwrap().session_state(),
        SessionState::RwUser
    );
    let later = ctx.ro(ETOKEN);
    assert_eq!(
        later.get_session_info().unwrap().session_state(),
        SessionState::RoUser
    );
    // Another token is not affected.
    let other = ctx.ro(PKI);
    assert_eq!(
        other.get_session_info().unwrap().session_state(),
        SessionState::RoPublic
    );

    ro.logout().unwrap();
    assert_eq!(
        rw.get_session_info().unwrap().session_state(),
        SessionState::RwPublic
    );
    assert_rv(rw.logout(), RvError::UserNotLoggedIn);
}

#[test]
#[serial]
fn login_errors() {
    let ctx = Ctx::new();
    let rw = ctx.rw(ETOKEN);
    let user = ctx.env.user_pin(ETOKEN);
    assert_rv(
        rw.login(UserType::User, Some(&pin("not-the-pin"))),
        RvError::PinIncorrect,
    );
    rw.login(UserType::User, Some(&user)).unwrap();
    assert_rv(
        rw.login(UserType::User, Some(&user)),
        RvError::UserAlreadyLoggedIn,
    );
    assert_rv(
        rw.login(UserType::So, Some(&ctx.env.so_pin(ETOKEN))),
        RvError::UserAnotherAlreadyLoggedIn,
    );
    rw.logout().unwrap();

    // SO cannot log in while a read-only session exists.
    let ro = ctx.ro(ETOKEN);
    assert_rv(
        rw.login(UserType::So, Some(&ctx.env.so_pin(ETOKEN))),
        RvError::SessionReadOnlyExists,
    );
    drop(ro);
    rw.login(UserType::So, Some(&ctx.env.so_pin(ETOKEN)))
        .unwrap();
    assert_eq!(
        rw.get_session_info().unwrap().session_state(),
        SessionState::RwSecurityOfficer
    );
    // … and no read-only session can be opened while SO is logged in.
    assert_rv(
        ctx.p11().open_ro_session(ctx.slot(ETOKEN)),
        RvError::SessionReadWriteSoExists,
    );
    assert_rv(
        rw.login(UserType::User, Some(&user)),
        RvError::UserAnotherAlreadyLoggedIn,
    );
    rw.logout().unwrap();

    let raw = common::raw();
    let mut p = *b"1234567890";
    // SAFETY: p holds 10 bytes.
    let rv = unsafe { raw.C_Login(rw.handle(), 77, p.as_mut_ptr(), 10) };
    assert_eq!(common::rv_name(rv), common::rv_name(CKR_USER_TYPE_INVALID));
}

#[test]
#[serial]
fn open_session_rules() {
    let ctx = Ctx::new();
    let raw = common::raw();
    let mut h: CK_SESSION_HANDLE = 0;
    // SAFETY: valid out-pointer; NULL application data and callback.
    let rv = unsafe { raw.C_OpenSession(ETOKEN, CKF_RW_SESSION, null_mut(), None, &mut h) };
    assert_eq!(
        common::rv_name(rv),
        common::rv_name(CKR_SESSION_PARALLEL_NOT_SUPPORTED)
    );
    let a = ctx.rw(ETOKEN);
    let b = ctx.rw(ETOKEN);
    assert_ne!(a.handle(), b.handle());
    assert_eq!(
        ctx.p11()
            .get_token_info(ctx.slot(ETOKEN))
            .unwrap()
            .session_count(),
        Some(2)
    );
    assert_eq!(
        ctx.p11()
            .get_token_info(ctx.slot(ETOKEN))
            .unwrap()
            .rw_session_count(),
        Some(2)
    );
    let ah = a.handle();
    a.close().unwrap();
    // SAFETY: closing a handle that is gone.
    let rv = unsafe { raw.C_CloseSession(ah) };
    assert_eq!(
        common::rv_name(rv),
        common::rv_name(CKR_SESSION_HANDLE_INVALID)
    );
}

#[test]
#[serial]
fn close_all_sessions_logs_out() {
    let ctx = Ctx::new();
    let raw = common::raw();
    let s = ctx.user_session(ETOKEN);
    let h = s.handle();
    // SAFETY: plain handle call.
    assert_eq!(unsafe { raw.C_CloseAllSessions(ETOKEN) }, CKR_OK);
    let mut info = CK_SESSION_INFO::default();
    // SAFETY: valid out-pointer.
    let rv = unsafe { raw.C_GetSessionInfo(h, &mut info) };
    assert_eq!(rv, CKR_SESSION_HANDLE_INVALID);
    std::mem::forget(s); // its handle is already closed
    let fresh = ctx.ro(ETOKEN);
    assert_eq!(
        fresh.get_session_info().unwrap().session_state(),
        SessionState::RoPublic
    );
}

#[test]
#[serial]
fn set_pin_and_pin_policy() {
    let ctx = Ctx::new();
    let profile = ctx.env.profile(ETOKEN);
    let s = ctx.rw(ETOKEN);
    let old = ctx.env.user_pin(ETOKEN);
    // C_SetPIN in a public session changes the user PIN (spec: "the normal user's PIN").
    let too_short = "1".repeat(profile.pin.min_len as usize - 1);
    let too_long = "1".repeat(profile.pin.max_len as usize + 1);
    s.login(UserType::User, Some(&old)).unwrap();
    assert_rv(s.set_pin(&old, &pin(&too_short)), RvError::PinLenRange);
    assert_rv(s.set_pin(&old, &pin(&too_long)), RvError::PinLenRange);
    assert_rv(
        s.set_pin(&pin("wrong-old-pin"), &pin("new-pin-42")),
        RvError::PinIncorrect,
    );
    s.set_pin(&old, &pin("new-pin-42")).unwrap();
    s.logout().unwrap();
    assert_rv(s.login(UserType::User, Some(&old)), RvError::PinIncorrect);
    s.login(UserType::User, Some(&pin("new-pin-42"))).unwrap();
    s.logout().unwrap();
    // A read-only session cannot change the PIN.
    let ro = ctx.ro(ETOKEN);
    assert_rv(
        ro.set_pin(&pin("new-pin-42"), &pin("other-pin-1")),
        RvError::SessionReadOnly,
    );
}

#[test]
#[serial]
fn so_resets_the_user_pin() {
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    assert_rv(s.init_pin(&pin("reset-pin-1")), RvError::UserNotLoggedIn);
    s.login(UserType::User, Some(&ctx.env.user_pin(ETOKEN)))
        .unwrap();
    assert_rv(s.init_pin(&pin("reset-pin-1")), RvError::UserNotLoggedIn);
    s.logout().unwrap();
    s.login(UserType::So, Some(&ctx.env.so_pin(ETOKEN)))
        .unwrap();
    s.init_pin(&pin("reset-pin-1")).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin("reset-pin-1"))).unwrap();
}

#[test]
#[serial]
fn init_token_rules() {
    let ctx = Ctx::new();
    let so = ctx.env.so_pin(ETOKEN);
    let s = ctx.rw(ETOKEN);
    assert_rv(
        ctx.p11().init_token(ctx.slot(ETOKEN), &so, "Renamed"),
        RvError::SessionExists,
    );
    drop(s);
    assert_rv(
        ctx.p11()
            .init_token(ctx.slot(ETOKEN), &pin("wrong-so-pin"), "Renamed"),
        RvError::PinIncorrect,
    );
    ctx.p11()
        .init_token(ctx.slot(ETOKEN), &so, "Renamed")
        .unwrap();
    let info = ctx.p11().get_token_info(ctx.slot(ETOKEN)).unwrap();
    assert_eq!(info.label(), "Renamed");
}

/// Logs in with a wrong PIN until the token reports the PIN locked; checks the
/// count-low / final-try flags on the way.
#[test]
#[serial]
fn pin_counter_locks_and_persists() {
    let mut ctx = Ctx::with_slots(&[
        SlotSpec {
            id: 0,
            profile: "jacarta-pki",
            present: true,
        },
        SlotSpec {
            id: 1,
            profile: "etoken",
            present: true,
        },
    ]);
    let retries = ctx.env.profile(0).pin.user_retries;
    let good = ctx.env.user_pin(0);
    let wrong = pin("00000000");
    {
        let s = ctx.rw(0);
        // A success resets the counter.
        assert_rv(s.login(UserType::User, Some(&wrong)), RvError::PinIncorrect);
        s.login(UserType::User, Some(&good)).unwrap();
        s.logout().unwrap();
        let info = ctx.p11().get_token_info(ctx.slot(0)).unwrap();
        assert!(
            !info.user_pin_count_low(),
            "a successful login resets the counter"
        );
        for _ in 0..retries - 1 {
            assert_rv(s.login(UserType::User, Some(&wrong)), RvError::PinIncorrect);
        }
        let info = ctx.p11().get_token_info(ctx.slot(0)).unwrap();
        assert!(info.user_pin_count_low());
        assert!(info.user_pin_final_try());
    }
    // The counter survives C_Finalize / C_Initialize.
    ctx.reinitialize();
    let info = ctx.p11().get_token_info(ctx.slot(0)).unwrap();
    assert!(
        info.user_pin_final_try(),
        "the retry counter was not persisted"
    );
    let s = ctx.rw(0);
    let last = s.login(UserType::User, Some(&wrong));
    assert!(matches!(
        common::rv_of(&last.unwrap_err()),
        RvError::PinIncorrect | RvError::PinLocked
    ));
    assert_rv(s.login(UserType::User, Some(&good)), RvError::PinLocked);
    assert!(ctx
        .p11()
        .get_token_info(ctx.slot(0))
        .unwrap()
        .user_pin_locked());
    drop(s);
    ctx.reinitialize();
    assert!(
        ctx.p11()
            .get_token_info(ctx.slot(0))
            .unwrap()
            .user_pin_locked(),
        "lock not persisted"
    );
    // The SO unlocks by setting a new user PIN.
    let s = ctx.rw(0);
    s.login(UserType::So, Some(&ctx.env.so_pin(0))).unwrap();
    s.init_pin(&pin("44444444")).unwrap();
    s.logout().unwrap();
    assert!(!ctx
        .p11()
        .get_token_info(ctx.slot(0))
        .unwrap()
        .user_pin_locked());
    s.login(UserType::User, Some(&pin("44444444"))).unwrap();
    // The other token never noticed.
    assert!(!ctx
        .p11()
        .get_token_info(ctx.slot(1))
        .unwrap()
        .user_pin_count_low());
}
