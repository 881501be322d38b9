//! Single-process behaviour: round trips, atomic batches, generations,
//! corruption and foreign-directory detection, locking, recovery leftovers.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokenemu_store::{new_uid, Change, Store, StoreError};

fn put(uid: u64, data: &[u8]) -> Change {
    Change::PutObject {
        uid,
        data: data.to_vec(),
    }
}

/// The pack file holding `uid` (bucket = low byte of the uid).
fn obj_path(dir: &Path, uid: u64) -> std::path::PathBuf {
    dir.join("objects").join(format!("{:02x}.pack", uid & 0xff))
}

#[test]
fn new_store_is_empty_and_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/token");
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.dir(), dir);
    assert_eq!(store.generation().unwrap(), 0);
    let snap = store.load().unwrap();
    assert_eq!(snap.generation, 0);
    assert!(snap.meta.is_none());
    assert!(snap.objects.is_empty());
    assert!(dir.join("tokenemu-store").is_file());
    assert!(store.is_present().unwrap());
    // Reopening an existing store works and keeps the generation.
    drop(store);
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.generation().unwrap(), 0);
}

#[test]
fn round_trip_and_generations() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (a, b) = (new_uid(), new_uid());
    assert_ne!(a, 0);
    assert_ne!(a, b);
    let g1 = store
        .commit(vec![
            Change::PutMeta(b"meta-1".to_vec()),
            put(a, b"alpha"),
            put(b, &[0u8; 0]),
        ])
        .unwrap();
    assert_eq!(g1, 1);
    let snap = store.load().unwrap();
    assert_eq!(snap.generation, 1);
    assert_eq!(snap.meta.as_deref(), Some(&b"meta-1"[..]));
    assert_eq!(snap.objects[&a], b"alpha");
    assert_eq!(snap.objects[&b], b"");

    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let g2 = store
        .commit(vec![put(a, &big), Change::DeleteObject { uid: b }])
        .unwrap();
    assert!(g2 > g1);
    // Deleting a missing object is fine.
    let g3 = store
        .commit(vec![Change::DeleteObject { uid: 12345 }])
        .unwrap();
    assert!(g3 > g2);
    // Empty batch: no-op returning the current generation.
    assert_eq!(store.commit(vec![]).unwrap(), g3);
    assert_eq!(store.generation().unwrap(), g3);

    // A fresh handle (no cache) sees the same.
    let other = Store::open(tmp.path()).unwrap();
    let snap = other.load().unwrap();
    assert_eq!(snap.generation, g3);
    assert_eq!(snap.objects.len(), 1);
    assert_eq!(snap.objects[&a], big);
    assert_eq!(snap.meta.as_deref(), Some(&b"meta-1"[..]));
    assert_eq!(snap, store.load().unwrap());
}

#[test]
fn changes_apply_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store.commit(vec![put(1, b"one"), put(2, b"two")]).unwrap();
    store
        .commit(vec![
            put(3, b"three"),
            Change::DeleteAllObjects,
            put(4, b"four"),
            put(4, b"four-b"),
            put(5, b"five"),
            Change::DeleteObject { uid: 5 },
            Change::PutMeta(b"m1".to_vec()),
            Change::PutMeta(b"m2".to_vec()),
        ])
        .unwrap();
    for s in [
        store.load().unwrap(),
        Store::open(tmp.path()).unwrap().load().unwrap(),
    ] {
        assert_eq!(s.objects.keys().copied().collect::<Vec<_>>(), vec![4]);
        assert_eq!(s.objects[&4], b"four-b");
        assert_eq!(s.meta.as_deref(), Some(&b"m2"[..]));
    }
}

#[test]
fn wipe_keeps_marker_and_bumps_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store
        .commit(vec![
            Change::PutMeta(b"m".to_vec()),
            put(1, b"x"),
            put(2, b"y"),
        ])
        .unwrap();
    let before = store.generation().unwrap();
    store.wipe().unwrap();
    assert!(store.generation().unwrap() > before);
    let snap = Store::open(tmp.path()).unwrap().load().unwrap();
    assert!(snap.objects.is_empty());
    assert!(snap.meta.is_none());
    assert!(tmp.path().join("tokenemu-store").is_file());
    assert_eq!(fs::read_dir(tmp.path().join("objects")).unwrap().count(), 0);
}

#[test]
fn load_if_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let g = store.commit(vec![put(1, b"x")]).unwrap();
    assert!(store.load_if_changed(g).unwrap().is_none());
    let other = Store::open(tmp.path()).unwrap();
    let g2 = other.commit(vec![put(2, b"y")]).unwrap();
    let snap = store.load_if_changed(g).unwrap().expect("changed");
    assert_eq!(snap.generation, g2);
    assert_eq!(snap.objects.len(), 2);
    assert!(store.load_if_changed(g2).unwrap().is_none());
}

#[test]
fn two_handles_see_each_others_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let s1 = Store::open(tmp.path()).unwrap();
    let s2 = Store::open(tmp.path()).unwrap();
    // Warm both caches so that the incremental (history) path is exercised.
    s1.load().unwrap();
    s2.load().unwrap();
    for i in 0..50u64 {
        let (w, r) = if i % 2 == 0 { (&s1, &s2) } else { (&s2, &s1) };
        let g = w
            .commit(vec![
                put(i + 1, &i.to_le_bytes()),
                Change::DeleteObject { uid: i },
                Change::PutMeta(i.to_be_bytes().to_vec()),
            ])
            .unwrap();
        let snap = r.load().unwrap();
        assert_eq!(snap.generation, g);
        assert_eq!(snap.objects.len(), 1, "only the newest object survives");
        assert_eq!(snap.objects[&(i + 1)], i.to_le_bytes());
        assert_eq!(snap.meta, Some(i.to_be_bytes().to_vec()));
    }
    // DeleteAll from one handle (history reset path) is seen by the other.
    s1.commit(vec![Change::DeleteAllObjects, put(99, b"z")])
        .unwrap();
    let snap = s2.load().unwrap();
    assert_eq!(snap.objects.keys().copied().collect::<Vec<_>>(), vec![99]);
    assert_eq!(snap, s1.load().unwrap());
}

#[test]
fn many_threads_and_handles() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = Arc::new(Store::open(tmp.path()).unwrap());
    let mut handles = Vec::new();
    for t in 0..6u64 {
        let store = if t % 2 == 0 {
            Arc::clone(&shared)
        } else {
            Arc::new(Store::open(tmp.path()).unwrap())
        };
        handles.push(std::thread::spawn(move || {
            let mut last = 0;
            for i in 0..40u64 {
                let uid = (t << 32) | (i + 1);
                let g = store.commit(vec![put(uid, &uid.to_le_bytes())]).unwrap();
                assert!(g > last);
                last = g;
                let snap = store.load().unwrap();
                assert!(snap.generation >= g);
                assert_eq!(snap.objects[&uid], uid.to_le_bytes());
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let snap = Store::open(tmp.path()).unwrap().load().unwrap();
    assert_eq!(snap.objects.len(), 240);
    assert_eq!(snap.generation, 240);
    assert_eq!(shared.load().unwrap(), snap);
}

fn expect_corrupt(err: StoreError, path: &Path) -> String {
    match err {
        StoreError::Corrupt { path: p, reason } => {
            assert_eq!(p, path);
            let msg = StoreError::Corrupt {
                path: p,
                reason: reason.clone(),
            }
            .to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            reason
        }
        other => panic!("expected Corrupt for {}, got {other:?}", path.display()),
    }
}

#[test]
fn truncated_or_garbled_object_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store
        .commit(vec![put(7, b"precious key material"), put(8, b"other")])
        .unwrap();
    let path = obj_path(tmp.path(), 7);
    let good = fs::read(&path).unwrap();

    // Truncated.
    fs::write(&path, &good[..good.len() - 3]).unwrap();
    let reason = expect_corrupt(Store::open(tmp.path()).unwrap().load().unwrap_err(), &path);
    assert!(reason.contains("truncated"), "{reason}");
    // Truncated into the header.
    fs::write(&path, &good[..10]).unwrap();
    expect_corrupt(Store::open(tmp.path()).unwrap().load().unwrap_err(), &path);
    // Empty.
    fs::write(&path, b"").unwrap();
    expect_corrupt(Store::open(tmp.path()).unwrap().load().unwrap_err(), &path);
    // One flipped bit in the data.
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0x01;
    fs::write(&path, &bad).unwrap();
    let reason = expect_corrupt(Store::open(tmp.path()).unwrap().load().unwrap_err(), &path);
    assert!(reason.contains("checksum"), "{reason}");
    // Garbage.
    fs::write(&path, b"this is not an object file at all, nope").unwrap();
    expect_corrupt(Store::open(tmp.path()).unwrap().load().unwrap_err(), &path);
    // A valid pack of another bucket copied under this name.
    fs::copy(obj_path(tmp.path(), 8), &path).unwrap();
    let reason = expect_corrupt(Store::open(tmp.path()).unwrap().load().unwrap_err(), &path);
    assert!(reason.contains("bucket"), "{reason}");

    // The warm handle detects it too once the object is re-read.
    fs::write(&path, &good).unwrap();
    let warm = Store::open(tmp.path()).unwrap();
    warm.load().unwrap();
    store.commit(vec![put(7, b"new")]).unwrap();
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    expect_corrupt(warm.load().unwrap_err(), &path);

    // A commit touching the damaged pack fails cleanly (nothing journalled);
    // commits elsewhere still work; wipe() (token re-init) repairs the store.
    expect_corrupt(store.commit(vec![put(7, b"again")]).unwrap_err(), &path);
    assert!(!tmp.path().join("journal").exists());
    store.commit(vec![put(9, b"nine")]).unwrap();
    expect_corrupt(store.load().unwrap_err(), &path);
    store.wipe().unwrap();
    store.commit(vec![put(7, b"repaired")]).unwrap();
    assert_eq!(warm.load().unwrap().objects.len(), 1);
    assert_eq!(warm.load().unwrap().objects[&7], b"repaired");
}

#[test]
fn corrupt_meta_and_generation_are_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store
        .commit(vec![Change::PutMeta(b"meta".to_vec())])
        .unwrap();
    let meta = tmp.path().join("meta.bin");
    let good = fs::read(&meta).unwrap();
    fs::write(&meta, &good[..good.len() - 1]).unwrap();
    expect_corrupt(Store::open(tmp.path()).unwrap().load().unwrap_err(), &meta);
    fs::write(&meta, &good).unwrap();

    let gen = tmp.path().join("generation");
    fs::write(&gen, b"garbage!").unwrap();
    expect_corrupt(store.generation().unwrap_err(), &gen);
    expect_corrupt(store.load().unwrap_err(), &gen);
}

#[test]
fn foreign_directories_are_refused_and_untouched() {
    let tmp = tempfile::tempdir().unwrap();

    // Non-empty directory without marker.
    let d1 = tmp.path().join("someone-else");
    fs::create_dir(&d1).unwrap();
    fs::write(d1.join("token.object"), b"softhsm stuff").unwrap();
    match Store::open(&d1).unwrap_err() {
        StoreError::Foreign { path, reason } => {
            assert_eq!(path, d1);
            assert!(reason.contains("not empty"), "{reason}");
        }
        e => panic!("{e:?}"),
    }
    let names: Vec<_> = fs::read_dir(&d1)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("token.object")]);

    // Wrong magic in the marker.
    let d2 = tmp.path().join("wrong-magic");
    fs::create_dir(&d2).unwrap();
    fs::write(d2.join("tokenemu-store"), b"something else\n").unwrap();
    let err = Store::open(&d2).unwrap_err();
    assert!(
        matches!(&err, StoreError::Foreign { path, .. } if *path == d2.join("tokenemu-store")),
        "{err:?}"
    );
    assert!(err.to_string().contains("tokenemu-store"), "{err}");

    // A newer format version.
    let d3 = tmp.path().join("future");
    fs::create_dir(&d3).unwrap();
    fs::write(d3.join("tokenemu-store"), b"tokenemu-store\nformat 99\n").unwrap();
    let err = Store::open(&d3).unwrap_err();
    assert!(
        matches!(&err, StoreError::Foreign { reason, .. } if reason.contains("99")),
        "{err:?}"
    );

    // Garbled (binary) marker.
    let d4 = tmp.path().join("garbled");
    fs::create_dir(&d4).unwrap();
    fs::write(d4.join("tokenemu-store"), [0xffu8, 0, 1, 2]).unwrap();
    assert!(matches!(
        Store::open(&d4).unwrap_err(),
        StoreError::Foreign { .. }
    ));

    // A plain file where the directory should be.
    let f = tmp.path().join("a-file");
    fs::write(&f, b"x").unwrap();
    assert!(matches!(
        Store::open(&f).unwrap_err(),
        StoreError::Foreign { .. }
    ));

    // None of them got a lock file or any other store file.
    for d in [&d2, &d3, &d4] {
        assert_eq!(fs::read_dir(d).unwrap().count(), 1, "{}", d.display());
    }

    // An existing empty directory is adopted.
    let d5 = tmp.path().join("empty");
    fs::create_dir(&d5).unwrap();
    Store::open(&d5)
        .unwrap()
        .commit(vec![put(1, b"x")])
        .unwrap();
}

#[test]
fn lock_timeout_reports_locked() {
    use fs4::fs_std::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_with_lock_timeout(tmp.path(), Duration::from_millis(200)).unwrap();
    store.commit(vec![put(1, b"x")]).unwrap();
    let holder = fs::File::open(tmp.path().join("tokenemu.lock")).unwrap();
    FileExt::lock_exclusive(&holder).unwrap();
    let t0 = std::time::Instant::now();
    let err = store.commit(vec![put(2, b"y")]).unwrap_err();
    assert!(matches!(&err, StoreError::Locked { path } if path.ends_with("tokenemu.lock")));
    assert!(err.to_string().contains("tokenemu.lock"));
    assert!(matches!(
        store.load().unwrap_err(),
        StoreError::Locked { .. }
    ));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // Lock-free queries still work.
    assert_eq!(store.generation().unwrap(), 1);
    assert!(store.is_present().unwrap());
    FileExt::unlock(&holder).unwrap();
    // A shared holder blocks writers but not readers.
    FileExt::lock_shared(&holder).unwrap();
    assert_eq!(store.load().unwrap().objects.len(), 1);
    assert!(matches!(
        store.commit(vec![put(2, b"y")]).unwrap_err(),
        StoreError::Locked { .. }
    ));
    FileExt::unlock(&holder).unwrap();
    store.commit(vec![put(2, b"y")]).unwrap();
    assert_eq!(store.load().unwrap().objects.len(), 2);
}

#[test]
fn present_flag_is_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::open(tmp.path()).unwrap();
    let b = Store::open(tmp.path()).unwrap();
    assert!(a.is_present().unwrap());
    b.set_present(false).unwrap();
    assert!(!a.is_present().unwrap());
    b.set_present(false).unwrap();
    assert!(!a.is_present().unwrap());
    a.set_present(true).unwrap();
    assert!(b.is_present().unwrap());
    a.set_present(true).unwrap();
    assert!(b.is_present().unwrap());
    // The flag does not disturb data or the generation.
    assert_eq!(a.generation().unwrap(), 0);
}

#[test]
fn damaged_journal_and_temporaries_are_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store.commit(vec![put(1, b"one")]).unwrap();
    drop(store);
    // Leftovers of a writer that died while writing its journal.
    fs::write(tmp.path().join("journal"), b"TEJN half written").unwrap();
    fs::write(tmp.path().join("journal.tmp"), b"TEJN").unwrap();
    fs::write(
        obj_path(tmp.path(), 2).with_extension("pack.tmp"),
        b"partial",
    )
    .unwrap();
    fs::write(tmp.path().join("generation.tmp"), b"x").unwrap();

    let store = Store::open(tmp.path()).unwrap();
    let snap = store.load().unwrap();
    assert_eq!(snap.generation, 1);
    assert_eq!(snap.objects.len(), 1);
    let mut names: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "generation",
            "history",
            "objects",
            "tokenemu-store",
            "tokenemu.lock"
        ]
    );
    assert_eq!(fs::read_dir(tmp.path().join("objects")).unwrap().count(), 1);

    // A reader (not only open/commit) also recovers a journal left behind.
    fs::write(tmp.path().join("journal"), b"garbage").unwrap();
    assert_eq!(store.load().unwrap().generation, 1);
    assert!(!tmp.path().join("journal").exists());
    assert_eq!(store.commit(vec![put(3, b"three")]).unwrap(), 2);
}

#[test]
fn history_rotation_keeps_caches_correct() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = Store::open(tmp.path()).unwrap();
    let reader = Store::open(tmp.path()).unwrap();
    // Commits with big uid lists (cheap deletions of absent objects) push
    // the history past its size limit several times.
    let absent: Vec<u64> = (1_000_000..1_004_000).collect();
    for round in 0..20u8 {
        let mut changes: Vec<Change> = absent
            .iter()
            .map(|&uid| Change::DeleteObject { uid })
            .collect();
        changes.push(put(u64::from(round % 4) + 1, &[round]));
        changes.push(Change::DeleteObject {
            uid: u64::from(round % 4) + 2,
        });
        writer.commit(changes).unwrap();
        if round % 3 == 0 {
            assert_eq!(reader.load().unwrap(), writer.load().unwrap());
        }
    }
    let snap = reader.load().unwrap();
    assert_eq!(snap, writer.load().unwrap());
    assert_eq!(snap, Store::open(tmp.path()).unwrap().load().unwrap());
    assert!(!snap.objects.is_empty());
    assert!(fs::metadata(tmp.path().join("history")).unwrap().len() <= 256 * 1024 + 40_000);
}

#[test]
fn debug_output_hides_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store
        .commit(vec![
            Change::PutMeta(b"SECRET-META".to_vec()),
            put(1, b"SECRET-OBJ"),
        ])
        .unwrap();
    let snap = store.load().unwrap();
    let text = format!(
        "{snap:?} {store:?} {:?}",
        Change::PutObject {
            uid: 1,
            data: b"SECRET-OBJ".to_vec()
        }
    );
    assert!(!text.contains("SECRET"), "{text}");
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

/// Many handles racing to create one fresh store: none may call it foreign.
#[test]
fn concurrent_first_opens_all_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || tokenemu_store::Store::open(&p).map(|_| ()))
            })
            .collect();
        for t in threads {
            t.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
}
