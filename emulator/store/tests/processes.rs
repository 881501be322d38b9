//! Multi-process tests. Child processes are this same test binary re-executed
//! with `TOKENEMU_STORE_CHILD` set, running only the `child_entry` test.
//!
//! * `crash_test_sigkill_at_random_moments`: a child commits batches in a
//!   loop and reports each commit after `commit` returned; the parent
//!   SIGKILLs it at random moments (also during start-up / recovery) while it
//!   reads the store concurrently, then reopens and checks that everything
//!   reported is there, nothing is half-applied and no file is corrupt.
//! * `four_processes_commit_concurrently`: 4 children × 250 commits.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokenemu_store::{new_uid, Change, Snapshot, Store};

const CHILD_ENV: &str = "TOKENEMU_STORE_CHILD";
const DIR_ENV: &str = "TOKENEMU_STORE_DIR";

fn child_command(mode: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env(DIR_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// Not a test of its own: the body of the child processes (a no-op when run
/// normally).
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("dir"));
    match mode.as_str() {
        "crash" => crash_child(&dir),
        "writer" => writer_child(&dir),
        other => panic!("unknown child mode {other}"),
    }
}

// ---------------------------------------------------------------------------
// Self-describing payloads
// ---------------------------------------------------------------------------

/// Object payload: `gen u64 | n u8 | n × uid u64 | filler`, where the uids are
/// all objects put by the same commit and the filler is derived from the uid.
fn object_data(uid: u64, generation: u64, group: &[u64]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&generation.to_le_bytes());
    d.push(group.len() as u8);
    for u in group {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d.extend(filler(uid));
    d
}

fn filler(uid: u64) -> impl Iterator<Item = u8> {
    let len = (uid % 3000) as usize;
    (0..len).map(move |i| (uid.wrapping_mul(i as u64 + 7) >> 56) as u8)
}

/// Meta payload: `gen u64 | n u8 | n × uid u64` of the latest commit.
fn meta_data(generation: u64, group: &[u64]) -> Vec<u8> {
    let mut d = generation.to_le_bytes().to_vec();
    d.push(group.len() as u8);
    for u in group {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d
}

/// Parses `gen | n | uids` from the front of a payload.
fn parse_group(d: &[u8]) -> (u64, Vec<u64>, &[u8]) {
    let generation = u64::from_le_bytes(d[..8].try_into().unwrap());
    let n = d[8] as usize;
    let uids = (0..n)
        .map(|i| u64::from_le_bytes(d[9 + 8 * i..17 + 8 * i].try_into().unwrap()))
        .collect();
    (generation, uids, &d[9 + 8 * n..])
}

/// What the parent learned from the child's output.
#[derive(Default)]
struct Knowledge {
    /// uid → generation of the commit that reported it.
    committed: BTreeMap<u64, u64>,
    /// uids whose deletion was announced (maybe committed).
    maybe_deleted: BTreeSet<u64>,
    /// uids whose deletion commit was reported.
    deleted: BTreeSet<u64>,
    last_generation: u64,
    ok_lines: usize,
    log: Vec<String>,
    dir: PathBuf,
}

impl Knowledge {
    fn absorb(&mut self, line: &str) {
        self.log.push(line.to_owned());
        // libtest may print "test child_entry ... " in front of the first line.
        let Some(start) = line.find("@@") else {
            return;
        };
        let words: Vec<&str> = line[start + 2..].split(' ').collect();
        match words.as_slice() {
            ["INTENT-DEL", uid, "END"] => {
                self.maybe_deleted.insert(uid.parse().unwrap());
            }
            ["OK", generation, puts, del, "END"] => {
                let generation: u64 = generation.parse().unwrap();
                assert!(
                    generation > self.last_generation,
                    "generation went from {} to {generation}",
                    self.last_generation
                );
                self.last_generation = generation;
                for u in puts.split(',') {
                    self.committed.insert(u.parse().unwrap(), generation);
                }
                if *del != "-" {
                    self.deleted.insert(del.parse().unwrap());
                }
                self.ok_lines += 1;
            }
            _ => {} // libtest chatter, or a line cut short by the kill
        }
    }
}

/// Checks the invariants that every consistent snapshot satisfies, whatever
/// the child has or has not reported yet.
fn check_consistent(snap: &Snapshot) {
    let mut max_obj_gen = 0;
    for (&uid, data) in &snap.objects {
        let (generation, group, rest) = parse_group(data);
        assert!(
            group.contains(&uid),
            "object {uid:016x} not in its own group"
        );
        assert!(
            rest.iter().copied().eq(filler(uid)),
            "object {uid:016x} content"
        );
        max_obj_gen = max_obj_gen.max(generation);
    }
    if snap.generation == 0 {
        assert!(snap.objects.is_empty() && snap.meta.is_none());
        return;
    }
    // Every commit rewrites the meta with its own generation and group:
    // the meta must belong to the snapshot's generation, no object may be
    // newer than it, and the whole group of the last commit must be present.
    let meta = snap.meta.as_ref().expect("meta after first commit");
    let (meta_gen, group, rest) = parse_group(meta);
    assert!(rest.is_empty());
    assert_eq!(meta_gen, snap.generation, "meta generation");
    assert!(
        max_obj_gen <= meta_gen,
        "object newer than meta: half-applied"
    );
    for u in &group {
        assert!(
            snap.objects.contains_key(u),
            "last commit's object {u:016x} missing: half-applied"
        );
    }
}

/// Full check after the child is dead and all its output has been read.
fn check_against_knowledge(snap: &Snapshot, k: &Knowledge) {
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_against_knowledge_inner(snap, k)
    }));
    if let Err(panic) = checked {
        // Diagnostics: what the child said about the uids in the message.
        let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        for word in msg.split(' ').filter(|w| w.len() == 16) {
            if let Ok(uid) = u64::from_str_radix(word, 16) {
                let file = k.dir.join("objects").join(format!("{word}.obj"));
                eprintln!("uid {word}: file exists: {}", file.exists());
                let needle = uid.to_string();
                for line in k.log.iter().filter(|l| l.contains(&needle)) {
                    eprintln!("    child said: {line}");
                }
            }
        }
        std::panic::resume_unwind(panic);
    }
}

fn check_against_knowledge_inner(snap: &Snapshot, k: &Knowledge) {
    check_consistent(snap);
    assert!(
        snap.generation >= k.last_generation,
        "generation {} < reported {}",
        snap.generation,
        k.last_generation
    );
    for (&uid, &generation) in &k.committed {
        if k.maybe_deleted.contains(&uid) {
            continue;
        }
        let data = snap.objects.get(&uid).unwrap_or_else(|| {
            panic!(
                "committed object {uid:016x} (gen {generation}) lost from snapshot at gen {} \
                     (reported {})",
                snap.generation, k.last_generation
            )
        });
        let (obj_gen, group, _) = parse_group(data);
        assert_eq!(obj_gen, generation);
        for u in group {
            assert!(
                snap.objects.contains_key(&u) || k.maybe_deleted.contains(&u),
                "group member {u:016x} of {uid:016x} (gen {generation}) missing; \
                 committed as {:?}, snapshot generation {}, reported {}",
                k.committed.get(&u),
                snap.generation,
                k.last_generation
            );
        }
    }
    for uid in &k.deleted {
        assert!(
            !snap.objects.contains_key(uid),
            "deleted {uid:016x} is back"
        );
    }
}

fn check_files_clean(dir: &Path) {
    for d in [dir.to_path_buf(), dir.join("objects")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !name.ends_with(".tmp") && name != "journal",
                "leftover {name} after recovery"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Crash test
// ---------------------------------------------------------------------------

fn crash_child(dir: &Path) {
    let store = Store::open(dir).unwrap();
    let snap = store.load().unwrap();
    let mut generation = snap.generation;
    let mut existing: Vec<u64> = snap.objects.keys().copied().collect();
    let mut rng = new_uid();
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    loop {
        let expected = generation + 1;
        let group: Vec<u64> = (0..1 + next() % 4).map(|_| new_uid()).collect();
        let mut changes: Vec<Change> = group
            .iter()
            .map(|&uid| Change::PutObject {
                uid,
                data: object_data(uid, expected, &group),
            })
            .collect();
        changes.push(Change::PutMeta(meta_data(expected, &group)));
        let mut del = None;
        if existing.len() > 20 && next() % 4 == 0 {
            let uid = existing.swap_remove((next() % existing.len() as u64) as usize);
            println!("@@INTENT-DEL {uid} END");
            changes.insert((next() % 3) as usize, Change::DeleteObject { uid });
            del = Some(uid);
        }
        generation = store.commit(changes).unwrap();
        assert_eq!(generation, expected, "single writer: generation + 1");
        let puts: Vec<String> = group.iter().map(u64::to_string).collect();
        println!(
            "@@OK {generation} {} {} END",
            puts.join(","),
            del.map_or("-".to_owned(), |d| d.to_string())
        );
        existing.extend(&group);
    }
}

#[test]
fn crash_test_sigkill_at_random_moments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("token");
    let mut k = Knowledge {
        dir: dir.clone(),
        ..Default::default()
    };
    let mut rng = new_uid() | 1;
    let mut rand_below = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let reader = Store::open(&dir).unwrap();
    let (mut kills, mut live_loads, mut early_kills) = (0, 0, 0);
    let (mut decided_pending, mut undecided_pending) = (0, 0);
    let started = Instant::now();
    while (kills < 20 || k.ok_lines < 1000) && kills < 200 {
        let mut child = child_command("crash", &dir).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let pump = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Every 5th run is killed early (during start-up, open/recovery or
        // its first commits); the others after a random number of commits.
        let early = kills % 5 == 4;
        let kill_at = if early {
            early_kills += 1;
            Instant::now() + Duration::from_millis(rand_below(40))
        } else {
            Instant::now() + Duration::from_secs(60)
        };
        let target_commits = k.ok_lines + 1 + rand_below(90) as usize;
        loop {
            while let Ok(line) = rx.try_recv() {
                k.absorb(&line);
            }
            if Instant::now() >= kill_at || (!early && k.ok_lines >= target_commits) {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("crash child exited by itself: {status}");
            }
            // Read concurrently with the writer: never a half-applied view.
            let snap = reader.load().unwrap();
            check_consistent(&snap);
            live_loads += 1;
            // Jitter between reads so the kill lands at arbitrary instants.
            std::thread::sleep(Duration::from_micros(rand_below(3000)));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        pump.join().unwrap();
        for line in rx.try_iter() {
            k.absorb(&line);
        }
        kills += 1;
        // Did the kill interrupt a commit? (for the report)
        if dir.join("journal").exists() {
            decided_pending += 1;
        } else if dir.join("journal.tmp").exists() {
            undecided_pending += 1;
        }

        // The already-open reader recovers the dead writer's journal ...
        check_against_knowledge(&reader.load().unwrap(), &k);
        // ... and so does a fresh open.
        let fresh = Store::open(&dir).unwrap();
        let snap = fresh.load().unwrap();
        check_against_knowledge(&snap, &k);
        check_files_clean(&dir);
    }
    let snap = Store::open(&dir).unwrap().load().unwrap();
    check_against_knowledge(&snap, &k);
    eprintln!(
        "crash test: {kills} SIGKILLs ({early_kills} early; {decided_pending} left a journal to \
         replay, {undecided_pending} an unfinished journal to discard), {} reported commits, \
         final generation {}, {} objects, {} deletions reported, {live_loads} concurrent loads, {:.1?}",
        k.ok_lines,
        snap.generation,
        snap.objects.len(),
        k.deleted.len(),
        started.elapsed()
    );
    assert!(kills >= 20);
    assert!(
        decided_pending + undecided_pending > 0,
        "no kill landed inside a commit"
    );
    assert!(k.ok_lines >= 1000);
}

// ---------------------------------------------------------------------------
// Concurrent writers
// ---------------------------------------------------------------------------

const WRITER_COMMITS: usize = 250;

fn writer_payload(uid: u64) -> Vec<u8> {
    let mut d = uid.to_le_bytes().to_vec();
    d.extend(filler(uid).take(200));
    d
}

fn writer_child(dir: &Path) {
    let store = Store::open(dir).unwrap();
    let mut last = 0;
    for i in 0..WRITER_COMMITS {
        let uid = new_uid();
        let g = store
            .commit(vec![Change::PutObject {
                uid,
                data: writer_payload(uid),
            }])
            .unwrap();
        assert!(g > last);
        last = g;
        if i % 50 == 0 {
            let snap = store.load().unwrap();
            assert!(snap.generation >= g);
            assert_eq!(snap.objects[&uid], writer_payload(uid));
        }
    }
    println!("DONE END");
}

#[test]
fn four_processes_commit_concurrently() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("token");
    // The children race to initialise the store themselves.
    let t0 = Instant::now();
    let children: Vec<_> = (0..4)
        .map(|_| child_command("writer", &dir).spawn().unwrap())
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "writer failed: {}", out.status);
        assert!(String::from_utf8_lossy(&out.stdout).contains("DONE END"));
    }
    let elapsed = t0.elapsed();
    let snap = Store::open(&dir).unwrap().load().unwrap();
    assert_eq!(snap.objects.len(), 4 * WRITER_COMMITS);
    assert_eq!(snap.generation, (4 * WRITER_COMMITS) as u64);
    for (&uid, data) in &snap.objects {
        assert_eq!(*data, writer_payload(uid));
    }
    eprintln!(
        "4 processes x {WRITER_COMMITS} commits: {elapsed:.1?} ({:.0} commits/s under contention)",
        (4 * WRITER_COMMITS) as f64 / elapsed.as_secs_f64()
    );
}
