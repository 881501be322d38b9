//! Ctrl-C (SIGINT) during `tokenemu run`: the first one asks the run to
//! stop after the step in progress — the scenario runner skips the steps
//! left and `run` skips the scenarios left, so every temporary token store
//! is dropped (removed) on the way out and the reports are written, marked
//! interrupted. A second Ctrl-C stops the process at once.
//!
//! The handler (the `ctrlc` crate) runs on its own thread and only sets a
//! flag; the run polls it between steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use anyhow::{anyhow, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// What the handler says when it sees the first Ctrl-C (tests wait for it).
pub const NOTICE: &str = "tokenemu: interrupted: finishing the current step, then removing the \
     temporary tokens and writing the reports (Ctrl-C again stops at once)";

/// Installs the SIGINT handler (once per process; later calls reuse it).
pub fn install() -> Result<()> {
    static INSTALLED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                if REQUESTED.swap(true, Ordering::SeqCst) {
                    errln!(
                        "tokenemu: interrupted again: stopping now; temporary token stores \
                         may be left under {}",
                        std::env::temp_dir().display()
                    );
                    std::process::exit(crate::INTERRUPTED_EXIT);
                }
                errln!("{NOTICE}");
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow!("installing the Ctrl-C handler: {e}"))
}

/// Whether Ctrl-C was pressed: the run stops at the next step boundary.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
