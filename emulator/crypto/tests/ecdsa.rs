//! ECDSA: prehash sign/verify over digests of any length, key import/export, point
//! validation, and cross-checks against RustCrypto and the `openssl` command line.

use std::process::Command;

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use tokenemu_crypto::{digest, CryptoError, EcCurve, EcPrivateKey, EcPublicKey, HashAlg};

const CURVES: [EcCurve; 3] = [EcCurve::P256, EcCurve::P384, EcCurve::P521];

fn flip(b: &[u8], i: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v[i] ^= 0x01;
    v
}

fn test_digest(len: usize) -> Vec<u8> {
    // Non-zero leading byte, so truncation and padding both matter.
    (0..len)
        .map(|i| 0xa5u8.wrapping_add((i as u8).wrapping_mul(13)))
        .collect()
}

/// RustCrypto's verdict on `sig` over `digest` (its `bits2field` needs at least half the
/// field length, and for P-521 it reads 66-byte and longer digests as a 528-bit integer
/// instead of taking the leftmost 521 bits, so those are not comparable).
fn rustcrypto_verify(curve: EcCurve, point: &[u8], digest: &[u8], sig: &[u8]) -> Option<bool> {
    if digest.len() < curve.field_len() / 2 || (curve == EcCurve::P521 && digest.len() > 65) {
        return None;
    }
    Some(match curve {
        EcCurve::P256 => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("point");
            let sig = p256::ecdsa::Signature::from_slice(sig).expect("sig");
            vk.verify_prehash(digest, &sig).is_ok()
        }
        EcCurve::P384 => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("point");
            let sig = p384::ecdsa::Signature::from_slice(sig).expect("sig");
            vk.verify_prehash(digest, &sig).is_ok()
        }
        EcCurve::P521 => {
            let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("point");
            let sig = p521::ecdsa::Signature::from_slice(sig).expect("sig");
            vk.verify_prehash(digest, &sig).is_ok()
        }
    })
}

#[test]
fn keys_are_send_sync_clone_and_debug_hides_the_scalar() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<EcPrivateKey>();
    assert_traits::<EcPublicKey>();
    let key = EcPrivateKey::generate(EcCurve::P256).expect("generate");
    let d = hex::encode(&*key.scalar());
    let dbg = format!("{key:?} {:?}", key.clone());
    assert!(!dbg.contains(&d[..16]), "{dbg}");
}

#[test]
fn curve_params() {
    for curve in CURVES {
        assert_eq!(EcCurve::from_params_der(curve.params_der()), Some(curve));
    }
    assert_eq!(
        hex::encode(EcCurve::P256.params_der()),
        "06082a8648ce3d030107"
    );
    assert_eq!(hex::encode(EcCurve::P384.params_der()), "06052b81040022");
    assert_eq!(hex::encode(EcCurve::P521.params_der()), "06052b81040023");
    assert_eq!(
        EcCurve::from_params_der(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21]),
        None
    );
    assert_eq!(EcCurve::from_params_der(b""), None);
    assert_eq!(
        [
            EcCurve::P256.field_len(),
            EcCurve::P384.field_len(),
            EcCurve::P521.field_len()
        ],
        [32, 48, 66]
    );
    assert_eq!(
        [
            EcCurve::P256.bits(),
            EcCurve::P384.bits(),
            EcCurve::P521.bits()
        ],
        [256, 384, 521]
    );
}

#[test]
fn sign_verify_prehash_many_digest_lengths() {
    for curve in CURVES {
        let key = EcPrivateKey::generate(curve).expect("generate");
        assert_eq!(key.curve(), curve);
        let public = key.public_key();
        assert_eq!(public.curve(), curve);
        let point = public.point_uncompressed();
        assert_eq!(point.len(), 1 + 2 * curve.field_len());
        let mut lens = vec![0usize, 1, 20, 28, 32, 48, 64];
        if curve == EcCurve::P521 {
            lens.extend([65, 66, 80, 128]);
        }
        for len in lens {
            let d = test_digest(len);
            let sig = key.sign_prehash(&d).expect("sign");
            assert_eq!(sig.len(), 2 * curve.field_len(), "{curve:?}/{len}");
            public
                .verify_prehash(&d, &sig)
                .unwrap_or_else(|e| panic!("{curve:?} digest len {len}: {e}"));
            if let Some(ok) = rustcrypto_verify(curve, &point, &d, &sig) {
                assert!(ok, "RustCrypto rejects {curve:?}/{len}");
            }
            // Bit flips in the signature (r and s) and in the digest are rejected.
            for i in [0, curve.field_len() - 1, curve.field_len(), sig.len() - 1] {
                assert_eq!(
                    public.verify_prehash(&d, &flip(&sig, i)),
                    Err(CryptoError::InvalidSignature),
                    "{curve:?}/{len} sig byte {i}"
                );
            }
            if len > 0 {
                let changed = flip(&d, 0);
                assert_eq!(
                    public.verify_prehash(&changed, &sig),
                    Err(CryptoError::InvalidSignature),
                    "{curve:?}/{len}"
                );
            }
            assert_eq!(
                public.verify_prehash(&d, &sig[1..]),
                Err(CryptoError::SignatureLength)
            );
        }
    }
}

#[test]
fn truncation_follows_bits2int() {
    // P-256 / P-384: only the leftmost field_len bytes of a longer digest count.
    for curve in [EcCurve::P256, EcCurve::P384] {
        let key = EcPrivateKey::generate(curve).expect("generate");
        let d = test_digest(64);
        let sig = key.sign_prehash(&d).expect("sign");
        let mut tail_changed = d.clone();
        tail_changed[63] ^= 0xff;
        key.public_key()
            .verify_prehash(&tail_changed, &sig)
            .expect("bytes past the order length are ignored");
        key.public_key()
            .verify_prehash(&d[..curve.field_len()], &sig)
            .expect("same as the truncated digest");
    }
    // Shorter digests equal their zero-padded form.
    let key = EcPrivateKey::generate(EcCurve::P256).expect("generate");
    let d = test_digest(20);
    let sig = key.sign_prehash(&d).expect("sign");
    let mut padded = vec![0u8; 12];
    padded.extend_from_slice(&d);
    key.public_key()
        .verify_prehash(&padded, &sig)
        .expect("left padding keeps the value");
    // P-521: a 66-byte digest is shifted right by 7 bits, so the low 7 bits of the last
    // byte do not count, and anything past 66 bytes is ignored.
    let key = EcPrivateKey::generate(EcCurve::P521).expect("generate");
    let d = test_digest(80);
    let sig = key.sign_prehash(&d).expect("sign");
    let mut changed = d.clone();
    changed[65] ^= 0x7f;
    changed[70] ^= 0xff;
    key.public_key()
        .verify_prehash(&changed, &sig)
        .expect("bits beyond 521 are ignored");
    changed[65] ^= 0x80;
    assert_eq!(
        key.public_key().verify_prehash(&changed, &sig),
        Err(CryptoError::InvalidSignature)
    );
}

/// P-521 digests wider than 521 bits: our signature must be a standard ECDSA signature
/// over e = leftmost 521 bits, computed here independently with a big-integer shift and
/// handed to RustCrypto as a 66-byte value it takes as-is.
#[test]
fn p521_wide_digest_matches_standard_bits2int() {
    let key = EcPrivateKey::generate(EcCurve::P521).expect("generate");
    let point = key.public_key().point_uncompressed();
    let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("point");
    for len in [66usize, 80, 128] {
        let d = test_digest(len);
        let sig = key.sign_prehash(&d).expect("sign");
        let e = rsa::BigUint::from_bytes_be(&d[..66]) >> 7usize;
        let e = e.to_bytes_be();
        let mut e66 = vec![0u8; 66 - e.len()];
        e66.extend_from_slice(&e);
        let rc_sig = p521::ecdsa::Signature::from_slice(&sig).expect("sig");
        vk.verify_prehash(&e66, &rc_sig)
            .unwrap_or_else(|err| panic!("len {len}: {err}"));
        // RustCrypto's own reading of the 66+ byte digest (no shift) must disagree,
        // which shows the shift was applied.
        assert!(vk.verify_prehash(&d, &rc_sig).is_err(), "len {len}");
    }
}

#[test]
fn verifies_rustcrypto_signatures() {
    let d = digest(HashAlg::Sha256, b"from RustCrypto");
    let sk = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).expect("key");
    let sig: p256::ecdsa::Signature = sk.sign_prehash(&d).expect("sign");
    let ours = EcPrivateKey::from_scalar(EcCurve::P256, &[0x42; 32]).expect("import");
    let point = sk.verifying_key().to_encoded_point(false);
    assert_eq!(ours.public_key().point_uncompressed(), point.as_bytes());
    ours.public_key()
        .verify_prehash(&d, &sig.to_bytes())
        .expect("verify RustCrypto signature");

    let d = digest(HashAlg::Sha384, b"from RustCrypto");
    let sk = p384::ecdsa::SigningKey::from_slice(&[0x17; 48]).expect("key");
    let sig: p384::ecdsa::Signature = sk.sign_prehash(&d).expect("sign");
    let public = EcPublicKey::from_point(
        EcCurve::P384,
        sk.verifying_key().to_encoded_point(false).as_bytes(),
    )
    .expect("point");
    public
        .verify_prehash(&d, &sig.to_bytes())
        .expect("verify RustCrypto signature");
}

#[test]
fn scalar_import_export_round_trip() {
    for curve in CURVES {
        let key = EcPrivateKey::generate(curve).expect("generate");
        let d = key.scalar();
        assert_eq!(d.len(), curve.field_len());
        let again = EcPrivateKey::from_scalar(curve, &d).expect("import");
        assert_eq!(
            again.public_key().point_uncompressed(),
            key.public_key().point_uncompressed()
        );
        assert_eq!(*again.scalar(), *d);
        let msg = test_digest(32);
        let sig = again.sign_prehash(&msg).expect("sign");
        key.public_key().verify_prehash(&msg, &sig).expect("verify");
        // Leading zeros beyond the field length are tolerated.
        let longer = [&[0u8, 0][..], &d[..]].concat();
        EcPrivateKey::from_scalar(curve, &longer).expect("leading zeros");
    }
    // d = 1 gives the generator; short input is left-padded.
    let one = EcPrivateKey::from_scalar(EcCurve::P256, &[1]).expect("d = 1");
    assert_eq!(
        hex::encode(one.public_key().point_uncompressed()),
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
         4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
    );
    assert_eq!(one.scalar().len(), 32);
    // Out of range: 0, n, and too long.
    let n256 = hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
        .expect("hex");
    for bad in [vec![0u8; 32], vec![], n256, vec![1u8; 33]] {
        assert!(
            matches!(
                EcPrivateKey::from_scalar(EcCurve::P256, &bad),
                Err(CryptoError::InvalidKey(_))
            ),
            "{}",
            hex::encode(&bad)
        );
    }
}

#[test]
fn point_validation() {
    for curve in CURVES {
        let key = EcPrivateKey::generate(curve).expect("generate");
        let point = key.public_key().point_uncompressed();
        // Round trip.
        let again = EcPublicKey::from_point(curve, &point).expect("valid point");
        assert_eq!(again.point_uncompressed(), point);
        // Compressed form decodes to the same point.
        let fl = curve.field_len();
        let mut compressed = vec![2 + (point[2 * fl] & 1)];
        compressed.extend_from_slice(&point[1..=fl]);
        let from_c = EcPublicKey::from_point(curve, &compressed).expect("compressed");
        assert_eq!(from_c.point_uncompressed(), point);
        // Off-curve: change Y.
        let off = flip(&point, point.len() - 1);
        assert!(
            matches!(
                EcPublicKey::from_point(curve, &off),
                Err(CryptoError::InvalidKey(_))
            ),
            "{curve:?} accepted an off-curve point"
        );
        // Malformed encodings.
        for bad in [
            vec![0u8],
            point[..point.len() - 1].to_vec(),
            [&[0x04u8, point.len() as u8][..], &point[..]].concat(), // DER-wrapped
            {
                let mut p = point.clone();
                p[0] = 0x05;
                p
            },
        ] {
            assert!(EcPublicKey::from_point(curve, &bad).is_err(), "{curve:?}");
        }
    }
    // A P-256 point is not a P-384 point.
    let p256_point = EcPrivateKey::generate(EcCurve::P256)
        .expect("generate")
        .public_key()
        .point_uncompressed();
    assert!(EcPublicKey::from_point(EcCurve::P384, &p256_point).is_err());
}

#[test]
fn spki_export_parses_with_rustcrypto() {
    use p256::pkcs8::DecodePublicKey;
    let key = EcPrivateKey::generate(EcCurve::P256).expect("generate");
    let spki = key.public_key().to_spki_der().expect("spki");
    let parsed = p256::PublicKey::from_public_key_der(&spki).expect("parse");
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&parsed, false);
    assert_eq!(point.as_bytes(), key.public_key().point_uncompressed());
    let key = EcPrivateKey::generate(EcCurve::P521).expect("generate");
    let spki = key.public_key().to_spki_der().expect("spki");
    let parsed = p521::PublicKey::from_public_key_der(&spki).expect("parse");
    let point = p521::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&parsed, false);
    assert_eq!(point.as_bytes(), key.public_key().point_uncompressed());
}

// ---------------------------------------------------------------------------------------
// openssl cross-check
// ---------------------------------------------------------------------------------------

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

/// `openssl pkeyutl -verify` over a raw digest (OpenSSL applies ECDSA's bits2int itself;
/// `pkeyutl` refuses inputs over 64 bytes, so the wide P-521 path is checked above).
#[test]
fn openssl_verifies_our_prehash_signatures() {
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    if !have_openssl("openssl_verifies_our_prehash_signatures") {
        return;
    }
    let cases = [
        (EcCurve::P256, 32usize),
        (EcCurve::P256, 64),
        (EcCurve::P256, 20),
        (EcCurve::P384, 48),
        (EcCurve::P521, 20),
        (EcCurve::P521, 64),
    ];
    for (curve, len) in cases {
        let key = EcPrivateKey::generate(curve).expect("generate");
        let point = key.public_key().point_uncompressed();
        let d = test_digest(len);
        let sig = key.sign_prehash(&d).expect("sign");
        let (pem, der) = match curve {
            EcCurve::P256 => (
                p256::PublicKey::from_sec1_bytes(&point)
                    .expect("point")
                    .to_public_key_pem(LineEnding::LF),
                p256::ecdsa::Signature::from_slice(&sig)
                    .expect("sig")
                    .to_der()
                    .as_bytes()
                    .to_vec(),
            ),
            EcCurve::P384 => (
                p384::PublicKey::from_sec1_bytes(&point)
                    .expect("point")
                    .to_public_key_pem(LineEnding::LF),
                p384::ecdsa::Signature::from_slice(&sig)
                    .expect("sig")
                    .to_der()
                    .as_bytes()
                    .to_vec(),
            ),
            EcCurve::P521 => (
                p521::PublicKey::from_sec1_bytes(&point)
                    .expect("point")
                    .to_public_key_pem(LineEnding::LF),
                p521::ecdsa::Signature::from_slice(&sig)
                    .expect("sig")
                    .to_der()
                    .as_bytes()
                    .to_vec(),
            ),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let (pub_path, dgst_path, sig_path) = (
            dir.path().join("pub.pem"),
            dir.path().join("dgst.bin"),
            dir.path().join("sig.der"),
        );
        std::fs::write(&pub_path, pem.expect("pem")).expect("write");
        std::fs::write(&dgst_path, &d).expect("write");
        std::fs::write(&sig_path, der).expect("write");
        let out = Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(&pub_path)
            .arg("-in")
            .arg(&dgst_path)
            .arg("-sigfile")
            .arg(&sig_path)
            .output()
            .expect("run openssl");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("Signature Verified Successfully"),
            "{curve:?} digest len {len}: openssl said: {text}"
        );
    }
}
