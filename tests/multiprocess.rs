//! Several processes and threads on one token, through the real module.
//!
//! - `four_processes_two_threads_each`: 4 child processes (this test binary
//!   re-executed, `multiprocess_worker_child`) × 2 threads, each thread in its
//!   own session: create a token data object → find it by label (exactly one)
//!   → sign its value with the process's own EC key → verify → destroy it
//!   (every 4th object is kept instead). Every call must return `CKR_OK`:
//!   none of the documented errors is expected on this path. At the end each
//!   worker re-reads its kept objects by the handles it got (handles stay
//!   valid in the process while others write), and the parent checks that the
//!   token holds exactly the kept objects, each once, and nothing else.
//! - `pkcs11_tool_test_threads_twenty_runs`: `pkcs11-tool --test-threads
//!   ILGISLT0` ×3, 20 runs side by side (its main thread sleeps 30 s).
//!
//! Needs the built module (`cargo build -p tokenemu-pkcs11`).

mod common;
mod tools;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use common::{etoken_user_session, init, load, module_path, TestEnv, ETOKEN};
use cryptoki::context::Pkcs11;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::slot::Slot;
use serial_test::serial;
use tools::require;

const CHILD_ENV: &str = "TOKENEMU_MP_WORKER";
const PROCESSES: usize = 4;
const THREADS: usize = 2;
/// Iterations per thread; each is 5 calls (create, find, sign, verify,
/// destroy or keep): 4 × 2 × 32 × 5 = 1,280 operations.
const ITERATIONS: usize = 32;
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn label(proc_no: usize, thread: usize, i: usize) -> String {
    format!("mp-{proc_no}-{thread}-{i:03}")
}

fn kept(i: usize) -> bool {
    i % 4 == 3
}

fn value(label: &str) -> Vec<u8> {
    format!("value of {label}").into_bytes()
}

fn worker_thread(
    p11: &Pkcs11,
    proc_no: usize,
    thread: usize,
    key: (ObjectHandle, ObjectHandle),
) -> (usize, Vec<(ObjectHandle, String)>) {
    let slot = Slot::try_from(ETOKEN).expect("slot");
    let s = p11.open_rw_session(slot).expect("C_OpenSession");
    let mut ops = 0;
    let mut keep = Vec::new();
    for i in 0..ITERATIONS {
        let l = label(proc_no, thread, i);
        let h = s
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Label(l.as_bytes().to_vec()),
                Attribute::Value(value(&l)),
            ])
            .unwrap_or_else(|e| panic!("{l}: C_CreateObject: {e}"));
        let found = s
            .find_objects(&[Attribute::Label(l.as_bytes().to_vec())])
            .unwrap_or_else(|e| panic!("{l}: C_FindObjects: {e}"));
        if found != vec![h] {
            let seen: Vec<_> = found
                .iter()
                .map(|f| {
                    (
                        f.handle(),
                        s.get_attributes(*f, &[AttributeType::Label, AttributeType::Value]),
                    )
                })
                .collect();
            panic!("{l}: C_FindObjects by label after C_CreateObject returned {h}: found {seen:?}");
        }
        let sig = s
            .sign(&Mechanism::EcdsaSha256, key.1, &value(&l))
            .unwrap_or_else(|e| panic!("{l}: C_Sign: {e}"));
        s.verify(&Mechanism::EcdsaSha256, key.0, &value(&l), &sig)
            .unwrap_or_else(|e| panic!("{l}: C_Verify: {e}"));
        if kept(i) {
            keep.push((h, l));
        } else {
            s.destroy_object(h)
                .unwrap_or_else(|e| panic!("{l}: C_DestroyObject: {e}"));
        }
        ops += 5;
    }
    // Handles stay valid in this process while the others write.
    for (h, l) in &keep {
        let attrs = s
            .get_attributes(*h, &[AttributeType::Label, AttributeType::Value])
            .unwrap_or_else(|e| panic!("{l}: C_GetAttributeValue by the kept handle: {e}"));
        assert_eq!(
            attrs,
            vec![
                Attribute::Label(l.as_bytes().to_vec()),
                Attribute::Value(value(l))
            ],
            "{l}: the handle now names another object"
        );
        ops += 1;
    }
    (ops, keep)
}

/// The worker. Runs only when re-executed by [`four_processes_two_threads_each`].
#[test]
fn multiprocess_worker_child() {
    let Some(proc_no) = std::env::var(CHILD_ENV).ok().and_then(|v| v.parse().ok()) else {
        return;
    };
    let p11 = Arc::new(load());
    let s = etoken_user_session(&p11);
    // The process's own key: session objects, gone with the process.
    let key = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::EcParams(P256.to_vec()),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sign(true),
            ],
        )
        .expect("C_GenerateKeyPair");
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let p11 = Arc::clone(&p11);
            std::thread::spawn(move || worker_thread(&p11, proc_no, t, key))
        })
        .collect();
    let mut ops = 2;
    let mut kept = 0;
    for t in threads {
        let (n, k) = t.join().expect("worker thread");
        ops += n;
        kept += k.len();
    }
    println!("\nWORKER {proc_no} ops={ops} kept={kept}");
}

#[test]
#[serial]
fn four_processes_two_threads_each() {
    let env = TestEnv::new(&[common::SlotSpec {
        id: ETOKEN,
        profile: "etoken",
        present: true,
    }]);
    let exe = std::env::current_exe().expect("test binary");
    let started = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            Command::new(&exe)
                .args([
                    "multiprocess_worker_child",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, p.to_string())
                .env("TOKENEMU_CONF", &env.conf)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a worker")
        })
        .collect();
    let mut ops = 0usize;
    for (p, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait for a worker");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "worker {p} failed:\n{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("WORKER {p} ")))
            .unwrap_or_else(|| panic!("worker {p} did not report:\n{text}"));
        let n: usize = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ops="))
            .and_then(|n| n.parse().ok())
            .expect("ops=");
        ops += n;
    }
    let elapsed = started.elapsed();

    // Exactly the kept objects, each once, and nothing else.
    env.activate();
    let p11 = load();
    init(&p11).expect("C_Initialize");
    let s = p11
        .open_ro_session(Slot::try_from(ETOKEN).expect("slot"))
        .expect("C_OpenSession");
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for h in s.find_objects(&[]).expect("C_FindObjects") {
        let attrs = s
            .get_attributes(h, &[AttributeType::Label, AttributeType::Value])
            .expect("C_GetAttributeValue");
        let (Attribute::Label(l), Attribute::Value(v)) = (&attrs[0], &attrs[1]) else {
            panic!("unexpected object {attrs:?}");
        };
        let l = String::from_utf8_lossy(l).into_owned();
        assert_eq!(*v, value(&l), "{l}: value");
        *found.entry(l).or_default() += 1;
    }
    drop(s);
    p11.finalize().expect("C_Finalize");
    let mut want = BTreeMap::new();
    for p in 0..PROCESSES {
        for t in 0..THREADS {
            for i in (0..ITERATIONS).filter(|&i| kept(i)) {
                want.insert(label(p, t, i), 1usize);
            }
        }
    }
    assert_eq!(found, want, "objects on the token after the run");
    assert!(ops >= 1000, "only {ops} operations");
    println!(
        "multiprocess: {PROCESSES} processes × {THREADS} threads, {ops} operations in {:.2} s \
         ({:.0} ops/s), {} objects kept, none lost or duplicated",
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64(),
        want.len()
    );
}

#[test]
#[serial]
fn pkcs11_tool_test_threads_twenty_runs() {
    let env = TestEnv::new(common::DEFAULT_SLOTS);
    if require("pkcs11-tool", "opensc").is_none() {
        return;
    }
    // pkcs11-tool's main thread sleeps 30 s while its test threads run, so the
    // 20 runs go side by side (20 processes on the same tokens).
    let threads = ["--test-threads", "ILGISLT0"].repeat(3);
    let children: Vec<_> = (0..20)
        .map(|_| {
            Command::new("pkcs11-tool")
                .arg("--module")
                .arg(module_path())
                .args(&threads)
                .env("TOKENEMU_CONF", &env.conf)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start pkcs11-tool")
        })
        .collect();
    let mut passed = 0;
    for (run_no, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait for pkcs11-tool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "run {run_no} exited with {}:\n{text}",
            out.status
        );
        let bad: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("CKR_"))
            .filter(|l| !l.contains("CKR_OK") && !l.contains("CKR_CRYPTOKI_ALREADY_INITIALIZED"))
            .collect();
        assert!(bad.is_empty(), "run {run_no}: {bad:?}\n{text}");
        assert!(
            text.contains("all threads have ended with CKR_OK"),
            "run {run_no}:\n{text}"
        );
        passed += 1;
    }
    println!("pkcs11-tool --test-threads: {passed} runs out of 20 passed");
}
