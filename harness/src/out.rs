//! Standard output for every command: [`outln!`](crate::outln) and
//! [`out!`](crate::out) instead of `println!` and `print!`, which panic
//! when the reader has gone away (`tokenemu list | head -1`).
//!
//! Rust ignores SIGPIPE, so a closed pipe shows up as a `BrokenPipe` write
//! error. We do not restore the default SIGPIPE action instead: PKCS#11
//! modules loaded into this process (network HSM clients, p11-kit's proxy)
//! may write to sockets and count on the host ignoring SIGPIPE.

use std::io::Write;

/// The exit status when standard output's reader has gone away: 128 +
/// SIGPIPE, what a shell reports for a writer killed by SIGPIPE, so
/// `set -o pipefail` sees it as it would for any other tool and a failing
/// `tokenemu run` never turns into a success.
pub const BROKEN_PIPE_EXIT: i32 = 141;

/// Writes to standard output. When the reader has gone away the
/// process ends quietly with [`BROKEN_PIPE_EXIT`] (nobody reads the rest);
/// any other write error (a full disk behind a redirection) ends it with
/// one error line and status 1.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    let written = std::io::stdout().lock().write_fmt(args);
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        let _ = writeln!(
            std::io::stderr(),
            "tokenemu: error: writing to standard output: {e}"
        );
        std::process::exit(1);
    }
}

/// Writes to standard error, ignoring write errors: diagnostics
/// are best effort, and a closed stderr (`tokenemu run 2>&1 | head`) must
/// not stop a run before it has cleaned up and written its reports.
pub fn write_err(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `print!` for the `tokenemu` commands: see [`write_out`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write_out(format_args!($($arg)*))
    };
}

/// `println!` for the `tokenemu` commands: see [`write_out`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics: see [`write_err`].
#[macro_export]
macro_rules! errln {
    () => {
        $crate::out::write_err(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}
