//! Cryptographic mechanisms through cryptoki: RSA and ECDSA sign/verify,
//! RSA encrypt/decrypt (PKCS#1 v1.5 and OAEP), digests with known answers,
//! multi-part operations, dual functions, mechanism/key mismatches, and two
//! sessions signing in parallel. GOST R 34.11-2012 goes through the raw API
//! (cryptoki cannot name vendor mechanisms below `CKM_VENDOR_DEFINED`, and the
//! TC26 ones only as opaque vendor types).
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use std::ptr::null_mut;

use common::{assert_rv, Ctx, ETOKEN, JACARTA_GOST};
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use serial_test::serial;

/// DER of the prime256v1 OID (`CKA_EC_PARAMS` for P-256).
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn ec_pair(s: &Session) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::Token(false),
            Attribute::EcParams(P256.to_vec()),
            Attribute::Verify(true),
        ],
        &[
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
        ],
    )
    .expect("EC P-256 key pair")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
#[serial]
fn digests_match_known_answers() {
    let ctx = Ctx::new();
    let s = ctx.ro(ETOKEN);
    let cases: [(Mechanism, &str); 3] = [
        (Mechanism::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (Mechanism::Sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            Mechanism::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];
    for (m, want) in &cases {
        assert_eq!(hex(&s.digest(m, b"abc").unwrap()), *want, "{m:?}");
        s.digest_init(m).unwrap();
        s.digest_update(b"a").unwrap();
        s.digest_update(b"").unwrap();
        s.digest_update(b"bc").unwrap();
        assert_eq!(hex(&s.digest_final().unwrap()), *want, "{m:?} multi-part");
    }
    // One digest at a time per session.
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_rv(s.digest_init(&Mechanism::Sha256), RvError::OperationActive);
    s.digest_final().unwrap();
    assert_rv(s.digest_final(), RvError::OperationNotInitialized);
}

#[test]
#[serial]
fn streebog_through_the_raw_api() {
    let ctx = Ctx::new();
    let s = ctx.ro(JACARTA_GOST);
    let raw = common::raw();
    // GOST R 34.11-2012 (256) of the empty string.
    let want = "3f539a213e97c802cc229d474c6aa32a825a360b2a933a949fd925208d9ce1bb";
    let mut m = CK_MECHANISM {
        mechanism: tokenemu_core::vendor::CKM_GOSTR3411_12_256,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut out = [0u8; 32];
    let mut len: CK_ULONG = 32;
    // SAFETY: valid mechanism and buffers.
    unsafe {
        assert_ckr!(raw.C_DigestInit(s.handle(), &mut m), CKR_OK);
        assert_ckr!(
            raw.C_Digest(s.handle(), null_mut(), 0, out.as_mut_ptr(), &mut len),
            CKR_OK
        );
    }
    assert_eq!((len, hex(&out)), (32, want.to_owned()));
}

#[test]
#[serial]
fn rsa_sign_verify() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (public, private) = common::rsa_session_pair(&s, 1024);
    let msg = b"sign me";
    for m in [
        Mechanism::Sha256RsaPkcs,
        Mechanism::Sha1RsaPkcs,
        Mechanism::Sha512RsaPkcs,
    ] {
        let sig = s.sign(&m, private, msg).unwrap();
        assert_eq!(sig.len(), 128);
        s.verify(&m, public, msg, &sig).unwrap();
        assert_rv(
            s.verify(&m, public, b"sign mE", &sig),
            RvError::SignatureInvalid,
        );
        // Multi-part gives the same (deterministic) PKCS#1 v1.5 signature.
        s.sign_init(&m, private).unwrap();
        s.sign_update(b"sign").unwrap();
        s.sign_update(b" me").unwrap();
        assert_eq!(s.sign_final().unwrap(), sig);
        s.verify_init(&m, public).unwrap();
        s.verify_update(msg).unwrap();
        s.verify_final(&sig).unwrap();
    }
    // PSS with parameters.
    let pss = PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 32.into(),
    };
    let sig = s
        .sign(&Mechanism::Sha256RsaPkcsPss(pss), private, msg)
        .unwrap();
    s.verify(&Mechanism::Sha256RsaPkcsPss(pss), public, msg, &sig)
        .unwrap();
    // Raw PKCS#1 v1.5 over a prepared DigestInfo-sized input; too long → DATA_LEN_RANGE.
    let sig = s.sign(&Mechanism::RsaPkcs, private, &[0x11; 51]).unwrap();
    s.verify(&Mechanism::RsaPkcs, public, &[0x11; 51], &sig)
        .unwrap();
    assert_rv(
        s.sign(&Mechanism::RsaPkcs, private, &[0x11; 118]),
        RvError::DataLenRange,
    );
    // Wrong signature length.
    assert_rv(
        s.verify(&Mechanism::Sha256RsaPkcs, public, msg, &sig[..100]),
        RvError::SignatureLenRange,
    );
}

#[test]
#[serial]
fn rsa_encrypt_decrypt() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (public, private) = common::rsa_session_pair(&s, 1024);
    let msg = b"secret message";
    let c = s.encrypt(&Mechanism::RsaPkcs, public, msg).unwrap();
    assert_eq!(c.len(), 128);
    assert_eq!(s.decrypt(&Mechanism::RsaPkcs, private, &c).unwrap(), msg);
    for (hash, mgf, label) in [
        (
            MechanismType::SHA1,
            PkcsMgfType::MGF1_SHA1,
            PkcsOaepSource::empty(),
        ),
        (
            MechanismType::SHA256,
            PkcsMgfType::MGF1_SHA256,
            PkcsOaepSource::data_specified(b"a label"),
        ),
    ] {
        let m = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash, mgf, label));
        let c = s.encrypt(&m, public, msg).unwrap();
        assert_eq!(s.decrypt(&m, private, &c).unwrap(), msg, "OAEP {hash}");
    }
    let m = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::data_specified(b"a label"),
    ));
    let other = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::data_specified(b"b label"),
    ));
    let c = s.encrypt(&m, public, msg).unwrap();
    let r = s.decrypt(&other, private, &c);
    assert!(matches!(
        common::rv_of(&r.unwrap_err()),
        RvError::EncryptedDataInvalid | RvError::DataInvalid
    ));
    assert_rv(
        s.decrypt(&Mechanism::RsaPkcs, private, &c[..127]),
        RvError::EncryptedDataLenRange,
    );
}

#[test]
#[serial]
fn ecdsa_p256() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (public, private) = ec_pair(&s);
    let point = s
        .get_attributes(public, &[cryptoki::object::AttributeType::EcPoint])
        .unwrap();
    assert!(
        matches!(point.as_slice(), [Attribute::EcPoint(p)] if p.len() == 67 && p[0] == 0x04 && p[2] == 0x04),
        "EC_POINT is a DER OCTET STRING of an uncompressed point"
    );
    let msg = b"ecdsa message";
    let sig = s.sign(&Mechanism::EcdsaSha256, private, msg).unwrap();
    assert_eq!(sig.len(), 64, "r || s");
    s.verify(&Mechanism::EcdsaSha256, public, msg, &sig)
        .unwrap();
    assert_rv(
        s.verify(&Mechanism::EcdsaSha256, public, b"other", &sig),
        RvError::SignatureInvalid,
    );
    // Raw ECDSA over a digest.
    let digest = s.digest(&Mechanism::Sha256, msg).unwrap();
    let raw_sig = s.sign(&Mechanism::Ecdsa, private, &digest).unwrap();
    s.verify(&Mechanism::Ecdsa, public, &digest, &raw_sig)
        .unwrap();
    s.verify(&Mechanism::EcdsaSha256, public, msg, &raw_sig)
        .unwrap();
}

#[test]
#[serial]
fn mechanism_and_key_mismatches() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (rsa_pub, rsa_priv) = common::rsa_session_pair(&s, 1024);
    let (_, ec_priv) = ec_pair(&s);
    assert_rv(
        s.sign_init(&Mechanism::Sha256RsaPkcs, ec_priv),
        RvError::KeyTypeInconsistent,
    );
    assert_rv(
        s.sign_init(&Mechanism::EcdsaSha256, rsa_priv),
        RvError::KeyTypeInconsistent,
    );
    // A public key cannot sign; the private key was not made for decryption here.
    let r = s.sign_init(&Mechanism::Sha256RsaPkcs, rsa_pub);
    assert!(matches!(
        common::rv_of(&r.unwrap_err()),
        RvError::KeyFunctionNotPermitted | RvError::KeyTypeInconsistent
    ));
    let (_, sign_only) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::Token(false), Attribute::ModulusBits(1024.into())],
            &[
                Attribute::Token(false),
                Attribute::Sign(true),
                Attribute::Decrypt(false),
            ],
        )
        .unwrap();
    assert_rv(
        s.decrypt(&Mechanism::RsaPkcs, sign_only, &[0; 128]),
        RvError::KeyFunctionNotPermitted,
    );
    // A mechanism the profile does not list (the eToken has no single DES).
    assert_rv(
        s.generate_key(&Mechanism::DesKeyGen, &[]),
        RvError::MechanismInvalid,
    );
    // Key size outside the profile's range.
    let r = s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[Attribute::ModulusBits(512.into())],
        &[Attribute::Sign(true)],
    );
    assert!(matches!(
        common::rv_of(&r.unwrap_err()),
        RvError::KeySizeRange | RvError::TemplateInconsistent | RvError::AttributeValueInvalid
    ));
}

#[test]
#[serial]
fn sign_needs_a_logged_in_user() {
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (_, private) = common::rsa_session_pair(&s, 1024);
    s.logout().unwrap();
    let r = s.sign(&Mechanism::Sha256RsaPkcs, private, b"x");
    assert!(matches!(
        common::rv_of(&r.unwrap_err()),
        RvError::KeyHandleInvalid | RvError::UserNotLoggedIn
    ));
}

#[test]
#[serial]
fn parallel_signing_on_two_sessions() {
    let ctx = Ctx::new();
    let setup = ctx.user_session(ETOKEN);
    let (public, private) = common::rsa_session_pair(&setup, 1024);
    let p11 = ctx.p11().clone();
    let slot = ctx.slot(ETOKEN);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p11 = p11.clone();
            std::thread::spawn(move || {
                let s = p11.open_rw_session(slot).unwrap();
                for i in 0..20 {
                    let msg = format!("thread {t} message {i}");
                    let sig = s
                        .sign(&Mechanism::Sha256RsaPkcs, private, msg.as_bytes())
                        .unwrap();
                    s.verify(&Mechanism::Sha256RsaPkcs, public, msg.as_bytes(), &sig)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("signing thread");
    }
}

#[test]
#[serial]
fn dual_function_calls_are_composed_safely() {
    // The emulated tokens have no multi-part cipher (RSA encryption is
    // single-part), so this only checks that the composition of the two
    // halves reports the first half's state and sane codes.
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (public, _) = common::rsa_session_pair(&s, 1024);
    let raw = common::raw();
    let mut d = CK_MECHANISM {
        mechanism: CKM_SHA256,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut e = CK_MECHANISM {
        mechanism: CKM_RSA_PKCS,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut part = *b"part";
    let mut out = [0u8; 256];
    let mut len: CK_ULONG = 256;
    // SAFETY: valid mechanisms and buffers.
    unsafe {
        assert_ckr!(
            raw.C_DigestEncryptUpdate(s.handle(), part.as_mut_ptr(), 4, out.as_mut_ptr(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_ckr!(raw.C_DigestInit(s.handle(), &mut d), CKR_OK);
        assert_ckr!(
            raw.C_EncryptInit(s.handle(), &mut e, public.handle()),
            CKR_OK
        );
        let rv =
            raw.C_DigestEncryptUpdate(s.handle(), part.as_mut_ptr(), 4, out.as_mut_ptr(), &mut len);
        assert!(
            rv == CKR_OK
                || rv == CKR_MECHANISM_INVALID
                || rv == CKR_FUNCTION_NOT_SUPPORTED
                || rv == CKR_OPERATION_NOT_INITIALIZED,
            "{}",
            common::rv_name(rv)
        );
    }
}

/// DER of the CryptoPro-A parameter set OID 1.2.643.2.2.35.1.
const CRYPTOPRO_A: &[u8] = &[0x06, 0x07, 0x2a, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01];

fn attr<T>(ty: CK_ATTRIBUTE_TYPE, v: &mut T, len: usize) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: (v as *mut T).cast(),
        ulValueLen: len as CK_ULONG,
    }
}

/// GOST R 34.10-2012 (256) through the raw API: key pair generation with the
/// curve OID also passed as the mechanism parameter (`ParamShape::Bytes`),
/// then sign/verify with Streebog-256 and the 64-byte s‖r signature.
#[test]
#[serial]
fn gost_2012_256_sign_verify_raw() {
    let ctx = Ctx::new();
    let s = ctx.user_session(JACARTA_GOST);
    let raw = common::raw();
    let h = s.handle();
    let mut oid = CRYPTOPRO_A.to_vec();
    let (mut yes, mut no) = (CK_TRUE as CK_BBOOL, CK_FALSE as CK_BBOOL);
    let mut pubt = [
        attr(CKA_TOKEN, &mut no, 1),
        attr(CKA_VERIFY, &mut yes, 1),
        CK_ATTRIBUTE {
            type_: CKA_GOSTR3410_PARAMS,
            pValue: oid.as_mut_ptr().cast(),
            ulValueLen: oid.len() as CK_ULONG,
        },
    ];
    let (mut no2, mut yes2, mut yes3) = (
        CK_FALSE as CK_BBOOL,
        CK_TRUE as CK_BBOOL,
        CK_TRUE as CK_BBOOL,
    );
    let mut privt = [
        attr(CKA_TOKEN, &mut no2, 1),
        attr(CKA_SIGN, &mut yes2, 1),
        attr(CKA_PRIVATE, &mut yes3, 1),
    ];
    let mut param = CRYPTOPRO_A.to_vec();
    let mut gen = CK_MECHANISM {
        mechanism: CKM_GOSTR3410_KEY_PAIR_GEN,
        pParameter: param.as_mut_ptr().cast(),
        ulParameterLen: param.len() as CK_ULONG,
    };
    let (mut hpub, mut hpriv) = (0, 0);
    let mut sign = CK_MECHANISM {
        mechanism: tokenemu_core::vendor::CKM_GOSTR3410_WITH_GOSTR3411_12_256,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut msg = *b"GOST message";
    let mut sig = [0u8; 64];
    let mut len: CK_ULONG = 64;
    // SAFETY: every template value, mechanism parameter and buffer is valid
    // for the lengths given.
    unsafe {
        assert_ckr!(
            raw.C_GenerateKeyPair(
                h,
                &mut gen,
                pubt.as_mut_ptr(),
                3,
                privt.as_mut_ptr(),
                3,
                &mut hpub,
                &mut hpriv
            ),
            CKR_OK
        );
        assert_ckr!(raw.C_SignInit(h, &mut sign, hpriv), CKR_OK);
        assert_ckr!(
            raw.C_Sign(h, msg.as_mut_ptr(), 12, sig.as_mut_ptr(), &mut len),
            CKR_OK
        );
        assert_eq!(len, 64);
        assert_ckr!(raw.C_VerifyInit(h, &mut sign, hpub), CKR_OK);
        assert_ckr!(
            raw.C_Verify(h, msg.as_mut_ptr(), 12, sig.as_mut_ptr(), 64),
            CKR_OK
        );
        msg[0] ^= 1;
        assert_ckr!(raw.C_VerifyInit(h, &mut sign, hpub), CKR_OK);
        assert_ckr!(
            raw.C_Verify(h, msg.as_mut_ptr(), 12, sig.as_mut_ptr(), 64),
            CKR_SIGNATURE_INVALID
        );
    }
}
