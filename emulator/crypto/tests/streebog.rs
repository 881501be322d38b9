//! The in-house Streebog against RustCrypto's `streebog` crate (the oracle) over random
//! inputs and random chunkings of the input into `update` calls.

use proptest::prelude::*;
use streebog::Digest as _;
use tokenemu_crypto::{digest, HashAlg, Hasher};

fn oracle(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    match alg {
        HashAlg::Streebog256 => streebog::Streebog256::digest(data).to_vec(),
        HashAlg::Streebog512 => streebog::Streebog512::digest(data).to_vec(),
        _ => unreachable!("Streebog only"),
    }
}

fn alg_strategy() -> impl Strategy<Value = HashAlg> {
    prop_oneof![Just(HashAlg::Streebog256), Just(HashAlg::Streebog512)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_oracle_with_random_chunking(
        alg in alg_strategy(),
        data in proptest::collection::vec(any::<u8>(), 0..700),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let expected = oracle(alg, &data);
        prop_assert_eq!(&digest(alg, &data), &expected);

        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut h = Hasher::new(alg);
        let mut start = 0;
        for c in cuts {
            h.update(&data[start..c]);
            start = c;
        }
        h.update(&data[start..]);
        prop_assert_eq!(h.finalize(), expected);
    }
}

/// Every length around the block boundaries, and a message long enough to carry the
/// 512-bit counters over several words of N.
#[test]
fn block_boundaries_and_long_input() {
    let data: Vec<u8> = (0..70_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for alg in [HashAlg::Streebog256, HashAlg::Streebog512] {
        for len in (0..=200).chain([4095, 4096, 4097, 70_000]) {
            assert_eq!(
                digest(alg, &data[..len]),
                oracle(alg, &data[..len]),
                "{alg:?} len {len}"
            );
        }
        // Sigma's additions carry across words with 0xFF bytes.
        let ff = vec![0xFFu8; 64 * 9 + 5];
        assert_eq!(digest(alg, &ff), oracle(alg, &ff));
    }
}
