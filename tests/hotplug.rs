//! Hot-plug emulation: the store's presence flag (what `tokenemu unplug`
//! sets) seen through C_GetSlotInfo, session calls and C_WaitForSlotEvent,
//! including a blocking wait woken by an unplug and one cancelled by
//! C_Finalize.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use std::time::{Duration, Instant};

use common::{assert_rv, Ctx, SlotSpec, ETOKEN};
use cryptoki::error::RvError;
use cryptoki::session::UserType;
use cryptoki_sys::*;
use serial_test::serial;
use tokenemu_store::Store;

fn set_present(ctx: &Ctx, slot: CK_SLOT_ID, present: bool) {
    Store::open(&ctx.env.store_dir(slot))
        .expect("open store")
        .set_present(present)
        .expect("set_present");
}

/// Drains pending events (the initial state may or may not count as one).
fn drain_events(ctx: &Ctx) {
    while ctx.p11().get_slot_event().unwrap().is_some() {}
}

#[test]
#[serial]
fn unplug_and_replug() {
    let ctx = Ctx::new();
    drain_events(&ctx);
    let s = ctx.user_session(ETOKEN);
    set_present(&ctx, ETOKEN, false);

    let info = ctx.p11().get_slot_info(ctx.slot(ETOKEN)).unwrap();
    assert!(!info.token_present());
    let with_token: Vec<u64> = ctx
        .p11()
        .get_slots_with_token()
        .unwrap()
        .iter()
        .map(|s| s.id())
        .collect();
    assert!(!with_token.contains(&ETOKEN));
    assert_rv(
        ctx.p11().get_token_info(ctx.slot(ETOKEN)),
        RvError::TokenNotPresent,
    );
    assert_rv(
        ctx.p11().open_ro_session(ctx.slot(ETOKEN)),
        RvError::TokenNotPresent,
    );
    // The open session is gone with the token.
    let r = s.get_session_info();
    assert!(
        matches!(
            common::rv_of(&r.unwrap_err()),
            RvError::DeviceRemoved | RvError::SessionHandleInvalid | RvError::SessionClosed
        ),
        "session survived the unplug"
    );
    assert_eq!(
        ctx.p11().get_slot_event().unwrap().map(|s| s.id()),
        Some(ETOKEN)
    );
    assert_eq!(
        ctx.p11().get_slot_event().unwrap(),
        None,
        "one event per change"
    );
    std::mem::forget(s);

    set_present(&ctx, ETOKEN, true);
    assert_eq!(
        ctx.p11().get_slot_event().unwrap().map(|s| s.id()),
        Some(ETOKEN)
    );
    assert!(ctx
        .p11()
        .get_slot_info(ctx.slot(ETOKEN))
        .unwrap()
        .token_present());
    // Login state did not survive the removal.
    let s = ctx.rw(ETOKEN);
    assert_eq!(
        s.get_session_info().unwrap().session_state(),
        cryptoki::session::SessionState::RwPublic
    );
    s.login(UserType::User, Some(&ctx.env.user_pin(ETOKEN)))
        .unwrap();
}

#[test]
#[serial]
fn configured_absent_token() {
    let ctx = Ctx::with_slots(&[
        SlotSpec {
            id: 0,
            profile: "etoken",
            present: false,
        },
        SlotSpec {
            id: 1,
            profile: "jacarta-pki",
            present: true,
        },
    ]);
    assert!(!ctx
        .p11()
        .get_slot_info(ctx.slot(0))
        .unwrap()
        .token_present());
    assert!(ctx
        .p11()
        .get_slot_info(ctx.slot(1))
        .unwrap()
        .token_present());
    drain_events(&ctx);
    set_present(&ctx, 0, true);
    assert_eq!(ctx.p11().get_slot_event().unwrap().map(|s| s.id()), Some(0));
    ctx.ro(0);
}

#[test]
#[serial]
fn blocking_wait_sees_an_unplug() {
    let ctx = Ctx::new();
    drain_events(&ctx);
    let store = ctx.env.store_dir(ETOKEN);
    let unplug = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        Store::open(&store).unwrap().set_present(false).unwrap();
    });
    let start = Instant::now();
    let slot = ctx
        .p11()
        .wait_for_slot_event()
        .expect("C_WaitForSlotEvent(blocking)");
    assert_eq!(slot.id(), ETOKEN);
    assert!(start.elapsed() < Duration::from_secs(10));
    unplug.join().unwrap();
}

#[test]
#[serial]
fn finalize_cancels_a_blocking_wait() {
    let raw = common::raw();
    let _env = common::TestEnv::new(common::DEFAULT_SLOTS);
    // SAFETY: NULL init args.
    assert_ckr!(unsafe { raw.C_Initialize(std::ptr::null_mut()) }, CKR_OK);
    // Drain initial events.
    let mut slot: CK_SLOT_ID = 0;
    // SAFETY: valid out-pointer, NULL reserved.
    while unsafe { raw.C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut slot, std::ptr::null_mut()) }
        == CKR_OK
    {}
    let waiter = std::thread::spawn(|| {
        let raw = common::raw();
        let mut slot: CK_SLOT_ID = 0;
        // SAFETY: valid out-pointer, NULL reserved; blocks until finalize.
        unsafe { raw.C_WaitForSlotEvent(0, &mut slot, std::ptr::null_mut()) }
    });
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    // SAFETY: NULL reserved.
    assert_ckr!(unsafe { raw.C_Finalize(std::ptr::null_mut()) }, CKR_OK);
    let rv = waiter.join().unwrap();
    assert_ckr!(rv, CKR_CRYPTOKI_NOT_INITIALIZED);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the waiter was not woken promptly"
    );
}
