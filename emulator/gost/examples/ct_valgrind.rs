//! Constant-time audit of the signing path under Valgrind's memcheck (the
//! "ctgrind" method; see `emulator/gost/CONSTANT_TIME.md`).
//!
//! The private key `d` and the nonce `k` are marked as *undefined* memory;
//! memcheck then follows them through every copy and every arithmetic
//! operation and reports each conditional branch ("Conditional jump or move
//! depends on uninitialised value(s)") and each memory address ("Use of
//! uninitialised value") computed from them. For every parameter set (so
//! every field and scalar instantiation, 256- and 512-bit, Montgomery and
//! pseudo-Mersenne) it runs key import, public-key derivation, signing with
//! the OS nonce and signing with a tainted fixed nonce.
//!
//! Results that are public by design are marked defined again before use
//! (the signature, the public key). The only reports allowed are the
//! documented declassifications, each a yes/no on public facts: whether the
//! imported `d` and `k` are in `[1, q-1]` and whether `r` or `s` came out 0.
//!
//! ```sh
//! cargo build --release -p tokenemu-gost --example ct_valgrind
//! valgrind --num-callers=12 target/release/examples/ct_valgrind 2> ct.log   # exit 0: clean
//! ```
//!
//! Outside Valgrind the requests are no-ops and the program only checks that
//! the signatures verify.

use tokenemu_gost::{param_sets, SigningKey, VerifyingKey};

/// `VG_USERREQ__MAKE_MEM_UNDEFINED` (memcheck.h).
const MAKE_MEM_UNDEFINED: u64 = 0x4d43_0001;
/// `VG_USERREQ__MAKE_MEM_DEFINED` (memcheck.h).
const MAKE_MEM_DEFINED: u64 = 0x4d43_0002;
/// `VG_USERREQ__RUNNING_ON_VALGRIND` (valgrind.h).
const RUNNING_ON_VALGRIND: u64 = 0x1001;
/// `VG_USERREQ__COUNT_ERRORS` (valgrind.h).
const COUNT_ERRORS: u64 = 0x1201;

/// A Valgrind client request (valgrind.h, amd64 `VALGRIND_DO_CLIENT_REQUEST_EXPR`):
/// returns `default` when not running under Valgrind.
#[cfg(target_arch = "x86_64")]
fn client_request(request: u64, arg1: u64, arg2: u64, default: u64) -> u64 {
    let args: [u64; 6] = [request, arg1, arg2, 0, 0, 0];
    let mut result = default;
    // SAFETY: this is Valgrind's "special instruction" sequence. On a real CPU
    // the four rotations turn rdi by 128 bits (no change) and `xchg rbx, rbx`
    // does nothing, so the only effect is none; under Valgrind the sequence
    // makes it read the six words at rax (alive for the whole block) and write
    // its answer to rdx. No register other than rdx is changed.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") result,
            in("rax") args.as_ptr(),
            out("rdi") _,
            options(nostack),
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(_request: u64, _arg1: u64, _arg2: u64, default: u64) -> u64 {
    default
}

fn mark_secret(buf: &[u8]) {
    client_request(MAKE_MEM_UNDEFINED, buf.as_ptr() as u64, buf.len() as u64, 0);
}

fn mark_public(buf: &[u8]) {
    client_request(MAKE_MEM_DEFINED, buf.as_ptr() as u64, buf.len() as u64, 0);
}

fn errors_so_far() -> u64 {
    client_request(COUNT_ERRORS, 0, 0, 0)
}

/// Memcheck errors each stage of `main` must raise: the declassifications of
/// public yes/no facts, one each.
/// 1. `SigningKey::from_le_bytes`: is the imported d in [1, q-1]?
/// 2. `sign::public_key`: the same check when decoding d for `Q = dG`;
/// 3. `sign::sign`: the same check before signing;
/// 4. `sign::sign_with_k`: is r or s zero (then retry)? (OS nonce);
/// 5. `sign::sign_fixed_k`: is d valid?
/// 6. `sign::sign_fixed_k`: is the fixed k in [1, q-1]?
/// 7. `sign::sign_with_k`: is r or s zero? (fixed nonce).
const EXPECTED_PER_STAGE: u64 = 7;

fn main() -> std::process::ExitCode {
    let on_valgrind = client_request(RUNNING_ON_VALGRIND, 0, 0, 0) != 0;
    if !on_valgrind {
        eprintln!("ct_valgrind: not running under Valgrind; the secrets are not tracked");
    }

    // Positive control: a deliberate table load at a tainted index must be
    // reported, or the tracking does not work and a clean result means nothing.
    // (The branch kind of report is shown by the seven declassifications.)
    let control = std::hint::black_box(vec![0x5Au8; 8]);
    let table = std::hint::black_box([7u8; 256]);
    mark_secret(&control);
    let before = errors_so_far();
    std::hint::black_box(table[usize::from(control[0])]);
    let control_seen = errors_so_far() - before;
    mark_public(&control);

    let mut stage_errors = Vec::new();
    for &params in param_sets() {
        let n = params.coordinate_len();
        // Two different secrets per set, so both runs go through the same path.
        for round in 0..2u8 {
            let before = errors_so_far();
            let d_le = SigningKey::generate(params).to_le_bytes();
            let digest: Vec<u8> = (0..n as u8).map(|i| i ^ round.wrapping_mul(0x5A)).collect();

            // Import: `d` is tainted from here on (the key keeps a copy).
            let d_buf = d_le.to_vec();
            mark_secret(&d_buf);
            let key = SigningKey::from_le_bytes(params, &d_buf).expect("valid d");

            // Q = dG. The key is public: verification below runs on a
            // re-imported, untainted copy.
            let xy = key.verifying_key().to_le_xy();
            mark_public(&xy);
            let vk = VerifyingKey::from_le_xy(params, &xy).expect("valid Q");

            // Signing with the OS nonce (d tainted).
            let sig = key.sign_digest(&digest).expect("sign");
            mark_public(&sig);
            vk.verify_digest(&digest, &sig).expect("signature verifies");

            // Signing with a tainted fixed nonce: k = a fresh valid scalar.
            let k_le = SigningKey::generate(params).to_le_bytes();
            let mut k_be: Vec<u8> = k_le.iter().rev().copied().collect();
            mark_secret(&k_be);
            let sig_k = key.sign_digest_with_k(&digest, &k_be).expect("sign with k");
            mark_public(&sig_k);
            vk.verify_digest(&digest, &sig_k)
                .expect("signature verifies");
            k_be.fill(0);

            let new_errors = errors_so_far() - before;
            stage_errors.push((params.name, round, new_errors));
        }
    }
    if !on_valgrind {
        println!("all signatures verify (run under valgrind for the audit)");
        return std::process::ExitCode::SUCCESS;
    }
    println!("positive control (a load at a tainted index): {control_seen} error(s), expected 1");
    println!("parameter set, round: memcheck errors (expected {EXPECTED_PER_STAGE} each)");
    let mut ok = control_seen == 1;
    for (name, round, errs) in &stage_errors {
        let verdict = if *errs == EXPECTED_PER_STAGE {
            "ok"
        } else {
            "UNEXPECTED"
        };
        ok &= *errs == EXPECTED_PER_STAGE;
        println!("  {name:<16} {round}: {errs} {verdict}");
    }
    if ok {
        println!("ct_valgrind: only the documented declassifications depend on d and k");
        std::process::ExitCode::SUCCESS
    } else {
        println!("ct_valgrind: secret-dependent branch or address found; see memcheck's report");
        std::process::ExitCode::FAILURE
    }
}
