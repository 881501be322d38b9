//! General-purpose functions: base spec v3.0 §5.4 (= v2.40 §5.4).

use cryptoki_sys::*;

use crate::conformance::check::{
    ensure, expect_rv, is_blank_padded, ok, Chapter, Check, CheckResult, Ctx, Needs,
};
use crate::p11::client::InitArgs;

const C: Chapter = Chapter::General;

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "general.get-info",
            chapter: C,
            title: "C_GetInfo: CKR_OK, Cryptoki version 2.x or 3.x, blank-padded strings",
            spec: "base v3.0 §5.4.3 C_GetInfo, §3.1 CK_INFO (v2.40 §5.4.3, §3.1)",
            needs: Needs::NONE,
            run: get_info,
        },
        Check {
            id: "general.get-info-null",
            chapter: C,
            title: "C_GetInfo(NULL) → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.4.3 C_GetInfo, §5.1.6 CKR_ARGUMENTS_BAD (v2.40 §5.4.3)",
            needs: Needs::NONE,
            run: get_info_null,
        },
        Check {
            id: "general.get-function-list",
            chapter: C,
            title: "C_GetFunctionList: CKR_OK with a version; NULL → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.4.4 C_GetFunctionList (v2.40 §5.4.4)",
            needs: Needs::NONE,
            run: function_list,
        },
        Check {
            id: "general.initialize-twice",
            chapter: C,
            title: "C_Initialize while initialised → CKR_CRYPTOKI_ALREADY_INITIALIZED",
            spec: "base v3.0 §5.4.1 C_Initialize (v2.40 §5.4.1)",
            needs: Needs::NONE,
            run: initialize_twice,
        },
        Check {
            id: "general.finalize-reserved",
            chapter: C,
            title: "C_Finalize(pReserved ≠ NULL) → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.4.2 C_Finalize (v2.40 §5.4.2): pReserved must be NULL_PTR",
            needs: Needs::NONE,
            run: finalize_reserved,
        },
        Check {
            id: "general.not-initialized",
            chapter: C,
            title: "after C_Finalize: C_GetInfo, C_GetSlotList and C_Finalize → CKR_CRYPTOKI_NOT_INITIALIZED",
            spec: "base v3.0 §5.1.1, §5.4.2 C_Finalize (v2.40 §5.1.1, §5.4.2)",
            needs: Needs::NONE,
            run: not_initialized,
        },
        Check {
            id: "general.initialize-bad-args",
            chapter: C,
            title: "C_Initialize with only some mutex functions, or pReserved ≠ NULL → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.4.1 C_Initialize (v2.40 §5.4.1)",
            needs: Needs::NONE,
            run: initialize_bad_args,
        },
        Check {
            id: "general.generate-random",
            chapter: C,
            title: "C_GenerateRandom fills the buffer (two 32-byte draws differ, not all zero); zero bytes → CKR_OK",
            spec: "base v3.0 §5.19.2 C_GenerateRandom (v2.40 §5.15.2)",
            needs: Needs::NONE,
            run: generate_random,
        },
    ]
}

fn generate_random(ctx: &mut Ctx) -> CheckResult {
    let (rv, s) = ctx.p11.open_session(ctx.slot, CKF_SERIAL_SESSION);
    ok("C_OpenSession", rv)?;
    let (rv, a) = ctx.p11.generate_random(s, 32);
    ok("C_GenerateRandom(32)", rv)?;
    let (rv, b) = ctx.p11.generate_random(s, 32);
    ok("C_GenerateRandom(32)", rv)?;
    ensure(a != b, || {
        "two C_GenerateRandom(32) calls returned the same bytes".into()
    })?;
    ensure(a.iter().any(|x| *x != 0), || {
        "C_GenerateRandom(32) returned zeros".into()
    })?;
    ok("C_GenerateRandom(0)", ctx.p11.generate_random(s, 0).0)?;
    Ok(None)
}

fn get_info(ctx: &mut Ctx) -> CheckResult {
    let (rv, info) = ctx.p11.info();
    ok("C_GetInfo", rv)?;
    let v = info.cryptokiVersion;
    ensure(v.major == 2 || v.major == 3, || {
        format!(
            "cryptokiVersion {}.{} is neither 2.x nor 3.x",
            v.major, v.minor
        )
    })?;
    ensure(is_blank_padded(&info.manufacturerID), || {
        "manufacturerID is not blank-padded UTF-8 (contains NUL or invalid bytes)".into()
    })?;
    ensure(is_blank_padded(&info.libraryDescription), || {
        "libraryDescription is not blank-padded UTF-8 (contains NUL or invalid bytes)".into()
    })?;
    ensure(info.flags == 0, || {
        format!(
            "CK_INFO.flags is {:#x}; the spec reserves them (0)",
            info.flags
        )
    })?;
    Ok(Some(format!("Cryptoki {}.{}", v.major, v.minor)))
}

fn get_info_null(ctx: &mut Ctx) -> CheckResult {
    expect_rv("C_GetInfo(NULL)", ctx.p11.info_null(), CKR_ARGUMENTS_BAD)?;
    Ok(None)
}

fn function_list(ctx: &mut Ctx) -> CheckResult {
    let (rv, version) = ctx.p11.function_list();
    ok("C_GetFunctionList", rv)?;
    let v = version.ok_or_else(|| {
        crate::conformance::check::fail("C_GetFunctionList returned CKR_OK but a NULL list")
    })?;
    expect_rv(
        "C_GetFunctionList(NULL)",
        ctx.p11.function_list_null(),
        CKR_ARGUMENTS_BAD,
    )?;
    Ok(Some(format!(
        "function list version {}.{}",
        v.major, v.minor
    )))
}

fn initialize_twice(ctx: &mut Ctx) -> CheckResult {
    expect_rv(
        "second C_Initialize",
        ctx.p11.initialize(InitArgs::OsLocking),
        CKR_CRYPTOKI_ALREADY_INITIALIZED,
    )?;
    Ok(None)
}

/// Re-initialises after a check that finalised (or may have).
fn reinit(ctx: &Ctx) -> Result<(), crate::conformance::check::Stop> {
    let rv = ctx.p11.initialize(InitArgs::OsLocking);
    if rv == CKR_CRYPTOKI_ALREADY_INITIALIZED {
        return Ok(());
    }
    ok("C_Initialize (restoring the module after the check)", rv)
}

fn finalize_reserved(ctx: &mut Ctx) -> CheckResult {
    let rv = ctx.p11.finalize_reserved();
    // A module that ignored the argument has finalised: put it back first.
    reinit(ctx)?;
    expect_rv("C_Finalize(pReserved = &x)", rv, CKR_ARGUMENTS_BAD)?;
    Ok(None)
}

fn not_initialized(ctx: &mut Ctx) -> CheckResult {
    ctx.cleanup();
    ok("C_Finalize", ctx.p11.finalize())?;
    let info = ctx.p11.info().0;
    let slots = ctx.p11.slot_list(false, crate::p11::client::Out::Query).rv;
    let fin = ctx.p11.finalize();
    reinit(ctx)?;
    expect_rv(
        "C_GetInfo after C_Finalize",
        info,
        CKR_CRYPTOKI_NOT_INITIALIZED,
    )?;
    expect_rv(
        "C_GetSlotList after C_Finalize",
        slots,
        CKR_CRYPTOKI_NOT_INITIALIZED,
    )?;
    expect_rv("second C_Finalize", fin, CKR_CRYPTOKI_NOT_INITIALIZED)?;
    Ok(None)
}

fn initialize_bad_args(ctx: &mut Ctx) -> CheckResult {
    ctx.cleanup();
    ok("C_Finalize", ctx.p11.finalize())?;
    let partial = ctx.p11.initialize(InitArgs::PartialMutex);
    if partial == CKR_OK {
        ctx.p11.finalize();
    }
    let reserved = ctx.p11.initialize(InitArgs::ReservedNonNull);
    if reserved == CKR_OK {
        ctx.p11.finalize();
    }
    reinit(ctx)?;
    expect_rv("C_Initialize(CreateMutex only)", partial, CKR_ARGUMENTS_BAD)?;
    expect_rv("C_Initialize(pReserved = &x)", reserved, CKR_ARGUMENTS_BAD)?;
    Ok(None)
}
