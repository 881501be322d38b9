//! The two-call size-query protocol: base spec v3.0 §5.2 (= v2.40 §5.2),
//! and §5.7.5 for attribute values.

use cryptoki_sys::*;

use crate::conformance::check::{ensure, expect_rv, ok, Chapter, Check, CheckResult, Ctx, Needs};
use crate::p11::client::{AttrRead, Out, Template};

use super::keys::{any_digest, signer};

const C: Chapter = Chapter::SizeQuery;

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "size-query.digest",
            chapter: C,
            title: "C_Digest(NULL) → CKR_OK with the length, operation stays active; a buffer of that length gets the digest",
            spec: "base v3.0 §5.2, §5.12.2 C_Digest (v2.40 §5.2, §5.10.2)",
            needs: Needs::NONE,
            run: digest,
        },
        Check {
            id: "size-query.digest-too-small",
            chapter: C,
            title: "C_Digest into a short buffer → CKR_BUFFER_TOO_SMALL with the needed length, operation stays active",
            spec: "base v3.0 §5.2, §5.12.2 C_Digest (v2.40 §5.2, §5.10.2)",
            needs: Needs::NONE,
            run: digest_too_small,
        },
        Check {
            id: "size-query.digest-final",
            chapter: C,
            title: "C_DigestFinal(NULL) then a short buffer then the right one: same digest as C_Digest",
            spec: "base v3.0 §5.2, §5.12.5 C_DigestFinal (v2.40 §5.2, §5.10.5)",
            needs: Needs::NONE,
            run: digest_final,
        },
        Check {
            id: "size-query.sign",
            chapter: C,
            title: "C_Sign(NULL) → length; short buffer → CKR_BUFFER_TOO_SMALL; then the signature, which verifies",
            spec: "base v3.0 §5.2, §5.13.2 C_Sign (v2.40 §5.2, §5.11.2)",
            needs: Needs::NONE.login(),
            run: sign,
        },
        Check {
            id: "size-query.attribute",
            chapter: C,
            title: "C_GetAttributeValue: NULL pValue → length; exact buffer → value; short buffer → CKR_BUFFER_TOO_SMALL and CK_UNAVAILABLE_INFORMATION",
            spec: "base v3.0 §5.7.5 C_GetAttributeValue (v2.40 §5.7.5)",
            needs: Needs::NONE,
            run: attribute,
        },
    ]
}

const DATA: &[u8] = b"tokenemu conformance: the two-call protocol";

fn digest(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    let q = ctx.p11.digest(s, DATA, Out::Query);
    ok("C_Digest(pDigest = NULL)", q.rv)?;
    ensure(q.len > 0 && q.len <= 128, || {
        format!("C_Digest(NULL) reported length {}", q.len)
    })?;
    let r = ctx.p11.digest(s, DATA, Out::Buf(q.len as usize));
    ok(
        "C_Digest after the length query (operation must still be active)",
        r.rv,
    )?;
    ensure(r.len <= q.len, || {
        format!("digest length {} exceeds the queried {}", r.len, q.len)
    })?;
    Ok(Some(format!("{} bytes", r.len)))
}

fn digest_too_small(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    let short = ctx.p11.digest(s, DATA, Out::Buf(4));
    expect_rv("C_Digest into 4 bytes", short.rv, CKR_BUFFER_TOO_SMALL)?;
    ensure(short.len > 4, || {
        format!("CKR_BUFFER_TOO_SMALL came with length {}", short.len)
    })?;
    let r = ctx.p11.digest(s, DATA, Out::Buf(short.len as usize));
    ok(
        "C_Digest after CKR_BUFFER_TOO_SMALL (operation must still be active)",
        r.rv,
    )?;
    Ok(None)
}

fn digest_final(ctx: &mut Ctx) -> CheckResult {
    let m = any_digest(ctx)?;
    let s = ctx.open(false)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    let single = ctx.p11.digest(s, DATA, Out::Buf(128));
    ok("C_Digest", single.rv)?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
    ok("C_DigestUpdate", ctx.p11.digest_update(s, &DATA[..10]))?;
    ok("C_DigestUpdate", ctx.p11.digest_update(s, &DATA[10..]))?;
    let q = ctx.p11.digest_final(s, Out::Query);
    ok("C_DigestFinal(NULL)", q.rv)?;
    let short = ctx.p11.digest_final(s, Out::Buf(1));
    expect_rv("C_DigestFinal into 1 byte", short.rv, CKR_BUFFER_TOO_SMALL)?;
    let r = ctx.p11.digest_final(s, Out::Buf(q.len as usize));
    ok("C_DigestFinal", r.rv)?;
    ensure(r.data == single.data, || {
        "multi-part digest differs from the single-part one".into()
    })?;
    Ok(None)
}

fn sign(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    sg.sign_init(ctx, s)?;
    let q = ctx.p11.sign(s, DATA, Out::Query);
    ok("C_Sign(pSignature = NULL)", q.rv)?;
    let short = ctx.p11.sign(s, DATA, Out::Buf(1));
    expect_rv("C_Sign into 1 byte", short.rv, CKR_BUFFER_TOO_SMALL)?;
    ensure(short.len > 1, || {
        format!("CKR_BUFFER_TOO_SMALL came with length {}", short.len)
    })?;
    let r = ctx.p11.sign(s, DATA, Out::Buf(q.len as usize));
    ok(
        "C_Sign after the length query and CKR_BUFFER_TOO_SMALL",
        r.rv,
    )?;
    sg.verify_init(ctx, s)?;
    ok(
        "C_Verify of that signature",
        ctx.p11.verify(s, DATA, &r.data),
    )?;
    Ok(Some(sg.name.to_string()))
}

fn attribute(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let h = ctx.data_object(s, "size-query", Template::new())?;
    let label = format!("{}-size-query", crate::conformance::check::LABEL_PREFIX);
    let mut q = [AttrRead::query(CKA_LABEL)];
    ok(
        "C_GetAttributeValue(CKA_LABEL, pValue = NULL)",
        ctx.p11.get_attributes(s, h, &mut q),
    )?;
    ensure(q[0].len as usize == label.len(), || {
        format!("length {} for a {}-byte label", q[0].len, label.len())
    })?;
    let mut r = [AttrRead::sized(CKA_LABEL, label.len())];
    ok(
        "C_GetAttributeValue(CKA_LABEL, exact buffer)",
        ctx.p11.get_attributes(s, h, &mut r),
    )?;
    ensure(r[0].value() == Some(label.as_bytes()), || {
        "the label read back differs".into()
    })?;
    let mut short = [AttrRead::sized(CKA_LABEL, 3)];
    expect_rv(
        "C_GetAttributeValue(CKA_LABEL, 3-byte buffer)",
        ctx.p11.get_attributes(s, h, &mut short),
        CKR_BUFFER_TOO_SMALL,
    )?;
    ensure(short[0].len == CK_UNAVAILABLE_INFORMATION, || {
        format!(
            "ulValueLen after CKR_BUFFER_TOO_SMALL is {}, expected CK_UNAVAILABLE_INFORMATION",
            short[0].len
        )
    })?;
    Ok(None)
}
