//! Streebog throughput over 1 MiB (and a short message), the in-house implementation next
//! to RustCrypto's `streebog` crate.
//!
//! Run: `cargo bench -p tokenemu-crypto --bench streebog -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use streebog::Digest as _;
use tokenemu_crypto::{digest, HashAlg};

fn benches(c: &mut Criterion) {
    let mib: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let mut group = c.benchmark_group("streebog");
    group.throughput(Throughput::Bytes(mib.len() as u64));
    group.bench_function("256/1MiB", |b| {
        b.iter(|| digest(HashAlg::Streebog256, black_box(&mib)))
    });
    group.bench_function("512/1MiB", |b| {
        b.iter(|| digest(HashAlg::Streebog512, black_box(&mib)))
    });
    group.bench_function("256/1MiB RustCrypto streebog", |b| {
        b.iter(|| streebog::Streebog256::digest(black_box(&mib)))
    });
    group.throughput(Throughput::Bytes(64));
    group.bench_function("256/64B", |b| {
        b.iter(|| digest(HashAlg::Streebog256, black_box(&mib[..64])))
    });
    group.finish();
}

criterion_group!(streebog_benches, benches);
criterion_main!(streebog_benches);
