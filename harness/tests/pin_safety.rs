//! PIN safety with real tokens (issue 14): a wrong PIN the user supplied
//! costs at most one try per `tokenemu run`, `conformance` or `bench` on a
//! module; a token that already shows spent tries (COUNT_LOW) is refused
//! unless --allow-low-pin-tries; set-up mistakes stop the command before
//! any scenario or check; and the `token` commands never try a PIN the user
//! did not give. Against the built libtokenemu.so on throw-away stores,
//! whose retry counters the tests read from the store itself, and against
//! SoftHSM2 (which sets CKF_USER_PIN_COUNT_LOW after a wrong PIN but never
//! locks, so there the tests check the refusals and the messages).

mod support {
    pub mod softhsm2;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::softhsm2::{self, SOFTHSM};

const BIN: &str = env!("CARGO_BIN_EXE_tokenemu");
/// The default PINs of the profiles used here (etoken, jacarta-gost,
/// javatoken).
const DEFAULT_PIN: &str = "1234567890";
const JACARTA_SO_PIN: &str = "0987654321";
const WRONG_PIN: &str = "5555555555";

/// `libtokenemu.so` next to the `tokenemu` binary: built by
/// `cargo build -p tokenemu-pkcs11`. Missing: a loud skip, or a failure
/// under TOKENEMU_REQUIRE_TOOLS=1.
fn module() -> Option<PathBuf> {
    let p = Path::new(BIN).parent().unwrap().join("libtokenemu.so");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("TOKENEMU_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{} is missing and TOKENEMU_REQUIRE_TOOLS=1: run `cargo build -p tokenemu-pkcs11` first",
        p.display()
    );
    eprintln!(
        "\n*** SKIPPING: {} is missing. Run `cargo build -p tokenemu-pkcs11` first \
         (TOKENEMU_REQUIRE_TOOLS=1 makes this a failure). ***\n",
        p.display()
    );
    None
}

/// One emulated slot (id 0) of `profile` on a throw-away store.
struct Token {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Token {
    fn new(profile: &str) -> Token {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("tokenemu.toml");
        std::fs::write(
            &conf,
            format!(
                "[[slot]]\nid = 0\nprofile = \"{profile}\"\nstore = \"{}\"\n",
                dir.path().join("store0").display()
            ),
        )
        .unwrap();
        let t = Token { dir, conf };
        // The token is created on first use, with the profile's defaults.
        t.ok(&["token", "list"], &[]);
        t
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// (user, SO) wrong tries left, as the store records them.
    fn tries_left(&self) -> (u64, u64) {
        let snap = tokenemu_store::Store::open(&self.path("store0"))
            .and_then(|s| s.load())
            .unwrap();
        let meta: serde_json::Value = serde_json::from_slice(&snap.meta.unwrap()).unwrap();
        (
            meta["user_tries_left"].as_u64().unwrap(),
            meta["so_tries_left"].as_u64().unwrap(),
        )
    }

    fn flags(&self) -> String {
        let j: serde_json::Value =
            serde_json::from_str(&self.ok(&["token", "list", "--json"], &[])).unwrap();
        j[0]["flags"].to_string()
    }

    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("TOKENEMU_CONF", &self.conf)
            // The module's own log goes to a file, and the `token`
            // commands' core logs only errors (its warning when a PIN locks
            // is expected here): stderr holds the CLI's error line alone.
            .env("TOKENEMU_LOG_FILE", self.path("module.log"))
            .env("TOKENEMU_LOG", "error")
            .env_remove("TOKENEMU_MODULE")
            .env_remove("TOKENEMU_TRACE");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let o = self.run(args, envs);
        assert!(
            o.status.success(),
            "tokenemu {args:?} failed\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A command that must fail with exit code 1 and nothing on stderr but
    /// its one error line (no scenario or check started); returns that line.
    fn fails_at_once(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        one_error_line(args, &self.run(args, envs))
    }
}

fn one_error_line(args: &[&str], o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(1),
        "tokenemu {args:?} should fail with exit code 1\nstdout: {}\nstderr: {err}",
        String::from_utf8_lossy(&o.stdout)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "tokenemu {args:?}: one error line expected: {err}"
    );
    assert!(lines[0].starts_with("tokenemu: error: "), "{err}");
    lines[0].to_owned()
}

fn run_args<'a>(module: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "--module", module, "--out", out];
    v.extend_from_slice(extra);
    v
}

const BENCH_QUICK: &[&str] = &[
    "--workloads",
    "digest",
    "--rounds",
    "1",
    "--secs",
    "0.05",
    "--threads",
    "1",
];

#[test]
fn three_runs_with_a_wrong_pin_cost_one_try() {
    let Some(m) = module() else { return };
    let m = m.display().to_string();
    // eToken: 15 user PIN tries. Each of the five scenarios used to log in
    // once with the PIN: three runs locked it.
    let t = Token::new("etoken");
    assert_eq!(t.tries_left().0, 15);
    for i in 0..3 {
        let out = t.path(&format!("out{i}"));
        let out_s = out.display().to_string();
        let args = run_args(&m, &out_s, &["--slot", "0", "--pin-env", "P"]);
        let e = t.fails_at_once(&args, &[("P", WRONG_PIN)]);
        if i == 0 {
            // The pre-flight's one log-in: refused, with what the flags show.
            assert!(e.contains("CKR_PIN_INCORRECT"), "{e}");
            assert!(
                e.contains("CKF_USER_PIN_COUNT_LOW (tries left: fewer than the maximum)"),
                "{e}"
            );
            assert!(e.contains("environment variable P (--pin-env)"), "{e}");
            assert!(!e.contains(WRONG_PIN), "the PIN was printed: {e}");
        } else {
            // COUNT_LOW now: no PIN is tried without the option.
            assert!(e.contains("CKF_USER_PIN_COUNT_LOW"), "{e}");
            assert!(e.contains("--allow-low-pin-tries"), "{e}");
        }
        assert!(!out.join("report.json").exists(), "a scenario ran");
    }
    assert_eq!(
        t.tries_left().0,
        14,
        "three runs with a wrong PIN cost one try"
    );
    // With the option each run costs its one try, no more.
    for i in 0..2 {
        let out = t.path(&format!("low{i}")).display().to_string();
        let args = run_args(
            &m,
            &out,
            &["--slot", "0", "--pin-env", "P", "--allow-low-pin-tries"],
        );
        let o = t.run(&args, &[("P", WRONG_PIN)]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("CKR_PIN_INCORRECT"), "{err}");
        assert!(!err.contains("== "), "a scenario started: {err}");
    }
    assert_eq!(t.tries_left().0, 12);
    assert!(!t.flags().contains("CKF_USER_PIN_LOCKED"));
}

#[test]
fn set_up_mistakes_stop_run_and_conformance_before_anything_starts() {
    let Some(m) = module() else { return };
    let m = m.display().to_string();
    let t = Token::new("etoken");
    let out = t.path("out").display().to_string();
    let good = [("P", DEFAULT_PIN)];
    for (cmd, extra, needle) in [
        (
            "run",
            vec!["--module", "/no/such/module.so", "--pin-env", "P"],
            "/no/such/module.so",
        ),
        (
            "run",
            vec!["--module", &m, "--pin-env", "NO_SUCH_VAR"],
            "NO_SUCH_VAR",
        ),
        ("run", vec!["--module", &m], "--pin-env"),
        (
            "run",
            vec!["--module", &m, "--slot", "7", "--pin-env", "P"],
            "no slot 7",
        ),
        (
            "run",
            vec!["--module", &m, "--token-label", "nope", "--pin-env", "P"],
            "no token labelled \"nope\"",
        ),
        (
            "conformance",
            vec!["--module", &m, "--pin-env", "NO_SUCH_VAR"],
            "NO_SUCH_VAR",
        ),
        (
            "conformance",
            vec!["--module", &m, "--slot", "7", "--pin-env", "P"],
            "no slot 7",
        ),
        (
            "conformance",
            vec!["--module", &m, "--token-label", "nope"],
            "no token labelled \"nope\"",
        ),
        (
            "bench",
            vec!["--module", &m, "--pin-env", "NO_SUCH_VAR"],
            "NO_SUCH_VAR",
        ),
        (
            "bench",
            vec!["--module", &m, "--slot", "7", "--pin-env", "P"],
            "no slot 7",
        ),
    ] {
        let mut args = vec![cmd];
        args.extend(extra.iter().copied());
        if cmd == "run" {
            args.extend(["--out", &out]);
        }
        let e = t.fails_at_once(&args, &good);
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(!t.path("out").join("report.json").exists(), "{args:?}");
    }
    assert_eq!(t.tries_left(), (15, 15), "no PIN was tried");
}

#[test]
fn a_token_showing_count_low_is_refused_unless_the_option_is_given() {
    let Some(m) = module() else { return };
    let m = m.display().to_string();
    let t = Token::new("etoken");
    // One wrong PIN (a `token` command, which never refuses to try a PIN
    // the user gave): CKF_USER_PIN_COUNT_LOW.
    let e = t.fails_at_once(
        &["token", "dump", "--slot", "0", "--pin-env", "P"],
        &[("P", WRONG_PIN)],
    );
    assert!(e.contains("CKF_USER_PIN_COUNT_LOW"), "{e}");
    assert_eq!(t.tries_left().0, 14);
    let good = [("P", DEFAULT_PIN)];
    let out = t.path("out").display().to_string();
    let only = ["--only", "session.user-login-states"];
    let mut conformance = vec![
        "conformance",
        "--module",
        &m,
        "--slot",
        "0",
        "--pin-env",
        "P",
    ];
    conformance.extend(only);
    let mut bench = vec!["bench", "--module", &m, "--slot", "0", "--pin-env", "P"];
    bench.extend(BENCH_QUICK);
    let run = run_args(&m, &out, &["--slot", "0", "--pin-env", "P"]);
    for args in [&conformance, &bench, &run] {
        // Even the right PIN is not tried: the pre-flight refuses first.
        let e = t.fails_at_once(args, &good);
        assert!(e.contains("CKF_USER_PIN_COUNT_LOW"), "{args:?}: {e}");
        assert!(e.contains("--allow-low-pin-tries"), "{args:?}: {e}");
        assert_eq!(t.tries_left().0, 14, "{args:?}");
    }
    // With the option the right PIN logs in and resets the counter.
    conformance.push("--allow-low-pin-tries");
    let o = t.ok(&conformance, &good);
    assert!(o.contains("session.user-login-states"), "{o}");
    assert_eq!(t.tries_left().0, 15);
    assert!(!t.flags().contains("CKF_USER_PIN_COUNT_LOW"));
}

#[test]
fn conformance_and_bench_with_a_wrong_pin_stop_after_one_try() {
    let Some(m) = module() else { return };
    let m = m.display().to_string();
    let t = Token::new("etoken");
    let bad = [("P", WRONG_PIN)];
    // The whole catalogue: dozens of checks log in.
    let conformance = [
        "conformance",
        "--module",
        &m,
        "--slot",
        "0",
        "--pin-env",
        "P",
    ];
    let e = t.fails_at_once(&conformance, &bad);
    assert!(e.contains("CKR_PIN_INCORRECT"), "{e}");
    assert!(e.contains("CKF_USER_PIN_COUNT_LOW"), "{e}");
    assert_eq!(t.tries_left().0, 14);
    // A second run on the COUNT_LOW token tries nothing.
    t.fails_at_once(&conformance, &bad);
    assert_eq!(t.tries_left().0, 14);
    // The right PIN once (a `token` command) resets the counter.
    t.ok(
        &["token", "dump", "--slot", "0", "--pin-env", "P"],
        &[("P", DEFAULT_PIN)],
    );
    assert_eq!(t.tries_left().0, 15);
    let mut bench = vec!["bench", "--module", &m, "--slot", "0", "--pin-env", "P"];
    bench.extend(BENCH_QUICK);
    let e = t.fails_at_once(&bench, &bad);
    assert!(e.contains("CKR_PIN_INCORRECT"), "{e}");
    assert!(e.contains("CKF_USER_PIN_COUNT_LOW"), "{e}");
    assert_eq!(t.tries_left().0, 14);
    let e = t.fails_at_once(&bench, &bad);
    assert!(e.contains("--allow-low-pin-tries"), "{e}");
    assert_eq!(
        t.tries_left().0,
        14,
        "two bench runs with a wrong PIN cost one try"
    );
}

#[test]
fn twelve_dumps_after_a_pin_change_leave_the_token_unlocked() {
    // JaCarta GOST: 10 user PIN tries.
    let t = Token::new("jacarta-gost");
    // First use: the token still reports CKF_USER_PIN_TO_BE_CHANGED, so the
    // profile's documented default PIN is tried.
    assert!(t.flags().contains("CKF_USER_PIN_TO_BE_CHANGED"));
    t.ok(&["token", "dump", "--slot", "0"], &[]);
    let pins = [("OLD", DEFAULT_PIN), ("NEW", "13572468")];
    t.ok(
        &[
            "token",
            "set-pin",
            "--slot",
            "0",
            "--old-pin-env",
            "OLD",
            "--new-pin-env",
            "NEW",
        ],
        &pins,
    );
    assert!(!t.flags().contains("CKF_USER_PIN_TO_BE_CHANGED"));
    for _ in 0..12 {
        let e = t.fails_at_once(&["token", "dump", "--slot", "0"], &[]);
        assert!(e.contains("--pin-env"), "{e}");
        assert!(e.contains("CKF_USER_PIN_TO_BE_CHANGED"), "{e}");
    }
    assert_eq!(t.tries_left().0, 10, "no PIN was tried");
    let flags = t.flags();
    assert!(!flags.contains("CKF_USER_PIN_LOCKED"), "{flags}");
    assert!(!flags.contains("CKF_USER_PIN_COUNT_LOW"), "{flags}");
    t.ok(&["token", "dump", "--slot", "0", "--pin-env", "NEW"], &pins);
    // The other commands that log in follow the same rule.
    let fixture = tokenemu_fixtures::fixtures_dir()
        .join("tokens/sample-data-objects.toml")
        .display()
        .to_string();
    for args in [
        vec!["token", "delete", "--slot", "0", "--all"],
        vec!["token", "import-fixture", "--slot", "0", &fixture],
    ] {
        let e = t.fails_at_once(&args, &[]);
        assert!(e.contains("CKF_USER_PIN_TO_BE_CHANGED"), "{args:?}: {e}");
    }
    assert_eq!(t.tries_left().0, 10);
}

#[test]
fn pin_failures_say_what_the_flags_show_and_unlock_sets_a_new_pin() {
    // javatoken: 10 user and 10 SO tries.
    let t = Token::new("javatoken");
    let dump_bad = ["token", "dump", "--slot", "0", "--pin-env", "P"];
    let bad = [("P", WRONG_PIN)];
    for i in 1..=10 {
        let e = t.fails_at_once(&dump_bad, &bad);
        assert!(!e.contains(WRONG_PIN), "the PIN was printed: {e}");
        match i {
            1..=8 => {
                assert!(e.contains("CKR_PIN_INCORRECT"), "{i}: {e}");
                assert!(
                    e.contains("CKF_USER_PIN_COUNT_LOW (tries left: fewer than the maximum)"),
                    "{i}: {e}"
                );
            }
            9 => {
                assert!(e.contains("CKR_PIN_INCORRECT"), "{e}");
                assert!(e.contains("CKF_USER_PIN_FINAL_TRY (one try left"), "{e}");
            }
            _ => {
                assert!(e.contains("CKR_PIN_LOCKED"), "{e}");
                assert!(e.contains("CKF_USER_PIN_LOCKED (no tries left"), "{e}");
            }
        }
    }
    assert_eq!(t.tries_left().0, 0);
    // A locked PIN is not tried at all; the message says how to unlock.
    let e = t.fails_at_once(
        &["token", "dump", "--slot", "0", "--pin-env", "P"],
        &[("P", DEFAULT_PIN)],
    );
    assert!(e.contains("CKF_USER_PIN_LOCKED"), "{e}");
    assert!(e.contains("tokenemu token unlock --slot 0"), "{e}");
    // The SO (default SO PIN: the token still flags it to be changed) sets
    // a new user PIN.
    let out = t.ok(
        &["token", "unlock", "--slot", "0", "--new-pin-env", "NEW"],
        &[("NEW", "24681357")],
    );
    assert!(out.contains("new user PIN set by the SO"), "{out}");
    assert!(!out.contains("24681357"), "the PIN was printed: {out}");
    assert_eq!(t.tries_left().0, 10);
    t.ok(
        &["token", "dump", "--slot", "0", "--pin-env", "NEW"],
        &[("NEW", "24681357")],
    );
    // `set-pin --so` changes the SO PIN; from then on the default SO PIN is
    // never tried (unlock, init), and a wrong SO PIN's message shows the
    // SO's flags.
    let so = [
        ("OLD", DEFAULT_PIN),
        ("NEWSO", "11223344"),
        ("BAD", WRONG_PIN),
        ("NEW", "24681357"),
    ];
    let out = t.ok(
        &[
            "token",
            "set-pin",
            "--slot",
            "0",
            "--so",
            "--old-pin-env",
            "OLD",
            "--new-pin-env",
            "NEWSO",
        ],
        &so,
    );
    assert!(out.contains("SO PIN changed"), "{out}");
    assert!(!t.flags().contains("CKF_SO_PIN_TO_BE_CHANGED"));
    for args in [
        vec!["token", "unlock", "--slot", "0", "--new-pin-env", "NEW"],
        vec!["token", "init", "--slot", "0"],
    ] {
        let e = t.fails_at_once(&args, &so);
        assert!(e.contains("--so-pin-env"), "{args:?}: {e}");
        assert!(e.contains("CKF_SO_PIN_TO_BE_CHANGED"), "{args:?}: {e}");
    }
    assert_eq!(t.tries_left().1, 10, "the default SO PIN was not tried");
    let e = t.fails_at_once(
        &[
            "token",
            "unlock",
            "--slot",
            "0",
            "--so-pin-env",
            "BAD",
            "--new-pin-env",
            "NEW",
        ],
        &so,
    );
    assert!(e.contains("C_Login as SO"), "{e}");
    assert!(e.contains("CKF_SO_PIN_COUNT_LOW"), "{e}");
    assert_eq!(t.tries_left().1, 9);
    t.ok(
        &[
            "token",
            "unlock",
            "--slot",
            "0",
            "--so-pin-env",
            "NEWSO",
            "--new-pin-env",
            "NEW",
        ],
        &so,
    );
    assert_eq!(t.tries_left(), (10, 10));
}

#[test]
fn init_tries_the_default_so_pin_only_while_the_token_flags_it() {
    let t = Token::new("jacarta-gost");
    // Fresh: CKF_SO_PIN_TO_BE_CHANGED, the default SO PIN works.
    let out = t.ok(&["token", "init", "--slot", "0", "--label", "t1"], &[]);
    assert!(out.contains("user PIN set"), "{out}");
    // The SO set the user PIN to the default, but the token does not flag
    // it to be changed: later commands are told to pass --pin-env.
    assert!(out.contains("pass --pin-env"), "{out}");
    let e = t.fails_at_once(&["token", "dump", "--slot", "0"], &[]);
    assert!(e.contains("CKF_USER_PIN_TO_BE_CHANGED"), "{e}");
    t.ok(
        &["token", "dump", "--slot", "0", "--pin-env", "P"],
        &[("P", DEFAULT_PIN)],
    );
    // A wrong SO PIN: C_InitToken refuses it, and says what the SO's flags show.
    let e = t.fails_at_once(
        &["token", "init", "--slot", "0", "--so-pin-env", "S"],
        &[("S", "1111111111")],
    );
    assert!(e.contains("C_InitToken"), "{e}");
    assert!(e.contains("CKF_SO_PIN_COUNT_LOW"), "{e}");
    t.ok(
        &["token", "init", "--slot", "0", "--so-pin-env", "S"],
        &[("S", JACARTA_SO_PIN)],
    );
}

#[test]
fn softhsm2_a_wrong_pin_costs_one_try_and_a_count_low_token_is_refused() {
    if !softhsm2::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = softhsm2::fresh_token(dir.path(), "pin-safety");
    let run = |args: &[&str], pin: &str| -> Output {
        Command::new(BIN)
            .args(args)
            .env("SOFTHSM2_CONF", &conf)
            .env("P", pin)
            .env_remove("TOKENEMU_LOG")
            .output()
            .unwrap()
    };
    let label = ["--token-label", "pin-safety", "--pin-env", "P"];
    let out = dir.path().join("out").display().to_string();
    let mut scenario_run = vec!["run", "--module", SOFTHSM, "--out", &out];
    scenario_run.extend(label);
    let mut conformance = vec![
        "conformance",
        "--module",
        SOFTHSM,
        "--only",
        "session.user-login-states",
    ];
    conformance.extend(label);
    let mut bench = vec!["bench", "--module", SOFTHSM];
    bench.extend(label);
    bench.extend(BENCH_QUICK);

    // A wrong PIN: one log-in, refused, SoftHSM2 now reports COUNT_LOW.
    let e = one_error_line(&scenario_run, &run(&scenario_run, "000000"));
    assert!(e.contains("CKR_PIN_INCORRECT"), "{e}");
    assert!(e.contains("CKF_USER_PIN_COUNT_LOW"), "{e}");
    assert!(
        !dir.path().join("out/report.json").exists(),
        "a scenario ran"
    );
    // The token shows spent tries: even the right PIN is not tried.
    for args in [&scenario_run, &conformance, &bench] {
        let e = one_error_line(args, &run(args, softhsm2::USER_PIN));
        assert!(e.contains("--allow-low-pin-tries"), "{args:?}: {e}");
    }
    // With the option the right PIN logs in, which clears COUNT_LOW.
    let mut allowed = conformance.clone();
    allowed.push("--allow-low-pin-tries");
    let o = run(&allowed, softhsm2::USER_PIN);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&conformance, softhsm2::USER_PIN);
    assert!(
        o.status.success(),
        "COUNT_LOW was cleared: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The whole catalogue with a wrong PIN stops at the pre-flight.
    let all = [
        "conformance",
        "--module",
        SOFTHSM,
        "--token-label",
        "pin-safety",
        "--pin-env",
        "P",
    ];
    let e = one_error_line(&all, &run(&all, "000000"));
    assert!(e.contains("CKR_PIN_INCORRECT"), "{e}");
}
