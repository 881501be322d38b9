//! The scenarios replayed against the emulator: one test per scenario ×
//! profile, the artifacts (PDF, certificates, zip), the reports (insta
//! snapshots) and the CLI's exit status. They load `target/debug/libtokenemu.so`
//! (`scripts/test` builds it) or `$TOKENEMU_MODULE`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serial_test::serial;
use tokenemu_harness::report::live::Quiet;
use tokenemu_harness::report::{files, RunReport, ScenarioReport, Status};
use tokenemu_harness::scenario::runner::{run_scenario, RunConfig};
use tokenemu_harness::scenario::{load_file, Scenario};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario(prefix: &str) -> Scenario {
    let dir = root().join("scenarios");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with(prefix)
                && p.extension().is_some_and(|x| x == "toml")
        })
        .unwrap_or_else(|| panic!("no scenario {prefix} in {}", dir.display()));
    load_file(&file).unwrap_or_else(|e| panic!("{e}"))
}

/// The emulator module: `$TOKENEMU_MODULE`, else the workspace's debug build.
fn emulator() -> PathBuf {
    if let Some(m) = std::env::var_os("TOKENEMU_MODULE").filter(|v| !v.is_empty()) {
        return PathBuf::from(m);
    }
    let p = root().join("target/debug/libtokenemu.so");
    assert!(
        p.exists(),
        "{} missing: run `cargo build -p tokenemu-pkcs11` (scripts/test does)",
        p.display()
    );
    p
}

fn cfg(out: &Path) -> RunConfig {
    let mut c = RunConfig::emulator(out);
    c.emulator_module = Some(emulator());
    c
}

fn run(prefix: &str, profile: &str, out: &Path) -> ScenarioReport {
    let sc = scenario(prefix);
    assert!(
        sc.header.profiles.iter().any(|p| p == profile),
        "{prefix} does not target {profile}"
    );
    let r = run_scenario(&sc, Some(profile), &cfg(out), &mut Quiet);
    let failures: Vec<String> = r
        .steps
        .iter()
        .filter(|s| s.status != Status::Passed)
        .map(|s| {
            format!(
                "{} {}: {:?} {}",
                s.index,
                s.id,
                s.status,
                s.reason.clone().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        r.setup_error.is_none(),
        "{}: set-up failed: {:?}",
        r.name(),
        r.setup_error
    );
    assert!(
        failures.is_empty(),
        "{}: steps not passed:\n{}",
        r.name(),
        failures.join("\n")
    );
    r
}

macro_rules! scenario_test {
    ($name:ident, $prefix:expr, $profile:expr) => {
        #[test]
        #[serial]
        fn $name() {
            let out = tempfile::tempdir().unwrap();
            run($prefix, $profile, out.path());
        }
    };
}

scenario_test!(
    s000_tumar_jacarta_reissue_on_jacarta_gost,
    "000",
    "jacarta-gost"
);
scenario_test!(s001_bs_client_on_etoken, "001", "etoken");
scenario_test!(s001_bs_client_on_jacarta_pki, "001", "jacarta-pki");
scenario_test!(s002_kzibank_on_jacarta_gost, "002", "jacarta-gost");
scenario_test!(s002_kzibank_on_javatoken, "002", "javatoken");
scenario_test!(s003_vtb_kk_on_javatoken, "003", "javatoken");
scenario_test!(s004_vtb_ru_on_javatoken, "004", "javatoken");

/// Every profile a scenario names has a test above.
#[test]
fn every_scenario_profile_has_a_test() {
    let covered = [
        ("000", "jacarta-gost"),
        ("001", "etoken"),
        ("001", "jacarta-pki"),
        ("002", "jacarta-gost"),
        ("002", "javatoken"),
        ("003", "javatoken"),
        ("004", "javatoken"),
    ];
    for sc in tokenemu_harness::scenario::load_dir(&root().join("scenarios")).unwrap() {
        for p in &sc.header.profiles {
            assert!(
                covered.contains(&(sc.header.id.as_str(), p.as_str())),
                "no test for {}@{p}",
                sc.header.id
            );
        }
    }
}

fn require_tools() -> bool {
    std::env::var("TOKENEMU_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

fn tool_missing(what: &str) {
    assert!(
        !require_tools(),
        "{what} is missing and TOKENEMU_REQUIRE_TOOLS=1"
    );
    eprintln!(
        "SKIPPED: {what} is missing (install it; TOKENEMU_REQUIRE_TOOLS=1 makes this a failure)"
    );
}

const GOST_ENGINE: &str = "/usr/lib/x86_64-linux-gnu/engines-3/gost.so";

/// A certificate the simulated CA issued for a GOST key generated on the
/// token verifies with OpenSSL and the gost engine (gost.md §7).
#[test]
#[serial]
fn gost_certificate_verifies_with_openssl_gost_engine() {
    let out = tempfile::tempdir().unwrap();
    run("000", "jacarta-gost", out.path());
    let dir = out.path().join("000-jacarta-gost");
    let have_openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_openssl || !Path::new(GOST_ENGINE).exists() {
        return tool_missing("openssl with the gost engine (apt libengine-gost-openssl)");
    }
    let conf = out.path().join("gost.cnf");
    std::fs::write(
        &conf,
        format!(
            "openssl_conf = openssl_def\n[openssl_def]\nengines = engine_section\n[engine_section]\ngost = gost_section\n\
             [gost_section]\nengine_id = gost\ndynamic_path = {GOST_ENGINE}\ndefault_algorithms = ALL\n"
        ),
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .env("OPENSSL_CONF", &conf)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (ok, text) = openssl(&["x509", "-in", "sertifikat.pem", "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("GOST R 34.10-2012 with GOST R 34.11-2012 (256 bit)"),
        "{text}"
    );
    assert!(text.contains("CryptoPro-A"), "{text}");
    let (ok, text) = openssl(&[
        "x509",
        "-in",
        "sertifikat.cer",
        "-inform",
        "DER",
        "-noout",
        "-subject",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        "kisc-ca-gost.pem",
        "-attime",
        "1739300000",
        "sertifikat.pem",
    ]);
    assert!(
        ok && text.contains("sertifikat.pem: OK"),
        "openssl verify: {text}"
    );
    // A tampered copy must not verify.
    let mut der = std::fs::read(dir.join("sertifikat.cer")).unwrap();
    let n = der.len();
    der[n - 5] ^= 1;
    std::fs::write(dir.join("bad.cer"), der).unwrap();
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        "kisc-ca-gost.pem",
        "-attime",
        "1739300000",
        "bad.cer",
    ]);
    assert!(!ok, "a tampered certificate verified: {text}");
}

/// The «Заявление» PDF is read back by pdftotext (Cyrillic included), and
/// the zip for the bank holds it with the certificate.
#[test]
#[serial]
fn application_pdf_and_archive() {
    let out = tempfile::tempdir().unwrap();
    run("000", "jacarta-gost", out.path());
    let dir = out.path().join("000-jacarta-gost");
    let pdf = dir.join("zayavlenie.pdf");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let f = std::fs::File::open(dir.join("v-bank.zip")).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    let names: Vec<String> = (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().to_string())
        .collect();
    assert_eq!(names, ["zayavlenie.pdf", "sertifikat.cer"]);
    match Command::new("pdftotext").arg(&pdf).arg("-").output() {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                text.contains("Заявление на выпуск регистрационного свидетельства"),
                "{text}"
            );
            assert!(text.contains("Байденова Асылгүл Амантаевна"), "{text}");
            assert!(
                text.contains("EC 256/512 (GOST 34.310-2004 A/Xch)"),
                "{text}"
            );
        }
        _ => tool_missing("pdftotext (apt poppler-utils)"),
    }
}

/// The report of one run (001 on eToken is fully deterministic: seeded
/// back-ends and scenario clock), as JSON and JUnit, wall times redacted.
#[test]
#[serial]
fn report_snapshots() {
    let out = tempfile::tempdir().unwrap();
    let r = run("001", "etoken", out.path());
    let report = RunReport {
        module: "x".into(),
        interrupted: false,
        scenarios: vec![r],
    }
    .redacted();
    insta::assert_json_snapshot!("report_001_etoken", report);
    insta::assert_snapshot!("junit_001_etoken", files::junit_xml(&report).unwrap());
}

/// `tokenemu run` exits 0 on success and writes both report files.
#[test]
#[serial]
fn cli_run_writes_reports() {
    let out = tempfile::tempdir().unwrap();
    let file = root().join("scenarios").join(scenario("002").file);
    let o = Command::new(env!("CARGO_BIN_EXE_tokenemu"))
        .args(["run", "--profile", "javatoken", "--out"])
        .arg(out.path())
        .arg(&file)
        .env("TOKENEMU_MODULE", emulator())
        .env_remove("TOKENEMU_CONF")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("19 passed, 0 failed, 0 skipped"));
    assert!(
        err.contains("Ввод одноразового пароля из SMS"),
        "step titles in the manual's language: {err}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["scenarios"][0]["profile"], "javatoken");
    let xml = std::fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert!(xml.contains("<testsuite name=\"002@javatoken\""), "{xml}");
}

/// A failing step makes the exit status non-zero.
#[test]
#[serial]
fn cli_run_fails_on_a_failed_step() {
    let out = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("scenarios").join(scenario("002").file))
        .unwrap()
        .replace(
            "check = { status = \"отправлен\" }",
            "check = { status = \"отклонён\" }",
        );
    let file = out.path().join("002-broken.toml");
    std::fs::write(&file, text).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tokenemu"))
        .args(["run", "--profile", "javatoken", "--out"])
        .arg(out.path())
        .arg(&file)
        .env("TOKENEMU_MODULE", emulator())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("status: expected \"отклонён\", got \"отправлен\""));
}
