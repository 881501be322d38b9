//! Running external PKCS#11 clients (pkcs11-tool, p11tool, openssl) against
//! the module, with the project's skip policy: a missing tool skips the test
//! with a loud reason, unless `TOKENEMU_REQUIRE_TOOLS=1` (CI), which turns the
//! skip into a failure.

#![allow(dead_code)]

pub mod mount;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether every missing tool must fail the run.
pub fn tools_required() -> bool {
    std::env::var("TOKENEMU_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// The path of `file` if it exists; otherwise skip (None) or fail.
pub fn require_file(file: &str, package: &str) -> Option<PathBuf> {
    let p = PathBuf::from(file);
    if p.exists() {
        return Some(p);
    }
    let msg = format!("{file} is missing (apt package {package})");
    assert!(!tools_required(), "TOKENEMU_REQUIRE_TOOLS=1 and {msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

/// The path of `tool` on PATH; otherwise skip (None) or fail.
pub fn require(tool: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = format!("`{tool}` is not installed (apt package {package})");
        assert!(!tools_required(), "TOKENEMU_REQUIRE_TOOLS=1 and {msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// Runs a command with `TOKENEMU_CONF` set, returning its output; panics with
/// the command line and both streams when it fails to start.
pub fn run(cmd: &mut Command, conf: &Path) -> Output {
    cmd.env("TOKENEMU_CONF", conf);
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Like [`run`], and asserts exit status 0; returns stdout + stderr.
pub fn run_ok(cmd: &mut Command, conf: &Path) -> String {
    let out = run(cmd, conf);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

/// `openssl ARGS` with `input` on stdin; None (skipped) when openssl is missing.
pub fn openssl_stdin(args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let bin = require("openssl", "openssl")?;
    let mut child = Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    let out = child.wait_with_output().expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}
