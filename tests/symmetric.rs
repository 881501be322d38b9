//! The symmetric half of a token through the C functions: AES, DES3 and
//! generic-secret keys (generation, import, CKA_CHECK_VALUE, CKA_VALUE_LEN),
//! AES and DES3 ciphers in one and several parts, HMAC and AES-CMAC through
//! C_Sign/C_Verify — with outputs compared to the `openssl` command line (an
//! independent implementation; skipped loudly without it, failed with
//! TOKENEMU_REQUIRE_TOOLS=1) and to NIST's GCM test case 4.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;
mod tools;

use common::{assert_rv, Ctx, SlotSpec, ETOKEN};
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use serial_test::serial;

/// Slot 0 is a `softtoken`, slot 1 the eToken.
const SLOTS: &[SlotSpec] = &[
    SlotSpec {
        id: 0,
        profile: "softtoken",
        present: true,
    },
    SlotSpec {
        id: 1,
        profile: "etoken",
        present: true,
    },
];
const SOFT: u64 = 0;

fn hexd(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

fn import(s: &Session, kt: KeyType, value: &[u8]) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Token(false),
        Attribute::Value(value.to_vec()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
    ])
    .expect("C_CreateObject(secret key)")
}

/// `C_Encrypt` with `CKM_AES_CTR` (cryptoki has no AES-CTR mechanism): the
/// whole 128-bit block counts.
fn aes_ctr_raw(s: &Session, key: ObjectHandle, cb: [u8; 16], data: &[u8]) -> Vec<u8> {
    use cryptoki_sys::*;
    let raw = common::raw();
    let mut params = CK_AES_CTR_PARAMS {
        ulCounterBits: 128,
        cb,
    };
    let mut m = CK_MECHANISM {
        mechanism: CKM_AES_CTR,
        pParameter: (&mut params as *mut CK_AES_CTR_PARAMS).cast(),
        ulParameterLen: std::mem::size_of::<CK_AES_CTR_PARAMS>() as CK_ULONG,
    };
    let mut input = data.to_vec();
    let mut out = vec![0u8; data.len()];
    let mut n = out.len() as CK_ULONG;
    // SAFETY: m, params, input and out are live locals of the lengths given.
    unsafe {
        assert_ckr!(raw.C_EncryptInit(s.handle(), &mut m, key.handle()), CKR_OK);
        assert_ckr!(
            raw.C_Encrypt(
                s.handle(),
                input.as_mut_ptr(),
                input.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n
            ),
            CKR_OK
        );
    }
    out.truncate(n as usize);
    out
}

/// The hex MAC at the end of `openssl dgst`/`openssl mac` output.
fn hex_tail(out: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(out);
    let last = text.split_whitespace().last().expect("output");
    hexd(&last.to_ascii_lowercase())
}

#[test]
#[serial]
fn aes_cbc_pad_ctr_and_ecb_equal_openssl_in_one_and_several_parts() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let key = hexd("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9814a3a0914f2a");
    let iv = hexd("000102030405060708090a0b0c0d0e0f");
    let k = import(&s, KeyType::AES, &key);
    let data: Vec<u8> = (0..100u8).collect();

    let cbc = s
        .encrypt(
            &Mechanism::AesCbcPad(iv.clone().try_into().unwrap()),
            k,
            &data,
        )
        .expect("C_Encrypt(AES-CBC-PAD)");
    assert_eq!(cbc.len(), 112);
    assert_eq!(
        s.decrypt(
            &Mechanism::AesCbcPad(iv.clone().try_into().unwrap()),
            k,
            &cbc
        )
        .expect("C_Decrypt"),
        data
    );
    // Several parts give the same bytes.
    let m = Mechanism::AesCbcPad(iv.clone().try_into().unwrap());
    s.encrypt_init(&m, k).expect("C_EncryptInit");
    let mut parts = Vec::new();
    for chunk in data.chunks(7) {
        parts.extend(s.encrypt_update(chunk).expect("C_EncryptUpdate"));
    }
    parts.extend(s.encrypt_final().expect("C_EncryptFinal"));
    assert_eq!(parts, cbc);

    let ctr = aes_ctr_raw(&s, k, iv.clone().try_into().unwrap(), &data);
    assert_eq!(ctr.len(), data.len());

    let ecb = s
        .encrypt(&Mechanism::AesEcb, k, &data[..96])
        .expect("C_Encrypt(AES-ECB)");
    assert_rv(
        s.encrypt(&Mechanism::AesEcb, k, &data[..95]),
        RvError::DataLenRange,
    );

    let kh = hex::encode(&key);
    let ivh = hex::encode(&iv);
    let Some(o) = tools::openssl_stdin(&["enc", "-aes-256-cbc", "-K", &kh, "-iv", &ivh], &data)
    else {
        return;
    };
    assert_eq!(cbc, o, "AES-256-CBC-PAD differs from openssl enc");
    let o = tools::openssl_stdin(&["enc", "-aes-256-ctr", "-K", &kh, "-iv", &ivh], &data).unwrap();
    assert_eq!(ctr, o, "AES-256-CTR differs from openssl enc");
    let o =
        tools::openssl_stdin(&["enc", "-aes-256-ecb", "-K", &kh, "-nopad"], &data[..96]).unwrap();
    assert_eq!(ecb, o, "AES-256-ECB differs from openssl enc");
}

#[cfg(target_pointer_width = "64")]
#[test]
#[serial]
fn aes_gcm_gives_nist_test_case_4_and_refuses_a_changed_tag() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let k = import(&s, KeyType::AES, &hexd("feffe9928665731c6d6a8f9467308308"));
    let mut iv = hexd("cafebabefacedbaddecaf888");
    let aad = hexd("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let plain = hexd(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let want = hexd(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091\
         5bc94fbc3221a5db94fae95ae7121a47",
    );
    let params = GcmParams::new(&mut iv, &aad, 128.into()).expect("GCM params");
    let sealed = s
        .encrypt(&Mechanism::AesGcm(params), k, &plain)
        .expect("C_Encrypt(AES-GCM)");
    assert_eq!(sealed, want, "GCM test case 4 (NIST, McGrew & Viega)");
    let params = GcmParams::new(&mut iv, &aad, 128.into()).expect("GCM params");
    assert_eq!(
        s.decrypt(&Mechanism::AesGcm(params), k, &sealed)
            .expect("C_Decrypt"),
        plain
    );
    let mut bad = sealed.clone();
    *bad.last_mut().unwrap() ^= 1;
    let params = GcmParams::new(&mut iv, &aad, 128.into()).expect("GCM params");
    assert_rv(
        s.decrypt(&Mechanism::AesGcm(params), k, &bad),
        RvError::EncryptedDataInvalid,
    );
}

#[test]
#[serial]
fn des3_cbc_equals_openssl() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let key = hexd("0123456789abcdef23456789abcdef01456789abcdef0123");
    let iv = hexd("1234567890abcdef");
    let k = import(&s, KeyType::DES3, &key);
    let data = b"Now is the time for all good men".to_vec();
    let out = s
        .encrypt(
            &Mechanism::Des3CbcPad(iv.clone().try_into().unwrap()),
            k,
            &data,
        )
        .expect("C_Encrypt(DES3-CBC-PAD)");
    assert_eq!(
        s.decrypt(
            &Mechanism::Des3CbcPad(iv.clone().try_into().unwrap()),
            k,
            &out
        )
        .expect("C_Decrypt"),
        data
    );
    let Some(o) = tools::openssl_stdin(
        &[
            "enc",
            "-des-ede3-cbc",
            "-K",
            &hex::encode(&key),
            "-iv",
            &hex::encode(&iv),
        ],
        &data,
    ) else {
        return;
    };
    assert_eq!(out, o, "DES3-CBC-PAD differs from openssl enc");
}

#[test]
#[serial]
fn hmac_and_cmac_equal_openssl_and_verify() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let key = b"a key for HMAC that is long enough".to_vec();
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let k = import(&s, KeyType::GENERIC_SECRET, &key);
    let mac = s
        .sign(&Mechanism::Sha256Hmac, k, &data)
        .expect("C_Sign(SHA256-HMAC)");
    assert_eq!(mac.len(), 32);
    s.verify(&Mechanism::Sha256Hmac, k, &data, &mac)
        .expect("C_Verify");
    let mut bad = mac.clone();
    bad[0] ^= 0x80;
    assert_rv(
        s.verify(&Mechanism::Sha256Hmac, k, &data, &bad),
        RvError::SignatureInvalid,
    );
    assert_rv(
        s.verify(&Mechanism::Sha256Hmac, k, &data, &mac[..31]),
        RvError::SignatureLenRange,
    );
    let aes_key = hexd("2b7e151628aed2a6abf7158809cf4f3c");
    let ak = import(&s, KeyType::AES, &aes_key);
    let cmac = s
        .sign(&Mechanism::AesCMac, ak, &data)
        .expect("C_Sign(AES-CMAC)");
    assert_eq!(cmac.len(), 16);

    let hexkey = format!("hexkey:{}", hex::encode(&key));
    let Some(o) = tools::openssl_stdin(
        &["dgst", "-sha256", "-mac", "HMAC", "-macopt", &hexkey],
        &data,
    ) else {
        return;
    };
    assert_eq!(mac, hex_tail(&o), "HMAC-SHA256 differs from openssl dgst");
    let hexkey = format!("hexkey:{}", hex::encode(&aes_key));
    let o = tools::openssl_stdin(
        &["mac", "-cipher", "AES-128-CBC", "-macopt", &hexkey, "CMAC"],
        &data,
    )
    .unwrap();
    assert_eq!(cmac, hex_tail(&o), "AES-CMAC differs from openssl mac");
}

#[test]
#[serial]
fn check_values_and_value_lengths_are_computed_and_checked() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let key = hexd("000102030405060708090a0b0c0d0e0f");
    let k = import(&s, KeyType::AES, &key);
    let attrs = s
        .get_attributes(k, &[AttributeType::CheckValue, AttributeType::ValueLen])
        .expect("C_GetAttributeValue");
    let (cv, len) = match attrs.as_slice() {
        [Attribute::CheckValue(cv), Attribute::ValueLen(n)] => (cv.clone(), u64::from(*n)),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(len, 16);
    assert_eq!(cv.len(), 3);
    if let Some(o) = tools::openssl_stdin(
        &["enc", "-aes-128-ecb", "-K", &hex::encode(&key), "-nopad"],
        &[0u8; 16],
    ) {
        assert_eq!(cv, o[..3], "AES check value = ECB of a zero block");
    }
    // A wrong check value or length in the template is refused.
    let base = |extra: Attribute| {
        vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Value(key.clone()),
            extra,
        ]
    };
    assert_rv(
        s.create_object(&base(Attribute::CheckValue(vec![1, 2, 3]))),
        RvError::AttributeValueInvalid,
    );
    assert_rv(
        s.create_object(&base(Attribute::ValueLen(32.into()))),
        RvError::TemplateInconsistent,
    );
    assert_rv(
        s.create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Value(vec![0; 15]),
        ]),
        RvError::AttributeValueInvalid,
    );
    // Generated keys carry their check value and work.
    let g = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Token(false)],
        )
        .expect("C_GenerateKey(AES-256)");
    let attrs = s
        .get_attributes(g, &[AttributeType::CheckValue, AttributeType::ValueLen])
        .expect("C_GetAttributeValue");
    assert!(
        matches!(attrs.as_slice(), [Attribute::CheckValue(cv), Attribute::ValueLen(n)] if cv.len() == 3 && u64::from(*n) == 32)
    );
    assert_rv(
        s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(20.into())]),
        RvError::KeySizeRange,
    );
    let d = s
        .generate_key(&Mechanism::Des3KeyGen, &[Attribute::Token(false)])
        .expect("C_GenerateKey(DES3)");
    let v = s
        .get_attributes(d, &[AttributeType::CheckValue])
        .expect("C_GetAttributeValue");
    assert!(matches!(v.as_slice(), [Attribute::CheckValue(cv)] if cv.len() == 3));
}

#[test]
#[serial]
fn generic_secret_generation_sizes_are_bits() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(ETOKEN);
    // The eToken lists 8..2048 bits: 256 bytes fit, 257 do not.
    s.generate_key(
        &Mechanism::GenericSecretKeyGen,
        &[Attribute::ValueLen(256.into()), Attribute::Token(false)],
    )
    .expect("256 bytes = 2048 bits");
    assert_rv(
        s.generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[Attribute::ValueLen(257.into()), Attribute::Token(false)],
        ),
        RvError::KeySizeRange,
    );
    let info = ctx
        .p11()
        .get_mechanism_info(ctx.slot(ETOKEN), MechanismType::GENERIC_SECRET_KEY_GEN)
        .expect("C_GetMechanismInfo");
    assert_eq!(info.max_key_size(), 2048);
}
