//! Sign / verify throughput on the parameter sets real tokens use most.
//!
//! Run: `cargo bench -p tokenemu-gost -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tokenemu_gost::{ParamSet, SigningKey, CRYPTOPRO_A, TC26_256_A, TC26_512_A, TC26_512_C};

fn bench_set(c: &mut Criterion, params: &'static ParamSet) {
    let key = SigningKey::generate(params);
    let vk = key.verifying_key();
    let digest: Vec<u8> = (0..params.coordinate_len() as u8).collect();
    let sig = key.sign_digest(&digest).expect("sign");

    let mut group = c.benchmark_group(params.name);
    group.bench_function("sign", |b| {
        b.iter(|| key.sign_digest(black_box(&digest)).expect("sign"))
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            vk.verify_digest(black_box(&digest), black_box(&sig))
                .expect("verify")
        })
    });
    group.bench_function("keygen", |b| {
        b.iter(|| SigningKey::generate(params).verifying_key())
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    // Build the fixed-base tables outside the measurements.
    for p in [&CRYPTOPRO_A, &TC26_256_A, &TC26_512_A, &TC26_512_C] {
        let _ = SigningKey::generate(p).verifying_key();
    }
    bench_set(c, &CRYPTOPRO_A);
    bench_set(c, &TC26_256_A);
    bench_set(c, &TC26_512_A);
    bench_set(c, &TC26_512_C);
}

criterion_group!(gost, benches);
criterion_main!(gost);
