//! RSA: signatures, encryption, raw operations, key import/export, and cross-checks
//! against the `rsa` crate and the `openssl` command line.

use std::process::Command;
use std::sync::OnceLock;

use rsa::pkcs8::EncodePublicKey;
use rsa::sha2::Sha256;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss};
use tokenemu_crypto::{digest, CryptoError, HashAlg, RsaComponents, RsaPrivateKey, RsaPublicKey};

const E65537: &[u8] = &[1, 0, 1];
const SHA: [HashAlg; 5] = [
    HashAlg::Sha1,
    HashAlg::Sha224,
    HashAlg::Sha256,
    HashAlg::Sha384,
    HashAlg::Sha512,
];

/// One 2048-bit key for the whole test binary (generation is the slow part).
fn key2048() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::generate(2048, E65537).expect("generate 2048"))
}

/// The same public key as an `rsa` crate key, for independent verification.
fn rc_public(key: &RsaPublicKey) -> rsa::RsaPublicKey {
    rsa::RsaPublicKey::new(
        BigUint::from_bytes_be(&key.modulus()),
        BigUint::from_bytes_be(&key.public_exponent()),
    )
    .expect("rsa crate public key")
}

fn rc_pkcs1(alg: HashAlg) -> Pkcs1v15Sign {
    match alg {
        HashAlg::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        HashAlg::Sha224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
        HashAlg::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        HashAlg::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        HashAlg::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
        other => panic!("no PKCS#1 scheme for {other:?}"),
    }
}

fn flip(b: &[u8], i: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v[i] ^= 0x01;
    v
}

#[test]
fn keys_are_send_sync_clone_and_debug_hides_secrets() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<RsaPrivateKey>();
    assert_traits::<RsaPublicKey>();
    assert_traits::<RsaComponents>();
    let key = key2048();
    let c = key.components();
    let d_hex = hex::encode(&c.d);
    let p_hex = hex::encode(&c.p);
    for dbg in [
        format!("{key:?}"),
        format!("{c:?}"),
        format!("{:#?}", key.clone()),
    ] {
        assert!(!dbg.contains(&d_hex[..16]), "{dbg}");
        assert!(!dbg.contains(&p_hex[..16]), "{dbg}");
    }
}

#[test]
fn generate_2048_sizes() {
    let key = key2048();
    assert_eq!(key.bits(), 2048);
    assert_eq!(key.size_bytes(), 256);
    let public = key.public_key();
    assert_eq!(public.bits(), 2048);
    assert_eq!(public.size_bytes(), 256);
    assert_eq!(public.public_exponent(), E65537);
    assert_eq!(public.modulus().len(), 256);
}

#[test]
fn pkcs1v15_with_each_sha() {
    let key = key2048();
    let public = key.public_key();
    let rc = rc_public(&public);
    for alg in SHA {
        let d = digest(alg, b"message to sign");
        let sig = key.sign_pkcs1v15(Some(alg), &d).expect("sign");
        assert_eq!(sig.len(), 256);
        // PKCS#1 v1.5 is deterministic.
        assert_eq!(key.sign_pkcs1v15(Some(alg), &d).expect("sign"), sig);
        public.verify_pkcs1v15(Some(alg), &d, &sig).expect("verify");
        rc.verify(rc_pkcs1(alg), &d, &sig)
            .unwrap_or_else(|e| panic!("rsa crate rejects our {alg:?} signature: {e}"));
        assert_eq!(
            public.verify_pkcs1v15(Some(alg), &d, &flip(&sig, 100)),
            Err(CryptoError::InvalidSignature),
            "{alg:?}"
        );
        assert_eq!(
            public.verify_pkcs1v15(Some(alg), &flip(&d, 0), &sig),
            Err(CryptoError::InvalidSignature),
            "{alg:?}"
        );
        assert_eq!(
            public.verify_pkcs1v15(Some(alg), &d, &sig[1..]),
            Err(CryptoError::SignatureLength)
        );
        assert_eq!(
            key.sign_pkcs1v15(Some(alg), &d[1..]),
            Err(CryptoError::DataLength)
        );
    }
    assert!(matches!(
        key.sign_pkcs1v15(Some(HashAlg::Streebog256), &[0; 32]),
        Err(CryptoError::Unsupported(_))
    ));
}

#[test]
fn pkcs1v15_raw_over_digest_info_equals_hashed_form() {
    let key = key2048();
    let public = key.public_key();
    for alg in SHA {
        let d = digest(alg, b"abc");
        let di = [alg.digest_info_prefix().expect("prefix"), &d[..]].concat();
        let raw = key.sign_pkcs1v15(None, &di).expect("sign raw");
        assert_eq!(
            raw,
            key.sign_pkcs1v15(Some(alg), &d).expect("sign"),
            "{alg:?}"
        );
        public.verify_pkcs1v15(None, &di, &raw).expect("verify raw");
        public
            .verify_pkcs1v15(Some(alg), &d, &raw)
            .expect("verify hashed");
    }
}

#[test]
fn pkcs1v15_raw_over_arbitrary_data() {
    let key = key2048();
    let public = key.public_key();
    let rc = rc_public(&public);
    for len in [0usize, 1, 20, 35, 100, 256 - 11] {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let sig = key.sign_pkcs1v15(None, &data).expect("sign");
        public.verify_pkcs1v15(None, &data, &sig).expect("verify");
        rc.verify(Pkcs1v15Sign::new_unprefixed(), &data, &sig)
            .expect("rsa crate verifies");
        if len > 0 {
            assert_eq!(
                public.verify_pkcs1v15(None, &flip(&data, 0), &sig),
                Err(CryptoError::InvalidSignature)
            );
        }
    }
    assert_eq!(
        key.sign_pkcs1v15(None, &[0u8; 256 - 10]),
        Err(CryptoError::DataLength)
    );
    assert_eq!(
        public.verify_pkcs1v15(None, &[0u8; 256 - 10], &[0u8; 256]),
        Err(CryptoError::DataLength)
    );
    // A value >= n is not a valid signature.
    assert_eq!(
        public.verify_pkcs1v15(None, b"x", &[0xff; 256]),
        Err(CryptoError::InvalidSignature)
    );
}

#[test]
fn pss_default_salt_fast_path() {
    let key = key2048();
    let public = key.public_key();
    let rc = rc_public(&public);
    for alg in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
        let d = digest(alg, b"pss message");
        let len = alg.output_len();
        let s1 = key.sign_pss(alg, alg, len, &d).expect("sign");
        let s2 = key.sign_pss(alg, alg, len, &d).expect("sign");
        assert_ne!(s1, s2, "PSS is randomised");
        public.verify_pss(alg, alg, len, &d, &s1).expect("verify");
        public.verify_pss(alg, alg, len, &d, &s2).expect("verify");
        assert_eq!(
            public.verify_pss(alg, alg, len, &flip(&d, 3), &s1),
            Err(CryptoError::InvalidSignature)
        );
        assert_eq!(
            public.verify_pss(alg, alg, len - 1, &d, &s1),
            Err(CryptoError::InvalidSignature),
            "salt length is checked"
        );
    }
    let d = digest(HashAlg::Sha256, b"pss message");
    let sig = key
        .sign_pss(HashAlg::Sha256, HashAlg::Sha256, 32, &d)
        .expect("sign");
    rc.verify(Pss::new::<Sha256>(), &d, &sig)
        .expect("rsa crate verifies");
}

#[test]
fn pss_custom_salt_and_mgf() {
    let key = key2048();
    let public = key.public_key();
    let rc = rc_public(&public);
    let d = digest(HashAlg::Sha256, b"custom pss");
    for salt in [0usize, 1, 20, 64, 256 - 32 - 2] {
        let sig = key
            .sign_pss(HashAlg::Sha256, HashAlg::Sha256, salt, &d)
            .expect("sign");
        public
            .verify_pss(HashAlg::Sha256, HashAlg::Sha256, salt, &d, &sig)
            .expect("verify");
        rc.verify(Pss::new_with_salt::<Sha256>(salt), &d, &sig)
            .unwrap_or_else(|e| panic!("rsa crate rejects salt {salt}: {e}"));
    }
    assert_eq!(
        key.sign_pss(HashAlg::Sha256, HashAlg::Sha256, 256 - 32 - 1, &d),
        Err(CryptoError::DataLength),
        "salt too long for the key"
    );
    // MGF1 with a different hash.
    let sig = key
        .sign_pss(HashAlg::Sha256, HashAlg::Sha1, 20, &d)
        .expect("sign");
    public
        .verify_pss(HashAlg::Sha256, HashAlg::Sha1, 20, &d, &sig)
        .expect("verify");
    assert_eq!(
        public.verify_pss(HashAlg::Sha256, HashAlg::Sha256, 20, &d, &sig),
        Err(CryptoError::InvalidSignature)
    );
    // SHA-1 and SHA-224 (no aws-lc signing encoding).
    for alg in [HashAlg::Sha1, HashAlg::Sha224] {
        let d = digest(alg, b"old hash");
        let sig = key.sign_pss(alg, alg, alg.output_len(), &d).expect("sign");
        public
            .verify_pss(alg, alg, alg.output_len(), &d, &sig)
            .expect("verify");
    }
    assert_eq!(
        key.sign_pss(HashAlg::Sha256, HashAlg::Sha256, 32, &d[..31]),
        Err(CryptoError::DataLength)
    );
}

#[test]
fn raw_x509_round_trip() {
    let key = key2048();
    let public = key.public_key();
    let mut x = vec![0u8; 256];
    x[0] = 0x12;
    x[255] = 0x34;
    let y = key.raw_private(&x).expect("private op");
    assert_eq!(y.len(), 256);
    assert_eq!(public.raw_public(&y).expect("public op"), x);
    let z = public.raw_public(&x).expect("public op");
    assert_eq!(key.raw_private(&z).expect("private op"), x);
    // Short input is read as an integer; output is k bytes.
    let short = key.raw_private(b"hi").expect("short");
    let mut padded = vec![0u8; 254];
    padded.extend_from_slice(b"hi");
    assert_eq!(public.raw_public(&short).expect("public op"), padded);
    // Raw private on a PKCS#1 encoding equals the PKCS#1 signature.
    let data = b"raw equals pkcs1";
    let mut em = vec![0xffu8; 256];
    em[0] = 0;
    em[1] = 1;
    em[256 - data.len() - 1] = 0;
    em[256 - data.len()..].copy_from_slice(data);
    assert_eq!(
        key.raw_private(&em).expect("raw"),
        key.sign_pkcs1v15(None, data).expect("pkcs1")
    );
    // Range checks.
    let n = public.modulus();
    assert_eq!(key.raw_private(&n), Err(CryptoError::InvalidData));
    assert_eq!(public.raw_public(&n), Err(CryptoError::InvalidData));
    assert_eq!(key.raw_private(&[0u8; 257]), Err(CryptoError::DataLength));
    assert_eq!(public.raw_public(&[0u8; 257]), Err(CryptoError::DataLength));
}

#[test]
fn oaep_round_trips() {
    let key = key2048();
    let public = key.public_key();
    let msg = b"secret session key material";
    for (hash, mgf) in [
        (HashAlg::Sha1, HashAlg::Sha1),
        (HashAlg::Sha256, HashAlg::Sha256),
        (HashAlg::Sha256, HashAlg::Sha1),
    ] {
        for label in [&b""[..], b"label", b"\xff\x00binary"] {
            let ct = match public.encrypt_oaep(hash, mgf, label, msg) {
                Ok(ct) => ct,
                Err(CryptoError::Unsupported(why)) => {
                    // Only the rsa-crate path (different MGF hash) needs a UTF-8 label.
                    assert!(hash != mgf && std::str::from_utf8(label).is_err(), "{why}");
                    continue;
                }
                Err(e) => panic!("encrypt {hash:?}/{mgf:?}: {e}"),
            };
            assert_eq!(ct.len(), 256);
            assert_eq!(
                key.decrypt_oaep(hash, mgf, label, &ct).expect("decrypt"),
                msg,
                "{hash:?}/{mgf:?}/{label:?}"
            );
            assert_eq!(
                key.decrypt_oaep(hash, mgf, b"other", &ct),
                Err(CryptoError::EncryptedData)
            );
            assert_eq!(
                key.decrypt_oaep(hash, mgf, label, &flip(&ct, 10)),
                Err(CryptoError::EncryptedData)
            );
        }
    }
    let max = 256 - 2 * 32 - 2;
    assert!(public
        .encrypt_oaep(HashAlg::Sha256, HashAlg::Sha256, b"", &vec![7u8; max])
        .is_ok());
    assert_eq!(
        public.encrypt_oaep(HashAlg::Sha256, HashAlg::Sha256, b"", &vec![7u8; max + 1]),
        Err(CryptoError::DataLength)
    );
    assert_eq!(
        key.decrypt_oaep(HashAlg::Sha256, HashAlg::Sha256, b"", &[1u8; 255]),
        Err(CryptoError::EncryptedDataLength)
    );
}

#[test]
fn pkcs1v15_encryption_round_trip() {
    let key = key2048();
    let public = key.public_key();
    for len in [0usize, 1, 16, 245] {
        let msg: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
        let ct = public.encrypt_pkcs1v15(&msg).expect("encrypt");
        assert_eq!(ct.len(), 256);
        assert_ne!(
            ct,
            public.encrypt_pkcs1v15(&msg).expect("encrypt"),
            "random padding"
        );
        assert_eq!(key.decrypt_pkcs1v15(&ct).expect("decrypt"), msg);
        // A tampered ciphertext must not decrypt to the message (aws-lc reports an
        // error; implicit rejection would yield unrelated bytes).
        match key.decrypt_pkcs1v15(&flip(&ct, 5)) {
            Err(CryptoError::EncryptedData) => {}
            Ok(pt) => assert_ne!(pt, msg),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(
        public.encrypt_pkcs1v15(&[0u8; 246]),
        Err(CryptoError::DataLength)
    );
    assert_eq!(
        key.decrypt_pkcs1v15(&[0u8; 128]),
        Err(CryptoError::EncryptedDataLength)
    );
}

#[test]
fn components_round_trip_and_consistency() {
    let key = key2048();
    let c = key.components();
    assert_eq!(c.n, key.public_key().modulus());
    assert_eq!(c.e, E65537);
    // CRT relations.
    let big = |b: &[u8]| BigUint::from_bytes_be(b);
    let one = BigUint::from(1u8);
    let (p, q, d) = (big(&c.p), big(&c.q), big(&c.d));
    assert_eq!(&p * &q, big(&c.n));
    assert_eq!(big(&c.dp), &d % (&p - &one));
    assert_eq!(big(&c.dq), &d % (&q - &one));
    assert_eq!((big(&c.qinv) * &q) % &p, one);

    let again = RsaPrivateKey::from_components(&c).expect("import");
    let d2 = again.components();
    assert_eq!(
        (&d2.n, &d2.e, &d2.d, &d2.p, &d2.q, &d2.dp, &d2.dq, &d2.qinv),
        (&c.n, &c.e, &c.d, &c.p, &c.q, &c.dp, &c.dq, &c.qinv)
    );
    let h = digest(HashAlg::Sha256, b"x");
    assert_eq!(
        again
            .sign_pkcs1v15(Some(HashAlg::Sha256), &h)
            .expect("sign"),
        key.sign_pkcs1v15(Some(HashAlg::Sha256), &h).expect("sign")
    );

    // Without CRT values: computed.
    let mut no_crt = c.clone();
    no_crt.dp.clear();
    no_crt.dq.clear();
    no_crt.qinv.clear();
    let k3 = RsaPrivateKey::from_components(&no_crt).expect("import without CRT");
    assert_eq!(k3.components().qinv, c.qinv);

    // Leading zeros are tolerated.
    let mut padded = c.clone();
    padded.n.insert(0, 0);
    padded.d.insert(0, 0);
    RsaPrivateKey::from_components(&padded).expect("leading zeros");

    // Inconsistent values are rejected.
    let mut bad = c.clone();
    bad.dp = flip(&bad.dp, bad.dp.len() - 1);
    assert!(matches!(
        RsaPrivateKey::from_components(&bad),
        Err(CryptoError::InvalidKey(_))
    ));
    let mut bad = c.clone();
    bad.d = flip(&bad.d, bad.d.len() - 1);
    assert!(matches!(
        RsaPrivateKey::from_components(&bad),
        Err(CryptoError::InvalidKey(_))
    ));
    let mut bad = c.clone();
    bad.e = vec![1, 0, 3];
    assert!(RsaPrivateKey::from_components(&bad).is_err());
}

#[test]
fn from_components_with_only_n_e_d() {
    let key = key2048();
    let c = key.components();
    // (RsaComponents zeroizes on drop, so struct-update syntax is not available.)
    let mut only = RsaComponents::default();
    only.n = c.n.clone();
    only.e = c.e.clone();
    only.d = c.d.clone();
    let recovered = RsaPrivateKey::from_components(&only).expect("recover primes");
    let r = recovered.components();
    let mut got = [r.p.clone(), r.q.clone()];
    let mut want = [c.p.clone(), c.q.clone()];
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let h = digest(HashAlg::Sha384, b"recovered");
    let sig = recovered
        .sign_pkcs1v15(Some(HashAlg::Sha384), &h)
        .expect("sign");
    key.public_key()
        .verify_pkcs1v15(Some(HashAlg::Sha384), &h, &sig)
        .expect("verify");
}

#[test]
fn public_key_import_validation() {
    let public = key2048().public_key();
    let n = public.modulus();
    let imported =
        RsaPublicKey::from_components(&[&[0u8][..], &n].concat(), &[0, 1, 0, 1]).expect("import");
    assert_eq!(imported.modulus(), n);
    assert_eq!(imported.public_exponent(), E65537);
    assert_eq!(imported.bits(), 2048);
    assert!(matches!(
        RsaPublicKey::from_components(&n, &[1, 0, 0]),
        Err(CryptoError::InvalidKey(_))
    ));
    assert!(matches!(
        RsaPublicKey::from_components(&n, &[1]),
        Err(CryptoError::InvalidKey(_))
    ));
    let mut even = n.clone();
    *even.last_mut().expect("n") &= 0xfe;
    assert!(matches!(
        RsaPublicKey::from_components(&even, E65537),
        Err(CryptoError::InvalidKey(_))
    ));
    assert_eq!(
        RsaPublicKey::from_components(&n[..32], E65537).err(),
        Some(CryptoError::KeySize)
    );
    // SPKI export parses back with the rsa crate.
    let spki = public.to_spki_der().expect("spki");
    let parsed = <rsa::RsaPublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_der(&spki)
        .expect("parse spki");
    assert_eq!(parsed.n().to_bytes_be(), n);
}

/// Every operation on a key that is not a multiple of 8 bits and that aws-lc-rs does not
/// take (under 2048 bits): the `rsa` crate and our own EMSA-PSS carry it.
#[test]
fn small_odd_sized_key_uses_fallbacks() {
    let key = RsaPrivateKey::generate(1025, E65537).expect("generate 1025");
    assert_eq!(key.bits(), 1025);
    assert_eq!(key.size_bytes(), 129);
    let public = key.public_key();
    let rc = rc_public(&public);
    let d = digest(HashAlg::Sha256, b"odd");
    let sig = key
        .sign_pkcs1v15(Some(HashAlg::Sha256), &d)
        .expect("pkcs1 sign");
    public
        .verify_pkcs1v15(Some(HashAlg::Sha256), &d, &sig)
        .expect("pkcs1 verify");
    for salt in [0usize, 32] {
        let sig = key
            .sign_pss(HashAlg::Sha256, HashAlg::Sha256, salt, &d)
            .expect("pss sign");
        public
            .verify_pss(HashAlg::Sha256, HashAlg::Sha256, salt, &d, &sig)
            .expect("pss verify");
        rc.verify(Pss::new_with_salt::<Sha256>(salt), &d, &sig)
            .expect("rsa crate verifies PSS with emLen = k - 1");
    }
    let ct = public.encrypt_pkcs1v15(b"small").expect("encrypt");
    assert_eq!(key.decrypt_pkcs1v15(&ct).expect("decrypt"), b"small");
    let ct = public
        .encrypt_oaep(HashAlg::Sha1, HashAlg::Sha1, b"l", b"small")
        .expect("encrypt");
    assert_eq!(
        key.decrypt_oaep(HashAlg::Sha1, HashAlg::Sha1, b"l", &ct)
            .expect("decrypt"),
        b"small"
    );
    let c = key.components();
    let again = RsaPrivateKey::from_components(&c).expect("import");
    assert_eq!(again.components().d, c.d);
}

#[test]
fn generate_1024_and_4096() {
    let k1 = RsaPrivateKey::generate(1024, E65537).expect("1024");
    assert_eq!(k1.bits(), 1024);
    let d = digest(HashAlg::Sha1, b"legacy");
    let sig = k1.sign_pkcs1v15(Some(HashAlg::Sha1), &d).expect("sign");
    k1.public_key()
        .verify_pkcs1v15(Some(HashAlg::Sha1), &d, &sig)
        .expect("verify");

    let k4 = RsaPrivateKey::generate(4096, E65537).expect("4096");
    assert_eq!(k4.bits(), 4096);
    assert_eq!(k4.size_bytes(), 512);
    let d = digest(HashAlg::Sha512, b"big");
    let sig = k4.sign_pkcs1v15(Some(HashAlg::Sha512), &d).expect("sign");
    k4.public_key()
        .verify_pkcs1v15(Some(HashAlg::Sha512), &d, &sig)
        .expect("verify");
    let sig = k4
        .sign_pss(HashAlg::Sha512, HashAlg::Sha512, 64, &d)
        .expect("pss");
    k4.public_key()
        .verify_pss(HashAlg::Sha512, HashAlg::Sha512, 64, &d, &sig)
        .expect("pss verify");
}

#[test]
fn generate_rejects_bad_parameters() {
    assert_eq!(
        RsaPrivateKey::generate(512, E65537).err(),
        Some(CryptoError::KeySize)
    );
    assert_eq!(
        RsaPrivateKey::generate(8192, E65537).err(),
        Some(CryptoError::KeySize)
    );
    assert!(matches!(
        RsaPrivateKey::generate(2048, &[1, 0, 0]),
        Err(CryptoError::InvalidKey(_))
    ));
    // A non-default exponent goes through the rsa crate and still gets the fast path.
    let k = RsaPrivateKey::generate(2048, &[3]).expect("e = 3");
    assert_eq!(k.public_key().public_exponent(), vec![3]);
    let d = digest(HashAlg::Sha256, b"e3");
    let sig = k.sign_pkcs1v15(Some(HashAlg::Sha256), &d).expect("sign");
    k.public_key()
        .verify_pkcs1v15(Some(HashAlg::Sha256), &d, &sig)
        .expect("verify");
}

// ---------------------------------------------------------------------------------------
// openssl cross-checks
// ---------------------------------------------------------------------------------------

/// `true` if `openssl` runs; otherwise skips loudly, or panics when
/// `TOKENEMU_REQUIRE_TOOLS=1`.
fn have_openssl(test: &str) -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let why = "the `openssl` command is not available";
        if std::env::var("TOKENEMU_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{test}: {why} and TOKENEMU_REQUIRE_TOOLS=1");
        }
        eprintln!("SKIPPED {test}: {why} (set TOKENEMU_REQUIRE_TOOLS=1 to make this fatal)");
    }
    ok
}

fn openssl_verify(public: &RsaPublicKey, data: &[u8], sig: &[u8], extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = rc_public(public)
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .expect("pem");
    let (pub_path, data_path, sig_path) = (
        dir.path().join("pub.pem"),
        dir.path().join("data.bin"),
        dir.path().join("sig.bin"),
    );
    std::fs::write(&pub_path, pem).expect("write pem");
    std::fs::write(&data_path, data).expect("write data");
    std::fs::write(&sig_path, sig).expect("write sig");
    let out = Command::new("openssl")
        .arg("dgst")
        .arg("-sha256")
        .args(extra)
        .arg("-verify")
        .arg(&pub_path)
        .arg("-signature")
        .arg(&sig_path)
        .arg(&data_path)
        .output()
        .expect("run openssl");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn openssl_verifies_our_pkcs1_sha256_signature() {
    if !have_openssl("openssl_verifies_our_pkcs1_sha256_signature") {
        return;
    }
    let key = key2048();
    let data = b"cross-checked with openssl dgst";
    let sig = key
        .sign_pkcs1v15(Some(HashAlg::Sha256), &digest(HashAlg::Sha256, data))
        .expect("sign");
    let out = openssl_verify(&key.public_key(), data, &sig, &[]);
    assert!(out.contains("Verified OK"), "openssl said: {out}");
    let out = openssl_verify(&key.public_key(), b"other data", &sig, &[]);
    assert!(out.contains("Verification failure"), "openssl said: {out}");
}

#[test]
fn openssl_verifies_our_pss_with_custom_salt_and_mgf() {
    if !have_openssl("openssl_verifies_our_pss_with_custom_salt_and_mgf") {
        return;
    }
    let key = key2048();
    let data = b"pss cross-check";
    let sig = key
        .sign_pss(
            HashAlg::Sha256,
            HashAlg::Sha1,
            20,
            &digest(HashAlg::Sha256, data),
        )
        .expect("sign");
    let opts = [
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:20",
        "-sigopt",
        "rsa_mgf1_md:sha1",
    ];
    let out = openssl_verify(&key.public_key(), data, &sig, &opts);
    assert!(out.contains("Verified OK"), "openssl said: {out}");
}

/// A key is shared across threads: concurrent signing and first-use initialisation of
/// the lazily built decrypting keys.
#[test]
fn shared_key_across_threads() {
    let key = RsaPrivateKey::generate(2048, E65537).expect("generate");
    let public = key.public_key();
    let ct = public
        .encrypt_oaep(HashAlg::Sha256, HashAlg::Sha256, b"", b"shared")
        .expect("encrypt");
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let (key, public, ct) = (key.clone(), public.clone(), ct.clone());
            s.spawn(move || {
                for i in 0..20u8 {
                    let d = digest(HashAlg::Sha256, &[t, i]);
                    let sig = key.sign_pkcs1v15(Some(HashAlg::Sha256), &d).expect("sign");
                    public
                        .verify_pkcs1v15(Some(HashAlg::Sha256), &d, &sig)
                        .expect("verify");
                }
                assert_eq!(
                    key.decrypt_oaep(HashAlg::Sha256, HashAlg::Sha256, b"", &ct)
                        .expect("decrypt"),
                    b"shared"
                );
            });
        }
    });
}
