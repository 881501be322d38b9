//! A small tmpfs mounted for one test: a file system that can be filled up
//! (`ENOSPC`) or made read-only (`EROFS`, which stops root too, unlike file
//! modes). Mounting needs root (or CAP_SYS_ADMIN); where it is refused the
//! test is skipped with a loud reason, or fails when
//! `TOKENEMU_REQUIRE_TOOLS=1`. Also used by `emulator/store/tests`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tools_required;

/// A mounted tmpfs; unmounted (lazily, so a leaked file handle cannot keep
/// it) when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    /// Holds the mount point.
    _parent: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_kib` KiB, or skips (None) / fails when that
    /// is not permitted here.
    pub fn mount(size_kib: u64) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().expect("temp dir");
        let path = parent.path().join("tmpfs");
        std::fs::create_dir(&path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_kib}k,mode=0700"))
            .arg("tmpfs")
            .arg(&path)
            .output();
        let refused = match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!(
                "`mount -t tmpfs` failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Some(format!("cannot run `mount`: {e}")),
        };
        if let Some(reason) = refused {
            let msg = format!("{reason} (mounting a tmpfs needs root or CAP_SYS_ADMIN)");
            assert!(!tools_required(), "TOKENEMU_REQUIRE_TOOLS=1 and {msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        Some(Tmpfs {
            _parent: parent,
            path,
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remounts read-only (`EROFS` for every writer, root included).
    pub fn remount_read_only(&self) {
        self.remount("ro");
    }

    /// Remounts read-write.
    pub fn remount_read_write(&self) {
        self.remount("rw");
    }

    fn remount(&self, mode: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -o remount,{mode} {} failed: {}",
            self.path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
