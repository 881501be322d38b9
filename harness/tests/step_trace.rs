//! A failed step's report carries the emulator's trace of the calls made
//! during that step: scenario 002 with one check changed so that its
//! wrong-PIN signing step fails on purpose. Loads `target/debug/libtokenemu.so`
//! (`scripts/test` builds it) or `$TOKENEMU_MODULE`.

use std::path::PathBuf;

use tokenemu_harness::report::live::Quiet;
use tokenemu_harness::report::{files, RunReport, Status};
use tokenemu_harness::scenario::load_file;
use tokenemu_harness::scenario::runner::{run_scenario, RunConfig, TRACE_FILE};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

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

#[test]
fn a_failed_step_reports_the_module_trace_of_its_calls() {
    let out = tempfile::tempdir().unwrap();
    let original = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("002"))
        .unwrap();
    let text = std::fs::read_to_string(&original).unwrap();
    // The wrong-PIN step really gets CKR_PIN_INCORRECT; expecting another
    // code makes it fail.
    let broken = text.replace(
        "check = { result = \"CKR_PIN_INCORRECT\" }",
        "check = { result = \"CKR_PIN_LEN_RANGE\" }",
    );
    assert_ne!(
        broken, text,
        "scenario 002 no longer has the wrong-PIN check"
    );
    let file = out.path().join("002-broken.toml");
    std::fs::write(&file, broken).unwrap();
    let sc = load_file(&file).unwrap_or_else(|e| panic!("{e}"));

    let mut cfg = RunConfig::emulator(out.path());
    cfg.emulator_module = Some(emulator());
    let report = run_scenario(&sc, Some("javatoken"), &cfg, &mut Quiet);
    assert!(report.setup_error.is_none(), "{:?}", report.setup_error);

    let failed: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{:#?}", report.steps);
    let step = failed[0];
    assert_eq!(step.id, "sign-statement-gost-wrong-key-password");
    let trace = step.trace.clone().expect("the failed step has a trace");
    let login = trace
        .calls
        .iter()
        .find(|c| c.contains("C_Login(") && c.contains("CKR_PIN_INCORRECT"))
        .unwrap_or_else(|| panic!("no failed C_Login in {:#?}", trace.calls));
    assert!(!login.contains("\"pin\""), "PINs only as lengths: {login}");
    // This step's calls, in order: the harness's own list of them (which
    // leaves out the C_CloseSession of dropping the session) is a
    // subsequence; nothing from the earlier steps, which signed, is there.
    let mut in_trace = trace.calls.iter();
    for f in &step.calls {
        assert!(
            in_trace.any(|c| c.contains(&format!("  {f}("))),
            "{f} of {:?} missing from {:#?}",
            step.calls,
            trace.calls
        );
    }
    assert!(
        trace.calls.len() <= step.calls.len() + 1,
        "{:#?}",
        trace.calls
    );
    assert!(
        !trace.calls.iter().any(|c| c.contains("C_Sign")),
        "{:#?}",
        trace.calls
    );
    // Passing steps carry none.
    assert!(report
        .steps
        .iter()
        .filter(|s| s.status != Status::Failed)
        .all(|s| s.trace.is_none()));

    // The file next to the other artifacts, in the trace's JSON-lines format.
    let dir = out.path().join("002-javatoken");
    assert!(dir.join(TRACE_FILE).exists());
    let saved = std::fs::read_to_string(dir.join(&trace.file)).unwrap();
    assert_eq!(saved.lines().count(), trace.calls.len());
    assert!(saved.lines().any(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["function"] == "C_Login" && v["rv"] == "CKR_PIN_INCORRECT"
    }));

    // Both report files carry it.
    let run = RunReport {
        module: "emulator".into(),
        interrupted: false,
        scenarios: vec![report],
    };
    files::write_json(&run, &out.path().join("report.json")).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let step_json = json["scenarios"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap();
    assert_eq!(step_json["trace"]["file"], trace.file.as_str());
    assert!(step_json["trace"]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("CKR_PIN_INCORRECT")));
    let xml = files::junit_xml(&run).unwrap();
    let out_tag = xml.find("<system-out>").expect("a system-out element");
    assert!(xml[out_tag..].contains("CKR_PIN_INCORRECT"), "{xml}");
    assert!(xml[out_tag..].contains(&trace.file), "{xml}");
}
