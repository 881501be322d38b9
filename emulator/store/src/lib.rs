//! Crash-safe, multi-process file store for ONE emulated token.
//!
//! The store knows nothing about PKCS#11: it keeps one optional *meta* blob
//! (token-level data) and any number of *objects*, opaque byte blobs keyed by
//! a random 64-bit [`Uid`]. All changes go through [`Store::commit`], which
//! applies a batch of [`Change`]s atomically and durably and bumps a
//! [generation](Store::generation) counter that every process can poll
//! cheaply to notice changes made by others.
//!
//! # On-disk layout (format version 1)
//!
//! ```text
//! <token dir>/
//!   tokenemu-store      marker: "tokenemu-store\nformat 1\n" — written first, on first use
//!   tokenemu.lock       empty; flock()ed shared by readers, exclusive by writers
//!   generation          16 bytes: "TEGN" | generation u64 | crc32
//!   meta.bin            the meta blob, absent when there is none
//!   objects/<bb>.pack   the objects whose uid's low byte is 0x<bb> (256 buckets,
//!                       a pack exists only while its bucket is non-empty)
//!   journal             redo journal of the commit in progress (absent when idle)
//!   history             advisory change log used to refresh caches incrementally
//!   unplugged           present ⇔ the token is "unplugged" (hot-plug emulation)
//!   *.tmp               temporaries of an interrupted write (removed on recovery)
//! ```
//!
//! Objects are grouped into 256 pack files rather than one file per object:
//! loading 10,000 objects then reads at most 256 files (SoftHSM's
//! file-per-object store re-reads thousands of files), while a commit
//! rewrites only the packs it touches (about 1/256 of the data each).
//!
//! Every data file carries a header with magic, version, length and a CRC-32
//! over header and contents:
//! - pack: `"TEPK" | version u16 | bucket u16 | count u32 | body_len u64 | crc32 u32`
//!   then `count × (uid u64 | len u32 | data)` in increasing uid order;
//! - `meta.bin`: `"TEOB" | version u16 | kind u16 | uid u64 | generation u64 | len u32 | crc32 u32 | data`.
//!
//! A truncated, garbled or misplaced file is therefore reported as
//! [`StoreError::Corrupt`] naming the file, never returned as silent garbage.
//! A commit that would rewrite a damaged pack fails with `Corrupt` before
//! anything is journalled; [`Store::wipe`] (which reads no pack) always
//! repairs a store. All integers are little-endian. Files are created with
//! mode `0600`, directories with `0700`.
//!
//! # Commit protocol
//!
//! Under the in-process mutex and an exclusive `flock` on `tokenemu.lock`:
//!
//! 1. Recover first if a previous writer died (see below).
//! 2. Stage: write the complete list of changes plus the new generation to
//!    `journal.tmp` (with CRC and end marker); write each changed pack and
//!    `meta.bin` to `<name>.tmp`; write `generation.tmp`; `fsync` each.
//!    Every byte the commit needs is allocated here, while nothing visible
//!    has changed.
//! 3. Decide: rename `journal.tmp` to `journal`, `fsync` the directory. From
//!    here on the commit is decided.
//! 4. Install: rename the staged packs into place (emptied packs are
//!    unlinked), `fsync` `objects/`, rename `meta.bin.tmp`; append a record
//!    to `history`; rename `generation.tmp`, `fsync` the directory.
//! 5. Unlink `journal`.
//!
//! Write faults. A failure in steps 2–3 — `ENOSPC`, `EDQUOT`, `EIO` — removes
//! everything the commit wrote (the journal first, if step 3's rename had
//! happened), so the store is exactly as it was and the caller gets the
//! error ([`StoreError::is_storage_full`] tells a full disk apart); the next
//! commit works once space is back, and no temporary is left to eat the
//! space. Steps 4–5 only rename and unlink, which allocate no data blocks,
//! so a full disk cannot stop a decided commit; any other failure there
//! (an `EIO`) is answered by completing the commit from its journal at once
//! (success), or, if that fails too, by the error — and then the commit
//! stands and the next recovery completes it. A failed `history` write never
//! fails a commit: the history is removed, which only costs readers one
//! full reload.
//!
//! Read-only stores. [`Store::open`] on a complete store in a directory the
//! process cannot write to (read-only file system, or no write permission;
//! root is only stopped by the former) opens it read-only: reads work and
//! take the shared lock (`flock` needs no write access), every change —
//! commit, wipe, plug/unplug — fails with [`StoreError::ReadOnly`], and a
//! pending journal (which cannot be completed) makes reads fail with
//! `ReadOnly` rather than show a half-applied commit.
//!
//! Recovery (on [`Store::open`], before every commit, and whenever a reader
//! sees a `journal`) runs under the exclusive lock: a valid `journal` is
//! replayed (every step is idempotent), a damaged one is discarded (the
//! journal is renamed into place only after it is complete, so a damaged
//! journal belongs to a commit that never returned), and temporaries are
//! removed (`Store::open` sweeps temporaries even without a journal: after a
//! power loss a staged file may outlive the `journal.tmp` that marks the
//! crash). Readers hold the shared lock while they read, and upgrade to the
//! exclusive lock to recover first if they find a `journal`, so they never
//! observe a half-applied commit.
//!
//! # Caching
//!
//! Each [`Store`] keeps the last loaded state in memory keyed on the
//! generation. When another process has committed, the store reads `history`
//! (one record per commit: generation and touched uids) and re-reads only the
//! packs holding them; if the history does not cover every generation since the
//! cached one (rotated, damaged, a `DeleteAllObjects`), it falls back to a full
//! reload. History records are only trusted if their checksum is valid and
//! every generation in the gap is present, so it can make loads faster but
//! never wrong.
//!
//! # Concurrency
//!
//! `flock` locks belong to an open file description, so each [`Store`] opens
//! its own lock file handle and serialises its own threads with a mutex; two
//! `Store`s on the same directory (in one or several processes) exclude each
//! other through `flock`. Waiting for the `flock` is bounded (default
//! [`DEFAULT_LOCK_TIMEOUT`]); then [`StoreError::Locked`] is returned.

#![forbid(unsafe_code)]

mod format;
mod fsx;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use format::{BlobKind, Op};
use fsx::{io_err, FlockGuard};

/// Identifier of a stored object (random, non-zero when made by [`new_uid`]).
pub type Uid = u64;

/// How long an operation waits for the store lock before [`StoreError::Locked`].
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors returned by the store. Every variant names the file concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An operating-system I/O error on `path`. The message includes the
    /// OS error's text, so the error is not also returned as `source()`:
    /// a chain printer (anyhow's `{:#}`) would print it twice.
    #[error("I/O error on {}: {error}", path.display())]
    Io {
        /// The file or directory being accessed.
        path: PathBuf,
        /// The underlying error (deliberately not named `source`, which
        /// would make it the `source()`).
        error: io::Error,
    },
    /// A store file is truncated or garbled.
    #[error("corrupt token store file {}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory (or its marker file) is not a tokenemu store of a
    /// supported format version; it is left untouched.
    #[error("{} is not a tokenemu token store: {reason}", path.display())]
    Foreign {
        /// The directory or marker file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The store lock could not be obtained within the timeout.
    #[error("timed out waiting for the token store lock {}", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The store is on a read-only file system or in a directory this
    /// process may not write to: it can be read, not changed.
    #[error("token store {} is read-only: {reason}", path.display())]
    ReadOnly {
        /// The store directory.
        path: PathBuf,
        /// What could not be done.
        reason: String,
    },
}

impl StoreError {
    /// Whether this is the file system running out of space or quota
    /// (`ENOSPC`, `EDQUOT`): the failed commit left the store as it was,
    /// and the same commit can succeed once space is freed.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, StoreError::Io { error, .. }
            if matches!(error.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded))
    }
}

/// A consistent view of the whole store at one generation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Generation this view corresponds to.
    pub generation: u64,
    /// The meta blob, if one was stored.
    pub meta: Option<Vec<u8>>,
    /// All objects.
    pub objects: BTreeMap<Uid, Vec<u8>>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Blob contents may be key material: print sizes only.
        f.debug_struct("Snapshot")
            .field("generation", &self.generation)
            .field("meta_len", &self.meta.as_ref().map(Vec::len))
            .field("objects", &self.objects.len())
            .finish()
    }
}

/// One change inside a [`Store::commit`] batch; applied in order.
#[derive(Clone, PartialEq, Eq)]
pub enum Change {
    /// Replace the meta blob.
    PutMeta(Vec<u8>),
    /// Create or replace an object.
    PutObject {
        /// Object id.
        uid: Uid,
        /// New contents.
        data: Vec<u8>,
    },
    /// Delete an object (no error if it does not exist).
    DeleteObject {
        /// Object id.
        uid: Uid,
    },
    /// Delete every object (the meta blob is kept).
    DeleteAllObjects,
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::PutMeta(d) => write!(f, "PutMeta({} bytes)", d.len()),
            Change::PutObject { uid, data } => {
                write!(f, "PutObject {{ uid: {uid:016x}, {} bytes }}", data.len())
            }
            Change::DeleteObject { uid } => write!(f, "DeleteObject {{ uid: {uid:016x} }}"),
            Change::DeleteAllObjects => f.write_str("DeleteAllObjects"),
        }
    }
}

impl From<Change> for Op {
    fn from(c: Change) -> Op {
        match c {
            Change::PutMeta(d) => Op::PutMeta(d),
            Change::PutObject { uid, data } => Op::Put { uid, data },
            Change::DeleteObject { uid } => Op::Delete { uid },
            Change::DeleteAllObjects => Op::DeleteAll,
        }
    }
}

/// Returns a fresh random, non-zero object id.
pub fn new_uid() -> Uid {
    loop {
        let mut b = [0u8; 8];
        let uid = match getrandom::getrandom(&mut b) {
            Ok(()) => u64::from_le_bytes(b),
            Err(_) => fallback_uid(),
        };
        if uid != 0 {
            return uid;
        }
    }
}

/// Used only if the OS random source fails: SplitMix64 over time, pid and a
/// process-wide counter (unique enough for object ids, not for secrets).
fn fallback_uid() -> Uid {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = t
        ^ (u64::from(std::process::id()) << 40)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const LOCK_NAME: &str = "tokenemu.lock";
const GENERATION_NAME: &str = "generation";
const META_NAME: &str = "meta.bin";
const OBJECTS_DIR: &str = "objects";
const JOURNAL_NAME: &str = "journal";
const HISTORY_NAME: &str = "history";
const UNPLUGGED_NAME: &str = "unplugged";
const TMP_SUFFIX: &str = ".tmp";
/// The history file is restarted once it grows beyond this many bytes.
const HISTORY_MAX_LEN: u64 = 256 * 1024;
/// Gaps wider than this many generations are not worth replaying from history.
const HISTORY_MAX_GAP: u64 = 100_000;
/// From this many pack files on, a full reload reads on two threads.
const PARALLEL_LOAD_THRESHOLD: usize = 64;

/// A plan's object changes grouped by bucket.
type BucketChanges<'a> = BTreeMap<u8, Vec<(Uid, Option<&'a [u8]>)>>;

/// New contents of some objects (`None`: deleted) and, if it changed, of the
/// meta blob.
type Delta = (Vec<(Uid, Option<Vec<u8>>)>, Option<Option<Vec<u8>>>);

/// Raw current contents of some buckets (`None`: no pack file).
type Packs = BTreeMap<u8, Option<Vec<u8>>>;

/// In-memory copy of the store at one generation.
#[derive(Default)]
struct Cache {
    generation: u64,
    meta: Option<Vec<u8>>,
    objects: BTreeMap<Uid, Vec<u8>>,
}

struct State {
    cache: Option<Cache>,
}

/// The files of a plan written as temporaries by [`Store::stage`], waiting
/// to be moved into place by [`Store::install`].
#[derive(Default)]
struct Staged {
    /// Pack temporaries and the packs they replace.
    pack_renames: Vec<(PathBuf, PathBuf)>,
    /// Packs to unlink (emptied, or stale after `DeleteAllObjects`).
    pack_removals: Vec<PathBuf>,
    /// `meta.bin`: its temporary (`None`: delete it) and its path.
    meta: Option<(Option<PathBuf>, PathBuf)>,
}

/// How a commit failed.
enum CommitError {
    /// Before the decision; everything written was removed again, so the
    /// store is exactly as before.
    Undone(StoreError),
    /// After the journal was in place: the commit stands and recovery
    /// completes it.
    Decided(StoreError),
}

/// Handle on one token directory. Cheap to share between threads (`Send +
/// Sync`); several handles, in one or many processes, may use the same
/// directory concurrently.
pub struct Store {
    dir: PathBuf,
    objects_dir: PathBuf,
    lock_path: PathBuf,
    lock_file: File,
    lock_timeout: Duration,
    /// Opened by [`Store::open`] on a read-only file system or directory.
    read_only: bool,
    state: Mutex<State>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// See [`Store::identity`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StoreIdentity([u64; 4]);

/// A borrowed, consistent view of the whole store at one generation (see
/// [`Store::view`]).
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// Generation this view corresponds to.
    pub generation: u64,
    /// The meta blob, if one was stored.
    pub meta: Option<&'a [u8]>,
    /// All objects.
    pub objects: &'a BTreeMap<Uid, Vec<u8>>,
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("generation", &self.generation)
            .field("meta_len", &self.meta.map(<[u8]>::len))
            .field("objects", &self.objects.len())
            .finish()
    }
}

/// The hot-plug flag of one store directory, readable without a [`Store`]
/// (see [`Store::presence`]).
#[derive(Debug, Clone)]
pub struct Presence {
    marker: PathBuf,
}

impl Presence {
    /// Whether the token is "plugged in" (one `stat`, no lock).
    pub fn is_present(&self) -> Result<bool, StoreError> {
        Ok(!fsx::exists(&self.marker)?)
    }
}

/// Folded effect of a batch of operations.
struct Plan<'a> {
    delete_all: bool,
    meta: Option<Option<&'a [u8]>>,
    objects: BTreeMap<Uid, Option<&'a [u8]>>,
}

impl<'a> Plan<'a> {
    fn new(ops: &'a [Op]) -> Self {
        let mut plan = Plan {
            delete_all: false,
            meta: None,
            objects: BTreeMap::new(),
        };
        for op in ops {
            match op {
                Op::PutMeta(d) => plan.meta = Some(Some(d)),
                Op::DeleteMeta => plan.meta = Some(None),
                Op::Put { uid, data } => {
                    plan.objects.insert(*uid, Some(data));
                }
                Op::Delete { uid } => {
                    plan.objects.insert(*uid, None);
                }
                Op::DeleteAll => {
                    plan.delete_all = true;
                    plan.objects.clear();
                }
            }
        }
        plan
    }
}

impl Store {
    /// Opens the store in `dir`, creating the directory (and parents) and the
    /// store files on first use, and recovering from an interrupted commit.
    ///
    /// An existing directory is accepted only if it carries a valid marker
    /// file of a supported format, or is empty; anything else is
    /// [`StoreError::Foreign`] and is left untouched.
    ///
    /// A complete store in a directory this process cannot write to (a
    /// read-only file system, or no write permission) is opened
    /// [read-only](Store::is_read_only): it reads as usual and every change
    /// fails with [`StoreError::ReadOnly`]. One that would first need
    /// writing (new, half-initialised, or with an interrupted commit to
    /// finish) fails with `ReadOnly` instead.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Self::open_with_lock_timeout(dir, DEFAULT_LOCK_TIMEOUT)
    }

    /// Like [`Store::open`] with a custom bound on every lock wait.
    pub fn open_with_lock_timeout(dir: &Path, lock_timeout: Duration) -> Result<Store, StoreError> {
        let existed = fsx::exists(dir)?;
        if existed {
            let md = fs::metadata(dir).map_err(io_err(dir))?;
            if !md.is_dir() {
                return Err(StoreError::Foreign {
                    path: dir.to_path_buf(),
                    reason: "exists and is not a directory".to_owned(),
                });
            }
            if !fsx::dir_writable(dir)? {
                return Self::open_read_only(dir, lock_timeout);
            }
        } else {
            fsx::create_dir_all(dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsx::fsync_dir(parent)?;
            }
        }
        let marker = dir.join(format::MARKER_NAME);
        let has_marker = check_marker_file(&marker)?;
        if !has_marker {
            // Another process may be creating this store right now: between our
            // marker check and this one it may have written its marker and
            // layout. Only a directory that still has no marker is foreign.
            if let Err(e) = check_adoptable(dir) {
                if !check_marker_file(&marker)? {
                    return Err(e);
                }
            }
        }
        let lock_path = dir.join(LOCK_NAME);
        let lock_file = fsx::open_lock_file(&lock_path)?;
        let store = Store {
            dir: dir.to_path_buf(),
            objects_dir: dir.join(OBJECTS_DIR),
            lock_path,
            lock_file,
            lock_timeout,
            read_only: false,
            state: Mutex::new(State { cache: None }),
        };
        {
            let deadline = store.deadline();
            let mut state = store.state();
            let _guard = store.flock(true, deadline)?;
            if !check_marker_file(&marker)? {
                check_adoptable(dir)?;
                let tmp = tmp_path(&marker);
                fsx::write_durable(&tmp, &marker, &format::marker_contents())?;
                fsx::fsync_dir(dir)?;
                tracing::info!(dir = %dir.display(), "initialised new token store");
            }
            store.ensure_layout()?;
            // Temporaries are swept on every open, not only after a
            // detected crash: after a power loss a staged pack may survive
            // while the journal temporary that marks the crash did not.
            store.recover(&mut state, true)?;
        }
        Ok(store)
    }

    /// Opens a complete store that this process cannot write to. Nothing is
    /// written, so nothing is created, adopted or recovered: each of those
    /// is a [`StoreError::ReadOnly`] naming what is missing.
    fn open_read_only(dir: &Path, lock_timeout: Duration) -> Result<Store, StoreError> {
        let read_only = |reason: &str| StoreError::ReadOnly {
            path: dir.to_path_buf(),
            reason: reason.to_owned(),
        };
        let marker = dir.join(format::MARKER_NAME);
        if !check_marker_file(&marker)? {
            return Err(read_only(
                "it holds no token store yet, and one cannot be created there",
            ));
        }
        let lock_path = dir.join(LOCK_NAME);
        // flock() does not need write access to the file it locks.
        let lock_file = match File::open(&lock_path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(read_only(
                    "its lock file is missing (an interrupted initialisation)",
                ))
            }
            Err(e) => return Err(io_err(&lock_path)(e)),
        };
        let store = Store {
            dir: dir.to_path_buf(),
            objects_dir: dir.join(OBJECTS_DIR),
            lock_path,
            lock_file,
            lock_timeout,
            read_only: true,
            state: Mutex::new(State { cache: None }),
        };
        {
            let _guard = store.flock(false, store.deadline())?;
            if !fsx::exists(&store.objects_dir)? || !fsx::exists(&dir.join(GENERATION_NAME))? {
                return Err(read_only(
                    "its layout is incomplete (an interrupted initialisation)",
                ));
            }
            store.check_no_pending_commit()?;
            store.read_generation()?;
        }
        tracing::info!(dir = %dir.display(), "opened token store read-only");
        Ok(store)
    }

    /// Whether the store was opened read-only (see [`Store::open`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// On a read-only store, a journal left by a writer that died cannot be
    /// completed, and reading around it would show a half-applied commit.
    fn check_no_pending_commit(&self) -> Result<(), StoreError> {
        if fsx::exists(&self.dir.join(JOURNAL_NAME))? {
            return Err(StoreError::ReadOnly {
                path: self.dir.clone(),
                reason: "an interrupted commit must be completed first, which needs write access"
                    .to_owned(),
            });
        }
        Ok(())
    }

    fn refuse_if_read_only(&self, what: &str) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.dir.clone(),
                reason: format!("{what} is not possible"),
            });
        }
        Ok(())
    }

    /// The token directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current generation: one small file read, no locking. It strictly
    /// increases with every commit made by any process (0 for a new store).
    pub fn generation(&self) -> Result<u64, StoreError> {
        self.read_generation()
    }

    /// Returns a consistent snapshot of the whole store, taken under the
    /// shared lock. Served from the in-memory cache when nothing changed;
    /// otherwise only the files touched since the cached generation are read
    /// (full reload when that cannot be determined).
    pub fn load(&self) -> Result<Snapshot, StoreError> {
        self.view(|v| Snapshot {
            generation: v.generation,
            meta: v.meta.map(<[u8]>::to_vec),
            objects: v.objects.clone(),
        })
    }

    /// Like [`load`](Store::load), but lends the snapshot to `f` instead of
    /// copying it (a token of 100,000 objects is not duplicated to be read).
    /// `f` runs under the store's shared lock: writers wait until it returns.
    pub fn view<R>(&self, f: impl FnOnce(View<'_>) -> R) -> Result<R, StoreError> {
        let deadline = self.deadline();
        let mut state = self.state();
        let mut guard = self.flock(false, deadline)?;
        if fsx::exists(&self.dir.join(JOURNAL_NAME))? {
            // A writer died mid-commit: finish (or discard) its work first.
            if self.read_only {
                self.check_no_pending_commit()?;
            }
            drop(guard);
            guard = self.flock(true, deadline)?;
            self.recover(&mut state, false)?;
        }
        let cache = self.refresh(&mut state)?;
        let r = f(View {
            generation: cache.generation,
            meta: cache.meta.as_deref(),
            objects: &cache.objects,
        });
        drop(guard);
        Ok(r)
    }

    /// `Ok(None)` if the generation still equals `known_generation`,
    /// otherwise [`view`](Store::view).
    pub fn view_if_changed<R>(
        &self,
        known_generation: u64,
        f: impl FnOnce(View<'_>) -> R,
    ) -> Result<Option<R>, StoreError> {
        if self.read_generation()? == known_generation {
            return Ok(None);
        }
        self.view(f).map(Some)
    }

    /// `Ok(None)` if the generation still equals `known_generation`,
    /// otherwise a fresh [`load`](Store::load).
    pub fn load_if_changed(&self, known_generation: u64) -> Result<Option<Snapshot>, StoreError> {
        if self.read_generation()? == known_generation {
            return Ok(None);
        }
        self.load().map(Some)
    }

    /// Applies all `changes`, in order, atomically (all or nothing, also
    /// across a crash at any instant) and durably, and returns the new
    /// generation. An empty batch is a no-op returning the current
    /// generation.
    ///
    /// An error before the commit is decided (every `ENOSPC` among them:
    /// all space is allocated first) leaves the store exactly as it was. An
    /// I/O error after that is first answered by completing the commit from
    /// its redo journal; only if that fails too is the error returned with
    /// the commit standing, completed by the next recovery. So an `Err`
    /// means "not applied" unless recovery itself is failing, never "half
    /// applied". On a read-only store every commit is
    /// [`StoreError::ReadOnly`].
    pub fn commit(&self, changes: Vec<Change>) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return self.read_generation();
        }
        let ops: Vec<Op> = changes.into_iter().map(Op::from).collect();
        self.commit_ops(ops)
    }

    /// Sets the hot-plug emulation flag (visible to all processes at once).
    pub fn set_present(&self, present: bool) -> Result<(), StoreError> {
        let path = self.dir.join(UNPLUGGED_NAME);
        if self.read_only && self.is_present()? != present {
            self.refuse_if_read_only("plugging or unplugging the token")?;
        }
        if present {
            if !fsx::exists(&path)? {
                return Ok(());
            }
            fsx::remove_optional(&path)?;
        } else {
            if fsx::exists(&path)? {
                return Ok(());
            }
            fsx::write_durable(&tmp_path(&path), &path, b"unplugged\n")?;
        }
        fsx::fsync_dir(&self.dir)
    }

    /// Whether the token is "plugged in" (one `stat`). Default `true`.
    pub fn is_present(&self) -> Result<bool, StoreError> {
        self.presence().is_present()
    }

    /// What tells this store apart from another one made later in the same
    /// directory (the marker file's device, inode and change time): a cache
    /// of its contents kept by generation number is only valid for the same
    /// identity, as a new store counts generations from 0 again.
    pub fn identity(&self) -> Result<StoreIdentity, StoreError> {
        use std::os::unix::fs::MetadataExt;
        let marker = self.dir.join(format::MARKER_NAME);
        let md = fs::metadata(&marker).map_err(io_err(&marker))?;
        Ok(StoreIdentity([
            md.dev(),
            md.ino(),
            md.ctime() as u64,
            md.ctime_nsec() as u64,
        ]))
    }

    /// A probe of the hot-plug flag that needs neither this handle nor its
    /// locks, for callers that check presence on every call.
    pub fn presence(&self) -> Presence {
        Presence {
            marker: self.dir.join(UNPLUGGED_NAME),
        }
    }

    /// Atomically deletes every object and the meta blob (token
    /// re-initialisation). The marker and the present flag are kept; the
    /// generation increases.
    pub fn wipe(&self) -> Result<(), StoreError> {
        self.commit_ops(vec![Op::DeleteAll, Op::DeleteMeta])
            .map(|_| ())
    }

    // -----------------------------------------------------------------------

    fn deadline(&self) -> Instant {
        Instant::now() + self.lock_timeout
    }

    /// Locks the in-process mutex. A panic in another thread while holding
    /// it only invalidates the cache (files are protected by the journal).
    fn state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                let mut g = poisoned.into_inner();
                g.cache = None;
                self.state.clear_poison();
                g
            }
        }
    }

    fn flock(&self, exclusive: bool, deadline: Instant) -> Result<FlockGuard<'_>, StoreError> {
        fsx::flock(&self.lock_file, &self.lock_path, exclusive, deadline)
    }

    fn pack_path(&self, bucket: u8) -> PathBuf {
        self.objects_dir.join(format::pack_file_name(bucket))
    }

    fn read_generation(&self) -> Result<u64, StoreError> {
        let path = self.dir.join(GENERATION_NAME);
        let mut buf = [0u8; format::GEN_LEN + 1];
        let n = read_small(&path, &mut buf)?;
        format::decode_generation(&buf[..n]).map_err(|reason| StoreError::Corrupt { path, reason })
    }

    fn write_generation(&self, generation: u64) -> Result<(), StoreError> {
        let path = self.dir.join(GENERATION_NAME);
        fsx::write_durable(
            &tmp_path(&path),
            &path,
            &format::encode_generation(generation),
        )?;
        fsx::fsync_dir(&self.dir)
    }

    /// Creates `objects/` and `generation` if an earlier initialisation was
    /// interrupted. Exclusive lock held.
    fn ensure_layout(&self) -> Result<(), StoreError> {
        if !fsx::exists(&self.objects_dir)? {
            fsx::create_dir_all(&self.objects_dir)?;
            fsx::fsync_dir(&self.dir)?;
        }
        let gen_path = self.dir.join(GENERATION_NAME);
        if !fsx::exists(&gen_path)? {
            let pristine = !fsx::exists(&self.dir.join(META_NAME))?
                && !fsx::exists(&self.dir.join(JOURNAL_NAME))?
                && fs::read_dir(&self.objects_dir)
                    .map_err(io_err(&self.objects_dir))?
                    .next()
                    .is_none();
            if !pristine {
                return Err(StoreError::Corrupt {
                    path: gen_path,
                    reason: "generation file is missing from a store that holds data".to_owned(),
                });
            }
            self.write_generation(0)?;
        }
        Ok(())
    }

    /// Replays or discards a leftover journal and removes temporaries (after
    /// a detected crash, or always when `sweep`). Exclusive lock held.
    fn recover(&self, state: &mut State, sweep: bool) -> Result<(), StoreError> {
        let journal = self.dir.join(JOURNAL_NAME);
        let journal_tmp = tmp_path(&journal);
        let mut crashed = sweep || fsx::exists(&journal_tmp)?;
        if let Some(bytes) = fsx::read_optional(&journal)? {
            crashed = true;
            state.cache = None;
            match format::decode_journal(&bytes) {
                Ok((generation, ops)) => {
                    let current = match self.read_generation() {
                        Ok(g) => Some(g),
                        Err(StoreError::Corrupt { .. }) => None,
                        Err(e) => return Err(e),
                    };
                    if current.is_some_and(|g| g > generation) {
                        tracing::warn!(
                            journal = generation,
                            current = ?current,
                            "discarding stale journal"
                        );
                    } else {
                        tracing::warn!(
                            generation,
                            changes = ops.len(),
                            dir = %self.dir.display(),
                            "replaying interrupted commit"
                        );
                        let plan = Plan::new(&ops);
                        let packs = self.read_packs(&plan)?;
                        self.apply(&plan, &packs, generation)?;
                        // The history may hold a torn record of this commit.
                        self.reset_history(generation);
                        if current != Some(generation) {
                            self.write_generation(generation)?;
                        }
                    }
                }
                Err(reason) => {
                    tracing::warn!(
                        path = %journal.display(),
                        %reason,
                        "discarding damaged journal of a commit that never completed"
                    );
                }
            }
            fsx::remove_optional(&journal)?;
        }
        if crashed {
            let mut removed = false;
            let mut remove = |path: &Path| -> Result<(), StoreError> {
                if fsx::exists(path)? {
                    fsx::remove_optional(path)?;
                    removed = true;
                }
                Ok(())
            };
            for entry in fs::read_dir(&self.objects_dir).map_err(io_err(&self.objects_dir))? {
                let entry = entry.map_err(io_err(&self.objects_dir))?;
                if entry.file_name().to_string_lossy().ends_with(TMP_SUFFIX) {
                    remove(&entry.path())?;
                }
            }
            for name in [GENERATION_NAME, META_NAME, HISTORY_NAME] {
                remove(&tmp_path(&self.dir.join(name)))?;
            }
            // Last: while it exists, the next writer knows to sweep.
            remove(&journal_tmp)?;
            if removed {
                fsx::fsync_dir(&self.objects_dir)?;
                fsx::fsync_dir(&self.dir)?;
            }
        }
        Ok(())
    }

    /// Reads (and verifies) the current pack of every bucket the plan
    /// modifies, so that a damaged pack is reported before anything is
    /// journalled. After `DeleteAllObjects` nothing needs reading.
    fn read_packs(&self, plan: &Plan<'_>) -> Result<Packs, StoreError> {
        let mut packs = Packs::new();
        if plan.delete_all {
            return Ok(packs);
        }
        for &uid in plan.objects.keys() {
            let bucket = format::bucket_of(uid);
            if let std::collections::btree_map::Entry::Vacant(slot) = packs.entry(bucket) {
                let path = self.pack_path(bucket);
                let bytes = fsx::read_optional(&path)?;
                if let Some(b) = &bytes {
                    decode_pack(b, bucket, &path)?;
                }
                slot.insert(bytes);
            }
        }
        Ok(packs)
    }

    /// Writes the new contents of every file a plan changes as fsynced
    /// temporaries next to their final names, given the packs it modifies
    /// as returned by [`Store::read_packs`]. Each temporary is pushed onto
    /// `written` before it is created, so that a caller can remove them all
    /// when this fails half-way. Nothing visible changes.
    fn stage(
        &self,
        plan: &Plan<'_>,
        packs: &Packs,
        generation: u64,
        written: &mut Vec<PathBuf>,
    ) -> Result<Staged, StoreError> {
        let mut staged = Staged::default();
        let mut by_bucket: BucketChanges<'_> = BTreeMap::new();
        for (&uid, &data) in &plan.objects {
            by_bucket
                .entry(format::bucket_of(uid))
                .or_default()
                .push((uid, data));
        }
        if plan.delete_all {
            for entry in fs::read_dir(&self.objects_dir).map_err(io_err(&self.objects_dir))? {
                let entry = entry.map_err(io_err(&self.objects_dir))?;
                let name = entry.file_name();
                if let Some(bucket) = format::parse_pack_file_name(&name.to_string_lossy()) {
                    if !by_bucket.contains_key(&bucket) {
                        staged.pack_removals.push(entry.path());
                    }
                }
            }
        }
        for (&bucket, changes) in &by_bucket {
            let path = self.pack_path(bucket);
            // After DeleteAllObjects the bucket is rebuilt from the plan alone.
            let existing = packs.get(&bucket).and_then(Option::as_ref);
            let mut entries: BTreeMap<Uid, &[u8]> = match existing {
                Some(bytes) => decode_pack(bytes, bucket, &path)?.into_iter().collect(),
                None => BTreeMap::new(),
            };
            for &(uid, data) in changes {
                match data {
                    Some(d) => entries.insert(uid, d),
                    None => entries.remove(&uid),
                };
            }
            if entries.is_empty() {
                staged.pack_removals.push(path);
            } else {
                let tmp = tmp_path(&path);
                written.push(tmp.clone());
                fsx::write_synced(&tmp, &format::encode_pack(bucket, &entries))?;
                staged.pack_renames.push((tmp, path));
            }
        }
        if let Some(meta) = plan.meta {
            let path = self.dir.join(META_NAME);
            staged.meta = Some(match meta {
                Some(data) => {
                    let tmp = tmp_path(&path);
                    written.push(tmp.clone());
                    let bytes = format::encode_blob(BlobKind::Meta, 0, generation, data);
                    fsx::write_synced(&tmp, &bytes)?;
                    (Some(tmp), path)
                }
                None => (None, path),
            });
        }
        Ok(staged)
    }

    /// Moves staged files into place: renames and unlinks only, which
    /// allocate no data blocks. The directory of `meta.bin` is fsynced by
    /// the caller together with `generation`.
    fn install(&self, staged: &Staged) -> Result<(), StoreError> {
        for (tmp, path) in &staged.pack_renames {
            fs::rename(tmp, path).map_err(io_err(path))?;
        }
        for path in &staged.pack_removals {
            fsx::remove_optional(path)?;
        }
        if !staged.pack_renames.is_empty() || !staged.pack_removals.is_empty() {
            fsx::fsync_dir(&self.objects_dir)?;
        }
        match &staged.meta {
            Some((Some(tmp), path)) => fs::rename(tmp, path).map_err(io_err(path))?,
            Some((None, path)) => fsx::remove_optional(path)?,
            None => {}
        }
        Ok(())
    }

    /// Writes the files of a (journalled) plan: [`stage`](Store::stage) then
    /// [`install`](Store::install). Idempotent; used by recovery.
    fn apply(&self, plan: &Plan<'_>, packs: &Packs, generation: u64) -> Result<(), StoreError> {
        let staged = self.stage(plan, packs, generation, &mut Vec::new())?;
        self.install(&staged)
    }

    fn commit_ops(&self, ops: Vec<Op>) -> Result<u64, StoreError> {
        self.refuse_if_read_only("changing the token")?;
        for op in &ops {
            if let Op::PutMeta(d) | Op::Put { data: d, .. } = op {
                if u32::try_from(d.len()).is_err() {
                    return Err(StoreError::Io {
                        path: self.dir.clone(),
                        error: io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "a blob larger than 4 GiB cannot be stored",
                        ),
                    });
                }
            }
        }
        let deadline = self.deadline();
        let mut state = self.state();
        let _guard = self.flock(true, deadline)?;
        self.recover(&mut state, false)?;
        let current = self.read_generation()?;
        // Keep the cache usable: bring it to `current` first (cheap via
        // history) so that it can simply be patched after the commit.
        if state
            .cache
            .as_ref()
            .is_some_and(|c| c.generation != current)
        {
            if let Err(e) = self.refresh(&mut state) {
                tracing::debug!(error = %e, "cache refresh before commit failed");
                state.cache = None;
            }
        }
        let generation = current + 1;
        match self.commit_locked(&ops, current, generation) {
            Ok(()) => {
                if let Some(cache) = state.cache.as_mut().filter(|c| c.generation == current) {
                    apply_to_cache(cache, ops);
                    cache.generation = generation;
                } else {
                    state.cache = None;
                }
                Ok(generation)
            }
            // Nothing changed on disk: the cache is still right.
            Err(CommitError::Undone(e)) => Err(e),
            Err(CommitError::Decided(e)) => {
                state.cache = None;
                // The journal holds the whole commit: finishing it now is
                // what the next operation would do anyway.
                match self.recover(&mut state, false) {
                    Ok(()) => {
                        tracing::warn!(
                            dir = %self.dir.display(),
                            error = %e,
                            "a commit failed after it was decided and was completed from its journal"
                        );
                        Ok(generation)
                    }
                    Err(again) => {
                        tracing::error!(
                            dir = %self.dir.display(),
                            error = %e,
                            recovery = %again,
                            "a decided commit could not be completed; the next recovery will"
                        );
                        Err(e)
                    }
                }
            }
        }
    }

    /// The commit itself (see "Commit protocol" above). Everything that
    /// needs new space is written before the journal is renamed into place;
    /// a failure up to then removes what was written, leaving the store as
    /// it was.
    fn commit_locked(&self, ops: &[Op], current: u64, generation: u64) -> Result<(), CommitError> {
        let plan = Plan::new(ops);
        // Verify what will be rewritten before deciding the commit: a damaged
        // pack fails this commit cleanly instead of wedging recovery.
        let packs = self.read_packs(&plan).map_err(CommitError::Undone)?;
        let journal = self.dir.join(JOURNAL_NAME);
        let gen_path = self.dir.join(GENERATION_NAME);
        let gen_tmp = tmp_path(&gen_path);
        let mut written = Vec::new();
        let mut prepare = || -> Result<Staged, StoreError> {
            let journal_tmp = tmp_path(&journal);
            written.push(journal_tmp.clone());
            fsx::write_synced(&journal_tmp, &format::encode_journal(generation, ops))?;
            let staged = self.stage(&plan, &packs, generation, &mut written)?;
            written.push(gen_tmp.clone());
            fsx::write_synced(&gen_tmp, &format::encode_generation(generation))?;
            // The decision: from here on the journal redoes the commit.
            fs::rename(&journal_tmp, &journal).map_err(io_err(&journal))?;
            written.push(journal.clone());
            fsx::fsync_dir(&self.dir)?;
            Ok(staged)
        };
        let staged = match prepare() {
            Ok(staged) => staged,
            Err(e) => return Err(self.undo(&written, e)),
        };
        let decided = CommitError::Decided;
        self.install(&staged).map_err(decided)?;
        let mut flags = 0;
        if plan.delete_all {
            flags |= format::HIST_RESET;
        }
        if plan.meta.is_some() {
            flags |= format::HIST_META;
        }
        let uids: Vec<Uid> = plan.objects.keys().copied().collect();
        self.append_history(current, generation, flags, &uids);
        fs::rename(&gen_tmp, &gen_path)
            .map_err(io_err(&gen_path))
            .map_err(decided)?;
        fsx::fsync_dir(&self.dir).map_err(decided)?;
        fsx::remove_optional(&journal).map_err(decided)
    }

    /// Removes what a commit wrote before it failed, newest first (the
    /// journal, if it was already renamed into place, goes first: once it
    /// is gone the commit is undone). If the journal cannot be removed the
    /// commit stands and is [`Decided`](CommitError::Decided).
    fn undo(&self, written: &[PathBuf], error: StoreError) -> CommitError {
        for path in written.iter().rev() {
            if let Err(e) = fsx::remove_optional(path) {
                tracing::warn!(error = %e, "cannot remove a file of a failed commit");
                if path.file_name() == Some(JOURNAL_NAME.as_ref()) {
                    return CommitError::Decided(error);
                }
            }
        }
        tracing::info!(
            dir = %self.dir.display(),
            error = %error,
            "commit failed before it was decided; the store is unchanged"
        );
        CommitError::Undone(error)
    }

    /// Restarts the history so that it covers generations after `base`. The
    /// history is advisory: if it cannot be written it is removed, which
    /// only makes readers reload fully.
    fn reset_history(&self, base: u64) {
        let path = self.dir.join(HISTORY_NAME);
        let written = open_history(&path).and_then(|mut file| {
            file.set_len(0).map_err(io_err(&path))?;
            file.write_all(&format::encode_history_header(base))
                .map_err(io_err(&path))
        });
        if let Err(e) = written {
            self.drop_history(&e);
        }
    }

    /// Appends one record (not fsynced: the history is advisory and a lost
    /// record merely forces a full reload). A failed append (a full disk)
    /// removes the history rather than leave a torn record behind that
    /// would hide every later one. Exclusive lock held.
    fn append_history(&self, current: u64, generation: u64, flags: u8, uids: &[Uid]) {
        if let Err(e) = self.try_append_history(current, generation, flags, uids) {
            self.drop_history(&e);
        }
    }

    fn drop_history(&self, error: &StoreError) {
        let path = self.dir.join(HISTORY_NAME);
        tracing::warn!(%error, "cannot write the change history; removing it (readers reload fully)");
        if let Err(e) = fsx::remove_optional(&path) {
            tracing::warn!(error = %e, "cannot remove the change history");
        }
    }

    fn try_append_history(
        &self,
        current: u64,
        generation: u64,
        flags: u8,
        uids: &[Uid],
    ) -> Result<(), StoreError> {
        let path = self.dir.join(HISTORY_NAME);
        let mut file = open_history(&path)?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        let mut header = [0u8; format::HISTORY_HEADER_LEN];
        let valid = len >= header.len() as u64
            && len <= HISTORY_MAX_LEN
            && file.read_exact(&mut header).is_ok()
            && format::decode_history_header(&header).is_some();
        if !valid {
            file.set_len(0).map_err(io_err(&path))?;
            file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            file.write_all(&format::encode_history_header(current))
                .map_err(io_err(&path))?;
        } else {
            file.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
        }
        file.write_all(&format::encode_history_record(generation, flags, uids))
            .map_err(io_err(&path))
    }

    /// What changed in (`from`, `to`], if the history covers every commit.
    fn history_delta(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Option<(BTreeSet<Uid>, bool)>, StoreError> {
        if to <= from || to - from > HISTORY_MAX_GAP {
            return Ok(None);
        }
        let path = self.dir.join(HISTORY_NAME);
        let Some(bytes) = fsx::read_optional(&path)? else {
            return Ok(None);
        };
        let Some(base) = format::decode_history_header(&bytes) else {
            return Ok(None);
        };
        if base > from {
            return Ok(None);
        }
        let mut seen = vec![false; (to - from) as usize];
        let mut uids = BTreeSet::new();
        let mut meta = false;
        for rec in format::decode_history_records(&bytes[format::HISTORY_HEADER_LEN..]) {
            if rec.generation <= from || rec.generation > to {
                continue;
            }
            if rec.flags & format::HIST_RESET != 0 {
                return Ok(None);
            }
            seen[(rec.generation - from - 1) as usize] = true;
            meta |= rec.flags & format::HIST_META != 0;
            uids.extend(rec.uids);
        }
        Ok(seen.iter().all(|&s| s).then_some((uids, meta)))
    }

    /// Brings the cache up to the on-disk generation. Lock (shared or
    /// exclusive) held and no journal pending.
    fn refresh<'s>(&self, state: &'s mut State) -> Result<&'s Cache, StoreError> {
        let generation = self.read_generation()?;
        let cached = state.cache.as_ref().map(|c| c.generation);
        if cached != Some(generation) {
            let delta = match cached {
                Some(from) if from < generation => self.history_delta(from, generation)?,
                _ => None,
            };
            match (delta, state.cache.as_mut()) {
                (Some((uids, meta)), Some(cache)) => {
                    let patch = self.read_delta(&uids, meta);
                    match patch {
                        Ok((objs, meta_val)) => {
                            for (uid, data) in objs {
                                match data {
                                    Some(d) => cache.objects.insert(uid, d),
                                    None => cache.objects.remove(&uid),
                                };
                            }
                            if let Some(m) = meta_val {
                                cache.meta = m;
                            }
                            cache.generation = generation;
                        }
                        Err(e) => {
                            state.cache = None;
                            return Err(e);
                        }
                    }
                }
                _ => {
                    state.cache = None;
                    state.cache = Some(self.full_load(generation)?);
                }
            }
        }
        Ok(state.cache.get_or_insert_with(Cache::default))
    }

    /// Reads the current contents of the objects named by a history delta.
    fn read_delta(&self, uids: &BTreeSet<Uid>, meta: bool) -> Result<Delta, StoreError> {
        let mut by_bucket: BTreeMap<u8, Vec<Uid>> = BTreeMap::new();
        for &uid in uids {
            by_bucket
                .entry(format::bucket_of(uid))
                .or_default()
                .push(uid);
        }
        let mut objs = Vec::with_capacity(uids.len());
        for (bucket, wanted) in by_bucket {
            let path = self.pack_path(bucket);
            let bytes = fsx::read_optional(&path)?;
            let entries = match &bytes {
                Some(b) => decode_pack(b, bucket, &path)?,
                None => Vec::new(),
            };
            for uid in wanted {
                let data = entries
                    .binary_search_by_key(&uid, |&(u, _)| u)
                    .ok()
                    .map(|i| entries[i].1.to_vec());
                objs.push((uid, data));
            }
        }
        let meta_val = if meta { Some(self.read_meta()?) } else { None };
        Ok((objs, meta_val))
    }

    fn read_meta(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.dir.join(META_NAME);
        match fsx::read_optional(&path)? {
            Some(bytes) => decode(&bytes, BlobKind::Meta, 0, &path).map(Some),
            None => Ok(None),
        }
    }

    /// Reads every pack file.
    fn full_load(&self, generation: u64) -> Result<Cache, StoreError> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.objects_dir).map_err(io_err(&self.objects_dir))? {
            let entry = entry.map_err(io_err(&self.objects_dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(bucket) = format::parse_pack_file_name(&name) {
                files.push((bucket, entry.path()));
            } else if !name.ends_with(TMP_SUFFIX) {
                tracing::warn!(
                    path = %entry.path().display(),
                    "ignoring unexpected file in object directory"
                );
            }
        }
        let read_all = |chunk: &[(u8, PathBuf)]| -> Result<Vec<(Uid, Vec<u8>)>, StoreError> {
            // One scratch buffer per thread; one right-sized copy per object.
            let mut scratch = Vec::new();
            let mut out = Vec::new();
            for (bucket, path) in chunk {
                read_into(path, &mut scratch).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        // Listed but gone while we hold the lock: only an
                        // outside actor can do that.
                        StoreError::Corrupt {
                            path: path.clone(),
                            reason: "pack file vanished during load".to_owned(),
                        }
                    } else {
                        io_err(path)(e)
                    }
                })?;
                out.extend(
                    decode_pack(&scratch, *bucket, path)?
                        .into_iter()
                        .map(|(uid, data)| (uid, data.to_vec())),
                );
            }
            Ok(out)
        };
        let loaded = if files.len() >= PARALLEL_LOAD_THRESHOLD {
            let (a, b) = files.split_at(files.len() / 2);
            std::thread::scope(|s| {
                let hb = s.spawn(|| read_all(b));
                let ra = read_all(a);
                let rb = hb.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                let mut ra = ra?;
                ra.extend(rb?);
                Ok::<_, StoreError>(ra)
            })?
        } else {
            read_all(&files)?
        };
        Ok(Cache {
            generation,
            meta: self.read_meta()?,
            objects: loaded.into_iter().collect(),
        })
    }
}

fn open_history(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(fsx::FILE_MODE)
        .open(path)
        .map_err(io_err(path))
}

fn apply_to_cache(cache: &mut Cache, ops: Vec<Op>) {
    for op in ops {
        match op {
            Op::PutMeta(d) => cache.meta = Some(d),
            Op::DeleteMeta => cache.meta = None,
            Op::Put { uid, data } => {
                cache.objects.insert(uid, data);
            }
            Op::Delete { uid } => {
                cache.objects.remove(&uid);
            }
            Op::DeleteAll => cache.objects.clear(),
        }
    }
}

fn decode_pack<'b>(
    bytes: &'b [u8],
    bucket: u8,
    path: &Path,
) -> Result<Vec<(Uid, &'b [u8])>, StoreError> {
    format::decode_pack(bytes, bucket).map_err(|reason| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    })
}

fn decode(bytes: &[u8], kind: BlobKind, uid: Uid, path: &Path) -> Result<Vec<u8>, StoreError> {
    format::decode_blob(bytes, kind, uid).map_err(|reason| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

/// Reads a whole file into `buf` (reused between calls) without the
/// `statx`/`lseek` calls that `fs::read` makes for its size hint.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut f = File::open(path)?;
    if buf.len() < 8192 {
        buf.resize(8192, 0);
    }
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(())
}

/// Reads at most `buf.len()` bytes of a small file.
fn read_small(path: &Path, buf: &mut [u8]) -> Result<usize, StoreError> {
    let mut f = File::open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "file is missing".to_owned(),
            }
        } else {
            io_err(path)(e)
        }
    })?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    }
    Ok(n)
}

/// `Ok(true)` if a valid marker exists, `Ok(false)` if none, `Foreign` if
/// it is garbled or of another format version.
fn check_marker_file(marker: &Path) -> Result<bool, StoreError> {
    let file = match File::open(marker) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(marker)(e)),
    };
    let mut buf = Vec::with_capacity(64);
    file.take(256)
        .read_to_end(&mut buf)
        .map_err(io_err(marker))?;
    format::check_marker(&buf).map_err(|reason| StoreError::Foreign {
        path: marker.to_path_buf(),
        reason,
    })?;
    Ok(true)
}

/// A directory without marker may become a store only if it holds nothing
/// but our own lock file and marker temporary.
fn check_adoptable(dir: &Path) -> Result<(), StoreError> {
    let marker_tmp = format!("{}{TMP_SUFFIX}", format::MARKER_NAME);
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if name != LOCK_NAME && name.to_str() != Some(&marker_tmp) {
            return Err(StoreError::Foreign {
                path: dir.to_path_buf(),
                reason: format!(
                    "directory is not empty and has no {:?} marker file (found {:?})",
                    format::MARKER_NAME,
                    name
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a writer killed after its journal became durable but before
    /// (or while) applying it: the next reader or writer must complete it.
    #[test]
    fn decided_journal_is_replayed_by_reader_and_open() {
        let tmp = tempfile_dir();
        let store = Store::open(&tmp).unwrap();
        store
            .commit(vec![
                Change::PutObject {
                    uid: 0x101,
                    data: b"a".to_vec(),
                },
                Change::PutObject {
                    uid: 0x202,
                    data: b"b".to_vec(),
                },
            ])
            .unwrap();
        store.load().unwrap(); // warm cache at generation 1
        let ops = vec![
            Op::Put {
                uid: 0x101,
                data: b"a2".to_vec(),
            },
            Op::Delete { uid: 0x202 },
            Op::Put {
                uid: 0x303,
                data: b"c".to_vec(),
            },
            Op::PutMeta(b"meta".to_vec()),
        ];
        let journal = tmp.join(JOURNAL_NAME);
        fs::write(&journal, format::encode_journal(2, &ops)).unwrap();
        // Half applied: only the first pack was rewritten.
        let mut first = BTreeMap::new();
        first.insert(0x101u64, &b"a2"[..]);
        fs::write(tmp.join("objects/01.pack"), format::encode_pack(1, &first)).unwrap();
        fs::write(tmp.join("objects/03.pack.tmp"), b"partial").unwrap();

        // Lock-free generation still shows the last completed commit.
        assert_eq!(store.generation().unwrap(), 1);
        let snap = store.load().unwrap();
        assert_eq!(snap.generation, 2);
        assert_eq!(snap.objects.len(), 2);
        assert_eq!(snap.objects[&0x101], b"a2");
        assert_eq!(snap.objects[&0x303], b"c");
        assert_eq!(snap.meta.as_deref(), Some(&b"meta"[..]));
        assert!(!journal.exists());
        assert!(!tmp.join("objects/03.pack.tmp").exists());
        assert_eq!(store.commit(vec![Change::DeleteAllObjects]).unwrap(), 3);

        // Same through open(), and a journal whose generation file update
        // already happened (crash just before unlinking it) is harmless.
        fs::write(&journal, format::encode_journal(3, &[Op::DeleteAll])).unwrap();
        let again = Store::open(&tmp).unwrap();
        assert!(!journal.exists());
        let snap = again.load().unwrap();
        assert_eq!(snap.generation, 3);
        assert!(snap.objects.is_empty());
        assert_eq!(snap.meta.as_deref(), Some(&b"meta"[..]));
        fs::remove_dir_all(&tmp).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tokenemu-store-unit-{:016x}", new_uid()));
        fs::create_dir(&dir).unwrap();
        dir
    }
}
