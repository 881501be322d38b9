//! Per-module expectations files (like rustls' BoGo config): globs of
//! `scenario-id/step-id` and the reason they are skipped on that module.
//!
//! ```toml
//! module = "SoftHSM2"
//! [[skip]]
//! steps = "*/*gost*"
//! reason = "SoftHSM2 has no GOST R 34.10-2012"
//! ```

use std::path::Path;

use serde::Deserialize;

/// One skip rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skip {
    /// Glob over `scenario/step` (`*` any run of characters, `?` one).
    pub steps: String,
    /// Why.
    pub reason: String,
}

/// An expectations file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The module it describes.
    pub module: String,
    /// Skip rules, first match wins.
    #[serde(default)]
    pub skip: Vec<Skip>,
}

impl Expectations {
    /// Reads a file.
    pub fn load(path: &Path) -> Result<Expectations, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message().trim()))
    }

    /// The reason `scenario/step` is skipped, if a rule matches.
    pub fn skip_reason(&self, scenario: &str, step: &str) -> Option<&str> {
        let key = format!("{scenario}/{step}");
        self.skip
            .iter()
            .find(|s| glob(&s.steps, &key))
            .map(|s| s.reason.as_str())
    }
}

/// `*` and `?` glob match.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("*/*gost*", "000/request-gost"));
        assert!(glob("000/*", "000/x"));
        assert!(!glob("001/*", "000/x"));
        assert!(glob("00?/a", "003/a"));
        assert!(!glob("*gost", "gost-x"));
    }
}
