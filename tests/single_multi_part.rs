//! Single-part versus multi-part calls of one operation (PKCS#11 v3.0 §5.2 and
//! each function's section: `C_Digest` "cannot be used to terminate a
//! multi-part operation, and must be called after `C_DigestInit` without
//! intervening `C_DigestUpdate` calls"; likewise `C_Encrypt`, `C_Decrypt`,
//! `C_Sign`, `C_Verify`). Mixing them answers `CKR_OPERATION_ACTIVE` and ends
//! the operation; a length query through the single-part call commits the
//! operation to single-part. Also: a NULL PIN with a non-zero length spends no
//! retry.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use std::ptr::null_mut;

use common::{Ctx, ETOKEN};
use cryptoki_sys::*;
use serial_test::serial;

fn mech(m: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

#[test]
#[serial]
fn digest_single_after_update_and_final_after_single_query_fail_and_end_the_operation() {
    let raw = common::raw();
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let h = s.handle();
    let mut m = mech(CKM_SHA256);
    let mut data = *b"abc";
    let mut out = [0u8; 64];
    // SAFETY: every pointer below refers to a live local buffer of the length given.
    unsafe {
        // C_Digest after C_DigestUpdate.
        assert_ckr!(raw.C_DigestInit(h, &mut m), CKR_OK);
        assert_ckr!(raw.C_DigestUpdate(h, data.as_mut_ptr(), 3), CKR_OK);
        let mut n: CK_ULONG = out.len() as CK_ULONG;
        assert_ckr!(
            raw.C_Digest(h, data.as_mut_ptr(), 3, out.as_mut_ptr(), &mut n),
            CKR_OPERATION_ACTIVE
        );
        assert_ckr!(
            raw.C_DigestUpdate(h, data.as_mut_ptr(), 3),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // C_DigestFinal after a C_Digest length query: not the empty message's hash.
        assert_ckr!(raw.C_DigestInit(h, &mut m), CKR_OK);
        let mut n: CK_ULONG = 0;
        assert_ckr!(
            raw.C_Digest(h, data.as_mut_ptr(), 3, null_mut(), &mut n),
            CKR_OK
        );
        assert_eq!(n, 32);
        let mut n: CK_ULONG = out.len() as CK_ULONG;
        assert_ckr!(
            raw.C_DigestFinal(h, out.as_mut_ptr(), &mut n),
            CKR_OPERATION_ACTIVE
        );
        assert_ckr!(
            raw.C_DigestFinal(h, out.as_mut_ptr(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // The allowed sequences still work: query then C_Digest, and
        // updates, a final-length query, then the final.
        assert_ckr!(raw.C_DigestInit(h, &mut m), CKR_OK);
        let mut n: CK_ULONG = 0;
        assert_ckr!(
            raw.C_Digest(h, data.as_mut_ptr(), 3, null_mut(), &mut n),
            CKR_OK
        );
        assert_ckr!(
            raw.C_Digest(h, data.as_mut_ptr(), 3, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        let single = out[..32].to_vec();
        assert_ckr!(raw.C_DigestInit(h, &mut m), CKR_OK);
        assert_ckr!(raw.C_DigestUpdate(h, data.as_mut_ptr(), 1), CKR_OK);
        assert_ckr!(raw.C_DigestUpdate(h, data.as_mut_ptr().add(1), 2), CKR_OK);
        let mut n: CK_ULONG = 0;
        assert_ckr!(raw.C_DigestFinal(h, null_mut(), &mut n), CKR_OK);
        assert_eq!(n, 32);
        assert_ckr!(raw.C_DigestFinal(h, out.as_mut_ptr(), &mut n), CKR_OK);
        assert_eq!(out[..32], single[..]);
    }
}

#[test]
#[serial]
fn sign_verify_encrypt_single_after_update_fail_and_end_the_operation() {
    let raw = common::raw();
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (public, private) = common::rsa_session_pair(&s, 1024);
    let h = s.handle();
    let mut data = [7u8; 20];
    let mut out = [0u8; 256];
    let mut m = mech(CKM_SHA256_RSA_PKCS);
    // SAFETY: every pointer below refers to a live local buffer of the length given.
    unsafe {
        assert_ckr!(raw.C_SignInit(h, &mut m, private.handle()), CKR_OK);
        assert_ckr!(raw.C_SignUpdate(h, data.as_mut_ptr(), 20), CKR_OK);
        let mut n: CK_ULONG = out.len() as CK_ULONG;
        assert_ckr!(
            raw.C_Sign(h, data.as_mut_ptr(), 20, out.as_mut_ptr(), &mut n),
            CKR_OPERATION_ACTIVE
        );
        assert_ckr!(
            raw.C_SignUpdate(h, data.as_mut_ptr(), 20),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // A signature to verify with.
        assert_ckr!(raw.C_SignInit(h, &mut m, private.handle()), CKR_OK);
        let mut n: CK_ULONG = out.len() as CK_ULONG;
        assert_ckr!(
            raw.C_Sign(h, data.as_mut_ptr(), 20, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_ckr!(raw.C_VerifyInit(h, &mut m, public.handle()), CKR_OK);
        assert_ckr!(raw.C_VerifyUpdate(h, data.as_mut_ptr(), 20), CKR_OK);
        assert_ckr!(
            raw.C_Verify(h, data.as_mut_ptr(), 20, out.as_mut_ptr(), n),
            CKR_OPERATION_ACTIVE
        );
        assert_ckr!(
            raw.C_VerifyFinal(h, out.as_mut_ptr(), n),
            CKR_OPERATION_NOT_INITIALIZED
        );

        let mut m = mech(CKM_RSA_PKCS);
        assert_ckr!(raw.C_EncryptInit(h, &mut m, public.handle()), CKR_OK);
        let mut n: CK_ULONG = out.len() as CK_ULONG;
        assert_ckr!(
            raw.C_EncryptUpdate(h, data.as_mut_ptr(), 20, out.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!(n, 0, "RSA returns nothing before the end");
        let mut n: CK_ULONG = out.len() as CK_ULONG;
        assert_ckr!(
            raw.C_Encrypt(h, data.as_mut_ptr(), 20, out.as_mut_ptr(), &mut n),
            CKR_OPERATION_ACTIVE
        );
        let mut n: CK_ULONG = out.len() as CK_ULONG;
        assert_ckr!(
            raw.C_EncryptFinal(h, out.as_mut_ptr(), &mut n),
            CKR_OPERATION_NOT_INITIALIZED
        );
    }
}

#[test]
#[serial]
fn a_null_pin_with_a_length_is_arguments_bad_and_spends_no_retry() {
    let raw = common::raw();
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let h = s.handle();
    let retries = ctx.env.profile(ETOKEN).pin.user_retries;
    // More attempts than the token allows: had any counted, the PIN would be locked.
    for _ in 0..retries + 2 {
        // SAFETY: a NULL PIN pointer must be refused, not read.
        let rv = unsafe { raw.C_Login(h, CKU_USER, null_mut(), 6) };
        assert_ckr!(rv, CKR_ARGUMENTS_BAD);
    }
    let mut info = CK_TOKEN_INFO::default();
    // SAFETY: info is a valid out-structure.
    assert_ckr!(unsafe { raw.C_GetTokenInfo(ETOKEN, &mut info) }, CKR_OK);
    let pin_flags = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;
    assert_eq!(info.flags & pin_flags, 0, "no retry may be spent");
    s.login(
        cryptoki::session::UserType::User,
        Some(&ctx.env.user_pin(ETOKEN)),
    )
    .expect("the right PIN still logs in");
}
