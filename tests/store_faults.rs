//! Slots whose store cannot be used, and write-protected tokens, through the
//! built module:
//!
//! * a store that cannot be opened or created (its parent is a regular file,
//!   or it would be created on a read-only file system) disables only its
//!   slot: `C_Initialize` succeeds, that slot shows no token
//!   (`CKF_TOKEN_PRESENT` clear, `CKR_TOKEN_NOT_PRESENT`), the others work —
//!   through cryptoki and through `pkcs11-tool -L`;
//! * a token whose store is on a read-only file system is write-protected:
//!   it logs in and signs in read-only sessions, shows `CKF_WRITE_PROTECTED`,
//!   answers every write with `CKR_TOKEN_WRITE_PROTECTED`, and still counts
//!   wrong PINs (in this process) up to the lock.
//!
//! The read-only file system is a remounted tmpfs (root needed; skipped
//! loudly otherwise, failed with `TOKENEMU_REQUIRE_TOOLS=1`).

mod common;
mod tools;

use std::path::Path;
use std::process::Command;

use common::{assert_rv, init, load, module_path, SlotSpec, TestEnv, ETOKEN};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::Encode;
use serial_test::serial;
use tools::mount::Tmpfs;

const BROKEN: u64 = 0;

/// Slot 0 (JaCarta GOST) and slot 1 (eToken), with slot `id`'s store in
/// `store` instead of the test's temp dir.
fn env_with_store(id: u64, store: &Path) -> TestEnv {
    let env = TestEnv::new(&[
        SlotSpec {
            id: BROKEN,
            profile: "jacarta-gost",
            present: true,
        },
        SlotSpec {
            id: ETOKEN,
            profile: "etoken",
            present: true,
        },
    ]);
    let text = std::fs::read_to_string(&env.conf).unwrap().replace(
        &format!("\"{}\"", env.store_dir(id).display()),
        &format!("\"{}\"", store.display()),
    );
    assert!(text.contains(&store.display().to_string()));
    std::fs::write(&env.conf, text).unwrap();
    env
}

/// A store path whose parent is a regular file: it can be neither opened
/// nor created, by root either.
fn path_under_a_file(scratch: &tempfile::TempDir) -> std::path::PathBuf {
    let blocker = scratch.path().join("not-a-directory");
    std::fs::write(&blocker, b"a regular file").unwrap();
    blocker.join("slot-0")
}

fn p256_params() -> Vec<u8> {
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7")
        .to_der()
        .unwrap()
}

/// C_Initialize succeeds, slot 0 shows no token, slot 1 logs in and signs.
fn check_only_slot0_is_disabled() {
    let p11 = load();
    init(&p11).expect("C_Initialize must not fail for one bad slot");
    let broken = Slot::try_from(BROKEN).unwrap();
    let good = Slot::try_from(ETOKEN).unwrap();
    assert_eq!(p11.get_all_slots().unwrap(), vec![broken, good]);
    assert_eq!(p11.get_slots_with_token().unwrap(), vec![good]);
    assert!(!p11.get_slot_info(broken).unwrap().token_present());
    assert_rv(p11.get_token_info(broken), RvError::TokenNotPresent);
    assert_rv(p11.open_ro_session(broken), RvError::TokenNotPresent);
    assert_rv(p11.get_mechanism_list(broken), RvError::TokenNotPresent);

    assert!(p11.get_slot_info(good).unwrap().token_present());
    let s = p11.open_rw_session(good).unwrap();
    s.login(UserType::User, Some(&AuthPin::from("1234567890")))
        .unwrap();
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(p256_params()),
                Attribute::Verify(true),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .unwrap();
    let sig = s.sign(&Mechanism::Ecdsa, private, &[7; 32]).unwrap();
    s.verify(&Mechanism::Ecdsa, public, &[7; 32], &sig).unwrap();
    drop(s);
    p11.finalize().unwrap();
}

#[test]
#[serial]
fn a_store_under_a_regular_file_disables_only_its_slot() {
    let scratch = tempfile::tempdir().unwrap();
    let bad = path_under_a_file(&scratch);
    let _env = env_with_store(BROKEN, &bad);
    check_only_slot0_is_disabled();
    assert!(!bad.exists());
}

#[test]
#[serial]
fn a_store_that_cannot_be_created_on_a_read_only_file_system_disables_only_its_slot() {
    let Some(fs) = Tmpfs::mount(256) else { return };
    fs.remount_read_only();
    let _env = env_with_store(BROKEN, &fs.path().join("slot-0"));
    check_only_slot0_is_disabled();
}

#[test]
#[serial]
fn pkcs11_tool_lists_the_good_token_next_to_an_unopenable_store() {
    let Some(_) = tools::require("pkcs11-tool", "opensc") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let env = env_with_store(BROKEN, &path_under_a_file(&scratch));
    let mut cmd = Command::new("pkcs11-tool");
    cmd.arg("--module").arg(module_path()).arg("-L");
    let out = tools::run_ok(&mut cmd, &env.conf);
    let profile = env.profile(ETOKEN);
    assert!(
        out.contains(&profile.token.label),
        "pkcs11-tool -L does not show the eToken ({:?}):\n{out}",
        profile.token.label
    );
    assert!(
        out.contains("(empty)"),
        "slot 0 should show no token:\n{out}"
    );
}

// ---------------------------------------------------------------------------
// Write-protected token
// ---------------------------------------------------------------------------

#[test]
#[serial]
fn a_read_only_store_signs_and_refuses_writes_with_token_write_protected() {
    let Some(fs) = Tmpfs::mount(8 * 1024) else {
        return;
    };
    let env = env_with_store(ETOKEN, &fs.path().join("slot-1"));
    let pin = env.user_pin(ETOKEN);
    let slot = Slot::try_from(ETOKEN).unwrap();

    // A token with a key pair, on a writable file system.
    let p11 = load();
    init(&p11).unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin)).unwrap();
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::EcParams(p256_params()),
            Attribute::Verify(true),
            Attribute::Label(b"ro".to_vec()),
        ],
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sign(true),
            Attribute::Label(b"ro".to_vec()),
        ],
    )
    .unwrap();
    drop(s);
    p11.finalize().unwrap();
    fs.remount_read_only();

    let p11 = load();
    init(&p11).expect("C_Initialize on a read-only store");
    let info = p11.get_token_info(slot).unwrap();
    assert!(info.write_protected(), "CKF_WRITE_PROTECTED must be set");
    assert!(!p11
        .get_token_info(Slot::try_from(BROKEN).unwrap())
        .unwrap()
        .write_protected());
    assert_rv(p11.open_rw_session(slot), RvError::TokenWriteProtected);
    let s = p11.open_ro_session(slot).unwrap();
    s.login(UserType::User, Some(&pin)).unwrap();
    let private = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"ro".to_vec()),
        ])
        .unwrap()[0];
    let public = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(b"ro".to_vec()),
        ])
        .unwrap()[0];
    let sig = s.sign(&Mechanism::Ecdsa, private, &[1; 32]).unwrap();
    s.verify(&Mechanism::Ecdsa, public, &[1; 32], &sig).unwrap();

    // Every write to the token is refused as write-protected.
    let data_object = |token: bool| {
        vec![
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(token),
            Attribute::Value(b"x".to_vec()),
        ]
    };
    assert_rv(
        s.create_object(&data_object(true)),
        RvError::TokenWriteProtected,
    );
    assert_rv(s.destroy_object(public), RvError::TokenWriteProtected);
    assert_rv(
        s.update_attributes(public, &[Attribute::Label(b"new".to_vec())]),
        RvError::TokenWriteProtected,
    );
    assert_rv(
        s.generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(p256_params()),
                Attribute::Verify(true),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        ),
        RvError::TokenWriteProtected,
    );
    assert_rv(
        s.set_pin(&pin, &AuthPin::from("9876543210")),
        RvError::TokenWriteProtected,
    );
    // Session objects need no store.
    let temp = s.create_object(&data_object(false)).unwrap();
    s.destroy_object(temp).unwrap();

    // Wrong PINs are counted although the counter cannot be stored, and
    // the count survives C_Finalize / C_Initialize in this process.
    s.logout().unwrap();
    let retries = env.profile(ETOKEN).pin.user_retries;
    let wrong = AuthPin::from("0000000000");
    for _ in 1..retries {
        assert_rv(s.login(UserType::User, Some(&wrong)), RvError::PinIncorrect);
    }
    assert!(p11.get_token_info(slot).unwrap().user_pin_final_try());
    drop(s);
    p11.finalize().unwrap();
    let p11 = load();
    init(&p11).unwrap();
    assert!(p11.get_token_info(slot).unwrap().user_pin_final_try());
    let s = p11.open_ro_session(slot).unwrap();
    assert_rv(s.login(UserType::User, Some(&wrong)), RvError::PinLocked);
    assert_rv(s.login(UserType::User, Some(&pin)), RvError::PinLocked);
    drop(s);
    assert_rv(
        p11.init_token(slot, &env.so_pin(ETOKEN), "label"),
        RvError::TokenWriteProtected,
    );
    p11.finalize().unwrap();

    // Nothing reached the store: on a writable file system again the token
    // is as it was, its PIN not locked.
    fs.remount_read_write();
    let p11 = load();
    init(&p11).unwrap();
    let info = p11.get_token_info(slot).unwrap();
    assert!(!info.write_protected() && !info.user_pin_locked());
    let s = p11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin)).unwrap();
    assert_eq!(
        s.find_objects(&[Attribute::Label(b"ro".to_vec())])
            .unwrap()
            .len(),
        2
    );
    drop(s);
    p11.finalize().unwrap();
}

// ---------------------------------------------------------------------------
// Full disk
// ---------------------------------------------------------------------------

#[test]
#[serial]
fn a_full_disk_is_device_memory_and_changes_nothing() {
    let Some(fs) = Tmpfs::mount(1024) else {
        return;
    };
    let env = env_with_store(ETOKEN, &fs.path().join("slot-1"));
    // Lift the profile's memory figure: the disk is to fill up, not the token.
    let text = std::fs::read_to_string(&env.conf).unwrap().replace(
        &format!("id = {ETOKEN}\n"),
        &format!("id = {ETOKEN}\nmemory = \"unlimited\"\nmax_objects = 0\n"),
    );
    std::fs::write(&env.conf, text).unwrap();
    let slot = Slot::try_from(ETOKEN).unwrap();
    let p11 = load();
    init(&p11).unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    let blob = |i: u8| {
        vec![
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label(vec![b'd', i]),
            Attribute::Value(vec![i; 64 * 1024]),
        ]
    };
    let data = [Attribute::Class(ObjectClass::DATA)];
    let mut created = Vec::new();
    let full = loop {
        assert!(created.len() < 64, "a 1 MiB tmpfs never filled up");
        match s.create_object(&blob(created.len() as u8)) {
            Ok(h) => created.push(h),
            Err(e) => break e,
        }
    };
    assert_eq!(common::rv_of(&full), RvError::DeviceMemory, "{full}");
    assert_eq!(s.find_objects(&data).unwrap().len(), created.len());
    // A fresh module reads the same from the store; no temporary is left.
    drop(s);
    p11.finalize().unwrap();
    for d in [fs.path().join("slot-1"), fs.path().join("slot-1/objects")] {
        for e in std::fs::read_dir(d).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp") && name != "journal", "{name} left");
        }
    }
    let p11 = load();
    init(&p11).unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    assert_eq!(s.find_objects(&data).unwrap().len(), created.len());
    // Space back: the object that did not fit is created now.
    s.destroy_object(s.find_objects(&data).unwrap()[0]).unwrap();
    s.destroy_object(s.find_objects(&data).unwrap()[0]).unwrap();
    s.create_object(&blob(200)).unwrap();
    assert_eq!(s.find_objects(&data).unwrap().len(), created.len() - 1);
    drop(s);
    p11.finalize().unwrap();
}
