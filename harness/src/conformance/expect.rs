//! Per-module expectations for the conformance suite: which checks a module
//! is known to fail (with the reason and the CK_RV it returns instead), or
//! must not run at all.
//!
//! ```toml
//! module = "SoftHSM2"
//! [[expect]]
//! checks = "token-policy.wrong-pin-count-low"   # glob over check ids
//! status = "fail"                               # or "skip"
//! rv = "CKR_OK"                                 # optional: the CK_RV it fails with
//! reason = "SoftHSM2 keeps no retry counter"
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::scenario::expect::glob;

/// What the module is expected to do with the matching checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    /// The check runs and is expected to fail.
    Fail,
    /// The check does not run on this module.
    Skip,
}

/// One rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Glob over check ids (`*` any run of characters, `?` one).
    pub checks: String,
    /// Expected failure or skip.
    pub status: Expected,
    /// The CK_RV name the failure comes with (a failure with another one is
    /// a real failure).
    #[serde(default)]
    pub rv: Option<String>,
    /// Why.
    pub reason: String,
}

/// An expectations file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The module it describes.
    pub module: String,
    /// Rules, first match wins.
    #[serde(default)]
    pub expect: Vec<Rule>,
}

impl Expectations {
    /// Reads and checks a file: every `rv` must be a CK_RV name.
    pub fn load(path: &Path) -> anyhow::Result<Expectations> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let e: Expectations = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message().trim()))?;
        for r in &e.expect {
            if let Some(rv) = &r.rv {
                if !rv.starts_with("CKR_") || tokenemu_core::names::value_of(rv).is_none() {
                    anyhow::bail!(
                        "{}: rule {:?}: {rv:?} is not a CK_RV name",
                        path.display(),
                        r.checks
                    );
                }
            }
        }
        Ok(e)
    }

    /// The first rule matching `id`.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.expect.iter().find(|r| glob(&r.checks, id))
    }
}
