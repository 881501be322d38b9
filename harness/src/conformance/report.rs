//! Conformance results: the data model, the terminal matrix, JSON and
//! JUnit XML, and the side-by-side comparison of two runs.

use std::fmt::Write as _;
use std::path::Path;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// As the spec says.
    Passed,
    /// Not as the spec says, and not expected to fail.
    Failed,
    /// Did not run (mechanism not listed, destructive, no PIN, expectations).
    Skipped,
    /// Failed as the expectations file says.
    ExpectedFailure,
    /// Listed as failing in the expectations file, but passed.
    UnexpectedlyPassing,
}

impl Status {
    /// Short cell text for the matrix.
    pub fn cell(self) -> &'static str {
        match self {
            Status::Passed => "ok",
            Status::Failed => "FAIL",
            Status::Skipped => "skip",
            Status::ExpectedFailure => "xfail",
            Status::UnexpectedlyPassing => "XPASS",
        }
    }

    /// Whether this status makes the run fail.
    pub fn is_bad(self) -> bool {
        matches!(self, Status::Failed | Status::UnexpectedlyPassing)
    }

    /// Pass / fail, for spotting differences between modules (None: did not run).
    fn verdict(self) -> Option<bool> {
        match self {
            Status::Passed | Status::UnexpectedlyPassing => Some(true),
            Status::Failed | Status::ExpectedFailure => Some(false),
            Status::Skipped => None,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    /// Check id.
    pub id: String,
    /// Chapter name.
    pub chapter: String,
    /// Title.
    pub title: String,
    /// Spec section(s).
    pub spec: String,
    /// Outcome.
    pub status: Status,
    /// Why it failed or was skipped, or a note on a pass.
    pub message: Option<String>,
    /// The CK_RV name behind a failure, when there is one.
    pub rv: Option<String>,
    /// The expectations file's reason, when a rule matched.
    pub expectation: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
}

/// The results on one token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetReport {
    /// Column name: the emulator profile, or `module`.
    pub name: String,
    /// The module file.
    pub module: String,
    /// Slot id.
    pub slot: u64,
    /// Token label, model and manufacturer as the token reports them.
    pub token: String,
    /// Why the run could not start, if it could not.
    pub setup_error: Option<String>,
    /// Results in run order.
    pub checks: Vec<CheckReport>,
}

impl TargetReport {
    /// Counts per status: (passed, failed, skipped, expected failures, unexpectedly passing).
    pub fn counts(&self) -> [usize; 5] {
        let c = |s| self.checks.iter().filter(|r| r.status == s).count();
        [
            c(Status::Passed),
            c(Status::Failed),
            c(Status::Skipped),
            c(Status::ExpectedFailure),
            c(Status::UnexpectedlyPassing),
        ]
    }

    /// Whether anything failed (a failure, an unexpected pass, or set-up).
    pub fn failed(&self) -> bool {
        self.setup_error.is_some() || self.checks.iter().any(|c| c.status.is_bad())
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// `tokenemu conformance`.
    pub tool: String,
    /// tokenemu version.
    pub version: String,
    /// Per token.
    pub targets: Vec<TargetReport>,
}

impl Report {
    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        self.targets.iter().any(TargetReport::failed)
    }

    /// Reads a report written by `--json`.
    pub fn load(path: &Path) -> anyhow::Result<Report> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a conformance report: {e}", path.display()))
    }

    /// Writes pretty JSON.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// JUnit XML: one suite per token, one case per check (expected
    /// failures as skipped with the reason, unexpected passes as failures).
    pub fn junit_xml(&self) -> anyhow::Result<String> {
        let mut r = quick_junit::Report::new("tokenemu conformance");
        for t in &self.targets {
            let mut suite = TestSuite::new(format!("conformance@{}", t.name));
            if let Some(e) = &t.setup_error {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                st.set_message(e.clone());
                suite.add_test_case(TestCase::new("setup", st));
            }
            for c in &t.checks {
                let msg = c.message.clone().unwrap_or_default();
                let status = match c.status {
                    Status::Passed => TestCaseStatus::success(),
                    Status::Failed => {
                        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        st.set_message(msg);
                        st
                    }
                    Status::UnexpectedlyPassing => {
                        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        st.set_message(format!(
                            "unexpectedly passing: the expectations file says it fails ({}); update the file",
                            c.expectation.clone().unwrap_or_default()
                        ));
                        st
                    }
                    Status::Skipped => {
                        let mut st = TestCaseStatus::skipped();
                        st.set_message(msg);
                        st
                    }
                    Status::ExpectedFailure => {
                        let mut st = TestCaseStatus::skipped();
                        st.set_message(format!("expected failure: {msg}"));
                        st
                    }
                };
                let mut tc = TestCase::new(format!("{} — {}", c.id, c.title), status);
                tc.set_classname(format!("{}.{}", t.name, c.chapter));
                tc.set_time(std::time::Duration::from_millis(c.duration_ms));
                suite.add_test_case(tc);
            }
            r.add_test_suite(suite);
        }
        Ok(r.to_string()?)
    }

    /// Writes the JUnit XML file.
    pub fn write_junit(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.junit_xml()?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

/// The matrix: one row per check, one column per token; then the totals
/// and every failure with its message. With `other`, that run's columns
/// follow, and rows whose outcome differs between the runs are marked.
pub fn matrix(report: &Report, other: Option<&Report>) -> String {
    let mut cols: Vec<(&str, &TargetReport)> = report.targets.iter().map(|t| ("", t)).collect();
    if let Some(o) = other {
        cols.extend(o.targets.iter().map(|t| ("B:", t)));
    }
    let mut ids: Vec<(&str, &str)> = Vec::new();
    for (_, t) in &cols {
        for c in &t.checks {
            if !ids.iter().any(|(i, _)| *i == c.id) {
                ids.push((&c.id, &c.chapter));
            }
        }
    }
    let id_w = ids.iter().map(|(i, _)| i.len()).max().unwrap_or(5).max(5);
    let names: Vec<String> = cols
        .iter()
        .map(|(p, t)| {
            if other.is_some() && p.is_empty() {
                format!("A:{}", t.name)
            } else {
                format!("{p}{}", t.name)
            }
        })
        .collect();
    let widths: Vec<usize> = names.iter().map(|n| n.len().max(5)).collect();
    let mut out = String::new();
    let _ = write!(out, "{:id_w$}", "check");
    for (n, w) in names.iter().zip(&widths) {
        let _ = write!(out, "  {n:<w$}");
    }
    out.push('\n');
    let mut chapter = "";
    for (id, ch) in &ids {
        if *ch != chapter {
            chapter = ch;
            let _ = writeln!(out, "[{ch}]");
        }
        let _ = write!(out, "{id:id_w$}");
        let mut verdicts = (false, false);
        let (mut a_side, mut b_side) = (Vec::new(), Vec::new());
        for ((p, t), w) in cols.iter().zip(&widths) {
            let cell = match t.checks.iter().find(|c| c.id == *id) {
                Some(c) => {
                    if let Some(v) = c.status.verdict() {
                        if p.is_empty() {
                            a_side.push(v);
                        } else {
                            b_side.push(v);
                        }
                        if v {
                            verdicts.0 = true;
                        } else {
                            verdicts.1 = true;
                        }
                    }
                    c.status.cell()
                }
                None => "-",
            };
            let _ = write!(out, "  {cell:<w$}");
        }
        let differs = if other.is_some() {
            a_side.iter().any(|a| b_side.iter().any(|b| a != b))
        } else {
            verdicts.0 && verdicts.1
        };
        if differs {
            out.push_str("  <- differs");
        }
        out.push('\n');
    }
    out.push('\n');
    for (n, (_, t)) in names.iter().zip(&cols) {
        let [p, f, s, x, u] = t.counts();
        let _ = writeln!(
            out,
            "{n}: {p} passed, {f} failed, {s} skipped, {x} expected failures, {u} unexpectedly passing  ({}; slot {} — {})",
            t.module, t.slot, t.token
        );
        if let Some(e) = &t.setup_error {
            let _ = writeln!(out, "  set-up failed: {e}");
        }
        for c in t.checks.iter().filter(|c| c.status.is_bad()) {
            let what = if c.status == Status::UnexpectedlyPassing {
                format!(
                    "unexpectedly passing (expectations: {})",
                    c.expectation.as_deref().unwrap_or("")
                )
            } else {
                c.message.clone().unwrap_or_default()
            };
            let _ = writeln!(out, "  FAIL {} [{}]: {what}", c.id, c.spec);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, status: Status) -> CheckReport {
        CheckReport {
            id: id.into(),
            chapter: "general".into(),
            title: "t".into(),
            spec: "s".into(),
            status,
            message: Some("m".into()),
            rv: None,
            expectation: None,
            duration_ms: 0,
        }
    }

    fn target(name: &str, checks: Vec<CheckReport>) -> TargetReport {
        TargetReport {
            name: name.into(),
            module: "m.so".into(),
            slot: 0,
            token: "t".into(),
            setup_error: None,
            checks,
        }
    }

    #[test]
    fn matrix_marks_differences_and_lists_failures() {
        let a = Report {
            tool: "x".into(),
            version: "0".into(),
            targets: vec![target(
                "a",
                vec![
                    check("general.one", Status::Passed),
                    check("general.two", Status::Passed),
                ],
            )],
        };
        let b = Report {
            tool: "x".into(),
            version: "0".into(),
            targets: vec![target(
                "b",
                vec![
                    check("general.one", Status::Passed),
                    check("general.two", Status::Failed),
                ],
            )],
        };
        let m = matrix(&a, Some(&b));
        let two = m.lines().find(|l| l.starts_with("general.two")).unwrap();
        assert!(two.contains("differs"), "{m}");
        let one = m.lines().find(|l| l.starts_with("general.one")).unwrap();
        assert!(!one.contains("differs"), "{m}");
        assert!(m.contains("FAIL general.two"), "{m}");
        assert!(b.failed() && !a.failed());
    }

    #[test]
    fn json_round_trips_and_junit_counts_failures() {
        let r = Report {
            tool: "x".into(),
            version: "0".into(),
            targets: vec![target(
                "a",
                vec![
                    check("general.one", Status::UnexpectedlyPassing),
                    check("general.two", Status::ExpectedFailure),
                ],
            )],
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"unexpectedly-passing\""));
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back.targets[0].checks[1].status, Status::ExpectedFailure);
        let xml = r.junit_xml().unwrap();
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("expected failure"), "{xml}");
    }
}
