//! JSON and JUnit XML report files for CI systems.

use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunReport, Status};

/// Writes the report as pretty JSON.
pub fn write_json(report: &RunReport, path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n")?;
    Ok(())
}

/// Why an interrupted run's report is incomplete (JUnit error message).
pub const INTERRUPTED_MESSAGE: &str =
    "the run was interrupted (Ctrl-C): the steps and scenarios after that point did not run";

/// The JUnit XML text: one test suite per scenario × profile, one test case
/// per step (skipped steps carry their reason).
pub fn junit_xml(report: &RunReport) -> anyhow::Result<String> {
    let mut r = Report::new("tokenemu scenarios");
    for s in &report.scenarios {
        let mut suite = TestSuite::new(s.name());
        if let Some(e) = &s.setup_error {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_message(e.clone());
            suite.add_test_case(TestCase::new("setup", st));
        }
        for step in &s.steps {
            let status = match step.status {
                Status::Passed => TestCaseStatus::success(),
                Status::Failed => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(step.reason.clone().unwrap_or_default());
                    st
                }
                Status::Skipped => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(step.reason.clone().unwrap_or_default());
                    st
                }
            };
            let mut tc = TestCase::new(
                format!("{:02} {} — {}", step.index, step.id, step.title),
                status,
            );
            tc.set_classname(s.name());
            if let Some(trace) = &step.trace {
                tc.set_system_out(format!(
                    "PKCS#11 calls during this step (module trace, {}):\n{}\n",
                    trace.file,
                    trace.calls.join("\n")
                ));
            }
            tc.set_time(std::time::Duration::from_millis(step.duration_ms));
            suite.add_test_case(tc);
        }
        r.add_test_suite(suite);
    }
    if report.interrupted {
        // A CI system must not read a cut-short run as a complete one.
        let mut suite = TestSuite::new("interrupted");
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_message(INTERRUPTED_MESSAGE);
        suite.add_test_case(TestCase::new("interrupted", st));
        r.add_test_suite(suite);
    }
    Ok(r.to_string()?)
}

/// Writes the JUnit XML file.
pub fn write_junit(report: &RunReport, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, junit_xml(report)?)?;
    Ok(())
}
