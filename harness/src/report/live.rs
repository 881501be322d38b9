//! The live terminal view: a progress bar per scenario with the current
//! step's title in the manual's language, then one line per step. Without
//! a terminal (CI logs) plain lines only.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::{ScenarioReport, Status, StepReport};

/// Receives progress from the runner.
pub trait Observer {
    /// A scenario starts with `steps` steps.
    fn scenario_start(&mut self, name: &str, title: &str, steps: usize);
    /// A step starts.
    fn step_start(&mut self, index: usize, title: &str);
    /// A step ended.
    fn step_end(&mut self, step: &StepReport);
    /// The scenario ended.
    fn scenario_end(&mut self, report: &ScenarioReport);
}

/// Observes nothing (tests).
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn scenario_start(&mut self, _: &str, _: &str, _: usize) {}
    fn step_start(&mut self, _: usize, _: &str) {}
    fn step_end(&mut self, _: &StepReport) {}
    fn scenario_end(&mut self, _: &ScenarioReport) {}
}

/// The terminal view on stderr.
#[derive(Debug)]
pub struct Live {
    bar: Option<ProgressBar>,
    tty: bool,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            bar: None,
            tty: std::io::stderr().is_terminal(),
        }
    }
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Passed => "ok  ",
        Status::Failed => "FAIL",
        Status::Skipped => "skip",
    }
}

impl Observer for Live {
    fn scenario_start(&mut self, name: &str, title: &str, steps: usize) {
        errln!("== {name}: {title}");
        if self.tty {
            let bar = ProgressBar::new(steps as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.bar = Some(bar);
        }
    }

    fn step_start(&mut self, index: usize, title: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{index}. {title}"));
        }
    }

    fn step_end(&mut self, step: &StepReport) {
        let mut line = format!("  [{}] {:02} {}", mark(step.status), step.index, step.title);
        if let Some(r) = &step.reason {
            line.push_str(&format!(" — {r}"));
        }
        match &self.bar {
            Some(b) => {
                b.println(line);
                b.inc(1);
            }
            None => errln!("{line}"),
        }
    }

    fn scenario_end(&mut self, report: &ScenarioReport) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if let Some(e) = &report.setup_error {
            errln!("  set-up failed: {e}");
        }
        let (p, f, s) = report.counts();
        errln!(
            "   {}: {p} passed, {f} failed, {s} skipped ({} ms)",
            report.name(),
            report.duration_ms
        );
    }
}
