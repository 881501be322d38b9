//! Performance figures (printed with `--nocapture`) with generous bounds so
//! that a loaded CI machine does not flake. Budget from the brief: loading
//! 10,000 small objects well under 100 ms.

use std::time::{Duration, Instant};

use tokenemu_store::{Change, Store};

const N: u64 = 10_000;

fn payload(uid: u64) -> Vec<u8> {
    // "Small" PKCS#11 objects: 200..700 bytes of attributes.
    (0..200 + uid % 500).map(|i| (uid ^ i) as u8).collect()
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.unwrap())
}

#[test]
fn ten_thousand_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();

    let t = Instant::now();
    for chunk in (1..=N).collect::<Vec<_>>().chunks(1000) {
        let changes = chunk
            .iter()
            .map(|&uid| Change::PutObject {
                uid,
                data: payload(uid),
            })
            .collect();
        store.commit(changes).unwrap();
    }
    let bulk = t.elapsed();

    // Cold: a new handle (as in a freshly started process) reads every file.
    let (cold, snap) = best_of(3, || Store::open(tmp.path()).unwrap().load().unwrap());
    assert_eq!(snap.objects.len(), N as usize);
    assert!(snap.objects.iter().all(|(&u, d)| *d == payload(u)));
    // Warm: nothing changed, served from the in-memory cache.
    let (warm, _) = best_of(5, || store.load().unwrap());
    // Unchanged: what the core does on every call.
    let (unchanged, none) = best_of(5, || store.load_if_changed(snap.generation).unwrap());
    assert!(none.is_none());
    let (generation, _) = best_of(100, || store.generation().unwrap());

    // Another handle commits one object; this one catches up incrementally.
    let other = Store::open(tmp.path()).unwrap();
    let mut incr = Duration::MAX;
    for i in 0..5u64 {
        other
            .commit(vec![Change::PutObject {
                uid: i + 1,
                data: b"changed".to_vec(),
            }])
            .unwrap();
        let t = Instant::now();
        let s = store.load().unwrap();
        incr = incr.min(t.elapsed());
        assert_eq!(s.objects[&(i + 1)], b"changed");
    }

    // Single-object commit rate (each one fully durable).
    let t = Instant::now();
    let commits = 100u64;
    for i in 0..commits {
        store
            .commit(vec![Change::PutObject {
                uid: N + 1 + i,
                data: payload(i),
            }])
            .unwrap();
    }
    let per_commit = t.elapsed() / commits as u32;

    eprintln!(
        "10k objects: bulk insert {bulk:.1?} (10 commits of 1000); load cold {cold:.1?}, \
         warm {warm:.2?}, load_if_changed(unchanged) {unchanged:.1?}, after 1 foreign commit {incr:.2?}; \
         generation() {generation:.1?}; single-object commit {per_commit:.2?} ({:.0}/s)",
        1.0 / per_commit.as_secs_f64()
    );
    assert!(cold < Duration::from_millis(1000), "cold load {cold:?}");
    assert!(warm < Duration::from_millis(100), "warm load {warm:?}");
    assert!(
        incr < Duration::from_millis(100),
        "incremental load {incr:?}"
    );
    assert!(unchanged < Duration::from_millis(5), "{unchanged:?}");
    assert!(generation < Duration::from_millis(5), "{generation:?}");
}
