//! The `tokenemu` command line: token administration (`tokenemu token …`)
//! through the safe core API, `tokenemu list`, which loads a PKCS#11
//! module the way applications do and prints what it reports, and
//! `tokenemu run`, the scenario harness that replays the bank manuals' flows
//! ([`scenario`]) through PKCS#11 only ([`p11`]) against simulated back-ends
//! ([`backend`], [`pki`]) and reports the results ([`report`]).
//!
//! `main.rs` only parses the arguments, sets up logging and calls [`run`].
// `unsafe` is allowed in one file, `p11/client.rs` (the raw PKCS#11 caller
// under the conformance checks, `tokenemu bench` and the GOST calls cryptoki
// cannot express, style.md §2), and for one line in `p11/raw.rs` (a module's
// handle as a cryptoki `ObjectHandle`).
#![deny(unsafe_code)]

// First, so its `outln!` / `out!` / `errln!` are in scope in every module.
#[macro_use]
pub mod out;

pub mod admin;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod conformance;
pub mod interrupt;
pub mod keyfile;
pub mod list;
pub mod p11;
pub mod pki;
pub mod report;
pub mod run_cmd;
pub mod scenario;
pub mod show;
pub mod trace_cmd;

/// The environment variable that sets the log filter (`tracing-subscriber`
/// `EnvFilter` syntax, e.g. `debug` or `tokenemu_core=trace`).
pub const LOG_ENV: &str = "TOKENEMU_LOG";

/// Runs one command.
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::List(args) => list::run(&args),
        cli::Command::Token(cmd) => admin::run(cmd),
        cli::Command::Run(args) => run_cmd::run(&args),
        cli::Command::Trace(args) => trace_cmd::run(&args),
        cli::Command::Bench(args) => bench::run(&args),
        cli::Command::Conformance(args) => conformance::run(&args),
    }
}

/// The log filter when `TOKENEMU_LOG` is not set: warnings, except that
/// `cryptoki` complains (at error level) about every mechanism type it has
/// no Rust name for, which is noise for `tokenemu list`.
pub const DEFAULT_LOG_FILTER: &str = "warn,cryptoki::mechanism=off";

/// Sets up logging to stderr, filtered by `TOKENEMU_LOG`. A filter that does
/// not parse is reported once, here, and then taken out of the environment:
/// the emulator module this process may load falls back to its default
/// quietly instead of saying the same thing again.
pub fn init_logging() {
    use std::io::{IsTerminal, Write};
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var_os(LOG_ENV).filter(|v| !v.is_empty()) {
        None => EnvFilter::new(DEFAULT_LOG_FILTER),
        Some(value) => match value.to_str().map(EnvFilter::try_new) {
            Some(Ok(f)) => f,
            bad => {
                let why = match bad {
                    Some(Err(e)) => e.to_string(),
                    _ => "not valid UTF-8".to_owned(),
                };
                // Not eprintln!: a closed stderr must not panic.
                let _ = writeln!(
                    std::io::stderr(),
                    "tokenemu: {LOG_ENV}={value:?} is not a valid log filter ({why}); using the default filter {DEFAULT_LOG_FILTER:?}"
                );
                std::env::remove_var(LOG_ENV);
                EnvFilter::new(DEFAULT_LOG_FILTER)
            }
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// An error chain as one line (`a: b: c`), newlines folded. A cause whose
/// text an outer message already holds is left out: many error types put
/// their source into their own message and also return it as `source()`,
/// which would print "…(os error 30): …(os error 30)".
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() || parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

/// The exit status when standard output's reader went away; see [`out`].
pub use out::BROKEN_PIPE_EXIT;

/// The exit status after an interrupted `tokenemu run`: 128 + SIGINT, as a
/// shell reports for a program stopped by Ctrl-C.
pub const INTERRUPTED_EXIT: i32 = 130;

/// Reports a command's error on one line of stderr and returns the exit
/// status: 1, [`INTERRUPTED_EXIT`] after Ctrl-C, or quietly
/// [`BROKEN_PIPE_EXIT`] when the error is only that stdout's reader left
/// (a command writing through its own `Write`, like `tokenemu trace`).
pub fn report_error(e: &anyhow::Error) -> i32 {
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return BROKEN_PIPE_EXIT;
    }
    errln!("tokenemu: error: {}", one_line(e));
    if e.downcast_ref::<run_cmd::Interrupted>().is_some() {
        INTERRUPTED_EXIT
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "writing /ro/store/meta: {}", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn one_line_leaves_out_a_cause_its_outer_message_already_holds() {
        let io = std::io::Error::from_raw_os_error(30);
        let e = anyhow::Error::new(Repeats(io)).context("slot 0: opening the token store");
        let line = one_line(&e);
        assert_eq!(line.matches("os error 30").count(), 1, "{line}");
        assert!(line.starts_with("slot 0: opening the token store: writing /ro/store/meta: "));
    }

    #[test]
    fn one_line_keeps_distinct_causes_and_folds_newlines() {
        let e = anyhow::anyhow!("line one\n  line two").context("outer");
        assert_eq!(one_line(&e), "outer: line one line two");
    }
}
