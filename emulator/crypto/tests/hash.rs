//! Digest known answers and the incremental API.

use rsa::Pkcs1v15Sign;
use sha2::{Sha224, Sha256, Sha384, Sha512};
use tokenemu_crypto::{digest, HashAlg, Hasher};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

#[test]
fn sha_known_answers_abc() {
    // FIPS 180-4 examples ("abc").
    let cases = [
        (HashAlg::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            HashAlg::Sha224,
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
        ),
        (
            HashAlg::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            HashAlg::Sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            HashAlg::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];
    for (alg, want) in cases {
        assert_eq!(digest(alg, b"abc"), h(want), "{alg:?}");
        assert_eq!(alg.output_len(), want.len() / 2);
    }
}

const M1: &[u8] = b"012345678901234567890123456789012345678901234567890123456789012";
// CP1251 "Се ветри, Стрибожи внуци, веютъ с моря стрелами на храбрыя плъкы Игоревы".
const M2_HEX: &str = "d1e520e2e5f2f0e82c20d1f2f0e8e1eee6e820e2edf3f6e82c20e2e5fef2fa20f120eceef0ff20f1f2f0e5ebe0ece820ede020f5f0e0e1f0fbff20efebfaeafb20c8e3eef0e5e2fb";

/// RFC 6986 §10 / GOST R 34.11-2012 examples, output bytes in OpenSSL order
/// (/work/shared/reference/gost.md §2).
#[test]
fn streebog_known_answers() {
    let m2 = h(M2_HEX);
    assert_eq!(M1.len(), 63);
    assert_eq!(m2.len(), 72);
    assert_eq!(
        digest(HashAlg::Streebog256, M1),
        h("9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500")
    );
    assert_eq!(
        digest(HashAlg::Streebog512, M1),
        h(
            "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa\
           00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"
        )
    );
    assert_eq!(
        digest(HashAlg::Streebog256, &m2),
        h("9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50")
    );
    assert_eq!(
        digest(HashAlg::Streebog512, &m2),
        h(
            "1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376\
           035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28"
        )
    );
}

/// GOST R 34.11-94 vectors: test parameter set (= KZ GOST 34.311-95) from the standard's
/// examples as quoted in gost.md §2, CryptoPro set from the `gost94` crate's own tests
/// (gost-engine `test/01-digest.t`).
#[test]
fn gost94_known_answers() {
    assert_eq!(
        digest(HashAlg::Gost94Test, b"This is message, length=32 bytes"),
        h("b1c466d37519b82e8319819ff32595e047a28cb6f83eff1c6916a815a637fffa")
    );
    assert_eq!(
        digest(HashAlg::Gost94Test, b""),
        h("ce85b99cc46752fffee35cab9a7b0278abb4c2d2055cff685af4912c49490f8d")
    );
    assert_eq!(
        digest(HashAlg::Gost94CryptoPro, b""),
        h("981e5f3ca30c841487830f84fb433e13ac1101569b9c13584ac483234cd656c0")
    );
    let mut hasher = Hasher::new(HashAlg::Gost94CryptoPro);
    for _ in 0..128 {
        hasher.update(b"12345670");
    }
    assert_eq!(
        hasher.finalize(),
        h("f7fc6d16a6a5c12ac4f7d320e0fd0d8354908699125e09727a4ef929122b1cae")
    );
}

#[test]
fn incremental_matches_one_shot_and_clone_forks() {
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    for alg in HashAlg::ALL {
        let mut hasher = Hasher::new(alg);
        assert_eq!(hasher.alg(), alg);
        for chunk in data.chunks(37) {
            hasher.update(chunk);
        }
        let fork = hasher.clone();
        let whole = hasher.finalize();
        assert_eq!(whole, digest(alg, &data), "{alg:?}");
        assert_eq!(whole.len(), alg.output_len(), "{alg:?}");
        let mut fork = fork;
        fork.update(b"x");
        let mut with_x = data.clone();
        with_x.push(b'x');
        assert_eq!(fork.finalize(), digest(alg, &with_x), "{alg:?}");
    }
}

#[test]
fn digest_info_prefixes_match_the_rsa_crate() {
    let theirs = [
        (HashAlg::Sha1, Pkcs1v15Sign::new::<sha1::Sha1>().prefix),
        (HashAlg::Sha224, Pkcs1v15Sign::new::<Sha224>().prefix),
        (HashAlg::Sha256, Pkcs1v15Sign::new::<Sha256>().prefix),
        (HashAlg::Sha384, Pkcs1v15Sign::new::<Sha384>().prefix),
        (HashAlg::Sha512, Pkcs1v15Sign::new::<Sha512>().prefix),
    ];
    for (alg, prefix) in theirs {
        assert_eq!(alg.digest_info_prefix(), Some(&*prefix), "{alg:?}");
        let d = digest(alg, b"hello");
        let di = [&*prefix, &d].concat();
        assert_eq!(HashAlg::from_digest_info(&di), Some((alg, &d[..])));
        // Truncated, extended and altered encodings are not recognised.
        assert_eq!(HashAlg::from_digest_info(&di[..di.len() - 1]), None);
        assert_eq!(HashAlg::from_digest_info(&[&di[..], &[0]].concat()), None);
        let mut bad = di.clone();
        bad[3] ^= 1;
        assert_eq!(HashAlg::from_digest_info(&bad), None);
    }
    for alg in [
        HashAlg::Streebog256,
        HashAlg::Streebog512,
        HashAlg::Gost94CryptoPro,
        HashAlg::Gost94Test,
    ] {
        assert_eq!(alg.digest_info_prefix(), None);
    }
    assert_eq!(HashAlg::from_digest_info(b""), None);
}
