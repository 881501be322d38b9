//! A fresh SoftHSM2 token in a temporary directory, for tests that run
//! `tokenemu` against SoftHSM2, with the project's skip policy for missing
//! tools (tests/tools: a loud skip, a failure under TOKENEMU_REQUIRE_TOOLS=1).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../../tests/tools/mod.rs"]
mod tools;

/// Debian's SoftHSM2 module.
pub const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of [`fresh_token`].
pub const USER_PIN: &str = "123456";
/// The SO PIN of [`fresh_token`].
pub const SO_PIN: &str = "12345678";

/// Whether SoftHSM2 (module and softhsm2-util) is installed; skips loudly
/// or fails (TOKENEMU_REQUIRE_TOOLS=1) when it is not.
pub fn available() -> bool {
    tools::require_file(SOFTHSM, "softhsm2").is_some()
        && tools::require("softhsm2-util", "softhsm2").is_some()
}

/// Initialises a token labelled `label` in `dir/tokens`; returns the
/// SOFTHSM2_CONF path to pass to the module.
pub fn fresh_token(dir: &Path, label: &str) -> PathBuf {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let o = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            USER_PIN,
            "--so-pin",
            SO_PIN,
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "softhsm2-util: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    conf
}
