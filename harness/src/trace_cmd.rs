//! `tokenemu trace FILE`: prints a `TOKENEMU_TRACE` call trace (JSON lines,
//! written by `tokenemu_core::hooks::Trace`) one readable line per call:
//!
//! ```text
//! +0.000412s  4711/ThreadId(2)  slot 1  sess 3  C_Login(user=1, pin=<10 bytes>)  CKR_PIN_INCORRECT  38.2 ms
//! ```
//!
//! Filters (`--failed`, `--function`, `--session`) pick lines; `--json`
//! prints the picked lines unchanged; `--follow` keeps reading as the file
//! grows, like `tail -f`.

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

/// How often `--follow` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// `tokenemu trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The trace file (what TOKENEMU_TRACE named).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Only calls that did not return CKR_OK.
    #[arg(long)]
    pub failed: bool,
    /// Only calls of this function (C_Sign); may be given more than once.
    #[arg(long, value_name = "NAME")]
    pub function: Vec<String>,
    /// Only calls on this session handle.
    #[arg(long, value_name = "H")]
    pub session: Option<u64>,
    /// Keep reading as the file grows (like tail -f); stop with Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Print the selected records as they are (JSON lines) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Which records to print.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only non-OK calls.
    pub failed: bool,
    /// Only these functions (empty: all).
    pub functions: Vec<String>,
    /// Only this session.
    pub session: Option<u64>,
}

impl Filter {
    /// Whether a record passes.
    pub fn accepts(&self, rec: &Value) -> bool {
        if self.failed && rec["rv"].as_str() == Some("CKR_OK") {
            return false;
        }
        if !self.functions.is_empty() {
            let f = rec["function"].as_str().unwrap_or("");
            if !self.functions.iter().any(|want| want == f) {
                return false;
            }
        }
        if let Some(s) = self.session {
            if rec["args"]["session"].as_u64() != Some(s) {
                return false;
            }
        }
        true
    }
}

/// Runs `tokenemu trace`.
pub fn run(args: &TraceArgs) -> Result<()> {
    let filter = Filter {
        failed: args.failed,
        functions: args.function.clone(),
        session: args.session,
    };
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening trace file {}", args.file.display()))?;
    let mut reader = BufReader::new(file);
    let mut printer = Printer {
        filter,
        json: args.json,
        first_ts: None,
        line_no: 0,
        out: std::io::stdout().lock(),
    };
    let mut pending = String::new();
    loop {
        let mut chunk = String::new();
        let n = reader
            .read_line(&mut chunk)
            .with_context(|| format!("reading {}", args.file.display()))?;
        if n > 0 {
            pending.push_str(&chunk);
            // A line without its newline is still being written: wait for the rest.
            if pending.ends_with('\n') {
                printer.line(pending.trim_end())?;
                pending.clear();
            }
            continue;
        }
        if !args.follow {
            if !pending.is_empty() {
                printer.line(pending.trim_end())?;
            }
            return Ok(());
        }
        printer.out.flush()?;
        std::thread::sleep(FOLLOW_POLL);
        // A file truncated under us (a new run) starts over.
        let pos = reader.stream_position()?;
        let len = reader.get_ref().metadata()?.len();
        if len < pos {
            reader.seek(SeekFrom::Start(0))?;
            pending.clear();
            printer.first_ts = None;
        }
    }
}

struct Printer<W: Write> {
    filter: Filter,
    json: bool,
    first_ts: Option<u64>,
    line_no: usize,
    out: W,
}

impl<W: Write> Printer<W> {
    fn line(&mut self, line: &str) -> Result<()> {
        self.line_no += 1;
        if line.trim().is_empty() {
            return Ok(());
        }
        let rec: Value = match serde_json::from_str(line) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                eprintln!(
                    "line {}: not a trace record, skipped: {}",
                    self.line_no,
                    shorten(line, 80)
                );
                return Ok(());
            }
        };
        let ts = rec["ts_us"].as_u64().unwrap_or(0);
        let base = *self.first_ts.get_or_insert(ts);
        if !self.filter.accepts(&rec) {
            return Ok(());
        }
        if self.json {
            writeln!(self.out, "{line}")?;
        } else {
            writeln!(self.out, "{}", format_record(&rec, base))?;
        }
        Ok(())
    }
}

/// One record as a readable line; `base_us` is the time of the trace's first record.
pub fn format_record(rec: &Value, base_us: u64) -> String {
    let ts = rec["ts_us"].as_u64().unwrap_or(0);
    let offset = ts.saturating_sub(base_us);
    let pid = rec["pid"].as_u64().unwrap_or(0);
    let thread = rec["thread"].as_str().unwrap_or("?");
    let function = rec["function"].as_str().unwrap_or("?");
    let rv = rec["rv"].as_str().unwrap_or("?");
    let args = &rec["args"];
    let mut place = String::new();
    if let Some(s) = args["slot"].as_u64() {
        place += &format!("slot {s}");
    }
    if let Some(s) = args["session"].as_u64() {
        if !place.is_empty() {
            place.push_str("  ");
        }
        place += &format!("sess {s}");
    }
    let rest: Vec<String> = match args {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| *k != "slot" && *k != "session")
            .map(|(k, v)| format!("{k}={}", compact(v)))
            .collect(),
        _ => vec![],
    };
    format!(
        "+{}.{:06}s  {pid}/{thread}  {place:<16}  {function}({})  {rv}  {}",
        offset / 1_000_000,
        offset % 1_000_000,
        rest.join(", "),
        duration(rec["us"].as_u64().unwrap_or(0))
    )
}

/// A call's duration, in the unit that reads best.
fn duration(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

/// An argument value, short: PINs as their length, templates as
/// `[CKA_CLASS=…, CKA_LABEL="x"]`.
fn compact(v: &Value) -> String {
    match v {
        Value::Object(m) if m.contains_key("redacted_len") => {
            format!("<{} bytes>", m["redacted_len"])
        }
        Value::Object(m) if m.contains_key("type") => {
            let ty = m["type"].as_str().unwrap_or("?");
            match (m.get("value").and_then(Value::as_str), m.get("len")) {
                (Some(hex), _) => format!("{ty}={}", attr_value(ty, hex)),
                (None, Some(len)) => format!("{ty}=<{len} bytes>"),
                _ => ty.to_owned(),
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(compact).collect::<Vec<_>>().join(", ")
        ),
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// An attribute value from the trace's hex: text attributes as text, flags
/// as true/false, numbers in decimal, anything else as hex.
fn attr_value(ty: &str, hex_value: &str) -> String {
    let Ok(bytes) = hex::decode(hex_value) else {
        return hex_value.to_owned();
    };
    let printable = !bytes.is_empty() && bytes.iter().all(|b| (0x20..0x7f).contains(b));
    if matches!(ty, "CKA_LABEL" | "CKA_APPLICATION") && printable {
        return format!("{:?}", String::from_utf8_lossy(&bytes));
    }
    match bytes.len() {
        1 if bytes[0] <= 1 => (bytes[0] == 1).to_string(),
        8 if !matches!(ty, "CKA_ID") => {
            u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])).to_string()
        }
        _ => hex_value.to_owned(),
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// The records of a trace file that pass `filter`, parsed (unreadable lines
/// are skipped). Used by the scenario runner to attach a step's calls.
pub fn read_records(path: &std::path::Path, filter: &Filter) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading trace file {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r.is_object() && filter.accepts(r))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(function: &str, rv: &str, args: Value) -> Value {
        json!({"ts_us": 1_000_500_u64, "pid": 42, "thread": "ThreadId(3)",
               "function": function, "args": args, "rv": rv, "us": 1500})
    }

    #[test]
    fn a_record_reads_as_one_line() {
        let r = rec(
            "C_Login",
            "CKR_PIN_INCORRECT",
            json!({"session": 7, "user": 1, "pin": {"redacted_len": 10}}),
        );
        assert_eq!(
            format_record(&r, 1_000_000),
            "+0.000500s  42/ThreadId(3)  sess 7            C_Login(pin=<10 bytes>, user=1)  CKR_PIN_INCORRECT  1.5 ms"
        );
        let r = rec(
            "C_CreateObject",
            "CKR_OK",
            json!({"session": 2, "template": [
                {"type": "CKA_CLASS", "value": "0000000000000000"},
                {"type": "CKA_TOKEN", "value": "01"},
                {"type": "CKA_LABEL", "value": hex::encode("my key")},
                {"type": "CKA_VALUE", "len": 32}]}),
        );
        let line = format_record(&r, 0);
        assert!(
            line.contains(
                r#"C_CreateObject(template=[CKA_CLASS=0, CKA_TOKEN=true, CKA_LABEL="my key", CKA_VALUE=<32 bytes>])"#
            ),
            "{line}"
        );
        assert!(line.starts_with("+1.000500s"), "{line}");
    }

    #[test]
    fn filters_pick_records() {
        let ok = rec("C_Sign", "CKR_OK", json!({"session": 1}));
        let bad = rec("C_Login", "CKR_PIN_INCORRECT", json!({"session": 2}));
        let f = Filter {
            failed: true,
            ..Filter::default()
        };
        assert!(!f.accepts(&ok) && f.accepts(&bad));
        let f = Filter {
            functions: vec!["C_Sign".into()],
            ..Filter::default()
        };
        assert!(f.accepts(&ok) && !f.accepts(&bad));
        let f = Filter {
            session: Some(2),
            ..Filter::default()
        };
        assert!(!f.accepts(&ok) && f.accepts(&bad));
    }
}
