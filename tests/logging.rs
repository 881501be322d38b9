//! Logging: `TOKENEMU_LOG` / `TOKENEMU_LOG_FILE` route the library's trace to
//! a file, every entry point logs its name and return value, and no PIN ever
//! appears in the log, even at `trace`.
//!
//! A separate test binary, because the subscriber is installed once per
//! process, on the first call into the library.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use common::{assert_rv, Ctx, ETOKEN};
use cryptoki::error::RvError;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use serial_test::serial;

#[test]
#[serial]
fn trace_goes_to_the_file_without_pins() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tokenemu.log");
    std::env::set_var("TOKENEMU_LOG", "trace");
    std::env::set_var("TOKENEMU_LOG_FILE", &log);
    let wrong = "wrong-pin-8f3a9c";
    {
        let ctx = Ctx::new();
        let s = ctx.rw(ETOKEN);
        assert_rv(
            s.login(UserType::User, Some(&AuthPin::from(wrong.to_owned()))),
            RvError::PinIncorrect,
        );
        s.login(UserType::User, Some(&ctx.env.user_pin(ETOKEN)))
            .unwrap();
        s.set_pin(
            &ctx.env.user_pin(ETOKEN),
            &AuthPin::from("new-pin-77aa01".to_owned()),
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(&log).expect("log file written");
    for needle in [
        "C_Initialize",
        "C_Login",
        "CKR_PIN_INCORRECT",
        "C_SetPIN",
        "CKR_OK",
        "C_Finalize",
    ] {
        assert!(text.contains(needle), "log lacks {needle}:\n{text}");
    }
    let user_pin = common::TestEnv::new(common::DEFAULT_SLOTS)
        .profile(ETOKEN)
        .pin
        .default_user_pin;
    for secret in [wrong, "new-pin-77aa01", user_pin.as_str()] {
        assert!(!text.contains(secret), "a PIN ({secret}) was logged");
    }
    assert!(!text.contains("\u{1b}["), "ANSI colour codes in a log file");
}

/// Set in the child process of the log set-up tests.
const LOG_CHILD_ENV: &str = "TOKENEMU_TEST_LOG_CHILD";

/// Several calls into the module, in a fresh process (the subscriber is set
/// up once per process). Runs only when re-executed by [`log_setup_stderr`].
#[test]
fn log_setup_child() {
    if std::env::var_os(LOG_CHILD_ENV).is_none() {
        return;
    }
    let raw = common::raw();
    let mut info = std::mem::MaybeUninit::<cryptoki_sys::CK_INFO>::uninit();
    for _ in 0..3 {
        // SAFETY: NULL init args; info is a writable CK_INFO; NULL pReserved.
        unsafe {
            raw.C_Initialize(std::ptr::null_mut());
            raw.C_GetInfo(info.as_mut_ptr());
            raw.C_Finalize(std::ptr::null_mut());
        }
    }
}

/// Runs [`log_setup_child`] with `TOKENEMU_LOG`/`TOKENEMU_LOG_FILE` as
/// given; returns its stderr.
fn log_setup_stderr(log: Option<&str>, log_file: Option<&std::path::Path>) -> String {
    let env = common::TestEnv::new(common::DEFAULT_SLOTS);
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["log_setup_child", "--exact", "--test-threads=1"])
        .env(LOG_CHILD_ENV, "1")
        .env("TOKENEMU_CONF", &env.conf)
        .env_remove("TOKENEMU_LOG")
        .env_remove("TOKENEMU_LOG_FILE");
    if let Some(l) = log {
        cmd.env("TOKENEMU_LOG", l);
    }
    if let Some(f) = log_file {
        cmd.env("TOKENEMU_LOG_FILE", f);
    }
    let out = cmd.output().expect("run the child");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// Serial: `TestEnv::new` points this process's TOKENEMU_CONF at a temporary
// store that is deleted afterwards, which a concurrent test would then use.
#[test]
#[serial]
fn an_invalid_log_filter_is_reported_once() {
    let err = log_setup_stderr(Some("tokenemu=loud"), None);
    let reports: Vec<&str> = err.lines().filter(|l| l.contains("TOKENEMU_LOG")).collect();
    assert_eq!(reports.len(), 1, "{err}");
    assert!(
        reports[0].contains("TOKENEMU_LOG=\"tokenemu=loud\" is not a valid log filter")
            && reports[0].contains("using the default filter \"warn\""),
        "{err}"
    );
    // A good filter says nothing.
    let err = log_setup_stderr(Some("warn,tokenemu_core=info"), None);
    assert!(!err.contains("TOKENEMU_LOG"), "{err}");
}

#[test]
#[serial]
fn an_unwritable_log_file_is_reported_once_and_logging_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-such-dir").join("tokenemu.log");
    // `debug` so the log itself shows up on stderr after the report.
    let err = log_setup_stderr(Some("debug"), Some(&file));
    let reports: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("TOKENEMU_LOG_FILE"))
        .collect();
    assert_eq!(reports.len(), 1, "{err}");
    assert!(
        reports[0].contains(&file.display().to_string())
            && reports[0].contains("No such file or directory")
            && reports[0].contains("logging to stderr instead"),
        "{err}"
    );
    assert!(
        err.contains("C_Initialize"),
        "the log went to stderr: {err}"
    );
    assert!(!file.exists());
}
