//! The files `tokenemu run` wrote into its output directory (`--out`),
//! recorded in `<out>/.tokenemu-run-files.json`, so the next run in the same
//! directory can remove what the earlier one left and its own report does
//! not name (a scenario no longer run, a step trace of a step that passes
//! now) — and nothing else: a file is only ever removed when an earlier run's
//! manifest lists it, it is a plain file (not a directory, not a symlink),
//! and the new run's report does not name it. Files the tool never wrote
//! (including everything from runs before manifests existed) stay.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The manifest's file name inside the output directory.
pub const MANIFEST_FILE: &str = ".tokenemu-run-files.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    /// Who wrote it (so a reader knows what the file is).
    written_by: String,
    /// Paths relative to the output directory, `/`-separated.
    files: BTreeSet<String>,
}

/// `path` relative to `out`, if it lies inside it (lexically).
pub fn relative_to(out: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(out).ok()?;
    safe_relative(rel).then(|| rel.to_string_lossy().into_owned())
}

/// A plain relative path: no root, no `..`, not empty (a hand-edited or
/// corrupt manifest must not reach outside the output directory).
fn safe_relative(rel: &Path) -> bool {
    rel.components().next().is_some() && rel.components().all(|c| matches!(c, Component::Normal(_)))
}

fn load(out: &Path) -> Manifest {
    let path = out.join(MANIFEST_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "{}: not a manifest ({e}); files of earlier runs are kept",
                path.display()
            );
            Manifest::default()
        }),
        Err(_) => Manifest::default(),
    }
}

/// What [`update`] did.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Files of an earlier run removed (relative to the output directory).
    pub removed: Vec<String>,
}

/// Records `named` (paths relative to `out`; those that do not exist are
/// left out) as this run's files and removes the files an earlier run's
/// manifest lists that `named` does not, then the directories that leaves
/// empty.
pub fn update(out: &Path, named: &[String]) -> Result<Cleaned> {
    let old = load(out);
    let new: BTreeSet<String> = named
        .iter()
        .filter(|f| safe_relative(Path::new(f)))
        .filter(|f| std::fs::symlink_metadata(out.join(f)).is_ok_and(|m| m.file_type().is_file()))
        .cloned()
        .collect();
    let mut cleaned = Cleaned::default();
    let mut parents: BTreeSet<PathBuf> = BTreeSet::new();
    for stale in old.files.difference(&new) {
        let rel = Path::new(stale);
        if !safe_relative(rel) {
            continue;
        }
        let path = out.join(rel);
        let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        if !is_file {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                cleaned.removed.push(stale.clone());
                let mut dir = rel.parent();
                while let Some(d) = dir.filter(|d| d.components().next().is_some()) {
                    parents.insert(d.to_path_buf());
                    dir = d.parent();
                }
            }
            Err(e) => tracing::warn!("removing {} of an earlier run: {e}", path.display()),
        }
    }
    // Deepest first; `remove_dir` leaves a directory that still holds anything.
    for dir in parents.iter().rev() {
        let _ = std::fs::remove_dir(out.join(dir));
    }
    let manifest = Manifest {
        written_by: "tokenemu run".into(),
        files: new,
    };
    let path = out.join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(&manifest)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn removes_only_what_an_earlier_manifest_lists_and_the_new_run_does_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for f in [
            "a-etoken/x.pem",
            "a-etoken/step.jsonl",
            "b-etoken/y.pem",
            "report.json",
        ] {
            write(&out.join(f));
        }
        let first: Vec<String> = [
            "a-etoken/x.pem",
            "a-etoken/step.jsonl",
            "b-etoken/y.pem",
            "report.json",
        ]
        .map(String::from)
        .to_vec();
        assert!(update(out, &first).unwrap().removed.is_empty());
        // The user's own files, before and after the first run.
        write(&out.join("notes.txt"));
        write(&out.join("b-etoken/mine.txt"));
        let second: Vec<String> = ["a-etoken/x.pem", "report.json"].map(String::from).to_vec();
        let mut removed = update(out, &second).unwrap().removed;
        removed.sort();
        assert_eq!(removed, ["a-etoken/step.jsonl", "b-etoken/y.pem"]);
        assert!(out.join("a-etoken/x.pem").exists());
        assert!(out.join("notes.txt").exists());
        assert!(
            out.join("b-etoken/mine.txt").exists(),
            "a directory holding a user's file stays"
        );
        // A third run naming nothing of b-etoken does not touch the user's file.
        write(&out.join("c-etoken/z.pem"));
        let third: Vec<String> = ["c-etoken/z.pem"].map(String::from).to_vec();
        update(out, &third).unwrap();
        assert!(
            !out.join("a-etoken").exists(),
            "an emptied scenario directory goes"
        );
        assert!(!out.join("report.json").exists());
        assert!(out.join("b-etoken/mine.txt").exists());
        assert!(out.join("notes.txt").exists());
    }

    #[test]
    fn a_manifest_cannot_reach_outside_the_output_directory() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("precious.txt");
        write(&outside);
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let planted = format!(
            "{{\"written_by\":\"x\",\"files\":[\"../precious.txt\",\"{}\"]}}",
            outside.display()
        );
        std::fs::write(out.join(MANIFEST_FILE), planted).unwrap();
        assert!(update(&out, &[]).unwrap().removed.is_empty());
        assert!(outside.exists());
    }
}
