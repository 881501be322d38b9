//! Scenario files: the shipped ones load, cite their manual verbatim and
//! map every numbered step; malformed ones are rejected with messages that
//! name the file and the step (insta snapshots).

use std::path::PathBuf;

use tokenemu_harness::scenario::{load_dir, load_str};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn shipped_scenarios_load() {
    let all = load_dir(&root().join("scenarios")).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = all.iter().map(|s| s.header.id.as_str()).collect();
    assert_eq!(ids, ["000", "001", "002", "003", "004"]);
    for s in &all {
        assert!(!s.coverage.is_empty(), "{}: no [[coverage]]", s.file);
        assert!(
            !s.header.note.trim().is_empty(),
            "{}: no closing note",
            s.file
        );
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every quote is the manual's own words (whitespace folded), when the
/// manuals are beside the repository (shared/manuals).
#[test]
fn quotes_are_verbatim() {
    let dir = root().join("../shared/manuals");
    if !dir.is_dir() {
        eprintln!("SKIPPED: {} not found", dir.display());
        return;
    }
    for s in load_dir(&root().join("scenarios")).unwrap() {
        let manual = squash(&std::fs::read_to_string(dir.join(&s.header.manual)).unwrap());
        for st in &s.steps {
            assert_eq!(
                st.def.doc_ref.file, s.header.manual,
                "{} step {}",
                s.file, st.def.id
            );
            assert!(
                manual.contains(&squash(&st.def.doc_ref.quote)),
                "{} step {}: quote not in {}: {}",
                s.file,
                st.def.id,
                s.header.manual,
                st.def.doc_ref.quote
            );
        }
    }
}

const GOOD: &str = r#"
[scenario]
id = "900"
title = "t"
manual = "000_fb7dd5dfce934f33.txt"
language = "ru"
profiles = ["jacarta-gost"]
provision = "kisc-gost-rsa-expiring"
start = "2025-02-11"
note = "none left out"

[[step]]
id = "a"
title = "t"
doc_ref = { file = "000_fb7dd5dfce934f33.txt", quote = "q" }
on_token = "-"
backend = "-"
expect = "-"
kind = "ca.login"
with = { select = "top", pin = "user" }
capture = { who = "subject" }

[[step]]
id = "b"
title = "t"
doc_ref = { file = "000_fb7dd5dfce934f33.txt", quote = "q" }
on_token = "-"
backend = "-"
expect = "-"
kind = "token.export_certificate"
with = { key = "${who}", file = "x" }
"#;

fn err(text: &str) -> String {
    load_str("scenarios/bad.toml", text)
        .unwrap_err()
        .to_string()
}

#[test]
fn the_template_is_valid() {
    load_str("scenarios/good.toml", GOOD).unwrap();
}

#[test]
fn unknown_step_kind() {
    insta::assert_snapshot!(err(
        &GOOD.replace("kind = \"ca.login\"", "kind = \"ca.logon\"")
    ));
}

#[test]
fn missing_step_field() {
    insta::assert_snapshot!(err(&GOOD.replacen("on_token = \"-\"\n", "", 1)));
}

#[test]
fn missing_action_parameter() {
    insta::assert_snapshot!(err(&GOOD.replace(
        "with = { select = \"top\", pin = \"user\" }",
        "with = { select = \"top\" }"
    )));
}

#[test]
fn unknown_action_parameter() {
    insta::assert_snapshot!(err(
        &GOOD.replace("pin = \"user\" }", "pin = \"user\", slot = 3 }")
    ));
}

#[test]
fn bad_variable_reference() {
    insta::assert_snapshot!(err(&GOOD.replace("${who}", "${whom}")));
}

#[test]
fn variable_used_before_capture() {
    // Swap: the reference comes first.
    let swapped = GOOD.replace("capture = { who = \"subject\" }", "").replace(
        "file = \"x\" }",
        "file = \"x\" }\ncapture = { who = \"der\" }",
    );
    insta::assert_snapshot!(err(&swapped));
}

#[test]
fn bad_toml_names_the_line() {
    insta::assert_snapshot!(err(&GOOD.replace("kind = \"ca.login\"", "kind = ca.login")));
}

#[test]
fn bad_header() {
    insta::assert_snapshot!(err(
        &GOOD.replace("start = \"2025-02-11\"", "start = \"11.02.2025\"")
    ));
    insta::assert_snapshot!(
        "bad_profile",
        err(&GOOD.replace("profiles = [\"jacarta-gost\"]", "profiles = [\"rutoken\"]"))
    );
}

#[test]
fn duplicate_step_id_and_bad_coverage() {
    insta::assert_snapshot!(err(&GOOD.replace("id = \"b\"", "id = \"a\"")));
    insta::assert_snapshot!(
        "coverage_unknown_step",
        err(
            &format!("{GOOD}\n[[coverage]]\nmanual_step = \"1\"\nsteps = [\"zzz\"]\n")
                .replace("[[coverage]]", "[[coverage]]")
        )
    );
}
