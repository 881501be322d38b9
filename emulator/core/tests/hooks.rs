//! Injected faults, the latency model and the call trace, through the Module API.
//! One test per binary: it sets TOKENEMU_TRACE for the process.

use tokenemu_core::api::{OpKind, OutSpec};
use tokenemu_core::ck::*;
use tokenemu_core::config::Config;
use tokenemu_core::mechanism::params::Mechanism;
use tokenemu_core::object::attribute::Attribute as A;
use tokenemu_core::profile::Profile;
use tokenemu_core::{Error, Module};

#[test]
fn faults_latency_and_trace() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    std::env::set_var("TOKENEMU_TRACE", &trace);
    let conf = format!(
        r#"
[[slot]]
id = 1
profile = "etoken"
store = "{0}/s1"
latency = true
[[slot.fault]]
function = "C_Sign"
rv = "CKR_DEVICE_MEMORY"
nth = 2
[[slot.fault]]
function = "C_DigestInit"
action = "unplug"
nth = 1
"#,
        dir.path().display()
    );
    let pin = Profile::builtin("etoken").unwrap().pin.default_user_pin;
    let m = Module::new(Config::from_toml_str(&conf).unwrap()).unwrap();
    let s = m
        .open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    let started = std::time::Instant::now();
    m.login(s, CKU_USER, pin.as_bytes()).unwrap();
    // The eToken profile's latency for C_Login (the default table: 40 ms).
    assert!(started.elapsed() >= std::time::Duration::from_millis(40));
    let (_, private) = m
        .generate_key_pair(
            s,
            Mechanism::new(CKM_EC_KEY_PAIR_GEN),
            vec![A::bytes(
                CKA_EC_PARAMS,
                vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            )],
            vec![],
        )
        .unwrap();
    let sign = |expect_ok: bool| {
        m.op_init(
            s,
            OpKind::Sign,
            Mechanism::new(CKM_ECDSA_SHA256),
            Some(private),
        )
        .unwrap();
        let r = m.op_single(s, OpKind::Sign, b"data", OutSpec::Capacity(64));
        assert_eq!(r.is_ok(), expect_ok, "{r:?}");
        r
    };
    sign(true).unwrap();
    // The second C_Sign fails as configured, the third works again.
    assert!(matches!(
        sign(false),
        Err(Error::Injected(CKR_DEVICE_MEMORY))
    ));
    sign(true).unwrap();
    // The first C_DigestInit pulls the token out.
    assert!(matches!(
        m.op_init(s, OpKind::Digest, Mechanism::new(CKM_SHA256), None),
        Err(Error::DeviceRemoved)
    ));
    assert_eq!(m.slot_info(1).unwrap().flags & CKF_TOKEN_PRESENT, 0);
    assert!(matches!(m.session_info(s), Err(Error::DeviceRemoved)));

    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["function"].as_str().unwrap(), l["rv"].as_str().unwrap()))
        .collect();
    assert!(calls.contains(&("C_Login", "CKR_OK")), "{calls:?}");
    assert!(
        calls.contains(&("C_Sign", "CKR_DEVICE_MEMORY")),
        "{calls:?}"
    );
    assert!(
        calls.contains(&("C_DigestInit", "CKR_DEVICE_REMOVED")),
        "{calls:?}"
    );
    let login = lines.iter().find(|l| l["function"] == "C_Login").unwrap();
    assert_eq!(login["args"]["pin"]["redacted_len"], pin.len());
    assert!(!text.contains(&pin), "the PIN reached the trace");
    std::env::remove_var("TOKENEMU_TRACE");
}

#[test]
fn bad_fault_rules_fail_at_initialisation_with_the_slot_named() {
    let conf = "[[slot]]\nid = 4\nprofile = \"etoken\"\nstore = \"/tmp/unused\"\n[[slot.fault]]\nfunction = \"C_Sign\"\n";
    let e = Module::new(Config::from_toml_str(conf).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("slot 4") && e.contains("exactly one"), "{e}");
}
