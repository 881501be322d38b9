//! Round-trip and rejection properties on every parameter set.

use proptest::prelude::*;
use tokenemu_gost::{
    param_set_by_oid_der, param_sets, GostError, KeySize, ParamSet, SigningKey, VerifyingKey,
    CRYPTOPRO_A, TC26_256_A, TC26_512_A, TC26_512_C,
};

/// q as big-endian bytes of the coordinate length.
fn q_be(params: &ParamSet) -> Vec<u8> {
    let hex = format!("{:0>width$}", params.q, width = 2 * params.coordinate_len());
    hex::decode(hex).expect("q hex")
}

/// Big-endian increment / decrement (no overflow in our uses).
fn add_be(v: &[u8], delta: i32) -> Vec<u8> {
    let mut out = v.to_vec();
    let mut carry = delta;
    for b in out.iter_mut().rev() {
        let x = i32::from(*b) + carry;
        *b = x.rem_euclid(256) as u8;
        carry = x.div_euclid(256);
        if carry == 0 {
            break;
        }
    }
    out
}

/// A valid key from arbitrary bytes: clear the top 3 bits (below q for
/// every set) and avoid 0.
fn key_from_seed(params: &'static ParamSet, seed: &[u8]) -> SigningKey {
    let n = params.coordinate_len();
    let mut d_le: Vec<u8> = seed.iter().copied().cycle().take(n).collect();
    d_le[n - 1] &= 0x1F;
    d_le[0] |= 1;
    SigningKey::from_le_bytes(params, &d_le).expect("valid d")
}

fn digest_for(params: &ParamSet, bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .copied()
        .cycle()
        .take(params.coordinate_len())
        .collect()
}

fn set_strategy() -> impl Strategy<Value = &'static ParamSet> {
    (0..param_sets().len()).prop_map(|i| param_sets()[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// sign/verify round trip, plus every single-bit flip of signature and
    /// digest is rejected, on every parameter set (aliases included).
    #[test]
    fn sign_verify_roundtrip(params in set_strategy(),
                             seed in proptest::collection::vec(any::<u8>(), 1..64),
                             dig in proptest::collection::vec(any::<u8>(), 1..64),
                             bit in any::<usize>()) {
        let key = key_from_seed(params, &seed);
        let vk = key.verifying_key();
        let digest = digest_for(params, &dig);
        let sig = key.sign_digest(&digest).unwrap();
        prop_assert_eq!(sig.len(), 2 * params.coordinate_len());
        prop_assert_eq!(vk.verify_digest(&digest, &sig), Ok(()));

        // Public key round trip through the PKCS#11 encoding.
        let vk2 = VerifyingKey::from_le_xy(params, &vk.to_le_xy()).unwrap();
        prop_assert_eq!(&vk2, &vk);
        prop_assert_eq!(vk2.verify_digest(&digest, &sig), Ok(()));

        let mut bad_sig = sig.clone();
        let b = bit % (8 * bad_sig.len());
        bad_sig[b / 8] ^= 1 << (b % 8);
        prop_assert!(vk.verify_digest(&digest, &bad_sig).is_err());

        let mut bad_digest = digest.clone();
        let b = bit % (8 * bad_digest.len());
        bad_digest[b / 8] ^= 1 << (b % 8);
        // A flip can only verify if e is unchanged mod q, impossible for one bit.
        prop_assert!(vk.verify_digest(&bad_digest, &sig).is_err());
    }

    /// A signature does not verify under a different key of the same set.
    #[test]
    fn wrong_key_rejected(params in set_strategy(),
                          seed in proptest::collection::vec(any::<u8>(), 1..64),
                          dig in proptest::collection::vec(any::<u8>(), 1..64)) {
        let key = key_from_seed(params, &seed);
        let other = SigningKey::generate(params);
        let digest = digest_for(params, &dig);
        let sig = key.sign_digest(&digest).unwrap();
        prop_assert_eq!(other.verifying_key().verify_digest(&digest, &sig),
                        Err(GostError::InvalidSignature));
    }

    /// d round-trips through the little-endian CKA_VALUE form.
    #[test]
    fn private_key_roundtrip(params in set_strategy(),
                             seed in proptest::collection::vec(any::<u8>(), 1..64)) {
        let key = key_from_seed(params, &seed);
        let again = SigningKey::from_le_bytes(params, &key.to_le_bytes()).unwrap();
        prop_assert_eq!(again.verifying_key(), key.verifying_key());
    }
}

#[test]
fn every_param_set_listed_and_found_by_der() {
    let sets = param_sets();
    assert_eq!(sets.len(), 14);
    let names = [
        "CryptoPro-Test",
        "CryptoPro-A",
        "CryptoPro-B",
        "CryptoPro-C",
        "CryptoPro-XchA",
        "CryptoPro-XchB",
        "tc26-256-A",
        "tc26-256-B",
        "tc26-256-C",
        "tc26-256-D",
        "tc26-512-Test",
        "tc26-512-A",
        "tc26-512-B",
        "tc26-512-C",
    ];
    for name in names {
        let p = sets.iter().find(|p| p.name == name).expect(name);
        let der = p.oid_der();
        let found = param_set_by_oid_der(&der).expect("lookup");
        assert_eq!(found.oid_der(), der);
        assert_eq!(found.name, name);
        assert_eq!(
            p.coordinate_len(),
            if p.size == KeySize::Bits256 { 32 } else { 64 }
        );
    }
    assert_eq!(
        param_set_by_oid_der(&[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x09]),
        None
    );
    assert_eq!(param_set_by_oid_der(&[]), None);
}

#[test]
fn aliases_share_curves() {
    let by = |der: &[u8]| param_set_by_oid_der(der).expect("set");
    let xcha = by(&[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x24, 0x00]);
    let xchb = by(&[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x24, 0x01]);
    let tc = |last: u8| {
        by(&[
            0x06, 0x09, 0x2A, 0x85, 0x03, 0x07, 0x01, 0x02, 0x01, 0x01, last,
        ])
    };
    let cp = |last: u8| by(&[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, last]);
    let same = |a: &ParamSet, b: &ParamSet| {
        (a.p, a.a, a.b, a.q, a.x, a.y) == (b.p, b.a, b.b, b.q, b.x, b.y)
    };
    assert!(same(xcha, cp(1)));
    assert!(same(xchb, cp(3)));
    assert!(same(tc(2), cp(1)));
    assert!(same(tc(3), cp(2)));
    assert!(same(tc(4), cp(3)));
    assert!(!same(tc(1), cp(1)));
    assert_eq!(xcha.oid, "1.2.643.2.2.36.0");
    assert_eq!(tc(2).oid, "1.2.643.7.1.2.1.1.2");
    assert_eq!(TC26_256_A.cofactor, 4);
    assert_eq!(TC26_512_C.cofactor, 4);
}

#[test]
fn r_or_s_out_of_range_rejected() {
    for &params in param_sets() {
        let n = params.coordinate_len();
        let key = SigningKey::generate(params);
        let vk = key.verifying_key();
        let digest = vec![7u8; n];
        let sig = key.sign_digest(&digest).unwrap();
        let (s, r) = sig.split_at(n);
        let q = q_be(params);
        let zero = vec![0u8; n];
        let q_plus_1 = add_be(&q, 1);
        let ff = vec![0xFFu8; n];
        for bad in [&zero, &q, &q_plus_1, &ff] {
            let with_s = [bad.as_slice(), r].concat();
            assert_eq!(
                vk.verify_digest(&digest, &with_s),
                Err(GostError::InvalidSignature),
                "{} s",
                params.name
            );
            let with_r = [s, bad.as_slice()].concat();
            assert_eq!(
                vk.verify_digest(&digest, &with_r),
                Err(GostError::InvalidSignature),
                "{} r",
                params.name
            );
        }
    }
}

#[test]
fn bad_lengths_rejected() {
    for &params in param_sets() {
        let n = params.coordinate_len();
        let key = SigningKey::generate(params);
        let vk = key.verifying_key();
        let digest = vec![1u8; n];
        let sig = key.sign_digest(&digest).unwrap();
        for len in [0, n - 1, n + 1, 2 * n] {
            assert_eq!(
                key.sign_digest(&vec![1u8; len]),
                Err(GostError::DigestLength)
            );
            assert_eq!(
                vk.verify_digest(&vec![1u8; len], &sig),
                Err(GostError::DigestLength)
            );
        }
        for len in [0, 2 * n - 1, 2 * n + 1, n] {
            assert_eq!(
                vk.verify_digest(&digest, &vec![1u8; len]),
                Err(GostError::SignatureLength)
            );
        }
        for len in [0, n - 1, n + 1] {
            assert_eq!(
                SigningKey::from_le_bytes(params, &vec![1u8; len]).unwrap_err(),
                GostError::InvalidKey
            );
        }
        for len in [0, 2 * n - 1, 2 * n + 1, n] {
            assert_eq!(
                VerifyingKey::from_le_xy(params, &vec![1u8; len]).unwrap_err(),
                GostError::InvalidKey
            );
        }
        assert_eq!(
            key.sign_digest_with_k(&digest, &vec![1u8; n + 1]),
            Err(GostError::InvalidKey)
        );
        assert_eq!(
            key.sign_digest_with_k(&vec![1u8; n + 1], &vec![1u8; n]),
            Err(GostError::DigestLength)
        );
    }
}

#[test]
fn private_key_range_checked() {
    for &params in param_sets() {
        let n = params.coordinate_len();
        let q = q_be(params);
        let le = |be: &[u8]| be.iter().rev().copied().collect::<Vec<u8>>();
        assert_eq!(
            SigningKey::from_le_bytes(params, &vec![0u8; n]).unwrap_err(),
            GostError::InvalidKey
        );
        assert_eq!(
            SigningKey::from_le_bytes(params, &le(&q)).unwrap_err(),
            GostError::InvalidKey
        );
        assert_eq!(
            SigningKey::from_le_bytes(params, &le(&add_be(&q, 1))).unwrap_err(),
            GostError::InvalidKey
        );
        assert_eq!(
            SigningKey::from_le_bytes(params, &vec![0xFFu8; n]).unwrap_err(),
            GostError::InvalidKey
        );
        // q - 1 and 1 are valid; (q-1)G = -G, so both keys share x.
        let top = SigningKey::from_le_bytes(params, &le(&add_be(&q, -1))).expect("q-1");
        let mut one = vec![0u8; n];
        one[0] = 1;
        let bottom = SigningKey::from_le_bytes(params, &one).expect("1");
        assert_eq!(
            top.verifying_key().to_le_xy()[..n],
            bottom.verifying_key().to_le_xy()[..n]
        );
        assert_ne!(top.verifying_key(), bottom.verifying_key());
        // The fixed nonce is range checked the same way.
        let digest = vec![3u8; n];
        assert_eq!(
            bottom.sign_digest_with_k(&digest, &vec![0u8; n]),
            Err(GostError::InvalidKey)
        );
        assert_eq!(
            bottom.sign_digest_with_k(&digest, &q),
            Err(GostError::InvalidKey)
        );
    }
}

#[test]
fn public_key_validated() {
    for &params in param_sets() {
        let n = params.coordinate_len();
        let vk = SigningKey::generate(params).verifying_key();
        let xy = vk.to_le_xy();
        // Off curve: flip a bit of y.
        let mut off = xy.clone();
        off[n] ^= 1;
        assert_eq!(
            VerifyingKey::from_le_xy(params, &off).unwrap_err(),
            GostError::InvalidKey,
            "{}",
            params.name
        );
        // Identity has no affine encoding; (0, 0) is not on any of these curves.
        assert_eq!(
            VerifyingKey::from_le_xy(params, &vec![0u8; 2 * n]).unwrap_err(),
            GostError::InvalidKey
        );
        // Coordinates >= p.
        let mut big = xy.clone();
        for b in &mut big[..n] {
            *b = 0xFF;
        }
        assert_eq!(
            VerifyingKey::from_le_xy(params, &big).unwrap_err(),
            GostError::InvalidKey
        );
    }
}

#[test]
fn digest_reducing_to_zero_uses_e_one() {
    // e = q mod q = 0 is replaced by 1, so the digest "q" and the digest "1" sign alike.
    for params in [&CRYPTOPRO_A, &TC26_256_A, &TC26_512_A, &TC26_512_C] {
        let n = params.coordinate_len();
        let key = SigningKey::generate(params);
        let vk = key.verifying_key();
        let q_le: Vec<u8> = q_be(params).into_iter().rev().collect();
        let mut one = vec![0u8; n];
        one[0] = 1;
        let k = {
            let mut k = vec![0u8; n];
            k[n - 1] = 0x42;
            k[0] = 0x17;
            k
        };
        let s1 = key.sign_digest_with_k(&q_le, &k).unwrap();
        let s2 = key.sign_digest_with_k(&one, &k).unwrap();
        assert_eq!(s1, s2);
        vk.verify_digest(&q_le, &s1).unwrap();
        vk.verify_digest(&vec![0u8; n], &s1).unwrap();
    }
}

#[test]
fn random_nonces_differ_and_debug_hides_secret() {
    let key = SigningKey::generate(&CRYPTOPRO_A);
    let digest = [9u8; 32];
    assert_ne!(
        key.sign_digest(&digest).unwrap(),
        key.sign_digest(&digest).unwrap()
    );
    let dbg = format!("{key:?}");
    assert!(dbg.contains("CryptoPro-A"), "{dbg}");
    let d_hex = hex::encode(&key.to_le_bytes()[..]);
    let d_hex_be = hex::encode(key.to_le_bytes().iter().rev().copied().collect::<Vec<u8>>());
    assert!(!dbg.to_lowercase().contains(&d_hex[..16]));
    assert!(!dbg.to_lowercase().contains(&d_hex_be[..16]));
    assert!(!format!("{:?}", key.clone()).contains(&d_hex[..16]));
    let e = GostError::InvalidSignature;
    assert_eq!(e.to_string(), "invalid GOST R 34.10 signature");
    let _: &dyn std::error::Error = &e;
}
