//! Small filesystem helpers: durable atomic writes, directory fsync, and the
//! bounded-wait `flock` guard.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;

use crate::StoreError;

/// Permission bits for files the store creates (the process umask applies on top).
pub(crate) const FILE_MODE: u32 = 0o600;
/// Permission bits for directories the store creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Builds a closure mapping an `io::Error` to `StoreError::Io` naming `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Reads a whole file; `Ok(None)` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Removes a file; a missing file is not an error.
pub(crate) fn remove_optional(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Whether `path` exists (without following a final symlink).
pub(crate) fn exists(path: &Path) -> Result<bool, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Writes `bytes` to `tmp`, flushes it to stable storage and renames it over
/// `dest`. The caller fsyncs the containing directory (once per batch).
pub(crate) fn write_durable(tmp: &Path, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_synced(tmp, bytes)?;
    fs::rename(tmp, dest).map_err(io_err(dest))
}

/// Writes `bytes` to `path` (created or truncated) and flushes it to stable
/// storage: every block the file needs is allocated when this returns, so a
/// full disk fails here, before anything is renamed into place.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_data().map_err(io_err(path))
}

/// Whether this process may create files in the existing directory `dir`:
/// `false` on a read-only file system (also for root) or without write
/// permission (effective ids, as `open` checks them).
pub(crate) fn dir_writable(dir: &Path) -> Result<bool, StoreError> {
    use rustix::fs::{accessat, Access, AtFlags, CWD};
    use rustix::io::Errno;
    match accessat(CWD, dir, Access::WRITE_OK, AtFlags::EACCESS) {
        Ok(()) => Ok(true),
        Err(Errno::ROFS | Errno::ACCESS | Errno::PERM) => Ok(false),
        Err(e) => Err(io_err(dir)(io::Error::from(e))),
    }
}

/// Flushes a directory's entries (renames, creations, unlinks) to stable storage.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Creates a directory (and missing parents) with [`DIR_MODE`].
pub(crate) fn create_dir_all(dir: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err(dir))
}

/// Opens (creating if needed) the lock file.
pub(crate) fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_err(path))
}

/// Holds an `flock` on the store's lock file; released on drop.
#[derive(Debug)]
pub(crate) struct FlockGuard<'a> {
    file: &'a File,
}

impl Drop for FlockGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = FileExt::unlock(self.file) {
            tracing::warn!(error = %e, "failed to release store lock");
        }
    }
}

/// Takes a shared or exclusive `flock`, polling until `deadline`; then
/// [`StoreError::Locked`].
pub(crate) fn flock<'a>(
    file: &'a File,
    path: &Path,
    exclusive: bool,
    deadline: Instant,
) -> Result<FlockGuard<'a>, StoreError> {
    let mut backoff = Duration::from_micros(100);
    let mut rng = Jitter::new();
    loop {
        let got = if exclusive {
            FileExt::try_lock_exclusive(file)
        } else {
            FileExt::try_lock_shared(file)
        };
        match got {
            Ok(true) => return Ok(FlockGuard { file }),
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path)(e)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(StoreError::Locked {
                path: PathBuf::from(path),
            });
        }
        // Randomised exponential backoff (100 µs .. 5 ms) so that competing
        // processes do not poll in lock-step.
        let sleep = rng.below(backoff).min(deadline - now);
        thread::sleep(sleep);
        backoff = (backoff * 2).min(Duration::from_millis(5));
    }
}

/// Tiny xorshift generator for backoff jitter (not security relevant).
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ (u64::from(std::process::id()) << 32);
        Jitter(seed | 1)
    }
    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let max_us = max.as_micros().max(2) as u64;
        Duration::from_micros(max_us / 2 + self.0 % (max_us / 2 + 1))
    }
}
