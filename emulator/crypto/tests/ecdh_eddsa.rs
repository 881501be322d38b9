//! ECDH (NIST CAVP CDH vectors, both sides agree, the X9.63 KDF against CAVP, openssl
//! `pkeyutl -derive`) and Ed25519 (RFC 8032 vectors, round trips, rejections).

mod common;

use common::{have_openssl, hex_field, openssl, vectors};
use tokenemu_crypto::{
    ecdh1_derive, ecdh_shared_secret, x963_kdf, CryptoError, EcCurve, EcPrivateKey, EcdhKdf,
    Ed25519PrivateKey, Ed25519PublicKey, HashAlg,
};

const CURVES: [EcCurve; 3] = [EcCurve::P256, EcCurve::P384, EcCurve::P521];

/// A big-endian CAVP field of `record` as exactly `len` bytes.
fn fixed(record: &common::Record, field: &str, len: usize) -> Vec<u8> {
    let v = hex_field(record, field);
    let first = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    let v = &v[first..];
    assert!(v.len() <= len, "{field} too long");
    [vec![0u8; len - v.len()], v.to_vec()].concat()
}

fn curve_of(name: &str) -> EcCurve {
    match name {
        "P-256" => EcCurve::P256,
        "P-384" => EcCurve::P384,
        "P-521" => EcCurve::P521,
        c => panic!("unknown curve {c}"),
    }
}

#[test]
fn ecdh_cavp_vectors() {
    for r in vectors("ecdh_cavp.txt") {
        let curve = curve_of(&r["curve"]);
        let n = curve.field_len();
        let private = EcPrivateKey::from_scalar(curve, &hex_field(&r, "dIUT")).expect("dIUT");
        let ours = [vec![4u8], fixed(&r, "QIUTx", n), fixed(&r, "QIUTy", n)].concat();
        assert_eq!(
            private.public_key().point_uncompressed(),
            ours,
            "{curve:?} QIUT"
        );
        let peer = [vec![4u8], fixed(&r, "QCAVSx", n), fixed(&r, "QCAVSy", n)].concat();
        let z = fixed(&r, "ZIUT", n);
        assert_eq!(
            &ecdh_shared_secret(&private, &peer).expect("Z")[..],
            &z[..],
            "{curve:?}"
        );
        // The compressed form of the same point gives the same secret.
        let y_odd = peer[peer.len() - 1] & 1;
        let compressed = [vec![2 + y_odd], peer[1..=n].to_vec()].concat();
        assert_eq!(
            &ecdh_shared_secret(&private, &compressed).expect("Z")[..],
            &z[..]
        );
        // CKD_NULL truncation keeps the trailing bytes.
        let short = ecdh1_derive(&private, &peer, EcdhKdf::Null, &[], Some(16)).expect("derive");
        assert_eq!(&short[..], &z[n - 16..]);
        assert_eq!(
            ecdh1_derive(&private, &peer, EcdhKdf::Null, &[], Some(n + 1)).map(|_| ()),
            Err(CryptoError::KeySize)
        );
        // A point off the curve is refused.
        let mut off = peer.clone();
        off[n] ^= 1;
        assert!(matches!(
            ecdh_shared_secret(&private, &off),
            Err(CryptoError::InvalidParameter(_))
        ));
    }
}

#[test]
fn ecdh_both_sides_agree_and_kdf_applies() {
    for curve in CURVES {
        let a = EcPrivateKey::generate(curve).expect("a");
        let b = EcPrivateKey::generate(curve).expect("b");
        let ab = ecdh_shared_secret(&a, &b.public_key().point_uncompressed()).expect("ab");
        let ba = ecdh_shared_secret(&b, &a.public_key().point_uncompressed()).expect("ba");
        assert_eq!(ab, ba, "{curve:?}");
        assert_eq!(ab.len(), curve.field_len());
        let kdf = EcdhKdf::X963(HashAlg::Sha256);
        let k1 = ecdh1_derive(
            &a,
            &b.public_key().point_uncompressed(),
            kdf,
            b"info",
            Some(40),
        )
        .expect("k1");
        let k2 = x963_kdf(HashAlg::Sha256, &ab, b"info", 40).expect("k2");
        assert_eq!(k1, k2);
        // A point of another curve is refused.
        let other = if curve == EcCurve::P256 {
            EcCurve::P384
        } else {
            EcCurve::P256
        };
        let stranger = EcPrivateKey::generate(other).expect("stranger");
        assert!(ecdh_shared_secret(&a, &stranger.public_key().point_uncompressed()).is_err());
    }
}

#[test]
fn x963_kdf_cavp_vectors() {
    for r in vectors("x963_kdf_cavp.txt") {
        assert_eq!(r["hash"], "sha256");
        let z = hex_field(&r, "Z");
        let info = hex_field(&r, "SharedInfo");
        let want = hex_field(&r, "key_data");
        assert_eq!(
            &x963_kdf(HashAlg::Sha256, &z, &info, want.len()).expect("kdf")[..],
            &want[..]
        );
        // A shorter output is a prefix (the counter blocks are concatenated).
        assert_eq!(
            &x963_kdf(HashAlg::Sha256, &z, &info, 5).expect("kdf")[..],
            &want[..5]
        );
    }
    assert!(matches!(
        x963_kdf(HashAlg::Sha1, b"", b"", 16),
        Err(CryptoError::InvalidParameter(_))
    ));
    assert!(matches!(
        x963_kdf(HashAlg::Sha1, b"z", b"", 0),
        Err(CryptoError::InvalidParameter(_))
    ));
}

#[test]
fn openssl_agrees_on_ecdh_and_x963() {
    if !have_openssl("openssl_agrees_on_ecdh_and_x963") {
        return;
    }
    use p256::pkcs8::EncodePrivateKey as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = EcPrivateKey::generate(EcCurve::P256).expect("a");
    let b = EcPrivateKey::generate(EcCurve::P256).expect("b");
    let a_pem = p256::SecretKey::from_slice(&a.scalar())
        .expect("a")
        .to_pkcs8_pem(Default::default())
        .expect("pem");
    let b_der = b.public_key().to_spki_der().expect("spki");
    let a_path = dir.path().join("a.pem");
    let b_path = dir.path().join("b.der");
    std::fs::write(&a_path, a_pem.as_bytes()).expect("write");
    std::fs::write(&b_path, b_der).expect("write");
    let theirs = openssl(
        &[
            "pkeyutl",
            "-derive",
            "-inkey",
            a_path.to_str().expect("path"),
            "-peerkey",
            b_path.to_str().expect("path"),
            "-peerform",
            "DER",
        ],
        &[],
    );
    let ours = ecdh_shared_secret(&a, &b.public_key().point_uncompressed()).expect("ours");
    assert_eq!(&ours[..], &theirs[..]);
    let kdf = openssl(
        &[
            "kdf",
            "-keylen",
            "48",
            "-kdfopt",
            "digest:SHA384",
            "-kdfopt",
            &format!("hexsecret:{}", hex::encode(&*ours)),
            "-kdfopt",
            "hexinfo:0a0b0c",
            "-binary",
            "X963KDF",
        ],
        &[],
    );
    assert_eq!(
        &x963_kdf(HashAlg::Sha384, &ours, &[0x0a, 0x0b, 0x0c], 48).expect("kdf")[..],
        &kdf[..]
    );
}

#[test]
fn ed25519_rfc8032_vectors() {
    for r in vectors("ed25519_rfc8032.txt") {
        let key = Ed25519PrivateKey::from_seed(&hex_field(&r, "secret")).expect("seed");
        let public = hex_field(&r, "public");
        let msg = hex_field(&r, "message");
        let sig = hex_field(&r, "signature");
        assert_eq!(key.public_key().as_bytes()[..], public[..]);
        assert_eq!(&key.seed().expect("seed")[..], &hex_field(&r, "secret")[..]);
        assert_eq!(key.sign(&msg), sig, "RFC 8032 signatures are deterministic");
        let pk = Ed25519PublicKey::from_bytes(&public).expect("pk");
        assert_eq!(pk.verify(&msg, &sig), Ok(()));
        assert_eq!(
            pk.verify(&msg, &sig[..63]),
            Err(CryptoError::SignatureLength)
        );
        for i in [0, 31, 32, 63] {
            let mut bad = sig.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                pk.verify(&msg, &bad),
                Err(CryptoError::InvalidSignature),
                "byte {i}"
            );
        }
        assert_eq!(
            pk.verify(b"other", &sig),
            Err(CryptoError::InvalidSignature)
        );
    }
}

#[test]
fn ed25519_generate_round_trip_and_debug() {
    let key = Ed25519PrivateKey::generate().expect("gen");
    let sig = key.sign(b"message");
    assert_eq!(key.public_key().verify(b"message", &sig), Ok(()));
    let again = Ed25519PrivateKey::from_seed(&key.seed().expect("seed")).expect("import");
    assert_eq!(again.public_key(), key.public_key());
    let seed_hex = hex::encode(&*key.seed().expect("seed"));
    assert!(!format!("{key:?}").contains(&seed_hex[..16]));
    assert!(matches!(
        Ed25519PrivateKey::from_seed(&[0; 31]),
        Err(CryptoError::InvalidKey(_))
    ));
    assert!(matches!(
        Ed25519PublicKey::from_bytes(&[0; 33]),
        Err(CryptoError::InvalidKey(_))
    ));
}
