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

pub mod admin;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod conformance;
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

/// Sets up logging to stderr, filtered by `TOKENEMU_LOG`.
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// An error chain as one line (`a: b: c`), newlines folded.
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
