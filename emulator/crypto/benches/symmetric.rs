//! Symmetric throughput through the crate's PKCS#11-shaped API: AES-256-GCM over 1 MiB
//! (96-bit IV: aws-lc; 16-byte IV: the composed RustCrypto path) and HMAC-SHA256 over
//! 1 KiB.
//!
//! Run: `cargo bench -p tokenemu-crypto --bench symmetric -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tokenemu_crypto::{AesKey, AesMode, Direction, HashAlg, Mac};

fn gcm(key: &AesKey, iv: &[u8], direction: Direction, input: &[u8]) -> Vec<u8> {
    let mode = AesMode::Gcm {
        iv: iv.to_vec(),
        aad: b"header".to_vec(),
        tag_bits: 128,
    };
    let mut op = key.cipher(mode, direction).expect("init");
    let mut out = Vec::with_capacity(input.len() + 16);
    op.oneshot(input, &mut out).expect("gcm");
    out
}

fn benches(c: &mut Criterion) {
    let mib: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let key = AesKey::new(&[0x42; 32]).expect("key");
    let iv12 = [7u8; 12];
    let iv16 = [9u8; 16];
    let sealed = gcm(&key, &iv12, Direction::Encrypt, &mib);

    let mut group = c.benchmark_group("aes-256-gcm");
    group.throughput(Throughput::Bytes(mib.len() as u64));
    group.bench_function("encrypt/1MiB", |b| {
        b.iter(|| gcm(&key, &iv12, Direction::Encrypt, black_box(&mib)))
    });
    group.bench_function("decrypt/1MiB", |b| {
        b.iter(|| gcm(&key, &iv12, Direction::Decrypt, black_box(&sealed)))
    });
    group.bench_function("encrypt/1MiB 16-byte IV (RustCrypto path)", |b| {
        b.iter(|| gcm(&key, &iv16, Direction::Encrypt, black_box(&mib)))
    });
    group.finish();

    let mut group = c.benchmark_group("hmac-sha256");
    let kib = &mib[..1024];
    group.throughput(Throughput::Bytes(kib.len() as u64));
    group.bench_function("sign/1KiB", |b| {
        b.iter(|| {
            let mut mac = Mac::hmac(HashAlg::Sha256, &[0x0b; 32], None).expect("init");
            mac.update(black_box(kib)).expect("update");
            mac.finish().expect("finish")
        })
    });
    group.finish();
}

criterion_group!(symmetric_benches, benches);
criterion_main!(symmetric_benches);
