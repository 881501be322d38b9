//! Error codes for bad handles, arguments, templates and lengths: base spec
//! v3.0 §5.1 and the functions' own lists (v2.40 §5.1).

use cryptoki_sys::*;
use tokenemu_core::vendor::CKM_GOSTR3410_512;

use crate::conformance::check::{ensure, expect_rv, ok, Chapter, Check, CheckResult, Ctx, Needs};
use crate::p11::client::{AttrRead, Mech, Out, Template};

use super::keys::{any_digest, generic_secret, gost_pair, modulus_len, rsa_pair, signer};

const C: Chapter = Chapter::Errors;

/// A handle no module hands out this early (high, odd).
pub const BOGUS_HANDLE: CK_ULONG = 0x7bad_beef;

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "errors.session-handle-invalid",
            chapter: C,
            title: "an unknown session handle → CKR_SESSION_HANDLE_INVALID (C_GetSessionInfo, C_FindObjectsInit, C_DigestInit, C_GenerateRandom, C_Logout)",
            spec: "base v3.0 §5.1.2 (v2.40 §5.1.2)",
            needs: Needs::NONE,
            run: session_handle_invalid,
        },
        Check {
            id: "errors.object-handle-invalid",
            chapter: C,
            title: "an unknown object handle → CKR_OBJECT_HANDLE_INVALID (C_GetAttributeValue, C_SetAttributeValue, C_DestroyObject, C_CopyObject)",
            spec: "base v3.0 §5.7.3–§5.7.6, §5.1.6 (v2.40 the same)",
            needs: Needs::NONE,
            run: object_handle_invalid,
        },
        Check {
            id: "errors.key-handle-invalid",
            chapter: C,
            title: "C_SignInit / C_VerifyInit with an unknown key handle → CKR_KEY_HANDLE_INVALID",
            spec: "base v3.0 §5.13.1, §5.15.1 (v2.40 §5.11.1, §5.12.1)",
            needs: Needs::NONE.login(),
            run: key_handle_invalid,
        },
        Check {
            id: "errors.mechanism-invalid",
            chapter: C,
            title: "C_DigestInit with a mechanism the token does not have → CKR_MECHANISM_INVALID; NULL mechanism → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.12.1 C_DigestInit (v2.40 §5.10.1)",
            needs: Needs::NONE,
            run: mechanism_invalid,
        },
        Check {
            id: "errors.template-incomplete",
            chapter: C,
            title: "C_CreateObject without CKA_CLASS → CKR_TEMPLATE_INCOMPLETE",
            spec: "base v3.0 §4.1.1 Creating objects, §5.7.1 (v2.40 §4.1.1, §5.7.1)",
            needs: Needs::NONE,
            run: template_incomplete,
        },
        Check {
            id: "errors.template-inconsistent",
            chapter: C,
            title: "C_CreateObject with CKA_LABEL given twice with different values → CKR_TEMPLATE_INCONSISTENT",
            spec: "base v3.0 §4.1.1 Creating objects, item 5: two different values for the same attribute are inconsistent (v2.40 §4.1.1)",
            needs: Needs::NONE,
            run: template_inconsistent,
        },
        Check {
            id: "errors.attribute-value-invalid",
            chapter: C,
            title: "C_CreateObject with a CK_BBOOL of 4 bytes → CKR_ATTRIBUTE_VALUE_INVALID",
            spec: "base v3.0 §4.1.1, §5.1.6 CKR_ATTRIBUTE_VALUE_INVALID (v2.40 the same)",
            needs: Needs::NONE,
            run: attribute_value_invalid,
        },
        Check {
            id: "errors.attribute-type-invalid",
            chapter: C,
            title: "C_GetAttributeValue of an undefined attribute type → CKR_ATTRIBUTE_TYPE_INVALID and ulValueLen = CK_UNAVAILABLE_INFORMATION",
            spec: "base v3.0 §5.7.5 C_GetAttributeValue (v2.40 §5.7.5)",
            needs: Needs::NONE,
            run: attribute_type_invalid,
        },
        Check {
            id: "errors.null-template",
            chapter: C,
            title: "C_CreateObject(pTemplate = NULL, ulCount = 1) → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.7.1 C_CreateObject, §5.1.6 (v2.40 the same)",
            needs: Needs::NONE,
            run: null_template,
        },
        Check {
            id: "errors.null-pointers",
            chapter: C,
            title: "C_FindObjects(pulObjectCount = NULL), C_GenerateRandom(NULL, 16), C_Digest(pulDigestLen = NULL) → CKR_ARGUMENTS_BAD",
            spec: "base v3.0 §5.7.8, §5.19.2, §5.12.2, §5.1.6 (v2.40 §5.7.8, §5.15.2, §5.10.2)",
            needs: Needs::NONE,
            run: null_pointers,
        },
        Check {
            id: "errors.operation-not-initialized",
            chapter: C,
            title: "C_Digest, C_DigestFinal, C_Sign, C_Verify, C_FindObjects without their Init → CKR_OPERATION_NOT_INITIALIZED",
            spec: "base v3.0 §5.12.2, §5.12.5, §5.13.2, §5.15.2, §5.7.8 (v2.40 §5.10, §5.11, §5.12, §5.7.8)",
            needs: Needs::NONE,
            run: operation_not_initialized,
        },
        Check {
            id: "errors.session-read-only",
            chapter: C,
            title: "creating a token object in a R/O session → CKR_SESSION_READ_ONLY",
            spec: "base v3.0 §5.7.1 C_CreateObject (v2.40 §5.7.1): only session objects in R/O sessions",
            needs: Needs::NONE,
            run: session_read_only,
        },
        Check {
            id: "errors.private-object-needs-login",
            chapter: C,
            title: "creating a private object before login → CKR_USER_NOT_LOGGED_IN",
            spec: "base v3.0 §5.7.1 C_CreateObject (v2.40 §5.7.1): only public objects unless the user is logged in",
            needs: Needs::NONE,
            run: private_needs_login,
        },
        Check {
            id: "errors.key-function-not-permitted",
            chapter: C,
            title: "C_SignInit with a private key whose CKA_SIGN is false → CKR_KEY_FUNCTION_NOT_PERMITTED",
            spec: "base v3.0 §5.13.1 C_SignInit, §4.9 CKA_SIGN (v2.40 §5.11.1, §4.9)",
            needs: Needs::NONE.login(),
            run: key_function_not_permitted,
        },
        Check {
            id: "errors.key-type-inconsistent",
            chapter: C,
            title: "C_SignInit(CKM_SHA256_RSA_PKCS) with a generic secret key → CKR_KEY_TYPE_INCONSISTENT",
            spec: "base v3.0 §5.13.1 C_SignInit, §5.1.6 (v2.40 §5.11.1)",
            needs: Needs::NONE.login().mechs(&[CKM_SHA256_RSA_PKCS, CKM_GENERIC_SECRET_KEY_GEN]),
            run: key_type_inconsistent,
        },
        Check {
            id: "errors.signature-len-range",
            chapter: C,
            title: "C_Verify with a signature of the wrong length → CKR_SIGNATURE_LEN_RANGE; a wrong signature of the right length → CKR_SIGNATURE_INVALID",
            spec: "base v3.0 §5.15.2 C_Verify (v2.40 §5.12.2)",
            needs: Needs::NONE.login(),
            run: signature_len_range,
        },
        Check {
            id: "errors.rsa-data-len-range",
            chapter: C,
            title: "C_Sign(CKM_RSA_PKCS) with more than k − 11 bytes → CKR_DATA_LEN_RANGE",
            spec: "curr v3.0 / v2.40 'PKCS #1 v1.5 RSA' (input ≤ k − 11 bytes for signatures); base §5.13.2",
            needs: Needs::NONE.login().mechs(&[CKM_RSA_PKCS, CKM_RSA_PKCS_KEY_PAIR_GEN]),
            run: rsa_data_len_range,
        },
        Check {
            id: "errors.rsa-encryption-lengths",
            chapter: C,
            title: "CKM_RSA_PKCS: C_Encrypt of more than k − 11 bytes → CKR_DATA_LEN_RANGE; C_Decrypt of k + 1 bytes → CKR_ENCRYPTED_DATA_LEN_RANGE",
            spec: "curr v2.40 / v3.0 'PKCS #1 v1.5 RSA' (input ≤ k − 11 bytes to encrypt, k bytes to decrypt); base v3.0 §5.1.6 CKR_ENCRYPTED_DATA_LEN_RANGE",
            needs: Needs::NONE.login().mechs(&[CKM_RSA_PKCS, CKM_RSA_PKCS_KEY_PAIR_GEN]),
            run: rsa_encryption_lengths,
        },
        Check {
            id: "errors.gost-data-len-range",
            chapter: C,
            title: "C_Sign(CKM_GOSTR3410 / CKM_GOSTR3410_512) with a digest of the wrong length → CKR_DATA_LEN_RANGE",
            spec: "curr v2.40 / v3.0 'GOST R 34.10-2001' CKM_GOSTR3410 (input: the 32-byte hash); TC26 extension for the 512-bit variant",
            needs: Needs::NONE.login().mechs(&[CKM_GOSTR3410, CKM_GOSTR3410_KEY_PAIR_GEN]),
            run: gost_data_len_range,
        },
    ]
}

fn session_handle_invalid(ctx: &mut Ctx) -> CheckResult {
    let b = BOGUS_HANDLE;
    expect_rv(
        "C_GetSessionInfo(bogus)",
        ctx.p11.session_info(b).0,
        CKR_SESSION_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_FindObjectsInit(bogus)",
        ctx.p11.find_init(b, &Template::new()),
        CKR_SESSION_HANDLE_INVALID,
    )?;
    let m = Mech::new(CKM_SHA256);
    expect_rv(
        "C_DigestInit(bogus)",
        ctx.p11.digest_init(b, Some(&m)),
        CKR_SESSION_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_GenerateRandom(bogus)",
        ctx.p11.generate_random(b, 8).0,
        CKR_SESSION_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_Logout(bogus)",
        ctx.p11.logout(b),
        CKR_SESSION_HANDLE_INVALID,
    )?;
    Ok(None)
}

fn object_handle_invalid(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let b = BOGUS_HANDLE;
    let mut r = [AttrRead::query(CKA_LABEL)];
    expect_rv(
        "C_GetAttributeValue(bogus object)",
        ctx.p11.get_attributes(s, b, &mut r),
        CKR_OBJECT_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_SetAttributeValue(bogus object)",
        ctx.p11
            .set_attributes(s, b, &Template::new().text(CKA_LABEL, "x")),
        CKR_OBJECT_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_DestroyObject(bogus object)",
        ctx.p11.destroy_object(s, b),
        CKR_OBJECT_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_CopyObject(bogus object)",
        ctx.p11.copy_object(s, b, &Template::new()).0,
        CKR_OBJECT_HANDLE_INVALID,
    )?;
    Ok(None)
}

fn key_handle_invalid(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    expect_rv(
        "C_SignInit(bogus key)",
        ctx.p11.sign_init(s, &sg.mech, BOGUS_HANDLE),
        CKR_KEY_HANDLE_INVALID,
    )?;
    expect_rv(
        "C_VerifyInit(bogus key)",
        ctx.p11.verify_init(s, &sg.mech, BOGUS_HANDLE),
        CKR_KEY_HANDLE_INVALID,
    )?;
    Ok(Some(sg.name.to_string()))
}

fn mechanism_invalid(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let mut m = CKM_VENDOR_DEFINED | 0x0eee_0002;
    while ctx.has(m) {
        m += 1;
    }
    expect_rv(
        "C_DigestInit(unknown mechanism)",
        ctx.p11.digest_init(s, Some(&Mech::new(m))),
        CKR_MECHANISM_INVALID,
    )?;
    expect_rv(
        "C_DigestInit(pMechanism = NULL)",
        ctx.p11.digest_init(s, None),
        CKR_ARGUMENTS_BAD,
    )?;
    Ok(None)
}

fn template_incomplete(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let t = Template::new()
        .bool(CKA_TOKEN, false)
        .text(CKA_LABEL, "tokenemu-conformance-no-class");
    expect_rv(
        "C_CreateObject(no CKA_CLASS)",
        ctx.p11.create_object(s, &t).0,
        CKR_TEMPLATE_INCOMPLETE,
    )?;
    Ok(None)
}

fn template_inconsistent(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, false)
        .text(CKA_LABEL, "tokenemu-conformance-first")
        .text(CKA_LABEL, "tokenemu-conformance-second");
    let (rv, h) = ctx.p11.create_object(s, &t);
    if rv == CKR_OK {
        ctx.p11.destroy_object(s, h);
    }
    expect_rv(
        "C_CreateObject(CKA_LABEL twice, different values)",
        rv,
        CKR_TEMPLATE_INCONSISTENT,
    )?;
    Ok(None)
}

fn attribute_value_invalid(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bytes(CKA_TOKEN, &[0, 0, 0, 0])
        .bool(CKA_PRIVATE, false)
        .text(CKA_LABEL, "tokenemu-conformance-bad-bool");
    expect_rv(
        "C_CreateObject(CKA_TOKEN of 4 bytes)",
        ctx.p11.create_object(s, &t).0,
        CKR_ATTRIBUTE_VALUE_INVALID,
    )?;
    Ok(None)
}

fn attribute_type_invalid(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let h = ctx.data_object(s, "type-invalid", Template::new())?;
    let mut r = [AttrRead::sized(0x7eee_0001, 16)];
    expect_rv(
        "C_GetAttributeValue(undefined type)",
        ctx.p11.get_attributes(s, h, &mut r),
        CKR_ATTRIBUTE_TYPE_INVALID,
    )?;
    ensure(r[0].len == CK_UNAVAILABLE_INFORMATION, || {
        format!(
            "ulValueLen is {}, expected CK_UNAVAILABLE_INFORMATION",
            r[0].len
        )
    })?;
    Ok(None)
}

fn null_template(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    expect_rv(
        "C_CreateObject(NULL, 1)",
        ctx.p11.create_object_null_template(s),
        CKR_ARGUMENTS_BAD,
    )?;
    Ok(None)
}

fn null_pointers(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    ok("C_FindObjectsInit", ctx.p11.find_init(s, &Template::new()))?;
    let rv = ctx.p11.find_null_count(s);
    ctx.p11.find_final(s);
    expect_rv(
        "C_FindObjects(pulObjectCount = NULL)",
        rv,
        CKR_ARGUMENTS_BAD,
    )?;
    expect_rv(
        "C_GenerateRandom(NULL, 16)",
        ctx.p11.generate_random_null(s),
        CKR_ARGUMENTS_BAD,
    )?;
    if let Ok(m) = any_digest(ctx) {
        ok("C_DigestInit", ctx.p11.digest_init(s, Some(&m)))?;
        expect_rv(
            "C_Digest(pulDigestLen = NULL)",
            ctx.p11.digest(s, b"abc", Out::NullLen).rv,
            CKR_ARGUMENTS_BAD,
        )?;
    }
    Ok(None)
}

fn operation_not_initialized(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let nope = CKR_OPERATION_NOT_INITIALIZED;
    expect_rv(
        "C_Digest without C_DigestInit",
        ctx.p11.digest(s, b"abc", Out::Buf(64)).rv,
        nope,
    )?;
    expect_rv(
        "C_DigestUpdate without C_DigestInit",
        ctx.p11.digest_update(s, b"abc"),
        nope,
    )?;
    expect_rv(
        "C_DigestFinal without C_DigestInit",
        ctx.p11.digest_final(s, Out::Buf(64)).rv,
        nope,
    )?;
    expect_rv(
        "C_Sign without C_SignInit",
        ctx.p11.sign(s, b"abc", Out::Buf(512)).rv,
        nope,
    )?;
    expect_rv(
        "C_SignFinal without C_SignInit",
        ctx.p11.sign_final(s, Out::Buf(512)).rv,
        nope,
    )?;
    expect_rv(
        "C_Verify without C_VerifyInit",
        ctx.p11.verify(s, b"abc", &[0; 64]),
        nope,
    )?;
    expect_rv(
        "C_FindObjects without C_FindObjectsInit",
        ctx.p11.find(s, 4).0,
        nope,
    )?;
    expect_rv(
        "C_FindObjectsFinal without C_FindObjectsInit",
        ctx.p11.find_final(s),
        nope,
    )?;
    Ok(None)
}

fn session_read_only(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, false)
        .text(CKA_LABEL, "tokenemu-conformance-ro");
    let (rv, h) = ctx.p11.create_object(s, &t);
    if rv == CKR_OK {
        // Do not leave a token object behind on a module that allowed it.
        if let Ok(rw) = ctx.open(true) {
            ctx.p11.destroy_object(rw, h);
        }
    }
    expect_rv(
        "C_CreateObject(CKA_TOKEN = TRUE) in a R/O session",
        rv,
        CKR_SESSION_READ_ONLY,
    )?;
    Ok(None)
}

fn private_needs_login(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(true)?;
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_DATA)
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .text(CKA_LABEL, "tokenemu-conformance-private");
    expect_rv(
        "C_CreateObject(CKA_PRIVATE = TRUE) before C_Login",
        ctx.p11.create_object(s, &t).0,
        CKR_USER_NOT_LOGGED_IN,
    )?;
    Ok(None)
}

fn key_function_not_permitted(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    ok(
        "C_SetAttributeValue(CKA_SIGN = FALSE)",
        ctx.p11
            .set_attributes(s, sg.pair.private, &Template::new().bool(CKA_SIGN, false)),
    )
    .map_err(|_| {
        crate::conformance::check::skip(
            "the token does not let CKA_SIGN be cleared on a generated key",
        )
    })?;
    expect_rv(
        "C_SignInit with CKA_SIGN = FALSE",
        ctx.p11.sign_init(s, &sg.mech, sg.pair.private),
        CKR_KEY_FUNCTION_NOT_PERMITTED,
    )?;
    Ok(Some(sg.name.to_string()))
}

fn key_type_inconsistent(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let k = generic_secret(ctx, s, true, false)?;
    expect_rv(
        "C_SignInit(CKM_SHA256_RSA_PKCS, generic secret key)",
        ctx.p11.sign_init(s, &Mech::new(CKM_SHA256_RSA_PKCS), k),
        CKR_KEY_TYPE_INCONSISTENT,
    )?;
    Ok(None)
}

fn signature_len_range(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    let sig = sg.signature(ctx, s, b"data")?;
    sg.verify_init(ctx, s)?;
    let mut long = sig.clone();
    long.extend_from_slice(&[0; 8]);
    expect_rv(
        "C_Verify(signature 8 bytes too long)",
        ctx.p11.verify(s, b"data", &long),
        CKR_SIGNATURE_LEN_RANGE,
    )?;
    sg.verify_init(ctx, s)?;
    let mut bad = sig;
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    bad[0] ^= 0x01;
    expect_rv(
        "C_Verify(signature with flipped bits)",
        ctx.p11.verify(s, b"data", &bad),
        CKR_SIGNATURE_INVALID,
    )?;
    Ok(Some(sg.name.to_string()))
}

fn rsa_data_len_range(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pair = rsa_pair(ctx, s)?;
    let k = modulus_len(ctx, s, pair.public)?;
    ok(
        "C_SignInit(CKM_RSA_PKCS)",
        ctx.p11.sign_init(s, &Mech::new(CKM_RSA_PKCS), pair.private),
    )?;
    let too_long = vec![0x5a; k - 10];
    expect_rv(
        &format!("C_Sign(CKM_RSA_PKCS, {} bytes, k = {k})", k - 10),
        ctx.p11.sign(s, &too_long, Out::Buf(k)).rv,
        CKR_DATA_LEN_RANGE,
    )?;
    Ok(None)
}

fn gost_data_len_range(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pair = gost_pair(ctx, s, 256)?;
    ok(
        "C_SignInit(CKM_GOSTR3410)",
        ctx.p11
            .sign_init(s, &Mech::new(CKM_GOSTR3410), pair.private),
    )?;
    expect_rv(
        "C_Sign(CKM_GOSTR3410, 31 bytes)",
        ctx.p11.sign(s, &[7; 31], Out::Buf(64)).rv,
        CKR_DATA_LEN_RANGE,
    )?;
    if ctx.has(CKM_GOSTR3410_512) && ctx.has(tokenemu_core::vendor::CKM_GOSTR3410_512_KEY_PAIR_GEN)
    {
        let p512 = gost_pair(ctx, s, 512)?;
        ok(
            "C_SignInit(CKM_GOSTR3410_512)",
            ctx.p11
                .sign_init(s, &Mech::new(CKM_GOSTR3410_512), p512.private),
        )?;
        expect_rv(
            "C_Sign(CKM_GOSTR3410_512, 32 bytes)",
            ctx.p11.sign(s, &[7; 32], Out::Buf(128)).rv,
            CKR_DATA_LEN_RANGE,
        )?;
    }
    Ok(None)
}

fn rsa_encryption_lengths(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pair = rsa_pair(ctx, s)?;
    let k = modulus_len(ctx, s, pair.public)?;
    let m = Mech::new(CKM_RSA_PKCS);
    ok(
        "C_EncryptInit(CKM_RSA_PKCS)",
        ctx.p11.encrypt_init(s, &m, pair.public),
    )?;
    expect_rv(
        &format!("C_Encrypt(CKM_RSA_PKCS, {} bytes, k = {k})", k - 10),
        ctx.p11.encrypt(s, &vec![0x33; k - 10], Out::Buf(k)).rv,
        CKR_DATA_LEN_RANGE,
    )?;
    ok(
        "C_DecryptInit(CKM_RSA_PKCS)",
        ctx.p11.decrypt_init(s, &m, pair.private),
    )?;
    expect_rv(
        &format!("C_Decrypt(CKM_RSA_PKCS, {} bytes, k = {k})", k + 1),
        ctx.p11.decrypt(s, &vec![0x01; k + 1], Out::Buf(k)).rv,
        CKR_ENCRYPTED_DATA_LEN_RANGE,
    )?;
    Ok(None)
}
