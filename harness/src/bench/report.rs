//! What `tokenemu bench` prints and writes: the rows (one per workload and
//! thread count), the 2-thread scaling, the targets, and the JSON
//! form of all of it.

use serde::Serialize;

use super::stats::Summary;
use super::target::{Fill, SlotCaps, Target};
use super::workloads::Workload;

/// One module's result for one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// "A" or "B".
    pub module: &'static str,
    /// "ok", "skipped" (the module cannot do it) or "failed" (a call failed).
    pub status: &'static str,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The measurements (status "ok").
    #[serde(flatten)]
    pub summary: Option<Summary>,
    /// Throughput with this many threads over throughput with one thread
    /// (rows with more than one thread).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<f64>,
}

/// One workload at one thread count.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Workload id.
    pub id: String,
    /// Group.
    pub group: super::args::Group,
    /// Description.
    pub title: String,
    /// Threads.
    pub threads: usize,
    /// Data objects on the token, for the token-size workloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<usize>,
    /// One per module, A first.
    pub results: Vec<Outcome>,
    /// Throughput A / B: median of the per-round ratios (both measured).
    pub ratio: Option<f64>,
    /// On-CPU time per operation B / A (both measured): the same
    /// comparison, independent of how much CPU the machine's load left.
    pub cpu_ratio: Option<f64>,
}

impl Row {
    /// A row for `w` with no results yet.
    pub fn new(w: &Workload) -> Row {
        Row {
            id: w.id.clone(),
            group: w.group,
            title: w.title.clone(),
            threads: w.threads,
            objects: w.objects(),
            results: Vec::new(),
            ratio: None,
            cpu_ratio: None,
        }
    }

    fn summary(&self, module: usize) -> Option<&Summary> {
        self.results.get(module).and_then(|o| o.summary.as_ref())
    }
}

/// A module in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleInfo {
    /// "A" or "B".
    pub label: &'static str,
    /// `emulator` or the file name.
    pub name: String,
    /// The .so.
    pub path: String,
    /// C_GetInfo.
    pub library: String,
    /// Slots used.
    pub slots: Vec<SlotCaps>,
    /// The process's first C_Initialize + C_OpenSession + C_Login, µs.
    pub cold_login_us: f64,
    /// Token fills.
    pub fills: Vec<Fill>,
}

impl ModuleInfo {
    /// From a target.
    pub fn of(t: &Target) -> ModuleInfo {
        ModuleInfo {
            label: t.label,
            name: t.name.clone(),
            path: t.module.path().display().to_string(),
            library: t.description.clone(),
            slots: t.slots.clone(),
            cold_login_us: t.cold_login_us,
            fills: t.fills.clone(),
        }
    }
}

/// One of the targets.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// What is compared.
    pub name: String,
    /// The target, e.g. "≥ 2×".
    pub target: String,
    /// The measured value, if both sides were measured.
    pub measured: Option<f64>,
    /// Whether it is met (None: not measured).
    pub met: Option<bool>,
}

/// The whole JSON report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Rounds per workload.
    pub rounds: usize,
    /// Seconds per round per module.
    pub secs: f64,
    /// The modules, A first.
    pub modules: Vec<ModuleInfo>,
    /// The rows in run order.
    pub workloads: Vec<Row>,
    /// The targets (A against B).
    pub targets: Vec<TargetCheck>,
}

/// Fills in each multi-thread row's scaling from the 1-thread row.
pub fn add_scaling(rows: &mut [Row]) {
    let singles: Vec<(String, Vec<Option<f64>>)> = rows
        .iter()
        .filter(|r| r.threads == 1)
        .map(|r| {
            (
                r.id.clone(),
                r.results
                    .iter()
                    .map(|o| o.summary.as_ref().map(|s| s.rate))
                    .collect(),
            )
        })
        .collect();
    for r in rows.iter_mut().filter(|r| r.threads > 1) {
        let Some((_, one)) = singles.iter().find(|(id, _)| *id == r.id) else {
            continue;
        };
        for (i, o) in r.results.iter_mut().enumerate() {
            if let (Some(s), Some(Some(base))) = (&o.summary, one.get(i)) {
                if *base > 0.0 {
                    o.scaling = Some(s.rate / base);
                }
            }
        }
    }
}

fn find<'a>(rows: &'a [Row], id: &str, threads: usize) -> Option<&'a Row> {
    rows.iter().find(|r| r.id == id && r.threads == threads)
}

fn at_least(name: String, measured: Option<f64>, min: f64) -> TargetCheck {
    TargetCheck {
        name,
        target: format!("≥ {min}×"),
        met: measured.map(|m| m >= min),
        measured,
    }
}

/// The targets, A (the emulator) against B (SoftHSM2).
pub fn targets(rows: &[Row]) -> Vec<TargetCheck> {
    let ratio = |id: &str| find(rows, id, 1).and_then(|r| r.ratio);
    let mut out = vec![
        at_least(
            "RSA-2048 sign (CKM_SHA256_RSA_PKCS) A/B".into(),
            ratio("rsa2048-sign-sha256-1k"),
            2.0,
        ),
        at_least("ECDSA P-256 sign A/B".into(), ratio("ecdsa-p256-sign"), 3.0),
    ];
    let finds: Vec<&Row> = rows
        .iter()
        .filter(|r| r.id.starts_with("find-one-") && r.threads == 1)
        .collect();
    if let Some(first) = finds.first() {
        out.push(at_least(
            format!(
                "FindObjects (1 of {}) A/B",
                first.objects.unwrap_or_default()
            ),
            first.ratio,
            100.0,
        ));
    }
    if let (Some(small), Some(big)) = (finds.first(), finds.last()) {
        if finds.len() > 1 {
            let growth = match (small.summary(0), big.summary(0)) {
                (Some(s), Some(b)) if s.p50_us > 0.0 => Some(b.p50_us / s.p50_us),
                _ => None,
            };
            out.push(TargetCheck {
                name: format!(
                    "FindObjects nearly flat: A's p50 latency at {} / at {} objects",
                    big.objects.unwrap_or_default(),
                    small.objects.unwrap_or_default()
                ),
                target: "≤ 2×".into(),
                met: growth.map(|g| g <= 2.0),
                measured: growth,
            });
        }
    }
    if let Some(login) = rows.iter().find(|r| r.id.starts_with("login-")) {
        out.push(at_least(
            format!(
                "C_Initialize+C_OpenSession+C_Login ({} objects, steady state) A/B",
                login.objects.unwrap_or_default()
            ),
            login.ratio,
            10.0,
        ));
    }
    for r in rows.iter().filter(|r| r.threads == 2) {
        out.push(at_least(
            format!("{}: A's 2-thread / 1-thread throughput", r.id),
            r.results.first().and_then(|o| o.scaling),
            1.8,
        ));
    }
    out
}

/// A rate with thousands separators (one decimal below 100).
pub fn rate(v: f64) -> String {
    if v < 100.0 {
        return format!("{v:.1}");
    }
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in microseconds, in a readable unit.
pub fn latency(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// A ratio, e.g. "2.31×".
pub fn times(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}×"),
        Some(v) => format!("{v:.2}×"),
    }
}

const TITLE_W: usize = 56;
const CELL_W: usize = 30;

/// The header lines of the table.
pub fn header(targets: &[Target]) -> String {
    let mut s = String::new();
    for t in targets {
        let slots: Vec<String> = t
            .slots
            .iter()
            .map(|c| format!("slot {} \"{}\"", c.id, c.token_label))
            .collect();
        s.push_str(&format!(
            "{} = {}: {} ({}); {}; first C_Initialize+C_OpenSession+C_Login {}\n",
            t.label,
            t.name,
            t.module.path().display(),
            t.description,
            slots.join(", "),
            latency(t.cold_login_us)
        ));
    }
    s.push('\n');
    s.push_str(&format!("{:<TITLE_W$} {:>3}", "workload", "thr"));
    for t in targets {
        s.push_str(&format!(
            " | {:<CELL_W$}",
            format!("{}: rate/s  p50  p99", t.label)
        ));
    }
    if targets.len() == 2 {
        s.push_str(" |     A/B");
    }
    s.push('\n');
    s
}

/// One row of the table; skip and failure reasons go to `notes`.
pub fn line(row: &Row, notes: &mut Vec<String>) -> String {
    let mut s = format!("{:<TITLE_W$} {:>3}", row.title, row.threads);
    for o in &row.results {
        let cell = match (&o.summary, o.status) {
            (Some(m), _) => format!(
                "{:>9} {:>9} {:>9}",
                rate(m.rate),
                latency(m.p50_us),
                latency(m.p99_us)
            ),
            (None, status) => {
                let note = format!(
                    "{} {} on {}: {}",
                    row.id,
                    status,
                    o.module,
                    o.reason.as_deref().unwrap_or("")
                );
                // The thread-count variants of a workload share one note.
                let k = match notes.iter().position(|n| *n == note) {
                    Some(k) => k + 1,
                    None => {
                        notes.push(note);
                        notes.len()
                    }
                };
                format!("{status} [{k}]")
            }
        };
        s.push_str(&format!(" | {cell:<CELL_W$}"));
    }
    if row.results.len() == 2 {
        s.push_str(&format!(" | {:>7}", times(row.ratio)));
    }
    s
}

/// On-CPU time per operation, per row and module, with the ratio B/A.
pub fn cpu_lines(rows: &[Row]) -> String {
    let mut s = String::from(
        "on-CPU time per operation (does not count time spent waiting for a CPU), CPUs used:\n",
    );
    for r in rows {
        let parts: Vec<String> = r
            .results
            .iter()
            .filter_map(|o| {
                let m = o.summary.as_ref()?;
                Some(format!(
                    "{} {} ({:.2} CPUs)",
                    o.module,
                    latency(m.cpu_us_per_op?),
                    m.cpus_used.unwrap_or_default()
                ))
            })
            .collect();
        if parts.is_empty() {
            continue;
        }
        let ratio = if r.results.len() == 2 {
            format!("  B/A {}", times(r.cpu_ratio))
        } else {
            String::new()
        };
        s.push_str(&format!(
            "  {:<TITLE_W$} {:>3}  {}{ratio}\n",
            r.title,
            r.threads,
            parts.join(", ")
        ));
    }
    s
}

/// The scaling and first-iteration notes under the table.
pub fn extras(rows: &[Row]) -> String {
    let mut s = String::new();
    for r in rows.iter().filter(|r| r.threads > 1) {
        let single = find(rows, &r.id, 1);
        let parts: Vec<String> = r
            .results
            .iter()
            .enumerate()
            .map(|(i, o)| {
                // Scaling needs the CPUs to run on: show what each got.
                let cpus = |m: Option<&Summary>| {
                    m.and_then(|m| m.cpus_used)
                        .map_or_else(|| "?".into(), |c| format!("{c:.2}"))
                };
                format!(
                    "{} {} (CPUs used: {} with 1 thread, {} with {})",
                    o.module,
                    times(o.scaling),
                    cpus(single.and_then(|s| s.summary(i))),
                    cpus(o.summary.as_ref()),
                    r.threads
                )
            })
            .collect();
        s.push_str(&format!(
            "{} threads / 1 thread, {}: {}\n",
            r.threads,
            r.id,
            parts.join(", ")
        ));
    }
    for r in rows {
        for o in &r.results {
            if let Some(f) = o.summary.as_ref().and_then(|m| m.first_us) {
                s.push_str(&format!(
                    "{} on {}: first iteration {} (not in the figures above)\n",
                    r.id,
                    o.module,
                    latency(f)
                ));
            }
        }
    }
    s
}

/// The targets as lines.
pub fn target_lines(checks: &[TargetCheck]) -> String {
    let mut s = String::from("targets (A against B):\n");
    for c in checks {
        let state = match c.met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "not measured",
        };
        s.push_str(&format!(
            "  {:<72} {:>8}  target {:<6} {state}\n",
            c.name,
            times(c.measured),
            c.target
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(rate(1540.4), "1,540");
        assert_eq!(rate(1_234_567.0), "1,234,567");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(latency(3.256), "3.26 µs");
        assert_eq!(latency(19_000.0), "19.0 ms");
        assert_eq!(times(Some(2.345)), "2.35×");
        assert_eq!(times(Some(250.2)), "250×");
        assert_eq!(times(None), "–");
    }
}
