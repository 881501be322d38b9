//! `tokenemu token fault`: rules set from the command line reach a PKCS#11
//! client of `libtokenemu.so` (through the `cryptoki` crate, in this
//! process) at its next `C_Initialize`, fire on the chosen call with the
//! chosen `CK_RV`, repeat from the seed, and go away with `--clear`.
//!
//! Loads `target/debug/libtokenemu.so` (`cargo build -p tokenemu-pkcs11`;
//! `scripts/test` builds it) or `$TOKENEMU_MODULE`.

mod support {
    pub mod cli_env;
}

use std::path::PathBuf;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::slot::Slot;

use support::cli_env::Env;

fn emulator() -> PathBuf {
    if let Some(m) = std::env::var_os("TOKENEMU_MODULE").filter(|v| !v.is_empty()) {
        return PathBuf::from(m);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/libtokenemu.so");
    assert!(
        p.exists(),
        "{} missing: run `cargo build -p tokenemu-pkcs11` (scripts/test does)",
        p.display()
    );
    p
}

/// `C_Initialize`, one session on slot 0, `C_GenerateRandom` `n` times: which calls failed, with what.
fn random_calls(n: usize) -> Vec<Option<RvError>> {
    let p11 = Pkcs11::new(emulator()).unwrap();
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot: Slot = p11
        .get_all_slots()
        .unwrap()
        .into_iter()
        .find(|s| s.id() == 0)
        .unwrap();
    let session = p11.open_ro_session(slot).unwrap();
    let answers = (0..n)
        .map(|_| match session.generate_random_vec(16) {
            Ok(_) => None,
            Err(Error::Pkcs11(rv, _)) => Some(rv),
            Err(e) => panic!("not a PKCS#11 error: {e}"),
        })
        .collect();
    drop(session);
    p11.finalize().unwrap();
    answers
}

#[test]
fn cli_faults_reach_a_pkcs11_client_and_clear_removes_them() {
    let env = Env::new();
    let (store, conf) = (env.store(), env.conf.clone());
    // This process is the PKCS#11 client; it is the only test in this binary.
    std::env::set_var("TOKENEMU_CONF", &conf);
    // The injected failures are logged as warnings; keep the output readable.
    std::env::set_var("TOKENEMU_LOG", "error");

    assert!(random_calls(4).iter().all(Option::is_none));

    let out = env.ok(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "C_GenerateRandom",
        "--rv",
        "CKR_DEVICE_MEMORY",
        "--nth",
        "3",
    ]);
    assert!(
        out.contains("C_GenerateRandom → CKR_DEVICE_MEMORY on call 3"),
        "{out}"
    );
    assert!(store.join("faults.toml").exists());
    let list = env.ok(&["token", "fault", "--slot", "0", "--list"]);
    assert!(
        list.contains("C_GenerateRandom → CKR_DEVICE_MEMORY on call 3"),
        "{list}"
    );
    assert!(list.contains("faults.toml"), "{list}");

    // The 3rd call, and only the 3rd, fails with the chosen CK_RV.
    assert_eq!(
        random_calls(5),
        [None, None, Some(RvError::DeviceMemory), None, None]
    );

    // Seeded random faults on another function add to the file and repeat
    // exactly from the seed.
    env.ok(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "C_GenerateRandom",
        "--rv",
        "CKR_FUNCTION_FAILED",
        "--probability",
        "0.5",
        "--seed",
        "11",
    ]);
    let first = random_calls(40);
    assert_eq!(
        first[2],
        Some(RvError::DeviceMemory),
        "the nth rule comes first"
    );
    let random_failures = first
        .iter()
        .filter(|r| **r == Some(RvError::FunctionFailed))
        .count();
    assert!((8..=32).contains(&random_failures), "{first:?}");
    assert_eq!(random_calls(40), first, "same seed, same faults");
    env.ok(&["token", "fault", "--slot", "0", "--seed", "12"]);
    assert_ne!(random_calls(40), first, "another seed, other faults");

    let out = env.ok(&["token", "fault", "--slot", "0", "--clear"]);
    assert!(out.contains("2 fault rule(s) removed"), "{out}");
    assert!(!store.join("faults.toml").exists());
    assert!(random_calls(40).iter().all(Option::is_none));
    let list = env.ok(&["token", "fault", "--slot", "0", "--list"]);
    assert!(list.contains("no fault rules"), "{list}");
}

#[test]
fn bad_fault_options_are_refused_with_the_reason() {
    let env = Env::new();
    let fail = |args: &[&str]| {
        let o = env.run_env(args, &[]);
        assert!(!o.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = fail(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "C_Sign",
        "--rv",
        "CKR_NOPE",
        "--nth",
        "1",
    ]);
    assert!(e.contains("CKR_NOPE"), "{e}");
    let e = fail(&["token", "fault", "--slot", "0", "--function", "C_Sign"]);
    assert!(e.contains("exactly one of nth, every, probability"), "{e}");
    let e = fail(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "C_Sign",
        "--nth",
        "1",
        "--every",
        "2",
    ]);
    assert!(e.contains("--every"), "{e}");
    let e = fail(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "C_Sign",
        "--probability",
        "1.5",
    ]);
    assert!(e.contains("0..=1"), "{e}");
    assert!(!env.store().join("faults.toml").exists(), "nothing written");
}
