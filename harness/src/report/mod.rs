//! Run reports: the data model ([`RunReport`]), the live terminal view
//! ([`live`]), JSON and JUnit XML files ([`files`]), and the record of the
//! files a run wrote into its output directory ([`manifest`]).

pub mod files;
pub mod live;
pub mod manifest;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scenario::model::DocRef;
use crate::scenario::provision::Provisioned;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As expected.
    Passed,
    /// Not as expected.
    Failed,
    /// Not run (expectations file, destructive, needs the emulator, earlier failure).
    Skipped,
}

/// One step's result.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// 1-based position.
    pub index: usize,
    /// Step id.
    pub id: String,
    /// Title in the manual's language.
    pub title: String,
    /// Step kind.
    pub kind: String,
    /// Manual reference.
    pub doc_ref: DocRef,
    /// Outcome.
    pub status: Status,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// Scenario clock when the step ran (UTC, `YYYY-MM-DD HH:MM`).
    pub clock: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// PKCS#11 functions called, in order.
    pub calls: Vec<String>,
    /// What the step produced.
    pub outputs: BTreeMap<String, String>,
    /// The error the step got (`CODE: message`), expected or not.
    pub error: Option<String>,
    /// For a failed step on the emulator: the module's calls during the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<StepTrace>,
}

/// The module's own record of a failed step's PKCS#11 calls (its
/// `TOKENEMU_TRACE` lines written between the step's start and end).
#[derive(Debug, Clone, Serialize)]
pub struct StepTrace {
    /// The JSON-lines file holding them, in the scenario's output directory
    /// (`tokenemu trace FILE` prints it readably).
    pub file: String,
    /// The same calls, one readable line each.
    pub calls: Vec<String>,
}

/// One scenario on one profile (or module).
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Scenario id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Manual file.
    pub manual: String,
    /// Language of titles.
    pub language: String,
    /// Emulator profile, or `None` on another module.
    pub profile: Option<String>,
    /// What the token started with.
    pub provisioning: Vec<Provisioned>,
    /// Set-up failure, if any (then no step ran).
    pub setup_error: Option<String>,
    /// Steps.
    pub steps: Vec<StepReport>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Files written to the output directory.
    pub artifacts: Vec<String>,
}

impl ScenarioReport {
    /// `000@jacarta-gost` or `000@module`.
    pub fn name(&self) -> String {
        format!(
            "{}@{}",
            self.id,
            self.profile.as_deref().unwrap_or("module")
        )
    }

    /// Counts (passed, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let c = |s| self.steps.iter().filter(|r| r.status == s).count();
        (c(Status::Passed), c(Status::Failed), c(Status::Skipped))
    }

    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        self.setup_error.is_some() || self.steps.iter().any(|s| s.status == Status::Failed)
    }

    /// The scenario's directory under the run's output directory:
    /// `000-jacarta-gost`, or `000-module` on another module.
    pub fn dir_name(&self) -> String {
        format!(
            "{}-{}",
            self.id,
            self.profile.as_deref().unwrap_or("module")
        )
    }

    /// Every file this report names in its directory ([`Self::dir_name`]):
    /// the artifacts, the failed steps' call traces and, on the emulator,
    /// the whole scenario's call trace.
    pub fn files(&self) -> Vec<String> {
        let mut files = self.artifacts.clone();
        files.extend(
            self.steps
                .iter()
                .filter_map(|s| s.trace.as_ref().map(|t| t.file.clone())),
        );
        if self.profile.is_some() {
            files.push(crate::scenario::runner::TRACE_FILE.to_owned());
        }
        files
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The module (path, or `tokenemu emulator`).
    pub module: String,
    /// Ctrl-C stopped the run: the steps after that point were skipped and
    /// the scenarios after it are missing.
    pub interrupted: bool,
    /// Scenario results.
    pub scenarios: Vec<ScenarioReport>,
}

impl RunReport {
    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        self.scenarios.iter().any(ScenarioReport::failed)
    }

    /// Totals (passed, failed, skipped).
    pub fn totals(&self) -> (usize, usize, usize) {
        self.scenarios.iter().fold((0, 0, 0), |a, s| {
            let c = s.counts();
            (
                a.0 + c.0,
                a.1 + c.1 + usize::from(s.setup_error.is_some()),
                a.2 + c.2,
            )
        })
    }

    /// A copy without wall times and module paths, for snapshots.
    pub fn redacted(&self) -> RunReport {
        let mut r = self.clone();
        r.module = "[module]".into();
        for s in &mut r.scenarios {
            s.duration_ms = 0;
            for st in &mut s.steps {
                st.duration_ms = 0;
            }
        }
        r
    }
}
