//! Session and login state machines: base spec v3.0 §5.6 and §3.3
//! (v2.40 §5.6, §3.3).

use cryptoki_sys::*;

use crate::conformance::check::{
    ensure, expect_rv, ok, Chapter, Check, CheckResult, Ctx, Needs, Stop,
};
use crate::p11::client::Template;

const C: Chapter = Chapter::Session;

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "session.open-without-serial",
            chapter: C,
            title: "C_OpenSession without CKF_SERIAL_SESSION → CKR_SESSION_PARALLEL_NOT_SUPPORTED",
            spec: "base v3.0 §5.6.1 C_OpenSession (v2.40 §5.6.1)",
            needs: Needs::NONE,
            run: open_without_serial,
        },
        Check {
            id: "session.open-null-handle",
            chapter: C,
            title: "C_OpenSession(phSession = NULL) → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.6.1 C_OpenSession (v2.40 §5.6.1)",
            needs: Needs::NONE,
            run: open_null,
        },
        Check {
            id: "session.public-states",
            chapter: C,
            title: "new sessions: R/O → CKS_RO_PUBLIC_SESSION, R/W → CKS_RW_PUBLIC_SESSION, flags and slot reported",
            spec: "base v3.0 §5.6.4 C_GetSessionInfo, §3.3 CK_STATE (v2.40 §5.6.4, §3.3)",
            needs: Needs::NONE,
            run: public_states,
        },
        Check {
            id: "session.close-invalidates-handle",
            chapter: C,
            title: "a closed session's handle → CKR_SESSION_HANDLE_INVALID; closing it again too",
            spec: "base v3.0 §5.6.2 C_CloseSession, §5.1.2 (v2.40 §5.6.2, §5.1.2)",
            needs: Needs::NONE,
            run: close_invalidates,
        },
        Check {
            id: "session.close-all",
            chapter: C,
            title: "C_CloseAllSessions closes every session of the slot",
            spec: "base v3.0 §5.6.3 C_CloseAllSessions (v2.40 §5.6.3)",
            needs: Needs::NONE,
            run: close_all,
        },
        Check {
            id: "session.user-login-states",
            chapter: C,
            title: "C_Login(CKU_USER) puts every session of the application into the user states, new ones too; C_Logout back to public",
            spec: "base v3.0 §5.6.8 C_Login, §5.6.10 C_Logout, §3.3 (v2.40 §5.6.7, §5.6.8, §3.3)",
            needs: Needs::NONE.login(),
            run: user_login_states,
        },
        Check {
            id: "session.login-twice",
            chapter: C,
            title: "C_Login(CKU_USER) while the user is logged in → CKR_USER_ALREADY_LOGGED_IN",
            spec: "base v3.0 §5.6.8 C_Login (v2.40 §5.6.7)",
            needs: Needs::NONE.login(),
            run: login_twice,
        },
        Check {
            id: "session.logout-not-logged-in",
            chapter: C,
            title: "C_Logout without a login → CKR_USER_NOT_LOGGED_IN",
            spec: "base v3.0 §5.6.10 C_Logout (v2.40 §5.6.8)",
            needs: Needs::NONE,
            run: logout_not_logged_in,
        },
        Check {
            id: "session.login-bad-user-type",
            chapter: C,
            title: "C_Login with an undefined user type → CKR_USER_TYPE_INVALID",
            spec: "base v3.0 §5.6.8 C_Login, §3.3 CK_USER_TYPE (v2.40 §5.6.7)",
            needs: Needs::NONE.login(),
            run: login_bad_user_type,
        },
        Check {
            id: "session.login-null-pin",
            chapter: C,
            title: "C_Login(pPin = NULL, ulPinLen = 4) without a protected authentication path → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.6.8 C_Login (v2.40 §5.6.7): NULL pPin only with CKF_PROTECTED_AUTHENTICATION_PATH",
            needs: Needs::NONE,
            run: login_null_pin,
        },
        Check {
            id: "session.so-login-with-ro-session",
            chapter: C,
            title: "C_Login(CKU_SO) while a read-only session is open → CKR_SESSION_READ_ONLY_EXISTS",
            spec: "base v3.0 §5.6.8 C_Login (v2.40 §5.6.7)",
            needs: Needs::NONE.so(),
            run: so_with_ro,
        },
        Check {
            id: "session.so-states",
            chapter: C,
            title: "SO logged in: R/W session in CKS_RW_SO_FUNCTIONS; opening R/O → CKR_SESSION_READ_WRITE_SO_EXISTS; C_Login(CKU_USER) → CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
            spec: "base v3.0 §5.6.1 C_OpenSession, §5.6.8 C_Login, §3.3 (v2.40 §5.6.1, §5.6.7)",
            needs: Needs::NONE.so().login(),
            run: so_states,
        },
        Check {
            id: "session.set-pin-read-only",
            chapter: C,
            title: "C_SetPIN in a read-only session → CKR_SESSION_READ_ONLY (old and new PIN equal, so nothing changes either way)",
            spec: "base v3.0 §5.5.9 C_SetPIN (v2.40 §5.5.9): only in the R/W states",
            needs: Needs::NONE.login(),
            run: set_pin_read_only,
        },
        Check {
            id: "session.init-pin-needs-so",
            chapter: C,
            title: "C_InitPIN outside the R/W SO state (public, and user logged in) → CKR_USER_NOT_LOGGED_IN",
            spec: "base v3.0 §5.5.8 C_InitPIN (v2.40 §5.5.8): only in the R/W SO Functions state",
            needs: Needs::NONE.login(),
            run: init_pin_needs_so,
        },
        Check {
            id: "session.last-close-logs-out",
            chapter: C,
            title: "closing the last session returns the token to the public state",
            spec: "base v3.0 §5.6.2 C_CloseSession (v2.40 §5.6.2)",
            needs: Needs::NONE.login(),
            run: last_close_logs_out,
        },
        Check {
            id: "session.objects-die-with-session",
            chapter: C,
            title: "a session object is destroyed when the session that created it closes",
            spec: "base v3.0 §5.6.2 C_CloseSession, §4.4 CKA_TOKEN (v2.40 §5.6.2, §4.4)",
            needs: Needs::NONE,
            run: objects_die,
        },
    ]
}

fn open_without_serial(ctx: &mut Ctx) -> CheckResult {
    let (rv, h) = ctx.p11.open_session(ctx.slot, 0);
    if rv == CKR_OK {
        ctx.p11.close_session(h);
    }
    expect_rv(
        "C_OpenSession(flags = 0)",
        rv,
        CKR_SESSION_PARALLEL_NOT_SUPPORTED,
    )?;
    Ok(None)
}

fn open_null(ctx: &mut Ctx) -> CheckResult {
    expect_rv(
        "C_OpenSession(phSession = NULL)",
        ctx.p11.open_session_null(ctx.slot),
        CKR_ARGUMENTS_BAD,
    )?;
    Ok(None)
}

fn expect_state(ctx: &Ctx, s: CK_SESSION_HANDLE, want: CK_STATE, what: &str) -> Result<(), Stop> {
    let got = ctx.state(s)?;
    ensure(got == want, || {
        format!(
            "{what}: session state {} ({got}), expected {} ({want})",
            state_name(got),
            state_name(want)
        )
    })
}

/// CKS_… name.
pub fn state_name(s: CK_STATE) -> &'static str {
    match s {
        CKS_RO_PUBLIC_SESSION => "CKS_RO_PUBLIC_SESSION",
        CKS_RO_USER_FUNCTIONS => "CKS_RO_USER_FUNCTIONS",
        CKS_RW_PUBLIC_SESSION => "CKS_RW_PUBLIC_SESSION",
        CKS_RW_USER_FUNCTIONS => "CKS_RW_USER_FUNCTIONS",
        CKS_RW_SO_FUNCTIONS => "CKS_RW_SO_FUNCTIONS",
        _ => "unknown state",
    }
}

fn public_states(ctx: &mut Ctx) -> CheckResult {
    let ro = ctx.open(false)?;
    let rw = ctx.open(true)?;
    let (rv, info) = ctx.p11.session_info(ro);
    ok("C_GetSessionInfo(R/O)", rv)?;
    ensure(info.slotID == ctx.slot, || {
        format!("slotID {} instead of {}", info.slotID, ctx.slot)
    })?;
    ensure(info.flags & CKF_SERIAL_SESSION != 0, || {
        "CKF_SERIAL_SESSION not set".into()
    })?;
    ensure(info.flags & CKF_RW_SESSION == 0, || {
        "CKF_RW_SESSION set on a read-only session".into()
    })?;
    expect_state(ctx, ro, CKS_RO_PUBLIC_SESSION, "R/O session")?;
    let (_, info) = ctx.p11.session_info(rw);
    ensure(info.flags & CKF_RW_SESSION != 0, || {
        "CKF_RW_SESSION not set on a read-write session".into()
    })?;
    expect_state(ctx, rw, CKS_RW_PUBLIC_SESSION, "R/W session")?;
    Ok(None)
}

fn close_invalidates(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    ok("C_CloseSession", ctx.p11.close_session(s))?;
    expect_rv(
        "C_GetSessionInfo(closed session)",
        ctx.p11.session_info(s).0,
        CKR_SESSION_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_CloseSession(closed session)",
        ctx.p11.close_session(s),
        CKR_SESSION_HANDLE_INVALID,
    )?;
    Ok(None)
}

fn close_all(ctx: &mut Ctx) -> CheckResult {
    let a = ctx.open(false)?;
    let b = ctx.open(true)?;
    ok("C_CloseAllSessions", ctx.p11.close_all_sessions(ctx.slot))?;
    expect_rv(
        "C_GetSessionInfo(first session after C_CloseAllSessions)",
        ctx.p11.session_info(a).0,
        CKR_SESSION_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_GetSessionInfo(second session after C_CloseAllSessions)",
        ctx.p11.session_info(b).0,
        CKR_SESSION_HANDLE_INVALID,
    )?;
    Ok(None)
}

fn user_login_states(ctx: &mut Ctx) -> CheckResult {
    let ro = ctx.open(false)?;
    let rw = ctx.open(true)?;
    ctx.login_user(ro)?;
    expect_state(
        ctx,
        ro,
        CKS_RO_USER_FUNCTIONS,
        "R/O session after C_Login(CKU_USER)",
    )?;
    expect_state(
        ctx,
        rw,
        CKS_RW_USER_FUNCTIONS,
        "the other (R/W) session after C_Login(CKU_USER)",
    )?;
    let later = ctx.open(true)?;
    expect_state(
        ctx,
        later,
        CKS_RW_USER_FUNCTIONS,
        "a R/W session opened after C_Login",
    )?;
    ok("C_Logout", ctx.p11.logout(rw))?;
    expect_state(ctx, ro, CKS_RO_PUBLIC_SESSION, "R/O session after C_Logout")?;
    expect_state(
        ctx,
        later,
        CKS_RW_PUBLIC_SESSION,
        "R/W session after C_Logout",
    )?;
    Ok(None)
}

fn login_twice(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pin = ctx.user_pin()?;
    expect_rv(
        "second C_Login(CKU_USER)",
        ctx.p11.login(s, CKU_USER, Some(&pin)),
        CKR_USER_ALREADY_LOGGED_IN,
    )?;
    Ok(None)
}

fn logout_not_logged_in(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    expect_rv(
        "C_Logout (nobody logged in)",
        ctx.p11.logout(s),
        CKR_USER_NOT_LOGGED_IN,
    )?;
    Ok(None)
}

fn login_bad_user_type(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(true)?;
    let pin = ctx.user_pin()?;
    expect_rv(
        "C_Login(user type 0x7e)",
        ctx.p11.login(s, 0x7e, Some(&pin)),
        CKR_USER_TYPE_INVALID,
    )?;
    Ok(None)
}

fn login_null_pin(ctx: &mut Ctx) -> CheckResult {
    let t = ctx.token_info()?;
    if t.flags & CKF_PROTECTED_AUTHENTICATION_PATH != 0 {
        return Err(crate::conformance::check::skip(
            "the token has a protected authentication path: NULL pPin is allowed",
        ));
    }
    let s = ctx.open(false)?;
    expect_rv(
        "C_Login(CKU_USER, NULL, 4)",
        ctx.p11.login(s, CKU_USER, None),
        CKR_ARGUMENTS_BAD,
    )?;
    Ok(None)
}

fn so_with_ro(ctx: &mut Ctx) -> CheckResult {
    let so = ctx.so_pin()?;
    let ro = ctx.open(false)?;
    let rv = ctx.p11.login(ro, CKU_SO, Some(&so));
    if rv == CKR_OK {
        ctx.p11.logout(ro);
    }
    expect_rv(
        "C_Login(CKU_SO) with a R/O session open",
        rv,
        CKR_SESSION_READ_ONLY_EXISTS,
    )?;
    Ok(None)
}

fn so_states(ctx: &mut Ctx) -> CheckResult {
    let so = ctx.so_pin()?;
    let user = ctx.user_pin()?;
    let rw = ctx.open(true)?;
    ok("C_Login(CKU_SO)", ctx.p11.login(rw, CKU_SO, Some(&so)))?;
    expect_state(
        ctx,
        rw,
        CKS_RW_SO_FUNCTIONS,
        "R/W session after C_Login(CKU_SO)",
    )?;
    let (rv, h) = ctx.p11.open_session(ctx.slot, CKF_SERIAL_SESSION);
    if rv == CKR_OK {
        ctx.p11.close_session(h);
    }
    expect_rv(
        "C_OpenSession(R/O) while the SO is logged in",
        rv,
        CKR_SESSION_READ_WRITE_SO_EXISTS,
    )?;
    expect_rv(
        "C_Login(CKU_USER) while the SO is logged in",
        ctx.p11.login(rw, CKU_USER, Some(&user)),
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
    )?;
    ok("C_Logout", ctx.p11.logout(rw))?;
    expect_state(ctx, rw, CKS_RW_PUBLIC_SESSION, "after the SO's C_Logout")?;
    Ok(None)
}

fn last_close_logs_out(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    ok("C_CloseSession", ctx.p11.close_session(s))?;
    let again = ctx.open(true)?;
    expect_state(
        ctx,
        again,
        CKS_RW_PUBLIC_SESSION,
        "a session opened after the last one was closed",
    )?;
    Ok(None)
}

fn objects_die(ctx: &mut Ctx) -> CheckResult {
    let a = ctx.open(false)?;
    let b = ctx.open(false)?;
    let h = ctx.data_object(a, "session-object", Template::new())?;
    ok(
        "C_GetAttributeValue(CKA_LABEL) from another session",
        ctx.p11.attribute(b, h, CKA_LABEL).err().unwrap_or(CKR_OK),
    )?;
    ok("C_CloseSession", ctx.p11.close_session(a))?;
    let rv = ctx.p11.attribute(b, h, CKA_LABEL).err().unwrap_or(CKR_OK);
    expect_rv(
        "C_GetAttributeValue on the object after its session closed",
        rv,
        CKR_OBJECT_HANDLE_INVALID,
    )?;
    Ok(None)
}

fn set_pin_read_only(ctx: &mut Ctx) -> CheckResult {
    let pin = ctx.user_pin()?;
    let ro = ctx.open(false)?;
    expect_rv(
        "C_SetPIN in a R/O public session",
        ctx.p11.set_pin(ro, &pin, &pin),
        CKR_SESSION_READ_ONLY,
    )?;
    ctx.login_user(ro)?;
    expect_rv(
        "C_SetPIN in a R/O user session",
        ctx.p11.set_pin(ro, &pin, &pin),
        CKR_SESSION_READ_ONLY,
    )?;
    Ok(None)
}

fn init_pin_needs_so(ctx: &mut Ctx) -> CheckResult {
    let pin = ctx.user_pin()?;
    let rw = ctx.open(true)?;
    expect_rv(
        "C_InitPIN in a R/W public session",
        ctx.p11.init_pin(rw, &pin),
        CKR_USER_NOT_LOGGED_IN,
    )?;
    ctx.login_user(rw)?;
    expect_rv(
        "C_InitPIN with the user logged in",
        ctx.p11.init_pin(rw, &pin),
        CKR_USER_NOT_LOGGED_IN,
    )?;
    Ok(None)
}
