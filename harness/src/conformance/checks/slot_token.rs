//! Slot and token management: base spec v3.0 §5.5 (= v2.40 §5.5).

use cryptoki_sys::*;
use tokenemu_core::names::mechanism_name;

use crate::conformance::check::{
    ensure, expect_one_of, expect_rv, fail, is_blank_padded, ok, Chapter, Check, CheckResult, Ctx,
    Needs,
};
use crate::p11::client::Out;

const C: Chapter = Chapter::SlotToken;

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "slot-token.slot-list",
            chapter: C,
            title: "C_GetSlotList: count query, full buffer, present slots ⊆ all slots, the slot under test listed",
            spec: "base v3.0 §5.5.1 C_GetSlotList, §5.2 (v2.40 §5.5.1, §5.2)",
            needs: Needs::NONE,
            run: slot_list,
        },
        Check {
            id: "slot-token.slot-list-null-count",
            chapter: C,
            title: "C_GetSlotList(pulCount = NULL) → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.5.1 C_GetSlotList (v2.40 §5.5.1)",
            needs: Needs::NONE,
            run: slot_list_null,
        },
        Check {
            id: "slot-token.slot-info",
            chapter: C,
            title: "C_GetSlotInfo: CKF_TOKEN_PRESENT, blank-padded strings",
            spec: "base v3.0 §5.5.2 C_GetSlotInfo, §3.2 CK_SLOT_INFO (v2.40 §5.5.2, §3.2)",
            needs: Needs::NONE,
            run: slot_info,
        },
        Check {
            id: "slot-token.invalid-slot",
            chapter: C,
            title: "C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList, C_OpenSession on an unknown slot → CKR_SLOT_ID_INVALID",
            spec: "base v3.0 §5.5.2, §5.5.3, §5.5.5, §5.6.1, §5.1.3 (v2.40 the same)",
            needs: Needs::NONE,
            run: invalid_slot,
        },
        Check {
            id: "slot-token.token-info",
            chapter: C,
            title: "C_GetTokenInfo: initialised, blank-padded strings, PIN lengths and session counts consistent",
            spec: "base v3.0 §5.5.3 C_GetTokenInfo, §3.2 CK_TOKEN_INFO (v2.40 §5.5.3, §3.2)",
            needs: Needs::NONE,
            run: token_info,
        },
        Check {
            id: "slot-token.token-info-null",
            chapter: C,
            title: "C_GetTokenInfo(slot, NULL) → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.5.3 C_GetTokenInfo (v2.40 §5.5.3)",
            needs: Needs::NONE,
            run: token_info_null,
        },
        Check {
            id: "slot-token.mechanism-list",
            chapter: C,
            title: "C_GetMechanismList: count query, short buffer → CKR_BUFFER_TOO_SMALL with the count, full buffer",
            spec: "base v3.0 §5.5.5 C_GetMechanismList, §5.2 (v2.40 §5.5.5, §5.2)",
            needs: Needs::NONE,
            run: mechanism_list,
        },
        Check {
            id: "slot-token.mechanism-info",
            chapter: C,
            title: "C_GetMechanismInfo for every listed mechanism: CKR_OK, min ≤ max key size, some function flag",
            spec: "base v3.0 §5.5.6 C_GetMechanismInfo, §3.5 CK_MECHANISM_INFO (v2.40 §5.5.6, §3.5)",
            needs: Needs::NONE,
            run: mechanism_info,
        },
        Check {
            id: "slot-token.mechanism-info-unlisted",
            chapter: C,
            title: "C_GetMechanismInfo for a mechanism the token does not list → CKR_MECHANISM_INVALID",
            spec: "base v3.0 §5.5.6 C_GetMechanismInfo (v2.40 §5.5.6)",
            needs: Needs::NONE,
            run: mechanism_info_unlisted,
        },
        Check {
            id: "slot-token.wait-for-slot-event",
            chapter: C,
            title: "C_WaitForSlotEvent(CKF_DONT_BLOCK) returns at once: CKR_NO_EVENT, CKR_OK (an event) or CKR_FUNCTION_NOT_SUPPORTED",
            spec: "base v3.0 §5.5.4 C_WaitForSlotEvent (v2.40 §5.5.4); the three answers are all allowed",
            needs: Needs::NONE,
            run: wait_for_slot_event,
        },
    ]
}

/// A slot id the module does not have.
pub fn unknown_slot(ctx: &Ctx) -> CK_SLOT_ID {
    let all = ctx.p11.slot_list(false, Out::Buf(256)).data;
    let mut id = 0x7eed_0000;
    while all.contains(&id) {
        id += 1;
    }
    id
}

fn slot_list(ctx: &mut Ctx) -> CheckResult {
    let q = ctx.p11.slot_list(false, Out::Query);
    ok("C_GetSlotList(FALSE, NULL)", q.rv)?;
    let n = q.len as usize;
    ensure(n >= 1, || "C_GetSlotList reports 0 slots".into())?;
    let full = ctx.p11.slot_list(false, Out::Buf(n));
    ok("C_GetSlotList(FALSE, buffer of the queried count)", full.rv)?;
    ensure(full.len as usize == n, || {
        format!("count changed from {n} to {}", full.len)
    })?;
    if n >= 2 {
        let short = ctx.p11.slot_list(false, Out::Buf(n - 1));
        expect_rv(
            "C_GetSlotList(FALSE, buffer one short)",
            short.rv,
            CKR_BUFFER_TOO_SMALL,
        )?;
        ensure(short.len as usize == n, || {
            format!(
                "CKR_BUFFER_TOO_SMALL came with count {} instead of {n}",
                short.len
            )
        })?;
    }
    let pq = ctx.p11.slot_list(true, Out::Query);
    ok("C_GetSlotList(TRUE, NULL)", pq.rv)?;
    let present = ctx.p11.slot_list(true, Out::Buf(pq.len as usize));
    ok("C_GetSlotList(TRUE, buffer)", present.rv)?;
    for s in &present.data {
        ensure(full.data.contains(s), || {
            format!("slot {s} is present but not in the full list")
        })?;
    }
    ensure(present.data.contains(&ctx.slot), || {
        format!(
            "the slot under test ({}) is not in the list of slots with a token",
            ctx.slot
        )
    })?;
    Ok(Some(format!(
        "{n} slot(s), {} with a token",
        present.data.len()
    )))
}

fn slot_list_null(ctx: &mut Ctx) -> CheckResult {
    expect_rv(
        "C_GetSlotList(FALSE, NULL, NULL)",
        ctx.p11.slot_list(false, Out::NullLen).rv,
        CKR_ARGUMENTS_BAD,
    )?;
    Ok(None)
}

fn slot_info(ctx: &mut Ctx) -> CheckResult {
    let (rv, info) = ctx.p11.slot_info(ctx.slot);
    ok("C_GetSlotInfo", rv)?;
    ensure(info.flags & CKF_TOKEN_PRESENT != 0, || {
        "CKF_TOKEN_PRESENT is not set for the slot under test".into()
    })?;
    ensure(is_blank_padded(&info.slotDescription), || {
        "slotDescription is not blank-padded UTF-8".into()
    })?;
    ensure(is_blank_padded(&info.manufacturerID), || {
        "manufacturerID is not blank-padded UTF-8".into()
    })?;
    Ok(None)
}

fn invalid_slot(ctx: &mut Ctx) -> CheckResult {
    let bad = unknown_slot(ctx);
    expect_rv(
        "C_GetSlotInfo(unknown slot)",
        ctx.p11.slot_info(bad).0,
        CKR_SLOT_ID_INVALID,
    )?;
    expect_rv(
        "C_GetTokenInfo(unknown slot)",
        ctx.p11.token_info(bad).0,
        CKR_SLOT_ID_INVALID,
    )?;
    expect_rv(
        "C_GetMechanismList(unknown slot)",
        ctx.p11.mechanism_list(bad, Out::Query).rv,
        CKR_SLOT_ID_INVALID,
    )?;
    expect_rv(
        "C_GetMechanismInfo(unknown slot)",
        ctx.p11.mechanism_info(bad, CKM_SHA256).0,
        CKR_SLOT_ID_INVALID,
    )?;
    let (rv, h) = ctx.p11.open_session(bad, CKF_SERIAL_SESSION);
    if rv == CKR_OK {
        ctx.p11.close_session(h);
    }
    expect_rv("C_OpenSession(unknown slot)", rv, CKR_SLOT_ID_INVALID)?;
    Ok(Some(format!("slot id {bad:#x}")))
}

fn token_info(ctx: &mut Ctx) -> CheckResult {
    let t = ctx.token_info()?;
    ensure(t.flags & CKF_TOKEN_INITIALIZED != 0, || {
        "CKF_TOKEN_INITIALIZED is not set".into()
    })?;
    for (name, f) in [
        ("label", &t.label[..]),
        ("manufacturerID", &t.manufacturerID[..]),
        ("model", &t.model[..]),
        ("serialNumber", &t.serialNumber[..]),
    ] {
        ensure(is_blank_padded(f), || {
            format!("{name} is not blank-padded UTF-8")
        })?;
    }
    ensure(t.ulMinPinLen <= t.ulMaxPinLen, || {
        format!(
            "ulMinPinLen {} > ulMaxPinLen {}",
            t.ulMinPinLen, t.ulMaxPinLen
        )
    })?;
    let special = |v: CK_ULONG| v == CK_UNAVAILABLE_INFORMATION || v == CK_EFFECTIVELY_INFINITE;
    if !special(t.ulMaxSessionCount) && !special(t.ulSessionCount) {
        ensure(t.ulSessionCount <= t.ulMaxSessionCount, || {
            format!(
                "ulSessionCount {} > ulMaxSessionCount {}",
                t.ulSessionCount, t.ulMaxSessionCount
            )
        })?;
    }
    if !special(t.ulMaxRwSessionCount) && !special(t.ulRwSessionCount) {
        ensure(t.ulRwSessionCount <= t.ulMaxRwSessionCount, || {
            format!(
                "ulRwSessionCount {} > ulMaxRwSessionCount {}",
                t.ulRwSessionCount, t.ulMaxRwSessionCount
            )
        })?;
    }
    Ok(Some(format!(
        "PIN length {}–{}",
        t.ulMinPinLen, t.ulMaxPinLen
    )))
}

fn token_info_null(ctx: &mut Ctx) -> CheckResult {
    expect_rv(
        "C_GetTokenInfo(slot, NULL)",
        ctx.p11.token_info_null(ctx.slot),
        CKR_ARGUMENTS_BAD,
    )?;
    Ok(None)
}

fn mechanism_list(ctx: &mut Ctx) -> CheckResult {
    let q = ctx.p11.mechanism_list(ctx.slot, Out::Query);
    ok("C_GetMechanismList(NULL)", q.rv)?;
    let n = q.len as usize;
    if n >= 1 {
        let short = ctx.p11.mechanism_list(ctx.slot, Out::Buf(n - 1));
        expect_rv(
            "C_GetMechanismList(buffer one short)",
            short.rv,
            CKR_BUFFER_TOO_SMALL,
        )?;
        ensure(short.len as usize == n, || {
            format!(
                "CKR_BUFFER_TOO_SMALL came with count {} instead of {n}",
                short.len
            )
        })?;
    }
    let full = ctx.p11.mechanism_list(ctx.slot, Out::Buf(n));
    ok("C_GetMechanismList(buffer)", full.rv)?;
    ensure(full.data.len() == n, || {
        format!("queried {n} mechanisms, got {}", full.data.len())
    })?;
    let null = ctx.p11.mechanism_list(ctx.slot, Out::NullLen);
    expect_rv(
        "C_GetMechanismList(pulCount = NULL)",
        null.rv,
        CKR_ARGUMENTS_BAD,
    )?;
    Ok(Some(format!("{n} mechanisms")))
}

fn mechanism_info(ctx: &mut Ctx) -> CheckResult {
    let functions = CKF_ENCRYPT | CKF_DECRYPT | CKF_DIGEST | CKF_SIGN | CKF_SIGN_RECOVER | CKF_VERIFY
        | CKF_VERIFY_RECOVER | CKF_GENERATE | CKF_GENERATE_KEY_PAIR | CKF_WRAP | CKF_UNWRAP | CKF_DERIVE
        | 0x0000_0400 /* CKF_MESSAGE_ENCRYPT … CKF_MULTI_MESSAGE (3.0) */ | 0x0000_0800 | 0x0000_1000
        | 0x0000_2000 | 0x0000_4000 | 0x0000_8000;
    for m in ctx.mechanisms.clone() {
        let (rv, info) = ctx.p11.mechanism_info(ctx.slot, m);
        ok(&format!("C_GetMechanismInfo({})", mechanism_name(m)), rv)?;
        ensure(info.ulMinKeySize <= info.ulMaxKeySize, || {
            format!(
                "{}: ulMinKeySize {} > ulMaxKeySize {}",
                mechanism_name(m),
                info.ulMinKeySize,
                info.ulMaxKeySize
            )
        })?;
        ensure(info.flags & functions != 0, || {
            format!(
                "{}: no function flag set (flags {:#x})",
                mechanism_name(m),
                info.flags
            )
        })?;
    }
    Ok(Some(format!("{} mechanisms", ctx.mechanisms.len())))
}

fn mechanism_info_unlisted(ctx: &mut Ctx) -> CheckResult {
    // A vendor-range value no vendor uses; if a token lists it, pick another.
    let mut m: CK_MECHANISM_TYPE = CKM_VENDOR_DEFINED | 0x0eee_0001;
    while ctx.has(m) {
        m += 1;
    }
    expect_rv(
        "C_GetMechanismInfo(unlisted mechanism)",
        ctx.p11.mechanism_info(ctx.slot, m).0,
        CKR_MECHANISM_INVALID,
    )?;
    Ok(None)
}

fn wait_for_slot_event(ctx: &mut Ctx) -> CheckResult {
    let started = std::time::Instant::now();
    let rv = ctx.p11.wait_for_slot_event_nonblocking();
    let note = expect_one_of(
        "C_WaitForSlotEvent(CKF_DONT_BLOCK)",
        rv,
        &[CKR_NO_EVENT, CKR_OK, CKR_FUNCTION_NOT_SUPPORTED],
    )?;
    if started.elapsed() > std::time::Duration::from_secs(2) {
        return Err(fail(
            "C_WaitForSlotEvent(CKF_DONT_BLOCK) blocked for more than 2 s",
        ));
    }
    Ok(Some(note))
}
