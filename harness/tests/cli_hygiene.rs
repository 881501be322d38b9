//! The command line behaves on a closed stdout, on Ctrl-C during a run, and
//! with an output directory an earlier run filled (issue 14, item 5).

mod support {
    pub mod cli_env;
}

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serial_test::serial;
use support::cli_env::Env;

const BIN: &str = env!("CARGO_BIN_EXE_tokenemu");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The emulator module the runs load: `$TOKENEMU_MODULE`, else the one next
/// to the binary (`cargo build -p tokenemu-pkcs11` builds it).
fn emulator() -> PathBuf {
    if let Some(m) = std::env::var_os("TOKENEMU_MODULE").filter(|v| !v.is_empty()) {
        return PathBuf::from(m);
    }
    let p = Path::new(BIN).parent().unwrap().join("libtokenemu.so");
    assert!(
        p.exists(),
        "{} missing: run `cargo build -p tokenemu-pkcs11` (scripts/test does)",
        p.display()
    );
    p
}

fn scenario_file(prefix: &str) -> PathBuf {
    std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with(prefix)
                && p.extension().is_some_and(|x| x == "toml")
        })
        .unwrap()
}

/// A pipe whose read end is already closed: every write to the other end
/// fails with EPIPE, as when `head -1` has exited.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: pipe(2) succeeded, so both are open descriptors this function
    // owns; each is wrapped exactly once.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

/// Runs `tokenemu args` with stdout on a pipe nobody reads any more.
fn with_closed_stdout(mut cmd: Command) -> Output {
    cmd.stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .env_remove("TOKENEMU_LOG")
        .output()
        .unwrap()
}

fn assert_quiet_sigpipe_exit(what: &str, o: &Output) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(!err.contains("Broken pipe"), "{what}: {err}");
    assert_eq!(
        o.status.code(),
        Some(tokenemu_harness::BROKEN_PIPE_EXIT),
        "{what}: {:?}\n{err}",
        o.status
    );
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let env = Env::new();
    let module = emulator();
    let mut list = Command::new(BIN);
    list.args(["list", "--module"]).arg(&module);
    assert_quiet_sigpipe_exit("list", &with_closed_stdout(list));

    for args in [
        vec!["token", "list"],
        vec!["token", "list", "--json"],
        vec!["token", "fault", "--slot", "0", "--list"],
        vec!["conformance", "--list"],
    ] {
        let mut c = Command::new(BIN);
        c.args(&args).env("TOKENEMU_CONF", &env.conf);
        assert_quiet_sigpipe_exit(&args.join(" "), &with_closed_stdout(c));
    }

    let mut dump = Command::new(BIN);
    dump.args(["token", "dump", "--slot", "0", "--pin-env", "TEST_PIN"])
        .env("TOKENEMU_CONF", &env.conf)
        .env("TEST_PIN", "1234567890");
    assert_quiet_sigpipe_exit("token dump", &with_closed_stdout(dump));

    // `tokenemu trace` writes through its own writer: the same exit.
    let trace = env.dir.path().join("trace.jsonl");
    std::fs::write(
        &trace,
        "{\"ts_us\":1,\"pid\":1,\"tid\":1,\"function\":\"C_Login\",\"rv\":\"CKR_OK\",\"us\":1}\n",
    )
    .unwrap();
    let mut t = Command::new(BIN);
    t.arg("trace").arg(&trace);
    assert_quiet_sigpipe_exit("trace", &with_closed_stdout(t));
}

/// `tokenemu list | head -1` as a shell runs it: one line, no panic.
#[test]
fn list_piped_into_head_prints_one_line_without_a_panic() {
    let o = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" list --module \"$1\" | head -1")
        .arg(BIN)
        .arg(emulator())
        .env_remove("TOKENEMU_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
}

#[test]
#[serial]
fn a_run_with_a_closed_stdout_still_writes_its_reports() {
    let out = tempfile::tempdir().unwrap();
    let mut c = Command::new(BIN);
    c.args(["run", "--profile", "javatoken", "--out"])
        .arg(out.path())
        .arg(scenario_file("002"))
        .env("TOKENEMU_MODULE", emulator())
        .env_remove("TOKENEMU_CONF");
    let o = with_closed_stdout(c);
    assert_quiet_sigpipe_exit("run", &o);
    assert!(out.path().join("report.json").exists());
    assert!(out.path().join("junit.xml").exists());
}

/// Ctrl-C during `tokenemu run`: the step in progress ends, the rest are
/// skipped, the temporary token store is removed and both reports are
/// written, marked interrupted. To interrupt at a known point, the
/// scenario's provisioning file is a FIFO: the run blocks reading it until
/// the test has sent SIGINT and seen the run acknowledge it.
#[test]
#[serial]
fn ctrl_c_during_a_run_cleans_up_and_writes_interrupted_reports() {
    let work = tempfile::tempdir().unwrap();
    let provision = work.path().join("fixtures/provision");
    std::fs::create_dir_all(&provision).unwrap();
    let fifo = provision.join("kisc-gost-rsa-fresh.toml");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let content =
        std::fs::read(root().join("fixtures/provision/kisc-gost-rsa-fresh.toml")).unwrap();
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = work.path().join("out");

    let mut child = Command::new(BIN)
        .args(["run", "--profile", "javatoken", "--out"])
        .arg(&out)
        .arg(scenario_file("002"))
        .current_dir(work.path())
        .env("TOKENEMU_MODULE", emulator())
        .env("TMPDIR", &tmp)
        .env_remove("TOKENEMU_CONF")
        .env_remove("TOKENEMU_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });

    // Wait for the run to open the FIFO for reading (O_NONBLOCK: opening
    // for writing fails with ENXIO while there is no reader).
    let mut writer = loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "the run ended ({st}) before reading its provisioning file: {}",
                reader.join().unwrap()
            );
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
        {
            Ok(w) => break w,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("{}: {e}", fifo.display()),
        }
    };
    // The run is set up (its temporary token store exists) and blocked
    // reading the provisioning file.
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 1);
    // SAFETY: kill(2) on the child's pid; no memory is involved.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
    let acknowledged = rx.iter().any(|l| l == tokenemu_harness::interrupt::NOTICE);
    // Later reads of the provisioning directory get a plain file; the run's
    // open FIFO gets the content now.
    let plain = work.path().join("provision.toml");
    std::fs::write(&plain, &content).unwrap();
    std::fs::rename(&plain, &fifo).unwrap();
    let _ = writer.write_all(&content);
    drop(writer);
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(
        acknowledged,
        "the run did not acknowledge Ctrl-C ({status}): {err}"
    );
    assert_eq!(
        status.code(),
        Some(tokenemu_harness::INTERRUPTED_EXIT),
        "{status:?}\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("tokenemu: error: interrupted (Ctrl-C)"),
        "{err}"
    );

    // The temporary token store is gone.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    // Both reports say the run was interrupted; no step after it ran.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["interrupted"], true);
    let steps = json["scenarios"][0]["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    for s in steps {
        assert_eq!(s["status"], "skipped", "{s}");
        assert!(s["reason"].as_str().unwrap().contains("interrupted"), "{s}");
    }
    let xml = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(xml.contains("<testsuite name=\"interrupted\""), "{xml}");
    assert!(xml.contains("the run was interrupted (Ctrl-C)"), "{xml}");
}

fn run_scenario_001(out: &Path, profiles: &[&str]) {
    let mut c = Command::new(BIN);
    c.arg("run").arg("--out").arg(out);
    for p in profiles {
        c.args(["--profile", p]);
    }
    let o = c
        .arg(scenario_file("001"))
        .env("TOKENEMU_MODULE", emulator())
        .env_remove("TOKENEMU_CONF")
        .env_remove("TOKENEMU_LOG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Files an earlier run wrote into the same --out and the new report does
/// not name are removed; files the tool did not write stay.
#[test]
#[serial]
fn a_new_run_removes_what_an_earlier_run_left_and_nothing_else() {
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    run_scenario_001(out, &["etoken", "jacarta-pki"]);
    let old_dir = out.join("001-jacarta-pki");
    assert!(old_dir.join("kisc-ca-rsa.pem").exists());
    assert!(old_dir.join("kisc-ca-rsa.cer").exists());
    // The user's own files, next to and inside the tool's directories.
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    std::fs::create_dir_all(out.join("001-etoken")).unwrap();
    std::fs::write(out.join("001-etoken/mine.txt"), "mine").unwrap();
    std::fs::create_dir_all(out.join("elsewhere")).unwrap();
    std::fs::write(out.join("elsewhere/kisc-ca-rsa.pem"), "mine").unwrap();

    run_scenario_001(out, &["etoken"]);
    assert!(
        !old_dir.exists(),
        "the earlier run's 001-jacarta-pki is left: {:?}",
        std::fs::read_dir(&old_dir).map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
    assert!(out.join("001-etoken/kisc-ca-rsa.pem").exists());
    assert!(out.join("report.json").exists());
    assert!(out.join("junit.xml").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(out.join("001-etoken/mine.txt").exists());
    assert!(out.join("elsewhere/kisc-ca-rsa.pem").exists());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["interrupted"], false);
    assert_eq!(json["scenarios"].as_array().unwrap().len(), 1);
}
