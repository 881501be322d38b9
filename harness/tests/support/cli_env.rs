//! A throw-away `tokenemu` environment for the command-line tests: one
//! eToken slot (id 0) whose store lives in a temporary directory, configured
//! through TOKENEMU_CONF, and the `tokenemu` binary run against it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tokenemu");

/// The temporary config and store.
pub struct Env {
    /// The temporary directory (config, store, scratch files).
    pub dir: tempfile::TempDir,
    /// The TOKENEMU_CONF file.
    pub conf: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("tokenemu.toml");
        std::fs::write(
            &conf,
            format!(
                "[[slot]]\nid = 0\nprofile = \"etoken\"\nstore = \"{}\"\n",
                dir.path().join("store0").display()
            ),
        )
        .unwrap();
        Env { dir, conf }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store0")
    }

    pub fn run_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("TOKENEMU_CONF", &self.conf)
            .env_remove("TOKENEMU_LOG")
            .env_remove("TOKENEMU_MODULE");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    pub fn ok_env(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let o = self.run_env(args, envs);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "tokenemu {args:?} failed ({:?})\nstdout: {out}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_env(args, &[])
    }

    /// Runs a command that must fail: exit code 1 and one `tokenemu: error:`
    /// line on stderr, no panic. Returns that line.
    pub fn fail_env(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let o = self.run_env(args, envs);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(
            o.status.code(),
            Some(1),
            "tokenemu {args:?} should fail with exit code 1\nstdout: {}\nstderr: {err}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(!err.contains("panicked"), "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "one-line error expected, got: {err}");
        assert!(lines[0].starts_with("tokenemu: error: "), "{err}");
        lines[0].to_owned()
    }

    pub fn fail(&self, args: &[&str]) -> String {
        self.fail_env(args, &[])
    }

    pub fn list_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["token", "list", "--json"])).unwrap()
    }

    pub fn dump(&self) -> String {
        self.ok(&["token", "dump", "--slot", "0"])
    }
}
