//! `tokenemu conformance` end to end, as a subprocess: the whole catalogue
//! on every emulator profile (no unexpected failure, a complete JSON report
//! and JUnit file), on SoftHSM2 with its expectations file (runs to the end,
//! every failure expected), and without that file (exit 1, the failing
//! checks named), plus --compare against a previous report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support {
    pub mod softhsm2;
}
use support::softhsm2::{available, fresh_token, SOFTHSM, SO_PIN, USER_PIN};

const BIN: &str = env!("CARGO_BIN_EXE_tokenemu");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(BIN);
    c.arg("conformance")
        .args(args)
        .env_remove("TOKENEMU_LOG")
        .env_remove("TOKENEMU_MODULE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.env("SH_PIN", USER_PIN).env("SH_SO_PIN", SO_PIN);
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn catalogue_size() -> usize {
    let o = run(&["--list"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let last = out.lines().last().unwrap();
    last.trim_end_matches(" checks").parse().unwrap()
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// (id, status, message) of every check of every target.
fn results(r: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for t in r["targets"].as_array().unwrap() {
        assert!(
            t["setup_error"].is_null(),
            "{}: {}",
            t["name"],
            t["setup_error"]
        );
        for c in t["checks"].as_array().unwrap() {
            out.push((
                format!(
                    "{}@{}",
                    c["id"].as_str().unwrap(),
                    t["name"].as_str().unwrap()
                ),
                c["status"].as_str().unwrap().to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
                c["spec"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn softhsm_args(expectations: bool) -> Vec<String> {
    let mut a: Vec<String> = [
        "--module",
        SOFTHSM,
        "--token-label",
        "conformance",
        "--pin-env",
        "SH_PIN",
        "--so-pin-env",
        "SH_SO_PIN",
        "--allow-destructive",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if expectations {
        a.push("--expectations".into());
        a.push(
            root()
                .join("conformance/expectations/softhsm2.toml")
                .display()
                .to_string(),
        );
    }
    a
}

#[test]
fn emulator_every_profile_passes_with_a_complete_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("junit.xml");
    let exp = root().join("conformance/expectations/tokenemu.toml");
    let o = run(
        &[
            "--expectations",
            exp.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        o.status.success(),
        "conformance on the emulator failed:\n{}",
        text(&o)
    );
    let r = report(&json);
    let targets: Vec<&str> = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "jacarta-gost",
            "jacarta-pki",
            "etoken",
            "javatoken",
            "softtoken"
        ]
    );
    let all = results(&r);
    let n = catalogue_size();
    assert!(n >= 100, "{n} checks");
    assert_eq!(all.len(), 5 * n, "every check on every profile");
    for (id, status, msg, spec) in &all {
        assert!(
            ["passed", "skipped", "expected-failure"].contains(&status.as_str()),
            "{id}: {status}: {msg}"
        );
        assert!(
            spec.contains('§') || spec.contains("curr") || spec.contains("TC26"),
            "{id}: spec {spec:?}"
        );
        if status == "skipped" {
            assert!(
                msg.contains("does not list"),
                "{id} skipped on the emulator: {msg}"
            );
        }
    }
    // The GOST profiles run the GOST known answers, the RSA-only one skips them.
    let status = |id: &str| all.iter().find(|r| r.0 == id).map(|r| r.1.clone()).unwrap();
    assert_eq!(status("mechanisms.gost-a1-verify@jacarta-gost"), "passed");
    assert_eq!(
        status("mechanisms.gost-cryptopro-vectors@javatoken"),
        "passed"
    );
    assert_eq!(status("mechanisms.gost-a1-verify@jacarta-pki"), "skipped");
    assert_eq!(status("mechanisms.ecdsa-roundtrip@etoken"), "passed");
    assert_eq!(status("token-policy.pin-lock-and-unlock@etoken"), "passed");
    // softtoken lists every implemented mechanism: every secret-key check
    // runs there; a GOST-only profile lists no AES and skips them.
    let secret: Vec<_> = all
        .iter()
        .filter(|r| r.0.starts_with("secret-keys.") && r.0.ends_with("@softtoken"))
        .collect();
    assert!(secret.len() >= 12, "{secret:?}");
    for (id, status, msg, _) in secret {
        assert_eq!(status, "passed", "{id}: {msg}");
    }
    assert_eq!(
        status("secret-keys.aes-gcm-known-answer@jacarta-gost"),
        "skipped"
    );
    assert_eq!(
        status("secret-keys.hmac-sha256-known-answer@etoken"),
        "passed"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites") && xml.contains("conformance@javatoken"),
        "{xml}"
    );
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

#[test]
fn softhsm2_runs_to_the_end_with_every_failure_expected() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = fresh_token(dir.path(), "conformance");
    let json = dir.path().join("report.json");
    let mut args = softhsm_args(true);
    args.extend(["--json".into(), json.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args, &[("SOFTHSM2_CONF", &conf)]);
    assert!(
        o.status.success(),
        "conformance on SoftHSM2 failed:\n{}",
        text(&o)
    );
    let all = results(&report(&json));
    assert_eq!(all.len(), catalogue_size(), "ran to the end");
    let count = |s: &str| all.iter().filter(|r| r.1 == s).count();
    assert_eq!(count("failed") + count("unexpectedly-passing"), 0);
    assert!(count("expected-failure") >= 5, "{all:?}");
    assert!(count("passed") >= 80, "only {} passed", count("passed"));
    // SoftHSM2 has AES, HMAC, key wrap and ECDH: the secret-key checks run.
    for (id, status, msg, _) in all.iter().filter(|r| r.0.starts_with("secret-keys.")) {
        assert_eq!(status, "passed", "{id}: {msg}");
    }
    // SoftHSM2 has no GOST: those checks are skipped with the reason.
    for (id, status, msg, _) in all.iter().filter(|r| r.0.contains("gost")) {
        assert_eq!(status, "skipped", "{id}");
        assert!(msg.contains("does not list CKM_GOSTR"), "{id}: {msg}");
    }
}

#[test]
fn softhsm2_without_expectations_fails_and_names_the_checks() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = fresh_token(dir.path(), "conformance");
    let mut args = softhsm_args(false);
    // The deviations are in these chapters; the rest is covered above.
    args.extend(
        [
            "--only",
            "errors",
            "--only",
            "session",
            "--only",
            "token-policy.pin-lock*",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args, &[("SOFTHSM2_CONF", &conf)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for id in [
        "session.logout-not-logged-in@module",
        "errors.key-handle-invalid@module",
        "token-policy.pin-lock-and-unlock@module",
    ] {
        assert!(out.contains(id), "{id} not named:\n{out}");
    }
    assert!(
        out.contains("returned CKR_OK, expected CKR_USER_NOT_LOGGED_IN"),
        "{out}"
    );
}

#[test]
fn compare_marks_the_checks_that_differ() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = fresh_token(dir.path(), "conformance");
    let previous = dir.path().join("softhsm.json");
    let mut args = softhsm_args(false);
    args.extend(["--only", "errors", "--json", previous.to_str().unwrap()].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args, &[("SOFTHSM2_CONF", &conf)]);
    assert!(previous.exists(), "{}", text(&o));
    let o = run(
        &[
            "--profile",
            "etoken",
            "--only",
            "errors",
            "--compare",
            previous.to_str().unwrap(),
        ],
        &[],
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    let line = |id: &str| {
        out.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} missing:\n{out}"))
            .to_string()
    };
    assert!(
        line("errors.key-type-inconsistent").contains("differs"),
        "{out}"
    );
    assert!(
        !line("errors.template-incomplete").contains("differs"),
        "{out}"
    );
    assert!(
        out.contains("A:etoken") && out.contains("B:module"),
        "{out}"
    );
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let o = run(&["--pin-env", "X"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("need --module"), "{}", text(&o));
    let o = run(&["--only", "no-such-check"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("leave no check"), "{}", text(&o));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "module = \"x\"\n[[expect]]\nchecks = \"*\"\nstatus = \"fail\"\nrv = \"CKR_NOPE\"\nreason = \"r\"\n").unwrap();
    let o = run(&["--expectations", bad.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not a CK_RV name"), "{}", text(&o));
}

#[test]
fn help_lists_the_command() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("conformance"));
    let o = Command::new(BIN)
        .args(["conformance", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    for opt in [
        "--module",
        "--allow-destructive",
        "--expectations",
        "--junit",
        "--compare",
        "--only",
    ] {
        assert!(help.contains(opt), "{opt} missing:\n{help}");
    }
}
