//! Resource limits (issue 5): the profile's object storage ("memory full",
//! CKR_DEVICE_MEMORY), object count and session count, their per-slot
//! overrides in the configuration, and what `CK_TOKEN_INFO` reports.

use std::sync::Arc;

use tokenemu_core::ck::*;
use tokenemu_core::config::Config;
use tokenemu_core::object::attribute::Attribute as A;
use tokenemu_core::profile::Profile;
use tokenemu_core::{Error, Module};

const RW: CK_FLAGS = CKF_SERIAL_SESSION | CKF_RW_SESSION;
const SLOT: CK_SLOT_ID = 5;

struct Fixture {
    _dir: tempfile::TempDir,
    module: Arc<Module>,
}

/// One eToken slot with `extra` lines in its `[[slot]]`.
fn etoken(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "[[slot]]\nid = {SLOT}\nprofile = \"etoken\"\nstore = \"{}\"\n{extra}\n",
        dir.path().join("t").display()
    );
    let module = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
    Fixture { _dir: dir, module }
}

fn data(label: &str, value_len: usize, token: bool) -> Vec<A> {
    vec![
        A::ulong(CKA_CLASS, CKO_DATA),
        A::bool(CKA_TOKEN, token),
        A::bytes(CKA_LABEL, label.as_bytes().to_vec()),
        A::bytes(CKA_VALUE, vec![0x42; value_len]),
    ]
}

/// Creates token objects with `value_len`-byte values until the token
/// answers something else than OK; returns how many fit and that answer.
fn fill(f: &Fixture, s: CK_SESSION_HANDLE, value_len: usize, at_most: usize) -> (usize, Error) {
    for i in 0..at_most {
        if let Err(e) = f
            .module
            .create_object(s, data(&format!("fill {i}"), value_len, true))
        {
            return (i, e);
        }
    }
    panic!("{at_most} objects of {value_len} bytes all fit");
}

#[test]
fn builtin_profiles_have_their_real_memory_and_default_to_it() {
    for (name, _) in tokenemu_core::profile::BUILTIN {
        let p = Profile::builtin(name).unwrap();
        if *name == "softtoken" {
            // Not a device: the CI stand-in for SoftHSM2 sets no cap.
            assert_eq!(p.token.memory, 0, "softtoken has no memory cap");
            continue;
        }
        assert!(
            (64 * 1024..=128 * 1024).contains(&p.token.memory),
            "{name}: memory {} is not a 64–128 KiB token's",
            p.token.memory
        );
        assert!(
            p.assumed.contains_key("token.memory"),
            "{name}: say where the figure comes from"
        );
    }
    let f = etoken("");
    let memory = Profile::builtin("etoken").unwrap().token.memory;
    let info = f.module.token_info(SLOT).unwrap();
    assert_eq!(info.ulTotalPublicMemory, memory);
    assert_eq!(info.ulFreePublicMemory, memory, "a new token is empty");
    let s = f.module.open_session(SLOT, RW).unwrap();
    // 4 KiB values: a 72 KiB token holds at most 18 of them.
    let (n, e) = fill(&f, s, 4096, 100);
    assert!(matches!(e, Error::DeviceMemory), "{e:?}");
    assert_eq!(CK_RV::from(&e), CKR_DEVICE_MEMORY);
    assert!((10..=18).contains(&n), "{n} objects of 4 KiB fit in 72 KiB");
    let info = f.module.token_info(SLOT).unwrap();
    assert!(
        info.ulFreePublicMemory < 4096 + 200,
        "{}",
        info.ulFreePublicMemory
    );
}

#[test]
fn memory_full_counts_bytes_and_frees_on_destroy() {
    let f = etoken("memory = 4096");
    let s = f.module.open_session(SLOT, RW).unwrap();
    let info = f.module.token_info(SLOT).unwrap();
    assert_eq!(
        (info.ulTotalPublicMemory, info.ulTotalPrivateMemory),
        (4096, 4096)
    );
    let (n, e) = fill(&f, s, 1000, 10);
    assert!(matches!(e, Error::DeviceMemory), "{e:?}");
    assert!((2..=4).contains(&n), "{n} objects of 1,000 bytes in 4,096");
    let info = f.module.token_info(SLOT).unwrap();
    let free = info.ulFreePublicMemory;
    assert!(free < 1200, "{free} bytes free after the token said full");
    // A small object still fits where a big one did not.
    let small = f.module.create_object(s, data("small", 1, true)).unwrap();
    // Session objects live in the host's memory, not the token's.
    f.module
        .create_object(s, data("session", 3000, false))
        .expect("session objects are not counted against token memory");
    // Growing an object beyond the free space fails and changes nothing.
    let grown = vec![A::bytes(CKA_LABEL, vec![b'x'; 3000])];
    assert!(matches!(
        f.module.set_attributes(s, small, grown),
        Err(Error::DeviceMemory)
    ));
    // Destroying frees the space again.
    let all = {
        f.module
            .find_init(s, vec![A::bool(CKA_TOKEN, true)])
            .unwrap();
        let v = f.module.find_next(s, 100).unwrap();
        f.module.find_final(s).unwrap();
        v
    };
    assert_eq!(all.len(), n + 1);
    f.module.destroy_object(s, all[0]).unwrap();
    assert!(f.module.token_info(SLOT).unwrap().ulFreePublicMemory > free);
    f.module
        .create_object(s, data("again", 1000, true))
        .expect("room after a destroy");
}

#[test]
fn memory_and_object_caps_can_be_lifted_per_slot() {
    let f = etoken("memory = \"unlimited\"\nmax_objects = 0");
    let info = f.module.token_info(SLOT).unwrap();
    assert_eq!(info.ulTotalPublicMemory, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(info.ulFreePublicMemory, CK_UNAVAILABLE_INFORMATION);
    let s = f.module.open_session(SLOT, RW).unwrap();
    // 100 KiB on a token whose profile has 72 KiB.
    for i in 0..25 {
        f.module
            .create_object(s, data(&format!("big {i}"), 4096, true))
            .unwrap_or_else(|e| panic!("object {i}: {e}"));
    }
}

#[test]
fn max_objects_caps_token_objects() {
    let f = etoken("max_objects = 3\nmemory = \"unlimited\"");
    let s = f.module.open_session(SLOT, RW).unwrap();
    let (n, e) = fill(&f, s, 10, 10);
    assert_eq!(n, 3);
    assert!(matches!(e, Error::DeviceMemory), "{e:?}");
    f.module
        .create_object(s, data("session", 10, false))
        .expect("session objects are not token objects");
}

#[test]
fn max_sessions_caps_open_sessions() {
    let f = etoken("max_sessions = 2");
    let info = f.module.token_info(SLOT).unwrap();
    assert_eq!(info.ulMaxSessionCount, 2);
    let a = f.module.open_session(SLOT, CKF_SERIAL_SESSION).unwrap();
    let _b = f.module.open_session(SLOT, RW).unwrap();
    let e = f.module.open_session(SLOT, CKF_SERIAL_SESSION).unwrap_err();
    assert!(matches!(e, Error::SessionCount), "{e:?}");
    assert_eq!(CK_RV::from(&e), CKR_SESSION_COUNT);
    f.module.close_session(a).unwrap();
    f.module
        .open_session(SLOT, CKF_SERIAL_SESSION)
        .expect("a closed session frees its place");
}

#[test]
fn memory_full_is_reported_for_token_key_generation_too() {
    // Room for about one RSA-2048 key pair.
    let f = etoken("memory = 2500");
    let s = f.module.open_session(SLOT, RW).unwrap();
    f.module.login(s, CKU_USER, b"1234567890").unwrap();
    let mech = tokenemu_core::mechanism::params::Mechanism {
        mech: CKM_RSA_PKCS_KEY_PAIR_GEN,
        param: tokenemu_core::mechanism::params::MechParam::None,
    };
    let public = vec![
        A::bool(CKA_TOKEN, true),
        A::ulong(CKA_MODULUS_BITS, 2048),
        A::bytes(CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
    ];
    let private = vec![A::bool(CKA_TOKEN, true), A::bool(CKA_PRIVATE, true)];
    let mut results = Vec::new();
    for _ in 0..3 {
        results.push(
            f.module
                .generate_key_pair(s, mech.clone(), public.clone(), private.clone()),
        );
    }
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(Error::DeviceMemory))),
        "{results:?}"
    );
    // Both halves or neither: the count of token objects is even.
    f.module
        .find_init(s, vec![A::bool(CKA_TOKEN, true)])
        .unwrap();
    let found = f.module.find_next(s, 100).unwrap();
    assert_eq!(found.len() % 2, 0, "{found:?}");
}
