//! The same scenarios against SoftHSM2 (a module without GOST), through the
//! `tokenemu run --module` command line: the RSA steps pass and the GOST
//! steps are skipped with the reason from scenarios/expectations/softhsm2.toml.
//! Skips with a loud message when SoftHSM2 is not installed, unless
//! TOKENEMU_REQUIRE_TOOLS=1.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support {
    pub mod softhsm2;
}
use support::softhsm2::{available, fresh_token, SOFTHSM, SO_PIN, USER_PIN};

/// The label of the SoftHSM2 token the scenarios run on.
const LABEL: &str = "tokenemu-scenarios";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(conf: &Path, out: &Path, extra: &[&str]) -> (bool, serde_json::Value, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tokenemu"))
        .args([
            "run",
            "--module",
            SOFTHSM,
            "--token-label",
            LABEL,
            "--pin-env",
            "SH_PIN",
            "--so-pin-env",
            "SH_SO_PIN",
        ])
        .arg("--expectations")
        .arg(root().join("scenarios/expectations/softhsm2.toml"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("SOFTHSM2_CONF", conf)
        .env("SH_PIN", USER_PIN)
        .env("SH_SO_PIN", SO_PIN)
        .output()
        .unwrap();
    let json = std::fs::read(out.join("report.json")).map_or(serde_json::Value::Null, |b| {
        serde_json::from_slice(&b).unwrap()
    });
    (
        o.status.success(),
        json,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn steps(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for s in report["scenarios"].as_array().unwrap() {
        assert!(
            s["setup_error"].is_null(),
            "{}: {}",
            s["id"],
            s["setup_error"]
        );
        for st in s["steps"].as_array().unwrap() {
            out.push((
                format!(
                    "{}/{}",
                    s["id"].as_str().unwrap(),
                    st["id"].as_str().unwrap()
                ),
                st["status"].as_str().unwrap().to_string(),
                st["reason"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

#[test]
fn scenarios_on_softhsm2_rsa_passes_gost_skipped() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = fresh_token(dir.path(), LABEL);
    let out = dir.path().join("out");
    let (ok, report, stderr) = run(&conf, &out, &["--allow-destructive"]);
    assert!(ok, "tokenemu run failed:\n{stderr}");
    let all = steps(&report);
    assert_eq!(report["scenarios"].as_array().unwrap().len(), 5);
    for (id, status, reason) in &all {
        assert_ne!(status, "failed", "{id}: {reason}");
        if id.contains("gost") {
            assert_eq!(status, "skipped", "{id}");
            assert!(
                reason.starts_with("expected on SoftHSM2: ") && reason.contains("GOST"),
                "{id}: {reason}"
            );
        }
    }
    for must_pass in [
        "000/request-rsa",
        "000/delete-old-rsa",
        "001/continue",
        "001/login-new-key-set",
        "002/sign-letter-rsa",
        "003/vtb-login-renewed-rsa",
        "004/vtb-login-blocked",
    ] {
        let s = all
            .iter()
            .find(|(id, _, _)| id == must_pass)
            .unwrap_or_else(|| panic!("{must_pass} missing"));
        assert_eq!(s.1, "passed", "{must_pass}: {}", s.2);
    }
    let passed = all.iter().filter(|s| s.1 == "passed").count();
    assert!(passed >= 50, "only {passed} steps passed");
}

/// Without --allow-destructive a run on another module deletes no key: the
/// destructive steps are skipped with the reason.
#[test]
fn destructive_steps_need_the_flag() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = fresh_token(dir.path(), LABEL);
    let out = dir.path().join("out");
    let file = root().join("scenarios/000-tumar-jacarta-reissue.toml");
    let (ok, report, stderr) = run(&conf, &out, &[file.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let all = steps(&report);
    let del = all.iter().find(|s| s.0 == "000/delete-old-rsa").unwrap();
    assert_eq!(del.1, "skipped");
    assert!(del.2.contains("--allow-destructive"), "{}", del.2);
    // A second run finds the first run's objects and refuses to delete them.
    let (ok, report, _) = run(&conf, &dir.path().join("out2"), &[file.to_str().unwrap()]);
    assert!(!ok);
    let err = report["scenarios"][0]["setup_error"].as_str().unwrap_or("");
    assert!(err.contains("--allow-destructive"), "{err}");
}
