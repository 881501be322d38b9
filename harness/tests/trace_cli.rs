//! `tokenemu trace` on a real trace: the module writes it (TOKENEMU_TRACE)
//! while `tokenemu token` commands use a throw-away eToken store, one of them
//! with a wrong PIN.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tokenemu");
const WRONG_PIN: &str = "7777777777";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tokenemu.toml"),
            format!(
                "[[slot]]\nid = 0\nprofile = \"etoken\"\nstore = \"{}\"\n",
                dir.path().join("store0").display()
            ),
        )
        .unwrap();
        Env { dir }
    }

    fn trace(&self) -> PathBuf {
        self.dir.path().join("calls.jsonl")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("TOKENEMU_CONF", self.dir.path().join("tokenemu.toml"))
            .env("TOKENEMU_TRACE", self.trace())
            .env("BAD_PIN", WRONG_PIN)
            .env_remove("TOKENEMU_LOG");
        c
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        let o = self.cmd(args).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }

    /// `tokenemu trace FILE args…`, which must succeed.
    fn show(&self, args: &[&str]) -> String {
        let o = Command::new(BIN)
            .arg("trace")
            .arg(self.trace())
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// Writes a real trace: a dump (open, login, find, read) and a failed login.
fn traced_env() -> Env {
    let env = Env::new();
    assert!(env.run(&["token", "dump", "--slot", "0"]).0);
    let (ok, _) = env.run(&["token", "dump", "--slot", "0", "--pin-env", "BAD_PIN"]);
    assert!(!ok, "a wrong PIN fails the dump");
    env
}

#[test]
fn a_real_trace_reads_one_line_per_call_and_filters() {
    let env = traced_env();
    let raw = std::fs::read_to_string(env.trace()).unwrap();
    assert!(!raw.contains(WRONG_PIN), "no PIN in the trace");
    let records = raw.lines().count();
    assert!(records >= 6, "{raw}");

    let all = env.show(&[]);
    assert_eq!(all.lines().count(), records, "one line per call:\n{all}");
    let first = all.lines().next().unwrap();
    assert!(first.starts_with("+0.000000s  "), "{first}");
    let login_failed = all
        .lines()
        .find(|l| l.contains("C_Login(") && l.contains("CKR_PIN_INCORRECT"))
        .unwrap_or_else(|| panic!("no failed C_Login line:\n{all}"));
    assert!(login_failed.contains("pin=<10 bytes>"), "{login_failed}");
    assert!(login_failed.contains("sess "), "{login_failed}");
    assert!(!all.contains(WRONG_PIN));

    let failed = env.show(&["--failed"]);
    assert!(
        !failed.is_empty() && failed.lines().all(|l| !l.contains("  CKR_OK  ")),
        "{failed}"
    );
    assert!(failed.contains("CKR_PIN_INCORRECT"), "{failed}");

    let logins = env.show(&["--function", "C_Login"]);
    assert_eq!(logins.lines().count(), 2, "{logins}");
    assert!(logins.lines().all(|l| l.contains("C_Login(")));

    // The failed login's session: every line of it is on that session.
    let session: u64 = login_failed
        .split("sess ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let one = env.show(&["--session", &session.to_string()]);
    assert!(one.lines().count() >= 2, "{one}");
    assert!(
        one.lines().all(|l| l.contains(&format!("sess {session} "))),
        "{one}"
    );

    // --json passes the chosen records through unchanged.
    let json = env.show(&["--json", "--failed"]);
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_ne!(v["rv"], "CKR_OK");
        assert!(raw.lines().any(|r| r == l));
    }
}

#[test]
fn follow_prints_calls_as_they_are_appended() {
    let env = traced_env();
    let lines_before = std::fs::read_to_string(env.trace())
        .unwrap()
        .lines()
        .count();
    let mut child = Command::new(BIN)
        .arg("trace")
        .arg(env.trace())
        .args(["--follow", "--function", "C_GetTokenInfo"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        let _ = tx.send(line);
    });
    // A new call, by another process, while `trace --follow` runs.
    std::thread::sleep(Duration::from_millis(300));
    append_token_info_call(&env.trace());
    let line = rx.recv_timeout(Duration::from_secs(20));
    child.kill().unwrap();
    child.wait().unwrap();
    let line = line.expect("trace --follow printed nothing within 20 s");
    assert!(line.contains("C_GetTokenInfo("), "{line}");
    assert!(
        std::fs::read_to_string(env.trace())
            .unwrap()
            .lines()
            .count()
            > lines_before
    );
}

/// A real call appended to the trace: `tokenemu token list` reads the token info.
fn append_token_info_call(trace: &Path) {
    let env_dir = trace.parent().unwrap();
    let o = Command::new(BIN)
        .args(["token", "list"])
        .env("TOKENEMU_CONF", env_dir.join("tokenemu.toml"))
        .env("TOKENEMU_TRACE", trace)
        .output()
        .unwrap();
    assert!(o.status.success());
}
