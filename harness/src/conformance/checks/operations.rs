//! Operation lifecycle: CKR_OPERATION_ACTIVE, termination after errors and
//! after the final call. Base spec v3.0 §5.12–§5.15 and §5.7.7
//! (v2.40 §5.10–§5.12, §5.7.7).

use cryptoki_sys::*;

use crate::conformance::check::{
    ensure, expect_one_of, expect_rv, ok, Chapter, Check, CheckResult, Ctx, Needs,
};
use crate::p11::client::{Mech, Out, Template};

use super::keys::{any_digest, gost_pair, modulus_len, rsa_pair, signer};

const C: Chapter = Chapter::Operations;

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "operations.digest-init-active",
            chapter: C,
            title: "C_DigestInit while a digest is active → CKR_OPERATION_ACTIVE",
            spec: "base v3.0 §5.12.1 C_DigestInit (v2.40 §5.10.1)",
            needs: Needs::NONE,
            run: digest_init_active,
        },
        Check {
            id: "operations.sign-init-active",
            chapter: C,
            title: "C_SignInit while a signature is active → CKR_OPERATION_ACTIVE",
            spec: "base v3.0 §5.13.1 C_SignInit (v2.40 §5.11.1)",
            needs: Needs::NONE.login(),
            run: sign_init_active,
        },
        Check {
            id: "operations.find-init-active",
            chapter: C,
            title: "C_FindObjectsInit while a search is active → CKR_OPERATION_ACTIVE; after C_FindObjectsFinal, C_FindObjects → CKR_OPERATION_NOT_INITIALIZED",
            spec: "base v3.0 §5.7.7 C_FindObjectsInit, §5.7.9 C_FindObjectsFinal (v2.40 the same)",
            needs: Needs::NONE,
            run: find_init_active,
        },
        Check {
            id: "operations.digest-ends-on-success",
            chapter: C,
            title: "a successful C_Digest ends the operation: the next C_Digest → CKR_OPERATION_NOT_INITIALIZED",
            spec: "base v3.0 §5.12.2 C_Digest (v2.40 §5.10.2)",
            needs: Needs::NONE,
            run: digest_ends,
        },
        Check {
            id: "operations.digest-final-ends",
            chapter: C,
            title: "C_DigestFinal ends the operation: C_DigestUpdate afterwards → CKR_OPERATION_NOT_INITIALIZED",
            spec: "base v3.0 §5.12.5 C_DigestFinal (v2.40 §5.10.5)",
            needs: Needs::NONE,
            run: digest_final_ends,
        },
        Check {
            id: "operations.sign-ends-on-data-error",
            chapter: C,
            title: "a C_Sign refusing its input (RSA data too long, GOST digest of the wrong length) ends the operation",
            spec: "base v3.0 §5.13.2 C_Sign (v2.40 §5.11.2): a call to C_Sign always terminates the operation unless it returns CKR_BUFFER_TOO_SMALL or is a successful length query",
            needs: Needs::NONE.login(),
            run: sign_ends_on_data_error,
        },
        Check {
            id: "operations.sign-ends-on-null-length",
            chapter: C,
            title: "C_Sign(pulSignatureLen = NULL) → CKR_ARGUMENTS_BAD, and that ends the operation too",
            spec: "base v3.0 §5.13.2 C_Sign (v2.40 §5.11.2): a call to C_Sign always terminates the operation unless it returns CKR_BUFFER_TOO_SMALL or is a successful length query",
            needs: Needs::NONE.login(),
            run: sign_ends_on_null_length,
        },
        Check {
            id: "operations.digest-ends-on-null-length",
            chapter: C,
            title: "C_Digest(pulDigestLen = NULL) → CKR_ARGUMENTS_BAD, and that ends the operation",
            spec: "base v3.0 §5.12.2 C_Digest (v2.40 §5.10.2): a call to C_Digest always terminates the operation unless it returns CKR_BUFFER_TOO_SMALL or is a successful length query",
            needs: Needs::NONE,
            run: digest_ends_on_null_length,
        },
        Check {
            id: "operations.verify-ends-on-invalid",
            chapter: C,
            title: "C_Verify returning CKR_SIGNATURE_INVALID ends the operation",
            spec: "base v3.0 §5.15.2 C_Verify (v2.40 §5.12.2)",
            needs: Needs::NONE.login(),
            run: verify_ends,
        },
        Check {
            id: "operations.multipart-sign",
            chapter: C,
            title: "C_SignUpdate + C_SignFinal verifies with C_Verify, C_Sign verifies with C_VerifyUpdate + C_VerifyFinal; C_SignFinal ends the operation",
            spec: "base v3.0 §5.13.3, §5.13.4, §5.15.3, §5.15.4 (v2.40 §5.11.3, §5.11.4, §5.12.3, §5.12.4)",
            needs: Needs::NONE.login(),
            run: multipart_sign,
        },
        Check {
            id: "operations.digest-single-after-update",
            chapter: C,
            title: "C_Digest after C_DigestUpdate is refused (CKR_OPERATION_ACTIVE or CKR_OPERATION_NOT_INITIALIZED), and that ends the operation",
            spec: "base v3.0 §5.12.2 C_Digest (v2.40 §5.10.2): C_Digest cannot be used to terminate a multi-part operation (no CK_RV is named), and a call that is not a length query or CKR_BUFFER_TOO_SMALL ends the operation",
            needs: Needs::NONE,
            run: digest_single_after_update,
        },
        Check {
            id: "operations.digest-final-after-single-query",
            chapter: C,
            title: "C_DigestFinal after a C_Digest length query is refused (CKR_OPERATION_ACTIVE or CKR_OPERATION_NOT_INITIALIZED; not the empty message's hash), and that ends the operation",
            spec: "base v3.0 §5.12.2 C_Digest, §5.12.5 C_DigestFinal (v2.40 §5.10.2, §5.10.5): a single-part operation is not finished with a multi-part call",
            needs: Needs::NONE,
            run: digest_final_after_single_query,
        },
        Check {
            id: "operations.sign-single-after-update",
            chapter: C,
            title: "C_Sign after C_SignUpdate is refused (CKR_OPERATION_ACTIVE or CKR_OPERATION_NOT_INITIALIZED), and that ends the operation",
            spec: "base v3.0 §5.13.2 C_Sign (v2.40 §5.11.2): C_Sign cannot end a multi-part operation",
            needs: Needs::NONE.login(),
            run: sign_single_after_update,
        },
        Check {
            id: "operations.sessions-independent",
            chapter: C,
            title: "digests in two sessions at once do not disturb each other",
            spec: "base v3.0 §5.12 (operations are per session) (v2.40 §5.10)",
            needs: Needs::NONE,
            run: sessions_independent,
        },
    ]
}

fn digest_init_active(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    expect_rv(
        "second C_DigestInit",
        ctx.p11.digest_init(s, Some(&m)),
        CKR_OPERATION_ACTIVE,
    )?;
    Ok(None)
}

fn sign_init_active(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    sg.sign_init(ctx, s)?;
    expect_rv(
        "second C_SignInit",
        ctx.p11.sign_init(s, &sg.mech, sg.pair.private),
        CKR_OPERATION_ACTIVE,
    )?;
    Ok(Some(sg.name.to_string()))
}

fn find_init_active(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    ok("C_FindObjectsInit", ctx.p11.find_init(s, &Template::new()))?;
    expect_rv(
        "second C_FindObjectsInit",
        ctx.p11.find_init(s, &Template::new()),
        CKR_OPERATION_ACTIVE,
    )?;
    ok("C_FindObjectsFinal", ctx.p11.find_final(s))?;
    expect_rv(
        "C_FindObjects after C_FindObjectsFinal",
        ctx.p11.find(s, 4).0,
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(None)
}

fn digest_ends(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    ok("C_Digest", ctx.p11.digest(s, b"abc", Out::Buf(128)).rv)?;
    expect_rv(
        "C_Digest after a successful C_Digest",
        ctx.p11.digest(s, b"abc", Out::Buf(128)).rv,
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    ok(
        "C_DigestInit after the operation ended",
        ctx.p11.digest_init(s, Some(&m)),
    )?;
    Ok(None)
}

fn digest_final_ends(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    ok("C_DigestUpdate", ctx.p11.digest_update(s, b"abc"))?;
    ok("C_DigestFinal", ctx.p11.digest_final(s, Out::Buf(128)).rv)?;
    expect_rv(
        "C_DigestUpdate after C_DigestFinal",
        ctx.p11.digest_update(s, b"abc"),
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(None)
}

fn sign_ends_on_null_length(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    sg.sign_init(ctx, s)?;
    // A NULL length pointer is an error that is not a size query.
    let bad = ctx.p11.sign(s, b"data", Out::NullLen);
    expect_rv("C_Sign(pulSignatureLen = NULL)", bad.rv, CKR_ARGUMENTS_BAD)?;
    expect_rv(
        "C_Sign after C_Sign(pulSignatureLen = NULL) failed",
        ctx.p11.sign(s, b"data", Out::Buf(1024)).rv,
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(Some(sg.name.to_string()))
}

fn digest_ends_on_null_length(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    expect_rv(
        "C_Digest(pulDigestLen = NULL)",
        ctx.p11.digest(s, b"abc", Out::NullLen).rv,
        CKR_ARGUMENTS_BAD,
    )?;
    expect_rv(
        "C_Digest after C_Digest(pulDigestLen = NULL) failed",
        ctx.p11.digest(s, b"abc", Out::Buf(128)).rv,
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(None)
}

fn sign_ends_on_data_error(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let (mech, key, data, name) = if ctx.has(CKM_RSA_PKCS) && ctx.has(CKM_RSA_PKCS_KEY_PAIR_GEN) {
        let pair = rsa_pair(ctx, s)?;
        let k = modulus_len(ctx, s, pair.public)?;
        (
            Mech::new(CKM_RSA_PKCS),
            pair.private,
            vec![0x5a; k],
            "CKM_RSA_PKCS, k bytes",
        )
    } else if ctx.has(CKM_GOSTR3410) && ctx.has(CKM_GOSTR3410_KEY_PAIR_GEN) {
        let pair = gost_pair(ctx, s, 256)?;
        (
            Mech::new(CKM_GOSTR3410),
            pair.private,
            vec![0x5a; 31],
            "CKM_GOSTR3410, 31 bytes",
        )
    } else {
        return Err(crate::conformance::check::skip(
            "needs CKM_RSA_PKCS or CKM_GOSTR3410 with its key generation",
        ));
    };
    ok("C_SignInit", ctx.p11.sign_init(s, &mech, key))?;
    let rv = ctx.p11.sign(s, &data, Out::Buf(1024)).rv;
    ensure(rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL, || {
        format!(
            "C_Sign({name}) returned {}, expected an error",
            tokenemu_core::names::rv_name(rv)
        )
    })?;
    expect_rv(
        "C_Sign after the refused C_Sign",
        ctx.p11.sign(s, b"data", Out::Buf(1024)).rv,
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(Some(format!(
        "{name}: {}",
        tokenemu_core::names::rv_name(rv)
    )))
}

fn verify_ends(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    let sig = sg.signature(ctx, s, b"data")?;
    sg.verify_init(ctx, s)?;
    expect_rv(
        "C_Verify(other data)",
        ctx.p11.verify(s, b"other data", &sig),
        CKR_SIGNATURE_INVALID,
    )?;
    expect_rv(
        "C_Verify after CKR_SIGNATURE_INVALID",
        ctx.p11.verify(s, b"data", &sig),
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(Some(sg.name.to_string()))
}

fn multipart_sign(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    let msg = b"multi-part signing: the parts together";
    sg.sign_init(ctx, s)?;
    ok("C_SignUpdate", ctx.p11.sign_update(s, &msg[..11]))?;
    ok("C_SignUpdate", ctx.p11.sign_update(s, &msg[11..]))?;
    let sig = ctx.p11.sign_final(s, Out::Buf(1024));
    ok("C_SignFinal", sig.rv)?;
    expect_rv(
        "C_SignUpdate after C_SignFinal",
        ctx.p11.sign_update(s, b"x"),
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    sg.verify_init(ctx, s)?;
    ok(
        "C_Verify of the multi-part signature",
        ctx.p11.verify(s, msg, &sig.data),
    )?;
    sg.sign_init(ctx, s)?;
    let one = ctx.p11.sign(s, msg, Out::Buf(1024));
    ok("C_Sign", one.rv)?;
    sg.verify_init(ctx, s)?;
    ok("C_VerifyUpdate", ctx.p11.verify_update(s, &msg[..5]))?;
    ok("C_VerifyUpdate", ctx.p11.verify_update(s, &msg[5..]))?;
    ok(
        "C_VerifyFinal of the single-part signature",
        ctx.p11.verify_final(s, &one.data),
    )?;
    Ok(Some(sg.name.to_string()))
}

fn sessions_independent(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let a = ctx.open(false)?;
    let b = ctx.open(false)?;
    ok("C_DigestInit(a)", ctx.p11.digest_init(a, Some(&m)))?;
    ok("C_DigestInit(b)", ctx.p11.digest_init(b, Some(&m)))?;
    ok("C_DigestUpdate(a)", ctx.p11.digest_update(a, b"first "))?;
    ok("C_DigestUpdate(b)", ctx.p11.digest_update(b, b"second"))?;
    ok("C_DigestUpdate(a)", ctx.p11.digest_update(a, b"message"))?;
    let da = ctx.p11.digest_final(a, Out::Buf(128));
    let db = ctx.p11.digest_final(b, Out::Buf(128));
    ok("C_DigestFinal(a)", da.rv)?;
    ok("C_DigestFinal(b)", db.rv)?;
    ok("C_DigestInit", ctx.p11.digest_init(a, Some(&m)))?;
    let ea = ctx.p11.digest(a, b"first message", Out::Buf(128));
    ok("C_DigestInit", ctx.p11.digest_init(a, Some(&m)))?;
    let eb = ctx.p11.digest(a, b"second", Out::Buf(128));
    ensure(da.data == ea.data, || {
        "session a's digest was disturbed by session b".into()
    })?;
    ensure(db.data == eb.data, || {
        "session b's digest was disturbed by session a".into()
    })?;
    Ok(None)
}

/// What a single-part call after a multi-part one (or the reverse) may
/// return: the spec says the call cannot be made (C_Digest "must be called
/// after C_DigestInit without intervening C_DigestUpdate calls") but names
/// no code; an operation is active (the other kind), or the kind called is
/// not initialised.
const MIXED_CALL_REFUSED: &[CK_RV] = &[CKR_OPERATION_ACTIVE, CKR_OPERATION_NOT_INITIALIZED];

fn digest_single_after_update(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    ok("C_DigestUpdate", ctx.p11.digest_update(s, b"abc"))?;
    let refused = expect_one_of(
        "C_Digest after C_DigestUpdate",
        ctx.p11.digest(s, b"abc", Out::Buf(128)).rv,
        MIXED_CALL_REFUSED,
    )?;
    expect_rv(
        "C_DigestUpdate after the refused C_Digest",
        ctx.p11.digest_update(s, b"abc"),
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(Some(refused))
}

fn digest_final_after_single_query(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    ok(
        "C_Digest length query",
        ctx.p11.digest(s, b"abc", Out::Query).rv,
    )?;
    let refused = expect_one_of(
        "C_DigestFinal after a C_Digest length query",
        ctx.p11.digest_final(s, Out::Buf(128)).rv,
        MIXED_CALL_REFUSED,
    )?;
    expect_rv(
        "C_DigestFinal after the refused C_DigestFinal",
        ctx.p11.digest_final(s, Out::Buf(128)).rv,
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(Some(refused))
}

fn sign_single_after_update(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    sg.sign_init(ctx, s)?;
    ok("C_SignUpdate", ctx.p11.sign_update(s, b"data"))?;
    let refused = expect_one_of(
        "C_Sign after C_SignUpdate",
        ctx.p11.sign(s, b"data", Out::Buf(1024)).rv,
        MIXED_CALL_REFUSED,
    )?;
    expect_rv(
        "C_SignUpdate after the refused C_Sign",
        ctx.p11.sign_update(s, b"data"),
        CKR_OPERATION_NOT_INITIALIZED,
    )?;
    Ok(Some(format!("{}: {refused}", sg.name)))
}
