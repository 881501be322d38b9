//! Write faults on a real file system: a full disk (`ENOSPC` on a small
//! tmpfs) and a read-only one (`EROFS`, a remounted tmpfs). Mounting needs
//! root; elsewhere these tests skip loudly (fail with
//! `TOKENEMU_REQUIRE_TOOLS=1`).
//!
//! * `full_disk_fails_the_commit_and_changes_nothing`: one process, space
//!   for the journal but not for the rewritten pack — the commit must fail
//!   as storage-full with the store (and its free space) as before, and
//!   succeed once space is back.
//! * `full_disk_with_several_writer_processes`: four processes commit and
//!   delete on a 1 MiB tmpfs for several rounds; every commit that
//!   returned `Ok` is found, none that failed is, no file is corrupt and no
//!   temporary is left.
//! * `read_only_file_system_reads_and_refuses_changes`.
//!
//! Child processes are this test binary re-executed with `CHILD_ENV` set.

#[path = "../../../tests/tools/mod.rs"]
mod tools;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokenemu_store::{new_uid, Change, Store, StoreError};
use tools::mount::Tmpfs;

const CHILD_ENV: &str = "TOKENEMU_STORE_FAULT_CHILD";
const DIR_ENV: &str = "TOKENEMU_STORE_DIR";

/// Object contents: `uid u64 | version u32 | filler`, the filler derived
/// from both, so a stale or torn object cannot pass for the expected one.
fn payload(uid: u64, version: u32, len: usize) -> Vec<u8> {
    let mut d = uid.to_le_bytes().to_vec();
    d.extend_from_slice(&version.to_le_bytes());
    let seed = uid ^ u64::from(version).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    d.extend((0..len).map(|i| (seed.wrapping_mul(i as u64 + 3) >> 56) as u8));
    d
}

/// Fills the file system under `dir` with a ballast file, then frees
/// `keep` bytes of it: afterwards about `keep` bytes are free.
fn fill_leaving(dir: &Path, keep: u64) -> File {
    let path = dir.join("ballast");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .unwrap();
    let chunk = vec![0xa5u8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let len = f.metadata().unwrap().len();
    assert!(len > keep, "the tmpfs is smaller than the space to keep");
    f.set_len(len - keep).unwrap();
    f
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for d in [dir.to_path_buf(), dir.join("objects")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") || name == "journal" {
                v.push(name);
            }
        }
    }
    v
}

fn free_bytes(dir: &Path) -> u64 {
    fs4::available_space(dir).unwrap()
}

#[test]
fn full_disk_fails_the_commit_and_changes_nothing() {
    let Some(fs) = Tmpfs::mount(512) else { return };
    let dir = fs.path().join("token");
    let store = Store::open(&dir).unwrap();
    // Two objects in one bucket, so that changing one rewrites a pack that
    // is larger than the journal of the change.
    let (a, b) = (0x1000_0000_0000_0042_u64, 0x2000_0000_0000_0042_u64);
    store
        .commit(vec![
            Change::PutObject {
                uid: a,
                data: payload(a, 1, 60_000),
            },
            Change::PutObject {
                uid: b,
                data: payload(b, 1, 60_000),
            },
        ])
        .unwrap();
    let before = store.load().unwrap();
    // Room for the journal of the change (~20 KB) but not for the pack it
    // rewrites as well (~80 KB).
    let ballast = fill_leaving(fs.path(), 48 * 1024);
    let free_before = free_bytes(fs.path());
    let err = store
        .commit(vec![Change::PutObject {
            uid: a,
            data: payload(a, 2, 20_000),
        }])
        .expect_err("the disk is full");
    assert!(err.is_storage_full(), "{err}");
    assert_eq!(
        store.load().unwrap(),
        before,
        "the failed commit left a trace"
    );
    let fresh = Store::open(&dir).unwrap().load().unwrap();
    assert_eq!(fresh, before, "the failed commit left a trace on disk");
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    assert_eq!(
        free_bytes(fs.path()),
        free_before,
        "the failed commit kept space"
    );

    // Space back: the same commit works. Truncated rather than removed: a
    // child being spawned by a concurrent test may hold a copy of the
    // descriptor until it execs, which would keep a removed file's space.
    ballast.set_len(0).unwrap();
    let g = store
        .commit(vec![Change::PutObject {
            uid: a,
            data: payload(a, 2, 20_000),
        }])
        .unwrap();
    assert_eq!(g, before.generation + 1);
    let after = Store::open(&dir).unwrap().load().unwrap();
    assert_eq!(after.objects[&a], payload(a, 2, 20_000));
    assert_eq!(after.objects[&b], payload(b, 1, 60_000));
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// Several writer processes on a full disk
// ---------------------------------------------------------------------------

const WRITERS: u64 = 4;
const ROUNDS: u64 = 4;
const OPS_PER_WRITER: usize = 120;

/// Not a test of its own: the body of the child processes.
#[test]
fn child_entry() {
    let Ok(tag) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("dir"));
    writer_child(&dir, tag.parse().expect("writer tag"));
}

/// Puts, replaces and deletes objects whose uids start with `tag`; prints
/// `FULL` for each commit refused for lack of space and, at the end, the
/// objects it expects the store to hold for it. Checks after every refused
/// commit that its own objects are exactly as before.
fn writer_child(dir: &Path, tag: u64) {
    let store = Store::open(dir).unwrap();
    let mut mine: BTreeMap<u64, (u32, usize)> = BTreeMap::new();
    let mut rng = new_uid() | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut full, mut ok_after_full, mut last_full) = (0, 0, false);
    for _ in 0..OPS_PER_WRITER {
        let mut planned: Vec<(u64, Option<(u32, usize)>)> = Vec::new();
        let roll = next() % 100;
        if roll < 55 || mine.is_empty() {
            for _ in 0..1 + next() % 3 {
                let uid = (tag << 48) | (new_uid() & 0xffff_ffff_ffff);
                planned.push((uid, Some((1, 2_000 + (next() % 40_000) as usize))));
            }
        } else {
            let keys: Vec<u64> = mine.keys().copied().collect();
            let uid = keys[(next() % keys.len() as u64) as usize];
            if roll < 75 {
                let version = mine[&uid].0 + 1;
                planned.push((uid, Some((version, 2_000 + (next() % 40_000) as usize))));
            } else {
                planned.push((uid, None));
            }
        }
        let changes = planned
            .iter()
            .map(|&(uid, what)| match what {
                Some((version, len)) => Change::PutObject {
                    uid,
                    data: payload(uid, version, len),
                },
                None => Change::DeleteObject { uid },
            })
            .collect();
        match store.commit(changes) {
            Ok(_) => {
                for (uid, what) in planned {
                    match what {
                        Some(v) => mine.insert(uid, v),
                        None => mine.remove(&uid),
                    };
                }
                ok_after_full += usize::from(last_full);
                last_full = false;
            }
            Err(e) if e.is_storage_full() => {
                full += 1;
                last_full = true;
                println!("FULL");
                let snap = store.load().unwrap();
                let seen: BTreeMap<u64, Vec<u8>> = snap
                    .objects
                    .into_iter()
                    .filter(|(uid, _)| uid >> 48 == tag)
                    .collect();
                let expected: BTreeMap<u64, Vec<u8>> = mine
                    .iter()
                    .map(|(&uid, &(v, len))| (uid, payload(uid, v, len)))
                    .collect();
                assert!(
                    seen == expected,
                    "writer {tag:x}: a refused commit changed the store"
                );
            }
            Err(e) => panic!("writer {tag:x}: unexpected error {e}"),
        }
    }
    for (uid, (version, len)) in &mine {
        println!("OBJ {uid} {version} {len}");
    }
    println!("STATS {full} {ok_after_full}");
    println!("DONE");
}

#[test]
fn full_disk_with_several_writer_processes() {
    let Some(fs) = Tmpfs::mount(1024) else { return };
    let dir = fs.path().join("token");
    Store::open(&dir).unwrap();
    let (mut full, mut ok_after_full) = (0u64, 0u64);
    for round in 0..ROUNDS {
        let children: Vec<_> = (0..WRITERS)
            .map(|w| {
                Command::new(std::env::current_exe().unwrap())
                    .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
                    .env(CHILD_ENV, (0x100 + round * WRITERS + w).to_string())
                    .env(DIR_ENV, &dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut expected = BTreeMap::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("DONE"),
                "a writer failed ({})",
                out.status
            );
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                match f.as_slice() {
                    ["OBJ", uid, version, len] => {
                        let uid: u64 = uid.parse().unwrap();
                        let data = payload(uid, version.parse().unwrap(), len.parse().unwrap());
                        expected.insert(uid, data);
                    }
                    ["STATS", f, o] => {
                        full += f.parse::<u64>().unwrap();
                        ok_after_full += o.parse::<u64>().unwrap();
                    }
                    _ => {}
                }
            }
        }
        // Every committed object is there, nothing else; every file decodes.
        let snap = Store::open(&dir).unwrap().load().unwrap();
        assert_eq!(snap.objects.len(), expected.len(), "round {round}");
        assert!(
            snap.objects == expected,
            "round {round}: store differs from the commits that succeeded"
        );
        assert_eq!(leftovers(&dir), Vec::<String>::new(), "round {round}");
        // Space back for the next round.
        Store::open(&dir)
            .unwrap()
            .commit(vec![Change::DeleteAllObjects])
            .unwrap();
    }
    eprintln!(
        "{} commits tried, {full} refused for lack of space, {ok_after_full} succeeded right after one",
        ROUNDS * WRITERS * OPS_PER_WRITER as u64
    );
    assert!(
        full > 0,
        "the tmpfs never filled up: the test proves nothing"
    );
    assert!(ok_after_full > 0, "no commit succeeded after a refused one");
}

// ---------------------------------------------------------------------------
// Read-only file system
// ---------------------------------------------------------------------------

#[test]
fn read_only_file_system_reads_and_refuses_changes() {
    let Some(fs) = Tmpfs::mount(512) else { return };
    let dir = fs.path().join("token");
    let empty = fs.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let store = Store::open(&dir).unwrap();
    store
        .commit(vec![Change::PutMeta(b"meta".to_vec())])
        .unwrap();
    store
        .commit(vec![Change::PutObject {
            uid: 7,
            data: b"seven".to_vec(),
        }])
        .unwrap();
    let before = store.load().unwrap();
    drop(store);
    fs.remount_read_only();

    let ro = Store::open(&dir).expect("a complete store opens read-only");
    assert!(ro.is_read_only());
    assert_eq!(ro.load().unwrap(), before);
    let refused = |r: Result<u64, StoreError>| match r {
        Err(StoreError::ReadOnly { .. }) => {}
        other => panic!("expected ReadOnly, got {other:?}"),
    };
    refused(ro.commit(vec![Change::DeleteObject { uid: 7 }]));
    refused(ro.wipe().map(|()| 0));
    refused(ro.set_present(false).map(|()| 0));
    ro.set_present(true).expect("no change asked for");
    assert!(ro.is_present().unwrap());
    // A directory that would first need a store written into it.
    match Store::open(&empty) {
        Err(StoreError::ReadOnly { .. }) => {}
        other => panic!("expected ReadOnly for an empty directory, got {other:?}"),
    }
    match Store::open(&fs.path().join("missing")) {
        Err(StoreError::Io { .. }) => {}
        other => panic!("expected an I/O error creating a store, got {other:?}"),
    }
    drop(ro);

    fs.remount_read_write();
    let rw = Store::open(&dir).unwrap();
    assert!(!rw.is_read_only());
    rw.commit(vec![Change::DeleteObject { uid: 7 }]).unwrap();
}
