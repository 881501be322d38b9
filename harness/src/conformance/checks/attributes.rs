//! Attribute policy: base spec v3.0 §4 (objects) and §5.7 (object
//! management), the same sections in v2.40.

use cryptoki_sys::*;

use crate::conformance::check::{
    ensure, expect_one_of, expect_rv, fail, ok, Chapter, Check, CheckResult, Ctx, Needs, Stop,
    LABEL_PREFIX,
};
use crate::p11::client::{AttrRead, Template};

use super::keys::{generic_secret, signer};

const C: Chapter = Chapter::Attributes;

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "attributes.sensitive-private-key",
            chapter: C,
            title: "a sensitive private key's secret attributes → CKR_ATTRIBUTE_SENSITIVE with CK_UNAVAILABLE_INFORMATION",
            spec: "base v3.0 §5.7.5 C_GetAttributeValue, §4.9 private key objects (v2.40 §5.7.5, §4.9)",
            needs: Needs::NONE.login(),
            run: sensitive_private_key,
        },
        Check {
            id: "attributes.unextractable-secret",
            chapter: C,
            title: "CKA_VALUE of a non-sensitive but unextractable secret key → CKR_ATTRIBUTE_SENSITIVE",
            spec: "base v3.0 §5.7.5 C_GetAttributeValue, §4.10 secret key objects (v2.40 the same)",
            needs: Needs::NONE.login().mechs(&[CKM_GENERIC_SECRET_KEY_GEN]),
            run: unextractable_secret,
        },
        Check {
            id: "attributes.always-sensitive-never-extractable",
            chapter: C,
            title: "a key generated sensitive and unextractable has CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE true",
            spec: "base v3.0 §4.10 secret key objects (v2.40 §4.10)",
            needs: Needs::NONE.login().mechs(&[CKM_GENERIC_SECRET_KEY_GEN]),
            run: always_sensitive,
        },
        Check {
            id: "attributes.sensitive-one-way",
            chapter: C,
            title: "CKA_SENSITIVE true → false and CKA_EXTRACTABLE false → true are refused with CKR_ATTRIBUTE_READ_ONLY",
            spec: "base v3.0 §4.2 Table 11 footnotes 11 and 12 (cannot be changed once set to CK_TRUE / CK_FALSE; read only), §4.1.2, §4.10 (v2.40 the same)",
            needs: Needs::NONE.login().mechs(&[CKM_GENERIC_SECRET_KEY_GEN]),
            run: sensitive_one_way,
        },
        Check {
            id: "attributes.class-read-only",
            chapter: C,
            title: "C_SetAttributeValue(CKA_CLASS) → CKR_ATTRIBUTE_READ_ONLY",
            spec: "base v3.0 §4.2 Table 12 (CKA_CLASS is not marked modifiable, footnote 8), §4.1.2, §5.1.6 CKR_ATTRIBUTE_READ_ONLY (v2.40 the same)",
            needs: Needs::NONE,
            run: class_read_only,
        },
        Check {
            id: "attributes.modifiable-false",
            chapter: C,
            title: "an object with CKA_MODIFIABLE false refuses C_SetAttributeValue (CKR_ACTION_PROHIBITED or CKR_ATTRIBUTE_READ_ONLY)",
            spec: "base v3.0 §4.4 storage objects, §4.1.2 (v2.40 the same); both codes are in use, so both are accepted",
            needs: Needs::NONE,
            run: modifiable_false,
        },
        Check {
            id: "attributes.destroyable-false",
            chapter: C,
            title: "an object with CKA_DESTROYABLE false → C_DestroyObject → CKR_ACTION_PROHIBITED",
            spec: "base v3.0 §4.4 storage objects CKA_DESTROYABLE, §5.7.3 (v2.40 the same)",
            needs: Needs::NONE,
            run: destroyable_false,
        },
        Check {
            id: "attributes.copyable-false",
            chapter: C,
            title: "an object with CKA_COPYABLE false → C_CopyObject → CKR_ACTION_PROHIBITED",
            spec: "base v3.0 §4.1.3 Copying objects: CKA_COPYABLE false → CKR_ACTION_PROHIBITED; §4.4, §5.7.2 (v2.40 the same)",
            needs: Needs::NONE,
            run: copyable_false,
        },
        Check {
            id: "attributes.copy-object",
            chapter: C,
            title: "C_CopyObject with a new label: a new object, the original unchanged",
            spec: "base v3.0 §5.7.2 C_CopyObject, §4.1.3 (v2.40 the same)",
            needs: Needs::NONE,
            run: copy_object,
        },
        Check {
            id: "attributes.private-hidden-before-login",
            chapter: C,
            title: "private objects are not found after logout; public ones still are",
            spec: "base v3.0 §4.4 CKA_PRIVATE, §5.7.7 C_FindObjectsInit (v2.40 the same)",
            needs: Needs::NONE.login(),
            run: private_hidden,
        },
        Check {
            id: "attributes.get-several",
            chapter: C,
            title: "C_GetAttributeValue over a valid, a sensitive and an undefined attribute: every entry processed, one of the two errors returned",
            spec: "base v3.0 §5.7.5 C_GetAttributeValue (v2.40 §5.7.5): CKR_ATTRIBUTE_SENSITIVE or CKR_ATTRIBUTE_TYPE_INVALID may be returned",
            needs: Needs::NONE.login().mechs(&[CKM_GENERIC_SECRET_KEY_GEN]),
            run: get_several,
        },
        Check {
            id: "attributes.find-by-template",
            chapter: C,
            title: "C_FindObjects finds exactly the objects matching a label, all data objects by class, nothing for an unused label",
            spec: "base v3.0 §5.7.7–§5.7.9 (v2.40 the same)",
            needs: Needs::NONE,
            run: find_by_template,
        },
        Check {
            id: "attributes.defaults",
            chapter: C,
            title: "a data object created without them has CKA_TOKEN false and CKA_MODIFIABLE true (CKA_PRIVATE's default is token-specific and not checked)",
            spec: "base v3.0 §4.4 Table 17: CKA_TOKEN default CK_FALSE, CKA_MODIFIABLE default CK_TRUE, CKA_PRIVATE token-specific (v2.40 §4.4)",
            needs: Needs::NONE,
            run: defaults,
        },
        Check {
            id: "attributes.public-key-readable",
            chapter: C,
            title: "a generated public key's key material can be read; the private key's public part too (not sensitive)",
            spec: "base v3.0 §4.8 public key objects (v2.40 §4.8)",
            needs: Needs::NONE.login(),
            run: public_key_readable,
        },
    ]
}

fn read_bool(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    h: CK_OBJECT_HANDLE,
    ty: CK_ATTRIBUTE_TYPE,
    name: &str,
) -> Result<bool, Stop> {
    let v = ctx.p11.attribute(s, h, ty).map_err(|rv| Stop::Fail {
        message: format!(
            "C_GetAttributeValue({name}) returned {}",
            tokenemu_core::names::rv_name(rv)
        ),
        rv: Some(rv),
    })?;
    ensure(v.len() == 1, || {
        format!("{name} has {} bytes, a CK_BBOOL has 1", v.len())
    })?;
    Ok(v[0] != 0)
}

fn expect_sensitive(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    h: CK_OBJECT_HANDLE,
    ty: CK_ATTRIBUTE_TYPE,
    name: &str,
) -> Result<(), Stop> {
    let mut r = [AttrRead::sized(ty, 1024)];
    expect_rv(
        &format!("C_GetAttributeValue({name})"),
        ctx.p11.get_attributes(s, h, &mut r),
        CKR_ATTRIBUTE_SENSITIVE,
    )?;
    ensure(r[0].len == CK_UNAVAILABLE_INFORMATION, || {
        format!("{name}: ulValueLen {} after CKR_ATTRIBUTE_SENSITIVE, expected CK_UNAVAILABLE_INFORMATION", r[0].len)
    })
}

fn sensitive_private_key(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    let secret: &[(CK_ATTRIBUTE_TYPE, &str)] = if sg.name.contains("RSA") {
        &[
            (CKA_PRIVATE_EXPONENT, "CKA_PRIVATE_EXPONENT"),
            (CKA_PRIME_1, "CKA_PRIME_1"),
        ]
    } else {
        &[(CKA_VALUE, "CKA_VALUE")]
    };
    for (ty, name) in secret {
        expect_sensitive(ctx, s, sg.pair.private, *ty, name)?;
    }
    ensure(
        read_bool(ctx, s, sg.pair.private, CKA_SENSITIVE, "CKA_SENSITIVE")?,
        || "CKA_SENSITIVE reads false on a key generated sensitive".into(),
    )?;
    Ok(Some(sg.name.to_string()))
}

fn unextractable_secret(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let k = generic_secret(ctx, s, false, false)?;
    expect_sensitive(ctx, s, k, CKA_VALUE, "CKA_VALUE of an unextractable key")?;
    let e = generic_secret(ctx, s, false, true)?;
    let v = ctx
        .p11
        .attribute(s, e, CKA_VALUE)
        .map_err(|rv| Stop::Fail {
            message: "CKA_VALUE of a non-sensitive, extractable key cannot be read".into(),
            rv: Some(rv),
        })?;
    ensure(v.len() == 32, || {
        format!("CKA_VALUE has {} bytes, CKA_VALUE_LEN was 32", v.len())
    })?;
    Ok(None)
}

fn always_sensitive(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let k = generic_secret(ctx, s, true, false)?;
    ensure(
        read_bool(ctx, s, k, CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE")?,
        || "CKA_ALWAYS_SENSITIVE is false".into(),
    )?;
    ensure(
        read_bool(ctx, s, k, CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE")?,
        || "CKA_NEVER_EXTRACTABLE is false".into(),
    )?;
    let x = generic_secret(ctx, s, false, true)?;
    ensure(
        !read_bool(ctx, s, x, CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE")?,
        || "CKA_ALWAYS_SENSITIVE is true on a key generated non-sensitive".into(),
    )?;
    ensure(
        !read_bool(ctx, s, x, CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE")?,
        || "CKA_NEVER_EXTRACTABLE is true on a key generated extractable".into(),
    )?;
    Ok(None)
}

fn sensitive_one_way(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let k = generic_secret(ctx, s, true, false)?;
    expect_rv(
        "C_SetAttributeValue(CKA_SENSITIVE = FALSE) on a sensitive key",
        ctx.p11
            .set_attributes(s, k, &Template::new().bool(CKA_SENSITIVE, false)),
        CKR_ATTRIBUTE_READ_ONLY,
    )?;
    expect_rv(
        "C_SetAttributeValue(CKA_EXTRACTABLE = TRUE) on an unextractable key",
        ctx.p11
            .set_attributes(s, k, &Template::new().bool(CKA_EXTRACTABLE, true)),
        CKR_ATTRIBUTE_READ_ONLY,
    )?;
    let x = generic_secret(ctx, s, false, true)?;
    ok(
        "C_SetAttributeValue(CKA_SENSITIVE = TRUE) on a non-sensitive key",
        ctx.p11
            .set_attributes(s, x, &Template::new().bool(CKA_SENSITIVE, true)),
    )?;
    ensure(
        read_bool(ctx, s, x, CKA_SENSITIVE, "CKA_SENSITIVE")?,
        || "CKA_SENSITIVE still false after setting it".into(),
    )?;
    Ok(None)
}

fn class_read_only(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let h = ctx.data_object(s, "class", Template::new())?;
    expect_rv(
        "C_SetAttributeValue(CKA_CLASS = CKO_CERTIFICATE)",
        ctx.p11
            .set_attributes(s, h, &Template::new().ulong(CKA_CLASS, CKO_CERTIFICATE)),
        CKR_ATTRIBUTE_READ_ONLY,
    )?;
    Ok(None)
}

fn modifiable_false(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let h = ctx.data_object(
        s,
        "unmodifiable",
        Template::new().bool(CKA_MODIFIABLE, false),
    )?;
    let rv = ctx
        .p11
        .set_attributes(s, h, &Template::new().text(CKA_LABEL, "changed"));
    let note = expect_one_of(
        "C_SetAttributeValue(CKA_LABEL) on CKA_MODIFIABLE = FALSE",
        rv,
        &[CKR_ACTION_PROHIBITED, CKR_ATTRIBUTE_READ_ONLY],
    )?;
    Ok(Some(note))
}

fn destroyable_false(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let t = Template::new().bool(CKA_DESTROYABLE, false);
    let (rv, h) = ctx.p11.create_object(
        s,
        &Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, false)
            .bool(CKA_PRIVATE, false)
            .text(CKA_LABEL, &format!("{LABEL_PREFIX}-undestroyable"))
            .extend(t),
    );
    if rv == CKR_ATTRIBUTE_TYPE_INVALID {
        return Err(crate::conformance::check::skip(
            "the module does not know CKA_DESTROYABLE (a v2.40 attribute)",
        ));
    }
    ok("C_CreateObject(CKA_DESTROYABLE = FALSE)", rv)?;
    expect_rv(
        "C_DestroyObject on CKA_DESTROYABLE = FALSE",
        ctx.p11.destroy_object(s, h),
        CKR_ACTION_PROHIBITED,
    )?;
    Ok(None)
}

fn copyable_false(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let (rv, h) = ctx.p11.create_object(
        s,
        &Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, false)
            .bool(CKA_COPYABLE, false)
            .bool(CKA_PRIVATE, false)
            .text(CKA_LABEL, &format!("{LABEL_PREFIX}-uncopyable")),
    );
    if rv == CKR_ATTRIBUTE_TYPE_INVALID {
        return Err(crate::conformance::check::skip(
            "the module does not know CKA_COPYABLE (a v2.40 attribute)",
        ));
    }
    ok("C_CreateObject(CKA_COPYABLE = FALSE)", rv)?;
    let (rv, copy) = ctx.p11.copy_object(s, h, &Template::new());
    if rv == CKR_OK {
        ctx.p11.destroy_object(s, copy);
    }
    expect_rv(
        "C_CopyObject on CKA_COPYABLE = FALSE",
        rv,
        CKR_ACTION_PROHIBITED,
    )?;
    Ok(None)
}

fn copy_object(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let h = ctx.data_object(s, "original", Template::new())?;
    let (rv, c) = ctx.p11.copy_object(
        s,
        h,
        &Template::new().text(CKA_LABEL, &format!("{LABEL_PREFIX}-copy")),
    );
    ok("C_CopyObject", rv)?;
    ensure(c != h, || {
        "C_CopyObject returned the original's handle".into()
    })?;
    let lc = ctx
        .p11
        .attribute(s, c, CKA_LABEL)
        .map_err(|rv| Stop::Fail {
            message: "reading the copy's label".into(),
            rv: Some(rv),
        })?;
    let lo = ctx
        .p11
        .attribute(s, h, CKA_LABEL)
        .map_err(|rv| Stop::Fail {
            message: "reading the original's label".into(),
            rv: Some(rv),
        })?;
    ensure(lc == format!("{LABEL_PREFIX}-copy").as_bytes(), || {
        "the copy does not carry the new label".into()
    })?;
    ensure(lo == format!("{LABEL_PREFIX}-original").as_bytes(), || {
        "the original's label changed".into()
    })?;
    let v = ctx
        .p11
        .attribute(s, c, CKA_VALUE)
        .map_err(|rv| Stop::Fail {
            message: "reading the copy's value".into(),
            rv: Some(rv),
        })?;
    ensure(v == b"conformance", || {
        "the copy's CKA_VALUE differs from the original's".into()
    })?;
    Ok(None)
}

fn private_hidden(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let label = format!("{LABEL_PREFIX}-private-data");
    let (rv, _) = ctx.p11.create_object(
        s,
        &Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, false)
            .bool(CKA_PRIVATE, true)
            .text(CKA_LABEL, &label),
    );
    ok("C_CreateObject(CKA_PRIVATE = TRUE) while logged in", rv)?;
    ctx.data_object(s, "public-data", Template::new().bool(CKA_PRIVATE, false))?;
    let by = |l: &str| Template::new().text(CKA_LABEL, l);
    let seen = ctx.p11.find_all(s, &by(&label)).map_err(|rv| Stop::Fail {
        message: "C_FindObjects (logged in)".into(),
        rv: Some(rv),
    })?;
    ensure(seen.len() == 1, || {
        format!("logged in, {} objects match the private label", seen.len())
    })?;
    ok("C_Logout", ctx.p11.logout(s))?;
    let hidden = ctx.p11.find_all(s, &by(&label)).map_err(|rv| Stop::Fail {
        message: "C_FindObjects (after logout)".into(),
        rv: Some(rv),
    })?;
    ensure(hidden.is_empty(), || {
        "a private object is found after C_Logout".into()
    })?;
    let public = ctx
        .p11
        .find_all(s, &by(&format!("{LABEL_PREFIX}-public-data")))
        .map_err(|rv| Stop::Fail {
            message: "C_FindObjects (public, after logout)".into(),
            rv: Some(rv),
        })?;
    ensure(public.len() == 1, || {
        format!(
            "after logout {} public objects match, expected 1",
            public.len()
        )
    })?;
    Ok(None)
}

fn get_several(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let k = generic_secret(ctx, s, true, false)?;
    let mut r = [
        AttrRead::sized(CKA_VALUE_LEN, std::mem::size_of::<CK_ULONG>()),
        AttrRead::sized(CKA_VALUE, 64),
        AttrRead::sized(0x7eee_0002, 8),
    ];
    let rv = ctx.p11.get_attributes(s, k, &mut r);
    let note = expect_one_of(
        "C_GetAttributeValue(CKA_VALUE_LEN, CKA_VALUE, undefined)",
        rv,
        &[CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID],
    )?;
    ensure(
        r[0].len == std::mem::size_of::<CK_ULONG>() as CK_ULONG,
        || format!("CKA_VALUE_LEN was not filled in (ulValueLen {})", r[0].len),
    )?;
    let v = r[0]
        .value()
        .map(|b| CK_ULONG::from_ne_bytes(b.try_into().unwrap_or([0; 8])));
    ensure(v == Some(32), || {
        format!("CKA_VALUE_LEN reads {v:?}, expected 32")
    })?;
    ensure(r[1].len == CK_UNAVAILABLE_INFORMATION, || {
        format!(
            "CKA_VALUE ulValueLen {}, expected CK_UNAVAILABLE_INFORMATION",
            r[1].len
        )
    })?;
    ensure(r[2].len == CK_UNAVAILABLE_INFORMATION, || {
        format!(
            "undefined attribute ulValueLen {}, expected CK_UNAVAILABLE_INFORMATION",
            r[2].len
        )
    })?;
    Ok(Some(note))
}

fn find_by_template(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let a = ctx.data_object(s, "find-a", Template::new())?;
    let b = ctx.data_object(s, "find-b", Template::new())?;
    let by = |l: &str| Template::new().text(CKA_LABEL, &format!("{LABEL_PREFIX}-{l}"));
    let fa = ctx
        .p11
        .find_all(s, &by("find-a"))
        .map_err(|rv| Stop::Fail {
            message: "C_FindObjects(label a)".into(),
            rv: Some(rv),
        })?;
    ensure(fa == vec![a], || {
        format!("label a matched {fa:?}, expected [{a}]")
    })?;
    let data = ctx
        .p11
        .find_all(s, &Template::new().ulong(CKA_CLASS, CKO_DATA))
        .map_err(|rv| Stop::Fail {
            message: "C_FindObjects(CKO_DATA)".into(),
            rv: Some(rv),
        })?;
    ensure(data.contains(&a) && data.contains(&b), || {
        "the search by CKA_CLASS = CKO_DATA misses one of the two objects".into()
    })?;
    let none = ctx
        .p11
        .find_all(s, &by("no-such-label"))
        .map_err(|rv| Stop::Fail {
            message: "C_FindObjects(unused label)".into(),
            rv: Some(rv),
        })?;
    ensure(none.is_empty(), || {
        format!("an unused label matched {} objects", none.len())
    })?;
    let all = ctx
        .p11
        .find_all(s, &Template::new())
        .map_err(|rv| Stop::Fail {
            message: "C_FindObjects(empty template)".into(),
            rv: Some(rv),
        })?;
    ensure(all.contains(&a) && all.contains(&b), || {
        "the empty template does not match every object".into()
    })?;
    Ok(None)
}

fn defaults(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let (rv, h) = ctx.p11.create_object(
        s,
        &Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_PRIVATE, false)
            .text(CKA_LABEL, &format!("{LABEL_PREFIX}-defaults")),
    );
    ok("C_CreateObject(CKO_DATA, label and CKA_PRIVATE only)", rv)?;
    ensure(!read_bool(ctx, s, h, CKA_TOKEN, "CKA_TOKEN")?, || {
        "CKA_TOKEN defaults to true".into()
    })?;
    ensure(
        read_bool(ctx, s, h, CKA_MODIFIABLE, "CKA_MODIFIABLE")?,
        || "CKA_MODIFIABLE defaults to false".into(),
    )?;
    Ok(None)
}

fn public_key_readable(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let sg = signer(ctx, s)?;
    let (ty, name) = if sg.name.contains("RSA") {
        (CKA_MODULUS, "CKA_MODULUS")
    } else if sg.name.contains("ECDSA") {
        (CKA_EC_POINT, "CKA_EC_POINT")
    } else {
        (CKA_VALUE, "CKA_VALUE")
    };
    let v = ctx
        .p11
        .attribute(s, sg.pair.public, ty)
        .map_err(|rv| Stop::Fail {
            message: format!("C_GetAttributeValue({name}) of the public key"),
            rv: Some(rv),
        })?;
    ensure(!v.is_empty(), || {
        format!("{name} of the public key is empty")
    })?;
    if sg.name.contains("RSA") {
        let m = ctx
            .p11
            .attribute(s, sg.pair.private, CKA_MODULUS)
            .map_err(|rv| Stop::Fail {
                message: "C_GetAttributeValue(CKA_MODULUS) of the private key".into(),
                rv: Some(rv),
            })?;
        if m != v {
            return Err(fail(
                "the private key's CKA_MODULUS differs from the public key's",
            ));
        }
    }
    Ok(Some(sg.name.to_string()))
}
