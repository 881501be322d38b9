//! The signing core through the emulator's mechanism layer: `tokenemu_core`'s
//! `Module` (session → key cache → mechanism registry → tokenemu-crypto /
//! tokenemu-gost), the same path `C_SignInit` + `C_Sign` take without the C
//! boundary. One operation = init + single-part call, as a PKCS#11 client
//! makes it. The primitives alone are in `emulator/crypto/benches/core_sign.rs`
//! and `emulator/gost/benches/gost_sign.rs`; the exported C functions in
//! `ffi_path.rs`; whole modules side by side in `tokenemu bench`.
//!
//! `cargo bench -p tokenemu-benches --bench signing_core -- --warm-up-time 1 --measurement-time 3`

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tokenemu_core::api::{OpKind, OutSpec, Output};
use tokenemu_core::ck::*;
use tokenemu_core::config::Config;
use tokenemu_core::mechanism::params::Mechanism;
use tokenemu_core::object::attribute::Attribute as A;
use tokenemu_core::profile::Profile;
use tokenemu_core::Module;

/// DER of P-256, CryptoPro-A and tc26-512-A.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const CRYPTOPRO_A: &[u8] = &[0x06, 0x07, 0x2a, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01];
const TC26_512_A: &[u8] = &[
    0x06, 0x09, 0x2a, 0x85, 0x03, 0x07, 0x01, 0x02, 0x01, 0x02, 0x01,
];

/// A module with an eToken (slot 0: RSA, ECDSA) and a JaCarta GOST
/// (slot 1) on temporary stores, a logged-in session on each.
struct Fixture {
    _dir: tempfile::TempDir,
    module: Arc<Module>,
    etoken: CK_SESSION_HANDLE,
    gost: CK_SESSION_HANDLE,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let conf = format!(
        "[[slot]]\nid = 0\nprofile = \"etoken\"\nstore = \"{}\"\n\n\
         [[slot]]\nid = 1\nprofile = \"jacarta-gost\"\nstore = \"{}\"\n",
        dir.path().join("etoken").display(),
        dir.path().join("gost").display()
    );
    let module = Module::new(Config::from_toml_str(&conf).expect("config")).expect("module");
    let mut sessions = Vec::new();
    for (slot, profile) in [(0, "etoken"), (1, "jacarta-gost")] {
        let pin = Profile::builtin(profile)
            .expect("profile")
            .pin
            .default_user_pin;
        let s = module
            .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
            .expect("session");
        module.login(s, CKU_USER, pin.as_bytes()).expect("login");
        sessions.push(s);
    }
    Fixture {
        _dir: dir,
        module,
        etoken: sessions[0],
        gost: sessions[1],
    }
}

/// A session-object key pair: (public, private).
fn key_pair(
    f: &Fixture,
    session: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    public_extra: Vec<A>,
) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let mut public = vec![A::bool(CKA_TOKEN, false), A::bool(CKA_VERIFY, true)];
    public.extend(public_extra);
    let private = vec![
        A::bool(CKA_TOKEN, false),
        A::bool(CKA_PRIVATE, true),
        A::bool(CKA_SENSITIVE, true),
        A::bool(CKA_SIGN, true),
    ];
    f.module
        .generate_key_pair(session, Mechanism::new(mech), public, private)
        .expect("key pair")
}

fn sign(
    f: &Fixture,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Vec<u8> {
    f.module
        .op_init(s, OpKind::Sign, Mechanism::new(mech), Some(key))
        .expect("C_SignInit");
    match f
        .module
        .op_single(s, OpKind::Sign, data, OutSpec::Capacity(512))
        .expect("C_Sign")
    {
        Output::Data(sig) => sig,
        Output::Len(n) => panic!("C_Sign answered a length ({n}) to a buffer"),
    }
}

fn verify(
    f: &Fixture,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    sig: &[u8],
) {
    f.module
        .op_init(s, OpKind::Verify, Mechanism::new(mech), Some(key))
        .expect("C_VerifyInit");
    f.module.verify(s, data, sig).expect("C_Verify");
}

fn digest(f: &Fixture, s: CK_SESSION_HANDLE, mech: CK_MECHANISM_TYPE, data: &[u8]) -> Vec<u8> {
    f.module
        .op_init(s, OpKind::Digest, Mechanism::new(mech), None)
        .expect("C_DigestInit");
    match f
        .module
        .op_single(s, OpKind::Digest, data, OutSpec::Capacity(64))
        .expect("C_Digest")
    {
        Output::Data(d) => d,
        Output::Len(n) => panic!("C_Digest answered a length ({n}) to a buffer"),
    }
}

/// A signature benchmark: name, session, mechanism, (public, private), input.
type Case<'a> = (
    &'static str,
    CK_SESSION_HANDLE,
    CK_MECHANISM_TYPE,
    (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE),
    &'a [u8],
);

fn signatures(c: &mut Criterion) {
    let f = fixture();
    let data: Vec<u8> = (0..1024u32).map(|i| (i * 31 + 7) as u8).collect();
    let hash = tokenemu_crypto::digest(tokenemu_crypto::HashAlg::Sha256, &data);
    let mut digest_info = tokenemu_crypto::HashAlg::Sha256
        .digest_info_prefix()
        .expect("SHA-256 DigestInfo prefix")
        .to_vec();
    digest_info.extend_from_slice(&hash);

    let rsa = key_pair(
        &f,
        f.etoken,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        vec![
            A::ulong(CKA_MODULUS_BITS, 2048),
            A::bytes(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
        ],
    );
    let ec = key_pair(
        &f,
        f.etoken,
        CKM_EC_KEY_PAIR_GEN,
        vec![A::bytes(CKA_EC_PARAMS, P256)],
    );
    let g256 = key_pair(
        &f,
        f.gost,
        CKM_GOSTR3410_KEY_PAIR_GEN,
        vec![A::bytes(CKA_GOSTR3410_PARAMS, CRYPTOPRO_A)],
    );
    let g512 = key_pair(
        &f,
        f.gost,
        CKM_GOSTR3410_512_KEY_PAIR_GEN,
        vec![A::bytes(CKA_GOSTR3410_PARAMS, TC26_512_A)],
    );

    // (name, session, mechanism, key pair, input)
    let cases: [Case<'_>; 5] = [
        (
            "rsa2048_sha256_rsa_pkcs_1k",
            f.etoken,
            CKM_SHA256_RSA_PKCS,
            rsa,
            &data,
        ),
        (
            "rsa2048_rsa_pkcs_digestinfo",
            f.etoken,
            CKM_RSA_PKCS,
            rsa,
            &digest_info,
        ),
        ("ecdsa_p256_hash", f.etoken, CKM_ECDSA, ec, &hash),
        (
            "gost256_streebog256_1k",
            f.gost,
            CKM_GOSTR3410_WITH_GOSTR3411_12_256,
            g256,
            &data,
        ),
        (
            "gost512_streebog512_1k",
            f.gost,
            CKM_GOSTR3410_WITH_GOSTR3411_12_512,
            g512,
            &data,
        ),
    ];
    let mut group = c.benchmark_group("core_sign");
    for (name, s, mech, (_, private), input) in cases {
        group.bench_function(name, |b| {
            b.iter(|| sign(&f, s, mech, private, black_box(input)))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("core_verify");
    for (name, s, mech, (public, private), input) in cases {
        let sig = sign(&f, s, mech, private, input);
        verify(&f, s, mech, public, input, &sig);
        group.bench_function(name, |b| {
            b.iter(|| verify(&f, s, mech, public, black_box(input), &sig))
        });
    }
    group.finish();
}

fn digests(c: &mut Criterion) {
    let f = fixture();
    for len in [1024usize, 1 << 20] {
        let data = vec![0x5au8; len];
        let mut group = c.benchmark_group(format!(
            "core_digest_{}",
            if len == 1024 { "1k" } else { "1m" }
        ));
        group.throughput(Throughput::Bytes(len as u64));
        for (name, s, mech) in [
            ("sha256", f.etoken, CKM_SHA256),
            ("streebog256", f.gost, CKM_GOSTR3411_12_256),
        ] {
            group.bench_function(name, |b| b.iter(|| digest(&f, s, mech, black_box(&data))));
        }
        group.finish();
    }
}

criterion_group!(benches, signatures, digests);
criterion_main!(benches);
