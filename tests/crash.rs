//! Crash safety through the real module: a writer process is SIGKILLed at
//! random moments while it creates token objects, again and again, until at
//! least 1,000 writes have returned `CKR_OK`; after every kill the token is
//! loaded afresh in this process and checked.
//!
//! The writer is this test binary re-executed (`crash_writer_child`, which does
//! nothing unless `TOKENEMU_CRASH_CHILD` is set). It logs in on the eToken slot
//! and loops: a data object (unique `CKA_LABEL`, a value derived from the
//! label) most of the time, an EC P-256 key pair every 10th write and an
//! RSA-1024 key pair every 50th (both halves carry the label). Before each
//! write it prints `BEGIN <label>`, after `CKR_OK` it prints `OK <label>`.
//!
//! After each kill: `C_Initialize` succeeds, every `OK` label is present exactly
//! once with its value (data) or as a complete public + private pair (keys);
//! any other object is the write that was in flight (`BEGIN` without `OK`),
//! and then it is complete and intact too; nothing else exists.
//!
//! The random moments come from a seeded generator: the seed is printed, and
//! `TOKENEMU_CRASH_SEED=<n>` replays a run. Needs the built module
//! (`cargo build -p tokenemu-pkcs11`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{etoken_user_session, init, load, TestEnv, ETOKEN};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use serial_test::serial;

const CHILD_ENV: &str = "TOKENEMU_CRASH_CHILD";
const WANT_OK_WRITES: usize = 1000;
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The slots of the crash test (one eToken).
const SLOTS: &[common::SlotSpec] = &[common::SlotSpec {
    id: ETOKEN,
    profile: "etoken",
    present: true,
}];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Data,
    Ec,
    Rsa,
}

fn kind_of(i: u64) -> Kind {
    if i % 50 == 49 {
        Kind::Rsa
    } else if i % 10 == 9 {
        Kind::Ec
    } else {
        Kind::Data
    }
}

fn label_of(i: u64) -> String {
    format!("crash-{i:06}")
}

fn index_of(label: &str) -> Option<u64> {
    label.strip_prefix("crash-")?.parse().ok()
}

/// The value of data object `i`: 1..=300 bytes, derived from `i`.
fn value_of(i: u64) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n = 1 + (i as usize * 37) % 300;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// splitmix64: a small seeded generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The writer. Runs only when re-executed by [`crash_kill_writer_repeatedly`].
#[test]
fn crash_writer_child() {
    let Some(start) = std::env::var(CHILD_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let p11 = load();
    let s = etoken_user_session(&p11);
    // libtest's "test crash_writer_child ... " has no newline yet.
    println!("\nREADY");
    for i in start.. {
        let label = label_of(i);
        println!("BEGIN {label}");
        let common_attrs = [
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        match kind_of(i) {
            Kind::Data => {
                let mut t = vec![
                    Attribute::Class(ObjectClass::DATA),
                    Attribute::Value(value_of(i)),
                    Attribute::Application(b"crash".to_vec()),
                ];
                t.extend(common_attrs.iter().cloned());
                s.create_object(&t).expect("C_CreateObject");
            }
            Kind::Ec => {
                let mut public = vec![Attribute::EcParams(P256.to_vec()), Attribute::Verify(true)];
                public.extend(common_attrs.iter().cloned());
                public.push(Attribute::Id(label.as_bytes().to_vec()));
                let mut private = vec![Attribute::Private(true), Attribute::Sign(true)];
                private.extend(common_attrs.iter().cloned());
                private.push(Attribute::Id(label.as_bytes().to_vec()));
                s.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
                    .expect("C_GenerateKeyPair EC");
            }
            Kind::Rsa => {
                let mut public = vec![
                    Attribute::ModulusBits(1024.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                    Attribute::Verify(true),
                ];
                public.extend(common_attrs.iter().cloned());
                public.push(Attribute::Id(label.as_bytes().to_vec()));
                let mut private = vec![Attribute::Private(true), Attribute::Sign(true)];
                private.extend(common_attrs.iter().cloned());
                private.push(Attribute::Id(label.as_bytes().to_vec()));
                s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
                    .expect("C_GenerateKeyPair RSA");
            }
        }
        println!("OK {label}");
    }
}

/// What one writer run reported.
#[derive(Default)]
struct Report {
    ready: bool,
    begun: Vec<u64>,
    ok: Vec<u64>,
    other: Vec<String>,
}

fn parse(lines: &[String]) -> Report {
    let mut r = Report::default();
    for l in lines {
        if l == "READY" {
            r.ready = true;
        } else if let Some(i) = l.strip_prefix("BEGIN ").and_then(index_of) {
            r.begun.push(i);
        } else if let Some(i) = l.strip_prefix("OK ").and_then(index_of) {
            r.ok.push(i);
        } else if !l.is_empty() {
            r.other.push(l.clone());
        }
    }
    r
}

/// The objects of one label: (class, value for data objects).
type Group = Vec<(ObjectClass, Option<Vec<u8>>)>;

/// The token's objects, by label index.
fn load_token(env: &TestEnv) -> BTreeMap<u64, Group> {
    env.activate();
    let p11 = load();
    init(&p11).expect("C_Initialize after a kill: the store must load");
    let slot = Slot::try_from(ETOKEN).expect("slot");
    p11.get_token_info(slot)
        .expect("C_GetTokenInfo after a kill");
    let s = p11
        .open_ro_session(slot)
        .expect("C_OpenSession after a kill");
    s.login(UserType::User, Some(&env.user_pin(ETOKEN)))
        .expect("C_Login after a kill");
    let mut found: BTreeMap<u64, Group> = BTreeMap::new();
    for h in s.find_objects(&[]).expect("C_FindObjects") {
        let attrs = s
            .get_attributes(h, &[AttributeType::Class, AttributeType::Label])
            .expect("C_GetAttributeValue");
        let mut class = None;
        let mut label = None;
        for a in attrs {
            match a {
                Attribute::Class(c) => class = Some(c),
                Attribute::Label(l) => label = Some(String::from_utf8_lossy(&l).into_owned()),
                _ => {}
            }
        }
        let class = class.expect("every object has a class");
        let label = label.unwrap_or_default();
        let i = index_of(&label)
            .unwrap_or_else(|| panic!("object with a foreign label {label:?} ({class})"));
        let value = if class == ObjectClass::DATA {
            let v = s
                .get_attributes(h, &[AttributeType::Value])
                .expect("CKA_VALUE");
            match v.as_slice() {
                [Attribute::Value(v)] => Some(v.clone()),
                other => panic!("{label}: no CKA_VALUE: {other:?}"),
            }
        } else {
            None
        };
        found.entry(i).or_default().push((class, value));
    }
    drop(s);
    p11.finalize().expect("C_Finalize");
    found
}

/// Checks one object group (all objects with label index `i`).
fn check_group(i: u64, objs: &[(ObjectClass, Option<Vec<u8>>)]) -> Result<(), String> {
    let label = label_of(i);
    match kind_of(i) {
        Kind::Data => match objs {
            [(c, Some(v))] if *c == ObjectClass::DATA => {
                if *v == value_of(i) {
                    Ok(())
                } else {
                    Err(format!("{label}: value differs ({} bytes)", v.len()))
                }
            }
            other => Err(format!(
                "{label}: expected one data object, found {other:?}"
            )),
        },
        Kind::Ec | Kind::Rsa => {
            let classes: Vec<_> = objs.iter().map(|(c, _)| *c).collect();
            let complete = classes.len() == 2
                && classes.contains(&ObjectClass::PUBLIC_KEY)
                && classes.contains(&ObjectClass::PRIVATE_KEY);
            if complete {
                Ok(())
            } else {
                Err(format!(
                    "{label}: expected a public + private key pair, found {classes:?}"
                ))
            }
        }
    }
}

#[test]
#[serial]
fn crash_kill_writer_repeatedly() {
    let env = TestEnv::new(SLOTS);
    // Over 1,000 token objects: far more than the eToken profile's 72 KiB
    // holds, so the slot's memory cap is lifted.
    let conf = std::fs::read_to_string(&env.conf).expect("read config");
    std::fs::write(
        &env.conf,
        conf.replace("[[slot]]\n", "[[slot]]\nmemory = \"unlimited\"\n"),
    )
    .expect("write config");
    let seed = std::env::var("TOKENEMU_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
        });
    println!("crash test seed: {seed} (replay with TOKENEMU_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().expect("test binary");
    let started = Instant::now();

    let mut reported: BTreeSet<u64> = BTreeSet::new();
    let mut in_flight: BTreeSet<u64> = BTreeSet::new();
    let mut next = 0u64;
    let (mut kills, mut mid_write_kills, mut rounds) = (0usize, 0usize, 0usize);
    while reported.len() < WANT_OK_WRITES {
        rounds += 1;
        assert!(
            rounds < 2000,
            "too many rounds without reaching the write count"
        );
        let mut child = Command::new(&exe)
            .args([
                "crash_writer_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, next.to_string())
            .env("TOKENEMU_CONF", &env.conf)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the writer");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let stdout = child.stdout.take().expect("stdout");
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for l in BufReader::new(stdout).lines() {
                    let Ok(l) = l else { break };
                    lines.lock().expect("lines").push(l);
                }
            })
        };
        // Wait for the writer to be logged in, then let it write for a random
        // 0–800 ms (up to a few dozen writes) and kill it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !lines.lock().expect("lines").iter().any(|l| l == "READY") {
            if let Some(st) = child.try_wait().expect("try_wait") {
                panic!(
                    "the writer exited ({st}) before it was ready: {:?}",
                    lines.lock().expect("lines")
                );
            }
            assert!(Instant::now() < deadline, "the writer never got ready");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_micros(rng.below(800_000)));
        if let Some(st) = child.try_wait().expect("try_wait") {
            panic!(
                "the writer exited on its own ({st}): {:?}",
                lines.lock().expect("lines")
            );
        }
        child.kill().expect("SIGKILL the writer");
        child.wait().expect("reap the writer");
        kills += 1;
        reader.join().expect("reader thread");
        let report = parse(&lines.lock().expect("lines"));
        assert!(report.ready);
        assert!(
            report.other.iter().all(|l| !l.contains("panicked")),
            "the writer failed: {:?}",
            report.other
        );
        // A write is OK only once its line is out; the last BEGIN without OK
        // was in flight (it may or may not have landed, but only whole).
        for &i in &report.ok {
            assert!(reported.insert(i), "label {i} reported twice");
            in_flight.remove(&i);
        }
        for &i in &report.begun {
            if !report.ok.contains(&i) {
                in_flight.insert(i);
                mid_write_kills += 1;
            }
        }
        next = report.begun.iter().max().map_or(next, |m| m + 1);

        // Reopen the token and check it.
        let found = load_token(&env);
        for &i in &reported {
            let objs = found.get(&i).unwrap_or_else(|| {
                panic!("seed {seed}: {} returned CKR_OK but is gone", label_of(i))
            });
            if let Err(e) = check_group(i, objs) {
                panic!("seed {seed}, after kill {kills}: {e}");
            }
        }
        for (&i, objs) in &found {
            if reported.contains(&i) {
                continue;
            }
            assert!(
                in_flight.contains(&i),
                "seed {seed}: {} exists but was never written",
                label_of(i)
            );
            if let Err(e) = check_group(i, objs) {
                panic!("seed {seed}, after kill {kills}: half-written object: {e}");
            }
        }
    }
    let pairs = reported
        .iter()
        .filter(|&&i| kind_of(i) != Kind::Data)
        .count();
    println!(
        "crash test: {kills} SIGKILLs ({mid_write_kills} between BEGIN and OK), {} writes returned CKR_OK \
         ({pairs} of them key pairs), {} in-flight writes, every reload intact, {:.1} s",
        reported.len(),
        in_flight.len(),
        started.elapsed().as_secs_f64()
    );
}
