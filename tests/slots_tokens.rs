//! Slots, token info and mechanism lists as the profiles describe them.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use std::ptr::null_mut;

use common::{assert_rv, Ctx, SlotSpec, DEFAULT_SLOTS};
use cryptoki::error::RvError;
use cryptoki_sys::*;
use serial_test::serial;

#[test]
#[serial]
fn slot_list_matches_the_configuration() {
    let ctx = Ctx::with_slots(&[
        SlotSpec {
            id: 3,
            profile: "etoken",
            present: true,
        },
        SlotSpec {
            id: 7,
            profile: "jacarta-gost",
            present: false,
        },
        SlotSpec {
            id: 9,
            profile: "javatoken",
            present: true,
        },
    ]);
    let all: Vec<u64> = ctx
        .p11()
        .get_all_slots()
        .unwrap()
        .iter()
        .map(|s| s.id())
        .collect();
    assert_eq!(all, [3, 7, 9]);
    let with_token: Vec<u64> = ctx
        .p11()
        .get_slots_with_token()
        .unwrap()
        .iter()
        .map(|s| s.id())
        .collect();
    assert_eq!(with_token, [3, 9]);
    let info = ctx.p11().get_slot_info(ctx.slot(7)).unwrap();
    assert!(!info.token_present());
    assert!(info.removable_device());
    assert_rv(
        ctx.p11().get_token_info(ctx.slot(7)),
        RvError::TokenNotPresent,
    );
    assert_rv(
        ctx.p11().open_rw_session(ctx.slot(7)),
        RvError::TokenNotPresent,
    );
    assert_rv(
        ctx.p11().get_mechanism_list(ctx.slot(7)),
        RvError::TokenNotPresent,
    );
    assert_rv(
        ctx.p11()
            .get_slot_info(cryptoki::slot::Slot::try_from(8u64).unwrap()),
        RvError::SlotIdInvalid,
    );
}

#[test]
#[serial]
fn slot_and_token_info_follow_the_profile() {
    let ctx = Ctx::new();
    for spec in DEFAULT_SLOTS {
        let profile = ctx.env.profile(spec.id);
        let slot = ctx.p11().get_slot_info(ctx.slot(spec.id)).unwrap();
        assert_eq!(
            slot.slot_description(),
            profile.slot.description.trim_end(),
            "{}",
            spec.profile
        );
        assert_eq!(slot.manufacturer_id(), profile.slot.manufacturer.trim_end());
        assert!(slot.token_present());
        assert!(
            slot.removable_device(),
            "{}: USB tokens are removable",
            spec.profile
        );

        let token = ctx.p11().get_token_info(ctx.slot(spec.id)).unwrap();
        assert_eq!(
            token.label(),
            profile.token.label.trim_end(),
            "{}",
            spec.profile
        );
        assert_eq!(
            token.manufacturer_id(),
            profile.token.manufacturer.trim_end()
        );
        assert_eq!(token.model(), profile.token.model.trim_end());
        assert_eq!(token.min_pin_length() as CK_ULONG, profile.pin.min_len);
        assert_eq!(token.max_pin_length() as CK_ULONG, profile.pin.max_len);
        assert!(token.token_initialized());
        assert!(token.user_pin_initialized());
        assert!(token.login_required());
        assert!(token.rng());
        assert!(!token.user_pin_locked() && !token.user_pin_count_low());
        assert_eq!(
            token.serial_number().len(),
            profile.token.serial_pattern.len()
        );
        assert_eq!(token.session_count(), Some(0));
    }
}

#[test]
#[serial]
fn serial_numbers_are_stable_across_reinitialize() {
    let mut ctx = Ctx::new();
    let before = ctx
        .p11()
        .get_token_info(ctx.slot(0))
        .unwrap()
        .serial_number()
        .to_owned();
    ctx.reinitialize();
    let after = ctx
        .p11()
        .get_token_info(ctx.slot(0))
        .unwrap()
        .serial_number()
        .to_owned();
    assert_eq!(before, after);
    let other = ctx
        .p11()
        .get_token_info(ctx.slot(1))
        .unwrap()
        .serial_number()
        .to_owned();
    assert_ne!(before, other, "two tokens share a serial number");
}

/// The mechanism list through the raw API (cryptoki drops vendor types).
fn raw_mechanisms(raw: &cryptoki_sys::Pkcs11, slot: CK_SLOT_ID) -> Vec<CK_MECHANISM_TYPE> {
    let mut n: CK_ULONG = 0;
    // SAFETY: NULL list asks for the count.
    let rv = unsafe { raw.C_GetMechanismList(slot, null_mut(), &mut n) };
    assert_eq!(rv, CKR_OK);
    let mut v = vec![0; n as usize];
    // SAFETY: v holds n entries.
    let rv = unsafe { raw.C_GetMechanismList(slot, v.as_mut_ptr(), &mut n) };
    assert_eq!(rv, CKR_OK);
    v.truncate(n as usize);
    v
}

#[test]
#[serial]
fn mechanism_lists_and_info_come_from_the_profile() {
    let ctx = Ctx::new();
    let raw = common::raw();
    for spec in DEFAULT_SLOTS {
        let table = ctx.env.profile(spec.id).mechanism_table();
        let list = raw_mechanisms(&raw, spec.id);
        assert!(!list.is_empty(), "{}: empty mechanism list", spec.profile);
        for (ty, want) in &table {
            let name = tokenemu_core::names::mechanism_name(*ty);
            assert!(
                list.contains(ty),
                "{}: profile mechanism {name} is not offered",
                spec.profile
            );
            let mut got = CK_MECHANISM_INFO::default();
            // SAFETY: got is a valid CK_MECHANISM_INFO.
            let rv = unsafe { raw.C_GetMechanismInfo(spec.id, *ty, &mut got) };
            assert_eq!(rv, CKR_OK);
            assert_eq!(
                (got.ulMinKeySize, got.ulMaxKeySize, got.flags),
                (want.ulMinKeySize, want.ulMaxKeySize, want.flags),
                "{}: {name}",
                spec.profile
            );
        }
        for ty in &list {
            assert!(
                table.iter().any(|(t, _)| t == ty),
                "{}: {} offered but not in the profile",
                spec.profile,
                tokenemu_core::names::mechanism_name(*ty)
            );
        }
        let mut info = CK_MECHANISM_INFO::default();
        // SAFETY: valid pointer; the mechanism is not offered.
        let rv = unsafe { raw.C_GetMechanismInfo(spec.id, CKM_VENDOR_DEFINED + 0x77, &mut info) };
        assert_eq!(rv, CKR_MECHANISM_INVALID);
    }
}

#[test]
#[serial]
fn gost_token_offers_the_tc26_mechanisms() {
    let _ctx = Ctx::new();
    let raw = common::raw();
    let list = raw_mechanisms(&raw, common::JACARTA_GOST);
    for m in [
        tokenemu_core::vendor::CKM_GOSTR3411_12_256,
        tokenemu_core::vendor::CKM_GOSTR3410_WITH_GOSTR3411_12_256,
    ] {
        assert!(
            list.contains(&m),
            "jacarta-gost lacks {}",
            tokenemu_core::names::mechanism_name(m)
        );
    }
}
