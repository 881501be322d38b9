//! `tokenemu bench` as a subprocess with tiny durations and token sizes:
//! every workload row appears with a positive rate (and a ratio when two
//! modules both ran it), the JSON parses and agrees with the table, and what
//! a module cannot do (GOST on SoftHSM2) is reported as skipped with a
//! reason. No speed assertions: speed targets live in the benchmark itself.
//!
//! Needs `target/debug/libtokenemu.so` (`cargo build -p tokenemu-pkcs11`)
//! and, for the second test, SoftHSM2 (skipped loudly when missing, a
//! failure under TOKENEMU_REQUIRE_TOOLS=1).

mod support {
    pub mod softhsm2;
}

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::softhsm2::{available, fresh_token, SOFTHSM, USER_PIN};

const BIN: &str = env!("CARGO_BIN_EXE_tokenemu");

/// The ids the default plan has for token sizes 4 and 9, with the thread
/// counts they run at.
fn expected_rows() -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = Vec::new();
    let both = |id: &str| vec![(id.to_string(), 1), (id.to_string(), 2)];
    v.extend(both("rsa2048-sign-sha256-1k"));
    for id in [
        "rsa2048-sign-pkcs-digestinfo",
        "rsa2048-verify-sha256-1k",
        "rsa2048-verify-pkcs-digestinfo",
    ] {
        v.push((id.into(), 1));
    }
    v.extend(both("ecdsa-p256-sign"));
    v.push(("ecdsa-p256-verify".into(), 1));
    v.extend(both("gost256-sign"));
    for id in [
        "gost256-verify",
        "gost512-sign",
        "gost512-verify",
        "digest-sha256-1k",
        "digest-streebog256-1k",
    ] {
        v.push((id.into(), 1));
    }
    for n in [4, 9] {
        v.extend(both(&format!("find-one-{n}")));
        v.push((format!("find-class-{n}"), 1));
        v.push((format!("login-{n}"), 1));
    }
    v
}

/// The emulator must have been built next to the test binary's tokenemu.
fn module_built() -> bool {
    let p = Path::new(BIN).parent().unwrap().join("libtokenemu.so");
    if p.exists() {
        return true;
    }
    assert!(
        std::env::var("TOKENEMU_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{} is missing and TOKENEMU_REQUIRE_TOOLS=1: run `cargo build -p tokenemu-pkcs11` first",
        p.display()
    );
    eprintln!(
        "SKIPPED: {} is missing; run `cargo build -p tokenemu-pkcs11` first",
        p.display()
    );
    false
}

fn bench(args: &[&str], envs: &[(&str, &Path)], json: &Path) -> (String, Value) {
    let mut c = Command::new(BIN);
    c.arg("bench")
        .args([
            "--rounds",
            "2",
            "--secs",
            "0.02",
            "--objects",
            "4,9",
            "--targets",
        ])
        .arg("--json")
        .arg(json)
        .args(args)
        .env_remove("TOKENEMU_MODULE")
        .env_remove("TOKENEMU_LOG")
        .env("SH_PIN", USER_PIN);
    for (k, v) in envs {
        c.env(k, v);
    }
    let o = c.output().expect("running tokenemu bench");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "tokenemu bench failed ({}):\n{stdout}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(json).expect("the --json file")).expect("JSON");
    (stdout, report)
}

fn row<'a>(report: &'a Value, id: &str, threads: usize) -> &'a Value {
    report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id && r["threads"] == threads)
        .unwrap_or_else(|| panic!("no row {id} × {threads} in {report:#}"))
}

fn assert_ok(r: &Value, module: usize) {
    let o = &r["results"][module];
    assert_eq!(o["status"], "ok", "{r:#}");
    for k in ["rate", "p50_us", "p90_us", "p99_us"] {
        assert!(o[k].as_f64().unwrap() > 0.0, "{k} in {r:#}");
    }
    // On-CPU time is updated at scheduling events, so a 20 ms round may
    // read as 0; it must be there.
    for k in ["cpu_us_per_op", "cpus_used"] {
        assert!(o[k].as_f64().unwrap() >= 0.0, "{k} in {r:#}");
    }
    assert!(o["p50_us"].as_f64() <= o["p99_us"].as_f64(), "{r:#}");
    assert!(o["ops"].as_u64().unwrap() >= 2, "{r:#}");
}

#[test]
fn emulator_alone_runs_every_workload() {
    if !module_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let (stdout, report) = bench(&[], &[], &json);
    let rows = report["workloads"].as_array().unwrap();
    assert_eq!(rows.len(), expected_rows().len(), "{report:#}");
    for (id, threads) in expected_rows() {
        let r = row(&report, &id, threads);
        assert_eq!(r["results"].as_array().unwrap().len(), 1);
        assert_ok(r, 0);
        assert!(r["ratio"].is_null(), "one module, no ratio: {r:#}");
        assert!(
            stdout.contains(r["title"].as_str().unwrap()),
            "{id} missing from the table:\n{stdout}"
        );
        if threads == 2 {
            assert!(r["results"][0]["scaling"].as_f64().unwrap() > 0.0);
        }
    }
    // The login workload reports its first iteration apart; the module's
    // cold first login is in the header.
    assert!(
        row(&report, "login-4", 1)["results"][0]["first_us"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(report["modules"][0]["cold_login_us"].as_f64().unwrap() > 0.0);
    assert_eq!(report["modules"][0]["name"], "emulator");
    let fills = report["modules"][0]["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 2);
    assert_eq!(fills[1]["objects"], 9);
    assert_eq!(fills[1]["created"], 5);
    // Without a B no A/B target can be judged; the 2-thread ones can.
    let targets = report["targets"].as_array().unwrap();
    let rsa = targets
        .iter()
        .find(|t| t["name"].as_str().unwrap().starts_with("RSA-2048"))
        .unwrap();
    assert!(rsa["met"].is_null() && rsa["measured"].is_null());
    assert!(targets
        .iter()
        .any(|t| t["name"].as_str().unwrap().contains("2-thread") && t["measured"].is_number()));
    assert!(stdout.contains("targets (A against B):"), "{stdout}");
    assert!(stdout.contains("on-CPU time per operation"), "{stdout}");
}

#[test]
fn emulator_against_softhsm2_gives_ratios_and_skips_gost_on_softhsm2() {
    if !module_built() || !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf: PathBuf = fresh_token(dir.path(), "bench");
    let json = dir.path().join("bench.json");
    let (stdout, report) = bench(
        &[
            "--module",
            "emulator",
            "--module",
            SOFTHSM,
            "--token-label",
            "bench",
            "--pin-env",
            "SH_PIN",
        ],
        &[("SOFTHSM2_CONF", &conf)],
        &json,
    );
    assert_eq!(report["modules"][1]["name"], "libsofthsm2");
    for (id, threads) in expected_rows() {
        let r = row(&report, &id, threads);
        assert_ok(r, 0);
        let gost = id.starts_with("gost") || id.contains("streebog");
        if gost {
            let b = &r["results"][1];
            assert_eq!(b["status"], "skipped", "{r:#}");
            assert!(
                b["reason"]
                    .as_str()
                    .unwrap()
                    .contains("does not list CKM_GOSTR3"),
                "{r:#}"
            );
            assert!(r["ratio"].is_null());
        } else {
            assert_ok(r, 1);
            assert!(r["ratio"].as_f64().unwrap() > 0.0, "{r:#}");
            assert!(r.get("cpu_ratio").is_some(), "{r:#}");
        }
    }
    assert!(stdout.contains("skipped ["), "{stdout}");
    assert!(stdout.contains("A/B"), "{stdout}");
    let targets = report["targets"].as_array().unwrap();
    for t in targets {
        assert!(t["measured"].is_number(), "every target measured: {t:#}");
        assert!(t["met"].is_boolean(), "{t:#}");
    }
    // The bench destroyed its data objects on the SoftHSM2 token.
    let o = Command::new("pkcs11-tool")
        .args(["--module", SOFTHSM, "--token-label", "bench", "-O"])
        .env("SOFTHSM2_CONF", &conf)
        .output();
    if let Ok(o) = o {
        let listing = String::from_utf8_lossy(&o.stdout);
        assert!(!listing.contains("tokenemu-bench"), "{listing}");
    }
}

#[test]
fn bad_arguments_are_reported() {
    for (args, needle) in [
        (vec!["--rounds", "0"], "--rounds"),
        (vec!["--objects", "10,5"], "--objects"),
        (
            vec!["--module", "/no/such/module.so", "--pin-env", "X"],
            "/no/such/module.so",
        ),
        (vec!["--module", "/bin/sh"], "--pin-env"),
    ] {
        let o = Command::new(BIN)
            .arg("bench")
            .args(&args)
            .env_remove("TOKENEMU_MODULE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
