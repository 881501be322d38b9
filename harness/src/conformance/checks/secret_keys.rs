//! Secret keys: AES and HMAC known answers through C_Encrypt/C_Decrypt and
//! C_Sign/C_Verify, CKA_CHECK_VALUE, the wrap/unwrap policy of base v3.0
//! §5.18 and §4.10, and ECDH agreement through C_DeriveKey. Every key is an
//! imported or generated session object with exactly the attributes its
//! check needs.

use cryptoki_sys::*;
use tokenemu_core::names::rv_name;

use crate::conformance::check::{
    ensure, expect_rv, fail, ok, skip, Chapter, Check, CheckResult, Ctx, Needs, Stop, LABEL_PREFIX,
};
use crate::p11::client::{Mech, Out, Template};

use super::keys::P256_DER;

const C: Chapter = Chapter::SecretKeys;

/// NIST SP 800-38A F.1–F.5: the AES-128 key, the four plaintext blocks.
const SP800_38A_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const SP800_38A_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
/// SP 800-38A F.2.1 CBC-AES128.Encrypt.
const CBC_IV: &str = "000102030405060708090a0b0c0d0e0f";
const CBC_CIPHER: &str = "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7";
/// SP 800-38A F.5.1 CTR-AES128.Encrypt.
const CTR_BLOCK: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
const CTR_CIPHER: &str = "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee";
/// AES-128-ECB of the zero block under [`SP800_38A_KEY`] (openssl enc
/// -aes-128-ecb -nopad), whose first three bytes are the key's
/// CKA_CHECK_VALUE.
const SP800_38A_KEY_ZERO_BLOCK: &str = "7df76b0c1ab899b33e42f047b91b546f";

/// The GCM spec's (McGrew–Viega) test case 4.
const GCM_KEY: &str = "feffe9928665731c6d6a8f9467308308";
const GCM_IV: &str = "cafebabefacedbaddecaf888";
const GCM_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const GCM_PLAIN: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const GCM_CIPHER: &str = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091";
const GCM_TAG: &str = "5bc94fbc3221a5db94fae95ae7121a47";

/// RFC 4231 HMAC-SHA-256 test cases: (case, key, data, MAC). Case 2 has a
/// 4-byte key; case 6 (a 131-byte key, longer than the block) is for a token
/// whose declared key sizes start above 4 bytes (SoftHSM2: 32).
const HMAC_CASES: [(u32, &[u8], &[u8], &str); 2] = [
    (
        2,
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        6,
        &[0xaa; 131],
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
];

/// RFC 3394 §4.1: 128-bit key data wrapped with a 128-bit KEK.
const KW_KEK: &str = "000102030405060708090a0b0c0d0e0f";
const KW_KEY: &str = "00112233445566778899aabbccddeeff";
const KW_WRAPPED: &str = "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5";

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "secret-keys.aes-cbc-known-answer",
            chapter: C,
            title: "CKM_AES_CBC: C_Encrypt and C_Decrypt give NIST SP 800-38A F.2.1",
            spec: "curr v3.0 AES-CBC; base v3.0 §5.8.2 C_Encrypt, §5.10.2 C_Decrypt (v2.40 §5.8.2, §5.9.2)",
            needs: Needs::NONE.login().mechs(&[CKM_AES_CBC]),
            run: aes_cbc_known_answer,
        },
        Check {
            id: "secret-keys.aes-ctr-known-answer",
            chapter: C,
            title: "CKM_AES_CTR: C_Encrypt and C_Decrypt give NIST SP 800-38A F.5.1",
            spec: "curr v3.0 AES-CTR (CK_AES_CTR_PARAMS); base v3.0 §5.8.2 C_Encrypt, §5.10.2 C_Decrypt (v2.40 §5.8.2, §5.9.2)",
            needs: Needs::NONE.login().mechs(&[CKM_AES_CTR]),
            run: aes_ctr_known_answer,
        },
        Check {
            id: "secret-keys.aes-gcm-known-answer",
            chapter: C,
            title: "CKM_AES_GCM: C_Encrypt gives GCM test case 4 (ciphertext ‖ 128-bit tag), C_Decrypt returns the plaintext",
            spec: "curr v3.0 AES-GCM (CK_GCM_PARAMS); base v3.0 §5.8.2 C_Encrypt, §5.10.2 C_Decrypt (v2.40 §5.8.2, §5.9.2)",
            needs: Needs::NONE.login().mechs(&[CKM_AES_GCM]),
            run: aes_gcm_known_answer,
        },
        Check {
            id: "secret-keys.aes-multipart-equals-single",
            chapter: C,
            title: "CKM_AES_CBC in uneven parts (C_EncryptUpdate/C_EncryptFinal, C_DecryptUpdate/C_DecryptFinal) gives what the single-part calls give",
            spec: "base v3.0 §5.8.3 C_EncryptUpdate, §5.8.4 C_EncryptFinal, §5.10.3 C_DecryptUpdate, §5.10.4 C_DecryptFinal (v2.40 §5.8.3–4, §5.9.3–4)",
            needs: Needs::NONE.login().mechs(&[CKM_AES_CBC]),
            run: aes_multipart_equals_single,
        },
        Check {
            id: "secret-keys.aes-ecb-partial-block",
            chapter: C,
            title: "C_Encrypt(CKM_AES_ECB) of 17 bytes → CKR_DATA_LEN_RANGE",
            spec: "curr v3.0 AES-ECB (input a multiple of the block size); base v3.0 §5.8.2 C_Encrypt (v2.40 §5.8.2)",
            needs: Needs::NONE.login().mechs(&[CKM_AES_ECB]),
            run: aes_ecb_partial_block,
        },
        Check {
            id: "secret-keys.aes-check-value",
            chapter: C,
            title: "CKA_CHECK_VALUE of an imported AES key is the first 3 bytes of ECB(key, zero block)",
            spec: "base v3.0 §4.10 secret key objects (CKA_CHECK_VALUE); curr v3.0 AES secret key objects",
            // The check value is defined through AES-ECB.
            needs: Needs::NONE.login().mechs(&[CKM_AES_ECB]),
            run: aes_check_value,
        },
        Check {
            id: "secret-keys.hmac-sha256-known-answer",
            chapter: C,
            title: "CKM_SHA256_HMAC: C_Sign (single and multi-part) gives RFC 4231 case 2 (case 6 where the token's key sizes start above 4 bytes), C_Verify accepts it and returns CKR_SIGNATURE_INVALID for a changed MAC",
            spec: "curr v3.0 SHA-256-HMAC; base v3.0 §5.13.2 C_Sign, §5.15.2 C_Verify (v2.40 §5.11.2, §5.12.2)",
            needs: Needs::NONE.login().mechs(&[CKM_SHA256_HMAC]),
            run: hmac_sha256_known_answer,
        },
        Check {
            id: "secret-keys.aes-key-wrap-known-answer",
            chapter: C,
            title: "CKM_AES_KEY_WRAP: C_WrapKey gives RFC 3394 §4.1, C_UnwrapKey gives back the key value",
            spec: "curr v3.0 AES Key Wrap (RFC 3394); base v3.0 §5.18 C_WrapKey, C_UnwrapKey (v2.40 §5.13)",
            needs: Needs::NONE.login().mechs(&[CKM_AES_KEY_WRAP]),
            run: aes_key_wrap_known_answer,
        },
        Check {
            id: "secret-keys.wrap-unextractable",
            chapter: C,
            title: "C_WrapKey of a key with CKA_EXTRACTABLE false → CKR_KEY_UNEXTRACTABLE",
            spec: "base v3.0 §5.18 C_WrapKey (v2.40 §5.13); §4.10 secret key objects (CKA_EXTRACTABLE)",
            needs: Needs::NONE.login().mechs(&[CKM_AES_KEY_WRAP]),
            run: wrap_unextractable,
        },
        Check {
            id: "secret-keys.wrap-not-permitted",
            chapter: C,
            title: "C_WrapKey with a wrapping key whose CKA_WRAP is false → CKR_KEY_FUNCTION_NOT_PERMITTED",
            spec: "base v3.0 §5.18 C_WrapKey (v2.40 §5.13); §4.10 secret key objects (CKA_WRAP)",
            needs: Needs::NONE.login().mechs(&[CKM_AES_KEY_WRAP]),
            run: wrap_not_permitted,
        },
        Check {
            id: "secret-keys.wrap-with-trusted",
            chapter: C,
            title: "a key with CKA_WRAP_WITH_TRUSTED wraps only under a CKA_TRUSTED key (the SO makes one): an untrusted KEK → CKR_KEY_NOT_WRAPPABLE",
            spec: "base v3.0 §4.10 secret key objects (CKA_WRAP_WITH_TRUSTED; CKA_TRUSTED set by the SO only), §5.18 C_WrapKey (v2.40 §5.13)",
            // It writes a token object (removed at the end) as the SO.
            needs: Needs::NONE
                .login()
                .so()
                .destructive()
                .mechs(&[CKM_AES_KEY_WRAP]),
            run: wrap_with_trusted,
        },
        Check {
            id: "secret-keys.ecdh-both-sides-agree",
            chapter: C,
            title: "CKM_ECDH1_DERIVE (CKD_NULL, P-256): each side derives from its private key and the other's point the same secret",
            spec: "curr v3.0 Elliptic curve Diffie-Hellman key derivation (CK_ECDH1_DERIVE_PARAMS); base v3.0 §5.18 C_DeriveKey (v2.40 §5.13)",
            needs: Needs::NONE
                .login()
                .mechs(&[CKM_EC_KEY_PAIR_GEN, CKM_ECDH1_DERIVE]),
            run: ecdh_both_sides_agree,
        },
    ]
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("the check's constants are hex")
}

fn label(name: &str) -> String {
    format!("{LABEL_PREFIX}-{name}")
}

/// Imports a private session secret key of `key_type` with `value` and the
/// `extra` attributes (which say what the key may do).
fn import(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    key_type: CK_KEY_TYPE,
    value: &[u8],
    extra: Template,
) -> Result<CK_OBJECT_HANDLE, Stop> {
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, key_type)
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .text(CKA_LABEL, &label("secret"))
        .bytes(CKA_VALUE, value)
        .extend(extra);
    let (rv, h) = ctx.p11.create_object(s, &t);
    ok("C_CreateObject(CKO_SECRET_KEY)", rv)?;
    Ok(h)
}

/// An AES key that encrypts and decrypts.
fn aes_cipher_key(ctx: &Ctx, s: CK_SESSION_HANDLE, value: &[u8]) -> Result<CK_OBJECT_HANDLE, Stop> {
    import(
        ctx,
        s,
        CKK_AES,
        value,
        Template::new()
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true),
    )
}

fn encrypt(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    m: &Mech,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Result<Vec<u8>, Stop> {
    ok("C_EncryptInit", ctx.p11.encrypt_init(s, m, key))?;
    let r = ctx.p11.encrypt(s, data, Out::Buf(data.len() + 64));
    ok("C_Encrypt", r.rv)?;
    Ok(r.data)
}

fn decrypt(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    m: &Mech,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Result<Vec<u8>, Stop> {
    ok("C_DecryptInit", ctx.p11.decrypt_init(s, m, key))?;
    let r = ctx.p11.decrypt(s, data, Out::Buf(data.len() + 64));
    ok("C_Decrypt", r.rv)?;
    Ok(r.data)
}

/// `got` must equal the known answer `want`.
fn expect_bytes(what: &str, got: &[u8], want: &[u8]) -> Result<(), Stop> {
    ensure(got == want, || {
        format!(
            "{what} gave {}, the known answer is {}",
            hex::encode(got),
            hex::encode(want)
        )
    })
}

/// Encrypts and decrypts the SP 800-38A plaintext with `m` and compares.
fn aes_known_answer(ctx: &mut Ctx, m: &Mech, cipher: &str) -> CheckResult {
    let s = ctx.user_session()?;
    let key = aes_cipher_key(ctx, s, &hex(SP800_38A_KEY))?;
    let plain = hex(SP800_38A_PLAIN);
    let c = encrypt(ctx, s, m, key, &plain)?;
    expect_bytes("C_Encrypt", &c, &hex(cipher))?;
    let p = decrypt(ctx, s, m, key, &c)?;
    expect_bytes("C_Decrypt", &p, &plain)?;
    Ok(None)
}

fn aes_cbc_known_answer(ctx: &mut Ctx) -> CheckResult {
    aes_known_answer(
        ctx,
        &Mech::with_bytes(CKM_AES_CBC, &hex(CBC_IV)),
        CBC_CIPHER,
    )
}

fn aes_ctr_known_answer(ctx: &mut Ctx) -> CheckResult {
    let mut cb = [0u8; 16];
    cb.copy_from_slice(&hex(CTR_BLOCK));
    aes_known_answer(ctx, &Mech::aes_ctr(128, cb), CTR_CIPHER)
}

fn aes_gcm_known_answer(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let key = aes_cipher_key(ctx, s, &hex(GCM_KEY))?;
    let m = Mech::aes_gcm(&hex(GCM_IV), &hex(GCM_AAD), 128);
    let plain = hex(GCM_PLAIN);
    let c = encrypt(ctx, s, &m, key, &plain)?;
    let mut want = hex(GCM_CIPHER);
    want.extend(hex(GCM_TAG));
    expect_bytes("C_Encrypt (ciphertext ‖ tag)", &c, &want)?;
    let p = decrypt(ctx, s, &m, key, &c)?;
    expect_bytes("C_Decrypt", &p, &plain)?;
    Ok(None)
}

fn aes_multipart_equals_single(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let key = aes_cipher_key(ctx, s, &hex(SP800_38A_KEY))?;
    let m = Mech::with_bytes(CKM_AES_CBC, &hex(CBC_IV));
    let plain = hex(SP800_38A_PLAIN);
    let single = encrypt(ctx, s, &m, key, &plain)?;
    // Parts that cut blocks: 5, 27, then the last 32 bytes.
    let cuts = [0, 5, 32, plain.len()];
    ok("C_EncryptInit", ctx.p11.encrypt_init(s, &m, key))?;
    let mut multi = Vec::new();
    for w in cuts.windows(2) {
        let r = ctx
            .p11
            .encrypt_update(s, &plain[w[0]..w[1]], Out::Buf(plain.len() + 16));
        ok("C_EncryptUpdate", r.rv)?;
        multi.extend(r.data);
    }
    let r = ctx.p11.encrypt_final(s, Out::Buf(64));
    ok("C_EncryptFinal", r.rv)?;
    multi.extend(r.data);
    expect_bytes("C_EncryptUpdate…C_EncryptFinal", &multi, &single)?;
    ok("C_DecryptInit", ctx.p11.decrypt_init(s, &m, key))?;
    let mut back = Vec::new();
    for w in cuts.windows(2) {
        let r = ctx
            .p11
            .decrypt_update(s, &single[w[0]..w[1]], Out::Buf(single.len() + 16));
        ok("C_DecryptUpdate", r.rv)?;
        back.extend(r.data);
    }
    let r = ctx.p11.decrypt_final(s, Out::Buf(64));
    ok("C_DecryptFinal", r.rv)?;
    back.extend(r.data);
    expect_bytes("C_DecryptUpdate…C_DecryptFinal", &back, &plain)?;
    Ok(None)
}

fn aes_ecb_partial_block(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let key = aes_cipher_key(ctx, s, &hex(SP800_38A_KEY))?;
    ok(
        "C_EncryptInit(CKM_AES_ECB)",
        ctx.p11.encrypt_init(s, &Mech::new(CKM_AES_ECB), key),
    )?;
    expect_rv(
        "C_Encrypt(CKM_AES_ECB, 17 bytes)",
        ctx.p11.encrypt(s, &[0x5a; 17], Out::Buf(64)).rv,
        CKR_DATA_LEN_RANGE,
    )?;
    Ok(None)
}

fn aes_check_value(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let key = aes_cipher_key(ctx, s, &hex(SP800_38A_KEY))?;
    let kcv = ctx
        .p11
        .attribute(s, key, CKA_CHECK_VALUE)
        .map_err(|rv| Stop::Fail {
            message: format!(
                "C_GetAttributeValue(CKA_CHECK_VALUE) returned {}, expected CKR_OK",
                rv_name(rv)
            ),
            rv: Some(rv),
        })?;
    expect_bytes("CKA_CHECK_VALUE", &kcv, &hex(SP800_38A_KEY_ZERO_BLOCK)[..3])?;
    Ok(None)
}

fn hmac_sha256_known_answer(ctx: &mut Ctx) -> CheckResult {
    // The first RFC 4231 case whose key length the token's declared range
    // (C_GetMechanismInfo, in bytes) admits: a token may refuse other sizes
    // with CKR_KEY_SIZE_RANGE.
    let (rv, info) = ctx.p11.mechanism_info(ctx.slot, CKM_SHA256_HMAC);
    ok("C_GetMechanismInfo(CKM_SHA256_HMAC)", rv)?;
    let range = info.ulMinKeySize..=info.ulMaxKeySize;
    let Some(&(case, key_value, data, mac)) = HMAC_CASES
        .iter()
        .find(|c| range.contains(&(c.1.len() as CK_ULONG)))
    else {
        return Err(skip(format!(
            "the token's CKM_SHA256_HMAC key sizes ({}–{} bytes) admit no RFC 4231 case key (4 or 131 bytes)",
            info.ulMinKeySize, info.ulMaxKeySize
        )));
    };
    let s = ctx.user_session()?;
    let key = import(
        ctx,
        s,
        CKK_GENERIC_SECRET,
        key_value,
        Template::new().bool(CKA_SIGN, true).bool(CKA_VERIFY, true),
    )?;
    let m = Mech::new(CKM_SHA256_HMAC);
    let want = hex(mac);
    ok("C_SignInit", ctx.p11.sign_init(s, &m, key))?;
    let one = ctx.p11.sign(s, data, Out::Buf(64));
    ok("C_Sign", one.rv)?;
    expect_bytes("C_Sign", &one.data, &want)?;
    ok("C_SignInit", ctx.p11.sign_init(s, &m, key))?;
    ok("C_SignUpdate", ctx.p11.sign_update(s, &data[..9]))?;
    ok("C_SignUpdate", ctx.p11.sign_update(s, &data[9..]))?;
    let multi = ctx.p11.sign_final(s, Out::Buf(64));
    ok("C_SignFinal", multi.rv)?;
    expect_bytes("C_SignUpdate…C_SignFinal", &multi.data, &want)?;
    ok("C_VerifyInit", ctx.p11.verify_init(s, &m, key))?;
    ok("C_Verify of the known MAC", ctx.p11.verify(s, data, &want))?;
    let mut wrong = want.clone();
    wrong[7] ^= 0x01;
    ok("C_VerifyInit", ctx.p11.verify_init(s, &m, key))?;
    expect_rv(
        "C_Verify of a changed MAC",
        ctx.p11.verify(s, data, &wrong),
        CKR_SIGNATURE_INVALID,
    )?;
    Ok(Some(format!("RFC 4231 case {case}")))
}

/// A session AES key-encryption key with CKA_WRAP and CKA_UNWRAP as given.
fn kek(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    value: &[u8],
    wrap: bool,
) -> Result<CK_OBJECT_HANDLE, Stop> {
    import(
        ctx,
        s,
        CKK_AES,
        value,
        Template::new().bool(CKA_WRAP, wrap).bool(CKA_UNWRAP, wrap),
    )
}

/// An AES key to be wrapped, CKA_EXTRACTABLE as given.
fn payload(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    extractable: bool,
    extra: Template,
) -> Result<CK_OBJECT_HANDLE, Stop> {
    import(
        ctx,
        s,
        CKK_AES,
        &hex(KW_KEY),
        Template::new()
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, extractable)
            .bool(CKA_ENCRYPT, true)
            .extend(extra),
    )
}

fn wrap(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    kek: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
) -> (CK_RV, Vec<u8>) {
    let r = ctx
        .p11
        .wrap_key(s, &Mech::new(CKM_AES_KEY_WRAP), kek, key, Out::Buf(256));
    (r.rv, r.data)
}

fn aes_key_wrap_known_answer(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let w = kek(ctx, s, &hex(KW_KEK), true)?;
    let k = payload(ctx, s, true, Template::new())?;
    let (rv, wrapped) = wrap(ctx, s, w, k);
    ok("C_WrapKey(CKM_AES_KEY_WRAP)", rv)?;
    expect_bytes("C_WrapKey(CKM_AES_KEY_WRAP)", &wrapped, &hex(KW_WRAPPED))?;
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
        .bool(CKA_ENCRYPT, true)
        .text(CKA_LABEL, &label("unwrapped"));
    let (rv, h) = ctx
        .p11
        .unwrap_key(s, &Mech::new(CKM_AES_KEY_WRAP), w, &hex(KW_WRAPPED), &t);
    ok("C_UnwrapKey(CKM_AES_KEY_WRAP)", rv)?;
    let value = ctx
        .p11
        .attribute(s, h, CKA_VALUE)
        .map_err(|rv| Stop::Fail {
            message: format!(
                "C_GetAttributeValue(CKA_VALUE) of the unwrapped, non-sensitive key returned {}",
                rv_name(rv)
            ),
            rv: Some(rv),
        })?;
    expect_bytes("the unwrapped key's CKA_VALUE", &value, &hex(KW_KEY))?;
    Ok(None)
}

fn wrap_unextractable(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let w = kek(ctx, s, &hex(KW_KEK), true)?;
    let k = payload(ctx, s, false, Template::new())?;
    expect_rv(
        "C_WrapKey of a key with CKA_EXTRACTABLE false",
        wrap(ctx, s, w, k).0,
        CKR_KEY_UNEXTRACTABLE,
    )?;
    Ok(None)
}

fn wrap_not_permitted(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let w = kek(ctx, s, &hex(KW_KEK), false)?;
    let k = payload(ctx, s, true, Template::new())?;
    expect_rv(
        "C_WrapKey with a wrapping key whose CKA_WRAP is false",
        wrap(ctx, s, w, k).0,
        CKR_KEY_FUNCTION_NOT_PERMITTED,
    )?;
    Ok(None)
}

fn wrap_with_trusted(ctx: &mut Ctx) -> CheckResult {
    // The SO makes a public, trusted token KEK: only the SO may set
    // CKA_TRUSTED, and the SO cannot make private objects. The SO's session
    // stays open (logged out) while the user works: a module may renumber
    // token objects once its last session closes.
    let so_pin = ctx.so_pin()?;
    let so = ctx.open(true)?;
    ok("C_Login(CKU_SO)", ctx.p11.login(so, CKU_SO, Some(&so_pin)))?;
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_TOKEN, true)
        .bool(CKA_PRIVATE, false)
        .text(CKA_LABEL, &label(TRUSTED_KEK))
        .bytes(CKA_VALUE, &hex(KW_KEK))
        .bool(CKA_WRAP, true)
        .bool(CKA_UNWRAP, true)
        .bool(CKA_TRUSTED, true);
    let (rv, trusted) = ctx.p11.create_object(so, &t);
    ok("C_CreateObject(CKA_TRUSTED true) as the SO", rv)?;
    ok("C_Logout(SO)", ctx.p11.logout(so))?;
    let outcome = wrap_with_trusted_as_user(ctx, trusted);
    // The token object outlives the sessions: remove it whatever happened.
    ctx.cleanup();
    let removed = remove_trusted_keks(ctx, &so_pin);
    let note = outcome?;
    removed?;
    Ok(note)
}

/// Label (after the prefix) of the token KEK `wrap_with_trusted` makes.
const TRUSTED_KEK: &str = "trusted-kek";

/// Destroys, as the SO, every token object labelled as the trusted KEK.
fn remove_trusted_keks(ctx: &Ctx, so_pin: &[u8]) -> Result<(), Stop> {
    let s = ctx.open(true)?;
    ok("C_Login(CKU_SO)", ctx.p11.login(s, CKU_SO, Some(so_pin)))?;
    let found = ctx
        .p11
        .find_all(
            s,
            &Template::new()
                .bool(CKA_TOKEN, true)
                .text(CKA_LABEL, &label(TRUSTED_KEK)),
        )
        .map_err(|rv| fail(format!("finding the trusted KEK returned {}", rv_name(rv))))?;
    for h in found {
        ok(
            "C_DestroyObject(the trusted KEK)",
            ctx.p11.destroy_object(s, h),
        )?;
    }
    ctx.cleanup();
    Ok(())
}

fn wrap_with_trusted_as_user(ctx: &Ctx, trusted: CK_OBJECT_HANDLE) -> CheckResult {
    let s = ctx.user_session()?;
    let untrusted = kek(ctx, s, &hex(KW_KEK), true)?;
    let k = payload(
        ctx,
        s,
        true,
        Template::new().bool(CKA_WRAP_WITH_TRUSTED, true),
    )?;
    expect_rv(
        "C_WrapKey of a CKA_WRAP_WITH_TRUSTED key under an untrusted KEK",
        wrap(ctx, s, untrusted, k).0,
        CKR_KEY_NOT_WRAPPABLE,
    )?;
    let (rv, wrapped) = wrap(ctx, s, trusted, k);
    ok(
        "C_WrapKey of a CKA_WRAP_WITH_TRUSTED key under the trusted KEK",
        rv,
    )?;
    expect_bytes(
        "C_WrapKey under the trusted KEK",
        &wrapped,
        &hex(KW_WRAPPED),
    )?;
    Ok(None)
}

/// A P-256 pair whose private key may derive.
fn ecdh_pair(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), Stop> {
    let public = Template::new()
        .bool(CKA_TOKEN, false)
        .bytes(CKA_EC_PARAMS, P256_DER)
        .text(CKA_LABEL, &label("ecdh"));
    let private = Template::new()
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_DERIVE, true)
        .text(CKA_LABEL, &label("ecdh"));
    let (rv, public, private) =
        ctx.p11
            .generate_key_pair(s, &Mech::new(CKM_EC_KEY_PAIR_GEN), &public, &private);
    ok("C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, P-256)", rv)?;
    Ok((public, private))
}

/// The uncompressed point of a P-256 public key: CKA_EC_POINT is a DER
/// OCTET STRING around it (curr v3.0, EC public key objects).
fn ec_point(ctx: &Ctx, s: CK_SESSION_HANDLE, public: CK_OBJECT_HANDLE) -> Result<Vec<u8>, Stop> {
    let der = ctx.p11.attribute(s, public, CKA_EC_POINT).map_err(|rv| {
        fail(format!(
            "C_GetAttributeValue(CKA_EC_POINT) returned {}",
            rv_name(rv)
        ))
    })?;
    match der.as_slice() {
        [0x04, 0x41, point @ ..] if point.len() == 65 && point[0] == 0x04 => Ok(point.to_vec()),
        _ => Err(fail(format!(
            "CKA_EC_POINT {} is not a DER OCTET STRING around an uncompressed P-256 point",
            hex::encode(&der)
        ))),
    }
}

fn ecdh_both_sides_agree(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let (a_pub, a_priv) = ecdh_pair(ctx, s)?;
    let (b_pub, b_priv) = ecdh_pair(ctx, s)?;
    let a_point = ec_point(ctx, s, a_pub)?;
    let b_point = ec_point(ctx, s, b_pub)?;
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
        .ulong(CKA_VALUE_LEN, 32)
        .text(CKA_LABEL, &label("ecdh-secret"));
    let mut secrets = Vec::new();
    for (side, private, other) in [("A", a_priv, &b_point), ("B", b_priv, &a_point)] {
        let (rv, h) = ctx
            .p11
            .derive_key(s, &Mech::ecdh1(CKD_NULL, other), private, &t);
        ok(&format!("C_DeriveKey(CKM_ECDH1_DERIVE, side {side})"), rv)?;
        let v = ctx
            .p11
            .attribute(s, h, CKA_VALUE)
            .map_err(|rv| Stop::Fail {
                message: format!(
                "C_GetAttributeValue(CKA_VALUE) of side {side}'s non-sensitive secret returned {}",
                rv_name(rv)
            ),
                rv: Some(rv),
            })?;
        secrets.push(v);
    }
    ensure(secrets[0].len() == 32, || {
        format!(
            "the derived secret has {} bytes, CKA_VALUE_LEN asked for 32",
            secrets[0].len()
        )
    })?;
    ensure(secrets[0] == secrets[1], || {
        "the two sides derived different secrets".into()
    })?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ctr_parameter_lays_out_the_counter_block_as_given() {
        let mut cb = [0u8; 16];
        cb.copy_from_slice(&hex(CTR_BLOCK));
        let m = Mech::aes_ctr(128, cb);
        assert_eq!(m.words[0], 128);
        let laid: Vec<u8> = m.words[1..].iter().flat_map(|w| w.to_ne_bytes()).collect();
        assert_eq!(laid, cb);
    }

    #[test]
    fn the_gcm_parameter_points_at_iv_and_aad() {
        let m = Mech::aes_gcm(&hex(GCM_IV), &hex(GCM_AAD), 128);
        assert_eq!(m.words[1..3], [12, 96]);
        assert_eq!(m.words[4..], [20, 128]);
        assert_eq!(
            m.buffers,
            vec![(0, hex(GCM_IV)), (3, hex(GCM_AAD))],
            "pIv is word 0, pAAD word 3"
        );
    }
}
