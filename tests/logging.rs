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
