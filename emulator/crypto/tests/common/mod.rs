//! Shared test helpers: the known-answer vector files in `tests/vectors/` and the
//! `openssl` presence check.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// One record of a vector file: field name → raw value text.
pub type Record = BTreeMap<String, String>;

/// Parses `tests/vectors/<name>` (format in `tests/vectors/README.md`).
pub fn vectors(name: &str) -> Vec<Record> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut records = Vec::new();
    let mut current = Record::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !current.is_empty() {
                records.push(std::mem::take(&mut current));
            }
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{name}: bad line {line:?}"));
        current.insert(k.trim().to_string(), v.trim().to_string());
    }
    if !current.is_empty() {
        records.push(current);
    }
    assert!(!records.is_empty(), "{name} has no records");
    records
}

/// A hex field of `record` (empty text → empty bytes).
pub fn hex_field(record: &Record, field: &str) -> Vec<u8> {
    let v = record
        .get(field)
        .unwrap_or_else(|| panic!("record {record:?} lacks {field}"));
    hex::decode(v).unwrap_or_else(|e| panic!("{field} = {v}: {e}"))
}

/// `true` if `openssl` runs; otherwise skips loudly, or panics when
/// `TOKENEMU_REQUIRE_TOOLS=1`.
pub fn have_openssl(test: &str) -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let why = "the `openssl` command is not available";
        if std::env::var("TOKENEMU_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{test}: {why} and TOKENEMU_REQUIRE_TOOLS=1");
        }
        eprintln!("SKIPPED {test}: {why} (set TOKENEMU_REQUIRE_TOOLS=1 to make this fatal)");
    }
    ok
}

/// Runs `openssl args…` with `input` on stdin and returns stdout; panics on failure.
pub fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn openssl");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("openssl output");
    writer.join().expect("writer").expect("write stdin");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
