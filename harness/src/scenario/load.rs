//! Loading and validating scenario files. Every error names the file, the
//! step (number, id and line) and says what is wrong and what was expected.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::model::{Action, Coverage, Header, Scenario, Step, StepDef};
use super::{clock, vars};

/// A scenario file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: String,
    /// `step #3 "ca-login" (line 42)` or `[scenario]`, when known.
    pub place: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Some(p) => write!(f, "{}: {p}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for LoadError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRaw {
    scenario: Header,
    #[serde(default)]
    coverage: Vec<Coverage>,
    #[serde(default)]
    step: Vec<toml::Spanned<toml::Table>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads and validates a scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        file: file.clone(),
        place: None,
        message: format!("cannot read: {e}"),
    })?;
    load_str(&file, &text)
}

/// Validates scenario text; `file` is used in messages.
pub fn load_str(file: &str, text: &str) -> Result<Scenario, LoadError> {
    let fail = |place: Option<String>, message: String| LoadError {
        file: file.to_string(),
        place,
        message,
    };
    let raw: FileRaw = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| format!("line {}", line_of(text, s.start)));
        fail(line, e.message().trim().to_string())
    })?;
    let h = &raw.scenario;
    let start = clock::parse_start(&h.start).map_err(|m| fail(Some("[scenario]".into()), m))?;
    if !matches!(h.language.as_str(), "ru" | "kk") {
        return Err(fail(
            Some("[scenario]".into()),
            format!("language {:?}: expected \"ru\" or \"kk\"", h.language),
        ));
    }
    if h.profiles.is_empty() {
        return Err(fail(
            Some("[scenario]".into()),
            "profiles is empty: expected at least one emulator profile".into(),
        ));
    }
    for p in &h.profiles {
        if tokenemu_core::profile::Profile::builtin(p).is_none() {
            return Err(fail(
                Some("[scenario]".into()),
                format!("unknown profile {p:?}: expected one of jacarta-gost, jacarta-pki, etoken, javatoken"),
            ));
        }
    }
    if raw.step.is_empty() {
        return Err(fail(None, "no [[step]]: expected at least one".into()));
    }
    let mut steps = Vec::new();
    let mut ids = HashSet::new();
    let mut defined: BTreeSet<String> = BTreeSet::new();
    for (i, spanned) in raw.step.iter().enumerate() {
        let line = line_of(text, spanned.span().start);
        let table = spanned.get_ref();
        let id_hint = table
            .get("id")
            .and_then(|v| v.as_str())
            .map(|s| format!(" {s:?}"))
            .unwrap_or_default();
        let place = Some(format!("step #{}{} (line {line})", i + 1, id_hint));
        let def = StepDef::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| fail(place.clone(), e.message().trim().to_string()))?;
        if def.id.is_empty()
            || !def
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(fail(
                place,
                format!("id {:?}: expected letters, digits, '-' or '_'", def.id),
            ));
        }
        if !ids.insert(def.id.clone()) {
            return Err(fail(place, format!("duplicate step id {:?}", def.id)));
        }
        if def.doc_ref.quote.trim().is_empty() {
            return Err(fail(
                place,
                "doc_ref.quote is empty: expected the manual's own words".into(),
            ));
        }
        if !def
            .doc_ref
            .file
            .starts_with(&h.manual[..3.min(h.manual.len())])
            || !def.doc_ref.file.ends_with(".txt")
        {
            return Err(fail(
                place,
                format!(
                    "doc_ref.file {:?}: expected a manual file name such as {:?}",
                    def.doc_ref.file, h.manual
                ),
            ));
        }
        if !Action::KINDS.contains(&def.kind.as_str()) {
            return Err(fail(
                place,
                format!(
                    "unknown step kind {:?}; expected one of: {}",
                    def.kind,
                    Action::KINDS.join(", ")
                ),
            ));
        }
        // Variable references must name a variable an earlier step captures.
        let mut refs = vars::references_in(&toml::Value::Table(def.with.clone()))
            .map_err(|m| fail(place.clone(), m))?;
        for v in def.check.values() {
            refs.extend(vars::references(v).map_err(|m| fail(place.clone(), m))?);
        }
        for r in refs {
            // `prov_<name>_id` come from the provisioning file's key pairs.
            if !defined.contains(&r) && !r.starts_with("prov_") {
                let known = if defined.is_empty() {
                    "none yet".to_string()
                } else {
                    defined.iter().cloned().collect::<Vec<_>>().join(", ")
                };
                return Err(fail(
                    place,
                    format!("reference to ${{{r}}}, which no earlier step captures (captured so far: {known})"),
                ));
            }
        }
        decode_action(&def).map_err(|m| fail(place.clone(), m))?;
        for v in def.check.keys().chain(def.capture.values()) {
            if v.is_empty() {
                return Err(fail(
                    place.clone(),
                    "empty output name in check/capture".into(),
                ));
            }
        }
        defined.extend(def.capture.keys().cloned());
        steps.push(Step { def, line });
    }
    for c in &raw.coverage {
        if c.steps.is_empty() && c.left_out.is_none() {
            return Err(fail(
                Some(format!("coverage of manual step {:?}", c.manual_step)),
                "expected steps = [...] or left_out = \"why\"".into(),
            ));
        }
        for s in &c.steps {
            if !ids.contains(s) {
                return Err(fail(
                    Some(format!("coverage of manual step {:?}", c.manual_step)),
                    format!("names step {s:?}, which the file does not define"),
                ));
            }
        }
    }
    Ok(Scenario {
        file: file.to_string(),
        header: raw.scenario,
        coverage: raw.coverage,
        steps,
        start,
    })
}

/// Decodes a step's action, with variables left as written (for
/// validation) or substituted (at run time).
pub fn decode_action(def: &StepDef) -> Result<Action, String> {
    decode_with(&def.kind, &def.with)
}

/// Decodes `kind` + `with` into an [`Action`].
pub fn decode_with(kind: &str, with: &toml::Table) -> Result<Action, String> {
    let mut t = with.clone();
    if t.contains_key("kind") {
        return Err("`with` may not contain `kind`".into());
    }
    t.insert("kind".into(), toml::Value::String(kind.to_string()));
    Action::deserialize(toml::Value::Table(t))
        .map_err(|e| format!("{kind}: {}", e.message().trim()))
}

/// Loads every `*.toml` directly in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, LoadError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| LoadError {
            file: dir.display().to_string(),
            place: None,
            message: format!("cannot list: {e}"),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files.iter().map(|p| load_file(p)).collect()
}
