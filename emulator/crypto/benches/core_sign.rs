//! Core signing and hashing throughput (targets: RSA-2048 sign ≥ 3,000/s, ECDSA P-256
//! sign ≥ 40,000/s). Quick run:
//! `cargo bench -p tokenemu-crypto --bench core_sign -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tokenemu_crypto::{digest, EcCurve, EcPrivateKey, HashAlg, RsaPrivateKey};

fn signatures(c: &mut Criterion) {
    let rsa = RsaPrivateKey::generate(2048, &[1, 0, 1]).expect("RSA key");
    let rsa_pub = rsa.public_key();
    let d = digest(HashAlg::Sha256, b"benchmark message");
    let sig = rsa.sign_pkcs1v15(Some(HashAlg::Sha256), &d).expect("sign");
    c.bench_function("rsa2048_sign_pkcs1_sha256", |b| {
        b.iter(|| rsa.sign_pkcs1v15(Some(HashAlg::Sha256), black_box(&d)))
    });
    c.bench_function("rsa2048_verify_pkcs1_sha256", |b| {
        b.iter(|| rsa_pub.verify_pkcs1v15(Some(HashAlg::Sha256), black_box(&d), &sig))
    });

    let ec = EcPrivateKey::generate(EcCurve::P256).expect("EC key");
    let ec_pub = ec.public_key();
    let ec_sig = ec.sign_prehash(&d).expect("sign");
    c.bench_function("ecdsa_p256_sign", |b| {
        b.iter(|| ec.sign_prehash(black_box(&d)))
    });
    c.bench_function("ecdsa_p256_verify", |b| {
        b.iter(|| ec_pub.verify_prehash(black_box(&d), &ec_sig))
    });
}

fn hashing(c: &mut Criterion) {
    let data = vec![0x5au8; 1 << 20];
    let mut group = c.benchmark_group("hash_1mib");
    group.throughput(Throughput::Bytes(data.len() as u64));
    for (name, alg) in [
        ("sha256", HashAlg::Sha256),
        ("streebog256", HashAlg::Streebog256),
    ] {
        group.bench_function(name, |b| b.iter(|| digest(alg, black_box(&data))));
    }
    group.finish();
}

criterion_group!(benches, signatures, hashing);
criterion_main!(benches);
