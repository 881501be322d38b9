//! The same scenarios against SoftHSM2 (a module without GOST), through the
//! `tokenemu run --module` command line: the RSA steps pass and the GOST
//! steps are skipped with the reason from scenarios/expectations/softhsm2.toml.
//! Skips with a loud message when SoftHSM2 is not installed, unless
//! TOKENEMU_REQUIRE_TOOLS=1.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn available() -> bool {
    let ok = Path::new(SOFTHSM).exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok();
    if !ok {
        assert!(
            std::env::var("TOKENEMU_REQUIRE_TOOLS").map_or(true, |v| v != "1"),
            "SoftHSM2 is missing and TOKENEMU_REQUIRE_TOOLS=1 (apt softhsm2)"
        );
        eprintln!("SKIPPED: SoftHSM2 is missing ({SOFTHSM}, softhsm2-util): apt install softhsm2");
    }
    ok
}

/// A fresh SoftHSM2 token in a temporary directory; returns the conf path.
fn fresh_token(dir: &Path) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let o = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "tokenemu-scenarios",
            "--pin",
            "123456",
            "--so-pin",
            "12345678",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "softhsm2-util: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    conf
}

fn run(conf: &Path, out: &Path, extra: &[&str]) -> (bool, serde_json::Value, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tokenemu"))
        .args([
            "run",
            "--module",
            SOFTHSM,
            "--token-label",
            "tokenemu-scenarios",
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
        .env("SH_PIN", "123456")
        .env("SH_SO_PIN", "12345678")
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
    let conf = fresh_token(dir.path());
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
    let conf = fresh_token(dir.path());
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
