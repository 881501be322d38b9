//! `tokenemu`'s own log set-up: a `TOKENEMU_LOG` filter that does not parse
//! is reported once on stderr — by the CLI, not again by the emulator module
//! `tokenemu list` loads into the same process — and the command still runs.
//! An unwritable `TOKENEMU_LOG_FILE` (the module's log) is reported once too.

mod support {
    pub mod cli_env;
}

use support::cli_env::Env;

fn stderr_of(env: &Env, args: &[&str], envs: &[(&str, &str)]) -> String {
    let o = env.run_env(args, envs);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "tokenemu {args:?}: {:?}\n{err}",
        o.status
    );
    err
}

#[test]
fn an_invalid_log_filter_is_reported_once() {
    let env = Env::new();
    for args in [&["list"][..], &["token", "list"][..]] {
        let err = stderr_of(&env, args, &[("TOKENEMU_LOG", "tokenemu=loud")]);
        let reports: Vec<&str> = err.lines().filter(|l| l.contains("TOKENEMU_LOG")).collect();
        assert_eq!(reports.len(), 1, "tokenemu {args:?}:\n{err}");
        assert!(
            reports[0]
                .starts_with("tokenemu: TOKENEMU_LOG=\"tokenemu=loud\" is not a valid log filter")
                && reports[0].contains("using the default filter"),
            "{err}"
        );
    }
    let err = stderr_of(&env, &["list"], &[("TOKENEMU_LOG", "warn")]);
    assert!(!err.contains("TOKENEMU_LOG"), "{err}");
}

#[test]
fn an_unwritable_module_log_file_is_reported_once() {
    let env = Env::new();
    let file = env.dir.path().join("missing-dir").join("module.log");
    let err = stderr_of(
        &env,
        &["list"],
        &[("TOKENEMU_LOG_FILE", file.to_str().unwrap())],
    );
    let reports: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("TOKENEMU_LOG_FILE"))
        .collect();
    assert_eq!(reports.len(), 1, "{err}");
    assert!(
        reports[0].contains("missing-dir") && reports[0].contains("logging to stderr instead"),
        "{err}"
    );
}
