//! Token-info policy: PIN lengths, the retry counter flags, PIN changes and
//! re-initialisation. Base spec v3.0 §3.2 CK_TOKEN_INFO flags, §5.5.7–§5.5.9,
//! §5.6.8 (v2.40 §3.2, §5.5.7–§5.5.9, §5.6.7). Most of these change the
//! token (PINs, retry counters, objects) and run only with
//! --allow-destructive; they restore the PINs they change.

use cryptoki_sys::*;

use crate::conformance::check::{
    ensure, expect_rv, fail, ok, skip, Chapter, Check, CheckResult, Ctx, Needs, Stop,
};
use crate::p11::client::Template;

const C: Chapter = Chapter::TokenPolicy;

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "token-policy.pin-lengths",
            chapter: C,
            title: "ulMinPinLen ≥ 1, ulMaxPinLen ≥ ulMinPinLen, the user PIN given fits them",
            spec: "base v3.0 §3.2 CK_TOKEN_INFO (v2.40 §3.2)",
            needs: Needs::NONE.login(),
            run: pin_lengths,
        },
        Check {
            id: "token-policy.user-pin-initialized",
            chapter: C,
            title: "CKF_USER_PIN_INITIALIZED is set and no PIN is locked at the start",
            spec: "base v3.0 §3.2 CK_TOKEN_INFO flags (v2.40 §3.2)",
            needs: Needs::NONE,
            run: user_pin_initialized,
        },
        Check {
            id: "token-policy.set-pin-length-range",
            chapter: C,
            title: "C_SetPIN to a PIN longer than ulMaxPinLen or shorter than ulMinPinLen → CKR_PIN_LEN_RANGE",
            spec: "base v3.0 §5.5.9 C_SetPIN (v2.40 §5.5.9)",
            needs: Needs::NONE.login().destructive(),
            run: set_pin_length_range,
        },
        Check {
            id: "token-policy.set-pin-roundtrip",
            chapter: C,
            title: "C_SetPIN changes the user PIN: the old one is refused (CKR_PIN_INCORRECT), the new one works; then changed back",
            spec: "base v3.0 §5.5.9 C_SetPIN, §5.6.8 C_Login (v2.40 §5.5.9, §5.6.7)",
            needs: Needs::NONE.login().destructive(),
            run: set_pin_roundtrip,
        },
        Check {
            id: "token-policy.wrong-pin-count-low",
            chapter: C,
            title: "a wrong user PIN → CKR_PIN_INCORRECT and CKF_USER_PIN_COUNT_LOW; a correct login clears it",
            spec: "base v3.0 §3.2 CK_TOKEN_INFO CKF_USER_PIN_COUNT_LOW, §5.6.8 C_Login (v2.40 §3.2, §5.6.7)",
            needs: Needs::NONE.login().destructive(),
            run: wrong_pin_count_low,
        },
        Check {
            id: "token-policy.pin-lock-and-unlock",
            chapter: C,
            title: "wrong PINs lead to CKF_USER_PIN_FINAL_TRY, then CKR_PIN_LOCKED and CKF_USER_PIN_LOCKED; the right PIN is refused; C_InitPIN by the SO unlocks",
            spec: "base v3.0 §3.2 CK_TOKEN_INFO flags, §5.6.8 C_Login, §5.5.8 C_InitPIN (v2.40 §3.2, §5.6.7, §5.5.8)",
            needs: Needs::NONE.login().so().destructive(),
            run: pin_lock_and_unlock,
        },
        Check {
            id: "token-policy.init-token",
            chapter: C,
            title: "C_InitToken with a session open → CKR_SESSION_EXISTS; then it erases the token objects and sets the label; C_InitPIN restores the user PIN",
            spec: "base v3.0 §5.5.7 C_InitToken, §5.5.8 C_InitPIN (v2.40 §5.5.7, §5.5.8)",
            needs: Needs::NONE.login().so().destructive(),
            run: init_token,
        },
    ]
}

/// Upper bound on wrong attempts before the suite gives up on a lock-out.
const MAX_WRONG_ATTEMPTS: usize = 32;

fn wrong_pin(pin: &[u8], min: usize) -> Vec<u8> {
    // A PIN of the same length (or the minimum) that differs from the right one.
    let len = pin.len().max(min).max(4);
    let mut w: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
    if w == pin {
        w[0] = if w[0] == b'9' { b'8' } else { b'9' };
    }
    w
}

fn pin_lengths(ctx: &mut Ctx) -> CheckResult {
    let t = ctx.token_info()?;
    let pin = ctx.user_pin()?;
    ensure(t.ulMinPinLen >= 1, || "ulMinPinLen is 0".into())?;
    ensure(t.ulMaxPinLen >= t.ulMinPinLen, || {
        format!(
            "ulMaxPinLen {} < ulMinPinLen {}",
            t.ulMaxPinLen, t.ulMinPinLen
        )
    })?;
    let n = pin.len() as CK_ULONG;
    ensure((t.ulMinPinLen..=t.ulMaxPinLen).contains(&n), || {
        format!(
            "the working user PIN has {n} characters, outside {}–{}",
            t.ulMinPinLen, t.ulMaxPinLen
        )
    })?;
    Ok(Some(format!("{}–{}", t.ulMinPinLen, t.ulMaxPinLen)))
}

fn user_pin_initialized(ctx: &mut Ctx) -> CheckResult {
    let t = ctx.token_info()?;
    ensure(t.flags & CKF_USER_PIN_INITIALIZED != 0, || {
        "CKF_USER_PIN_INITIALIZED is not set".into()
    })?;
    ensure(t.flags & CKF_USER_PIN_LOCKED == 0, || {
        "CKF_USER_PIN_LOCKED is set".into()
    })?;
    ensure(t.flags & CKF_SO_PIN_LOCKED == 0, || {
        "CKF_SO_PIN_LOCKED is set".into()
    })?;
    Ok(None)
}

fn set_pin_length_range(ctx: &mut Ctx) -> CheckResult {
    let t = ctx.token_info()?;
    let pin = ctx.user_pin()?;
    let s = ctx.user_session()?;
    let long = vec![b'7'; (t.ulMaxPinLen as usize).saturating_add(1).min(1024)];
    let rv_long = ctx.p11.set_pin(s, &pin, &long);
    if rv_long == CKR_OK {
        ctx.p11.set_pin(s, &long, &pin);
    }
    expect_rv(
        &format!(
            "C_SetPIN(new PIN of {} characters, max {})",
            long.len(),
            t.ulMaxPinLen
        ),
        rv_long,
        CKR_PIN_LEN_RANGE,
    )?;
    if t.ulMinPinLen > 1 {
        let short = vec![b'7'; t.ulMinPinLen as usize - 1];
        let rv_short = ctx.p11.set_pin(s, &pin, &short);
        if rv_short == CKR_OK {
            ctx.p11.set_pin(s, &short, &pin);
        }
        expect_rv(
            &format!(
                "C_SetPIN(new PIN of {} characters, min {})",
                short.len(),
                t.ulMinPinLen
            ),
            rv_short,
            CKR_PIN_LEN_RANGE,
        )?;
    }
    Ok(None)
}

fn set_pin_roundtrip(ctx: &mut Ctx) -> CheckResult {
    let t = ctx.token_info()?;
    let pin = ctx.user_pin()?;
    let mut new = wrong_pin(&pin, t.ulMinPinLen as usize);
    new.truncate((t.ulMaxPinLen as usize).max(t.ulMinPinLen as usize));
    let s = ctx.user_session()?;
    ok("C_SetPIN(old, new)", ctx.p11.set_pin(s, &pin, &new))?;
    let result = (|| -> Result<(), Stop> {
        ok("C_Logout", ctx.p11.logout(s))?;
        expect_rv(
            "C_Login(old PIN)",
            ctx.p11.login(s, CKU_USER, Some(&pin)),
            CKR_PIN_INCORRECT,
        )?;
        ok("C_Login(new PIN)", ctx.p11.login(s, CKU_USER, Some(&new)))?;
        Ok(())
    })();
    // Put the PIN back whatever happened (logged in or not: C_SetPIN works
    // in a R/W public session too).
    let back = ctx.p11.set_pin(s, &new, &pin);
    result?;
    ok("C_SetPIN(new, old) restoring the PIN", back)?;
    Ok(None)
}

fn wrong_pin_count_low(ctx: &mut Ctx) -> CheckResult {
    let t = ctx.token_info()?;
    let pin = ctx.user_pin()?;
    let s = ctx.open(true)?;
    let wrong = wrong_pin(&pin, t.ulMinPinLen as usize);
    expect_rv(
        "C_Login(wrong PIN)",
        ctx.p11.login(s, CKU_USER, Some(&wrong)),
        CKR_PIN_INCORRECT,
    )?;
    let after = ctx.token_info()?;
    ok("C_Login(right PIN)", ctx.p11.login(s, CKU_USER, Some(&pin)))?;
    let cleared = ctx.token_info()?;
    ensure(after.flags & CKF_USER_PIN_COUNT_LOW != 0, || {
        "CKF_USER_PIN_COUNT_LOW is not set after a wrong PIN".into()
    })?;
    ensure(cleared.flags & CKF_USER_PIN_COUNT_LOW == 0, || {
        "CKF_USER_PIN_COUNT_LOW is still set after a successful login".into()
    })?;
    Ok(None)
}

fn pin_lock_and_unlock(ctx: &mut Ctx) -> CheckResult {
    let t = ctx.token_info()?;
    let pin = ctx.user_pin()?;
    let so = ctx.so_pin()?;
    let s = ctx.open(true)?;
    let wrong = wrong_pin(&pin, t.ulMinPinLen as usize);
    let mut saw_final_try = false;
    let mut attempts = 0;
    let locked = loop {
        if attempts == MAX_WRONG_ATTEMPTS {
            break false;
        }
        attempts += 1;
        let rv = ctx.p11.login(s, CKU_USER, Some(&wrong));
        if rv == CKR_PIN_LOCKED {
            break true;
        }
        if rv != CKR_PIN_INCORRECT {
            // Whatever happens, try to leave the user PIN usable.
            let _ = ctx.p11.login(s, CKU_USER, Some(&pin));
            return Err(Stop::Fail {
                message: format!("C_Login(wrong PIN) attempt {attempts}"),
                rv: Some(rv),
            });
        }
        if ctx.token_info()?.flags & CKF_USER_PIN_FINAL_TRY != 0 {
            saw_final_try = true;
        }
    };
    if !locked {
        // Reset the counter so the token stays as it was.
        ok(
            "C_Login(right PIN) after the attempts",
            ctx.p11.login(s, CKU_USER, Some(&pin)),
        )?;
        return Err(fail(format!(
            "{MAX_WRONG_ATTEMPTS} wrong PINs did not lock the user PIN (no CKR_PIN_LOCKED)"
        )));
    }
    let flags = ctx.token_info()?.flags;
    let right = ctx.p11.login(s, CKU_USER, Some(&pin));
    // Unlock through the SO before judging, so a failure leaves a usable token.
    ok("C_Login(CKU_SO)", ctx.p11.login(s, CKU_SO, Some(&so)))?;
    ok("C_InitPIN (unlock)", ctx.p11.init_pin(s, &pin))?;
    ok("C_Logout (SO)", ctx.p11.logout(s))?;
    let unlocked = ctx.p11.login(s, CKU_USER, Some(&pin));
    ensure(flags & CKF_USER_PIN_LOCKED != 0, || {
        "CKF_USER_PIN_LOCKED is not set on a locked PIN".into()
    })?;
    expect_rv("C_Login(right PIN) on a locked PIN", right, CKR_PIN_LOCKED)?;
    ensure(saw_final_try, || {
        "CKF_USER_PIN_FINAL_TRY was never set before the lock".into()
    })?;
    ok("C_Login(right PIN) after C_InitPIN", unlocked)?;
    let after = ctx.token_info()?.flags;
    ensure(
        after & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY) == 0,
        || format!("PIN flags still set after the unlock and a login: {after:#x}"),
    )?;
    Ok(Some(format!("locked after {attempts} wrong PINs")))
}

fn init_token(ctx: &mut Ctx) -> CheckResult {
    let so = ctx.so_pin()?;
    let pin = ctx.user_pin()?;
    let s = ctx.user_session()?;
    // A token data object that the re-initialisation must remove.
    let label = "tokenemu-conformance-erased-by-init";
    let (rv, _) = ctx.p11.create_object(
        s,
        &Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, false)
            .text(CKA_LABEL, label),
    );
    ok("C_CreateObject(token data object)", rv)?;
    let busy = ctx.p11.init_token(ctx.slot, &so, &ctx.label);
    ctx.cleanup();
    expect_rv("C_InitToken with a session open", busy, CKR_SESSION_EXISTS)?;
    let rv = ctx.p11.init_token(ctx.slot, &so, &ctx.label);
    if rv == CKR_FUNCTION_NOT_SUPPORTED {
        return Err(skip("C_InitToken is not supported"));
    }
    ok("C_InitToken", rv)?;
    // Restore the user PIN first, so the token is usable whatever follows.
    let s = ctx.open(true)?;
    ok("C_Login(CKU_SO)", ctx.p11.login(s, CKU_SO, Some(&so)))?;
    ok("C_InitPIN", ctx.p11.init_pin(s, &pin))?;
    ok("C_Logout", ctx.p11.logout(s))?;
    let t = ctx.token_info()?;
    ensure(t.flags & CKF_USER_PIN_INITIALIZED != 0, || {
        "CKF_USER_PIN_INITIALIZED not set after C_InitPIN".into()
    })?;
    let got = crate::conformance::check::padded(&t.label);
    ensure(got == ctx.label, || {
        format!(
            "label after C_InitToken is {got:?}, expected {:?}",
            ctx.label
        )
    })?;
    ctx.login_user(s)?;
    let left = ctx
        .p11
        .find_all(s, &Template::new().text(CKA_LABEL, label))
        .map_err(|rv| Stop::Fail {
            message: "C_FindObjects after C_InitToken".into(),
            rv: Some(rv),
        })?;
    ensure(left.is_empty(), || {
        "a token object survived C_InitToken".into()
    })?;
    Ok(None)
}
