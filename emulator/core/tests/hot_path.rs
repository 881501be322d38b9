//! What the fast paths may and may not take for granted: a pulled token is
//! still noticed by running operations (within the staleness bound) and at
//! once by slot-level calls; a module re-created in the same process starts
//! from the previous one's parsed objects but still sees every change made
//! to the store in between, and never another store's objects.

use std::sync::Arc;
use std::time::Duration;

use tokenemu_core::api::{OpKind, OutSpec, Output};
use tokenemu_core::ck::*;
use tokenemu_core::config::Config;
use tokenemu_core::mechanism::params::{MechParam, Mechanism};
use tokenemu_core::object::attribute::Attribute as A;
use tokenemu_core::{Error, Module};

const RW: CK_FLAGS = CKF_SERIAL_SESSION | CKF_RW_SESSION;
const PIN: &[u8] = b"1234567890";

fn module(store: &std::path::Path) -> Arc<Module> {
    let conf = format!(
        "[[slot]]\nid = 0\nprofile = \"etoken\"\nstore = \"{}\"\n",
        store.display()
    );
    Module::new(Config::from_toml_str(&conf).unwrap()).unwrap()
}

fn find(m: &Module, s: CK_SESSION_HANDLE, label: &str) -> Vec<CK_OBJECT_HANDLE> {
    m.find_init(s, vec![A::bytes(CKA_LABEL, label.as_bytes().to_vec())])
        .unwrap();
    let v = m.find_next(s, 100).unwrap();
    m.find_final(s).unwrap();
    v
}

fn data(label: &str) -> Vec<A> {
    vec![
        A::ulong(CKA_CLASS, CKO_DATA),
        A::bool(CKA_TOKEN, true),
        A::bytes(CKA_LABEL, label.as_bytes().to_vec()),
        A::bytes(CKA_VALUE, b"v".to_vec()),
    ]
}

#[test]
fn a_pulled_token_stops_running_operations() {
    let dir = tempfile::tempdir().unwrap();
    let m = module(dir.path());
    let s = m.open_session(0, RW).unwrap();
    m.login(s, CKU_USER, PIN).unwrap();
    let mech = Mechanism {
        mech: CKM_EC_KEY_PAIR_GEN,
        param: MechParam::None,
    };
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let (_, key) = m
        .generate_key_pair(
            s,
            mech,
            vec![A::bytes(CKA_EC_PARAMS, p256)],
            vec![A::bool(CKA_SIGN, true)],
        )
        .unwrap();
    let ecdsa = Mechanism {
        mech: CKM_ECDSA,
        param: MechParam::None,
    };
    m.op_init(s, OpKind::Sign, ecdsa.clone(), Some(key))
        .unwrap();
    let out = m
        .op_single(s, OpKind::Sign, &[7; 32], OutSpec::Capacity(64))
        .unwrap();
    assert!(matches!(out, Output::Data(ref v) if v.len() == 64));
    m.op_init(s, OpKind::Sign, ecdsa, Some(key)).unwrap();
    tokenemu_store::Store::open(dir.path())
        .unwrap()
        .set_present(false)
        .unwrap();
    // Longer than the staleness any running-operation call accepts.
    std::thread::sleep(Duration::from_millis(50));
    assert!(matches!(
        m.op_single(s, OpKind::Sign, &[7; 32], OutSpec::Capacity(64)),
        Err(Error::DeviceRemoved)
    ));
}

#[test]
fn slot_level_calls_notice_a_pull_at_once_and_end_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let m = module(dir.path());
    let s = m.open_session(0, RW).unwrap();
    // Recent readings that say "present" exist now…
    m.check_session(s).unwrap();
    tokenemu_store::Store::open(dir.path())
        .unwrap()
        .set_present(false)
        .unwrap();
    // …but a slot-level call looks again and ends the sessions.
    assert!(m.slot_list(true).is_empty());
    assert!(matches!(m.check_session(s), Err(Error::DeviceRemoved)));
}

#[test]
fn a_new_module_in_the_process_sees_what_changed_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, removed) = {
        let m = module(dir.path());
        let s = m.open_session(0, RW).unwrap();
        let kept = m.create_object(s, data("kept")).unwrap();
        let removed = m.create_object(s, data("removed")).unwrap();
        (kept, removed)
    };
    // Another module (as another process would) changes the store while no
    // module of "ours" is alive.
    {
        let other = module(dir.path());
        let s = other.open_session(0, RW).unwrap();
        let h = find(&other, s, "removed");
        assert_eq!(h.len(), 1);
        other.destroy_object(s, h[0]).unwrap();
        other.create_object(s, data("added")).unwrap();
        let h = find(&other, s, "kept");
        other
            .set_attributes(s, h[0], vec![A::bytes(CKA_LABEL, b"renamed".to_vec())])
            .unwrap();
    }
    let m = module(dir.path());
    let s = m.open_session(0, RW).unwrap();
    assert!(find(&m, s, "removed").is_empty());
    assert!(find(&m, s, "kept").is_empty());
    assert_eq!(find(&m, s, "added").len(), 1);
    let renamed = find(&m, s, "renamed");
    assert_eq!(renamed.len(), 1);
    assert!(!renamed.contains(&removed));
    // Handles are unique in the process: new objects never reuse old numbers.
    let fresh = m.create_object(s, data("fresh")).unwrap();
    assert!(fresh > kept && fresh > removed);
}

#[test]
fn a_store_made_again_in_the_same_directory_is_read_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("t");
    {
        let m = module(&store);
        let s = m.open_session(0, RW).unwrap();
        m.create_object(s, data("old store")).unwrap();
    }
    let old = tokenemu_store::Store::open(&store).unwrap().load().unwrap();
    std::fs::remove_dir_all(&store).unwrap();
    // The new store reaches the old one's generation number, so only its
    // identity tells them apart.
    let new = tokenemu_store::Store::open(&store).unwrap();
    let meta = old.meta.clone().expect("token metadata");
    while new.generation().unwrap() < old.generation {
        new.commit(vec![tokenemu_store::Change::PutMeta(meta.clone())])
            .unwrap();
    }
    assert_eq!(new.generation().unwrap(), old.generation);
    drop(new);
    let m = module(&store);
    let s = m.open_session(0, RW).unwrap();
    assert!(
        find(&m, s, "old store").is_empty(),
        "objects of a deleted store came back"
    );
}
