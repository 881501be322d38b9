//! Per-mechanism correctness: known-answer tests where the mechanism is
//! deterministic (digests, RSA PKCS#1 v1.5 signatures, GOST signature
//! verification with the standard's and CryptoPro's vectors), round trips
//! otherwise (RSA PSS and encryption, ECDSA, GOST signing). Mechanism
//! sections are those of the PKCS#11 Current Mechanisms Specification
//! (v2.40 and v3.0), named by title; the GOST 2012 mechanisms are the TC26
//! vendor extension.

use cryptoki_sys::*;
use tokenemu_core::names::mechanism_name;
use tokenemu_core::vendor::{
    CKK_GOSTR3410_512, CKM_GOSTR3410_512, CKM_GOSTR3410_512_KEY_PAIR_GEN,
    CKM_GOSTR3410_WITH_GOSTR3411_12_256, CKM_GOSTR3410_WITH_GOSTR3411_12_512, CKM_GOSTR3411_12_256,
    CKM_GOSTR3411_12_512,
};

use crate::conformance::check::{
    ensure, expect_rv, fail, ok, skip, Chapter, Check, CheckResult, Ctx, Needs, Stop,
};
use crate::p11::client::{Mech, Out, Template};

use super::keys::{ec_pair, gost_pair, rsa_pair, Pair};

const C: Chapter = Chapter::Mechanisms;

/// GOST R 34.10-2012 Appendix A.1 (= RFC 7091 §7.1), as transcribed and
/// cross-checked in the GOST crate's test vectors.
const GOST_A1: &str =
    include_str!("../../../../emulator/gost/tests/vectors/gost_r_34_10_2012_a1.txt");
/// GOST R 34.10-2012 Appendix A.2 (= RFC 7091 §7.2).
const GOST_A2: &str =
    include_str!("../../../../emulator/gost/tests/vectors/gost_r_34_10_2012_a2.txt");
/// CryptoPro's interoperability vectors (gost-engine test_params.c).
const CRYPTOPRO_INTEROP: &str =
    include_str!("../../../../emulator/gost/tests/vectors/cryptopro_interop.txt");
/// The repository's RSA-2048 test key (fixtures/keys), for the PKCS#1 v1.5
/// known-answer test.
const RSA_TEST_KEY: &str = include_str!("../../../../fixtures/keys/test-rsa-2048.pem");

/// Digest known answers: (mechanism, message, digest, source).
const DIGEST_KATS: &[(CK_MECHANISM_TYPE, &[u8], &str)] = &[
    // FIPS 180-2 Appendix A/B/C and FIPS 180-4 examples, message "abc".
    (CKM_SHA_1, b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
    (CKM_SHA224, b"abc", "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
    (CKM_SHA256, b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (
        CKM_SHA384,
        b"abc",
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    ),
    (
        CKM_SHA512,
        b"abc",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ),
    // RFC 6986 §10.1 M1 (63 ASCII digits), output bytes as OpenSSL prints
    // them (shared/reference/gost.md §2).
    (
        CKM_GOSTR3411_12_256,
        b"012345678901234567890123456789012345678901234567890123456789012",
        "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500",
    ),
    (
        CKM_GOSTR3411_12_512,
        b"012345678901234567890123456789012345678901234567890123456789012",
        "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
    ),
    // GOST R 34.11-94, CryptoPro S-box, empty message (RustCrypto gost94
    // tests; emulator/crypto/tests/hash.rs).
    (
        CKM_GOSTR3411,
        b"",
        "981e5f3ca30c841487830f84fb433e13ac1101569b9c13584ac483234cd656c0",
    ),
];

macro_rules! digest_check {
    ($id:literal, $m:expr, $title:literal, $spec:literal) => {
        Check {
            id: $id,
            chapter: C,
            title: $title,
            spec: $spec,
            needs: Needs::NONE.mechs(&[$m]),
            run: |ctx| digest_kat(ctx, $m),
        }
    };
}

/// The checks of this chapter.
pub fn checks() -> Vec<Check> {
    vec![
        digest_check!("mechanisms.sha1-kat", CKM_SHA_1, "CKM_SHA_1 known answer (\"abc\", FIPS 180), single- and multi-part", "curr v2.40 / v3.0 'SHA-1'; FIPS 180-4"),
        digest_check!("mechanisms.sha224-kat", CKM_SHA224, "CKM_SHA224 known answer (\"abc\"), single- and multi-part", "curr v2.40 / v3.0 'SHA-224'; FIPS 180-4"),
        digest_check!("mechanisms.sha256-kat", CKM_SHA256, "CKM_SHA256 known answer (\"abc\"), single- and multi-part", "curr v2.40 / v3.0 'SHA-256'; FIPS 180-4"),
        digest_check!("mechanisms.sha384-kat", CKM_SHA384, "CKM_SHA384 known answer (\"abc\"), single- and multi-part", "curr v2.40 / v3.0 'SHA-384'; FIPS 180-4"),
        digest_check!("mechanisms.sha512-kat", CKM_SHA512, "CKM_SHA512 known answer (\"abc\"), single- and multi-part", "curr v2.40 / v3.0 'SHA-512'; FIPS 180-4"),
        digest_check!("mechanisms.streebog256-kat", CKM_GOSTR3411_12_256, "CKM_GOSTR3411_12_256 (Streebog-256) known answer, RFC 6986 M1", "TC26 PKCS#11 extension CKM_GOSTR3411_12_256; GOST R 34.11-2012 / RFC 6986 §10"),
        digest_check!("mechanisms.streebog512-kat", CKM_GOSTR3411_12_512, "CKM_GOSTR3411_12_512 (Streebog-512) known answer, RFC 6986 M1", "TC26 PKCS#11 extension CKM_GOSTR3411_12_512; GOST R 34.11-2012 / RFC 6986 §10"),
        digest_check!("mechanisms.gostr3411-94-kat", CKM_GOSTR3411, "CKM_GOSTR3411 (GOST R 34.11-94, CryptoPro parameters) known answer, empty message", "curr v2.40 / v3.0 'GOST R 34.11-94'"),
        Check {
            id: "mechanisms.rsa-pkcs1-kat",
            chapter: C,
            title: "RSA PKCS#1 v1.5 with SHA-256: signature of an imported key equals the RFC 8017 value; C_Verify accepts it",
            spec: "curr v2.40 / v3.0 'PKCS #1 v1.5 RSA signature with … SHA-256'; RFC 8017 §8.2",
            needs: Needs::NONE.login().mechs(&[CKM_SHA256_RSA_PKCS]),
            run: rsa_pkcs1_kat,
        },
        Check {
            id: "mechanisms.rsa-pkcs-roundtrip",
            chapter: C,
            title: "RSA sign/verify round trip for every listed CKM_RSA_PKCS and CKM_SHA*_RSA_PKCS; a changed message → CKR_SIGNATURE_INVALID",
            spec: "curr v2.40 / v3.0 'PKCS #1 v1.5 RSA', 'PKCS #1 v1.5 RSA signature with …'",
            needs: Needs::NONE.login().mechs(&[CKM_RSA_PKCS_KEY_PAIR_GEN]),
            run: rsa_pkcs_roundtrip,
        },
        Check {
            id: "mechanisms.rsa-pss-roundtrip",
            chapter: C,
            title: "RSA PSS (CKM_SHA256_RSA_PKCS_PSS, MGF1-SHA-256, 32-byte salt) sign/verify round trip",
            spec: "curr v2.40 / v3.0 'PKCS #1 RSA PSS', CK_RSA_PKCS_PSS_PARAMS",
            needs: Needs::NONE.login().mechs(&[CKM_SHA256_RSA_PKCS_PSS, CKM_RSA_PKCS_KEY_PAIR_GEN]),
            run: rsa_pss_roundtrip,
        },
        Check {
            id: "mechanisms.rsa-encrypt-roundtrip",
            chapter: C,
            title: "RSA encryption round trip: CKM_RSA_PKCS and CKM_RSA_PKCS_OAEP (SHA-1, MGF1-SHA-1) where listed",
            spec: "curr v2.40 / v3.0 'PKCS #1 v1.5 RSA', 'PKCS #1 RSA OAEP'",
            needs: Needs::NONE.login().mechs(&[CKM_RSA_PKCS, CKM_RSA_PKCS_KEY_PAIR_GEN]),
            run: rsa_encrypt_roundtrip,
        },
        Check {
            id: "mechanisms.ecdsa-roundtrip",
            chapter: C,
            title: "ECDSA P-256: CKM_ECDSA over a 32-byte hash and every listed CKM_ECDSA_SHA*: 64-byte signatures that verify; tampering → CKR_SIGNATURE_INVALID",
            spec: "curr v2.40 / v3.0 'Elliptic Curve': 'ECDSA without hashing', 'ECDSA with hashing'",
            needs: Needs::NONE.login().mechs(&[CKM_EC_KEY_PAIR_GEN, CKM_ECDSA]),
            run: ecdsa_roundtrip,
        },
        Check {
            id: "mechanisms.ecdsa-p256-kat-verify",
            chapter: C,
            title: "ECDSA P-256 verifies the RFC 6979 A.2.5 signature of \"sample\" (SHA-256): CKM_ECDSA over the hash and CKM_ECDSA_SHA256 over the message",
            spec: "curr v2.40 / v3.0 'Elliptic Curve': 'ECDSA without hashing', 'ECDSA with hashing' (signature r‖s, CKA_EC_POINT DER ECPoint); RFC 6979 A.2.5",
            needs: Needs::NONE.mechs(&[CKM_ECDSA]),
            run: ecdsa_p256_kat_verify,
        },
        Check {
            id: "mechanisms.gost-a1-verify",
            chapter: C,
            title: "CKM_GOSTR3410 verifies the GOST R 34.10-2012 Appendix A.1 signature (256-bit, test curve); a changed digest → CKR_SIGNATURE_INVALID",
            spec: "curr v2.40 / v3.0 'GOST R 34.10-2001' (CKM_GOSTR3410; s‖r big-endian, CKA_VALUE X‖Y little-endian); GOST R 34.10-2012 App. A.1",
            needs: Needs::NONE.mechs(&[CKM_GOSTR3410]),
            run: gost_a1_verify,
        },
        Check {
            id: "mechanisms.gost-a2-verify",
            chapter: C,
            title: "CKM_GOSTR3410_512 verifies the GOST R 34.10-2012 Appendix A.2 signature (512-bit, test curve)",
            spec: "TC26 PKCS#11 extension CKM_GOSTR3410_512; GOST R 34.10-2012 App. A.2",
            needs: Needs::NONE.mechs(&[CKM_GOSTR3410_512]),
            run: gost_a2_verify,
        },
        Check {
            id: "mechanisms.gost-cryptopro-vectors",
            chapter: C,
            title: "CKM_GOSTR3410_WITH_GOSTR3411_12_256/512 verify CryptoPro's signatures on CryptoPro-A/B/C, tc26-256-A, tc26-512-A/B/C",
            spec: "TC26 PKCS#11 extension CKM_GOSTR3410_WITH_GOSTR3411_12_256/_512; vectors: gost-engine test_params.c (CryptoPro)",
            needs: Needs::NONE.mechs(&[CKM_GOSTR3410_WITH_GOSTR3411_12_256]),
            run: gost_cryptopro_vectors,
        },
        Check {
            id: "mechanisms.gost2012-256-roundtrip",
            chapter: C,
            title: "GOST R 34.10-2012 256 (CryptoPro-A): generated key signs with CKM_GOSTR3410 and CKM_GOSTR3410_WITH_GOSTR3411_12_256; signatures verify on the token and with an independent GOST implementation",
            spec: "curr v2.40 / v3.0 'GOST R 34.10-2001' (key pair generation, CKM_GOSTR3410); TC26 extension for the Streebog variant",
            needs: Needs::NONE.login().mechs(&[CKM_GOSTR3410_KEY_PAIR_GEN, CKM_GOSTR3410]),
            run: gost256_roundtrip,
        },
        Check {
            id: "mechanisms.gost2012-512-roundtrip",
            chapter: C,
            title: "GOST R 34.10-2012 512 (tc26-512-A): CKM_GOSTR3410_512 and CKM_GOSTR3410_WITH_GOSTR3411_12_512 sign and verify, checked independently",
            spec: "TC26 PKCS#11 extension CKM_GOSTR3410_512_KEY_PAIR_GEN, CKM_GOSTR3410_512",
            needs: Needs::NONE.login().mechs(&[CKM_GOSTR3410_512_KEY_PAIR_GEN, CKM_GOSTR3410_512]),
            run: gost512_roundtrip,
        },
        Check {
            id: "mechanisms.gost2001-roundtrip",
            chapter: C,
            title: "GOST R 34.10-2001 with GOST R 34.11-94 (CKM_GOSTR3410_WITH_GOSTR3411) sign/verify round trip",
            spec: "curr v2.40 / v3.0 'GOST R 34.10-2001' CKM_GOSTR3410_WITH_GOSTR3411",
            needs: Needs::NONE.login().mechs(&[CKM_GOSTR3410_KEY_PAIR_GEN, CKM_GOSTR3410_WITH_GOSTR3411]),
            run: gost2001_roundtrip,
        },
    ]
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim()).unwrap_or_default()
}

fn digest_kat(ctx: &mut Ctx, m: CK_MECHANISM_TYPE) -> CheckResult {
    let (_, msg, want) = DIGEST_KATS
        .iter()
        .find(|(k, _, _)| *k == m)
        .ok_or_else(|| fail("no known answer for this mechanism (harness bug)"))?;
    let want = unhex(want);
    let s = ctx.open(false)?;
    let mech = Mech::new(m);
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&mech)))?;
    let d = ctx.p11.digest(s, msg, Out::Buf(64));
    ok("C_Digest", d.rv)?;
    ensure(d.data == want, || {
        format!(
            "{} gave {}, expected {}",
            mechanism_name(m),
            hex::encode(&d.data),
            hex::encode(&want)
        )
    })?;
    ok("C_DigestInit", ctx.p11.digest_init(s, Some(&mech)))?;
    for chunk in msg.chunks(7) {
        ok("C_DigestUpdate", ctx.p11.digest_update(s, chunk))?;
    }
    let f = ctx.p11.digest_final(s, Out::Buf(64));
    ok("C_DigestFinal", f.rv)?;
    ensure(f.data == want, || {
        format!(
            "multi-part {} gave {}",
            mechanism_name(m),
            hex::encode(&f.data)
        )
    })?;
    Ok(None)
}

fn sign_verify(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    m: &Mech,
    pair: Pair,
    data: &[u8],
) -> Result<Vec<u8>, Stop> {
    let name = mechanism_name(m.ty);
    ok(
        &format!("C_SignInit({name})"),
        ctx.p11.sign_init(s, m, pair.private),
    )?;
    let sig = ctx.p11.sign(s, data, Out::Buf(1024));
    ok(&format!("C_Sign({name})"), sig.rv)?;
    ok(
        &format!("C_VerifyInit({name})"),
        ctx.p11.verify_init(s, m, pair.public),
    )?;
    ok(
        &format!("C_Verify({name})"),
        ctx.p11.verify(s, data, &sig.data),
    )?;
    let mut other = data.to_vec();
    other[0] ^= 0x80;
    ok(
        &format!("C_VerifyInit({name})"),
        ctx.p11.verify_init(s, m, pair.public),
    )?;
    expect_rv(
        &format!("C_Verify({name}, changed data)"),
        ctx.p11.verify(s, &other, &sig.data),
        CKR_SIGNATURE_INVALID,
    )?;
    Ok(sig.data)
}

fn rsa_pkcs1_kat(ctx: &mut Ctx) -> CheckResult {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    use sha2::Digest;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(RSA_TEST_KEY)
        .map_err(|e| fail(format!("fixtures/keys/test-rsa-2048.pem: {e}")))?;
    let msg = b"tokenemu conformance: RSA PKCS#1 v1.5 known answer";
    let want = key
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(msg),
        )
        .map_err(|e| fail(format!("reference signature: {e}")))?;
    let primes = key.primes();
    let (dp, dq, qinv) = match (key.dp(), key.dq(), key.crt_coefficient()) {
        (Some(dp), Some(dq), Some(qi)) => (dp.to_bytes_be(), dq.to_bytes_be(), qi.to_bytes_be()),
        _ => return Err(fail("the test key has no CRT values")),
    };
    let s = ctx.user_session()?;
    let private = Template::new()
        .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_SIGN, true)
        .text(CKA_LABEL, "tokenemu-conformance-rsa-kat")
        .bytes(CKA_MODULUS, &key.n().to_bytes_be())
        .bytes(CKA_PUBLIC_EXPONENT, &key.e().to_bytes_be())
        .bytes(CKA_PRIVATE_EXPONENT, &key.d().to_bytes_be())
        .bytes(CKA_PRIME_1, &primes[0].to_bytes_be())
        .bytes(CKA_PRIME_2, &primes[1].to_bytes_be())
        .bytes(CKA_EXPONENT_1, &dp)
        .bytes(CKA_EXPONENT_2, &dq)
        .bytes(CKA_COEFFICIENT, &qinv);
    let (rv, hk) = ctx.p11.create_object(s, &private);
    ok("C_CreateObject(RSA private key)", rv)?;
    let public = Template::new()
        .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
        .ulong(CKA_KEY_TYPE, CKK_RSA)
        .bool(CKA_TOKEN, false)
        .bool(CKA_VERIFY, true)
        .text(CKA_LABEL, "tokenemu-conformance-rsa-kat")
        .bytes(CKA_MODULUS, &key.n().to_bytes_be())
        .bytes(CKA_PUBLIC_EXPONENT, &key.e().to_bytes_be());
    let (rv, hp) = ctx.p11.create_object(s, &public);
    ok("C_CreateObject(RSA public key)", rv)?;
    let m = Mech::new(CKM_SHA256_RSA_PKCS);
    ok(
        "C_SignInit(CKM_SHA256_RSA_PKCS)",
        ctx.p11.sign_init(s, &m, hk),
    )?;
    let sig = ctx.p11.sign(s, msg, Out::Buf(256));
    ok("C_Sign(CKM_SHA256_RSA_PKCS)", sig.rv)?;
    ensure(sig.data == want, || {
        "the signature differs from the RFC 8017 PKCS#1 v1.5 value".into()
    })?;
    ok(
        "C_VerifyInit(CKM_SHA256_RSA_PKCS)",
        ctx.p11.verify_init(s, &m, hp),
    )?;
    ok(
        "C_Verify(the reference signature)",
        ctx.p11.verify(s, msg, &want),
    )?;
    Ok(None)
}

fn rsa_pkcs_roundtrip(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pair = rsa_pair(ctx, s)?;
    let mut done = Vec::new();
    if ctx.has(CKM_RSA_PKCS) {
        // Raw PKCS#1 v1.5: the caller supplies the DigestInfo.
        let mut di = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        di.extend_from_slice(&[0x11; 32]);
        sign_verify(ctx, s, &Mech::new(CKM_RSA_PKCS), pair, &di)?;
        done.push("CKM_RSA_PKCS");
    }
    for (m, name) in [
        (CKM_SHA1_RSA_PKCS, "CKM_SHA1_RSA_PKCS"),
        (CKM_SHA224_RSA_PKCS, "CKM_SHA224_RSA_PKCS"),
        (CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS"),
        (CKM_SHA384_RSA_PKCS, "CKM_SHA384_RSA_PKCS"),
        (CKM_SHA512_RSA_PKCS, "CKM_SHA512_RSA_PKCS"),
    ] {
        if ctx.has(m) {
            sign_verify(ctx, s, &Mech::new(m), pair, b"round trip message")?;
            done.push(name);
        }
    }
    if done.is_empty() {
        return Err(skip(
            "the token lists no RSA PKCS#1 v1.5 signature mechanism",
        ));
    }
    Ok(Some(done.join(", ")))
}

fn rsa_pss_roundtrip(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pair = rsa_pair(ctx, s)?;
    let m = Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32);
    let a = sign_verify(ctx, s, &m, pair, b"pss message")?;
    let b = sign_verify(ctx, s, &m, pair, b"pss message")?;
    ensure(a != b, || {
        "two PSS signatures of the same message are equal: the salt is not random".into()
    })?;
    Ok(None)
}

fn rsa_encrypt_roundtrip(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pair = rsa_pair(ctx, s)?;
    let mut mechs = vec![Mech::new(CKM_RSA_PKCS)];
    if ctx.has(CKM_RSA_PKCS_OAEP) {
        mechs.push(Mech::oaep(CKM_SHA_1, CKG_MGF1_SHA1));
    }
    let secret = b"a secret of 24 bytes....";
    for m in &mechs {
        let name = mechanism_name(m.ty);
        ok(
            &format!("C_EncryptInit({name})"),
            ctx.p11.encrypt_init(s, m, pair.public),
        )?;
        let c = ctx.p11.encrypt(s, secret, Out::Buf(512));
        ok(&format!("C_Encrypt({name})"), c.rv)?;
        ok(
            &format!("C_DecryptInit({name})"),
            ctx.p11.decrypt_init(s, m, pair.private),
        )?;
        let p = ctx.p11.decrypt(s, &c.data, Out::Buf(512));
        ok(&format!("C_Decrypt({name})"), p.rv)?;
        ensure(p.data == secret, || {
            format!("{name}: the decrypted text differs")
        })?;
    }
    Ok(Some(
        mechs
            .iter()
            .map(|m| mechanism_name(m.ty))
            .collect::<Vec<_>>()
            .join(", "),
    ))
}

fn ecdsa_roundtrip(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pair = ec_pair(ctx, s)?;
    let sig = sign_verify(ctx, s, &Mech::new(CKM_ECDSA), pair, &[0x42; 32])?;
    ensure(sig.len() == 64, || {
        format!(
            "CKM_ECDSA on P-256 gave {} bytes, expected r‖s of 64",
            sig.len()
        )
    })?;
    let mut done = vec!["CKM_ECDSA"];
    for (m, name) in [
        (CKM_ECDSA_SHA1, "CKM_ECDSA_SHA1"),
        (CKM_ECDSA_SHA224, "CKM_ECDSA_SHA224"),
        (CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256"),
        (CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384"),
        (CKM_ECDSA_SHA512, "CKM_ECDSA_SHA512"),
    ] {
        if ctx.has(m) {
            let sig = sign_verify(ctx, s, &Mech::new(m), pair, b"ecdsa with hashing")?;
            ensure(sig.len() == 64, || {
                format!("{name} gave {} bytes, expected 64", sig.len())
            })?;
            done.push(name);
        }
    }
    Ok(Some(done.join(", ")))
}

/// RFC 6979 A.2.5: the P-256 public key U = xG and the deterministic
/// signature of "sample" with SHA-256 (checked against tokenemu-crypto in
/// the tests below).
const RFC6979_P256_UX: &str = "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6";
const RFC6979_P256_UY: &str = "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
const RFC6979_P256_SHA256_R: &str =
    "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716";
const RFC6979_P256_SHA256_S: &str =
    "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8";

fn ecdsa_p256_kat_verify(ctx: &mut Ctx) -> CheckResult {
    use sha2::Digest;
    let mut point = vec![0x04];
    point.extend(unhex(RFC6979_P256_UX));
    point.extend(unhex(RFC6979_P256_UY));
    let mut ec_point = vec![0x04, point.len() as u8];
    ec_point.extend(&point);
    let mut sig = unhex(RFC6979_P256_SHA256_R);
    sig.extend(unhex(RFC6979_P256_SHA256_S));
    let s = ctx.open(false)?;
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .bool(CKA_TOKEN, false)
        .bool(CKA_VERIFY, true)
        .text(CKA_LABEL, "tokenemu-conformance-rfc6979")
        .bytes(CKA_EC_PARAMS, super::keys::P256_DER)
        .bytes(CKA_EC_POINT, &ec_point);
    let (rv, h) = ctx.p11.create_object(s, &t);
    ok("C_CreateObject(EC P-256 public key, RFC 6979 A.2.5)", rv)?;
    let hash = sha2::Sha256::digest(b"sample");
    let m = Mech::new(CKM_ECDSA);
    ok("C_VerifyInit(CKM_ECDSA)", ctx.p11.verify_init(s, &m, h))?;
    ok(
        "C_Verify(CKM_ECDSA, SHA-256(\"sample\"))",
        ctx.p11.verify(s, &hash, &sig),
    )?;
    let mut other = sig.clone();
    other[40] ^= 0x10;
    ok("C_VerifyInit(CKM_ECDSA)", ctx.p11.verify_init(s, &m, h))?;
    expect_rv(
        "C_Verify(CKM_ECDSA, changed s)",
        ctx.p11.verify(s, &hash, &other),
        CKR_SIGNATURE_INVALID,
    )?;
    let mut done = vec!["CKM_ECDSA"];
    if ctx.has(CKM_ECDSA_SHA256) {
        let m = Mech::new(CKM_ECDSA_SHA256);
        ok(
            "C_VerifyInit(CKM_ECDSA_SHA256)",
            ctx.p11.verify_init(s, &m, h),
        )?;
        ok(
            "C_Verify(CKM_ECDSA_SHA256, \"sample\")",
            ctx.p11.verify(s, b"sample", &sig),
        )?;
        done.push("CKM_ECDSA_SHA256");
    }
    Ok(Some(done.join(", ")))
}

/// `key = value` pairs of a vector file section (`[name]` starts one).
fn sections(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = vec![(String::new(), Vec::new())];
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once('=') {
            if let Some(last) = out.last_mut() {
                last.1.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out.retain(|(_, kv)| !kv.is_empty());
    out
}

fn field<'a>(kv: &'a [(String, String)], key: &str) -> Result<&'a str, Stop> {
    kv.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| fail(format!("vector file has no `{key}` (harness bug)")))
}

/// DER of a dotted OID (the vector files give OIDs dotted).
pub fn oid_der(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').filter_map(|a| a.parse().ok()).collect();
    let mut body = Vec::new();
    if arcs.len() >= 2 {
        let mut push = |mut v: u64| {
            let mut tmp = vec![(v & 0x7f) as u8];
            v >>= 7;
            while v > 0 {
                tmp.push(0x80 | (v & 0x7f) as u8);
                v >>= 7;
            }
            tmp.reverse();
            body.extend(tmp);
        };
        push(arcs[0] * 40 + arcs[1]);
        for a in &arcs[2..] {
            push(*a);
        }
    }
    let mut der = vec![0x06, body.len() as u8];
    der.extend(body);
    der
}

fn rev(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

/// Creates a GOST public key session object.
fn gost_public(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    oid: &str,
    xy_le: &[u8],
) -> Result<CK_OBJECT_HANDLE, Stop> {
    let key_type = if xy_le.len() == 128 {
        CKK_GOSTR3410_512
    } else {
        CKK_GOSTR3410
    };
    let t = Template::new()
        .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
        .ulong(CKA_KEY_TYPE, key_type)
        .bool(CKA_TOKEN, false)
        .bool(CKA_VERIFY, true)
        .text(CKA_LABEL, "tokenemu-conformance-gost-vector")
        .bytes(CKA_GOSTR3410_PARAMS, &oid_der(oid))
        .bytes(CKA_VALUE, xy_le);
    let (rv, h) = ctx.p11.create_object(s, &t);
    if rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_CURVE_NOT_SUPPORTED {
        return Err(skip(format!(
            "the token does not accept curve {oid} for public keys ({})",
            tokenemu_core::names::rv_name(rv)
        )));
    }
    ok(&format!("C_CreateObject(GOST public key on {oid})"), rv)?;
    Ok(h)
}

/// Verifies the Appendix A example in `text` with `mech`.
fn appendix_verify(ctx: &Ctx, text: &str, mech: CK_MECHANISM_TYPE) -> CheckResult {
    let all = sections(text);
    let kv = &all
        .first()
        .ok_or_else(|| fail("empty vector file (harness bug)"))?
        .1;
    let oid = field(kv, "oid")?;
    let (qx, qy) = (unhex(field(kv, "qx")?), unhex(field(kv, "qy")?));
    let mut xy = rev(qx);
    xy.extend(rev(qy));
    // The standard prints e as an integer; the PKCS#11 input is the hash
    // output bytes, read little-endian (gost.md §2): e reversed.
    let digest = rev(unhex(field(kv, "e")?));
    let mut sig = unhex(field(kv, "s")?);
    sig.extend(unhex(field(kv, "r")?));
    let s = ctx.open(false)?;
    let h = gost_public(ctx, s, oid, &xy)?;
    let m = Mech::new(mech);
    ok("C_VerifyInit", ctx.p11.verify_init(s, &m, h))?;
    ok(
        "C_Verify(Appendix A signature)",
        ctx.p11.verify(s, &digest, &sig),
    )?;
    let mut other = digest.clone();
    other[0] ^= 1;
    ok("C_VerifyInit", ctx.p11.verify_init(s, &m, h))?;
    expect_rv(
        "C_Verify(changed digest)",
        ctx.p11.verify(s, &other, &sig),
        CKR_SIGNATURE_INVALID,
    )?;
    Ok(Some(format!("curve {oid}")))
}

fn gost_a1_verify(ctx: &mut Ctx) -> CheckResult {
    appendix_verify(ctx, GOST_A1, CKM_GOSTR3410)
}

fn gost_a2_verify(ctx: &mut Ctx) -> CheckResult {
    appendix_verify(ctx, GOST_A2, CKM_GOSTR3410_512)
}

fn gost_cryptopro_vectors(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.open(false)?;
    let mut done = Vec::new();
    let mut refused = Vec::new();
    for (name, kv) in sections(CRYPTOPRO_INTEROP) {
        let oid = field(&kv, "oid")?;
        let data = unhex(field(&kv, "data")?);
        let xy = unhex(field(&kv, "pub")?);
        // r_LE ‖ s_LE reversed whole is s_BE ‖ r_BE, the PKCS#11 layout.
        let sig = rev(unhex(field(&kv, "sig_raw")?));
        let mech = if xy.len() == 128 {
            CKM_GOSTR3410_WITH_GOSTR3411_12_512
        } else {
            CKM_GOSTR3410_WITH_GOSTR3411_12_256
        };
        if !ctx.has(mech) {
            continue;
        }
        let h = match gost_public(ctx, s, oid, &xy) {
            Ok(h) => h,
            Err(Stop::Skip(_)) => {
                refused.push(name);
                continue;
            }
            Err(e) => return Err(e),
        };
        let m = Mech::new(mech);
        ok(
            &format!("C_VerifyInit({name})"),
            ctx.p11.verify_init(s, &m, h),
        )?;
        ok(
            &format!("C_Verify(CryptoPro vector {name})"),
            ctx.p11.verify(s, &data, &sig),
        )?;
        done.push(name);
    }
    if !refused.is_empty() {
        return Err(fail(format!(
            "the token refused public keys on standard curves: {}",
            refused.join(", ")
        )));
    }
    if done.is_empty() {
        return Err(skip("no vector matches a listed mechanism"));
    }
    Ok(Some(done.join(", ")))
}

/// Checks a token's GOST signature with tokenemu-gost (an implementation
/// independent of the module under test, when that is not the emulator).
fn offline_verify(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    public: CK_OBJECT_HANDLE,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), Stop> {
    let params = ctx
        .p11
        .attribute(s, public, CKA_GOSTR3410_PARAMS)
        .map_err(|rv| Stop::Fail {
            message: "C_GetAttributeValue(CKA_GOSTR3410_PARAMS)".into(),
            rv: Some(rv),
        })?;
    let xy = ctx
        .p11
        .attribute(s, public, CKA_VALUE)
        .map_err(|rv| Stop::Fail {
            message: "C_GetAttributeValue(CKA_VALUE) of the GOST public key".into(),
            rv: Some(rv),
        })?;
    let set = tokenemu_gost::param_set_by_oid_der(&params).ok_or_else(|| {
        fail(format!(
            "unknown CKA_GOSTR3410_PARAMS {}",
            hex::encode(&params)
        ))
    })?;
    let key = tokenemu_gost::VerifyingKey::from_le_xy(set, &xy)
        .map_err(|e| fail(format!("the public key is not a point of the curve: {e:?}")))?;
    key.verify_digest(digest, sig).map_err(|e| {
        fail(format!(
            "the token's signature does not verify independently: {e:?}"
        ))
    })
}

fn gost_roundtrip(ctx: &Ctx, bits: u32) -> CheckResult {
    let (raw, hashed, alg) = if bits == 512 {
        (
            CKM_GOSTR3410_512,
            CKM_GOSTR3410_WITH_GOSTR3411_12_512,
            tokenemu_crypto::HashAlg::Streebog512,
        )
    } else {
        (
            CKM_GOSTR3410,
            CKM_GOSTR3410_WITH_GOSTR3411_12_256,
            tokenemu_crypto::HashAlg::Streebog256,
        )
    };
    let n = (bits / 8) as usize;
    let s = ctx.user_session()?;
    let pair = gost_pair(ctx, s, bits)?;
    let digest = vec![0x5au8; n];
    let sig = sign_verify(ctx, s, &Mech::new(raw), pair, &digest)?;
    ensure(sig.len() == 2 * n, || {
        format!(
            "{} gave {} bytes, expected {}",
            mechanism_name(raw),
            sig.len(),
            2 * n
        )
    })?;
    offline_verify(ctx, s, pair.public, &digest, &sig)?;
    let mut done = vec![mechanism_name(raw)];
    if ctx.has(hashed) {
        let msg = b"GOST R 34.10-2012 with Streebog";
        let sig = sign_verify(ctx, s, &Mech::new(hashed), pair, msg)?;
        offline_verify(
            ctx,
            s,
            pair.public,
            &tokenemu_crypto::digest(alg, msg),
            &sig,
        )?;
        done.push(mechanism_name(hashed));
    }
    Ok(Some(done.join(", ")))
}

fn gost256_roundtrip(ctx: &mut Ctx) -> CheckResult {
    gost_roundtrip(ctx, 256)
}

fn gost512_roundtrip(ctx: &mut Ctx) -> CheckResult {
    gost_roundtrip(ctx, 512)
}

fn gost2001_roundtrip(ctx: &mut Ctx) -> CheckResult {
    let s = ctx.user_session()?;
    let pair = gost_pair(ctx, s, 256)?;
    let sig = sign_verify(
        ctx,
        s,
        &Mech::new(CKM_GOSTR3410_WITH_GOSTR3411),
        pair,
        b"GOST R 34.10-2001",
    )?;
    ensure(sig.len() == 64, || {
        format!("{} bytes, expected 64", sig.len())
    })?;
    let d = tokenemu_crypto::digest(
        tokenemu_crypto::HashAlg::Gost94CryptoPro,
        b"GOST R 34.10-2001",
    );
    offline_verify(ctx, s, pair.public, &d, &sig)?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest constants are transcribed: check them against the
    /// RustCrypto / in-house implementations so a typo cannot pass.
    #[test]
    fn digest_known_answers_are_right() {
        use tokenemu_crypto::{digest, HashAlg};
        for (m, msg, want) in DIGEST_KATS {
            let alg = match *m {
                CKM_SHA_1 => HashAlg::Sha1,
                CKM_SHA224 => HashAlg::Sha224,
                CKM_SHA256 => HashAlg::Sha256,
                CKM_SHA384 => HashAlg::Sha384,
                CKM_SHA512 => HashAlg::Sha512,
                CKM_GOSTR3411_12_256 => HashAlg::Streebog256,
                CKM_GOSTR3411_12_512 => HashAlg::Streebog512,
                _ => HashAlg::Gost94CryptoPro,
            };
            assert_eq!(
                hex::encode(digest(alg, msg)),
                *want,
                "{}",
                mechanism_name(*m)
            );
        }
    }

    /// The RFC 6979 constants are transcribed: the signature must verify
    /// with an independent implementation, and a changed one must not.
    #[test]
    fn rfc6979_vector_is_right() {
        use sha2::Digest;
        use tokenemu_crypto::{EcCurve, EcPublicKey};
        let mut point = vec![0x04];
        point.extend(unhex(RFC6979_P256_UX));
        point.extend(unhex(RFC6979_P256_UY));
        let key = EcPublicKey::from_point(
            EcCurve::from_params_der(super::super::keys::P256_DER).unwrap(),
            &point,
        )
        .unwrap();
        let mut sig = unhex(RFC6979_P256_SHA256_R);
        sig.extend(unhex(RFC6979_P256_SHA256_S));
        let hash = sha2::Sha256::digest(b"sample");
        key.verify_prehash(&hash, &sig).unwrap();
        sig[40] ^= 0x10;
        assert!(key.verify_prehash(&hash, &sig).is_err());
    }

    #[test]
    fn oid_der_encodes() {
        assert_eq!(
            oid_der("1.2.643.2.2.35.1"),
            super::super::keys::CRYPTOPRO_A_DER
        );
        assert_eq!(
            oid_der("1.2.643.7.1.2.1.2.1"),
            super::super::keys::TC26_512_A_DER
        );
    }

    #[test]
    fn vector_files_parse() {
        assert_eq!(sections(CRYPTOPRO_INTEROP).len(), 7);
        assert!(field(&sections(GOST_A1)[0].1, "qx").is_ok());
    }
}
