//! The core through its safe API: sessions, login state machine, PIN counters,
//! objects and mechanisms, with a throw-away store per test.

use std::sync::Arc;

use tokenemu_core::api::{AttrLookup, OpKind, OutSpec, Output};
use tokenemu_core::ck::*;
use tokenemu_core::config::Config;
use tokenemu_core::mechanism::params::{MechParam, Mechanism};
use tokenemu_core::object::attribute::Attribute as A;
use tokenemu_core::profile::Profile;
use tokenemu_core::{Error, Module};

struct Fixture {
    _dir: tempfile::TempDir,
    module: Arc<Module>,
    profile: Profile,
}

fn module(profile: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "[[slot]]\nid = 3\nprofile = \"{profile}\"\nstore = \"{}\"\n",
        dir.path().join("t").display()
    );
    let module = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
    Fixture {
        _dir: dir,
        module,
        profile: Profile::builtin(profile).unwrap(),
    }
}

const RW: CK_FLAGS = CKF_SERIAL_SESSION | CKF_RW_SESSION;

fn user_pin(f: &Fixture) -> Vec<u8> {
    f.profile.pin.default_user_pin.clone().into_bytes()
}
fn so_pin(f: &Fixture) -> Vec<u8> {
    f.profile.pin.default_so_pin.clone().into_bytes()
}

#[test]
fn token_info_follows_the_profile_and_default_pin_is_to_be_changed() {
    let f = module("etoken");
    let info = f.module.token_info(3).unwrap();
    assert_eq!(tokenemu_core::util::unpadded(&info.model), "eToken");
    assert_eq!(info.ulMinPinLen, f.profile.pin.min_len);
    assert_ne!(info.flags & CKF_USER_PIN_TO_BE_CHANGED, 0);
    assert_ne!(info.flags & CKF_DUAL_CRYPTO_OPERATIONS, 0);
    assert!(matches!(
        f.module.token_info(4),
        Err(Error::SlotIdInvalid(4))
    ));
}

#[test]
fn login_state_machine() {
    let f = module("etoken");
    let ro = f.module.open_session(3, CKF_SERIAL_SESSION).unwrap();
    assert!(matches!(
        f.module.open_session(3, 0),
        Err(Error::SessionParallelNotSupported)
    ));
    assert_eq!(
        f.module.session_info(ro).unwrap().state,
        CKS_RO_PUBLIC_SESSION
    );
    assert!(matches!(
        f.module.login(ro, CKU_SO, &so_pin(&f)),
        Err(Error::SessionReadOnlyExists)
    ));
    assert!(matches!(f.module.logout(ro), Err(Error::UserNotLoggedIn)));
    f.module.login(ro, CKU_USER, &user_pin(&f)).unwrap();
    assert_eq!(
        f.module.session_info(ro).unwrap().state,
        CKS_RO_USER_FUNCTIONS
    );
    assert!(matches!(
        f.module.login(ro, CKU_USER, &user_pin(&f)),
        Err(Error::UserAlreadyLoggedIn)
    ));
    let rw = f.module.open_session(3, RW).unwrap();
    assert_eq!(
        f.module.session_info(rw).unwrap().state,
        CKS_RW_USER_FUNCTIONS
    );
    f.module.logout(ro).unwrap();
    f.module.close_session(ro).unwrap();
    assert!(matches!(
        f.module.session_info(ro),
        Err(Error::SessionHandleInvalid(_))
    ));
    f.module.login(rw, CKU_SO, &so_pin(&f)).unwrap();
    assert_eq!(
        f.module.session_info(rw).unwrap().state,
        CKS_RW_SO_FUNCTIONS
    );
    assert!(matches!(
        f.module.login(rw, CKU_USER, &user_pin(&f)),
        Err(Error::UserAnotherAlreadyLoggedIn)
    ));
    assert!(matches!(
        f.module.open_session(3, CKF_SERIAL_SESSION),
        Err(Error::SessionReadWriteSoExists)
    ));
    assert!(matches!(
        f.module.login(rw, 77, b"x"),
        Err(Error::UserTypeInvalid(77))
    ));
    f.module.close_all_sessions(3).unwrap();
    assert!(matches!(
        f.module.session_info(rw),
        Err(Error::SessionHandleInvalid(_))
    ));
}

#[test]
fn wrong_pins_count_down_lock_and_persist_across_modules() {
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "[[slot]]\nid = 0\nprofile = \"jacarta-pki\"\nstore = \"{}\"\n",
        dir.path().display()
    );
    let profile = Profile::builtin("jacarta-pki").unwrap();
    let retries = profile.pin.user_retries;
    {
        let m = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
        let s = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
        for left in (1..retries).rev() {
            assert!(matches!(
                m.login(s, CKU_USER, b"99999999"),
                Err(Error::PinIncorrect)
            ));
            let flags = m.token_info(0).unwrap().flags;
            assert_ne!(flags & CKF_USER_PIN_COUNT_LOW, 0);
            assert_eq!(
                flags & CKF_USER_PIN_FINAL_TRY != 0,
                left == 1,
                "left {left}"
            );
        }
    }
    // A new module instance (another process, or after C_Finalize) sees the counter.
    let m = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
    let s = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_ne!(m.token_info(0).unwrap().flags & CKF_USER_PIN_FINAL_TRY, 0);
    assert!(matches!(
        m.login(s, CKU_USER, b"99999999"),
        Err(Error::PinLocked)
    ));
    assert_ne!(m.token_info(0).unwrap().flags & CKF_USER_PIN_LOCKED, 0);
    assert!(matches!(
        m.login(s, CKU_USER, profile.pin.default_user_pin.as_bytes()),
        Err(Error::PinLocked)
    ));
    // The SO unlocks by setting a new user PIN.
    m.close_session(s).unwrap();
    let rw = m.open_session(0, RW).unwrap();
    m.login(rw, CKU_SO, profile.pin.default_so_pin.as_bytes())
        .unwrap();
    assert!(matches!(m.init_pin(rw, b"12"), Err(Error::PinLenRange)));
    m.init_pin(rw, b"22223333").unwrap();
    m.logout(rw).unwrap();
    m.login(rw, CKU_USER, b"22223333").unwrap();
    let flags = m.token_info(0).unwrap().flags;
    assert_eq!(
        flags & (CKF_USER_PIN_LOCKED | CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_TO_BE_CHANGED),
        0
    );
}

#[test]
fn init_token_wipes_objects_and_needs_the_so_pin() {
    let f = module("etoken");
    let s = f.module.open_session(3, RW).unwrap();
    f.module
        .create_object(
            s,
            vec![
                A::ulong(CKA_CLASS, CKO_DATA),
                A::bool(CKA_TOKEN, true),
                A::bytes(CKA_LABEL, "d"),
            ],
        )
        .unwrap();
    let label = tokenemu_core::util::padded::<32>("fresh");
    assert!(matches!(
        f.module.init_token(3, &so_pin(&f), &label),
        Err(Error::SessionExists)
    ));
    f.module.close_session(s).unwrap();
    assert!(matches!(
        f.module.init_token(3, b"wrongwrong", &label),
        Err(Error::PinIncorrect)
    ));
    f.module.init_token(3, &so_pin(&f), &label).unwrap();
    let info = f.module.token_info(3).unwrap();
    assert_eq!(tokenemu_core::util::unpadded(&info.label), "fresh");
    assert_eq!(info.flags & CKF_USER_PIN_INITIALIZED, 0);
    let s = f.module.open_session(3, RW).unwrap();
    f.module.find_init(s, vec![]).unwrap();
    assert!(f.module.find_next(s, 10).unwrap().is_empty());
    assert!(matches!(
        f.module.login(s, CKU_USER, &user_pin(&f)),
        Err(Error::UserPinNotInitialized)
    ));
}

#[test]
fn private_objects_hide_until_login_and_ro_sessions_cannot_write_token_objects() {
    let f = module("etoken");
    let ro = f.module.open_session(3, CKF_SERIAL_SESSION).unwrap();
    let priv_data = vec![
        A::ulong(CKA_CLASS, CKO_DATA),
        A::bool(CKA_PRIVATE, true),
        A::bytes(CKA_VALUE, "s"),
    ];
    assert!(matches!(
        f.module.create_object(ro, priv_data.clone()),
        Err(Error::UserNotLoggedIn)
    ));
    let token_data = vec![A::ulong(CKA_CLASS, CKO_DATA), A::bool(CKA_TOKEN, true)];
    assert!(matches!(
        f.module.create_object(ro, token_data),
        Err(Error::SessionReadOnly)
    ));
    f.module.login(ro, CKU_USER, &user_pin(&f)).unwrap();
    let h = f.module.create_object(ro, priv_data).unwrap();
    f.module
        .find_init(ro, vec![A::ulong(CKA_CLASS, CKO_DATA)])
        .unwrap();
    assert_eq!(f.module.find_next(ro, 5).unwrap(), vec![h]);
    assert!(matches!(
        f.module.find_init(ro, vec![]),
        Err(Error::OperationActive)
    ));
    f.module.find_final(ro).unwrap();
    f.module.logout(ro).unwrap();
    assert!(matches!(
        f.module.get_attributes(ro, h, &[CKA_VALUE]),
        Err(Error::ObjectHandleInvalid(_))
    ));
    f.module.find_init(ro, vec![]).unwrap();
    assert!(f.module.find_next(ro, 5).unwrap().is_empty());
}

fn rsa_pair(
    f: &Fixture,
    s: CK_SESSION_HANDLE,
    bits: CK_ULONG,
) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    f.module
        .generate_key_pair(
            s,
            Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
            vec![
                A::ulong(CKA_MODULUS_BITS, bits),
                A::bool(CKA_TOKEN, true),
                A::bytes(CKA_ID, vec![1]),
            ],
            vec![
                A::bool(CKA_TOKEN, true),
                A::bool(CKA_PRIVATE, true),
                A::bytes(CKA_ID, vec![1]),
            ],
        )
        .unwrap()
}

#[test]
fn rsa_sign_verify_with_size_protocol_and_sensitive_values() {
    let f = module("etoken");
    let s = f.module.open_session(3, RW).unwrap();
    f.module.login(s, CKU_USER, &user_pin(&f)).unwrap();
    let (public, private) = rsa_pair(&f, s, 2048);
    let got = f
        .module
        .get_attributes(
            s,
            private,
            &[
                CKA_PRIVATE_EXPONENT,
                CKA_MODULUS,
                CKA_LOCAL,
                CKA_ALWAYS_SENSITIVE,
            ],
        )
        .unwrap();
    assert_eq!(got[0], AttrLookup::Sensitive);
    assert!(matches!(&got[1], AttrLookup::Value(n) if n.len() == 256));
    assert_eq!(got[2], AttrLookup::Value(vec![1]));
    assert_eq!(got[3], AttrLookup::Value(vec![1]));

    let m = Mechanism::new(CKM_SHA256_RSA_PKCS);
    f.module
        .op_init(s, OpKind::Sign, m.clone(), Some(private))
        .unwrap();
    assert!(matches!(
        f.module.op_init(s, OpKind::Sign, m.clone(), Some(private)),
        Err(Error::OperationActive)
    ));
    assert_eq!(
        f.module
            .op_single(s, OpKind::Sign, b"hello", OutSpec::Query)
            .unwrap(),
        Output::Len(256)
    );
    assert!(matches!(
        f.module
            .op_single(s, OpKind::Sign, b"hello", OutSpec::Capacity(10)),
        Err(Error::BufferTooSmall(256))
    ));
    let Output::Data(sig) = f
        .module
        .op_single(s, OpKind::Sign, b"hello", OutSpec::Capacity(256))
        .unwrap()
    else {
        panic!()
    };
    assert!(matches!(
        f.module
            .op_single(s, OpKind::Sign, b"hello", OutSpec::Capacity(256)),
        Err(Error::OperationNotInitialized)
    ));

    f.module
        .op_init(s, OpKind::Verify, m.clone(), Some(public))
        .unwrap();
    f.module.verify(s, b"hello", &sig).unwrap();
    let mut bad = sig.clone();
    bad[17] ^= 1;
    f.module
        .op_init(s, OpKind::Verify, m.clone(), Some(public))
        .unwrap();
    assert!(matches!(
        f.module.verify(s, b"hello", &bad),
        Err(Error::SignatureInvalid)
    ));
    f.module
        .op_init(s, OpKind::Verify, m.clone(), Some(public))
        .unwrap();
    assert!(matches!(
        f.module.verify(s, b"hello", &sig[..100]),
        Err(Error::SignatureLenRange)
    ));
    // Multi-part gives the same signature as single-part (PKCS#1 v1.5 is deterministic).
    f.module
        .op_init(s, OpKind::Sign, m.clone(), Some(private))
        .unwrap();
    f.module
        .op_update(s, OpKind::Sign, b"hel", OutSpec::Capacity(0))
        .unwrap();
    f.module
        .op_update(s, OpKind::Sign, b"lo", OutSpec::Capacity(0))
        .unwrap();
    assert_eq!(
        f.module
            .op_final(s, OpKind::Sign, OutSpec::Capacity(512))
            .unwrap(),
        Output::Data(sig)
    );
    // Wrong key kinds.
    assert!(matches!(
        f.module.op_init(s, OpKind::Sign, m.clone(), Some(public)),
        Err(Error::KeyTypeInconsistent)
    ));
    assert!(matches!(
        f.module.op_init(s, OpKind::Sign, m, Some(9999)),
        Err(Error::KeyHandleInvalid(9999))
    ));
    assert!(matches!(
        f.module
            .op_init(s, OpKind::Sign, Mechanism::new(CKM_ECDSA), Some(private)),
        Err(Error::KeyTypeInconsistent)
    ));
}

#[test]
fn rsa_oaep_with_label_round_trips() {
    let f = module("etoken");
    let s = f.module.open_session(3, RW).unwrap();
    f.module.login(s, CKU_USER, &user_pin(&f)).unwrap();
    let (public, private) = rsa_pair(&f, s, 2048);
    let m = Mechanism {
        mech: CKM_RSA_PKCS_OAEP,
        param: MechParam::RsaOaep {
            hash: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            source: CKZ_DATA_SPECIFIED,
            source_data: b"label".to_vec(),
        },
    };
    f.module
        .op_init(s, OpKind::Encrypt, m.clone(), Some(public))
        .unwrap();
    let Output::Data(ct) = f
        .module
        .op_single(s, OpKind::Encrypt, b"secret", OutSpec::Capacity(256))
        .unwrap()
    else {
        panic!()
    };
    f.module
        .op_init(s, OpKind::Decrypt, m, Some(private))
        .unwrap();
    assert_eq!(
        f.module
            .op_single(s, OpKind::Decrypt, &ct, OutSpec::Capacity(256))
            .unwrap(),
        Output::Data(b"secret".to_vec())
    );
}

#[test]
fn ecdsa_and_digest() {
    let f = module("etoken");
    let s = f.module.open_session(3, RW).unwrap();
    f.module.login(s, CKU_USER, &user_pin(&f)).unwrap();
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let (public, private) = f
        .module
        .generate_key_pair(
            s,
            Mechanism::new(CKM_EC_KEY_PAIR_GEN),
            vec![A::bytes(CKA_EC_PARAMS, p256)],
            vec![A::bool(CKA_SENSITIVE, true)],
        )
        .unwrap();
    let point = f.module.get_attributes(s, public, &[CKA_EC_POINT]).unwrap();
    assert!(
        matches!(&point[0], AttrLookup::Value(v) if v.len() == 67 && v[0] == 0x04 && v[1] == 65)
    );
    f.module
        .op_init(
            s,
            OpKind::Sign,
            Mechanism::new(CKM_ECDSA_SHA256),
            Some(private),
        )
        .unwrap();
    let Output::Data(sig) = f
        .module
        .op_single(s, OpKind::Sign, b"msg", OutSpec::Capacity(64))
        .unwrap()
    else {
        panic!()
    };
    f.module
        .op_init(
            s,
            OpKind::Verify,
            Mechanism::new(CKM_ECDSA_SHA256),
            Some(public),
        )
        .unwrap();
    f.module.verify(s, b"msg", &sig).unwrap();

    f.module
        .op_init(s, OpKind::Digest, Mechanism::new(CKM_SHA256), None)
        .unwrap();
    let Output::Data(d) = f
        .module
        .op_single(s, OpKind::Digest, b"abc", OutSpec::Capacity(32))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        hex::encode(d),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(matches!(
        f.module
            .op_init(s, OpKind::Digest, Mechanism::new(CKM_MD5), None),
        Err(Error::MechanismInvalid(CKM_MD5))
    ));
}

#[test]
fn unplugged_token_reports_removal() {
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "[[slot]]\nid = 0\nprofile = \"etoken\"\nstore = \"{}\"\n",
        dir.path().display()
    );
    let m = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
    let s = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    tokenemu_store::Store::open(dir.path())
        .unwrap()
        .set_present(false)
        .unwrap();
    assert_eq!(m.slot_info(0).unwrap().flags & CKF_TOKEN_PRESENT, 0);
    assert!(m.slot_list(true).is_empty());
    assert!(matches!(m.session_info(s), Err(Error::DeviceRemoved)));
    assert!(matches!(m.token_info(0), Err(Error::TokenNotPresent(0))));
    let cancel = std::sync::atomic::AtomicBool::new(false);
    assert_eq!(m.wait_for_slot_event(false, &cancel).unwrap(), 0);
    assert!(matches!(
        m.wait_for_slot_event(false, &cancel),
        Err(Error::NoEvent)
    ));
    tokenemu_store::Store::open(dir.path())
        .unwrap()
        .set_present(true)
        .unwrap();
    assert_eq!(m.wait_for_slot_event(true, &cancel).unwrap(), 0);
    assert!(matches!(m.session_info(s), Err(Error::DeviceRemoved)));
    m.close_session(s).unwrap();
    let s = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    m.session_info(s).unwrap();
}

fn files_under(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn secret_values_never_reach_the_store_in_the_clear_and_survive_pin_changes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "[[slot]]\nid = 0\nprofile = \"etoken\"\nstore = \"{}\"\n",
        dir.path().display()
    );
    let profile = Profile::builtin("etoken").unwrap();
    let secret: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let m = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
    let s = m.open_session(0, RW).unwrap();
    // Without login a secret value cannot be sealed, so it cannot be stored.
    let key = vec![
        A::ulong(CKA_CLASS, CKO_SECRET_KEY),
        A::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
        A::bool(CKA_TOKEN, true),
        A::bool(CKA_EXTRACTABLE, true),
        A::bool(CKA_SENSITIVE, false),
        A::bytes(CKA_VALUE, secret.clone()),
    ];
    assert!(matches!(
        m.create_object(s, key.clone()),
        Err(Error::UserNotLoggedIn)
    ));
    m.login(s, CKU_USER, profile.pin.default_user_pin.as_bytes())
        .unwrap();
    let h = m.create_object(s, key).unwrap();
    let (_, private) = m
        .generate_key_pair(
            s,
            Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
            vec![A::ulong(CKA_MODULUS_BITS, 1024), A::bool(CKA_TOKEN, true)],
            vec![
                A::bool(CKA_TOKEN, true),
                A::bool(CKA_PRIVATE, true),
                A::bool(CKA_SENSITIVE, false),
                A::bool(CKA_EXTRACTABLE, true),
            ],
        )
        .unwrap();
    let AttrLookup::Value(d) = m
        .get_attributes(s, private, &[CKA_PRIVATE_EXPONENT])
        .unwrap()
        .remove(0)
    else {
        panic!("extractable private exponent must be readable")
    };
    // Neither the raw bytes nor their hex spelling appear in any store file.
    for needle in [secret.clone(), d[..32].to_vec()] {
        let hexed = hex::encode(&needle).into_bytes();
        for f in files_under(dir.path()) {
            assert!(
                !f.windows(needle.len()).any(|w| w == needle.as_slice()),
                "raw secret bytes in the store"
            );
            assert!(
                !f.windows(hexed.len()).any(|w| w == hexed.as_slice()),
                "hex secret in the store"
            );
        }
    }
    m.logout(s).unwrap();
    assert_eq!(
        m.get_attributes(s, h, &[CKA_VALUE]).unwrap(),
        vec![AttrLookup::Sensitive]
    );
    m.close_session(s).unwrap();
    drop(m);

    // The SO resets the user PIN: the keys stay usable with the new PIN.
    let m = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
    let s = m.open_session(0, RW).unwrap();
    m.login(s, CKU_SO, profile.pin.default_so_pin.as_bytes())
        .unwrap();
    m.init_pin(s, b"5555666677").unwrap();
    m.logout(s).unwrap();
    assert!(matches!(
        m.login(s, CKU_USER, profile.pin.default_user_pin.as_bytes()),
        Err(Error::PinIncorrect)
    ));
    m.login(s, CKU_USER, b"5555666677").unwrap();
    // Handles belong to one module instance: look the objects up again.
    let find = |class| {
        m.find_init(s, vec![A::ulong(CKA_CLASS, class)]).unwrap();
        let found = m.find_next(s, 10).unwrap();
        m.find_final(s).unwrap();
        assert_eq!(found.len(), 1);
        found[0]
    };
    let (h, private) = (find(CKO_SECRET_KEY), find(CKO_PRIVATE_KEY));
    assert_eq!(
        m.get_attributes(s, h, &[CKA_VALUE]).unwrap(),
        vec![AttrLookup::Value(secret.clone())]
    );
    m.set_pin(s, b"5555666677", b"7777888899").unwrap();
    m.op_init(
        s,
        OpKind::Sign,
        Mechanism::new(CKM_SHA256_RSA_PKCS),
        Some(private),
    )
    .unwrap();
    assert!(
        matches!(m.op_single(s, OpKind::Sign, b"x", OutSpec::Capacity(128)).unwrap(), Output::Data(v) if v.len() == 128)
    );
    m.logout(s).unwrap();
    m.login(s, CKU_USER, b"7777888899").unwrap();
    assert_eq!(
        m.get_attributes(s, h, &[CKA_VALUE]).unwrap(),
        vec![AttrLookup::Value(secret)]
    );
}
