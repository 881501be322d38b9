//! Key management through the C functions (v3.0 §5.18): `C_WrapKey` and
//! `C_UnwrapKey` of secret keys with AES key wrap (RFC 3394, RFC 5649) and
//! RSA (PKCS#1 v1.5, OAEP), the size protocol and each return value the spec
//! gives for a refused wrap or unwrap; `CKA_TRUSTED` only from the SO;
//! `C_DeriveKey` with `CKM_ECDH1_DERIVE` agreeing on both sides. AES key wrap
//! is compared with `openssl enc -id-aes256-wrap(-pad)`, ECDH with pkcs11-tool
//! `--derive` against `openssl pkeyutl -derive` (both skipped loudly without
//! the tools, failed with TOKENEMU_REQUIRE_TOOLS=1).
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;
mod tools;

use std::process::Command;

use common::{assert_rv, Ctx, SlotSpec, TestEnv};
use cryptoki::error::RvError;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki_sys::*;
use serial_test::serial;

const SLOTS: &[SlotSpec] = &[SlotSpec {
    id: 0,
    profile: "softtoken",
    present: true,
}];
const SOFT: u64 = 0;

/// DER of the prime256v1 OID (`CKA_EC_PARAMS` for P-256).
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn hexd(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

/// A session secret key with a known value; `extra` adds or overrides flags.
fn import(s: &Session, kt: KeyType, value: &[u8], extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::Value(value.to_vec()),
    ];
    t.extend_from_slice(extra);
    s.create_object(&t).expect("C_CreateObject(secret key)")
}

/// A key-encryption key that may wrap and unwrap.
fn kek(s: &Session, value: &[u8]) -> ObjectHandle {
    import(
        s,
        KeyType::AES,
        value,
        &[Attribute::Wrap(true), Attribute::Unwrap(true)],
    )
}

/// A key that may be wrapped (extractable).
fn extractable(s: &Session, kt: KeyType, value: &[u8]) -> ObjectHandle {
    import(
        s,
        kt,
        value,
        &[Attribute::Extractable(true), Attribute::Sensitive(false)],
    )
}

/// The template of an unwrapped key whose value can be read back.
fn readable(kt: KeyType) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ]
}

fn value_of(s: &Session, key: ObjectHandle) -> Vec<u8> {
    match s
        .get_attributes(key, &[AttributeType::Value])
        .expect("C_GetAttributeValue(CKA_VALUE)")
        .as_slice()
    {
        [Attribute::Value(v)] => v.clone(),
        other => panic!("CKA_VALUE: {other:?}"),
    }
}

/// `CKA_VALUE` of an object known by its raw handle (cryptoki cannot make an
/// `ObjectHandle` from one).
fn raw_value(s: &Session, h: CK_OBJECT_HANDLE) -> Vec<u8> {
    let raw = common::raw();
    let mut buf = vec![0u8; 512];
    let mut attr = [CK_ATTRIBUTE {
        type_: CKA_VALUE,
        pValue: buf.as_mut_ptr().cast(),
        ulValueLen: buf.len() as CK_ULONG,
    }];
    // SAFETY: attr points into buf, a live local of the length given.
    let rv = unsafe { raw.C_GetAttributeValue(s.handle(), h, attr.as_mut_ptr(), 1) };
    assert_ckr!(rv, CKR_OK);
    buf.truncate(attr[0].ulValueLen as usize);
    buf
}

fn bool_of(s: &Session, key: ObjectHandle, ty: AttributeType) -> bool {
    let attrs = s.get_attributes(key, &[ty]).expect("C_GetAttributeValue");
    match attrs.as_slice() {
        [Attribute::Local(b)
        | Attribute::AlwaysSensitive(b)
        | Attribute::NeverExtractable(b)
        | Attribute::Sensitive(b)] => *b,
        other => panic!("{ty:?}: {other:?}"),
    }
}

/// Raw `C_WrapKey` (cryptoki has no `CKM_AES_KEY_WRAP_KWP` and no IV
/// parameters): the return value and the bytes written or the length given.
fn wrap_raw(
    s: &Session,
    mech: CK_MECHANISM_TYPE,
    param: &[u8],
    wrapping: ObjectHandle,
    key: ObjectHandle,
    capacity: Option<usize>,
) -> (CK_RV, Vec<u8>, CK_ULONG) {
    let raw = common::raw();
    let mut param = param.to_vec();
    let mut m = CK_MECHANISM {
        mechanism: mech,
        pParameter: if param.is_empty() {
            std::ptr::null_mut()
        } else {
            param.as_mut_ptr().cast()
        },
        ulParameterLen: param.len() as CK_ULONG,
    };
    let mut out = vec![0u8; capacity.unwrap_or(0)];
    let mut n = out.len() as CK_ULONG;
    let p_out = if capacity.is_some() {
        out.as_mut_ptr()
    } else {
        std::ptr::null_mut()
    };
    // SAFETY: m, param and out are live locals of the lengths given.
    let rv = unsafe {
        raw.C_WrapKey(
            s.handle(),
            &mut m,
            wrapping.handle(),
            key.handle(),
            p_out,
            &mut n,
        )
    };
    if rv == CKR_OK && capacity.is_some() {
        out.truncate(n as usize);
    }
    (rv, out, n)
}

/// Raw `C_UnwrapKey` with a byte-string parameter; the return value and handle.
fn unwrap_raw(
    s: &Session,
    mech: CK_MECHANISM_TYPE,
    param: &[u8],
    unwrapping: ObjectHandle,
    wrapped: &[u8],
    template: &[Attribute],
) -> (CK_RV, CK_OBJECT_HANDLE) {
    let raw = common::raw();
    let mut param = param.to_vec();
    let mut m = CK_MECHANISM {
        mechanism: mech,
        pParameter: if param.is_empty() {
            std::ptr::null_mut()
        } else {
            param.as_mut_ptr().cast()
        },
        ulParameterLen: param.len() as CK_ULONG,
    };
    let mut wrapped = wrapped.to_vec();
    let mut t: Vec<CK_ATTRIBUTE> = template.iter().map(Into::into).collect();
    let mut h: CK_OBJECT_HANDLE = 0;
    // SAFETY: every buffer is a live local of the length given; the
    // template's values live in `template`.
    let rv = unsafe {
        raw.C_UnwrapKey(
            s.handle(),
            &mut m,
            unwrapping.handle(),
            wrapped.as_mut_ptr(),
            wrapped.len() as CK_ULONG,
            t.as_mut_ptr(),
            t.len() as CK_ULONG,
            &mut h,
        )
    };
    (rv, h)
}

const KEK256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
#[serial]
fn aes_key_wrap_equals_openssl_and_round_trips() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let kek_value = hexd(KEK256);
    let w = kek(&s, &kek_value);
    let value = hexd("00112233445566778899aabbccddeeff");
    let k = extractable(&s, KeyType::AES, &value);

    let wrapped = s
        .wrap_key(&Mechanism::AesKeyWrap, w, k)
        .expect("C_WrapKey(CKM_AES_KEY_WRAP)");
    // RFC 3394 §4.3: 128 bits of key data with a 256-bit KEK.
    assert_eq!(
        wrapped,
        hexd("64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7")
    );
    // The default IV given explicitly wraps the same.
    let (rv, same, _) = wrap_raw(&s, CKM_AES_KEY_WRAP, &[0xa6; 8], w, k, Some(64));
    assert_ckr!(rv, CKR_OK);
    assert_eq!(same, wrapped);
    let (rv, _, _) = wrap_raw(&s, CKM_AES_KEY_WRAP, &[0xa6; 7], w, k, Some(64));
    assert_ckr!(rv, CKR_MECHANISM_PARAM_INVALID);

    let back = s
        .unwrap_key(&Mechanism::AesKeyWrap, w, &wrapped, &readable(KeyType::AES))
        .expect("C_UnwrapKey(CKM_AES_KEY_WRAP)");
    assert_eq!(value_of(&s, back), value);
    // v3.0 §4.9: an unwrapped key is not local and was not always sensitive.
    assert!(!bool_of(&s, back, AttributeType::Local));
    assert!(!bool_of(&s, back, AttributeType::AlwaysSensitive));
    assert!(!bool_of(&s, back, AttributeType::NeverExtractable));
    match s
        .get_attributes(back, &[AttributeType::ValueLen])
        .unwrap()
        .as_slice()
    {
        [Attribute::ValueLen(n)] => assert_eq!(u64::from(*n), 16),
        other => panic!("CKA_VALUE_LEN: {other:?}"),
    }

    let Some(o) = tools::openssl_stdin(
        &[
            "enc",
            "-id-aes256-wrap",
            "-K",
            KEK256,
            "-iv",
            "A6A6A6A6A6A6A6A6",
        ],
        &value,
    ) else {
        return;
    };
    assert_eq!(wrapped, o, "AES key wrap differs from openssl enc");
}

#[test]
#[serial]
fn aes_key_wrap_pad_and_kwp_round_trip_odd_lengths_and_equal_openssl() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let w = kek(&s, &hexd(KEK256));
    // 20 bytes: not whole 8-byte blocks, so RFC 3394 refuses it.
    let value: Vec<u8> = (1..=20u8).collect();
    let k = extractable(&s, KeyType::GENERIC_SECRET, &value);
    assert_rv(
        s.wrap_key(&Mechanism::AesKeyWrap, w, k),
        RvError::KeySizeRange,
    );

    let pad = s
        .wrap_key(&Mechanism::AesKeyWrapPad, w, k)
        .expect("C_WrapKey(CKM_AES_KEY_WRAP_PAD)");
    assert_eq!(pad.len(), 32, "RFC 5649: 8-byte header + 24 padded bytes");
    let (rv, kwp, _) = wrap_raw(&s, CKM_AES_KEY_WRAP_KWP, &[], w, k, Some(64));
    assert_ckr!(rv, CKR_OK);
    assert_eq!(kwp, pad, "both names mean RFC 5649");
    for (mech, wrapped) in [(CKM_AES_KEY_WRAP_PAD, &pad), (CKM_AES_KEY_WRAP_KWP, &kwp)] {
        let (rv, h) = unwrap_raw(
            &s,
            mech,
            &[],
            w,
            wrapped,
            &readable(KeyType::GENERIC_SECRET),
        );
        assert_ckr!(rv, CKR_OK);
        assert_eq!(raw_value(&s, h), value);
    }
    // An alternative 4-byte IV wraps differently and must be given back.
    let (rv, alt, _) = wrap_raw(&s, CKM_AES_KEY_WRAP_KWP, &[1, 2, 3, 4], w, k, Some(64));
    assert_ckr!(rv, CKR_OK);
    assert_ne!(alt, kwp);
    let (rv, _) = unwrap_raw(
        &s,
        CKM_AES_KEY_WRAP_KWP,
        &[],
        w,
        &alt,
        &readable(KeyType::GENERIC_SECRET),
    );
    assert_ckr!(rv, CKR_WRAPPED_KEY_INVALID);
    let (rv, h) = unwrap_raw(
        &s,
        CKM_AES_KEY_WRAP_KWP,
        &[1, 2, 3, 4],
        w,
        &alt,
        &readable(KeyType::GENERIC_SECRET),
    );
    assert_ckr!(rv, CKR_OK);
    assert_eq!(raw_value(&s, h), value);

    // RFC 5649's default alternative IV.
    let Some(o) = tools::openssl_stdin(
        &[
            "enc",
            "-id-aes256-wrap-pad",
            "-K",
            KEK256,
            "-iv",
            "A65959A6",
        ],
        &value,
    ) else {
        return;
    };
    assert_eq!(pad, o, "AES key wrap with padding differs from openssl enc");
}

#[test]
#[serial]
fn wrapped_key_size_protocol() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let w = kek(&s, &hexd(KEK256));
    let k = extractable(&s, KeyType::AES, &[7u8; 32]);
    let (rv, _, n) = wrap_raw(&s, CKM_AES_KEY_WRAP, &[], w, k, None);
    assert_ckr!(rv, CKR_OK);
    assert_eq!(n, 40, "a NULL buffer gets the exact length");
    let (rv, _, n) = wrap_raw(&s, CKM_AES_KEY_WRAP, &[], w, k, Some(39));
    assert_ckr!(rv, CKR_BUFFER_TOO_SMALL);
    assert_eq!(n, 40);
    let (rv, out, n) = wrap_raw(&s, CKM_AES_KEY_WRAP, &[], w, k, Some(40));
    assert_ckr!(rv, CKR_OK);
    assert_eq!((n, out.len()), (40, 40));
}

#[test]
#[serial]
fn refused_wraps_and_unwraps_give_the_spec_return_values() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let kw = Mechanism::AesKeyWrap;
    let w = kek(&s, &hexd(KEK256));
    let k = extractable(&s, KeyType::AES, &[9u8; 16]);
    let wrapped = s.wrap_key(&kw, w, k).expect("C_WrapKey");
    // A handle whose object is gone.
    let bogus = import(&s, KeyType::AES, &[1u8; 16], &[]);
    s.destroy_object(bogus).expect("C_DestroyObject");

    assert_rv(s.wrap_key(&kw, bogus, k), RvError::WrappingKeyHandleInvalid);
    assert_rv(s.wrap_key(&kw, w, bogus), RvError::KeyHandleInvalid);
    // A DES3 key cannot be an AES key-encryption key.
    let des3 = import(
        &s,
        KeyType::DES3,
        &[0x01u8; 24],
        &[Attribute::Wrap(true), Attribute::Unwrap(true)],
    );
    assert_rv(
        s.wrap_key(&kw, des3, k),
        RvError::WrappingKeyTypeInconsistent,
    );
    // CKA_WRAP false.
    let no_wrap = import(
        &s,
        KeyType::AES,
        &hexd(KEK256),
        &[Attribute::Wrap(false), Attribute::Unwrap(false)],
    );
    assert_rv(
        s.wrap_key(&kw, no_wrap, k),
        RvError::KeyFunctionNotPermitted,
    );
    // CKA_EXTRACTABLE false (the default for a secret key).
    let locked = import(&s, KeyType::AES, &[3u8; 16], &[]);
    assert_rv(s.wrap_key(&kw, w, locked), RvError::KeyUnextractable);
    // The mechanism must be one that wraps.
    assert_rv(
        s.wrap_key(&Mechanism::AesEcb, w, k),
        RvError::MechanismInvalid,
    );

    let t = readable(KeyType::AES);
    assert_rv(
        s.unwrap_key(&kw, bogus, &wrapped, &t),
        RvError::UnwrappingKeyHandleInvalid,
    );
    assert_rv(
        s.unwrap_key(&kw, des3, &wrapped, &t),
        RvError::UnwrappingKeyTypeInconsistent,
    );
    assert_rv(
        s.unwrap_key(&kw, no_wrap, &wrapped, &t),
        RvError::KeyFunctionNotPermitted,
    );
    let mut tampered = wrapped.clone();
    tampered[5] ^= 1;
    assert_rv(
        s.unwrap_key(&kw, w, &tampered, &t),
        RvError::WrappedKeyInvalid,
    );
    assert_rv(
        s.unwrap_key(&kw, w, &wrapped[..20], &t),
        RvError::WrappedKeyLenRange,
    );
    // The template names the class and key type, never the value.
    assert_rv(
        s.unwrap_key(&kw, w, &wrapped, &t[1..]),
        RvError::TemplateIncomplete,
    );
    let mut with_value = t.clone();
    with_value.push(Attribute::Value(vec![9u8; 16]));
    assert_rv(
        s.unwrap_key(&kw, w, &wrapped, &with_value),
        RvError::TemplateInconsistent,
    );
}

#[test]
#[serial]
fn wrap_with_trusted_needs_a_trusted_key_which_only_the_so_makes() {
    let ctx = Ctx::with_slots(SLOTS);
    // The SO makes a trusted, public token KEK.
    let so = ctx.rw(SOFT);
    let trusted_template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Value(hexd(KEK256)),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Trusted(true),
    ];
    so.login(UserType::So, Some(&ctx.env.so_pin(SOFT)))
        .expect("C_Login(CKU_SO)");
    let trusted = so
        .create_object(&trusted_template)
        .expect("the SO creates a CKA_TRUSTED key");
    so.logout().expect("C_Logout");
    drop(so);

    let s = ctx.user_session(SOFT);
    // The user may not set CKA_TRUSTED.
    assert_rv(
        s.create_object(&trusted_template),
        RvError::AttributeReadOnly,
    );
    let untrusted = kek(&s, &hexd(KEK256));
    let k = import(
        &s,
        KeyType::AES,
        &[5u8; 16],
        &[
            Attribute::Extractable(true),
            Attribute::WrapWithTrusted(true),
        ],
    );
    assert_rv(
        s.wrap_key(&Mechanism::AesKeyWrap, untrusted, k),
        RvError::KeyNotWrappable,
    );
    let wrapped = s
        .wrap_key(&Mechanism::AesKeyWrap, trusted, k)
        .expect("C_WrapKey with a trusted KEK");
    assert_eq!(wrapped.len(), 24);
}

fn rsa_pair(s: &Session) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(false),
            Attribute::ModulusBits(2048.into()),
            Attribute::Wrap(true),
        ],
        &[
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Unwrap(true),
        ],
    )
    .expect("RSA key pair")
}

#[test]
#[serial]
fn rsa_oaep_and_pkcs1_wrap_round_trip() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let (public, private) = rsa_pair(&s);
    let value = hexd(KEK256);
    let k = extractable(&s, KeyType::AES, &value);
    let oaep = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ));
    for mech in [oaep, Mechanism::RsaPkcs] {
        let wrapped = s.wrap_key(&mech, public, k).expect("C_WrapKey(RSA)");
        assert_eq!(wrapped.len(), 256);
        let back = s
            .unwrap_key(&mech, private, &wrapped, &readable(KeyType::AES))
            .expect("C_UnwrapKey(RSA)");
        assert_eq!(value_of(&s, back), value, "{mech:?}");
        // The wrong half of the pair.
        assert_rv(
            s.wrap_key(&mech, private, k),
            RvError::WrappingKeyTypeInconsistent,
        );
        assert_rv(
            s.unwrap_key(&mech, public, &wrapped, &readable(KeyType::AES)),
            RvError::UnwrappingKeyTypeInconsistent,
        );
        assert_rv(
            s.unwrap_key(&mech, private, &wrapped[1..], &readable(KeyType::AES)),
            RvError::WrappedKeyLenRange,
        );
    }
    // An AES key is no RSA wrapping key.
    let w = kek(&s, &hexd(KEK256));
    assert_rv(
        s.wrap_key(&Mechanism::RsaPkcs, w, k),
        RvError::WrappingKeyTypeInconsistent,
    );
}

fn ec_pair(s: &Session, derive: bool) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::Token(false), Attribute::EcParams(P256.to_vec())],
        &[
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Derive(derive),
        ],
    )
    .expect("EC P-256 key pair")
}

/// `CKA_EC_POINT`: a DER OCTET STRING around the SEC1 point.
fn ec_point(s: &Session, public: ObjectHandle) -> Vec<u8> {
    match s
        .get_attributes(public, &[AttributeType::EcPoint])
        .unwrap()
        .as_slice()
    {
        [Attribute::EcPoint(p)] => p.clone(),
        other => panic!("CKA_EC_POINT: {other:?}"),
    }
}

fn derived_template(kt: KeyType, len: u64) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::ValueLen(len.into()),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

#[test]
#[serial]
fn ecdh_both_sides_agree() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let (a_pub, a_priv) = ec_pair(&s, true);
    let (b_pub, b_priv) = ec_pair(&s, true);
    let a_der = ec_point(&s, a_pub);
    let b_der = ec_point(&s, b_pub);
    assert_eq!((a_der.len(), a_der[0], a_der[2]), (67, 0x04, 0x04));
    // One side passes the DER form of CKA_EC_POINT, the other the bare point.
    let a_bare = a_der[2..].to_vec();

    let null_a = Ecdh1DeriveParams::new(EcKdf::null(), &b_der);
    let null_b = Ecdh1DeriveParams::new(EcKdf::null(), &a_bare);
    let ka = s
        .derive_key(
            &Mechanism::Ecdh1Derive(null_a),
            a_priv,
            &derived_template(KeyType::GENERIC_SECRET, 32),
        )
        .expect("C_DeriveKey(ECDH, A)");
    let kb = s
        .derive_key(
            &Mechanism::Ecdh1Derive(null_b),
            b_priv,
            &derived_template(KeyType::GENERIC_SECRET, 32),
        )
        .expect("C_DeriveKey(ECDH, B)");
    let secret = value_of(&s, ka);
    assert_eq!(secret.len(), 32);
    assert_eq!(secret, value_of(&s, kb), "both sides agree");
    // A derived key is not local; the base key was always sensitive but the
    // new key is not, so it is not always sensitive either.
    assert!(!bool_of(&s, ka, AttributeType::Local));
    assert!(!bool_of(&s, ka, AttributeType::AlwaysSensitive));
    assert!(!bool_of(&s, ka, AttributeType::NeverExtractable));
    // A sensitive, unextractable key from that always-sensitive, never
    // extractable base keeps both flags (v3.0 §4.9 footnotes).
    let kept = s
        .derive_key(
            &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &b_der)),
            a_priv,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
            ],
        )
        .expect("C_DeriveKey(ECDH, sensitive)");
    assert!(bool_of(&s, kept, AttributeType::AlwaysSensitive));
    assert!(bool_of(&s, kept, AttributeType::NeverExtractable));

    // X9.63 with SHA-256 and shared data into AES keys: equal values.
    let info = b"shared info";
    let kdf_a = Ecdh1DeriveParams::new(EcKdf::sha256(info), &b_der);
    let kdf_b = Ecdh1DeriveParams::new(EcKdf::sha256(info), &a_der);
    let aes_a = s
        .derive_key(
            &Mechanism::Ecdh1Derive(kdf_a),
            a_priv,
            &derived_template(KeyType::AES, 16),
        )
        .expect("C_DeriveKey(ECDH, SHA256 KDF, A)");
    let aes_b = s
        .derive_key(
            &Mechanism::Ecdh1Derive(kdf_b),
            b_priv,
            &derived_template(KeyType::AES, 16),
        )
        .expect("C_DeriveKey(ECDH, SHA256 KDF, B)");
    let v = value_of(&s, aes_a);
    assert_eq!(v.len(), 16);
    assert_eq!(v, value_of(&s, aes_b));
    assert_ne!(v[..], secret[..16], "the KDF changes the key");

    // CKA_DERIVE false on the base key.
    let (_, no_derive) = ec_pair(&s, false);
    assert_rv(
        s.derive_key(
            &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &b_der)),
            no_derive,
            &derived_template(KeyType::GENERIC_SECRET, 32),
        ),
        RvError::KeyFunctionNotPermitted,
    );
    // An RSA key is no ECDH base key; a point off the curve is refused.
    let (_, rsa_priv) = rsa_pair(&s);
    assert_rv(
        s.derive_key(
            &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &b_der)),
            rsa_priv,
            &derived_template(KeyType::GENERIC_SECRET, 32),
        ),
        RvError::KeyTypeInconsistent,
    );
    let mut off_curve = a_bare.clone();
    off_curve[40] ^= 1;
    assert_rv(
        s.derive_key(
            &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &off_curve)),
            b_priv,
            &derived_template(KeyType::GENERIC_SECRET, 32),
        ),
        RvError::MechanismParamInvalid,
    );
    // The template may not give the value.
    let mut with_value = derived_template(KeyType::GENERIC_SECRET, 32);
    with_value.push(Attribute::Value(vec![0; 32]));
    assert_rv(
        s.derive_key(
            &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &b_der)),
            a_priv,
            &with_value,
        ),
        RvError::TemplateInconsistent,
    );
}

/// pkcs11-tool `--derive` (ECDH1-DERIVE, CKD_NULL) on the softtoken with a
/// peer key made by openssl gives the secret `openssl pkeyutl -derive` gives.
#[test]
#[serial]
fn pkcs11_tool_ecdh_derive_equals_openssl() {
    let env = TestEnv::new(SLOTS);
    let pin = env.profile(SOFT).pin.default_user_pin;
    let dir = env.dir.path();
    let Some(tool) = tools::require("pkcs11-tool", "opensc") else {
        return;
    };
    let Some(openssl) = tools::require("openssl", "openssl") else {
        return;
    };
    let p11 = |extra: &[&str]| -> String {
        let mut cmd = Command::new(&tool);
        cmd.arg("--module")
            .arg(common::module_path())
            .args(["--slot", "0", "--login", "--pin", pin.as_str()])
            .args(extra);
        tools::run_ok(&mut cmd, &env.conf)
    };
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let ossl = |args: &[&str]| {
        tools::run_ok(Command::new(&openssl).args(args), &env.conf);
    };
    p11(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--id",
        "31",
        "--label",
        "ecdh",
        "--usage-derive",
    ]);
    p11(&[
        "--read-object",
        "--type",
        "pubkey",
        "--id",
        "31",
        "--output-file",
        &path("token_pub.der"),
    ]);
    ossl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &path("peer.pem"),
    ]);
    ossl(&[
        "pkey",
        "-in",
        &path("peer.pem"),
        "-pubout",
        "-outform",
        "DER",
        "-out",
        &path("peer_pub.der"),
    ]);
    p11(&[
        "--derive",
        "--mechanism",
        "ECDH1-DERIVE",
        "--id",
        "31",
        "--input-file",
        &path("peer_pub.der"),
        "--output-file",
        &path("token_secret.bin"),
    ]);
    ossl(&[
        "pkeyutl",
        "-derive",
        "-inkey",
        &path("peer.pem"),
        "-peerkey",
        &path("token_pub.der"),
        "-peerform",
        "DER",
        "-out",
        &path("openssl_secret.bin"),
    ]);
    let ours = std::fs::read(path("token_secret.bin")).expect("pkcs11-tool output");
    let theirs = std::fs::read(path("openssl_secret.bin")).expect("openssl output");
    assert_eq!(ours.len(), 32);
    assert_eq!(ours, theirs, "ECDH secret differs from openssl pkeyutl");
}
